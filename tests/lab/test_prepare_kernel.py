# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host-side tests of tests/lab/prepare-kernel's failure paths (no kernel is compiled).

They work on a copy of tests/lab + kernel-patches with their own cache dir, so the real cache
and series are untouched.  Each unpacks the source tarball (~30 s on 2 cores).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@pytest.fixture
def tree(tmp_path):
    if not Path("/usr/src/linux-source-6.12.tar.xz").exists():
        subprocess.run([str(HERE / "install-deps")], check=True, timeout=1200)
    root = tmp_path / "repo"
    shutil.copytree(HERE, root / "tests" / "lab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "kernel-patches", root / "kernel-patches")
    return root


def prepare(tree, tmp_path, *args):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": str(tmp_path), "DMABUF_MP_CACHE": str(tmp_path / "cache")}
    return subprocess.run([str(tree / "tests" / "lab" / "prepare-kernel"), *args, "patched"],
                          capture_output=True, text=True, timeout=600, env=env)


def test_patch_that_does_not_apply_fails_clearly(tree, tmp_path):
    (tree / "kernel-patches" / "0001-bogus.patch").write_text(
        "From: Lab Test <lab@example.invalid>\nSubject: [PATCH] bogus\n\n---\n"
        "diff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n"
        "@@ -1,3 +1,3 @@\n-this line is not in the kernel Makefile\n+nor is this\n"
        " SPDX nothing\n context\n")
    (tree / "kernel-patches" / "series").write_text("# test\n0001-bogus.patch\n")
    res = prepare(tree, tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith(
        "prepare-kernel: patch 0001-bogus.patch does not apply to linux-source-6.12 ")


def test_series_naming_a_missing_patch_fails(tree, tmp_path):
    (tree / "kernel-patches" / "series").write_text("0001-missing.patch\n")
    res = prepare(tree, tmp_path)
    assert res.returncode == 1
    assert "kernel-patches/series lists 0001-missing.patch, which does not exist" in res.stderr


def test_config_option_that_cannot_be_set_fails_clearly(tree, tmp_path):
    extra = tmp_path / "extra.config"
    # The CMA heap needs DMA_CMA, which nothing enables: olddefconfig drops it.
    extra.write_text("CONFIG_DMABUF_HEAPS_CMA=y\n")
    res = prepare(tree, tmp_path, "--config", str(extra))
    assert res.returncode == 1
    assert "extra.config: CONFIG_DMABUF_HEAPS_CMA=y requested, final .config has " \
        "CONFIG_DMABUF_HEAPS_CMA=n" in res.stderr
    assert "did not end up as requested" in res.stderr.strip().splitlines()[-1]


def test_unknown_flavour(tmp_path):
    res = subprocess.run([str(HERE / "prepare-kernel"), "bogus"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr.strip() == \
        "prepare-kernel: unknown kernel flavour or option 'bogus' (want stock or patched)"
