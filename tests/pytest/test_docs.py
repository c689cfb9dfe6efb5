# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Every exported symbol is documented in a man page (NAME section); how the pages
render is test_man_pages.py."""
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(REPO, "libibverbs-ext/man")


def exported_symbols():
    text = open(os.path.join(REPO, "libibverbs-ext/libibverbs-ext.map")).read()
    return re.findall(r"^\s+(_?ibv_\w+);", text, re.M)


def man_names():
    names = set()
    for f in os.listdir(MAN):
        if f.endswith(".md"):
            text = open(os.path.join(MAN, f)).read()
            m = re.search(r"^# NAME\n\n(.*?) - ", text, re.M | re.S)
            assert m, f
            names.update(n.strip() for n in m.group(1).split(","))
    return names


def test_every_symbol_has_a_man_page():
    # _ibv_x: the size-passing call behind the header's inline ibv_x, documented as ibv_x
    missing = {s.lstrip("_") for s in exported_symbols()} - man_names()
    assert not missing, f"undocumented: {sorted(missing)}"


def test_every_symbol_is_declared_in_the_header():
    header = open(os.path.join(REPO, "libibverbs-ext/include/infiniband/verbs_ext.h")).read()
    for sym in exported_symbols():
        assert re.search(rf"\b{sym}\(", header), sym


def test_exported_symbols_of_the_built_library(build_dir):
    lib = os.path.join(build_dir, "libibverbs-ext/libibverbs-ext.so.1")
    if not os.path.exists(lib):
        pytest.skip(f"{lib} not built")
    out = subprocess.run(["objdump", "-T", lib], capture_output=True, text=True, check=True).stdout
    dyn = {l.split()[-1] for l in out.splitlines() if " IBVERBS_EXT_1." in l and " DF " in l}
    assert dyn == set(exported_symbols())
