# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host-side tests of tests/lab/labrun: they boot real lab guests (stock kernel, QEMU TCG).

Run on the host: python3 -m pytest tests/lab/test_labrun.py -v
Each boot takes ~10-20 s on a 2-core machine; the whole module about 2 minutes.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
LABRUN = HERE / "labrun"
LAB_FAIL = 125


@pytest.fixture(scope="module", autouse=True)
def lab_dependencies():
    """Installs what the lab needs (a no-op when present) and prepares the stock kernel."""
    subprocess.run([str(HERE / "install-deps")], check=True, timeout=1200)
    subprocess.run([str(HERE / "prepare-kernel"), "stock-6.12"], check=True, timeout=1200,
                   stdout=subprocess.DEVNULL)


def qemu_pids_for(out):
    """PIDs of QEMU processes whose command line mentions *out* (the run's out dir)."""
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and b"qemu-system" in cmd[0] and any(str(out).encode() in c for c in cmd):
            pids.append(int(p.name))
    return pids


def labrun(out, *args, timeout=300, env=None, **kw):
    res = subprocess.run([str(LABRUN), "--out", str(out), *args], capture_output=True,
                         text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL, **kw)
    assert qemu_pids_for(out) == [], "a QEMU process was left behind"
    return res


def one_line_reason(stderr):
    lines = [ln for ln in stderr.splitlines() if ln.startswith("labrun: ") and
             not ln.startswith("labrun: booting") and not ln.startswith("labrun: ---")]
    assert lines, stderr
    return lines[0]


def test_unknown_kernel_flavour(tmp_path):
    t0 = time.monotonic()
    res = labrun(tmp_path, "--kernel", "bogus", "--", "true", timeout=30)
    assert res.returncode == LAB_FAIL
    assert res.stderr.strip() == "labrun: unknown kernel flavour 'bogus' " \
        "(want stock-6.12, stock-7.2, patched-7.2, unpatched-7.2 or a path to a bzImage)"
    assert time.monotonic() - t0 < 10


def test_bad_usage_is_one_line(tmp_path):
    for args in (["--timeout", "soon", "--", "true"], ["--bogus"], []):
        res = labrun(tmp_path, *args, timeout=30)
        assert res.returncode == LAB_FAIL, args
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert res.stderr.startswith("labrun: ")


