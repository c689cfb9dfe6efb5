# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The kernel series (kernel-patches/): DMA_BUF_IOCTL_DESCRIBE and dma-buf MRs on rxe.

Everything here talks to the kernel directly (raw ioctls through fcntl/ctypes), not through
libibverbs-ext, so that a kernel regression is told apart from a library one:

- the series' kselftest (tools/testing/selftests/drivers/dma-buf/describe.c), compiled in the
  guest from the patched tree the lab kernel was built from;
- DMA_BUF_IOCTL_DESCRIBE on udmabufs whose memfd pages were placed with mbind() on node 0,
  node 1 or interleaved, and on system-heap buffers allocated under set_mempolicy();
- UVERBS_METHOD_REG_DMABUF_MR sent by hand on rxe0/rxe1 (rdma-core's rxe provider has no
  reg_dmabuf_mr op), its refusals, and MR_DESTROY;
- on the stock kernel: the ioctl is ENOTTY and rxe refuses dma-buf MRs (what the library's
  fallbacks rely on).

Tests marked patched_only are skipped on the stock kernel (conftest.py). On a kernel image given
by path (LAB_KERNEL=custom) they run too and skip, saying so, if that kernel lacks the series.
LAB_KERNEL_TREE=<patched kernel tree> tells the kselftest test where the source is for such a
kernel; for LAB_KERNEL=patched it is prepare-kernel's cached tree.
"""

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import re
import struct
import subprocess
import tempfile

import pytest

import labguest

MiB = labguest.MiB
PAGE = mmap.PAGESIZE

# <linux/dma-buf.h> of the series: struct dma_buf_describe (64 bytes) and its ioctl.
DESCRIBE_FMT = "=IIIiQIBBH32s"
DMA_BUF_IOCTL_DESCRIBE = 0xC0406204  # _IOWR('b', 4, struct dma_buf_describe)
DMA_BUF_MEM_SYSTEM, DMA_BUF_MEM_P2P, DMA_BUF_MEM_PRIVATE = 1, 2, 4
DMA_BUF_DESC_NUMA_MIXED, DMA_BUF_DESC_MMIO_WC, DMA_BUF_DESC_MMIO_UC = 1, 2, 4
assert struct.calcsize(DESCRIBE_FMT) == 64

# <linux/mempolicy.h>, x86_64 syscall numbers
MPOL_DEFAULT, MPOL_BIND, MPOL_INTERLEAVE = 0, 2, 3
SYS_MBIND, SYS_SET_MEMPOLICY = 237, 238

_libc = ctypes.CDLL(None, use_errno=True)


def _nodemask(nodes):
    return ctypes.c_ulong(sum(1 << n for n in nodes))


def describe(fd, flags=0, reserved=0):
    """DMA_BUF_IOCTL_DESCRIBE on *fd*; returns a dict (raises OSError)."""
    buf = bytearray(struct.pack(DESCRIBE_FMT, flags, 0, 0, 0, 0, 0, 0, 0, reserved, b""))
    fcntl.ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, buf, True)
    (flags, types, attrs, node, size, seg, bus, devfn, reserved,
     name) = struct.unpack(DESCRIBE_FMT, bytes(buf))
    return dict(flags=flags, types=types, attrs=attrs, numa_node=node, size=size,
                provider=(seg, bus, devfn), reserved=reserved,
                exp_name=name.split(b"\0", 1)[0].decode())


def describe_or_skip(fd):
    """describe(), skipping when a custom kernel simply lacks the series."""
    try:
        return describe(fd)
    except OSError as e:
        if e.errno == errno.ENOTTY and os.environ.get("LAB_KERNEL") == "custom":
            pytest.skip("this custom kernel has no DMA_BUF_IOCTL_DESCRIBE (not the series)")
        raise


def udmabuf(size, mode=MPOL_DEFAULT, nodes=()):
    """A udmabuf of *size* bytes whose memfd pages are allocated under an mbind() policy."""
    fd, memfd = udmabuf_and_memfd(size, mode, nodes)
    os.close(memfd)
    return fd


def udmabuf_and_memfd(size, mode=MPOL_DEFAULT, nodes=()):
    """udmabuf(), also returning the memfd (to look at the memory through it)."""
    memfd = os.memfd_create("kernel-dmabuf-test", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    try:
        os.ftruncate(memfd, size)
        fcntl.fcntl(memfd, labguest.F_ADD_SEALS, labguest.F_SEAL_SHRINK)
        with mmap.mmap(memfd, size) as m:
            if mode != MPOL_DEFAULT:
                anchor = ctypes.c_char.from_buffer(m)
                mask = _nodemask(nodes)
                ret = _libc.syscall(SYS_MBIND, ctypes.c_void_p(ctypes.addressof(anchor)),
                                    ctypes.c_ulong(size), mode, ctypes.byref(mask),
                                    ctypes.c_ulong(65), 0)
                err = ctypes.get_errno()
                del anchor
                if ret:
                    raise OSError(err, f"mbind({mode}, {nodes}): {os.strerror(err)}")
            for off in range(0, size, PAGE):
                m[off] = 1
        arg = bytearray(struct.pack("IIQQ", memfd, labguest.UDMABUF_FLAGS_CLOEXEC, 0, size))
        dev = os.open("/dev/udmabuf", os.O_RDWR | os.O_CLOEXEC)
        try:
            return fcntl.ioctl(dev, labguest.UDMABUF_CREATE, arg, True), memfd
        finally:
            os.close(dev)
    except BaseException:
        os.close(memfd)
        raise


def heap_buffer(size, mode=MPOL_DEFAULT, nodes=(), fd_flags=os.O_RDWR):
    """A system dma-heap buffer allocated while this thread runs under a memory policy."""
    if mode != MPOL_DEFAULT:
        mask = _nodemask(nodes)
        if _libc.syscall(SYS_SET_MEMPOLICY, mode, ctypes.byref(mask), ctypes.c_ulong(65)):
            err = ctypes.get_errno()
            raise OSError(err, f"set_mempolicy: {os.strerror(err)}")
    try:
        buf = bytearray(struct.pack("QIIQ", size, 0, fd_flags | os.O_CLOEXEC, 0))
        heap = os.open("/dev/dma_heap/system", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(heap, labguest.DMA_HEAP_IOCTL_ALLOC, buf, True)
        finally:
            os.close(heap)
        return struct.unpack("QIIQ", bytes(buf))[1]
    finally:
        if mode != MPOL_DEFAULT:
            _libc.syscall(SYS_SET_MEMPOLICY, MPOL_DEFAULT, None, ctypes.c_ulong(0))


def online_nodes():
    text = labguest.read("/sys/devices/system/node/online")
    nodes = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        nodes.extend(range(int(a), int(b or a) + 1))
    return nodes


# ------------------------------------------------------------------ describe ioctl
@pytest.mark.stock_only
def test_stock_kernel_has_no_describe_ioctl():
    """The library falls back on fdinfo when the ioctl is ENOTTY: stock 6.12 says so."""
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd):
        with pytest.raises(OSError) as e:
            describe(fd)
        assert e.value.errno == errno.ENOTTY


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
def test_describe_udmabuf_bound_to_node(node):
    fd = udmabuf(4 * MiB, MPOL_BIND, [node])
    with labguest.closing_fds(fd):
        d = describe_or_skip(fd)
    print(f"udmabuf bound to node {node}: {d}")
    assert d["types"] == DMA_BUF_MEM_SYSTEM
    assert d["numa_node"] == node
    assert not d["attrs"] & DMA_BUF_DESC_NUMA_MIXED
    assert d["size"] == 4 * MiB
    assert d["exp_name"] == "udmabuf"
    assert d["provider"] == (0, 0, 0) and d["flags"] == 0 and d["reserved"] == 0


@pytest.mark.patched_only
def test_describe_udmabuf_interleaved():
    nodes = online_nodes()
    assert len(nodes) >= 2, f"the lab has two NUMA nodes, the guest shows {nodes}"
    fd = udmabuf(8 * MiB, MPOL_INTERLEAVE, nodes)
    with labguest.closing_fds(fd):
        d = describe_or_skip(fd)
    print(f"udmabuf interleaved over {nodes}: {d}")
    assert d["types"] == DMA_BUF_MEM_SYSTEM
    assert d["attrs"] & DMA_BUF_DESC_NUMA_MIXED
    assert d["numa_node"] in nodes


@pytest.mark.patched_only
def test_describe_udmabuf_first_touch_is_on_a_node():
    fd = labguest.udmabuf(2 * MiB)[0]
    with labguest.closing_fds(fd):
        d = describe_or_skip(fd)
    assert d["types"] == DMA_BUF_MEM_SYSTEM and d["numa_node"] in online_nodes(), d


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [None, 0, 1])
def test_describe_system_heap(node):
    fd = heap_buffer(4 * MiB) if node is None else heap_buffer(4 * MiB, MPOL_BIND, [node])
    with labguest.closing_fds(fd):
        d = describe_or_skip(fd)
    print(f"system heap buffer (policy: {node}): {d}")
    assert d["types"] == DMA_BUF_MEM_SYSTEM
    assert d["exp_name"] == "system"
    assert d["size"] == 4 * MiB
    if node is None:
        assert d["numa_node"] in online_nodes()
    else:
        assert d["numa_node"] == node
        assert not d["attrs"] & DMA_BUF_DESC_NUMA_MIXED


@pytest.mark.patched_only
def test_describe_refusals():
    fd = heap_buffer(1 * MiB)
    memfd = os.memfd_create("not-a-dmabuf", os.MFD_CLOEXEC)
    with labguest.closing_fds(fd, memfd):
        describe_or_skip(fd)
        for kw in ({"flags": 1}, {"flags": 1 << 31}, {"reserved": 1}):
            with pytest.raises(OSError) as e:
                describe(fd, **kw)
            assert e.value.errno == errno.EINVAL, kw
        with pytest.raises(OSError) as e:
            fcntl.ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, 0)  # NULL pointer
        assert e.value.errno == errno.EFAULT
        with pytest.raises(OSError) as e:
            describe(memfd)
        assert e.value.errno == errno.ENOTTY


def _kernel_tree():
    tree = os.environ.get("LAB_KERNEL_TREE")
    if tree:
        return tree
    kid = os.environ.get("LAB_KERNEL_ID", "")
    if kid.startswith("patched-"):
        cache = os.environ.get("DMABUF_MP_CACHE", os.path.expanduser("~/.cache/dmabuf-mp"))
        return os.path.join(cache, "linux-" + kid[len("patched-"):])
    return None


@pytest.mark.patched_only
def test_kselftest_dma_buf_describe():
    """tools/testing/selftests/drivers/dma-buf/describe.c, built here with the host's gcc."""
    tree = _kernel_tree()
    if not tree:
        pytest.skip("no patched kernel tree known for this kernel (set LAB_KERNEL_TREE)")
    src = os.path.join(tree, "tools/testing/selftests/drivers/dma-buf/describe.c")
    if not os.path.exists(src):
        if os.environ.get("LAB_KERNEL") == "custom":
            pytest.skip(f"{src} missing: {tree} is not a tree with the series")
        pytest.fail(f"{src} missing: the patched tree lacks the series' kselftest")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/include/linux")
        # The series' uapi header; the others (udmabuf, dma-heap, mempolicy) are the system's.
        with open(f"{tree}/include/uapi/linux/dma-buf.h", "rb") as f_in, \
                open(f"{tmp}/include/linux/dma-buf.h", "wb") as f_out:
            f_out.write(f_in.read())
        exe = f"{tmp}/describe"
        labguest.run(["gcc", "-O2", "-Wall", "-Werror", f"-I{tmp}/include",
                      "-o", exe, src], timeout=300)
        res = labguest.run([exe], timeout=300, check=False)
    print(res.stdout)
    assert res.returncode == 0, f"kselftest failed:\n{res.stdout}\n{res.stderr}"
    results = {name: status for status, name in
               re.findall(r"^(ok|not ok) \d+ global\.(\S+)", res.stdout, re.M)}
    skipped = set(re.findall(r"^ok \d+ global\.(\S+) # SKIP", res.stdout, re.M))
    expected = {"abi", "not_a_dmabuf", "bad_requests", "udmabuf", "udmabuf_interleaved",
                "system_heap"}
    assert set(results) == expected, res.stdout
    assert all(s == "ok" for s in results.values()), res.stdout
    assert not skipped, f"the lab has udmabuf, the system heap and two nodes: {skipped}"


