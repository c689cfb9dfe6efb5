# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host tests of the lab's rdma-core suite tools: tests/lab/guest/rdma_core_suite (its parser,
its runner, its JSON, its refusals), tests/lab/peer-compare (its verdicts on crafted runs) and
tests/lab/run-suite (its refusals, whether it holds the heavy-job lock). No RDMA device needed:
the suites themselves run in the lab; here rdma-core's real suites run where every test errs
for want of a device, which is real unittest output all the same.

    /usr/bin/python3 -m pytest -q -rs tests/lab/test_suites.py
"""

import glob
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SUITE = HERE / "guest" / "rdma_core_suite"
COMPARE = HERE / "peer-compare"
RUN_SUITE = HERE / "run-suite"
PY = "/usr/bin/python3"


def load_suite():
    loader = SourceFileLoader("rdma_core_suite", str(SUITE))
    module = module_from_spec(spec_from_loader("rdma_core_suite", loader))
    loader.exec_module(module)
    return module


suite = load_suite()

# A unittest module with every shape of verbose output: a failed and a skipped class fixture,
# a test that prints "FAIL" itself before passing, a docstring line before " ... ", a skip
# reason with a newline, an expected failure and an unexpected success, a failed subtest, a
# slow test.
MODULE = '''
import time
import unittest

class A(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("boom")
    def test_never(self):
        pass

class B(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("no device")
    def test_never(self):
        pass

class C(unittest.TestCase):
    def test_prints(self):
        print("FAIL")
        print("is_fork_initialized() = 2")
    def test_doc(self):
        """First line of a docstring.

        More."""
        self.skipTest("two\\nlines")
    @unittest.expectedFailure
    def test_xfail(self):
        self.fail("known")
    @unittest.expectedFailure
    def test_xpass(self):
        pass
    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertNotEqual(i, 1)
    def test_fails(self):
        self.assertEqual(1, 2)
    def test_errs(self):
        raise OSError(95, "Operation not supported")
    def test_slow(self):
        time.sleep(1.2)
'''

EXPECTED = {
    "test_shapes.A.setUpClass": "error",
    "test_shapes.B.setUpClass": "skipped",
    "test_shapes.C.test_doc": "skipped",
    "test_shapes.C.test_errs": "error",
    "test_shapes.C.test_fails": "failed",
    "test_shapes.C.test_prints": "ok",
    "test_shapes.C.test_slow": "ok",
    "test_shapes.C.test_subtests": "failed",
    "test_shapes.C.test_xfail": "xfail",
    "test_shapes.C.test_xpass": "xpass",
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The module above run for real by unittest through the suite's runner."""
    d = tmp_path_factory.mktemp("shapes")
    (d / "test_shapes.py").write_text(MODULE)
    log = d / "shapes.log"
    rc, text, stamps = suite.run_logged([PY, "-m", "unittest", "-v", "test_shapes"], str(d),
                                        dict(os.environ), str(log), 60)
    return rc, text, stamps, log


def test_parser_reads_every_shape(shapes):
    rc, text, _, _ = shapes
    assert rc == 1, text
    counts, results, entries = suite.parse(text)
    assert {t: s for t, s, _, _ in results} == EXPECTED, text
    assert len(results) == len(EXPECTED)
    reasons = {t: r for t, s, r, _ in results if s == "skipped"}
    assert reasons == {"test_shapes.B.setUpClass": "no device",
                       "test_shapes.C.test_doc": "two\nlines"}
    # unittest's own counts: fixtures count as errors/skips but not as tests run
    assert counts == {"ran": 8, "ok": 2, "skipped": 2, "failed": 2, "errors": 2, "xfail": 1,
                      "xpass": 1}
    suite.check(counts, results, entries, rc)


def test_runner_logs_and_times_each_test(shapes):
    rc, text, stamps, log = shapes
    assert log.read_text().startswith(f"$ {PY} -m unittest -v test_shapes\n")
    assert log.read_text().endswith(text)
    counts, results, _ = suite.parse(text)
    doc = suite.to_json("shapes", "here", "/t", "rxe0", rc, stamps[-1][1], counts, results,
                        text, stamps)
    d = doc["durations"]
    assert d["test_shapes.C.test_slow"] >= 1.1, d
    assert all(v < 1.0 for t, v in d.items() if t != "test_shapes.C.test_slow"), d
    assert doc["results"] == EXPECTED
    assert doc["summary"] == {"name": "shapes", "suite": "here", "tests": "/t", "dev": "rxe0",
                              "kernel": os.uname().release, "rc": 1, "left_out": [],
                              "seconds": round(stamps[-1][1], 1), **counts}
    assert set(doc["reasons"]) == {"test_shapes.B.setUpClass", "test_shapes.C.test_doc"}
    assert suite.summary_line(doc["summary"]) == (
        "RDMA_CORE_SUITE id=shapes suite=here dev=rxe0 ran=8 ok=2 skipped=2 failed=2 "
        f"errors=2 xfail=1 xpass=1 modules_left_out=0 rc=1 secs={stamps[-1][1]:.0f}")


