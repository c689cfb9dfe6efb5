# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf on the sysfs fixtures: output agrees with the expectations, JSON is valid, and
every bad input gives a one-line reason and the documented exit status (1 failure, 2 usage)."""
import json
import os

import pytest


def _hugetlb_memfd():
    try:
        os.close(os.memfd_create("probe", os.MFD_HUGETLB | os.MFD_CLOEXEC))
        return True
    except OSError:
        return False


NEEDS_HUGETLB = pytest.mark.skipif(not _hugetlb_memfd(),
                                   reason="this kernel makes no MFD_HUGETLB memfd "
                                   "(no CONFIG_HUGETLBFS)")

TOPOLOGIES = ["dgx-h100", "socket-direct", "data-direct", "single-nic", "lab-vm",
              "lab-vm-patched", "epyc-nps2", "soft-rdma"]


@pytest.mark.parametrize("topo", TOPOLOGIES)
def test_endpoints_json_matches_expectations(cli, fixtures_dir, expectations, topo):
    exp = expectations["topologies"][topo]["rdma_devices"]
    got = cli.json("endpoints", root=os.path.join(fixtures_dir, topo))
    by_dev = {}
    for e in got:
        by_dev.setdefault(e["device"], []).append(e)
    assert sorted(by_dev) == sorted(exp)
    for dev, eps in exp.items():
        assert [(e["index"], e["kind"], e["pci"] or None, e["numa_node"] if e["numa_node"] >= 0 else None)
                for e in eps["endpoints"]] == \
               [(e["index"], e["kind"], e["pci"], e["numa_node"]) for e in by_dev[dev]]


@pytest.mark.parametrize("topo", TOPOLOGIES)
@pytest.mark.parametrize("view", ["remote", "local"])
def test_select_best_device_is_preferred(cli, fixtures_dir, expectations, topo, view):
    """select without --device ranks devices: for the machine the tree describes (its rdma-core
    assumed: `remote`), or with --local-view as this host (rdma-core 44 here: `stock`)."""
    t = expectations["topologies"][topo]
    flags = ["--local-view"] if view == "local" else []
    for source, best in t["stock" if flags else "remote"]["best"].items():
        out = cli.json(*flags, "--source", source, "select",
                       root=os.path.join(fixtures_dir, topo))
        assert out["choice"]["endpoint"]["device"] in best["preferred"], (source, out)
        assert out["choice"]["path_class"] == best["class"], (source, out)
        assert out["source"]["origin"] == "described"


def test_data_direct_assumed_on_another_machine(cli, fixtures_dir):
    """A Direct-NIC tree: the GPU goes to the data-direct function, assumed usable with the
    local-host caveat; --local-view restores this host's answer (the PF, rdma-core 44)."""
    root = os.path.join(fixtures_dir, "data-direct")
    eps = {e["index"]: e for e in cli.json("endpoints", "mlx5_0", root=root)}
    assert eps[1]["kind"] == "data_direct" and eps[1]["available"]
    assert eps[1]["assumed"] == "rdma-core >= 54 on that machine"
    out = cli.json("--source", "p2p:0008:03:00.0", "select", "--device", "mlx5_0", root=root)
    assert out["choice"]["endpoint"]["kind"] == "data_direct", out
    assert "availability assumed (rdma-core >= 54 on that machine); this host's libmlx5" \
        in out["choice"]["reason"]
    out = cli.json("--local-view", "--source", "p2p:0008:03:00.0", "select", "--device",
                   "mlx5_0", root=root)
    assert out["choice"]["endpoint"]["kind"] == "pf", out
    eps = {e["index"]: e for e in cli.json("--local-view", "endpoints", "mlx5_0", root=root)}
    assert not eps[1]["available"] and eps[1]["assumed"] is None


def test_explain_lists_every_endpoint_with_reasons(cli, fixtures_dir):
    out = cli.json("--source", "p2p:0000:1b:00.0", "explain", "--device", "mlx5_0",
                   root=os.path.join(fixtures_dir, "dgx-h100"))
    eps = out["endpoints"]
    assert eps[0]["endpoint"]["pci"] and eps[0]["path_class"] == "PIX"
    assert all(e["reason"] for e in eps)
    assert "P2P memory of 0000:1b:00.0 (described)" in eps[0]["reason"]


def test_text_output(cli, fixtures_dir):
    r = cli("--source", "system:node=1", "select", root=os.path.join(fixtures_dir, "lab-vm"),
            check=0)
    assert r.stdout.startswith("rxe1 endpoint 0 (netdev 0000:41:00.0, node 1): PHB\n"), r.stdout
    assert "why: chose endpoint 0" in r.stdout


