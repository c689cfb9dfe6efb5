# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf_bw and ibv_dmabuf_regbench on real rxe devices (runs INSIDE the lab).

Both kernels: WRITE/READ/SEND loopback on rxe0 with the data checked; a size sweep; two QPs;
two paths at once (rxe0 + rxe1, each in loopback: traffic between the two devices of one guest
does not work) with the endpoint of each path and why; -e (sleeping on CQ events) with the data
checked and the sender's polls counted; a peer killed mid-run on either side
ends the other with one line; parameter mismatch with real devices; the bandwidth gate against
perftest's ib_write_bw in the same boot (and the gate failing under a test-only slowdown);
ibv_dmabuf_regbench's rows; ibv_dmabuf_regpair's --contiguous and the page runs it records.
Stock 6.12: every dma-buf backend (udmabuf, system heap, DRM/vgem) stops at registration with
the library's reason (rxe has no dma-buf MRs there).
Patched: udmabuf and system-heap buffers carry WRITE/READ/SEND with --check, through the
endpoint of the buffer's node; so does a DRM (vgem) buffer, through rxe's default endpoint, its
source reported unknown (exporter "drm" has no describe op and is never guessed).
Two guests (labrun --peer-cmd): a client here against an ibv_dmabuf_bw server on the peer.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import labguest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = labguest.BUILD
BW = os.path.join(BUILD, "tools/bw/ibv_dmabuf_bw")
REGBENCH = os.path.join(BUILD, "tools/bw/ibv_dmabuf_regbench")
REGPAIR = os.path.join(BUILD, "tools/bench/ibv_dmabuf_regpair")
NOBODY = 65534
FIGRUNS = os.path.join(REPO, "tools/bench/figruns.py")


@pytest.fixture(scope="module", autouse=True)
def built():
    labguest.built(BW, REGBENCH)


def pair(port, server_args, client_args=None, timeout=180):
    """Server and client of one run on this guest; returns (client, (rc, out, err)).

    The client is run once: it retries the connection itself until the server listens.
    """
    base = [BW, "-p", str(port), "--timeout", "30"]
    client_args = server_args if client_args is None else client_args
    with labguest.Background(base + server_args) as srv:
        time.sleep(0.3)
        client = labguest.run(base + client_args + ["127.0.0.1"], timeout=timeout, check=False)
        server = srv.wait(timeout=60)
    return client, server


def ok_json(client, server):
    srv_rc, srv_out, srv_err = server
    assert client.returncode == 0, f"client: {client.stdout}\n{client.stderr}\nserver: {srv_err}"
    assert srv_rc == 0, f"server: {srv_out}\n{srv_err}"
    return json.loads(client.stdout), json.loads(srv_out)


def one_line(stderr, frag=""):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line, got: {stderr!r}"
    assert frag in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ host memory


@pytest.mark.parametrize("op", ["write", "read", "send"])
def test_op_loopback_checked(lab, tcp_port, op):
    nic = lab.nics[0]
    cli, srv = ok_json(*pair(tcp_port, ["-d", nic.rxe, "--op", op, "-n", "300", "--check",
                                        "--json"]))
    for side in (cli, srv):
        assert side["op"] == op and side["check"], side
        (res,) = side["results"]
        assert res["bytes"] == 65536 and res["iterations"] == 300, res
        assert res["check"] == "ok", res
        assert res["messages"] == 300 and res["bw_avg_MiBps"] > 0, res
        assert res["bw_peak_MiBps"] >= res["bw_avg_MiBps"], res
    (path,) = cli["paths"]
    assert path["registration"] == "ibv_reg_mr", path
    assert path["endpoint"]["pci"] == nic.pci and path["endpoint"]["numa_node"] == 0, path
    assert "ibv_reg_mr" in path["reason"], path
    print(f"{op}: {cli['results'][0]['bw_avg_MiBps']:.1f} MiB/s")


