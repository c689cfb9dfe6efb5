# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""figruns: the runs behind the published figures, inside a VM-lab guest (LAB=1).

  bw_cell(...)      ibv_dmabuf_bw against ib_write_bw at one size: REPS runs of each tool in
                    one boot, interleaved (A B, B A, A B, ...), each run a fresh server/client
                    pair on rxe0 loopback with the same settings (tools/bw/bw_compare.py's
                    commands). The client is started only once its server listens (its TCP
                    port in LISTEN in /proc/net/tcp*), so that no connection retry of either
                    tool falls into the run; the client's wall time is taken around it here,
                    one clock for both tools (the "same clock": perftest times itself with
                    rdtsc, ibv_dmabuf_bw with CLOCK_MONOTONIC).
  mem_cell(...)     ibv_dmabuf_bw alone at one size and op, one arm per memory kind (host
                    memory, an ordinary MR, against a udmabuf, a dma-buf MR), interleaved
                    the same way; with events=True every run sleeps on CQ events (-e)
  gate(cell, min)   the regression gate on a cell: fails when the ratio's interval is below min
                    (figstats.gate)
  metadata()        machine, kernel, rdma-core, boot id of this boot, for every raw file

Used by tools/bench/reproduce-guest and tests/lab/guest/test_bw_lab.py; `figruns.py gate`
runs the 64 KiB gate alone (exit 0 passed, 1 failed, 2 not measured).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools/bw"))
sys.path.insert(0, HERE)
import bw_compare  # noqa: E402
import figstats  # noqa: E402

BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
BW = os.path.join(BUILD, "tools/bw/ibv_dmabuf_bw")
TOOLS = ("ib_write_bw", "ibv_dmabuf_bw")
GATE_BYTES, GATE_REPS, GATE_ITERS, GATE_MIN = 65536, 5, 1000, 0.8
_port = [int(os.environ.get("FIGRUNS_PORT", "21000"))]


def next_port():
    _port[0] += 1
    return _port[0]


