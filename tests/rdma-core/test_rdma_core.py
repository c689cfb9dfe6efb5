# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Host tests of the rdma-core v65.0 series (rdma-core-patches/) and its builds
(tools/rdma-core/build). Nothing here needs an RDMA device: the DMA endpoint listing runs on a
fake sysfs tree, the pyverbs allocator's refusals before /dev/udmabuf is opened."""

import errno
import glob
import hashlib
import os
import re
import shutil
import subprocess
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader

import pytest

from conftest import BUILD_SCRIPT, CACHE, PATCHES, REPO, parse_env, run_with_fake_device

SUITE = os.path.join(REPO, 'tests', 'lab', 'guest', 'rdma_core_suite')


def load_suite():
    """tests/lab/guest/rdma_core_suite as a module (its parser; its own tests are in
    tests/lab/test_suites.py)."""
    loader = SourceFileLoader('rdma_core_suite', SUITE)
    module = module_from_spec(spec_from_loader('rdma_core_suite', loader))
    loader.exec_module(module)
    return module

def base():
    with open(os.path.join(PATCHES, 'BASE')) as f:
        return dict(line.strip().split('=', 1) for line in f
                    if '=' in line and not line.startswith('#'))


def series():
    with open(os.path.join(PATCHES, 'series')) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


# --- the series itself ----------------------------------------------------------------------

def test_series_lists_every_patch_in_order():
    names = series()
    assert names == sorted(os.path.basename(p) for p in
                           glob.glob(os.path.join(PATCHES, '*.patch')))
    assert [int(n[:4]) for n in names] == list(range(1, len(names) + 1))


@pytest.mark.parametrize('name', series())
def test_patch_is_a_signed_off_format_patch(name):
    with open(os.path.join(PATCHES, name)) as f:
        text = f.read()
    assert text.startswith('From 0000000000000000000000000000000000000000 ')
    subject = re.search(r'^Subject: \[PATCH\] (.+)$', text, re.M)
    assert subject, 'no Subject'
    assert len(subject.group(1)) <= 75, 'subject longer than 75 columns'
    msg = text.split('\n---\n', 1)[0]
    assert re.search(r'^Signed-off-by: .+ <.+>$', msg, re.M), 'no Signed-off-by'
    body = msg.split('\n\n', 1)[1]
    assert all(len(line) <= 75 for line in body.splitlines()
               if not line.startswith('Signed-off-by')), 'commit message lines over 75'


def test_mlx5_patch_says_compile_tested_only():
    mlx5 = [n for n in series() if '-mlx5-' in n]
    assert mlx5
    with open(os.path.join(PATCHES, mlx5[0])) as f:
        assert 'Compile-tested only' in f.read()


