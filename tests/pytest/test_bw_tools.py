# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf_bw and ibv_dmabuf_regbench (and the options ibv_dmabuf_regpair shares with them)
on the host, without RDMA.

A server opens its devices before it listens: here, without RDMA, it must fail at once and say
why. A client connects and compares parameters *before* it opens a device, so the client's side
of everything up to the device is tested here against fake servers (bwwire.py): usage errors,
an unreachable server, a parameter mismatch, a backend this machine lacks, a server that is
silent, speaks something else, or goes away during the handshake, and the client's failure to
open its device reaching the server. Each must end with one line on stderr, a non-zero status,
and never a hang (every call here has a timeout). The server's side of the exchange, traffic,
data checks and peers dying mid-run need rxe: tests/lab/guest/test_bw_lab.py. perftest's flags:
test_bw_perftest.py.
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import bwwire

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(build_dir, name, folder="tools/bw"):
    path = os.path.join(build_dir, folder, name)
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (cmake -S . -B build && cmake --build build)")
    return path


@pytest.fixture(scope="module")
def bw(build_dir):
    return _tool(build_dir, "ibv_dmabuf_bw")


@pytest.fixture(scope="module")
def regbench(build_dir):
    return _tool(build_dir, "ibv_dmabuf_regbench")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, timeout=30):
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    r.elapsed = time.monotonic() - t0
    return r


