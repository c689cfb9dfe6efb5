/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * ibv_dmabuf_bw's parts, split as perftest splits its tools: options
 * (bw_options.c), the wire protocol between client and server
 * (bw_proto.c), the verbs resources of each path (bw_resources.c), the
 * run loop (bw_run.c) and the report (bw_report.c); ibv_dmabuf_bw.c is
 * main(). The memory backends, verbs and TCP helpers are the dmp-bw
 * library's (bw_mem.h, bw_rdma.h, bw_net.h).
 */
#ifndef DMP_BW_H
#define DMP_BW_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_mem.h"
#include "bw_net.h"
#include "bw_rdma.h"
#include "json.h"

#define BW_PROG "ibv_dmabuf_bw"
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

enum op { OP_WRITE, OP_READ, OP_SEND };
extern const char *const bw_op_name[];	/* "write", "read", "send" */
extern const char *const bw_op_title[];	/* "RDMA_Write", ... */

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
	uint64_t iters;		/* per QP and size; unused with a duration */
	uint32_t depth;
	uint32_t qps;		/* per path */
	uint32_t paths;
	uint32_t check;
	uint32_t duration;	/* -D: seconds of traffic, 0: --iters */
	uint32_t margin;	/* -f: seconds left out at each end of -D */
	uint32_t bidir;		/* -b: both sides send */
};

/* Units of the table and of --out_json. */
enum bw_units { UNITS_MIB, UNITS_GBIT };

struct opts {
	struct params p;
	const char *host;	/* client: the server; NULL: be the server */
	uint16_t tcp_port;
	int ib_port;
	int gid_index;
	int mtu;		/* -m: bytes, 0: the port's active MTU */
	int qp_timeout;		/* -u: RC local ACK timeout exponent (14) */
	const char *devs[MAX_PATHS];
	int ndevs;
	struct ibv_dma_path_hints hints[MAX_PATHS];
	const char *policy[MAX_PATHS];
	int npolicies;
	struct bw_mem_spec mem;
	uint32_t cq_mod;
	bool events;		/* -e: sleep on CQ events between empty polls */
	double timeout;
	bool json;
	bool size_given;
	bool perftest_header;	/* perftest's column titles and counts */
	enum bw_units units;	/* --report_gbits */
	const char *out_json;	/* --out_json file, or NULL */
};

struct qp_state {
	struct ibv_qp *qp;
	uint32_t psn;
	struct bw_qp_dest dest;	/* the peer's QP */
	uint64_t posted, done, sig_end;	/* sends (WRITE, READ, SEND) */
	uint64_t limit;		/* sends to post: --iters, or open-ended with -D */
	uint64_t recv_posted, recv_done;
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
	double peak, avg, rate; /* MiB/s, MiB/s, messages/s; -D: no peak (0) */
	uint64_t polls, empty;	/* the sender's CQ polls, and those that found nothing */
};

/* One size's figures as the report shows them (both directions with -b). */
struct row {
	uint64_t size;
	uint64_t msgs;		/* messages measured (all QPs and paths) */
	struct result total;
	struct result per_path[MAX_PATHS];
	struct result dir[2];	/* -b: sent by the client, by the server */
};

struct path {
	int idx;
	const char *devname;
	const char *policy;
	struct ibv_dma_path_hints hints;
	struct bw_dev dev;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_comp_channel *chan;	/* -e only */
	bool armed;		/* -e: a completion event is asked for */
	struct qp_state q[MAX_QPS];
	struct bw_mem mem;
	bool have_mem;
	struct ibv_mr *mr;
	struct bw_reg_info reg;
	bool mtu_capped;	/* -m above the port's active MTU */
	uint64_t region;	/* bytes per QP in each area of the buffer */
	/*
	 * Where the peer's WRITEs, READs and SENDs land: offset of the
	 * exposed area. 0 unless -b: then the buffer has two areas, the one
	 * this side's own work requests use, and the one exposed to the peer.
	 */
	uint64_t xoff;
	uint64_t sent;		/* sends completed (this size) */
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
	struct window {		/* -D: the measured span, from margin to D - margin */
		bool started, ended;
		double t0, t1;
		uint64_t c0[MAX_PATHS + 1], c1[MAX_PATHS + 1]; /* per path, all */
	} win;
	struct row rows[32];	/* what was reported, for --out_json */
	int nrows;
	struct json j;
	bool json_open;
	struct bw_msg pending;	/* a message that arrived early (DONE) */
	bool have_pending;
	uint64_t polls, empty_polls; /* of the last drive() */
};

