// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * --check of ibv_dmabuf_bw: before a size, the side the data comes from
 * fills its message slots with a pattern and the side it goes to clears
 * its own; after the size, the receiving side compares, byte for byte,
 * through the buffer's CPU access (bw_mem.c).
 *
 * Who is which: for WRITE and SEND the data goes from the initiator (the
 * client, and with -b the server too) to the target; for READ from the
 * target to the initiator. The initiator's slots are in the area its own
 * work requests use (offset 0 of each path's buffer), the target's in the
 * area it exposes to the peer (offset xoff: the same area without -b).
 * The pattern depends on the size, the path, the QP and on which side
 * initiated the traffic, so data left from another step never passes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bw.h"

static uint64_t seed_of(uint64_t size, int path, int qp, bool client_initiated)
{
	return (size * 0x100000001b3ULL) ^ ((uint64_t)path << 48) ^
	       ((uint64_t)qp << 40) ^ (client_initiated ? 0 : 1ULL << 62);
}

/* Bytes of each QP's slots a size uses. */
static uint64_t used_bytes(const struct params *p, uint64_t size)
{
	uint64_t slots = bw_slots_for(p, size);

	/* -D posts at least one message per slot (bw_traffic.c). */
	if (!p->duration && p->iters < slots)
		slots = p->iters;
	return slots * size;
}

struct role {
	bool initiator;	/* this side posts WRITE/READ/SEND */
	bool target;	/* the peer posts them to this side */
};

static struct role role_of(const struct state *s)
{
	struct role r = {
		.initiator = s->o->host || s->o->p.bidir,
		.target = !s->o->host || s->o->p.bidir,
	};

	return r;
}

/* Fill (fill) or clear one area of every QP of every path. */
static int each_qp(struct state *s, uint64_t size, bool exposed, bool fill,
		   bool client_initiated, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t used = used_bytes(p, size);
	int i, k, ret;

	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		for (k = 0; k < (int)p->qps; k++) {
			uint64_t off = (exposed ? P->xoff : 0) +
				       (uint64_t)k * P->region;

			ret = fill ? bw_mem_fill(&P->mem, off, used,
						 seed_of(size, i, k,
							 client_initiated),
						 e) :
				     bw_mem_zero(&P->mem, off, used, e);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int bw_check_prepare(struct state *s, uint64_t size, struct bw_err *e)
{
	bool read = s->o->p.op == OP_READ, client = s->o->host;
	struct role r = role_of(s);
	int ret = 0;

	/* Our own WRs: WRITE/SEND send from these slots, READ reads into them. */
	if (r.initiator)
		ret = each_qp(s, size, false, !read, client, e);
	/* The peer's WRs: they WRITE/SEND into these slots, READ from them. */
	if (!ret && r.target)
		ret = each_qp(s, size, true, read, !client, e);
	return ret;
}

static enum verdict verify_area(struct state *s, uint64_t size, bool exposed,
				bool client_initiated, char *why, size_t len,
				struct bw_err *e, int *err)
{
	const struct params *p = &s->o->p;
	uint64_t used = used_bytes(p, size);
	int64_t bad;
	int i, k;

	for (i = 0; i < s->npaths; i++)
		for (k = 0; k < (int)p->qps; k++) {
			struct path *P = &s->paths[i];
			uint64_t off = (exposed ? P->xoff : 0) +
				       (uint64_t)k * P->region;

			*err = bw_mem_verify(&P->mem, off, used,
					     seed_of(size, i, k,
						     client_initiated),
					     &bad, e);
			if (*err)
				return CHECK_FAILED;
			if (bad >= 0) {
				snprintf(why, len,
					 "data check failed: path %d (%s, %s) QP %d, %llu-byte messages%s: byte %lld of message slot %lld differs",
					 i, P->dev.name, P->mem.desc, k,
					 (unsigned long long)size,
					 !p->bidir ? "" :
					 client_initiated ? " from the client's WRs" :
							    " from the server's WRs",
					 (long long)(bad % (int64_t)size),
					 (long long)(bad / (int64_t)size));
				return CHECK_FAILED;
			}
		}
	return CHECK_OK;
}

/* CHECK_OFF when this side received nothing to compare (or no --check). */
enum verdict bw_check_verify(struct state *s, uint64_t size, char *why,
			     size_t len, struct bw_err *e, int *err)
{
	bool read = s->o->p.op == OP_READ, client = s->o->host;
	struct role r = role_of(s);
	enum verdict v = CHECK_OFF;

	*err = 0;
	if (!s->o->p.check)
		return CHECK_OFF;
	if (r.initiator && read)
		v = verify_area(s, size, false, client, why, len, e, err);
	if (v != CHECK_FAILED && r.target && !read)
		v = verify_area(s, size, true, !client, why, len, e, err);
	return v;
}