@pytest.mark.parametrize("op", ["write", "read", "send"])
def test_events_loopback_checked(lab, tcp_port, op):
    """-e: both sides sleep on their completion channels between empty polls; the data still
    checks, and the sender polled a few times per completion where polling alone makes
    thousands of empty polls (the figure under instruction counting relies on it)."""
    args = ["-d", lab.nics[0].rxe, "--op", op, "-n", "300", "-Q", "50", "--check", "--json"]
    cli, srv = ok_json(*pair(tcp_port, args + ["-e"]))
    for side in (cli, srv):
        (res,) = side["results"]
        assert res["check"] == "ok" and res["messages"] == 300, res
    (res,) = cli["results"]
    completions = 300 // 50
    assert res["cq_polls"] <= 20 * completions + 20, res
    polled, _ = ok_json(*pair(tcp_port + 5000, args))  # a port no other test takes
    assert polled["results"][0]["cq_polls_empty"] > 20 * completions + 20, polled["results"]


def test_sweep_checked_with_table(lab, tcp_port):
    nic = lab.nics[0]
    client, (srv_rc, srv_out, srv_err) = pair(tcp_port, ["-d", nic.rxe, "-a", "-s", "64K",
                                                         "-n", "40", "--check"])
    assert client.returncode == 0 and srv_rc == 0, f"{client.stderr}\n{srv_err}"
    header = " #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]"
    for out in (client.stdout, srv_out):
        assert header in out.splitlines(), out
        rows = [ln.split() for ln in out.splitlines() if re.match(r" \d+\s+\d+\s", ln)]
        assert [int(r[0]) for r in rows] == [2 << i for i in range(16)], out
        assert all(r[1] == "40" for r in rows), out


def test_two_qps(lab, tcp_port):
    cli, _ = ok_json(*pair(tcp_port, ["-d", lab.nics[0].rxe, "-q", "2", "-n", "200",
                                      "--check", "--json"]))
    assert cli["qps_per_path"] == 2
    assert cli["results"][0]["messages"] == 400 and cli["results"][0]["check"] == "ok"


def test_two_paths_each_on_its_endpoint(lab, tcp_port):
    """-d rxe0,rxe1: a path per device, a row per path, and which endpoint each used."""
    devs = ",".join(n.rxe for n in lab.nics)
    cli, srv = ok_json(*pair(tcp_port, ["-d", devs, "-n", "200", "--check", "--json"]))
    assert [p["device"] for p in cli["paths"]] == [n.rxe for n in lab.nics]
    for p, nic in zip(cli["paths"], lab.nics):
        assert p["endpoint"]["pci"] == nic.pci and p["endpoint"]["numa_node"] == nic.numa_node
        assert p["endpoint"]["via"] == nic.netdev, p
        assert p["remote"]["device"] == nic.rxe, p
    res = cli["results"][0]
    assert res["messages"] == 400 and res["check"] == "ok"
    assert [p["messages"] for p in res["paths"]] == [200, 200]
    assert srv["results"][0]["paths"][1]["device"] == lab.nics[1].rxe


def test_two_paths_text_report(lab, tcp_port):
    devs = ",".join(n.rxe for n in lab.nics)
    client, (srv_rc, srv_out, srv_err) = pair(tcp_port, ["-d", devs, "-n", "100"])
    assert client.returncode == 0 and srv_rc == 0, f"{client.stderr}\n{srv_err}"
    out = client.stdout
    for i, nic in enumerate(lab.nics):
        assert f" path {i}: {nic.rxe} port 1" in out, out
        assert f"endpoint 0 (netdev {nic.pci} via {nic.netdev}, node {nic.numa_node})" in out
    lines = out.splitlines()
    total = [i for i, ln in enumerate(lines) if ln.startswith(" 65536 ")]
    assert total and lines[total[0] + 1].startswith(" path0 ") and \
        lines[total[0] + 2].startswith(" path1 "), out


# ------------------------------------------------------------------ bad input with devices