def test_check_refuses_what_it_cannot_count(shapes):
    _, text, _, _ = shapes
    no_summary = text[:text.index("\n" + "=" * 70)]
    counts, results, entries = suite.parse(no_summary)
    assert counts is None
    with pytest.raises(suite.CannotCount, match="without a unittest summary"):
        suite.check(counts, results, entries, 1)
    # A test whose outcome line is lost (interleaved output): one test short.
    lost = text.replace("test_fails (test_shapes.C.test_fails) ... FAIL",
                        "test_fails (test_shapes.C.test_fails) ... ")
    assert lost != text
    with pytest.raises(suite.CannotCount, match="read the outcome of 7 tests"):
        suite.check(*suite.parse(lost), 1)
    # The summary and the outcomes disagree.
    wrong = text.replace("skipped=2", "skipped=3")
    assert wrong != text
    with pytest.raises(suite.CannotCount, match="read 2 skipped outcomes, the summary counts 3"):
        suite.check(*suite.parse(wrong), 1)


def test_runner_stops_the_whole_process_group_at_the_timeout(tmp_path):
    """The suite's rdmacm tests fork: a timeout must not leave their children behind."""
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import subprocess, time
        p = subprocess.Popen(["sleep", "60"])
        open("{pidfile}", "w").write(str(p.pid))
        time.sleep(60)
    """)
    t0 = time.monotonic()
    rc, _, _ = suite.run_logged([PY, "-c", script], str(tmp_path), dict(os.environ),
                                str(tmp_path / "log"), 2)
    assert rc is None and time.monotonic() - t0 < 10
    child = int(pidfile.read_text())
    for _ in range(50):
        if not os.path.exists(f"/proc/{child}") or \
                Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the suite's child {child} outlived the timeout")


def test_debian_suite_is_unpacked_and_counted(tmp_path):
    """Debian's python3-pyverbs suite, copied and gunzipped, runs for real and is counted:
    without a device every test errs or skips, and the counts still agree."""
    if not os.path.isfile(os.path.join(suite.DEBIAN_TESTS, "run_tests.py")):
        pytest.skip(f"{suite.DEBIAN_TESTS} missing: apt-get install python3-pyverbs "
                    "(tools/install-deps)")
    args = type("Args", (), {"debian": True, "build": None})
    cmd, cwd, env, label, tests, modules = suite.prepare(args, str(tmp_path))
    assert modules == str(tmp_path / "tests")
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "python3-pyverbs"],
                             capture_output=True, text=True, check=True).stdout
    assert label == f"debian-{version}" and tests == suite.DEBIAN_TESTS
    assert cmd == [PY, str(tmp_path / "tests" / "run_tests.py")]
    assert not list((tmp_path / "tests").glob("*.gz"))
    assert (tmp_path / "tests" / "base.py").is_file()
    rc, text, stamps = suite.run_logged(cmd + ["--dev", "nosuchdev0", "-v"], cwd, env,
                                        str(tmp_path / "log"), 300)
    counts, results, entries = suite.parse(text)
    suite.check(counts, results, entries, rc)
    assert counts["ran"] > 200 and counts["ok"] == 0, counts
    assert counts["errors"] > 0, counts


@pytest.fixture(scope="module")
def builds():
    """tools/rdma-core/build's two builds (cached after tests/run-all's build stage; built
    now otherwise, under the heavy-job lock: minutes)."""
    res = subprocess.run([str(REPO / "tools" / "rdma-core" / "build"), "--quiet"],
                         capture_output=True, text=True, timeout=3600)
    assert res.returncode == 0, res.stderr
    return dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)


@pytest.mark.parametrize("variant", ["unpatched", "patched"])
def test_build_runs_with_its_libibverbs(builds, variant, tmp_path):
    build = builds[f"RDMA_CORE_{variant.upper()}_BUILD"]
    args = type("Args", (), {"debian": False, "build": build})
    cmd, _, env, label, tests, modules = suite.prepare(args, str(tmp_path))
    assert label == builds[f"RDMA_CORE_{variant.upper()}_ID"] and tests == build
    assert modules == os.path.join(os.path.dirname(build), "tests")
    assert env["LD_LIBRARY_PATH"].split(":")[0] == f"{build}/lib"
    # Only the series' tests know the udmabuf exporter; with it the dma-buf tests need no GPU.
    exporter = ["--dmabuf-exporter", "udmabuf"] if variant == "patched" else []
    assert cmd == [f"{build}/bin/run_tests.py"] + exporter
    # What run-suite runs: without the mlx5 and efa modules.
    keep, out = suite.select_modules(modules, ["test_mlx5_*.py", "test_efa*.py"])
    assert "test_mr" in keep and "test_rdmacm" in keep and "test_mlx5_dr.py" in out
    assert not [m for m in keep if m.startswith(("test_mlx5_", "test_efa"))]
    assert len(keep) + len(out) == len(glob.glob(os.path.join(modules, "test_*.py")))
    assert ("test_udmabuf" in keep) == (variant == "patched")
    rc, text, _ = suite.run_logged(cmd + ["--dev", "nosuchdev0", "-v"] + keep, str(tmp_path),
                                   env, str(tmp_path / "log"), 300)
    counts, results, entries = suite.parse(text)
    suite.check(counts, results, entries, rc)
    assert counts["ran"] > 150 and counts["errors"] > 0, counts
    assert {t.split(".")[1] for t, _, _, _ in results} == set(keep)


def test_exclude_selects_modules(tmp_path):
    for name in ("test_a.py", "test_mlx5_b.py", "test_efa_c.py", "base.py", "test_d.txt"):
        (tmp_path / name).write_text("")
    assert suite.select_modules(str(tmp_path), []) == ([], [])
    assert suite.select_modules(str(tmp_path), ["test_mlx5_*.py", "test_efa*.py"]) == \
        (["test_a"], ["test_efa_c.py", "test_mlx5_b.py"])
    with pytest.raises(suite.CannotCount, match="leaves no test module"):
        suite.select_modules(str(tmp_path), ["test_*"])


def run_suite_script(*args, **env):
    return subprocess.run([str(SUITE), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_suite_refusals(tmp_path):
    stale = tmp_path / "debian.json"
    stale.write_text("{}")
    r = run_suite_script("--debian", "--dev", "nosuchdev0", "--out", str(tmp_path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("rdma_core_suite: debian: no RDMA device nosuchdev0 "
                        "(/sys/class/infiniband/nosuchdev0)\n")
    assert not stale.exists(), "an earlier run's result was left to be taken for this one's"
    r = run_suite_script("--id", "x", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr == (f"rdma_core_suite: x: {tmp_path}/bin/run_tests.py not found: give the "
                        "build directory of tools/rdma-core/build, or --debian\n")
    for args, why in ((["--debian", str(tmp_path)], "not allowed with argument --debian"),
                      ([], "one of the arguments --debian build is required"),
                      (["--id", "a/b", "--debian"], "--id 'a/b': only letters"),
                      (["--timeout", "0", "--debian"], "--timeout wants a positive")):
        r = run_suite_script(*args)
        assert r.returncode == 2 and why in r.stderr.splitlines()[-1], (args, r.stderr)
    assert sorted(os.listdir(tmp_path)) == []


# --- peer-compare ------------------------------------------------------------------------------

def run_doc(name, kernel, results, reasons=None):
    counts = {k: sum(1 for v in results.values() if v == s)
              for k, s in (("ok", "ok"), ("skipped", "skipped"), ("failed", "failed"),
                           ("errors", "error"), ("xfail", "xfail"), ("xpass", "xpass"))}
    return {"summary": {"name": name, "suite": "65.0-x", "tests": "/b", "dev": "rxe0",
                        "kernel": kernel, "rc": 0, "seconds": 1.0, "ran": len(results),
                        **counts},
            "results": results, "reasons": reasons or {}, "durations": {}, "tail": ""}


DMABUF = [f"tests.test_mr.DmaBufMRTest.test_{i}" for i in range(8)] + \
    [f"tests.test_mr.DmaBufTestCase.test_{i}" for i in range(2)]
MUST = r"\.(DmaBufMRTest|DmaBufTestCase)\.=10"


def compare(tmp_path, before, after, *opts):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(before) if isinstance(before, dict) else before)
    b.write_text(json.dumps(after) if isinstance(after, dict) else after)
    return subprocess.run([str(COMPARE), *opts, str(a), str(b)], capture_output=True,
                          text=True, timeout=60)


BASE = {"tests.t.T.test_a": "ok", "tests.t.T.test_b": "ok", "tests.t.T.test_c": "skipped",
        "tests.t.T.test_d": "failed", **{t: "skipped" for t in DMABUF}}


def test_compare_same_run_passes(tmp_path):
    r = compare(tmp_path, run_doc("v", "7.2-stock", BASE), run_doc("v", "7.2-patched", BASE))
    assert r.returncode == 0, r.stdout
    assert "peer-compare: before: v (65.0-x) on 7.2-stock: ran 14, ok 2, skipped 11, " \
           "failed 1, errors 0" in r.stdout
    assert r.stdout.splitlines()[-1] == "peer-compare: 0 regressions, 0 new passes"


@pytest.mark.parametrize("change", ["failed", "error", "skipped", "xfail", None])
def test_compare_flags_a_test_that_passed_before(tmp_path, change):
    after = dict(BASE)
    if change:
        after["tests.t.T.test_b"] = change
    else:
        del after["tests.t.T.test_b"]
    r = compare(tmp_path, run_doc("v", "k", BASE),
                run_doc("v", "k", after, {"tests.t.T.test_b": "why"} if change else None))
    assert r.returncode == 1, r.stdout
    want = f"peer-compare: REGRESSION: tests.t.T.test_b: ok before, {change or 'missing'} after"
    assert any(line.startswith(want) for line in r.stdout.splitlines()), r.stdout
    assert r.stdout.splitlines()[-1] == "peer-compare: 1 regressions, 0 new passes"


@pytest.mark.parametrize("change,counted", [("failed", False), ("error", True),
                                            ("skipped", True), (None, True)])
def test_compare_racy_test_only_for_a_failure(tmp_path, change, counted):
    """--racy exempts a known racy test's failure, and nothing else it could do."""
    after = dict(BASE)
    if change:
        after["tests.t.T.test_b"] = change
    else:
        del after["tests.t.T.test_b"]
    r = compare(tmp_path, run_doc("v", "k", BASE), run_doc("v", "k", after),
                "--racy", "tests.t.T.test_b=sends complete after the resize")
    assert r.returncode == (1 if counted else 0), r.stdout
    racy = ("peer-compare: RACY: tests.t.T.test_b: ok before, failed after, not counted: "
            "sends complete after the resize")
    assert (racy in r.stdout.splitlines()) == (not counted), r.stdout
    assert r.stdout.splitlines()[-1] == \
        f"peer-compare: {1 if counted else 0} regressions, 0 new passes"


