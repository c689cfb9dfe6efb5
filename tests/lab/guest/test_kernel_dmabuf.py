# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The kernel series (kernel-patches/, v2 on 7.2): DMA_BUF_IOCTL_DESCRIBE and dma-buf MRs on rxe.

Raw kernel interfaces (kverbs.py), not libibverbs-ext, so that a kernel regression is told apart
from a library one:

- DMA_BUF_IOCTL_DESCRIBE on udmabufs whose memfd pages were placed with mbind() (node 0,
  node 1, interleaved), on system-heap buffers allocated under set_mempolicy(), on vfio-pci's
  dma-buf of ivshmem's BAR 2; how its argument grows and how bad requests are refused; the
  series' kselftest, compiled here;
- dma-buf MRs on rxe (REG_DMABUF_MR and REG_MR with an FD), reached only through the
  exporter's vmap: data moved by RDMA WRITE/READ and checked through the buffer's own CPU view;
  refusals; revocation by vfio-pci when its device file is closed;
- the stock kernels: no describe ioctl (ENOTTY), rxe refuses dma-buf MRs (EOPNOTSUPP).

Tests marked patched_only are skipped on stock kernels (conftest.py).
"""

import errno
import mmap
import os
import re
import tempfile

import pytest

import labguest
from kverbs import (DMA_BUF_MEM_P2P, DMA_BUF_MEM_SYSTEM, DMA_BUF_RANGE_CACHED, DMA_BUF_RANGE_WC,
                    IBV_ACCESS_REMOTE_ATOMIC, IBV_ACCESS_REMOTE_READ, IBV_ACCESS_REMOTE_WRITE,
                    MPOL_BIND, MPOL_INTERLEAVE, RW, check_transfer, describe, heap_buffer,
                    loopback, online_nodes, udmabuf, udmabuf_and_memfd, verbs)

MiB = labguest.MiB
PAGE = mmap.PAGESIZE


def _vfio_or_skip(lab):
    why = labguest.vfio_unavailable()
    if why:
        if lab.patched:
            pytest.fail(f"the patched lab kernel must have the vfio P2P source: {why}")
        pytest.skip(why)
    return labguest.VfioDevice(os.environ.get("LAB_VFIO_PCI") or lab.ivshmem_pci)


# ------------------------------------------------------------------ stock kernels
@pytest.mark.stock_only
def test_stock_kernel_has_no_describe_ioctl():
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd), pytest.raises(OSError) as e:
        describe(fd)
    assert e.value.errno == errno.ENOTTY


@pytest.mark.stock_only
def test_stock_rxe_refuses_dmabuf_mr(rxe):
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd), verbs(rxe) as v:
        assert v.reg_errno(v.reg_dmabuf_mr, fd, 0, 1 * MiB, 0) == errno.EOPNOTSUPP


# ------------------------------------------------------------------ describe
def _covers(d, size):
    at = 0
    for r in d["ranges"]:
        assert r["offset"] == at and r["length"] > 0, d
        assert r["reserved"] == (0, 0), r
        at += r["length"]
    assert at == size and d["nr_ranges"] == len(d["ranges"]), d


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
def test_describe_udmabuf_bound_to_node(node):
    fd = udmabuf(4 * MiB, MPOL_BIND, [node])
    with labguest.closing_fds(fd):
        d = describe(fd)
    assert d["size"] == 4 * MiB and d["mem_types"] == 1 << DMA_BUF_MEM_SYSTEM, d
    _covers(d, 4 * MiB)
    assert [(r["mem"], r["flags"], r["numa_node"]) for r in d["ranges"]] == \
        [(DMA_BUF_MEM_SYSTEM, DMA_BUF_RANGE_CACHED, node)], d


@pytest.mark.patched_only
def test_describe_udmabuf_interleaved_and_too_little_room():
    nodes = online_nodes()
    assert len(nodes) >= 2, "the lab has two NUMA nodes"
    fd = udmabuf(1 * MiB, MPOL_INTERLEAVE, nodes)
    with labguest.closing_fds(fd):
        n = describe(fd, room=0)["nr_ranges"]
        full = describe(fd, room=n)
        some = describe(fd, room=2)
    # interleaved pages: one range per page, alternating nodes
    assert n == 1 * MiB // PAGE, n
    _covers(full, 1 * MiB)
    assert {r["numa_node"] for r in full["ranges"]} == set(nodes)
    assert all(a["numa_node"] != b["numa_node"]
               for a, b in zip(full["ranges"], full["ranges"][1:]))
    # too little room: the count of all ranges, the first ones filled in
    assert some["nr_ranges"] == n and some["ranges"] == full["ranges"][:2]


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [None, 0, 1])
def test_describe_system_heap(node):
    fd = heap_buffer(8 * MiB, *((MPOL_BIND, [node]) if node is not None else ()))
    with labguest.closing_fds(fd):
        d = describe(fd)
    assert d["mem_types"] == 1 << DMA_BUF_MEM_SYSTEM, d
    _covers(d, 8 * MiB)
    if node is not None:
        assert [r["numa_node"] for r in d["ranges"]] == [node], d


@pytest.mark.patched_only
def test_describe_vfio_bar_dmabuf(lab):
    """vfio-pci's dma-buf of ivshmem's BAR 2 is P2P memory of ivshmem, write-combined (a
    prefetchable BAR), and nothing of the BAR's address shows."""
    with _vfio_or_skip(lab) as dev:
        fd = dev.dmabuf(2, [(0, 1 * MiB), (4 * MiB, 2 * MiB)])
        with labguest.closing_fds(fd):
            d = describe(fd)
            info = labguest.fdinfo(fd)
    assert d["size"] == 3 * MiB and d["mem_types"] == 1 << DMA_BUF_MEM_P2P, d
    _covers(d, 3 * MiB)
    assert [(r["mem"], r["flags"], r["numa_node"], r["provider"]) for r in d["ranges"]] == \
        [(DMA_BUF_MEM_P2P, DMA_BUF_RANGE_WC, -1, lab.ivshmem_pci)], d
    assert info["exp_name"] == "vfio_pci_core", info
    bar = labguest.pci_resources(lab.ivshmem_pci_path)[2][0]
    assert not any(bar <= v < bar + lab.ivshmem_size
                   for r in d["ranges"] for v in (r["offset"], r["length"])), (hex(bar), d)


