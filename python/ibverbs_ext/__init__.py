# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibverbs_ext: Python bindings of libibverbs-ext (<infiniband/verbs_ext.h>).

What backs a dma-buf, which DMA endpoint (and which RDMA device) suits it, and dma-buf memory
registration through that endpoint — usable beside pyverbs in one program::

    import ibverbs_ext as ix
    import pyverbs.device, pyverbs.pd

    ctx = pyverbs.device.Context(name="rxe0")
    pd = pyverbs.pd.PD(ctx)
    with ix.alloc_dmabuf(2 << 20, numa_node=1) as buf, \\
         ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE) as mr:
        print(mr.choice.reason, hex(mr.lkey), hex(mr.rkey), hex(mr.iova))

Every failure of the library raises :class:`IbvExtError` (an ``OSError``, and pyverbs'
``PyverbsRDMAError`` where pyverbs is installed) carrying the errno (also as ``error_code``)
and the library's one-line reason (``ibv_ext_last_error()``). :class:`DmaBufMRex` is shaped like
pyverbs' ``DmaBufMR(pd, length, access, dmabuf, offset)``; a pyverbs PD closes the MRs made on
it first, as its own. Objects that own a resource (a
dma-buf fd, an MR, a device context, a PD) have ``close()`` and are context managers; one that
is garbage-collected while still open is closed then, with a ``ResourceWarning``.

See python/README.md for the binding technique and the pyverbs interplay.
"""

import contextlib
import dataclasses
import enum
import errno as _errno
import fcntl
import mmap
import os
import threading
import warnings
import weakref

from . import _capi, _pyverbs

try:
    from ._version import __version__
except ImportError:  # running from the source tree
    try:
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "VERSION")) as _f:
            __version__ = _f.read().strip()
    except OSError:
        __version__ = "unknown"

ctypes = _capi.ctypes
library_path = _capi.library_path

__all__ = [
    "IbvExtError", "last_error", "sysfs_notes", "sysfs_root", "set_sysfs_root",
    "using_sysfs_root", "Source", "Origin", "InfoFlags", "EndpointKind", "EndpointFlags",
    "PathPolicy", "PathClass", "ChoiceFlags", "AllocType", "AllocFlags", "DmabufInfo",
    "Endpoint", "Choice", "PathHints", "query_dmabuf", "describe_dmabuf_source",
    "query_dma_endpoints", "select_dma_endpoint", "rank_dma_endpoints",
    "rank_dmabuf_devices", "reg_dmabuf_mr_ex", "MR", "DmaBufMRex", "alloc_dmabuf", "Dmabuf",
    "Context",
    "PD", "device_names", "pd_address", "source_str", "origin_str", "endpoint_kind_str",
    "path_class_str", "ACCESS_LOCAL_WRITE", "ACCESS_REMOTE_WRITE", "ACCESS_REMOTE_READ",
    "ACCESS_REMOTE_ATOMIC", "ACCESS_MW_BIND", "ACCESS_ZERO_BASED", "ACCESS_ON_DEMAND",
    "ACCESS_HUGETLB", "ACCESS_RELAXED_ORDERING",
]

# <infiniband/verbs.h> enum ibv_access_flags (the same values as pyverbs.enums).
ACCESS_LOCAL_WRITE = 1
ACCESS_REMOTE_WRITE = 1 << 1
ACCESS_REMOTE_READ = 1 << 2
ACCESS_REMOTE_ATOMIC = 1 << 3
ACCESS_MW_BIND = 1 << 4
ACCESS_ZERO_BASED = 1 << 5
ACCESS_ON_DEMAND = 1 << 6
ACCESS_HUGETLB = 1 << 7
ACCESS_RELAXED_ORDERING = 1 << 20  # IBV_ACCESS_OPTIONAL_FIRST


# ============================================================================ errors
class IbvExtError(*_pyverbs.ERROR_BASES):
    """A libibverbs-ext (or libibverbs) call failed.

    ``errno``: the errno value, also as ``error_code`` (pyverbs' name); ``reason``: the
    library's one-line reason (``ibv_ext_last_error()``, or strerror where the library gave
    none); ``func``: the C function. ``strerror`` is the reason too, so ``OSError`` handlers
    print it. An ``OSError``, and where pyverbs is installed a
    ``pyverbs.pyverbs_error.PyverbsRDMAError`` as well: ``except PyverbsRDMAError as ex:
    ex.error_code == errno.EOPNOTSUPP`` works as for pyverbs' own calls.
    """

    def __init__(self, err, reason=None, func=None):
        reason = reason or os.strerror(err)
        OSError.__init__(self, err, reason)
        self.reason = reason
        self.func = func

    @property
    def error_code(self):
        """The errno value (pyverbs' PyverbsRDMAError.error_code)."""
        return self.errno

    @property
    def errno_name(self):
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self):
        head = f"{self.func}: " if self.func else ""
        return f"{head}{self.reason} [{self.errno_name}: {os.strerror(self.errno)}]"

    def __reduce__(self):
        return (type(self), (self.errno, self.reason, self.func))


