# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The demo (README's first command) tells a true story (runs INSIDE the lab).

Runs tools/demo/demo-guest, the part of tools/demo/run-demo that runs in the guest, and checks
the facts it shows: the query per kernel, the choice per node, the transfer's data check, and
on the patched kernel the two-endpoint device, the P2P transfer through the endpoint under the
switch and the refusals. It must also leave the guest as it found it (no bond, no rxeb, the
ivshmem function still bound to vfio-pci).
"""
import os

import labguest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DEMO = os.path.join(REPO, "tools/demo/demo-guest")


def test_demo_story(lab):
    r = labguest.run([DEMO], timeout=600, cwd=REPO)
    out = r.stdout
    print(out)
    assert r.returncode == 0, out
    assert "rxe0 endpoint 0 (netdev %s, node 0)" % lab.nics[0].pci in out
    assert "rxe1 endpoint 0 (netdev %s, node 1)" % lab.nics[1].pci in out
    assert out.count("data verified") >= 2, out
    if not lab.patched:
        assert "origin:   inferred" in out, out
        assert "One RDMA device, two PCI endpoints" not in out
        return
    assert "origin:   kernel" in out and "(majority; pages span nodes)" in out, out
    assert "kernel confirmed endpoint 0" in out, out
    nic2, nic3 = os.environ["LAB_NIC2_PCI"], os.environ["LAB_NIC3_PCI"]
    assert f"rxeb endpoint 0 (netdev {nic3}, node 0): PHB" in out, out
    assert f"rxeb endpoint 1 (netdev {nic2}, node 1): PHB" in out, out
    assert f"source:   p2p (provider {lab.ivshmem_pci})" in out, out
    assert "exporter: vfio_pci_core" in out, out
    assert "PIX (through one PCIe switch)" in out and "kernel confirmed endpoint 1" in out
    assert out.count("data verified") == 4, out
    assert "rxeb endpoint 0 cannot reach the dma-buf's memory" in out, out
    assert "rxe1: no DMA endpoint the kernel may choose can reach" in out, out
    # cleaned up
    assert not os.path.exists("/sys/class/infiniband/rxeb")
    assert not os.path.exists("/sys/class/net/demobond")
    # ivshmem stays with vfio-pci, as guest-init bound it
    driver = os.path.realpath(f"/sys/bus/pci/devices/{lab.ivshmem_pci}/driver")
    assert os.path.basename(driver) == "vfio-pci", driver
