# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""pyverbs users at home in ibverbs_ext, on the host (no RDMA device here).

* Errors: IbvExtError is a pyverbs PyverbsRDMAError when pyverbs is importable (and an OSError
  always), with pyverbs' ``error_code``; without pyverbs it is an OSError with ``error_code``.
* DmaBufMRex takes pyverbs' DmaBufMR arguments in pyverbs' order (read from the installed
  pyverbs' own docstring) and checks them before any call.
* The PD pointer: how the installed pyverbs' ``PD.pd`` and ``Context.context`` behave is found
  on empty objects of pyverbs' own classes, never on a real PD: rdma-core 44 (Debian 12)
  casts the pointer to a Python object (unusable: the checked read of the object's memory is
  the last resort), rdma-core 59 and 61 return it as an int (the supported route). Both are
  run here: the installed pyverbs, and rdma-core 65's build when the lab cache has one.

Real PDs, registrations and a pyverbs PD closing our MRs first: tests/lab/guest/
test_py_pyverbs.py.
"""
import errno
import glob
import inspect
import os
import pickle
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
    from ibverbs_ext import _pyverbs
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library first): {e}",
                allow_module_level=True)


@pytest.fixture(scope="module")
def pv():
    try:
        import pyverbs.device
        import pyverbs.mr
        import pyverbs.pd
        import pyverbs.pyverbs_error
    except ImportError as e:
        pytest.skip(f"pyverbs is not installed (python3-pyverbs): {e}")
    return pyverbs


def newer_pyverbs():
    """The environment of an rdma-core 59+ pyverbs build (the rdma-core 65 build cached in
    ~/.cache/dmabuf-mp for the lab), or None."""
    cache = os.environ.get("DMABUF_MP_CACHE", os.path.expanduser("~/.cache/dmabuf-mp"))
    for env in sorted(glob.glob(os.path.join(cache, "rdma-core-*-unpatched-*/env"))):
        vals = dict(line.strip().split("=", 1) for line in open(env) if "=" in line)
        py = vals.get("RDMA_CORE_UNPATCHED_PYTHONPATH")
        lib = vals.get("RDMA_CORE_UNPATCHED_LD_LIBRARY_PATH")
        if py and lib and glob.glob(os.path.join(py, "pyverbs", "pd.cpython-*.so")):
            return {"PYTHONPATH": f"{py}:{os.path.join(REPO, 'python')}",
                    "LD_LIBRARY_PATH": lib, "DMP_BUILD": BUILD}
    return None


def run_py(code, env=None):
    full = dict(os.environ, DMP_BUILD=BUILD, PYTHONPATH=os.path.join(REPO, "python"))
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=full)


# ----------------------------------------------------------------------------- errors
def test_error_is_a_pyverbs_rdma_error(pv):
    from pyverbs.pyverbs_error import PyverbsError, PyverbsRDMAError
    assert issubclass(ix.IbvExtError, PyverbsRDMAError)
    assert issubclass(ix.IbvExtError, PyverbsError) and issubclass(ix.IbvExtError, OSError)
    with pytest.raises(PyverbsRDMAError) as ei:
        ix.query_dmabuf(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
    e = ei.value
    assert e.error_code == e.errno and e.error_code in (errno.EINVAL, errno.ENOTTY,
                                                        errno.EBADF), e
    assert e.reason and str(e).startswith("ibv_query_dmabuf: "), str(e)


def test_error_code_like_pyverbs_tests_use_it(pv):
    """rdma-core's own tests skip on `ex.error_code == errno.EOPNOTSUPP`: the same works."""
    from pyverbs.pyverbs_error import PyverbsRDMAError
    try:
        raise ix.IbvExtError(errno.EOPNOTSUPP, "no dma-buf MR support", "ibv_reg_dmabuf_mr_ex")
    except PyverbsRDMAError as ex:
        assert ex.error_code == errno.EOPNOTSUPP
        assert "no dma-buf MR support" in str(ex)


def test_error_pickles_and_keeps_its_fields(pv):
    e = pickle.loads(pickle.dumps(ix.IbvExtError(errno.EBUSY, "still in use", "f")))
    assert type(e) is ix.IbvExtError and (e.errno, e.error_code, e.reason, e.func) == \
        (errno.EBUSY, errno.EBUSY, "still in use", "f")


def test_error_without_pyverbs():
    """Where pyverbs cannot be imported the error is an OSError with error_code, nothing
    else changes."""
    r = run_py("import sys; sys.modules['pyverbs'] = None\n"
               "import errno, ibverbs_ext as ix\n"
               "print([c.__name__ for c in ix.IbvExtError.__mro__])\n"
               "e = ix.IbvExtError(errno.EINVAL, 'x'); print(e.error_code)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["['IbvExtError', 'OSError', 'Exception', "
                                        "'BaseException', 'object']", str(errno.EINVAL)]


# ----------------------------------------------------------------------------- DmaBufMRex
def test_dmabufmrex_takes_pyverbs_argument_order(pv):
    """The installed pyverbs documents DmaBufMR(pd, length, access, dmabuf, offset, ...):
    DmaBufMRex's positional parameters are the same, in the same order."""
    doc = pv.mr.DmaBufMR.__init__.__doc__
    theirs = re.findall(r":param (\w+):", doc)
    assert theirs[:5] == ["pd", "length", "access", "dmabuf", "offset"], doc
    ours = [p.name for p in inspect.signature(ix.DmaBufMRex).parameters.values()
            if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert ours == theirs[:5]
    assert issubclass(ix.DmaBufMRex, ix.MR)
    for name in ("lkey", "rkey", "length", "handle", "offset", "dmabuf", "close", "read",
                 "write", "__enter__", "__exit__"):
        assert hasattr(pv.mr.DmaBufMR, name), name  # what pyverbs users call ...
        assert hasattr(ix.DmaBufMRex, name) or name in ("lkey", "rkey", "length", "handle",
                                                        "offset", "dmabuf"), name


@pytest.mark.parametrize("dmabuf,exc,frag", [
    ("a string", TypeError, "dmabuf must be a Dmabuf, a pyverbs DmaBuf, an fd"),
    (1 << 40, ValueError, "fd"),
    (True, TypeError, "dmabuf must be"),
    (3.5, TypeError, "dmabuf must be"),
])
def test_dmabufmrex_refuses_before_any_call(dmabuf, exc, frag):
    with pytest.raises(exc, match=frag):
        ix.DmaBufMRex(0, 4096, ix.ACCESS_LOCAL_WRITE, dmabuf)


def test_dmabufmrex_closed_pd_refused_and_nothing_left():
    """A NULL PD is refused before the library is called; a memfd given stays open (not
    ours), nothing else was opened."""
    fd = os.memfd_create("dmabufmrex")
    os.ftruncate(fd, 8192)
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ValueError, match="the PD is closed"):
        ix.DmaBufMRex(0, 4096, ix.ACCESS_LOCAL_WRITE, fd, 4096)
    assert set(os.listdir("/proc/self/fd")) == before
    os.close(fd)


def test_dmabufmrex_without_a_buffer_makes_one_or_says_why():
    """dmabuf=None: a udmabuf is made for the MR (pyverbs makes a GPU buffer there); where the
    host has no udmabuf the library's reason comes out, and no fd is left."""
    if os.path.exists("/dev/udmabuf"):
        pytest.skip("this host has /dev/udmabuf (the lab tests the made buffer)")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ix.IbvExtError) as ei:
        ix.DmaBufMRex(0, 4096, ix.ACCESS_LOCAL_WRITE)
    assert ei.value.func == "ibv_alloc_dmabuf" and "udmabuf" in ei.value.reason, ei.value
    assert set(os.listdir("/proc/self/fd")) == before


# ----------------------------------------------------------------------------- PD pointer
def test_installed_pyverbs_pd_property_route(pv):
    """Debian 12's pyverbs (rdma-core 44): PD.pd and Context.context cast the pointer to an
    object: the route is the checked read of the object's memory. A pyverbs whose property
    returns the int would be read through it."""
    pd = pv.pd.PD.__new__(pv.pd.PD)
    ctx = pv.device.Context.__new__(pv.device.Context)
    route = _pyverbs.pd_route(pd)
    ctx_route = _pyverbs._route(ctx, "Context", "pyverbs.device", "context")
    assert route in (_pyverbs.ROUTE_LAYOUT, _pyverbs.ROUTE_PROPERTY)
    if os.path.exists("/usr/share/doc/python3-pyverbs") and \
            "44." in subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-pyverbs"],
                                    capture_output=True, text=True).stdout:
        assert (route, ctx_route) == (_pyverbs.ROUTE_LAYOUT, _pyverbs.ROUTE_LAYOUT)
    # the probe left the empty PD as it was: NULL, so a closed PD, refused as such
    with pytest.raises(ValueError, match="the PD is closed"):
        ix.pd_address(pd)


