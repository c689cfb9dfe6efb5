# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf_bw and ibv_dmabuf_regbench on the host, without RDMA.

ibv_dmabuf_bw connects and compares parameters *before* it opens a device, so everything up to
the device can be tested here: usage errors, an unreachable server, a parameter mismatch between
two local processes, a backend this machine lacks, a peer that is silent, speaks something else,
or goes away during the handshake, and both sides failing to open a device. Each must end with
one line on stderr, a non-zero status, and never a hang (every call here has a timeout). Traffic,
data checks and peers dying mid-run need rxe: tests/lab/guest/test_bw_lab.py.
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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(build_dir, name):
    path = os.path.join(build_dir, "tools/bw", name)
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
    (["-d", "a,b", "--path", "auto,default,numa=0"], "2 devices and 3 --path policies"),
    (["--timeout", "0"], "bad --timeout '0'"),
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


def test_server_without_client_times_out(bw):
    r = run([bw, "--timeout", "1", "-p", str(free_port())])
    one_line(r, "no client connected to TCP port")
    assert r.elapsed < 10


def pair(bw, server_args, client_args, timeout=30):
    port = free_port()
    srv = subprocess.Popen([bw, "-p", str(port), "--timeout", "5"] + server_args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        cli = run([bw, "-p", str(port), "--timeout", "5"] + client_args + ["127.0.0.1"],
                  timeout=timeout)
        out, err = srv.communicate(timeout=timeout)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.communicate()
    srv_r = subprocess.CompletedProcess(srv.args, srv.returncode, out, err)
    return srv_r, cli


@pytest.mark.parametrize("server,client,what", [
    (["-s", "4096"], ["-s", "65536"], "--size 4096 here, 65536 on the client"),
    (["--op", "read"], ["--op", "write"], "--op read here, write on the client"),
    (["-n", "10"], ["-n", "20"], "--iters 10 here, 20 on the client"),
    (["-t", "64"], ["-t", "128"], "--tx-depth 64 here, 128 on the client"),
    (["-q", "2"], ["-q", "1"], "--qp 2 here, 1 on the client"),
    (["-d", "a,b"], ["-d", "a"], "number of paths (devices/--path) 2 here, 1 on the client"),
    (["--check"], [], "--check on here, off on the client"),
    (["-a"], [], "--all on here, off on the client"),
])
def test_parameter_mismatch_stops_both(bw, server, client, what):
    srv, cli = pair(bw, server, client)
    one_line(srv, f"parameter mismatch with the client: {what}")
    mirrored = what.replace("on the client", "on the server")
    here, there = mirrored.rsplit(" here, ", 1)
    name, mine = here.rsplit(" ", 1)
    theirs = there.split(" on the server")[0]
    one_line(cli, f"parameter mismatch with the server: {name} {theirs} here, {mine} on the server")


def test_device_failure_reaches_both_sides(bw):
    if has_rdma():
        pytest.skip("this machine has RDMA devices: a missing one cannot be faked")
    srv, cli = pair(bw, ["-d", "rxe9"], ["-d", "rxe9"])
    # Each side fails to open its device and tells the other; each says its own reason.
    one_line(srv, "no RDMA device 'rxe9'")
    one_line(cli, "no RDMA device 'rxe9'")


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
            c.sendall(struct.pack(">IHHI", 0x444d4257, 99, 1, 0))
            time.sleep(2)
        elif behaviour == "error":
            msg = b"it broke"
            c.sendall(struct.pack(">IHHIH", 0x444d4257, 1, 10, 2 + len(msg), len(msg)) + msg)
            time.sleep(2)
    ls.close()


@pytest.mark.parametrize("behaviour,frag", [
    ("silent", "no word from the server for 2 s"),
    ("close", "the server closed the connection"),
    ("garbage", "is not an ibv_dmabuf_bw peer (bad magic"),
    ("old-version", "server speaks protocol version 99, this tool 1"),
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


def test_server_against_client_that_vanishes(bw):
    port = free_port()
    srv = subprocess.Popen([bw, "-p", str(port), "--timeout", "5"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        out, err = srv.communicate(timeout=20)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.communicate()
    one_line(subprocess.CompletedProcess(srv.args, srv.returncode, out, err),
             "the client closed the connection")


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
    for opt in set(re.findall(r"--[a-z][a-z-]+", usage)):
        assert f"**{opt}**" in page, f"{opt} is not documented in {name}.1.md"
