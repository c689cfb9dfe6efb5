# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""perftest's flags in ibv_dmabuf_bw against Debian's perftest itself (runs INSIDE the lab).

Loopback on rxe0 (server and client in this guest, as test_bw_lab.py): ib_write_bw and
ibv_dmabuf_bw run with the same flags, one after the other, and what each prints or writes is
compared: the table's title line and rows (--perftest-header: perftest's own words and counts;
the project's perftest parser, tools/bw/bw_compare.py, reads both), Gb/sec (--report_gbits),
a run of so many seconds (-D, no peak), both directions at once (-b, the sum), the path MTU
(-m), the connection type (-c), -F, -V, perftest's JSON report (--out_json), and a server
whose device is missing (both stop at once). Where this tool differs from perftest (documented
in ibv_dmabuf_bw(1), PERFTEST COMPATIBILITY) the test says how.

Bandwidth figures of two tools under TCG vary by tens of percent from run to run: they are
compared within a factor of 10, which catches a wrong unit (MiB/s vs Gb/s is 119x) or a
direction missing (2x is not caught; -b's sum is checked on ibv_dmabuf_bw's own JSON instead).
Both kernels: nothing here registers a dma-buf.
"""

import json
import os
import re
import sys
import time

import pytest

import labguest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = labguest.BUILD
BW = os.path.join(BUILD, "tools/bw/ibv_dmabuf_bw")
PT = "/usr/bin/ib_write_bw"
sys.path.insert(0, os.path.join(REPO, "tools/bw"))
import bw_compare  # noqa: E402  (the project's parser of perftest's rows)

TITLE = " #bytes     #iterations    BW peak[{u}]    BW average[{u}]   MsgRate[Mpps]"


@pytest.fixture(scope="module", autouse=True)
def tools():
    labguest.built(BW)
    if not os.access(PT, os.X_OK):
        pytest.skip("perftest is not installed (ib_write_bw)")


@pytest.fixture
def dev(lab):
    nic = lab.nics[0]
    return nic.rxe, str(nic.rxe_ipv4_gid_index)


# perftest runs of one comparison, while perftest says it could not time them
PERFTEST_TRIES = 4


def base(tool, dev, port):
    """Both tools get -F: perftest times with the TSC and, under TCG, often refuses to report
    without it ("Correlation coefficient r^2 < 0.9 ... Can't produce a report", measured with
    -D); tools/bw/bw_compare.py passes it too. ibv_dmabuf_bw accepts it and reads no TSC."""
    name, gid = dev
    argv = [tool, "-d", name, "-x", gid, "-p", str(port), "-F"]
    return argv + (["--timeout", "30"] if tool == BW else [])


def pair(tool, dev, port, args, client_args=None, cwd=None, timeout=180):
    """Server and client of one run in this guest: (client CompletedProcess, the client's wall
    time, (server rc, out, err)). cwd: a directory each side runs in (DIR/server, DIR/client).

    ibv_dmabuf_bw's client retries the connection itself and runs once; perftest's client
    gives up at once, so labguest.client_server retries it while its server waits."""
    client_args = args if client_args is None else client_args
    srv = base(tool, dev, port) + args
    cli = base(tool, dev, port) + client_args + ["127.0.0.1"]
    if cwd:
        for side in ("server", "client"):
            os.makedirs(os.path.join(cwd, side), exist_ok=True)
        srv = f"cd {cwd}/server && exec " + " ".join(srv)
        cli = f"cd {cwd}/client && exec " + " ".join(cli)
    if tool == PT:
        t0 = time.monotonic()
        client, server = labguest.client_server(srv, cli, timeout=timeout)
        return client, time.monotonic() - t0, server
    with labguest.Background(srv) as bg:
        time.sleep(0.3)
        t0 = time.monotonic()
        client = labguest.run(cli, timeout=timeout, check=False)
        wall = time.monotonic() - t0
        server = bg.wait(timeout=60)
    return client, wall, server


def ok(client, server):
    srv_rc, srv_out, srv_err = server
    assert client.returncode == 0, f"client: {client.stdout}\n{client.stderr}\nserver: {srv_err}"
    assert srv_rc == 0, f"server: {srv_out}\n{srv_err}"
    return client.stdout, srv_out


def perftest_timed(dev, port, args):
    """One ib_write_bw run that measured something: (client output, client wall time).
    perftest prints 0.00 for the average when its estimate of the TSC's frequency, made by both
    sides at once after the transfer, fails under TCG ("Correlation coefficient r^2 ... < 0.9"
    on its stderr; see base()). On stock-6.12 that happened twice in a row in -b runs, and once
    in a -D run (2026-12-03). Such a run measured nothing, by perftest's own account: it is run
    again (ports PORT, PORT + 1, ...), up to PERFTEST_TRIES runs in all; a 0.00 without that
    line fails at once."""
    said = []
    for attempt in range(PERFTEST_TRIES):
        theirs, wall, srv = pair(PT, dev, port + attempt, args)
        out, _ = ok(theirs, srv)
        if float(table(out)[1][0][3]) > 0:
            return out, wall
        err = theirs.stderr + srv[2]
        assert "Correlation coefficient" in err, f"perftest printed 0.00:\n{out}\n{err}"
        said.append(err.strip())
    pytest.fail(f"perftest could not time its run in {PERFTEST_TRIES} runs: {said}")


def table(out):
    """(title line, [row fields]) of a perftest-style table."""
    lines = out.splitlines()
    titles = [ln for ln in lines if ln.lstrip().startswith("#bytes")]
    assert len(titles) == 1, out
    rows = [bw_compare.ROW.match(ln).groups() for ln in lines if bw_compare.ROW.match(ln)]
    return titles[0].rstrip(), rows


def one_line(stderr, frag=""):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line, got: {stderr!r}"
    assert frag in lines[0], lines[0]
    return lines[0]


def near(a, b, factor=10):
    return a > 0 and b > 0 and 1 / factor < a / b < factor


# ------------------------------------------------------------------ the table


def test_perftest_header_is_ib_write_bws(dev, tcp_port):
    """--perftest-header: the title line is perftest's, character for character; the rows
    parse alike (bw_compare.py) with perftest's #iterations (messages of all QPs); without the
    switch only the unit's name differs (MiB/sec for perftest's MB/sec, the documented rule)."""
    args = ["-s", "65536", "-n", "100", "-q", "2"]
    theirs, _, srv = pair(PT, dev, tcp_port, args)
    t_out, _ = ok(theirs, srv)
    ours, _, srv = pair(BW, dev, tcp_port + 100, args + ["--perftest-header"])
    o_out, o_srv = ok(ours, srv)
    plain, _, srv = pair(BW, dev, tcp_port + 200, args)
    p_out, _ = ok(plain, srv)
    t_title, t_rows = table(t_out)
    o_title, o_rows = table(o_out)
    assert t_title == TITLE.format(u="MB/sec"), t_title
    assert o_title == t_title
    assert table(o_srv)[0] == t_title, "the server prints the same table"
    assert table(p_out)[0] == TITLE.format(u="MiB/sec")
    assert len(t_rows) == len(o_rows) == 1, (t_out, o_out)
    assert t_rows[0][:2] == o_rows[0][:2] == ("65536", "200"), (t_rows, o_rows)
    for out in (t_out, o_out):
        row = bw_compare.parse_row(out, 65536)
        assert row and row["avg"] > 0 and row["mpps"] > 0, out
    assert near(float(o_rows[0][3]), float(t_rows[0][3])), (o_rows, t_rows)
    print(f"ib_write_bw {t_rows[0][3]} MB/s, ibv_dmabuf_bw {o_rows[0][3]} MB/s")


def test_report_gbits_like_ib_write_bw(dev, tcp_port, tmp_path):
    """--report_gbits: Gb/sec titles in both; figures of the same order; this tool's Gb/s is
    its MiB/s times 2^20 * 8 / 10^9 (the table and --out_json in Gb, --json in MiB)."""
    args = ["-s", "65536", "-n", "200", "--report_gbits"]
    theirs, _, srv = pair(PT, dev, tcp_port, args)
    t_title, t_rows = table(ok(theirs, srv)[0])
    ours, _, srv = pair(BW, dev, tcp_port + 100, args + ["--perftest-header"])
    o_title, o_rows = table(ok(ours, srv)[0])
    assert t_title == o_title == TITLE.format(u="Gb/sec"), (t_title, o_title)
    assert near(float(o_rows[0][3]), float(t_rows[0][3])), (o_rows, t_rows)
    out = tmp_path / "g.json"  # the client's only: both sides would write the one path
    js, _, srv = pair(BW, dev, tcp_port + 200, args + ["--json"],
                      args + ["--json", f"--out_json={out}"])
    mib = json.loads(ok(js, srv)[0])["results"][0]["bw_avg_MiBps"]
    gb = json.loads(out.read_text())["results"]["BW_average"]
    # both rounded to the JSON writer's 3 decimals
    assert gb == pytest.approx(mib * 1048576 * 8 / 1e9, abs=1e-3), (gb, mib)


# ------------------------------------------------------------------ -D, -b


def test_duration_like_ib_write_bw(dev, tcp_port):
    """-D 3: both clients run about 3 s (plus setup), report no peak (0.00) and the messages
    of the measured span; this tool's JSON says the same (peak null, duration 3)."""
    args = ["-s", "65536", "-D", "3"]
    t_out, t_wall = perftest_timed(dev, tcp_port + 300, args)
    _, t_rows = table(t_out)
    ours, o_wall, srv = pair(BW, dev, tcp_port + 100, args + ["--perftest-header"])
    _, o_rows = table(ok(ours, srv)[0])
    for rows in (t_rows, o_rows):
        assert len(rows) == 1 and rows[0][2] == "0.00" and int(rows[0][1]) > 0, rows
    assert 3 <= o_wall < 3 + 30 and 3 <= t_wall < 3 + 30, (o_wall, t_wall)
    assert near(float(o_rows[0][3]), float(t_rows[0][3])), (o_rows, t_rows)
    js, _, srv = pair(BW, dev, tcp_port + 200, ["-s", "65536", "-D", "3", "--json"])
    out = json.loads(ok(js, srv)[0])
    (res,) = out["results"]
    assert out["duration_s"] == 3 and out["margin_s"] == 0 and "iterations" not in res, out
    assert res["bw_peak_MiBps"] is None and res["messages"] > 0 and res["bw_avg_MiBps"] > 0
    print(f"-D 3: ib_write_bw {t_wall:.1f} s, ibv_dmabuf_bw {o_wall:.1f} s (wall, with setup)")


