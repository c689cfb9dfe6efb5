# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Registration: a minimal Context and PD, ``pd_address``, MR and ``reg_dmabuf_mr_ex``
(``ibv_reg_dmabuf_mr_ex``)."""

import ctypes
import errno as _errno
import os
import weakref

from . import _capi, _pyverbs
from ._dmabuf import Dmabuf
from ._errors import IbvExtError, _fail
from ._query import _devname, _fileno, _no_list_reason
from ._resource import _Resource
from ._types import _U32, _U64, ACCESS_LOCAL_WRITE, Choice, DmabufInfo, _hints, _int


# ============================================================================ context, PD, MR
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
