# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibverbs_ext's ctypes layer against the C compiler: every structure's size, alignment and
field offsets, and every enum value and mask, as <infiniband/verbs_ext.h> and
<infiniband/verbs.h> define them; the symbols the module binds are the library's exported
ones. (ctypes lays structures out by itself: this test is what keeps it honest.)"""

import ctypes
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
    from ibverbs_ext import _capi
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library first): {e}",
                allow_module_level=True)

HEADER_DIR = os.path.join(REPO, "libibverbs-ext", "include")

# Python enum -> C prefix of its members
ENUMS = [
    (ix.Source, "IBV_DMABUF_SOURCE_"),
    (ix.Origin, "IBV_DMABUF_ORIGIN_"),
    (ix.InfoFlags, "IBV_DMABUF_INFO_"),
    (ix.EndpointKind, "IBV_DMA_EP_"),
    (ix.EndpointFlags, "IBV_DMA_EP_FLAG_"),
    (ix.PathPolicy, "IBV_DMA_PATH_"),
    (ix.PathClass, "IBV_DMA_PATH_CLASS_"),
    (ix.ChoiceFlags, "IBV_DMA_CHOICE_"),
    (ix.AllocType, "IBV_DMABUF_ALLOC_"),
    (ix.AllocFlags, "IBV_DMABUF_ALLOC_"),
]
CONSTANTS = {
    "IBV_EXT_PCI_ADDR_LEN": _capi.IBV_EXT_PCI_ADDR_LEN,
    "IBV_EXT_NAME_LEN": _capi.IBV_EXT_NAME_LEN,
    "IBV_EXT_REASON_LEN": _capi.IBV_EXT_REASON_LEN,
    "IBV_EXT_ASSUMED_LEN": _capi.IBV_EXT_ASSUMED_LEN,
    "IBV_REG_DMABUF_MR_EX_HINTS": _capi.IBV_REG_DMABUF_MR_EX_HINTS,
    "IBV_REG_DMABUF_MR_EX_CHOICE": _capi.IBV_REG_DMABUF_MR_EX_CHOICE,
    "IBV_REG_DMABUF_MR_EX_SOURCE": _capi.IBV_REG_DMABUF_MR_EX_SOURCE,
    "IBV_DMA_PATH_HINTS_NUMA_NODE": _capi.IBV_DMA_PATH_HINTS_NUMA_NODE,
    "IBV_DMA_PATH_HINTS_SPREAD_KEY": _capi.IBV_DMA_PATH_HINTS_SPREAD_KEY,
    "IBV_ACCESS_LOCAL_WRITE": ix.ACCESS_LOCAL_WRITE,
    "IBV_ACCESS_REMOTE_WRITE": ix.ACCESS_REMOTE_WRITE,
    "IBV_ACCESS_REMOTE_READ": ix.ACCESS_REMOTE_READ,
    "IBV_ACCESS_REMOTE_ATOMIC": ix.ACCESS_REMOTE_ATOMIC,
    "IBV_ACCESS_MW_BIND": ix.ACCESS_MW_BIND,
    "IBV_ACCESS_ZERO_BASED": ix.ACCESS_ZERO_BASED,
    "IBV_ACCESS_ON_DEMAND": ix.ACCESS_ON_DEMAND,
    "IBV_ACCESS_HUGETLB": ix.ACCESS_HUGETLB,
    "IBV_ACCESS_RELAXED_ORDERING": ix.ACCESS_RELAXED_ORDERING,
}


def c_program():
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <stdalign.h>",
             "#include <infiniband/verbs_ext.h>", "int main(void) {"]
    for st in _capi.STRUCTS:
        n = st.__name__
        lines.append(f'printf("size {n} %zu\\n", sizeof(struct {n}));')
        lines.append(f'printf("align {n} %zu\\n", alignof(struct {n}));')
        for field, _ in st._fields_:
            lines.append(f'printf("offset {n}.{field} %zu\\n", offsetof(struct {n}, {field}));')
            lines.append(f'printf("fsize {n}.{field} %zu\\n", '
                         f'sizeof(((struct {n} *)0)->{field}));')
    for cls, prefix in ENUMS:
        for m in cls:
            lines.append(f'printf("const {prefix}{m.name} %lld\\n", (long long){prefix}{m.name});')
    for name in CONSTANTS:
        lines.append(f'printf("const {name} %lld\\n", (long long){name});')
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def c_facts(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler (cc/gcc/clang) to compare the layouts with")
    d = tmp_path_factory.mktemp("abi")
    src, exe = d / "abi.c", d / "abi"
    src.write_text(c_program())
    r = subprocess.run([cc, "-std=c11", "-I", HEADER_DIR, "-o", str(exe), str(src)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    facts = {}
    for line in out.splitlines():
        kind, key, value = line.split()
        facts[(kind, key)] = int(value)
    return facts


@pytest.mark.parametrize("st", _capi.STRUCTS, ids=lambda s: s.__name__)
def test_struct_layout_matches_c(st, c_facts):
    n = st.__name__
    if not getattr(st, "_partial_", False):  # partial: the head of a larger struct
        assert ctypes.sizeof(st) == c_facts[("size", n)], n
        assert ctypes.alignment(st) == c_facts[("align", n)], n
    for field, ftype in st._fields_:
        assert getattr(st, field).offset == c_facts[("offset", f"{n}.{field}")], f"{n}.{field}"
        assert ctypes.sizeof(ftype) == c_facts[("fsize", f"{n}.{field}")], f"{n}.{field}"


@pytest.mark.parametrize("cls,prefix", ENUMS, ids=lambda x: getattr(x, "__name__", x))
def test_enum_values_match_c(cls, prefix, c_facts):
    for m in cls:
        assert int(m) == c_facts[("const", f"{prefix}{m.name}")], f"{cls.__name__}.{m.name}"


def test_constants_match_c(c_facts):
    for name, value in CONSTANTS.items():
        assert value == c_facts[("const", name)], name


def test_every_exported_symbol_is_bound():
    """The module binds every IBVERBS_EXT_1.0 symbol of the version script."""
    with open(os.path.join(REPO, "libibverbs-ext", "libibverbs-ext.map")) as f:
        text = f.read()
    syms = {w.strip().rstrip(";") for w in text.split("global:")[1].split("local:")[0].split()}
    syms.discard("")
    assert syms, text
    missing = sorted(s for s in syms if not hasattr(_capi, s))
    assert not missing, f"exported but not bound by ibverbs_ext._capi: {missing}"


def test_enum_members_cover_header():
    """Every enumerator of the header's public enums has its Python member."""
    with open(os.path.join(HEADER_DIR, "infiniband", "verbs_ext.h")) as f:
        header = f.read()
    import re
    names = set(re.findall(r"^\s*(IBV_[A-Z0-9_]+)\s*=", header, re.M))
    covered = {f"{prefix}{m.name}" for cls, prefix in ENUMS for m in cls} | set(CONSTANTS)
    assert names - covered == set(), f"header enumerators without a Python member: " \
                                     f"{sorted(names - covered)}"
