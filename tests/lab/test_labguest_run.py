# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host tests of the guest suite's command runner (tests/lab/guest/labguest.py run() and
Background): a command that outlives its timeout, or a test interrupted by pytest-timeout, is
killed and reaped, and one that SIGKILL cannot end (a task stuck in the kernel) fails the test
with each thread's kernel state instead of hanging the suite. No guest needed.

    /usr/bin/python3 -m pytest -q tests/lab/test_labguest_run.py
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "guest"))
import labguest  # noqa: E402


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_timeout_kills_even_when_a_child_holds_the_pipes():
    t0 = time.monotonic()
    with pytest.raises(labguest.CommandFailed) as e:
        labguest.run("echo started; sleep 8 & exec sleep 60", timeout=1)
    assert time.monotonic() - t0 < 15
    assert str(e.value).startswith("timed out after 1 s: echo started;"), e.value
    assert "stdout: started" in str(e.value), e.value


def test_an_interrupted_run_leaves_no_child(monkeypatch):
    """pytest-timeout's SIGALRM raises in the middle of run(): the child goes with it."""
    pids = []
    real = subprocess.Popen

    def popen(*a, **kw):
        p = real(*a, **kw)
        pids.append(p.pid)
        return p

    monkeypatch.setattr(subprocess, "Popen", popen)

    def alarm(*_):
        raise RuntimeError("interrupted")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(1)
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            labguest.run(["sleep", "60"], timeout=30)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert pids and gone(pids[0])


def test_a_child_that_survives_sigkill_fails_with_its_kernel_state(monkeypatch):
    """What cannot be made on a host (a task SIGKILL does not end) is stood in for by a kill
    that does nothing: run() gives up after the grace and names the threads' states."""
    monkeypatch.setattr(labguest, "KILL_GRACE", 1)
    monkeypatch.setattr(subprocess.Popen, "kill", lambda self: None)
    t0 = time.monotonic()
    with pytest.raises(labguest.CommandFailed) as e:
        labguest.run(["sleep", "30"], timeout=1)
    took = time.monotonic() - t0
    msg = str(e.value)
    assert took < 10, took
    assert msg.startswith("timed out after 1 s: sleep 30: pid "), msg
    assert "still there 1 s after SIGKILL, stuck in the kernel:" in msg, msg
    assert "(sleep), state S, wchan " in msg, msg
    if os.geteuid() == 0:  # only root reads kernel stacks
        assert "nanosleep" in msg, msg
    os.kill(int(msg.split("pid ")[1].split()[0]), signal.SIGKILL)


def test_background_kill_reports_a_child_that_survives(monkeypatch):
    monkeypatch.setattr(labguest, "KILL_GRACE", 1)
    bg = labguest.Background(["sleep", "30"])
    pid = bg.proc.pid
    monkeypatch.setattr(subprocess.Popen, "kill", lambda self: None)
    with pytest.raises(labguest.CommandFailed, match=r"background command sleep 30: pid \d+ "
                       r"still there 1 s after SIGKILL"):
        bg.kill()
    monkeypatch.undo()
    os.kill(pid, signal.SIGKILL)
    bg.proc.wait(timeout=10)
