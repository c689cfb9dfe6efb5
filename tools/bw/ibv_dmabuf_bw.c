// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_bw: perftest-style RC bandwidth between a server and a client
 * (RDMA WRITE, RDMA READ or SEND), with the buffers in host memory or in a
 * dma-buf (udmabuf, system heap, DRM, CUDA) registered through
 * ibv_reg_dmabuf_mr_ex(), over one or several paths (devices/endpoints)
 * at once.
 *
 * Flow, both sides:
 *   parse -> probe the memory backend -> TCP connect/accept
 *   -> HELLO: exchange and compare the parameters (mismatch: both stop)
 *   -> open devices, allocate + register buffers, create QPs
 *   -> SETUP: QP numbers, GIDs, buffer addresses/keys, endpoint reports
 *      (or ERROR with the one-line reason, and both stop)
 *   -> connect QPs, READY barrier
 *   -> per size: START/GO, the client drives the traffic (heartbeats on
 *      TCP), DONE with the figures, CHECK with the server's verdict
 *   -> BYE.
 * Every wait has a deadline (--timeout); a peer that goes away is noticed
 * through TCP (EOF) or the QPs (retry exceeded), never waited on.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_mem.h"
#include "bw_net.h"
#include "bw_rdma.h"
#include "json.h"

#define MAX_PATHS 8
#define MAX_QPS 16
#define SLOT_BYTES 4096u	/* ring of message slots per QP: max(size, 4 KiB) */
#define SWEEP_MAX (8u << 20)	/* -a: 2 B .. 8 MiB, as perftest */
#define MiB 1048576.0
/*
 * Idle polls between clock reads (timeouts, heartbeats, the peer's
 * messages). Reading the clock can be costly: a TCG guest's clocksource
 * is the emulated HPET, 1.5 us a read, and every read an MMIO exit.
 */
#define IDLE_CLOCK_EVERY 1024

static const char *prog = "ibv_dmabuf_bw";

enum op { OP_WRITE, OP_READ, OP_SEND };
static const char *const op_name[] = { "write", "read", "send" };
static const char *const op_title[] = { "RDMA_Write", "RDMA_Read", "Send" };

enum msg_type {
	M_HELLO = 1,
	M_SETUP,
	M_READY,
	M_START,
	M_GO,
	M_HEARTBEAT,
	M_DONE,
	M_CHECK,
	M_BYE,
	M_ERROR,
};

enum verdict { CHECK_OFF, CHECK_OK, CHECK_FAILED };

/* Parameters both sides must agree on (compared in the handshake). */
struct params {
	uint32_t op;
	uint32_t all;
	uint64_t size;		/* the size, or the largest of the sweep */
	uint64_t iters;		/* per QP and size */
	uint32_t depth;
	uint32_t qps;		/* per path */
	uint32_t paths;
	uint32_t check;
};

struct opts {
	struct params p;
	const char *host;	/* client: the server; NULL: be the server */
	uint16_t tcp_port;
	int ib_port;
	int gid_index;
	const char *devs[MAX_PATHS];
	int ndevs;
	struct ibv_dma_path_hints hints[MAX_PATHS];
	const char *policy[MAX_PATHS];
	int npolicies;
	struct bw_mem_spec mem;
	uint32_t cq_mod;
	double timeout;
	bool json;
	bool size_given;
};

struct qp_state {
	struct ibv_qp *qp;
	uint32_t psn;
	struct bw_qp_dest dest;	/* the peer's QP */
	uint64_t posted, done, sig_end, recv_posted;
};

struct series {
	double t_first;		/* first post */
	uint64_t nposted;
	double *ev_t;		/* completion events: time ... */
	uint64_t *ev_c;		/* ... and messages completed so far */
	uint64_t nev;
};

struct result {
	uint64_t msgs;
	double peak, avg, rate; /* MiB/s, MiB/s, messages/s */
	uint64_t polls, empty;	/* the client's CQ polls, and those that found nothing */
};

struct path {
	int idx;
	const char *devname;
	const char *policy;
	struct ibv_dma_path_hints hints;
	struct bw_dev dev;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct qp_state q[MAX_QPS];
	struct bw_mem mem;
	bool have_mem;
	struct ibv_mr *mr;
	struct bw_reg_info reg;
	uint64_t region;	/* bytes per QP in the buffer */
	/* the peer's side of this path */
	char rdev[64], rmem[160], rep[160];
	uint64_t raddr, rregion;
	uint32_t rkey;
	struct series ser;
	struct result res;
};

