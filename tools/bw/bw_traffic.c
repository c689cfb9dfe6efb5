// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * One size of ibv_dmabuf_bw's traffic on this side: the WRITEs, READs or
 * SENDs it drives (the client; with -b the server too), the receives it
 * serves for SEND (the server; with -b the client too), the completion
 * timeline of the figures, and -D's measured span.
 *
 * --iters: every QP posts that many messages. -D: every QP posts until the
 * time is up, then up to the next signalled message (so the last one
 * completes visibly) and at least one message per slot (so --check has
 * every slot written); the figures are those of the span from --margin
 * after the first post to --margin before the end, as perftest's.
 *
 * The clock is read as little as possible: a TCG guest's clocksource is
 * the emulated HPET (1.5 us a read, an MMIO exit under QEMU's big lock),
 * and reading it per completion measurably slowed small messages. It is
 * read at each path's first post, once every `stamp` completed messages
 * (an eighth of the peak window: the completion timeline keeps enough
 * resolution), at the last completion, and every IDLE_CLOCK_EVERY polls
 * for timeouts, -D, heartbeats and the peer's messages (with -e, after
 * every wait for an event instead).
 *
 * IBV_DMABUF_BW_TEST_DELAY_US=N (tests only) sleeps N microseconds before
 * every message this side posts: an artificial slowdown, so that the lab
 * can show the bandwidth gate against ib_write_bw failing.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <infiniband/verbs.h>

#include "bw.h"

#define RECV_TAG (1ULL << 63)	/* wr_id of receives; sends: QP << 32 | count */
#define OPEN_ENDED UINT64_MAX

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

/* IBV_DMABUF_BW_TEST_DELAY_US, said once on stderr when set. */
static long test_delay_us(void)
{
	static bool told;
	const char *v = getenv("IBV_DMABUF_BW_TEST_DELAY_US");
	long us;

	if (!v || !*v)
		return 0;
	us = strtol(v, NULL, 10);
	if (us <= 0 || us > 1000000)
		return 0;
	if (!told) {
		fprintf(stderr,
			"ibv_dmabuf_bw: IBV_DMABUF_BW_TEST_DELAY_US=%ld: every post delayed by %ld us (a test-only slowdown)\n",
			us, us);
		told = true;
	}
	return us;
}

void bw_traffic_init(struct state *s, struct traffic *t, uint64_t size)
{
	const struct params *p = &s->o->p;
	int i, k;

	memset(t, 0, sizeof(*t));
	t->size = size;
	t->slots = bw_slots_for(p, size);
	t->window = (uint64_t)p->depth * p->qps * s->npaths;
	t->send = s->o->host || p->bidir;
	t->recv = p->op == OP_SEND && (!s->o->host || p->bidir);
	/* The peer sends as many (the parameters are equal), or says so in DONE. */
	t->recv_total = p->duration ? OPEN_ENDED :
				      p->iters * p->qps * (uint64_t)s->npaths;
	t->early = !s->o->host || p->bidir ? M_DONE : 0;
	s->total.nposted = s->total.nev = 0;
	s->polls = s->empty_polls = 0;
	t->test_delay_us = test_delay_us();
	memset(&s->win, 0, sizeof(s->win));
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		P->ser.nposted = P->ser.nev = 0;
		P->sent = 0;
		for (k = 0; k < (int)p->qps; k++) {
			struct qp_state *Q = &P->q[k];

			Q->posted = Q->done = Q->sig_end = 0;
			Q->limit = p->duration ? OPEN_ENDED : p->iters;
			Q->recv_posted = Q->recv_done = 0;
		}
	}
}

