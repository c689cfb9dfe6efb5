// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_bw's options: what perftest users type (-d -i -x -p -s -a -n
 * -t -Q -q -D -f -F -b -c -m -V --report_gbits --out_json --use_cuda
 * --use_data_direct) plus the dma-buf ones (--mem, --path, --check,
 * --json).
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
		"  -d, --ib-dev DEV[,DEV...]   RDMA devices, one path each (the first device);\n"
		"                              --device is the same\n"
		"  -i, --ib-port N             port of the devices (1)\n"
		"  -x, --gid-index N           GID index (the RoCE v2 GID of an IPv4 address)\n"
		"  -m, --mtu N                 path MTU: 256 .. 4096 (the port's active MTU)\n"
		"  -u, --qp-timeout N          RC ACK timeout, 4.096 us * 2^N: 0 .. 31 (14)\n"
		"  -p, --port N                TCP port of the exchange (18515)\n"
		"  -c, --connection RC         the transport: RC, the only one here\n"
		"      --op write|read|send    the operation (write)\n"
		"  -s, --size N                message size, K/M/G suffixes (65536)\n"
		"  -a, --all                   sweep 2 B .. 8 MiB (.. --size when given)\n"
		"  -n, --iters N               messages per QP and size (5000)\n"
		"  -D, --duration S            send for S seconds instead of --iters\n"
		"  -f, --margin S              with -D: seconds not measured at each end (S/4)\n"
		"  -b, --bidirectional         both sides send at once\n"
		"  -t, --tx-depth N            outstanding messages per QP (128)\n"
		"  -Q, --cq-mod N              a completion every N messages (100, <= tx-depth)\n"
		"  -e, --events                sleep on CQ events instead of polling without end\n"
		"  -q, --qp N                  QPs per path (1)\n"
		"      --mem SPEC              memory backend (host):\n",
		BW_PROG, BW_PROG);
	for (o = bw_mem_backends; *o; o++)
		fprintf(f, "                                %s\n", (*o)->synopsis);
	fprintf(f,
		"      --use_cuda=N            perftest's spelling of --mem cuda:N\n"
		"      --path P[,P...]         DMA endpoint policy per path: auto, default,\n"
		"                              numa=N, endpoint=N, data-direct (auto)\n"
		"      --use_data_direct       perftest's spelling of --path data-direct\n"
		"      --check                 verify the data byte for byte after each size\n"
		"      --report_gbits          bandwidth in Gb/sec (10^9 bits) instead of MiB/sec\n"
		"      --perftest-header       the table exactly as perftest prints it (MB/sec)\n"
		"      --json                  print JSON instead of the table\n"
		"      --out_json[=FILE]       also write perftest's JSON report to FILE\n"
		"                              (perftest_out.json); --out_json_file=FILE\n"
		"      --timeout S             limit of every wait, seconds (60)\n"
		"      --list-mem              which memory backends this machine has, and exit\n"
		"  -F, --CPU-freq              accepted for perftest (no CPU clock is used here)\n"
		"  -V, --version\n"
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
	OPT_GBITS,
	OPT_PERFTEST_HEADER,
	OPT_OUT_JSON,
	OPT_OUT_JSON_FILE,
	OPT_USE_CUDA,
	OPT_DATA_DIRECT,
};

/* -c: perftest's names; only RC is run here. */
static int parse_connection(const char *v)
{
	static const char *const others[] = { "UC", "UD",     "XRC",
					       "DC", "RawEth", "SRD" };
	size_t i;

	if (!strcmp(v, "RC"))
		return 0;
	for (i = 0; i < BW_ARRAY_SIZE(others); i++)
		if (!strcmp(v, others[i]))
			return tool_usage_error("-c %s: only RC connections here (the QPs of this tool are RC)",
						v);
	return tool_usage_error("bad -c '%s' (" BW_CONN_TYPES "; only RC here)",
				v);
}

static int parse_mtu(const char *v, int *mtu)
{
	long m;

	if (tool_parse_long(v, 256, 4096, &m) || (m & (m - 1)))
		return tool_usage_error("bad --mtu '%s' (256, 512, 1024, 2048 or 4096)",
					v);
	*mtu = (int)m;
	return 0;
}