@pytest.mark.patched_only
def test_describe_growth_and_bad_requests(lab):
    fd = udmabuf(1 * MiB)
    memfd = os.memfd_create("not-a-dmabuf", os.MFD_CLOEXEC)
    with labguest.closing_fds(fd, memfd):
        def errno_of(**kw):
            with pytest.raises(OSError) as e:
                describe(fd, **kw)
            return e.value.errno
        assert errno_of(argsz=32) == errno.EINVAL          # older than the first version
        assert errno_of(argsz=0) == errno.EINVAL
        assert errno_of(argsz=48, tail=b"\1" + b"\0" * 7) == errno.E2BIG  # unknown, non-zero
        assert describe(fd, argsz=48, tail=b"\0" * 8)["size"] == 1 * MiB  # unknown, zero
        assert errno_of(flags=1) == errno.EOPNOTSUPP
        assert errno_of(flags=1 << 31) == errno.EOPNOTSUPP
        assert errno_of(reserved=1) == errno.EINVAL
        assert errno_of(range_size=32) == errno.EINVAL     # entries older than the first
        # entries larger than the kernel knows: filled, the rest zeroed
        big = describe(fd, range_size=48)
        assert big["ranges"] and all(r["extra"] == b"\0" * 8 for r in big["ranges"])
        with pytest.raises(OSError) as e:
            describe(memfd)
        assert e.value.errno == errno.ENOTTY
    # a revoked buffer: vfio-pci revokes its dma-bufs when its device file is closed
    with _vfio_or_skip(lab) as dev:
        fd = dev.dmabuf(2, [(0, 1 * MiB)])
    with labguest.closing_fds(fd), pytest.raises(OSError) as e:
        describe(fd)
    assert e.value.errno == errno.ENODEV