def test_mismatch_with_real_devices(lab, tcp_port):
    dev = lab.nics[0].rxe
    client, (srv_rc, _, srv_err) = pair(tcp_port, ["-d", dev, "--op", "read"],
                                        ["-d", dev, "--op", "write"], timeout=60)
    assert client.returncode == 1 and srv_rc == 1
    one_line(client.stderr, "parameter mismatch with the server: --op write here, read on")
    one_line(srv_err, "parameter mismatch with the client: --op read here, write on")


def test_server_with_missing_device_fails_at_once(lab, tcp_port):
    """A server opens its devices before it listens: a missing one stops it at once, and a
    client then finds nothing to connect to."""
    t0 = time.monotonic()
    r = labguest.run([BW, "-d", "rxe7", "-p", str(tcp_port), "--timeout", "30"], check=False,
                     timeout=60)
    assert r.returncode == 1 and time.monotonic() - t0 < 15, r
    one_line(r.stderr, "no RDMA device 'rxe7' (this host has: ")
    r = labguest.run([BW, "-d", lab.nics[0].rxe, "-p", str(tcp_port), "--timeout", "2",
                      "127.0.0.1"], check=False, timeout=60)
    assert r.returncode == 1
    one_line(r.stderr, f"cannot connect to 127.0.0.1:{tcp_port}: Connection refused")


def test_client_with_missing_device_tells_the_server(lab, tcp_port):
    """A client opens its devices after the parameters agree: its failure reaches the server,
    which says the client failed, and why."""
    client, (srv_rc, _, srv_err) = pair(tcp_port, ["-d", lab.nics[0].rxe], ["-d", "rxe7"],
                                        timeout=60)
    assert srv_rc == 1 and client.returncode == 1
    one_line(client.stderr, "no RDMA device 'rxe7' (this host has: ")
    one_line(srv_err, "client failed: no RDMA device 'rxe7'")


def test_server_without_client_times_out(lab, tcp_port):
    t0 = time.monotonic()
    r = labguest.run([BW, "-d", lab.nics[0].rxe, "-p", str(tcp_port), "--timeout", "2"],
                     check=False, timeout=60)
    assert r.returncode == 1 and time.monotonic() - t0 < 20, r
    one_line(r.stderr, f"no client connected to TCP port {tcp_port} within 2 s")


def test_server_against_client_that_vanishes(lab, tcp_port):
    """A client that connects and goes away before HELLO: the server says so, rc 1."""
    with labguest.Background([BW, "-d", lab.nics[0].rxe, "-p", str(tcp_port), "--timeout",
                              "10"]) as srv:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        rc, _, err = srv.wait(timeout=60)
    assert rc == 1
    one_line(err, "the client closed the connection")


TRAFFIC_PKTS = 1000  # rxe packets sent: a few 64 KiB writes at the lab's RoCE MTU


@pytest.mark.parametrize("victim", ["server", "client"])
def test_peer_killed_mid_run(lab, tcp_port, victim):
    """SIGKILL one side while traffic flows: the other stops within seconds, one line, rc 1."""
    dev = lab.nics[0].rxe
    args = [BW, "-d", dev, "-p", str(tcp_port), "--timeout", "20", "-n", "2000000"]
    sent = f"/sys/class/infiniband/{dev}/ports/1/hw_counters/sent_pkts"
    assert os.path.exists(sent), f"{sent} missing: no way to see the traffic"
    with labguest.Background(args) as srv:
        base = int(labguest.read(sent))
        with labguest.Background(args + ["127.0.0.1"]) as cli:
            # Traffic flows when the device has sent packets of it (the TCP setup does not
            # count there): connected, registered, writes going.
            t0, moved = time.monotonic(), 0
            while srv.alive() and cli.alive() and time.monotonic() - t0 < 90:
                moved = int(labguest.read(sent)) - base
                if moved >= TRAFFIC_PKTS:
                    break
                time.sleep(0.2)
            assert srv.alive() and cli.alive(), (srv.result, cli.result)
            assert moved >= TRAFFIC_PKTS, \
                f"{dev} sent {moved} packets in {time.monotonic() - t0:.0f} s: no traffic"
            dead, other = (srv, cli) if victim == "server" else (cli, srv)
            dead.proc.send_signal(signal.SIGKILL)
            t0 = time.monotonic()
            rc, out, err = other.wait(timeout=60)
            took = time.monotonic() - t0
    assert rc == 1, (rc, out, err)
    line = one_line(err)
    peer = "server" if victim == "server" else "client"
    assert peer in line, line
    assert took < 25, f"{took:.1f} s to notice: {line}"
    print(f"{victim} killed: the other side said in {took:.1f} s: {line}")


