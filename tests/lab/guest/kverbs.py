# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Raw kernel interfaces of the series for the in-guest tests: no libibverbs-ext, so that a
kernel regression is told apart from a library one.

- DMA_BUF_IOCTL_DESCRIBE (``describe``) and buffers placed on NUMA nodes (``udmabuf``,
  ``heap_buffer``);
- uverbs MR methods sent by hand on an rxe device (``Verbs``): REG_DMABUF_MR, REG_MR with an
  FD and optionally the DMA endpoint, MR_DESTROY;
- ``LoopbackRC``: two connected RC QPs on one rxe device, to move data through an MR;
- ``endpoints``: /sys/class/infiniband/<dev>/dma_endpoints.

The layouts are those of kernel-patches/ (v2, Linux 7.2); kernel-patches/SERIES.md lists them.
"""

import contextlib
import ctypes
import fcntl
import mmap
import os
import struct
import time

import labguest

MiB = labguest.MiB
PAGE = mmap.PAGESIZE

# ------------------------------------------------------------------ DMA_BUF_IOCTL_DESCRIBE
DESCRIBE_FMT = "=IIQIIIIQ"          # struct dma_buf_describe, 40 bytes
RANGE_FMT = "=QQIIiIBBHI"           # struct dma_buf_range, 40 bytes
DMA_BUF_IOCTL_DESCRIBE = (ord("b") << 8) | 4  # _IO('b', 4)
DMA_BUF_MEM_UNKNOWN, DMA_BUF_MEM_SYSTEM, DMA_BUF_MEM_P2P, DMA_BUF_MEM_PRIVATE = 0, 1, 2, 3
DMA_BUF_RANGE_CACHED, DMA_BUF_RANGE_WC, DMA_BUF_RANGE_UC = 1, 2, 4
assert struct.calcsize(DESCRIBE_FMT) == 40 and struct.calcsize(RANGE_FMT) == 40


def describe(fd, room=64, argsz=40, flags=0, reserved=0, range_size=40, tail=b""):
    """DMA_BUF_IOCTL_DESCRIBE on *fd* with room for *room* ranges. Returns a dict: size,
    mem_types, nr_ranges (what the buffer has) and ranges (what fitted), each range a dict.
    The other arguments build malformed requests. Raises OSError."""
    rbuf = ctypes.create_string_buffer(max(room, 1) * max(range_size, 1))
    arg = bytearray(struct.pack(DESCRIBE_FMT, argsz, flags, 0, 0, room, range_size, reserved,
                                ctypes.addressof(rbuf) if room else 0) + tail)
    fcntl.ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, arg, True)
    _, _, size, mem_types, n, _, _, _ = struct.unpack_from(DESCRIBE_FMT, arg)
    ranges = []
    for i in range(min(n, room)):
        (off, length, mem, rflags, node, domain, bus, devfn, r0,
         r1) = struct.unpack_from(RANGE_FMT, rbuf.raw, i * range_size)
        ranges.append(dict(offset=off, length=length, mem=mem, flags=rflags, numa_node=node,
                           provider=f"{domain:04x}:{bus:02x}:{devfn >> 3:02x}.{devfn & 7}",
                           reserved=(r0, r1), extra=rbuf.raw[i * range_size + 40:
                                                             (i + 1) * range_size]))
    return dict(size=size, mem_types=mem_types, nr_ranges=n, ranges=ranges)


# ------------------------------------------------------------------ buffers on NUMA nodes
# <linux/mempolicy.h>, x86_64 syscall numbers
MPOL_DEFAULT, MPOL_BIND, MPOL_INTERLEAVE = 0, 2, 3
SYS_MBIND, SYS_SET_MEMPOLICY = 237, 238
_libc = ctypes.CDLL(None, use_errno=True)


def _nodemask(nodes):
    return ctypes.c_ulong(sum(1 << n for n in nodes))


def udmabuf_and_memfd(size, mode=MPOL_DEFAULT, nodes=()):
    """A udmabuf of *size* bytes whose memfd pages are allocated under an mbind() policy;
    returns (udmabuf fd, memfd) (the memfd is the buffer's CPU view)."""
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


def udmabuf(size, mode=MPOL_DEFAULT, nodes=()):
    fd, memfd = udmabuf_and_memfd(size, mode, nodes)
    os.close(memfd)
    return fd


@contextlib.contextmanager
def mempolicy(mode, nodes):
    """This thread's memory policy set to *mode* over *nodes* for the block (MPOL_DEFAULT: left
    as it is), back to the default afterwards."""
    if mode != MPOL_DEFAULT:
        mask = _nodemask(nodes)
        if _libc.syscall(SYS_SET_MEMPOLICY, mode, ctypes.byref(mask), ctypes.c_ulong(65)):
            err = ctypes.get_errno()
            raise OSError(err, f"set_mempolicy: {os.strerror(err)}")
    try:
        yield
    finally:
        if mode != MPOL_DEFAULT:
            _libc.syscall(SYS_SET_MEMPOLICY, MPOL_DEFAULT, None, ctypes.c_ulong(0))


def heap_buffer(size, mode=MPOL_DEFAULT, nodes=(), fd_flags=os.O_RDWR):
    """A system dma-heap buffer allocated while this thread runs under a memory policy."""
    with mempolicy(mode, nodes):
        buf = bytearray(struct.pack("QIIQ", size, 0, fd_flags | os.O_CLOEXEC, 0))
        heap = os.open("/dev/dma_heap/system", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(heap, labguest.DMA_HEAP_IOCTL_ALLOC, buf, True)
        finally:
            os.close(heap)
        return struct.unpack("QIIQ", bytes(buf))[1]


def online_nodes():
    nodes = []
    for part in labguest.read("/sys/devices/system/node/online").split(","):
        a, _, b = part.partition("-")
        nodes.extend(range(int(a), int(b or a) + 1))
    return nodes


# ------------------------------------------------------------------ uverbs MR methods
# <rdma/rdma_user_ioctl_cmds.h>, <rdma/ib_user_ioctl_cmds.h> (7.2 + the series)
RDMA_VERBS_IOCTL = 0xC0181B01  # _IOWR(0x1b, 1, struct ib_uverbs_ioctl_hdr)
UVERBS_OBJECT_MR = 7
UVERBS_METHOD_MR_DESTROY, UVERBS_METHOD_REG_DMABUF_MR, UVERBS_METHOD_REG_MR = 1, 4, 5
UVERBS_ATTR_F_MANDATORY, UVERBS_ATTR_F_VALID_OUTPUT = 1, 2
# enum uverbs_attrs_reg_mr_cmd_attr_ids; the series appends the last two
(REG_MR_HANDLE, REG_MR_PD_HANDLE, REG_MR_DMA_HANDLE, REG_MR_IOVA, REG_MR_ADDR, REG_MR_LENGTH,
 REG_MR_ACCESS_FLAGS, REG_MR_FD, REG_MR_FD_OFFSET, REG_MR_RESP_LKEY, REG_MR_RESP_RKEY,
 REG_MR_DMA_ENDPOINT, REG_MR_RESP_DMA_ENDPOINT) = range(13)
RDMA_DRIVER_RXE = 14
IBV_ACCESS_LOCAL_WRITE, IBV_ACCESS_REMOTE_WRITE, IBV_ACCESS_REMOTE_READ = 1, 2, 4
IBV_ACCESS_REMOTE_ATOMIC = 8
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


def uverbs_reg_dmabuf_mr(cmd_fd, pd_handle, fd, offset, length, iova, access=RW):
    """UVERBS_METHOD_REG_DMABUF_MR; returns (handle, lkey, rkey), raises OSError."""
    lkey, rkey = ctypes.c_uint32(), ctypes.c_uint32()
    buf = _uverbs_mr_ioctl(cmd_fd, UVERBS_METHOD_REG_DMABUF_MR, [
        _uattr(0, 0), _uattr(1, pd_handle), _uattr(2, offset, 8), _uattr(3, length, 8),
        _uattr(4, iova, 8), _uattr(5, fd, 4), _uattr(6, access, 4),
        _uattr(7, ctypes.addressof(lkey), 4), _uattr(8, ctypes.addressof(rkey), 4)])
    return struct.unpack_from("=Q", buf, 24 + 8)[0], lkey.value, rkey.value


def uverbs_reg_mr_fd(cmd_fd, pd_handle, fd, offset, length, iova, access=RW, endpoint=None,
                     want_endpoint=True, addr=None):
    """UVERBS_METHOD_REG_MR with an FD (a dma-buf), naming a DMA endpoint or not (sent as
    mandatory, as userspace does). Returns (handle, lkey, rkey, endpoint the kernel reported
    or None); raises OSError. *addr* adds ADDR instead (a malformed request)."""
    lkey, rkey, used = ctypes.c_uint32(), ctypes.c_uint32(), ctypes.c_uint32(0xffffffff)
    attrs = [_uattr(REG_MR_HANDLE, 0), _uattr(REG_MR_PD_HANDLE, pd_handle),
             _uattr(REG_MR_IOVA, iova, 8), _uattr(REG_MR_LENGTH, length, 8),
             _uattr(REG_MR_ACCESS_FLAGS, access, 4),
             _uattr(REG_MR_RESP_LKEY, ctypes.addressof(lkey), 4),
             _uattr(REG_MR_RESP_RKEY, ctypes.addressof(rkey), 4)]
    if addr is None:
        attrs += [_uattr(REG_MR_FD, fd), _uattr(REG_MR_FD_OFFSET, offset, 8)]
    else:
        attrs += [_uattr(REG_MR_ADDR, addr, 8)]
    if want_endpoint:
        attrs.append(_uattr(REG_MR_RESP_DMA_ENDPOINT, ctypes.addressof(used), 4, flags=0))
    if endpoint is not None:
        attrs.append(_uattr(REG_MR_DMA_ENDPOINT, endpoint, 4))
    buf = _uverbs_mr_ioctl(cmd_fd, UVERBS_METHOD_REG_MR, attrs)
    handle = struct.unpack_from("=Q", buf, 24 + 8)[0]
    reported = None
    if want_endpoint:
        flags = struct.unpack_from("=H", buf, 24 + 16 * 9 + 4)[0]
        reported = used.value if flags & UVERBS_ATTR_F_VALID_OUTPUT else None
    return handle, lkey.value, rkey.value, reported


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

    def reg_dmabuf_mr(self, fd, offset, length, iova, access=RW):
        return uverbs_reg_dmabuf_mr(self.cmd_fd, self.pd_handle, fd, offset, length, iova,
                                    access)

    def reg_mr_fd(self, fd, offset, length, iova, access=RW, **kw):
        return uverbs_reg_mr_fd(self.cmd_fd, self.pd_handle, fd, offset, length, iova, access,
                                **kw)

    def destroy_mr(self, handle):
        uverbs_destroy_mr(self.cmd_fd, handle)

    def reg_errno(self, method, *args, **kw):
        """The errno a registration fails with (AssertionError when it succeeds)."""
        try:
            handle = method(*args, **kw)[0]
        except OSError as e:
            return e.errno
        self.destroy_mr(handle)
        raise AssertionError(f"registration {args} {kw} succeeded")


@contextlib.contextmanager
def verbs(name):
    v = Verbs(name)
    try:
        yield v
    finally:
        v.close()


# ------------------------------------------------------------------ data through an MR
class LoopbackRC:
    """Two pyverbs RC QPs connected to each other on one rxe device: the first one posts
    RDMA WRITE/READ, the second one is the responder (so that a remote error is reported
    to the requester as such, not flushed). *dev* has .rxe and .rxe_ipv4_gid_index."""

    def __init__(self, dev):
        from pyverbs.addr import AHAttr, GlobalRoute
        from pyverbs.cq import CQ
        from pyverbs.device import Context
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
        import pyverbs.enums as e
        self.e = e
        self.ctx = Context(name=dev.rxe)
        self.pd = PD(self.ctx)
        self.cq = CQ(self.ctx, 16)
        self.rcq = CQ(self.ctx, 16)
        init_attr = QPAttr(port_num=1)
        init_attr.qp_access_flags = RW
        self.qp = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq,
                                         cap=QPCap(max_send_wr=8, max_recv_wr=8)), init_attr)
        self.peer = QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.rcq, rcq=self.rcq,
                                           cap=QPCap(max_send_wr=8, max_recv_wr=8)), init_attr)
        gidx = dev.rxe_ipv4_gid_index
        for qp, dest in ((self.qp, self.peer), (self.peer, self.qp)):
            attr = QPAttr(port_num=1)
            attr.qp_access_flags = RW
            attr.path_mtu = e.IBV_MTU_1024
            attr.max_dest_rd_atomic = attr.max_rd_atomic = 1
            # timeout 18: 4.096 us * 2^18 = 1.07 s per try. A KASAN guest under TCG can stall
            # rxe's responder for longer than 14's 67 ms, and a NAK that comes late must still
            # reach the requester as the remote access error it is, not as retries exceeded.
            attr.min_rnr_timer, attr.timeout, attr.retry_cnt, attr.rnr_retry = 12, 18, 7, 7
            attr.ah_attr = AHAttr(port_num=1, is_global=1, dlid=0,
                                  gr=GlobalRoute(dgid=self.ctx.query_gid(1, gidx),
                                                 sgid_index=gidx))
            attr.dest_qp_num, attr.rq_psn, attr.sq_psn = dest.qp_num, 0, 0
            qp.to_rts(attr)
        self.local = MR(self.pd, 4 * PAGE, e.IBV_ACCESS_LOCAL_WRITE)
        self.raw_mrs = set()

    def reg(self, fd, offset, length, iova, access=RW, **kw):
        """REG_MR with an FD on this PD (see uverbs_reg_mr_fd)."""
        r = uverbs_reg_mr_fd(self.ctx.cmd_fd, self.pd.handle, fd, offset, length, iova,
                             access, **kw)
        self.raw_mrs.add(r[0])
        return r

    def destroy(self, handle):
        uverbs_destroy_mr(self.ctx.cmd_fd, handle)
        self.raw_mrs.discard(handle)

    def rdma(self, opcode, length, rkey, raddr):
        """Post one RDMA WRITE/READ of the local MR's first *length* bytes; the WC status."""
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
        """Also after a failed test: the MRs it left are destroyed first, or pyverbs could
        not free the PD, the device file would stay open, and removing the rxe device
        afterwards (rdma link del) would wait for it for ever (rxe cannot disassociate)."""
        for handle in list(self.raw_mrs):
            self.destroy(handle)
        self.ctx.close()


