# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Every bad input of the C API through the Python module: each raises IbvExtError with the
documented errno and the library's one-line reason, and leaves no fd behind. Inputs Python
cannot express through the high-level calls (NULL pointers, unknown comp_mask bits of
structures the module fills itself) go through ibverbs_ext._capi, the raw layer. Inputs that
do not fit a C field are refused by the module itself (TypeError/ValueError) before the call.

The allocation helpers' errors are checked for what this host has: without /dev/udmabuf (the
development host's kernel) the error must say so; the lab suite covers real allocations."""

import ctypes
import errno
import os
import pickle
import socket
import sys
import tempfile
import threading

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
    from ibverbs_ext import _capi
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library first): {e}",
                allow_module_level=True)

LAB_VM = os.path.join(BUILD, "fixtures", "lab-vm")


def fd_count():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leak():
    before = fd_count()
    yield
    assert fd_count() == before, "file descriptors leaked"


@pytest.fixture
def lab_vm():
    if not os.path.isdir(LAB_VM):
        pytest.skip(f"{LAB_VM} missing (the build generates the sysfs fixture trees)")
    with ix.using_sysfs_root(LAB_VM):
        yield LAB_VM


def raises(err, frag, fn, *args, **kw):
    """fn(*args) raises IbvExtError with errno *err* and *frag* in a one-line reason."""
    with pytest.raises(ix.IbvExtError) as ei:
        fn(*args, **kw)
    e = ei.value
    assert e.errno == err, f"{e!s}: errno {e.errno}, expected {err}"
    assert frag in e.reason, f"{frag!r} not in {e.reason!r}"
    assert e.reason and "\n" not in e.reason
    assert e.reason == ix.last_error(), "the reason is the library's last error"
    return e


def closed_fd():
    fd = os.open("/dev/null", os.O_RDONLY)
    os.close(fd)
    return fd


# ----------------------------------------------------------------------------- query
@pytest.fixture
def odd_fds():
    """A regular file, /dev/null, a directory, a pipe and a socket (all closed afterwards)."""
    f = tempfile.TemporaryFile()
    devnull = os.open("/dev/null", os.O_RDONLY)
    d = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    r, w = os.pipe()
    s1, s2 = socket.socketpair()
    yield {"file": f.fileno(), "devnull": devnull, "dir": d, "pipe": r, "socket": s1.fileno()}
    f.close()
    for fd in (devnull, d, r, w):
        os.close(fd)
    s1.close()
    s2.close()


@pytest.mark.parametrize("which,frag", [
    ("file", "a regular file, not a dma-buf"),
    ("devnull", "is a character device (1:3), not a dma-buf"),
    ("dir", "a directory"),
    ("pipe", "a pipe"),
    ("socket", "a socket"),
])
def test_query_not_a_dmabuf(odd_fds, which, frag):
    raises(errno.ENOTTY, frag, ix.query_dmabuf, odd_fds[which])


def test_query_bad_fds():
    raises(errno.EBADF, "fd -1 is not a file descriptor", ix.query_dmabuf, -1)
    raises(errno.EBADF, "is not open", ix.query_dmabuf, closed_fd())
    with open("/dev/null") as f:  # objects with fileno() work as fds
        raises(errno.ENOTTY, "character device", ix.query_dmabuf, f)


def test_query_raw_null_and_comp_mask():
    with tempfile.TemporaryFile() as f:
        assert _capi.ibv_query_dmabuf(f.fileno(), None) == errno.EINVAL
        assert "info is NULL" in ix.last_error()
        info = _capi.ibv_dmabuf_info(comp_mask=1)
        assert _capi.ibv_query_dmabuf(f.fileno(), ctypes.byref(info)) == errno.EOPNOTSUPP
        assert "unknown comp_mask bits 0x1" in ix.last_error()