@pytest.mark.parametrize("op", ["write", "read", "send"])
def test_duration_checked(dev, tcp_port, op):
    """-D with a margin and --check: every slot written, the data verified on both sides."""
    js, wall, srv = pair(BW, dev, tcp_port, ["--op", op, "-s", "16K", "-D", "4", "-f", "1",
                                             "--check", "--json"])
    cli, srv_out = ok(js, srv)
    for side in (json.loads(cli), json.loads(srv_out)):
        (res,) = side["results"]
        assert res["check"] == "ok" and res["messages"] > 0, res
        assert side["margin_s"] == 1
    assert wall >= 4


def test_bidirectional_like_ib_write_bw(dev, tcp_port):
    """-b: both titles say Bidirectional; the figures are of the same order (perftest sums
    both directions, as this tool does)."""
    args = ["-s", "65536", "-n", "200", "-b"]
    t_out, _ = perftest_timed(dev, tcp_port + 200, args)
    ours, _, srv = pair(BW, dev, tcp_port + 100, args + ["--perftest-header"])
    o_out, _ = ok(ours, srv)
    assert "RDMA_Write Bidirectional BW Test" in t_out, t_out
    assert "RDMA_Write Bidirectional BW Test (ibv_dmabuf_bw)" in o_out, o_out
    _, t_rows = table(t_out)
    _, o_rows = table(o_out)
    assert o_rows[0][1] == t_rows[0][1] == "200", (o_rows, t_rows)  # this side's messages
    assert near(float(o_rows[0][3]), float(t_rows[0][3])), (o_rows, t_rows)