@contextlib.contextmanager
def loopback(dev):
    rc = LoopbackRC(dev)
    try:
        yield rc
    finally:
        rc.close()


def check_transfer(rc, rkey, iova, mem, size, tag):
    """RDMA WRITE of a pattern into [iova, iova + size), then RDMA READ of other bytes put there
    through *mem* (the buffer's CPU view, sliceable like an mmap); both checked byte for byte."""
    e = rc.e
    n = min(size, 4 * PAGE)
    pattern = bytes((i * 7 + tag) & 0xff for i in range(n))
    rc.local.write(pattern, n)
    assert rc.rdma(e.IBV_WR_RDMA_WRITE, n, rkey, iova) == e.IBV_WC_SUCCESS
    assert bytes(mem[0:n]) == pattern, "RDMA WRITE did not reach the buffer"
    back = bytes((i * 13 + tag + 1) & 0xff for i in range(n))
    mem[0:n] = back
    rc.local.write(b"\0" * n, n)
    assert rc.rdma(e.IBV_WR_RDMA_READ, n, rkey, iova) == e.IBV_WC_SUCCESS
    assert rc.local.read(n, 0) == back, "RDMA READ did not return the buffer's bytes"


# ------------------------------------------------------------------ DMA endpoints in sysfs
def endpoints(dev):
    """[(kind, numa_node, mappable, PCI address or None)] from dma_endpoints/ of *dev*."""
    base = f"/sys/class/infiniband/{dev}/dma_endpoints"
    out = []
    for i in range(len(os.listdir(base))):
        e = f"{base}/{i}"
        link = f"{e}/device"
        pci = os.path.basename(os.path.realpath(link)) if os.path.islink(link) else None
        out.append((labguest.read(f"{e}/kind"), int(labguest.read(f"{e}/numa_node")),
                    int(labguest.read(f"{e}/mappable")), pci))
    return out
