// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * IBVERBS_EXT_1.0: the calls as the 0.1 header declared them, for binaries
 * built against it. Their structures were fixed in size and the choice's
 * endpoint sat before its reason; registration embedded the hints. Each
 * call converts to and from today's calls. Never changed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

#undef ibv_query_dma_endpoints
#undef ibv_select_dma_endpoint
#undef ibv_rank_dma_endpoints
#undef ibv_rank_dmabuf_devices
#undef ibv_reg_dmabuf_mr_ex

/* struct ibv_dma_endpoint of 0.1: today's up to its via[]. */
#define EP_SIZE_1_0 offsetof(struct ibv_dma_endpoint, assumed)

/* struct ibv_dma_choice of 0.1 (704 bytes). */
struct choice_1_0 {
	uint32_t comp_mask;
	uint32_t path_class;
	uint32_t flags;
	int32_t numa_distance;
	unsigned char ep[EP_SIZE_1_0];
	char reason[IBV_EXT_REASON_LEN];
};

/* struct ibv_reg_dmabuf_mr_ex_attr of 0.1 (80 bytes). */
struct reg_attr_1_0 {
	uint32_t comp_mask;
	int fd;
	uint64_t offset;
	uint64_t length;
	uint64_t iova;
	uint32_t access;
	uint32_t reserved;
	struct ibv_dma_path_hints hints;
	struct choice_1_0 *choice;
	struct ibv_dmabuf_info *source;
};

/* The endpoint grew at its end; hints and info did not change. */
_Static_assert(EP_SIZE_1_0 == 176, "endpoint of 0.1");
_Static_assert(sizeof(struct ibv_dma_path_hints) == 24, "hints of 0.1");
_Static_assert(sizeof(struct ibv_dmabuf_info) == 120, "info of 0.1");
_Static_assert(sizeof(struct choice_1_0) == 704 &&
		       offsetof(struct choice_1_0, reason) == 192,
	       "choice of 0.1");
_Static_assert(sizeof(struct reg_attr_1_0) == 80 &&
		       offsetof(struct reg_attr_1_0, choice) == 64,
	       "attr of 0.1");

static void to_1_0(struct choice_1_0 *old, const struct ibv_dma_choice *c)
{
	old->comp_mask = c->comp_mask;
	old->path_class = c->path_class;
	old->flags = c->flags;
	old->numa_distance = c->numa_distance;
	memcpy(old->ep, &c->ep, sizeof(old->ep));
	memcpy(old->reason, c->reason, sizeof(old->reason));
}

/* The 0.1 calls, declared here: today's header makes them inline wrappers. */
int ibv_query_dma_endpoints(const char *ibdev_name,
			    struct ibv_dma_endpoint *eps, size_t *num_eps);
int ibv_select_dma_endpoint(const char *ibdev_name,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct choice_1_0 *choice);
int ibv_rank_dma_endpoints(const char *ibdev_name,
			   const struct ibv_dmabuf_info *source,
			   const struct ibv_dma_path_hints *hints,
			   struct choice_1_0 *ranked, size_t *num);
int ibv_rank_dmabuf_devices(const char *const *names, size_t num_names,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct choice_1_0 *ranked, size_t *num);
struct ibv_mr *ibv_reg_dmabuf_mr_ex(struct ibv_pd *pd,
				    struct reg_attr_1_0 *old);

int ibv_query_dma_endpoints(const char *ibdev_name,
			    struct ibv_dma_endpoint *eps, size_t *num_eps)
{
	return _ibv_query_dma_endpoints(ibdev_name, eps, num_eps, EP_SIZE_1_0);
}

int ibv_select_dma_endpoint(const char *ibdev_name,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct choice_1_0 *choice)
{
	struct ibv_dma_choice *c;
	int ret;

	if (!choice)
		return vext_err(EINVAL, "choice is NULL");
	c = calloc(1, sizeof(*c));
	if (!c)
		return vext_err(ENOMEM, "out of memory");
	ret = _ibv_select_dma_endpoint(ibdev_name, source, hints, c, sizeof(*c));
	if (!ret)
		to_1_0(choice, c);
	free(c);
	return ret;
}

/* What a 0.1 ranking asked for: a device's endpoints, or devices. */
struct rank_1_0 {
	const char *ibdev_name;		/* endpoints of this device */
	const char *const *names;	/* else these devices (NULL: all) */
	size_t num_names;
	const struct ibv_dmabuf_info *source;
	const struct ibv_dma_path_hints *hints;
};

/* Today's ranking into c[cap], then into the 0.1 layout of ranked[]. */
static int rank_1_0(const struct rank_1_0 *q, struct choice_1_0 *ranked,
		    size_t *num)
{
	size_t i, cap = num && ranked ? *num : 0;
	struct ibv_dma_choice *c = NULL;
	void *out = ranked;
	int ret;

	if (cap) {
		c = calloc(cap, sizeof(*c));
		if (!c)
			return vext_err(ENOMEM, "out of memory");
		out = c;
	}
	/* Today's calls check num and ranked as the 0.1 ones did. */
	if (q->ibdev_name)
		ret = _ibv_rank_dma_endpoints(q->ibdev_name, q->source, q->hints,
					      out, num, sizeof(*c));
	else
		ret = _ibv_rank_dmabuf_devices(q->names, q->num_names,
					       q->source, q->hints, out, num,
					       sizeof(*c));
	for (i = 0; c && (!ret || ret == ENOSPC) && i < *num && i < cap; i++)
		to_1_0(&ranked[i], &c[i]);
	free(c);
	return ret;
}

int ibv_rank_dma_endpoints(const char *ibdev_name,
			   const struct ibv_dmabuf_info *source,
			   const struct ibv_dma_path_hints *hints,
			   struct choice_1_0 *ranked, size_t *num)
{
	const struct rank_1_0 q = { .ibdev_name = ibdev_name,
				    .source = source, .hints = hints };

	if (!ibdev_name)
		return vext_err(EINVAL, "device name is NULL");
	return rank_1_0(&q, ranked, num);
}

int ibv_rank_dmabuf_devices(const char *const *names, size_t num_names,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct choice_1_0 *ranked, size_t *num)
{
	const struct rank_1_0 q = { .names = names, .num_names = num_names,
				    .source = source, .hints = hints };

	return rank_1_0(&q, ranked, num);
}

struct ibv_mr *ibv_reg_dmabuf_mr_ex(struct ibv_pd *pd,
				    struct reg_attr_1_0 *old)
{
	struct ibv_reg_dmabuf_mr_ex_attr attr;
	struct ibv_dma_choice *c = NULL;
	struct ibv_mr *mr;
	int err;

	if (!pd || !old) {
		errno = vext_err(EINVAL, "pd or attr is NULL");
		return NULL;
	}
	memset(&attr, 0, sizeof(attr));
	attr.comp_mask = old->comp_mask;
	attr.fd = old->fd;
	attr.offset = old->offset;
	attr.length = old->length;
	attr.iova = old->iova;
	attr.access = old->access;
	attr.reserved = old->reserved;
	attr.hints = &old->hints;
	attr.source = old->source;
	if ((old->comp_mask & IBV_REG_DMABUF_MR_EX_CHOICE) && old->choice) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			errno = vext_err(ENOMEM, "out of memory");
			return NULL;
		}
		attr.choice = c;
	}
	mr = _ibv_reg_dmabuf_mr_ex(pd, &attr, sizeof(*c),
				   sizeof(struct ibv_dmabuf_info));
	err = errno;
	if (mr && c)
		to_1_0(old->choice, c);
	free(c);
	errno = err;
	return mr;
}
