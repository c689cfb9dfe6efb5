# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""vfio BARs: dma-bufs of a PCI BAR range exported by vfio-pci (``ibv_alloc_vfio_dmabuf``)."""

import ctypes
import errno as _errno
import os

from . import _capi
from ._dmabuf import Dmabuf
from ._errors import IbvExtError, _fail
from ._types import _I32, _U32, _U64, _int


class VfioDmabuf(Dmabuf):
    """A dma-buf of a PCI BAR range exported by vfio-pci (:func:`alloc_vfio_dmabuf`), with the
    vfio device file it came from (``device_fd``).

    vfio's dma-bufs cannot be mapped: ``read``/``write``/``fill`` go through the device file
    (pread/pwrite at ``region_offset + bar_offset``), and ``map`` raises. Closing the device
    file revokes the buffer: ``revoke()`` does that alone (the dma-buf fd stays open, its
    importers see it revoked); ``close()`` closes the dma-buf, then the device file if this
    buffer opened it. A buffer made with ``device=`` another one shares that one's device file.
    """

    _what = "vfio dma-buf"

    def __init__(self, fd, size, attr, device=None):
        super().__init__(fd, size, kind="vfio")
        self.pci = attr.pci_addr.decode()
        self.bar = attr.region_index
        self.bar_offset = attr.offset
        self.region_offset = attr.region_offset
        self.region_size = attr.region_size
        self.device_fd = attr.device_fd
        self._device = device  # the owner of a shared device file, kept alive
        self._own_device = device is None

    @property
    def map(self):
        raise OSError(_errno.ENODEV, "vfio dma-bufs cannot be mapped: read() and write() go "
                      "through the vfio device file")

    def _device_file(self):
        """The device file (this buffer's, or the one it shares), while it is open."""
        self._require_open()
        owner = self._device or self
        if owner.device_fd < 0:
            raise IbvExtError(_errno.ENODEV, f"the vfio device file of {self.pci} is closed: "
                              "the buffer is revoked", "pread")
        return owner.device_fd

    def read(self, offset=0, length=None):
        offset, length = self._range(offset, length)
        at = self.region_offset + self.bar_offset + offset
        out = bytearray()
        while len(out) < length:
            chunk = os.pread(self._device_file(), length - len(out), at + len(out))
            if not chunk:
                raise IbvExtError(_errno.EIO, f"pread at {at + len(out)}: end of file",
                                  "pread")
            out += chunk
        return bytes(out)

    def write(self, data, offset=0):
        data = bytes(data)
        offset, _ = self._range(offset, len(data))
        at = self.region_offset + self.bar_offset + offset
        done = 0
        while done < len(data):
            done += os.pwrite(self._device_file(), data[done:], at + done)

    def revoke(self):
        """Close the vfio device file: vfio-pci revokes every dma-buf made from it."""
        self._require_open()
        if not self._own_device:
            raise ValueError(f"the device file is shared from {self._device!r}: revoke that")
        if self.device_fd >= 0:
            os.close(self.device_fd)
            self.device_fd = -1

    def close(self):
        """Close the dma-buf, then the device file if this buffer opened it."""
        if self._closed:
            return
        super().close()
        if self._own_device and self.device_fd >= 0:
            os.close(self.device_fd)
        self.device_fd = -1

    def detach(self):
        """Give up ownership: returns (dma-buf fd, device fd or -1 when shared or revoked),
        which the caller closes (the dma-buf first)."""
        fd = super().detach()
        dev = self.device_fd if self._own_device else -1
        self.device_fd = -1
        return fd, dev

    def __repr__(self):
        return (f"<ibverbs_ext.VfioDmabuf fd {self.fd} {self.size} bytes at {self.bar_offset} of "
                f"BAR {self.bar} of {self.pci}{' closed' if self._closed else ''}>")


def alloc_vfio_dmabuf(pci, size, bar=None, offset=0, open_flags=os.O_RDWR | os.O_CLOEXEC,
                      device=None, comp_mask=None):
    """A dma-buf of *size* bytes at *offset* of BAR *bar* of the PCI function *pci* (bound to
    vfio-pci), exported by vfio-pci (``ibv_alloc_vfio_dmabuf``): a VfioDmabuf.

    *bar*: 0..5, or None for the first memory BAR that holds the range. *device*: a
    VfioDmabuf of the same function whose vfio device file to export from (a vfio group can be
    opened once). *comp_mask*: None derives it from *device*; an int is sent as is (with the
    device file of *device*, or -1).
    """
    if not isinstance(pci, str):
        raise TypeError(f"pci must be a str, not {type(pci).__name__}")
    if device is not None and not isinstance(device, VfioDmabuf):
        raise TypeError("device must be a VfioDmabuf")
    attr = _capi.ibv_vfio_dmabuf_attr(
        bar=_int(_capi.IBV_VFIO_BAR_ANY if bar is None else bar, _I32, "bar"),
        pci_addr=pci.encode(), offset=_int(offset, _U64, "offset"),
        size=_int(size, _U64, "size"), open_flags=_int(open_flags, _U32, "open_flags"),
        device_fd=device._device_file() if device is not None else -1)
    if comp_mask is None:
        comp_mask = _capi.IBV_VFIO_DMABUF_DEVICE_FD if device is not None else 0
    attr.comp_mask = _int(comp_mask, _U32, "comp_mask")
    fd = _capi.ibv_alloc_vfio_dmabuf(ctypes.byref(attr))
    if fd < 0:
        raise _fail(ctypes.get_errno() or _errno.EIO, "ibv_alloc_vfio_dmabuf")
    return VfioDmabuf(fd, size, attr, device)