def test_query_python_level_refusals():
    with pytest.raises(TypeError):
        ix.query_dmabuf("3")
    with pytest.raises(TypeError):
        ix.query_dmabuf(True)
    with pytest.raises(ValueError):
        ix.query_dmabuf(1 << 40)


# ----------------------------------------------------------------------------- registration
@pytest.fixture(scope="module")
def not_a_pd():
    """Validation happens before the PD is touched (as test_badinput.c relies on): a buffer
    that is no PD makes a validation hole crash the test rather than pass."""
    buf = ctypes.create_string_buffer(64)
    return buf, ctypes.addressof(buf)


@pytest.fixture
def devnull():
    fd = os.open("/dev/null", os.O_RDONLY)
    yield fd
    os.close(fd)


GOOD = dict(offset=4096, length=8192, iova=0x10000,
            access=ix.ACCESS_LOCAL_WRITE | ix.ACCESS_REMOTE_WRITE | ix.ACCESS_REMOTE_READ)


def reg(pd, fd, **over):
    kw = dict(GOOD)
    kw.update(over)
    return ix.reg_dmabuf_mr_ex(pd, fd, **kw)


@pytest.mark.parametrize("over,err,frag", [
    (dict(comp_mask=1 << 12), errno.EOPNOTSUPP, "unknown comp_mask bits 0x1000"),
    (dict(hints=ix.PathHints(comp_mask=1 << 9)), errno.EOPNOTSUPP,
     "path hints: unknown comp_mask bits 0x200"),
    (dict(hints=ix.PathHints(policy=17)), errno.EINVAL, "unknown policy 17"),
    (dict(length=0), errno.EINVAL, "length is 0"),
    (dict(offset=(1 << 64) - 4096, iova=(1 << 64) - 4096), errno.EINVAL,
     "offset 0xfffffffffffff000 + length 0x2000 overflows"),
    (dict(iova=(1 << 64) - 4096), errno.EINVAL,
     "iova 0xfffffffffffff000 + length 0x2000 overflows"),
    (dict(iova=0x10010), errno.EINVAL, "differ within a page"),
    (dict(access=GOOD["access"] | ix.ACCESS_ON_DEMAND), errno.EINVAL,
     "IBV_ACCESS_ON_DEMAND is not allowed for dma-buf MRs"),
    (dict(access=GOOD["access"] | ix.ACCESS_MW_BIND), errno.EINVAL, "IBV_ACCESS_MW_BIND"),
    (dict(access=GOOD["access"] | ix.ACCESS_ZERO_BASED), errno.EINVAL,
     "IBV_ACCESS_ZERO_BASED"),
    (dict(access=GOOD["access"] | ix.ACCESS_HUGETLB), errno.EINVAL, "IBV_ACCESS_HUGETLB"),
    (dict(access=ix.ACCESS_REMOTE_WRITE), errno.EINVAL, "requires IBV_ACCESS_LOCAL_WRITE"),
    (dict(access=ix.ACCESS_REMOTE_ATOMIC), errno.EINVAL, "requires IBV_ACCESS_LOCAL_WRITE"),
    (dict(access=GOOD["access"] | 1 << 15), errno.EINVAL, "unknown bits 0x8000"),
    # Optional-range bits other than relaxed ordering are dropped: the fd check is next.
    (dict(access=GOOD["access"] | ix.ACCESS_RELAXED_ORDERING | 1 << 25), errno.EINVAL,
     "character device"),
    # The default comp_mask (choice + source) and hints that are fine: the fd check is next.
    (dict(), errno.EINVAL, "character device"),
    (dict(hints=ix.PathHints.numa(0)), errno.EINVAL, "character device"),
])
def test_reg_bad_attr(not_a_pd, devnull, over, err, frag):
    raises(err, frag, reg, not_a_pd[1], devnull, **over)