@pytest.mark.parametrize("op", ["write", "read", "send"])
def test_bidirectional_checked(dev, tcp_port, op):
    """-b with --check: each side sends into the other's exposed area and verifies what it
    received; the total is the sum of both directions."""
    js, _, srv = pair(BW, dev, tcp_port, ["--op", op, "-n", "200", "-b", "--check", "-q", "2",
                                          "--json"])
    cli, srv_out = (json.loads(x) for x in ok(js, srv))
    for side in (cli, srv_out):
        (res,) = side["results"]
        assert side["bidirectional"] and res["check"] == "ok", res
        dirs = {d["from"]: d for d in res["directions"]}
        assert dirs["client"]["messages"] == dirs["server"]["messages"] == 400, dirs
        assert res["messages"] == 800
        assert res["bw_avg_MiBps"] == pytest.approx(  # each rounded to 3 decimals
            dirs["client"]["bw_avg_MiBps"] + dirs["server"]["bw_avg_MiBps"], abs=2e-3)


def test_bidirectional_send_for_a_duration(dev, tcp_port):
    """-b -D with SEND: each side learns from the other's DONE how many receives to wait for."""
    js, _, srv = pair(BW, dev, tcp_port, ["--op", "send", "-s", "4K", "-b", "-D", "3",
                                          "--check", "--json"])
    cli, _ = ok(js, srv)
    (res,) = json.loads(cli)["results"]
    assert res["check"] == "ok" and all(d["messages"] > 0 for d in res["directions"]), res