static int post_send(struct state *s, struct path *P, int qi,
		     const struct traffic *t, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	struct qp_state *Q = &P->q[qi];
	uint64_t k = Q->posted, slot = (k % t->slots) * t->size;
	struct ibv_sge sge = {
		.addr = P->mem.iova + (uint64_t)qi * P->region + slot,
		.length = (uint32_t)t->size,
		.lkey = P->mr->lkey,
	};
	struct ibv_send_wr wr = { 0 }, *bad;
	bool sig = (k + 1) % s->o->cq_mod == 0 || k + 1 == Q->limit;

	if (t->test_delay_us) {
		struct timespec d = { .tv_sec = t->test_delay_us / 1000000,
				      .tv_nsec = t->test_delay_us % 1000000 * 1000 };

		nanosleep(&d, NULL);
	}

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = p->op == OP_WRITE ? IBV_WR_RDMA_WRITE :
		    p->op == OP_READ  ? IBV_WR_RDMA_READ :
					IBV_WR_SEND;
	if (p->op != OP_SEND) {
		wr.wr.rdma.remote_addr = P->raddr + (uint64_t)qi * P->rregion +
					 slot;
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

/* Receives land in the exposed area (the whole buffer without -b). */
static int post_recv(struct path *P, int qi, const struct traffic *t,
		     struct bw_err *e)
{
	struct qp_state *Q = &P->q[qi];
	struct ibv_sge sge = {
		.addr = P->mem.iova + P->xoff + (uint64_t)qi * P->region +
			(Q->recv_posted % t->slots) * t->size,
		.length = (uint32_t)t->size,
		.lkey = P->mr->lkey,
	};
	struct ibv_recv_wr wr = { 0 }, *bad;

	wr.wr_id = RECV_TAG | (uint64_t)qi;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	if (ibv_post_recv(Q->qp, &wr, &bad))
		return bw_fail(e, errno, "path %d (%s): ibv_post_recv: %s",
			       P->idx, P->dev.name, strerror(errno));
	Q->recv_posted++;
	return 0;
}

/* How many receives a QP keeps posted: this size's, or open-ended with -D. */
static uint64_t recv_limit(const struct state *s)
{
	return s->o->p.duration ? OPEN_ENDED : s->o->p.iters;
}

int bw_prepost(struct state *s, struct traffic *t, struct bw_err *e)
{
	uint64_t lim = recv_limit(s);
	int i, k, ret;

	if (!t->recv)
		return 0;
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];
		uint32_t rq = 2 * s->o->p.depth;

		if (rq > P->dev.max_qp_wr)
			rq = P->dev.max_qp_wr;
		for (k = 0; k < (int)s->o->p.qps; k++)
			while (P->q[k].recv_posted < lim &&
			       P->q[k].recv_posted < rq) {
				ret = post_recv(P, k, t, e);
				if (ret)
					return ret;
			}
	}
	return 0;
}

static int on_recv(struct state *s, struct traffic *t, struct path *P,
		   const struct ibv_wc *wc, struct bw_err *e)
{
	int qi = (int)(wc->wr_id & 0xffff);
	struct qp_state *Q = &P->q[qi];

	if (wc->status != IBV_WC_SUCCESS)
		return bw_fail(e, EIO,
			       "path %d (%s) QP 0x%x: receive completion error: %s%s",
			       P->idx, P->dev.name, wc->qp_num,
			       ibv_wc_status_str(wc->status),
			       wc_hint(wc->status));
	if (wc->byte_len != t->size)
		return bw_fail(e, EPROTO,
			       "path %d: received %u bytes, expected %llu",
			       P->idx, wc->byte_len,
			       (unsigned long long)t->size);
	Q->recv_done++;
	t->recv_done++;
	if (Q->recv_posted < recv_limit(s))
		return post_recv(P, qi, t, e);
	return 0;
}

static int post_path(struct state *s, struct traffic *t, struct path *P,
		     struct bw_err *e)
{
	uint32_t depth = s->o->p.depth;
	int k, ret;

	for (k = 0; k < (int)s->o->p.qps; k++) {
		struct qp_state *Q = &P->q[k];
		uint64_t before = Q->posted;

		if (Q->posted == Q->limit || Q->posted - Q->done >= depth)
			continue;
		if (!P->ser.nposted) {
			double now = bw_now();

			P->ser.t_first = now;
			if (!s->total.nposted) {
				s->total.t_first = now;
				if (s->o->p.duration && !s->o->p.margin) {
					s->win.started = true;
					s->win.t0 = now;
				}
			}
		}
		while (Q->posted < Q->limit && Q->posted - Q->done < depth) {
			ret = post_send(s, P, k, t, e);
			if (ret)
				return ret;
		}
		P->ser.nposted += Q->posted - before;
		s->total.nposted += Q->posted - before;
	}
	return 0;
}

static bool all_sent(const struct state *s)
{
	int i, k;

	for (i = 0; i < s->npaths; i++)
		for (k = 0; k < (int)s->o->p.qps; k++) {
			const struct qp_state *Q = &s->paths[i].q[k];

			if (Q->limit == OPEN_ENDED || Q->done < Q->limit)
				return false;
		}
	return true;
}

static void record_event(struct series *sr, double t, uint64_t n)
{
	uint64_t c = sr->nev ? sr->ev_c[sr->nev - 1] : 0;

	sr->ev_t[sr->nev] = t;
	sr->ev_c[sr->nev] = c + n;
	sr->nev++;
}

static void snapshot(const struct state *s, uint64_t *c)
{
	int i;

	c[MAX_PATHS] = 0;
	for (i = 0; i < s->npaths; i++) {
		c[i] = s->paths[i].sent;
		c[MAX_PATHS] += c[i];
	}
}

