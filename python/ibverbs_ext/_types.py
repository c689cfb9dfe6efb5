# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Value types of the C API: ``ACCESS_*`` bits, the enums and their ``*_str`` names,
DmabufInfo / Endpoint / Choice / PathHints, and the C integer range checks (``_int``)."""

import dataclasses
import enum

from . import _capi


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
    HUGETLB = 1 << 1


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
