# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host tests of tests/lab/peer-record: the committed suite table is what the saved runs give,
a hand edit is caught, save keeps the outcomes and not the log, and the comparisons run-all
applies fail on a regression or a missing dma-buf MR test."""
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOOL = os.path.join(HERE, "peer-record")
DMABUF_TESTS = [f"tests.test_mr.DmaBufMRTest.test_{i}" for i in range(8)] + \
    [f"tests.test_mr.DmaBufTestCase.test_{i}" for i in range(2)]


def run(tool, *args):
    return subprocess.run(["/usr/bin/python3", tool] + list(args), capture_output=True,
                          text=True, timeout=60)


def tree(tmp_path):
    """A copy of the tools and docs, so that a test may edit them."""
    for rel in ("tests/lab/peer-record", "tests/lab/peer-compare", "docs/results.md"):
        os.makedirs(tmp_path / os.path.dirname(rel), exist_ok=True)
        shutil.copy(os.path.join(REPO, rel), tmp_path / rel)
    shutil.copytree(os.path.join(REPO, "docs/peer-suite"), tmp_path / "docs/peer-suite")
    return str(tmp_path / "tests/lab/peer-record")


def suite_run(path, name, kernel, results, tail="the whole log"):
    ok = sum(r == "ok" for r in results.values())
    failed = sum(r == "failed" for r in results.values())
    doc = {"summary": {"name": name, "suite": "s", "kernel": kernel, "ran": len(results),
                       "ok": ok, "skipped": len(results) - ok - failed, "failed": failed,
                       "errors": 0},
           "results": results, "reasons": {}, "tail": tail, "durations": {}}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f)


def test_committed_table_is_what_the_saved_runs_give():
    r = run(TOOL, "check")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr


def test_a_hand_edited_count_is_caught(tmp_path):
    tool = tree(tmp_path)
    doc = tmp_path / "docs/results.md"
    text = doc.read_text()
    a = text.index("<!-- peer-record: begin")
    row = text.index("| stock-7.2", a)
    cells = text[row:text.index("\n", row)].split(" | ")
    cells[3] = str(int(cells[3]) + 1)  # the ok count
    doc.write_text(text[:row] + " | ".join(cells) + text[text.index("\n", row):])
    r = run(tool, "check")
    assert r.returncode == 1 and "edited by hand" in r.stderr, r.stdout + r.stderr
    assert run(tool, "update").returncode == 0
    assert run(tool, "check").returncode == 0


def test_save_keeps_outcomes_not_the_log(tmp_path):
    tool = tree(tmp_path)
    lab = tmp_path / "lab"
    suite_run(str(lab / "stock-7.2/peer-debian.json"), "peer-debian", "7.2.13+deb14-amd64",
              {"t.a": "ok", "t.b": "skipped"})
    r = run(tool, "save", str(lab))
    assert r.returncode == 0 and "saved 1 runs" in r.stdout, r.stdout + r.stderr
    saved = json.load(open(tmp_path / "docs/peer-suite/stock-7.2-debian.json"))
    assert saved["results"] == {"t.a": "ok", "t.b": "skipped"}
    assert saved["kernel"] == "stock-7.2" and saved["date"].endswith("UTC")
    assert "tail" not in saved and "durations" not in saved
    assert run(tool, "save", str(tmp_path / "nothing")).returncode != 0


def test_compare_fails_on_a_regression_and_not_on_the_racy_test(tmp_path):
    lab = tmp_path / "lab"
    racy = "tests.test_cq.CQTest.test_resize_cq"
    suite_run(str(lab / "stock-7.2/peer-debian.json"), "peer-debian", "stock",
              {"t.a": "ok", racy: "ok"})
    suite_run(str(lab / "patched-7.2/peer-debian.json"), "peer-debian", "patched",
              {"t.a": "ok", racy: "failed"})
    r = run(TOOL, "compare", "debian", str(lab))
    assert r.returncode == 0 and "RACY" in r.stdout, r.stdout + r.stderr
    suite_run(str(lab / "patched-7.2/peer-debian.json"), "peer-debian", "patched",
              {"t.a": "failed", racy: "ok"})
    r = run(TOOL, "compare", "debian", str(lab))
    assert r.returncode == 1 and "REGRESSION: t.a" in r.stdout, r.stdout + r.stderr


def test_compare_v65_needs_the_ten_dmabuf_mr_tests(tmp_path):
    lab = tmp_path / "lab"
    before = {t: "skipped" for t in DMABUF_TESTS}
    suite_run(str(lab / "stock-7.2/peer-v65.json"), "peer-v65", "stock", before)
    suite_run(str(lab / "patched-7.2/peer-v65.json"), "peer-v65", "patched",
              {t: "ok" for t in DMABUF_TESTS})
    r = run(TOOL, "compare", "v65", str(lab))
    assert r.returncode == 0 and "must-pass held" in r.stdout, r.stdout + r.stderr
    suite_run(str(lab / "patched-7.2/peer-v65.json"), "peer-v65", "patched",
              dict({t: "ok" for t in DMABUF_TESTS[1:]}, **{DMABUF_TESTS[0]: "skipped"}))
    r = run(TOOL, "compare", "v65", str(lab))
    assert r.returncode == 1 and "must-pass NOT held" in r.stdout, r.stdout + r.stderr
