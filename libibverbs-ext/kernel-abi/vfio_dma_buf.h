/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vfio-pci's dma-buf export of device regions (include/uapi/linux/vfio.h
 * of Linux 7.2): VFIO_DEVICE_FEATURE_GET of feature 11 with a region index
 * and a list of ranges of it returns a new dma-buf fd. Kept here because
 * the distro's headers (Debian 12: Linux 6.1) predate it; it must stay
 * identical to the kernel's definition. Kernels without it answer the
 * feature with ENOTTY.
 */
#ifndef VEXT_KERNEL_ABI_VFIO_DMA_BUF_H
#define VEXT_KERNEL_ABI_VFIO_DMA_BUF_H

#include <linux/types.h>
#include <linux/vfio.h>

#ifndef VFIO_DEVICE_FEATURE_DMA_BUF

#define VFIO_DEVICE_FEATURE_DMA_BUF 11

struct vfio_region_dma_range {
	__u64 offset;
	__u64 length;
};

struct vfio_device_feature_dma_buf {
	__u32 region_index;
	__u32 open_flags;
	__u32 flags;
	__u32 nr_ranges;
	struct vfio_region_dma_range dma_ranges[];
};

#endif /* VFIO_DEVICE_FEATURE_DMA_BUF */
#endif
