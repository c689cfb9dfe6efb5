# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The kernel series, part 2: DMA endpoints of RDMA devices, the endpoint of a dma-buf MR, P2P.

Raw kernel interfaces (no libibverbs-ext), so that a kernel regression is told apart from a
library one:

- /sys/class/infiniband/<dev>/dma_endpoints/<index>/{kind,numa_node,mappable,device} of rxe0,
  rxe1 and of an rxe device on a bond of NIC3 (node 0) and NIC2 (node 1, under the PCIe switch
  with ivshmem): the bond's lower PCI functions are its two endpoints;
- the P2P test exporter (drivers/dma-buf/pci-p2p-dmabuf.c) bound to ivshmem: dma-bufs of its
  BAR 2, described as P2P memory of 0000:44:00.0, and what pci_p2pdma_distance() says for each
  NIC (its debugfs file);
- UVERBS_METHOD_REG_DMABUF_MR with the DMA_ENDPOINT attribute (and without: the kernel's own
  choice), the endpoint the kernel reports, and refusals (EXDEV, EINVAL), every accepted
  registration confirmed by RDMA WRITE and READ with the bytes checked;
- revocation of a P2P buffer by its exporter while registered;
- the stock kernel refuses the endpoint attribute (EPROTONOSUPPORT: mandatory attribute it
  does not know).

