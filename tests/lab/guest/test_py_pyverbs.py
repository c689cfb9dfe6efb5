# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibverbs_ext next to pyverbs in one program (runs INSIDE the lab).

A pyverbs PD is registered against through its struct ibv_pd *, which ibverbs_ext takes from
pyverbs' `PD.pd` where that returns the pointer (rdma-core 59+) and finds in the pyverbs object
otherwise (never through pyverbs 44's `PD.pd` property, which crashes: checked here),
and the MR's lkey/rkey/iova go into pyverbs SGEs and RDMA work requests. Traffic: a loopback
RC QP pair on one rxe device (RoCE v2 IPv4 GID), RDMA WRITE then RDMA READ, every byte checked
— through the dma-buf's own mapping on the dma-buf side, through pyverbs' MR buffer on the
host side.

Both kernels: the pointer checks, the traffic harness with ordinary (host memory) MRs.
Stock 6.12: a dma-buf registration against a pyverbs PD fails with EOPNOTSUPP and the reason.
Patched: dma-buf MRs (udmabuf on either node, interleaved, system heap) carry the traffic;
a pyverbs PD (or Context) closes ibverbs_ext's MRs on it first, as its own; DmaBufMRex in
pyverbs' DmaBufMR shape. Both kernels: the PD's set that holds its MRs is the one ibverbs_ext
joins; failures are PyverbsRDMAErrors with error_code.
"""

import errno
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
    from ibverbs_ext import _capi
except ImportError as e:
    if os.environ.get("LAB") != "1":  # conftest skips every test here outside the lab
        pytest.skip(f"not in the VM lab, and ibverbs_ext cannot be loaded: {e}",
                    allow_module_level=True)
    pytest.fail(f"ibverbs_ext cannot be loaded (the lab conftest has checked the build tree "
                f"{os.environ.get('DMP_BUILD') or os.path.join(REPO, 'build')}): {e}",
                pytrace=False)

MiB = 1 << 20
IOVA_BASE = 0x7f00_0000_0000


@pytest.fixture(scope="module")
def pv():
    """pyverbs (importing it takes ~10 s under TCG)."""
    try:
        import pyverbs.enums as e
        from pyverbs.addr import AHAttr, GlobalRoute
        from pyverbs.cq import CQ
        from pyverbs.device import Context
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        from pyverbs.pyverbs_error import PyverbsRDMAError
        from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
        from pyverbs.wr import SGE, SendWR
    except ImportError as ex:
        pytest.skip(f"pyverbs is not installed (python3-pyverbs): {ex}")
    return type("pv", (), dict(e=e, AHAttr=AHAttr, GlobalRoute=GlobalRoute, CQ=CQ,
                               Context=Context, MR=MR, PD=PD, QP=QP, QPAttr=QPAttr,
                               QPCap=QPCap, QPInitAttr=QPInitAttr, SGE=SGE, SendWR=SendWR,
                               PyverbsRDMAError=PyverbsRDMAError))


@pytest.fixture
def ctx_pd(pv, nic):
    ctx = pv.Context(name=nic.rxe)
    pd = pv.PD(ctx)
    yield ctx, pd
    pd.close()
    ctx.close()


def pattern(n, seed):
    one = bytes((i * 13 + seed) & 0xFF for i in range(251))
    return (one * (n // 251 + 1))[:n]


# ----------------------------------------------------------------------------- pointers
def test_pyverbs_pd_address_is_found_and_validated(ctx_pd):
    """ibverbs_ext finds the struct ibv_pd * of a pyverbs PD in the object's memory: the
    struct there has pyverbs' kernel handle and points to an ibv_context whose cmd_fd is
    the pyverbs Context's."""
    ctx, pd = ctx_pd
    addr = ix.pd_address(pd)
    c = _capi.ibv_pd.from_address(addr)
    assert c.handle == pd.handle
    assert _capi.ibv_context.from_address(c.context).cmd_fd == ctx.cmd_fd
    assert isinstance(ctx.name, str)


def pyverbs_rdma_core_version():
    """(major, where it was read) of the rdma-core the imported pyverbs comes from: its
    __version__ (rdma-core builds have one), else the Debian package that owns it (44 has
    none). None where neither tells."""
    import importlib
    import pyverbs
    try:  # rdma-core's build writes pyverbs/__version__.py
        ver = importlib.import_module("pyverbs.__version__").__version__
    except (ImportError, AttributeError):
        ver = None
    if ver:
        return int(str(ver).split(".")[0]), f"pyverbs.__version__ {ver}"
    d = os.path.dirname(pyverbs.__file__)
    r = subprocess.run(["dpkg-query", "-S", d], capture_output=True, text=True, timeout=60)
    if r.returncode == 0 and ":" in r.stdout:
        pkg = r.stdout.split(":", 1)[0].strip()
        v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           capture_output=True, text=True, timeout=60)
        if v.returncode == 0 and v.stdout.strip():
            return int(v.stdout.strip().split(".")[0]), f"{pkg} {v.stdout.strip()} ({d})"
    return None