def test_topology_reports_skipped_files(cli, fixtures_dir):
    out = cli.json("topology", root=os.path.join(fixtures_dir, "broken"))
    assert "mlx5_5" not in out["devices"] and "mlx5_7" not in out["devices"]
    text = "\n".join(out["skipped"])
    for frag in ("class/infiniband/mlx5_7: points outside the tree",
                 "class/infiniband/mlx5_9: dangling link",
                 "class/infiniband/mlx5_5: not a device directory",
                 "node1/distance: 3 entries for 2 nodes",
                 "0000:81:00.0/numa_node: missing or malformed"):
        assert frag in text, text


def test_node_hint_for_described_unknown(cli, fixtures_dir):
    root = os.path.join(fixtures_dir, "lab-vm")
    out = cli.json("--source", "unknown", "select", root=root)
    assert out["choice"]["fallback"]
    out = cli.json("--source", "unknown", "--node-hint", "1", "select", root=root)
    assert out["choice"]["endpoint"]["device"] == "rxe1" and out["choice"]["hint_used"]


@pytest.mark.parametrize("args,rc,frag", [
    (["frobnicate"], 2, "unknown command 'frobnicate'"),
    ([], 2, "Usage:"),
    (["info"], 2, "info needs --fd N or --create KIND"),
    (["select"], 2, "needs --fd N, --create KIND or --source SPEC"),
    (["--source", "system", "--path", "sideways", "select"], 2, "bad --path 'sideways'"),
    (["--source", "gpu", "select"], 1, "expected system[:node=N], p2p:ADDR, private or unknown"),
    (["--source", "system:node=7", "select"], 1, "NUMA node 7 is not online"),
    (["--source", "p2p:0000:ee:00.0", "select"], 1, "no PCI function 0000:ee:00.0"),
    (["--source", "system", "--device", "mlx5_9", "select"], 1, "no RDMA device mlx5_9"),
    (["--source", "system:node=0", "--device", "rxe0", "--path", "endpoint=3", "select"], 1,
     "endpoint 3 does not exist"),
    (["--source", "system:node=0", "--path", "numa=5", "select"], 1, "NUMA node 5 is not online"),
    (["--source", "private", "select"], 1, "no device can use this memory"),
    (["--fd", "zero", "info"], 2, "bad --fd 'zero'"),
    (["--fd", "99", "info"], 1, "fd 99 is not open"),
    (["--fd", "0", "info"], 1, "not a dma-buf"),
    (["--create", "gpu:size=1M", "info"], 2, "bad --create 'gpu:size=1M'"),
    (["--create", "udmabuf:size=1Q", "info"], 2, "bad --create"),
    (["--fd", "0", "--create", "heap", "info"], 2, "--fd and --create are exclusive"),
    (["--create", "udmabuf:hugepages", "info"], 2, "bad --create 'udmabuf:hugepages'"),
    (["--create", "heap:hugetlb", "info"], 1,
     "huge pages (IBV_DMABUF_ALLOC_HUGETLB) are only for udmabuf"),
    pytest.param(["--create", "udmabuf:size=3M,hugetlb", "info"], 1,
                 "size 3145728 is not a multiple of the huge page size", marks=NEEDS_HUGETLB),
    (["--create", "p2p:0000:44:00.0", "info"], 2, "bad --create 'p2p:0000:44:00.0'"),
    (["--create", "vfio", "info"], 2, "bad --create 'vfio'"),
    (["--create", "vfio:0000:44:00.0,bar=7", "info"], 2, "bad --create"),
    (["--create", "vfio:0000:44:00.0,size=1Q", "info"], 2, "bad --create"),
    (["--create", "vfio:0000:44:00.0,wc", "info"], 2, "bad --create"),
    (["--create", "vfio:44:00", "info"], 1, "pci_addr '44:00' is not a PCI address"),
    (["--create", "vfio:0000:44:00.7", "info"], 1, "no PCI function 0000:44:00.7"),
    (["--create", "vfio:0000:44:00.0,bar=1", "info"], 1, "0000:44:00.0 has no BAR 1"),
    (["--create", "vfio:0000:44:00.0,bar=2,offset=63M", "info"], 1,
     "2097152 bytes at offset 66060288 do not fit BAR 2 of 0000:44:00.0"),
    (["--create", "vfio:0000:44:00.0,size=128M", "info"], 1,
     "no memory BAR of 0000:44:00.0 holds 134217728 bytes"),
    (["--create", "vfio:0000:44:00.0,size=4097", "info"], 1,
     "size 4097 is not a non-zero multiple of the page size"),
    (["--create", "vfio:0000:44:00.0", "info"], 1,
     "0000:44:00.0 is bound to no driver, not vfio-pci"),
    (["--access", "local_write,teleport", "reg"], 2, "bad --access"),
    (["reg", "--create", "heap"], 2, "reg needs -d/--ib-dev DEV"),
    (["--node-hint", "-3", "topology"], 2, "bad --node-hint"),
    (["topology", "extra"], 2, "unexpected argument 'extra'"),
    (["--offset", "-1", "topology"], 2, "bad --offset"),
])
def test_bad_input(cli, fixtures_dir, args, rc, frag):
    r = cli(*args, root=os.path.join(fixtures_dir, "lab-vm"))
    log = os.environ.get("DMP_BADINPUT_LOG")
    if log:  # the bad-input matrix (tests/reliability/badinput-matrix)
        reason = (r.stderr.strip().splitlines() or [""])[0]
        with open(log, "a") as f:
            f.write(f"ibv_dmabuf (CLI)\t{' '.join(args) or '(no arguments)'}\t"
                    f"exit {rc}\texit {r.returncode}\t{reason}\n")
    assert r.returncode == rc, (r.stdout, r.stderr)
    out = r.stderr if rc else r.stdout
    assert frag in (r.stderr + r.stdout), r.stderr
    if rc == 1:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ibv_dmabuf: "), r.stderr


