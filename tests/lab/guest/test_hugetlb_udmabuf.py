# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""udmabufs of huge pages (IBV_DMABUF_ALLOC_HUGETLB: memfd_create(MFD_HUGETLB)), runs INSIDE
the lab, as root. The huge page pool is set per node for the module (16 free 2 MiB pages on
each node) and put back as it was afterwards.

Every kernel (Debian's and the lab's have CONFIG_HUGETLBFS and CONFIG_UDMABUF):
  - a 4 MiB buffer bound to node 0, to node 1 (set_mempolicy around fallocate: hugetlbfs has no
    shared policy), interleaved: the node's free_hugepages drop by the buffer's pages and come
    back on close; the data through the dma-buf's mapping; ibv_query_dmabuf says udmabuf,
    system memory (patched: described by the kernel, on that node or mixed; stock: inferred
    from fdinfo, no node); the CLI's --create udmabuf:...,hugetlb;
  - the kernel's rule the library relies on: UDMABUF_CREATE takes a hugetlb memfd sealed
    F_SEAL_SHRINK and refuses it unsealed;
  - bad inputs (rows of the bad-input matrix): a size not of whole huge pages (EINVAL), more
    pages than the node has free while the other node has them (ENOMEM), an empty pool
    (ENOMEM), each leaving no fd and no huge page behind.
