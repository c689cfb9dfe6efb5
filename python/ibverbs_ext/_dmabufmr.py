# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""DmaBufMRex: pyverbs' ``DmaBufMR(pd, length, access, dmabuf=None, offset=0)``, registered by
``ibv_reg_dmabuf_mr_ex()`` through the DMA endpoint that suits the buffer.

Code written for pyverbs' DmaBufMR changes its class name and keeps its calls: the arguments in
pyverbs' order, ``lkey``, ``rkey``, ``length``, ``handle``, ``offset``, ``dmabuf``, ``close()``,
``write(data, length, offset=0)``, ``read(length, offset)``, the context manager; a pyverbs PD
closes it first, as its own MRs; failures are PyverbsRDMAErrors with ``error_code``. What it
adds: ``choice`` (the endpoint used and why), ``source``, ``address_of(k)``, and the keyword
arguments ``iova``, ``hints`` and ``comp_mask`` of :func:`ibverbs_ext.reg_dmabuf_mr_ex`.
"""

from . import _capi
from ._dmabuf import Dmabuf, alloc_dmabuf
from ._mr import MR, _register
from ._query import _fileno


def _fd_of(dmabuf):
    """The fd of a Dmabuf, an int, anything with fileno(), or pyverbs' DmaBuf (its ``fd``)."""
    if isinstance(dmabuf, bool):
        pass
    elif isinstance(dmabuf, int) or hasattr(dmabuf, "fileno"):
        return _fileno(dmabuf)
    else:
        fd = getattr(dmabuf, "fd", None)
        if isinstance(fd, int) and not isinstance(fd, bool):
            return _fileno(fd)
    raise TypeError(f"dmabuf must be a Dmabuf, a pyverbs DmaBuf, an fd or have fileno(), "
                    f"not {type(dmabuf).__name__}")


class DmaBufMRex(MR):
    """A dma-buf MR in pyverbs' DmaBufMR shape (see the module's docstring).

    *pd*: a pyverbs PD, an ibverbs_ext.PD, or a ``struct ibv_pd *`` int. *length*, *access*:
    as pyverbs (``ACCESS_*`` or pyverbs.enums bits). *dmabuf*: a Dmabuf, a pyverbs DmaBuf, an
    fd, or anything with fileno(); None (pyverbs then allocates a GPU buffer): a dma-buf of
    *offset* + *length* bytes is made here (``kind``, ``numa_node``: as
    :func:`ibverbs_ext.alloc_dmabuf`) and closed with the MR. *offset*: where the MR starts in
    the dma-buf. *iova*: default *offset*, as pyverbs registers.
    """

    def __init__(self, pd, length, access, dmabuf=None, offset=0, *, iova=None, hints=None,
                 comp_mask=None, kind="udmabuf", numa_node=None):
        own = None
        if dmabuf is None:
            own = dmabuf = alloc_dmabuf(offset + length, kind, numa_node=numa_node)
        address = None
        try:
            fd = _fd_of(dmabuf)
            address, iova, choice, source = _register(pd, fd, offset, length, iova, access,
                                                      hints, comp_mask)
            super().__init__(address, pd, fd, offset, iova, int(access), choice, source,
                             dmabuf if isinstance(dmabuf, Dmabuf) else None)
        except BaseException:
            if address:  # registered, but MR() failed: nothing half-made stays
                _capi.ibv_dereg_mr(address)
            if own is not None:
                own.close()
            raise
        self.dmabuf = dmabuf  # what was given (or made), as pyverbs' DmaBufMR.dmabuf
        self._own = own
        self._cpu = None

    def close(self):
        """ibv_dereg_mr(); the dma-buf made for the MR (dmabuf=None) is closed too."""
        super().close()
        for buf in (self._cpu, self._own):
            if buf is not None:
                buf.close()
        self._cpu = self._own = None

    def _buffer(self, offset, length):
        self._require_open()
        if offset < 0 or length < 0 or offset + length > self.length:
            raise ValueError(f"{length} bytes at {offset} are outside the MR "
                             f"(0..{self.length})")
        if isinstance(self.dmabuf, Dmabuf):
            return self.dmabuf
        if self._cpu is None:  # a CPU view of a dma-buf given as an fd
            self._cpu = Dmabuf(self.fd, own=False)
        return self._cpu

    def write(self, data, length, offset=0):
        """Write *length* bytes of *data* (bytes or str) at *offset* of the MR, through the
        dma-buf's CPU mapping (pyverbs' DmaBufMR.write)."""
        if isinstance(data, str):
            data = data.encode()
        if len(data) < length:
            raise ValueError(f"{len(data)} bytes of data, {length} to write")
        self._buffer(offset, length).write(bytes(data[:length]), self.offset + offset)

    def read(self, length, offset):
        """*length* bytes at *offset* of the MR (pyverbs' DmaBufMR.read)."""
        return self._buffer(offset, length).read(self.offset + offset, length)