struct state {
	struct opts *o;
	struct bw_conn conn;
	bool connected;
	struct path paths[MAX_PATHS];
	int npaths;
	uint64_t sizes[32];
	int nsizes;
	struct series total;
	struct json j;
	bool json_open;
	struct bw_msg pending;	/* a message that arrived early (DONE) */
	bool have_pending;
	uint64_t polls, empty_polls; /* of the last drive() */
};

/* ------------------------------------------------------------------ */
/* Failing: one line here, and the reason to the peer                   */
/* ------------------------------------------------------------------ */

static int fail_msg(struct state *s, const char *msg)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", prog, msg);
	if (s && s->connected) {
		struct bw_msg m;
		struct bw_err e;

		bw_msg_init(&m, M_ERROR);
		bw_put_str(&m, msg);
		bw_send(&s->conn, &m, 1.0, &e);
	}
	return 1;
}

static int fail(struct state *s, const struct bw_err *e)
{
	return fail_msg(s, e->msg);
}

/* The peer reported a failure or went away: say so, send nothing back. */
static int peer_failed(struct state *s, const struct bw_err *e)
{
	s->connected = false;
	return fail(s, e);
}

/*
 * Wait for a message of type want; heartbeats restart the wait. An ERROR
 * from the peer becomes our failure, reported as the peer's.
 */
static int expect(struct state *s, uint16_t want, struct bw_msg *m,
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

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	const struct bw_mem_ops *const *o;

	fprintf(f,
		"Usage: %s [options]            server\n"
		"       %s [options] SERVER     client\n"
		"  -d, --ib-dev DEV[,DEV...]   RDMA devices, one path each (the first device)\n"
		"  -i, --ib-port N             port of the devices (1)\n"
		"  -x, --gid-index N           GID index (the RoCE v2 GID of an IPv4 address)\n"
		"  -p, --port N                TCP port of the exchange (18515)\n"
		"      --op write|read|send    the operation (write)\n"
		"  -s, --size N                message size, K/M/G suffixes (65536)\n"
		"  -a, --all                   sweep 2 B .. 8 MiB (.. --size when given)\n"
		"  -n, --iters N               messages per QP and size (5000)\n"
		"  -t, --tx-depth N            outstanding messages per QP (128)\n"
		"  -Q, --cq-mod N              a completion every N messages (100, <= tx-depth)\n"
		"  -q, --qp N                  QPs per path (1)\n"
		"      --mem SPEC              memory backend (host):\n",
		prog, prog);
	for (o = bw_mem_backends; *o; o++)
		fprintf(f, "                                %s\n", (*o)->synopsis);
	fprintf(f,
		"      --path P[,P...]         DMA endpoint policy per path: auto, default,\n"
		"                              numa=N, endpoint=N (auto)\n"
		"      --check                 verify the data byte for byte after each size\n"
		"      --json                  print JSON instead of the table\n"
		"      --timeout S             limit of every wait, seconds (60)\n"
		"      --list-mem              which memory backends this machine has, and exit\n"
		"  -h, --help\n");
}

static int usage_error(const char *fmt, ...) BW_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static int split(char *s, const char **out, int max)
{
	int n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return -1;
		out[n++] = tok;
	}
	return n;
}

static int list_mem(void)
{
	const struct bw_mem_ops *const *o;

	for (o = bw_mem_backends; *o; o++) {
		struct bw_mem_spec spec = { .ops = *o, .node = -1 };
		struct bw_err e;

		if ((*o)->probe(&spec, &e))
			printf("%-8s not available here: %s\n", (*o)->name,
			       e.msg);
		else
			printf("%-8s available\n", (*o)->name);
	}
	return 0;
}

enum {
	OPT_OP = 256,
	OPT_MEM,
	OPT_PATH,
	OPT_CHECK,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_LIST_MEM,
};