# ------------------------------------------------------------------ rxe dma-buf MRs
# <rdma/ib_user_ioctl_cmds.h>, <rdma/rdma_user_ioctl_cmds.h>, <rdma/ib_user_ioctl_verbs.h>
RDMA_VERBS_IOCTL = 0xC0181B01  # _IOWR(0x1b, 1, struct ib_uverbs_ioctl_hdr)
UVERBS_OBJECT_MR = 7
UVERBS_METHOD_MR_DESTROY, UVERBS_METHOD_REG_DMABUF_MR = 1, 4
(ATTR_HANDLE, ATTR_PD_HANDLE, ATTR_OFFSET, ATTR_LENGTH, ATTR_IOVA, ATTR_FD, ATTR_ACCESS,
 ATTR_RESP_LKEY, ATTR_RESP_RKEY) = range(9)
UVERBS_ATTR_F_MANDATORY = 1
RDMA_DRIVER_RXE = 14
IBV_ACCESS_LOCAL_WRITE, IBV_ACCESS_REMOTE_WRITE, IBV_ACCESS_REMOTE_READ = 1, 2, 4
RW = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ
# offsetof(struct ibv_context, cmd_fd) and offsetof(struct ibv_pd, handle), rdma-core 44..65
CTX_CMD_FD_OFFSET, PD_HANDLE_OFFSET = 264, 8


