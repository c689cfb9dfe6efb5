// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Every explanation the library writes into an ibv_dma_choice, and the
 * reason of a registration the kernel refused: the words live here, the
 * decisions they describe in policy.c, reg.c and the provider backends.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ext_internal.h"

/* Append to a reason; text beyond its room is cut. */
static void add(char *buf, size_t len, const char *fmt, ...)
	VEXT_PRINTF(3, 4);

static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strnlen(buf, len);
	va_list ap;

	if (off + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

void vext_reason_source(struct vext_src_view *v)
{
	const struct ibv_dmabuf_info *src = v->src;
	const char *origin = src ? ibv_dmabuf_origin_str(src->origin) : "none";
	const char *prov = src && src->provider[0] ? src->provider :
						     "an unknown device";
	size_t len = sizeof(v->words);

	v->words[0] = '\0';
	switch (v->story) {
	case VEXT_STORY_STEERED:
		add(v->words, len, "memory steered to NUMA node %d (hint)",
		    v->node);
		break;
	case VEXT_STORY_PRIVATE:
		add(v->words, len, "device-private memory (%s)", origin);
		break;
	case VEXT_STORY_P2P:
	case VEXT_STORY_MIXED_P2P:
		add(v->words, len, "%sP2P memory of %s (%s)",
		    v->story == VEXT_STORY_MIXED_P2P ? "mixed CPU and " : "",
		    prov, origin);
		break;
	case VEXT_STORY_SYSTEM:
		add(v->words, len, "system memory on node %d%s (%s)", v->node,
		    src->flags & IBV_DMABUF_INFO_NUMA_MIXED ?
			    ", mostly; pages span nodes" : "",
		    origin);
		break;
	case VEXT_STORY_SYSTEM_HINT:
		add(v->words, len,
		    "system memory, node unknown (%s), hint says node %d",
		    origin, v->node);
		break;
	case VEXT_STORY_SYSTEM_NODE_UNKNOWN:
		add(v->words, len, "system memory on an unknown NUMA node (%s)",
		    origin);
		break;
	case VEXT_STORY_UNKNOWN_HINT:
		add(v->words, len, "unknown memory (%s), hint says node %d",
		    origin, v->node);
		break;
	case VEXT_STORY_UNKNOWN:
		add(v->words, len, "unknown memory (%s)", origin);
		break;
	}
}

static const char *class_words(enum ibv_dma_path_class cls, bool cpu)
{
	switch (cls) {
	case IBV_DMA_PATH_CLASS_LOC:
		return "the endpoint is the provider itself";
	case IBV_DMA_PATH_CLASS_PIX:
		return "through one PCIe switch";
	case IBV_DMA_PATH_CLASS_PXB:
		return "through several PCIe switches";
	case IBV_DMA_PATH_CLASS_PHB:
		return cpu ? "same NUMA node" : "through the host bridge";
	case IBV_DMA_PATH_CLASS_NODE:
		return "across host bridges of one NUMA node";
	case IBV_DMA_PATH_CLASS_SYS:
		return cpu ? "other NUMA node" : "across NUMA nodes";
	default:
		return "topology unknown";
	}
}

/* "endpoint 1 (data_direct 0008:04:00.0, node 0)" */
static void describe_ep(char *buf, size_t len, const struct ibv_dma_endpoint *e)
{
	snprintf(buf, len, "endpoint %u (%s%s%s%s%s, node %d)", e->index,
		 ibv_dma_endpoint_kind_str(e->kind), e->pci_addr[0] ? " " : "",
		 e->pci_addr, e->via[0] ? " via " : "", e->via, e->numa_node);
}

/* Why the runner-up lost to the head. */
static const char *runner_words(const struct vext_score *s,
				const struct vext_score *rs,
				const struct ibv_dma_choice *runner)
{
	if (!rs->usable && s->usable)
		return "is not usable on this host";
	if (rs->reach != s->reach)
		return "reaches the provider less surely";
	if (rs->cls != s->cls)
		return ibv_dma_path_class_str(runner->path_class);
	if (rs->dist != s->dist)
		return "is farther";
	if (rs->bw != s->bw)
		return "has a slower link";
	if (rs->is_default != s->is_default)
		return "ties; the default endpoint wins ties";
	return "ties; spread key chose";
}

void vext_reason_explain(const struct vext_src_view *v,
			 struct ibv_dma_choice *c, const struct vext_score *s,
			 const char *lead, const struct ibv_dma_choice *runner,
			 const struct vext_score *rs)
{
	const size_t len = sizeof(c->reason);
	char ep[160];

	c->reason[0] = '\0';
	describe_ep(ep, sizeof(ep), &c->ep);
	add(c->reason, len, "%s%s for %s", lead, ep, v->words);
	if (v->kind == VEXT_SRC_NONE) {
		add(c->reason, len, ": no source information, default endpoint");
	} else {
		add(c->reason, len, ": %s (%s)",
		    ibv_dma_path_class_str(c->path_class),
		    class_words(c->path_class, v->kind == VEXT_SRC_CPU));
		if (c->numa_distance >= 0)
			add(c->reason, len, ", NUMA distance %d",
			    c->numa_distance);
		if (v->kind == VEXT_SRC_P2P && !v->prov)
			add(c->reason, len, ", provider not in sysfs");
		if (s->reach == 1)
			add(c->reason, len,
			    ", P2P through host bridges: the kernel decides");
		if (s->reach == 0)
			add(c->reason, len, ", P2P not reachable");
	}
	if (!s->usable)
		add(c->reason, len, ", not usable on this host");
	if (s->assumed)
		add(c->reason, len, ", availability assumed (%s)%s%s", s->assumed,
		    s->here ? "; " : "", s->here ? s->here : "");
	if (runner) {
		describe_ep(ep, sizeof(ep), &runner->ep);
		add(c->reason, len, "; %s: %s", ep, runner_words(s, rs, runner));
		if (rs->dist != s->dist && runner->numa_distance >= 0)
			add(c->reason, len, ", NUMA distance %d",
			    runner->numa_distance);
	}
}

void vext_reason_only_endpoint(struct ibv_dma_choice *c, const char *devname)
{
	char ep[160];

	describe_ep(ep, sizeof(ep), &c->ep);
	c->reason[0] = '\0';
	add(c->reason, sizeof(c->reason),
	    "chose %s: the only endpoint of %s usable here, so the dma-buf was not described",
	    ep, devname);
}

void vext_reason_kernel_ep(struct ibv_dma_choice *c, uint32_t kernel_ep,
			   bool kernel_chose)
{
	add(c->reason, sizeof(c->reason),
	    kernel_chose ? "; the kernel mapped through endpoint %u" :
			   "; kernel confirmed endpoint %u",
	    kernel_ep);
}

int vext_reason_plain_failure(const struct vext_reg_req *req, int err)
{
	if (err == EOPNOTSUPP)
		return vext_err(err,
				"%s: ibv_reg_dmabuf_mr: the provider or the kernel has no dma-buf MR support",
				req->dev->name);
	return vext_err(err, "%s: ibv_reg_dmabuf_mr: %s", req->dev->name,
			strerror(err));
}

int vext_reason_reg_failure(const struct vext_reg_req *req, int err,
			    bool sent_endpoint)
{
	const struct ibv_dmabuf_info *src = req->src;
	const char *name = req->dev->name;
	struct ibv_dmabuf_info described = { 0 };
	bool undescribed;

	/* An undescribed buffer (fast path): describe it now, for the reason. */
	if (err == EOPNOTSUPP && src && !src->origin &&
	    !ibv_query_dmabuf(req->attr->fd, &described))
		src = &described;
	undescribed = src && src->flags & IBV_DMABUF_INFO_EXPORTER_UNDESCRIBED;

	switch (err) {
	case EPROTONOSUPPORT:
		if (sent_endpoint)
			return vext_err(err,
					"%s endpoint %u: this kernel does not know the DMA endpoint attribute of REG_DMABUF_MR",
					name, req->ep->pub.index);
		return vext_err(err, "%s: this kernel has no REG_DMABUF_MR method",
				name);
	case EOPNOTSUPP:
		/* A kernel that describes dma-bufs has the series: it refused this memory. */
		if (src && (src->origin == IBV_DMABUF_ORIGIN_KERNEL || undescribed))
			return vext_err(err,
					"%s: the driver cannot access this memory (%s, exporter %s%s)",
					name, ibv_dmabuf_source_str(src->source),
					src->exporter,
					undescribed ? ", which does not describe it" : "");
		return vext_err(err,
				"%s: this kernel's driver has no dma-buf MR support (reg_user_mr_dmabuf)",
				name);
	case EACCES:
		return vext_err(err,
				"%s: write access needs a dma-buf opened for writing",
				name);
	case EIO:
		return vext_err(err,
				"%s: the kernel refused the exporter's description of the buffer",
				name);
	case ENODEV:
		return vext_err(err,
				"%s: the dma-buf was revoked by its exporter (or its device is gone)",
				name);
	case EXDEV:
		if (!sent_endpoint)
			return vext_err(err,
					"%s: no DMA endpoint the kernel may choose can reach the dma-buf's memory (kernel: P2P not possible)",
					name);
		return vext_err(err,
				"%s endpoint %u cannot reach the dma-buf's memory (kernel: P2P not possible)",
				name, req->ep->pub.index);
	default:
		return vext_err(err, "%s: REG_DMABUF_MR: %s", name,
				strerror(err));
	}
}
