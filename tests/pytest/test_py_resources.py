# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibverbs_ext on the host: resource handling (Dmabuf ownership, close(), context managers,
ResourceWarning for objects collected open), behaviour without RDMA devices, the pyverbs
objects the module relies on (checked by introspection: the host has no device to open), and
the CMake install of the module. Real registrations and traffic are in the lab suite
(tests/lab/guest/test_py_*.py)."""

import gc
import glob
import os
import subprocess
import sys
import warnings

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library first): {e}",
                allow_module_level=True)


def fd_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def memfd(size=8192):
    fd = os.memfd_create("py-test")
    os.ftruncate(fd, size)
    return fd


def test_dmabuf_owns_and_closes_its_fd():
    fd = memfd()
    with ix.Dmabuf(fd, 8192) as buf:
        assert buf.fileno() == fd and buf.size == 8192 and not buf.closed
        buf.map[0:4] = b"abcd"  # the mapping is shared with the fd
        assert os.pread(fd, 4, 0) == b"abcd"
    assert buf.closed and not fd_open(fd)
    buf.close()  # idempotent
    with pytest.raises(ValueError, match="dma-buf is closed"):
        buf.fileno()
    with pytest.raises(ValueError, match="dma-buf is closed"):
        _ = buf.map


def test_dmabuf_not_owned_and_detach():
    fd = memfd()
    ix.Dmabuf(fd, 8192, own=False).close()
    assert fd_open(fd)
    buf = ix.Dmabuf(fd, 8192)
    _ = buf.map
    assert buf.detach() == fd and buf.closed and fd_open(fd)
    os.close(fd)


def test_dmabuf_close_refuses_while_views_are_held():
    fd = memfd()
    buf = ix.Dmabuf(fd, 8192)
    view = memoryview(buf.map)
    with pytest.raises(BufferError):
        buf.close()
    view.release()
    buf.close()
    assert not fd_open(fd)


def test_dmabuf_range_checks():
    with ix.Dmabuf(memfd(), 8192) as buf:
        for off, n in ((-1, 1), (0, 8193), (8192, 1), (4096, -1)):
            with pytest.raises(ValueError, match="outside"):
                buf.read(off, n)
        with pytest.raises(ValueError, match="outside"):
            buf.write(b"x" * 10, 8190)
        with pytest.raises(ValueError, match="empty pattern"):
            buf.fill(b"")


def test_dmabuf_sync_on_a_non_dmabuf_says_why():
    """cpu_access() brackets with DMA_BUF_IOCTL_SYNC, which only dma-bufs have."""
    with ix.Dmabuf(memfd(), 8192) as buf:
        with pytest.raises(ix.IbvExtError) as ei:
            buf.read(0, 16)
        assert ei.value.errno == 25 and "DMA_BUF_IOCTL_SYNC" in ei.value.reason


def test_wrapping_a_non_dmabuf_without_size_closes_it():
    fd = memfd()
    with pytest.raises(ix.IbvExtError) as ei:
        ix.Dmabuf(fd)
    assert ei.value.errno == 25 and "not a dma-buf" in ei.value.reason
    assert not fd_open(fd)


def test_collected_open_dmabuf_warns_and_closes():
    fd = memfd()
    buf = ix.Dmabuf(fd, 8192)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        del buf
        gc.collect()
    assert any(issubclass(x.category, ResourceWarning) and "unclosed" in str(x.message)
               for x in w), w
    assert not fd_open(fd)


def test_no_rdma_devices_on_this_host():
    if os.path.isdir("/sys/class/infiniband") and os.listdir("/sys/class/infiniband"):
        pytest.skip("this host has RDMA devices: the lab suite's tests apply")
    assert ix.device_names() == []
    with pytest.raises(ix.IbvExtError) as ei:
        ix.Context("rxe0")
    assert ei.value.errno in (38, 19)  # ENOSYS (no uverbs at all), ENODEV
    assert "rxe0" in ei.value.reason


def test_library_path_is_the_build_tree_from_the_source_tree():
    if os.environ.get("IBV_EXT_LIBRARY"):
        assert ix.library_path == os.environ["IBV_EXT_LIBRARY"]
    else:
        assert ix.library_path == os.path.join(BUILD, "libibverbs-ext", "libibverbs-ext.so.1")
    with open(os.path.join(REPO, "VERSION")) as f:
        assert ix.__version__ == f.read().strip()


def test_missing_library_is_an_import_error_that_says_what_to_do(tmp_path):
    code = "import ibverbs_ext"
    env = dict(os.environ, IBV_EXT_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=os.path.join(REPO, "python"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "ImportError: ibverbs_ext: cannot load libibverbs-ext" in r.stderr
    assert "set IBV_EXT_LIBRARY=" in r.stderr


# ----------------------------------------------------------------------------- pyverbs
@pytest.fixture(scope="module")
def pyverbs():
    try:
        import pyverbs.device
        import pyverbs.mr
        import pyverbs.pd
        import pyverbs.wr
    except ImportError as e:
        pytest.skip(f"pyverbs is not installed (python3-pyverbs): {e}")
    return pyverbs


def test_pyverbs_objects_expose_what_the_module_uses(pyverbs):
    """ibverbs_ext takes a pyverbs PD through its `pd` property (the struct ibv_pd * as an
    int; checked on a real device in the lab) and a Context through `name`; the MR's keys go
    into pyverbs SGEs and work requests. Properties, not Cython cdef fields, so Python sees
    them without .pxd files (Debian ships none)."""
    from pyverbs.device import Context
    from pyverbs.pd import PD
    from pyverbs.wr import SGE, SendWR
    for cls, attrs in ((PD, ("pd", "handle")), (Context, ("context", "cmd_fd", "name")),
                       (SGE, ("addr", "length", "lkey")), (SendWR, ("set_wr_rdma",))):
        for a in attrs:
            assert hasattr(cls, a), f"{cls.__name__}.{a}"
    assert type(PD.pd).__name__ == "getset_descriptor"
    assert not glob.glob(os.path.join(os.path.dirname(pyverbs.__file__), "*.pxd"))


def test_one_libibverbs_in_the_process(pyverbs):
    """pyverbs and ibverbs_ext share the one libibverbs.so.1 (so an MR of one can be
    released, and a PD of one can be used, by the other)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libibverbs.so.1" in line}
    real = {os.path.realpath(p) for p in paths}
    assert len(real) == 1, real