def _uattr(attr_id, data, length=0, flags=UVERBS_ATTR_F_MANDATORY):
    return struct.pack("=HHHHQ", attr_id, length, flags, 0, data)


def _uverbs_mr_ioctl(cmd_fd, method, attrs):
    hdr = struct.pack("=HHHHQII", 24 + 16 * len(attrs), UVERBS_OBJECT_MR, method, len(attrs),
                      0, RDMA_DRIVER_RXE, 0)
    buf = bytearray(hdr + b"".join(attrs))
    fcntl.ioctl(cmd_fd, RDMA_VERBS_IOCTL, buf, True)
    return buf


def uverbs_reg_dmabuf_mr(cmd_fd, pd_handle, fd, offset, length, iova, access):
    """UVERBS_METHOD_REG_DMABUF_MR; returns (handle, lkey, rkey), raises OSError."""
    lkey, rkey = ctypes.c_uint32(), ctypes.c_uint32()
    buf = _uverbs_mr_ioctl(cmd_fd, UVERBS_METHOD_REG_DMABUF_MR, [
        _uattr(ATTR_HANDLE, 0),
        _uattr(ATTR_PD_HANDLE, pd_handle),
        _uattr(ATTR_OFFSET, offset, 8),
        _uattr(ATTR_LENGTH, length, 8),
        _uattr(ATTR_IOVA, iova, 8),
        _uattr(ATTR_FD, fd, 4),
        _uattr(ATTR_ACCESS, access, 4),
        _uattr(ATTR_RESP_LKEY, ctypes.addressof(lkey), 4),
        _uattr(ATTR_RESP_RKEY, ctypes.addressof(rkey), 4),
    ])
    handle = struct.unpack_from("=Q", buf, 24 + 8)[0]
    return handle, lkey.value, rkey.value