def last_error():
    """The library's reason for the last failure in this thread (``ibv_ext_last_error()``)."""
    return _capi.last_error()


def _fail(err, func):
    """An IbvExtError for a failed call, with the reason the library recorded (same thread)."""
    return IbvExtError(err, _capi.last_error(), func)


def _check(ret, func):
    if ret:
        raise _fail(ret, func)


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


# ============================================================================ enums
class Source(enum.IntEnum):
    UNKNOWN = 0
    SYSTEM = 1
    P2P = 2
    PRIVATE = 3
    MIXED = 4

    def __str__(self):
        return source_str(self)


class Origin(enum.IntEnum):
    KERNEL = 1
    INFERRED = 2
    DESCRIBED = 3

    def __str__(self):
        return origin_str(self)


class InfoFlags(enum.IntFlag):
    NUMA_MIXED = 1 << 0
    MMIO_WC = 1 << 1
    MMIO_UC = 1 << 2
    EXPORTER_UNDESCRIBED = 1 << 3  # the kernel describes, this exporter does not: inferred


class EndpointKind(enum.IntEnum):
    PF = 1
    DATA_DIRECT = 2
    PEER_PF = 3
    NETDEV = 4
    VIRTUAL = 5

    def __str__(self):
        return endpoint_kind_str(self)


class EndpointFlags(enum.IntFlag):
    DEFAULT = 1 << 0
    KERNEL_LISTED = 1 << 1
    NEEDS_KERNEL_ATTR = 1 << 2
    UNAVAILABLE = 1 << 3
    ASSUMED = 1 << 4


class PathPolicy(enum.IntEnum):
    AUTO = 0
    DEFAULT = 1
    NUMA = 2
    ENDPOINT = 3


class PathClass(enum.IntEnum):
    LOC = 0
    PIX = 1
    PXB = 2
    PHB = 3
    NODE = 4
    SYS = 5
    UNKNOWN = 6

    def __str__(self):
        return self.name


class ChoiceFlags(enum.IntFlag):
    TIED = 1 << 0
    FALLBACK = 1 << 1
    UNREACHABLE = 1 << 2
    P2P_HOST_BRIDGE = 1 << 3
    KERNEL_REPORTED = 1 << 4
    HINT_USED = 1 << 5


class AllocType(enum.IntEnum):
    UDMABUF = 1
    HEAP_SYSTEM = 2


class AllocFlags(enum.IntFlag):
    INTERLEAVE = 1 << 0


def _enum(cls, value):
    """An enum member where the value is known, else the plain int (a newer library)."""
    try:
        return cls(value)
    except ValueError:
        return int(value)


def _str_of(fn, value):
    return fn(int(value)).decode()


def source_str(source):
    """``ibv_dmabuf_source_str()``: "system", "p2p", ..."""
    return _str_of(_capi.ibv_dmabuf_source_str, source)


def origin_str(origin):
    """``ibv_dmabuf_origin_str()``: "kernel", "inferred", "described"."""
    return _str_of(_capi.ibv_dmabuf_origin_str, origin)


def endpoint_kind_str(kind):
    """``ibv_dma_endpoint_kind_str()``: "pf", "data_direct", "peer_pf", "netdev", "virtual"."""
    return _str_of(_capi.ibv_dma_endpoint_kind_str, kind)


def path_class_str(cls):
    """``ibv_dma_path_class_str()``: "LOC" ... "SYS", "UNKNOWN"."""
    return _str_of(_capi.ibv_dma_path_class_str, cls)


# ============================================================================ value types
def _s(b):
    return b.decode(errors="replace")


def _node(n):
    return None if n < 0 else n


