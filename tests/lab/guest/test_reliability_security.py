# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""What an unprivileged holder of a dma-buf fd learns and can do (runs INSIDE the lab).

Only root may open /dev/udmabuf, /dev/dma_heap/system and vfio's group device in the guest,
so this root test process makes the dma-bufs and hands the fds to a child that runs as nobody
(uid and gid 65534, no supplementary groups, no capabilities): the fd holder. The child queries
and registers through the fds it inherited. Checks:

- the child really is unprivileged (no capabilities; the exporters' devices refuse it);
- the library's answer to the holder equals root's, on the stock kernels (fdinfo path) and the
  patched one (kernel ioctl);
- DMA_BUF_IOCTL_DESCRIBE gives the holder root's reply byte for byte, and every byte of it is
  accounted for: the size is what /proc/self/fdinfo already tells the holder, the ranges tile
  the buffer, each node is an online node, the provider is the PCI address sysfs shows; flags
  and reserved fields are zero (no kernel memory leaks out);
- no physical address in the reply: none of the udmabuf's page frames (read as root from
  /proc/self/pagemap of its memfd) and nothing in the P2P provider's BAR (vfio-pci's dma-buf of
  ivshmem's BAR 2), as an address or a page frame number, at any 4- or 8-byte position;
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
from kverbs import (DESCRIBE_FMT, DMA_BUF_IOCTL_DESCRIBE, MPOL_BIND, RANGE_FMT, heap_buffer,
                    udmabuf_and_memfd)

PAGE = mmap.PAGESIZE
NOBODY = 65534
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = labguest.BUILD
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
    import ctypes, struct
    for fd in req["describe"]:
        ranges = ctypes.create_string_buffer(64 * 40)
        buf = bytearray(struct.pack("=IIQIIIIQ", 40, 0, 0, 0, 64, 40, 0,
                                    ctypes.addressof(ranges)))
        try:
            fcntl.ioctl(fd, req["ioctl"], buf, True)
            # the pointer is the caller's own: the rest is the kernel's answer
            out["describe"][str(fd)] = (buf[:32] + ranges.raw).hex()
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
    """The kernel's reply as the child reports it: the struct without its pointer, then room
    for 64 ranges."""
    ranges = ctypes.create_string_buffer(64 * 40)
    buf = bytearray(struct.pack(DESCRIBE_FMT, 40, 0, 0, 0, 64, 40, 0,
                                ctypes.addressof(ranges)))
    fcntl.ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, buf, True)
    return bytes(buf[:32]) + ranges.raw


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


def parse(raw):
    """(header fields, [range tuples]) of a raw_describe() reply."""
    head = struct.unpack_from("=IIQIIII", raw)
    n = min(head[4], 64)
    return head, [struct.unpack_from(RANGE_FMT, raw, 32 + 40 * i) for i in range(n)]


def words(raw):
    """Every aligned 4- and 8-byte value of a DESCRIBE reply (little endian), with the size and
    the ranges' offsets and lengths zeroed: check_accounted() has matched those with fdinfo
    and with each other, and a size or an offset may well equal a page frame number."""
    b = bytearray(raw)
    b[8:16] = bytes(8)
    for i in range(min(struct.unpack_from("=I", raw, 20)[0], 64)):
        b[32 + 40 * i:32 + 40 * i + 16] = bytes(16)
    return ({struct.unpack_from("<I", b, o)[0] for o in range(0, len(b), 4)} |
            {struct.unpack_from("<Q", b, o)[0] for o in range(0, len(b), 8)})


def online_nodes():
    nodes = set()
    for part in labguest.read("/sys/devices/system/node/online", "").strip().split(","):
        lo, _, hi = part.partition("-")
        nodes.update(range(int(lo), int(hi or lo) + 1))
    return nodes