def uverbs_destroy_mr(cmd_fd, handle):
    _uverbs_mr_ioctl(cmd_fd, UVERBS_METHOD_MR_DESTROY, [_uattr(0, handle)])


class Verbs:
    """An open rxe device and a PD, through libibverbs, to send raw uverbs ioctls on."""

    def __init__(self, name):
        lib = self.lib = ctypes.CDLL("libibverbs.so.1", use_errno=True)
        lib.ibv_get_device_list.restype = ctypes.POINTER(ctypes.c_void_p)
        lib.ibv_get_device_name.restype = ctypes.c_char_p
        lib.ibv_get_device_name.argtypes = [ctypes.c_void_p]
        lib.ibv_open_device.restype = ctypes.c_void_p
        lib.ibv_open_device.argtypes = [ctypes.c_void_p]
        lib.ibv_alloc_pd.restype = ctypes.c_void_p
        lib.ibv_alloc_pd.argtypes = [ctypes.c_void_p]
        lib.ibv_dealloc_pd.argtypes = [ctypes.c_void_p]
        lib.ibv_close_device.argtypes = [ctypes.c_void_p]
        lib.ibv_free_device_list.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        n = ctypes.c_int()
        devs = lib.ibv_get_device_list(ctypes.byref(n))
        try:
            dev = next((devs[i] for i in range(n.value)
                        if lib.ibv_get_device_name(devs[i]).decode() == name), None)
            assert dev, f"no RDMA device {name}"
            self.ctx = lib.ibv_open_device(dev)
        finally:
            lib.ibv_free_device_list(devs)
        assert self.ctx, f"ibv_open_device({name}) failed"
        self.cmd_fd = ctypes.c_int.from_address(self.ctx + CTX_CMD_FD_OFFSET).value
        target = os.readlink(f"/proc/self/fd/{self.cmd_fd}")
        assert target.startswith("/dev/infiniband/uverbs"), \
            f"struct ibv_context layout changed? cmd_fd {self.cmd_fd} is {target}"
        self.pd = lib.ibv_alloc_pd(self.ctx)
        assert self.pd, "ibv_alloc_pd failed"
        self.pd_handle = ctypes.c_uint32.from_address(self.pd + PD_HANDLE_OFFSET).value

    def close(self):
        self.lib.ibv_dealloc_pd(self.pd)
        self.lib.ibv_close_device(self.ctx)

    def reg_dmabuf_mr(self, fd, offset, length, iova, access):
        return uverbs_reg_dmabuf_mr(self.cmd_fd, self.pd_handle, fd, offset, length, iova,
                                    access)

    def destroy_mr(self, handle):
        uverbs_destroy_mr(self.cmd_fd, handle)