_U32, _U64, _I32 = (0, (1 << 32) - 1), (0, (1 << 64) - 1), (-(1 << 31), (1 << 31) - 1)


def _int(value, rng, what):
    """A C integer field: ints only, in range (ctypes would silently wrap)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not rng[0] <= value <= rng[1]:
        raise ValueError(f"{what} {value} does not fit the C field ({rng[0]}..{rng[1]})")
    return value


@dataclasses.dataclass(frozen=True)
class DmabufInfo:
    """What backs a dma-buf (``struct ibv_dmabuf_info``). ``numa_node`` None: unknown."""

    source: Source
    origin: Origin
    flags: InfoFlags
    types: frozenset        # each Source present
    numa_node: int | None
    size: int               # 0 when described
    inode: int              # 0 when described
    provider: str | None    # P2P provider PCI function
    exporter: str
    _raw: bytes = dataclasses.field(repr=False, compare=False, default=b"")

    @classmethod
    def _from_c(cls, c):
        return cls(source=_enum(Source, c.source), origin=_enum(Origin, c.origin),
                   flags=InfoFlags(c.flags),
                   types=frozenset(_enum(Source, i) for i in range(32) if c.types >> i & 1),
                   numa_node=_node(c.numa_node), size=c.size, inode=c.inode,
                   provider=_s(c.provider) or None, exporter=_s(c.exporter),
                   _raw=bytes(c))

    def _to_c(self):
        """The C structure exactly as the library filled it."""
        if self._raw:
            return _capi.ibv_dmabuf_info.from_buffer_copy(self._raw)
        c = _capi.ibv_dmabuf_info(source=int(self.source), origin=int(self.origin),
                                  flags=int(self.flags),
                                  types=sum(1 << int(t) for t in self.types),
                                  numa_node=-1 if self.numa_node is None else self.numa_node,
                                  size=self.size, inode=self.inode,
                                  provider=(self.provider or "").encode(),
                                  exporter=self.exporter.encode())
        return c

    @property
    def numa_mixed(self):
        return bool(self.flags & InfoFlags.NUMA_MIXED)

    @property
    def exporter_undescribed(self):
        return bool(self.flags & InfoFlags.EXPORTER_UNDESCRIBED)

    def __str__(self):
        where = f" on node {self.numa_node}" if self.numa_node is not None else ""
        prov = f" of {self.provider}" if self.provider else ""
        return f"{source_str(self.source)} memory{prov}{where} ({origin_str(self.origin)})"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A DMA endpoint of an RDMA device (``struct ibv_dma_endpoint``)."""

    ibdev: str
    index: int
    kind: EndpointKind
    flags: EndpointFlags
    numa_node: int | None
    link_speed: int         # MT/s per lane, 0 unknown
    link_width: int         # lanes, 0 unknown
    pci: str | None         # None for a virtual endpoint
    via: str | None         # netdev or peer RDMA device
    assumed: str | None = None  # what another machine is assumed to have (ASSUMED)

    @classmethod
    def _from_c(cls, c):
        return cls(ibdev=_s(c.ibdev), index=c.index, kind=_enum(EndpointKind, c.kind),
                   flags=EndpointFlags(c.flags), numa_node=_node(c.numa_node),
                   link_speed=c.link_speed, link_width=c.link_width,
                   pci=_s(c.pci_addr) or None, via=_s(c.via) or None,
                   assumed=_s(c.assumed) or None)

    @property
    def default(self):
        return bool(self.flags & EndpointFlags.DEFAULT)

    @property
    def available(self):
        return not self.flags & EndpointFlags.UNAVAILABLE

    @property
    def kernel_listed(self):
        return bool(self.flags & EndpointFlags.KERNEL_LISTED)

    @property
    def needs_kernel_attr(self):
        return bool(self.flags & EndpointFlags.NEEDS_KERNEL_ATTR)

    def __str__(self):
        kind = endpoint_kind_str(self.kind)
        return f"{self.ibdev}:{self.index} {kind} {self.pci or '-'}" + \
            (f" via {self.via}" if self.via else "")


