# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Plain RDMA traffic on each rxe device (loopback: server and client on the same device).

Traffic between rxe0 and rxe1 of one guest does not work (both addresses are local), so each
device is tested on its own; traffic between hosts uses the two-guest mode (labrun --peer-cmd).
"""

import re
import time

import labguest


def test_rc_pingpong_loopback_with_data_check(nic, tcp_port):
    gidx = nic.rxe_ipv4_gid_index
    common = ["ibv_rc_pingpong", "-d", nic.rxe, "-g", str(gidx), "-p", str(tcp_port),
              "-s", "4096", "-n", "100", "-c"]
    client, (srv_rc, srv_out, srv_err) = labguest.client_server(
        common, common + ["127.0.0.1"], timeout=120)
    assert client.returncode == 0, f"client: {client.stdout}\n{client.stderr}\nserver: {srv_err}"
    assert srv_rc == 0, f"server: {srv_out}\n{srv_err}"
    for out in (client.stdout, srv_out):
        # "8192000 bytes in 0.05 seconds = ... Mbit/sec" / "100 iters in ..."
        assert re.search(r"\b819200 bytes in", out), out
        assert "100 iters in" in out, out


def test_ib_write_bw_loopback_rxe0(lab, tcp_port):
    """ib_write_bw moves SIZE * ITERS bytes, so its average can be no lower than that over the
    wall time of the whole client/server run. perftest times with the TSC, whose frequency it
    estimates at start (a regression of TSC against gettimeofday); under TCG that estimate
    can fail ("Correlation coefficient r^2: ... < 0.9" on stderr), and with -F (needed under
    TCG, see test_bw_perftest_flags.py) perftest then prints 0.00 instead of refusing: no
    measurement, and this test fails with perftest's output."""
    nic = lab.nics[0]
    gidx = nic.rxe_ipv4_gid_index
    size, iters = 65536, 500
    common = ["ib_write_bw", "-d", nic.rxe, "-x", str(gidx), "-p", str(tcp_port),
              "-s", str(size), "-n", str(iters), "-F"]
    t0 = time.monotonic()
    client, (srv_rc, srv_out, srv_err) = labguest.client_server(
        common, common + ["127.0.0.1"], timeout=180)
    wall = time.monotonic() - t0
    out = f"client:\n{client.stdout}\n{client.stderr}\nserver:\n{srv_out}\n{srv_err}"
    assert client.returncode == 0, out
    assert srv_rc == 0, out
    # Result row: "#bytes #iterations BW peak[MB/sec] BW average[MB/sec] MsgRate[Mpps]"; MB
    # is 2^20 bytes. Only the row of the size and count asked for.
    rows = [ln.split() for ln in client.stdout.splitlines()
            if re.match(rf"\s*{size}\s+{iters}\s", ln)]
    assert len(rows) == 1 and len(rows[0]) == 5, out
    bw_avg = float(rows[0][3])
    floor = size * iters / (1 << 20) / wall
    assert bw_avg >= floor, (f"ib_write_bw reports {bw_avg} MB/s average, below the "
                             f"{floor:.2f} MB/s of {size * iters} bytes in {wall:.1f} s of "
                             f"wall time: perftest's clock failed\n{out}")
    print(f"ib_write_bw loopback on {nic.rxe}: {bw_avg} MB/s average (floor {floor:.2f} MB/s "
          f"from {wall:.1f} s wall)")


def test_pyverbs_opens_each_rxe(nic):
    code = ("import sys, pyverbs.device as d\n"
            "ctx = d.Context(name=sys.argv[1])\n"
            "a = ctx.query_device()\n"
            "p = ctx.query_port(1)\n"
            "print(a.max_qp, p.state)\n")
    res = labguest.run(["/usr/bin/python3", "-c", code, nic.rxe], timeout=120)
    max_qp, state = res.stdout.split()
    assert int(max_qp) > 0 and int(state) == 4  # IBV_PORT_ACTIVE
