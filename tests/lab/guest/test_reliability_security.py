# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""What an unprivileged holder of a dma-buf fd learns and can do (runs INSIDE the lab).

Only root may open /dev/udmabuf, /dev/dma_heap/system and the P2P test exporter in the guest,
so this root test process makes the dma-bufs and hands the fds to a child that runs as nobody
(uid and gid 65534, no supplementary groups, no capabilities): the fd holder. The child queries
and registers through the fds it inherited. Checks:

- the child really is unprivileged (no capabilities; the exporters' devices refuse it);
- the library's answer to the holder equals root's, on the stock kernel (fdinfo path) and the
  patched one (kernel ioctl);
- DMA_BUF_IOCTL_DESCRIBE gives the holder root's reply byte for byte, and every byte of it is
  accounted for: size and exporter are what /proc/self/fdinfo already tells the holder, the
  node is an online node, the provider is the PCI address sysfs shows; flags, reserved and the
  bytes after the exporter name's NUL are zero (no kernel memory leaks out);
- no physical address in the reply: none of the udmabuf's page frames (read as root from
  /proc/self/pagemap of its memfd) and nothing in the P2P provider's BAR, as an address or a
  page frame number, at any 4- or 8-byte position;
- the holder registers and deregisters dma-buf MRs through libibverbs-ext, and an explicit
  endpoint that cannot reach the P2P provider is refused with EXDEV for it as for root.