def test_route_is_found_once_per_class(pv):
    pd = pv.pd.PD.__new__(pv.pd.PD)
    _pyverbs._routes.clear()
    first = _pyverbs.pd_route(pd)
    assert (pv.pd.PD, "pd") in _pyverbs._routes
    assert _pyverbs.pd_route(pv.pd.PD.__new__(pv.pd.PD)) == first


def test_not_a_pd_is_refused(pv):
    with pytest.raises(TypeError, match="a pyverbs Context is not a PD"):
        ix.pd_address(pv.device.Context.__new__(pv.device.Context))


def test_newer_pyverbs_pd_property_is_the_route():
    """rdma-core 65's pyverbs (the lab's build cache): PD.pd returns the pointer as an int,
    the supported route; an empty PD reads 0 there and is refused as closed."""
    env = newer_pyverbs()
    if env is None:
        pytest.skip("no rdma-core 59+ pyverbs build here (the lab's rdma-core cache, "
                    "~/.cache/dmabuf-mp/rdma-core-*-unpatched-*)")
    r = run_py("import ibverbs_ext as ix, pyverbs, pyverbs.pd as p, pyverbs.device as d\n"
               "from ibverbs_ext import _pyverbs as v\n"
               "from pyverbs.pyverbs_error import PyverbsRDMAError\n"
               "pd = p.PD.__new__(p.PD); ctx = d.Context.__new__(d.Context)\n"
               "print(pyverbs.__version__, v.pd_route(pd),\n"
               "      v._route(ctx, 'Context', 'pyverbs.device', 'context'))\n"
               "print(issubclass(ix.IbvExtError, PyverbsRDMAError))\n"
               "try:\n    ix.pd_address(pd)\nexcept ValueError as e:\n    print(e)\n", env)
    assert r.returncode == 0, r.stderr
    version, route, ctx_route = r.stdout.split("\n")[0].split()
    assert int(version.split(".")[0]) >= 61
    assert (route, ctx_route) == ("property", "property"), r.stdout
    assert r.stdout.split("\n")[1:3] == ["True", "the PD is closed (its address is NULL)"]
