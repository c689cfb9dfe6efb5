// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The run loop of ibv_dmabuf_bw: connect, agree, set up, then size by size
 * the client drives the traffic (WRITE, READ or SEND with their receives
 * on the server), both sides check the data when asked, and the figures
 * go to the report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "bw.h"

static const char *wc_hint(enum ibv_wc_status st)
{
	switch (st) {
	case IBV_WC_RETRY_EXC_ERR:
		return " (the peer stopped answering: did it die?)";
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
		return " (the buffer or key was refused)";
	case IBV_WC_WR_FLUSH_ERR:
		return " (the QP is in error)";
	default:
		return "";
	}
}

/* Up to 16 completions of a path into wc: their count, or -EIO. */
static int poll_path(struct path *P, struct ibv_wc *wc, struct bw_err *e)
{
	int n = ibv_poll_cq(P->cq, 16, wc);

	if (n < 0)
		return -bw_fail(e, EIO, "path %d (%s): ibv_poll_cq failed",
				P->idx, P->dev.name);
	return n;
}

static int post_one(struct state *s, struct path *P, int qi, uint64_t size,
		    uint64_t slots, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	struct qp_state *Q = &P->q[qi];
	uint64_t k = Q->posted, off = (uint64_t)qi * P->region +
				      (k % slots) * size;
	struct ibv_sge sge = {
		.addr = P->mem.iova + off,
		.length = (uint32_t)size,
		.lkey = P->mr->lkey,
	};
	struct ibv_send_wr wr = { 0 }, *bad;
	bool sig = (k + 1) % s->o->cq_mod == 0 || k + 1 == p->iters;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = p->op == OP_WRITE ? IBV_WR_RDMA_WRITE :
		    p->op == OP_READ  ? IBV_WR_RDMA_READ :
					IBV_WR_SEND;
	if (p->op != OP_SEND) {
		wr.wr.rdma.remote_addr = P->raddr + (uint64_t)qi * P->rregion +
					 (k % slots) * size;
		wr.wr.rdma.rkey = P->rkey;
	}
	if (sig) {
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.wr_id = ((uint64_t)qi << 32) | (k + 1 - Q->sig_end);
		Q->sig_end = k + 1;
	}
	if (ibv_post_send(Q->qp, &wr, &bad))
		return bw_fail(e, errno,
			       "path %d (%s) QP 0x%x: ibv_post_send: %s",
			       P->idx, P->dev.name, Q->qp->qp_num,
			       strerror(errno));
	Q->posted++;
	return 0;
}

static void record_event(struct series *sr, double t, uint64_t n)
{
	uint64_t c = sr->nev ? sr->ev_c[sr->nev - 1] : 0;

	sr->ev_t[sr->nev] = t;
	sr->ev_c[sr->nev] = c + n;
	sr->nev++;
}

/*
 * The client's traffic for one size; every QP sends iters messages.
 *
 * The clock is read as little as possible: a TCG guest's clocksource is
 * the emulated HPET (1.5 us a read, an MMIO exit under QEMU's big lock),
 * and reading it per completion measurably slowed small messages. It is
 * read at each path's first post, once every `stamp` completed messages
 * (an eighth of the peak window: the completion timeline keeps enough
 * resolution), at the last completion, and every IDLE_CLOCK_EVERY polls
 * for timeouts, heartbeats and the peer's messages.
 */
