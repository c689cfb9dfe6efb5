# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host tests of tests/lab/check-skips (a lab run's skips against its kernel's manifest in
tests/lab/skips/): its verdicts on crafted run directories, and that every committed manifest
reads. No VM needed.

    /usr/bin/python3 -m pytest -q -rs tests/lab/test_check_skips.py
"""

import json
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHECK = HERE / "check-skips"
PY = "/usr/bin/python3"

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" skipped="2">
<testcase classname="tests.lab.guest.test_a" name="test_stock[node0]">
  <skipped type="pytest.skip" message="describes a stock kernel (this guest runs patched-7.2)"/>
</testcase>
<testcase classname="tests.lab.guest.test_a" name="test_peer">
  <skipped type="pytest.skip" message="needs a peer guest"/>
</testcase>
<testcase classname="tests.lab.guest.test_a" name="test_ok"/>
</testsuite></testsuites>
"""

SUITE = {"summary": {}, "results": {"tests.test_mr.DmaBufMRTest.test_reg": "skipped",
                                    "tests.test_qp.QPTest.test_rc": "ok"},
         "reasons": {"tests.test_mr.DmaBufMRTest.test_reg": "Allocating dmabuf is not supported"}}

MANIFEST = """# comment
pytest      test_a.py::test_stock[*] describes a stock kernel \\(this guest runs patched-7\\.2\\)
pytest      test_a.py::test_peer needs a peer guest
peer-debian tests.test_mr.* Allocating dmabuf is not supported
"""


@pytest.fixture
def run(tmp_path):
    (tmp_path / "junit.xml").write_text(JUNIT)
    (tmp_path / "peer-debian.json").write_text(json.dumps(SUITE))
    return tmp_path


def check(tmp_path, manifest, out):
    m = tmp_path / "manifest"
    m.write_text(manifest)
    return subprocess.run([PY, str(CHECK), str(m), str(out)], capture_output=True, text=True,
                          timeout=60)


def test_all_expected(run, tmp_path):
    r = check(tmp_path, MANIFEST, run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "check-skips: 3 skips, each expected by manifest"


@pytest.mark.parametrize("drop,who", [
    (1, "pytest test_a.py::test_stock[node0]: describes a stock kernel "
        "(this guest runs patched-7.2)"),
    (3, "peer-debian tests.test_mr.DmaBufMRTest.test_reg: Allocating dmabuf is not supported"),
])
def test_a_skip_missing_from_the_manifest_fails(run, tmp_path, drop, who):
    lines = MANIFEST.splitlines()
    del lines[drop]
    r = check(tmp_path, "\n".join(lines) + "\n", run)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"check-skips: unexpected skip: {who}" in r.stdout.splitlines()
    assert r.stdout.splitlines()[-1] == "check-skips: 1 of 3 skips are not in manifest"


def test_reason_must_match_whole(run, tmp_path):
    """A reason that only starts like the expected one is not the expected one."""
    r = check(tmp_path, MANIFEST.replace("needs a peer guest", "needs a peer"), run)
    assert r.returncode == 1 and "test_a.py::test_peer: needs a peer guest" in r.stdout


def test_brackets_are_literal(run, tmp_path):
    """`test_stock[*]` is the parametrized test, not a character class."""
    r = check(tmp_path, MANIFEST.replace("test_stock[*]", "test_stoc[k]*"), run)
    assert r.returncode == 1 and "test_stock[node0]" in r.stdout


def test_suite_names_are_kept_apart(run, tmp_path):
    r = check(tmp_path, MANIFEST.replace("peer-debian tests.test_mr", "peer-v65 tests.test_mr"),
              run)
    assert r.returncode == 1 and "peer-debian tests.test_mr.DmaBufMRTest" in r.stdout


def test_the_one_tcg_thread_boot_is_checked_as_pytest(run, tmp_path):
    """run-suite's second boot (OUT/tcg1/junit.xml) is the same suite: pytest's lines cover it,
    and a skip there that no line expects fails the run."""
    (run / "tcg1").mkdir()
    (run / "tcg1" / "junit.xml").write_text(JUNIT.replace("test_stock[node0]", "test_stock[n1]"))
    r = check(tmp_path, MANIFEST, run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "check-skips: 5 skips, each expected by manifest"
    (run / "tcg1" / "junit.xml").write_text(JUNIT.replace("needs a peer guest", "other"))
    r = check(tmp_path, MANIFEST, run)
    assert r.returncode == 1 and "check-skips: unexpected skip: pytest test_a.py::test_peer: " \
        "other" in r.stdout.splitlines(), r.stdout


def test_unused_line_is_a_note(run, tmp_path):
    r = check(tmp_path, MANIFEST + "pytest-v65 test_b.py::* anything\n", run)
    assert r.returncode == 0, r.stdout
    assert "check-skips: note: manifest:5 (pytest-v65 test_b.py::*) matched no skip" in r.stdout


@pytest.mark.parametrize("manifest,why", [
    ("pytest test_a.py::x\n", "manifest:1: want 'SUITE TEST REASON', got 'pytest test_a.py::x'"),
    ("junit * x\n", "manifest:1: unknown suite 'junit'"),
    ("pytest * (unclosed\n", "manifest:1: bad reason pattern"),
])
def test_bad_manifest(run, tmp_path, manifest, why):
    r = check(tmp_path, manifest, run)
    assert r.returncode == 2 and r.stderr.startswith("check-skips: ") and f"/{why}" in r.stderr, \
        r.stderr


def test_unreadable_result_file(run, tmp_path):
    (run / "peer-debian.json").write_text("{")
    r = check(tmp_path, MANIFEST, run)
    assert r.returncode == 2 and "cannot read" in r.stderr, r.stderr


@pytest.mark.parametrize("manifest", sorted((HERE / "skips").iterdir()), ids=lambda p: p.name)
def test_committed_manifests_read(manifest, tmp_path):
    """Each kernel's manifest parses (checked against an empty run: nothing to expect)."""
    r = subprocess.run([PY, str(CHECK), str(manifest), str(tmp_path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines()[-1].startswith("check-skips: 0 skips"), \
        r.stdout + r.stderr