static int parse_paths(const char *arg, struct opts *o)
{
	static char pathbuf[512];
	int i;

	snprintf(pathbuf, sizeof(pathbuf), "%s", arg);
	o->npolicies = tool_split(pathbuf, o->policy, MAX_PATHS);
	if (o->npolicies <= 0)
		return tool_usage_error("bad --path '%s'", arg);
	for (i = 0; i < o->npolicies; i++)
		if (strcmp(o->policy[i], "data-direct") &&
		    tool_parse_path(o->policy[i], &o->hints[i]))
			return tool_usage_error("bad --path '%s' (auto, default, numa=N, endpoint=N or data-direct)",
						o->policy[i]);
	return 0;
}

/* What the options mean together; 0 or the exit status. */
static int finish(struct opts *o, const char *mem, bool iters_given,
		  bool margin_given, bool data_direct)
{
	struct bw_err e;
	int i;

	if (bw_mem_parse(mem, &o->mem, &e)) {
		fprintf(stderr, "%s: %s (see --help)\n", BW_PROG, e.msg);
		return 2;
	}
	if (data_direct) {
		if (o->npolicies && !(o->npolicies == 1 &&
				      !strcmp(o->policy[0], "data-direct")))
			return tool_usage_error("--use_data_direct and --path %s: give one of them",
						o->policy[0]);
		o->policy[0] = "data-direct";
		o->npolicies = 1;
	}
	for (i = 0; i < o->npolicies; i++)
		if (!strcmp(o->policy[i], "data-direct") && !o->mem.ops->dmabuf)
			return tool_usage_error("data-direct needs a dma-buf --mem: %s memory is registered with ibv_reg_mr, which has no endpoint choice",
						o->mem.ops->name);
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
	if (o->p.duration) {
		if (o->p.all)
			return tool_usage_error("-D runs one size for a time: not with --all (as perftest)");
		if (iters_given)
			return tool_usage_error("-D runs for a time, --iters for a count: give one");
		if (!margin_given)
			o->p.margin = o->p.duration / 4; /* perftest's default */
		if (o->p.duration <= 2 * o->p.margin)
			return tool_usage_error("-D %u must be more than twice --margin %u",
						o->p.duration, o->p.margin);
		o->p.iters = 0;
	} else if (margin_given) {
		return tool_usage_error("--margin is the unmeasured part of -D: give -D");
	}
	if (o->p.all && !o->size_given)
		o->p.size = SWEEP_MAX;
	if (o->p.all && o->p.size < 2)
		return tool_usage_error("--all needs --size of at least 2");
	if (o->cq_mod > o->p.depth)
		o->cq_mod = o->p.depth; /* as perftest: never more than the depth */
	return 0;
}