/* 0: go on; 1..: exit status (2 usage, 0 for --help/--list-mem). */
static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "ib-dev", required_argument, NULL, 'd' },
		{ "ib-port", required_argument, NULL, 'i' },
		{ "gid-index", required_argument, NULL, 'x' },
		{ "port", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, OPT_OP },
		{ "size", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "iters", required_argument, NULL, 'n' },
		{ "tx-depth", required_argument, NULL, 't' },
		{ "cq-mod", required_argument, NULL, 'Q' },
		{ "qp", required_argument, NULL, 'q' },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "list-mem", no_argument, NULL, OPT_LIST_MEM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char devbuf[512], pathbuf[512];
	const char *mem = "host";
	struct bw_err e;
	long v;
	int c, i;

	memset(o, 0, sizeof(*o));
	o->p.op = OP_WRITE;
	o->p.size = 65536;
	o->p.iters = 5000;
	o->p.depth = 128;
	o->p.qps = 1;
	o->tcp_port = 18515;
	o->ib_port = 1;
	o->gid_index = -1;
	o->cq_mod = 100;
	o->timeout = 60;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:i:x:p:s:an:t:Q:q:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'd':
			snprintf(devbuf, sizeof(devbuf), "%s", optarg);
			o->ndevs = split(devbuf, o->devs, MAX_PATHS);
			if (o->ndevs <= 0)
				return usage_error("bad --ib-dev '%s' (at most 8 devices)",
						   optarg);
			break;
		case 'i':
			if (bw_parse_long(optarg, 1, 255, &v))
				return usage_error("bad --ib-port '%s'", optarg);
			o->ib_port = (int)v;
			break;
		case 'x':
			if (bw_parse_long(optarg, 0, 65535, &v))
				return usage_error("bad --gid-index '%s'", optarg);
			o->gid_index = (int)v;
			break;
		case 'p':
			if (bw_parse_long(optarg, 1, 65535, &v))
				return usage_error("bad --port '%s'", optarg);
			o->tcp_port = (uint16_t)v;
			break;
		case OPT_OP:
			for (i = 0; i < 3 && strcmp(optarg, op_name[i]); i++)
				;
			if (i == 3)
				return usage_error("bad --op '%s' (write, read or send)",
						   optarg);
			o->p.op = (uint32_t)i;
			break;
		case 's':
			if (bw_parse_size(optarg, &o->p.size) || o->p.size < 1 ||
			    o->p.size > (1ULL << 31))
				return usage_error("bad --size '%s' (1 B .. 2 GiB)",
						   optarg);
			o->size_given = true;
			break;
		case 'a':
			o->p.all = 1;
			break;
		case 'n':
			if (bw_parse_long(optarg, 1, 100000000, &v))
				return usage_error("bad --iters '%s' (1 .. 100000000)",
						   optarg);
			o->p.iters = (uint64_t)v;
			break;
		case 't':
			if (bw_parse_long(optarg, 1, 16384, &v))
				return usage_error("bad --tx-depth '%s' (1 .. 16384)",
						   optarg);
			o->p.depth = (uint32_t)v;
			break;
		case 'Q':
			if (bw_parse_long(optarg, 1, 16384, &v))
				return usage_error("bad --cq-mod '%s'", optarg);
			o->cq_mod = (uint32_t)v;
			break;
		case 'q':
			if (bw_parse_long(optarg, 1, MAX_QPS, &v))
				return usage_error("bad --qp '%s' (1 .. 16)", optarg);
			o->p.qps = (uint32_t)v;
			break;
		case OPT_MEM:
			mem = optarg;
			break;
		case OPT_PATH:
			snprintf(pathbuf, sizeof(pathbuf), "%s", optarg);
			o->npolicies = split(pathbuf, o->policy, MAX_PATHS);
			if (o->npolicies <= 0)
				return usage_error("bad --path '%s'", optarg);
			for (i = 0; i < o->npolicies; i++)
				if (bw_parse_path(o->policy[i], &o->hints[i]))
					return usage_error("bad --path '%s' (auto, default, numa=N or endpoint=N)",
							   o->policy[i]);
			break;
		case OPT_CHECK:
			o->p.check = 1;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TIMEOUT:
			if (bw_parse_long(optarg, 1, 86400, &v))
				return usage_error("bad --timeout '%s' (1 .. 86400 s)",
						   optarg);
			o->timeout = (double)v;
			break;
		case OPT_LIST_MEM:
			list_mem();
			return -1;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			return usage_error("option '%s' needs a value",
					   argv[optind - 1]);
		default:
			if (optopt) {
				char s[3] = { '-', (char)optopt, 0 };

				return usage_error("unknown option '%s'", s);
			}
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->host = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (bw_mem_parse(mem, &o->mem, &e)) {
		fprintf(stderr, "%s: %s (see --help)\n", prog, e.msg);
		return 2;
	}
	if (!o->npolicies) {
		o->policy[0] = "auto";
		o->npolicies = 1;
	}
	if (!o->ndevs) {
		o->devs[0] = NULL; /* the first device */
		o->ndevs = 1;
	}
	if (o->ndevs > 1 && o->npolicies > 1 && o->ndevs != o->npolicies) {
		fprintf(stderr,
			"%s: %d devices and %d --path policies: give one of either, or as many (see --help)\n",
			prog, o->ndevs, o->npolicies);
		return 2;
	}
	o->p.paths = (uint32_t)(o->ndevs > o->npolicies ? o->ndevs :
							  o->npolicies);
	if (o->p.all && !o->size_given)
		o->p.size = SWEEP_MAX;
	if (o->p.all && o->p.size < 2) {
		fprintf(stderr, "%s: --all needs --size of at least 2\n", prog);
		return 2;
	}
	if (o->cq_mod > o->p.depth)
		o->cq_mod = o->p.depth; /* as perftest: never more than the depth */
	return 0;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                            */