@pytest.mark.patched_only
def test_kselftest_dma_buf_describe():
    """tools/testing/selftests/drivers/dma-buf/describe.c, built here with the host's gcc, in
    the tree the kernel was built in (labrun's LAB_KERNEL_TREE: the host's cache, wherever
    DMABUF_MP_CACHE puts it)."""
    tree = os.environ.get("LAB_KERNEL_TREE")
    if not tree:
        pytest.skip("no kernel tree known for this kernel (labrun sets LAB_KERNEL_TREE for "
                    "the kernels it prepares)")
    src = os.path.join(tree, "tools/testing/selftests/drivers/dma-buf/describe.c")
    assert os.path.exists(src), f"{src} missing: the patched tree lacks the series' kselftest"
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/include/linux")
        # The series' uapi header; the others (udmabuf, dma-heap, mempolicy) are the system's.
        with open(f"{tree}/include/uapi/linux/dma-buf.h", "rb") as f_in, \
                open(f"{tmp}/include/linux/dma-buf.h", "wb") as f_out:
            f_out.write(f_in.read())
        exe = f"{tmp}/describe"
        labguest.run(["gcc", "-O2", "-Wall", "-Werror", f"-I{tmp}/include",
                      f"-I{tree}/tools/testing/selftests", "-o", exe, src], timeout=300)
        res = labguest.run([exe], timeout=300, check=False)
    print(res.stdout)
    assert res.returncode == 0, f"kselftest failed:\n{res.stdout}\n{res.stderr}"
    results = {name: status for status, name in
               re.findall(r"^(ok|not ok) \d+ global\.(\S+)", res.stdout, re.M)}
    skipped = set(re.findall(r"^ok \d+ global\.(\S+) # SKIP", res.stdout, re.M))
    expected = {"abi", "not_a_dmabuf", "growth", "bad_requests", "range_size", "udmabuf",
                "udmabuf_interleaved", "system_heap"}
    assert set(results) == expected, res.stdout
    assert all(s == "ok" for s in results.values()), res.stdout
    assert not skipped, f"the lab has udmabuf, the system heap and two nodes: {skipped}"


# ------------------------------------------------------------------ dma-buf MRs on rxe
@pytest.mark.patched_only
@pytest.mark.parametrize("method", ["REG_DMABUF_MR", "REG_MR"])
def test_rxe_dmabuf_mr_moves_data(nic, method):
    """A udmabuf on the rxe's own node: RDMA WRITE reaches its pages, RDMA READ returns them;
    offsets that are not page aligned register too."""
    size, iova = 16 * PAGE, 0x7f0000000000
    fd, memfd = udmabuf_and_memfd(size, MPOL_BIND, [nic.numa_node])
    with labguest.closing_fds(fd, memfd), mmap.mmap(memfd, size) as mem, loopback(nic) as rc:
        if method == "REG_MR":
            handle, _, rkey, used = rc.reg(fd, 0, size, iova)
            assert used == 0, "without DMA_ENDPOINT the default endpoint 0 is reported"
        else:
            from kverbs import uverbs_reg_dmabuf_mr
            handle, _, rkey = uverbs_reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, size,
                                                   iova)
        try:
            check_transfer(rc, rkey, iova, mem, size, tag=3)
        finally:
            rc.destroy(handle)
        # offset and iova with the same page offset, not a whole number of pages
        handle, _, rkey, _ = rc.reg(fd, PAGE + 100, 3 * PAGE, 0x10000 + 100)
        rc.destroy(handle)