def test_compare_new_passes_and_must_pass(tmp_path):
    """v65's 10 dma-buf MR tests skip unpatched and pass patched, with a test the series adds."""
    added = "tests.test_mr.DmaBufMRTest.test_dmabuf_reg_mr_bad_input"
    after = {**BASE, **{t: "ok" for t in DMABUF}, "tests.t.T.test_d": "ok", added: "ok"}
    r = compare(tmp_path, run_doc("v", "k", BASE, {t: "no GPU" for t in DMABUF}),
                run_doc("v", "k", after), "--must-pass", MUST)
    assert r.returncode == 0, r.stdout
    assert "peer-compare: passes only after: tests.t.T.test_d (before: failed)" in r.stdout
    assert r"must pass /\.(DmaBufMRTest|DmaBufTestCase)\./: 10 tests before (10 wanted), " \
           "1 more after; 11 of 11 ok in v on k: yes" in r.stdout
    assert "  tests.test_mr.DmaBufTestCase.test_1: ok; before: skipped (no GPU)" in r.stdout
    assert f"  {added}: ok; before: missing" in r.stdout
    assert r.stdout.splitlines()[-1] == \
        "peer-compare: 0 regressions, 12 new passes, must-pass held"


@pytest.mark.parametrize("how", ["one skipped", "one missing", "one fewer before",
                                 "one more before", "an added one fails"])