def test_reg_bad_fds(not_a_pd, odd_fds):
    pd = not_a_pd[1]
    raises(errno.EBADF, "fd -1 is not a file descriptor", reg, pd, -1)
    raises(errno.EBADF, "is not open", reg, pd, closed_fd())
    raises(errno.EINVAL, "a regular file, not a dma-buf", reg, pd, odd_fds["file"])
    raises(errno.EINVAL, "character device", reg, pd, odd_fds["devnull"])
    raises(errno.EINVAL, "a pipe", reg, pd, odd_fds["pipe"])


def test_reg_raw_null_pointers(not_a_pd, devnull):
    attr = _capi.ibv_reg_dmabuf_mr_ex_attr(fd=devnull, offset=4096, length=8192, iova=0x10000,
                                           access=ix.ACCESS_LOCAL_WRITE)
    assert not _capi.ibv_reg_dmabuf_mr_ex(None, ctypes.byref(attr))
    assert ctypes.get_errno() == errno.EINVAL and "pd or attr is NULL" in ix.last_error()
    assert not _capi.ibv_reg_dmabuf_mr_ex(not_a_pd[1], None)
    assert ctypes.get_errno() == errno.EINVAL
    for bit, frag in ((_capi.IBV_REG_DMABUF_MR_EX_CHOICE,
                       "IBV_REG_DMABUF_MR_EX_CHOICE set but choice is NULL"),
                      (_capi.IBV_REG_DMABUF_MR_EX_SOURCE,
                       "IBV_REG_DMABUF_MR_EX_SOURCE set but source is NULL")):
        attr.comp_mask = bit
        assert not _capi.ibv_reg_dmabuf_mr_ex(not_a_pd[1], ctypes.byref(attr))
        assert ctypes.get_errno() == errno.EINVAL and frag in ix.last_error()


def test_reg_python_level_refusals(devnull):
    class ClosedPyverbsPD:  # a closed pyverbs PD reports address 0
        pd = 0

    class NotAPD:
        pass

    with pytest.raises(ValueError, match="the PD is closed"):
        reg(ClosedPyverbsPD(), devnull)
    with pytest.raises(ValueError, match="the PD is closed"):
        reg(0, devnull)
    with pytest.raises(TypeError):
        reg(NotAPD(), devnull)
    with pytest.raises(TypeError):
        reg("pd", devnull)
    with pytest.raises(ValueError):
        reg(1 << 70, devnull)
    with pytest.raises(ValueError, match="offset"):
        reg(0x1000, devnull, offset=-1)
    with pytest.raises(ValueError, match="length"):
        reg(0x1000, devnull, length=1 << 64)
    with pytest.raises(TypeError, match="length is required"):
        ix.reg_dmabuf_mr_ex(0x1000, devnull)
    with pytest.raises(TypeError, match="hints"):
        reg(0x1000, devnull, hints="numa")
    with pytest.raises(ValueError, match="hints.numa_node"):
        reg(0x1000, devnull, hints=ix.PathHints.numa(1 << 31))


# ----------------------------------------------------------------------------- describe
@pytest.mark.parametrize("spec,err,frag", [
    ("gpu", errno.EINVAL, "expected system[:node=N], p2p:ADDR, private or unknown"),
    ("system:node=", errno.EINVAL, "expected system:node=N"),
    ("system:node=x", errno.EINVAL, "expected system:node=N"),
    ("system:node=-1", errno.EINVAL, "expected system:node=N"),
    ("system:nod=1", errno.EINVAL, "expected system:node=N"),
    ("system:node=9", errno.ENODEV, "NUMA node 9 is not online"),
    ("p2p:", errno.EINVAL, "expected p2p:DDDD:BB:DD.F"),
    ("p2p:0000:zz:00.0", errno.EINVAL, "expected p2p:DDDD:BB:DD.F"),
    ("p2p:0000:ee:1f.7", errno.ENODEV, "no PCI function 0000:ee:1f.7"),
])
def test_describe_bad(lab_vm, spec, err, frag):
    raises(err, frag, ix.describe_dmabuf_source, spec)
    # The same spec given as a source to the choice calls fails the same way.
    raises(err, frag, ix.select_dma_endpoint, "rxe0", spec)


