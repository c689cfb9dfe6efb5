# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Dmabuf: an owned dma-buf fd with its CPU mapping; ``alloc_dmabuf`` (``ibv_alloc_dmabuf``)."""

import contextlib
import ctypes
import errno as _errno
import fcntl
import mmap
import os

from . import _capi
from ._errors import IbvExtError, _fail
from ._query import _fileno, query_dmabuf
from ._resource import _Resource
from ._types import _I32, _U32, _U64, AllocFlags, AllocType, _enum, _int


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
                 interleave=False, hugetlb=False):
        self.fd = _fileno(fd)
        self._own = own
        self._map = None
        self.kind = kind
        self.numa_node = numa_node
        self.interleave = interleave
        self.hugetlb = hugetlb
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


def alloc_dmabuf(size, kind="udmabuf", numa_node=None, interleave=False, flags=None,
                 hugetlb=False):
    """A test dma-buf of *size* bytes (``ibv_alloc_dmabuf``): a Dmabuf.

    *kind*: "udmabuf" (memfd pages wrapped by /dev/udmabuf) or "heap" (/dev/dma_heap/system),
    or an AllocType. *numa_node*: bind the pages to that node (None: anywhere).
    *interleave*: udmabuf pages spread over all online nodes. *hugetlb*: udmabuf pages from
    the huge page pool (vm.nr_hugepages; *size* a multiple of the huge page size).
    *flags*: raw AllocFlags bits instead of *interleave* and *hugetlb*.
    """
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"kind {kind!r}: expected one of {sorted(_KINDS)}")
        atype = _KINDS[kind]
    else:
        atype = kind
    if flags is None:
        flags = (AllocFlags.INTERLEAVE if interleave else 0) | \
            (AllocFlags.HUGETLB if hugetlb else 0)
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
                  interleave=bool(int(flags) & AllocFlags.INTERLEAVE),
                  hugetlb=bool(int(flags) & AllocFlags.HUGETLB))
