/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * DMA_BUF_IOCTL_DESCRIBE of this project's kernel series (kernel-patches/,
 * include/uapi/linux/dma-buf.h). Kept here so the library builds against
 * distro headers that predate it; it must stay identical to the kernel's
 * definition (tests/unit checks the sizes, the lab the ioctl). On kernels
 * without it the ioctl fails with ENOTTY and the library infers the answer
 * from fdinfo instead.
 */
#ifndef VEXT_KERNEL_ABI_DMA_BUF_DESCRIBE_H
#define VEXT_KERNEL_ABI_DMA_BUF_DESCRIBE_H

#include <linux/types.h>
#include <linux/dma-buf.h>

#ifndef DMA_BUF_IOCTL_DESCRIBE

/* struct dma_buf_range.mem; struct dma_buf_describe.mem_types has 1 << mem */
#define DMA_BUF_MEM_UNKNOWN	0
#define DMA_BUF_MEM_SYSTEM	1	/* system memory */
#define DMA_BUF_MEM_P2P		2	/* PCI BAR memory of the provider */
#define DMA_BUF_MEM_PRIVATE	3	/* memory only its device reaches */

/* struct dma_buf_range.flags: how the CPU sees the range, where known */
#define DMA_BUF_RANGE_CACHED	(1U << 0)
#define DMA_BUF_RANGE_WC	(1U << 1)
#define DMA_BUF_RANGE_UC	(1U << 2)

struct dma_buf_range {
	__u64 offset;
	__u64 length;
	__u32 mem;
	__u32 flags;
	__s32 numa_node;
	__u32 provider_domain;
	__u8 provider_bus;
	__u8 provider_devfn;
	__u16 reserved0;
	__u32 reserved1;
};

struct dma_buf_describe {
	__u32 argsz;		/* in: sizeof(struct dma_buf_describe) */
	__u32 flags;		/* in: 0 */
	__u64 size;		/* out */
	__u32 mem_types;	/* out: 1 << DMA_BUF_MEM_*; 0 = undescribed */
	__u32 nr_ranges;	/* in: room; out: the buffer's ranges */
	__u32 range_size;	/* in: sizeof(struct dma_buf_range) */
	__u32 reserved;		/* 0 */
	__aligned_u64 ranges;	/* in: user pointer */
};

/* The size grows with argsz, not with the ioctl number. */
#define DMA_BUF_IOCTL_DESCRIBE	_IO(DMA_BUF_BASE, 4)

#endif /* DMA_BUF_IOCTL_DESCRIBE */
#endif
