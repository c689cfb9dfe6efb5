# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""libibverbs-ext and its tools on real dma-bufs and real rxe devices (runs INSIDE the lab).

Both kernels: endpoints match the lab topology; `select` agrees with `endpoints` for udmabufs
placed on each node; plain loopback RDMA works; bad ranges are refused before the kernel; the MR
layout is pinned against the installed rxe provider.
Stock 6.12: the query is inferred from fdinfo; rxe refuses dma-buf MRs with EOPNOTSUPP and the
library says why.
Patched: the kernel describes the buffer; dma-buf MRs on rxe carry RDMA WRITE/READ with the
data checked byte for byte from the exporter side.
"""

import errno
import json
import os
import subprocess

import pytest

import labguest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = labguest.BUILD
CLI = os.path.join(BUILD, "tools/ibv_dmabuf/ibv_dmabuf")
XFER = os.path.join(BUILD, "tools/xfer/ibv_dmabuf_xfer")
MR_LAYOUT = os.path.join(BUILD, "tests/unit/test_mr_layout")


@pytest.fixture(scope="module", autouse=True)
def built():
    labguest.built(CLI, XFER, MR_LAYOUT)


def cli(*args, check=True, timeout=120):
    return labguest.run([CLI, *args], check=check, timeout=timeout)


def cli_json(*args):
    return json.loads(cli("--json", *args).stdout)


def test_endpoints_match_lab_topology(lab):
    eps = {e["device"]: e for e in cli_json("endpoints")}
    for nic in lab.nics:
        ep = eps[nic.rxe]
        assert ep["pci"] == nic.pci, ep
        assert ep["numa_node"] == nic.numa_node, ep
        assert ep["kind"] == "netdev" and ep["via"] == nic.netdev, ep
        assert ep["default"] and ep["index"] == 0, ep


def test_select_agrees_with_endpoints(nic):
    """A udmabuf whose pages sit on node N goes to the node-N NIC's rxe."""
    eps = {e["device"]: e for e in cli_json("endpoints")}
    out = cli_json("select", "--create", f"udmabuf:size=2M,node={nic.numa_node}")
    choice = out["choice"]
    assert choice["endpoint"]["device"] == nic.rxe, choice
    assert choice["endpoint"]["pci"] == eps[nic.rxe]["pci"], choice
    assert choice["path_class"] == "PHB", choice
    assert choice["numa_distance"] == 10, choice
    # The other node's NIC is ranked second, and the reason says why.
    other = "rxe1" if nic.rxe == "rxe0" else "rxe0"
    assert f"node {nic.numa_node}" in choice["reason"], choice
    ranked = cli_json("explain", "--create", f"udmabuf:node={nic.numa_node}")["devices"]
    assert [d["endpoint"]["device"] for d in ranked] == [nic.rxe, other], ranked
    assert ranked[1]["path_class"] == "SYS" and ranked[1]["numa_distance"] == 20, ranked


def test_select_p2p_ivshmem_goes_to_node1(lab):
    """The ivshmem BAR sits behind node 1's host bridge: rxe1's NIC is nearest."""
    out = cli_json("select", "--source", f"p2p:{lab.ivshmem_pci}")
    assert out["source"]["numa_node"] == lab.ivshmem_node, out
    assert out["choice"]["endpoint"]["device"] == "rxe1", out
    assert out["choice"]["path_class"] == "PHB", out
    assert out["choice"]["p2p_via_host_bridge"], out


@pytest.mark.stock_only
@pytest.mark.parametrize("kind,exporter", [("udmabuf", "udmabuf"), ("heap", "system")])
def test_query_inferred_on_stock(kind, exporter):
    info = cli_json("info", "--create", f"{kind}:size=4M")
    assert info["origin"] == "inferred", info
    assert info["source"] == "system", info
    assert info["exporter"] == exporter, info
    assert info["size"] == 4 << 20, info
    assert info["numa_node"] is None, info
    assert info["provider"] is None, info


@pytest.mark.stock_only
def test_select_uses_makers_node_hint_on_stock():
    out = cli_json("select", "--create", "udmabuf:node=1")
    assert out["choice"]["hint_used"], out
    assert "hint says node 1" in out["choice"]["reason"], out