def test_pyverbs_pd_property_of_this_rdma_core(ctx_pd, nic):
    """Why the module never reads pyverbs' `PD.pd` before rdma-core 59: rdma-core 44's pyverbs
    casts the ibv_pd * to a Python object there, and reading it kills the interpreter
    (SIGSEGV); 59 and later return the pointer as an int, which must agree with
    ibverbs_ext.pd_address(). The outcome is decided from the pyverbs' rdma-core version
    before the run, and ibverbs_ext's own route (_pyverbs.pd_route) must agree with it: a
    crash where the int is expected fails, and so does a survivor where the crash is."""
    from ibverbs_ext import _pyverbs
    found = pyverbs_rdma_core_version()
    assert found, "cannot tell which rdma-core this pyverbs comes from (no __version__, no dpkg)"
    major, where = found
    crashes = major < 59
    route = _pyverbs.pd_route(ctx_pd[1])
    assert route == (_pyverbs.ROUTE_LAYOUT if crashes else _pyverbs.ROUTE_PROPERTY), \
        f"ibverbs_ext takes the {route} route on rdma-core {major} ({where})"
    code = ("import sys; sys.path.insert(0, sys.argv[2]); import ibverbs_ext as ix\n"
            "import pyverbs.device as d, pyverbs.pd as p\n"
            "ctx = d.Context(name=sys.argv[1]); pd = p.PD(ctx)\n"
            "addr = ix.pd_address(pd)\n"
            "print('address found', flush=True)\n"
            "print('property', pd.pd == addr, flush=True)\n")
    if crashes:
        try:  # say so in the guest's kernel log, where the segfault line will appear
            with open("/dev/kmsg", "w") as kmsg:
                kmsg.write(f"test_py_pyverbs: a python3 segfault next is expected "
                           f"(reading pyverbs {major}'s PD.pd)\n")
        except OSError:
            pass
    r = subprocess.run([sys.executable, "-c", code, nic.rxe, os.path.join(REPO, "python")],
                       capture_output=True, text=True, timeout=180,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
    if crashes:
        # pd_address() ran (and printed) before the property read, which alone crashes
        assert r.returncode == -signal.SIGSEGV and r.stdout == "address found\n", \
            (f"rdma-core {major} ({where}): PD.pd was expected to crash", r.returncode,
             r.stdout, r.stderr)
        print(f"pyverbs PD.pd crashes the interpreter as expected on rdma-core {major}")
    else:
        assert r.returncode == 0 and r.stdout == "address found\nproperty True\n", \
            (f"rdma-core {major} ({where})", r.returncode, r.stdout, r.stderr)


def test_choice_takes_a_pyverbs_context(ctx_pd, nic):
    ctx, _ = ctx_pd
    c = ix.select_dma_endpoint(ctx, f"system:node={nic.numa_node}")
    assert c.ibdev == nic.rxe and c.endpoint.pci == nic.pci, c.reason


def test_closed_pyverbs_pd_is_refused(pv, nic):
    ctx = pv.Context(name=nic.rxe)
    pd = pv.PD(ctx)
    pd.close()
    with ix.alloc_dmabuf(MiB) as buf, pytest.raises(ValueError, match="the PD is closed"):
        ix.reg_dmabuf_mr_ex(pd, buf)
    ctx.close()


@pytest.mark.stock_only
def test_reg_with_pyverbs_pd_refused_on_stock(ctx_pd, nic):
    _, pd = ctx_pd
    with ix.alloc_dmabuf(2 * MiB, numa_node=nic.numa_node) as buf:
        e = pytest.raises(ix.IbvExtError, ix.reg_dmabuf_mr_ex, pd, buf,
                          access=ix.ACCESS_LOCAL_WRITE).value
    assert e.errno == errno.EOPNOTSUPP, e
    assert "no dma-buf MR support" in e.reason, e


def test_pyverbs_pd_route_and_mr_set(ctx_pd, pv):
    """The route to the PD pointer is this pyverbs' (44: the checked read; 59+: PD.pd), and
    the WeakSet ibverbs_ext joins is the one that holds pyverbs' own MRs of the PD."""
    from ibverbs_ext import _pyverbs
    ctx, pd = ctx_pd
    route = _pyverbs.pd_route(pd)
    assert route in (_pyverbs.ROUTE_LAYOUT, _pyverbs.ROUTE_PROPERTY)
    if route == _pyverbs.ROUTE_PROPERTY:
        assert pd.pd == ix.pd_address(pd)
    mr = pv.MR(pd, 4096, pv.e.IBV_ACCESS_LOCAL_WRITE)
    try:
        mrs = _pyverbs.children(pd)
        assert mrs is not None and mr in mrs, list(mrs or [])
    finally:
        mr.close()
    print(f"pyverbs PD route: {route}")


@pytest.mark.stock_only
def test_dmabufmrex_refused_on_stock_as_pyverbs_error(ctx_pd, pv, nic):
    """pyverbs-style code catches the refusal as it catches pyverbs' own; the buffer made for
    the MR (dmabuf=None) is gone again."""
    _, pd = ctx_pd
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(pv.PyverbsRDMAError) as ei:
        ix.DmaBufMRex(pd, 2 * MiB, ix.ACCESS_LOCAL_WRITE)
    assert ei.value.error_code == errno.EOPNOTSUPP, ei.value
    assert "no dma-buf MR support" in str(ei.value)
    assert set(os.listdir("/proc/self/fd")) == before


@pytest.mark.patched_only
def test_pyverbs_pd_close_closes_our_mrs_first(pv, nic):
    """Closing a pyverbs PD with ibverbs_ext MRs on it closes them first, as pyverbs closes
    its own MRs (it used to fail with EBUSY); closing an MR first takes it out of the set."""
    from ibverbs_ext import _pyverbs
    ctx = pv.Context(name=nic.rxe)
    pd = pv.PD(ctx)
    with ix.alloc_dmabuf(2 * MiB) as buf:
        mr = ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE)
        early = ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE)
        own = pv.MR(pd, 4096, pv.e.IBV_ACCESS_LOCAL_WRITE)
        assert mr.pd is pd and mr.closed_by_pd and mr in _pyverbs.children(pd)
        early.close()
        assert early not in _pyverbs.children(pd)
        pd.close()
        assert mr.closed, "the PD's close() did not close the ibverbs_ext MR"
        mr.close()  # again: nothing
    ctx.close()
    del own