@dataclasses.dataclass(frozen=True)
class Choice:
    """An endpoint chosen or ranked for a source, and why (``struct ibv_dma_choice``)."""

    endpoint: Endpoint
    path_class: PathClass
    flags: ChoiceFlags
    numa_distance: int | None
    reason: str

    @classmethod
    def _from_c(cls, c):
        return cls(endpoint=Endpoint._from_c(c.ep), path_class=_enum(PathClass, c.path_class),
                   flags=ChoiceFlags(c.flags), numa_distance=_node(c.numa_distance),
                   reason=_s(c.reason))

    ibdev = property(lambda self: self.endpoint.ibdev)
    tied = property(lambda self: bool(self.flags & ChoiceFlags.TIED))
    fallback = property(lambda self: bool(self.flags & ChoiceFlags.FALLBACK))
    unreachable = property(lambda self: bool(self.flags & ChoiceFlags.UNREACHABLE))
    p2p_via_host_bridge = property(lambda self: bool(self.flags & ChoiceFlags.P2P_HOST_BRIDGE))
    kernel_reported = property(lambda self: bool(self.flags & ChoiceFlags.KERNEL_REPORTED))
    hint_used = property(lambda self: bool(self.flags & ChoiceFlags.HINT_USED))

    def __str__(self):
        return self.reason


@dataclasses.dataclass(frozen=True)
class PathHints:
    """How to choose (``struct ibv_dma_path_hints``).

    ``policy``: a PathPolicy (AUTO, DEFAULT, NUMA, ENDPOINT). ``numa_node``: the node for the
    NUMA policy, or with AUTO the buffer's node when the source cannot tell. ``endpoint``: the
    index for ENDPOINT. ``spread_key``: tie-break between equal endpoints. ``comp_mask``: None
    derives it from the fields given; an int is sent as is (unknown bits are the library's to
    refuse).
    """

    policy: int = PathPolicy.AUTO
    numa_node: int | None = None
    endpoint: int = 0
    spread_key: int | None = None
    comp_mask: int | None = None

    @classmethod
    def numa(cls, node):
        return cls(policy=PathPolicy.NUMA, numa_node=node)

    @classmethod
    def use_endpoint(cls, index):
        return cls(policy=PathPolicy.ENDPOINT, endpoint=index)

    @classmethod
    def default_only(cls):
        return cls(policy=PathPolicy.DEFAULT)

    def _to_c(self):
        mask = self.comp_mask
        if mask is None:
            mask = 0
            if self.numa_node is not None and self.policy == PathPolicy.AUTO:
                mask |= _capi.IBV_DMA_PATH_HINTS_NUMA_NODE
            if self.spread_key is not None:
                mask |= _capi.IBV_DMA_PATH_HINTS_SPREAD_KEY
        return _capi.ibv_dma_path_hints(
            comp_mask=_int(mask, _U32, "hints.comp_mask"),
            policy=_int(int(self.policy), _U32, "hints.policy"),
            numa_node=_int(-1 if self.numa_node is None else self.numa_node, _I32,
                           "hints.numa_node"),
            endpoint=_int(self.endpoint, _U32, "hints.endpoint"),
            spread_key=_int(self.spread_key or 0, _U64, "hints.spread_key"))


def _hints(hints):
    if hints is None:
        return None
    if isinstance(hints, PathHints):
        return hints._to_c()
    if isinstance(hints, int):  # a bare policy
        return PathHints(policy=hints)._to_c()
    raise TypeError(f"hints must be a PathHints or a PathPolicy, not {type(hints).__name__}")


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
    if isinstance(source, Dmabuf) or hasattr(source, "fileno"):
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


# ============================================================================ resources
class _Resource:
    """close() once, context manager, ResourceWarning + close when collected open."""

    _closed = True
    _what = "resource"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def closed(self):
        return self._closed

    def _require_open(self):
        if self._closed:
            raise ValueError(f"{self._what} is closed")

    def __del__(self):
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2)
            try:
                self.close()
            except Exception:  # noqa: BLE001 - nothing to report to in a finalizer
                pass


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