/* 0: go on; >0: exit status (2 usage); -1: exit 0 (--help, --version, --list-mem). */
int bw_parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		TOOL_LONGOPTS_IB_DEV,
		TOOL_LONGOPT_VERSION,
		{ "ib-port", required_argument, NULL, 'i' },
		{ "gid-index", required_argument, NULL, 'x' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "qp-timeout", required_argument, NULL, 'u' },
		{ "port", required_argument, NULL, 'p' },
		{ "connection", required_argument, NULL, 'c' },
		{ "op", required_argument, NULL, OPT_OP },
		{ "size", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		{ "iters", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'D' },
		{ "margin", required_argument, NULL, 'f' },
		{ "bidirectional", no_argument, NULL, 'b' },
		{ "tx-depth", required_argument, NULL, 't' },
		{ "cq-mod", required_argument, NULL, 'Q' },
		{ "events", no_argument, NULL, 'e' },
		{ "qp", required_argument, NULL, 'q' },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "use_cuda", required_argument, NULL, OPT_USE_CUDA },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "use_data_direct", no_argument, NULL, OPT_DATA_DIRECT },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "report_gbits", no_argument, NULL, OPT_GBITS },
		{ "perftest-header", no_argument, NULL, OPT_PERFTEST_HEADER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "out_json", optional_argument, NULL, OPT_OUT_JSON },
		{ "out_json_file", required_argument, NULL, OPT_OUT_JSON_FILE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "list-mem", no_argument, NULL, OPT_LIST_MEM },
		{ "CPU-freq", no_argument, NULL, 'F' },
		{ "rdma_cm", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char devbuf[512], cudabuf[32];
	bool iters_given = false, margin_given = false, data_direct = false;
	const char *mem = NULL;
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
	o->qp_timeout = 14;
	o->cq_mod = 100;
	o->timeout = 60;
	opterr = 0;
	tool_set_prog(BW_PROG);
	while ((c = getopt_long(argc, argv,
				":d:i:x:m:u:p:c:s:an:D:f:bt:Q:q:eFRVh", longopts,
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
			if (tool_parse_ib_port(optarg, &o->ib_port))
				return TOOL_EXIT_USAGE;
			break;
		case 'x':
			if (tool_parse_long(optarg, 0, 65535, &v))
				return tool_usage_error("bad --gid-index '%s'", optarg);
			o->gid_index = (int)v;
			break;
		case 'm':
			if (parse_mtu(optarg, &o->mtu))
				return 2;
			break;
		case 'u':
			if (tool_parse_long(optarg, 0, 31, &v))
				return tool_usage_error("bad --qp-timeout '%s' (0 .. 31)",
							optarg);
			o->qp_timeout = (int)v;
			break;
		case 'p':
			if (tool_parse_long(optarg, 1, 65535, &v))
				return tool_usage_error("bad --port '%s'", optarg);
			o->tcp_port = (uint16_t)v;
			break;
		case 'c':
			if (parse_connection(optarg))
				return 2;
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
			iters_given = true;
			break;
		case 'D':
			if (tool_parse_long(optarg, 1, 86400, &v))
				return tool_usage_error("bad --duration '%s' (1 .. 86400 s)",
							optarg);
			o->p.duration = (uint32_t)v;
			break;
		case 'f':
			if (tool_parse_long(optarg, 0, 43200, &v))
				return tool_usage_error("bad --margin '%s' (0 .. 43200 s)",
							optarg);
			o->p.margin = (uint32_t)v;
			margin_given = true;
			break;
		case 'b':
			o->p.bidir = 1;
			break;
		case 'e':
			o->events = true;
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
			if (mem == cudabuf)
				return tool_usage_error("--use_cuda and --mem %s: give one of them",
							optarg);
			mem = optarg;
			break;
		case OPT_USE_CUDA:
			if (tool_parse_long(optarg, 0, 1023, &v))
				return tool_usage_error("bad --use_cuda '%s' (a GPU number)",
							optarg);
			if (mem && mem != cudabuf)
				return tool_usage_error("--use_cuda and --mem %s: give one of them",
							mem);
			snprintf(cudabuf, sizeof(cudabuf), "cuda:%ld", v);
			mem = cudabuf;
			break;
		case OPT_PATH:
			if (parse_paths(optarg, o))
				return 2;
			break;
		case OPT_DATA_DIRECT:
			data_direct = true;
			break;
		case OPT_CHECK:
			o->p.check = 1;
			break;
		case OPT_GBITS:
			o->units = UNITS_GBIT;
			break;
		case OPT_PERFTEST_HEADER:
			o->perftest_header = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_OUT_JSON:
			if (optarg && !*optarg)
				return tool_usage_error("--out_json= needs a file name");
			if (optarg || !o->out_json)
				o->out_json = optarg ? optarg : "perftest_out.json";
			break;
		case OPT_OUT_JSON_FILE:
			if (!*optarg)
				return tool_usage_error("--out_json_file needs a file name");
			o->out_json = optarg;
			break;
		case OPT_TIMEOUT:
			if (tool_parse_long(optarg, 1, 86400, &v))
				return tool_usage_error("bad --timeout '%s' (1 .. 86400 s)",
							optarg);
			o->timeout = (double)v;
			break;
		case 'F':
			/* perftest: no CPU frequency warning. Nothing here reads cycles. */
			break;
		case 'R':
			return tool_usage_error("-R (rdma_cm) is not supported: the QPs are connected through this tool's own TCP exchange");
		case OPT_LIST_MEM:
			list_mem();
			return -1;
		default:
			return tool_getopt_default(c, argv, usage);
		}
	}
	if (optind < argc)
		o->host = argv[optind++];
	if (tool_no_more_args(argc, argv))
		return TOOL_EXIT_USAGE;
	/* getopt takes "--out_json FILE" as --out_json and a server FILE. */
	i = o->host ? (int)strlen(o->host) : 0;
	if (i > 5 && !strcmp(o->host + i - 5, ".json") && o->out_json)
		return tool_usage_error("'%s' would be the server: write --out_json=%s (or --out_json_file=%s)",
					o->host, o->host, o->host);
	return finish(o, mem ? mem : "host", iters_given, margin_given,
		      data_direct);
}
