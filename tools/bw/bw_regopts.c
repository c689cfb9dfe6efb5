// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The registration benchmarks' shared options: see bw_regopts.h. */
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs_ext.h>

#include "bw_regopts.h"

static const struct option shared_longopts[] = {
	TOOL_LONGOPTS_IB_DEV,
	TOOL_LONGOPT_VERSION,
	{ "ib-port", required_argument, NULL, 'i' },
	{ "mem", required_argument, NULL, 'm' },
	{ "sizes", required_argument, NULL, 'S' },
	{ "reps", required_argument, NULL, 'n' },
	{ "budget", required_argument, NULL, 'B' },
	{ "warmup", required_argument, NULL, 'W' },
	{ "help", no_argument, NULL, 'h' },
};

#define NR_SHARED (sizeof(shared_longopts) / sizeof(shared_longopts[0]))

/* A shared option: 0, or what getopt's loop returns. */
static int shared_opt(int c, char **argv, struct bw_reg_opts *o,
		      void (*usage)(FILE *f))
{
	long v;

	switch (c) {
	case 'd':
		o->dev = optarg;
		return 0;
	case 'i':
		return tool_parse_ib_port(optarg, &o->port);
	case 'm':
		o->mem_text = optarg;
		return 0;
	case 'S':
		o->sizes_text = optarg;
		return 0;
	case 'n':
		if (tool_parse_long(optarg, 1, 1000000, &o->reps))
			return tool_usage_error("bad --reps '%s'", optarg);
		return 0;
	case 'B':
		if (tool_parse_long(optarg, 1, 86400, &v))
			return tool_usage_error("bad --budget '%s' (seconds)",
						optarg);
		o->budget = (double)v;
		return 0;
	case 'W':
		if (tool_parse_long(optarg, 0, 1000, &o->warmup))
			return tool_usage_error("bad --warmup '%s'", optarg);
		return 0;
	default:
		return tool_getopt_default(c, argv, usage);
	}
}

int bw_reg_parse_sizes(struct bw_reg_opts *o, const char *text, int max,
		       bool with_reps)
{
	char buf[512], *save = NULL, *tok, *eq;

	if (max > BW_REG_MAX_SIZES)
		max = BW_REG_MAX_SIZES;
	o->nsizes = 0;
	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t sz;
		long r = o->reps;

		if (o->nsizes == max)
			return tool_usage_error("more than %d sizes in '%s'",
						max, text);
		eq = with_reps ? strchr(tok, '=') : NULL;
		if (eq) {
			*eq = 0;
			if (tool_parse_long(eq + 1, 1, 1000000, &r))
				return tool_usage_error("bad repetitions '%s'",
							eq + 1);
		}
		if (tool_parse_size(tok, &sz) || !sz || sz % 4096 ||
		    sz > (64ULL << 30))
			return tool_usage_error("bad size '%s' (multiples of 4 KiB, up to 64 GiB)",
						tok);
		o->sizes[o->nsizes] = sz;
		o->size_reps[o->nsizes++] = r;
	}
	if (!o->nsizes)
		return tool_usage_error("no sizes in '%s'", text);
	return 0;
}

/* getopt_long() over the shared options and t's own; then the rest. */
static int parse_args(int argc, char **argv, const struct bw_reg_tool *t,
		      const struct option *longopts, struct bw_reg_opts *o,
		      void *tool)
{
	struct bw_err e;
	int c, ret;

	while ((c = getopt_long(argc, argv, ":d:i:n:Vh", longopts, NULL)) != -1) {
		ret = t->opt(c, tool);
		if (ret == BW_REG_NOT_OWN)
			ret = shared_opt(c, argv, o, t->usage);
		if (ret)
			return ret;
	}
	if (tool_no_more_args(argc, argv))
		return TOOL_EXIT_USAGE;
	ret = t->check ? t->check(tool) : 0;
	if (ret)
		return ret;
	if (bw_mem_parse(o->mem_text, &o->mem, &e))
		return tool_usage_error("%s", e.msg);
	if (!o->mem.ops->dmabuf && !t->host_ok)
		return tool_usage_error("--mem %s is not a dma-buf%s",
					o->mem_text, t->not_dmabuf);
	return bw_reg_parse_sizes(o, o->sizes_text, t->max_sizes, t->with_reps);
}

int bw_reg_parse(int argc, char **argv, const struct bw_reg_tool *t,
		 struct bw_reg_opts *o, void *tool)
{
	struct option *longopts;
	size_t n = 0;
	int ret;

	memset(o, 0, sizeof(*o));
	o->port = 1;
	o->mem_text = "udmabuf";
	o->sizes_text = t->sizes;
	o->reps = 100;
	o->warmup = 2;
	o->budget = t->budget;
	opterr = 0;
	tool_set_prog(t->prog);
	while (t->longopts[n].name)
		n++;
	/* Shared entries, the tool's, and the { NULL } that ends them. */
	longopts = calloc(NR_SHARED + n + 1, sizeof(*longopts));
	if (!longopts) {
		fprintf(stderr, "%s: out of memory\n", t->prog);
		return 1;
	}
	memcpy(longopts, shared_longopts, sizeof(shared_longopts));
	memcpy(longopts + NR_SHARED, t->longopts, n * sizeof(*longopts));
	ret = parse_args(argc, argv, t, longopts, o, tool);
	free(longopts);
	return ret;
}

int bw_reg_open(const struct bw_reg_opts *o, struct bw_dev *dev)
{
	struct bw_err e;
	size_t n = 0;

	if (o->mem.ops->probe(&o->mem, &e)) {
		fprintf(stderr, "%s: memory backend %s: not available here: %s\n",
			tool_prog(), o->mem.ops->name, e.msg);
		return 1;
	}
	if (bw_dev_open(o->dev, o->port, -1, dev, &e)) {
		fprintf(stderr, "%s: %s\n", tool_prog(), e.msg);
		return 1;
	}
	ibv_query_dma_endpoints(dev->name, NULL, &n);
	return 0;
}