def test_pyverbs_sge_takes_the_mr_fields(pyverbs):
    """SGE(addr=iova, length, lkey) and set_wr_rdma(rkey, addr) take the MR's ints as they
    are (u64 iova, u32 keys)."""
    from pyverbs.wr import SGE, SendWR
    sge = SGE(0xffff_ffff_f000_1000, 4096, 0xdead_beef)
    assert (sge.addr, sge.length, sge.lkey) == (0xffff_ffff_f000_1000, 4096, 0xdead_beef)
    wr = SendWR(num_sge=1, sg=[sge])
    wr.set_wr_rdma(0xcafe_f00d, 0x1000_0000_0000)  # u32 rkey, u64 remote address


# ----------------------------------------------------------------------------- install
def test_cmake_install_puts_a_working_module(tmp_path):
    """The install rules of python/ (run alone: python's cmake_install.cmake), and the
    installed module finding the library through the loader by soname."""
    script = os.path.join(BUILD, "python", "cmake_install.cmake")
    if not os.path.isfile(script):
        pytest.skip(f"no configured build tree with python/ at {BUILD}")
    dest = tmp_path / "root"
    r = subprocess.run(["cmake", f"-DCMAKE_INSTALL_PREFIX={dest}", "-P", script],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    pkgs = glob.glob(str(dest / "lib" / "python3*" / "*-packages" / "ibverbs_ext"))
    assert len(pkgs) == 1, r.stdout
    # every module of the source package (a new one missing from the install list fails)
    src = os.path.join(REPO, "python", "ibverbs_ext")
    want = sorted([f for f in os.listdir(src) if f.endswith(".py")] + ["_version.py"])
    assert "_mr.py" in want and "_vfio.py" in want, want
    assert sorted(os.listdir(pkgs[0])) == want
    env = dict(os.environ, PYTHONPATH=os.path.dirname(pkgs[0]),
               LD_LIBRARY_PATH=os.path.join(BUILD, "libibverbs-ext"))
    env.pop("IBV_EXT_LIBRARY", None)
    r = subprocess.run([sys.executable, "-c",
                        "import ibverbs_ext as ix; print(ix.__version__, ix.library_path, "
                        "ix.__file__)"], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    version, lib, path = r.stdout.split()
    with open(os.path.join(REPO, "VERSION")) as f:
        assert version == f.read().strip()
    assert lib == "libibverbs-ext.so.1"  # installed: the loader finds it by soname
    assert path.startswith(pkgs[0])