@pytest.mark.patched_only
def test_rxe_dmabuf_mr_refusals(lab):
    fd = udmabuf(1 * MiB)
    memfd = os.memfd_create("not-a-dmabuf", os.MFD_CLOEXEC)
    ro = heap_buffer(1 * MiB, fd_flags=os.O_RDONLY)
    with labguest.closing_fds(fd, memfd, ro), verbs(lab.nics[0].rxe) as v:
        r = v.reg_mr_fd
        # the iova must have the offset's page offset (uverbs)
        assert v.reg_errno(r, fd, 100, PAGE, 0x10000) == errno.EINVAL
        # past the end of the buffer, empty
        assert v.reg_errno(r, fd, 1 * MiB - PAGE, 2 * PAGE, 0x10000) == errno.EINVAL
        assert v.reg_errno(r, fd, 0, 0, 0x10000) == errno.EINVAL
        # remote write without local write (ib_check_mr_access)
        assert v.reg_errno(r, fd, 0, PAGE, 0, IBV_ACCESS_REMOTE_WRITE) == errno.EINVAL
        # not a dma-buf
        assert v.reg_errno(r, memfd, 0, PAGE, 0) == errno.EINVAL
        # write access to a dma-buf opened read-only; reading it is fine
        assert v.reg_errno(r, ro, 0, PAGE, 0) == errno.EACCES
        handle = r(ro, 0, PAGE, 0, IBV_ACCESS_REMOTE_READ)[0]
        v.destroy_mr(handle)


@pytest.mark.patched_only
def test_rxe_dmabuf_mr_outlives_its_fd(lab):
    """The MR holds its own reference: closing the fd first, then deregistering, is fine."""
    fd = heap_buffer(1 * MiB)
    with verbs(lab.nics[1].rxe) as v:
        handle = v.reg_mr_fd(fd, 0, 1 * MiB, 0)[0]
        os.close(fd)
        v.destroy_mr(handle)


@pytest.mark.patched_only
def test_vfio_bar_refused_by_the_rxe_that_cannot_reach_it(lab):
    """rxe0 and rxe1 sit on NICs outside ivshmem's PCIe switch: no P2P path (EXDEV)."""
    with _vfio_or_skip(lab) as dev:
        fd = dev.dmabuf(2, [(0, 1 * MiB)])
        with labguest.closing_fds(fd):
            for nic in lab.nics:
                with verbs(nic.rxe) as v:
                    assert v.reg_errno(v.reg_mr_fd, fd, 0, 1 * MiB, 0) == errno.EXDEV
                    assert v.reg_errno(v.reg_dmabuf_mr, fd, 0, 1 * MiB, 0) == errno.EXDEV


@pytest.mark.patched_only
def test_vfio_bar_mr_moves_data_and_is_revoked(lab, rxeb):
    """Through NIC2, under ivshmem's switch, a BAR dma-buf registers (no remote atomics: I/O
    memory), moves data both ways (checked through vfio's own view of the BAR) and is revoked
    when vfio's device file is closed: accesses fail, the MR still deregisters."""
    size, iova, off = 16 * PAGE, 0x7f0000000000, 4 * MiB
    with loopback(rxeb) as rc:
        with _vfio_or_skip(lab) as dev:
            fd = dev.dmabuf(2, [(off, size)])
            with labguest.closing_fds(fd):
                with pytest.raises(OSError) as e:
                    rc.reg(fd, 0, size, iova, RW | IBV_ACCESS_REMOTE_ATOMIC,
                           endpoint=rxeb.nic2_endpoint)
                assert e.value.errno == errno.EOPNOTSUPP
                handle, _, rkey, used = rc.reg(fd, 0, size, iova, endpoint=rxeb.nic2_endpoint)
                assert used == rxeb.nic2_endpoint
                check_transfer(rc, rkey, iova, dev.view(2, off), size, tag=5)
        # the device file is closed: vfio revoked the buffer
        status = rc.rdma(rc.e.IBV_WR_RDMA_WRITE, PAGE, rkey, iova)
        assert status == rc.e.IBV_WC_REM_ACCESS_ERR, f"WC status {status}"
        rc.destroy(handle)