@contextlib.contextmanager
def verbs(name):
    v = Verbs(name)
    try:
        yield v
    finally:
        v.close()


def _reg_errno(v, *args):
    with pytest.raises(OSError) as e:
        handle = v.reg_dmabuf_mr(*args)[0]
        v.destroy_mr(handle)
    return e.value.errno


@pytest.mark.stock_only
def test_stock_rxe_refuses_dmabuf_mr(rxe):
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd), verbs(rxe) as v:
        assert _reg_errno(v, fd, 0, 1 * MiB, 0, RW) == errno.EOPNOTSUPP


@pytest.mark.patched_only
def test_rxe_reg_dmabuf_mr_raw_ioctl(nic):
    """A udmabuf on the rxe's own node registers, with page-aligned and unaligned ranges."""
    fd = udmabuf(2 * MiB, MPOL_BIND, [nic.numa_node])
    with labguest.closing_fds(fd), verbs(nic.rxe) as v:
        try:
            handle, lkey, rkey = v.reg_dmabuf_mr(fd, 0, 2 * MiB, 0x7f0000000000, RW)
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP and os.environ.get("LAB_KERNEL") == "custom":
                pytest.skip("this custom kernel's rxe has no dma-buf MRs (not the series)")
            raise
        assert lkey and rkey, (lkey, rkey)
        bufinfo = _debugfs_bufinfo()
        v.destroy_mr(handle)
        if bufinfo is not None:
            # rxe attaches with its own ib_device as the importer's identity (no DMA device)
            assert re.search(rf"^\s+{nic.rxe}$", bufinfo, re.M), bufinfo
        # offset and iova with the same (non-zero) page offset, not a whole number of pages
        handle, _, _ = v.reg_dmabuf_mr(fd, PAGE + 100, 3 * PAGE, 0x10000 + 100, RW)
        v.destroy_mr(handle)
        # the last byte of the buffer, read-only access
        handle, _, _ = v.reg_dmabuf_mr(fd, 2 * MiB - 1, 1, 0x20000 + PAGE - 1,
                                       IBV_ACCESS_REMOTE_READ)
        v.destroy_mr(handle)


