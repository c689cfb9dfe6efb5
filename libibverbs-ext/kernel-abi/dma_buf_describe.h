/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The dma-buf describe uAPI added by this project's kernel series
 * (kernel-patches/, include/uapi/linux/dma-buf.h). Kept here so the library
 * builds against distro headers that predate it; it must stay identical to
 * the kernel's definition. On kernels without it the ioctl fails with
 * ENOTTY and the library infers the answer instead.
 */
#ifndef VEXT_KERNEL_ABI_DMA_BUF_DESCRIBE_H
#define VEXT_KERNEL_ABI_DMA_BUF_DESCRIBE_H

#include <linux/types.h>
#include <linux/dma-buf.h>

#ifndef DMA_BUF_IOCTL_DESCRIBE

/* struct dma_buf_describe.types: memory types present in the buffer */
#define DMA_BUF_MEM_SYSTEM	(1U << 0)	/* system pages */
#define DMA_BUF_MEM_P2P		(1U << 1)	/* PCI BAR of the provider */
#define DMA_BUF_MEM_PRIVATE	(1U << 2)	/* device-private memory */

/* struct dma_buf_describe.attrs */
#define DMA_BUF_DESC_NUMA_MIXED	(1U << 0)	/* pages span NUMA nodes */
#define DMA_BUF_DESC_MMIO_WC	(1U << 1)	/* P2P memory is write-combined */
#define DMA_BUF_DESC_MMIO_UC	(1U << 2)	/* P2P memory is uncached */

struct dma_buf_describe {
	__u32 flags;		/* in: must be 0 */
	__u32 types;		/* out: DMA_BUF_MEM_* */
	__u32 attrs;		/* out: DMA_BUF_DESC_* */
	__s32 numa_node;	/* out: node (majority if mixed), -1 none */
	__u64 size;		/* out: buffer size in bytes */
	__u32 provider_segment;	/* out: P2P provider PCI address */
	__u8 provider_bus;
	__u8 provider_devfn;
	__u16 reserved;		/* must be 0 */
	char exp_name[32];	/* out: exporter name, NUL terminated */
};

#define DMA_BUF_IOCTL_DESCRIBE	_IOWR(DMA_BUF_BASE, 4, struct dma_buf_describe)

#endif /* DMA_BUF_IOCTL_DESCRIBE */
#endif
