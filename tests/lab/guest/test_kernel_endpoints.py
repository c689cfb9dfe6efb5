# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The kernel series (v2): DMA endpoints of RDMA devices and the endpoint of a dma-buf
registration on UVERBS_METHOD_REG_MR.

Raw kernel interfaces (kverbs.py), not libibverbs-ext:

- /sys/class/infiniband/<dev>/dma_endpoints/<index>/{kind,numa_node,mappable,device} of rxe0,
  rxe1, of an rxe device on a veth (virtual endpoint) and of one on a bond of NIC3 (node 0)
  and NIC2 (node 1, under the PCIe switch with ivshmem), whose PCI functions are its two
  endpoints through the series' test option;
- REG_MR with an FD naming an endpoint: every accepted registration moves data both ways
  (checked byte for byte) and reports the endpoint it used; refusals: an index out of range
  (ENOENT), an endpoint without an FD or on an fd that is not a dma-buf (EINVAL), an endpoint
  that cannot reach P2P memory (EXDEV);
- stock kernels refuse the attribute (EPROTONOSUPPORT: a mandatory attribute they do not
  know), which is what userspace relies on to fall back.
"""

import contextlib
import errno
import mmap
import os

import pytest

import labguest
from kverbs import (MPOL_BIND, check_transfer, endpoints, heap_buffer, loopback,
                    udmabuf_and_memfd, verbs)

MiB = labguest.MiB
PAGE = mmap.PAGESIZE


@contextlib.contextmanager
def node_udmabuf(node, size=16 * PAGE):
    """A udmabuf bound to *node*: (fd, mmap of its memfd)."""
    fd, memfd = udmabuf_and_memfd(size, MPOL_BIND, [node])
    with labguest.closing_fds(fd, memfd), mmap.mmap(memfd, size) as mem:
        yield fd, mem


def reg_and_transfer(dev, fd, mem, size, endpoint=None, tag=1):
    """Register *fd* on *dev* with REG_MR (naming *endpoint* or not), move data both ways,
    deregister; returns the endpoint the kernel reported."""
    iova = 0x7f0000000000
    with loopback(dev) as rc:
        handle, _, rkey, used = rc.reg(fd, 0, size, iova, endpoint=endpoint)
        try:
            check_transfer(rc, rkey, iova, mem, size, tag)
        finally:
            rc.destroy(handle)
    return used


# ------------------------------------------------------------------ sysfs
@pytest.mark.patched_only
def test_endpoints_of_lab_rxe_devices(lab):
    for nic in lab.nics:
        assert endpoints(nic.rxe) == [("netdev", nic.numa_node, 1, nic.pci)], nic.rxe


@pytest.mark.patched_only
def test_endpoints_of_rxe_on_a_bond(rxeb):
    assert endpoints(rxeb.rxe) == [("netdev", 0, 1, rxeb.nic3.pci),
                                   ("netdev", 1, 1, rxeb.nic2.pci)]


@pytest.mark.patched_only
def test_rxe_on_a_veth_has_a_virtual_endpoint():
    run = labguest.run
    run(["ip", "link", "add", "labveth0", "type", "veth", "peer", "name", "labveth1"])
    try:
        run(["ip", "link", "set", "labveth0", "up"])
        run(["rdma", "link", "add", "rxev", "type", "rxe", "netdev", "labveth0"])
        try:
            assert endpoints("rxev") == [("virtual", -1, 1, None)]
        finally:
            run(["rdma", "link", "del", "rxev"], check=False)
    finally:
        run(["ip", "link", "del", "labveth0"], check=False)


# ------------------------------------------------------------------ REG_MR naming an endpoint
@pytest.mark.patched_only
@pytest.mark.parametrize("node", [0, 1])
@pytest.mark.parametrize("endpoint", [0, 1])
def test_system_memory_through_each_named_endpoint(rxeb, node, endpoint):
    """System memory is reachable through both endpoints; the one named is the one used."""
    with node_udmabuf(node) as (fd, mem):
        assert reg_and_transfer(rxeb, fd, mem, 16 * PAGE, endpoint=endpoint,
                                tag=node * 2 + endpoint) == endpoint


@pytest.mark.patched_only
def test_without_the_attribute_the_default_endpoint_is_used(rxeb):
    with node_udmabuf(1) as (fd, mem):
        assert reg_and_transfer(rxeb, fd, mem, 16 * PAGE) == 0


@pytest.mark.patched_only
def test_p2p_memory_only_through_the_endpoint_that_reaches_it(rxeb, lab):
    why = labguest.vfio_unavailable()
    if why:
        pytest.fail(f"the patched lab kernel must have the vfio P2P source: {why}")
    size, off = 16 * PAGE, 8 * MiB
    with labguest.VfioDevice(os.environ.get("LAB_VFIO_PCI") or lab.ivshmem_pci) as dev:
        fd = dev.dmabuf(2, [(off, size)])
        with labguest.closing_fds(fd):
            # NIC3 (endpoint 0, the default) is not under ivshmem's switch
            with verbs(rxeb.rxe) as v:
                err = v.reg_errno(v.reg_mr_fd, fd, 0, size, 0, endpoint=rxeb.nic3_endpoint)
                labguest.record_bad_input("REG_MR", "DMA_ENDPOINT that cannot reach the "
                                          "buffer's P2P memory", "EXDEV",
                                          errno.errorcode[err])
                assert err == errno.EXDEV
                assert v.reg_errno(v.reg_mr_fd, fd, 0, size, 0) == errno.EXDEV
            assert reg_and_transfer(rxeb, fd, dev.view(2, off), size,
                                    endpoint=rxeb.nic2_endpoint, tag=9) == rxeb.nic2_endpoint


@pytest.mark.patched_only
def test_endpoint_refusals(rxeb, lab):
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd):
        with verbs(rxeb.rxe) as v:
            err = v.reg_errno(v.reg_mr_fd, fd, 0, PAGE, 0, endpoint=2)
            labguest.record_bad_input("REG_MR", "DMA_ENDPOINT past the last endpoint",
                                      "ENOENT", errno.errorcode[err])
            assert err == errno.ENOENT
            assert v.reg_errno(v.reg_mr_fd, fd, 0, PAGE, 0, endpoint=0xffffffff) == \
                errno.ENOENT
            # an endpoint that exists, on an fd that is not a dma-buf: dma_buf_get()'s EINVAL,
            # as REG_DMABUF_MR gives for it, apart from the ENOENT above
            notbuf = os.memfd_create("not-a-dma-buf")
            with labguest.closing_fds(notbuf):
                os.ftruncate(notbuf, PAGE)
                err = v.reg_errno(v.reg_mr_fd, notbuf, 0, PAGE, 0, endpoint=0)
            labguest.record_bad_input("REG_MR", "DMA_ENDPOINT with an fd that is not a dma-buf",
                                      "EINVAL", errno.errorcode[err])
            assert err == errno.EINVAL
        with verbs(lab.nics[0].rxe) as v:
            assert v.reg_errno(v.reg_mr_fd, fd, 0, PAGE, 0, endpoint=1) == errno.ENOENT
            # an endpoint is for dma-bufs only: with ADDR (an ordinary MR) it is refused
            buf = mmap.mmap(-1, PAGE)
            import ctypes
            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
            assert v.reg_errno(v.reg_mr_fd, -1, 0, PAGE, addr, endpoint=0,
                               addr=addr) == errno.EINVAL


@pytest.mark.stock_only
def test_stock_kernel_refuses_the_endpoint_attribute(lab):
    """A kernel without the series does not know the mandatory attribute: EPROTONOSUPPORT,
    before the driver is asked (stock rxe has no dma-buf MRs anyway)."""
    fd = heap_buffer(1 * MiB)
    with labguest.closing_fds(fd), verbs(lab.nics[0].rxe) as v:
        err = v.reg_errno(v.reg_mr_fd, fd, 0, PAGE, 0, endpoint=0)
        labguest.record_bad_input("REG_MR", "DMA_ENDPOINT (mandatory) on a kernel without "
                                  "the series", "EPROTONOSUPPORT", errno.errorcode[err])
        assert err == errno.EPROTONOSUPPORT
