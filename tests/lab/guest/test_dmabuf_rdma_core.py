# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The library with a libibverbs it was not tested with (runs INSIDE the lab, as root; both
kernels).

libibverbs-ext makes its own struct verbs_mr (libibverbs' private layout) only for rxe/siw
with an rdma-core whose providers have no dma-buf op, and only for the rdma-core versions the
lab runs it against (44..65, libibverbs-ext/ibverbs_rt.c). Here Debian's libibverbs, copied
under the file name of an rdma-core 99.0 (the same library: only the version the library reads
from the name differs), must make it refuse a registration on rxe with EOPNOTSUPP and that
reason, without entering the kernel, while everything that needs no MR still works; the same
child with Debian's library as installed registers (patched kernel) or gets the kernel's
EOPNOTSUPP (stock), proving that the copy is what makes the difference.
"""

import json
import os
import shutil
import subprocess

import labguest

REPO = labguest.REPO

# Runs in a child with the LD_LIBRARY_PATH under test; prints one JSON line.
CHILD = r"""
import errno, json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "python"))
import ibverbs_ext as ix

out = {"maps": sorted({l.split()[-1] for l in open("/proc/self/maps")
                       if "libibverbs.so" in l})}
out["endpoints"] = len(ix.query_dma_endpoints(sys.argv[2]))
with ix.Context(sys.argv[2]) as ctx, ctx.alloc_pd() as pd, ix.alloc_dmabuf(1 << 21) as buf:
    try:
        ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE).close()
        out["reg"] = 0
    except ix.IbvExtError as e:
        out["reg"], out["reason"] = e.errno, e.reason
print(json.dumps(out))
"""


def run_child(dev, lib_dir=None):
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    if lib_dir:
        env["LD_LIBRARY_PATH"] = lib_dir
    r = labguest.run(["/usr/bin/python3", "-c", CHILD, REPO, dev], env=env, timeout=120)
    return json.loads(r.stdout.strip().splitlines()[-1])


def debian_libibverbs():
    return os.path.realpath("/usr/lib/x86_64-linux-gnu/libibverbs.so.1")


def test_untested_rdma_core_version_refuses_the_hand_built_mr(lab, tmp_path):
    dev = lab.nics[1].rxe
    real = debian_libibverbs()
    assert os.path.basename(real).startswith("libibverbs.so.1.14."), real
    fake = tmp_path / "libibverbs.so.1.14.99.0"
    shutil.copy(real, fake)
    os.symlink(fake.name, tmp_path / "libibverbs.so.1")

    as_installed = run_child(dev)
    print("installed:", as_installed)
    assert as_installed["maps"] == [real]
    if lab.patched:
        assert as_installed["reg"] == 0, as_installed
    else:
        assert as_installed["reg"] == 95, as_installed
        assert "this kernel's driver has no dma-buf MR support" in as_installed["reason"]

    renamed = run_child(dev, str(tmp_path))
    print("as rdma-core 99.0:", renamed)
    assert renamed["maps"] == [str(fake)]
    assert renamed["endpoints"] == as_installed["endpoints"] >= 1
    assert renamed["reg"] == 95, renamed
    assert renamed["reason"] == (
        f"{dev}: the provider has no dma-buf MR op, and rdma-core 99.0 is outside 44..65, "
        "whose private MR struct the library was tested against"), renamed
    labguest.record_bad_input("ibv_reg_dmabuf_mr_ex", "rxe, libibverbs of rdma-core 99.0",
                              "EOPNOTSUPP", "EOPNOTSUPP", renamed["reason"])