@pytest.mark.patched_only
def test_pyverbs_context_close_closes_pd_and_our_mrs(pv, nic):
    ctx = pv.Context(name=nic.rxe)
    pd = pv.PD(ctx)
    with ix.alloc_dmabuf(MiB) as buf:
        mr = ix.DmaBufMRex(pd, MiB, ix.ACCESS_LOCAL_WRITE, buf)
        ctx.close()
        assert mr.closed


@pytest.mark.patched_only
def test_dmabufmrex_like_pyverbs_dmabufmr(ctx_pd, nic):
    """DmaBufMRex(pd, length, access, dmabuf, offset): pyverbs' arguments and methods (keys,
    offset, dmabuf, write/read relative to the MR), the endpoint chosen; dmabuf=None makes a
    buffer that goes with the MR; a dma-buf given as an fd is read and written too."""
    _, pd = ctx_pd
    access = ix.ACCESS_LOCAL_WRITE | ix.ACCESS_REMOTE_READ
    with ix.alloc_dmabuf(2 * MiB, numa_node=nic.numa_node) as buf:
        with ix.DmaBufMRex(pd, MiB, access, buf, 4096) as mr:
            assert (mr.offset, mr.length, mr.iova, mr.dmabuf) == (4096, MiB, 4096, buf)
            assert mr.lkey and mr.rkey and mr.choice.endpoint.pci == nic.pci, mr.choice.reason
            mr.write(b"pyverbs", 7, 100)
            assert buf.read(4196, 7) == b"pyverbs" and mr.read(7, 100) == b"pyverbs"
            with pytest.raises(ValueError, match="outside the MR"):
                mr.read(16, MiB - 8)
        with ix.DmaBufMRex(pd, MiB, access, buf.fileno(), 0) as mr:
            assert mr.read(7, 4196) == b"pyverbs"
    before = set(os.listdir("/proc/self/fd"))
    mr = ix.DmaBufMRex(pd, MiB, access, None, 8192, numa_node=nic.numa_node)
    made = mr.dmabuf
    assert isinstance(made, ix.Dmabuf) and made.size == MiB + 8192
    mr.close()
    assert made.closed and set(os.listdir("/proc/self/fd")) == before


