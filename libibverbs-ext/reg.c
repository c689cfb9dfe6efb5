// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_reg_dmabuf_mr_ex(): validate, describe the source, choose the
 * endpoint, register through the device's provider backend. Every check
 * that can be made before entering the kernel is made here, so that bad
 * input gets its reason and nothing is registered. The errno is the one
 * the kernel and plain ibv_reg_dmabuf_mr() give for the same input (mostly
 * EINVAL); ibv_ext_last_error() tells the cases apart.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext_internal.h"

#define ACCESS_DMABUF                                                         \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |                   \
	 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |                  \
	 IBV_ACCESS_RELAXED_ORDERING)

static int check_access(uint32_t access, uint32_t *out)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} refused[] = {
		{ IBV_ACCESS_MW_BIND, "IBV_ACCESS_MW_BIND" },
		{ IBV_ACCESS_ZERO_BASED, "IBV_ACCESS_ZERO_BASED" },
		{ IBV_ACCESS_ON_DEMAND, "IBV_ACCESS_ON_DEMAND" },
		{ IBV_ACCESS_HUGETLB, "IBV_ACCESS_HUGETLB" },
	};
	uint32_t rest;
	size_t i;

	for (i = 0; i < VEXT_ARRAY_SIZE(refused); i++)
		if (access & refused[i].bit)
			return vext_err(EINVAL,
					"access: %s is not allowed for dma-buf MRs",
					refused[i].name);
	/* Optional bits other than relaxed ordering are dropped, as verbs do. */
	rest = access & ~(ACCESS_DMABUF | IBV_ACCESS_OPTIONAL_RANGE);
	if (rest)
		return vext_err(EINVAL, "access: unknown bits 0x%x", rest);
	if (access & (IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC) &&
	    !(access & IBV_ACCESS_LOCAL_WRITE))
		return vext_err(EINVAL,
				"access: remote write/atomic requires IBV_ACCESS_LOCAL_WRITE");
	*out = access & ACCESS_DMABUF;
	return 0;
}

/*
 * What a 32-bit build cannot carry: libibverbs takes the length as size_t
 * and a dma-buf MR's addr is its offset as a pointer. ptr_max and size_max
 * are this build's limits (tests pass a 32-bit build's).
 */
int vext_check_reg_fits(uint64_t offset, uint64_t length, uint64_t size_max,
			uint64_t ptr_max)
{
	if (length > size_max)
		return vext_err(EINVAL,
				"length 0x%llx does not fit this build's %d-bit size_t",
				(unsigned long long)length,
				size_max > UINT32_MAX ? 64 : 32);
	if (offset > ptr_max)
		return vext_err(EINVAL,
				"offset 0x%llx does not fit this build's %d-bit pointers (ibv_mr.addr)",
				(unsigned long long)offset,
				ptr_max > UINT32_MAX ? 64 : 32);
	return 0;
}

