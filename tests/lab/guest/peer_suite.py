#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Run rdma-core's own Python test suite (the "peer suite") on an rxe device of a lab guest.

    tests/lab/guest/peer_suite.py --name NAME [--tests DIR] [--dev rxe0] [--out FILE]
                                  [--timeout SECS]

DIR holds rdma-core's tests/ package with run_tests.py beside it: Debian's python3-pyverbs
ships them in /usr/share/doc/rdma-core/tests (the default; some files gzipped, so the tree is
copied to a temporary directory and unpacked first), a build of rdma-core has them in its
source tree (run with that build's pyverbs on PYTHONPATH, see tools/rdma-core/).

Prints one line

    peer-suite NAME: ran N, ok A, skipped B, failed C, errors D (E s)

and writes FILE (JSON): the summary, the outcome of every test by its unittest id, and the
tail of the output. Exit status: 0 when the suite ran (whatever its outcome: the host compares
kernels, tests/lab/peer-compare), 1 when it could not run or its output could not be read.
"""

import argparse
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DEBIAN_TESTS = "/usr/share/doc/rdma-core/tests"
# "test_x (tests.test_y.Class.test_x) ... ok" (3.11) or "test_x (tests.test_y.Class) ... ok"
RESULT = re.compile(r"^(test\S*) \(([\w.]+)\)(?:\n.*?)?\s\.\.\.\s(ok|skipped|FAIL|ERROR|"
                    r"expected failure|unexpected success)", re.M | re.S)


def unpacked_copy(src, dst):
    """Copy rdma-core's tests/ package from *src* to *dst*/tests, gunzipping *.py.gz."""
    tests = os.path.join(dst, "tests")
    shutil.copytree(src, tests, symlinks=False)
    for gz in glob.glob(os.path.join(tests, "*.gz")):
        with gzip.open(gz, "rb") as f_in, open(gz[:-3], "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)
        os.unlink(gz)
    return tests


def parse(text):
    """{test id: outcome} from unittest's verbose output."""
    out = {}
    for m in RESULT.finditer(text):
        name, where, status = m.groups()
        test_id = where if where.endswith("." + name) else f"{where}.{name}"
        out[test_id] = {"ok": "ok", "skipped": "skipped", "FAIL": "failed",
                        "ERROR": "error", "expected failure": "ok",
                        "unexpected success": "failed"}[status]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--name", required=True, help="label of this suite in the output")
    ap.add_argument("--tests", default=DEBIAN_TESTS, help="rdma-core's tests/ directory")
    ap.add_argument("--dev", default=os.environ.get("LAB_RXE0", "rxe0"))
    ap.add_argument("--out", help="JSON file of the results")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()

    if not os.path.isfile(os.path.join(args.tests, "run_tests.py")):
        print(f"peer-suite {args.name}: cannot run: no run_tests.py in {args.tests}")
        return 1
    with tempfile.TemporaryDirectory(prefix="peer-suite.") as tmp:
        tests = unpacked_copy(args.tests, tmp)
        t0 = time.monotonic()
        try:
            res = subprocess.run([sys.executable, os.path.join(tests, "run_tests.py"),
                                  "--dev", args.dev, "-v"], cwd=tmp, capture_output=True,
                                 text=True, timeout=args.timeout, stdin=subprocess.DEVNULL)
            text, rc = res.stdout + res.stderr, res.returncode
        except subprocess.TimeoutExpired as e:
            text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
                else (e.stdout or "")
            rc = "timeout"
        secs = time.monotonic() - t0

    results = parse(text)
    m = re.search(r"^Ran (\d+) tests? in", text, re.M)
    ran = int(m.group(1)) if m else None
    counts = {k: sum(1 for v in results.values() if v == k)
              for k in ("ok", "skipped", "failed", "error")}
    summary = {"name": args.name, "dev": args.dev, "tests": args.tests, "ran": ran,
               "rc": rc, "seconds": round(secs, 1), "kernel": os.uname().release, **counts}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "results": results, "tail": text[-20000:]}, f,
                      indent=1, sort_keys=True)
    if ran is None or ran != len(results):
        print(f"peer-suite {args.name}: cannot read the output (ran {ran}, parsed "
              f"{len(results)}, exit {rc}); tail:\n{text[-3000:]}")
        return 1
    print(f"peer-suite {args.name}: ran {ran}, ok {counts['ok']}, skipped {counts['skipped']}, "
          f"failed {counts['failed']}, errors {counts['error']} ({secs:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
