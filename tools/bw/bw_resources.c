// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The verbs resources of each path of ibv_dmabuf_bw: the device, the
 * buffer (a memory backend) registered through ibv_reg_dmabuf_mr_ex(), the
 * CQ and the QPs; and the completion timelines of the client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bw.h"
#include "opts.h"

uint64_t bw_slots_for(const struct params *p, uint64_t size)
{
	uint64_t n = SLOT_BYTES / size;

	if (n < 1)
		n = 1;
	if (n > p->depth)
		n = p->depth;
	return n;
}

/*
 * --path data-direct (--use_data_direct): exactly the device's mlx5
 * data-direct endpoint, found by its kind, or a failure that says which
 * endpoints the device has.
 */
static int resolve_data_direct(struct path *P, struct bw_err *e)
{
	struct ibv_dma_endpoint eps[16];
	size_t n = BW_ARRAY_SIZE(eps), i;
	char list[256] = "";
	size_t used = 0;
	int ret;

	ret = ibv_query_dma_endpoints_ctx(P->dev.ctx, eps, &n);
	if (ret && ret != ENOSPC)
		return bw_fail(e, ret, "%s: ibv_query_dma_endpoints: %s",
			       P->dev.name, ibv_ext_last_error());
	if (n > BW_ARRAY_SIZE(eps))
		n = BW_ARRAY_SIZE(eps);
	for (i = 0; i < n; i++) {
		if (eps[i].kind == IBV_DMA_EP_DATA_DIRECT) {
			memset(&P->hints, 0, sizeof(P->hints));
			P->hints.policy = IBV_DMA_PATH_ENDPOINT;
			P->hints.endpoint = eps[i].index;
			P->hints.numa_node = -1;
			return 0;
		}
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used,
						 "%s%u %s", i ? ", " : "",
						 eps[i].index,
						 ibv_dma_endpoint_kind_str(eps[i].kind));
	}
	return bw_fail(e, ENODEV,
		       "%s has no data-direct endpoint (its endpoints: %s): --use_data_direct needs an mlx5 device with a data-direct function",
		       P->dev.name, n ? list : "none");
}

static int open_path(struct state *s, struct path *P, struct bw_err *e)
{
	int ret;

	ret = bw_dev_open(P->devname, s->o->ib_port, s->o->gid_index, &P->dev,
			  e);
	if (ret)
		return ret;
	P->mtu_capped = bw_dev_set_mtu(&P->dev, s->o->mtu);
	P->dev.qp_timeout = (uint8_t)s->o->qp_timeout;
	if (!strcmp(P->policy, "data-direct"))
		return resolve_data_direct(P, e);
	tool_parse_path(P->policy, &P->hints);
	return 0;
}

int bw_open_devices(struct state *s, struct bw_err *e)
{
	int i, ret;

	s->npaths = (int)s->o->p.paths;
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		if (P->dev.ctx)
			continue;
		P->idx = i;
		P->devname = s->o->devs[s->o->ndevs > 1 ? i : 0];
		P->policy = s->o->policy[s->o->npolicies > 1 ? i : 0];
		ret = open_path(s, P, e);
		if (ret) {
			if (s->npaths > 1)
				bw_err_prefix(e, "path %d", i);
			return ret;
		}
	}
	return 0;
}

