# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The man pages as the build makes them: rendered at 80 columns with every groff
warning on, without defects; each section-3 page's EXAMPLE compiles against the
build tree's header and library, and the examples that need no RDMA device or
dma-buf exporter run on the sysfs fixture trees and answer what
tests/fixtures/expectations.json says.

The installed pages and the examples against the installed header are checked
again by tests/packaging/run.
"""
import os
import re
import shutil
import subprocess

import pytest

import mancheck

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = mancheck.sources(REPO)
SECTION3 = [p for p in PAGES if p.endswith(".3.md")]


def read(rel):
    with open(os.path.join(REPO, rel), encoding="utf-8") as f:
        return f.read()


def built_page(build_dir, src):
    """The page the build rendered from src (build/<dir>/<name>.N)."""
    cache = os.path.join(build_dir, "CMakeCache.txt")
    if not os.path.exists(cache):
        pytest.skip(f"{build_dir} is not configured (cmake -S . -B build)")
    with open(cache) as f:
        if re.search(r"^PANDOC:\w+=.*NOTFOUND$", f.read(), re.M):
            pytest.skip("the build found no pandoc, so it made no man pages")
    out = os.path.join(build_dir, src[:-len(".md")])
    assert os.path.exists(out), (f"{out} not built: is {os.path.basename(src)} listed in "
                                 "a dmp_man_pages() call, and the build up to date?")
    return out


def test_pages_found():
    assert len(PAGES) >= 11 and len(SECTION3) >= 6, PAGES


@pytest.mark.parametrize("src", PAGES)
def test_built_with_markdown_smart_off(build_dir, src):
    """The installed page is pandoc -f markdown-smart's output, and up to date: smart
    typography would turn every --option into an en dash."""
    page = built_page(build_dir, src)
    if not shutil.which("pandoc"):
        pytest.skip("pandoc not installed")
    want = subprocess.run(mancheck.PANDOC + [os.path.join(REPO, src)], capture_output=True,
                          text=True, check=True).stdout
    with open(page, encoding="utf-8") as f:
        assert f.read() == want, (f"{page} is not what `{' '.join(mancheck.PANDOC)} {src}` "
                                  "makes (stale build, or other flags in cmake/ManPages.cmake)")


@pytest.mark.parametrize("src", PAGES)
def test_renders_without_defects(build_dir, src):
    if not shutil.which("groff"):
        pytest.skip("groff not installed")
    page = built_page(build_dir, src)
    md = read(src)
    with open(page, encoding="utf-8") as f:
        roff = f.read()
    title, section, _ = mancheck.th(roff)
    assert (title, section) == mancheck.md_meta(md) and src.endswith(f".{section}.md"), \
        f".TH {title} {section}: the YAML header's title and section, and the file name"
    text, warnings = mancheck.render(roff)
    assert not warnings, f"groff -ww on {page}:\n{warnings}"
    defects = mancheck.md_defects(md) + mancheck.text_defects(text, roff,
                                                              mancheck.md_options(md))
    assert not defects, f"{src}:\n  " + "\n  ".join(defects)


def test_the_checks_catch_the_defects_they_are_for():
    """What the old pages had: smart dashes in options, literal **, -h in OUTPUT, a
    table and a header too wide for 80 columns."""
    if not (shutil.which("pandoc") and shutil.which("groff")):
        pytest.skip("pandoc or groff not installed")
    md = ("---\ntitle: IBV_AN_EXTREMELY_LONG_TOOL_NAME\nsection: 1\n"
          "header: \"libibverbs-ext Programmer's Manual\"\n---\n\n# NAME\n\nx - y\n\n"
          "# OPTIONS\n\n**--json**\n:\tPrint JSON; see **_ex / ibv_reg_mr**.\n\n"
          "# OUTPUT\n\nThe table.\n**-h**, **--help**\n:\tUsage.\n\n"
          "| a | b |\n|---|---|\n| " + "word " * 40 + "| " + "word " * 40 + "|\n")
    roff = subprocess.run(["pandoc", "-s", "-t", "man"], input=md, capture_output=True,
                          text=True, check=True).stdout  # smart on: the old build
    text, warnings = mancheck.render(roff)
    defects = mancheck.md_defects(md) + mancheck.text_defects(text, roff,
                                                              mancheck.md_options(md))
    joined = "\n".join(defects)
    assert "table wider than line width" in warnings
    assert "defined under OUTPUT" in joined
    assert "not ASCII starts option-like '\u2013json'" in joined
    assert "literal **" in joined
    assert "--json (in the source) is not in the rendered text" in joined
    assert "header line is not" in joined


def compile_flags(build_dir):
    lib = os.path.join(build_dir, "libibverbs-ext")
    if not os.path.exists(os.path.join(lib, "libibverbs-ext.so")):
        pytest.skip(f"{lib}/libibverbs-ext.so not built")
    verbs = subprocess.run(["pkg-config", "--cflags", "--libs", "libibverbs"],
                           capture_output=True, text=True)
    if verbs.returncode:
        pytest.skip("pkg-config finds no libibverbs (libibverbs-dev)")
    cflags = [f"-I{REPO}/libibverbs-ext/include"]
    libs = [f"-L{lib}", f"-Wl,-rpath,{lib}", "-libverbs-ext"] + verbs.stdout.split()
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        if re.search(r"^DMP_SANITIZE:BOOL=ON$", f.read(), re.M):
            libs.append("-fsanitize=address,undefined")  # as the build's executables
    return cflags, libs


@pytest.fixture(scope="module")
def examples(build_dir, tmp_path_factory):
    """{page: executable} of every section-3 EXAMPLE, built against the build tree."""
    cflags, libs = compile_flags(build_dir)
    work = tmp_path_factory.mktemp("man-examples")
    built, errors = {}, []
    for src in SECTION3:
        code = mancheck.examples(read(src))
        name = os.path.basename(src)[:-len(".3.md")]
        if not code:
            errors.append(f"{src}: no EXAMPLE section with a ```c block")
            continue
        exe, out = mancheck.build_example(code, str(work), name, cflags, libs)
        if exe:
            built[name] = exe
        else:
            errors.append(f"{src}: the EXAMPLE does not build:\n{out}")
    return built, errors


def test_every_section3_example_builds(examples):
    built, errors = examples
    assert not errors, "\n".join(errors)
    assert len(built) == len(SECTION3)


def run(exe, root, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, IBV_EXT_SYSFS_ROOT=root))


def example(examples, name):
    built, _ = examples
    if name not in built:
        pytest.fail(f"the {name}(3) example did not build (see test_every_section3_example_builds)")
    return built[name]


@pytest.mark.parametrize("machine,spec", [("dgx-h100", "p2p:0000:1b:00.0"),
                                          ("lab-vm", "system:node=1"),
                                          ("socket-direct", "system:node=1")])
def test_select_example_answers_as_expected(examples, fixtures_dir, expectations, machine, spec):
    exe = example(examples, "ibv_select_dma_endpoint")
    r = run(exe, os.path.join(fixtures_dir, machine), spec)
    assert r.returncode == 0, r.stderr
    dev, pci, cls = r.stdout.split("\n")[0].split()
    topo = expectations["topologies"][machine]
    assert dev in topo["best"][spec]["preferred"], r.stdout
    want = topo["choices"][dev][spec]
    assert (pci, cls) == (want["pci"], want["class"]), r.stdout
    assert r.stdout.split("\n")[1].startswith("chose endpoint"), r.stdout


@pytest.mark.parametrize("machine,dev", [("socket-direct", "mlx5_0"), ("lab-vm", "rxe1"),
                                         ("soft-rdma", "rxe0"), ("data-direct", "mlx5_0")])
def test_endpoints_example_lists_the_endpoints(examples, fixtures_dir, expectations, machine,
                                               dev):
    exe = example(examples, "ibv_query_dma_endpoints")
    r = run(exe, os.path.join(fixtures_dir, machine), dev)
    assert r.returncode == 0, r.stderr
    want = [f"{e['index']} {e['kind']} {e['pci'] or '-'} node {e['numa_node']}"
            + (" default" if "default" in e["flags"] else "")
            for e in expectations["topologies"][machine]["rdma_devices"][dev]["endpoints"]]
    assert r.stdout.split("\n")[:-1] == want


def test_endpoints_example_fails_on_unknown_device(examples, fixtures_dir):
    exe = example(examples, "ibv_query_dma_endpoints")
    r = run(exe, os.path.join(fixtures_dir, "lab-vm"), "mlx5_9")
    assert r.returncode == 1 and r.stderr.startswith("No such device: "), r.stderr


@pytest.mark.parametrize("gpu", ["GPU0", "GPU5"])
def test_query_example_describes_a_source(examples, fixtures_dir, expectations, gpu):
    exe = example(examples, "ibv_query_dmabuf")
    topo = expectations["topologies"]["dgx-h100"]
    prov = topo["providers"][gpu]
    r = run(exe, os.path.join(fixtures_dir, "dgx-h100"), topo["sources"][gpu])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"p2p memory of {prov['pci']} on node {prov['numa_node']} (described)\n"


def test_last_error_example_reports_notes_and_reasons(examples, fixtures_dir):
    exe = example(examples, "ibv_ext_last_error")
    r = run(exe, os.path.join(fixtures_dir, "broken"), "system")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^note: \S", r.stdout, re.M), "the broken tree gives parser notes"
    r = run(exe, os.path.join(fixtures_dir, "lab-vm"), "system:node=9")
    assert r.returncode == 1 and not r.stdout
    assert re.fullmatch(r"\S.* \(No such device\)\n", r.stderr), r.stderr
