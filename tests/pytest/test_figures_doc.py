# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The docs' figures are generated (tools/bench/figures-doc) from the raw files that
tools/bench/reproduce writes (docs/figures/*.json): regenerating them from the committed raw
files gives the committed docs byte for byte, a number edited by hand is caught, every table
names its raw file, and every raw file says where it was measured."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(REPO, "tools/bench/figures-doc")
RAW = os.path.join(REPO, "docs/figures")
DOCS = ("benchmarks.md", "results.md")
sys.path.insert(0, os.path.join(REPO, "tools/bench"))
import figstats  # noqa: E402


def gen(*args, env=None):
    return subprocess.run(["/usr/bin/python3", GEN] + list(args), capture_output=True,
                          text=True, timeout=300, env=env)


def section(text, which):
    return text.split(f"<!-- figures-doc: begin {which}")[1].split(
        f"<!-- figures-doc: end {which} -->")[0]


def test_committed_docs_are_what_the_committed_raw_files_give():
    r = gen("--check")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr


def test_published_raw_files_exist_and_say_where_they_were_measured():
    files = sorted(glob.glob(os.path.join(RAW, "*.json")))
    names = {os.path.basename(f) for f in files}
    assert {"bw-vs-ib_write_bw.json", "same-clock.json", "reg-auto-one-endpoint.json",
            "reg-auto-two-endpoints.json", "reg-source.json"} <= names, names
    for f in files:
        doc = json.load(open(f))
        for key in ("date", "producer", "machine", "repetitions"):
            assert doc.get(key), (f, key)
        assert "--quick" not in doc["producer"], f"{f}: a --quick run is not published"
        for where in doc.get("boots") or [doc]:  # a file of several boots: each says its own
            for key in ("date", "machine", "kernel", "rdma_core", "boot_id"):
                assert where.get(key), (f, key)
            assert where["kernel"]["release"] and where["rdma_core"]["system"], f
            assert re.fullmatch(r"[0-9a-f-]{36}", where["boot_id"]), (f, where["boot_id"])


def test_one_boot_per_published_lab_run():
    """Every lab figure of the one-boot run comes from one boot: the same boot id in all of
    its files. The file of several boots (reproduce --kernels) has a boot id per boot, all
    different, the control kernel its raw file names and the patched one taking turns. The
    --bw-icount file is a boot of its own, under instruction counting."""
    docs = {os.path.basename(f): json.load(open(f))
            for f in glob.glob(os.path.join(RAW, "*.json"))}
    own = "bw-dmabuf-vs-host-icount.json"
    boots = {d["boot_id"] for n, d in docs.items()
             if n not in ("microbench-host.json", own) and "boots" not in d}
    assert len(boots) == 1, boots
    if own in docs:
        assert docs[own]["boot_id"] not in boots
        assert "icount shift=" in docs[own]["machine"]["guest"]["accel"], docs[own]["machine"]
    for name, d in docs.items():
        if "boots" in d:
            ids = [b["boot_id"] for b in d["boots"]]
            assert len(set(ids)) == len(ids) >= 4, (name, ids)
            flavours = [b["flavour"] for b in d["boots"]]
            pair = [d["pair"]["control"], d["pair"]["patched"]]
            assert pair[0] in ("unpatched-7.2", "stock-7.2"), (name, pair)
            assert pair[1] == "patched-7.2", (name, pair)
            assert flavours == pair * (len(ids) // 2), (name, flavours)


def test_every_table_names_its_raw_file():
    for doc in DOCS:
        text = open(os.path.join(REPO, "docs", doc)).read()
        body = section(text, "tables" if doc == "benchmarks.md" else "summary")
        links = re.findall(r"\]\((figures/[^)]+\.json)\)", body)
        assert links, doc
        for link in links:
            assert os.path.exists(os.path.join(REPO, "docs", link)), (doc, link)
        # a table either has a raw column or is followed by its "Raw:" line
        blocks = re.split(r"\n(?=#{2,4} )", body)
        for block in blocks:
            if "\n|" in block:
                assert "figures/" in block, f"{doc}: a table without its raw file:\n{block[:300]}"


def _fixture(tmp_path):
    """A small raw set (one bandwidth file) and docs with the two markers."""
    raw = tmp_path / "figures"
    raw.mkdir()
    meta = {"date": "2026-12-02 12:00 UTC", "producer": "tools/bench/reproduce",
            "machine": {"host_cpu": "cpu", "host_cores": 2, "host_os": "os"},
            "kernel": {"release": "7.2.13", "id": "patched-x"},
            "rdma_core": {"system": "44.0"}, "boot_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12}
    runs = []
    for rep, (pt, bw) in enumerate([(50.0, 51.0), (52.0, 49.0), (48.0, 55.0)]):
        for tool, v in (("ib_write_bw", pt), ("ibv_dmabuf_bw", bw)):
            runs.append({"tool": tool, "valid": True, "error": None, "rep": rep,
                         "bw_avg_MiBps": v, "wall_s": 1.0 + v / 100, "cq_polls": 1000,
                         "cq_polls_empty": 990})
    doc = dict(meta, cells=[{"bytes": 65536, "iterations": 1000, "reps": 3, "runs": runs}],
               tx_depth=128, cq_mod=100, device="rxe0", order="interleaved")
    (raw / "bw-vs-ib_write_bw.json").write_text(json.dumps(doc))
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, which in (("benchmarks.md", "tables"), ("results.md", "summary")):
        (docs / name).write_text(f"# {name}\n\nprose\n\n<!-- figures-doc: begin {which} -->\n"
                                 f"<!-- figures-doc: end {which} -->\n\nmore prose\n")
    return raw, docs


def test_update_then_check_and_a_hand_edit_is_caught(tmp_path):
    raw, docs = _fixture(tmp_path)
    args = ["--raw", str(raw), "--docs", str(docs)]
    r = gen("--check", *args)
    assert r.returncode == 1 and "differs from the raw files" in r.stderr, r
    assert gen("--update", *args).returncode == 0
    first = {n: (docs / n).read_text() for n in DOCS}
    # medians: ib_write_bw 50.0, ibv_dmabuf_bw 51.0 -> 1.020; the prose around is kept
    assert "**1.020**" in first["benchmarks.md"] and "**1.020**" in first["results.md"]
    assert first["benchmarks.md"].startswith("# benchmarks.md\n\nprose\n")
    assert first["benchmarks.md"].endswith("\n\nmore prose\n")
    assert "figures/bw-vs-ib_write_bw.json" in first["benchmarks.md"]
    assert gen("--check", *args).returncode == 0
    # regenerated in another process, with another hash seed: the same bytes
    assert gen("--update", *args, env=dict(os.environ, PYTHONHASHSEED="7")).returncode == 0
    assert {n: (docs / n).read_text() for n in DOCS} == first
    # a number edited by hand
    (docs / "benchmarks.md").write_text(first["benchmarks.md"].replace("**1.020**", "**1.050**"))
    r = gen("--check", *args)
    assert r.returncode == 1 and "+" in r.stdout and "1.020" in r.stdout, r


def test_markers_missing_is_an_error(tmp_path):
    raw, docs = _fixture(tmp_path)
    (docs / "results.md").write_text("no markers\n")
    r = gen("--check", "--raw", str(raw), "--docs", str(docs))
    assert r.returncode != 0 and "want one" in r.stderr, r


def test_committed_docs_survive_a_fresh_copy(tmp_path):
    """--update on a copy of the committed docs changes nothing: no state outside the raw
    files and the generator goes into the figures."""
    docs = tmp_path / "docs"
    shutil.copytree(os.path.join(REPO, "docs"), docs)
    before = {n: (docs / n).read_text() for n in DOCS}
    assert gen("--update", "--raw", str(docs / "figures"), "--docs", str(docs)).returncode == 0
    assert {n: (docs / n).read_text() for n in DOCS} == before


# ------------------------------------------------- the dma-buf bandwidth and the no-cost figure

META = {"date": "2026-12-02 12:00 UTC", "producer": "tools/bench/reproduce",
        "machine": {"host_cpu": "cpu", "host_cores": 2, "host_os": "os",
                    "guest": {"accel": "QEMU TCG", "vcpus": 2, "clocksource": "hpet"}},
        "kernel": {"release": "7.2.13", "id": "patched-x"},
        "rdma_core": {"system": "44.0"}, "boot_id": "1" * 8 + "-0000-0000-0000-" + "0" * 12}


def _dmabuf_bw_doc():
    """WRITE 64 KiB, 6 pairs: ordinary MR 40 42 38 44 36 50 MiB/s, dma-buf MR 15/16 of each
    (exact in binary) - every pair's ratio 0.9375 while the runs drift: pairs resampled, the
    interval is [0.9375, 0.9375], met against >= 0.9; the two medians 41 and 38.4375 give
    0.9375 too, but resampled independently they straddle 0.9. READ 1 MiB: the dma-buf run of rep 0 failed,
    so rep 0 is left out and the one pair is rep 1's, 33 / 32 (the valid runs in order would
    pair 33 with 30)."""
    def runs(host, dmabuf, bad=()):
        out = []
        for rep, (h, d) in enumerate(zip(host, dmabuf)):
            for mem, v in (("host", h), ("udmabuf:node=0", d)):
                ok = (mem, rep) not in bad
                out.append({"tool": "ibv_dmabuf_bw", "mem": mem, "valid": ok, "rep": rep,
                            "error": None if ok else "client exit status 1: boom",
                            "bw_avg_MiBps": v, "wall_s": 1.0 + v / 100})
        return out
    host = [40.0, 42.0, 38.0, 44.0, 36.0, 50.0]
    cells = [{"op": "write", "bytes": 65536, "iterations": 1000, "reps": 6,
              "runs": runs(host, [h * 15 / 16 for h in host])},
             {"op": "read", "bytes": 1 << 20, "iterations": 200, "reps": 2,
              "runs": runs([30.0, 32.0], [31.0, 33.0], bad={("udmabuf:node=0", 0)})}]
    return dict(META, figure="bw_dmabuf_vs_host", device="rxe0", tx_depth=128, cq_mod=100,
                mems=["host", "udmabuf:node=0"], order="interleaved", cells=cells)


def _no_cost_doc():
    """Boots stock, patched, ... (6 each). 4 KiB: every stock boot 100 100 100 µs; patched boot
    2 makes five calls of 150, the other patched boots one call of 101. Over boots: medians
    100 x6 and 150, 101 x5: 101 / 100 = 1.010; a resample's patched median passes 101 only
    when 3 or more of its 6 draws are boot 2 (p = 0.0623 > 2.5 %; 4 or more: 0.0087), so the
    interval is [1.010, (101 + 150) / 2 / 100 = 1.255]: not settled. The calls pooled give
    (101 + 150) / 2 / 100 = 1.255 instead: one boot with many calls outweighs five. 2 MiB: stock
    100 and patched 101 in every call: 1.010 with no spread, met over 6+6 boots. 1 GiB: boot 4
    failed. Deregistration: 50 x the boot number each call."""
    boots = []
    for i in range(1, 13):
        flavour = "stock-7.2" if i % 2 else "patched-7.2"
        small = [100.0] * 3 if i % 2 else [150.0] * 5 if i == 2 else [101.0]
        sizes = [{"bytes": 4096, "ok": True, "reps": len(small), "order": "one method",
                  "methods": {"ibv_reg_mr": {"reg_us": small,
                                             "dereg_us": [50.0 * i] * len(small)}}},
                 {"bytes": 2 << 20, "ok": True, "reps": 3, "order": "one method",
                  "methods": {"ibv_reg_mr": {"reg_us": [100.0 if i % 2 else 101.0] * 3,
                                             "dereg_us": [1.0] * 3}}}]
        if i == 4:
            sizes.append({"bytes": 1 << 30, "ok": False, "error": "ibv_reg_mr: ENOMEM"})
        thp = {"before": None, "during": None} if flavour == "patched-7.2" else \
            {"before": "always [madvise] never", "during": "always madvise [never]"}
        boots.append(dict(META, boot=i, flavour=flavour, thp=thp,
                          boot_id=f"{i % 10}" * 8 + "-0000-0000-0000-" + "0" * 12,
                          kernel={"release": "7.2.13", "id": flavour},
                          result={"sizes": sizes}))
    return {"figure": "reg_no_attr", "producer": "tools/bench/reproduce --kernels --boots 6",
            "date": "2026-12-02 12:00 UTC", "command": "-d rxe0 --mem host:node=0",
            "order": "6 x (stock-7.2, patched-7.2): one boot each",
            "machine": {"host_cpu": "cpu", "host_cores": 2, "host_os": "os"},
            "repetitions": "4K=3,2M=3,1G=3", "boots": boots}


def test_dmabuf_bandwidth_and_no_cost_tables(tmp_path):
    raw, docs = _fixture(tmp_path)
    (raw / "bw-dmabuf-vs-host.json").write_text(json.dumps(_dmabuf_bw_doc()))
    (raw / "reg-no-attr.json").write_text(json.dumps(_no_cost_doc()))
    assert gen("--update", "--raw", str(raw), "--docs", str(docs)).returncode == 0
    bench, results = ((docs / n).read_text() for n in DOCS)
    table = section(bench, "tables")
    # A: pairs resampled, every pair 0.9375: met; the ratio of medians 38.4375 / 41 beside
    # it, whose independent resamples straddle 0.9
    row = next(l for l in table.splitlines() if l.startswith("| WRITE | 65536 |"))
    assert "| **41.0** [38.5–43.5] (36.0–50.0), 6 | **38.4** [36.1–40.8] (33.8–46.9), 6 | " \
        "**0.938** (0.938–0.938), 6 pairs | met | 0.938 |" in row, row
    host = [40.0, 42.0, 38.0, 44.0, 36.0, 50.0]
    lo, hi = figstats.bootstrap_ratio_ci([h * 15 / 16 for h in host], host)
    assert lo < 0.9 < hi, (lo, hi)
    # READ 1 MiB: rep 0 left out with its failed run, rep 1 paired (33 / 32); one pair
    # settles nothing; the ordinary MR's column keeps both its valid runs
    read = next(l for l in table.splitlines() if l.startswith("| READ | 1048576 | 200 |"))
    assert "| **31.0** [30.5–31.5] (30.0–32.0), 2 | **33.0** [33.0–33.0] (33.0–33.0), 1 | " \
        "**1.031** (1.031–1.031), 1 pair | not settled | 1.065 |" in read, read
    assert "READ 1 MiB: udmabuf:node=0 rep 0: client exit status 1: boom" in table
    summary = section(results, "summary")
    assert ("dma-buf MR (udmabuf, rxe's vmap path) / ordinary MR, WRITE 64 KiB | ≥ 0.9 | "
            "**0.938** (0.938–0.938), median of 6 pairs of runs | met |") in summary, summary
    # B: over boots 101 / 100 with the interval worked out in _no_cost_doc, not settled;
    # the calls pooled 1.255; dereg pooled: stock 50 150 ... 550 x3 (300), patched 100 x5,
    # 200 300 400 500 600 (150)
    row = next(l for l in table.splitlines() if l.startswith("| 4 KiB |"))
    assert "| 1. stock 100.0, 2. patched 150.0, 3. stock 100.0, 4. patched 101.0, " in row, row
    assert "| **1.010** (1.010–1.255), 6+6 boots | not settled | **1.255** (" in row, row
    assert row.endswith("| 300.0 / 150.0 |"), row
    row = next(l for l in table.splitlines() if l.startswith("| 2 MiB |"))
    assert "| **1.010** (1.010–1.010), 6+6 boots | met | **1.010** (1.010–1.010) | met |" \
        in row, row
    assert "| 1 GiB | boot 4 (patched-7.2): ibv_reg_mr: ENOMEM | |  | – | not measured | – | " \
        "not measured | |" in table
    assert "clocksource hpet, THP \"always [madvise] never\" set to \"always madvise " \
        "[never]\"; 2. patched-7.2: kernel 7.2.13 (patched-7.2)" in table
    assert "2026-12-02 12:00 UTC, QEMU TCG guest, 2 vCPUs, clocksource hpet, no THP;" in table
    assert "boot id 33333333-0000-0000-0000-000000000000" in table
    assert "4 KiB | ≤ 1.02 | **1.010** (1.010–1.255) over 6+6 boots; calls pooled **1.255** (" \
        in summary, summary
    assert "2 MiB | ≤ 1.02 | **1.010** (1.010–1.010) over 6+6 boots; calls pooled **1.010** " \
        "(1.010–1.010), 18+18 calls | met (over boots), met (calls pooled) |" in summary, summary
    assert gen("--check", "--raw", str(raw), "--docs", str(docs)).returncode == 0
    # no --icount run: its table says what makes it, and the summary has no row of it
    assert "reg-no-attr-icount.json` is missing " \
        "(`tools/bench/reproduce --kernels --icount 0` makes it).*" in table, table
    assert "guest instructions (icount" not in summary


ICOUNT_CASES = {
    # raw file: (its doc, producer, more keys, what the table says, summary rows: key, count,
    # one of them, the note)
    "reg-no-attr.json": (
        _no_cost_doc, "tools/bench/reproduce --kernels --boots 6 --icount 0", {},
        ["Control: stock-7.2 (Debian's 7.2 build: its own config, allocator and modules, so "
         "the ratio is not the series' alone). Timed by: guest instructions (icount, 1 ns "
         "each).", "Timed by: wall clock."],
        ("ibv_reg_mr", 6, "| `ibv_reg_mr` (REG_MR, no endpoint attribute), patched-7.2 / "
         "stock-7.2, 2 MiB, guest instructions (icount, 1 ns each) | ≤ 1.02 | **1.010** "
         "(1.010–1.010) over 6+6 boots;", "TCG models no cache or memory latency")),
    "bw-dmabuf-vs-host.json": (
        _dmabuf_bw_doc, "tools/bench/reproduce --bw-icount 0", {"events": True},
        ["### ibv_dmabuf_bw: dma-buf MRs against ordinary MRs, rxe0 loopback, one boot, "
         "guest instructions\n\nTimed by: guest instructions (icount, 1 ns each). The boot "
         "ran under QEMU's instruction counting, and every run with `-e`",
         "`ibv_dmabuf_bw` alone, `-t 128 -Q 100 -e`, server and client",
         "`ibv_dmabuf_bw` alone, `-t 128 -Q 100`, server and client"],
        ("vmap path", 4, "| ibv_dmabuf_bw, dma-buf MR (udmabuf, rxe's vmap path) / ordinary "
         "MR, WRITE 64 KiB, guest instructions (icount, 1 ns each), CQ events | ≥ 0.9 | "
         "**0.938** (0.938–0.938), median of 6 pairs of runs | met | ", "")),
}


@pytest.mark.parametrize("name", sorted(ICOUNT_CASES))
def test_icount_table(tmp_path, name):
    """A file timed in guest instructions (--kernels --icount: the no-cost figure;
    --bw-icount: the dma-buf bandwidth): a table of its own beside the wall-clock file's, its
    clock in the heading, summary rows of its own, the note on what instruction counting
    cannot see; without it, its table says what makes it."""
    doc, producer, more, says, (key, nrows, row, note) = ICOUNT_CASES[name]
    icount = name.replace(".json", "-icount.json")
    raw, docs = _fixture(tmp_path)
    (raw / name).write_text(json.dumps(doc()))
    (raw / icount).write_text(json.dumps(dict(
        doc(), clock={"icount_shift": 0, "ns_per_instruction": 1}, producer=producer, **more)))
    assert gen("--update", "--raw", str(raw), "--docs", str(docs)).returncode == 0
    bench, results = ((docs / n).read_text() for n in DOCS)
    table, summary = section(bench, "tables"), section(results, "summary")
    for text in says + [f"produced by `{producer}`"]:
        assert text in table, (text, table)
    rows = [l for l in summary.splitlines() if key in l]
    assert len(rows) == nrows, rows  # each cell twice
    assert row in summary and note in summary, summary
    assert f"figures/{icount}) |" in summary
    assert gen("--check", "--raw", str(raw), "--docs", str(docs)).returncode == 0
    (raw / icount).unlink()
    table = gen("--print", "--raw", str(raw)).stdout
    maker = re.sub(r" --boots \d+", "", producer)
    assert f"{icount}` is missing (`{maker}` makes it).*" in table, table

def test_reproduce_publish_keeps_the_other_runs_files(tmp_path):
    """--kernels --publish replaces reg-no-attr.json alone (--icount: reg-no-attr-icount.json
    alone, --bw-icount bw-dmabuf-vs-host-icount.json alone); the one-boot run's --publish
    replaces every other raw file and leaves those three."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader(
        "reproduce", os.path.join(REPO, "tools/bench/reproduce"))
    spec = importlib.util.spec_from_loader("reproduce", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    raw, docs = _fixture(tmp_path)
    mod.DOCS = str(docs)
    pub = docs / "figures"
    pub.mkdir()
    (pub / "bw-vs-ib_write_bw.json").write_text((raw / "bw-vs-ib_write_bw.json").read_text())
    (pub / "same-clock.json").write_text("{}")  # an old file of the one-boot run
    kout = tmp_path / "kernels"
    kout.mkdir()
    (kout / "reg-no-attr.json").write_text(json.dumps(_no_cost_doc()))
    failures = []
    mod.tables_and_publish(str(kout), True, ["reg-no-attr.json"], failures)
    assert not failures and (kout / "figures.md").exists()
    assert sorted(os.listdir(pub)) == ["bw-vs-ib_write_bw.json", "reg-no-attr.json",
                                       "same-clock.json"]
    assert "figures/reg-no-attr.json" in (docs / "benchmarks.md").read_text()
    iout = tmp_path / "icount"
    iout.mkdir()
    (iout / "reg-no-attr-icount.json").write_text(json.dumps(_no_cost_doc()))
    mod.tables_and_publish(str(iout), True, ["reg-no-attr-icount.json"], failures)
    assert not failures
    assert sorted(os.listdir(pub)) == ["bw-vs-ib_write_bw.json", "reg-no-attr-icount.json",
                                       "reg-no-attr.json", "same-clock.json"]
    bout = tmp_path / "bw-icount"
    bout.mkdir()
    (bout / mod.BW_ICOUNT_FILE).write_text(json.dumps(dict(_dmabuf_bw_doc(), events=True)))
    mod.tables_and_publish(str(bout), True, [mod.BW_ICOUNT_FILE], failures)
    assert not failures
    assert sorted(os.listdir(pub)) == ["bw-dmabuf-vs-host-icount.json", "bw-vs-ib_write_bw.json",
                                       "reg-no-attr-icount.json", "reg-no-attr.json",
                                       "same-clock.json"]
    (raw / "bw-dmabuf-vs-host.json").write_text(json.dumps(_dmabuf_bw_doc()))
    mod.tables_and_publish(str(raw), True, None, failures)
    assert not failures
    assert sorted(os.listdir(pub)) == ["bw-dmabuf-vs-host-icount.json", "bw-dmabuf-vs-host.json",
                                       "bw-vs-ib_write_bw.json", "reg-no-attr-icount.json",
                                       "reg-no-attr.json"]
    assert gen("--check", "--raw", str(pub), "--docs", str(docs)).returncode == 0
    # a run with failures publishes nothing
    mod.tables_and_publish(str(kout), True, ["reg-no-attr.json"], ["a failure"])
    assert (pub / "reg-no-attr.json").read_text() == json.dumps(_no_cost_doc())


def test_reproduce_icount_usage():
    """--icount times the --kernels boots only, with a shift QEMU takes (0-10); --bw-icount
    boots patched-7.2 alone."""
    tool = os.path.join(REPO, "tools/bench/reproduce")
    for args, msg in ((["--icount", "0"], "--icount goes with --kernels"),
                      (["--kernels", "--icount", "11"], "argument --icount: invalid choice"),
                      (["--bw-icount", "0", "--kernels"], "--bw-icount boots patched-7.2 "
                       "alone: no --kernels or --kernel"),
                      (["--bw-icount", "0", "--kernel", "stock-7.2"], "--bw-icount boots "
                       "patched-7.2 alone"),
                      (["--bw-icount", "11"], "argument --bw-icount: invalid choice")):
        r = subprocess.run([tool] + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
