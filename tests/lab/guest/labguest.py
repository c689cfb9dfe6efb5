# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Helpers for tests that run inside a VM-lab guest (tests/lab/labrun).

Import from a test module next to this file (``import labguest``) or use the fixtures of
conftest.py, which wrap these.  Everything here reads the lab's environment (LAB, LAB_NIC0, ...)
and sysfs; nothing needs root on the host.
"""

import contextlib
import dataclasses
import fcntl
import mmap
import os
import shlex
import socket
import struct
import subprocess
import time

SYSFS = "/sys"
MiB = 1 << 20

# Default per-command timeout (seconds).  TCG is slow: python3 + pyverbs import alone takes ~10 s.
DEFAULT_TIMEOUT = 120


def in_lab():
    return os.environ.get("LAB") == "1"


class CommandFailed(AssertionError):
    pass


def _fmt(cmd):
    return cmd if isinstance(cmd, str) else shlex.join(str(c) for c in cmd)


def run(cmd, timeout=DEFAULT_TIMEOUT, check=True, input=None, env=None, cwd=None):
    """Run *cmd* (argv list, or a string for ``sh -c``) with a timeout; capture text output.

    Returns the CompletedProcess.  With check=True a non-zero status raises CommandFailed
    whose message has the command, the status and the tail of both streams; a timeout raises
    CommandFailed too (the process is killed).
    """
    shell = isinstance(cmd, str)
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update({k: str(v) for k, v in env.items()})
    # Not subprocess.run: on a timeout, or an exception (pytest-timeout's), it waits for the
    # killed child without a limit, and a child stuck in the kernel never ends.
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env, cwd=cwd,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        _kill(proc, f"timed out after {timeout} s: {_fmt(cmd)}")
        raise CommandFailed(f"timed out after {timeout} s: {_fmt(cmd)}\n"
                            f"stdout: {_tail(e.stdout)}\nstderr: {_tail(e.stderr)}") from None
    except BaseException:
        _kill(proc, _fmt(cmd))
        raise
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check and res.returncode != 0:
        raise CommandFailed(f"exit status {res.returncode}: {_fmt(cmd)}\n"
                            f"stdout: {_tail(res.stdout)}\nstderr: {_tail(res.stderr)}")
    return res


# How long a killed child may take to go before it counts as stuck in the kernel (seconds)
KILL_GRACE = 30


def _kill(proc, what, grace=None):
    """SIGKILL *proc* and reap it within *grace* s; a process that outlives SIGKILL is stuck in
    the kernel: CommandFailed says where (each thread's state, wait channel, kernel stack)."""
    grace = KILL_GRACE if grace is None else grace
    proc.kill()
    try:
        proc.wait(timeout=grace)  # the process only: a child of a shell may hold the pipes
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"{what}: pid {proc.pid} still there {grace} s after SIGKILL, stuck "
                            f"in the kernel:\n{kernel_state(proc.pid)}") from None


def kernel_state(pid):
    """Each thread of *pid*: its state, wait channel and kernel stack (root reads the stack)."""
    lines = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        t = f"/proc/{pid}/task/{tid}"
        stat = read(f"{t}/stat", "")
        state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
        lines.append(f"  thread {tid} ({read(f'{t}/comm', '?')}), state {state}, "
                     f"wchan {read(f'{t}/wchan', '?')}")
        lines += ["    " + ln for ln in read(f"{t}/stack", "").splitlines()]
    return "\n".join(lines)


def _tail(s, n=2000):
    if s is None:
        return ""
    if isinstance(s, bytes):
        s = s.decode(errors="replace")
    return s[-n:]


class Background:
    """A background process (e.g. an RDMA server) that is always killed at the end.

    Use as a context manager; ``wait()`` collects it with a timeout and returns
    (returncode, stdout, stderr).
    """

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        full_env = dict(os.environ)
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        self.proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), env=full_env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.result = None

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout=DEFAULT_TIMEOUT):
        if self.result is None:
            try:
                out, err = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise CommandFailed(f"background command still running after {timeout} s: "
                                    f"{_fmt(self.cmd)}") from None
            self.result = (self.proc.returncode, out, err)
        return self.result

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = "", ""  # a child of a shell still holds the pipes
            _kill(self.proc, f"background command {_fmt(self.cmd)}")
        if self.result is None:
            self.result = (self.proc.returncode, out, err)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        return False


