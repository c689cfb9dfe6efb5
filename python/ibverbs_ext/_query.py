# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Queries: the sysfs root, what backs a dma-buf, the DMA endpoints of a device, the choice
and ranking of endpoints and devices, and the devices libibverbs sees."""

import contextlib
import ctypes
import errno as _errno
import os
import threading

from . import _capi
from ._errors import IbvExtError, _check
from ._types import _I32, Choice, DmabufInfo, Endpoint, _hints, _int


# ============================================================================ sysfs root
_root_lock = threading.RLock()  # nested blocks in one thread are fine


def sysfs_root():
    """The sysfs tree the library reads: $IBV_EXT_SYSFS_ROOT, else /sys."""
    return os.environ.get(_capi.IBV_EXT_SYSFS_ROOT_ENV) or "/sys"


def set_sysfs_root(path):
    """Point the library at another sysfs tree (None: back to /sys).

    The library reads a tree once per process and keeps it: switching back and forth between
    roots is cheap, but a tree that changes after its first use is not re-read. Setting the
    environment is process-wide; do not switch while other threads call the library.
    """
    if path is None:
        os.environ.pop(_capi.IBV_EXT_SYSFS_ROOT_ENV, None)
    else:
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(_errno.ENOENT, "sysfs root is not a directory", path)
        os.environ[_capi.IBV_EXT_SYSFS_ROOT_ENV] = path


@contextlib.contextmanager
def using_sysfs_root(path):
    """``with using_sysfs_root(tree): ...`` — the library reads *tree* inside the block."""
    with _root_lock:
        old = os.environ.get(_capi.IBV_EXT_SYSFS_ROOT_ENV)
        set_sysfs_root(path)
        try:
            yield path
        finally:
            set_sysfs_root(old)


def sysfs_notes():
    """What the sysfs parser of the current root skipped (``ibv_ext_sysfs_note()``)."""
    notes = []
    while True:
        n = _capi.ibv_ext_sysfs_note(len(notes))
        if n is None:
            return notes
        notes.append(n.decode(errors="replace"))


def _ref(c):
    return None if c is None else ctypes.byref(c)


# ============================================================================ queries
def _fileno(fd):
    if isinstance(fd, bool):
        raise TypeError("a file descriptor must be an int or have fileno()")
    if isinstance(fd, int):
        return _int(fd, _I32, "fd")
    if hasattr(fd, "fileno"):
        return fd.fileno()
    raise TypeError(f"a file descriptor must be an int or have fileno(), "
                    f"not {type(fd).__name__}")


def query_dmabuf(fd):
    """What backs the dma-buf *fd* (an int or anything with ``fileno()``): a DmabufInfo."""
    info = _capi.ibv_dmabuf_info()
    _check(_capi.ibv_query_dmabuf(_fileno(fd), ctypes.byref(info)), "ibv_query_dmabuf")
    return DmabufInfo._from_c(info)


def describe_dmabuf_source(spec):
    """A DmabufInfo from a description: "system", "system:node=N", "p2p:DDDD:BB:DD.F",
    "private", "unknown" (P2P providers and nodes are looked up in the sysfs root)."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, not {type(spec).__name__}")
    info = _capi.ibv_dmabuf_info()
    _check(_capi.ibv_describe_dmabuf_source(spec.encode(), ctypes.byref(info)),
           "ibv_describe_dmabuf_source")
    return DmabufInfo._from_c(info)


def _source(source):
    """A C ibv_dmabuf_info (or None) from None, a DmabufInfo, a spec str, a Dmabuf or fd."""
    if source is None:
        return None
    if isinstance(source, DmabufInfo):
        return source._to_c()
    if isinstance(source, str):
        return describe_dmabuf_source(source)._to_c()
    if hasattr(source, "fileno"):  # a Dmabuf, or any object with fileno()
        return query_dmabuf(source)._to_c()
    raise TypeError("source must be None, a DmabufInfo, a source spec str or a dma-buf "
                    f"(object with fileno()), not {type(source).__name__}")


