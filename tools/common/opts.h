/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * What the tools parse alike: usage errors, sizes, bounded integers and
 * the --path policy. One copy for ibv_dmabuf, the benchmarks, xfer and the
 * stress tool.
 */
#ifndef DMP_TOOL_OPTS_H
#define DMP_TOOL_OPTS_H

#include <stdint.h>
#include <stdio.h>
#include <infiniband/verbs_ext.h>

#if defined(__GNUC__)
#define TOOL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TOOL_PRINTF(a, b)
#endif

#define TOOL_EXIT_USAGE 2

/*
 * The device option every tool spells alike: -d/--ib-dev DEV, as
 * rdma-core's and perftest's tools do, with --device accepted as an alias;
 * and -V/--version. Both map to the short option letter, for the longopts
 * table of getopt_long().
 */
#define TOOL_LONGOPTS_IB_DEV                                   \
	{ "ib-dev", required_argument, NULL, 'd' },            \
	{ "device", required_argument, NULL, 'd' }
#define TOOL_LONGOPT_VERSION { "version", no_argument, NULL, 'V' }

/* The name messages start with (default "tool"). */
void tool_set_prog(const char *prog);
const char *tool_prog(void);

/*
 * "<prog> (dmabuf-multipath) <version>" on stdout, for -V/--version;
 * returns 0, the exit status.
 */
int tool_print_version(void);

/* "prog: <message> (see --help)" on stderr; returns TOOL_EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) TOOL_PRINTF(1, 2);

/*
 * The usage error of getopt_long()'s answer c (':' a value missing, '?' an
 * unknown option), with optstring starting with ':' and opterr 0.
 */
int tool_getopt_error(int c, char **argv);

/*
 * The default: branch of a getopt_long() switch (optstring starting with
 * ':', opterr 0) for what such tools answer alike: -V/--version prints the
 * version, -h/--help usage(stdout), anything else is tool_getopt_error().
 * Returns -1 (exit 0: printed as asked) or TOOL_EXIT_USAGE.
 */
int tool_getopt_default(int c, char **argv, void (*usage)(FILE *f));

/* -i/--ib-port N, 1 .. 255, into *port: 0, or TOOL_EXIT_USAGE (said). */
int tool_parse_ib_port(const char *s, int *port);

/*
 * After the options (optind): 0 when argv has no more, else TOOL_EXIT_USAGE
 * with "unexpected argument" said.
 */
int tool_no_more_args(int argc, char **argv);

/*
 * "4096", "0x1000", "64K", "2M", "1G", "2MiB", "4KB" (binary units): 0, or
 * -1 when malformed, negative or beyond 64 bits.
 */
int tool_parse_size(const char *s, uint64_t *out);

/* A decimal integer in [min, max]: 0, or -1. */
int tool_parse_long(const char *s, long min, long max, long *out);

/* --path: auto | default | numa=N | endpoint=N (NULL: auto). 0, or -1. */
int tool_parse_path(const char *s, struct ibv_dma_path_hints *h);

/*
 * For the AUTO policy, node (>= 0: where the buffer's pages are known to
 * be) as h's NUMA hint, for kernels that cannot tell; otherwise h as it is.
 */
void tool_hint_node(struct ibv_dma_path_hints *h, int node);

/*
 * Split s in place at commas into out[max] (no empty fields): the count,
 * or -1 when there are more than max or an empty one.
 */
int tool_split(char *s, const char **out, int max);

#endif
