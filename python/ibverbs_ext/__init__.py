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

See python/README.md for the binding technique, the pyverbs interplay and the layout of the
private modules this package re-exports (each imports only from those below it).
"""

import os

from . import _capi, _pyverbs  # noqa: F401 - ibverbs_ext._capi is the raw layer

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

# The layers, each importing only from those above it here (python/README.md).
from ._errors import IbvExtError, last_error  # noqa: E402
from ._types import (  # noqa: E402
    ACCESS_HUGETLB, ACCESS_LOCAL_WRITE, ACCESS_MW_BIND, ACCESS_ON_DEMAND,
    ACCESS_RELAXED_ORDERING, ACCESS_REMOTE_ATOMIC, ACCESS_REMOTE_READ, ACCESS_REMOTE_WRITE,
    ACCESS_ZERO_BASED, AllocFlags, AllocType, Choice, ChoiceFlags, DmabufInfo, Endpoint,
    EndpointFlags, EndpointKind, InfoFlags, Origin, PathClass, PathHints, PathPolicy, Source,
    endpoint_kind_str, origin_str, path_class_str, source_str)
from ._query import (  # noqa: E402
    describe_dmabuf_source, device_names, query_dma_endpoints, query_dmabuf,
    rank_dma_endpoints, rank_dmabuf_devices, select_dma_endpoint, set_sysfs_root, sysfs_notes,
    sysfs_root, using_sysfs_root)
from ._dmabuf import (  # noqa: E402,F401 - DMA_BUF_*: package names before the split
    DMA_BUF_IOCTL_SYNC, DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, Dmabuf,
    alloc_dmabuf)
from ._mr import MR, PD, Context, pd_address, reg_dmabuf_mr_ex  # noqa: E402
# pyverbs' DmaBufMR shape, over MR and Dmabuf.
from ._dmabufmr import DmaBufMRex  # noqa: E402
# vfio BARs, over Dmabuf.
from ._vfio import VfioDmabuf, alloc_vfio_dmabuf  # noqa: E402

__all__ += ["alloc_vfio_dmabuf", "VfioDmabuf"]