def test_compare_must_pass_not_held(tmp_path, how):
    before, after = dict(BASE), {**BASE, **{t: "ok" for t in DMABUF}}
    if how == "one skipped":
        after[DMABUF[3]] = "skipped"
    elif how == "one missing":
        del after[DMABUF[3]]
    elif how == "one fewer before":
        del before[DMABUF[3]]
    elif how == "one more before":
        before["tests.test_mr.DmaBufMRTest.test_extra"] = "skipped"
        after["tests.test_mr.DmaBufMRTest.test_extra"] = "ok"
    else:
        after["tests.test_mr.DmaBufMRTest.test_new"] = "error"
    r = compare(tmp_path, run_doc("v", "k", before),
                run_doc("v", "k", after, {DMABUF[3]: "Reg dma-buf MR is not supported"}),
                "--must-pass", MUST)
    assert r.returncode == 1, r.stdout
    assert r.stdout.splitlines()[-1].endswith("must-pass NOT held"), r.stdout
    assert any(line.startswith(r"peer-compare: must pass /\.(DmaBufMRTest|DmaBufTestCase)\./")
               and line.endswith(": NO") for line in r.stdout.splitlines()), r.stdout
    if how == "one skipped":
        assert f"  {DMABUF[3]}: skipped (Reg dma-buf MR is not supported); before: " \
               "skipped" in r.stdout