def client_server(server_cmd, client_cmd, timeout=DEFAULT_TIMEOUT, retries=20):
    """Run a server in the background and a client against it (perftest/pingpong style).

    The client is retried (1 s apart) while it fails and the server is still waiting, since the
    server may not listen yet.  Returns (client CompletedProcess, (server rc, out, err)).
    """
    deadline = time.monotonic() + timeout
    with Background(server_cmd) as srv:
        time.sleep(0.5)
        for attempt in range(retries):
            left = max(1, deadline - time.monotonic())
            res = run(client_cmd, timeout=left, check=False)
            if res.returncode == 0 or not srv.alive() or attempt == retries - 1:
                break
            time.sleep(1)
        left = max(1, deadline - time.monotonic())
        server = srv.wait(timeout=left) if res.returncode == 0 else srv.result or _killed(srv)
    return res, server


def _killed(srv):
    srv.kill()
    return srv.result


# --------------------------------------------------------------------------- sysfs
def huge_pages(node, count=None, size_kb=2048):
    """The number of SIZE_KB huge pages in NODE's pool, after asking for COUNT if given (the
    kernel may make fewer: the caller compares). OSError when the pool cannot be written."""
    path = f"/sys/devices/system/node/node{node}/hugepages/hugepages-{size_kb}kB/nr_hugepages"
    if count is not None:
        with open(path, "w") as f:
            f.write(f"{count}\n")
    return int(read(path))


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        if default is not None:
            return default
        raise


def pci_function_of_netdev(nic):
    """sysfs path of the PCI function under a netdev (virtio-net: the virtio device's parent)."""
    dev = os.path.realpath(f"{SYSFS}/class/net/{nic}/device")
    while dev != "/" and os.path.realpath(os.path.join(dev, "subsystem")) != \
            os.path.realpath(f"{SYSFS}/bus/pci"):
        dev = os.path.dirname(dev)
    if dev == "/":
        raise AssertionError(f"{nic} has no PCI device above it")
    return dev


@dataclasses.dataclass
class Gid:
    index: int
    gid: str
    type: str      # "IB/RoCE v1" or "RoCE v2"
    ndev: str

    @property
    def ipv4(self):
        """The IPv4 address of an IPv4-mapped GID, else None."""
        parts = self.gid.split(":")
        if parts[:6] != ["0000"] * 5 + ["ffff"]:
            return None
        b = bytes.fromhex(parts[6] + parts[7])
        return socket.inet_ntoa(b)


def gids(dev, port=1):
    """Populated GID table entries of an RDMA device port."""
    base = f"{SYSFS}/class/infiniband/{dev}/ports/{port}"
    out = []
    for name in sorted(os.listdir(f"{base}/gids"), key=int):
        gid = read(f"{base}/gids/{name}", "")
        if not gid or set(gid.replace(":", "")) == {"0"}:
            continue
        out.append(Gid(int(name), gid, read(f"{base}/gid_attrs/types/{name}", ""),
                       read(f"{base}/gid_attrs/ndevs/{name}", "")))
    return out


def gid_index(dev, ipv4=None, roce="RoCE v2", port=1):
    """Index of the GID of *dev* for IPv4 address *ipv4* (any IPv4 GID if None) and RoCE type."""
    for g in gids(dev, port):
        if g.type == roce and g.ipv4 is not None and (ipv4 is None or g.ipv4 == ipv4):
            return g.index
    raise AssertionError(f"{dev}: no {roce} GID for {ipv4 or 'an IPv4 address'}: {gids(dev, port)}")


def pci_resources(pci_path):
    """[(start, end, flags)] of a PCI function's `resource` file (one per BAR/ROM/...)."""
    out = []
    for line in read(f"{pci_path}/resource").splitlines():
        s, e, f = (int(x, 16) for x in line.split())
        out.append((s, e, f))
    return out


def bar_size(pci_path, bar):
    s, e, _ = pci_resources(pci_path)[bar]
    return 0 if e == 0 else e - s + 1