The bond rxe device ("rxeb") is made by the module fixture and removed afterwards, so the other
lab tests still find only rxe0 and rxe1.
"""

import contextlib
import ctypes
import errno
import json
import mmap
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import types

import pytest

import labguest
from test_kernel_dmabuf import (MPOL_BIND, RW, DMA_BUF_MEM_P2P, DMA_BUF_DESC_MMIO_UC,
                                DMA_BUF_DESC_MMIO_WC, UVERBS_METHOD_REG_DMABUF_MR,
                                LoopbackRC, _debugfs_bufinfo, _kernel_tree, _uattr,
                                _uverbs_mr_ioctl, describe, heap_buffer, udmabuf_and_memfd,
                                uverbs_destroy_mr)

MiB = labguest.MiB
PAGE = mmap.PAGESIZE
# <rdma/ib_user_ioctl_cmds.h> of the series: REG_DMABUF_MR attributes after RESP_RKEY (8)
ATTR_DMA_ENDPOINT, ATTR_RESP_DMA_ENDPOINT = 9, 10
IBV_ACCESS_REMOTE_ATOMIC = 8
BOND, BOND_IP, RXEB = "labbond", "10.10.2.1", "rxeb"
IVSHMEM_BAR_SIZE = 64 * MiB

def reg_dmabuf_mr(cmd_fd, pd_handle, fd, offset, length, iova, access=RW, endpoint=None):
    """REG_DMABUF_MR, optionally naming a DMA endpoint (sent as mandatory, as the library
    does); returns (handle, lkey, rkey, endpoint the kernel reports or None)."""
    lkey, rkey, used = ctypes.c_uint32(), ctypes.c_uint32(), ctypes.c_uint32(0xffffffff)
    attrs = [
        _uattr(0, 0),
        _uattr(1, pd_handle),
        _uattr(2, offset, 8),
        _uattr(3, length, 8),
        _uattr(4, iova, 8),
        _uattr(5, fd, 4),
        _uattr(6, access, 4),
        _uattr(7, ctypes.addressof(lkey), 4),
        _uattr(8, ctypes.addressof(rkey), 4),
        _uattr(ATTR_RESP_DMA_ENDPOINT, ctypes.addressof(used), 4, flags=0),
    ]
    if endpoint is not None:
        attrs.append(_uattr(ATTR_DMA_ENDPOINT, endpoint, 4))
    buf = _uverbs_mr_ioctl(cmd_fd, UVERBS_METHOD_REG_DMABUF_MR, attrs)
    handle = struct.unpack_from("=Q", buf, 24 + 8)[0]
    # UVERBS_ATTR_F_VALID_OUTPUT (2) in the RESP_DMA_ENDPOINT attribute's flags
    flags = struct.unpack_from("=H", buf, 24 + 16 * 9 + 4)[0]
    return handle, lkey.value, rkey.value, used.value if flags & 2 else None


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


def _wait(cond, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _sh(*cmd):
    labguest.run(list(cmd), timeout=60)


@pytest.fixture(scope="module")
def topo(lab):
    """The NICs by role: NIC0/NIC1 as in conftest, NIC2 (node 1, with ivshmem under the PCIe
    switch), NIC3 (node 0); skips when the lab is older than the switch topology."""
    e = os.environ
    if not e.get("LAB_NIC2"):
        pytest.skip("the lab has no NIC2/NIC3 (labrun before the PCIe-switch topology)")
    return types.SimpleNamespace(nic0=e["LAB_NIC0"], nic1=e["LAB_NIC1"], nic2=e["LAB_NIC2"],
                                 nic3=e["LAB_NIC3"], nic0_pci=lab.nics[0].pci,
                                 nic1_pci=lab.nics[1].pci, nic2_pci=e["LAB_NIC2_PCI"],
                                 nic3_pci=e["LAB_NIC3_PCI"], ivshmem=lab.ivshmem_pci)


@pytest.fixture(scope="module")
def p2p(topo):
    """The P2P exporter bound to ivshmem: (character device, debugfs distances)."""
    _debugfs_bufinfo()  # mounts debugfs
    try:
        cdev = labguest.bind_p2p_exporter(topo.ivshmem)
    except FileNotFoundError as e:
        pytest.fail(f"patched kernel without the P2P exporter: {e}")
    _wait(lambda: os.path.exists(cdev), cdev)
    yield types.SimpleNamespace(cdev=cdev, distances=labguest.p2p_distances(topo.ivshmem))
    labguest.unbind_p2p_exporter(topo.ivshmem)


@pytest.fixture(scope="module")
def rxeb(topo):
    """An rxe device on a bond of NIC3 (enslaved first: endpoint 0, node 0) and NIC2 (endpoint
    1, node 1, P2P path to ivshmem); removed with the bond afterwards."""
    for nic in (topo.nic3, topo.nic2):
        _sh("ip", "link", "set", nic, "down")
    _sh("ip", "link", "add", BOND, "type", "bond", "mode", "active-backup")
    try:
        for nic in (topo.nic3, topo.nic2):
            _sh("ip", "link", "set", nic, "master", BOND)
        _sh("ip", "link", "set", BOND, "up")
        _sh("ip", "addr", "add", f"{BOND_IP}/24", "dev", BOND)
        _sh("rdma", "link", "add", RXEB, "type", "rxe", "netdev", BOND)
        try:
            _wait(lambda: "ACTIVE" in labguest.read(
                f"/sys/class/infiniband/{RXEB}/ports/1/state", ""), f"{RXEB} ACTIVE")
            _wait(lambda: any(g.ipv4 == BOND_IP for g in labguest.gids(RXEB)),
                  f"{RXEB} IPv4 GID")
            yield types.SimpleNamespace(
                rxe=RXEB, rxe_ipv4_gid_index=labguest.gid_index(RXEB, ipv4=BOND_IP))
        finally:
            labguest.run(["rdma", "link", "del", RXEB], timeout=60, check=False)
    finally:
        labguest.run(["ip", "link", "del", BOND], timeout=60, check=False)
        for nic in (topo.nic3, topo.nic2):
            labguest.run(["ip", "link", "set", nic, "up"], timeout=60, check=False)
        # leave the NICs as guest-init made them (linkwatch updates operstate late)
        for nic in (topo.nic3, topo.nic2):
            _wait(lambda nic=nic: labguest.read(f"/sys/class/net/{nic}/operstate", "") == "up",
                  f"{nic} up again")


def _node(lab, n):
    return next(x for x in lab.nics if x.numa_node == n)


@contextlib.contextmanager
def loopback(dev):
    rc = LoopbackRC(dev)
    try:
        yield rc
    finally:
        rc.close()


def check_transfer(rc, rkey, iova, mem, size, tag):
    """RDMA WRITE of a pattern into [iova, iova + size) then RDMA READ of other bytes put there
    through *mem* (the buffer's CPU view); both checked byte for byte."""
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


def reg_and_transfer(dev, fd, mem, size, endpoint=None, tag=1, access=RW):
    """Register *fd* on *dev* (naming *endpoint* or not), move data both ways, deregister;
    returns the endpoint the kernel reported."""
    iova = 0x7f0000000000
    with loopback(dev) as rc:
        handle, _, rkey, used = reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, size, iova,
                                              access, endpoint)
        try:
            check_transfer(rc, rkey, iova, mem, size, tag)
        finally:
            uverbs_destroy_mr(rc.ctx.cmd_fd, handle)
    return used