def check_accounted(raw, fd, provider=None):
    """Every byte of a DESCRIBE reply is something the fd holder can learn anyway."""
    (argsz, flags, size, mem_types, nr, range_size, reserved), ranges = parse(raw)
    fi = labguest.fdinfo(fd)
    assert (argsz, flags, range_size, reserved) == (40, 0, 40, 0), raw[:32].hex()
    assert size == int(fi["size"]), (size, fi)
    assert mem_types in (1 << 1, 1 << 2), raw[:32].hex()
    assert 1 <= nr <= 64 and len(ranges) == nr, nr
    at = 0
    for (off, length, mem, rflags, node, domain, bus, devfn, r0, r1) in ranges:
        assert off == at and length > 0 and (r0, r1) == (0, 0), (off, length, r0, r1)
        assert mem_types == 1 << mem and rflags in (1, 2, 4), (mem, rflags)
        at += length
        if provider:
            assert node == -1, node
            assert f"{domain:04x}:{bus:02x}:{devfn >> 3:02x}.{devfn & 7}" == provider
        else:
            assert node in online_nodes(), node
            assert (domain, bus, devfn) == (0, 0, 0), raw.hex()
    assert at == size, (at, size)
    assert raw[32 + 40 * nr:] == bytes(len(raw) - 32 - 40 * nr), "bytes past the ranges"


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


def _vfio(lab):
    why = labguest.vfio_unavailable()
    if why:
        pytest.fail(f"the patched lab kernel must have the vfio P2P source: {why}")
    return labguest.VfioDevice(os.environ.get("LAB_VFIO_PCI") or lab.ivshmem_pci)


@pytest.mark.patched_only
def test_describe_of_p2p_memory_hides_the_bar(lab, nobody_env):
    start, end = bar_range(lab.ivshmem_pci)
    with _vfio(lab) as dev:
        fd = dev.dmabuf(2, [(4 * labguest.MiB, 16 * PAGE)])
        with labguest.closing_fds(fd):
            out = as_nobody(nobody_env, fds=[fd], describe=[fd])
            raw = raw_describe(fd)
            assert out["describe"][str(fd)] == raw.hex()
            check_accounted(raw, fd, provider=lab.ivshmem_pci)
            inside = {w for w in words(raw)
                      if start <= w <= end or (start // PAGE <= w <= end // PAGE and w > 0xFFFF)}
            assert not inside, f"BAR {start:#x}-{end:#x} shows in the reply: {inside}"
            print(f"ivshmem BAR {start:#x}-{end:#x}; reply {raw[:32 + 40].hex()}")


@pytest.mark.patched_only
def test_holder_registers_and_cannot_bypass_p2p_reachability(lab, nobody_env, rxeb):
    off = 4 * labguest.MiB
    fd, memfd = udmabuf_and_memfd(16 * PAGE, MPOL_BIND, [0])
    with _vfio(lab) as dev, labguest.closing_fds(fd, memfd):
        pfd = dev.dmabuf(2, [(off, 16 * PAGE)])
        with labguest.closing_fds(pfd):
            mem = dev.view(2, off)
            before = bytes(mem[0:PAGE])
            out = as_nobody(nobody_env, fds=[fd, pfd], reg=[
                (lab.nics[0].rxe, fd, 16 * PAGE, None),
                (rxeb.rxe, pfd, 16 * PAGE, None),
                (rxeb.rxe, pfd, 16 * PAGE, rxeb.nic3_endpoint),
                (lab.nics[1].rxe, pfd, 16 * PAGE, None),
            ])
            ok_cpu, ok_p2p, via_nic3, via_nic1 = out["reg"]
            assert ok_cpu["ok"], ok_cpu
            assert ok_p2p["ok"] and ok_p2p["endpoint"] == rxeb.nic2_endpoint, ok_p2p
            for refused in (via_nic3, via_nic1):
                assert not refused["ok"] and refused["errno"] == errno.EXDEV, refused
            assert bytes(mem[0:PAGE]) == before
            print(f"holder: {out['reg']}")
