# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The C API of libibverbs-ext (and the few libibverbs calls the module needs), as ctypes.

This is the raw layer: structures laid out as <infiniband/verbs_ext.h> declares them and
functions with their argument and result types. The public module (``ibverbs_ext``) wraps it;
tests use it directly for inputs the Python API cannot express (NULL pointers).

Layouts are checked against the C compiler by tests/pytest/test_py_abi.py.
"""

import ctypes
import ctypes.util
import os

# ----------------------------------------------------------------------------- constants
IBV_EXT_PCI_ADDR_LEN = 16
IBV_EXT_NAME_LEN = 64
IBV_EXT_REASON_LEN = 512
IBV_EXT_ASSUMED_LEN = 128
IBV_EXT_SYSFS_ROOT_ENV = "IBV_EXT_SYSFS_ROOT"
IBV_EXT_LOCAL_VIEW_ENV = "IBV_EXT_LOCAL_VIEW"

# The environment variable that names the library file to load (else, when this module runs
# from the source tree, the build tree's library; else the soname through the loader).
LIBRARY_ENV = "IBV_EXT_LIBRARY"
SONAME = "libibverbs-ext.so.1"
VERBS_SONAME = "libibverbs.so.1"

IBV_REG_DMABUF_MR_EX_HINTS = 1 << 0
IBV_REG_DMABUF_MR_EX_CHOICE = 1 << 1
IBV_REG_DMABUF_MR_EX_SOURCE = 1 << 2

IBV_DMA_PATH_HINTS_NUMA_NODE = 1 << 0
IBV_DMA_PATH_HINTS_SPREAD_KEY = 1 << 1


# ----------------------------------------------------------------------------- structures
class ibv_dmabuf_info(ctypes.Structure):
    _fields_ = [
        ("comp_mask", ctypes.c_uint32),
        ("source", ctypes.c_uint32),
        ("origin", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("types", ctypes.c_uint32),
        ("numa_node", ctypes.c_int32),
        ("size", ctypes.c_uint64),
        ("inode", ctypes.c_uint64),
        ("provider", ctypes.c_char * IBV_EXT_PCI_ADDR_LEN),
        ("exporter", ctypes.c_char * IBV_EXT_NAME_LEN),
    ]


class ibv_dma_endpoint(ctypes.Structure):
    _fields_ = [
        ("comp_mask", ctypes.c_uint32),
        ("index", ctypes.c_uint32),
        ("kind", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("numa_node", ctypes.c_int32),
        ("link_speed", ctypes.c_uint32),
        ("link_width", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("ibdev", ctypes.c_char * IBV_EXT_NAME_LEN),
        ("pci_addr", ctypes.c_char * IBV_EXT_PCI_ADDR_LEN),
        ("via", ctypes.c_char * IBV_EXT_NAME_LEN),
        ("assumed", ctypes.c_char * IBV_EXT_ASSUMED_LEN),
    ]


class ibv_dma_path_hints(ctypes.Structure):
    _fields_ = [
        ("comp_mask", ctypes.c_uint32),
        ("policy", ctypes.c_uint32),
        ("numa_node", ctypes.c_int32),
        ("endpoint", ctypes.c_uint32),
        ("spread_key", ctypes.c_uint64),
    ]


class ibv_dma_choice(ctypes.Structure):
    _fields_ = [
        ("comp_mask", ctypes.c_uint32),
        ("path_class", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("numa_distance", ctypes.c_int32),
        ("reason", ctypes.c_char * IBV_EXT_REASON_LEN),
        ("ep", ibv_dma_endpoint),
    ]


class ibv_reg_dmabuf_mr_ex_attr(ctypes.Structure):
    _fields_ = [
        ("comp_mask", ctypes.c_uint32),
        ("fd", ctypes.c_int),
        ("offset", ctypes.c_uint64),
        ("length", ctypes.c_uint64),
        ("iova", ctypes.c_uint64),
        ("access", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("hints", ctypes.POINTER(ibv_dma_path_hints)),
        ("choice", ctypes.POINTER(ibv_dma_choice)),
        ("source", ctypes.POINTER(ibv_dmabuf_info)),
    ]


class ibv_dmabuf_alloc_attr(ctypes.Structure):
    _fields_ = [
        ("comp_mask", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint64),
        ("numa_node", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    ]


# The public heads of libibverbs' objects (<infiniband/verbs.h>, stable ABI since v1.1).
class ibv_pd(ctypes.Structure):
    _fields_ = [
        ("context", ctypes.c_void_p),
        ("handle", ctypes.c_uint32),
    ]


class ibv_mr(ctypes.Structure):
    _fields_ = [
        ("context", ctypes.c_void_p),
        ("pd", ctypes.c_void_p),
        ("addr", ctypes.c_void_p),
        ("length", ctypes.c_size_t),
        ("handle", ctypes.c_uint32),
        ("lkey", ctypes.c_uint32),
        ("rkey", ctypes.c_uint32),
    ]


class ibv_context(ctypes.Structure):
    """The head of struct ibv_context, up to num_comp_vectors (read only, never allocated)."""
    _partial_ = True
    _fields_ = [
        ("device", ctypes.c_void_p),
        ("ops", ctypes.c_void_p * 32),  # struct ibv_context_ops: 32 function pointers
        ("cmd_fd", ctypes.c_int),
        ("async_fd", ctypes.c_int),
        ("num_comp_vectors", ctypes.c_int),
    ]


STRUCTS = (ibv_dmabuf_info, ibv_dma_endpoint, ibv_dma_path_hints, ibv_dma_choice,
           ibv_reg_dmabuf_mr_ex_attr, ibv_dmabuf_alloc_attr, ibv_pd, ibv_mr, ibv_context)


# ----------------------------------------------------------------------------- loading
def _source_tree_library():
    """The build tree's library when this module runs from the project's source tree
    (python/ibverbs_ext next to VERSION and CMakeLists.txt): $DMP_BUILD, else ./build."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not (os.path.isfile(os.path.join(top, "VERSION")) and
            os.path.isfile(os.path.join(top, "libibverbs-ext", "include", "infiniband",
                                        "verbs_ext.h"))):
        return None
    build = os.environ.get("DMP_BUILD") or os.path.join(top, "build")
    path = os.path.join(build, "libibverbs-ext", SONAME)
    return path if os.path.isfile(path) else None


