# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""dma-buf exporters the lab provides (udmabuf, the system dma-heap) are there and work."""

import os
import stat

import labguest


def test_udmabuf_device_exists():
    assert stat.S_ISCHR(os.stat("/dev/udmabuf").st_mode)


def test_system_heap_exists():
    assert stat.S_ISCHR(os.stat("/dev/dma_heap/system").st_mode)


def test_udmabuf_from_sealed_memfd():
    size = 1 << 20
    fd, memfd = labguest.udmabuf(size)
    with labguest.closing_fds(fd, memfd):
        info = labguest.fdinfo(fd)
        assert info["exp_name"] == "udmabuf"
        assert int(info["size"]) == size


def test_system_heap_alloc():
    size = 1 << 20
    fd = labguest.heap_alloc(size)
    with labguest.closing_fds(fd):
        info = labguest.fdinfo(fd)
        assert info["exp_name"] == "system"
        assert int(info["size"]) == size
