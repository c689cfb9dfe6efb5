# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The pyverbs side of ibverbs_ext, so that pyverbs programs feel at home:

* ``ERROR_BASES``: what IbvExtError derives from: OSError, and pyverbs' PyverbsRDMAError when
  pyverbs is importable (``except PyverbsRDMAError`` then catches the library's failures).
* ``pd_address(pd)``: the ``struct ibv_pd *`` of a pyverbs PD, through its ``pd`` property
  where that property returns the pointer (rdma-core 59 and later; Context.context, used for
  the check, since 61), else (older pyverbs, whose property casts the pointer to a Python
  object and crashes the interpreter when read, as rdma-core 44's) from the object's memory;
  checked against the PD's kernel handle and Context either way.
* ``adopt(pd, mr)``: an ibverbs_ext MR joins the pyverbs PD's own set of MRs, so that closing
  the PD (or its Context) closes the MR first, as pyverbs does for its own children.

pyverbs' objects are Cython cdef classes: their C pointers and child sets are not visible
from Python. What is used here, per rdma-core's pyverbs/pd.pxd (the same 44 .. 65): the first
field of PD after PyverbsCM's is the ``v.ibv_pd *``; the object fields are, in order, the
logger (PyverbsObject), the Context, then the WeakSets ``srqs``, ``mrs``, ... that
``PD.close()`` empties (closing each member) before ``ibv_dealloc_pd()``. Every use is checked,
and a pyverbs that does not match is refused with the reason, never guessed at.
"""

import ctypes
import gc
import inspect
import weakref

from . import _capi

try:  # pure Python, no libibverbs call: cheap even where importing pyverbs.device is not
    from pyverbs.pyverbs_error import PyverbsRDMAError
except ImportError:
    PyverbsRDMAError = None

ERROR_BASES = (OSError,) if PyverbsRDMAError is None else (OSError, PyverbsRDMAError)

ROUTE_PROPERTY = "property"  # PD.pd returns the pointer as an int: the supported route
ROUTE_LAYOUT = "layout"      # PD.pd is unusable: the checked read of the object's memory
_routes = {}


def base(obj, name, module="pyverbs.base"):
    """The pyverbs class *name* (of *module*) in obj's MRO, or None."""
    for c in type(obj).__mro__:
        if c.__name__ == name and c.__module__ == module:
            return c
    return None


def is_pyverbs(obj):
    return base(obj, "PyverbsCM") is not None


def _pointer_slot(obj):
    """The ctypes view of the first C field after PyverbsCM's (PD's ibv_pd *, Context's
    ibv_context *), or None where the object has no room for one there."""
    off = base(obj, "PyverbsCM").__basicsize__
    if off % ctypes.sizeof(ctypes.c_void_p) or \
            off + ctypes.sizeof(ctypes.c_void_p) > type(obj).__basicsize__:
        return None
    return ctypes.c_void_p.from_address(id(obj) + off)


def _route(obj, clsname, module, prop):
    """How the C pointer behind pyverbs' *prop* property of *obj*'s class *clsname* is read:
    ROUTE_PROPERTY, ROUTE_LAYOUT, or None (not recognised). Found once per class, on an empty
    object of that pyverbs class (its __init__ allocates, __new__ does not): a marker object is
    put where the pointer lives, the property read, the marker taken back. The property returns
    the marker's address (an int: the ``<uintptr_t>`` cast of rdma-core 59 for PD.pd, 61 for
    Context.context) or the
    marker itself (the ``<object>`` cast of rdma-core 44, which on a real object reads the C
    struct as a Python object and crashes the interpreter)."""
    cls = base(obj, clsname, module)
    if cls is None:
        return None
    key = (cls, prop)
    if key in _routes:
        return _routes[key]
    route = None
    shell = cls.__new__(cls)
    slot = _pointer_slot(shell)
    if slot is not None and not slot.value and \
            inspect.isdatadescriptor(getattr(cls, prop, None)):  # Cython: a getset_descriptor
        marker = object()
        slot.value = id(marker)
        try:
            got = getattr(shell, prop)
        finally:
            slot.value = None
        if got is marker:
            route = ROUTE_LAYOUT
        elif isinstance(got, int) and not isinstance(got, bool) and got == id(marker):
            route = ROUTE_PROPERTY
        del got
    _routes[key] = route
    return route


def pd_route(pd):
    """The route to a pyverbs PD's struct ibv_pd * (see _route)."""
    return _route(pd, "PD", "pyverbs.pd", "pd")


_BAD = ("cannot locate the struct ibv_pd * of this pyverbs PD (pyverbs object layout not "
        "recognised: {}); pass the address as an int instead")


def _pointer(obj, route, prop, what):
    """The C pointer behind obj.prop by route (0 when the object is closed)."""
    if route == ROUTE_PROPERTY:
        return getattr(obj, prop) or 0
    slot = _pointer_slot(obj) if route == ROUTE_LAYOUT else None
    if slot is None:
        raise TypeError(_BAD.format(f"the {what}'s `{prop}` property is neither rdma-core "
                                    "44's nor 59's"))
    return slot.value or 0


def _context_of(pd):
    ctxs = [o for o in gc.get_referents(pd) if is_pyverbs(o) and type(o).__name__ == "Context"]
    if len(ctxs) != 1:
        raise TypeError(_BAD.format(f"{len(ctxs)} Context objects referenced by the PD"))
    return ctxs[0]


def pd_address(pd):
    """The struct ibv_pd * of a pyverbs PD (an int), by pd_route()'s route, checked: the
    struct there carries the PD's kernel handle and points to the ibv_context of the PD's
    pyverbs Context, whose cmd_fd is that Context's."""
    if "PD" not in {c.__name__ for c in type(pd).__mro__}:
        raise TypeError(f"a pyverbs {type(pd).__name__} is not a PD")
    route = pd_route(pd)
    addr = _pointer(pd, route, "pd", "PD")
    if not addr:
        raise ValueError("the PD is closed (its address is NULL)")
    if route == ROUTE_LAYOUT and (addr < 4096 or addr % 8 or
                                  addr in {id(o) for o in gc.get_referents(pd)}):
        raise TypeError(_BAD.format("no C pointer where PD.pd should be"))
    ctx = _context_of(pd)
    ctx_addr = _pointer(ctx, _route(ctx, "Context", "pyverbs.device", "context"), "context",
                        "Context")
    if not ctx_addr:
        raise ValueError("the PD's device context is closed")
    c = _capi.ibv_pd.from_address(addr)
    if c.handle != pd.handle or c.context != ctx_addr:
        raise TypeError(_BAD.format("handle or context do not match"))
    if _capi.ibv_context.from_address(ctx_addr).cmd_fd != ctx.cmd_fd:
        raise TypeError(_BAD.format("the context's cmd_fd does not match"))
    return addr


def _is_mr(obj):
    return base(obj, "MR", "pyverbs.mr") is not None or getattr(obj, "_ibverbs_ext_mr", False)


def children(pd):
    """The pyverbs PD's WeakSet of MRs (pd.pxd: the second WeakSet field, after srqs), or
    None when the object does not look like that: fewer WeakSets, or a member of that set
    that is no MR."""
    sets = [o for o in gc.get_referents(pd) if isinstance(o, weakref.WeakSet)]
    if len(sets) < 2 or not all(_is_mr(m) for m in list(sets[1])):
        return None
    return sets[1]


def adopt(pd, mr):
    """Put *mr* into the pyverbs PD's set of MRs: PD.close() (and closing the PD's Context)
    then closes it before ibv_dealloc_pd(), as for pyverbs' own MRs. The set, or None when
    this pyverbs is not recognised (then close the MR before the PD)."""
    mrs = children(pd)
    if mrs is not None:
        mrs.add(mr)
    return mrs