static int setup_path(struct state *s, struct path *P, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), need = 0, granule;
	uint32_t rq = 0, cqe;
	int i, ret;

	for (i = 0; i < s->nsizes; i++) {
		uint64_t b = bw_slots_for(p, s->sizes[i]) * s->sizes[i];

		if (b > need)
			need = b;
	}
	P->region = (need + page - 1) / page * page;
	/* -b: the area of this side's own WRs, then the one the peer's use. */
	P->xoff = p->bidir ? P->region * p->qps : 0;
	need = P->region * p->qps * (p->bidir ? 2 : 1);
	/* Huge pages: whole pages for the buffer, the regions as they are. */
	granule = bw_mem_granule(&s->o->mem);
	ret = bw_mem_alloc(&s->o->mem, (need + granule - 1) / granule * granule,
			   &P->mem, e);
	if (ret)
		return ret;
	P->have_mem = true;
	P->pd = ibv_alloc_pd(P->dev.ctx);
	if (!P->pd)
		return bw_fail(e, errno, "%s: ibv_alloc_pd: %s", P->dev.name,
			       strerror(errno));
	P->mr = bw_mem_reg(P->pd, &P->mem,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ,
			   &P->hints, &P->reg, e);
	if (!P->mr)
		return errno ? errno : EIO;
	if (p->op == OP_SEND && (!s->o->host || p->bidir)) {
		rq = 2 * p->depth;
		if (rq > P->dev.max_qp_wr)
			rq = P->dev.max_qp_wr;
	}
	cqe = (p->depth + rq) * p->qps + 16;
	if (s->o->events) {
		P->chan = ibv_create_comp_channel(P->dev.ctx);
		if (!P->chan)
			return bw_fail(e, errno, "%s: ibv_create_comp_channel: %s",
				       P->dev.name, strerror(errno));
	}
	P->cq = ibv_create_cq(P->dev.ctx, (int)cqe, NULL, P->chan, 0);
	if (!P->cq)
		return bw_fail(e, errno, "%s: ibv_create_cq(%u): %s",
			       P->dev.name, cqe, strerror(errno));
	for (i = 0; i < (int)p->qps; i++) {
		P->q[i].qp = bw_qp_create(&P->dev, P->pd, P->cq, p->depth, rq,
					  e);
		if (!P->q[i].qp)
			return errno ? errno : EIO;
		P->q[i].psn = (uint32_t)(lrand48() & 0xffffff);
	}
	return 0;
}

static int alloc_series(struct series *sr, uint64_t events, struct bw_err *e)
{
	sr->ev_t = calloc(events, sizeof(double));
	sr->ev_c = calloc(events, sizeof(uint64_t));
	if (!sr->ev_t || !sr->ev_c)
		return bw_fail(e, ENOMEM,
			       "out of memory for %llu completion timestamps",
			       (unsigned long long)events);
	return 0;
}

static void free_series(struct series *sr)
{
	free(sr->ev_t);
	free(sr->ev_c);
}

int bw_setup(struct state *s, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	/*
	 * At most one timestamp per completion event of any path, plus the
	 * last; with -D the figures come from the measured span instead.
	 */
	uint64_t evs = p->paths * p->qps * (p->iters / s->o->cq_mod + 2);
	bool sender = s->o->host || p->bidir;
	int i, ret;

	ret = bw_open_devices(s, e);
	if (ret)
		return ret;
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		ret = setup_path(s, P, e);
		if (ret) {
			if (s->npaths > 1)
				bw_err_prefix(e, "path %d", i);
			return ret;
		}
		if (sender && !p->duration) {
			ret = alloc_series(&P->ser, evs, e);
			if (ret)
				return ret;
		}
	}
	if (sender && !p->duration)
		return alloc_series(&s->total, evs, e);
	return 0;
}

void bw_teardown(struct state *s)
{
	int i, k;

	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		for (k = 0; k < MAX_QPS; k++)
			if (P->q[k].qp)
				ibv_destroy_qp(P->q[k].qp);
		if (P->cq)
			ibv_destroy_cq(P->cq);
		if (P->chan)
			ibv_destroy_comp_channel(P->chan);
		if (P->mr)
			ibv_dereg_mr(P->mr);
		if (P->pd)
			ibv_dealloc_pd(P->pd);
		if (P->have_mem)
			bw_mem_free(&P->mem);
		bw_dev_close(&P->dev);
		free_series(&P->ser);
	}
	free_series(&s->total);
	bw_close(&s->conn);
}
