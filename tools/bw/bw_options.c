// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_bw's options: what perftest users expect (-d -i -x -p -s -a -n
 * -t -Q -q) plus the dma-buf ones (--mem, --path, --check, --json).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw.h"
#include "opts.h"

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
		BW_PROG, BW_PROG);
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
int bw_parse_options(int argc, char **argv, struct opts *o)
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
	tool_set_prog(BW_PROG);
	while ((c = getopt_long(argc, argv, ":d:i:x:p:s:an:t:Q:q:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'd':
			snprintf(devbuf, sizeof(devbuf), "%s", optarg);
			o->ndevs = tool_split(devbuf, o->devs, MAX_PATHS);
			if (o->ndevs <= 0)
				return tool_usage_error("bad --ib-dev '%s' (at most 8 devices)",
							optarg);
			break;
		case 'i':
			if (tool_parse_long(optarg, 1, 255, &v))
				return tool_usage_error("bad --ib-port '%s'", optarg);
			o->ib_port = (int)v;
			break;
		case 'x':
			if (tool_parse_long(optarg, 0, 65535, &v))
				return tool_usage_error("bad --gid-index '%s'", optarg);
			o->gid_index = (int)v;
			break;
		case 'p':
			if (tool_parse_long(optarg, 1, 65535, &v))
				return tool_usage_error("bad --port '%s'", optarg);
			o->tcp_port = (uint16_t)v;
			break;
		case OPT_OP:
			for (i = 0; i < 3 && strcmp(optarg, bw_op_name[i]); i++)
				;
			if (i == 3)
				return tool_usage_error("bad --op '%s' (write, read or send)",
							optarg);
			o->p.op = (uint32_t)i;
			break;
		case 's':
			if (tool_parse_size(optarg, &o->p.size) || o->p.size < 1 ||
			    o->p.size > (1ULL << 31))
				return tool_usage_error("bad --size '%s' (1 B .. 2 GiB)",
							optarg);
			o->size_given = true;
			break;
		case 'a':
			o->p.all = 1;
			break;
		case 'n':
			if (tool_parse_long(optarg, 1, 100000000, &v))
				return tool_usage_error("bad --iters '%s' (1 .. 100000000)",
							optarg);
			o->p.iters = (uint64_t)v;
			break;
		case 't':
			if (tool_parse_long(optarg, 1, 16384, &v))
				return tool_usage_error("bad --tx-depth '%s' (1 .. 16384)",
							optarg);
			o->p.depth = (uint32_t)v;
			break;
		case 'Q':
			if (tool_parse_long(optarg, 1, 16384, &v))
				return tool_usage_error("bad --cq-mod '%s'", optarg);
			o->cq_mod = (uint32_t)v;
			break;
		case 'q':
			if (tool_parse_long(optarg, 1, MAX_QPS, &v))
				return tool_usage_error("bad --qp '%s' (1 .. 16)", optarg);
			o->p.qps = (uint32_t)v;
			break;
		case OPT_MEM:
			mem = optarg;
			break;
		case OPT_PATH:
			snprintf(pathbuf, sizeof(pathbuf), "%s", optarg);
			o->npolicies = tool_split(pathbuf, o->policy, MAX_PATHS);
			if (o->npolicies <= 0)
				return tool_usage_error("bad --path '%s'", optarg);
			for (i = 0; i < o->npolicies; i++)
				if (tool_parse_path(o->policy[i], &o->hints[i]))
					return tool_usage_error("bad --path '%s' (auto, default, numa=N or endpoint=N)",
								o->policy[i]);
			break;
		case OPT_CHECK:
			o->p.check = 1;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TIMEOUT:
			if (tool_parse_long(optarg, 1, 86400, &v))
				return tool_usage_error("bad --timeout '%s' (1 .. 86400 s)",
							optarg);
			o->timeout = (double)v;
			break;
		case OPT_LIST_MEM:
			list_mem();
			return -1;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return tool_getopt_error(c, argv);
		}
	}
	if (optind < argc)
		o->host = argv[optind++];
	if (optind < argc)
		return tool_usage_error("unexpected argument '%s'", argv[optind]);
	if (bw_mem_parse(mem, &o->mem, &e)) {
		fprintf(stderr, "%s: %s (see --help)\n", BW_PROG, e.msg);
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
			BW_PROG, o->ndevs, o->npolicies);
		return 2;
	}
	o->p.paths = (uint32_t)(o->ndevs > o->npolicies ? o->ndevs :
							  o->npolicies);
	if (o->p.all && !o->size_given)
		o->p.size = SWEEP_MAX;
	if (o->p.all && o->p.size < 2) {
		fprintf(stderr, "%s: --all needs --size of at least 2\n", BW_PROG);
		return 2;
	}
	if (o->cq_mod > o->p.depth)
		o->cq_mod = o->p.depth; /* as perftest: never more than the depth */
	return 0;
}
