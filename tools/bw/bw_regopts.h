/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The options the two registration benchmarks share, ibv_dmabuf_regbench
 * (tools/bw) and ibv_dmabuf_regpair (tools/bench): the device and port,
 * --mem (a dma-buf backend), --sizes, -n/--reps, --budget, --warmup, -V and
 * -h; their longopts entries, their getopt cases, the size list (with
 * regpair's SIZE=REPS), and the opening of memory backend and device.
 * Each tool keeps its own defaults, its own options and its usage text.
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

/* The longopts entries of the shared options, and getopt's short ones. */
#define BW_REG_LONGOPTS                                        \
	TOOL_LONGOPTS_IB_DEV,                                  \
	TOOL_LONGOPT_VERSION,                                  \
	{ "ib-port", required_argument, NULL, 'i' },           \
	{ "mem", required_argument, NULL, 'm' },               \
	{ "sizes", required_argument, NULL, 'S' },             \
	{ "reps", required_argument, NULL, 'n' },              \
	{ "budget", required_argument, NULL, 'B' },            \
	{ "warmup", required_argument, NULL, 'W' },            \
	{ "help", no_argument, NULL, 'h' }
#define BW_REG_SHORTOPTS ":d:i:n:Vh"

struct bw_reg_opts {
	const char *dev;		/* -d; NULL: not given */
	int port;			/* -i (1) */
	const char *mem_text;		/* --mem as given (udmabuf) */
	struct bw_mem_spec mem;		/* ... parsed by bw_reg_finish() */
	const char *sizes_text;		/* --sizes as given */
	uint64_t sizes[BW_REG_MAX_SIZES];
	long size_reps[BW_REG_MAX_SIZES]; /* SIZE=REPS, else reps */
	int nsizes;
	long reps;			/* -n (100) */
	long warmup;			/* --warmup (2) */
	double budget;			/* --budget, seconds */
};

/*
 * The defaults (device none, port 1, udmabuf, 100 repetitions, 2 warm-up)
 * with the tool's size list and budget; getopt set up (opterr 0) and the
 * program name set for the messages.
 */
void bw_reg_init(struct bw_reg_opts *o, const char *prog, const char *sizes,
		 double budget);

/*
 * getopt_long()'s answer c that the tool's own switch did not take: 0 when
 * it was a shared option, else tool_getopt_default()'s answer (-1: exit 0,
 * or TOOL_EXIT_USAGE, said) for the tool to return.
 */
int bw_reg_opt(int c, char **argv, struct bw_reg_opts *o,
	       void (*usage)(FILE *f));

/*
 * After the options: --mem parsed and checked to be a dma-buf (not_dmabuf,
 * what follows "--mem X is not a dma-buf" in the message), then the size
 * list. 0, or TOOL_EXIT_USAGE (said).
 */
int bw_reg_finish(struct bw_reg_opts *o, int max_sizes, bool with_reps,
		  const char *not_dmabuf);

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