# ------------------------------------------------------------------ -m, -c, -F, -V


def test_mtu_like_ib_write_bw(dev, tcp_port):
    """-m 512: both use 512 (perftest's header, this tool's JSON); -m 4096 above rxe's active
    MTU (1024 on a 1500-byte netdev): both fall back to the active MTU and say so."""
    theirs, _, srv = pair(PT, dev, tcp_port, ["-n", "100", "-m", "512"])
    assert re.search(r"Mtu\s*:\s*512\[B\]", ok(theirs, srv)[0]), theirs.stdout
    ours, _, srv = pair(BW, dev, tcp_port + 100, ["-n", "100", "-m", "512", "--check",
                                                 "--json"])
    out = json.loads(ok(ours, srv)[0])
    assert out["paths"][0]["mtu"] == 512 and out["results"][0]["check"] == "ok", out
    theirs, _, srv = pair(PT, dev, tcp_port + 200, ["-n", "100", "-m", "4096"])
    t_out, _ = ok(theirs, srv)
    assert "Requested mtu is higher than active mtu" in t_out, t_out
    active = re.search(r"Mtu\s*:\s*(\d+)\[B\]", t_out).group(1)
    ours, _, srv = pair(BW, dev, tcp_port + 300, ["-n", "100", "-m", "4096"])
    o_out, _ = ok(ours, srv)
    assert f"MTU {active} (-m is above the port's active MTU)" in o_out, o_out


def test_mtu_is_the_smaller_offer(dev, tcp_port):
    """-m on one side only: the QPs use the smaller of both offers, on both sides."""
    ours, _, srv = pair(BW, dev, tcp_port, ["-n", "50", "-m", "256", "--json"],
                        ["-n", "50", "--json"])
    cli, srv_out = ok(ours, srv)
    assert json.loads(cli)["paths"][0]["mtu"] == json.loads(srv_out)["paths"][0]["mtu"] == 256


def test_connection_type(dev, tcp_port):
    """-c RC runs in both. -c UC runs in perftest (RDMA WRITE over UC); this tool has RC QPs
    only and says so at once, on either side, before any network."""
    for tool, port in ((PT, tcp_port), (BW, tcp_port + 100)):
        c, _, srv = pair(tool, dev, port, ["-n", "50", "-c", "RC"])
        ok(c, srv)
    theirs, _, srv = pair(PT, dev, tcp_port + 200, ["-n", "50", "-c", "UC"])
    ok(theirs, srv)
    r = labguest.run(base(BW, dev, tcp_port + 300) + ["-c", "UC"], check=False, timeout=60)
    assert r.returncode == 2, r
    one_line(r.stderr, "-c UC: only RC connections here")


def test_cpu_freq_flag(dev, tcp_port):
    """-F (every run here has it, see base()), and its long name: accepted by both (this tool
    reads no CPU cycles: nothing to silence)."""
    for tool, port in ((PT, tcp_port), (BW, tcp_port + 100)):
        c, _, srv = pair(tool, dev, port, ["-n", "50", "--CPU-freq"])
        ok(c, srv)


def test_version_flags():
    """-V: perftest prints "Version: N" and exits 1; this tool prints its name and version and
    exits 0 (documented difference)."""
    t = labguest.run([PT, "-V"], check=False)
    assert t.returncode == 1 and t.stdout.startswith("Version: "), t
    o = labguest.run([BW, "-V"])
    assert re.fullmatch(r"ibv_dmabuf_bw \(dmabuf-multipath\) \S+\n", o.stdout), o.stdout


# ------------------------------------------------------------------ --out_json


def perftest_json_value(text, key):
    """A value from perftest's report file: Debian's 4.5 writes `key: value` unquoted, newer
    perftest quoted JSON; both are read."""
    m = re.search(rf'"?{key}"?\s*:\s*"?([\w.]+)"?', text)
    assert m, f"{key} not in {text!r}"
    return m.group(1)