# <drm/drm.h>: DRM_IOCTL_PRIME_FD_TO_HANDLE, struct drm_prime_handle { handle, flags, fd }
DRM_IOCTL_PRIME_FD_TO_HANDLE = 0xC00C642E


def _vgem_card():
    for card in sorted(os.listdir("/sys/class/drm")) if os.path.isdir("/sys/class/drm") else ():
        if card.startswith("card") and "-" not in card and os.path.basename(
                os.path.realpath(f"/sys/class/drm/{card}/device")) == "vgem":
            return f"/dev/dri/{card}"
    return None


@pytest.mark.patched_only
def test_vfio_refuses_an_importer_that_cannot_be_revoked(lab):
    """vgem imports dma-bufs through DRM PRIME with a static attachment, neither P2P-capable
    nor revocable: vfio-pci's attach refuses it (EOPNOTSUPP) and the buffer stays usable."""
    import fcntl
    import struct
    card = _vgem_card()
    assert card, "the patched lab kernel has vgem (lab.config)"
    with _vfio_or_skip(lab) as dev:
        fd = dev.dmabuf(2, [(0, 1 * MiB)])
        drm = os.open(card, os.O_RDWR | os.O_CLOEXEC)
        with labguest.closing_fds(fd, drm):
            with pytest.raises(OSError) as e:
                fcntl.ioctl(drm, DRM_IOCTL_PRIME_FD_TO_HANDLE,
                            bytearray(struct.pack("IIi", 0, 0, fd)), True)
            assert e.value.errno == errno.EOPNOTSUPP
            assert describe(fd)["mem_types"] == 1 << DMA_BUF_MEM_P2P


@pytest.mark.patched_only
def test_a_revoked_buffer_does_not_register(lab):
    """A vfio dma-buf whose device file was closed: describe says ENODEV, and so does a
    registration (the attach is refused), leaving nothing behind."""
    with _vfio_or_skip(lab) as dev:
        fd = dev.dmabuf(2, [(0, 1 * MiB)])
    with labguest.closing_fds(fd), verbs(lab.nics[0].rxe) as v:
        err = v.reg_errno(v.reg_mr_fd, fd, 0, 1 * MiB, 0)
        labguest.record_bad_input("REG_MR", "a buffer revoked by its exporter", "ENODEV",
                                  errno.errorcode[err])
        assert err == errno.ENODEV


def test_reg_mr_of_ordinary_memory(lab):
    """UVERBS_METHOD_REG_MR with an address (no FD). The series (0001) sets the MR's iova and
    length as the write command does, so rxe moves data through it; stock 7.2 leaves both at
    0 and rxe fails every access; stock 6.12 has no such method (EPROTONOSUPPORT)."""
    import ctypes
    nic = lab.nics[0]
    size, iova = 4 * PAGE, 0x7f0000100000
    mem = mmap.mmap(-1, size)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    with loopback(nic) as rc:
        try:
            handle, _, rkey, _ = rc.reg(-1, 0, size, iova, addr=addr, want_endpoint=False)
        except OSError as e:
            assert lab.version == "6.12" and e.errno == errno.EPROTONOSUPPORT, e
            return
        assert lab.version == "7.2", lab
        try:
            rc.local.write(b"x" * PAGE, PAGE)
            status = rc.rdma(rc.e.IBV_WR_RDMA_WRITE, PAGE, rkey, iova)
            if lab.patched:
                assert status == rc.e.IBV_WC_SUCCESS, status
                check_transfer(rc, rkey, iova, mem, size, tag=11)
            else:
                assert status != rc.e.IBV_WC_SUCCESS, "stock 7.2 was expected to fail (its " \
                    "REG_MR leaves the MR's iova and length at 0)"
        finally:
            rc.destroy(handle)