class Context(_Resource):
    """An opened RDMA device (``ibv_open_device``), for registrations without pyverbs.

    ``address`` is the ``struct ibv_context *``. Closing it closes its PDs (and their MRs).
    """

    _what = "device context"

    def __init__(self, name):
        self.name = _devname(name)
        self._pds = weakref.WeakSet()
        n = ctypes.c_int(0)
        lst = _capi.ibv_get_device_list(ctypes.byref(n))
        if not lst:
            err = ctypes.get_errno() or _errno.ENODEV
            raise IbvExtError(err, f"cannot open {self.name}: {_no_list_reason(err)}",
                              "ibv_get_device_list")
        try:
            dev = None
            for i in range(n.value):
                if _capi.ibv_get_device_name(lst[i]).decode() == self.name:
                    dev = lst[i]
            if dev is None:
                raise IbvExtError(_errno.ENODEV, f"no RDMA device {self.name} "
                                  f"(libibverbs sees {n.value} device(s))", "ibv_open_device")
            self.address = _capi.ibv_open_device(dev)
            if not self.address:
                err = ctypes.get_errno() or _errno.EIO
                raise IbvExtError(err, f"{self.name}: {os.strerror(err)}", "ibv_open_device")
        finally:
            _capi.ibv_free_device_list(lst)
        self._closed = False

    def alloc_pd(self):
        self._require_open()
        return PD(self)

    def close(self):
        if self._closed:
            return
        for pd in list(self._pds):
            pd.close()
        ret = _capi.ibv_close_device(self.address)
        self._closed = True
        if ret:
            raise IbvExtError(ctypes.get_errno() or _errno.EIO,
                              f"{self.name}: ibv_close_device failed", "ibv_close_device")

    def __repr__(self):
        return f"<ibverbs_ext.Context {self.name}{' closed' if self._closed else ''}>"


class PD(_Resource):
    """A protection domain (``ibv_alloc_pd``) of a Context. ``address``: ``struct ibv_pd *``.

    Closing it deregisters its MRs first."""

    _what = "protection domain"

    def __init__(self, ctx):
        if not isinstance(ctx, Context):
            raise TypeError("PD(ctx) needs an ibverbs_ext.Context")
        ctx._require_open()
        self.ctx = ctx
        self._mrs = weakref.WeakSet()
        self.address = _capi.ibv_alloc_pd(ctx.address)
        if not self.address:
            err = ctypes.get_errno() or _errno.ENOMEM
            raise IbvExtError(err, f"{ctx.name}: {os.strerror(err)}", "ibv_alloc_pd")
        ctx._pds.add(self)
        self._closed = False

    @property
    def handle(self):
        self._require_open()
        return _capi.ibv_pd.from_address(self.address).handle

    def close(self):
        if self._closed:
            return
        for mr in list(self._mrs):
            mr.close()
        ret = _capi.ibv_dealloc_pd(self.address)
        if ret:
            raise IbvExtError(ret, f"{self.ctx.name}: {os.strerror(ret)}"
                              + (" (MRs of it are still registered)"
                                 if ret == _errno.EBUSY else ""), "ibv_dealloc_pd")
        self._closed = True
        self.ctx._pds.discard(self)

    def __repr__(self):
        return f"<ibverbs_ext.PD of {self.ctx.name}{' closed' if self._closed else ''}>"


def pd_address(pd):
    """The ``struct ibv_pd *`` of *pd* as an int.

    *pd*: an ibverbs_ext.PD; a pyverbs ``PD`` (its ``pd`` property where it returns the
    pointer, rdma-core 59 and later; else found in the object's memory: rdma-core 44's
    property must not be read; checked against its handle and Context either way, see
    ``_pyverbs``); any other object whose ``pd`` attribute is the address as an int; or an
    int address.
    """
    if isinstance(pd, PD):
        pd._require_open()
        return pd.address
    if isinstance(pd, bool):
        raise TypeError("pd must be a PD, a pyverbs PD or an address")
    if isinstance(pd, int):
        addr = pd
    elif _pyverbs.is_pyverbs(pd):
        addr = _pyverbs.pd_address(pd)
    else:
        addr = getattr(pd, "pd", None)
        if not isinstance(addr, int) or isinstance(addr, bool):
            raise TypeError(f"pd must be an ibverbs_ext.PD, a pyverbs.pd.PD or an int address, "
                            f"not {type(pd).__name__}")
    if addr == 0:
        raise ValueError("the PD is closed (its address is NULL)")
    return _int(addr, _U64, "pd address")