# ------------------------------------------------------------------ dma-buf backends


@pytest.fixture(scope="module")
def drm_device():
    """A DRM device for the drm backend: vgem (a module of the stock kernels, built into the
    patched lab kernel). Its skip is in no kernel's manifest: a lab without it fails the run."""
    if not (os.path.isdir("/dev/dri") and os.listdir("/dev/dri")):
        modroot = os.environ.get("LAB_MODROOT")
        if modroot:
            labguest.run(["modprobe", "-d", modroot, "vgem"], check=False, timeout=60)
    if not (os.path.isdir("/dev/dri") and os.listdir("/dev/dri")):
        pytest.skip("no DRM device in this guest (vgem: a module of the stock kernels, built "
                    "into the patched lab kernel)")
    return sorted(os.listdir("/dev/dri"))


@pytest.mark.stock_only
@pytest.mark.parametrize("mem", ["udmabuf:node=0", "heap", "drm"])
def test_stock_refuses_dmabuf_mrs_with_the_reason(lab, tcp_port, mem, request):
    if mem == "drm":
        request.getfixturevalue("drm_device")
    dev = lab.nics[0].rxe
    client, (srv_rc, _, srv_err) = pair(tcp_port, ["-d", dev, "--mem", mem, "-n", "10"],
                                        timeout=60)
    assert client.returncode == 1 and srv_rc == 1, (client.stdout, srv_err)
    for err in (client.stderr, srv_err):
        line = one_line(err, "ibv_reg_dmabuf_mr_ex of ")
        assert "this kernel's driver has no dma-buf MR support" in line, line
    print(one_line(client.stderr))


def test_drm_buffer_is_made_and_never_guessed(lab, drm_device):
    """A vgem dumb buffer exported with PRIME: made, queried; exporter "drm" is not guessed."""
    r = labguest.run([BW, "--list-mem"])
    assert any(ln.startswith("drm      available") for ln in r.stdout.splitlines()), r.stdout
    r = labguest.run([REGBENCH, "-d", lab.nics[0].rxe, "--mem", "drm", "--sizes", "64K",
                      "-n", "3", "--min-reps", "1", "--json"], timeout=300)
    out = json.loads(r.stdout)
    assert out["memory_desc"].startswith("vgem dumb buffer on /dev/dri/card"), out
    assert out["query"]["exporter"] == "drm", out
    if out["query"]["origin"] == "inferred":
        assert out["query"]["source"] == "unknown", out
    print("drm buffer:", out["memory_desc"], out["query"])


@pytest.mark.patched_only
@pytest.mark.parametrize("op", ["write", "read", "send"])
@pytest.mark.parametrize("node", [0, 1])
def test_patched_udmabuf_traffic_checked(lab, tcp_port, op, node):
    nic = lab.nics[node]
    cli, srv = ok_json(*pair(tcp_port, ["-d", nic.rxe, "--mem", f"udmabuf:node={node}",
                                        "--op", op, "-n", "200", "--check", "--json"]))
    assert cli["results"][0]["check"] == "ok"
    for side in (cli, srv):
        (p,) = side["paths"]
        assert p["registration"] == "ibv_reg_dmabuf_mr_ex", p
        assert p["source"]["type"] == "system", p
        assert p["endpoint"]["pci"] == nic.pci and p["path_class"] == "PHB", p
        assert p["reason"].startswith("chose endpoint 0"), p


