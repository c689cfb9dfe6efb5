// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The registration benchmarks' shared options: see bw_regopts.h. */
#include <string.h>
#include <infiniband/verbs_ext.h>

#include "bw_regopts.h"

void bw_reg_init(struct bw_reg_opts *o, const char *prog, const char *sizes,
		 double budget)
{
	memset(o, 0, sizeof(*o));
	o->port = 1;
	o->mem_text = "udmabuf";
	o->sizes_text = sizes;
	o->reps = 100;
	o->warmup = 2;
	o->budget = budget;
	opterr = 0;
	tool_set_prog(prog);
}

int bw_reg_opt(int c, char **argv, struct bw_reg_opts *o,
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

int bw_reg_finish(struct bw_reg_opts *o, int max_sizes, bool with_reps,
		  const char *not_dmabuf)
{
	struct bw_err e;

	if (bw_mem_parse(o->mem_text, &o->mem, &e))
		return tool_usage_error("%s", e.msg);
	if (!o->mem.ops->dmabuf)
		return tool_usage_error("--mem %s is not a dma-buf%s",
					o->mem_text, not_dmabuf);
	return bw_reg_parse_sizes(o, o->sizes_text, max_sizes, with_reps);
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
