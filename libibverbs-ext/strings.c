// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Names: of the public enums (both ways), and of dma-buf exporters whose
 * memory is known. Below everything else: the other files use these, these
 * use nothing of the library.
 */
#include <string.h>

#include "ext_internal.h"

const char *ibv_dmabuf_source_str(enum ibv_dmabuf_source source)
{
	switch (source) {
	case IBV_DMABUF_SOURCE_SYSTEM:
		return "system";
	case IBV_DMABUF_SOURCE_P2P:
		return "p2p";
	case IBV_DMABUF_SOURCE_PRIVATE:
		return "private";
	case IBV_DMABUF_SOURCE_MIXED:
		return "mixed";
	default:
		return "unknown";
	}
}

const char *ibv_dmabuf_origin_str(enum ibv_dmabuf_origin origin)
{
	switch (origin) {
	case IBV_DMABUF_ORIGIN_KERNEL:
		return "kernel";
	case IBV_DMABUF_ORIGIN_INFERRED:
		return "inferred";
	case IBV_DMABUF_ORIGIN_DESCRIBED:
		return "described";
	default:
		return "none";
	}
}

const char *ibv_dma_endpoint_kind_str(enum ibv_dma_endpoint_kind kind)
{
	switch (kind) {
	case IBV_DMA_EP_PF:
		return "pf";
	case IBV_DMA_EP_DATA_DIRECT:
		return "data_direct";
	case IBV_DMA_EP_PEER_PF:
		return "peer_pf";
	case IBV_DMA_EP_NETDEV:
		return "netdev";
	case IBV_DMA_EP_VIRTUAL:
		return "virtual";
	default:
		return "unknown";
	}
}

enum ibv_dma_endpoint_kind vext_kind_of_str(const char *s)
{
	if (!strcmp(s, "pf"))
		return IBV_DMA_EP_PF;
	if (!strcmp(s, "data_direct"))
		return IBV_DMA_EP_DATA_DIRECT;
	if (!strcmp(s, "peer_pf"))
		return IBV_DMA_EP_PEER_PF;
	if (!strcmp(s, "netdev"))
		return IBV_DMA_EP_NETDEV;
	if (!strcmp(s, "virtual"))
		return IBV_DMA_EP_VIRTUAL;
	return 0;
}

const char *ibv_dma_path_class_str(enum ibv_dma_path_class cls)
{
	static const char *const names[] = {
		[IBV_DMA_PATH_CLASS_LOC] = "LOC",
		[IBV_DMA_PATH_CLASS_PIX] = "PIX",
		[IBV_DMA_PATH_CLASS_PXB] = "PXB",
		[IBV_DMA_PATH_CLASS_PHB] = "PHB",
		[IBV_DMA_PATH_CLASS_NODE] = "NODE",
		[IBV_DMA_PATH_CLASS_SYS] = "SYS",
		[IBV_DMA_PATH_CLASS_UNKNOWN] = "UNKNOWN",
	};

	if ((unsigned int)cls >= VEXT_ARRAY_SIZE(names))
		return "UNKNOWN";
	return names[cls];
}

/*
 * Exporter names (dma_buf_export_info.exp_name) whose memory is system
 * memory. The system and CMA heaps name their buffers after the heap.
 * Deliberately absent: "drm" (every GEM driver using drm_gem_prime_export
 * reports it, VRAM or not), GPU drivers that can export VRAM or system
 * memory (amdgpu, i915, xe, nouveau, nvidia), and everything unlisted.
 */
static const struct {
	const char *name;
	enum ibv_dmabuf_source source;
} exporters[] = {
	{ "udmabuf", IBV_DMABUF_SOURCE_SYSTEM },
	{ "system", IBV_DMABUF_SOURCE_SYSTEM },
	{ "system-uncached", IBV_DMABUF_SOURCE_SYSTEM },
	{ "reserved", IBV_DMABUF_SOURCE_SYSTEM },	/* CMA heap, DT default */
	{ "linux,cma", IBV_DMABUF_SOURCE_SYSTEM },	/* CMA heap */
	{ "default_cma_region", IBV_DMABUF_SOURCE_SYSTEM }, /* CMA heap */
};

int vext_exporter_source(const char *exp_name)
{
	size_t i;

	for (i = 0; i < VEXT_ARRAY_SIZE(exporters); i++)
		if (!strcmp(exporters[i].name, exp_name))
			return exporters[i].source;
	return IBV_DMABUF_SOURCE_UNKNOWN;
}
