# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""One licence statement: every tracked file states COPYING.md's licence
(SPDX GPL-2.0 OR Linux-OpenIB) or none, except the files listed in EXCEPTIONS,
each with its reason; files of the kinds that carry a header (code, scripts,
build files, config fragments, man page sources) must state it;
debian/copyright says the same in DEP-5 names, and the spec in SPDX names.
"""
import fnmatch
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = "GPL-2.0 OR Linux-OpenIB"
TAG = "SPDX-License-" + "Identifier"  # split: this file is not a licence statement itself

# path (fnmatch) -> (the only SPDX expressions allowed there, why).
EXCEPTIONS = {
    "libibverbs-ext/kernel-abi/dma_buf_describe.h": (
        {"GPL-2.0 WITH Linux-syscall-note"},
        "a copy of the uAPI that kernel-patches/ adds to include/uapi/linux/dma-buf.h, "
        "under that header's licence"),
    "libibverbs-ext/kernel-abi/reg_mr_endpoint.h": (
        {"((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB)"},
        "a copy of the uAPI that kernel-patches/ adds to "
        "include/uapi/rdma/ib_user_ioctl_cmds.h, under that header's licence"),
    "libibverbs-ext/kernel-abi/vfio_dma_buf.h": (
        {"GPL-2.0 WITH Linux-syscall-note"},
        "a copy of vfio-pci's dma-buf uAPI of include/uapi/linux/vfio.h (Linux 7.2; the "
        "distro's headers predate it), under that header's licence"),
    "kernel-patches/*.patch": (
        {"GPL-2.0", "GPL-2.0-only", "GPL-2.0 WITH Linux-syscall-note", PROJECT},
        "changes to Linux (GPL-2.0 as a whole, debian/copyright says so); the SPDX "
        "lines inside are those of the kernel files the patches add or touch: "
        "GPL-2.0 code, uAPI headers with the syscall note, RDMA core files dual "
        "licensed as rdma-core"),
    "rdma-core-patches/*.patch": (
        {PROJECT, "(GPL-2.0 OR Linux-OpenIB)"},
        "changes to rdma-core in rdma-core's own conventions: its Python files write the "
        "same dual licence in parentheses, and its Markdown man pages carry the front "
        "matter line 'Licensed under the OpenIB.org BSD license (FreeBSD Variant)'"),
}

# The licence texts themselves name other wording.
LICENCE_TEXTS = {"COPYING.md", "COPYING.GPL2", "debian/copyright"}

# Kinds of files that carry a header and must state the licence there.
MUST_STATE = ["*.c", "*.h", "*.py", "*.py.in", "*.cmake", "CMakeLists.txt", "*.config",
              "*.spec", "*.map", "*.pc.in", "*.[1-8].md", ".clang-format", "debian/rules"]
MUST_STATE_EXEMPT = ["kernel-patches/*.patch"]

# Wording of other licences (or of ours, outside its texts), case-insensitive.
STRAYS = [r"\bBSD licen[cs]e", r"FreeBSD", r"\bMIT licen[cs]e", r"Apache licen[cs]e",
          r"Mozilla Public", r"GNU Lesser", r"\bL?GPL-?v?3", r"version 3 of the",
          r"any later version", r"Creative Commons", r"public domain",
          r"Licensed under", r"All rights reserved", r"Permission is hereby granted"]


def tracked():
    r = subprocess.run(["git", "-C", REPO, "ls-files", "-c", "-o", "--exclude-standard"],
                       capture_output=True, text=True, check=True)
    return sorted(p for p in r.stdout.split("\n") if p and os.path.isfile(os.path.join(REPO, p)))


def text(rel):
    try:
        with open(os.path.join(REPO, rel), encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        return None


def spdx(body):
    """The SPDX expressions a file states (comment closers and quotes removed)."""
    out = []
    for m in re.finditer(TAG + r":\s*(.*)$", body, re.M):
        e = re.sub(r"\s*(\*/|-->|'|\"|`).*$", "", m.group(1)).strip()
        out.append(e)
    return out


def exception(rel):
    for pat, (allowed, why) in EXCEPTIONS.items():
        if fnmatch.fnmatch(rel, pat):
            return allowed, why
    return None


FILES = tracked()


def test_the_exceptions_exist():
    for pat in EXCEPTIONS:
        assert fnmatch.filter(FILES, pat), f"{pat}: no such file; drop the exception"


def test_every_licence_statement_is_the_projects():
    bad = []
    for rel in FILES:
        if rel in LICENCE_TEXTS or rel == "tests/pytest/test_licence.py":
            continue
        body = text(rel)
        if body is None:
            continue
        allowed, _ = exception(rel) or ({PROJECT}, "")
        for e in spdx(body):
            if e not in allowed:
                bad.append(f"{rel}: {TAG}: {e} (want {' or '.join(sorted(allowed))})")
    assert not bad, "\n".join(bad)


def test_no_other_licence_wording():
    bad = []
    for rel in FILES:
        if rel in LICENCE_TEXTS or rel == "tests/pytest/test_licence.py":
            continue
        body = text(rel)
        if body is None or exception(rel):
            continue
        for rx in STRAYS:
            for m in re.finditer(rx, body, re.I):
                line = body.count("\n", 0, m.start()) + 1
                bad.append(f"{rel}:{line}: {body.splitlines()[line - 1].strip()[:80]}")
    assert not bad, "other licence wording:\n" + "\n".join(bad)


def test_files_with_a_header_state_the_licence():
    missing = []
    for rel in FILES:
        name = os.path.basename(rel)
        kind = any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in MUST_STATE)
        body = text(rel)
        if body is None:
            continue
        if not kind and not body.startswith("#!"):
            continue
        if any(fnmatch.fnmatch(rel, p) for p in MUST_STATE_EXEMPT):
            continue
        head = "\n".join(body.split("\n")[:10])
        if not spdx(head):
            missing.append(rel)
    assert not missing, f"no {TAG} line in the first 10 lines: {missing}"


def test_copying_md_grants_the_project_licence():
    body = text("COPYING.md")
    assert f"`{TAG}: {PROJECT}`" in body
    for rel in EXCEPTIONS:
        where = os.path.dirname(rel) + "/"
        assert f"`{where}`" in body, f"COPYING.md does not name {where} ({rel}) as an exception"


# --- debian/copyright (DEP-5) ----------------------------------------------

DEP5 = {"GPL-2.0": "GPL-2", "GPL-2.0-only": "GPL-2", "Linux-OpenIB": "Linux-OpenIB"}


def to_dep5(expr):
    """An SPDX expression in DEP-5 short names: GPL-2.0 -> GPL-2, WITH X -> with X
    exception, OR/AND -> or/and, no parentheses (DEP-5 has none; 'with' binds)."""
    e = expr.replace("(", "").replace(")", "")
    e = re.sub(r"(\S+) WITH (\S+)", lambda m: f"{DEP5[m.group(1)]} with {m.group(2)} exception",
               e)
    e = re.sub(r"\b(GPL-2\.0(?:-only)?|Linux-OpenIB)\b", lambda m: DEP5[m.group(1)], e)
    return e.replace(" OR ", " or ").replace(" AND ", " and ")


def paragraphs(body):
    out = []
    for para in re.split(r"\n\s*\n", body.strip()):
        fields, key = {}, None
        for line in para.split("\n"):
            if line[:1] in " \t" and key:
                fields[key] += "\n" + line.strip()
            else:
                key, _, val = line.partition(":")
                fields[key] = val.strip()
        out.append(fields)
    return out


def test_debian_copyright_is_dep5_and_says_what_the_files_say():
    paras = paragraphs(text("debian/copyright"))
    assert paras[0].get("Format") == \
        "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    files = [p for p in paras[1:] if "Files" in p]
    standalone = {p["License"].split("\n")[0] for p in paras[1:] if "Files" not in p}
    names = set()
    for p in files:
        for part in re.split(r" or | and ", p["License"].split("\n")[0]):
            names.add(part)
    assert names <= standalone, f"licences without their text in a paragraph: {names - standalone}"
    assert not re.search(r"^License:.*GPL-2\.0", text("debian/copyright"), re.M), \
        "DEP-5's short name is GPL-2 (GPL-2.0 is SPDX's)"
    assert files[0]["Files"] == "*" and files[0]["License"] == to_dep5(PROJECT)

    def licence_of(rel):  # the last matching Files paragraph wins (DEP-5)
        lic = None
        for p in files:
            if any(fnmatch.fnmatch(rel, g) for g in p["Files"].split()):
                lic = p["License"].split("\n")[0]
        return lic

    for rel in FILES:
        exc = exception(rel)
        got = licence_of(rel)
        if exc and rel.startswith("kernel-patches/"):
            assert got == "GPL-2", f"{rel}: debian/copyright says {got}, want GPL-2"
        elif exc:
            wants = {to_dep5(w) for w in exc[0]}
            assert got in wants, f"{rel}: debian/copyright says {got}, the file {exc[0]}"
        else:
            assert got == to_dep5(PROJECT), f"{rel}: debian/copyright says {got}"


def test_to_dep5():
    assert to_dep5("GPL-2.0 OR Linux-OpenIB") == "GPL-2 or Linux-OpenIB"
    assert to_dep5("((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB)") == \
        "GPL-2 with Linux-syscall-note exception or Linux-OpenIB"


# --- the RPM spec (SPDX names, as Fedora requires) -------------------------

def test_spec_license_tags():
    spec = text("redhat/dmabuf-multipath.spec")
    main = re.search(r"^License:\s*(.+)$", spec, re.M).group(1)
    assert main == "GPL-2.0-only OR Linux-OpenIB", main
    # The kernel patch package holds GPL-2.0 patches and the project's notes.
    m = re.search(r"^%package -n dmabuf-multipath-kernel-patches\n(?:.+\n)*?License:\s*(.+)$",
                  spec, re.M)
    assert m and m.group(1) == "GPL-2.0-only AND (GPL-2.0-only OR Linux-OpenIB)", \
        m.group(1) if m else "no License: tag in the kernel-patches package"