class MR(_Resource):
    """A dma-buf MR made by ``ibv_reg_dmabuf_mr_ex()``; ``close()`` is ``ibv_dereg_mr()``.

    ``lkey``, ``rkey``, ``length``, ``handle`` and ``addr`` come from the ``struct ibv_mr``
    (for dma-buf MRs libibverbs reports the dma-buf *offset* as ``addr``); ``iova`` is the
    address work requests use: byte ``k`` of the dma-buf is at ``mr.iova + k - mr.offset``
    (see :meth:`address_of`). ``choice`` (the endpoint used and why) and ``source`` (what
    backs the buffer) come from the library. With pyverbs:
    ``SGE(mr.address_of(k), n, mr.lkey)``, ``wr.set_wr_rdma(mr.rkey, mr.address_of(k))``.

    The MR keeps its PD object (and so the device context) alive. On a pyverbs PD it joins
    the PD's own set of MRs: closing the PD (or its Context) closes it first, as pyverbs
    closes its own MRs (``closed_by_pd``; False only for a pyverbs whose PD is not
    recognised: then close the MR first, or the PD's ``ibv_dealloc_pd`` fails with EBUSY).
    """

    _what = "MR"
    _ibverbs_ext_mr = True  # what _pyverbs.children() accepts in a pyverbs PD's set

    def __init__(self, address, pd, fd, offset, iova, access, choice, source, dmabuf=None):
        self.address = address
        self.pd = pd
        self.fd = fd
        self.offset = offset
        self.iova = iova
        self.access = access
        self.choice = choice
        self.source = source
        self.dmabuf = dmabuf
        c = _capi.ibv_mr.from_address(address)
        self.lkey, self.rkey, self.handle = c.lkey, c.rkey, c.handle
        self.addr = c.addr or 0
        self.length = c.length
        self._closed = False
        self._pv_mrs = None
        if isinstance(pd, PD):
            pd._mrs.add(self)
        elif _pyverbs.is_pyverbs(pd):
            self._pv_mrs = _pyverbs.adopt(pd, self)

    @property
    def closed_by_pd(self):
        """Whether closing the PD closes this MR first (ibverbs_ext.PD: always)."""
        return isinstance(self.pd, PD) or self._pv_mrs is not None

    def address_of(self, k):
        """The I/O virtual address of byte *k* of the dma-buf (for SGEs and RDMA WRs)."""
        if not self.offset <= k <= self.offset + self.length:
            raise ValueError(f"dma-buf offset {k} is outside the MR "
                             f"({self.offset}..{self.offset + self.length})")
        return self.iova + k - self.offset

    def close(self):
        """ibv_dereg_mr(); idempotent."""
        if self._closed:
            return
        ret = _capi.ibv_dereg_mr(self.address)
        if ret:
            raise IbvExtError(ret, f"MR lkey {self.lkey:#x}: {os.strerror(ret)}",
                              "ibv_dereg_mr")
        self._closed = True
        if isinstance(self.pd, PD):
            self.pd._mrs.discard(self)
        elif self._pv_mrs is not None:
            self._pv_mrs.discard(self)

    dereg = close

    def __repr__(self):
        state = "closed" if self._closed else f"lkey {self.lkey:#x} rkey {self.rkey:#x}"
        return (f"<ibverbs_ext.MR {self.length} bytes at iova {self.iova:#x}, {state}, "
                f"endpoint {self.choice.endpoint if self.choice else '?'}>")


def _register(pd, fd, offset, length, iova, access, hints, comp_mask):
    """ibv_reg_dmabuf_mr_ex(): (struct ibv_mr *, Choice or None, DmabufInfo or None)."""
    if iova is None:
        iova = offset
    attr = _capi.ibv_reg_dmabuf_mr_ex_attr(
        fd=fd, offset=_int(offset, _U64, "offset"), length=_int(length, _U64, "length"),
        iova=_int(iova, _U64, "iova"), access=_int(int(access), _U32, "access"))
    h = _hints(hints)
    if comp_mask is None:
        comp_mask = _capi.IBV_REG_DMABUF_MR_EX_CHOICE | _capi.IBV_REG_DMABUF_MR_EX_SOURCE
        if h is not None:
            comp_mask |= _capi.IBV_REG_DMABUF_MR_EX_HINTS
    attr.comp_mask = _int(comp_mask, _U32, "comp_mask")
    if h is not None:
        attr.hints = ctypes.pointer(h)
    choice, source = _capi.ibv_dma_choice(), _capi.ibv_dmabuf_info()
    if comp_mask & _capi.IBV_REG_DMABUF_MR_EX_CHOICE:
        attr.choice = ctypes.pointer(choice)
    if comp_mask & _capi.IBV_REG_DMABUF_MR_EX_SOURCE:
        attr.source = ctypes.pointer(source)
    address = _capi.ibv_reg_dmabuf_mr_ex(pd_address(pd), ctypes.byref(attr))
    if not address:
        raise _fail(ctypes.get_errno() or _errno.EIO, "ibv_reg_dmabuf_mr_ex")
    return (address, iova,
            Choice._from_c(choice) if comp_mask & _capi.IBV_REG_DMABUF_MR_EX_CHOICE else None,
            DmabufInfo._from_c(source) if comp_mask & _capi.IBV_REG_DMABUF_MR_EX_SOURCE
            else None)


