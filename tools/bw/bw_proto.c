// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The wire protocol of ibv_dmabuf_bw between client and server (framed
 * messages over TCP, bw_net.c): HELLO with the parameters both must agree
 * on, SETUP with each path's QPs, GIDs, buffer and endpoint, READY, then
 * per size START/GO, heartbeats, DONE with each sender's figures, CHECK
 * with each side's verdict, and BYE; ERROR carries a failure's one-line
 * reason to the peer.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw.h"

const char *const bw_op_name[] = { "write", "read", "send" };
const char *const bw_op_title[] = { "RDMA_Write", "RDMA_Read", "Send" };

static int bw_stop_msg(struct state *s, const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", BW_PROG, msg);
	if (s && s->connected) {
		struct bw_msg m;
		struct bw_err e;

		bw_msg_init(&m, M_ERROR);
		bw_put_str(&m, msg);
		bw_send(&s->conn, &m, 1.0, &e);
	}
	return 1;
}

int bw_stop(struct state *s, const struct bw_err *e)
{
	return bw_stop_msg(s, e->msg);
}

/* The peer reported a failure or went away: say so, send nothing back. */
int bw_stop_peer_failed(struct state *s, const struct bw_err *e)
{
	s->connected = false;
	return bw_stop(s, e);
}

/*
 * Wait for a message of type want; heartbeats restart the wait. An ERROR
 * from the peer becomes our failure, reported as the peer's.
 */
int bw_expect(struct state *s, uint16_t want, struct bw_msg *m,
		  struct bw_err *e)
{
	char why[BW_WHY_LEN];
	int ret;

	for (;;) {
		if (s->have_pending) {
			*m = s->pending;
			s->have_pending = false;
			ret = 0;
		} else {
			ret = bw_recv(&s->conn, m, s->o->timeout, e);
		}
		if (ret) {
			s->connected = false;
			return ret;
		}
		if (m->type == M_HEARTBEAT)
			continue;
		if (m->type == M_ERROR) {
			bw_get_str(m, why, sizeof(why));
			s->connected = false;
			return bw_fail(e, ECONNABORTED, "%s failed: %s",
				       s->conn.peer, why);
		}
		if (m->type != want)
			return bw_fail(e, EPROTO,
				       "protocol error: message %u from the %s, expected %u",
				       m->type, s->conn.peer, want);
		return 0;
	}
}

/*
 * The fields of the parameters and of a result, in the order they travel
 * (big-endian, bw_net.c): one table each, written and read by one loop.
 */
enum wire_kind { W_U32, W_U64, W_DOUBLE };

struct wire_field {
	size_t off;
	enum wire_kind kind;
};

#define FIELD(type, member, kind) { offsetof(type, member), kind }

static const struct wire_field param_fields[] = {
	FIELD(struct params, op, W_U32),    FIELD(struct params, all, W_U32),
	FIELD(struct params, size, W_U64),  FIELD(struct params, iters, W_U64),
	FIELD(struct params, depth, W_U32), FIELD(struct params, qps, W_U32),
	FIELD(struct params, paths, W_U32), FIELD(struct params, check, W_U32),
	FIELD(struct params, duration, W_U32),
	FIELD(struct params, margin, W_U32),
	FIELD(struct params, bidir, W_U32),
};

static const struct wire_field result_fields[] = {
	FIELD(struct result, polls, W_U64),   FIELD(struct result, empty, W_U64),
	FIELD(struct result, msgs, W_U64),    FIELD(struct result, peak, W_DOUBLE),
	FIELD(struct result, avg, W_DOUBLE),  FIELD(struct result, rate, W_DOUBLE),
};

static void wire_put(struct bw_msg *m, const void *obj,
		     const struct wire_field *f, size_t n)
{
	const char *base = obj;

	for (; n--; f++) {
		if (f->kind == W_U32)
			bw_put_u32(m, *(const uint32_t *)(base + f->off));
		else if (f->kind == W_U64)
			bw_put_u64(m, *(const uint64_t *)(base + f->off));
		else
			bw_put_double(m, *(const double *)(base + f->off));
	}
}

static void wire_get(struct bw_msg *m, void *obj, const struct wire_field *f,
		     size_t n)
{
	char *base = obj;

	for (; n--; f++) {
		if (f->kind == W_U32)
			*(uint32_t *)(base + f->off) = bw_get_u32(m);
		else if (f->kind == W_U64)
			*(uint64_t *)(base + f->off) = bw_get_u64(m);
		else
			*(double *)(base + f->off) = bw_get_double(m);
	}
}

static int compare_params(const struct params *a, const struct params *b,
			  const char *peer, struct bw_err *e)
{
#define SAME(field, opt, fmt, conv)                                         \
	if (a->field != b->field)                                           \
		return bw_fail(e, EINVAL,                                   \
			       "parameter mismatch with the %s: " opt " " fmt \
			       " here, " fmt " on the %s",                  \
			       peer, conv(a->field), conv(b->field), peer)
#define ULL(x) ((unsigned long long)(x))
#define OPN(x) ((x) < 3 ? bw_op_name[x] : "?")
#define ONOFF(x) ((x) ? "on" : "off")
	SAME(op, "--op", "%s", OPN);
	SAME(all, "--all", "%s", ONOFF);
	SAME(size, "--size", "%llu", ULL);
	/* Before --iters: -D sets it to 0, a time rather than a count. */
	SAME(duration, "--duration", "%llu", ULL);
	SAME(margin, "--margin", "%llu", ULL);
	SAME(iters, "--iters", "%llu", ULL);
	SAME(depth, "--tx-depth", "%llu", ULL);
	SAME(qps, "--qp", "%llu", ULL);
	SAME(paths, "number of paths (devices/--path)", "%llu", ULL);
	SAME(check, "--check", "%s", ONOFF);
	SAME(bidir, "--bidirectional", "%s", ONOFF);
#undef SAME
#undef ULL
#undef OPN
#undef ONOFF
	return 0;
}

