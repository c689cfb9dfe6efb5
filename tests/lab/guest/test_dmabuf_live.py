# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The library on a machine that changes under it, and on hostile or revoked buffers (runs
INSIDE the lab, as root; both kernels unless marked).

- rdma link add / dev set name / link delete between calls of ONE process (the Python module,
  so the library's topology cache is the same throughout): every call answers for the machine
  as it is then; a device named by its ibv_device (an ibv_context opened before the rename)
  is found under its new name, also by a registration. Needs NIC2 (a spare NIC without rxe)
  and iproute2's `rdma`.
- A dma-buf named (DMA_BUF_SET_NAME, any holder of the fd may) with a newline and a fake
  `exp_name:` line: fdinfo shows the forged line after the kernel's, and the library still
  reports the kernel's exporter (the first exp_name wins).
- Kernel errnos through the library, as the kernel gives them (patched kernel): a revoked
  P2P buffer is ENODEV. Rows of the bad-input matrix.
"""

import ctypes
import errno
import os
import subprocess
import time

import pytest

import labguest

REPO = labguest.REPO
ix = labguest.ibverbs_ext()
_capi = ix._capi

MiB = labguest.MiB
# A change is seen by calls 10 ms after the library's last look (VEXT_LISTING_NS).
SETTLE = 0.05


def rdma(*args):
    labguest.run(["rdma", *args], timeout=60)
    time.sleep(SETTLE)


def ep0_pci(name):
    return ix.query_dma_endpoints(name)[0].pci


def ranked(spec="system:node=0"):
    return sorted(c.ibdev for c in ix.rank_dmabuf_devices(spec))


def query_dev(device):
    """_ibv_query_dma_endpoints_dev() for an ibv_device pointer: (ret, endpoints)."""
    fn = _capi.lib._ibv_query_dma_endpoints_dev
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(_capi.ibv_dma_endpoint),
                   ctypes.POINTER(ctypes.c_size_t), ctypes.c_size_t]
    eps = (_capi.ibv_dma_endpoint * 4)()
    n = ctypes.c_size_t(4)
    ret = fn(device, eps, ctypes.byref(n), ctypes.sizeof(_capi.ibv_dma_endpoint))
    return ret, [eps[i] for i in range(n.value)] if not ret else []


def device_pointer(name):
    """The ibv_device of *name* as libibverbs enumerates it now (the list stays allocated:
    the pointer must outlive the renames)."""
    n = ctypes.c_int(0)
    lst = _capi.ibv_get_device_list(ctypes.byref(n))
    for i in range(n.value):
        if _capi.ibv_get_device_name(lst[i]).decode() == name:
            return lst[i]
    raise AssertionError(f"{name} not in ibv_get_device_list()")


@pytest.fixture
def spare(lab):
    if not lab.spare_nics:
        pytest.skip("this labrun exports no NIC2/NIC3 (older topology)")
    nic = lab.spare_nics[0]
    names = ("rxet", "rxeu")
    yield nic, names
    for name in names:
        subprocess.run(["rdma", "link", "delete", name], capture_output=True, timeout=60)


def test_link_add_rename_delete_between_calls(lab, spare):
    nic, (first, renamed) = spare
    before = ranked()
    assert first not in before and renamed not in before, before

    rdma("link", "add", first, "type", "rxe", "netdev", nic.netdev)
    assert ep0_pci(first) == nic.pci
    assert ranked() == sorted(before + [first])
    dev = device_pointer(first)
    ctx = ix.Context(first)
    try:
        rdma("dev", "set", first, "name", renamed)
        assert ep0_pci(renamed) == nic.pci
        with pytest.raises(ix.IbvExtError) as e:
            ix.query_dma_endpoints(first)
        assert e.value.errno == errno.ENODEV and f"no RDMA device {first}" in e.value.reason
        # Enumerated before the rename: found by its uverbs device under the new name.
        ret, eps = query_dev(dev)
        assert ret == 0 and eps[0].ibdev.decode() == renamed, ix.last_error()
        # A registration on a context opened before the rename finds its device too: the
        # kernel's answer (stock rxe: EOPNOTSUPP), never the library's ENODEV.
        with ctx.alloc_pd() as pd, ix.alloc_dmabuf(2 * MiB) as buf:
            try:
                ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE).close()
            except ix.IbvExtError as err:
                assert err.errno != errno.ENODEV, err
                assert not lab.patched and err.errno == errno.EOPNOTSUPP, err
    finally:
        ctx.close()
    rdma("link", "delete", renamed)
    assert ranked() == before
    with pytest.raises(ix.IbvExtError) as e:
        ix.query_dma_endpoints(renamed)
    assert e.value.errno == errno.ENODEV

    # Made again under the first name on another netdev (NIC3; NIC0/1 carry rxe0/rxe1, and
    # rxe takes one device per netdev): the new one is seen.
    other = lab.spare_nics[1]
    rdma("link", "add", first, "type", "rxe", "netdev", other.netdev)
    assert ep0_pci(first) == other.pci


def uverbs_of(name):
    for uv in os.listdir("/sys/class/infiniband_verbs"):
        if labguest.read(f"/sys/class/infiniband_verbs/{uv}/ibdev", "").strip() == name:
            return uv
    return None


@pytest.mark.patched_only
def test_registration_follows_a_device_made_again(lab, spare):
    """A registration uses the library's cached topology without listing sysfs only for a
    context on the device node recorded with it. A device deleted and made again under its
    name on another netdev (usually with its uverbs index too, which the kernel reuses) is
    registered through the new device's endpoint, with no other call of the library between
    the change and the registration."""
    nic, (first, _) = spare
    other = lab.spare_nics[1]

    def reg_endpoint_pci():
        ctx = ix.Context(first)
        try:
            with ctx.alloc_pd() as pd, ix.alloc_dmabuf(2 * MiB) as buf:
                pcis = []
                for _ in range(2):  # the second one finds the topology cached
                    mr = ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE)
                    pcis.append(mr.choice.endpoint.pci)
                    mr.close()
                return pcis
        finally:
            ctx.close()

    rdma("link", "add", first, "type", "rxe", "netdev", nic.netdev)
    uv = uverbs_of(first)
    assert reg_endpoint_pci() == [nic.pci, nic.pci]
    labguest.run(["rdma", "link", "delete", first], timeout=60)
    labguest.run(["rdma", "link", "add", first, "type", "rxe", "netdev", other.netdev],
                 timeout=60)
    print(f"{first}: {uv} before, {uverbs_of(first)} made again")
    assert reg_endpoint_pci() == [other.pci, other.pci]


@pytest.mark.patched_only
def test_registration_names_a_renamed_device_by_its_new_name(lab, spare):
    """The registration's fast path keeps the cached topology for a context on the node it
    recorded; `rdma dev set name` keeps that node. The choice's endpoint names the device as
    it is called now, with no other call of the library between the rename and the
    registration."""
    nic, (first, renamed) = spare
    rdma("link", "add", first, "type", "rxe", "netdev", nic.netdev)
    ctx = ix.Context(first)
    try:
        with ctx.alloc_pd() as pd, ix.alloc_dmabuf(2 * MiB) as buf:
            def choice():
                mr = ix.reg_dmabuf_mr_ex(pd, buf, access=ix.ACCESS_LOCAL_WRITE)
                mr.close()
                return mr.choice

            before = choice()
            assert before.endpoint.ibdev == first, before
            choice()  # the topology is now cached: the next one takes the fast path
            labguest.run(["rdma", "dev", "set", first, "name", renamed], timeout=60)
            after = choice()
            assert after.endpoint.ibdev == renamed and first not in after.reason, after
            assert after.endpoint.pci == nic.pci, after
    finally:
        ctx.close()


HOSTILE = "x\nexp_name:\tamdgpu"


def test_hostile_dmabuf_name_does_not_change_the_exporter(lab):
    fd, memfd = labguest.udmabuf(2 * MiB)
    with labguest.closing_fds(fd, memfd):
        labguest.dmabuf_set_name(fd, HOSTILE)
        text = labguest.read(f"/proc/self/fdinfo/{fd}")
        # The kernel took the newline: its exp_name first, then the forged one.
        lines = [line for line in text.splitlines() if line.startswith("exp_name:")]
        assert lines == ["exp_name:\tudmabuf", "exp_name:\tamdgpu"], text
        info = ix.query_dmabuf(fd)
        assert info.exporter == "udmabuf", info
        assert info.source == ix.Source.SYSTEM, info
        # The CLI, as another process holding the fd.
        cli = os.path.join(labguest.BUILD,
                           "tools/ibv_dmabuf/ibv_dmabuf")
        r = subprocess.run([cli, "--json", "--fd", str(fd), "info"], pass_fds=(fd,),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and '"exporter": "udmabuf"' in r.stdout, r


@pytest.mark.patched_only
def test_revoked_buffer_is_enodev_through_the_library(lab):
    """The kernel's ENODEV for a revoked buffer reaches the caller unchanged, with the
    library's reason: vfio-pci revokes its dma-bufs when its device file is closed."""
    why = labguest.vfio_unavailable()
    if why:
        pytest.fail(f"the patched lab kernel must have the vfio P2P source: {why}")
    with labguest.VfioDevice(os.environ.get("LAB_VFIO_PCI") or lab.ivshmem_pci) as dev:
        fd = dev.dmabuf(2, [(4 * MiB, 16 * 4096)])
    with labguest.closing_fds(fd):
        with ix.Context(lab.nics[1].rxe) as ctx, ctx.alloc_pd() as pd:
            with pytest.raises(ix.IbvExtError) as e:
                ix.reg_dmabuf_mr_ex(pd, fd, length=16 * 4096, access=ix.ACCESS_LOCAL_WRITE)
        labguest.record_bad_input("ibv_reg_dmabuf_mr_ex", "a P2P buffer revoked by its "
                                  "exporter", "ENODEV",
                                  errno.errorcode.get(e.value.errno, "?"), e.value.reason)
        assert e.value.errno == errno.ENODEV, e.value