@pytest.mark.patched_only
def test_patched_heap_traffic_checked(lab, tcp_port):
    cli, _ = ok_json(*pair(tcp_port, ["-d", lab.nics[0].rxe, "--mem", "heap", "-n", "200",
                                      "--check", "--json"]))
    assert cli["results"][0]["check"] == "ok"
    assert cli["paths"][0]["source"]["exporter"] == "system"


@pytest.mark.patched_only
def test_patched_two_paths_say_why(lab, tcp_port):
    """A node-1 udmabuf on both devices: rxe1's endpoint is local (PHB), rxe0's remote (SYS)."""
    devs = ",".join(n.rxe for n in lab.nics)
    cli, _ = ok_json(*pair(tcp_port, ["-d", devs, "--mem", "udmabuf:node=1", "-n", "200",
                                      "--check", "--json"]))
    p0, p1 = cli["paths"]
    assert p1["path_class"] == "PHB" and p0["path_class"] == "SYS", (p0, p1)
    assert "node 1" in p0["reason"] and "node 1" in p1["reason"]
    assert cli["results"][0]["check"] == "ok"


def test_missing_endpoint_is_refused_before_the_kernel(lab, tcp_port):
    """--path endpoint=1 on rxe (one endpoint): the library refuses, on either kernel."""
    client, (srv_rc, _, srv_err) = pair(tcp_port, ["-d", lab.nics[0].rxe, "--mem", "udmabuf",
                                                   "--path", "endpoint=1", "-n", "10"],
                                        timeout=60)
    assert client.returncode == 1 and srv_rc == 1
    for err in (client.stderr, srv_err):
        line = one_line(err, "ibv_reg_dmabuf_mr_ex of udmabuf: ")
        assert "endpoint 1" in line, line


@pytest.mark.patched_only
@pytest.mark.parametrize("policy", ["default", "numa=1"])
def test_patched_path_policies(lab, tcp_port, policy):
    """--path default / numa=N reach the report: the reason says which policy chose."""
    cli, _ = ok_json(*pair(tcp_port, ["-d", lab.nics[0].rxe, "--mem", "udmabuf:node=0",
                                      "--path", policy, "-n", "50", "--check", "--json"]))
    (p,) = cli["paths"]
    assert p["policy"] == policy and p["endpoint"]["index"] == 0, p
    if policy == "default":
        assert "default" in p["reason"], p
    else:
        assert "node 1" in p["reason"] and p["path_class"] == "SYS", p
    assert cli["results"][0]["check"] == "ok"


@pytest.mark.patched_only
@pytest.mark.parametrize("op", ["write", "read", "send"])
def test_patched_drm_vgem_traffic_checked(lab, tcp_port, drm_device, op):
    """A vgem (DRM) dma-buf on patched rxe: registered, traffic checked, source not guessed.

    Why it must register (Linux 7.2 + the series): vgem is a shmem GEM driver; PRIME exports its
    dumb buffer with drm_gem_prime_dmabuf_ops, whose attach pins the pages, whose vmap maps
    them into the kernel (system memory, write-combined: not I/O memory, so no P2P check) and
    which has no begin_cpu_access (dma_buf_begin_cpu_access only waits for fences). That is all
    ib_umem_dmabuf_get_cpu() asks of an exporter; the bench exports with DRM_RDWR, so write
    access passes its FMODE_WRITE check. The exporter "drm" has no describe op: the library
    reports the source unknown (inferred from the exporter's name) and takes the default
    endpoint. A refusal, a failed --check or a guessed source fails this test.
    """
    nic = lab.nics[0]
    cli, srv = ok_json(*pair(tcp_port, ["-d", nic.rxe, "--mem", "drm:vgem", "--op", op,
                                        "-n", "100", "--check", "--json"]))
    assert cli["results"][0]["check"] == "ok", cli["results"]
    for side in (cli, srv):
        (p,) = side["paths"]
        assert p["memory"].startswith("vgem dumb buffer on /dev/dri/"), p
        assert p["registration"] == "ibv_reg_dmabuf_mr_ex", p
        assert p["source"] == {"type": "unknown", "origin": "inferred", "numa_node": -1,
                               "exporter": "drm"}, p
        assert p["endpoint"]["index"] == 0 and p["endpoint"]["pci"] == nic.pci, p
        assert "unknown memory (inferred): no source information, default endpoint" \
            in p["reason"], p
    print(f"drm {op}: registered and checked:", cli["paths"][0]["reason"])