Patched 7.2: registration on rxe (ibverbs_ext) and ibv_dmabuf_bw --mem udmabuf:node=N:hugetlb
--check, the source described by the kernel and the endpoint of the buffer's node; the
kernel's description of a udmabuf made by UDMABUF_CREATE_LIST of pieces of huge pages of two
nodes (patch 0005 walks per folio, bounded by the list's items).
"""

import errno
import fcntl
import json
import os
import struct

import pytest

import kverbs
import labguest
from test_bw_lab import ok_json, pair

ix = labguest.ibverbs_ext()
BUILD = labguest.BUILD
BW = os.path.join(BUILD, "tools/bw/ibv_dmabuf_bw")
CLI = os.path.join(BUILD, "tools/ibv_dmabuf/ibv_dmabuf")

MiB = labguest.MiB
PER_NODE = 16  # huge pages the module reserves on each node
NODES = (0, 1)
ACCESS = ix.ACCESS_LOCAL_WRITE | ix.ACCESS_REMOTE_WRITE | ix.ACCESS_REMOTE_READ
F_GET_SEALS = 1034


HUGE = None  # the default huge page size, bytes (the pool fixture reads it)


@pytest.fixture(scope="module", autouse=True)
def built():
    labguest.built(BW, CLI)


def node_file(node, name):
    return f"/sys/devices/system/node/node{node}/hugepages/hugepages-{HUGE // 1024}kB/{name}"


def free_pages():
    return {n: int(labguest.read(node_file(n, "free_hugepages"))) for n in NODES}


def set_pool(pages):
    """Each node's pool to pages[node]; returns the free counts (asserted to be them)."""
    for n in NODES:
        labguest.huge_pages(n, pages[n], HUGE // 1024)
    got = free_pages()
    assert got == pages, f"the guest could not make its huge pages: free {got}, wanted {pages}"
    return got


@pytest.fixture(scope="module")
def pool():
    """PER_NODE free huge pages on each node; the pool as it was afterwards."""
    global HUGE
    with open("/proc/meminfo") as f:
        kb = [int(ln.split()[1]) for ln in f if ln.startswith("Hugepagesize:")]
    if not kb:
        pytest.fail("/proc/meminfo has no Hugepagesize: this lab kernel has no "
                    "CONFIG_HUGETLBFS", pytrace=False)
    HUGE = kb[0] * 1024
    saved = {n: labguest.huge_pages(n, size_kb=HUGE // 1024) for n in NODES}
    total = labguest.read("/proc/sys/vm/nr_hugepages")
    try:
        yield set_pool({n: PER_NODE for n in NODES})
    finally:
        for n in NODES:
            labguest.huge_pages(n, saved[n], HUGE // 1024)
        assert labguest.read("/proc/sys/vm/nr_hugepages") == total


def fd_count():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def nothing_left(pool):
    """No fd and no huge page left behind by a test."""
    before = fd_count(), free_pages()
    yield
    assert (fd_count(), free_pages()) == before, "an fd or huge pages left behind"


def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(256)) * (n // 256)


def refused(err, frag, what, size, **kw):
    """alloc_dmabuf(size, hugetlb=True, **kw) fails with err and frag in its one-line reason;
    a row of the bad-input matrix."""
    with pytest.raises(ix.IbvExtError) as ei:
        ix.alloc_dmabuf(size, hugetlb=True, **kw)
    e = ei.value
    labguest.record_bad_input("ibv_alloc_dmabuf", what, errno.errorcode[err], e.errno_name,
                              e.reason)
    assert e.errno == err, str(e)
    assert frag in e.reason and "\n" not in e.reason, e.reason
    return e


# ------------------------------------------------------------------ every kernel: placement
@pytest.mark.parametrize("node", NODES, ids=["node0", "node1"])
def test_hugetlb_buffer_on_each_node(lab, node):
    size = 4 * MiB
    before = free_pages()
    with ix.alloc_dmabuf(size, numa_node=node, hugetlb=True) as buf:
        after = free_pages()
        want = dict(before)
        want[node] -= size // HUGE
        assert after == want, f"free huge pages {before} -> {after}: not {size // HUGE} " \
                              f"taken from node {node}"
        data = pattern(size, node)
        buf.write(data)
        assert buf.read() == data
        info = buf.info()
        assert info.exporter == "udmabuf" and info.size == size, info
        assert info.source == ix.Source.SYSTEM, info
        if lab.patched:
            assert info.origin == ix.Origin.KERNEL, info
            assert info.numa_node == node and not info.numa_mixed, info
        else:
            assert info.origin == ix.Origin.INFERRED, info
            assert info.numa_node is None, info
    assert free_pages() == before


def test_hugetlb_buffer_interleaved(lab):
    size = 4 * HUGE
    before = free_pages()
    with ix.alloc_dmabuf(size, interleave=True, hugetlb=True) as buf:
        after = free_pages()
        assert all(before[n] - after[n] == 2 for n in NODES), (before, after)
        buf.fill(b"\x5a")
        assert buf.read(size - 4096) == b"\x5a" * 4096
        if lab.patched:
            assert buf.info().numa_mixed, buf.info()


def test_hugetlb_cli_create(lab):
    before = free_pages()
    r = labguest.run([CLI, "--json", "info", "--create", "udmabuf:size=4M,node=1,hugetlb"])
    info = json.loads(r.stdout)
    assert info["exporter"] == "udmabuf" and info["size"] == 4 * MiB, info
    if lab.patched:
        assert info["origin"] == "kernel" and info["numa_node"] == 1, info
    assert free_pages() == before


def test_hugetlb_memfd_needs_the_seal():
    """UDMABUF_CREATE takes a hugetlb memfd only sealed against shrinking, as the library's
    is (F_SEAL_SHRINK works on hugetlbfs: MFD_ALLOW_SEALING)."""
    memfd = os.memfd_create("lab-huge", os.MFD_HUGETLB | os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    dev = os.open("/dev/udmabuf", os.O_RDWR | os.O_CLOEXEC)
    try:
        os.ftruncate(memfd, HUGE)
        os.posix_fallocate(memfd, 0, HUGE)
        arg = bytearray(struct.pack("IIQQ", memfd, labguest.UDMABUF_FLAGS_CLOEXEC, 0, HUGE))
        with pytest.raises(OSError) as ei:
            fcntl.ioctl(dev, labguest.UDMABUF_CREATE, arg, True)
        assert ei.value.errno == errno.EINVAL, ei.value
        fcntl.fcntl(memfd, labguest.F_ADD_SEALS, labguest.F_SEAL_SHRINK)
        assert fcntl.fcntl(memfd, F_GET_SEALS) & labguest.F_SEAL_SHRINK
        os.close(fcntl.ioctl(dev, labguest.UDMABUF_CREATE, arg, True))
    finally:
        os.close(dev)
        os.close(memfd)


# ------------------------------------------------------------------ every kernel: bad inputs
def test_hugetlb_size_not_whole_huge_pages():
    size = HUGE + 4096
    refused(errno.EINVAL, f"size {size} is not a multiple of the huge page size {HUGE}",
            "udmabuf, HUGETLB, a huge page + 4096 bytes", size)


def test_hugetlb_more_than_the_node_has(lab):
    """Node 0 has PER_NODE free pages, node 1 as many: one more than node 0 has, bound there,
    fails; the policy binds."""
    size = (PER_NODE + 1) * HUGE
    refused(errno.ENOMEM, "huge pages on node 0: too few free in the pool (vm.nr_hugepages)",
            f"udmabuf, HUGETLB, {PER_NODE + 1} huge pages on node 0 ({PER_NODE} free there)",
            size, numa_node=0)


def test_hugetlb_pool_empty():
    set_pool({n: 0 for n in NODES})
    try:
        refused(errno.ENOMEM, "too few free in the pool (vm.nr_hugepages)",
                "udmabuf, HUGETLB, the huge page pool empty", 4 * MiB)
        refused(errno.ENOMEM, "on node 1: too few free in the pool (vm.nr_hugepages)",
                "udmabuf, HUGETLB on node 1, the huge page pool empty", 4 * MiB, numa_node=1)
    finally:
        set_pool({n: PER_NODE for n in NODES})


# ------------------------------------------------------------------ patched: registration
@pytest.mark.patched_only
def test_hugetlb_registers_on_rxe(nic):
    with ix.Context(nic.rxe) as ctx, ctx.alloc_pd() as pd, \
            ix.alloc_dmabuf(4 * MiB, numa_node=nic.numa_node, hugetlb=True) as buf, \
            ix.reg_dmabuf_mr_ex(pd, buf, offset=HUGE - 4096, length=8192,
                                access=ACCESS) as mr:
        assert mr.lkey and mr.rkey
        assert mr.source.origin == ix.Origin.KERNEL, mr.source
        assert mr.source.numa_node == nic.numa_node and not mr.choice.hint_used, mr.source
        assert mr.choice.endpoint.pci == nic.pci, mr.choice.reason
        assert mr.choice.path_class == ix.PathClass.PHB, mr.choice.reason


@pytest.mark.patched_only
@pytest.mark.parametrize("node", NODES, ids=["node0", "node1"])
def test_hugetlb_bw_traffic_checked(lab, tcp_port, node):
    nic = lab.nics[node]
    before = free_pages()
    cli, srv = ok_json(*pair(tcp_port, ["-d", nic.rxe, "--mem", f"udmabuf:node={node}:hugetlb",
                                        "-n", "200", "--check", "--json"]))
    assert cli["results"][0]["check"] == "ok", cli["results"]
    for side in (cli, srv):
        assert side["memory"] == f"udmabuf:node={node}:hugetlb", side
        (p,) = side["paths"]
        assert p["memory"] == f"udmabuf of huge pages on node {node}", p
        assert p["registration"] == "ibv_reg_dmabuf_mr_ex", p
        assert p["source"]["type"] == "system" and p["source"]["origin"] == "kernel", p
        assert p["source"]["numa_node"] == node, p
        assert p["endpoint"]["pci"] == nic.pci and p["path_class"] == "PHB", p
    assert free_pages() == before


# <linux/udmabuf.h>: struct udmabuf_create_list { __u32 flags; __u32 count;
#                                                 struct udmabuf_create_item list[]; }
UDMABUF_CREATE_LIST = labguest._ioc(labguest._IOC_WRITE, "u", 0x43, 8)


def huge_memfd(node, pages):
    """A hugetlb memfd of *pages* huge pages allocated on *node*, sealed for udmabuf."""
    memfd = os.memfd_create("lab-huge", os.MFD_HUGETLB | os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    try:
        os.ftruncate(memfd, pages * HUGE)
        with kverbs.mempolicy(kverbs.MPOL_BIND, [node]):
            os.posix_fallocate(memfd, 0, pages * HUGE)
        fcntl.fcntl(memfd, labguest.F_ADD_SEALS, labguest.F_SEAL_SHRINK)
        return memfd
    except BaseException:
        os.close(memfd)
        raise


@pytest.mark.patched_only
def test_hugetlb_list_pieces_described_per_folio():
    """A udmabuf of pieces of huge pages, node 0's and node 1's, cut inside their folios:
    the description follows the pieces, not the folios (a walk that took each folio's rest
    without the item's end would give node 0 all of the first 2 MiB), and merges pieces that
    continue one another on one node."""
    a, b = huge_memfd(0, 1), huge_memfd(1, 2)
    half, quarter = HUGE // 2, HUGE // 4
    # (memfd, offset, size): a's first half, b's second quarter to its second page's first
    # quarter, a's second half (back on node 0), then a's first quarter again.
    items = [(a, 0, half), (b, 3 * quarter, 2 * quarter), (a, half, half), (a, 0, quarter)]
    want = [(0, half, 0), (half, 2 * quarter, 1), (half + 2 * quarter, half + quarter, 0)]
    arg = struct.pack("II", labguest.UDMABUF_FLAGS_CLOEXEC, len(items)) + b"".join(
        struct.pack("IIQQ", fd, 0, off, size) for fd, off, size in items)
    dev = os.open("/dev/udmabuf", os.O_RDWR | os.O_CLOEXEC)
    try:
        fd = fcntl.ioctl(dev, UDMABUF_CREATE_LIST, bytearray(arg), True)
    finally:
        os.close(dev)
        os.close(a)
        os.close(b)
    try:
        d = kverbs.describe(fd)
    finally:
        os.close(fd)
    assert d["size"] == sum(size for _, _, size in items), d
    got = [(r["offset"], r["length"], r["numa_node"]) for r in d["ranges"]]
    assert got == want, d
    assert all(r["mem"] == kverbs.DMA_BUF_MEM_SYSTEM for r in d["ranges"]), d