def _load(env, soname, what):
    """Load $env if set; else, from the source tree, the build tree's library; else soname."""
    path = os.environ.get(env) if env else None
    if env and not path:
        path = _source_tree_library()
    name = path or soname
    try:
        return ctypes.CDLL(name, use_errno=True), name
    except OSError as e:
        hint = (f"; set {env}=/path/to/{soname} or install the library" if env else "")
        raise ImportError(f"ibverbs_ext: cannot load {what} {name!r}: {e}{hint}") from e


lib, library_path = _load(LIBRARY_ENV, SONAME, "libibverbs-ext")
verbs, verbs_path = _load(None, VERBS_SONAME, "libibverbs")

_P = ctypes.POINTER
_c = ctypes


def _proto(dll, name, restype, *argtypes):
    fn = getattr(dll, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


# libibverbs-ext: IBVERBS_EXT_1.0, and the 1.1 calls that take the caller's struct sizes
# (bound as the header's inline wrappers do: the sizes of the structures above).
ibv_ext_last_error = _proto(lib, "ibv_ext_last_error", _c.c_char_p)
ibv_ext_sysfs_note = _proto(lib, "ibv_ext_sysfs_note", _c.c_char_p, _c.c_size_t)
ibv_ext_drop_topology_cache = _proto(lib, "ibv_ext_drop_topology_cache", None)
ibv_query_dmabuf = _proto(lib, "ibv_query_dmabuf", _c.c_int, _c.c_int, _P(ibv_dmabuf_info))
ibv_describe_dmabuf_source = _proto(lib, "ibv_describe_dmabuf_source", _c.c_int,
                                    _c.c_char_p, _P(ibv_dmabuf_info))
ibv_dmabuf_source_str = _proto(lib, "ibv_dmabuf_source_str", _c.c_char_p, _c.c_uint)
ibv_dmabuf_origin_str = _proto(lib, "ibv_dmabuf_origin_str", _c.c_char_p, _c.c_uint)
_ibv_query_dma_endpoints = _proto(lib, "_ibv_query_dma_endpoints", _c.c_int, _c.c_char_p,
                                  _P(ibv_dma_endpoint), _P(_c.c_size_t), _c.c_size_t)
ibv_dma_endpoint_kind_str = _proto(lib, "ibv_dma_endpoint_kind_str", _c.c_char_p, _c.c_uint)
_ibv_select_dma_endpoint = _proto(lib, "_ibv_select_dma_endpoint", _c.c_int, _c.c_char_p,
                                  _P(ibv_dmabuf_info), _P(ibv_dma_path_hints),
                                  _P(ibv_dma_choice), _c.c_size_t)
_ibv_rank_dma_endpoints = _proto(lib, "_ibv_rank_dma_endpoints", _c.c_int, _c.c_char_p,
                                 _P(ibv_dmabuf_info), _P(ibv_dma_path_hints),
                                 _P(ibv_dma_choice), _P(_c.c_size_t), _c.c_size_t)
_ibv_rank_dmabuf_devices = _proto(lib, "_ibv_rank_dmabuf_devices", _c.c_int,
                                  _P(_c.c_char_p), _c.c_size_t, _P(ibv_dmabuf_info),
                                  _P(ibv_dma_path_hints), _P(ibv_dma_choice),
                                  _P(_c.c_size_t), _c.c_size_t)
ibv_dma_path_class_str = _proto(lib, "ibv_dma_path_class_str", _c.c_char_p, _c.c_uint)
_ibv_reg_dmabuf_mr_ex = _proto(lib, "_ibv_reg_dmabuf_mr_ex", _c.c_void_p, _c.c_void_p,
                               _P(ibv_reg_dmabuf_mr_ex_attr), _c.c_size_t, _c.c_size_t)
ibv_alloc_dmabuf = _proto(lib, "ibv_alloc_dmabuf", _c.c_int, _P(ibv_dmabuf_alloc_attr))


def ibv_query_dma_endpoints(name, eps, num):
    return _ibv_query_dma_endpoints(name, eps, num, _c.sizeof(ibv_dma_endpoint))


def ibv_select_dma_endpoint(name, source, hints, choice):
    return _ibv_select_dma_endpoint(name, source, hints, choice, _c.sizeof(ibv_dma_choice))


def ibv_rank_dma_endpoints(name, source, hints, ranked, num):
    return _ibv_rank_dma_endpoints(name, source, hints, ranked, num,
                                   _c.sizeof(ibv_dma_choice))


def ibv_rank_dmabuf_devices(names, num_names, source, hints, ranked, num):
    return _ibv_rank_dmabuf_devices(names, num_names, source, hints, ranked, num,
                                    _c.sizeof(ibv_dma_choice))


def ibv_reg_dmabuf_mr_ex(pd, attr):
    return _ibv_reg_dmabuf_mr_ex(pd, attr, _c.sizeof(ibv_dma_choice),
                                 _c.sizeof(ibv_dmabuf_info))


# libibverbs: only what a registration without pyverbs needs, and deregistration.
ibv_get_device_list = _proto(verbs, "ibv_get_device_list", _P(_c.c_void_p), _P(_c.c_int))
ibv_free_device_list = _proto(verbs, "ibv_free_device_list", None, _P(_c.c_void_p))
ibv_get_device_name = _proto(verbs, "ibv_get_device_name", _c.c_char_p, _c.c_void_p)
ibv_open_device = _proto(verbs, "ibv_open_device", _c.c_void_p, _c.c_void_p)
ibv_close_device = _proto(verbs, "ibv_close_device", _c.c_int, _c.c_void_p)
ibv_alloc_pd = _proto(verbs, "ibv_alloc_pd", _c.c_void_p, _c.c_void_p)
ibv_dealloc_pd = _proto(verbs, "ibv_dealloc_pd", _c.c_int, _c.c_void_p)
ibv_dereg_mr = _proto(verbs, "ibv_dereg_mr", _c.c_int, _c.c_void_p)


def last_error():
    """ibv_ext_last_error() of the calling thread, as str."""
    r = ibv_ext_last_error()
    return r.decode(errors="replace") if r else ""
