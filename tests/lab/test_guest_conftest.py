# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host tests of the guest suite's build check (tests/lab/guest/conftest.py): in the lab
(LAB=1) a missing build tree stops the whole run with one error and rc 1, where it used to let
each module that needs the build skip and pytest pass. No guest needed: the check runs at
collection, which --collect-only exercises here with the lab's environment variable set.
(tests/lab/test_labrun.py boots a guest to see DMP_BUILD carried in and the same failure.)

    /usr/bin/python3 -m pytest -q tests/lab/test_guest_conftest.py
"""

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIB = "libibverbs-ext/libibverbs-ext.so.1"


def collect(build, module="tests/lab/guest/test_lab_topology.py", lab="1"):
    env = dict(os.environ, LAB=lab, DMP_BUILD=str(build))
    return subprocess.run(["/usr/bin/python3", "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", module], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_missing_build_tree_is_one_error(tmp_path):
    r = collect(tmp_path / "no-such-build")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"lab suite: no build tree at {tmp_path}/no-such-build" in r.stdout, r.stdout
    assert r.stdout.count("lab suite:") == 1, r.stdout


def test_build_tree_without_the_library_is_one_error(tmp_path):
    r = collect(tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"lab suite: the build tree {tmp_path} has no {LIB}" in r.stdout, r.stdout


def test_outside_the_lab_there_is_nothing_to_check(tmp_path):
    r = collect(tmp_path / "no-such-build", lab="")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_a_built_tree_collects():
    build = os.environ.get("DMP_BUILD") or str(REPO / "build")
    if not os.path.exists(os.path.join(build, LIB)):
        pytest.fail(f"{build} has no {LIB}: build first (cmake --build build) or set DMP_BUILD")
    r = collect(build)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "test_lab_topology.py" in r.stdout, r.stdout