def test_describe_raw_null_and_comp_mask(lab_vm):
    info = _capi.ibv_dmabuf_info()
    assert _capi.ibv_describe_dmabuf_source(None, ctypes.byref(info)) == errno.EINVAL
    assert "spec or info is NULL" in ix.last_error()
    assert _capi.ibv_describe_dmabuf_source(b"system", None) == errno.EINVAL
    info.comp_mask = 2
    assert _capi.ibv_describe_dmabuf_source(b"system", ctypes.byref(info)) == errno.EOPNOTSUPP
    assert "unknown comp_mask bits 0x2" in ix.last_error()
    with pytest.raises(TypeError):
        ix.describe_dmabuf_source(None)


def test_describe_good_forms(lab_vm):
    assert ix.describe_dmabuf_source("system:node=1").numa_node == 1
    assert ix.describe_dmabuf_source("system").numa_node is None
    assert ix.describe_dmabuf_source("private").source == ix.Source.PRIVATE
    assert ix.describe_dmabuf_source("unknown").source == ix.Source.UNKNOWN


# ----------------------------------------------------------------------------- endpoints
def test_endpoints_bad(lab_vm):
    raises(errno.ENODEV, "no RDMA device nosuchdev", ix.query_dma_endpoints, "nosuchdev")
    raises(errno.ENODEV, "no RDMA device nosuchdev", ix.select_dma_endpoint, "nosuchdev")
    raises(errno.ENODEV, "no RDMA device nosuchdev", ix.rank_dma_endpoints, "nosuchdev")
    raises(errno.EINVAL, "names given but num_names is 0", ix.rank_dmabuf_devices, names=[])
    raises(errno.ENODEV, "no RDMA device nosuchdev", ix.rank_dmabuf_devices,
           names=["rxe0", "nosuchdev"])
    raises(errno.ENODEV, "NUMA node 5 is not online", ix.select_dma_endpoint, "rxe0",
           "system:node=0", ix.PathHints.numa(5))
    raises(errno.ENODEV, "NUMA node 7 is not online", ix.rank_dmabuf_devices, "unknown",
           ix.PathHints(numa_node=7))
    raises(errno.ENOENT, "endpoint 3 does not exist (rxe0 has 1)", ix.select_dma_endpoint,
           "rxe0", "system:node=0", ix.PathHints.use_endpoint(3))
    raises(errno.EINVAL, "unknown policy 9", ix.rank_dma_endpoints, "rxe0", None,
           ix.PathHints(policy=9))
    raises(errno.EOPNOTSUPP, "unknown comp_mask bits 0x4", ix.select_dma_endpoint, "rxe0",
           None, ix.PathHints(comp_mask=4))
    e = raises(errno.EXDEV, "no endpoint of rxe0 can reach the memory",
               ix.select_dma_endpoint, "rxe0", "private")
    assert "private" in e.reason
    with pytest.raises(TypeError):
        ix.rank_dmabuf_devices(names="rxe0")
    with pytest.raises(TypeError):
        ix.query_dma_endpoints(0)


def test_endpoints_raw(lab_vm):
    eps = (_capi.ibv_dma_endpoint * 4)()
    n = ctypes.c_size_t(4)
    assert _capi.ibv_query_dma_endpoints(None, eps, ctypes.byref(n)) == errno.EINVAL
    assert _capi.ibv_query_dma_endpoints(b"rxe0", eps, None) == errno.EINVAL
    assert _capi.ibv_query_dma_endpoints(b"rxe0", None, ctypes.byref(n)) == errno.EINVAL
    n.value = 0
    assert _capi.ibv_query_dma_endpoints(b"rxe0", None, ctypes.byref(n)) == errno.ENOSPC
    assert n.value == 1 and "room for 0" in ix.last_error()
    c = (_capi.ibv_dma_choice * 4)()
    assert _capi.ibv_select_dma_endpoint(b"rxe0", None, None, None) == errno.EINVAL
    assert _capi.ibv_rank_dma_endpoints(b"rxe0", None, None, c, None) == errno.EINVAL
    assert _capi.ibv_rank_dmabuf_devices(None, 0, None, None, c, None) == errno.EINVAL
    n.value = 1
    assert _capi.ibv_rank_dmabuf_devices(None, 0, None, None, c, ctypes.byref(n)) == \
        errno.ENOSPC
    assert n.value == 2 and "2 devices, room for 1" in ix.last_error()