/* ------------------------------------------------------------------ */

static void put_params(struct bw_msg *m, const struct params *p)
{
	bw_put_u32(m, p->op);
	bw_put_u32(m, p->all);
	bw_put_u64(m, p->size);
	bw_put_u64(m, p->iters);
	bw_put_u32(m, p->depth);
	bw_put_u32(m, p->qps);
	bw_put_u32(m, p->paths);
	bw_put_u32(m, p->check);
}

static void get_params(struct bw_msg *m, struct params *p)
{
	p->op = bw_get_u32(m);
	p->all = bw_get_u32(m);
	p->size = bw_get_u64(m);
	p->iters = bw_get_u64(m);
	p->depth = bw_get_u32(m);
	p->qps = bw_get_u32(m);
	p->paths = bw_get_u32(m);
	p->check = bw_get_u32(m);
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
#define OPN(x) ((x) < 3 ? op_name[x] : "?")
#define ONOFF(x) ((x) ? "on" : "off")
	SAME(op, "--op", "%s", OPN);
	SAME(all, "--all", "%s", ONOFF);
	SAME(size, "--size", "%llu", ULL);
	SAME(iters, "--iters", "%llu", ULL);
	SAME(depth, "--tx-depth", "%llu", ULL);
	SAME(qps, "--qp", "%llu", ULL);
	SAME(paths, "number of paths (devices/--path)", "%llu", ULL);
	SAME(check, "--check", "%s", ONOFF);
#undef SAME
#undef ULL
#undef OPN
#undef ONOFF
	return 0;
}

static int hello(struct state *s, struct bw_err *e)
{
	struct params peer;
	struct bw_msg m;
	int ret;

	bw_msg_init(&m, M_HELLO);
	put_params(&m, &s->o->p);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (ret)
		return ret;
	ret = expect(s, M_HELLO, &m, e);
	if (ret)
		return ret;
	get_params(&m, &peer);
	if (m.short_read)
		return bw_fail(e, EPROTO, "short HELLO from the %s",
			       s->conn.peer);
	/* Both sides compare the same pair and stop alike on a mismatch. */
	ret = compare_params(&s->o->p, &peer, s->conn.peer, e);
	if (ret)
		s->connected = false;
	return ret;
}

/* ------------------------------------------------------------------ */
/* Local setup                                                          */
/* ------------------------------------------------------------------ */

static uint64_t slots_for(const struct params *p, uint64_t size)
{
	uint64_t n = SLOT_BYTES / size;

	if (n < 1)
		n = 1;
	if (n > p->depth)
		n = p->depth;
	return n;
}

