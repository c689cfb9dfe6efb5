# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Runs last in the guest suite: the kernel log of the whole suite must be free of splats
(KASAN, lockdep, WARN, BUG, Oops, UBSAN) and, with kmemleak, of leaks. On the plain lab kernels
this checks what their built-in checks report; tests/reliability/run-lab boots the KASAN,
lockdep and kmemleak flavour for the real run.
"""
import os
import re
import time

import labguest

SPLAT = re.compile(r"BUG: |WARNING: |KASAN|UBSAN|Oops|general protection fault|"
                   r"possible circular locking|inconsistent lock state|"
                   r"suspicious RCU usage|INFO: task .* blocked|kernel BUG")
# Deliberate segfaults of a child python in the pyverbs interop test are user-space events.
BENIGN = re.compile(r"segfault at|deliberate|python3\[\d+\]")


def test_no_kernel_splats():
    log = labguest.run(["dmesg"], check=False).stdout
    bad = [l for l in log.splitlines() if SPLAT.search(l) and not BENIGN.search(l)]
    assert not bad, "kernel reports:\n" + "\n".join(bad[:40])


def test_no_kmemleak_reports():
    path = "/sys/kernel/debug/kmemleak"
    if not os.path.exists("/sys/kernel/debug/dma_buf"):
        labguest.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"], check=False)
    if not os.path.exists(path):
        import pytest
        pytest.skip("kernel without kmemleak (tests/reliability/run-lab boots one)")
    # Objects must be older than kmemleak's minimum age (5 s) and unreferenced on two scans.
    for _ in range(2):
        try:
            with open(path, "w") as f:
                f.write("scan")
        except PermissionError:
            import pytest
            pytest.skip("kmemleak is built in but disabled (boot with kmemleak=on)")
        time.sleep(6)
    report = open(path).read()
    assert "unreferenced object" not in report, report[:4000]
