# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Packaging metadata, from the sources (the built packages are checked by
tests/packaging/run): one project URL everywhere, a placeholder only if
docs/packaging.md says so; the same package split in debian/control, the spec
and tests/packaging/run; the names both distributions use.
"""
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(rel):
    with open(os.path.join(REPO, rel), encoding="utf-8") as f:
        return f.read()


def url():
    m = re.search(r'project\(dmabuf-multipath\b[^)]*HOMEPAGE_URL\s+"([^"]+)"',
                  read("CMakeLists.txt"), re.S)
    assert m, "CMakeLists.txt: project(... HOMEPAGE_URL ...) is the project URL"
    return m.group(1)


def control():
    paras = re.split(r"\n\s*\n", read("debian/control").strip())
    out = []
    for p in paras:
        lines = [l for l in p.split("\n") if not l.startswith("#")]
        out.append(dict(re.findall(r"^([\w-]+):\s*(.*)$", "\n".join(lines), re.M)))
    return out


def test_one_project_url():
    u = url()
    assert re.fullmatch(r"https://[\w.-]+/\S+", u), u
    src = control()[0]
    assert (src.get("Homepage"), src.get("Vcs-Browser"), src.get("Vcs-Git")) == \
        (u, u, u + ".git")
    spec = read("redhat/dmabuf-multipath.spec")
    assert re.search(r"^URL:\s*(\S+)$", spec, re.M).group(1) == u
    assert re.search(r"^Source0:\s*(\S+)$", spec, re.M).group(1) == \
        "%{url}/archive/v%{version}/%{name}-%{version}.tar.gz"
    assert "Home-page: @PROJECT_HOMEPAGE_URL@" in read("python/METADATA.in")


def test_a_placeholder_url_says_so():
    u = url()
    if not re.search(r"\.(example|invalid|test)(/|$)", u.split("//", 1)[1]):
        return  # a real URL
    assert u in read("docs/packaging.md") and "placeholder" in read("docs/packaging.md")
    for rel in ("CMakeLists.txt", "debian/control", "redhat/dmabuf-multipath.spec"):
        assert re.search(r"#.*[Pp]laceholder", read(rel)), f"{rel} does not mark {u} a placeholder"


def test_spec_source_url_expands():
    if not shutil.which("rpmspec"):
        pytest.skip("rpmspec not installed (tools/install-deps package)")
    r = subprocess.run(["rpmspec", "-P", os.path.join(REPO, "redhat/dmabuf-multipath.spec")],
                       capture_output=True, text=True)
    version = read("VERSION").strip()
    assert re.findall(r"^Source0:\s*(\S+)$", r.stdout, re.M) == \
        [f"{url()}/archive/v{version}/dmabuf-multipath-{version}.tar.gz"], r.stdout + r.stderr


def packages():
    deb = [p["Package"] for p in control()[1:]]
    rpm = re.findall(r"^%package -n (\S+)$", read("redhat/dmabuf-multipath.spec"), re.M)
    return deb, rpm


def test_the_split_is_the_same_everywhere():
    deb, rpm = packages()
    twins = dict(re.findall(r'^\s+"([\w.+-]+)": "([\w.+-]+)",$',
                            read("tests/packaging/run").split("TWINS = {", 1)[1].split("}")[0],
                            re.M))
    assert sorted(twins) == sorted(deb) and sorted(twins.values()) == sorted(rpm)
    for p in deb:
        assert os.path.exists(os.path.join(REPO, f"debian/{p}.install")) or \
            p == "dmabuf-multipath-kernel-patches", f"debian/{p}.install"


def test_utilities_are_named_as_rdma_core_names_its_own():
    """Debian: ibverbs-utils; Fedora: libibverbs-utils. The old -tools name was never
    released, so nothing provides or replaces it."""
    deb, rpm = packages()
    assert "ibverbs-ext-utils" in deb and "libibverbs-ext-utils" in rpm
    for rel in ("debian/control", "redhat/dmabuf-multipath.spec", "tests/packaging/run",
                ".gitignore"):
        assert "ibverbs-ext-tools" not in read(rel), rel


def test_python_dist_info_metadata():
    meta = read("python/METADATA.in")
    fields = dict(re.findall(r"^([\w-]+): (.*)$", meta, re.M))
    assert fields["Metadata-Version"] == "2.1" and fields["Name"] == "ibverbs-ext"
    assert fields["Version"] == "@PROJECT_VERSION@"
    assert fields["License"] == "GPL-2.0 OR Linux-OpenIB"
    spec = read("redhat/dmabuf-multipath.spec")
    assert "%{python3_sitelib}/ibverbs_ext-%{version}.dist-info/" in spec
    assert "usr/lib/python3/dist-packages/ibverbs_ext-*.dist-info/" in \
        read("debian/python3-ibverbs-ext.install")


def test_install_deps_has_the_linters():
    m = re.search(r"^package=\((.*?)\)", read("tools/install-deps"), re.M | re.S)
    assert {"lintian", "rpmlint", "rpm", "groff-base"} <= set(m.group(1).split())
