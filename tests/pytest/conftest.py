# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host-level pytest fixtures: the build tree (DMP_BUILD, default ./build) and its tools."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))


def _tool(rel):
    path = os.path.join(BUILD, rel)
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (cmake -S . -B build && cmake --build build)")
    return path


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def fixtures_dir():
    d = os.path.join(BUILD, "fixtures")
    if not os.path.isdir(d):
        pytest.skip(f"{d} missing (the build generates the sysfs fixtures)")
    return d


@pytest.fixture(scope="session")
def expectations():
    with open(os.path.join(REPO, "tests/fixtures/expectations.json")) as f:
        return json.load(f)


class Cli:
    def __init__(self, path):
        self.path = path

    def __call__(self, *args, root=None, check=None, timeout=30):
        cmd = [self.path]
        if root:
            cmd += ["--sysfs-root", root]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert r.returncode == check, f"{cmd + list(args)}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def json(self, *args, root=None):
        r = self("--json", *args, root=root, check=0)
        return json.loads(r.stdout)


@pytest.fixture(scope="session")
def cli():
    return Cli(_tool("tools/ibv_dmabuf/ibv_dmabuf"))


@pytest.fixture(scope="session")
def microbench():
    return _tool("tools/bench/ibv_dmabuf_microbench")
