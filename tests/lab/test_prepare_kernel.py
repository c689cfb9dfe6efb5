# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host-side tests of tests/lab/prepare-kernel's failure paths (no kernel is compiled).

They work on a copy of tests/lab, tools/fetch-sid and kernel-patches with their own cache dir,
so the real cache and series are untouched; the Debian unstable downloads are shared with the
real cache (DMABUF_MP_SID), so only what is missing there is fetched. The patched-7.2 cases
unpack the source tarball (~30 s on 2 cores).
"""

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SID = Path(os.environ.get("DMABUF_MP_CACHE", Path.home() / ".cache/dmabuf-mp")) / "sid"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(HERE, root / "tests" / "lab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "tools").mkdir()
    shutil.copy2(REPO / "tools" / "fetch-sid", root / "tools" / "fetch-sid")
    shutil.copy2(REPO / "tools" / "format-series", root / "tools" / "format-series")
    shutil.copytree(REPO / "kernel-patches", root / "kernel-patches")
    return root


def prepare(tree, tmp_path, *args, flavour="patched-7.2", timeout=900):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": str(tmp_path), "DMABUF_MP_CACHE": str(tmp_path / "cache"),
           "DMABUF_MP_SID": str(SID)}
    return subprocess.run([str(tree / "tests" / "lab" / "prepare-kernel"), *args, flavour],
                          capture_output=True, text=True, timeout=timeout, env=env)


def repin(tree, flavour, package, version=None, sha256=None):
    """Change the pin of *package* in the copied kernel-patches/BASE."""
    base = tree / "kernel-patches" / "BASE"
    lines = []
    for line in base.read_text().splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == flavour and f[1] == package:
            line = " ".join([f[0], f[1], version or f[2], sha256 or f[3]])
        lines.append(line)
    base.write_text("\n".join(lines) + "\n")


def test_patch_that_does_not_apply_fails_clearly(tree, tmp_path):
    (tree / "kernel-patches" / "0001-bogus.patch").write_text(
        "From: Lab Test <lab@example.invalid>\nSubject: [PATCH] bogus\n\n---\n"
        "diff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n"
        "@@ -1,3 +1,3 @@\n-this line is not in the kernel Makefile\n+nor is this\n"
        " SPDX nothing\n context\n")
    (tree / "kernel-patches" / "series").write_text("# test\n0001-bogus.patch\n")
    res = prepare(tree, tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == \
        "prepare-kernel: patch 0001-bogus.patch does not apply to linux-source-7.2 7.2.13-1"


def test_other_config_fragments_do_not_wait_for_the_flavour(tree, tmp_path):
    """Another set of config fragments is another kernel: run-all builds the KASAN flavour
    while the lab boots patched-7.2, so holding the plain flavour's lock must not stop a
    preparation with fragments (it goes on to the patch, which does not apply here)."""
    (tree / "kernel-patches" / "0001-bogus.patch").write_text(
        "Subject: [PATCH] bogus\n\n---\ndiff --git a/Makefile b/Makefile\n--- a/Makefile\n"
        "+++ b/Makefile\n@@ -1,1 +1,1 @@\n-not in the Makefile\n+nor this\n")
    (tree / "kernel-patches" / "series").write_text("0001-bogus.patch\n")
    extra = tmp_path / "extra.config"
    extra.write_text("CONFIG_KASAN=y\n")
    (tmp_path / "cache").mkdir()
    with open(tmp_path / "cache" / ".lock-patched-7.2", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # (a preparation that waited for the lock would still be waiting at the timeout)
        res = prepare(tree, tmp_path, "--config", str(extra), timeout=300)
    assert "waiting for another prepare-kernel" not in res.stderr
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == \
        "prepare-kernel: patch 0001-bogus.patch does not apply to linux-source-7.2 7.2.13-1"


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


def test_changed_checksum_is_one_line_and_never_used(tree, tmp_path):
    """A package whose sha256 differs from the pin: one line, nothing unpacked or built."""
    repin(tree, "stock-7.2", "linux-base-7.2.13+deb14-amd64", sha256="0" * 64)
    res = prepare(tree, tmp_path, flavour="stock-7.2")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert re.fullmatch(r"prepare-kernel: linux-base-7\.2\.13\+deb14-amd64 7\.2\.13-1: sha256 "
                        r"[0-9a-f]{64} differs from the pinned 0{64} \(the package changed; "
                        r"update the pin only after checking why\)", lines[-1]), res.stderr
    assert not list((tmp_path / "cache").glob("stock-7.2-*/.complete"))


def test_missing_package_is_one_line(tree, tmp_path):
    repin(tree, "patched-7.2", "linux-source-7.2", version="7.2.99-1")
    res = prepare(tree, tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith(
        "prepare-kernel: linux-source-7.2 7.2.99-1 is not downloadable from Debian unstable: "
    ), res.stderr


def test_unknown_flavour(tmp_path):
    res = subprocess.run([str(HERE / "prepare-kernel"), "bogus"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr.strip() == "prepare-kernel: unknown kernel flavour or option 'bogus' " \
        "(want stock-6.12, stock-7.2, patched-7.2 or unpatched-7.2)"


@pytest.mark.parametrize("flavour, why", [
    ("stock-7.2", "stock kernels are used as Debian built them"),
    ("unpatched-7.2", "unpatched-7.2 is its control: lab.config alone")])
def test_config_fragments_only_for_the_patched_kernel(tmp_path, flavour, why):
    frag = tmp_path / "x.config"
    frag.write_text("CONFIG_KASAN=y\n")
    res = subprocess.run([str(HERE / "prepare-kernel"), "--config", str(frag), flavour],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert res.stderr.strip() == f"prepare-kernel: --config only applies to patched-7.2 ({why})"


def test_unpatched_flavour_leaves_out_the_series_options(tree, tmp_path):
    """unpatched-7.2 is lab.config without the series: the options the series defines are left
    out of its config (else the check below would name CONFIG_RDMA_RXE_TEST_LOWER_ENDPOINTS,
    which no unpatched tree has), every other option is still checked (the CMA heap, which
    nothing enables, is named), and no patch is applied (a bogus one would fail to)."""
    patches = tree / "kernel-patches"
    assert "+config RDMA_RXE_TEST_LOWER_ENDPOINTS" in "".join(
        p.read_text() for p in patches.glob("00*.patch"))
    with open(patches / "lab.config", "a") as f:
        f.write("CONFIG_DMABUF_HEAPS_CMA=y\n")
    (patches / "9999-bogus.patch").write_text(
        "Subject: [PATCH] bogus\n\n---\ndiff --git a/Makefile b/Makefile\n--- a/Makefile\n"
        "+++ b/Makefile\n@@ -1,1 +1,1 @@\n-not in the Makefile\n+nor this\n")
    with open(patches / "series", "a") as f:
        f.write("9999-bogus.patch\n")
    res = prepare(tree, tmp_path, flavour="unpatched-7.2")
    assert res.returncode == 1, res.stderr
    assert "lab.config: CONFIG_DMABUF_HEAPS_CMA=y requested, final .config has " \
        "CONFIG_DMABUF_HEAPS_CMA=n" in res.stderr
    assert "RDMA_RXE_TEST_LOWER_ENDPOINTS" not in res.stderr, res.stderr
    assert "does not apply" not in res.stderr, res.stderr
    assert "did not end up as requested" in res.stderr.strip().splitlines()[-1]



def format_series(tree, tmp_path, *args):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": str(tmp_path), "DMABUF_MP_CACHE": str(tmp_path / "cache"),
           "DMABUF_MP_SID": str(SID)}
    return subprocess.run([str(tree / "tools" / "format-series"), "kernel", *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_series_is_what_format_patch_makes(tree, tmp_path):
    """Every patch, and the cover letter's shortlog and diffstat, are git format-patch's own
    (index lines, diffstats, hunk headers); a hand edit shows, and format-series mends it."""
    res = format_series(tree, tmp_path, "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    p = next((tree / "kernel-patches").glob("0013-*.patch"))
    text = p.read_text()
    edited = text.replace("return ERR_PTR(-ENOENT);", "return ERR_PTR(-ENODEV);", 1)
    assert edited != text
    p.write_text(edited)  # the index line and nothing else now tell a stale story
    res = format_series(tree, tmp_path, "--check")
    assert res.returncode == 1
    assert res.stdout.strip() == f"format-series: {p.name} differs from what format-patch " \
        f"makes ({p.name})", res.stdout
    res = format_series(tree, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "return ERR_PTR(-ENODEV);" in p.read_text()
    assert format_series(tree, tmp_path, "--check").returncode == 0
