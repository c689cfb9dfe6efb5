# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibverbs_ext (the Python module) on real dma-bufs and real rxe devices (runs INSIDE the lab),
without pyverbs (see test_py_pyverbs.py for the interplay and RDMA traffic).

Both kernels: endpoints from the real sysfs match the lab topology; devices ranked for CPU
memory on each node and for the ivshmem BAR; test dma-bufs (udmabuf bound to a node,
interleaved, system heap) filled and checked through their mapping; bad ranges and access
refused before the kernel, with errno and reason; no fd or MR left behind.
Stock 6.12: queries are inferred (no node), a node hint steers the choice, and registration on
rxe is refused with EOPNOTSUPP and the library's reason.
Patched: the kernel describes the buffer (node, mixed), registration on rxe works and is
released by close(), by PD.close(), or (with a ResourceWarning) by the garbage collector.
"""

import errno
import gc
import json
import os
import subprocess
import sys
import warnings

import pytest

import labguest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library: cmake -S . -B build && "
                f"cmake --build build): {e}", allow_module_level=True)

MiB = labguest.MiB
ACCESS = ix.ACCESS_LOCAL_WRITE | ix.ACCESS_REMOTE_WRITE | ix.ACCESS_REMOTE_READ


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def mr_count(dev):
    """MRs of *dev* the kernel holds (iproute2 `rdma resource show mr`), None if unknown."""
    try:
        r = subprocess.run(["rdma", "-j", "resource", "show", "mr", "dev", dev],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    try:
        return len(json.loads(r.stdout or "[]"))
    except ValueError:
        return None


@pytest.fixture(autouse=True)
def no_fd_leak():
    before = fd_count()
    yield
    gc.collect()
    assert fd_count() == before, "file descriptors leaked"


@pytest.fixture
def pd(nic):
    """An ibverbs_ext Context and PD on the NIC's rxe device (no pyverbs)."""
    with ix.Context(nic.rxe) as ctx, ctx.alloc_pd() as p:
        yield p


