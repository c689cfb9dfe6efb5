# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Fixtures for the in-guest lab suite (runs INSIDE a guest booted by tests/lab/labrun).

Outside the lab (LAB unset) every test here is skipped, with the reason printed (-rs).

The lab topology the fixtures describe (tests/lab/README.md has the measured sysfs paths):

  node 0: pxb-pcie bus 0x20 -> root port 0000:20:00.0 -> NIC0 0000:21:00.0 (virtio-net) -> rxe0
                            -> root port 0000:20:01.0 -> NIC3 0000:22:00.0 (virtio-net)
  node 1: pxb-pcie bus 0x40 -> root port 0000:40:00.0 -> NIC1 0000:41:00.0 (virtio-net) -> rxe1
                            -> root port 0000:40:01.0 -> switch upstream port 0000:42:00.0
                               -> downstream port 0000:43:00.0 -> ivshmem 0000:44:00.0 (BAR 2: 64 MiB)
                               -> downstream port 0000:43:01.0 -> NIC2 0000:45:00.0 (virtio-net)

NIC2 and NIC3 have no address and no rxe device (tests make their own, e.g. a bond of both);
ivshmem and NIC2 share the PCIe switch, the only P2P path PCI P2PDMA allows in the lab.

Fixtures: ``lab`` (the whole topology), ``nic`` / ``rxe`` (parametrized over both NUMA nodes),
``spare_nic`` (NIC2 and NIC3 in turn), ``run`` (labguest.run: a command with a timeout),
``ivshmem``.  New test modules (e.g. the
dma-buf registration tests, tests/lab/guest/test_dmabuf_*.py) use them as they are.
"""

import dataclasses
import os
import types

import pytest

import labguest

NOT_IN_LAB = "not in the VM lab (LAB unset): run through tests/lab/run-suite or tests/lab/labrun"


@dataclasses.dataclass(frozen=True)
class LabNic:
    index: int          # 0 or 1 (2, 3: the spare NICs)
    netdev: str         # e.g. eth1 (probe order varies: found by MAC at boot)
    ip: str             # IPv4 address of this guest on that NIC ("" for NIC2/NIC3)
    pci: str            # expected PCI address of the NIC function
    pci_path: str       # expected /sys/devices path of the PCI function
    numa_node: int      # expected NUMA node
    rxe: str            # rxe device made on it: rxe0 / rxe1 ("" for NIC2/NIC3)

    @property
    def rxe_ipv4_gid_index(self):
        """GID index of the RoCE v2 GID for this NIC's IPv4 address on its rxe device."""
        return labguest.gid_index(self.rxe, ipv4=self.ip)


@dataclasses.dataclass(frozen=True)
class Lab:
    kernel: str         # stock-6.12 | stock-7.2 | patched-7.2 | custom
    kernel_patches: str  # patches of kernel-patches/series in the kernel: "0", "3", "unknown"
    krel: str           # uname -r
    out: str            # the run's out dir (shared with the host)
    role: str           # main | peer
    peer_ip: str        # the peer guest's NIC0 address in two-guest mode, else ""
    nics: tuple         # (LabNic for node 0, LabNic for node 1)
    ivshmem_pci: str
    ivshmem_pci_path: str
    spare_nics: tuple = ()  # (LabNic NIC2 on node 1 beside ivshmem, LabNic NIC3 on node 0)
    ivshmem_node: int = 1
    ivshmem_bar: int = 2
    ivshmem_size: int = 64 * labguest.MiB

    @property
    def patched(self):
        """The kernel carries the project's patches (a patched kernel of an empty series is
        plain 7.2 + lab.config and behaves like stock for dma-buf/RDMA)."""
        return not self.kernel.startswith("stock") and self.kernel_patches != "0"

    @property
    def version(self):
        """The kernel's major.minor ("6.12", "7.2"), from uname -r."""
        return ".".join(self.krel.split(".")[:2])