def test_out_json_like_ib_write_bw(dev, tcp_port, tmp_path):
    """--out_json: both clients write perftest_out.json in their working directory; the same
    test name, message size and count, figures of the same order; this tool's file is valid
    JSON (Debian's perftest 4.5 writes unquoted keys). The server writes its own too."""
    args = ["-s", "65536", "-n", "200", "--out_json"]
    theirs, _, srv = pair(PT, dev, tcp_port, args, cwd=str(tmp_path / "pt"))
    ok(theirs, srv)
    t_text = (tmp_path / "pt/client/perftest_out.json").read_text()
    ours, _, srv = pair(BW, dev, tcp_port + 100, args, cwd=str(tmp_path / "bw"))
    ok(ours, srv)
    o = json.loads((tmp_path / "bw/client/perftest_out.json").read_text())
    o_srv = json.loads((tmp_path / "bw/server/perftest_out.json").read_text())
    assert o["test_info"]["test"] == perftest_json_value(t_text, "test") == "RDMA_Write_BW_Test"
    assert o["results"]["MsgSize"] == int(perftest_json_value(t_text, "MsgSize")) == 65536
    assert o["results"]["n_iterations"] == int(perftest_json_value(t_text, "n_iterations"))
    assert near(o["results"]["BW_average"], float(perftest_json_value(t_text, "BW_average")))
    assert o_srv["results"]["MsgSize"] == 65536
    assert o["test_info"]["Device"] == dev[0] and o["test_info"]["Connection_type"] == "RC"


def test_out_json_of_a_sweep(dev, tcp_port, tmp_path):
    """--out_json=FILE with -a: "results" is the last size (as perftest, which rewrites its file
    per size), "all_results" every size, in order."""
    out = tmp_path / "sweep.json"
    args = ["-a", "-s", "8K", "-n", "20"]
    c, _, srv = pair(BW, dev, tcp_port, args, args + [f"--out_json={out}"])
    ok(c, srv)
    o = json.loads(out.read_text())
    assert [r["MsgSize"] for r in o["all_results"]] == [2 << i for i in range(13)], o
    assert o["results"] == o["all_results"][-1]


# ------------------------------------------------------------------ failing at once


def test_missing_device_both_fail_at_once(dev, tcp_port):
    """A server whose device is missing: perftest and this tool both stop at once, with a
    reason, instead of waiting for a client."""
    for tool, port in ((PT, tcp_port), (BW, tcp_port + 100)):
        t0 = time.monotonic()
        r = labguest.run([tool, "-d", "rxe7", "-p", str(port)], check=False, timeout=60)
        took = time.monotonic() - t0
        assert r.returncode != 0 and took < 15, (tool, r, took)
        if tool == BW:
            one_line(r.stderr, "no RDMA device 'rxe7' (this host has: ")
        print(f"{os.path.basename(tool)}: {took:.1f} s: {r.stderr.strip().splitlines()[-1]}")


def test_data_direct_on_rxe_fails_at_once(dev, tcp_port):
    """--use_data_direct: rxe has no mlx5 data-direct endpoint, and the server says so before
    it listens (Debian's perftest 4.5 has no such option; newer perftest needs CUDA dma-bufs)."""
    r = labguest.run(base(BW, dev, tcp_port) + ["--mem", "udmabuf", "--use_data_direct"],
                     check=False, timeout=60)
    assert r.returncode == 1, r
    one_line(r.stderr, f"{dev[0]} has no data-direct endpoint (its endpoints: 0 netdev)")
    t = labguest.run([PT, "--use_data_direct"], check=False, timeout=60)
    assert t.returncode != 0, t


@pytest.mark.parametrize("server,client,what", [
    (["-D", "3"], ["-n", "50"], "--duration 3 here, 0 on the client"),
    (["-n", "50", "-b"], ["-n", "50"], "--bidirectional on here, off on the client"),
])
def test_mismatch_of_perftest_flags(dev, tcp_port, server, client, what):
    """The server's side of a mismatch (the client's: tests/pytest/test_bw_tools.py)."""
    c, _, (srv_rc, _, srv_err) = pair(BW, dev, tcp_port, server, client, timeout=60)
    assert c.returncode == 1 and srv_rc == 1, (c.stderr, srv_err)
    one_line(srv_err, f"parameter mismatch with the client: {what}")
    one_line(c.stderr, "parameter mismatch with the server: --")
