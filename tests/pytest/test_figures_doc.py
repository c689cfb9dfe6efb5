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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(REPO, "tools/bench/figures-doc")
RAW = os.path.join(REPO, "docs/figures")
DOCS = ("benchmarks.md", "results.md")


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
        for key in ("date", "producer", "machine", "kernel", "rdma_core", "boot_id",
                    "repetitions"):
            assert doc.get(key), (f, key)
        assert doc["kernel"]["release"] and doc["rdma_core"]["system"], f
        assert re.fullmatch(r"[0-9a-f-]{36}", doc["boot_id"]), (f, doc["boot_id"])
        assert "--quick" not in doc["producer"], f"{f}: a --quick run is not published"


def test_one_boot_per_published_lab_run():
    """Every lab figure comes from one boot: the same boot id in all of the lab's files."""
    boots = {json.load(open(f))["boot_id"] for f in glob.glob(os.path.join(RAW, "*.json"))
             if os.path.basename(f) != "microbench-host.json"}
    assert len(boots) == 1, boots


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