def test_no_devices_in_tree(tmp_path):
    (tmp_path / "devices" / "system" / "node").mkdir(parents=True)
    with ix.using_sysfs_root(tmp_path):
        raises(errno.ENODEV, "no RDMA devices in", ix.rank_dmabuf_devices)
        raises(errno.ENODEV, "no RDMA device rxe0", ix.query_dma_endpoints, "rxe0")


# ----------------------------------------------------------------------------- allocation
@pytest.mark.parametrize("kw,err,frag", [
    (dict(flags=4), errno.EINVAL, "unknown flags 0x4"),
    (dict(size=0), errno.EINVAL, "not a non-zero multiple of the page size"),
    (dict(size=4097), errno.EINVAL, "size 4097 is not a non-zero multiple of the page size"),
    (dict(numa_node=-2), errno.EINVAL, "NUMA node -2 out of range"),
    (dict(numa_node=100000), errno.EINVAL, "NUMA node 100000 out of range"),
    (dict(kind=9), errno.EINVAL, "unknown type 9"),
    (dict(kind="heap", interleave=True), errno.EINVAL, "interleaving is only for udmabuf"),
    (dict(kind="heap", hugetlb=True), errno.EINVAL,
     "huge pages (IBV_DMABUF_ALLOC_HUGETLB) are only for udmabuf"),
])
def test_alloc_bad(kw, err, frag):
    args = dict(size=1 << 20)
    args.update(kw)
    raises(err, frag, ix.alloc_dmabuf, **args)


