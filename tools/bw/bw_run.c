// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The run of ibv_dmabuf_bw: connect, agree, set up, then size by size the
 * exchange around the traffic (bw_traffic.c): the client drives it (with
 * -b both sides do), each sender reports its figures, the receivers check
 * the data when asked, and the figures go to the report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

#include "bw.h"

static void add_result(struct result *a, const struct result *b)
{
	a->msgs += b->msgs;
	a->peak += b->peak;
	a->avg += b->avg;
	a->rate += b->rate;
}

/* DONE: the size, the messages sent, the sender's figures (all, per path). */
static int send_done(struct state *s, const struct traffic *t,
		     const struct result *total, const struct result *per,
		     struct bw_err *e)
{
	struct bw_msg m;
	int i;

	bw_msg_init(&m, M_DONE);
	bw_put_u64(&m, t->size);
	bw_put_u64(&m, t->sent);
	bw_put_result(&m, total);
	for (i = 0; i < s->npaths; i++)
		bw_put_result(&m, &per[i]);
	return bw_send(&s->conn, &m, s->o->timeout, e);
}

static int recv_done(struct state *s, uint64_t size, struct result *total,
		     struct result *per, struct bw_err *e)
{
	struct bw_msg m;
	uint64_t got;
	int i, ret;

	ret = bw_expect(s, M_DONE, &m, e);
	if (ret)
		return ret;
	got = bw_get_u64(&m);
	bw_get_u64(&m); /* the messages sent: bw_traffic_recv() used it */
	bw_get_result(&m, total);
	for (i = 0; i < s->npaths; i++)
		bw_get_result(&m, &per[i]);
	if (m.short_read || got != size)
		return bw_fail(e, EPROTO,
			       "the %s reported %llu-byte messages, expected %llu",
			       s->conn.peer, (unsigned long long)got,
			       (unsigned long long)size);
	return 0;
}

/*
 * Both sides say what their data check found (CHECK_OFF: nothing of theirs
 * to compare) and both stop alike on a failure, naming who saw it.
 */
static int exchange_verdicts(struct state *s, enum verdict *v, char *why,
			     size_t len, struct bw_err *e)
{
	char theirs_why[BW_WHY_LEN];
	enum verdict theirs;
	struct bw_msg m;
	int ret;

	bw_msg_init(&m, M_CHECK);
	bw_put_u8(&m, (uint8_t)*v);
	bw_put_str(&m, why);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret)
		ret = bw_expect(s, M_CHECK, &m, e);
	if (ret)
		return ret;
	theirs = (enum verdict)bw_get_u8(&m);
	bw_get_str(&m, theirs_why, sizeof(theirs_why));
	if (*v == CHECK_FAILED)
		return 0;
	if (theirs == CHECK_FAILED) {
		*v = CHECK_FAILED;
		snprintf(why, len, "%s (seen by the %s)", theirs_why,
			 s->conn.peer);
	} else if (theirs == CHECK_OK) {
		*v = CHECK_OK;
	}
	return 0;
}

/* The figures the report shows: the sender's, or both senders' with -b. */
static void make_row(struct state *s, struct row *r, uint64_t size,
		     const struct result *mine, const struct result *mine_per,
		     const struct result *peer, const struct result *peer_per)
{
	bool client = s->o->host;
	int i;

	memset(r, 0, sizeof(*r));
	r->size = size;
	if (!s->o->p.bidir) {
		r->total = client ? *mine : *peer;
		for (i = 0; i < s->npaths; i++)
			r->per_path[i] = client ? mine_per[i] : peer_per[i];
		r->msgs = r->total.msgs;
		return;
	}
	r->total = *mine;
	add_result(&r->total, peer);
	for (i = 0; i < s->npaths; i++) {
		r->per_path[i] = mine_per[i];
		add_result(&r->per_path[i], &peer_per[i]);
	}
	r->dir[client ? 0 : 1] = *mine;
	r->dir[client ? 1 : 0] = *peer;
	r->msgs = mine->msgs; /* perftest's duplex row: this side's count */
}

static int start_size(struct state *s, struct traffic *t, struct bw_err *e)
{
	struct bw_msg m;
	uint64_t got;
	int ret;

	if (s->o->host) {
		/* Our receives (SEND with -b) are posted before anything is sent. */
		ret = bw_prepost(s, t, e);
		if (ret)
			return ret;
		bw_msg_init(&m, M_START);
		bw_put_u64(&m, t->size);
		ret = bw_send(&s->conn, &m, s->o->timeout, e);
		return ret ? ret : bw_expect(s, M_GO, &m, e);
	}
	ret = bw_expect(s, M_START, &m, e);
	if (ret)
		return ret;
	got = bw_get_u64(&m);
	if (got != t->size)
		return bw_fail(e, EPROTO,
			       "the client started %llu-byte messages, expected %llu",
			       (unsigned long long)got,
			       (unsigned long long)t->size);
	ret = bw_prepost(s, t, e);
	if (ret)
		return ret;
	bw_msg_init(&m, M_GO);
	return bw_send(&s->conn, &m, s->o->timeout, e);
}

/*
 * One size, both sides: START/GO, the traffic (the client sends; with -b
 * both do), DONE from each sender with its figures, the receivers' data
 * check, CHECK both ways, the row.
 */
static int run_size(struct state *s, uint64_t size, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	struct result mine = { 0 }, peer = { 0 };
	struct result mine_per[MAX_PATHS] = { { 0 } };
	struct result peer_per[MAX_PATHS] = { { 0 } };
	char why[BW_WHY_LEN] = "";
	struct traffic t;
	enum verdict v;
	struct row *r;
	int ret;

	bw_traffic_init(s, &t, size);
	if (p->check) {
		ret = bw_check_prepare(s, size, e);
		if (ret)
			return ret;
	}
	ret = start_size(s, &t, e);
	if (!ret && t.send) {
		ret = bw_traffic_send(s, &t, e);
		if (!ret) {
			bw_traffic_results(s, &t, &mine, mine_per);
			ret = send_done(s, &t, &mine, mine_per, e);
		}
	}
	if (!ret && (!s->o->host || p->bidir)) {
		ret = bw_traffic_recv(s, &t, e);
		if (!ret)
			ret = recv_done(s, size, &peer, peer_per, e);
	}
	if (ret)
		return ret;
	v = bw_check_verify(s, size, why, sizeof(why), e, &ret);
	if (ret)
		return ret;
	ret = exchange_verdicts(s, &v, why, sizeof(why), e);
	if (ret)
		return ret;
	r = &s->rows[s->nrows < 32 ? s->nrows++ : 31];
	make_row(s, r, size, &mine, mine_per, &peer, peer_per);
	bw_report_size(s, r, v);
	if (v == CHECK_FAILED) {
		s->connected = false; /* the peer has the same verdict */
		return bw_fail(e, EILSEQ, "%s", why);
	}
	return s->o->out_json ? bw_out_json_write(s, e) : 0;
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
	if (o->out_json && bw_out_json_open(o, &e))
		return bw_stop(s, &e);
	if (o->host) {
		ret = bw_connect(o->host, o->tcp_port, o->timeout, &s->conn, &e);
	} else {
		/* A server that cannot serve says so now, not when a client comes. */
		ret = bw_open_devices(s, &e);
		if (!ret)
			ret = bw_accept(o->tcp_port, o->timeout, &s->conn, &e);
	}
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
		ret = run_size(s, s->sizes[i], &e);
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