def one_line(r, frag, rc=1):
    """Exit status rc and exactly one stderr line containing frag."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == rc, f"rc {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert len(lines) == 1, f"want one line on stderr, got: {r.stderr!r}"
    assert frag in lines[0], lines[0]
    return lines[0]


def has_rdma():
    return bool(os.path.isdir("/sys/class/infiniband") and os.listdir("/sys/class/infiniband"))


# ------------------------------------------------------------------ usage


def test_help(bw, regbench):
    for tool in (bw, regbench):
        r = run([tool, "--help"])
        assert r.returncode == 0 and r.stdout.startswith("Usage:"), r


@pytest.mark.parametrize("args,frag", [
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["-Z"], "unknown option '-Z'"),
    (["-s"], "option '-s' needs a value"),
    (["-s", "0"], "bad --size '0'"),
    (["-s", "12X"], "bad --size '12X'"),
    (["-n", "-3"], "bad --iters '-3'"),
    (["-q", "17"], "bad --qp '17'"),
    (["--op", "atomic"], "bad --op 'atomic'"),
    (["--path", "sideways"], "bad --path 'sideways'"),
    (["--path", "endpoint=x"], "bad --path 'endpoint=x'"),
    (["--mem", "gpu"], "unknown memory backend 'gpu'"),
    (["--mem", "udmabuf:node=x"], "bad option 'node=x'"),
    (["--mem", "udmabuf:node=1:huge"], "bad option 'huge' (want node=N, interleave or hugetlb)"),
    (["--mem", "udmabuf:node=1:interleave"], "node=N and interleave exclude each other"),
    (["--mem", "heap:hugetlb"], "--mem heap: bad option 'hugetlb' (want node=N)"),
    (["-d", "a,b", "--path", "auto,default,numa=0"], "2 devices and 3 --path policies"),
    (["--timeout", "0"], "bad --timeout '0'"),
    (["-u", "32"], "bad --qp-timeout '32' (0 .. 31)"),
    (["--qp-timeout", "x"], "bad --qp-timeout 'x' (0 .. 31)"),
    (["127.0.0.1", "extra"], "unexpected argument 'extra'"),
])
def test_bw_usage_errors(bw, args, frag):
    one_line(run([bw] + args), frag, rc=2)


@pytest.mark.parametrize("args,frag", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--sizes", "3000"], "bad size '3000'"),
    (["--mem", "host"], "--mem host is not a dma-buf"),
    (["--path", "left"], "bad --path 'left'"),
    (["extra"], "unexpected argument 'extra'"),
])
def test_regbench_usage_errors(regbench, args, frag):
    one_line(run([regbench] + args), frag, rc=2)


def test_mem_spec_in_every_usage(bw, regbench, regpair):
    """The three tools that take --mem list udmabuf's options, huge pages included, and
    parse a composed spec (the error comes from past the parser: no such device)."""
    for tool in (bw, regbench, regpair):
        r = run([tool, "--help"])
        assert r.returncode == 0, r
        assert "udmabuf[:node=N|:interleave][:hugetlb]" in r.stdout, (tool, r.stdout)
    for tool in (regbench, regpair):
        r = run([tool, "-d", "nosuchdev0", "--mem", "udmabuf:node=1:hugetlb", "--sizes", "2M"])
        assert r.returncode == 1 and "bad option" not in r.stderr, (tool, r.stderr)
        one_line(run([tool, "-d", "nosuchdev0", "--mem", "udmabuf:node=1:hugetlb:x"]),
                 "--mem udmabuf: bad option 'x' (want node=N, interleave or hugetlb)", rc=2)


@pytest.fixture(scope="module")
def regpair(build_dir):
    return _tool(build_dir, "ibv_dmabuf_regpair", "tools/bench")


@pytest.mark.parametrize("args,msg", [
    (["--sizes", "4K=0"], "bad repetitions '0'"),
    (["--sizes", "4K=x"], "bad repetitions 'x'"),
    (["--sizes", "4K="], "bad repetitions ''"),
    (["--sizes", "2M,4K=1000001"], "bad repetitions '1000001'"),
    (["--sizes", "3000=2"], "bad size '3000' (multiples of 4 KiB, up to 64 GiB)"),
    (["--sizes", "=2"], "bad size '' (multiples of 4 KiB, up to 64 GiB)"),
    (["--sizes", ",".join(["4K=2"] * 17)], "more than 16 sizes in '"
     + ",".join(["4K=2"] * 17) + "'"),
    (["--sizes", ",,"], "no sizes in ',,'"),
    (["--mem", "host", "--ex", "auto"],
     "--ex needs a dma-buf (--mem host is timed with ibv_reg_mr alone)"),
    (["--with-query", "--mem", "host:node=0"],
     "--with-query needs a dma-buf (--mem host:node=0 is timed with ibv_reg_mr alone)"),
    (["--mem", "host", "--sizes", "3000"], "bad size '3000' (multiples of 4 KiB, up to 64 GiB)"),
    (["--ex", "both"], "bad --ex 'both' (auto, source or default)"),
    (["-n", "0"], "bad --reps '0'"),
])
def test_regpair_sizes_and_options(regpair, args, msg):
    """regpair's SIZE=REPS list and options, through bw_regopts.c as regbench's are."""
    line = one_line(run([regpair, "-d", "nosuchdev0"] + args), msg, rc=2)
    assert line == f"ibv_dmabuf_regpair: {msg} (see --help)", line


def test_regpair_needs_a_device(regpair):
    line = one_line(run([regpair, "--sizes", "4K=3"]), "which device?", rc=2)
    assert line == "ibv_dmabuf_regpair: which device? (-d DEV) (see --help)", line


@pytest.mark.parametrize("sizes", ["4K=3,2M", "4K,64G=1", ",,8KiB=1000000,,"])
def test_regpair_good_sizes_pass_the_parser(regpair, sizes):
    """A good list is no usage error: the run goes on to the memory backend and the device,
    which fail here (no udmabuf on the host, or no device nosuchdev0): status 1."""
    r = run([regpair, "-d", "nosuchdev0", "--sizes", sizes])
    line = one_line(r, "ibv_dmabuf_regpair: ", rc=1)
    assert "(see --help)" not in line, line


@pytest.mark.parametrize("mem", ["host", "host:node=0"])
def test_regpair_takes_host_memory(regpair, mem):
    """--mem host (ibv_reg_mr alone, the no-cost figure's mode) passes the parser and the
    backend's probe, which every machine passes: what stops the run is the device."""
    r = run([regpair, "-d", "nosuchdev0", "--mem", mem, "--sizes", "4K=3"])
    line = one_line(r, "ibv_dmabuf_regpair: ", rc=1)
    assert line.startswith("ibv_dmabuf_regpair: no RDMA device 'nosuchdev0'"), line


@pytest.mark.parametrize("sizes", ["4K=3", "4K,2M=1"])
def test_regbench_has_no_size_reps(regbench, sizes):
    line = one_line(run([regbench, "--sizes", sizes]), "bad size", rc=2)
    bad = sizes.split(",")[-1]
    assert line == (f"ibv_dmabuf_regbench: bad size '{bad}' (multiples of 4 KiB, up to 64 GiB)"
                    " (see --help)"), line


@pytest.mark.parametrize("rel", ["bw/ibv_dmabuf_bw", "bw/ibv_dmabuf_regbench",
                                 "bench/ibv_dmabuf_regpair"])
def test_shared_option_tail(build_dir, rel):
    """What the three answer through one copy (tools/common/opts.c): -V, -h, getopt's
    errors, -i/--ib-port and a word too many."""
    tool = os.path.join(build_dir, "tools", rel)
    if not os.access(tool, os.X_OK):
        pytest.skip(f"{tool} is not built")
    name = os.path.basename(rel)
    with open(os.path.join(REPO, "VERSION")) as f:
        version = f.read().strip()
    for args in (["-V"], ["--version"]):
        r = run([tool] + args)
        assert (r.returncode, r.stdout, r.stderr) == (
            0, f"{name} (dmabuf-multipath) {version}\n", ""), r
    for args in (["-h"], ["--help"]):
        r = run([tool] + args)
        assert r.returncode == 0 and r.stdout.startswith("Usage:") and not r.stderr, r
    for args, what in ((["--bogus"], "unknown option '--bogus'"),
                       (["-Z"], "unknown option '-Z'"),
                       (["-i"], "option '-i' needs a value"),
                       (["--ib-port"], "option '--ib-port' needs a value"),
                       (["-i", "0"], "bad --ib-port '0'"),
                       (["--ib-port", "256"], "bad --ib-port '256'"),
                       (["-d", "x", "-i", "1", "127.0.0.1", "extra"],
                        "unexpected argument '"
                        + ("extra'" if name == "ibv_dmabuf_bw" else "127.0.0.1'"))):
        line = one_line(run([tool] + args), what, rc=2)
        assert line == f"{name}: {what} (see --help)", line


@pytest.mark.parametrize("args,frag", [
    # atoi() took "x" for node 0: every number is checked now.
    (["--path", "numa=x"], "bad --path 'numa=x'"),
    (["--path", "endpoint=-1"], "bad --path 'endpoint=-1'"),
    (["--size", "1Q"], "bad --size '1Q'"),
    (["--op", "swap"], "bad --op 'swap'"),
])
def test_xfer_usage_errors(build_dir, args, frag):
    xfer = os.path.join(build_dir, "tools/xfer/ibv_dmabuf_xfer")
    if not os.access(xfer, os.X_OK):
        pytest.skip(f"{xfer} is not built")
    one_line(run([xfer, "--device", "rxe0"] + args), frag, rc=2)


# ------------------------------------------------------------------ backends


def test_list_mem_names_every_backend(bw):
    r = run([bw, "--list-mem"])
    assert r.returncode == 0, r
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == ["host", "udmabuf", "heap", "drm", "cuda"], r.stdout
    assert r.stdout.splitlines()[0].startswith("host     available")
    for line in r.stdout.splitlines():
        assert line.split(None, 1)[1].startswith(("available", "not available here: ")), line


def test_cuda_absent_is_said_plainly(bw, regbench):
    try:
        import ctypes
        ctypes.CDLL("libcuda.so.1")
        pytest.skip("libcuda.so.1 is present on this machine")
    except OSError:
        pass
    for tool in (bw, regbench):
        one_line(run([tool, "--mem", "cuda"]),
                 "memory backend cuda: not available here: libcuda.so.1 not found: "
                 "no NVIDIA driver on this machine")


@pytest.mark.parametrize("backend,node,config", [
    ("udmabuf", "/dev/udmabuf", "CONFIG_UDMABUF"),
    ("heap", "/dev/dma_heap/system", "CONFIG_DMABUF_HEAPS_SYSTEM"),
])
def test_missing_exporter_is_said_plainly(bw, backend, node, config):
    if os.path.exists(node):
        pytest.skip(f"{node} exists on this machine (the lab tests the backend)")
    line = one_line(run([bw, "--mem", backend, "127.0.0.1"]),
                    f"memory backend {backend}: not available here: {node}")
    assert config in line


def test_drm_absent_is_said_plainly(bw):
    if os.path.isdir("/dev/dri") and os.listdir("/dev/dri"):
        pytest.skip("this machine has DRM devices (the lab tests the backend)")
    r = run([bw, "--mem", "drm", "127.0.0.1"])
    one_line(r, "memory backend drm: not available here: ")
    assert "no DRM device" in r.stderr or "libdrm-dev was missing" in r.stderr


# ------------------------------------------------------------------ the exchange


def test_unreachable_server(bw):
    port = free_port()
    r = run([bw, "--timeout", "2", "-p", str(port), "127.0.0.1"])
    one_line(r, f"cannot connect to 127.0.0.1:{port}: Connection refused (tried for")
    assert r.elapsed < 10


def test_unresolvable_server(bw):
    one_line(run([bw, "--timeout", "2", "no-such-host.invalid"]),
             "cannot resolve 'no-such-host.invalid'")


def test_server_without_device_fails_at_once(bw):
    """A server opens its devices before it listens: without one it says so at once (it used
    to wait for a client, silently), and never listens."""
    if has_rdma():
        pytest.skip("this machine has RDMA devices: a missing one cannot be faked")
    port = free_port()
    r = run([bw, "--timeout", "30", "-p", str(port)])
    one_line(r, "no RDMA device on this host")
    assert r.elapsed < 5, r.elapsed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("spelling", ["-d", "--ib-dev", "--device"])
def test_server_without_the_named_device_fails_at_once(bw, spelling):
    if has_rdma():
        pytest.skip("this machine has RDMA devices: a missing one cannot be faked")
    r = run([bw, "--timeout", "30", "-p", str(free_port()), spelling, "rxe9"])
    one_line(r, "no RDMA device 'rxe9' (this host has: none)")
    assert r.elapsed < 5, r.elapsed


def client_against(bw, reply, client_args, timeout=30):
    """A real client against bwwire.FakeServer answering HELLO with reply (None: agree)."""
    srv = bwwire.FakeServer(reply).start()
    r = run([bw, "-p", str(srv.port), "--timeout", "5"] + client_args + ["127.0.0.1"],
            timeout=timeout)
    srv.join(10)
    return r, srv


@pytest.mark.parametrize("client,server,what", [
    (["-s", "65536"], {"size": 4096}, "--size 65536 here, 4096 on the server"),
    (["--op", "write"], {"op": 1}, "--op write here, read on the server"),
    (["-n", "20"], {"iters": 10}, "--iters 20 here, 10 on the server"),
    (["-t", "128"], {"depth": 64}, "--tx-depth 128 here, 64 on the server"),
    ([], {"qps": 2}, "--qp 1 here, 2 on the server"),
    (["-d", "a"], {"paths": 2}, "number of paths (devices/--path) 1 here, 2 on the server"),
    ([], {"check": 1}, "--check off here, on on the server"),
    ([], {"all": 1}, "--all off here, on on the server"),
    # perftest's flags travel too: a time is not a count, so -D is compared before --iters
    (["-D", "8"], {"duration": 4, "margin": 1, "iters": 0}, "--duration 8 here, 4 on the server"),
    ([], {"duration": 10, "margin": 2, "iters": 0}, "--duration 0 here, 10 on the server"),
    (["-D", "8", "-f", "1"], {"duration": 8, "margin": 2, "iters": 0},
     "--margin 1 here, 2 on the server"),
    (["-b"], {}, "--bidirectional on here, off on the server"),
])
def test_parameter_mismatch_stops_the_client(bw, client, server, what):
    """The client names the parameter; it sends no ERROR back: the server, which compares
    the same pair, stops alike (its side: tests/lab/guest/test_bw_lab.py)."""
    r, srv = client_against(bw, server, client)
    one_line(r, f"parameter mismatch with the server: {what}")
    assert srv.eof and srv.after == [], srv.after


@pytest.mark.parametrize("args,fields", [
    ([], {}),
    (["-D", "8"], {"duration": 8, "margin": 2, "iters": 0}),  # perftest's margin: D/4
    (["-D", "9", "-f", "0"], {"duration": 9, "margin": 0, "iters": 0}),
    (["--duration", "3", "--margin", "1"], {"duration": 3, "margin": 1, "iters": 0}),
    (["-b"], {"bidir": 1}),
    (["--bidirectional", "--op", "send", "-q", "3", "-t", "64"],
     {"bidir": 1, "op": 2, "qps": 3, "depth": 64}),
    (["-a", "-s", "64K", "--check"], {"all": 1, "size": 65536, "check": 1}),
    # report options and the MTU are each side's own: they do not travel
    (["-m", "512", "-c", "RC", "-F", "--report_gbits", "--perftest-header", "-x", "1"], {}),
])
def test_client_device_failure_reaches_the_server(bw, args, fields, tmp_path):
    """The client's HELLO carries the perftest flags as the server must compare them; after an
    agreed HELLO the client opens its device, fails, and tells the server why (ERROR)."""
    if has_rdma():
        pytest.skip("this machine has RDMA devices: a missing one cannot be faked")
    out = tmp_path / "r.json"
    r, srv = client_against(bw, None, ["-d", "rxe9", f"--out_json={out}"] + args)
    line = one_line(r, "no RDMA device 'rxe9'")
    assert srv.client_hello == dict(bwwire.DEFAULTS, **fields), srv.client_hello
    assert [t for t, _ in srv.after] == [bwwire.ERROR], srv.after
    assert bwwire.string(srv.after[0][1]) in line
    assert not out.exists(), "--out_json left a file of a run that measured nothing"


def fake_server(port, behaviour, ready):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    ready.set()
    ls.settimeout(20)
    try:
        c, _ = ls.accept()
    except OSError:
        return
    with c:
        if behaviour == "silent":
            time.sleep(4)
        elif behaviour == "close":
            pass
        elif behaviour == "garbage":
            c.sendall(b"0000:000000:000000:00000000:0000000000000000\n" * 2)
            time.sleep(2)
        elif behaviour == "old-version":
            c.sendall(bwwire.frame(bwwire.HELLO, version=99))
            time.sleep(2)
        elif behaviour == "error":
            msg = b"it broke"
            c.sendall(bwwire.frame(bwwire.ERROR, struct.pack(">H", len(msg)) + msg))
            time.sleep(2)
    ls.close()


@pytest.mark.parametrize("behaviour,frag", [
    ("silent", "no word from the server for 2 s"),
    ("close", "the server closed the connection"),
    ("garbage", "is not an ibv_dmabuf_bw peer (bad magic"),
    ("old-version", f"server speaks protocol version 99, this tool {bwwire.PROTO}"),
    ("error", "server failed: it broke"),
])
def test_client_against_odd_servers(bw, behaviour, frag):
    port = free_port()
    ready = threading.Event()
    t = threading.Thread(target=fake_server, args=(port, behaviour, ready), daemon=True)
    t.start()
    ready.wait(5)
    r = run([bw, "--timeout", "2", "-p", str(port), "127.0.0.1"], timeout=20)
    one_line(r, frag)
    assert r.elapsed < 10
    t.join(10)


# ------------------------------------------------------------------ regbench


def test_regbench_without_device(regbench):
    if has_rdma():
        pytest.skip("this machine has RDMA devices")
    if not os.path.exists("/dev/udmabuf"):
        one_line(run([regbench, "-d", "rxe0"]), "memory backend udmabuf: not available here")
    one_line(run([regbench, "-d", "rxe0", "--mem", "drm"]) if os.path.isdir("/dev/dri")
             else run([regbench, "-d", "rxe0", "--mem", "cuda"]), "not available here")


# ------------------------------------------------------------------ docs


@pytest.mark.skipif(not shutil.which("pandoc"), reason="pandoc not installed")
@pytest.mark.parametrize("page", ["ibv_dmabuf_bw.1.md", "ibv_dmabuf_regbench.1.md"])
def test_man_pages_render(page):
    r = subprocess.run(["pandoc", "-s", "-t", "man", os.path.join(REPO, "tools/bw", page)],
                       capture_output=True, text=True, check=True, timeout=60)
    assert ".SH NAME" in r.stdout and ".SH SEE ALSO" in r.stdout


@pytest.mark.parametrize("name", ["ibv_dmabuf_bw", "ibv_dmabuf_regbench"])
def test_every_option_is_in_the_man_page(build_dir, name):
    page = open(os.path.join(REPO, f"tools/bw/{name}.1.md")).read()
    usage = run([_tool(build_dir, name), "--help"]).stdout
    for opt in set(re.findall(r"--[A-Za-z][A-Za-z_-]+", usage)):
        assert f"**{opt}**" in page, f"{opt} is not documented in {name}.1.md"
