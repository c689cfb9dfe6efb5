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
    different, the control kernel its raw file names and the patched one taking turns."""
    docs = {os.path.basename(f): json.load(open(f))
            for f in glob.glob(os.path.join(RAW, "*.json"))}
    boots = {d["boot_id"] for n, d in docs.items()
             if n != "microbench-host.json" and "boots" not in d}
    assert len(boots) == 1, boots
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
    """WRITE 64 KiB: ordinary MR 40, 42, 38 and dma-buf MR 36, 39, 37 MiB/s, run in pairs
    (ratios 0.9, 0.929, 0.974: median 0.929; medians 40 and 37: 0.925); READ 1 MiB: a dma-buf
    run that failed, left out with its pair."""
    def runs(host, dmabuf, bad=()):
        out = []
        for rep, (h, d) in enumerate(zip(host, dmabuf)):
            for mem, v in (("host", h), ("udmabuf:node=0", d)):
                ok = (mem, rep) not in bad
                out.append({"tool": "ibv_dmabuf_bw", "mem": mem, "valid": ok, "rep": rep,
                            "error": None if ok else "client exit status 1: boom",
                            "bw_avg_MiBps": v, "wall_s": 1.0 + v / 100})
        return out
    cells = [{"op": "write", "bytes": 65536, "iterations": 1000, "reps": 3,
              "runs": runs([40.0, 42.0, 38.0], [36.0, 39.0, 37.0])},
             {"op": "read", "bytes": 1 << 20, "iterations": 200, "reps": 2,
              "runs": runs([30.0, 32.0], [31.0, 33.0], bad={("udmabuf:node=0", 1)})}]
    return dict(META, figure="bw_dmabuf_vs_host", device="rxe0", tx_depth=128, cq_mod=100,
                mems=["host", "udmabuf:node=0"], order="interleaved", cells=cells)


def _no_cost_doc():
    """Boots stock, patched, stock, patched; 4 KiB medians 110, 115, 100, 110 µs. Pooled:
    stock 90 100 100 110 110 120 (105), patched 100 105 110 115 120 125 (112.5): 1.071.
    Boot against boot: 115/110, 115/100, 110/110, 110/100: 1.000-1.150, not settled."""
    regs = [[100.0, 110.0, 120.0], [105.0, 115.0, 125.0], [90.0, 100.0, 110.0],
            [100.0, 110.0, 120.0]]
    boots = []
    for i, (flavour, reg) in enumerate(zip(["stock-7.2", "patched-7.2"] * 2, regs), 1):
        sizes = [{"bytes": 4096, "ok": True, "reps": 3, "order": "one method",
                  "methods": {"ibv_reg_mr": {"reg_us": reg, "dereg_us": [50.0 * i] * 3}}}]
        if i == 4:
            sizes.append({"bytes": 1 << 30, "ok": False, "error": "ibv_reg_mr: ENOMEM"})
        thp = {"before": None, "during": None} if flavour == "patched-7.2" else \
            {"before": "always [madvise] never", "during": "always madvise [never]"}
        boots.append(dict(META, boot=i, flavour=flavour, thp=thp,
                          boot_id=f"{i}" * 8 + "-0000-0000-0000-" + "0" * 12,
                          kernel={"release": "7.2.13", "id": flavour},
                          result={"sizes": sizes}))
    return {"figure": "reg_no_attr", "producer": "tools/bench/reproduce --kernels",
            "date": "2026-12-02 12:00 UTC", "command": "-d rxe0 --mem host:node=0",
            "order": "stock-7.2, patched-7.2, stock-7.2, patched-7.2: one boot each",
            "machine": {"host_cpu": "cpu", "host_cores": 2, "host_os": "os"},
            "repetitions": "4K=3,1G=3", "boots": boots}


def test_dmabuf_bandwidth_and_no_cost_tables(tmp_path):
    raw, docs = _fixture(tmp_path)
    (raw / "bw-dmabuf-vs-host.json").write_text(json.dumps(_dmabuf_bw_doc()))
    (raw / "reg-no-attr.json").write_text(json.dumps(_no_cost_doc()))
    assert gen("--update", "--raw", str(raw), "--docs", str(docs)).returncode == 0
    bench, results = ((docs / n).read_text() for n in DOCS)
    table = section(bench, "tables")
    # A: the median of the pairs' ratios 36/40, 39/42, 37/38 with pairs resampled, its
    # verdict against >= 0.9, the ratio of medians 37 / 40 beside it; the failed run named,
    # left out with its pair, its partner still in the ordinary MR's runs
    row = next(l for l in table.splitlines() if l.startswith("| WRITE | 65536 |"))
    assert "**40.0** [39.0–41.0] (38.0–42.0), 3" in row, row
    lo, hi = figstats.bootstrap_ci([[36 / 40, 39 / 42, 37 / 38]], lambda m: m[0])
    verdict = figstats.verdict(lo, hi, ">= 0.9")
    assert verdict == "met" and lo == 0.9 < hi, (lo, hi)  # unpaired: not settled
    assert f"**0.929** ({lo:.3f}–{hi:.3f}), 3 pairs | {verdict} | 0.925 |" in row, row
    read = next(l for l in table.splitlines() if l.startswith("| READ | 1048576 | 200 |"))
    assert "| **31.0** [30.5–31.5] (30.0–32.0), 2 | **31.0** [31.0–31.0] (31.0–31.0), 1 | " \
        "**1.033** (1.033–1.033), 1 pair | not settled | 1.000 |" in read, read
    assert "READ 1 MiB: udmabuf:node=0 rep 1: client exit status 1: boom" in table
    summary = section(results, "summary")
    assert (f"dma-buf MR (udmabuf, rxe's vmap path) / ordinary MR, WRITE 64 KiB | ≥ 0.9 | "
            f"**0.929** ({lo:.3f}–{hi:.3f}), median of 3 pairs of runs | {verdict} |") \
        in summary, summary
    # B: each boot's median; over boots median(115, 110) / median(110, 100) with boots
    # resampled, and its verdict; the pooled calls' 112.5 / 105
    row = next(l for l in table.splitlines() if l.startswith("| 4 KiB |"))
    assert "| 1. stock 110.0, 2. patched 115.0, 3. stock 100.0, 4. patched 110.0 |" in row, row
    blo, bhi = figstats.bootstrap_ratio_ci([115.0, 110.0], [110.0, 100.0])
    bverdict = figstats.verdict(blo, bhi, "<= 1.02")
    assert bverdict == "not settled" and blo < 1.02 < bhi, (blo, bhi)
    assert f"| **1.071** ({blo:.3f}–{bhi:.3f}), 2+2 boots | {bverdict} | **1.071** (" in row, row
    assert row.endswith("| 100.0 / 150.0 |"), row  # dereg: boots 1, 3 (50, 150), 2, 4
    assert "| 1 GiB | boot 4 (patched-7.2): ibv_reg_mr: ENOMEM |" in table
    assert "clocksource hpet, THP \"always [madvise] never\" set to \"always madvise " \
        "[never]\"; 2. patched-7.2: kernel 7.2.13 (patched-7.2)" in table
    assert "2026-12-02 12:00 UTC, QEMU TCG guest, 2 vCPUs, clocksource hpet, no THP;" in table
    assert "boot id 33333333-0000-0000-0000-000000000000" in table
    assert f"**1.071** ({blo:.3f}–{bhi:.3f}) over 2+2 boots; calls pooled **1.071** (" \
        in summary, summary
    assert "6+6 calls | not settled (over boots), " in summary, summary
    assert gen("--check", "--raw", str(raw), "--docs", str(docs)).returncode == 0


def test_reproduce_publish_keeps_the_other_runs_files(tmp_path):
    """--kernels --publish replaces reg-no-attr.json alone; the one-boot run's --publish
    replaces every other raw file and leaves reg-no-attr.json."""
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
    (raw / "bw-dmabuf-vs-host.json").write_text(json.dumps(_dmabuf_bw_doc()))
    mod.tables_and_publish(str(raw), True, None, failures)
    assert not failures
    assert sorted(os.listdir(pub)) == ["bw-dmabuf-vs-host.json", "bw-vs-ib_write_bw.json",
                                       "reg-no-attr.json"]
    assert gen("--check", "--raw", str(pub), "--docs", str(docs)).returncode == 0
    # a run with failures publishes nothing
    mod.tables_and_publish(str(kout), True, ["reg-no-attr.json"], ["a failure"])
    assert (pub / "reg-no-attr.json").read_text() == json.dumps(_no_cost_doc())