def listening(port):
    """Whether something listens on TCP port `port` (any address, v4 or v6)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def one_run(tool, size, iters, port, dev="rxe0", gid=1, cq_mod=100, depth=128, timeout=300,
            env=None, mem="host", op="write", events=False):
    """One server/client pair of `tool` on `dev` loopback. Returns a dict: bw_avg_MiBps,
    bw_peak_MiBps, wall_s (the client process, timed here), valid, error, and for
    ibv_dmabuf_bw cq_polls/cq_polls_empty. mem and op are ibv_dmabuf_bw's --mem and --op,
    events its -e (sleep on CQ events), both sides the same; ib_write_bw is host memory,
    WRITE and polling only (perftest has no events for WRITE)."""
    if tool == "ib_write_bw" and (mem, op, events) != ("host", "write", False):
        raise ValueError(f"ib_write_bw is host memory, WRITE and polling only, not {mem} {op}"
                         + (" with events" if events else ""))
    a = types.SimpleNamespace(op=op, dev=dev, gid=gid, iters=iters, depth=depth,
                              cq_mod=cq_mod, bw=BW, mem=mem, timeout=60)
    argv, _ = bw_compare.commands(a, "perftest" if tool == "ib_write_bw" else "bw", size, port)
    if tool == "ibv_dmabuf_bw":
        argv = argv + ["--json"] + (["-e"] if events else [])
    full_env = dict(os.environ, **(env or {}))
    run = {"tool": tool, "bytes": size, "iterations": iters, "valid": False, "error": None}
    if tool == "ibv_dmabuf_bw":
        run.update(mem=mem, op=op, **({"events": True} if events else {}))
    srv = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=full_env)
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            if srv.poll() is not None or time.monotonic() > deadline:
                run["error"] = f"server never listened on port {port}"
                return run
            time.sleep(0.05)
        t0 = time.monotonic()
        try:
            c = subprocess.run(argv + ["127.0.0.1"], capture_output=True, text=True,
                               timeout=timeout, env=full_env)
        except subprocess.TimeoutExpired:
            run["error"] = f"client timed out after {timeout} s"
            return run
        run["wall_s"] = round(time.monotonic() - t0, 6)
        try:
            srv.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.communicate()
    if c.returncode:
        tail = (c.stderr or c.stdout).strip().splitlines()[-1:] or ["?"]
        run["error"] = f"client exit status {c.returncode}: {tail[0]}"
        return run
    if tool == "ibv_dmabuf_bw":
        try:
            res = json.loads(c.stdout)["results"][0]
        except (ValueError, KeyError, IndexError):
            run["error"] = "no JSON result"
            return run
        run.update(bw_avg_MiBps=res["bw_avg_MiBps"], bw_peak_MiBps=res["bw_peak_MiBps"],
                   cq_polls=res["cq_polls"], cq_polls_empty=res["cq_polls_empty"])
    else:
        row = bw_compare.parse_row(c.stdout, size)
        if not row:
            run["error"] = "no result row"
            return run
        run.update(bw_avg_MiBps=row["avg"], bw_peak_MiBps=row["peak"])
    if run["bw_avg_MiBps"] <= 0:
        # perftest times with rdtsc; under TCG the TSCs are not synchronized and it sometimes
        # prints 0.00: such a run is kept in the raw file and left out of the figures
        run["error"] = "reported 0.00"
        return run
    run["valid"] = True
    return run


def interleaved(arms, reps, dev="rxe0", gid=1, env=None, log=sys.stderr):
    """REPS rounds of one run per arm (tool, bytes, iterations[, {mem, op}]); round r runs
    the arms rotated by r (two arms: A B, B A, A B, ...). Both tools get env and this
    process's environment: IBV_DMABUF_BW_TEST_DELAY_US, the test-only slowdown, reaches
    ibv_dmabuf_bw that way and ib_write_bw ignores it."""
    runs = []
    for rep in range(reps):
        k = rep % len(arms)
        for tool, size, iters, *more in arms[k:] + arms[:k]:
            kw = more[0] if more else {}
            r = one_run(tool, size, iters, next_port(), dev=dev, gid=gid, env=env, **kw)
            r.update(rep=rep, seq=len(runs))
            runs.append(r)
            what = " ".join([tool] + [k if v is True else str(v) for k, v in kw.items()])
            print(f"figruns: {size} B x {iters} rep {rep} {what}: "
                  f"{r.get('bw_avg_MiBps', '-')} MiB/s, wall {r.get('wall_s', '-')} s"
                  f"{'; ' + r['error'] if r['error'] else ''}", file=log, flush=True)
    return runs


def bw_cell(size, iters, reps, dev="rxe0", gid=1, env=None, log=sys.stderr):
    """REPS runs of each tool at `size`, interleaved; ib_write_bw first in even repetitions."""
    runs = interleaved([(t, size, iters) for t in TOOLS], reps, dev, gid, env, log)
    return {"bytes": size, "iterations": iters, "reps": reps, "runs": runs}


def mem_cell(op, size, iters, reps, mems, dev="rxe0", gid=1, log=sys.stderr, events=False):
    """REPS runs of ibv_dmabuf_bw per memory kind in mems at `size` and `op`, interleaved;
    mems[0] first in even repetitions. events: each run with -e."""
    arms = [("ibv_dmabuf_bw", size, iters, dict(mem=m, op=op, **({"events": True} if events
                                                                   else {})))
            for m in mems]
    runs = interleaved(arms, reps, dev, gid, log=log)
    return {"op": op, "bytes": size, "iterations": iters, "reps": reps, "mems": list(mems),
            "runs": runs}


def samples(cell, tool, key="bw_avg_MiBps"):
    return [r[key] for r in cell["runs"] if r["tool"] == tool and r["valid"]]


def mem_samples(cell, mem, key="bw_avg_MiBps"):
    return [r[key] for r in cell["runs"] if r.get("mem") == mem and r["valid"]]


def gate(cell, minimum=GATE_MIN):
    """(status, line): status 0 passed, 1 failed, 2 not measured."""
    bw, pt = samples(cell, "ibv_dmabuf_bw"), samples(cell, "ib_write_bw")
    if not bw or not pt:
        return 2, (f"GATE not measured: valid runs: ibv_dmabuf_bw {len(bw)}, "
                   f"ib_write_bw {len(pt)} (of {cell['reps']} each)")
    passed, v, ratio, (lo, hi) = figstats.gate(bw, pt, minimum)
    where = {"met": f"above {minimum}", "missed": f"below {minimum}",
             "not settled": f"across {minimum}, not settled"}[v]
    line = (f"GATE ibv_dmabuf_bw / ib_write_bw at {cell['bytes']} B, {len(bw)}+{len(pt)} "
            f"interleaved runs: ratio of medians {ratio:.3f}, 95 % interval {lo:.3f}-{hi:.3f} "
            f"{where}: {'passed' if passed else 'FAILED'}")
    return (0 if passed else 1), line


def _cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def metadata(v65_id=None):
    """What every raw file says about where it was measured."""
    host = json.loads(os.environ.get("REPRODUCE_HOST", "{}") or "{}")
    mem_kib = next((int(l.split()[1]) for l in _read("/proc/meminfo").splitlines()
                    if l.startswith("MemTotal:")), 0)
    return {
        "machine": dict(host, guest={
            "vcpus": os.cpu_count(), "memory_mib": mem_kib // 1024,
            "clocksource": _read("/sys/devices/system/clocksource/clocksource0/"
                                 "current_clocksource"),
            "accel": "QEMU TCG" + (f", icount shift={os.environ['LAB_ICOUNT']}"
                                   if os.environ.get("LAB_ICOUNT") else "")}),
        "kernel": {"release": platform.release(), "id": os.environ.get("LAB_KERNEL_ID", ""),
                   "flavour": os.environ.get("LAB_KERNEL", "")},
        "rdma_core": {"system": _cmd(["dpkg-query", "-W", "-f=${Version}", "libibverbs1"]),
                      "perftest": _cmd(["dpkg-query", "-W", "-f=${Version}", "perftest"]),
                      "v65_build": v65_id or None},
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
        "source": json.loads(os.environ.get("REPRODUCE_SOURCE", "{}") or "{}"),
    }


def main():
    p = argparse.ArgumentParser(description="the bandwidth gate alone (in the lab)")
    p.add_argument("what", choices=["gate"])
    p.add_argument("--reps", type=int, default=GATE_REPS)
    p.add_argument("--iters", type=int, default=GATE_ITERS)
    p.add_argument("--min", type=float, default=GATE_MIN)
    p.add_argument("--dev", default=os.environ.get("LAB_RXE0", "rxe0"))
    p.add_argument("--json-out")
    a = p.parse_args()
    delay = os.environ.get("IBV_DMABUF_BW_TEST_DELAY_US")
    cell = bw_cell(GATE_BYTES, a.iters, a.reps, dev=a.dev,
                   gid=int(os.environ.get("LAB_GID0", "1")))
    status, line = gate(cell, a.min)
    if delay:
        line += f" [IBV_DMABUF_BW_TEST_DELAY_US={delay}: test-only slowdown]"
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(dict(cell, gate=line, status=status), f, indent=1)
    print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