# ------------------------------------------------------------------- dma-buf exporters
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction, typ, nr, size):
    return (direction << 30) | (size << 16) | (ord(typ) << 8) | nr


# <linux/udmabuf.h>: struct udmabuf_create { __u32 memfd; __u32 flags; __u64 offset; __u64 size; }
UDMABUF_CREATE = _ioc(_IOC_WRITE, "u", 0x42, 24)
UDMABUF_FLAGS_CLOEXEC = 0x01
# <linux/dma-heap.h>: struct dma_heap_allocation_data { __u64 len; __u32 fd; __u32 fd_flags;
#                                                        __u64 heap_flags; }
DMA_HEAP_IOCTL_ALLOC = _ioc(_IOC_READ | _IOC_WRITE, "H", 0x0, 24)
F_ADD_SEALS, F_SEAL_SHRINK = 1033, 0x0002


def udmabuf(size):
    """A udmabuf dma-buf fd of *size* bytes backed by a sealed memfd; returns (dmabuf_fd, memfd).

    The memfd pages are populated by this process (first touch: they land on the NUMA node the
    calling thread runs on, unless a memory policy says otherwise).
    """
    memfd = os.memfd_create("lab-udmabuf", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    os.ftruncate(memfd, size)
    fcntl.fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)
    with mmap.mmap(memfd, size) as m:  # populate the pages
        for off in range(0, size, mmap.PAGESIZE):
            m[off] = 0
    arg = struct.pack("IIQQ", memfd, UDMABUF_FLAGS_CLOEXEC, 0, size)
    fd = os.open("/dev/udmabuf", os.O_RDWR | os.O_CLOEXEC)
    try:
        buf = bytearray(arg)
        ret = fcntl.ioctl(fd, UDMABUF_CREATE, buf, True)  # returns the new fd
    finally:
        os.close(fd)
    return ret, memfd


