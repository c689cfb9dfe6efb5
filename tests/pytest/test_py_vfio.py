# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibverbs_ext.alloc_vfio_dmabuf (ibv_alloc_vfio_dmabuf) on the host: every bad input it can be
given without vfio raises IbvExtError with the documented errno and the library's one-line
reason, leaves no fd behind, and values that do not fit the C fields are refused before the
call. On the lab-vm tree ivshmem (0000:44:00.0, BAR 0 256 bytes, BAR 2 64 MiB) is bound to no
driver. Real vfio buffers: tests/lab/guest/test_dmabuf_vfio.py."""

import ctypes
import errno
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
    from ibverbs_ext import _capi
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library first): {e}",
                allow_module_level=True)

LAB_VM = os.path.join(BUILD, "fixtures", "lab-vm")
MiB = 1 << 20
IVSHMEM = "0000:44:00.0"


@pytest.fixture(autouse=True)
def lab_vm():
    if not os.path.isdir(LAB_VM):
        pytest.skip(f"{LAB_VM} missing (the build generates the sysfs fixture trees)")
    before = len(os.listdir("/proc/self/fd"))
    with ix.using_sysfs_root(LAB_VM):
        yield LAB_VM
    assert len(os.listdir("/proc/self/fd")) == before, "file descriptors leaked"


@pytest.mark.parametrize("kw,err,frag", [
    (dict(pci=IVSHMEM, size=MiB), errno.ENXIO,
     "0000:44:00.0 is bound to no driver, not vfio-pci"),
    (dict(pci="44:00.0", size=MiB, bar=2, offset=4 * MiB), errno.ENXIO,
     "0000:44:00.0 is bound to no driver"),
    (dict(pci="0000:44:00.7", size=MiB), errno.ENODEV, "no PCI function 0000:44:00.7"),
    (dict(pci="44:00", size=MiB), errno.EINVAL, "pci_addr '44:00' is not a PCI address"),
    (dict(pci="", size=MiB), errno.EINVAL, "pci_addr '' is not a PCI address"),
    (dict(pci=IVSHMEM, size=MiB, bar=6), errno.ERANGE, "BAR 6 out of range"),
    (dict(pci=IVSHMEM, size=MiB, bar=1), errno.ERANGE, "0000:44:00.0 has no BAR 1"),
    (dict(pci=IVSHMEM, size=MiB, bar=0), errno.EOVERFLOW,
     "1048576 bytes at offset 0 do not fit BAR 0 of 0000:44:00.0 (256 bytes)"),
    (dict(pci=IVSHMEM, size=2 * MiB, bar=2, offset=63 * MiB), errno.EOVERFLOW,
     "do not fit BAR 2 of 0000:44:00.0 (67108864 bytes)"),
    (dict(pci=IVSHMEM, size=128 * MiB), errno.EOVERFLOW,
     "no memory BAR of 0000:44:00.0 holds 134217728 bytes"),
    (dict(pci=IVSHMEM, size=0), errno.EINVAL, "size 0 is not a non-zero multiple"),
    (dict(pci=IVSHMEM, size=MiB, offset=512), errno.EINVAL,
     "offset 512 is not a multiple of the page size"),
    (dict(pci=IVSHMEM, size=MiB, offset=(1 << 64) - 4096), errno.EOVERFLOW, "overflows"),
    (dict(pci=IVSHMEM, size=MiB, open_flags=os.O_RDWR | os.O_APPEND), errno.EINVAL,
     "open_flags"),
    (dict(pci=IVSHMEM, size=MiB, comp_mask=4), errno.EOPNOTSUPP,
     "unknown comp_mask bits 0x4"),
    (dict(pci=IVSHMEM, size=MiB, comp_mask=_capi.IBV_VFIO_DMABUF_DEVICE_FD), errno.EBADF,
     "device_fd -1 is not open"),
])
def test_bad_input(kw, err, frag):
    with pytest.raises(ix.IbvExtError) as ei:
        ix.alloc_vfio_dmabuf(**kw)
    e = ei.value
    assert (e.errno, e.func) == (err, "ibv_alloc_vfio_dmabuf"), str(e)
    assert frag in e.reason and "\n" not in e.reason, e.reason


@pytest.mark.parametrize("kw,exc", [
    (dict(pci=IVSHMEM, size=-1), ValueError),
    (dict(pci=IVSHMEM, size=1 << 64), ValueError),
    (dict(pci=IVSHMEM, size=MiB, bar=1 << 31), ValueError),
    (dict(pci=IVSHMEM, size=MiB, offset=-4096), ValueError),
    (dict(pci=IVSHMEM, size=MiB, open_flags=-1), ValueError),
    (dict(pci=0x440000, size=MiB), TypeError),
    (dict(pci=IVSHMEM, size=MiB, device=3), TypeError),
    (dict(pci=IVSHMEM, size=1.5), TypeError),
])
def test_refused_before_the_call(kw, exc):
    with pytest.raises(exc):
        ix.alloc_vfio_dmabuf(**kw)


def test_raw_layer_null_and_device_fd_out():
    """NULL attr and NULL pci_addr through _capi; device_fd is -1 after a failure."""
    assert _capi.ibv_alloc_vfio_dmabuf(None) == -1
    assert ctypes.get_errno() == errno.EINVAL and _capi.last_error() == "attr is NULL"
    attr = _capi.ibv_vfio_dmabuf_attr(bar=-1, size=MiB, device_fd=77)
    assert _capi.ibv_alloc_vfio_dmabuf(ctypes.byref(attr)) == -1
    assert ctypes.get_errno() == errno.EINVAL and _capi.last_error() == "pci_addr is NULL"
    assert attr.device_fd == -1


def test_a_given_device_fd_that_is_not_vfio_stays_open():
    attr = _capi.ibv_vfio_dmabuf_attr(bar=-1, size=MiB, pci_addr=IVSHMEM.encode(),
                                      comp_mask=_capi.IBV_VFIO_DMABUF_DEVICE_FD)
    fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    try:
        attr.device_fd = fd
        assert _capi.ibv_alloc_vfio_dmabuf(ctypes.byref(attr)) == -1
        assert ctypes.get_errno() == errno.EINVAL
        assert "is not a vfio device file (/dev/null)" in _capi.last_error()
        assert attr.device_fd == fd and os.fstat(fd)
    finally:
        os.close(fd)


def test_another_machines_tree_is_never_opened_here(tmp_path):
    """A tree whose function is bound to vfio-pci, in an IOMMU group: not this machine's /sys,
    so the library refuses (EXDEV) rather than open this host's /dev/vfio."""
    fn = tmp_path / "devices/pci0000:00/0000:00:05.0"
    fn.mkdir(parents=True)
    (fn / "resource").write_text("0x00000000f4000000 0x00000000f7ffffff 0x000000000014220c\n" +
                                 "0x0000000000000000 0x0000000000000000 0x0000000000000000\n" * 6)
    (tmp_path / "bus/pci/drivers/vfio-pci").mkdir(parents=True)
    (tmp_path / "kernel/iommu_groups/3").mkdir(parents=True)
    (tmp_path / "kernel/iommu_groups/3/name").write_text("vfio-noiommu\n")
    os.symlink("../../../bus/pci/drivers/vfio-pci", fn / "driver")
    os.symlink("../../../kernel/iommu_groups/3", fn / "iommu_group")
    (tmp_path / "bus/pci/devices").mkdir(parents=True)
    os.symlink("../../../devices/pci0000:00/0000:00:05.0",
               tmp_path / "bus/pci/devices/0000:00:05.0")
    with ix.using_sysfs_root(str(tmp_path)):
        with pytest.raises(ix.IbvExtError) as ei:
            ix.alloc_vfio_dmabuf("0000:00:05.0", MiB, bar=0)
    assert ei.value.errno == errno.EXDEV, ei.value
    assert f"sysfs root {tmp_path} is not this machine's /sys" in ei.value.reason


def test_exported():
    assert "alloc_vfio_dmabuf" in ix.__all__ and "VfioDmabuf" in ix.__all__
    assert issubclass(ix.VfioDmabuf, ix.Dmabuf)