@pytest.mark.stock_only
def test_reg_on_stock_rxe_is_refused_with_reason(nic):
    args = ["reg", "--create", f"udmabuf:node={nic.numa_node}", "--device", nic.rxe]
    r = cli(*args, check=False)
    record(args, "EOPNOTSUPP", r)
    assert r.returncode == 1, r
    assert "no dma-buf MR support" in r.stderr, r.stderr
    assert "(Operation not supported)" in r.stderr, r.stderr


@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
def test_query_from_kernel_on_patched(node):
    info = cli_json("info", "--create", f"udmabuf:size=4M,node={node}")
    assert info["origin"] == "kernel", info
    assert info["source"] == "system", info
    assert info["numa_node"] == node, info
    assert not info["numa_mixed"], info


@pytest.mark.patched_only
def test_query_interleaved_is_mixed_on_patched():
    info = cli_json("info", "--create", "udmabuf:size=8M,interleave")
    assert info["origin"] == "kernel", info
    assert info["numa_mixed"], info
    assert info["numa_node"] in (0, 1), info


@pytest.mark.patched_only
def test_reg_on_patched_rxe(nic):
    out = cli_json("reg", "--create", f"udmabuf:node={nic.numa_node}", "--device", nic.rxe,
                   "--offset", "4096", "--length", "1M", "--iova", "0x10001000")
    assert out["deregistered"], out
    assert out["source"]["origin"] == "kernel", out
    assert out["choice"]["endpoint"]["pci"] == nic.pci, out
    assert not out["choice"]["hint_used"], out


def record(args, expected, r):
    """A row of the bad-input matrix (tests/reliability/badinput-matrix reads LAB_OUT)."""
    out = os.environ.get("LAB_OUT")
    if out:
        reason = (r.stderr.strip().splitlines() or [""])[0]
        with open(os.path.join(out, "badinput.tsv"), "a") as f:
            f.write(f"ibv_reg_dmabuf_mr_ex (lab, {os.environ.get('LAB_KERNEL')})\t"
                    f"{' '.join(args)}\t{expected}\texit {r.returncode}\t{reason}\n")


def test_range_beyond_buffer_refused_before_kernel(nic):
    args = ["reg", "--create", "udmabuf:size=2M", "--device", nic.rxe,
            "--offset", "1M", "--length", "2M"]
    r = cli(*args, check=False)
    record(args, "EINVAL", r)
    assert r.returncode == 1, r
    assert "beyond the dma-buf's 2097152 bytes" in r.stderr, r.stderr
    assert "(Invalid argument)" in r.stderr, r.stderr


def test_bad_access_refused(nic):
    args = ["reg", "--create", "udmabuf:size=2M", "--device", nic.rxe,
            "--access", "local_write,on_demand"]
    r = cli(*args, check=False)
    record(args, "EINVAL", r)
    assert r.returncode == 1 and "IBV_ACCESS_ON_DEMAND is not allowed" in r.stderr, r