# ----------------------------------------------------------------------------- traffic
class Region:
    """Registered memory for the traffic test: `host` (a pyverbs MR) or a test dma-buf
    (ibverbs_ext MR against the pyverbs PD). addr(k): the address of byte k for WRs."""

    def __init__(self, pv, pd, spec, size, access, iova):
        self.spec = spec
        self.dmabuf = None
        if spec == "host":
            self.mr = pv.MR(pd, size, access)
            self.lkey, self.rkey = self.mr.lkey, self.mr.rkey
            self.base = self.mr.buf
            self.choice = None
            return
        kind, _, opt = spec.partition(":")
        node = int(opt.split("=")[1]) if opt.startswith("node=") else None
        self.dmabuf = ix.alloc_dmabuf(size, kind, numa_node=node,
                                      interleave=opt == "interleave")
        self.mr = ix.reg_dmabuf_mr_ex(pd, self.dmabuf, access=access, iova=iova)
        self.lkey, self.rkey = self.mr.lkey, self.mr.rkey
        self.base = self.mr.address_of(0)
        self.choice = self.mr.choice

    def addr(self, k):
        return self.base + k

    def write(self, data, off):
        if self.dmabuf:
            self.dmabuf.write(data, off)
        else:
            self.mr.write(data, len(data), off)

    def read(self, n, off):
        if self.dmabuf:
            return self.dmabuf.read(off, n)
        return self.mr.read(n, off)

    def close(self):
        self.mr.close()
        if self.dmabuf:
            self.dmabuf.close()