/* -D: open and close the measured span; at the end, stop posting. */
static void duration_tick(struct state *s, struct traffic *t, double now)
{
	const struct params *p = &s->o->p;
	struct window *w = &s->win;
	double t0 = s->total.t_first;
	int i, k;

	if (!s->total.nposted)
		return;
	if (!w->started && now >= t0 + p->margin) {
		w->started = true;
		w->t0 = now;
		snapshot(s, w->c0);
	}
	if (w->started && !w->ended && now >= t0 + p->duration - p->margin) {
		w->ended = true;
		w->t1 = now;
		snapshot(s, w->c1);
	}
	if (t->stopped || now < t0 + p->duration)
		return;
	t->stopped = true;
	for (i = 0; i < s->npaths; i++)
		for (k = 0; k < (int)p->qps; k++) {
			struct qp_state *Q = &s->paths[i].q[k];
			uint64_t n = Q->posted > t->slots ? Q->posted : t->slots;

			Q->limit = (n + s->o->cq_mod - 1) / s->o->cq_mod *
				   s->o->cq_mod;
		}
}

/* The peer's DONE arrived early: how many messages it sent. */
static void learn_recv_total(struct state *s, struct traffic *t)
{
	struct bw_msg m;

	if (!s->have_pending || t->recv_total != OPEN_ENDED)
		return;
	m = s->pending;
	m.pos = 0;
	bw_get_u64(&m); /* size */
	t->recv_total = bw_get_u64(&m);
}

static int stalled(struct state *s, struct traffic *t, bool sending,
		   struct bw_err *e)
{
	char per[32];

	if (!sending)
		return bw_fail(e, ETIMEDOUT,
			       "nothing received for %g s (%llu messages of the %s's arrived): the %s or the network is gone",
			       s->o->timeout, (unsigned long long)t->recv_done,
			       s->conn.peer, s->conn.peer);
	return bw_fail(e, ETIMEDOUT,
		       "no completion for %g s (%llu messages done, one asked every %u = %s): the %s or the network is gone, or too slow for --timeout/--cq-mod",
		       s->o->timeout, (unsigned long long)t->sent, s->o->cq_mod,
		       bw_size_str(t->size * s->o->cq_mod, per, sizeof(per)),
		       s->conn.peer);
}

/* Completions of one path: sends counted, receives served. */
static int poll_path(struct state *s, struct traffic *t, struct path *P,
		     uint64_t *done, struct bw_err *e)
{
	struct ibv_wc wc[16];
	int n, k, ret;

	n = ibv_poll_cq(P->cq, 16, wc);
	if (n < 0)
		return -bw_fail(e, EIO, "path %d (%s): ibv_poll_cq failed",
				P->idx, P->dev.name);
	for (k = 0; k < n; k++) {
		uint64_t cnt = wc[k].wr_id & 0xffffffffu;

		if (wc[k].wr_id & RECV_TAG) {
			ret = on_recv(s, t, P, &wc[k], e);
			if (ret)
				return -ret;
			continue;
		}
		if (wc[k].status != IBV_WC_SUCCESS)
			return -bw_fail(e, EIO,
					"path %d (%s) QP 0x%x: completion error: %s (vendor error 0x%x)%s",
					P->idx, P->dev.name, wc[k].qp_num,
					ibv_wc_status_str(wc[k].status),
					wc[k].vendor_err, wc_hint(wc[k].status));
		P->q[wc[k].wr_id >> 32].done += cnt;
		P->sent += cnt;
		t->sent += cnt;
		*done += cnt;
	}
	return n;
}

/*
 * -e, after a round of polls that found nothing: a path not armed is armed
 * now, and then polled once more before any sleep (a completion that came
 * between the empty poll and the arming raises no event). With every path
 * armed, sleep on their channels, 50 ms at most, so that the loop's clock
 * checks (--timeout, the peer's watch, heartbeats) still run. 0, or an
 * errno with the reason in e.
 */
static int wait_events(struct state *s, struct bw_err *e)
{
	struct pollfd fds[MAX_PATHS];
	bool armed_now = false;
	struct ibv_cq *cq;
	void *cq_ctx;
	int i, r;

	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		if (P->armed)
			continue;
		if (ibv_req_notify_cq(P->cq, 0))
			return bw_fail(e, EIO, "path %d (%s): ibv_req_notify_cq failed",
				       P->idx, P->dev.name);
		P->armed = true;
		armed_now = true;
	}
	if (armed_now)
		return 0;
	for (i = 0; i < s->npaths; i++) {
		fds[i].fd = s->paths[i].chan->fd;
		fds[i].events = POLLIN;
		fds[i].revents = 0;
	}
	r = poll(fds, (nfds_t)s->npaths, 50);
	if (r < 0 && errno != EINTR)
		return bw_fail(e, errno, "poll of the completion channels: %s",
			       strerror(errno));
	for (i = 0; r > 0 && i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		if (!(fds[i].revents & POLLIN))
			continue;
		if (ibv_get_cq_event(P->chan, &cq, &cq_ctx))
			return bw_fail(e, EIO, "path %d (%s): ibv_get_cq_event failed",
				       P->idx, P->dev.name);
		ibv_ack_cq_events(cq, 1);
		P->armed = false;
	}
	return 0;
}