static int check_attr(const struct ibv_reg_dmabuf_mr_ex_attr *a,
		      size_t choice_size, size_t source_size, uint32_t *access)
{
	const uint32_t known = IBV_REG_DMABUF_MR_EX_HINTS |
			       IBV_REG_DMABUF_MR_EX_CHOICE |
			       IBV_REG_DMABUF_MR_EX_SOURCE;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int ret;

	if (a->comp_mask & ~known)
		return vext_err(EOPNOTSUPP, "attr: unknown comp_mask bits 0x%x",
				a->comp_mask & ~known);
	if ((a->comp_mask & IBV_REG_DMABUF_MR_EX_CHOICE) && !a->choice)
		return vext_err(EINVAL,
				"attr: IBV_REG_DMABUF_MR_EX_CHOICE set but choice is NULL");
	if ((a->comp_mask & IBV_REG_DMABUF_MR_EX_CHOICE) &&
	    choice_size < VEXT_CHOICE_SIZE_MIN)
		return vext_err(EINVAL,
				"attr: choice size %zu is smaller than any version of the struct (%zu)",
				choice_size, VEXT_CHOICE_SIZE_MIN);
	if ((a->comp_mask & IBV_REG_DMABUF_MR_EX_SOURCE) && !a->source)
		return vext_err(EINVAL,
				"attr: IBV_REG_DMABUF_MR_EX_SOURCE set but source is NULL");
	if ((a->comp_mask & IBV_REG_DMABUF_MR_EX_SOURCE) &&
	    source_size < VEXT_INFO_SIZE_MIN)
		return vext_err(EINVAL,
				"attr: source size %zu is smaller than any version of the struct (%zu)",
				source_size, VEXT_INFO_SIZE_MIN);
	if ((a->comp_mask & IBV_REG_DMABUF_MR_EX_HINTS) && !a->hints)
		return vext_err(EINVAL,
				"attr: IBV_REG_DMABUF_MR_EX_HINTS set but hints is NULL");
	if (a->comp_mask & IBV_REG_DMABUF_MR_EX_HINTS) {
		ret = vext_validate_hints(a->hints);
		if (ret)
			return ret;
	}
	if (a->fd < 0)
		return vext_err(EBADF, "fd %d is not a file descriptor", a->fd);
	if (!a->length)
		return vext_err(EINVAL, "length is 0");
	if (a->offset + a->length < a->offset)
		return vext_err(EINVAL,
				"offset 0x%llx + length 0x%llx overflows",
				(unsigned long long)a->offset,
				(unsigned long long)a->length);
	if (a->iova + a->length < a->iova)
		return vext_err(EINVAL,
				"iova 0x%llx + length 0x%llx overflows",
				(unsigned long long)a->iova,
				(unsigned long long)a->length);
	ret = vext_check_reg_fits(a->offset, a->length, SIZE_MAX, UINTPTR_MAX);
	if (ret)
		return ret;
	if ((a->offset ^ a->iova) & (page - 1))
		return vext_err(EINVAL,
				"iova 0x%llx and offset 0x%llx differ within a page",
				(unsigned long long)a->iova,
				(unsigned long long)a->offset);
	return check_access(a->access, access);
}

static void note_kernel_ep(const struct vext_ibdev *dev,
			   const struct vext_reg_req *req,
			   struct ibv_dma_choice *c)
{
	bool kernel_chose = req->kernel_ep != c->ep.index;
	size_t i;

	if (!req->kernel_reported)
		return;
	c->flags |= IBV_DMA_CHOICE_KERNEL_REPORTED;
	/* The kernel chose (no endpoint was sent): report its choice. */
	for (i = 0; kernel_chose && i < dev->nr_eps; i++)
		if (dev->eps[i].pub.index == req->kernel_ep)
			c->ep = dev->eps[i].pub;
	vext_reason_kernel_ep(c, req->kernel_ep, kernel_chose);
}

/* What one registration works on, on the heap (small library stack). */
struct reg_work {
	struct ibv_dmabuf_info info;
	struct ibv_dma_choice choice;
	struct vext_reg_req req;
};