def reg_dmabuf_mr_ex(pd, dmabuf, length=None, offset=0, iova=None, access=ACCESS_LOCAL_WRITE,
                     hints=None, comp_mask=None):
    """Register *length* bytes of the dma-buf from *offset* at *iova* through the endpoint
    that suits its memory (``ibv_reg_dmabuf_mr_ex``). Returns an MR.

    *pd*: ibverbs_ext.PD, pyverbs PD, or an ``struct ibv_pd *`` int. *dmabuf*: a Dmabuf, an
    fd, or anything with fileno(). *length*: default the rest of a Dmabuf after *offset*
    (required for a bare fd). *iova*: default *offset* (same offset within a page). *access*:
    ``ACCESS_*`` bits (pyverbs.enums values work). *hints*: PathHints or a PathPolicy.
    *comp_mask*: None asks for the choice and source (and hints when given); an int is sent
    as is, the out-pointers attached for the CHOICE/SOURCE bits it has.
    (:class:`DmaBufMRex` takes pyverbs' ``DmaBufMR`` argument order.)
    """
    fd = _fileno(dmabuf)
    if length is None:
        if not isinstance(dmabuf, Dmabuf):
            raise TypeError("length is required unless dmabuf is a Dmabuf")
        length = dmabuf.size - offset
    address, iova, choice, source = _register(pd, fd, offset, length, iova, access, hints,
                                              comp_mask)
    try:
        return MR(address, pd, fd, offset, iova, int(access), choice, source,
                  dmabuf if isinstance(dmabuf, Dmabuf) else None)
    except BaseException:
        _capi.ibv_dereg_mr(address)
        raise


# ============================================================================ dma-bufs
# <linux/dma-buf.h>: DMA_BUF_IOCTL_SYNC = _IOW('b', 0, struct dma_buf_sync { __u64 flags; })
DMA_BUF_IOCTL_SYNC = (1 << 30) | (8 << 16) | (ord("b") << 8) | 0
DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_END = 1, 2, 4