def _debugfs_bufinfo():
    path = "/sys/kernel/debug/dma_buf/bufinfo"
    if not os.path.exists(path):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                       capture_output=True, check=False)
    try:
        return labguest.read(path)
    except OSError:
        return None


@pytest.mark.patched_only
def test_rxe_reg_dmabuf_mr_refusals(lab):
    rxe = lab.nics[0].rxe
    fd = udmabuf(1 * MiB)
    memfd = os.memfd_create("not-a-dmabuf", os.MFD_CLOEXEC)
    ro = heap_buffer(1 * MiB, fd_flags=os.O_RDONLY)
    with labguest.closing_fds(fd, memfd, ro), verbs(rxe) as v:
        # the iova must have the offset's page offset (uverbs)
        assert _reg_errno(v, fd, 100, PAGE, 0x10000, RW) == errno.EINVAL
        # past the end of the buffer, empty, overflowing
        assert _reg_errno(v, fd, 1 * MiB - PAGE, 2 * PAGE, 0x10000, RW) == errno.EINVAL
        assert _reg_errno(v, fd, 0, 0, 0x10000, RW) == errno.EINVAL
        assert _reg_errno(v, fd, 2**64 - PAGE, 2 * PAGE, 2**64 - PAGE, RW) == errno.EINVAL
        # remote write without local write (ib_check_mr_access)
        assert _reg_errno(v, fd, 0, PAGE, 0, IBV_ACCESS_REMOTE_WRITE) == errno.EINVAL
        # not a dma-buf
        assert _reg_errno(v, memfd, 0, PAGE, 0, RW) == errno.EINVAL
        # write access to a dma-buf that was opened read-only; reading it is fine
        assert _reg_errno(v, ro, 0, PAGE, 0, RW) == errno.EACCES
        handle, _, _ = v.reg_dmabuf_mr(ro, 0, PAGE, 0, IBV_ACCESS_REMOTE_READ)
        v.destroy_mr(handle)


@pytest.mark.patched_only
def test_rxe_dmabuf_mr_outlives_its_fd(lab):
    """The MR holds its own reference: closing the fd first, then deregistering, is fine."""
    fd = heap_buffer(1 * MiB)
    with verbs(lab.nics[1].rxe) as v:
        handle, _, _ = v.reg_dmabuf_mr(fd, 0, 1 * MiB, 0, RW)
        os.close(fd)
        v.destroy_mr(handle)


# ------------------------------------------------------------------ invalidation
MOVE_NOTIFY_KNOB = "/sys/kernel/debug/dma_buf/move_notify"