/*
 * The loop of both phases: until this side's sends are all complete
 * (sending), or until all the peer's sends have arrived.
 */
static int run_loop(struct state *s, struct traffic *t, bool sending,
		    struct bw_err *e)
{
	uint64_t stamp = t->window / 8 ? t->window / 8 : 1, unstamped = 0;
	uint64_t pending[MAX_PATHS] = { 0 };
	double now = bw_now(), last_progress = now, last_watch = now,
	       last_hb = now;
	bool series = sending && !s->o->p.duration, progressed = false, fin,
	     found, waited;
	unsigned int idle = 0;
	int i, n, ret;

	for (;;) {
		for (i = 0; sending && i < s->npaths; i++) {
			ret = post_path(s, t, &s->paths[i], e);
			if (ret)
				return ret;
		}
		found = false;
		for (i = 0; i < s->npaths; i++) {
			uint64_t recv_before = t->recv_done, done = 0;

			n = poll_path(s, t, &s->paths[i], &done, e);
			if (n < 0)
				return -n;
			if (sending) {
				s->polls++;
				s->empty_polls += !n;
			}
			found |= n > 0;
			pending[i] += done;
			unstamped += done;
			progressed |= done || t->recv_done != recv_before;
		}
		fin = sending ? all_sent(s) : t->recv_done >= t->recv_total;
		waited = s->o->events && !fin && !found;
		if (waited) {
			ret = wait_events(s, e);
			if (ret)
				return ret;
		}
		if (series && unstamped && (unstamped >= stamp || fin)) {
			now = bw_now();
			for (i = 0; i < s->npaths; i++) {
				if (!pending[i])
					continue;
				record_event(&s->paths[i].ser, now, pending[i]);
				pending[i] = 0;
			}
			record_event(&s->total, now, unstamped);
			unstamped = 0;
			last_progress = now;
			progressed = false;
		} else if (!fin && !waited && ++idle % IDLE_CLOCK_EVERY) {
			continue;
		} else {
			now = bw_now();
			if (progressed)
				last_progress = now;
			progressed = false;
		}
		if (fin)
			return 0;
		if (sending && s->o->p.duration)
			duration_tick(s, t, now);
		if (now - last_progress > s->o->timeout)
			return stalled(s, t, sending, e);
		if (now - last_watch > 0.05) {
			last_watch = now;
			ret = bw_watch_peer(s, t->early, e);
			if (ret)
				return ret;
			learn_recv_total(s, t);
		}
		if (now - last_hb > 1.0) {
			last_hb = now;
			ret = bw_heartbeat(s, e);
			if (ret)
				return ret;
		}
	}
}

int bw_traffic_send(struct state *s, struct traffic *t, struct bw_err *e)
{
	return run_loop(s, t, true, e);
}

int bw_traffic_recv(struct state *s, struct traffic *t, struct bw_err *e)
{
	if (!t->recv)
		return 0;
	learn_recv_total(s, t);
	return run_loop(s, t, false, e);
}

static struct result span_result(const struct window *w, int idx,
				 uint64_t size)
{
	struct result r = { 0 };
	double dt = w->t1 - w->t0;

	if (!w->ended || dt <= 0)
		return r;
	r.msgs = w->c1[idx] - w->c0[idx];
	r.avg = (double)r.msgs * (double)size / dt / MiB;
	r.rate = (double)r.msgs / dt;
	return r;
}

void bw_traffic_results(struct state *s, struct traffic *t,
			struct result *total, struct result *per_path)
{
	const struct params *p = &s->o->p;
	int i;

	for (i = 0; i < s->npaths; i++)
		per_path[i] = p->duration ?
				      span_result(&s->win, i, t->size) :
				      bw_compute(&s->paths[i].ser, t->size,
						 (uint64_t)p->depth * p->qps);
	*total = p->duration ? span_result(&s->win, MAX_PATHS, t->size) :
			       bw_compute(&s->total, t->size, t->window);
	total->polls = s->polls;
	total->empty = s->empty_polls;
}