"""

import ctypes
import errno
import fcntl
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap

import pytest

import labguest
from test_kernel_dmabuf import (DESCRIBE_FMT, DMA_BUF_IOCTL_DESCRIBE, MPOL_BIND, heap_buffer,
                                udmabuf_and_memfd)
from test_kernel_endpoints import p2p, p2p_buffer, rxeb, topo  # noqa: F401 (fixtures)

PAGE = mmap.PAGESIZE
NOBODY = 65534
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = os.environ.get("DMP_BUILD") or os.path.join(REPO, "build")
sys.path.insert(0, os.path.join(REPO, "python"))

# Runs as nobody. argv[1]: JSON {"describe": [fd...], "query": [fd...], "open": [path...],
# "reg": [[ibdev, fd, length, endpoint or null]...]}; prints one JSON object.
CHILD = textwrap.dedent("""
    import errno, fcntl, json, os, sys
    req = json.loads(sys.argv[1])
    out = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
           "groups": os.getgroups(), "describe": {}, "query": {}, "open": {}, "reg": []}
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            out["cap_eff"] = int(line.split()[1], 16)
    for path in req["open"]:
        try:
            os.close(os.open(path, os.O_RDWR))
            out["open"][path] = 0
        except OSError as e:
            out["open"][path] = e.errno
    for fd in req["describe"]:
        buf = bytearray(64)
        try:
            fcntl.ioctl(fd, req["ioctl"], buf, True)
            out["describe"][str(fd)] = buf.hex()
        except OSError as e:
            out["describe"][str(fd)] = e.errno
    if req["query"] or req["reg"]:
        import ibverbs_ext as ix
    for fd in req["query"]:
        out["query"][str(fd)] = repr(ix.query_dmabuf(fd))
    for ibdev, fd, length, ep in req["reg"]:
        hints = ix.PathHints.use_endpoint(ep) if ep is not None else None
        try:
            with ix.Context(ibdev) as ctx, ctx.alloc_pd() as pd:
                mr = ix.reg_dmabuf_mr_ex(pd, fd, length=length, hints=hints)
                out["reg"].append({"ok": True, "endpoint": mr.choice.endpoint.index,
                                   "lkey": mr.lkey})
                mr.close()
        except OSError as e:
            out["reg"].append({"ok": False, "errno": e.errno, "reason": str(e)})
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def nobody_env():
    """A world-readable copy of the Python module and the library for the child: the clone
    (and its build tree) may sit under /root, which nobody cannot enter."""
    d = tempfile.mkdtemp(prefix="unpriv-")
    try:
        shutil.copytree(os.path.join(REPO, "python", "ibverbs_ext"),
                        os.path.join(d, "ibverbs_ext"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        lib = os.path.join(BUILD, "libibverbs-ext", "libibverbs-ext.so.1")
        shutil.copy(os.path.realpath(lib), os.path.join(d, "libibverbs-ext.so.1"))
        with open(os.path.join(d, "child.py"), "w") as f:
            f.write(CHILD)
        for root, dirs, files in os.walk(d):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _drop_to_nobody():
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def as_nobody(env_dir, fds=(), describe=(), query=(), open_paths=(), reg=()):
    req = {"ioctl": DMA_BUF_IOCTL_DESCRIBE, "describe": list(describe), "query": list(query),
           "open": list(open_paths), "reg": [list(r) for r in reg]}
    env = {"PATH": "/usr/bin:/bin", "HOME": env_dir, "PYTHONPATH": env_dir,
           "PYTHONDONTWRITEBYTECODE": "1",
           "IBV_EXT_LIBRARY": os.path.join(env_dir, "libibverbs-ext.so.1")}
    r = subprocess.run([sys.executable, os.path.join(env_dir, "child.py"), json.dumps(req)],
                       pass_fds=tuple(fds), preexec_fn=_drop_to_nobody, env=env, cwd=env_dir,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"child as nobody failed:\n{r.stderr}"
    out = json.loads(r.stdout)
    assert (out["uid"], out["euid"], out["gid"], out["groups"], out["cap_eff"]) == \
        (NOBODY, NOBODY, NOBODY, [], 0), out
    return out


def raw_describe(fd):
    buf = bytearray(64)
    fcntl.ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, buf, True)
    return bytes(buf)


def memfd_pfns(memfd, size):
    """Page frame numbers of the memfd's pages (root reads them from /proc/self/pagemap)."""
    pfns = set()
    pm = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with mmap.mmap(memfd, size) as m:
            anchor = ctypes.c_char.from_buffer(m)
            base = ctypes.addressof(anchor)
            for off in range(0, size, PAGE):
                m[off] = m[off]  # present
                entry = struct.unpack("=Q", os.pread(pm, 8, (base + off) // PAGE * 8))[0]
                assert entry >> 63 and entry & ((1 << 55) - 1), \
                    f"page {off // PAGE}: pagemap entry {entry:#x} (not root?)"
                pfns.add(entry & ((1 << 55) - 1))
            del anchor
    finally:
        os.close(pm)
    assert len(pfns) == size // PAGE, f"{len(pfns)} distinct frames for {size // PAGE} pages"
    return pfns


SIZE_AT = struct.calcsize("=IIIi")  # offset of the size field
NAME_AT = struct.calcsize("=IIIiQIBBH")  # offset of exp_name


def words(raw):
    """Every aligned 4- and 8-byte value of a DESCRIBE reply (little endian), the size and
    the exporter name zeroed: check_accounted() has matched both with fdinfo, and a size, or
    four characters of a name, may well equal a page frame number."""
    raw = raw[:SIZE_AT] + bytes(8) + raw[SIZE_AT + 8:NAME_AT] + bytes(len(raw) - NAME_AT)
    return ({struct.unpack_from("<I", raw, o)[0] for o in range(0, len(raw), 4)} |
            {struct.unpack_from("<Q", raw, o)[0] for o in range(0, len(raw), 8)})


def online_nodes():
    nodes = set()
    for part in labguest.read("/sys/devices/system/node/online", "").strip().split(","):
        lo, _, hi = part.partition("-")
        nodes.update(range(int(lo), int(hi or lo) + 1))
    return nodes


def check_accounted(raw, fd, provider=None):
    """Every byte of a DESCRIBE reply is something the fd holder can learn anyway."""
    (flags, types, attrs, node, size, seg, bus, devfn, reserved,
     name) = struct.unpack(DESCRIBE_FMT, raw)
    fi = labguest.fdinfo(fd)
    assert flags == 0 and reserved == 0, raw.hex()
    assert types in (1, 2, 4) and (attrs & ~0x7) == 0, raw.hex()
    assert size == int(fi["size"]), (size, fi)
    exp, nul, rest = name.partition(b"\0")
    assert nul and exp.decode() == fi["exp_name"], (name, fi)
    assert rest == b"\0" * len(rest), f"bytes after the exporter name: {rest.hex()}"
    assert node == -1 or node in online_nodes(), node
    if provider:
        assert f"{seg:04x}:{bus:02x}:{devfn >> 3:02x}.{devfn & 7}" == provider
    else:
        assert (seg, bus, devfn) == (0, 0, 0), raw.hex()


def bar_range(pci, bar=2):
    line = labguest.read(f"/sys/bus/pci/devices/{pci}/resource").splitlines()[bar]
    start, end, _ = (int(x, 16) for x in line.split())
    assert start and end > start, line
    return start, end


# ------------------------------------------------------------------ tests


def test_the_child_is_unprivileged(nobody_env):
    out = as_nobody(nobody_env, open_paths=["/dev/udmabuf", "/dev/dma_heap/system"])
    for path, err in out["open"].items():
        assert err in (errno.EACCES, errno.EPERM), (path, err)


def test_library_query_of_the_holder_equals_roots(lab, nobody_env):
    """Stock kernel: the fdinfo path; patched: the kernel's description."""
    import ibverbs_ext as ix

    fd, memfd = udmabuf_and_memfd(4 * PAGE, MPOL_BIND, [1])
    hfd = heap_buffer(8 * PAGE)
    with labguest.closing_fds(fd, memfd, hfd):
        out = as_nobody(nobody_env, fds=[fd, hfd], query=[fd, hfd])
        for f in (fd, hfd):
            assert out["query"][str(f)] == repr(ix.query_dmabuf(f)), f
        print(f"holder's queries: {out['query']}")


@pytest.mark.patched_only
def test_describe_gives_the_holder_nothing_new(nobody_env):
    fd, memfd = udmabuf_and_memfd(64 * PAGE, MPOL_BIND, [1])
    hfd = heap_buffer(64 * PAGE)
    with labguest.closing_fds(fd, memfd, hfd):
        pfns = memfd_pfns(memfd, 64 * PAGE)
        secrets = {p for p in pfns if p > 0xFFFF} | {p * PAGE for p in pfns}
        out = as_nobody(nobody_env, fds=[fd, hfd], describe=[fd, hfd])
        for f in (fd, hfd):
            raw = raw_describe(f)
            assert out["describe"][str(f)] == raw.hex(), "holder's reply differs from root's"
            check_accounted(raw, f)
        leaked = words(raw_describe(fd)) & secrets
        assert not leaked, f"page frames or physical addresses in the reply: {leaked}"
        print(f"udmabuf: {len(pfns)} page frames, none in the reply "
              f"{raw_describe(fd).hex()}")


@pytest.mark.patched_only
def test_describe_of_p2p_memory_hides_the_bar(nobody_env, p2p, topo):
    start, end = bar_range(topo.ivshmem)
    with p2p_buffer(p2p) as (fd, mem):
        out = as_nobody(nobody_env, fds=[fd], describe=[fd])
        raw = raw_describe(fd)
        assert out["describe"][str(fd)] == raw.hex()
        check_accounted(raw, fd, provider=topo.ivshmem)
        inside = {w for w in words(raw)
                  if start <= w <= end or (start // PAGE <= w <= end // PAGE and w > 0xFFFF)}
        assert not inside, f"BAR {start:#x}-{end:#x} shows in the reply: {inside}"
        print(f"ivshmem BAR {start:#x}-{end:#x}; reply {raw.hex()}")


@pytest.mark.patched_only
def test_holder_registers_and_cannot_bypass_p2p_reachability(lab, nobody_env, rxeb, p2p):
    fd, memfd = udmabuf_and_memfd(16 * PAGE, MPOL_BIND, [0])
    with labguest.closing_fds(fd, memfd), p2p_buffer(p2p) as (pfd, mem):
        before = bytes(mem[0:PAGE])
        out = as_nobody(nobody_env, fds=[fd, pfd], reg=[
            (lab.nics[0].rxe, fd, 16 * PAGE, None),
            (rxeb.rxe, pfd, 16 * PAGE, None),
            (rxeb.rxe, pfd, 16 * PAGE, 0),
            (lab.nics[1].rxe, pfd, 16 * PAGE, None),
        ])
        ok_cpu, ok_p2p, via_ep0, via_nic1 = out["reg"]
        assert ok_cpu["ok"], ok_cpu
        assert ok_p2p["ok"] and ok_p2p["endpoint"] == 1, ok_p2p
        for refused in (via_ep0, via_nic1):
            assert not refused["ok"] and refused["errno"] == errno.EXDEV, refused
        assert bytes(mem[0:PAGE]) == before
        print(f"holder: {out['reg']}")