class Dmabuf(_Resource):
    """A dma-buf fd this object owns (closes), with an mmap view for filling and checking.

    Made by :func:`alloc_dmabuf`, or wrapping an fd: ``Dmabuf(fd)`` (size from the library's
    query, else the file size; ``own=False`` leaves the fd open on close()).
    """

    _what = "dma-buf"

    def __init__(self, fd, size=None, *, own=True, kind=None, numa_node=None,
                 interleave=False):
        self.fd = _fileno(fd)
        self._own = own
        self._map = None
        self.kind = kind
        self.numa_node = numa_node
        self.interleave = interleave
        if size is None:
            try:
                size = query_dmabuf(self.fd).size
            except IbvExtError:
                if own:
                    os.close(self.fd)
                raise
            if not size:
                size = os.fstat(self.fd).st_size
        self.size = size
        self._closed = False

    def fileno(self):
        self._require_open()
        return self.fd

    def info(self):
        """query_dmabuf() of this buffer."""
        return query_dmabuf(self.fileno())

    @property
    def map(self):
        """A shared read-write ``mmap`` of the whole buffer (made on first use)."""
        self._require_open()
        if self._map is None:
            self._map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        return self._map

    def _range(self, offset, length):
        if length is None:
            length = self.size - offset
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ValueError(f"range {offset}+{length} is outside the {self.size}-byte buffer")
        return offset, length

    def read(self, offset=0, length=None):
        offset, length = self._range(offset, length)
        with self.cpu_access(read=True, write=False):
            return self.map[offset:offset + length]

    def write(self, data, offset=0):
        data = bytes(data)
        offset, _ = self._range(offset, len(data))
        with self.cpu_access(read=False, write=True):
            self.map[offset:offset + len(data)] = data

    def fill(self, pattern, offset=0, length=None):
        """Fill a range with *pattern* (bytes repeated, or a byte value)."""
        offset, length = self._range(offset, length)
        if isinstance(pattern, int):
            pattern = bytes([pattern])
        if not pattern:
            raise ValueError("empty pattern")
        reps = -(-length // len(pattern))
        self.write((bytes(pattern) * reps)[:length], offset)

    def sync(self, flags):
        """DMA_BUF_IOCTL_SYNC with *flags* (DMA_BUF_SYNC_*)."""
        try:
            fcntl.ioctl(self.fileno(), DMA_BUF_IOCTL_SYNC, flags.to_bytes(8, "little"))
        except OSError as e:
            raise IbvExtError(e.errno, f"DMA_BUF_IOCTL_SYNC flags {flags:#x} on fd {self.fd}: "
                              f"{os.strerror(e.errno)}", "ioctl") from None

    @contextlib.contextmanager
    def cpu_access(self, read=True, write=True):
        """Bracket CPU access through the mapping with DMA_BUF_IOCTL_SYNC start/end."""
        flags = (DMA_BUF_SYNC_READ if read else 0) | (DMA_BUF_SYNC_WRITE if write else 0)
        self.sync(flags)
        try:
            yield self.map
        finally:
            self.sync(flags | DMA_BUF_SYNC_END)

    def close(self):
        """Unmap and close the fd (if owned). Raises BufferError while views of the mapping
        are still held (release them first)."""
        if self._closed:
            return
        if self._map is not None:
            self._map.close()
            self._map = None
        self._closed = True
        if self._own:
            os.close(self.fd)

    def detach(self):
        """Give up ownership: returns the fd, which this object no longer closes."""
        self._require_open()
        if self._map is not None:
            self._map.close()
            self._map = None
        self._closed = True
        return self.fd

    def __repr__(self):
        where = f" node {self.numa_node}" if self.numa_node is not None else ""
        return (f"<ibverbs_ext.Dmabuf fd {self.fd} {self.size} bytes {self.kind or ''}{where}"
                f"{' closed' if self._closed else ''}>")


_KINDS = {"udmabuf": AllocType.UDMABUF, "heap": AllocType.HEAP_SYSTEM,
          "system": AllocType.HEAP_SYSTEM, "heap_system": AllocType.HEAP_SYSTEM}


def alloc_dmabuf(size, kind="udmabuf", numa_node=None, interleave=False, flags=None):
    """A test dma-buf of *size* bytes (``ibv_alloc_dmabuf``): a Dmabuf.

    *kind*: "udmabuf" (memfd pages wrapped by /dev/udmabuf) or "heap" (/dev/dma_heap/system),
    or an AllocType. *numa_node*: bind the pages to that node (None: anywhere).
    *interleave*: udmabuf pages spread over all online nodes. *flags*: raw AllocFlags bits
    instead of *interleave*.
    """
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"kind {kind!r}: expected one of {sorted(_KINDS)}")
        atype = _KINDS[kind]
    else:
        atype = kind
    if flags is None:
        flags = AllocFlags.INTERLEAVE if interleave else 0
    attr = _capi.ibv_dmabuf_alloc_attr(
        type=_int(int(atype), _U32, "type"), size=_int(size, _U64, "size"),
        numa_node=_int(-1 if numa_node is None else numa_node, _I32, "numa_node"),
        flags=_int(int(flags), _U32, "flags"))
    fd = _capi.ibv_alloc_dmabuf(ctypes.byref(attr))
    if fd < 0:
        raise _fail(ctypes.get_errno() or _errno.EIO, "ibv_alloc_dmabuf")
    atype = _enum(AllocType, atype)
    name = "heap" if atype == AllocType.HEAP_SYSTEM else "udmabuf"
    return Dmabuf(fd, size, kind=name, numa_node=numa_node,
                  interleave=bool(int(flags) & AllocFlags.INTERLEAVE))


# pyverbs' DmaBufMR shape, over MR and Dmabuf above.
from ._dmabufmr import DmaBufMRex  # noqa: E402
# vfio BARs, over Dmabuf above.
from ._vfio import VfioDmabuf, alloc_vfio_dmabuf  # noqa: E402

__all__ += ["alloc_vfio_dmabuf", "VfioDmabuf"]