def reg_errno(dev, fd, size, endpoint=None, access=RW):
    with loopback(dev) as rc:
        with pytest.raises(OSError) as e:
            handle = reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, size, 0, access,
                                   endpoint)[0]
            uverbs_destroy_mr(rc.ctx.cmd_fd, handle)
    return e.value.errno


@contextlib.contextmanager
def node_udmabuf(node, size=16 * PAGE):
    """A udmabuf bound to *node*: (fd, mmap of its memfd)."""
    fd, memfd = udmabuf_and_memfd(size, MPOL_BIND, [node])
    with labguest.closing_fds(fd, memfd), mmap.mmap(memfd, size) as mem:
        yield fd, mem


@contextlib.contextmanager
def p2p_buffer(p2p, offset=4 * MiB, size=16 * PAGE, flags=labguest.PCI_P2P_DMABUF_CLOEXEC):
    """A dma-buf of the ivshmem BAR: (fd, its mmap)."""
    fd = labguest.p2p_dmabuf(p2p.cdev, offset, size, flags)
    with labguest.closing_fds(fd), mmap.mmap(fd, size) as mem:
        yield fd, mem


# ------------------------------------------------------------------ sysfs
@pytest.mark.patched_only
def test_endpoints_of_lab_rxe_devices(lab):
    for nic in lab.nics:
        assert endpoints(nic.rxe) == [("netdev", nic.numa_node, 1, nic.pci)], nic.rxe


@pytest.mark.patched_only
def test_endpoints_of_rxe_on_a_bond(rxeb, topo):
    eps = endpoints(RXEB)
    print(f"{RXEB} on {BOND} ({topo.nic3}, {topo.nic2}): {eps}")
    assert eps == [("netdev", 0, 1, topo.nic3_pci), ("netdev", 1, 1, topo.nic2_pci)]
    assert os.path.realpath(f"/sys/class/infiniband/{RXEB}/dma_endpoints/1/device") == \
        os.path.realpath(f"/sys/bus/pci/devices/{topo.nic2_pci}")


# ------------------------------------------------------------------ the P2P exporter
@pytest.mark.patched_only
def test_p2p_exporter_describes_its_buffers(p2p, topo):
    seg, bus, devfn = int(topo.ivshmem[:4], 16), int(topo.ivshmem[5:7], 16), \
        (int(topo.ivshmem[8:10], 16) << 3) | int(topo.ivshmem[11])
    for flags, caching in ((0, DMA_BUF_DESC_MMIO_UC),
                           (labguest.PCI_P2P_DMABUF_WC, DMA_BUF_DESC_MMIO_WC)):
        with p2p_buffer(p2p, flags=flags | labguest.PCI_P2P_DMABUF_CLOEXEC) as (fd, mem):
            d = describe(fd)
            mem[0:4] = b"p2p!"
            assert bytes(mem[0:4]) == b"p2p!"
        print(f"P2P dma-buf (flags {flags}): {d}")
        assert d["types"] == DMA_BUF_MEM_P2P and d["attrs"] == caching
        assert d["numa_node"] == -1 and d["size"] == 16 * PAGE
        assert d["provider"] == (seg, bus, devfn), d
        assert d["exp_name"] == "pci_p2p_dmabuf"