class LoopbackRC:
    """Two pyverbs RC QPs connected to each other on one rxe device: the first one posts
    RDMA WRITE/READ, the second one is the responder (so that a remote error is reported
    to the requester as such, not flushed)."""

    def __init__(self, nic):
        from pyverbs.addr import AHAttr, GlobalRoute
        from pyverbs.cq import CQ
        from pyverbs.device import Context
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
        import pyverbs.enums as e
        self.e = e
        self.ctx = Context(name=nic.rxe)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 16)
        self.rcq = CQ(self.ctx, 16)
        init_attr = QPAttr(port_num=1)
        init_attr.qp_access_flags = RW
        self.qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq,
                                         cap=QPCap(max_send_wr=8, max_recv_wr=8)), init_attr)
        self.peer = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.rcq, rcq=self.rcq,
                                           cap=QPCap(max_send_wr=8, max_recv_wr=8)), init_attr)
        gidx = nic.rxe_ipv4_gid_index
        for qp, dest in ((self.qp, self.peer), (self.peer, self.qp)):
            attr = QPAttr(port_num=1)
            attr.qp_access_flags = RW
            attr.path_mtu = e.IBV_MTU_1024
            attr.max_dest_rd_atomic = attr.max_rd_atomic = 1
            attr.min_rnr_timer, attr.timeout, attr.retry_cnt, attr.rnr_retry = 12, 14, 7, 7
            attr.ah_attr = AHAttr(port_num=1, is_global=1, dlid=0,
                                  gr=GlobalRoute(dgid=self.ctx.query_gid(1, gidx),
                                                 sgid_index=gidx))
            attr.dest_qp_num, attr.rq_psn, attr.sq_psn = dest.qp_num, 0, 0
            qp.to_rts(attr)
        self.local = MR(self.pd, 4 * PAGE, e.IBV_ACCESS_LOCAL_WRITE)

    def rdma(self, opcode, length, rkey, raddr):
        """Post one RDMA WRITE/READ of the local MR's first *length* bytes; the WC status."""
        import time
        from pyverbs.wr import SGE, SendWR
        wr = SendWR(opcode=opcode, num_sge=1, sg=[SGE(self.local.buf, length, self.local.lkey)])
        wr.set_wr_rdma(rkey, raddr)
        self.qp.post_send(wr)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n, wcs = self.cq.poll(1)
            if n:
                return wcs[0].status
            time.sleep(0.01)
        raise AssertionError("no completion within 60 s")

    def close(self):
        self.ctx.close()


@pytest.mark.patched_only
def test_rxe_dmabuf_mr_revoked_by_move_notify(nic):
    """After move_notify no access reaches the old pages; the MR still deregisters.

    udmabuf and the system heap never move their buffers, so the exporter's move is
    simulated through the series' CONFIG_DMABUF_DEBUG debugfs file dma_buf/move_notify.
    """
    _debugfs_bufinfo()  # mounts debugfs
    if not os.path.exists(MOVE_NOTIFY_KNOB):
        pytest.skip(f"{MOVE_NOTIFY_KNOB} missing: kernel without CONFIG_DMABUF_DEBUG")
    size, iova = 16 * PAGE, 0x7f0000000000
    fd, memfd = udmabuf_and_memfd(size, MPOL_BIND, [nic.numa_node])
    rc = LoopbackRC(nic)
    e = rc.e
    handle = None
    try:
        with labguest.closing_fds(fd, memfd), mmap.mmap(memfd, size) as mem:
            handle, _, rkey = uverbs_reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, size,
                                                   iova, RW)
            # RDMA WRITE into page 1 and READ from page 3 work and reach the udmabuf's pages
            rc.local.write(b"A" * PAGE, PAGE)
            assert rc.rdma(e.IBV_WR_RDMA_WRITE, PAGE, rkey, iova + PAGE) == e.IBV_WC_SUCCESS
            assert mem[PAGE:2 * PAGE] == b"A" * PAGE
            mem[3 * PAGE:4 * PAGE] = b"C" * PAGE
            assert rc.rdma(e.IBV_WR_RDMA_READ, PAGE, rkey, iova + 3 * PAGE) == \
                e.IBV_WC_SUCCESS
            assert rc.local.read(PAGE, 0) == b"C" * PAGE

            with open(MOVE_NOTIFY_KNOB, "w") as knob:
                knob.write(str(os.fstat(fd).st_ino))

            # the MR is revoked: the write fails and the pages keep what they had
            rc.local.write(b"B" * PAGE, PAGE)
            status = rc.rdma(e.IBV_WR_RDMA_WRITE, PAGE, rkey, iova + PAGE)
            assert status == e.IBV_WC_REM_ACCESS_ERR, f"WC status {status}"
            assert mem[PAGE:2 * PAGE] == b"A" * PAGE
            # the revoked MR deregisters, and the buffer registers again
            uverbs_destroy_mr(rc.ctx.cmd_fd, handle)
            handle = None
            handle, _, _ = uverbs_reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, size,
                                                iova, RW)
    finally:
        if handle is not None:
            uverbs_destroy_mr(rc.ctx.cmd_fd, handle)
        rc.close()