static int drive(struct state *s, uint64_t size, uint64_t window,
		 struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t slots = bw_slots_for(p, size);
	uint64_t total = p->iters * p->qps * (uint64_t)s->npaths, done = 0;
	uint64_t stamp = window / 8 ? window / 8 : 1, unstamped = 0;
	uint64_t pending[MAX_PATHS] = { 0 };
	double t = bw_now(), last_progress = t, last_watch = t, last_hb = t;
	unsigned int idle = 0;
	bool progressed = false;
	struct ibv_wc wc[16];
	int i, k, n, ret;

	s->total.nposted = s->total.nev = 0;
	s->polls = s->empty_polls = 0;
	for (i = 0; i < s->npaths; i++) {
		s->paths[i].ser.nposted = s->paths[i].ser.nev = 0;
		for (k = 0; k < (int)p->qps; k++) {
			struct qp_state *Q = &s->paths[i].q[k];

			Q->posted = Q->done = Q->sig_end = 0;
		}
	}
	while (done < total) {
		for (i = 0; i < s->npaths; i++) {
			struct path *P = &s->paths[i];

			for (k = 0; k < (int)p->qps; k++) {
				struct qp_state *Q = &P->q[k];
				uint64_t before = Q->posted;

				if (Q->posted == p->iters ||
				    Q->posted - Q->done >= p->depth)
					continue;
				if (!P->ser.nposted) {
					t = bw_now();
					P->ser.t_first = t;
					if (!s->total.nposted)
						s->total.t_first = t;
				}
				while (Q->posted < p->iters &&
				       Q->posted - Q->done < p->depth) {
					ret = post_one(s, P, k, size, slots, e);
					if (ret)
						return ret;
				}
				P->ser.nposted += Q->posted - before;
				s->total.nposted += Q->posted - before;
			}
		}
		for (i = 0; i < s->npaths; i++) {
			struct path *P = &s->paths[i];

			n = poll_path(P, wc, e);
			if (n < 0)
				return -n;
			s->polls++;
			s->empty_polls += !n;
			for (k = 0; k < n; k++) {
				uint64_t cnt = wc[k].wr_id & 0xffffffffu;
				int qi = (int)(wc[k].wr_id >> 32);

				if (wc[k].status != IBV_WC_SUCCESS)
					return bw_fail(e, EIO,
						       "path %d (%s) QP 0x%x: completion error: %s (vendor error 0x%x)%s",
						       i, P->dev.name, wc[k].qp_num,
						       ibv_wc_status_str(wc[k].status),
						       wc[k].vendor_err,
						       wc_hint(wc[k].status));
				P->q[qi].done += cnt;
				done += cnt;
				pending[i] += cnt;
				unstamped += cnt;
				progressed = true;
			}
		}
		if (unstamped >= stamp || (done == total && unstamped)) {
			t = bw_now();
			for (i = 0; i < s->npaths; i++) {
				if (!pending[i])
					continue;
				record_event(&s->paths[i].ser, t, pending[i]);
				pending[i] = 0;
			}
			record_event(&s->total, t, unstamped);
			unstamped = 0;
			last_progress = t;
			progressed = false;
		} else if (++idle % IDLE_CLOCK_EVERY) {
			continue;
		} else {
			t = bw_now();
			if (progressed)
				last_progress = t;
			progressed = false;
		}
		if (t - last_progress > s->o->timeout) {
			char per[32];

			return bw_fail(e, ETIMEDOUT,
				       "no completion for %g s (%llu of %llu messages done, one asked every %u = %s): the %s or the network is gone, or too slow for --timeout/--cq-mod",
				       s->o->timeout, (unsigned long long)done,
				       (unsigned long long)total, s->o->cq_mod,
				       bw_size_str(size * s->o->cq_mod, per, sizeof(per)),
				       s->conn.peer);
		}
		if (t - last_watch > 0.05) {
			last_watch = t;
			ret = bw_watch_peer(s, 0, e);
			if (ret)
				return ret;
		}
		if (t - last_hb > 1.0) {
			last_hb = t;
			ret = bw_heartbeat(s, e);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* The server's receive side of --op send. */
static int post_recv(struct path *P, int qi, uint64_t size, uint64_t slots,
		     struct bw_err *e)
{
	struct qp_state *Q = &P->q[qi];
	struct ibv_sge sge = {
		.addr = P->mem.iova + (uint64_t)qi * P->region +
			(Q->recv_posted % slots) * size,
		.length = (uint32_t)size,
		.lkey = P->mr->lkey,
	};
	struct ibv_recv_wr wr = { 0 }, *bad;

	wr.wr_id = (uint64_t)qi;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	if (ibv_post_recv(Q->qp, &wr, &bad))
		return bw_fail(e, errno, "path %d (%s): ibv_post_recv: %s",
			       P->idx, P->dev.name, strerror(errno));
	Q->recv_posted++;
	return 0;
}

static uint32_t recv_depth(const struct state *s, const struct path *P)
{
	uint32_t rq = 2 * s->o->p.depth;

	return rq > P->dev.max_qp_wr ? P->dev.max_qp_wr : rq;
}

static int prepost(struct state *s, uint64_t size, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t slots = bw_slots_for(p, size);
	int i, k, ret;

	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];
		uint32_t rq = recv_depth(s, P);

		for (k = 0; k < (int)p->qps; k++) {
			struct qp_state *Q = &P->q[k];

			Q->recv_posted = Q->done = 0;
			while (Q->recv_posted < p->iters && Q->recv_posted < rq) {
				ret = post_recv(P, k, size, slots, e);
				if (ret)
					return ret;
			}
		}
	}
	return 0;
}

static int receive(struct state *s, uint64_t size, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t slots = bw_slots_for(p, size);
	uint64_t total = p->iters * p->qps * (uint64_t)s->npaths, done = 0;
	double t = bw_now(), last_progress = t, last_watch = t;
	unsigned int idle = 0;
	bool progressed = false;
	struct ibv_wc wc[16];
	int i, k, n, ret;

	while (done < total) {
		bool busy = false;

		for (i = 0; i < s->npaths; i++) {
			struct path *P = &s->paths[i];

			n = poll_path(P, wc, e);
			if (n < 0)
				return -n;
			for (k = 0; k < n; k++) {
				int qi = (int)wc[k].wr_id;
				struct qp_state *Q = &P->q[qi];

				if (wc[k].status != IBV_WC_SUCCESS)
					return bw_fail(e, EIO,
						       "path %d (%s) QP 0x%x: receive completion error: %s%s",
						       i, P->dev.name, wc[k].qp_num,
						       ibv_wc_status_str(wc[k].status),
						       wc_hint(wc[k].status));
				if (wc[k].byte_len != size)
					return bw_fail(e, EPROTO,
						       "path %d: received %u bytes, expected %llu",
						       i, wc[k].byte_len,
						       (unsigned long long)size);
				Q->done++;
				done++;
				if (Q->recv_posted < p->iters) {
					ret = post_recv(P, qi, size, slots, e);
					if (ret)
						return ret;
				}
			}
			if (n)
				busy = true;
		}
		/* The clock is read every so many polls, busy or not. */
		progressed |= busy;
		if (++idle % IDLE_CLOCK_EVERY)
			continue;
		t = bw_now();
		if (progressed)
			last_progress = t;
		progressed = false;
		if (t - last_progress > s->o->timeout)
			return bw_fail(e, ETIMEDOUT,
				       "nothing received for %g s (%llu of %llu messages): the client or the network is gone",
				       s->o->timeout, (unsigned long long)done,
				       (unsigned long long)total);
		if (t - last_watch > 0.05) {
			last_watch = t;
			ret = bw_watch_peer(s, M_DONE, e);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* --check: prepare before a size, verify after. */
static uint64_t seed_of(uint64_t size, int path, int qp)
{
	return size * 0x100000001b3ULL ^ ((uint64_t)path << 48) ^
	       ((uint64_t)qp << 40);
}

static uint64_t used_bytes(const struct params *p, uint64_t size)
{
	uint64_t slots = bw_slots_for(p, size);

	return (p->iters < slots ? p->iters : slots) * size;
}

/* fill: the pattern (sender side); else zeros (receiver side). */
static int check_prepare(struct state *s, uint64_t size, bool fill,
			 struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t used = used_bytes(p, size);
	int i, k, ret;

	for (i = 0; i < s->npaths; i++)
		for (k = 0; k < (int)p->qps; k++) {
			struct path *P = &s->paths[i];
			uint64_t off = (uint64_t)k * P->region;

			ret = fill ? bw_mem_fill(&P->mem, off, used,
						 seed_of(size, i, k), e) :
				     bw_mem_zero(&P->mem, off, used, e);
			if (ret)
				return ret;
		}
	return 0;
}

static enum verdict check_verify(struct state *s, uint64_t size, char *why,
				 size_t len, struct bw_err *e, int *err)
{
	const struct params *p = &s->o->p;
	uint64_t used = used_bytes(p, size);
	int64_t bad;
	int i, k;

	*err = 0;
	for (i = 0; i < s->npaths; i++)
		for (k = 0; k < (int)p->qps; k++) {
			struct path *P = &s->paths[i];

			*err = bw_mem_verify(&P->mem, (uint64_t)k * P->region,
					     used, seed_of(size, i, k), &bad, e);
			if (*err)
				return CHECK_FAILED;
			if (bad >= 0) {
				snprintf(why, len,
					 "data check failed: path %d (%s, %s) QP %d, %llu-byte messages: byte %lld of message slot %lld differs",
					 i, P->dev.name, P->mem.desc, k,
					 (unsigned long long)size,
					 (long long)(bad % (int64_t)size),
					 (long long)(bad / (int64_t)size));
				return CHECK_FAILED;
			}
		}
	return CHECK_OK;
}

static int client_size(struct state *s, uint64_t size, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	uint64_t window = (uint64_t)p->depth * p->qps * s->npaths;
	struct result total, per[MAX_PATHS];
	enum verdict v = CHECK_OFF;
	char why[BW_WHY_LEN] = "";
	struct bw_msg m;
	int i, ret;

	if (p->check) {
		ret = check_prepare(s, size, p->op != OP_READ, e);
		if (ret)
			return ret;
	}
	bw_msg_init(&m, M_START);
	bw_put_u64(&m, size);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret)
		ret = bw_expect(s, M_GO, &m, e);
	if (!ret)
		ret = drive(s, size, window, e);
	if (ret)
		return ret;
	total = bw_compute(&s->total, size, window);
	total.polls = s->polls;
	total.empty = s->empty_polls;
	for (i = 0; i < s->npaths; i++)
		per[i] = bw_compute(&s->paths[i].ser, size,
				 (uint64_t)p->depth * p->qps);
	if (p->check && p->op == OP_READ) {
		v = check_verify(s, size, why, sizeof(why), e, &ret);
		if (ret)
			return ret;
	}
	bw_msg_init(&m, M_DONE);
	bw_put_u64(&m, size);
	bw_put_result(&m, &total);
	for (i = 0; i < s->npaths; i++)
		bw_put_result(&m, &per[i]);
	bw_put_u8(&m, (uint8_t)v);
	bw_put_str(&m, why);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret)
		ret = bw_expect(s, M_CHECK, &m, e);
	if (ret)
		return ret;
	if (p->op != OP_READ) {
		v = (enum verdict)bw_get_u8(&m);
		bw_get_str(&m, why, sizeof(why));
		if (v == CHECK_FAILED)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " (seen by the server)");
	}
	bw_report_size(s, size, &total, per, v);
	if (v == CHECK_FAILED)
		return bw_fail(e, EILSEQ, "%s", why);
	return 0;
}

static int server_size(struct state *s, uint64_t size, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	struct result total, per[MAX_PATHS];
	enum verdict v = CHECK_OFF;
	char why[BW_WHY_LEN] = "";
	struct bw_msg m;
	uint64_t got;
	int i, ret;

	ret = bw_expect(s, M_START, &m, e);
	if (ret)
		return ret;
	got = bw_get_u64(&m);
	if (got != size)
		return bw_fail(e, EPROTO,
			       "the client started %llu-byte messages, expected %llu",
			       (unsigned long long)got, (unsigned long long)size);
	if (p->check) {
		ret = check_prepare(s, size, p->op == OP_READ, e);
		if (ret)
			return ret;
	}
	if (p->op == OP_SEND) {
		ret = prepost(s, size, e);
		if (ret)
			return ret;
	}
	bw_msg_init(&m, M_GO);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret && p->op == OP_SEND)
		ret = receive(s, size, e);
	if (!ret)
		ret = bw_expect(s, M_DONE, &m, e);
	if (ret)
		return ret;
	bw_get_u64(&m);
	bw_get_result(&m, &total);
	for (i = 0; i < s->npaths; i++)
		bw_get_result(&m, &per[i]);
	v = (enum verdict)bw_get_u8(&m);
	bw_get_str(&m, why, sizeof(why));
	if (p->check && p->op != OP_READ) {
		v = check_verify(s, size, why, sizeof(why), e, &ret);
		if (ret)
			return ret;
	}
	bw_msg_init(&m, M_CHECK);
	bw_put_u8(&m, (uint8_t)v);
	bw_put_str(&m, why);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (ret)
		return ret;
	bw_report_size(s, size, &total, per, v);
	if (v == CHECK_FAILED) {
		s->connected = false; /* the client has the verdict */
		if (p->op == OP_READ)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " (seen by the client)");
		return bw_fail(e, EILSEQ, "%s", why);
	}
	return 0;
}