@pytest.mark.patched_only
def test_p2p_distances_in_the_lab(p2p, topo):
    """What pci_p2pdma_distance() reports for ivshmem as the provider: only NIC2, under the
    same PCIe switch, has a P2P path; NIC0/NIC1/NIC3 are behind QEMU's host bridges, which
    P2PDMA does not know to forward P2P."""
    d = p2p.distances
    print("pci_p2pdma_distance(ivshmem, X):",
          ", ".join(f"{k} {v}" for k, v in sorted(d.items())))
    assert d[topo.ivshmem] == 0
    assert d[topo.nic2_pci] == 4  # ivshmem -> downstream port -> upstream port <- ... <- NIC2
    for pci in (topo.nic0_pci, topo.nic1_pci, topo.nic3_pci):
        assert d[pci] == -1, pci


# ------------------------------------------------------------------ the kernel's own choice
@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
def test_cpu_memory_on_each_node_maps_through_its_node_endpoint(rxeb, node):
    """Without a named endpoint the kernel picks the endpoint on the buffer's node."""
    with node_udmabuf(node) as (fd, mem):
        used = reg_and_transfer(rxeb, fd, mem, 16 * PAGE, tag=node)
    assert used == node, f"node-{node} memory went through endpoint {used}"


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
def test_cpu_memory_on_single_endpoint_devices(lab, node):
    """rxe0/rxe1 have one endpoint: it is used whatever the node, and reported."""
    for nic in lab.nics:
        with node_udmabuf(node) as (fd, mem):
            assert reg_and_transfer(nic, fd, mem, 16 * PAGE, tag=node) == 0


@pytest.mark.patched_only
def test_system_heap_buffer_follows_its_node(rxeb):
    for node in (1, 0):
        fd = heap_buffer(16 * PAGE, MPOL_BIND, [node])
        with labguest.closing_fds(fd), mmap.mmap(fd, 16 * PAGE) as mem:
            assert reg_and_transfer(rxeb, fd, mem, 16 * PAGE, tag=5 + node) == node


@pytest.mark.patched_only
def test_p2p_memory_maps_through_the_endpoint_under_its_switch(rxeb, p2p):
    """P2P memory of ivshmem: the kernel picks NIC2 (same PCIe switch), the data moves through
    I/O accessors and lands in the BAR."""
    for flags in (0, labguest.PCI_P2P_DMABUF_WC):
        with p2p_buffer(p2p, flags=flags | labguest.PCI_P2P_DMABUF_CLOEXEC) as (fd, mem):
            assert reg_and_transfer(rxeb, fd, mem, 16 * PAGE, tag=9) == 1


# ------------------------------------------------------------------ named endpoints
@pytest.mark.patched_only
def test_named_endpoint_is_honoured(rxeb, p2p):
    # node-1 memory through the node-0 endpoint and node-0 memory through the node-1 one
    for node, ep in ((1, 0), (0, 1)):
        with node_udmabuf(node) as (fd, mem):
            assert reg_and_transfer(rxeb, fd, mem, 16 * PAGE, endpoint=ep, tag=ep) == ep
    with p2p_buffer(p2p) as (fd, mem):
        assert reg_and_transfer(rxeb, fd, mem, 16 * PAGE, endpoint=1, tag=3) == 1


@pytest.mark.patched_only
def test_endpoint_that_cannot_reach_the_provider_is_refused(rxeb, lab, p2p):
    with p2p_buffer(p2p) as (fd, mem):
        before = bytes(mem[0:PAGE])
        err = reg_errno(rxeb, fd, 16 * PAGE, endpoint=0)
        labguest.record_bad_input("REG_DMABUF_MR", "DMA_ENDPOINT that cannot reach the "
                                  "buffer's P2P memory", "EXDEV", errno.errorcode[err])
        assert err == errno.EXDEV
        # rxe0/rxe1 sit behind the host bridges: no endpoint of theirs reaches ivshmem
        for nic in lab.nics:
            assert reg_errno(nic, fd, 16 * PAGE) == errno.EXDEV, nic.rxe
            assert reg_errno(nic, fd, 16 * PAGE, endpoint=0) == errno.EXDEV, nic.rxe
        assert bytes(mem[0:PAGE]) == before


