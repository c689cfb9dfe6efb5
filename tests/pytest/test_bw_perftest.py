# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""perftest's flags in ibv_dmabuf_bw, and the options every tool shares, on the host.

Without RDMA the flags are tested up to the network: each accepted flag lets a client go as
far as connecting, each refused one is a usage error with its reason, and what travels to the
server is checked in test_bw_tools.py (a fake server reads the client's HELLO). Debian's
perftest is installed here: its own help says which options it has, and both tools are run
where that means something without a device. What the flags do to traffic (and the same flags
given to ib_write_bw on the same rxe device) is tests/lab/guest/test_bw_perftest_flags.py.
"""
import os
import re
import shutil
import subprocess
import time

import pytest

import bwwire

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(REPO, "VERSION")) as _f:
    VERSION = _f.read().strip()

# The tools, their build paths, and an argument list that uses a device without needing
# one to exist on this host (what each then says is compared across the spellings).
TOOLS = {
    "ibv_dmabuf": "tools/ibv_dmabuf/ibv_dmabuf",
    "ibv_dmabuf_bw": "tools/bw/ibv_dmabuf_bw",
    "ibv_dmabuf_regbench": "tools/bw/ibv_dmabuf_regbench",
    "ibv_dmabuf_microbench": "tools/bench/ibv_dmabuf_microbench",
    "ibv_dmabuf_xfer": "tools/xfer/ibv_dmabuf_xfer",
}


def tool(build_dir, name):
    path = os.path.join(build_dir, TOOLS[name])
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (cmake -S . -B build && cmake --build build)")
    return path


@pytest.fixture(scope="module")
def bw(build_dir):
    return tool(build_dir, "ibv_dmabuf_bw")


def run(argv, timeout=30, cwd=None):
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, cwd=cwd)
    r.elapsed = time.monotonic() - t0
    return r


def one_line(r, frag, rc):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == rc, f"rc {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert len(lines) == 1, f"want one line on stderr, got: {r.stderr!r}"
    assert frag in lines[0], lines[0]
    return lines[0]


def has_rdma():
    return bool(os.path.isdir("/sys/class/infiniband") and os.listdir("/sys/class/infiniband"))


# ------------------------------------------------------------------ what perftest has

# perftest's options that ibv_dmabuf_bw takes with perftest's meaning (man page, PERFTEST
# COMPATIBILITY), and the arguments each is tried with here.
SAME = {
    "-d": ["-d", "rxe0"], "--ib-dev": ["--ib-dev=rxe0"], "-i": ["-i", "1"],
    "-x": ["-x", "1"], "-p": [], "-s": ["-s", "4096"], "-a": ["-a"], "-n": ["-n", "10"],
    "-t": ["-t", "64"], "-Q": ["-Q", "8"], "-q": ["-q", "2"], "-D": ["-D", "4"],
    "-f": ["-D", "4", "-f", "1"], "-b": ["-b"], "-m": ["-m", "1024"],
    "-c": ["-c", "RC"], "-F": ["-F"], "--report_gbits": ["--report_gbits"],
    "--out_json": ["--out_json"], "--out_json_file": ["--out_json_file=o.json"],
    "--CPU-freq": ["--CPU-freq"], "--bidirectional": ["--bidirectional"],
    "--duration": ["--duration", "4"], "--margin": ["--duration", "4", "--margin", "1"],
    "--connection": ["--connection=RC"], "--mtu": ["--mtu=2048"],
    "--iters": ["--iters=10"], "--size": ["--size=4096"], "--all": ["--all"],
    "--tx-depth": ["--tx-depth=64"], "--cq-mod": ["--cq-mod=8"], "--qp": ["--qp=2"],
    "--ib-port": ["--ib-port=1"], "--gid-index": ["--gid-index=1"],
}


@pytest.fixture(scope="module")
def perftest_help():
    if not shutil.which("ib_write_bw"):
        pytest.skip("perftest is not installed (ib_write_bw)")
    r = run(["ib_write_bw", "--help"])
    return r.stdout + r.stderr


def test_the_flags_taken_are_perftests(perftest_help):
    """Every flag the man page calls perftest's is in Debian's ib_write_bw --help."""
    have = set(re.findall(r"(?<![\w-])(-[A-Za-z]|--[A-Za-z][\w-]*)\b", perftest_help))
    missing = sorted(f for f in SAME if f not in have)
    assert not missing, f"not options of Debian's ib_write_bw: {missing}"


@pytest.mark.parametrize("flag", sorted(SAME))
def test_perftest_flag_accepted(bw, flag, tmp_path):
    """Accepted: the client goes on to the network (nothing listens there: it says so)."""
    port = bwwire.free_port()
    r = run([bw, "--timeout", "1", "-p", str(port)] + SAME[flag] + ["127.0.0.1"],
            cwd=tmp_path)
    one_line(r, f"cannot connect to 127.0.0.1:{port}: Connection refused", rc=1)
    assert not list(tmp_path.iterdir()), "an --out_json file of a run that measured nothing"


@pytest.mark.parametrize("args,frag", [
    (["-c", "UC"], "-c UC: only RC connections here"),
    (["-c", "UD"], "-c UD: only RC connections here"),
    (["-c", "XRC"], "-c XRC: only RC connections here"),
    (["-c", "DC"], "-c DC: only RC connections here"),
    (["-c", "RawEth"], "-c RawEth: only RC connections here"),
    (["-c", "SRD"], "-c SRD: only RC connections here"),
    (["-c", "rc"], "bad -c 'rc' (RC, UC, UD, XRC, DC, RawEth, SRD; only RC here)"),
    (["-m", "300"], "bad --mtu '300' (256, 512, 1024, 2048 or 4096)"),
    (["-m", "8192"], "bad --mtu '8192'"),
    (["--mtu", "1K"], "bad --mtu '1K'"),
    (["-D", "0"], "bad --duration '0' (1 .. 86400 s)"),
    (["-D", "x"], "bad --duration 'x'"),
    (["-D", "5", "-a"], "-D runs one size for a time: not with --all (as perftest)"),
    (["-D", "5", "-n", "100"], "-D runs for a time, --iters for a count: give one"),
    (["-D", "4", "-f", "2"], "-D 4 must be more than twice --margin 2"),
    (["-f", "1"], "--margin is the unmeasured part of -D: give -D"),
    (["-f", "-1"], "bad --margin '-1'"),
    (["--use_cuda=x"], "bad --use_cuda 'x' (a GPU number)"),
    (["--use_cuda=0", "--mem", "host"], "--use_cuda and --mem host: give one of them"),
    (["--mem", "udmabuf", "--use_cuda=1"], "--use_cuda and --mem udmabuf: give one of them"),
    (["--use_data_direct"], "data-direct needs a dma-buf --mem: host memory is registered "
                            "with ibv_reg_mr, which has no endpoint choice"),
    (["--path", "data-direct"], "data-direct needs a dma-buf --mem"),
    (["--mem", "heap", "--use_data_direct", "--path", "default"],
     "--use_data_direct and --path default: give one of them"),
    (["--path", "data_direct"], "bad --path 'data_direct' (auto, default, numa=N, endpoint=N "
                                "or data-direct)"),
    (["-R"], "-R (rdma_cm) is not supported: the QPs are connected through this tool's own "
             "TCP exchange"),
    (["--out_json", "report.json"], "'report.json' would be the server: write "
                                    "--out_json=report.json"),
    (["--out_json="], "--out_json= needs a file name"),
    (["--out_json_file="], "--out_json_file needs a file name"),
    (["--ib-dev"], "option '--ib-dev' needs a value"),
    (["--device"], "option '--device' needs a value"),
])
def test_refused_with_the_reason(bw, args, frag):
    one_line(run([bw] + args), frag, rc=2)


def test_use_cuda_is_mem_cuda(bw):
    """--use_cuda=N is --mem cuda:N: the same backend, the same answer."""
    a = run([bw, "--use_cuda=0", "127.0.0.1"])
    b = run([bw, "--mem", "cuda:0", "127.0.0.1"])
    assert (a.returncode, a.stderr) == (b.returncode, b.stderr)
    assert a.returncode == 1 and "memory backend cuda" in a.stderr, a.stderr


def test_out_json_is_checked_before_the_run(bw, tmp_path):
    """An --out_json file that cannot be written stops the run before the network; an
    existing file is not emptied by a run that measured nothing."""
    r = run([bw, "--out_json=" + str(tmp_path / "no" / "such" / "dir.json"), "127.0.0.1"])
    one_line(r, "cannot write the --out_json file", rc=1)
    assert "No such file or directory" in r.stderr
    keep = tmp_path / "keep.json"
    keep.write_text('{"old": 1}\n')
    r = run([bw, "--timeout", "1", "-p", str(bwwire.free_port()), f"--out_json={keep}",
             "127.0.0.1"])
    one_line(r, "cannot connect", rc=1)
    assert keep.read_text() == '{"old": 1}\n'


def test_without_device_both_tools_fail_at_once(bw):
    """Debian's ib_write_bw and ibv_dmabuf_bw, as servers on a host without RDMA: both stop
    at once, with a reason, status 1 (perftest: "Unable to find the Infiniband/RoCE
    device"), instead of waiting for a client."""
    if has_rdma():
        pytest.skip("this machine has RDMA devices")
    port = str(bwwire.free_port())
    ours = run([bw, "-p", port, "--timeout", "60"])
    one_line(ours, "no RDMA device on this host", rc=1)
    assert ours.elapsed < 5
    if not shutil.which("ib_write_bw"):
        pytest.skip("perftest is not installed (ib_write_bw): ours checked alone")
    theirs = run(["ib_write_bw", "-p", port], timeout=60)
    assert theirs.returncode == 1 and "Unable to find the Infiniband/RoCE device" in \
        theirs.stderr, theirs
    assert theirs.elapsed < 5


# ------------------------------------------------------------------ every tool


@pytest.mark.parametrize("name", sorted(TOOLS))
@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(build_dir, name, flag):
    r = run([tool(build_dir, name), flag])
    assert r.returncode == 0 and r.stderr == "", r
    assert r.stdout == f"{name} (dmabuf-multipath) {VERSION}\n"


def test_perftest_version_differs_as_documented(bw):
    """perftest's -V prints "Version: N" and exits 1; ours exits 0 (man page)."""
    if not shutil.which("ib_write_bw"):
        pytest.skip("perftest is not installed (ib_write_bw)")
    r = run(["ib_write_bw", "-V"])
    assert r.returncode == 1 and re.match(r"Version: \d", r.stdout), r
    assert run([bw, "-V"]).returncode == 0


def device_spellings(build_dir, fixtures_dir, name, dev):
    """What the tool does with dev named each way."""
    root = os.path.join(fixtures_dir, "dgx-h100")
    base = {
        "ibv_dmabuf": ["--sysfs-root", root, "--json", "--source", "system:node=1",
                       "select"],
        "ibv_dmabuf_bw": ["--timeout", "30", "-p", str(bwwire.free_port())],
        "ibv_dmabuf_regbench": ["--mem", "drm"],
        "ibv_dmabuf_microbench": ["--sysfs-root", root, "--source", "system:node=1",
                                  "--iters", "10", "--json"],
        "ibv_dmabuf_xfer": ["--size", "4096"],
    }[name]
    out = []
    for spelling in (["-d", dev], ["--ib-dev", dev], ["--ib-dev=" + dev], ["--device", dev],
                     ["--device=" + dev]):
        r = run([tool(build_dir, name)] + base + spelling)
        out.append((r.returncode, r.stderr, r.stdout if name == "ibv_dmabuf" else ""))
    return out


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_one_device_option_in_every_tool(build_dir, fixtures_dir, name):
    """-d, --ib-dev (rdma-core's and perftest's spelling) and --device (the alias) are one
    option in every tool: the same answer whichever is used, and it reaches the device."""
    if name in ("ibv_dmabuf_bw", "ibv_dmabuf_regbench", "ibv_dmabuf_xfer") and has_rdma():
        pytest.skip("this machine has RDMA devices: a missing one cannot be faked")
    dev = "mlx5_1" if name in ("ibv_dmabuf", "ibv_dmabuf_microbench") else "rxe9"
    answers = device_spellings(build_dir, fixtures_dir, name, dev)
    assert all(a == answers[0] for a in answers), answers
    rc, err, out = answers[0]
    if name == "ibv_dmabuf":
        assert rc == 0 and '"device": "mlx5_1"' in out, (err, out)
    elif name == "ibv_dmabuf_microbench":
        r = run([tool(build_dir, name), "--sysfs-root", os.path.join(fixtures_dir, "dgx-h100"),
                 "--source", "system:node=1", "--iters", "10", "--json", "-d", dev])
        assert r.returncode == 0 and '"note": "mlx5_1"' in r.stdout, r
    elif name in ("ibv_dmabuf_bw", "ibv_dmabuf_xfer"):
        assert rc == 1 and "no RDMA device 'rxe9'" in err, err
    else:  # regbench probes its backend first: a usage error would be rc 2
        assert rc == 1 and "unknown option" not in err, err


def test_usage_names_the_device_option(build_dir):
    for name in ("ibv_dmabuf", "ibv_dmabuf_bw", "ibv_dmabuf_regbench", "ibv_dmabuf_xfer"):
        r = run([tool(build_dir, name), "--help"])
        assert r.returncode == 0 and re.search(r"-d(, --ib-dev| DEV)", r.stdout), (name, r)