# ------------------------------------------------------------------ figures


def gate(lab, env=None, args=()):
    """tools/bench/figruns.py gate: 5+5 interleaved runs at 64 KiB in this boot (or ARGS')."""
    return labguest.run(["/usr/bin/python3", FIGRUNS, "gate", "--dev", lab.nics[0].rxe, *args],
                        env=dict({"DMP_BUILD": BUILD}, **(env or {})), timeout=900,
                        check=False)


def test_bandwidth_against_ib_write_bw(lab):
    """The regression gate: ibv_dmabuf_bw against ib_write_bw at 64 KiB, 5+5 runs interleaved
    in this boot (same settings, rxe0 loopback); it fails when the interval of the ratio of
    medians is wholly below 0.8 (figstats.gate).

    0.8 and not the 0.95 goal: one TCG run on a shared 2-core host moves by tens of percent,
    and this gate is there to catch a regression; the goal's verdicts (with their intervals)
    are docs/benchmarks.md's, from tools/bench/reproduce.
    """
    r = gate(lab)
    print(r.stdout, r.stderr[-4000:])
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr[-4000:]}"
    assert r.stdout.strip().splitlines()[-1].endswith(": passed"), r.stdout


def test_bandwidth_gate_fails_when_slowed(lab):
    """The gate can fail: with IBV_DMABUF_BW_TEST_DELAY_US (a test-only 20 ms sleep before each
    post, so at most 64 KiB / 20 ms = 3.1 MiB/s, under a third of what ib_write_bw makes on
    rxe under TCG) it measures every run and fails (status 1, not 2: the runs completed, the
    ratio is what fails). 3+3 runs of 300 iterations: the delay sets the ratio. A 5 ms delay
    was too little: its cap, 12.5 MiB/s, overlaps with transfers, and in a cold CI run where
    ib_write_bw made 11 MiB/s the slowed gate passed at 0.833."""
    r = gate(lab, {"IBV_DMABUF_BW_TEST_DELAY_US": "20000"}, ["--reps", "3", "--iters", "300"])
    print(r.stdout, r.stderr[-4000:])
    line = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 1, f"{r.stdout}\n{r.stderr[-4000:]}"
    assert ": FAILED [IBV_DMABUF_BW_TEST_DELAY_US=20000: test-only slowdown]" in line, line
    assert "ratio of medians 0." in line and " below 0.8: FAILED" in line, line


def test_regbench_rows(lab):
    r = labguest.run([REGBENCH, "-d", lab.nics[0].rxe, "--sizes", "4K,2M", "-n", "10",
                      "--min-reps", "3", "--budget", "5", "--json"], timeout=300)
    out = json.loads(r.stdout)
    by = {m["method"]: m for m in out["sizes"][1]["methods"]}
    assert by["ibv_reg_mr"]["ok"] and by["ibv_reg_mr"]["reg"]["median_us"] > 0
    plain = by["ibv_reg_dmabuf_mr"]
    assert not plain["ok"] and plain["error"].startswith("EOPNOTSUPP: libibverbs refuses"), plain
    ex = by["ibv_reg_dmabuf_mr_ex"]
    if lab.patched:
        assert ex["ok"], ex
        assert by["ibv_reg_dmabuf_mr_ex_source"]["ok"], by["ibv_reg_dmabuf_mr_ex_source"]
        ratios = out["sizes"][1]["ratios"]
        assert ratios["ex_over_ex_default"] is not None
        assert ratios["ex_source_over_ex"] is not None
        # rxe has one endpoint: the _ex row chose without describing the buffer
        assert "was not described" in out["reason"], out["reason"]
        assert out["source"] == "system" and out["origin"] == "kernel", out
    else:
        assert not ex["ok"] and "no dma-buf MR support" in ex["error"], ex
    assert by["ibv_query_dmabuf"]["ok"] and by["ibv_select_dma_endpoint"]["ok"]