def _lab_from_env():
    env = os.environ
    nic0_pci = env.get("LAB_NIC0_PCI", "0000:21:00.0")
    nic1_pci = env.get("LAB_NIC1_PCI", "0000:41:00.0")
    nic2_pci = env.get("LAB_NIC2_PCI", "0000:45:00.0")
    nic3_pci = env.get("LAB_NIC3_PCI", "0000:22:00.0")
    ivshmem_pci = env.get("LAB_IVSHMEM_PCI", "0000:44:00.0")
    switch = "/sys/devices/pci0000:40/0000:40:01.0/0000:42:00.0"
    nics = (
        LabNic(0, env["LAB_NIC0"], env["LAB_IP0"], nic0_pci,
               f"/sys/devices/pci0000:20/0000:20:00.0/{nic0_pci}", 0, env.get("LAB_RXE0", "rxe0")),
        LabNic(1, env["LAB_NIC1"], env["LAB_IP1"], nic1_pci,
               f"/sys/devices/pci0000:40/0000:40:00.0/{nic1_pci}", 1, env.get("LAB_RXE1", "rxe1")),
    )
    spare = ()
    if env.get("LAB_NIC2") and env.get("LAB_NIC3"):
        spare = (
            LabNic(2, env["LAB_NIC2"], "", nic2_pci, f"{switch}/0000:43:01.0/{nic2_pci}", 1, ""),
            LabNic(3, env["LAB_NIC3"], "", nic3_pci,
                   f"/sys/devices/pci0000:20/0000:20:01.0/{nic3_pci}", 0, ""),
        )
    return Lab(kernel=env.get("LAB_KERNEL", "?"),
               kernel_patches=env.get("LAB_KERNEL_PATCHES", "unknown"), krel=env.get("LAB_KREL", os.uname().release),
               out=env.get("LAB_OUT", ""), role=env.get("LAB_ROLE", "main"),
               peer_ip=env.get("LAB_PEER_IP", ""), nics=nics, ivshmem_pci=ivshmem_pci,
               ivshmem_pci_path=f"{switch}/0000:43:00.0/{ivshmem_pci}", spare_nics=spare)


def pytest_report_header(config):
    if not labguest.in_lab():
        return [f"lab: {NOT_IN_LAB}"]
    e = os.environ
    return [f"lab: kernel {e.get('LAB_KERNEL')} ({e.get('LAB_KREL')}), "
            f"NIC0 {e.get('LAB_NIC0')} {e.get('LAB_IP0')}, NIC1 {e.get('LAB_NIC1')} "
            f"{e.get('LAB_IP1')}, peer {e.get('LAB_PEER_IP') or '-'}",
            f"libibverbs: {labguest.libibverbs()}"]


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    mine = [i for i in items if str(i.fspath).startswith(here + os.sep)]
    if not labguest.in_lab():
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=NOT_IN_LAB))
        return
    # The suite tests the built library and tools: without the build tree every such module
    # would skip and pytest pass. One error for the whole run instead.
    problem = labguest.build_problem() if mine else None
    if problem:
        pytest.exit(f"lab suite: {problem}; DMP_BUILD in the guest: "
                    f"{os.environ.get('DMP_BUILD') or '(unset)'}", returncode=1)


def pytest_configure(config):
    config.addinivalue_line("markers", "patched_only: needs the project's kernel patches "
                            "(patched lab kernel with a non-empty series)")
    config.addinivalue_line("markers", "stock_only: describes the behaviour of a stock kernel")
    config.addinivalue_line("markers", "peer: needs the two-guest mode (labrun --peer-cmd)")
    config.addinivalue_line("markers", "one_tcg_thread: flips a BAR's memory enable under "
                            "traffic; runs only where one host thread runs the vCPUs")


# What a one_tcg_thread test says where several host threads run the vCPUs; run-suite boots
# again with labrun --one-tcg-thread for the tests that skip with it (tests/lab/README.md).
ONE_TCG_THREAD = ("runs in a boot with one TCG thread (run-suite boots again for it): QEMU "
                  "7.2's multi-threaded TCG crashes or stalls a vCPU when a BAR's memory "
                  "enable flips under it")


def pytest_runtest_setup(item):
    if not labguest.in_lab():
        return
    kernel = os.environ.get("LAB_KERNEL", "?")
    stock = kernel.startswith("stock")
    if item.get_closest_marker("patched_only"):
        if stock:
            pytest.skip(f"needs the patched lab kernel (this guest runs {kernel})")
        if os.environ.get("LAB_KERNEL_PATCHES") == "0":
            pytest.skip("needs the project's kernel patches: kernel-patches/series is empty, "
                        "so the patched lab kernel is plain 7.2 + lab.config")
    if item.get_closest_marker("stock_only") and not stock:
        pytest.skip(f"describes the behaviour of a stock kernel (this guest runs {kernel})")
    if item.get_closest_marker("peer") and not os.environ.get("LAB_PEER_IP"):
        pytest.skip("needs a peer guest (labrun --peer-cmd)")
    if item.get_closest_marker("one_tcg_thread") and os.environ.get("LAB_TCG") != "single":
        pytest.skip(ONE_TCG_THREAD)