def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(256)) * (n // 256) + \
        bytes((i * 7 + seed) & 0xFF for i in range(n % 256))


# ----------------------------------------------------------------------------- topology
def test_module_uses_the_build_tree_library():
    build = labguest.BUILD
    assert ix.library_path == os.path.join(build, "libibverbs-ext", "libibverbs-ext.so.1")
    assert {"rxe0", "rxe1"} <= set(ix.device_names())


def test_endpoints_match_lab_topology(nic):
    (ep,) = ix.query_dma_endpoints(nic.rxe)
    assert ep.ibdev == nic.rxe and ep.index == 0
    assert ep.kind == ix.EndpointKind.NETDEV and ep.via == nic.netdev, ep
    assert ep.pci == nic.pci and ep.numa_node == nic.numa_node, ep
    assert ep.default and ep.available, ep
    listed = os.path.isdir(f"/sys/class/infiniband/{nic.rxe}/dma_endpoints")
    assert ep.kernel_listed == listed, (ep, listed)


def test_rank_devices_for_cpu_memory_on_each_node(nic):
    other = "rxe1" if nic.rxe == "rxe0" else "rxe0"
    ranked = ix.rank_dmabuf_devices(f"system:node={nic.numa_node}")
    assert [c.ibdev for c in ranked] == [nic.rxe, other], [c.reason for c in ranked]
    assert (ranked[0].path_class, ranked[0].numa_distance) == (ix.PathClass.PHB, 10)
    assert (ranked[1].path_class, ranked[1].numa_distance) == (ix.PathClass.SYS, 20)
    assert f"node {nic.numa_node}" in ranked[0].reason


def test_p2p_ivshmem_goes_to_node1(lab):
    src = ix.describe_dmabuf_source(f"p2p:{lab.ivshmem_pci}")
    assert src.provider == lab.ivshmem_pci and src.numa_node == lab.ivshmem_node
    top = ix.rank_dmabuf_devices(src)[0]
    assert top.ibdev == "rxe1" and top.path_class == ix.PathClass.PHB, top.reason
    assert top.p2p_via_host_bridge, top.reason


# ----------------------------------------------------------------------------- buffers
@pytest.mark.parametrize("kind,node,interleave", [
    ("udmabuf", 0, False), ("udmabuf", 1, False), ("udmabuf", None, True),
    ("heap", None, False), ("heap", 1, False),
], ids=["udmabuf-node0", "udmabuf-node1", "udmabuf-interleave", "heap", "heap-node1"])
def test_alloc_fill_check_and_query(lab, kind, node, interleave):
    size = 4 * MiB
    with ix.alloc_dmabuf(size, kind, numa_node=node, interleave=interleave) as buf:
        assert buf.size == size and buf.fileno() >= 0
        data = pattern(size, 3)
        buf.write(data)
        assert buf.read() == data
        buf.fill(b"\xa5\x5a", 4096, 8192)
        assert buf.read(4096, 8192) == b"\xa5\x5a" * 4096
        assert buf.read(0, 4096) == data[:4096]
        info = buf.info()
        exporter = "udmabuf" if kind == "udmabuf" else "system"
        assert info.exporter == exporter and info.size == size, info
        assert info.source == ix.Source.SYSTEM and info.types == {ix.Source.SYSTEM}, info
        assert info.inode == os.fstat(buf.fileno()).st_ino
        if lab.patched:
            assert info.origin == ix.Origin.KERNEL, info
            if interleave:
                assert info.numa_mixed and info.numa_node in (0, 1), info
            elif node is not None:
                assert info.numa_node == node and not info.numa_mixed, info
        else:
            assert info.origin == ix.Origin.INFERRED, info
            assert info.numa_node is None and not info.numa_mixed, info


def test_wrap_an_exporters_fd():
    """A dma-buf made elsewhere (labguest's own udmabuf ioctl) wrapped by Dmabuf(fd)."""
    fd, memfd = labguest.udmabuf(2 * MiB)
    os.close(memfd)
    with ix.Dmabuf(fd) as buf:
        assert buf.size == 2 * MiB  # from the library's query
        buf.fill(0x3C)
        assert buf.read(2 * MiB - 16) == b"\x3c" * 16
    with pytest.raises(OSError):
        os.fstat(fd)


def test_alloc_over_the_udmabuf_limit_says_why():
    e = pytest.raises(ix.IbvExtError, ix.alloc_dmabuf, 128 * MiB).value
    assert e.errno == errno.EINVAL and "UDMABUF_CREATE of 134217728 bytes" in e.reason, e
    assert "size_limit_mb" in e.reason, e


def test_alloc_on_an_offline_node_fails():
    e = pytest.raises(ix.IbvExtError, ix.alloc_dmabuf, MiB, numa_node=5).value
    assert "mbind to node 5" in e.reason, e


# ----------------------------------------------------------------------------- choice
def test_choice_for_a_real_buffer_on_each_node(lab, nic):
    with ix.alloc_dmabuf(2 * MiB, numa_node=nic.numa_node) as buf:
        hinted = ix.rank_dmabuf_devices(buf, ix.PathHints(numa_node=nic.numa_node))
        assert hinted[0].ibdev == nic.rxe, hinted[0].reason
        assert hinted[0].path_class == ix.PathClass.PHB
        # Stock: the maker's node hint stands in for what the kernel cannot say.
        assert hinted[0].hint_used == (not lab.patched), hinted[0].reason
        plain = ix.rank_dmabuf_devices(buf)[0]
        if lab.patched:
            assert plain.ibdev == nic.rxe and not plain.fallback, plain.reason
        else:
            assert plain.fallback, plain.reason
        assert ix.select_dma_endpoint(nic.rxe, buf).endpoint.pci == nic.pci


# ----------------------------------------------------------------------------- registration
def test_mr_count_works(nic):
    """The MR-leak checks below count MRs with iproute2's `rdma resource show mr`."""
    assert mr_count(nic.rxe) is not None, "rdma -j resource show mr failed"


def test_range_beyond_buffer_refused_before_kernel(pd, nic):
    before = mr_count(nic.rxe)
    with ix.alloc_dmabuf(2 * MiB) as buf:
        e = pytest.raises(ix.IbvExtError, ix.reg_dmabuf_mr_ex, pd, buf, offset=MiB,
                          length=2 * MiB, access=ACCESS).value
    assert e.errno == errno.EINVAL and "beyond the dma-buf's 2097152 bytes" in e.reason, e
    assert mr_count(nic.rxe) == before


def test_bad_access_refused(pd):
    with ix.alloc_dmabuf(2 * MiB) as buf:
        e = pytest.raises(ix.IbvExtError, ix.reg_dmabuf_mr_ex, pd, buf,
                          access=ix.ACCESS_LOCAL_WRITE | ix.ACCESS_ON_DEMAND).value
    assert e.errno == errno.EINVAL and "IBV_ACCESS_ON_DEMAND is not allowed" in e.reason


def test_explicit_missing_endpoint(pd):
    with ix.alloc_dmabuf(2 * MiB) as buf:
        e = pytest.raises(ix.IbvExtError, ix.reg_dmabuf_mr_ex, pd, buf, access=ACCESS,
                          hints=ix.PathHints.use_endpoint(1)).value
    assert e.errno == errno.ENOENT and "endpoint 1 does not exist" in e.reason, e


@pytest.mark.stock_only
@pytest.mark.parametrize("kind", ["udmabuf", "heap"])
def test_reg_on_stock_rxe_is_refused_with_reason(pd, nic, kind):
    before = mr_count(nic.rxe)
    with ix.alloc_dmabuf(2 * MiB, kind) as buf:
        e = pytest.raises(ix.IbvExtError, ix.reg_dmabuf_mr_ex, pd, buf, access=ACCESS).value
    assert e.errno == errno.EOPNOTSUPP, e
    assert e.func == "ibv_reg_dmabuf_mr_ex"
    assert f"{nic.rxe}: this kernel's driver has no dma-buf MR support" in e.reason, e
    assert mr_count(nic.rxe) == before  # nothing half-registered


@pytest.mark.patched_only
@pytest.mark.parametrize("kind", ["udmabuf", "heap"])
def test_reg_on_patched_rxe(pd, nic, kind):
    before = mr_count(nic.rxe)
    node = nic.numa_node if kind == "udmabuf" else None
    with ix.alloc_dmabuf(4 * MiB, kind, numa_node=node) as buf:
        mr = ix.reg_dmabuf_mr_ex(pd, buf, offset=4096, length=MiB, iova=0x10001000,
                                 access=ACCESS)
        with mr:
            assert mr.lkey and mr.rkey and not mr.closed
            assert (mr.iova, mr.offset, mr.length) == (0x10001000, 4096, MiB)
            assert mr.addr == 4096  # libibverbs reports the dma-buf offset as addr
            assert mr.address_of(8192) == 0x10002000
            assert mr.choice.endpoint.pci == nic.pci, mr.choice.reason
            assert mr.source.origin == ix.Origin.KERNEL, mr.source
            if node is not None:
                assert mr.source.numa_node == node and not mr.choice.hint_used
                assert mr.choice.path_class == ix.PathClass.PHB, mr.choice.reason
            assert mr_count(nic.rxe) == before + 1
        assert mr.closed
        mr.close()  # idempotent
    assert mr_count(nic.rxe) == before


@pytest.mark.patched_only
def test_pd_close_deregisters_its_mrs(nic):
    with ix.Context(nic.rxe) as ctx:
        pd = ctx.alloc_pd()
        with ix.alloc_dmabuf(2 * MiB) as buf:
            mrs = [ix.reg_dmabuf_mr_ex(pd, buf, length=MiB, offset=i * MiB, access=ACCESS)
                   for i in range(2)]
            pd.close()
            assert all(m.closed for m in mrs) and pd.closed
    assert ctx.closed


@pytest.mark.patched_only
def test_collected_mr_warns_and_is_deregistered(pd, nic):
    before = mr_count(nic.rxe)
    with ix.alloc_dmabuf(2 * MiB) as buf:
        mr = ix.reg_dmabuf_mr_ex(pd, buf, access=ACCESS)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            del mr
            gc.collect()
    assert any(issubclass(x.category, ResourceWarning) for x in w), w
    assert mr_count(nic.rxe) == before


@pytest.mark.patched_only
def test_interleaved_buffer_registers_through_default(pd, nic):
    """Mixed memory: the choice still names one endpoint and says the memory is mixed."""
    with ix.alloc_dmabuf(8 * MiB, interleave=True) as buf, \
            ix.reg_dmabuf_mr_ex(pd, buf, access=ACCESS) as mr:
        assert mr.source.numa_mixed, mr.source
        assert mr.choice.endpoint.pci == nic.pci, mr.choice.reason