def _regpair(lab, *args, user=None):
    def drop():
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    r = subprocess.run([REGPAIR, "-d", lab.nics[0].rxe, "--mem", "host:node=0", "--warmup",
                        "0", *args], capture_output=True, text=True, timeout=300,
                       preexec_fn=drop if user == "nobody" else None)
    return r, json.loads(r.stdout)


def test_regpair_contiguous_keeps_the_fewest_page_runs(lab):
    """Each size records its buffer's physically contiguous page runs (root reads the page
    frames); --contiguous makes buffers until one is a single run, 64 at most (256 MiB held),
    and keeps the one of the fewest. A 4 KiB buffer is one run at once."""
    labguest.built(REGPAIR)
    r, out = _regpair(lab, "--sizes", "4K=3,2M=3,64M=2")
    assert r.returncode == 0, r.stderr
    assert all(s["pfn_runs"] >= 1 and "buffers_made" not in s for s in out["sizes"]), out
    r, out = _regpair(lab, "--sizes", "4K=3,2M=3,64M=2", "--contiguous")
    assert r.returncode == 0, r.stderr
    small, mid, big = out["sizes"]
    assert (small["pfn_runs"], small["buffers_made"]) == (1, 1), small
    assert 1 <= mid["buffers_made"] <= 64, mid
    assert mid["pfn_runs"] == 1 or mid["buffers_made"] == 64, mid
    assert 1 <= big["buffers_made"] <= 4, big  # 256 MiB of 64 MiB buffers
    assert big["pfn_runs"] == 1 or big["buffers_made"] == 4, big
    print(f"2 MiB: one run after {mid['buffers_made']} buffers; 64 MiB: {big['pfn_runs']} "
          f"runs after {big['buffers_made']}")


def test_regpair_contiguous_needs_the_page_frames(lab):
    """Unprivileged, /proc/self/pagemap hides the page frames: the runs are not known (null),
    and --contiguous, which cannot work without them, says so and fails the size."""
    labguest.built(REGPAIR)
    r, out = _regpair(lab, "--sizes", "4K=3", user="nobody")
    if r.returncode and "Permission denied" in r.stderr:
        pytest.skip(f"nobody cannot open {lab.nics[0].rxe} here: {r.stderr.strip()}")
    assert r.returncode == 0 and out["sizes"][0]["pfn_runs"] is None, (r.stderr, out)
    r, out = _regpair(lab, "--sizes", "4K=3", "--contiguous", user="nobody")
    assert r.returncode == 1, r.stderr
    (size,) = out["sizes"]
    assert not size["ok"], size
    assert size["error"] == ("--contiguous: the page frames of /proc/self/pagemap cannot be "
                             "read here (root only)"), size


# ------------------------------------------------------------------ two guests


@pytest.mark.peer
def test_client_against_server_on_peer(lab):
    """Expects `ibv_dmabuf_bw -d rxe0 -n 500 --check` serving on the peer (run-suite
    --peer-cmd; tests/run-all's two-guest stage)."""
    args = [BW, "-d", lab.nics[0].rxe, "-n", "500", "--check", "--json", "--timeout", "60",
            lab.peer_ip]
    r = labguest.run(args, check=False, timeout=180)
    # No server on the peer is a failure: run-all's two-guest boot starts one
    # (run-suite --peer-cmd), and a skip here would hide a broken server or link.
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["results"][0]["check"] == "ok"
    print(f"two guests: {out['results'][0]['bw_avg_MiBps']:.1f} MiB/s")