@pytest.fixture(scope="session")
def libibverbs():
    """The libibverbs these tests run against (labguest.Libibverbs): the system's (Debian's
    rdma-core 44) or an rdma-core v65 build's (run-suite's second pass, LAB_RDMA_CORE_BUILD)."""
    return labguest.libibverbs()


@pytest.fixture(scope="session")
def lab():
    """The lab topology (a Lab), from the environment labrun's guest-init exports."""
    return _lab_from_env()


@pytest.fixture(params=[0, 1], ids=["node0", "node1"])
def nic(request, lab):
    """Each NIC (and its rxe device) in turn: LabNic for NUMA node 0, then node 1."""
    return lab.nics[request.param]


@pytest.fixture(params=[2, 3], ids=["nic2", "nic3"])
def spare_nic(request, lab):
    """NIC2 (node 1, under the PCIe switch with ivshmem) and NIC3 (node 0) in turn: LabNic
    without address or rxe device."""
    if not lab.spare_nics:
        pytest.skip("this labrun exports no NIC2/NIC3 (older topology)")
    return lab.spare_nics[request.param - 2]


@pytest.fixture
def rxe(nic):
    """Name of the rxe device of each NIC in turn (rxe0, rxe1)."""
    return nic.rxe


@pytest.fixture(scope="session")
def run():
    """labguest.run: run a command with a timeout (default 120 s), raising on failure."""
    return labguest.run


@pytest.fixture(scope="session")
def ivshmem(lab):
    """sysfs path of the ivshmem PCI function (the lab's P2P-capable BAR on node 1)."""
    path = f"/sys/bus/pci/devices/{lab.ivshmem_pci}"
    assert os.path.exists(path), f"ivshmem {lab.ivshmem_pci} missing"
    return os.path.realpath(path)


_port = [18600]


@pytest.fixture
def tcp_port():
    """A fresh TCP port for a client/server pair (perftest, pingpong) in this guest."""
    _port[0] += 1
    return _port[0]


BOND, BOND_IP, RXEB = "labbond", "10.10.2.1", "rxeb"


def _wait(cond, what, timeout=20):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def rxeb(lab):
    """An rxe device on a bond of NIC3 (enslaved first: endpoint 0, node 0) and NIC2 (endpoint
    1, node 1, under the PCIe switch with ivshmem). On the patched kernel the bond's PCI
    functions are its DMA endpoints (the series' test option RDMA_RXE_TEST_LOWER_ENDPOINTS).
    Removed with the bond afterwards, so other tests still find only rxe0 and rxe1."""
    if len(lab.spare_nics) != 2:
        pytest.skip("the lab has no NIC2/NIC3 (labrun before the PCIe-switch topology)")
    nic2, nic3 = lab.spare_nics

    def sh(*cmd):
        labguest.run(list(cmd), timeout=60)

    for nic in (nic3, nic2):
        sh("ip", "link", "set", nic.netdev, "down")
    sh("ip", "link", "add", BOND, "type", "bond", "mode", "active-backup")
    try:
        for nic in (nic3, nic2):
            sh("ip", "link", "set", nic.netdev, "master", BOND)
        sh("ip", "link", "set", BOND, "up")
        sh("ip", "addr", "add", f"{BOND_IP}/24", "dev", BOND)
        sh("rdma", "link", "add", RXEB, "type", "rxe", "netdev", BOND)
        try:
            _wait(lambda: "ACTIVE" in labguest.read(
                f"/sys/class/infiniband/{RXEB}/ports/1/state", ""), f"{RXEB} ACTIVE")
            _wait(lambda: any(g.ipv4 == BOND_IP for g in labguest.gids(RXEB)),
                  f"{RXEB} IPv4 GID")
            yield types.SimpleNamespace(
                rxe=RXEB, rxe_ipv4_gid_index=labguest.gid_index(RXEB, ipv4=BOND_IP),
                nic3=nic3, nic2=nic2, nic3_endpoint=0, nic2_endpoint=1)
        finally:
            labguest.run(["rdma", "link", "del", RXEB], timeout=60, check=False)
    finally:
        labguest.run(["ip", "link", "del", BOND], timeout=60, check=False)
        for nic in (nic3, nic2):
            labguest.run(["ip", "link", "set", nic.netdev, "up"], timeout=60, check=False)
        # leave the NICs as guest-init made them (linkwatch updates operstate late)
        for nic in (nic3, nic2):
            _wait(lambda nic=nic: labguest.read(f"/sys/class/net/{nic.netdev}/operstate",
                                                "") == "up", f"{nic.netdev} up again")