def huge_page_size():
    """st_blksize of an MFD_HUGETLB memfd (its huge page size), or None without hugetlbfs."""
    try:
        fd = os.memfd_create("probe", os.MFD_HUGETLB | os.MFD_CLOEXEC)
    except OSError:
        return None
    try:
        return os.fstat(fd).st_blksize
    finally:
        os.close(fd)


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def test_alloc_hugetlb_size_not_whole_huge_pages():
    """Refused before /dev/udmabuf is opened: runs on kernels without it too."""
    huge = huge_page_size()
    if not huge:
        pytest.skip("this kernel makes no MFD_HUGETLB memfd (no CONFIG_HUGETLBFS)")
    before = fd_count()
    for size in (huge // 2, huge + 4096, 3 * huge // 2):
        raises(errno.EINVAL, f"size {size} is not a multiple of the huge page size {huge}",
               ix.alloc_dmabuf, size, hugetlb=True)
        raises(errno.EINVAL, f"size {size} is not a multiple of the huge page size {huge}",
               ix.alloc_dmabuf, size, flags=ix.AllocFlags.HUGETLB | ix.AllocFlags.INTERLEAVE)
    assert fd_count() == before, "the memfd leaked"


def _meminfo(name):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return None


def test_alloc_hugetlb_from_an_empty_pool():
    """No free huge page (and none to overcommit): ENOMEM naming vm.nr_hugepages, before
    /dev/udmabuf is opened; the memfd closed again."""
    huge = huge_page_size()
    if not huge:
        pytest.skip("this kernel makes no MFD_HUGETLB memfd (no CONFIG_HUGETLBFS)")
    with open("/proc/sys/vm/nr_overcommit_hugepages") as f:
        overcommit = int(f.read())
    if _meminfo("HugePages_Free") != 0 or overcommit != 0:
        pytest.skip("this machine has free or overcommit huge pages (the lab suite empties "
                    "the pool)")
    before = fd_count()
    e = raises(errno.ENOMEM, "too few free in the pool (vm.nr_hugepages)",
               ix.alloc_dmabuf, huge, hugetlb=True)
    assert e.reason.startswith(f"fallocate {huge} bytes of huge pages: "), e.reason
    raises(errno.ENOMEM, f"fallocate {2 * huge} bytes of huge pages on node 0: too few free",
           ix.alloc_dmabuf, 2 * huge, numa_node=0, hugetlb=True)
    raises(errno.ENOMEM, "huge pages on all nodes, interleaved: too few free",
           ix.alloc_dmabuf, huge, interleave=True, hugetlb=True)
    assert fd_count() == before, "the memfd leaked"


def test_alloc_raw_null_and_comp_mask():
    assert _capi.ibv_alloc_dmabuf(None) == -1 and ctypes.get_errno() == errno.EINVAL
    assert "attr is NULL" in ix.last_error()
    a = _capi.ibv_dmabuf_alloc_attr(comp_mask=4, type=1, size=1 << 20, numa_node=-1)
    assert _capi.ibv_alloc_dmabuf(ctypes.byref(a)) == -1
    assert ctypes.get_errno() == errno.EOPNOTSUPP and "comp_mask bits 0x4" in ix.last_error()


def test_alloc_python_level_refusals():
    with pytest.raises(ValueError, match="kind 'gpu'"):
        ix.alloc_dmabuf(1 << 20, kind="gpu")
    with pytest.raises(ValueError, match="size"):
        ix.alloc_dmabuf(-4096)
    with pytest.raises(TypeError):
        ix.alloc_dmabuf(4096.0)


@pytest.mark.skipif(os.path.exists("/dev/udmabuf"),
                    reason="this kernel has /dev/udmabuf: the lab suite covers allocation")
@pytest.mark.parametrize("kw", [dict(), dict(numa_node=0), dict(interleave=True)])
def test_alloc_without_udmabuf_says_so(kw, lab_vm):
    e = raises(errno.ENOENT, "/dev/udmabuf", ix.alloc_dmabuf, 1 << 20, **kw)
    assert "kernel without CONFIG_UDMABUF" in e.reason
    assert isinstance(e, OSError)


@pytest.mark.skipif(os.path.exists("/dev/dma_heap/system"),
                    reason="this kernel has the system dma-heap: the lab suite covers it")
def test_alloc_without_system_heap_says_so():
    raises(errno.ENOENT, "/dev/dma_heap/system", ix.alloc_dmabuf, 1 << 20, kind="heap")


# ----------------------------------------------------------------------------- the error
def test_error_object():
    e = raises(errno.EBADF, "fd -1 is not a file descriptor", ix.query_dmabuf, -1)
    assert isinstance(e, OSError)
    assert e.strerror == e.reason and e.func == "ibv_query_dmabuf"
    assert e.errno_name == "EBADF"
    assert str(e) == ("ibv_query_dmabuf: fd -1 is not a file descriptor "
                      "[EBADF: Bad file descriptor]")
    assert e.reason == ix.last_error()
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.errno, e2.reason, e2.func) == (e.errno, e.reason, e.func)
    # Without a reason from the library, strerror stands in.
    assert ix.IbvExtError(errno.EIO).reason == os.strerror(errno.EIO)


def test_reasons_are_per_thread():
    """ibv_ext_last_error() is per thread: concurrent failures keep their own reasons."""
    results = {}
    barrier = threading.Barrier(4)

    def worker(i):
        barrier.wait()
        for _ in range(200):
            try:
                ix.query_dmabuf(-1 - i)
            except ix.IbvExtError as e:
                if e.reason != f"fd {-1 - i} is not a file descriptor":
                    results[i] = e.reason
                    return
        results[i] = "ok"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: "ok" for i in range(4)}
