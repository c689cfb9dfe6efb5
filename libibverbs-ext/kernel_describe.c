// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The kernel's answer to "what backs this dma-buf": DMA_BUF_IOCTL_DESCRIBE
 * of this project's kernel series (kernel-abi/dma_buf_describe.h) and its
 * translation into struct ibv_dmabuf_info. The one place that knows that
 * uAPI; query.c falls back to fdinfo when the kernel has no such ioctl.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ext_internal.h"
#include "kernel-abi/dma_buf_describe.h"

#define KNOWN_TYPES (DMA_BUF_MEM_SYSTEM | DMA_BUF_MEM_P2P | DMA_BUF_MEM_PRIVATE)

void vext_describe_to_info(const struct dma_buf_describe *d,
			   struct ibv_dmabuf_info *info)
{
	char exp_name[sizeof(d->exp_name) + 1];
	uint32_t types = 0;

	snprintf(exp_name, sizeof(exp_name), "%.*s", (int)sizeof(d->exp_name),
		 d->exp_name);
	if (d->types & DMA_BUF_MEM_SYSTEM)
		types |= 1u << IBV_DMABUF_SOURCE_SYSTEM;
	if (d->types & DMA_BUF_MEM_P2P)
		types |= 1u << IBV_DMABUF_SOURCE_P2P;
	if (d->types & DMA_BUF_MEM_PRIVATE)
		types |= 1u << IBV_DMABUF_SOURCE_PRIVATE;
	info->origin = IBV_DMABUF_ORIGIN_KERNEL;
	if (!d->types) {
		/*
		 * The exporter has no describe op: what its name tells is all
		 * there is, as on kernels without the ioctl.
		 */
		info->source = vext_exporter_source(exp_name);
		if (info->source)
			types = 1u << info->source;
		info->flags |= IBV_DMABUF_INFO_EXPORTER_UNDESCRIBED;
		info->origin = IBV_DMABUF_ORIGIN_INFERRED;
	} else if (d->types & ~KNOWN_TYPES) {
		/* A kind of memory newer than this library: not guessed. */
		info->source = IBV_DMABUF_SOURCE_UNKNOWN;
	} else if (types == 1u << IBV_DMABUF_SOURCE_SYSTEM) {
		info->source = IBV_DMABUF_SOURCE_SYSTEM;
	} else if (types == 1u << IBV_DMABUF_SOURCE_P2P) {
		info->source = IBV_DMABUF_SOURCE_P2P;
	} else if (types == 1u << IBV_DMABUF_SOURCE_PRIVATE) {
		info->source = IBV_DMABUF_SOURCE_PRIVATE;
	} else {
		info->source = IBV_DMABUF_SOURCE_MIXED;
	}
	info->types = types;
	info->numa_node = d->numa_node;
	if (d->attrs & DMA_BUF_DESC_NUMA_MIXED)
		info->flags |= IBV_DMABUF_INFO_NUMA_MIXED;
	if (d->attrs & DMA_BUF_DESC_MMIO_WC)
		info->flags |= IBV_DMABUF_INFO_MMIO_WC;
	if (d->attrs & DMA_BUF_DESC_MMIO_UC)
		info->flags |= IBV_DMABUF_INFO_MMIO_UC;
	if (d->types & DMA_BUF_MEM_P2P)
		snprintf(info->provider, sizeof(info->provider),
			 "%04x:%02x:%02x.%x", d->provider_segment,
			 d->provider_bus, d->provider_devfn >> 3,
			 d->provider_devfn & 7);
	info->size = d->size;
	vext_strscpy(info->exporter, exp_name, sizeof(info->exporter));
}

/* Set once a genuine dma-buf answered ENOTTY to the describe ioctl. */
static atomic_bool no_describe_ioctl;

int vext_kernel_describe(int fd, struct ibv_dmabuf_info *info)
{
	struct dma_buf_describe desc;

	/*
	 * The describe ioctl is a property of the kernel, not of the buffer:
	 * once it is known to be missing, go straight to fdinfo.
	 */
	if (atomic_load_explicit(&no_describe_ioctl, memory_order_relaxed))
		return ENOTTY;
	memset(&desc, 0, sizeof(desc));
	if (!ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, &desc)) {
		vext_describe_to_info(&desc, info);
		return 0;
	}
	if (errno == ENOTTY) {
		atomic_store_explicit(&no_describe_ioctl, true,
				      memory_order_relaxed);
		return ENOTTY;
	}
	return vext_err(errno, "dma-buf describe ioctl on fd %d: %s", fd,
			strerror(errno));
}