def test_missing_qemu(tmp_path):
    # A PATH that has every tool of this machine but qemu-system-*.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for d in os.environ.get("PATH", "/usr/bin:/bin").split(":") + ["/usr/sbin", "/sbin"]:
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if name.startswith("qemu-system") or (bindir / name).exists():
                continue
            (bindir / name).symlink_to(os.path.join(d, name))
    env = dict(os.environ, PATH=str(bindir))
    res = labrun(tmp_path / "out", "--", "true", env=env, timeout=30)
    assert res.returncode == LAB_FAIL
    assert res.stderr.startswith("labrun: qemu-system-x86_64 not found in PATH"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_status_output_env_and_cwd_pass_through(tmp_path):
    script = ('echo "out:$LAB:$LAB_KERNEL:$LAB_OUT:$(pwd)"; echo "nics:$LAB_NIC0:$LAB_NIC1:'
              '$LAB_IP0:$LAB_IP1:$LAB_GID0"; echo err-line >&2; id -u; exit 7')
    res = labrun(tmp_path, "--", "sh", "-c", script, cwd=HERE)
    assert res.returncode == 7, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"out:1:stock-6.12:{tmp_path}:{HERE}"
    assert lines[1].startswith("nics:eth") and ":10.10.0.1:10.10.1.1:" in lines[1], lines[1]
    assert lines[2] == "0"
    assert "err-line" in res.stderr
    assert (tmp_path / "rc").read_text().strip() == "7"
    assert (tmp_path / "stdout").read_text() == res.stdout
    assert (tmp_path / "stderr").read_text().strip() == "err-line"
    assert "rdma_rxe" in (tmp_path / "dmesg").read_text()
    assert (tmp_path / "console").exists()
    timing = dict(ln.split() for ln in (tmp_path / "timing").read_text().splitlines())
    assert float(timing["boot_s"]) > 0


def test_dmp_build_reaches_the_guest_and_a_missing_build_fails_the_suite(tmp_path):
    """The caller's DMP_BUILD (relative here) arrives in the guest absolute; the guest suite,
    given a build tree that does not exist, stops with one error and rc 1 (it used to skip
    each module that needs the build and pass)."""
    repo = HERE.parent.parent
    script = ('echo "build:$DMP_BUILD"; exec /usr/bin/python3 -m pytest -q -p no:cacheprovider '
              'tests/lab/guest/test_lab_topology.py')
    env = dict(os.environ, DMP_BUILD="no-such-build")
    res = labrun(tmp_path, "--", "sh", "-c", script, cwd=repo, env=env)
    lines = res.stdout.splitlines()
    assert lines[0] == f"build:{repo}/no-such-build", res.stdout
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert f"lab suite: no build tree at {repo}/no-such-build" in res.stdout, res.stdout
    assert " passed" not in res.stdout and " skipped" not in res.stdout, res.stdout


def test_icount_clock_counts_guest_instructions(tmp_path):
    """--icount 0: the guest's clock follows its instructions. An idle guest's time jumps to the
    next timer (sleep=off), so 60 s of `sleep` pass in a few seconds of the host's; the same
    busy loop takes the same guest time, run after run; the guest sees LAB_ICOUNT. A shift
    outside 0..10 is refused in one line."""
    res = labrun(tmp_path / "bad", "--icount", "11", "--", "true", timeout=30)
    assert res.returncode == LAB_FAIL
    assert res.stderr.strip() == "labrun: --icount wants a shift of 0 to 10 (2^SHIFT ns per " \
        "instruction), not '11'"
    script = ('echo "icount:$LAB_ICOUNT"; s=$(date +%s); sleep 60; '
              'echo "slept:$(($(date +%s) - s))"; '
              'python3 -c "$LOOPS"')
    # one process, a warm-up pass, then three timed passes of a loop of about 0.2 s of guest
    # time (three processes timing 40 ms each once differed by 3 %: a tick or two in 40 ms)
    loops_py = ('import time; exec("def loop():\\n s = 0\\n for i in range(200000): s += i"); '
                'loop(); exec("for _ in range(3):\\n t = time.monotonic(); loop(); '
                'print(time.monotonic() - t)")')
    assert "\n" not in loops_py  # one line: it travels to the guest as an argument
    t0 = time.monotonic()
    res = labrun(tmp_path / "ic", "--icount", "0", "--", "env", f"LOOPS={loops_py}", "sh",
                 "-c", script, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "icount:0" and lines[1] in ("slept:60", "slept:61"), lines
    # the whole boot (15-25 s) and the sleep in well under the sleep's own 60 s
    assert time.monotonic() - t0 < 55, time.monotonic() - t0
    loops = [float(x) for x in lines[2:5]]
    assert max(loops) / min(loops) < 1.01, loops


@pytest.mark.parametrize("one", [True, False], ids=["one-tcg-thread", "default"])
def test_tcg_threads(tmp_path, one):
    """--one-tcg-thread: QEMU runs both vCPUs on one host thread, and the guest is told so
    (LAB_TCG); by default a thread each."""
    args = [str(LABRUN), "--out", str(tmp_path), *(["--one-tcg-thread"] if one else []), "--",
            "sh", "-c", "echo tcg:$LAB_TCG; sleep 5"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    accel = None
    deadline = time.monotonic() + 120
    while accel is None and proc.poll() is None and time.monotonic() < deadline:
        for pid in qemu_pids_for(tmp_path):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            accel = [a.decode() for a in argv if a.startswith(b"tcg,")]
        time.sleep(0.2)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert accel == [f"tcg,thread={'single' if one else 'multi'}"], accel
    assert out.splitlines()[0] == f"tcg:{'single' if one else 'multi'}", out


def test_command_not_found_is_127(tmp_path):
    res = labrun(tmp_path, "--", "no-such-command-xyz", "arg")
    assert res.returncode == 127
    assert "labrun: command not found in the guest: no-such-command-xyz" in res.stderr


def test_guest_panic_is_a_lab_failure(tmp_path):
    res = labrun(tmp_path, "--", "sh", "-c", "echo c > /proc/sysrq-trigger; sleep 100")
    assert res.returncode == LAB_FAIL
    reason = one_line_reason(res.stderr)
    assert reason.startswith("labrun: guest kernel panic"), res.stderr
    assert "sysrq" in reason.lower(), reason
    # the tail of the kernel log follows the reason
    assert "last lines of" in res.stderr and "  | " in res.stderr
    assert not (tmp_path / "rc").exists()


def test_command_outliving_timeout_is_killed(tmp_path):
    t0 = time.monotonic()
    res = labrun(tmp_path, "--timeout", "40", "--", "bash", "-c", "sleep 1000; true")
    took = time.monotonic() - t0
    assert res.returncode == LAB_FAIL
    assert one_line_reason(res.stderr) == \
        "labrun: command outlived --timeout 40 s and was killed in the guest"
    assert took < 60, took
    # what it was doing before it was killed: the shell and its sleep, with their kernel stacks
    hang = (tmp_path / "hang").read_text()
    first = hang.splitlines()[0]
    assert re.fullmatch(r"lab-hang: [34] processes of the command \(or blocked\) at uptime "
                        r"[0-9.]+ s, 0 in uninterruptible sleep", first), hang
    assert f"labrun: {first} (all: {tmp_path}/hang)" in res.stderr.splitlines()
    sleeper = re.search(r"^--- pid \d+ \(sleep\), state S, wchan (\S+): sleep 1000 \n"
                        r"((?:    .*\n)+)", hang, re.M)
    assert sleeper and "nanosleep" in sleeper.group(1) + sleeper.group(2), hang
    assert re.search(r"^--- pid \d+ \(bash\), state S, .*: bash -c sleep 1000; true $", hang,
                     re.M), hang


def test_hung_guest_is_killed_at_timeout(tmp_path):
    # rdinit=/bin/sh: busybox sh as init waits forever on the console; no result ever comes.
    t0 = time.monotonic()
    res = labrun(tmp_path, "--timeout", "20", "--append", "rdinit=/bin/sh", "--", "true")
    took = time.monotonic() - t0
    assert res.returncode == LAB_FAIL
    assert one_line_reason(res.stderr) == \
        "labrun: guest did not finish within --timeout 20 s; QEMU killed"
    assert 19 < took < 45, took


@pytest.mark.parametrize("peer", [False, True], ids=["one-guest", "two-guests"])
def test_stalled_boot_is_made_again_then_a_lab_failure(tmp_path, peer):
    # rdinit=/bin/sh never runs guest-init, so no boot gets through its set-up: labrun kills
    # the first boot at --boot-timeout, says so, boots again, and gives up after the second.
    args = ["--boot-timeout", "5", "--append", "rdinit=/bin/sh"]
    if peer:
        args += ["--peer-cmd", "sleep 100"]
    t0 = time.monotonic()
    res = labrun(tmp_path, *args, "--", "true")
    took = time.monotonic() - t0
    assert res.returncode == LAB_FAIL, res.stderr
    lines = res.stderr.splitlines()
    stage = "the kernel or the initramfs (guest-init never started)"
    assert f"labrun: boot 1 stalled in {stage}: no set-up within --boot-timeout 5 s; " \
        f"QEMU killed (its console: {tmp_path}/.lab/console.boot1)" in lines, res.stderr
    assert any(ln.startswith("labrun: booting stock-6.12 kernel ") and " again " in ln
               for ln in lines), res.stderr
    assert "labrun: the guest did not get through its set-up within --boot-timeout 5 s, " \
        f"in 2 boots (stalled in {stage}); QEMU killed" in lines, res.stderr
    assert (tmp_path / "status").read_text() == "lab-failure: boot stalled\n"
    for n in (1, 2):  # each boot's console kept (5 s may be too early for any line in it)
        assert (tmp_path / ".lab" / f"console.boot{n}").exists()
        if peer:
            assert (tmp_path / ".lab" / f"peer-console.boot{n}").exists()
    assert not (tmp_path / "rc").exists()
    assert took < 60, took


def segv_qemu_once_started(out, proc):
    """Sends SIGSEGV to the QEMU of the lab run in *out* once its command has started (as an
    emulator fault would end it), *proc* being the labrun or run-suite process."""
    timing = out / ".lab" / "timing"
    deadline = time.monotonic() + 300
    while not (timing.exists() and "cmd_start" in timing.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, "the command never started"
        time.sleep(0.5)
    pids = qemu_pids_for(out)
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGSEGV)


def test_emulator_dying_of_a_signal_is_named(tmp_path):
    """QEMU itself killed by a signal while the command runs (a CI run saw QEMU 7.2 die of
    SIGSEGV in memory_region_dispatch_write under the KASAN stress test): labrun says that the
    emulator died, and of which signal, rather than that the guest gave no result."""
    proc = subprocess.Popen([str(LABRUN), "--out", str(tmp_path), "--", "sleep", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    segv_qemu_once_started(tmp_path, proc)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == LAB_FAIL, err
    assert one_line_reason(err) == "labrun: QEMU itself died of signal 11 (SIGSEGV) while the " \
        "command ran: a fault of the host's emulator, not a result of the guest (QEMU's " \
        f"messages: {tmp_path}/.lab/qemu.log)", err
    assert (tmp_path / "status").read_text() == "lab-failure: emulator died of signal 11\n"
    assert qemu_pids_for(tmp_path) == []


def test_run_suite_boots_again_when_qemu_dies(tmp_path):
    """tests/lab/run-suite, on labrun's "emulator died" status, runs the suite once more in a
    new boot and says so, keeping the first boot's files; the second boot's result stands."""
    build = Path(os.environ.get("DMP_BUILD") or HERE.parent.parent / "build").resolve()
    if not (build / "libibverbs-ext").is_dir():
        pytest.skip(f"no build tree at {build} (cmake -S . -B build && cmake --build build)")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [str(HERE / "run-suite"), "--out", str(out), "--no-peer", "--rdma-core", "none",
         "--rdma-core-suites", "none", "stock-6.12", "-k", "test_ivshmem_on_node1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env=dict(os.environ, DMP_BUILD=str(build)), cwd=HERE.parent.parent)
    segv_qemu_once_started(out, proc)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout + stderr
    assert "run-suite: stock-6.12: QEMU died of a signal in the first boot (lab-failure: " \
        "emulator died of signal 11): the host's emulator, not the guest; running the suite " \
        f"once more in a new boot (the first boot's files: {out}/emulator-died/)" in stderr, stderr
    assert (out / "emulator-died" / "status").read_text() == \
        "lab-failure: emulator died of signal 11\n"
    assert "1 passed" in stdout, stdout
    assert qemu_pids_for(out) == []


def test_result_without_power_off_is_killed_after_a_grace(tmp_path):
    # The command writes the result file itself and keeps the guest up: the result stands,
    # QEMU is killed 30 s later, with a warning.
    t0 = time.monotonic()
    res = labrun(tmp_path, "--", "sh", "-c", 'echo 3 > "$LAB_OUT/rc"; sleep 250')
    took = time.monotonic() - t0
    assert res.returncode == 3, res.stderr
    assert "labrun: warning: the guest wrote its result but did not power off within 30 s; " \
        "QEMU killed" in res.stderr.splitlines(), res.stderr
    assert (tmp_path / "status").read_text() == "ok rc=3\n"
    assert took < 120, took


def test_interrupt_leaves_no_qemu(tmp_path):
    proc = subprocess.Popen([str(LABRUN), "--out", str(tmp_path), "--", "sleep", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not qemu_pids_for(tmp_path):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "QEMU never started"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == LAB_FAIL
    assert "labrun: interrupted" in err
    assert qemu_pids_for(tmp_path) == []


def test_two_guests_ping_and_rdma(tmp_path):
    peer = ('echo peer-up $LAB_ROLE $LAB_IP0; '
            'ibv_rc_pingpong -d rxe0 -g $LAB_GID0 -n 20 -s 1024 -c; echo pingpong-rc=$?')
    main = ('busybox ping -c 2 -W 2 $LAB_PEER_IP || exit 10; '
            'for i in 1 2 3 4 5 6 7 8 9 10; do '
            '  ibv_rc_pingpong -d rxe0 -g $LAB_GID0 -n 20 -s 1024 -c $LAB_PEER_IP && exit 0; '
            '  sleep 1; done; exit 11')
    res = labrun(tmp_path, "--timeout", "240", "--peer-cmd", peer, "--", "sh", "-c", main)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 packets received" in res.stdout
    assert "20 iters in" in res.stdout
    peer_out = (tmp_path / "peer" / "stdout").read_text()
    assert peer_out.startswith("peer-up peer 10.10.0.2")
    assert "20 iters in" in peer_out and "pingpong-rc=0" in peer_out
    assert (tmp_path / "peer" / "dmesg").exists()
    assert (tmp_path / "peer" / "console").exists()


# The peer says "waiting", then listens on a port for ever; the main guest ends as soon as it
# can connect, so the peer's command has surely started (the two guests boot side by side, and
# a main command that does not wait may end before the peer's has begun).
PEER_LISTENS = ("echo waiting; exec python3 -c 'import socket, time; "
                "s = socket.create_server((\"\", 7471)); time.sleep(1000)'")
MAIN_CONNECTS = ("python3 -c 'import os, socket, sys, time\n"
                 "for _ in range(120):\n"
                 "    try:\n"
                 "        socket.create_connection((os.environ[\"LAB_PEER_IP\"], 7471), 1)\n"
                 "        sys.exit(0)\n"
                 "    except OSError:\n"
                 "        time.sleep(1)\n"
                 "sys.exit(\"the peer never listened\")' && echo \"peer=$LAB_PEER_IP\"")


def test_two_guests_peer_is_stopped_when_main_ends(tmp_path):
    t0 = time.monotonic()
    res = labrun(tmp_path, "--timeout", "240", "--peer-cmd", PEER_LISTENS,
                 "--", "sh", "-c", MAIN_CONNECTS)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "peer=10.10.0.2"
    assert (tmp_path / "peer" / ".lab" / "stopped").exists()
    assert (tmp_path / "peer" / "stdout").read_text().strip() == "waiting"
    assert time.monotonic() - t0 < 120


def test_failed_vfio_bind_is_a_lab_failure(tmp_path):
    """A kernel that can bind vfio-pci (patched-7.2) but finds no device to bind: one line,
    status 125, no QEMU left behind (labrun() checks that)."""
    subprocess.run([str(HERE / "prepare-kernel"), "patched-7.2"], check=True, timeout=3600,
                   stdout=subprocess.DEVNULL)
    res = labrun(tmp_path, "--kernel", "patched-7.2", "--vfio", "0000:99:00.0", "--", "true")
    assert res.returncode == LAB_FAIL, res.stderr
    assert one_line_reason(res.stderr) == "labrun: guest setup failed: lab-guest: setup " \
        "failed: vfio bind: no PCI device 0000:99:00.0", res.stderr
    assert not (tmp_path / "rc").exists()


def test_vfio_binds_only_where_the_kernel_can(tmp_path):
    """stock-6.12: no vfio-pci built in or loaded by the lab; the guest says why it has no P2P
    source instead of failing."""
    res = labrun(tmp_path, "--", "sh", "-c", 'echo "[$LAB_VFIO_GROUP][$LAB_VFIO_UNAVAILABLE]"')
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith("[][the stock-6.12 kernel "), res.stdout
