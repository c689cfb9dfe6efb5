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

static int setup_path(struct state *s, struct path *P, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), need = 0;
	uint32_t rq = 0, cqe;
	int i, ret;

	ret = bw_dev_open(P->devname, s->o->ib_port, s->o->gid_index, &P->dev,
			  e);
	if (ret)
		return ret;
	for (i = 0; i < s->nsizes; i++) {
		uint64_t b = bw_slots_for(p, s->sizes[i]) * s->sizes[i];

		if (b > need)
			need = b;
	}
	P->region = (need + page - 1) / page * page;
	ret = bw_mem_alloc(&s->o->mem, P->region * p->qps, &P->mem, e);
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
	if (p->op == OP_SEND && !s->o->host) {
		rq = 2 * p->depth;
		if (rq > P->dev.max_qp_wr)
			rq = P->dev.max_qp_wr;
	}
	cqe = (p->depth + rq) * p->qps + 16;
	P->cq = ibv_create_cq(P->dev.ctx, (int)cqe, NULL, NULL, 0);
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
	/* At most one timestamp per completion event of any path, plus the last. */
	uint64_t evs = p->paths * p->qps * (p->iters / s->o->cq_mod + 2);
	int i, ret;

	s->npaths = (int)p->paths;
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		P->idx = i;
		P->devname = s->o->devs[s->o->ndevs > 1 ? i : 0];
		P->policy = s->o->policy[s->o->npolicies > 1 ? i : 0];
		tool_parse_path(P->policy, &P->hints);
		ret = setup_path(s, P, e);
		if (ret) {
			if (s->npaths > 1)
				bw_err_prefix(e, "path %d", i);
			return ret;
		}
		if (s->o->host) {
			ret = alloc_series(&P->ser, evs, e);
			if (ret)
				return ret;
		}
	}
	if (s->o->host)
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