def test_bad_sysfs_root(cli):
    r = cli("topology", root="/nonexistent/tree")
    assert r.returncode == 2 and "not a readable directory" in r.stderr


def test_create_without_udmabuf_on_host(cli, fixtures_dir):
    if os.path.exists("/dev/udmabuf"):
        pytest.skip("this kernel has /dev/udmabuf: the lab suite covers --create")
    r = cli("info", "--create", "udmabuf", root=os.path.join(fixtures_dir, "lab-vm"))
    assert r.returncode == 1 and "/dev/udmabuf" in r.stderr, r.stderr


def test_help(cli):
    r = cli("--help", check=0)
    assert "Commands:" in r.stdout and "--sysfs-root" in r.stdout


def _microbench_json(microbench, *args, **kw):
    import subprocess
    r = subprocess.run([microbench, "--json", "--iters", "100", *args], capture_output=True,
                       text=True, timeout=120, **kw)
    return r, {f["name"]: f for f in json.loads(r.stdout)["figures"]}


def test_microbench_failed_query_is_a_failure(microbench, fixtures_dir, tmp_path):
    """A query that fails is no figure: "failed: <reason>", exit status 1 (it used to time the
    failing call and print it as the "fdinfo path"). --fd on a regular file, then on a
    number that is no open fd."""
    root = os.path.join(fixtures_dir, "dgx-h100")
    plain = tmp_path / "plain"
    plain.write_bytes(b"not a dma-buf")
    with open(plain, "rb") as f:
        fd = f.fileno()
        r, figs = _microbench_json(microbench, "--sysfs-root", root, "--fd", str(fd),
                                   pass_fds=(fd,))
    q = figs["ibv_query_dmabuf"]
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert q["failed"] and not q["skipped"] and "median" not in q, q
    assert q["note"] == f"failed: ibv_query_dmabuf(fd {fd}): fd {fd} is a regular file, " \
        "not a dma-buf", q
    assert f"ibv_query_dmabuf: failed: ibv_query_dmabuf(fd {fd})" in r.stderr, r.stderr
    # the other figures still measured, and not failed
    assert not figs["endpoint choice (cached)"]["failed"], figs
    assert figs["device ranking (all devices)"]["median"] > 0, figs
    r, figs = _microbench_json(microbench, "--sysfs-root", root, "--fd", "999")
    assert r.returncode == 1 and figs["ibv_query_dmabuf"]["note"] == \
        "failed: ibv_query_dmabuf(fd 999): fd 999 is not open", (r.stdout, r.stderr)


def test_microbench_failed_choice_and_ranking_are_failures(microbench, tmp_path):
    """A sysfs tree without RDMA devices: the choice on a named device and the ranking fail,
    each with the library's reason, and the exit status says so."""
    r, figs = _microbench_json(microbench, "--sysfs-root", str(tmp_path), "-d", "mlx5_0")
    assert r.returncode == 1, (r.stdout, r.stderr)
    choice, rank = figs["endpoint choice (cached)"], figs["device ranking (all devices)"]
    assert choice["failed"] and choice["note"].startswith(
        "failed: ibv_select_dma_endpoint: no RDMA device mlx5_0 in "), choice
    assert rank["failed"] and rank["note"].startswith(
        "failed: ibv_rank_dmabuf_devices: no RDMA devices in "), rank
    assert not figs["topology discovery (uncached)"]["failed"], figs


def test_microbench_prints_figures(microbench, fixtures_dir):
    import subprocess
    r = subprocess.run([microbench, "--json", "--iters", "100", "--sysfs-root",
                        os.path.join(fixtures_dir, "dgx-h100")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    figs = {f["name"]: f for f in json.loads(r.stdout)["figures"]}
    assert figs["topology discovery (uncached)"]["median"] > 0
    assert figs["endpoint choice (cached)"]["unit"] == "us"
