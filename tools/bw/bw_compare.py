#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf_bw against perftest's ib_write_bw (or ib_read_bw / ib_send_bw), same settings.

Runs the two tools alternately, REPEAT times per size, each run a fresh server/client pair on its
own TCP port, and prints a Markdown table of the medians and their ratio (and --json).

  loopback (one machine):  bw_compare.py --dev rxe0 --sizes 4K,64K,1M
  two machines:            on B: bw_compare.py --serve --dev rxe0 ...   (same arguments)
                           on A: bw_compare.py --peer B_ADDRESS --dev rxe0 ...
In the VM lab (tests/lab/labrun --peer-cmd) the peer is LAB_PEER_IP; both sides walk the same
sequence of ports, so the server side needs no other coordination. Every step has a timeout.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")
PERFTEST = {"write": "ib_write_bw", "read": "ib_read_bw", "send": "ib_send_bw"}


def size_arg(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return [int(x[:-1]) * units[x[-1].upper()] if x[-1].upper() in units else int(x)
            for x in s.split(",")]


def commands(a, tool, size, port):
    """(server argv, client argv without the address) of one run."""
    if tool == "perftest":
        argv = [PERFTEST[a.op], "-d", a.dev, "-x", str(a.gid), "-p", str(port), "-s", str(size),
                "-n", str(a.iters), "-t", str(a.depth), "-Q", str(a.cq_mod), "-F"]
    else:
        argv = [a.bw, "-d", a.dev, "-x", str(a.gid), "-p", str(port), "-s", str(size),
                "-n", str(a.iters), "-t", str(a.depth), "-Q", str(a.cq_mod), "--op", a.op,
                "--mem", a.mem, "--timeout", str(a.timeout)]
    return argv, argv


def parse_row(out, size):
    for line in out.splitlines():
        m = ROW.match(line)
        if m and int(m.group(1)) == size:
            return {"peak": float(m.group(3)), "avg": float(m.group(4)),
                    "mpps": float(m.group(5))}
    return None


def run_client(argv, host, deadline):
    """Run a client, retrying while the server is not listening yet."""
    last = None
    while time.monotonic() < deadline:
        try:
            r = subprocess.run(argv + [host], capture_output=True, text=True,
                               timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None, "client timed out"
        if r.returncode == 0:
            return r.stdout, None
        last = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["?"]
        if "connect" not in " ".join(last).lower():
            return None, last[0]
        time.sleep(0.5)
    return None, f"no server: {last}"


def plan(a):
    port = a.port
    for size in a.sizes:
        for rep in range(a.repeat):
            for tool in ("perftest", "bw") if rep % 2 == 0 else ("bw", "perftest"):
                yield size, rep, tool, port
                port += 1


def serve(a):
    for size, rep, tool, port in plan(a):
        argv, _ = commands(a, tool, size, port)
        try:
            subprocess.run(argv, capture_output=True, text=True, timeout=a.run_timeout)
        except subprocess.TimeoutExpired:
            print(f"server {tool} {size} B timed out", file=sys.stderr)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dev", default=os.environ.get("LAB_RXE0", "rxe0"))
    p.add_argument("--gid", type=int, default=int(os.environ.get("LAB_GID0", "1")))
    p.add_argument("--op", choices=sorted(PERFTEST), default="write")
    p.add_argument("--mem", default="host")
    p.add_argument("--sizes", type=size_arg, default=size_arg("4K,64K,1M"))
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--depth", type=int, default=128)
    p.add_argument("--cq-mod", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--port", type=int, default=19100)
    p.add_argument("--timeout", type=int, default=60, help="ibv_dmabuf_bw --timeout")
    p.add_argument("--run-timeout", type=int, default=300, help="limit of one run, s")
    p.add_argument("--peer", help="the server side runs there (--serve); default: loopback")
    p.add_argument("--serve", action="store_true", help="be the server side of --peer")
    p.add_argument("--bw", default=os.path.join(BUILD, "tools/bw/ibv_dmabuf_bw"))
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--json-out", help="also write the JSON to this file")
    a = p.parse_args()
    if a.serve:
        return serve(a)

    results = {}
    for size, rep, tool, port in plan(a):
        argv, cargv = commands(a, tool, size, port)
        deadline = time.monotonic() + a.run_timeout
        srv = None
        if not a.peer:
            srv = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.3)
        out, err = run_client(cargv, a.peer or "127.0.0.1", deadline)
        if srv:
            try:
                srv.communicate(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.communicate()
        row = parse_row(out, size) if out else None
        r = results.setdefault(size, {"perftest": [], "bw": [], "invalid": [], "failed": []})
        if not row:
            # Recorded and left out; the sequence goes on (a peer walks the same ports).
            r["failed"].append(f"{tool} run {rep}: {err or 'no result row'}")
            print(f"bw_compare: {tool} {size} B run {rep}: {err or 'no result row'}",
                  file=sys.stderr)
            continue
        if row["avg"] <= 0:
            # perftest times with rdtsc; a guest whose TSCs are unsynchronized (TCG) sometimes
            # gets 0.00. Such a run is left out of the median and counted.
            r["invalid"].append(tool)
            print(f"bw_compare: {tool} {size} B run {rep}: reported 0.00, left out",
                  file=sys.stderr)
            continue
        r[tool].append(row)

    table = []
    status = 0
    for size in a.sizes:
        r = results[size]
        if not r["perftest"] or not r["bw"]:
            status = 1
            print(f"bw_compare: {size} B: no valid run of one of the tools", file=sys.stderr)
        pt = statistics.median(x["avg"] for x in r["perftest"]) if r["perftest"] else 0
        bw = statistics.median(x["avg"] for x in r["bw"]) if r["bw"] else 0
        table.append({"bytes": size, "iterations": a.iters,
                      "perftest_avg": [x["avg"] for x in r["perftest"]],
                      "bw_avg": [x["avg"] for x in r["bw"]],
                      "perftest_peak": [x["peak"] for x in r["perftest"]],
                      "bw_peak": [x["peak"] for x in r["bw"]],
                      "perftest_median": pt, "bw_median": bw,
                      "invalid_runs": r["invalid"], "failed_runs": r["failed"],
                      "ratio": bw / pt if pt and bw else None})
    doc = {"op": a.op, "device": a.dev, "mem": a.mem, "peer": a.peer or "loopback",
           "tx_depth": a.depth, "cq_mod": a.cq_mod, "repeat": a.repeat, "rows": table}
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(doc, f, indent=1)
    if a.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
        return status
    tool = PERFTEST[a.op]
    print(f"| #bytes | #iterations | {tool} BW average [MiB/s] (runs) | "
          f"ibv_dmabuf_bw BW average [MiB/s] (runs) | ratio of medians |")
    print("|---:|---:|---|---|---:|")
    for t in table:
        def fmt(tool, v):
            bad = t["invalid_runs"].count(tool)
            failed = sum(1 for f in t["failed_runs"] if f.startswith(tool + " "))
            return (", ".join(f"{x:.2f}" for x in v) +
                    (f"; {bad} run(s) printed 0.00" if bad else "") +
                    (f"; {failed} run(s) failed" if failed else ""))
        ratio = f"{t['ratio']:.3f}" if t["ratio"] else "-"
        print(f"| {t['bytes']} | {t['iterations']} | **{t['perftest_median']:.2f}** "
              f"({fmt('perftest', t['perftest_avg'])}) | **{t['bw_median']:.2f}** "
              f"({fmt('bw', t['bw_avg'])}) | {ratio} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