def _devname(dev):
    """The RDMA device name of a str, a ibverbs_ext.Context or a pyverbs Context."""
    if isinstance(dev, str):
        return dev
    if isinstance(dev, bytes):
        return dev.decode()
    name = getattr(dev, "name", None)
    if isinstance(name, bytes):
        name = name.decode()
    if isinstance(name, str):
        return name
    raise TypeError(f"an RDMA device name (str) or a device context, not {type(dev).__name__}")


def _grow(call, ctype, first=8):
    """Run a *num capacity-in/count-out call, growing the array on ENOSPC."""
    cap = first
    while True:
        arr = (ctype * cap)()
        n = ctypes.c_size_t(cap)
        ret = call(arr, ctypes.byref(n))
        if ret == _errno.ENOSPC and n.value > cap:
            cap = n.value
            continue
        return ret, arr, n.value


def query_dma_endpoints(ibdev):
    """The DMA endpoints of the RDMA device *ibdev* (a name or context), index order."""
    name = _devname(ibdev).encode()
    ret, arr, n = _grow(lambda a, n: _capi.ibv_query_dma_endpoints(name, a, n),
                        _capi.ibv_dma_endpoint)
    _check(ret, "ibv_query_dma_endpoints")
    return [Endpoint._from_c(arr[i]) for i in range(n)]


def select_dma_endpoint(ibdev, source=None, hints=None):
    """The best endpoint of *ibdev* for *source* (None/DmabufInfo/spec/dma-buf): a Choice.

    Raises IbvExtError when the best one cannot be used (EXDEV unreachable, EOPNOTSUPP
    unavailable), as ibv_select_dma_endpoint() fails.
    """
    name = _devname(ibdev).encode()
    src, h = _source(source), _hints(hints)
    c = _capi.ibv_dma_choice()
    _check(_capi.ibv_select_dma_endpoint(name, _ref(src), _ref(h), ctypes.byref(c)),
           "ibv_select_dma_endpoint")
    return Choice._from_c(c)


def rank_dma_endpoints(ibdev, source=None, hints=None):
    """All endpoints of *ibdev*, best first, each a Choice with its own reason."""
    name = _devname(ibdev).encode()
    src, h = _source(source), _hints(hints)
    ret, arr, n = _grow(lambda a, n: _capi.ibv_rank_dma_endpoints(name, _ref(src), _ref(h),
                                                                  a, n),
                        _capi.ibv_dma_choice)
    _check(ret, "ibv_rank_dma_endpoints")
    return [Choice._from_c(arr[i]) for i in range(n)]


def rank_dmabuf_devices(source=None, hints=None, names=None):
    """RDMA devices ranked for *source*, best first: one Choice per device (its best
    endpoint). *names*: the candidate devices (names or contexts); None: every device of the
    sysfs root. Unusable entries are ranked last and flagged, not omitted."""
    src, h = _source(source), _hints(hints)
    if names is None:
        cnames, count = None, 0
    else:
        if isinstance(names, (str, bytes)):
            raise TypeError("names must be a sequence of device names, not one name")
        encoded = [_devname(x).encode() for x in names]
        cnames = (ctypes.c_char_p * max(1, len(encoded)))(*encoded)
        count = len(encoded)
    ret, arr, n = _grow(lambda a, n: _capi.ibv_rank_dmabuf_devices(cnames, count, _ref(src),
                                                                   _ref(h), a, n),
                        _capi.ibv_dma_choice)
    _check(ret, "ibv_rank_dmabuf_devices")
    return [Choice._from_c(arr[i]) for i in range(n)]


# ============================================================================ devices
def _no_list_reason(err):
    if err == _errno.ENOSYS:
        return "no RDMA subsystem in this kernel (no uverbs devices)"
    return os.strerror(err)


def device_names():
    """Names of the RDMA devices libibverbs sees (ibv_get_device_list)."""
    n = ctypes.c_int(0)
    lst = _capi.ibv_get_device_list(ctypes.byref(n))
    if not lst:
        err = ctypes.get_errno()
        if err == _errno.ENOSYS:  # no uverbs in this kernel: no devices
            return []
        raise IbvExtError(err, _no_list_reason(err), "ibv_get_device_list")
    try:
        return [_capi.ibv_get_device_name(lst[i]).decode() for i in range(n.value)]
    finally:
        _capi.ibv_free_device_list(lst)