def test_mr_layout_pinned_against_rxe_provider():
    """The library's verbs_mr mirror against the installed rxe provider (and, on the patched
    kernel, a dma-buf MR released by plain ibv_dereg_mr)."""
    r = labguest.run([MR_LAYOUT], check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   layout_vs_provider" in r.stdout, r.stdout


def xfer(*args, timeout=300):
    r = labguest.run([XFER, "--json", *args], check=False, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_loopback_host_memory(nic):
    out = xfer("--device", nic.rxe, "--size", "8M")
    assert out["verified"], out


@pytest.mark.patched_only
@pytest.mark.parametrize("src,dst", [
    ("udmabuf:node=0", "udmabuf:node=1"),
    ("host", "udmabuf:node=1"),
    ("udmabuf:node=1", "host"),
    ("heap", "udmabuf:interleave"),
])
def test_loopback_dmabuf_write_read_verified(nic, src, dst):
    out = xfer("--device", nic.rxe, "--size", "3M", "--src", src, "--dst", dst,
               "--src-offset", "4096", "--dst-offset", "8192")
    assert out["verified"], out
    for side, spec in (("src", src), ("dst", dst)):
        if spec != "host":
            assert out[side]["origin"] == "kernel", out
            assert out[side]["endpoint_pci"] == nic.pci, out


@pytest.mark.patched_only
def test_plain_ibv_reg_dmabuf_mr_on_rxe(libibverbs):
    """Plain ibv_reg_dmabuf_mr on rxe: EOPNOTSUPP from libibverbs where rdma-core's rxe provider
    has no dma-buf op (Debian's 44, unpatched 65), registered where rdma-core-patches gave it
    one; the library's own registration works with either (test_mr_layout checks both)."""
    r = labguest.run([MR_LAYOUT], check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    if libibverbs.dma_eps:
        want = "plain ibv_reg_dmabuf_mr (provider with a dma-buf op): registered"
    else:
        want = ("plain ibv_reg_dmabuf_mr (provider without a dma-buf op): "
                f"{os.strerror(errno.EOPNOTSUPP)}")
    assert want in r.stdout.splitlines(), r.stdout


def test_runs_against_the_expected_libibverbs(libibverbs):
    """This process and the tools it starts map the libibverbs the run asked for: the v65
    build's (LAB_RDMA_CORE_BUILD, through LD_LIBRARY_PATH) or else the system's."""
    print(f"libibverbs: {libibverbs}")
    assert labguest.libibverbs_loaded_by([CLI, "--help"]) == libibverbs.path
    if libibverbs.build:
        lib = os.path.join(os.path.realpath(libibverbs.build), "lib")
        assert os.path.dirname(libibverbs.path) == lib, libibverbs
        assert libibverbs.rdma_core == "65.0", libibverbs
        patched = os.environ.get("LAB_RDMA_CORE_ID", "").startswith("65.0-patched-")
        assert libibverbs.dma_eps == patched, libibverbs
    else:
        deb = labguest.run(["dpkg-query", "-W", "-f", "${Version}", "libibverbs1"]).stdout
        assert libibverbs.path.startswith("/usr/lib/"), libibverbs
        assert deb.startswith(libibverbs.rdma_core + "-"), (deb, libibverbs)
        assert not libibverbs.dma_eps, libibverbs


def test_query_cost_path(lab):
    """Which query path this kernel takes (figures are printed by run-suite)."""
    r = labguest.run([os.path.join(BUILD, "tools/bench/ibv_dmabuf_microbench"), "--json",
                      "--iters", "200"], timeout=300)
    figs = {f["name"]: f for f in json.loads(r.stdout)["figures"]}
    q = figs["ibv_query_dmabuf"]
    assert not q["skipped"], q
    assert q["note"] == ("kernel ioctl path" if lab.patched else "fdinfo path"), q


@pytest.mark.patched_only
def test_endpoint_sent_to_the_kernel_only_when_it_matters(lab, rxeb, libibverbs):
    """ibv_reg_dmabuf_mr_ex() maps through the endpoint it chose. Endpoint 0, the default (where
    the kernel maps a dma-buf registration that names none), is not sent through
    rdma-core-patches' libibverbs: plain ibv_reg_dmabuf_mr() then, which spares the kernel's
    reachability check (a describe of the whole buffer, O(size)), so nothing is confirmed.
    Another endpoint is sent, and the kernel confirms it. The library's own ioctl (Debian's
    rdma-core 44) asks the kernel which endpoint it used either way. A choice between two
    endpoints is made from the kernel's description of the buffer."""
    ix = labguest.ibverbs_ext()
    cases = [(lab.nics[0].rxe, 0, 0, lab.nics[0].pci), (rxeb.rxe, 0, 0, rxeb.nic3.pci),
             (rxeb.rxe, 1, 1, rxeb.nic2.pci)]
    for dev, node, want_ep, want_pci in cases:
        ctx = ix.Context(dev)
        try:
            with ctx.alloc_pd() as pd, ix.alloc_dmabuf(2 * labguest.MiB, numa_node=node) as buf:
                mr = ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE,
                                         comp_mask=ix._capi.IBV_REG_DMABUF_MR_EX_CHOICE)
                c = mr.choice
                mr.close()
        finally:
            ctx.close()
        print(f"{dev}, node {node}: {c.reason}")
        assert (c.endpoint.index, c.endpoint.pci) == (want_ep, want_pci), c.reason
        sent = want_ep != 0
        assert c.kernel_reported == (sent or not libibverbs.dma_eps), c.reason
        if dev == rxeb.rxe:
            assert f"system memory on node {node} (kernel)" in c.reason, c.reason