@pytest.mark.parametrize("opts,files,why", [
    ([], 1, "want two JSON files"),
    ([], 3, "want two JSON files"),
    (["--must-pass"], 0, "--must-pass needs REGEX=N"),
    (["--must-pass", "Dma"], 2, "--must-pass wants REGEX=N with N > 0"),
    (["--must-pass", "Dma=0"], 2, "--must-pass wants REGEX=N with N > 0"),
    (["--must-pass", "(=1"], 2, "bad regular expression"),
    (["--strict"], 2, "unknown option '--strict'"),
    (["--racy", "tests.t.T.test_b"], 2, "--racy wants TEST=WHY"),
    (["--racy"], 2, "--racy wants TEST=WHY"),
])
def test_compare_usage(tmp_path, opts, files, why):
    paths = []
    for i in range(files):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(run_doc("v", "k", BASE)))
    r = subprocess.run([str(COMPARE), *opts, *map(str, paths)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[0].startswith("peer-compare: ") and \
        why in r.stderr.splitlines()[0], r.stderr


@pytest.mark.parametrize("after,why", [
    ("not json", "Expecting value"),
    ("[]", "not a result of tests/lab/guest/rdma_core_suite"),
    ('{"summary": {}, "results": {}}', "the summary has no 'name'"),
])
def test_compare_refuses_what_it_cannot_read(tmp_path, after, why):
    r = compare(tmp_path, run_doc("v", "k", BASE), after)
    assert r.returncode == 1
    assert r.stdout.startswith("peer-compare: cannot read the results: ") and why in r.stdout
    assert len(r.stdout.splitlines()) == 1


def test_compare_reads_the_suites_own_json(shapes, tmp_path):
    """What rdma_core_suite writes is what peer-compare reads."""
    rc, text, stamps, _ = shapes
    counts, results, _ = suite.parse(text)
    doc = suite.to_json("shapes", "here", "/t", "rxe0", rc, 1.0, counts, results, text, stamps)
    worse = dict(doc, results={**doc["results"], "test_shapes.C.test_slow": "skipped"})
    r = compare(tmp_path, json.dumps(doc), json.dumps(worse))
    assert r.returncode == 1 and "REGRESSION: test_shapes.C.test_slow: ok before, skipped " \
        "after" in r.stdout, r.stdout
    r = compare(tmp_path, json.dumps(worse), json.dumps(doc))
    assert r.returncode == 0, r.stdout


# --- run-suite ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args,why", [
    (["--rdma-core", "v44", "stock-7.2"], "--rdma-core wants auto, unpatched, patched or none, "
     "not 'v44'"),
    (["--rdma-core-suites", "some", "patched-7.2"], "--rdma-core-suites wants all or none, "
     "not 'some'"),
    (["stock-7.3"], "unknown kernel flavour 'stock-7.3'"),
    ([], "which kernel?"),
])
def test_run_suite_refusals(args, why):
    r = subprocess.run([str(RUN_SUITE), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 125
    assert r.stderr.startswith(f"run-suite: {why}") and len(r.stderr.splitlines()) == 1, r.stderr


def run_suite_function(name):
    """The shell function *name* of run-suite, whole."""
    text = RUN_SUITE.read_text()
    func = text[text.index(f"{name}() {{"):]
    return func[:func.index("\n}\n") + 3]


def holds(lock, wrapper=(), **env):
    """run-suite's holds_heavy_lock, run in a shell the way run-suite runs (under *wrapper*)."""
    func = run_suite_function("holds_heavy_lock")
    script = f"heavy_lock={lock}\n{func}\nholds_heavy_lock && echo ours || echo theirs-or-free"
    r = subprocess.run([*wrapper, "bash", "-c", script], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "DMP_HEAVY_LOCK_HELD": "0", **env})
    return r.stdout.strip()


def test_run_suite_knows_when_it_holds_the_heavy_lock(tmp_path):
    """`flock LOCK tests/lab/run-suite` must not wait for itself when tools/rdma-core/build
    takes LOCK; a lock held by someone else is theirs."""
    lock = tmp_path / "heavy.lock"
    assert holds(lock) == "theirs-or-free"                       # no lock file
    lock.touch()
    assert holds(lock) == "theirs-or-free"                       # nobody holds it
    assert holds(lock, ("flock", str(lock))) == "ours"  # our caller holds it
    assert holds(lock, DMP_HEAVY_LOCK_HELD="1") == "ours"
    other = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        for _ in range(50):
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode:
                break
            time.sleep(0.1)
        assert holds(lock) == "theirs-or-free"                   # someone else holds it: theirs
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("last,said", [
    ("tests/lab/guest/test_bw_lab.py::test_events_loopback_checked[read] ",
     "; it stopped in tests/lab/guest/test_bw_lab.py::test_events_loopback_checked[read]"),
    ("tests/lab/guest/test_bw_lab.py::test_two_qps PASSED [ 12%]", ""),
    ("===== 3 passed in 1.00s =====", ""),
])
def test_run_suite_names_the_test_pytest_stopped_in(tmp_path, last, said):
    """A pytest -v killed at the deadline: its last line is the test it had begun."""
    (tmp_path / "stdout").write_text(f"tests/lab/guest/a.py::test_a PASSED [  1%]\n{last}")
    script = f"out={tmp_path}\n{run_suite_function('running')}\nrunning"
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout.rstrip("\n"), r.stderr) == (0, said, "")


