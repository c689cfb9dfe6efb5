# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The library's vfio allocation, ibv_alloc_vfio_dmabuf (through ibverbs_ext and the tools),
against the lab's ivshmem bound to vfio-pci in no-IOMMU mode (runs INSIDE the lab, as root).

Every kernel: the bad inputs the library answers from the real sysfs (a function bound to
virtio-pci, BARs that do not exist or are too small).
Where guest-init bound ivshmem to vfio-pci (LAB_VFIO_GROUP: patched-7.2; elsewhere these skip
with labguest.vfio_unavailable()'s reason, and on patched-7.2 a missing vfio source fails):
  - a buffer of BAR 2 (chosen, or any memory BAR that holds it), its region in the device
    file, its memory reached through pread/pwrite and shared by a second buffer made from the
    same device file, the group held once (EBUSY both ways with labguest.VfioDevice), nothing
    left open by a failure after vfio was opened;
  - ibv_query_dmabuf: P2P memory of ivshmem, described by the kernel, write-combined;
  - the permission errors: a user who may not open the group (EACCES), root without
    CAP_SYS_RAWIO on a no-IOMMU group (EPERM);
  - revocation: the device file closed, ibv_query_dmabuf fails with ENODEV (for a buffer
    sharing the file too);
  - the tools: ibv_dmabuf info --create vfio:..., and ibv_dmabuf_xfer's vfio: buffer refused by
    rxe1, which cannot reach the BAR.
Registration and traffic through rxeb (the NIC under ivshmem's switch) are the lead's suite.
"""

import errno
import json
import os

import pytest

import labguest

ix = labguest.ibverbs_ext()
REPO = labguest.REPO
BUILD = labguest.BUILD
CLI = os.path.join(BUILD, "tools/ibv_dmabuf/ibv_dmabuf")
XFER = os.path.join(BUILD, "tools/xfer/ibv_dmabuf_xfer")

MiB = labguest.MiB
BAR = 2
VFIO_PCI_INDEX_TO_OFFSET = 40  # vfio-pci's region offsets in the device file: index << 40


def fd_count():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leak():
    before = fd_count()
    yield
    assert fd_count() == before, "file descriptors leaked"


@pytest.fixture
def vfio(lab):
    """The PCI function guest-init bound to vfio-pci, or the test skipped with the reason (a
    failure on patched-7.2, whose lab.config has vfio's no-IOMMU mode)."""
    why = labguest.vfio_unavailable()
    if why:
        if lab.kernel.startswith("patched"):
            pytest.fail(f"the {lab.kernel} lab kernel must have the vfio P2P source: {why}")
        pytest.skip(why)
    return os.environ.get("LAB_VFIO_PCI") or lab.ivshmem_pci


def refused(err, frag, what, **kw):
    """alloc_vfio_dmabuf(**kw) fails with err and frag in its one-line reason; recorded as a
    row of the bad-input matrix."""
    with pytest.raises(ix.IbvExtError) as ei:
        ix.alloc_vfio_dmabuf(**kw)
    e = ei.value
    labguest.record_bad_input("ibv_alloc_vfio_dmabuf", what, errno.errorcode[err],
                              e.errno_name, e.reason)
    assert e.errno == err, str(e)
    assert frag in e.reason and "\n" not in e.reason, e.reason
    return e


# ------------------------------------------------------------------ every kernel: sysfs
def test_function_bound_to_another_driver(lab):
    nic = lab.nics[0]
    driver = os.path.basename(os.readlink(f"/sys/bus/pci/devices/{nic.pci}/driver"))
    refused(errno.ENXIO, f"{nic.pci} is bound to {driver}, not vfio-pci",
            f"NIC0 {nic.pci} (bound to {driver})", pci=nic.pci, size=4096)


@pytest.mark.parametrize("kw,err,frag", [
    (dict(bar=1), errno.ERANGE, "has no BAR 1"),
    (dict(bar=6), errno.ERANGE, "BAR 6 out of range"),
    (dict(bar=0), errno.EOVERFLOW, "do not fit BAR 0"),
    (dict(bar=BAR, size=128 * MiB), errno.EOVERFLOW, "do not fit BAR 2"),
    (dict(bar=BAR, offset=63 * MiB, size=2 * MiB), errno.EOVERFLOW, "do not fit BAR 2"),
    (dict(size=128 * MiB), errno.EOVERFLOW, "no memory BAR of"),
], ids=["bar1-absent", "bar6", "bar0-256-bytes", "128MiB-of-64MiB", "past-the-end",
        "no-bar-holds-128MiB"])
def test_bars_that_cannot_hold_the_range(lab, kw, err, frag):
    args = dict(pci=lab.ivshmem_pci, size=MiB)
    args.update(kw)
    refused(err, frag, f"ivshmem {', '.join(f'{k}={v}' for k, v in kw.items())}", **args)


# ------------------------------------------------------------------ vfio-pci
def test_noiommu_group_is_named_so(vfio):
    """The library tells a no-IOMMU group by its IOMMU group's name, as vfio sets it."""
    group = os.path.basename(os.readlink(f"/sys/bus/pci/devices/{vfio}/iommu_group"))
    assert labguest.read(f"/sys/kernel/iommu_groups/{group}/name", "") == "vfio-noiommu"
    assert os.environ.get("LAB_VFIO_GROUP") == f"/dev/vfio/noiommu-{group}"


def test_bar_buffer_and_its_cpu_view(vfio, lab):
    with ix.alloc_vfio_dmabuf(vfio, 2 * MiB, bar=BAR, offset=4 * MiB) as buf:
        assert (buf.bar, buf.bar_offset, buf.size) == (BAR, 4 * MiB, 2 * MiB), buf
        assert buf.region_offset == BAR << VFIO_PCI_INDEX_TO_OFFSET, hex(buf.region_offset)
        assert buf.region_size == lab.ivshmem_size, buf.region_size
        assert buf.device_fd >= 0 and buf.fileno() >= 0
        assert labguest.fdinfo(buf.fileno())["exp_name"] == "vfio_pci_core"
        data = os.urandom(8192)
        buf.write(data, offset=MiB - 4096)
        assert buf.read(MiB - 4096, len(data)) == data
        with pytest.raises(OSError) as e:
            buf.map
        assert e.value.errno == errno.ENODEV
        # Through the device file at the BAR's own offset: the same bytes.
        at = buf.region_offset + 4 * MiB + MiB - 4096
        assert os.pread(buf.device_fd, len(data), at) == data


def test_any_memory_bar_takes_the_lowest_that_holds_it(vfio, lab):
    """BAR 0 (256 bytes of registers) cannot hold a page; BAR 2 can."""
    with ix.alloc_vfio_dmabuf(vfio, 64 * 1024) as buf:
        assert buf.bar == BAR and buf.bar_offset == 0, buf


def test_query_says_p2p_memory_of_ivshmem(vfio, lab):
    with ix.alloc_vfio_dmabuf(vfio, 2 * MiB, bar=BAR, offset=8 * MiB) as buf:
        info = buf.info()
    assert info.source == ix.Source.P2P and info.types == {ix.Source.P2P}, info
    assert info.provider == vfio, info
    assert info.size == 2 * MiB and info.exporter == "vfio_pci_core", info
    if lab.patched:
        assert info.origin == ix.Origin.KERNEL, info
        # ivshmem's BAR 2 is prefetchable: the CPU maps it write-combined
        assert info.flags & ix.InfoFlags.MMIO_WC, info


def test_second_buffer_shares_the_device_file(vfio, lab):
    """A vfio group opens once: a second allocation that opens it again is EBUSY, and one
    made from the first buffer's device file works and sees the same BAR."""
    with ix.alloc_vfio_dmabuf(vfio, 2 * MiB, bar=BAR, offset=16 * MiB) as a:
        before = fd_count()
        refused(errno.EBUSY, "vfio opens a group once", "the group already held by this "
                "process", pci=vfio, size=MiB, bar=BAR)
        assert fd_count() == before, "a failure after opening vfio left an fd behind"
        with ix.alloc_vfio_dmabuf(vfio, MiB, bar=BAR, offset=17 * MiB, device=a) as b:
            assert b.device_fd == a.device_fd and b.region_offset == a.region_offset
            a.write(b"through a" * 100, offset=MiB)
            assert b.read(0, 900) == b"through a" * 100
            b.write(b"through b", offset=4096)
            assert a.read(MiB + 4096, 9) == b"through b"
            with pytest.raises(ValueError):
                b.revoke()  # the device file is a's
        # a's device file is ivshmem's, not NIC0's (the kernel names it in fdinfo)
        nic0 = lab.nics[0].pci
        refused(errno.EINVAL, f"is not vfio's device of {nic0}", "IBV_VFIO_DMABUF_DEVICE_FD "
                "with ivshmem's device file, for NIC0", pci=nic0, size=4096, device=a)
        # b closed: a's device file stays open and a works
        assert a.read(MiB + 4096, 9) == b"through b"


def test_group_held_by_another_opener(vfio):
    """labguest.VfioDevice holds the group: the library says EBUSY and why; and the other way
    round."""
    with labguest.VfioDevice(vfio):
        refused(errno.EBUSY, "vfio opens a group once", "the group held by another opener",
                pci=vfio, size=MiB, bar=BAR)
    with ix.alloc_vfio_dmabuf(vfio, MiB, bar=BAR):
        with pytest.raises(OSError) as e:
            labguest.VfioDevice(vfio)
        assert e.value.errno == errno.EBUSY


def test_a_device_fd_of_nothing_vfio(vfio):
    with open("/dev/null", "rb") as f:
        attr = ix._capi.ibv_vfio_dmabuf_attr(
            bar=BAR, size=MiB, pci_addr=vfio.encode(), device_fd=f.fileno(),
            comp_mask=ix._capi.IBV_VFIO_DMABUF_DEVICE_FD)
        assert ix._capi.ibv_alloc_vfio_dmabuf(ix.ctypes.byref(attr)) == -1
        assert "is not a vfio device file (/dev/null)" in ix._capi.last_error()


CHILD = """
import sys
sys.path.insert(0, {python!r})
import ibverbs_ext as ix
try:
    ix.alloc_vfio_dmabuf({pci!r}, 1 << 20, bar={bar})
except ix.IbvExtError as e:
    print(e.errno_name, e.reason)
else:
    print("OK")
"""


@pytest.mark.parametrize("who,setpriv,err,frag", [
    ("nobody", ["--reuid=65534", "--regid=65534", "--clear-groups"], "EACCES",
     "Permission denied"),
    ("root without CAP_SYS_RAWIO", ["--bounding-set=-sys_rawio"], "EPERM",
     "a no-IOMMU group needs CAP_SYS_RAWIO"),
])
def test_permission(vfio, who, setpriv, err, frag):
    script = CHILD.format(python=os.path.join(REPO, "python"), pci=vfio, bar=BAR)
    r = labguest.run(["setpriv", *setpriv, "/usr/bin/python3", "-c", script],
                     env={"DMP_BUILD": BUILD}, check=False)
    assert r.returncode == 0, r
    name, _, reason = r.stdout.strip().partition(" ")
    labguest.record_bad_input("ibv_alloc_vfio_dmabuf", f"the no-IOMMU group opened by {who}",
                              err, name, reason)
    assert name == err and frag in reason, r.stdout


def test_closing_the_device_file_revokes(vfio):
    with ix.alloc_vfio_dmabuf(vfio, 2 * MiB, bar=BAR, offset=20 * MiB) as a, \
            ix.alloc_vfio_dmabuf(vfio, MiB, bar=BAR, offset=24 * MiB, device=a) as b:
        assert a.info().source == ix.Source.P2P
        a.revoke()
        for buf in (a, b):
            with pytest.raises(ix.IbvExtError) as e:
                ix.query_dmabuf(buf)
            labguest.record_bad_input("ibv_query_dmabuf", "a vfio buffer whose device file "
                                      "was closed", "ENODEV", e.value.errno_name, e.value.reason)
            assert e.value.errno == errno.ENODEV, e.value
        with pytest.raises(ix.IbvExtError) as e:
            b.read(0, 16)
        assert e.value.errno == errno.ENODEV and "revoked" in e.value.reason


# ------------------------------------------------------------------ the tools
def _tool(path):
    return labguest.built(path)


def test_cli_creates_and_describes_a_bar_buffer(vfio, lab):
    r = labguest.run([_tool(CLI), "--json", "info", "--create",
                      f"vfio:{vfio},bar={BAR},offset=4M,size=1M"])
    info = json.loads(r.stdout)
    assert info["source"] == "p2p" and info["provider"] == vfio, info
    assert info["size"] == MiB and info["exporter"] == "vfio_pci_core", info
    if lab.patched:
        assert info["origin"] == "kernel", info


def test_xfer_vfio_buffers_refused_by_an_rxe_that_cannot_reach_them(vfio, lab):
    """Two buffers of ivshmem's BAR (the second from the first's device file): both made, then
    rxe1, whose NIC sits outside ivshmem's PCIe switch, refuses the registration (never
    served by another path), in one line."""
    r = labguest.run([_tool(XFER), "--device", lab.nics[1].rxe, "--size", "1M",
                      "--src", f"vfio:{vfio},bar={BAR},offset=32M", "--dst", f"vfio:{vfio}"],
                     check=False)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r
    assert lines[0].startswith("ibv_dmabuf_xfer: registering the source: "), lines
