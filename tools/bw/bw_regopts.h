/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The options the two registration benchmarks share, ibv_dmabuf_regbench
 * (tools/bw) and ibv_dmabuf_regpair (tools/bench): the device and port,
 * --mem (a dma-buf backend; host memory too where the tool allows it),
 * --sizes, -n/--reps, --budget, --warmup, -V and -h; their longopts entries
 * and getopt cases, the size list (with regpair's SIZE=REPS), and the
 * opening of memory backend and device.
 * Each tool describes its defaults, its own options and checks and its
 * usage text in a struct bw_reg_tool.
 */
#ifndef DMP_BW_REGOPTS_H
#define DMP_BW_REGOPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <getopt.h>

#include "bw_mem.h"
#include "bw_rdma.h"
#include "opts.h"

#define BW_REG_MAX_SIZES 24

/* What both register their buffers for. */
#define BW_REG_ACCESS                                                         \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |                   \
	 IBV_ACCESS_REMOTE_READ)

struct bw_reg_opts {
	const char *dev;		/* -d; NULL: not given */
	int port;			/* -i (1) */
	const char *mem_text;		/* --mem as given (udmabuf) */
	struct bw_mem_spec mem;		/* ... parsed */
	const char *sizes_text;		/* --sizes as given */
	uint64_t sizes[BW_REG_MAX_SIZES];
	long size_reps[BW_REG_MAX_SIZES]; /* SIZE=REPS, else reps */
	int nsizes;
	long reps;			/* -n (100) */
	long warmup;			/* --warmup (2) */
	double budget;			/* --budget, seconds */
};

/* What a tool's own option callback answers for an option not its own. */
#define BW_REG_NOT_OWN 1

/* A benchmark: its defaults, its own options and checks. */
struct bw_reg_tool {
	const char *prog;
	const char *sizes;		/* --sizes by default */
	double budget;			/* --budget by default */
	int max_sizes;			/* at most BW_REG_MAX_SIZES */
	bool with_reps;			/* SIZE=REPS allowed in --sizes */
	bool host_ok;			/* --mem host allowed (ibv_reg_mr) */
	const char *not_dmabuf;		/* after "--mem X is not a dma-buf" */
	const struct option *longopts;	/* its own, { NULL } last */
	/* One of its options: 0 (taken), BW_REG_NOT_OWN, or an exit status. */
	int (*opt)(int c, void *tool);
	/* After the options, before --mem: 0 or an exit status (may be NULL). */
	int (*check)(void *tool);
	void (*usage)(FILE *f);
};

/*
 * The command line: the defaults (device none, port 1, udmabuf, 100
 * repetitions, 2 warm-up, t's sizes and budget); getopt_long() over the
 * shared options and t's own (t->opt(c, tool) first); -V, -h and getopt's
 * errors; no word left over; t->check(tool); --mem parsed and a dma-buf
 * (or host memory, where t->host_ok); the size list (bw_reg_parse_sizes). 0, -1 (exit 0: printed as asked) or
 * TOOL_EXIT_USAGE (said).
 */
int bw_reg_parse(int argc, char **argv, const struct bw_reg_tool *t,
		 struct bw_reg_opts *o, void *tool);

/*
 * The --sizes list into o->sizes: multiples of 4 KiB up to 64 GiB, at most
 * max; with with_reps a size may be SIZE=REPS (1 .. 1000000), its own count
 * of repetitions, else o->reps. 0, or TOOL_EXIT_USAGE (said).
 */
int bw_reg_parse_sizes(struct bw_reg_opts *o, const char *text, int max,
		       bool with_reps);

/*
 * The memory backend probed and the device opened, the library's topology
 * discovered and cached before anything is timed: 0, or 1 (the exit
 * status) with the reason said.
 */
int bw_reg_open(const struct bw_reg_opts *o, struct bw_dev *dev);

#endif