@pytest.mark.patched_only
def test_endpoint_index_out_of_range(rxeb, lab):
    with node_udmabuf(0) as (fd, _):
        assert reg_errno(rxeb, fd, 16 * PAGE, endpoint=2) == errno.EINVAL
        assert reg_errno(lab.nics[0], fd, 16 * PAGE, endpoint=1) == errno.EINVAL
        assert reg_errno(lab.nics[0], fd, 16 * PAGE, endpoint=0xffffffff) == errno.EINVAL


@pytest.mark.patched_only
def test_no_remote_atomics_on_p2p_memory(rxeb, p2p):
    with p2p_buffer(p2p) as (fd, _):
        assert reg_errno(rxeb, fd, 16 * PAGE, access=RW | IBV_ACCESS_REMOTE_ATOMIC) == \
            errno.EOPNOTSUPP


# ------------------------------------------------------------------ revocation
@pytest.mark.patched_only
def test_p2p_buffer_revoked_by_its_exporter(rxeb, p2p):
    """The exporter takes the memory away: rxe stops touching the BAR (an RDMA WRITE fails
    with a remote access error, the BAR keeps its bytes), CPU mappings fault, the buffer cannot
    be registered again, and the revoked MR still deregisters."""
    size, iova = 16 * PAGE, 0x7f0000000000
    with p2p_buffer(p2p, offset=8 * MiB) as (fd, mem), loopback(rxeb) as rc:
        e = rc.e
        handle, _, rkey, used = reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, size, iova)
        try:
            assert used == 1
            check_transfer(rc, rkey, iova, mem, size, tag=11)
            mem[0:PAGE] = b"K" * PAGE
            labguest.p2p_revoke(p2p.cdev, fd)
            rc.local.write(b"X" * PAGE, PAGE)
            status = rc.rdma(e.IBV_WR_RDMA_WRITE, PAGE, rkey, iova)
            assert status == e.IBV_WC_REM_ACCESS_ERR, f"WC status {status}"
        finally:
            uverbs_destroy_mr(rc.ctx.cmd_fd, handle)
        with pytest.raises(OSError) as err:
            describe(fd)
        assert err.value.errno == errno.ENODEV
        got = reg_errno(rxeb, fd, size, endpoint=1)
        labguest.record_bad_input("REG_DMABUF_MR", "a buffer revoked by its exporter",
                                  "ENODEV", errno.errorcode[got])
        assert got == errno.ENODEV
        # the old CPU mapping was zapped: touching it is SIGBUS (in a child process)
        code = f"import mmap; m = mmap.mmap({fd}, {PAGE}); m[0]"
        child = subprocess.run([sys.executable, "-c", code], pass_fds=(fd,),
                               capture_output=True, timeout=60, check=False)
        assert child.returncode != 0
    # the BAR kept what the CPU wrote before the revocation
    with p2p_buffer(p2p, offset=8 * MiB) as (_, mem):
        assert bytes(mem[0:PAGE]) == b"K" * PAGE


# ------------------------------------------------------------------ through the library
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
CLI = os.path.join(BUILD, "tools/ibv_dmabuf/ibv_dmabuf")
XFER = os.path.join(BUILD, "tools/xfer/ibv_dmabuf_xfer")


def xfer(*args, check=True):
    """ibv_dmabuf_xfer on rxeb (host memory <-> a dma-buf, WRITE and READ, data checked);
    returns (json report or None, completed process)."""
    if not os.access(XFER, os.X_OK):
        pytest.skip(f"{XFER} not built")
    res = labguest.run([XFER, "--device", RXEB, "--size", "256K", "--json", *args],
                       timeout=300, check=check)
    return (json.loads(res.stdout) if res.returncode == 0 else None), res


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
def test_library_cpu_memory_goes_to_its_node_endpoint(rxeb, node):
    """ibv_reg_dmabuf_mr_ex (AUTO) on rxeb: the kernel's endpoint is reported and the data
    moves."""
    out, _ = xfer("--dst", f"udmabuf:node={node}")
    dst = out["dst"]
    assert out["verified"] and dst["kernel_reported"], out
    assert dst["endpoint"] == node, dst
    assert dst["endpoint_pci"] == ("0000:22:00.0", "0000:45:00.0")[node], dst


