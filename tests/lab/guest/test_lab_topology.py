# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The lab guest has the topology labrun promises: NUMA nodes, NICs, rxe devices, ivshmem."""

import os

import pytest

import labguest
from labguest import read


def test_two_numa_nodes_with_distances():
    nodes = sorted(n for n in os.listdir("/sys/devices/system/node") if n.startswith("node"))
    assert nodes == ["node0", "node1"]
    assert read("/sys/devices/system/node/node0/distance").split() == ["10", "20"]
    assert read("/sys/devices/system/node/node1/distance").split() == ["20", "10"]
    assert read("/sys/devices/system/node/node0/cpulist") == "0"
    assert read("/sys/devices/system/node/node1/cpulist") == "1"


def test_nic_pci_location_and_numa_node(nic):
    pci = labguest.pci_function_of_netdev(nic.netdev)
    assert pci == nic.pci_path, f"{nic.netdev}: PCI function {pci}, expected {nic.pci_path}"
    assert os.path.basename(pci) == nic.pci
    # The netdev's device is the virtio device; its parent is the PCI function.
    assert os.path.realpath(f"/sys/class/net/{nic.netdev}/device/..") == pci
    assert int(read(f"{pci}/numa_node")) == nic.numa_node
    assert read(f"{pci}/vendor") == "0x1af4"  # virtio
    assert read(f"/sys/class/net/{nic.netdev}/operstate") in ("up", "unknown")


def test_rxe_device_on_its_nic(nic):
    base = f"/sys/class/infiniband/{nic.rxe}"
    assert os.path.isdir(base), f"{nic.rxe} missing: {os.listdir('/sys/class/infiniband')}"
    assert read(f"{base}/parent") == nic.netdev
    assert read(f"{base}/ports/1/state") == "4: ACTIVE"
    assert read(f"{base}/node_type").startswith("1:")  # CA
    # Through its netdev, the rxe device sits on the NIC's PCI function and NUMA node.
    pci = labguest.pci_function_of_netdev(read(f"{base}/parent"))
    assert pci == nic.pci_path
    assert int(read(f"{pci}/numa_node")) == nic.numa_node


def test_rxe_has_ipv4_roce_v2_gid(nic):
    idx = nic.rxe_ipv4_gid_index
    g = {x.index: x for x in labguest.gids(nic.rxe)}[idx]
    assert g.ipv4 == nic.ip and g.type == "RoCE v2" and g.ndev == nic.netdev
    assert os.environ.get(f"LAB_GID{nic.index}") == str(idx)  # what labrun exports


def test_only_the_two_lab_rdma_devices():
    assert sorted(os.listdir("/sys/class/infiniband")) == ["rxe0", "rxe1"]


def test_ivshmem_on_node1_with_64mib_bar2(lab, ivshmem):
    assert ivshmem == lab.ivshmem_pci_path
    assert read(f"{ivshmem}/vendor") == "0x1af4" and read(f"{ivshmem}/device") == "0x1110"
    assert int(read(f"{ivshmem}/numa_node")) == lab.ivshmem_node
    assert labguest.bar_size(ivshmem, lab.ivshmem_bar) == lab.ivshmem_size
    _, _, flags = labguest.pci_resources(ivshmem)[lab.ivshmem_bar]
    assert flags & 0x200, "BAR 2 is not memory"          # IORESOURCE_MEM
    assert flags & 0x2000, "BAR 2 is not prefetchable"   # IORESOURCE_PREFETCH
    assert flags & 0x100000, "BAR 2 is not 64-bit"       # IORESOURCE_MEM_64
    assert os.path.getsize(f"{ivshmem}/resource{lab.ivshmem_bar}") == lab.ivshmem_size


def test_spare_nic_pci_location_and_numa_node(spare_nic):
    """NIC2 and NIC3: up, no address, no rxe device, on their PCI function and node."""
    pci = labguest.pci_function_of_netdev(spare_nic.netdev)
    assert pci == spare_nic.pci_path, f"{spare_nic.netdev}: {pci}, expected {spare_nic.pci_path}"
    assert int(read(f"{pci}/numa_node")) == spare_nic.numa_node
    assert read(f"/sys/class/net/{spare_nic.netdev}/operstate") in ("up", "unknown")
    assert read(f"{pci}/vendor") == "0x1af4"


def test_ivshmem_and_nic2_share_a_pcie_switch(lab):
    """ivshmem and NIC2 sit on the two downstream ports (QEMU's xio3130-downstream, TI
    104c:8233) of one switch whose upstream port (x3130-upstream, 104c:8232) is on node 1's
    second root port."""
    if not lab.spare_nics:
        pytest.skip("this labrun exports no NIC2/NIC3 (older topology)")
    nic2 = next(n for n in lab.spare_nics if n.index == 2)
    ivshmem_port = os.path.dirname(lab.ivshmem_pci_path)
    nic2_port = os.path.dirname(nic2.pci_path)
    upstream = os.path.dirname(ivshmem_port)
    assert os.path.dirname(nic2_port) == upstream
    assert os.path.basename(upstream) == "0000:42:00.0"
    assert (read(f"{upstream}/vendor"), read(f"{upstream}/device")) == ("0x104c", "0x8232")
    for port in (ivshmem_port, nic2_port):
        assert (read(f"{port}/vendor"), read(f"{port}/device")) == ("0x104c", "0x8233")
    assert int(read(f"{upstream}/numa_node")) == 1
