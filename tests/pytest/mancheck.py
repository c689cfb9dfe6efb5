# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Man page checks shared by tests/pytest/test_man_pages.py (the build tree) and
tests/packaging/run (the installed pages): render a page as man(1) does at 80
columns and list its defects; take the EXAMPLE programs out of a page's source.

Not a test module itself (pytest collects test_*.py only).
"""
import os
import re
import subprocess

WIDTH = 80  # the terminal
LINE = WIDTH * 39 // 40  # man-db formats for 80 columns with -rLL=78n
PANDOC = ["pandoc", "-f", "markdown-smart", "-s", "-t", "man"]  # as cmake/ManPages.cmake
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # hyphen .. minus sign


def sources(top):
    """The man page sources (*.N.md) git knows in the tree at top, relative paths."""
    r = subprocess.run(["git", "-C", top, "ls-files", "-c", "-o", "--exclude-standard",
                        "*.[1-8].md"], capture_output=True, text=True, check=True)
    return sorted(p for p in r.stdout.split("\n") if p)


def render(roff):
    """(text, warnings) of roff page source, as man(1) formats it for an 80-column
    terminal (man-db's line length, 39/40 of it): preconv, tbl, the an macros,
    every groff warning on (-ww), plain text."""
    r = subprocess.run(["groff", "-k", "-t", "-man", "-ww", "-Tutf8",
                        f"-rLL={LINE}n", f"-rLT={LINE}n", "-P-cbou"],
                       input=roff, capture_output=True, text=True)
    warnings = r.stderr.strip()
    if r.returncode:
        warnings += f"\ngroff exit status {r.returncode}"
    return r.stdout, warnings


def md_options(md):
    """Long options (--name) written in a page's Markdown source."""
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*[a-z0-9]", md)))


def md_defects(md):
    """Defects visible in the Markdown source: option definitions (a `**-x**` term
    line followed by a `:` definition) outside OPTIONS or glued to the paragraph
    above (pandoc then prints them inside it)."""
    out = []
    section = None
    lines = md.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("# "):
            section = line[2:].strip()
        if (re.match(r"\*\*-", line) and i + 1 < len(lines) and
                lines[i + 1].startswith(":")):
            if section != "OPTIONS":
                out.append(f"line {i + 1}: option {line.strip()} defined under {section}")
            elif i and lines[i - 1].strip():
                out.append(f"line {i + 1}: option {line.strip()} has no blank line above: "
                           "pandoc folds it into the previous paragraph")
    return out


def th(roff):
    """(title, section, manual) from a page's .TH line."""
    m = re.search(r'^\.TH\s+"?([^"\s]+)"?\s+"?(\w+)"?(.*)$', roff, re.M)
    if not m:
        return None, None, None
    rest = re.findall(r'"([^"]*)"|(\S+)', m.group(3))
    args = [a or b for a, b in rest]
    return m.group(1), m.group(2), (args[2] if len(args) > 2 else "")


def roff_defects(roff):
    """Markdown that did not render: ** or ` in the page's running text (code
    blocks, between .nf and .fi, are C and may have them)."""
    out = []
    fill = True
    for n, line in enumerate(roff.split("\n"), 1):
        if line.startswith(".nf"):
            fill = False
        elif line.startswith(".fi"):
            fill = True
        elif fill and not line.startswith(('.\\"', "'\\\"")):
            for bad in ("**", "`"):
                if bad in line:
                    out.append(f"roff line {n}: literal {bad} (Markdown that did not "
                               f"render): {line.strip()[:70]}")
    return out


def text_defects(text, roff, options=()):
    """Defects of a page (roff) as rendered (text): lines wider than the terminal,
    a header line that overlaps, en dashes (or other dashes) where an option is,
    Markdown that did not render, long options of the source missing from the text."""
    out = []
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        if len(line) > WIDTH:
            out.append(f"line {n} is {len(line)} columns wide: {line.strip()[:60]}...")
    title, section, manual = th(roff)
    tag = f"{title}({section})"
    head = next((l for l in lines if l.strip()), "")
    if not re.fullmatch(rf"{re.escape(tag)} +{re.escape(manual)} +{re.escape(tag)}", head):
        out.append(f"header line is not '{tag}  {manual}  {tag}': {head!r}")
    for m in re.finditer(rf"(?:^|[\s\[(|,=])([{DASHES}]+[A-Za-z][\w-]*)", text, re.M):
        out.append(f"a dash that is not ASCII starts option-like {m.group(1)!r}")
    out += roff_defects(roff)
    # Options hyphenated across lines still count (groff may break a long one).
    joined = re.sub(rf"([-{DASHES}])\n\s+", r"\1", text)
    joined = re.sub(rf"[{DASHES[0]}]", "", joined)
    for opt in options:
        if opt not in joined:
            out.append(f"{opt} (in the source) is not in the rendered text as typed")
    return out


def md_meta(md):
    """title and section from a page's YAML header."""
    t = re.search(r"^title:\s*(\S+)", md, re.M)
    s = re.search(r"^section:\s*(\d)", md, re.M)
    return (t.group(1) if t else None, s.group(1) if s else None)


def examples(md):
    """The C code blocks under '# EXAMPLE' of a page's Markdown source, joined."""
    m = re.search(r"^# EXAMPLES?\n(.*?)(?=^# |\Z)", md, re.M | re.S)
    if not m:
        return None
    blocks = re.findall(r"^```c\n(.*?)^```", m.group(1), re.M | re.S)
    return "\n".join(blocks) if blocks else None


def build_example(code, workdir, name, cflags, libs, cc="cc"):
    """Compile and link one example; returns (exe or None, compiler output)."""
    src = os.path.join(workdir, f"{name}.c")
    exe = os.path.join(workdir, name)
    with open(src, "w") as f:
        f.write(code)
    r = subprocess.run([cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o", exe, src]
                       + list(cflags) + list(libs), capture_output=True, text=True)
    return (exe if r.returncode == 0 else None), (r.stdout + r.stderr).strip()