def test_run_suite_finds_the_tests_for_its_one_tcg_thread_boot(tmp_path):
    """The tests the first boot skipped with conftest's ONE_TCG_THREAD reason, by pytest id;
    no other skip, nothing that ran."""
    sys.path.insert(0, str(HERE / "guest"))  # for the labguest it imports
    try:
        loader = SourceFileLoader("lab_guest_conftest", str(HERE / "guest" / "conftest.py"))
        conftest = module_from_spec(spec_from_loader(loader.name, loader))
        loader.exec_module(conftest)
    finally:
        sys.path.pop(0)
    ONE_TCG_THREAD = conftest.ONE_TCG_THREAD
    junit = tmp_path / "junit.xml"
    junit.write_text(f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" skipped="2">
<testcase classname="tests.lab.guest.test_reliability_stress" name="test_rev[own-pds]">
  <skipped type="pytest.skip" message="{ONE_TCG_THREAD}"/></testcase>
<testcase classname="tests.lab.guest.test_reliability_stress" name="test_rev[shared]"/>
<testcase classname="tests.lab.guest.test_a" name="test_peer">
  <skipped type="pytest.skip" message="needs a peer guest"/></testcase>
</testsuite></testsuites>""")
    script = f"{run_suite_function('tcg1_tests_of')}\ntcg1_tests_of {junit}"
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (
        0, "tests/lab/guest/test_reliability_stress.py::test_rev[own-pds]\n", "")


def test_run_suite_per_test_timeout_fails_a_hung_test_alone(tmp_path):
    """run-suite's pytest options for the guest: a test that outlives the limit fails with
    where it was, and the next test still runs (the limit made 2 s here)."""
    text = RUN_SUITE.read_text()
    opts = re.search(r'^per_test="(.*)"$', text, re.M).group(1).split()
    assert opts[opts.index("--timeout") + 1] == "300"
    opts[opts.index("--timeout") + 1] = "2"
    (tmp_path / "test_hang.py").write_text(
        "import time\n\ndef test_hangs():\n    time.sleep(60)\n\n"
        "def test_after():\n    pass\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *opts,
                        str(tmp_path / "test_hang.py")], capture_output=True, text=True,
                       timeout=50, cwd=tmp_path)
    assert r.returncode == 1, r.stdout
    assert re.search(r"test_hangs FAILED", r.stdout) and re.search(r"test_after PASSED", r.stdout)
    assert "Timeout >2.0s" in r.stdout and "time.sleep(60)" in r.stdout, r.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
