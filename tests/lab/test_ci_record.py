# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host-side tests of tests/lab/ci-record: the cold CI times in tests/lab/README.md are the
saved runs' (docs/ci-runs/*.json), a hand edit is caught, and a record is made only from a log
that has run-all's summary. No lab needed (~1 s)."""

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TOOL = HERE / "ci-record"

SUMMARY = """=== summary
build                                    ok        14s
lab suite, stock-6.12                    FAILED   408s
lab suite, KASAN patched-7.2             NOT RUN (85 min used of a 80 min budget)
lab kernels (made beside the host stages) ok        72s
"""


def run(tool, *args):
    return subprocess.run(["/usr/bin/python3", str(tool), *args], capture_output=True,
                          text=True, timeout=60)


def copy_tree(tmp_path):
    """ci-record, its README and the saved runs, where the tool finds them from its path."""
    lab = tmp_path / "tests/lab"
    lab.mkdir(parents=True)
    shutil.copy(TOOL, lab / "ci-record")
    shutil.copy(HERE / "README.md", lab / "README.md")
    shutil.copytree(REPO / "docs/ci-runs", tmp_path / "docs/ci-runs")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-q", "--allow-empty", "-m", "t"], check=True)
    return lab / "ci-record"


def test_readme_section_is_the_saved_runs():
    saved = sorted((REPO / "docs/ci-runs").glob("*.json"))
    assert saved, "no saved cold CI run"
    res = run(TOOL, "check")
    assert res.returncode == 0, res.stdout + res.stderr


def test_hand_edit_is_caught(tmp_path):
    tool = copy_tree(tmp_path)
    readme = tmp_path / "tests/lab/README.md"
    text = readme.read_text()
    edited = text.replace("Wall time of `.ci/run`: **", "Wall time of `.ci/run`: **1", 1)
    assert edited != text
    readme.write_text(edited)
    res = run(tool, "check")
    assert res.returncode == 1 and "ci-record update" in res.stderr, res.stderr


def test_save_keeps_the_summary_and_update_writes_it(tmp_path):
    tool = copy_tree(tmp_path)
    log = tmp_path / "ci.log"
    log.write_text("=== build\nnoise\n" + SUMMARY)
    res = run(tool, "save", str(log), "--start", "1000", "--end", "4600", "--cache", "empty",
              "--packages", "installed", "--repo", str(tmp_path), "--note", "a note",
              "zz-test")
    assert res.returncode == 0, res.stderr
    rec = json.loads((tmp_path / "docs/ci-runs/zz-test.json").read_text())
    assert rec["wall_seconds"] == 3600 and rec["failed"] == ["lab suite, stock-6.12"]
    assert rec["stages"][0] == {"name": "build", "status": "ok", "seconds": 14}
    assert rec["stages"][2]["status"] == "NOT RUN"
    # a name longer than printf's 40 characters widens its field; it must not end the table
    assert rec["stages"][3] == {"name": "lab kernels (made beside the host stages)",
                                "status": "ok", "seconds": 72}
    assert run(tool, "check").returncode == 1
    assert run(tool, "update").returncode == 0
    assert run(tool, "check").returncode == 0
    text = (tmp_path / "tests/lab/README.md").read_text()
    assert "**60.0 min**; failed: lab suite, stock-6.12." in text and "a note" in text


def test_log_without_summary_is_refused(tmp_path):
    tool = copy_tree(tmp_path)
    log = tmp_path / "ci.log"
    log.write_text("=== build\nthe run was stopped\n")
    res = run(tool, "save", str(log), "--start", "1", "--end", "2", "--cache", "empty",
              "--packages", "installed", "--repo", str(tmp_path), "x")
    assert res.returncode == 2 and "no run-all summary" in res.stderr, res.stderr
    assert not (tmp_path / "docs/ci-runs/x.json").exists()