int bw_run(struct state *s)
{
	const struct opts *o = s->o;
	struct bw_err e = { "" };
	struct bw_msg m;
	int i, ret;

	ret = o->mem.ops->probe(&o->mem, &e);
	if (ret) {
		fprintf(stderr, "%s: memory backend %s: not available here: %s\n",
			BW_PROG, o->mem.ops->name, e.msg);
		return 1;
	}
	if (o->host)
		ret = bw_connect(o->host, o->tcp_port, o->timeout, &s->conn, &e);
	else
		ret = bw_accept(o->tcp_port, o->timeout, &s->conn, &e);
	if (ret)
		return bw_stop(s, &e);
	s->connected = true;
	ret = bw_hello(s, &e);
	if (ret)
		return s->connected ? bw_stop(s, &e) : bw_stop_peer_failed(s, &e);
	ret = bw_setup(s, &e);
	if (ret)
		return bw_stop(s, &e);
	ret = bw_exchange_setup(s, &e);
	if (!ret)
		ret = bw_ready(s, &e);
	if (ret)
		return s->connected ? bw_stop(s, &e) : bw_stop_peer_failed(s, &e);
	if (o->json)
		bw_json_begin(s);
	else
		bw_print_header(s);
	for (i = 0; i < s->nsizes; i++) {
		ret = o->host ? client_size(s, s->sizes[i], &e) :
				server_size(s, s->sizes[i], &e);
		if (ret) {
			bw_report_end(s, false);
			return s->connected ? bw_stop(s, &e) : bw_stop_peer_failed(s, &e);
		}
	}
	if (o->host) {
		bw_msg_init(&m, M_BYE);
		ret = bw_send(&s->conn, &m, o->timeout, &e);
	} else {
		ret = bw_expect(s, M_BYE, &m, &e);
	}
	bw_report_end(s, !ret);
	if (ret)
		return s->connected ? bw_stop(s, &e) : bw_stop_peer_failed(s, &e);
	return 0;
}