class LoopbackRC:
    """Two RC QPs on one device connected to each other through the RoCE v2 IPv4 GID."""

    def __init__(self, pv, ctx, pd, gid_index):
        e = pv.e
        self.pv = pv
        self.cq = pv.CQ(ctx, 16)
        cap = pv.QPCap(max_send_wr=8, max_recv_wr=8, max_send_sge=1, max_recv_sge=1)
        init = pv.QPInitAttr(qp_type=e.IBV_QPT_RC, scq=self.cq, rcq=self.cq, cap=cap)
        access = e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE | \
            e.IBV_ACCESS_REMOTE_READ
        self.qps = []
        for _ in range(2):
            a = pv.QPAttr(port_num=1)
            a.qp_access_flags = access
            self.qps.append(pv.QP(pd, init, a))
        gid = ctx.query_gid(1, gid_index)
        for me, peer in ((0, 1), (1, 0)):
            a = pv.QPAttr(port_num=1)
            a.qp_access_flags = access
            a.path_mtu = e.IBV_MTU_1024
            a.max_dest_rd_atomic = 1
            a.max_rd_atomic = 1
            a.min_rnr_timer = 12
            a.timeout = 14
            a.retry_cnt = 7
            a.rnr_retry = 7
            a.rq_psn = 0
            a.sq_psn = 0
            a.dest_qp_num = self.qps[peer].qp_num
            gr = pv.GlobalRoute(dgid=gid, sgid_index=gid_index)
            a.ah_attr = pv.AHAttr(port_num=1, is_global=1, gr=gr)
            self.qps[me].to_rts(a)

    def rdma(self, qp_index, opcode, local, loff, remote, roff, n, wr_id, timeout=60):
        pv = self.pv
        sge = pv.SGE(local.addr(loff), n, local.lkey)
        wr = pv.SendWR(wr_id=wr_id, opcode=opcode, num_sge=1, sg=[sge],
                       send_flags=pv.e.IBV_SEND_SIGNALED)
        wr.set_wr_rdma(remote.rkey, remote.addr(roff))
        self.qps[qp_index].post_send(wr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            npolled, wcs = self.cq.poll()
            if npolled:
                wc = wcs[0]
                assert wc.wr_id == wr_id, wc
                assert wc.status == pv.e.IBV_WC_SUCCESS, \
                    f"{opcode}: completion status {wc.status} (vendor err {wc.vendor_err})"
                return
            time.sleep(0.001)
        raise AssertionError(f"no completion for wr {wr_id} within {timeout} s")

    def close(self):
        for qp in self.qps:
            qp.close()
        self.cq.close()


def run_write_read(pv, ctx, pd, gid_index, src_spec, dst_spec, size=3 * MiB, n=2 * MiB + 4096,
                   soff=4096, doff=8192):
    e = pv.e
    access = ix.ACCESS_LOCAL_WRITE | ix.ACCESS_REMOTE_WRITE | ix.ACCESS_REMOTE_READ
    src = Region(pv, pd, src_spec, size, access, IOVA_BASE)
    dst = Region(pv, pd, dst_spec, size, access, IOVA_BASE + 0x1000_0000)
    rc = None
    try:
        rc = LoopbackRC(pv, ctx, pd, gid_index)
        data = pattern(n, 5)
        src.write(data, soff)
        dst.write(b"\0" * size, 0)
        # RDMA WRITE src -> dst through QP 0; check every byte and the untouched edges.
        rc.rdma(0, e.IBV_WR_RDMA_WRITE, src, soff, dst, doff, n, 1)
        assert dst.read(n, doff) == data, f"{src_spec} -> {dst_spec}: RDMA WRITE data differ"
        assert dst.read(doff, 0) == b"\0" * doff and \
            dst.read(size - doff - n, doff + n) == b"\0" * (size - doff - n), "wrote outside"
        # RDMA READ dst -> src through QP 1 into a cleared source.
        src.write(b"\xff" * size, 0)
        rc.rdma(1, e.IBV_WR_RDMA_READ, src, 0, dst, doff, n, 2)
        assert src.read(n, 0) == data, f"{dst_spec} -> {src_spec}: RDMA READ data differ"
        assert src.read(size - n, n) == b"\xff" * (size - n), "read landed outside"
        return src.choice, dst.choice
    finally:
        if rc:
            rc.close()
        src.close()
        dst.close()


def test_write_read_host_memory(pv, ctx_pd, nic):
    """The harness itself, with ordinary pyverbs MRs (both kernels)."""
    ctx, pd = ctx_pd
    run_write_read(pv, ctx, pd, nic.rxe_ipv4_gid_index, "host", "host")


@pytest.mark.patched_only
@pytest.mark.parametrize("src,dst", [
    ("udmabuf:node=0", "udmabuf:node=1"),
    ("host", "udmabuf:node=1"),
    ("udmabuf:node=0", "host"),
    ("heap", "udmabuf:interleave"),
])
def test_write_read_dmabuf_mrs(pv, ctx_pd, nic, src, dst):
    ctx, pd = ctx_pd
    choices = run_write_read(pv, ctx, pd, nic.rxe_ipv4_gid_index, src, dst)
    for spec, choice in zip((src, dst), choices):
        if choice is not None:
            assert choice.endpoint.pci == nic.pci, (spec, choice.reason)