def heap_alloc(size, heap="system"):
    """A dma-buf fd of *size* bytes from /dev/dma_heap/<heap>."""
    buf = bytearray(struct.pack("QIIQ", size, 0, os.O_RDWR | os.O_CLOEXEC, 0))
    fd = os.open(f"/dev/dma_heap/{heap}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, DMA_HEAP_IOCTL_ALLOC, buf, True)
    finally:
        os.close(fd)
    return struct.unpack("QIIQ", bytes(buf))[1]


# <linux/vfio.h>: the lab's P2P source is vfio-pci exporting ivshmem's BAR as a dma-buf
# (VFIO_DEVICE_FEATURE_DMA_BUF, upstream since Linux 7.x). guest-init binds ivshmem to vfio-pci
# in no-IOMMU mode and exports the group device as LAB_VFIO_GROUP.
VFIO_SET_IOMMU = _ioc(0, ";", 102, 0)
VFIO_GROUP_SET_CONTAINER = _ioc(0, ";", 104, 0)
VFIO_GROUP_GET_DEVICE_FD = _ioc(0, ";", 106, 0)
VFIO_DEVICE_FEATURE = _ioc(0, ";", 117, 0)
VFIO_NOIOMMU_IOMMU = 8
VFIO_DEVICE_FEATURE_GET = 1 << 16
VFIO_DEVICE_FEATURE_DMA_BUF = 11


def vfio_unavailable():
    """Why this guest has no vfio P2P source (None when it has one)."""
    if os.environ.get("LAB_VFIO_GROUP"):
        return None
    return os.environ.get("LAB_VFIO_UNAVAILABLE") or "guest-init bound no device to vfio-pci"


class VfioDevice:
    """The lab's ivshmem function opened through vfio-pci (no-IOMMU mode).

    ``dmabuf(bar, [(offset, length), ...])`` returns a new dma-buf fd of those ranges of the
    BAR. Closing the device (``close()`` or leaving the ``with`` block) makes vfio revoke every
    dma-buf it exported: importers get invalidate_mappings and later accesses fail.
    """

    def __init__(self, pci, group=None):
        group = group or os.environ.get("LAB_VFIO_GROUP")
        if not group:
            raise FileNotFoundError(f"no vfio group: {vfio_unavailable()}")
        self.pci = pci
        self.container = os.open("/dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
        self.group = self.device = -1
        try:
            self.group = os.open(group, os.O_RDWR | os.O_CLOEXEC)
            fcntl.ioctl(self.group, VFIO_GROUP_SET_CONTAINER,
                        bytearray(struct.pack("i", self.container)), True)
            fcntl.ioctl(self.container, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU)
            self.device = fcntl.ioctl(self.group, VFIO_GROUP_GET_DEVICE_FD,
                                      bytearray(pci.encode() + b"\0"), True)
        except BaseException:
            self.close()
            raise

    def dmabuf(self, bar, ranges, open_flags=os.O_RDWR | os.O_CLOEXEC):
        """A dma-buf of *ranges* [(offset, length)] of BAR *bar*; returns its fd."""
        data = struct.pack("IIII", bar, open_flags, 0, len(ranges))
        data += b"".join(struct.pack("QQ", off, length) for off, length in ranges)
        arg = bytearray(struct.pack("II", 8 + len(data),
                                    VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF) + data)
        return fcntl.ioctl(self.device, VFIO_DEVICE_FEATURE, arg, True)

    def view(self, bar, offset=0):
        """The CPU's view of BAR *bar* from *offset* on, through the device file (vfio's
        region read/write): ``view[a:b]`` reads, ``view[a:b] = data`` writes."""
        return _VfioBarView(self.device, (bar << 40) + offset)

    def close(self):
        for fd in (self.device, self.group, self.container):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.device = self.group = self.container = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _VfioBarView:
    def __init__(self, fd, base):
        self.fd, self.base = fd, base

    def __getitem__(self, s):
        return os.pread(self.fd, s.stop - s.start, self.base + s.start)

    def __setitem__(self, s, data):
        assert len(data) == s.stop - s.start
        assert os.pwrite(self.fd, bytes(data), self.base + s.start) == len(data)


def fdinfo(fd):
    """/proc/self/fdinfo/<fd> as a dict of str -> str."""
    out = {}
    for line in read(f"/proc/self/fdinfo/{fd}").splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


@contextlib.contextmanager
def closing_fds(*fds):
    try:
        yield fds
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)



# <linux/dma-buf.h>: DMA_BUF_SET_NAME = _IOW('b', 1, const char *) (a user pointer)
DMA_BUF_SET_NAME = _ioc(_IOC_WRITE, "b", 1, 8)


def dmabuf_set_name(fd, name):
    """Name a dma-buf (DMA_BUF_SET_NAME, at most 31 bytes): what any holder of the fd may do.
    The argument is a pointer, which fcntl.ioctl() cannot pass: libc's ioctl through ctypes."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p]
    if libc.ioctl(fd, DMA_BUF_SET_NAME, name.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"DMA_BUF_SET_NAME: {os.strerror(err)}")


def record_bad_input(api, given, expected, observed, reason=""):
    """A row of the bad-input matrix (tests/reliability/badinput-matrix reads LAB_OUT's
    badinput.tsv): the call, the input, the errno names expected and observed, the reason."""
    out = os.environ.get("LAB_OUT")
    if not out:
        return
    with open(os.path.join(out, "badinput.tsv"), "a") as f:
        f.write(f"{api} (lab, {os.environ.get('LAB_KERNEL')})\t{given}\t{expected}\t"
                f"{observed}\t{reason.splitlines()[0] if reason else ''}\n")


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
# The build tree the lab tests run: the host's $DMP_BUILD (labrun carries it into the guest),
# else <repo>/build. A missing build is a failure of the run (conftest), never a skip.
BUILD = os.environ.get("DMP_BUILD") or os.path.join(REPO, "build")
BUILD_HINT = "cmake -S . -B build && cmake --build build, or DMP_BUILD=<build dir> on the host"
BUILD_LIBRARY = "libibverbs-ext/libibverbs-ext.so.1"


def build_problem():
    """Why BUILD cannot be the build tree the lab suite runs (a string), or None."""
    lib = os.path.join(BUILD, BUILD_LIBRARY)
    if not os.path.isdir(BUILD):
        return f"no build tree at {BUILD} ({BUILD_HINT})"
    if not os.path.exists(lib):
        return f"the build tree {BUILD} has no {BUILD_LIBRARY} ({BUILD_HINT})"
    return None


def built(*paths):
    """The build tree's file at each path (relative to BUILD), the calling test failed
    (not skipped) when one is missing: a partial build hides no test."""
    import pytest
    full = [os.path.join(BUILD, p) for p in paths]
    for f in full:
        if not os.access(f, os.X_OK):
            pytest.fail(f"{f} not built ({BUILD_HINT})", pytrace=False)
    return full[0] if len(full) == 1 else full


def ibverbs_ext():
    """The Python module of this checkout (python/, on the build tree's library); a module
    that cannot be loaded fails the calling test module (conftest has checked the build)."""
    import sys
    import pytest
    sys.path.insert(0, os.path.join(REPO, "python"))
    try:
        import ibverbs_ext as ix
    except ImportError as e:
        if not in_lab():  # conftest skips every test here outside the lab
            pytest.skip(f"not in the VM lab, and ibverbs_ext cannot be loaded: {e}",
                        allow_module_level=True)
        pytest.fail(f"ibverbs_ext cannot be loaded from {os.path.join(REPO, 'python')} "
                    f"on {BUILD}: {e}", pytrace=False)
    return ix


# ---- which libibverbs the tests run against -------------------------------------------------
# run-suite runs the library's lab tests twice: on the system's rdma-core (Debian 12's v44), and
# on the kernel's rdma-core v65 build (LD_LIBRARY_PATH=<build>/lib, LAB_RDMA_CORE_BUILD=<build>,
# LAB_RDMA_CORE_ID=65.0-<variant>-<hash>).

@dataclasses.dataclass(frozen=True)
class Libibverbs:
    path: str           # the file the dynamic loader mapped (symlinks resolved)
    rdma_core: str      # rdma-core's version, from the file name: libibverbs.so.1.<abi>.<44.0>
    dma_eps: bool       # has _ibv_query_dma_eps@IBVERBS_1.19: rdma-core-patches' libibverbs
    build: str          # LAB_RDMA_CORE_BUILD ("" for the system's rdma-core)

    def __str__(self):
        what = f"rdma-core {self.rdma_core}"
        if self.dma_eps:
            what += " + rdma-core-patches (IBVERBS_1.19: _ibv_query_dma_eps)"
        where = f"build {os.environ.get('LAB_RDMA_CORE_ID', '?')}" if self.build else "system"
        return f"{self.path} ({what}; {where})"


def _rdma_core_of(path):
    name = os.path.basename(path)
    prefix = "libibverbs.so.1."
    parts = name[len(prefix):].split(".") if name.startswith(prefix) else []
    return ".".join(parts[1:]) if len(parts) >= 3 else "unknown"


def libibverbs():
    """The libibverbs.so.1 this process maps (loaded through ctypes like the library's Python
    module does: what the dynamic loader picks under this environment)."""
    import ctypes
    lib = ctypes.CDLL("libibverbs.so.1")
    path = None
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and os.path.basename(fields[5]).startswith("libibverbs.so.1"):
                path = fields[5]
                break
    assert path, "libibverbs.so.1 is loaded but not in /proc/self/maps"
    libc = ctypes.CDLL(None)
    libc.dlvsym.restype = ctypes.c_void_p
    libc.dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    dma_eps = bool(libc.dlvsym(lib._handle, b"_ibv_query_dma_eps", b"IBVERBS_1.19"))
    return Libibverbs(os.path.realpath(path), _rdma_core_of(path), dma_eps,
                      os.environ.get("LAB_RDMA_CORE_BUILD", ""))


def libibverbs_loaded_by(cmd, timeout=DEFAULT_TIMEOUT):
    """The libibverbs.so.1 file a program maps, from the dynamic loader's own report
    (LD_DEBUG=libs: "calling init: PATH"), symlinks resolved."""
    r = run(cmd, env={"LD_DEBUG": "libs"}, timeout=timeout, check=False)
    for line in r.stderr.splitlines():
        head, sep, path = line.partition("calling init: ")
        if sep and os.path.basename(path.strip()).startswith("libibverbs.so.1"):
            return os.path.realpath(path.strip())
    raise AssertionError(f"{_fmt(cmd)} loaded no libibverbs.so.1 (exit {r.returncode}): "
                         f"{_tail(r.stderr)}")
