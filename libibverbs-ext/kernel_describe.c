// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The kernel's answer to "what backs this dma-buf": DMA_BUF_IOCTL_DESCRIBE
 * of this project's kernel series (kernel-abi/dma_buf_describe.h), whose
 * ranges are summed up into struct ibv_dmabuf_info. The one place that knows
 * that uAPI; query.c falls back to fdinfo alone when the kernel has no such
 * ioctl.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ext_internal.h"
#include "kernel-abi/dma_buf_describe.h"

#define KERNEL_BIT(mem) (1u << (mem))
#define KNOWN_MEM                                                             \
	(KERNEL_BIT(DMA_BUF_MEM_SYSTEM) | KERNEL_BIT(DMA_BUF_MEM_P2P) |       \
	 KERNEL_BIT(DMA_BUF_MEM_PRIVATE))

/* Ranges asked for on the stack; a buffer with more is asked again. */
#define STACK_RANGES 16

static void sum_nodes(const struct dma_buf_range *r, size_t n,
		      struct ibv_dmabuf_info *info)
{
	uint64_t bytes[VEXT_MAX_NODES] = { 0 }, most = 0;
	size_t i;
	int node, nodes = 0;

	for (i = 0; i < n; i++)
		if (r[i].mem == DMA_BUF_MEM_SYSTEM && r[i].numa_node >= 0 &&
		    r[i].numa_node < VEXT_MAX_NODES)
			bytes[r[i].numa_node] += r[i].length;
	for (node = 0; node < VEXT_MAX_NODES; node++) {
		if (!bytes[node])
			continue;
		nodes++;
		if (bytes[node] > most) {
			most = bytes[node];
			info->numa_node = node;
		}
	}
	if (nodes > 1)
		info->flags |= IBV_DMABUF_INFO_NUMA_MIXED;
}

static void first_provider(const struct dma_buf_range *r, size_t n,
			   struct ibv_dmabuf_info *info)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (r[i].mem != DMA_BUF_MEM_P2P)
			continue;
		if (r[i].flags & DMA_BUF_RANGE_WC)
			info->flags |= IBV_DMABUF_INFO_MMIO_WC;
		if (r[i].flags & DMA_BUF_RANGE_UC)
			info->flags |= IBV_DMABUF_INFO_MMIO_UC;
		if (!info->provider[0])
			snprintf(info->provider, sizeof(info->provider),
				 "%04x:%02x:%02x.%x", r[i].provider_domain,
				 r[i].provider_bus, r[i].provider_devfn >> 3,
				 r[i].provider_devfn & 7);
	}
}

/*
 * @info has what fdinfo said (exporter, size, the exporter table's guess);
 * the kernel's description replaces the guess when the exporter gave one.
 */
void vext_describe_to_info(const struct dma_buf_describe *d,
			   const struct dma_buf_range *r, size_t n,
			   struct ibv_dmabuf_info *info)
{
	uint32_t types = 0;

	info->size = d->size;
	if (!d->mem_types) {
		/*
		 * The exporter has no describe op: what its name tells is all
		 * there is, as on kernels without the ioctl.
		 */
		info->source = vext_exporter_source(info->exporter);
		info->types = info->source ? 1u << info->source : 0;
		info->flags |= IBV_DMABUF_INFO_EXPORTER_UNDESCRIBED;
		info->origin = IBV_DMABUF_ORIGIN_INFERRED;
		return;
	}
	info->origin = IBV_DMABUF_ORIGIN_KERNEL;
	info->numa_node = -1;
	if (d->mem_types & KERNEL_BIT(DMA_BUF_MEM_SYSTEM))
		types |= 1u << IBV_DMABUF_SOURCE_SYSTEM;
	if (d->mem_types & KERNEL_BIT(DMA_BUF_MEM_P2P))
		types |= 1u << IBV_DMABUF_SOURCE_P2P;
	if (d->mem_types & KERNEL_BIT(DMA_BUF_MEM_PRIVATE))
		types |= 1u << IBV_DMABUF_SOURCE_PRIVATE;
	if (d->mem_types & ~KNOWN_MEM)
		/* A kind of memory newer than this library: not guessed. */
		info->source = IBV_DMABUF_SOURCE_UNKNOWN;
	else if (types == 1u << IBV_DMABUF_SOURCE_SYSTEM)
		info->source = IBV_DMABUF_SOURCE_SYSTEM;
	else if (types == 1u << IBV_DMABUF_SOURCE_P2P)
		info->source = IBV_DMABUF_SOURCE_P2P;
	else if (types == 1u << IBV_DMABUF_SOURCE_PRIVATE)
		info->source = IBV_DMABUF_SOURCE_PRIVATE;
	else
		info->source = IBV_DMABUF_SOURCE_MIXED;
	info->types = types;
	sum_nodes(r, n, info);
	first_provider(r, n, info);
}

/* Set once a genuine dma-buf answered ENOTTY to the describe ioctl. */
static atomic_bool no_describe_ioctl;

/* The ioctl with room for @room ranges in @r; the buffer's count in @d. */
static int describe(int fd, struct dma_buf_describe *d,
		    struct dma_buf_range *r, uint32_t room)
{
	memset(d, 0, sizeof(*d));
	d->argsz = sizeof(*d);
	d->nr_ranges = room;
	d->range_size = sizeof(*r);
	d->ranges = (uintptr_t)r;
	return ioctl(fd, DMA_BUF_IOCTL_DESCRIBE, d) ? errno : 0;
}

int vext_kernel_describe(int fd, struct ibv_dmabuf_info *info)
{
	struct dma_buf_range stack[STACK_RANGES], *r = stack, *more;
	uint32_t room = STACK_RANGES;
	struct dma_buf_describe d;
	int err, tries;

	/*
	 * The describe ioctl is a property of the kernel, not of the buffer:
	 * once it is known to be missing, go straight to fdinfo.
	 */
	if (atomic_load_explicit(&no_describe_ioctl, memory_order_relaxed))
		return ENOTTY;
	/* A buffer may have more ranges than fit: ask again with room. */
	for (tries = 0;; tries++) {
		err = describe(fd, &d, r, room);
		if (err || d.nr_ranges <= room || tries == 3)
			break;
		room = d.nr_ranges;
		more = realloc(r == stack ? NULL : r, room * sizeof(*r));
		if (!more) {
			err = ENOMEM;
			break;
		}
		r = more;
	}
	if (!err && d.nr_ranges > room)
		err = EAGAIN; /* the description kept changing under us */
	if (!err)
		vext_describe_to_info(&d, r, d.nr_ranges, info);
	if (r != stack)
		free(r);
	if (err == ENOTTY) {
		atomic_store_explicit(&no_describe_ioctl, true,
				      memory_order_relaxed);
		return ENOTTY;
	}
	if (err)
		return vext_err(err, "dma-buf describe ioctl on fd %d: %s", fd,
				strerror(err));
	return 0;
}