/*
 * The perftest connection types -c knows; only RC runs here. "RC" is
 * compared as perftest compares it.
 */
#define BW_CONN_TYPES "RC, UC, UD, XRC, DC, RawEth, SRD"

/* bw_options.c: 0 go on; >0 the exit status (2 usage); -1 exit 0 (--help). */
int bw_parse_options(int argc, char **argv, struct opts *o);

/* bw_proto.c: the exchange with the peer over TCP. */
int bw_stop(struct state *s, const struct bw_err *e);
int bw_stop_peer_failed(struct state *s, const struct bw_err *e);
int bw_expect(struct state *s, uint16_t want, struct bw_msg *m,
	      struct bw_err *e);
int bw_hello(struct state *s, struct bw_err *e);
int bw_exchange_setup(struct state *s, struct bw_err *e);
int bw_ready(struct state *s, struct bw_err *e);
int bw_watch_peer(struct state *s, uint16_t early, struct bw_err *e);
int bw_heartbeat(struct state *s, struct bw_err *e);
void bw_put_result(struct bw_msg *m, const struct result *r);
void bw_get_result(struct bw_msg *m, struct result *r);

/* bw_resources.c: devices, buffers, MRs, CQs and QPs of every path. */
uint64_t bw_slots_for(const struct params *p, uint64_t size);
/* Open every path's device (the server does it before it listens). */
int bw_open_devices(struct state *s, struct bw_err *e);
int bw_setup(struct state *s, struct bw_err *e);
void bw_teardown(struct state *s);

/* bw_report.c */
void bw_endpoint_str(const struct bw_reg_info *r, char *buf, size_t len);
void bw_print_header(struct state *s);
void bw_json_begin(struct state *s);
void bw_report_size(struct state *s, const struct row *r, enum verdict v);
void bw_report_end(struct state *s, bool done);
struct result bw_compute(const struct series *sr, uint64_t size,
			 uint64_t window);
/* --out_json: perftest's report file, rewritten after each size. */
int bw_out_json_open(const struct opts *o, struct bw_err *e);
int bw_out_json_write(struct state *s, struct bw_err *e);

/* bw_check.c: --check, the pattern before a size and the verdict after. */
int bw_check_prepare(struct state *s, uint64_t size, struct bw_err *e);
enum verdict bw_check_verify(struct state *s, uint64_t size, char *why,
			     size_t len, struct bw_err *e, int *err);

/* bw_traffic.c: one size of traffic on this side. */
struct traffic {
	uint64_t size, slots;
	uint64_t window;	/* messages of the peak span */
	bool send;		/* this side posts WRITE, READ or SEND */
	bool recv;		/* this side serves SEND receives */
	uint64_t sent;		/* sends completed, all paths */
	uint64_t recv_done;
	uint64_t recv_total;	/* the peer's sends; UINT64_MAX: not known yet */
	uint16_t early;		/* the peer message that may come first (DONE) */
	bool stopped;		/* -D: the time is up, no new messages */
	long test_delay_us;	/* IBV_DMABUF_BW_TEST_DELAY_US (tests only) */
};
void bw_traffic_init(struct state *s, struct traffic *t, uint64_t size);
int bw_prepost(struct state *s, struct traffic *t, struct bw_err *e);
/* Drive this side's sends to the end (serving receives meanwhile). */
int bw_traffic_send(struct state *s, struct traffic *t, struct bw_err *e);
/* Serve receives until the peer's sends have all arrived. */
int bw_traffic_recv(struct state *s, struct traffic *t, struct bw_err *e);
/* This side's figures of the size just sent: all paths, and each. */
void bw_traffic_results(struct state *s, struct traffic *t,
			struct result *total, struct result *per_path);

/* bw_run.c: the run, size by size; the exit status. */
int bw_run(struct state *s);

#endif
