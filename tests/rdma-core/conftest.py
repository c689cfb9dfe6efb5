# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Fixtures of the rdma-core series' host tests: the two builds, the probe, fake sysfs trees."""

import os
import shutil
import subprocess

import pytest

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD_SCRIPT = os.path.join(REPO, 'tools', 'rdma-core', 'build')
PATCHES = os.path.join(REPO, 'rdma-core-patches')
CACHE = os.environ.get('DMABUF_MP_CACHE', os.path.expanduser('~/.cache/dmabuf-mp'))


def parse_env(text):
    env = {}
    for line in text.splitlines():
        key, sep, val = line.partition('=')
        if sep and key.isupper():
            env[key] = val
    return env


@pytest.fixture(scope='session')
def builds():
    """Both builds of tools/rdma-core/build (built now if the cache has none: minutes)."""
    res = subprocess.run([BUILD_SCRIPT, '--quiet'], capture_output=True, text=True,
                         timeout=3600)
    assert res.returncode == 0, f'tools/rdma-core/build failed: {res.stderr}'
    env = parse_env(res.stdout)
    for var in ('UNPATCHED', 'PATCHED'):
        assert f'RDMA_CORE_{var}_BUILD' in env, res.stdout
    return env


@pytest.fixture(scope='session')
def probe(builds, tmp_path_factory):
    """dma_eps_probe.c built against the patched build."""
    build = builds['RDMA_CORE_PATCHED_BUILD']
    out = str(tmp_path_factory.mktemp('probe') / 'dma_eps_probe')
    subprocess.run(['gcc', '-std=gnu11', '-Wall', '-Wextra', '-Werror',
                    f'-I{build}/include', '-o', out,
                    os.path.join(os.path.dirname(__file__), 'dma_eps_probe.c'),
                    f'-L{build}/lib', '-libverbs', f'-Wl,-rpath,{build}/lib'],
                   check=True)
    return out


def can_fake_devices():
    """Why a fake uverbs device cannot be made here, or None."""
    if os.geteuid() != 0:
        return 'needs root (a private mount namespace with /dev/infiniband/uverbs0)'
    if not shutil.which('unshare'):
        return 'needs unshare (util-linux)'
    if os.path.isdir('/sys/class/infiniband') and os.listdir('/sys/class/infiniband'):
        return 'this machine has RDMA devices: libibverbs lists them over netlink, not the fake sysfs'
    return None


class FakeSysfs:
    """A sysfs tree with one uverbs device (rxe0, matched by the rxe provider by name) whose
    DMA endpoints the tests shape."""

    def __init__(self, root):
        self.root = str(root)
        self.ibdev = os.path.join(self.root, 'class', 'infiniband', 'rxe0')
        uverbs = os.path.join(self.root, 'class', 'infiniband_verbs', 'uverbs0')
        os.makedirs(uverbs)
        os.makedirs(self.ibdev)
        self.write('class/infiniband_verbs/abi_version', '6')
        self.write('class/infiniband_verbs/uverbs0/ibdev', 'rxe0')
        self.write('class/infiniband_verbs/uverbs0/dev', '231:192')
        self.write('class/infiniband_verbs/uverbs0/abi_version', '1')
        self.write('class/infiniband/rxe0/node_type', '1: CA')

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text + '\n')

    def pci_device(self, bus_path, numa_node):
        """Make /sys/devices/<bus_path> with a numa_node file; return its path."""
        path = os.path.join(self.root, 'devices', bus_path)
        os.makedirs(path, exist_ok=True)
        self.write(f'devices/{bus_path}/numa_node', str(numa_node))
        return path

    def endpoint(self, index, kind='netdev', numa_node='0', mappable='1', device=None):
        """Add dma_endpoints/<index>; None for an attribute leaves its file out."""
        base = f'class/infiniband/rxe0/dma_endpoints/{index}'
        os.makedirs(os.path.join(self.root, base), exist_ok=True)
        for name, val in (('kind', kind), ('numa_node', numa_node), ('mappable', mappable)):
            if val is not None:
                self.write(f'{base}/{name}', val)
        if device is not None:
            link = os.path.join(self.root, base, 'device')
            os.symlink(os.path.relpath(device, os.path.dirname(link)), link)

    def no_endpoints_dir(self):
        os.makedirs(os.path.join(self.ibdev, 'dma_endpoints'), exist_ok=True)


def run_with_fake_device(sysfs, argv):
    """Run argv with SYSFS_PATH=sysfs.root in a private mount namespace where
    /dev/infiniband/uverbs0 exists (an overlay on /dev: nothing changes outside)."""
    script = ('set -e; mount --make-rprivate /; d=$(mktemp -d); mkdir "$d/u" "$d/w"; '
              'mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/u,workdir=$d/w" /dev; '
              'mkdir -p /dev/infiniband; touch /dev/infiniband/uverbs0; exec "$@"')
    env = dict(os.environ, SYSFS_PATH=sysfs.root)
    return subprocess.run(['unshare', '-m', 'sh', '-c', script, 'sh'] + argv,
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def fake_sysfs(tmp_path):
    why = can_fake_devices()
    if why:
        pytest.skip(f'fake uverbs device: {why}')
    return FakeSysfs(tmp_path / 'sys')


@pytest.fixture
def repo_copy(tmp_path):
    """A copy of the build script and rdma-core-patches/, to break on purpose."""
    root = tmp_path / 'repo'
    shutil.copytree(PATCHES, root / 'rdma-core-patches')
    os.makedirs(root / 'tools' / 'rdma-core')
    shutil.copy2(BUILD_SCRIPT, root / 'tools' / 'rdma-core' / 'build')
    shutil.copy2(os.path.join(REPO, 'tools', 'fetch-sid'), root / 'tools' / 'fetch-sid')
    return root
