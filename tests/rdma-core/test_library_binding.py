# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""libibverbs-ext on top of rdma-core: what it binds at run time, checked against real builds.

The library builds against Debian's rdma-core 44. Run with a libibverbs of rdma-core-patches it
registers through ibv_reg_mr_ex() with IBV_REG_MR_MASK_DMA_EP (providers/common.c), and it makes
its own struct verbs_mr only for the rdma-core versions the lab tested (ibverbs_rt.c).
"""

import os
import subprocess

import pytest

from conftest import REPO

BUILD = os.environ.get('DMP_BUILD', os.path.join(REPO, 'build'))
PROBE = os.path.join(BUILD, 'tests', 'unit', 'test_ibverbs_rt')


def debian_rdma_core():
    """Debian's libibverbs1 version as rdma-core's: '44.0' of '44.0-2'."""
    res = subprocess.run(['dpkg-query', '-W', '-f', '${Version}', 'libibverbs1'],
                         capture_output=True, text=True, check=True)
    return res.stdout.split('-')[0]


@pytest.fixture(scope='module')
def probe():
    if not os.access(PROBE, os.X_OK):
        pytest.fail(f'{PROBE} is not built (cmake --build {BUILD})')
    return PROBE


@pytest.mark.parametrize('which, version, verbs_ep', [
    ('debian', None, 0),
    ('RDMA_CORE_UNPATCHED_BUILD', '65.0', 0),
    ('RDMA_CORE_PATCHED_BUILD', '65.0', 1),
])
def test_library_sees_the_libibverbs_it_runs_with(builds, probe, which, version, verbs_ep):
    env = dict(os.environ, DMP_EXPECT_VERBS_EP=str(verbs_ep))
    env.pop('LD_LIBRARY_PATH', None)
    if which == 'debian':
        env['DMP_EXPECT_RDMA_CORE'] = debian_rdma_core()
        lib_dir = '/usr/lib/'
    else:
        env['DMP_EXPECT_RDMA_CORE'] = version
        lib_dir = os.path.join(builds[which], 'lib') + '/'
        env['LD_LIBRARY_PATH'] = lib_dir
    res = subprocess.run([probe], env=env, capture_output=True, text=True, timeout=60)
    print(res.stdout, res.stderr)
    assert res.returncode == 0, res.stderr
    assert f'libibverbs: {lib_dir}' in res.stdout
    assert 'with DMA endpoints: %s' % ('yes' if verbs_ep else 'no') in res.stdout


def test_library_copy_of_mr_init_attr_is_the_patched_one(builds, tmp_path):
    inc = os.path.join(builds['RDMA_CORE_PATCHED_BUILD'], 'include')
    lib = os.path.join(REPO, 'libibverbs-ext')
    res = subprocess.run(['gcc', '-std=gnu11', '-Wall', '-Werror', f'-I{inc}', f'-I{lib}',
                          f'-I{lib}/include', '-o', str(tmp_path / 'abi'),
                          os.path.join(os.path.dirname(__file__), 'library_abi.c')],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