struct ibv_mr *_ibv_reg_dmabuf_mr_ex(struct ibv_pd *pd,
				     struct ibv_reg_dmabuf_mr_ex_attr *attr,
				     size_t choice_size, size_t source_size)
{
	struct ibv_dma_path_hints hints = { 0 };
	struct vext_ep *cur = NULL;
	struct reg_work *w = NULL;
	const struct vext_ibdev *dev;
	struct vext_topo *t = NULL;
	struct ibv_mr *mr = NULL;
	const char *name;
	uint32_t access = 0;
	uint64_t size = 0;
	size_t i, n = 1, nr_eps = 0, usable = 0;
	bool described = false;
	int ret;

	if (!pd || !attr) {
		errno = vext_err(EINVAL, "pd or attr is NULL");
		return NULL;
	}
	ret = check_attr(attr, choice_size, source_size, &access);
	if (ret)
		goto fail;

	/* The kernel's dma_buf_get(): EBADF, or EINVAL for another file. */
	ret = vext_dmabuf_size(attr->fd, &size);
	if (ret == ENOTTY)
		ret = EINVAL;
	if (ret)
		goto fail;
	if (attr->offset + attr->length > size) {
		ret = vext_err(EINVAL,
			       "offset 0x%llx + length 0x%llx is beyond the dma-buf's %llu bytes",
			       (unsigned long long)attr->offset,
			       (unsigned long long)attr->length,
			       (unsigned long long)size);
		goto fail;
	}

	/* The device by its uverbs index: a rename does not lose it. */
	ret = vext_dev_get_ctx(pd->context, &t, &dev);
	if (ret)
		goto fail;
	name = dev->name;

	if (attr->comp_mask & IBV_REG_DMABUF_MR_EX_HINTS)
		hints = *attr->hints;
	w = calloc(1, sizeof(*w));
	cur = w ? vext_current_eps(t, dev, pd->context, &nr_eps, &usable) :
		  NULL;
	if (!cur) {
		ret = w ? errno : vext_err(ENOMEM, "out of memory");
		goto fail;
	}
	/*
	 * Describing the buffer costs the kernel a walk of its pages. Only a
	 * choice between endpoints, or a caller who asks, needs it: with one
	 * usable endpoint and AUTO or DEFAULT policy the answer is known.
	 */
	if (usable > 1 || (attr->comp_mask & IBV_REG_DMABUF_MR_EX_SOURCE) ||
	    hints.policy == IBV_DMA_PATH_ENDPOINT ||
	    hints.policy == IBV_DMA_PATH_NUMA) {
		/* Asked back: the whole description, exporter name included. */
		ret = attr->comp_mask & IBV_REG_DMABUF_MR_EX_SOURCE ?
			      ibv_query_dmabuf(attr->fd, &w->info) :
			      vext_describe_for_choice(attr->fd, &w->info);
		if (ret)
			goto fail;
		described = true;
	} else {
		w->info.numa_node = -1;
		w->info.size = size;
	}
	/*
	 * Undescribed, with an endpoint to use: the reason is the one of
	 * vext_reason_only_endpoint(), and the ranking's own is not written
	 * (formatting it cost more than the choice).
	 */
	if (described || !usable)
		ret = vext_policy_rank(t, &w->info, &hints, cur, nr_eps,
				       &w->choice, &n);
	else
		ret = vext_policy_rank_unexplained(t, &w->info, &hints, cur,
						   nr_eps, &w->choice, &n);
	if (ret)
		goto fail;
	ret = vext_choice_check(&w->choice);
	if (ret)
		goto fail;
	if (!described)
		vext_reason_only_endpoint(&w->choice, name);

	w->req.pd = pd;
	w->req.attr = attr;
	w->req.dev = dev;
	for (i = 0; i < nr_eps; i++)
		if (cur[i].pub.index == w->choice.ep.index)
			w->req.ep = &cur[i];
	w->req.access = access;
	w->req.named = hints.policy != IBV_DMA_PATH_AUTO;
	w->req.src = &w->info;
	vext_clear_err();
	mr = dev->prov->reg(&w->req);
	if (!mr) {
		ret = errno; /* the reason is set by the backend */
		goto fail;
	}

	note_kernel_ep(dev, &w->req, &w->choice);
	if (attr->comp_mask & IBV_REG_DMABUF_MR_EX_CHOICE)
		vext_put_elem(attr->choice, 0, choice_size, &w->choice,
			      sizeof(w->choice));
	if (attr->comp_mask & IBV_REG_DMABUF_MR_EX_SOURCE)
		vext_put_elem(attr->source, 0, source_size, &w->info,
			      sizeof(w->info));
	ret = 0;
fail:
	free(cur);
	free(w);
	vext_topo_put(t);
	errno = ret;
	return mr;
}
