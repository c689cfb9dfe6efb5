# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf_xfer's buffer specs on the host, without RDMA: the tool makes its buffers before it
opens the device, so a spec it cannot parse is a usage error (2) and a buffer the library cannot
make is one line with the library's reason (1), whatever the device. vfio buffers run on the
lab-vm tree, where ivshmem is bound to no driver. Transfers and the data checks need rxe:
tests/lab/guest/ (the checks themselves: tests/unit/test_xfer_buf.c)."""
import os
import subprocess

import pytest


@pytest.fixture(scope="module")
def xfer(build_dir):
    path = os.path.join(build_dir, "tools/xfer/ibv_dmabuf_xfer")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (cmake -S . -B build && cmake --build build)")
    return path


def run(xfer, *args, root=None):
    env = dict(os.environ)
    if root:
        env["IBV_EXT_SYSFS_ROOT"] = root
    return subprocess.run([xfer, "--device", "rxe9", *args], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL, env=env)


def one_line(r, rc):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == rc and len(lines) == 1 and not r.stdout, r
    assert lines[0].startswith("ibv_dmabuf_xfer: "), lines
    return lines[0]


@pytest.mark.parametrize("spec", [
    "p2p:0000:44:00.0",  # the series' test exporter is gone: vfio-pci exports BARs now
    "p2p:0000:44:00.0:wc", "vfio", "vfio:", "vfio:0000:44:00.0,bar=6",
    "vfio:0000:44:00.0,bar=-1", "vfio:0000:44:00.0,offset=1Q", "vfio:0000:44:00.0,size=1M",
    "vfio:0000:44:00.0:bar=2", "udmabuf:node=x", "host:node=0", "gpu"])
@pytest.mark.parametrize("side", ["src", "dst"])
def test_bad_spec_is_a_usage_error(xfer, side, spec):
    line = one_line(run(xfer, f"--{side}", spec), 2)
    assert f"bad --{side} '{spec}'" in line and "vfio:PCI[,bar=N][,offset=SIZE]" in line, line


@pytest.mark.parametrize("spec,reason", [
    ("vfio:0000:44:00.0", "0000:44:00.0 is bound to no driver, not vfio-pci"),
    ("vfio:44:00.0,bar=2,offset=4M", "0000:44:00.0 is bound to no driver, not vfio-pci"),
    ("vfio:0000:44:00.7", "no PCI function 0000:44:00.7"),
    ("vfio:44:00", "pci_addr '44:00' is not a PCI address"),
    ("vfio:0000:44:00.0,bar=1", "0000:44:00.0 has no BAR 1"),
    ("vfio:0000:44:00.0,bar=0", "1048576 bytes at offset 0 do not fit BAR 0 of 0000:44:00.0 "
                                "(256 bytes)"),
    ("vfio:0000:44:00.0,bar=2,offset=64M", "1048576 bytes at offset 67108864 do not fit BAR 2"),
    ("vfio:0000:44:00.0,offset=100", "offset 100 is not a multiple of the page size"),
])
def test_vfio_buffer_the_library_refuses(xfer, fixtures_dir, spec, reason):
    line = one_line(run(xfer, "--dst", spec, root=os.path.join(fixtures_dir, "lab-vm")), 1)
    assert line.startswith("ibv_dmabuf_xfer: allocating the destination: ") and reason in line, \
        line


def test_vfio_range_follows_the_size_and_offset(xfer, fixtures_dir):
    """The buffer is --dst-offset + --size bytes, page-rounded: 64 MiB of the 64 MiB BAR fit
    (then the driver is the problem), one page more does not."""
    root = os.path.join(fixtures_dir, "lab-vm")
    line = one_line(run(xfer, "--size", "64M", "--dst", "vfio:0000:44:00.0,bar=2",
                        root=root), 1)
    assert "bound to no driver" in line, line
    line = one_line(run(xfer, "--size", "64M", "--dst-offset", "1", "--dst",
                        "vfio:0000:44:00.0,bar=2", root=root), 1)
    assert "67112960 bytes at offset 0 do not fit BAR 2" in line, line


def test_usage_names_vfio_and_not_the_test_exporter(xfer):
    r = subprocess.run([xfer, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "vfio:DDDD:BB:DD.F[,bar=N][,offset=SIZE]" in r.stdout, r
    assert "p2p" not in r.stdout, r.stdout