int bw_hello(struct state *s, struct bw_err *e)
{
	struct params peer;
	struct bw_msg m;
	int ret;

	bw_msg_init(&m, M_HELLO);
	wire_put(&m, &s->o->p, param_fields, BW_ARRAY_SIZE(param_fields));
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (ret)
		return ret;
	ret = bw_expect(s, M_HELLO, &m, e);
	if (ret)
		return ret;
	wire_get(&m, &peer, param_fields, BW_ARRAY_SIZE(param_fields));
	if (m.short_read)
		return bw_fail(e, EPROTO, "short HELLO from the %s",
			       s->conn.peer);
	/* Both sides compare the same pair and stop alike on a mismatch. */
	ret = compare_params(&s->o->p, &peer, s->conn.peer, e);
	if (ret)
		s->connected = false;
	return ret;
}

int bw_exchange_setup(struct state *s, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	char ep[160];
	struct bw_msg m;
	int i, k, ret;

	bw_msg_init(&m, M_SETUP);
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		bw_endpoint_str(&P->reg, ep, sizeof(ep));
		bw_put_str(&m, P->dev.name);
		bw_put_str(&m, P->mem.desc);
		bw_put_str(&m, ep);
		bw_put_bytes(&m, P->dev.gid.raw, 16);
		bw_put_u32(&m, (uint32_t)P->dev.gid_index);
		bw_put_u16(&m, P->dev.lid);
		bw_put_u8(&m, (uint8_t)P->dev.mtu);
		bw_put_u8(&m, P->dev.max_rd_atomic);
		bw_put_u64(&m, P->mem.iova + P->xoff); /* the exposed area */
		bw_put_u32(&m, P->mr->rkey);
		bw_put_u64(&m, P->region);
		for (k = 0; k < (int)p->qps; k++) {
			bw_put_u32(&m, P->q[k].qp->qp_num);
			bw_put_u32(&m, P->q[k].psn);
		}
	}
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret)
		ret = bw_expect(s, M_SETUP, &m, e);
	if (ret)
		return ret;
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];
		struct bw_qp_dest d = { 0 };

		bw_get_str(&m, P->rdev, sizeof(P->rdev));
		bw_get_str(&m, P->rmem, sizeof(P->rmem));
		bw_get_str(&m, P->rep, sizeof(P->rep));
		bw_get_bytes(&m, d.gid.raw, 16);
		d.gid_index = (int)bw_get_u32(&m);
		d.lid = bw_get_u16(&m);
		d.mtu = bw_get_u8(&m);
		d.rd_atomic = bw_get_u8(&m);
		P->raddr = bw_get_u64(&m);
		P->rkey = bw_get_u32(&m);
		P->rregion = bw_get_u64(&m);
		for (k = 0; k < (int)p->qps; k++) {
			P->q[k].dest = d;
			P->q[k].dest.qpn = bw_get_u32(&m);
			P->q[k].dest.psn = bw_get_u32(&m);
		}
	}
	if (m.short_read)
		return bw_fail(e, EPROTO, "short SETUP from the %s",
			       s->conn.peer);
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		if (P->rregion < P->region)
			return bw_fail(e, EPROTO,
				       "path %d: the %s's buffer region (%llu B) is smaller than ours (%llu B)",
				       i, s->conn.peer,
				       (unsigned long long)P->rregion,
				       (unsigned long long)P->region);
		for (k = 0; k < (int)p->qps; k++) {
			ret = bw_qp_connect(&P->dev, P->q[k].qp, P->q[k].psn,
					    &P->q[k].dest, e);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Both sides' QPs are ready before anything is sent. */
int bw_ready(struct state *s, struct bw_err *e)
{
	struct bw_msg m;
	int ret;

	bw_msg_init(&m, M_READY);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	return ret ? ret : bw_expect(s, M_READY, &m, e);
}

/*
 * Messages from the peer while traffic runs: EOF and ERROR end the run;
 * early is the one message that may legitimately come first (the client's
 * DONE while the server still polls its last receives), kept for later.
 */
int bw_watch_peer(struct state *s, uint16_t early, struct bw_err *e)
{
	char why[BW_WHY_LEN];
	struct bw_msg m;
	int ret;

	while (!s->have_pending) {
		ret = bw_recv(&s->conn, &m, 0, e);
		if (ret == EAGAIN)
			return 0;
		if (ret) {
			s->connected = false;
			bw_err_prefix(e, "mid-run");
			return ret;
		}
		if (m.type == M_HEARTBEAT)
			continue;
		if (early && m.type == early) {
			s->pending = m;
			s->have_pending = true;
			return 0;
		}
		if (m.type == M_ERROR) {
			s->connected = false;
			bw_get_str(&m, why, sizeof(why));
			return bw_fail(e, ECONNABORTED, "%s failed: %s",
				       s->conn.peer, why);
		}
		return bw_fail(e, EPROTO,
			       "protocol error: message %u from the %s mid-run",
			       m.type, s->conn.peer);
	}
	return 0;
}

int bw_heartbeat(struct state *s, struct bw_err *e)
{
	struct bw_msg m;

	bw_msg_init(&m, M_HEARTBEAT);
	return bw_send(&s->conn, &m, s->o->timeout, e);
}

void bw_put_result(struct bw_msg *m, const struct result *r)
{
	wire_put(m, r, result_fields, BW_ARRAY_SIZE(result_fields));
}

void bw_get_result(struct bw_msg *m, struct result *r)
{
	wire_get(m, r, result_fields, BW_ARRAY_SIZE(result_fields));
}