@pytest.mark.patched_only
def test_library_p2p_buffer_and_named_endpoints(rxeb, p2p, topo):
    out, _ = xfer("--dst", f"p2p:{topo.ivshmem}")
    assert out["dst"]["endpoint"] == 1 and out["dst"]["kernel_reported"], out
    assert out["dst"]["source"] == "p2p", out
    out, _ = xfer("--src", f"p2p:{topo.ivshmem}:wc", "--dst", "udmabuf:node=0")
    assert out["src"]["endpoint"] == 1 and out["dst"]["endpoint"] == 0, out
    out, _ = xfer("--dst", "udmabuf:node=1", "--path", "endpoint=0")
    # the named default endpoint is sent too, and honoured for node-1 memory
    assert out["dst"]["endpoint"] == 0 and out["dst"]["kernel_reported"], out
    _, res = xfer("--dst", f"p2p:{topo.ivshmem}", "--path", "endpoint=0", check=False)
    assert res.returncode == 1, res.stdout
    assert "cannot reach" in res.stderr, res.stderr


@pytest.mark.patched_only
def test_cli_reg_reports_the_kernel_endpoint(rxeb):
    if not os.access(CLI, os.X_OK):
        pytest.skip(f"{CLI} not built")
    res = labguest.run([CLI, "--json", "reg", "--device", RXEB, "--create",
                        "udmabuf:size=1M,node=1"], timeout=120)
    choice = json.loads(res.stdout)["choice"]
    assert choice["kernel_reported"] and choice["endpoint"]["index"] == 1, choice
    assert choice["endpoint"]["kernel_listed"], choice


# ------------------------------------------------------------------ kselftest
@pytest.mark.patched_only
def test_kselftest_pci_p2p_dmabuf(p2p):
    """tools/testing/selftests/drivers/dma-buf/pci_p2p.c against the bound ivshmem."""
    tree = _kernel_tree()
    if not tree:
        pytest.skip("no patched kernel tree known for this kernel (set LAB_KERNEL_TREE)")
    src = os.path.join(tree, "tools/testing/selftests/drivers/dma-buf/pci_p2p.c")
    assert os.path.exists(src), f"{src} missing: the patched tree lacks the series' kselftest"
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/include/linux")
        for h in ("dma-buf.h", "pci_p2p_dmabuf.h"):
            with open(f"{tree}/include/uapi/linux/{h}", "rb") as f_in, \
                    open(f"{tmp}/include/linux/{h}", "wb") as f_out:
                f_out.write(f_in.read())
        exe = f"{tmp}/pci_p2p"
        labguest.run(["gcc", "-O2", "-Wall", "-Werror", f"-I{tmp}/include", "-o", exe, src],
                     timeout=300)
        res = labguest.run([exe], timeout=300, check=False)
    print(res.stdout)
    assert res.returncode == 0, f"kselftest failed:\n{res.stdout}\n{res.stderr}"
    assert not re.search(r"^ok \d+ .* # SKIP", res.stdout, re.M), res.stdout


# ------------------------------------------------------------------ stock kernel
@pytest.mark.stock_only
def test_stock_kernel_refuses_the_endpoint_attribute(lab):
    """The attribute is sent as mandatory: a kernel that does not know it says
    EPROTONOSUPPORT rather than ignoring it (the library passes it on unchanged)."""
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd), loopback(lab.nics[0]) as rc:
        with pytest.raises(OSError) as e:
            reg_dmabuf_mr(rc.ctx.cmd_fd, rc.pd.handle, fd, 0, 1 * MiB, 0, RW, endpoint=0)
        labguest.record_bad_input("REG_DMABUF_MR", "DMA_ENDPOINT (mandatory) on a kernel "
                                  "without the series", "EPROTONOSUPPORT",
                                  errno.errorcode[e.value.errno])
        assert e.value.errno == errno.EPROTONOSUPPORT
    assert not os.path.exists(f"/sys/class/infiniband/{lab.nics[0].rxe}/dma_endpoints")