static void endpoint_str(const struct bw_reg_info *r, char *buf, size_t len)
{
	const struct ibv_dma_endpoint *ep = &r->choice.ep;

	if (!r->have_ep) {
		snprintf(buf, len, "endpoint unknown (device not in sysfs)");
		return;
	}
	snprintf(buf, len, "endpoint %u (%s %s%s%s, node %d)%s%s", ep->index,
		 ibv_dma_endpoint_kind_str(ep->kind),
		 ep->pci_addr[0] ? ep->pci_addr : "-", ep->via[0] ? " via " : "",
		 ep->via, ep->numa_node, r->dmabuf ? ", " : "",
		 r->dmabuf ? ibv_dma_path_class_str(r->choice.path_class) : "");
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
		uint64_t b = slots_for(p, s->sizes[i]) * s->sizes[i];

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

static int setup(struct state *s, struct bw_err *e)
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
		bw_parse_path(P->policy, &P->hints);
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

static void teardown(struct state *s)
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

/* ------------------------------------------------------------------ */
/* SETUP exchange and connection                                        */
/* ------------------------------------------------------------------ */

static int exchange_setup(struct state *s, struct bw_err *e)
{
	const struct params *p = &s->o->p;
	char ep[160];
	struct bw_msg m;
	int i, k, ret;

	bw_msg_init(&m, M_SETUP);
	for (i = 0; i < s->npaths; i++) {
		struct path *P = &s->paths[i];

		endpoint_str(&P->reg, ep, sizeof(ep));
		bw_put_str(&m, P->dev.name);
		bw_put_str(&m, P->mem.desc);
		bw_put_str(&m, ep);
		bw_put_bytes(&m, P->dev.gid.raw, 16);
		bw_put_u32(&m, (uint32_t)P->dev.gid_index);
		bw_put_u16(&m, P->dev.lid);
		bw_put_u8(&m, (uint8_t)P->dev.mtu);
		bw_put_u8(&m, P->dev.max_rd_atomic);
		bw_put_u64(&m, P->mem.iova);
		bw_put_u32(&m, P->mr->rkey);
		bw_put_u64(&m, P->region);
		for (k = 0; k < (int)p->qps; k++) {
			bw_put_u32(&m, P->q[k].qp->qp_num);
			bw_put_u32(&m, P->q[k].psn);
		}
	}
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret)
		ret = expect(s, M_SETUP, &m, e);
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
static int ready(struct state *s, struct bw_err *e)
{
	struct bw_msg m;
	int ret;

	bw_msg_init(&m, M_READY);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	return ret ? ret : expect(s, M_READY, &m, e);
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

#define RULE "---------------------------------------------------------------------------------------\n"

static unsigned int mtu_bytes(enum ibv_mtu m)
{
	return 128u << m;
}

static void print_header(struct state *s)
{
	const struct opts *o = s->o;
	char ep[160], title[64];
	int i, k;

	snprintf(title, sizeof(title), "%s BW Test (ibv_dmabuf_bw)",
		 op_title[o->p.op]);
	printf(RULE);
	printf("%*s\n", (int)(43 + strlen(title) / 2), title);
	printf(" Role            : %-16s Peer           : %s\n",
	       o->host ? "client" : "server", s->conn.addr);
	printf(" Connection type : RC               Paths          : %u\n",
	       o->p.paths);
	printf(" Number of qps   : %-3u per path     TX depth       : %u\n",
	       o->p.qps, o->p.depth);
	printf(" CQ Moderation   : %-16u Iterations     : %llu per QP\n",
	       o->cq_mod, (unsigned long long)o->p.iters);
	printf(" Memory          : %-16s Data check     : %s\n", o->mem.text,
	       o->p.check ? "ON" : "OFF");
	for (i = 0; i < s->npaths; i++) {
		const struct path *P = &s->paths[i];

		endpoint_str(&P->reg, ep, sizeof(ep));
		printf(" path %d: %s port %u, GID index %d, MTU %u, %s, %s (%s)\n",
		       i, P->dev.name, P->dev.port, P->dev.gid_index,
		       mtu_bytes(P->dev.mtu), P->mem.desc,
		       P->reg.dmabuf ? "ibv_reg_dmabuf_mr_ex" : "ibv_reg_mr",
		       P->policy);
		printf("   %s\n", ep);
		printf("   why: %s\n", P->reg.choice.reason);
		if (P->reg.dmabuf)
			printf("   source: %s memory, node %d, exporter %s (%s)\n",
			       ibv_dmabuf_source_str(P->reg.source.source),
			       P->reg.source.numa_node,
			       P->reg.source.exporter,
			       ibv_dmabuf_origin_str(P->reg.source.origin));
		for (k = 0; k < (int)o->p.qps; k++)
			printf("   local  QPN 0x%04x PSN 0x%06x RKey 0x%08x VAddr 0x%016llx\n",
			       P->q[k].qp->qp_num, P->q[k].psn, P->mr->rkey,
			       (unsigned long long)(P->mem.iova + k * P->region));
		for (k = 0; k < (int)o->p.qps; k++)
			printf("   remote QPN 0x%04x PSN 0x%06x RKey 0x%08x VAddr 0x%016llx\n",
			       P->q[k].dest.qpn, P->q[k].dest.psn, P->rkey,
			       (unsigned long long)(P->raddr + k * P->rregion));
		printf("   remote: %s, %s, %s\n", P->rdev, P->rmem, P->rep);
	}
	printf(RULE);
	printf(" #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]\n");
	fflush(stdout);
}

static void print_row(const char *first, uint64_t iters, const struct result *r)
{
	printf(" %-10s %-14llu %-19.2f %-21.2f %.6f\n", first,
	       (unsigned long long)iters, r->peak, r->avg, r->rate / 1e6);
}

static void json_begin(struct state *s)
{
	const struct opts *o = s->o;
	struct json *j = &s->j;
	int i;

	json_init(j, stdout);
	json_obj_begin(j, NULL);
	json_str(j, "tool", prog);
	json_str(j, "role", o->host ? "client" : "server");
	json_str(j, "peer", s->conn.addr);
	json_str(j, "op", op_name[o->p.op]);
	json_str(j, "connection", "RC");
	json_uint(j, "iterations", o->p.iters);
	json_uint(j, "tx_depth", o->p.depth);
	json_uint(j, "cq_mod", o->cq_mod);
	json_uint(j, "qps_per_path", o->p.qps);
	json_bool(j, "check", o->p.check);
	json_str(j, "memory", o->mem.text);
	json_arr_begin(j, "paths");
	for (i = 0; i < s->npaths; i++) {
		const struct path *P = &s->paths[i];
		const struct bw_reg_info *r = &P->reg;

		json_obj_begin(j, NULL);
		json_int(j, "index", i);
		json_str(j, "device", P->dev.name);
		json_int(j, "port", P->dev.port);
		json_int(j, "gid_index", P->dev.gid_index);
		json_int(j, "mtu", mtu_bytes(P->dev.mtu));
		json_str(j, "policy", P->policy);
		json_str(j, "memory", P->mem.desc);
		json_str(j, "registration",
			 r->dmabuf ? "ibv_reg_dmabuf_mr_ex" : "ibv_reg_mr");
		if (r->dmabuf) {
			json_obj_begin(j, "source");
			json_str(j, "type", ibv_dmabuf_source_str(r->source.source));
			json_str(j, "origin", ibv_dmabuf_origin_str(r->source.origin));
			json_int(j, "numa_node", r->source.numa_node);
			json_str(j, "exporter", r->source.exporter);
			json_obj_end(j);
		}
		if (r->have_ep) {
			json_obj_begin(j, "endpoint");
			json_uint(j, "index", r->choice.ep.index);
			json_str(j, "kind", ibv_dma_endpoint_kind_str(r->choice.ep.kind));
			json_str(j, "pci", r->choice.ep.pci_addr);
			json_str(j, "via", r->choice.ep.via);
			json_int(j, "numa_node", r->choice.ep.numa_node);
			json_obj_end(j);
			if (r->dmabuf) {
				json_str(j, "path_class",
					 ibv_dma_path_class_str(r->choice.path_class));
				json_int(j, "numa_distance", r->choice.numa_distance);
			}
		} else {
			json_null(j, "endpoint");
		}
		json_str(j, "reason", r->choice.reason);
		json_obj_begin(j, "remote");
		json_str(j, "device", P->rdev);
		json_str(j, "memory", P->rmem);
		json_str(j, "endpoint", P->rep);
		json_obj_end(j);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_arr_begin(j, "results");
	s->json_open = true;
}

static void json_result(struct json *j, uint64_t bytes, uint64_t iters,
			const struct result *r)
{
	json_uint(j, "bytes", bytes);
	json_uint(j, "iterations", iters);
	json_uint(j, "messages", r->msgs);
	json_double(j, "bw_peak_MiBps", r->peak);
	json_double(j, "bw_avg_MiBps", r->avg);
	json_double(j, "msg_rate_pps", r->rate);
}

static void report_size(struct state *s, uint64_t size,
			const struct result *total,
			const struct result *per_path, enum verdict v)
{
	char first[32];
	int i;

	if (s->o->json) {
		json_obj_begin(&s->j, NULL);
		json_result(&s->j, size, s->o->p.iters, total);
		json_str(&s->j, "check",
			 v == CHECK_OK ? "ok" : v == CHECK_FAILED ? "failed" : "off");
		/* The client's busy-poll loop: how often it found nothing to do. */
		json_uint(&s->j, "cq_polls", total->polls);
		json_uint(&s->j, "cq_polls_empty", total->empty);
		json_arr_begin(&s->j, "paths");
		for (i = 0; i < s->npaths; i++) {
			json_obj_begin(&s->j, NULL);
			json_int(&s->j, "index", i);
			json_str(&s->j, "device", s->paths[i].dev.name);
			json_result(&s->j, size, s->o->p.iters, &per_path[i]);
			json_obj_end(&s->j);
		}
		json_arr_end(&s->j);
		json_obj_end(&s->j);
		return;
	}
	snprintf(first, sizeof(first), "%llu", (unsigned long long)size);
	print_row(first, s->o->p.iters, total);
	if (s->npaths > 1)
		for (i = 0; i < s->npaths; i++) {
			snprintf(first, sizeof(first), "path%d", i);
			print_row(first, s->o->p.iters, &per_path[i]);
		}
	fflush(stdout);
}

static void report_end(struct state *s, bool done)
{
	const struct params *p = &s->o->p;

	if (s->o->json) {
		if (s->json_open) {
			json_arr_end(&s->j);
			json_obj_end(&s->j);
		}
		return;
	}
	printf(RULE);
	if (done && p->check)
		printf(" Data check      : every size verified byte for byte by the %s, through %s\n",
		       p->op == OP_READ ? "client" : "server",
		       s->o->mem.ops == &bw_mem_cuda ? "cuMemcpy" :
						       "the buffer's CPU mapping");
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* Measurement                                                          */
/* ------------------------------------------------------------------ */

/*
 * average: all messages, from the first post to the last completion;
 * peak: the best completion rate over any span of at least `window`
 * messages (between two completion events, or from the first post).
 */
static struct result compute(const struct series *sr, uint64_t size,
			     uint64_t window)
{
	struct result r = { 0 };
	uint64_t i, first = 0, c0, w;
	double dt, t0, bw;

	if (!sr->nev || !sr->nposted)
		return r;
	r.msgs = sr->ev_c[sr->nev - 1];
	dt = sr->ev_t[sr->nev - 1] - sr->t_first;
	if (dt <= 0)
		return r;
	r.avg = (double)r.msgs * (double)size / dt / MiB;
	r.rate = (double)r.msgs / dt;
	r.peak = r.avg;
	w = window < r.msgs ? window : r.msgs;
	/* first: the latest start (event index + 1; 0 = first post) of a span >= w */
	for (i = 0; i < sr->nev; i++) {
		while (first < i && sr->ev_c[i] - sr->ev_c[first] >= w)
			first++;
		/* first - 1 is the latest event still w or more behind i */
		if (first) {
			c0 = sr->ev_c[first - 1];
			t0 = sr->ev_t[first - 1];
		} else {
			c0 = 0;
			t0 = sr->t_first;
		}
		if (sr->ev_c[i] - c0 < w)
			continue;
		dt = sr->ev_t[i] - t0;
		if (dt <= 0)
			continue;
		bw = (double)(sr->ev_c[i] - c0) * (double)size / dt / MiB;
		if (bw > r.peak)
			r.peak = bw;
	}
	return r;
}

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

/*
 * Messages from the peer while traffic runs: EOF and ERROR end the run;
 * early is the one message that may legitimately come first (the client's
 * DONE while the server still polls its last receives), kept for later.
 */
static int watch_peer(struct state *s, uint16_t early, struct bw_err *e)
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

static int heartbeat(struct state *s, struct bw_err *e)
{
	struct bw_msg m;

	bw_msg_init(&m, M_HEARTBEAT);
	return bw_send(&s->conn, &m, s->o->timeout, e);
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
	uint64_t slots = slots_for(p, size);
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

			n = ibv_poll_cq(P->cq, 16, wc);
			if (n < 0)
				return bw_fail(e, EIO, "path %d (%s): ibv_poll_cq failed",
					       i, P->dev.name);
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
			ret = watch_peer(s, 0, e);
			if (ret)
				return ret;
		}
		if (t - last_hb > 1.0) {
			last_hb = t;
			ret = heartbeat(s, e);
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
	uint64_t slots = slots_for(p, size);
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
	uint64_t slots = slots_for(p, size);
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

			n = ibv_poll_cq(P->cq, 16, wc);
			if (n < 0)
				return bw_fail(e, EIO, "path %d (%s): ibv_poll_cq failed",
					       i, P->dev.name);
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
			ret = watch_peer(s, M_DONE, e);
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
	uint64_t slots = slots_for(p, size);

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

/* ------------------------------------------------------------------ */
/* Per size: client and server                                          */
/* ------------------------------------------------------------------ */

static void put_result(struct bw_msg *m, const struct result *r)
{
	bw_put_u64(m, r->polls);
	bw_put_u64(m, r->empty);
	bw_put_u64(m, r->msgs);
	bw_put_double(m, r->peak);
	bw_put_double(m, r->avg);
	bw_put_double(m, r->rate);
}

static void get_result(struct bw_msg *m, struct result *r)
{
	r->polls = bw_get_u64(m);
	r->empty = bw_get_u64(m);
	r->msgs = bw_get_u64(m);
	r->peak = bw_get_double(m);
	r->avg = bw_get_double(m);
	r->rate = bw_get_double(m);
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
		ret = expect(s, M_GO, &m, e);
	if (!ret)
		ret = drive(s, size, window, e);
	if (ret)
		return ret;
	total = compute(&s->total, size, window);
	total.polls = s->polls;
	total.empty = s->empty_polls;
	for (i = 0; i < s->npaths; i++)
		per[i] = compute(&s->paths[i].ser, size,
				 (uint64_t)p->depth * p->qps);
	if (p->check && p->op == OP_READ) {
		v = check_verify(s, size, why, sizeof(why), e, &ret);
		if (ret)
			return ret;
	}
	bw_msg_init(&m, M_DONE);
	bw_put_u64(&m, size);
	put_result(&m, &total);
	for (i = 0; i < s->npaths; i++)
		put_result(&m, &per[i]);
	bw_put_u8(&m, (uint8_t)v);
	bw_put_str(&m, why);
	ret = bw_send(&s->conn, &m, s->o->timeout, e);
	if (!ret)
		ret = expect(s, M_CHECK, &m, e);
	if (ret)
		return ret;
	if (p->op != OP_READ) {
		v = (enum verdict)bw_get_u8(&m);
		bw_get_str(&m, why, sizeof(why));
		if (v == CHECK_FAILED)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " (seen by the server)");
	}
	report_size(s, size, &total, per, v);
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

	ret = expect(s, M_START, &m, e);
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
		ret = expect(s, M_DONE, &m, e);
	if (ret)
		return ret;
	bw_get_u64(&m);
	get_result(&m, &total);
	for (i = 0; i < s->npaths; i++)
		get_result(&m, &per[i]);
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
	report_size(s, size, &total, per, v);
	if (v == CHECK_FAILED) {
		s->connected = false; /* the client has the verdict */
		if (p->op == OP_READ)
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 " (seen by the client)");
		return bw_fail(e, EILSEQ, "%s", why);
	}
	return 0;
}

/* ------------------------------------------------------------------ */

static int run(struct state *s)
{
	const struct opts *o = s->o;
	struct bw_err e = { "" };
	struct bw_msg m;
	int i, ret;

	ret = o->mem.ops->probe(&o->mem, &e);
	if (ret) {
		fprintf(stderr, "%s: memory backend %s: not available here: %s\n",
			prog, o->mem.ops->name, e.msg);
		return 1;
	}
	if (o->host)
		ret = bw_connect(o->host, o->tcp_port, o->timeout, &s->conn, &e);
	else
		ret = bw_accept(o->tcp_port, o->timeout, &s->conn, &e);
	if (ret)
		return fail(s, &e);
	s->connected = true;
	ret = hello(s, &e);
	if (ret)
		return s->connected ? fail(s, &e) : peer_failed(s, &e);
	ret = setup(s, &e);
	if (ret)
		return fail(s, &e);
	ret = exchange_setup(s, &e);
	if (!ret)
		ret = ready(s, &e);
	if (ret)
		return s->connected ? fail(s, &e) : peer_failed(s, &e);
	if (o->json)
		json_begin(s);
	else
		print_header(s);
	for (i = 0; i < s->nsizes; i++) {
		ret = o->host ? client_size(s, s->sizes[i], &e) :
				server_size(s, s->sizes[i], &e);
		if (ret) {
			report_end(s, false);
			return s->connected ? fail(s, &e) : peer_failed(s, &e);
		}
	}
	if (o->host) {
		bw_msg_init(&m, M_BYE);
		ret = bw_send(&s->conn, &m, o->timeout, &e);
	} else {
		ret = expect(s, M_BYE, &m, &e);
	}
	report_end(s, !ret);
	if (ret)
		return s->connected ? fail(s, &e) : peer_failed(s, &e);
	return 0;
}

int main(int argc, char **argv)
{
	static struct state s;
	struct opts o;
	uint64_t sz;
	int ret;

	ret = parse(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	signal(SIGPIPE, SIG_IGN);
	srand48((long)getpid() ^ (long)(bw_now() * 1e6));
	s.o = &o;
	s.conn.fd = -1;
	if (o.p.all)
		for (sz = 2; sz <= o.p.size && s.nsizes < 32; sz *= 2)
			s.sizes[s.nsizes++] = sz;
	else
		s.sizes[s.nsizes++] = o.p.size;
	ret = run(&s);
	teardown(&s);
	return ret;
}