def test_base_pins_the_tarball():
    b = base()
    assert b['version'] == '65.0'
    assert b['tarball'] == 'rdma-core_65.0.orig.tar.gz'
    assert re.fullmatch(r'[0-9a-f]{64}', b['sha256'])
    res = subprocess.run([BUILD_SCRIPT, '--fetch-only'], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    path = parse_env(res.stdout)['RDMA_CORE_TARBALL']
    with open(path, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == b['sha256']


def test_series_is_what_format_patch_makes(repo_copy, tmp_path):
    """Every patch is git format-patch's own (index lines, diffstat, hunk headers) on the
    pinned v65.0; a hand edit shows, and tools/format-series mends it."""
    shutil.copy2(os.path.join(REPO, 'tools', 'format-series'), repo_copy / 'tools')
    env = dict(os.environ, DMABUF_MP_CACHE=str(tarball_cache(tmp_path)))

    def fmt(*args):
        return subprocess.run([str(repo_copy / 'tools' / 'format-series'), 'rdma-core', *args],
                              capture_output=True, text=True, timeout=600, env=env)

    res = fmt('--check')
    assert res.returncode == 0, res.stdout + res.stderr
    p = next((repo_copy / 'rdma-core-patches').glob('0014-*.patch'))
    text = p.read_text()
    edited = text.replace('errno.ENOENT', 'errno.ENODEV', 1)
    assert edited != text
    p.write_text(edited)  # a new file's content changed: its blob id is now stale
    res = fmt('--check')
    assert res.returncode == 1
    assert res.stdout.strip() == f'format-series: {p.name} differs from what format-patch ' \
        f'makes ({p.name})', res.stdout
    res = fmt()
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'errno.ENODEV' in p.read_text()
    assert fmt('--check').returncode == 0


# --- the build script's refusals --------------------------------------------------------------

def run_copy(repo, cache, *args, **env):
    return subprocess.run([str(repo / 'tools' / 'rdma-core' / 'build'), '--quiet', *args],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, DMABUF_MP_CACHE=str(cache), **env))


def one_line(stderr):
    """The one line of reason (from the script or tools/fetch-sid) on stderr."""
    lines = [l for l in stderr.splitlines()
             if l.startswith('rdma-core-build: ') or l.startswith('fetch-sid: ')]
    assert len(lines) == 1, stderr
    return lines[0]


def tarball_cache(tmp_path):
    """A cache whose sid/dl holds (a link to) the real tarball."""
    res = subprocess.run([BUILD_SCRIPT, '--fetch-only'], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    real = parse_env(res.stdout)['RDMA_CORE_TARBALL']
    cache = tmp_path / 'cache'
    os.makedirs(cache / 'sid' / 'dl')
    os.symlink(real, cache / 'sid' / 'dl' / os.path.basename(real))
    return cache


def sid_index_cache(tmp_path):
    """A cache with a copy of the private Debian unstable source index, marked fresh so that
    tools/fetch-sid looks in it without updating it."""
    lists = os.path.join(CACHE, 'sid', 'lists')
    sources = glob.glob(os.path.join(lists, '*_source_Sources*'))
    if not sources:
        pytest.skip(f'no private Debian unstable source index in {lists} to look in')
    cache = tmp_path / 'cache'
    os.makedirs(cache / 'sid' / 'lists' / 'partial')
    for path in sources + glob.glob(os.path.join(lists, '*_InRelease')):
        shutil.copy(path, cache / 'sid' / 'lists')
    (cache / 'sid' / 'lists' / '.updated').touch()
    return cache


def test_sha256_mismatch_is_refused(repo_copy, tmp_path):
    """A tarball whose sha256 is not the pinned one is refused, cached or downloaded again
    (this downloads the 2 MB tarball from Debian unstable)."""
    cache = sid_index_cache(tmp_path)
    os.makedirs(cache / 'sid' / 'dl')
    real = parse_env(subprocess.run([BUILD_SCRIPT, '--fetch-only'], capture_output=True,
                                    text=True, check=True).stdout)['RDMA_CORE_TARBALL']
    os.symlink(real, cache / 'sid' / 'dl' / os.path.basename(real))
    base_file = repo_copy / 'rdma-core-patches' / 'BASE'
    base_file.write_text(re.sub(r'sha256=\w+', 'sha256=' + '0' * 64, base_file.read_text()))
    res = run_copy(repo_copy, cache, '--fetch-only')
    assert res.returncode == 1
    line = one_line(res.stderr)
    assert 'differs from the pinned ' + '0' * 64 in line, line
    assert not glob.glob(str(cache / 'sid' / 'dl' / '*.tar.*')), 'the refused file stayed'


def test_missing_source_package_is_refused(repo_copy, tmp_path):
    cache = sid_index_cache(tmp_path)
    base_file = repo_copy / 'rdma-core-patches' / 'BASE'
    text = base_file.read_text().replace('version=65.0\n', 'version=6.5\n') \
        .replace('debian_version=65.0-1.1', 'debian_version=6.5-1') \
        .replace('rdma-core_65.0.orig', 'rdma-core_6.5.orig')
    base_file.write_text(text)
    res = run_copy(repo_copy, cache, '--fetch-only')
    assert res.returncode == 1
    assert 'rdma-core 6.5-1: no rdma-core_6.5.orig.tar.* came down from Debian unstable' in \
        one_line(res.stderr)


def test_patch_that_does_not_apply_is_refused(repo_copy, tmp_path):
    cache = tarball_cache(tmp_path)
    patches = repo_copy / 'rdma-core-patches'
    (patches / '0001-bad.patch').write_text(
        'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n'
        'From: x <x@example.org>\nSubject: [PATCH] bad\n\n---\n'
        '--- a/no-such-file\n+++ b/no-such-file\n@@ -1 +1 @@\n-a\n+b\n')
    (patches / 'series').write_text('0001-bad.patch\n')
    res = run_copy(repo_copy, cache, '--variant', 'patched', DMP_HEAVY_LOCK_HELD='1')
    assert res.returncode == 1
    assert 'patch 0001-bad.patch does not apply to rdma-core 65.0' in one_line(res.stderr)


def test_missing_patch_is_refused(repo_copy, tmp_path):
    (repo_copy / 'rdma-core-patches' / 'series').write_text('0099-missing.patch\n')
    res = run_copy(repo_copy, tmp_path / 'cache', '--fetch-only')
    assert res.returncode == 1
    assert 'patch 0099-missing.patch of rdma-core-patches/series is missing' in \
        one_line(res.stderr)


def test_bad_usage():
    res = subprocess.run([BUILD_SCRIPT, '--variant', 'sideways'], capture_output=True,
                         text=True)
    assert res.returncode == 2
    assert "unknown variant 'sideways'" in res.stderr


# --- the builds -------------------------------------------------------------------------------

def readelf_dyn(path):
    return subprocess.run(['readelf', '--wide', '--dyn-syms', path], capture_output=True,
                          text=True, check=True).stdout


@pytest.mark.parametrize('var,soversion', [('UNPATCHED', '1.18.65.0'),
                                           ('PATCHED', '1.19.65.0')])
def test_build_is_complete(builds, var, soversion):
    b = builds[f'RDMA_CORE_{var}_BUILD']
    assert builds[f'RDMA_CORE_{var}_LD_LIBRARY_PATH'] == f'{b}/lib'
    assert os.path.realpath(f'{b}/lib/libibverbs.so.1').endswith(f'libibverbs.so.{soversion}')
    for prov in ('rxe', 'siw', 'mlx5'):
        assert glob.glob(f"{builds[f'RDMA_CORE_{var}_PROVIDER_DIR']}/lib{prov}-rdmav*.so")
        with open(f"{builds[f'RDMA_CORE_{var}_CONFIG_DIR']}/{prov}.driver") as f:
            assert f.read().strip() == f'driver {b}/lib/lib{prov}'
    assert os.access(builds[f'RDMA_CORE_{var}_RUN_TESTS'], os.X_OK)
    assert os.path.isdir(f"{builds[f'RDMA_CORE_{var}_PYTHONPATH']}/pyverbs")
    assert builds[f'RDMA_CORE_{var}_ID'].startswith(f'65.0-{var.lower()}-')


def test_new_symbols_only_in_the_patched_build(builds):
    new = ('_ibv_query_dma_eps@@IBVERBS_1.19', 'ibv_dma_ep_kind_str@@IBVERBS_1.19')
    patched = readelf_dyn(f"{builds['RDMA_CORE_PATCHED_BUILD']}/lib/libibverbs.so.1")
    unpatched = readelf_dyn(f"{builds['RDMA_CORE_UNPATCHED_BUILD']}/lib/libibverbs.so.1")
    for sym in new:
        assert sym in patched
        assert sym.split('@')[0] not in unpatched


@pytest.mark.parametrize('prov', ['rxe', 'siw'])
def test_providers_gain_their_dmabuf_ops(builds, prov):
    """rxe and siw call ibv_cmd_reg_dmabuf_mr and ibv_cmd_reg_mr_ex only when patched."""
    def imports(var):
        lib = glob.glob(f"{builds[f'RDMA_CORE_{var}_BUILD']}/lib/lib{prov}-rdmav*.so")[0]
        return readelf_dyn(lib)
    for sym in ('ibv_cmd_reg_dmabuf_mr', 'ibv_cmd_reg_mr_ex'):
        assert sym in imports('PATCHED')
        assert sym not in imports('UNPATCHED')


def test_abi_layout(probe):
    """The layout libibverbs-ext binds at run time (documented in rdma-core-patches/README.md)."""
    out = subprocess.run([probe, 'layout'], capture_output=True, text=True, check=True).stdout
    got = dict(line.split('=', 1) for line in out.splitlines())
    assert got == {
        'ibv_mr_init_attr.dma_ep': '72', 'ibv_mr_init_attr.dma_ep_used': '80',
        'sizeof.ibv_mr_init_attr': '88', 'sizeof.ibv_dma_ep': '336',
        'ibv_dma_ep.dev_name': '16', 'ibv_dma_ep.dev_path': '80',
        'IBV_REG_MR_MASK_DMA_EP': '64', 'IBV_DMA_EP_MAPPABLE': '1',
        'IBV_DMA_EP_KIND_VIRTUAL': '5', 'kind_str.2': 'data_direct', 'kind_str.99': 'unknown'}


# --- ibv_query_dma_eps() on a fake device ----------------------------------------------------

def query(probe, sysfs, *args):
    res = run_with_fake_device(sysfs, [probe, 'query', 'rxe0', *map(str, args)])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    rc = int(lines[0].split('=')[1])
    eps = [dict(kv.split('=', 1) for kv in line.split()[1:]) for line in lines[1:]]
    return rc, eps


def lab_like(fs):
    """rxe on a bond of two NICs on two nodes, a peer PF listed only, a virtual endpoint."""
    nic1 = fs.pci_device('pci0000:40/0000:40:00.0/0000:41:00.0', 1)
    nic0 = fs.pci_device('pci0000:20/0000:20:00.0/0000:21:00.0', 0)
    fs.endpoint(0, 'netdev', '1', '1', nic1)
    fs.endpoint(1, 'netdev', '0', '1', nic0)
    fs.endpoint(2, 'peer_pf', '0', '0', nic0)
    fs.endpoint(3, 'virtual', '-1', '1')
    return nic0, nic1


def test_query_dma_eps(probe, fake_sysfs):
    nic0, nic1 = lab_like(fake_sysfs)
    rc, eps = query(probe, fake_sysfs, 8)
    assert rc == 4
    assert eps == [
        {'index': '0', 'kind': 'netdev', 'flags': '1', 'numa': '1', 'name': '0000:41:00.0',
         'path': nic1},
        {'index': '1', 'kind': 'netdev', 'flags': '1', 'numa': '0', 'name': '0000:21:00.0',
         'path': nic0},
        {'index': '2', 'kind': 'peer_pf', 'flags': '0', 'numa': '0', 'name': '0000:21:00.0',
         'path': nic0},
        {'index': '3', 'kind': 'virtual', 'flags': '1', 'numa': '-1', 'name': '', 'path': ''}]


def test_query_dma_eps_count_and_short_array(probe, fake_sysfs):
    lab_like(fake_sysfs)
    assert query(probe, fake_sysfs, 0, 0, 'null') == (4, [])
    rc, eps = query(probe, fake_sysfs, 2)
    assert rc == 4 and [e['index'] for e in eps] == ['0', '1']


def test_query_dma_eps_unknown_kind_is_not_an_error(probe, fake_sysfs):
    fake_sysfs.endpoint(0, 'a_kind_from_the_future', '-1', '1')
    assert query(probe, fake_sysfs, 1)[1][0]['kind'] == 'unknown'


def broken(fs, how):
    dev = fs.pci_device('pci0000:00/0000:00:03.0', 0)
    if how == 'no dma_endpoints dir':
        return
    if how == 'empty dma_endpoints dir':
        fs.no_endpoints_dir()
    elif how == 'gap':
        fs.endpoint(0, device=dev)
        fs.endpoint(2, device=dev)
    elif how == 'no mappable':
        fs.endpoint(0, mappable=None, device=dev)
    elif how == 'no kind':
        fs.endpoint(0, kind=None, device=dev)
    elif how == 'bad numa_node':
        fs.endpoint(0, numa_node='one', device=dev)
    elif how == 'numa_node -2':
        fs.endpoint(0, numa_node='-2', device=dev)
    elif how == 'mappable 2':
        fs.endpoint(0, mappable='2', device=dev)
    elif how == 'kind too long':
        fs.endpoint(0, kind='k' * 200, device=dev)
    elif how == 'dangling device link':
        fs.endpoint(0, device=os.path.join(fs.root, 'devices', 'gone'))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize('how,err', [
    ('no dma_endpoints dir', errno.EOPNOTSUPP),
    ('empty dma_endpoints dir', errno.EIO),
    ('gap', errno.EIO),
    ('no mappable', errno.EIO),
    ('no kind', errno.EIO),
    ('bad numa_node', errno.EIO),
    ('numa_node -2', errno.EIO),
    ('mappable 2', errno.EIO),
    ('kind too long', errno.EIO),
    ('dangling device link', errno.ENODEV),
])
def test_query_dma_eps_refuses_bad_listings(probe, fake_sysfs, how, err):
    broken(fake_sysfs, how)
    assert query(probe, fake_sysfs, 4) == (-err, [])


@pytest.mark.parametrize('args,err', [
    ((4, 1), errno.EOPNOTSUPP),          # unknown flags
    ((4, 0, 'null'), errno.EINVAL),      # room for 4 but no array
    ((4, 0, 'short'), errno.EINVAL),     # entry smaller than struct ibv_dma_ep
])
def test_query_dma_eps_bad_arguments(probe, fake_sysfs, args, err):
    lab_like(fake_sysfs)
    assert query(probe, fake_sysfs, *args) == (-err, [])


def test_pyverbs_query_dma_eps_unopened(builds, fake_sysfs):
    """pyverbs.device.query_dma_eps() of the patched build on the fake device."""
    nic0, nic1 = lab_like(fake_sysfs)
    code = ('import pyverbs.device as d\n'
            'for ep in d.query_dma_eps("rxe0"):\n'
            '    print(ep.index, ep.kind, ep.mappable, ep.numa_node, ep.dev_name or "-")\n')
    res = run_with_fake_device(fake_sysfs, ['env', f"PYTHONPATH={builds['RDMA_CORE_PATCHED_PYTHONPATH']}",
                                            '/usr/bin/python3', '-c', code])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ['0 4 True 1 0000:41:00.0', '1 4 True 0 0000:21:00.0',
                                       '2 3 False 0 0000:21:00.0', '3 5 True -1 -']


# --- pyverbs' udmabuf allocator and rdma-core's own tests on the host -------------------------

def test_udmabuf_allocator_refusals_on_host(builds, tmp_path):
    """rdma-core's test_udmabuf.py with the patched build: the refusals run anywhere, the
    allocations skip with the reason where /dev/udmabuf is missing (this host) and pass where
    it exists; the suite script counts the same as unittest."""
    run_tests = builds['RDMA_CORE_PATCHED_RUN_TESTS']
    res = subprocess.run([run_tests, '-v', '-k', 'UdmaBuf'], capture_output=True, text=True,
                         timeout=300)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log
    suite = load_suite()
    counts, results, entries = suite.parse(log)
    suite.check(counts, results, entries, res.returncode)
    status = {t.rsplit('.', 1)[1]: s for t, s, _, _ in results}
    reasons = {t.rsplit('.', 1)[1]: r for t, _, r, _ in results}
    assert status['test_udmabuf_bad_size'] == 'ok'
    assert status['test_udmabuf_bad_args'] == 'ok'
    want = 'ok' if os.path.exists('/dev/udmabuf') else 'skipped'
    for name in ('test_udmabuf_alloc', 'test_udmabuf_numa_node', 'test_udmabuf_offline_node'):
        assert status[name] == want, log
        if want == 'skipped':
            assert reasons[name] == '/dev/udmabuf is not present (kernel without CONFIG_UDMABUF)'
    assert counts == {'ran': 5, 'ok': 5 - (3 if want == 'skipped' else 0),
                      'skipped': 3 if want == 'skipped' else 0, 'failed': 0, 'errors': 0,
                      'xfail': 0, 'xpass': 0}


def test_unpatched_build_has_no_udmabuf_exporter(builds):
    res = subprocess.run([builds['RDMA_CORE_UNPATCHED_RUN_TESTS'], '--list-tests'],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert 'DmaBufMRTest' in res.stdout and 'UdmaBuf' not in res.stdout
