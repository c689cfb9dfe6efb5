// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_regbench: memory registration latency, register and
 * deregister timed apart, median and p99, for
 *
 *   ibv_reg_mr               host memory of the same size (the baseline)
 *   ibv_reg_dmabuf_mr        plain libibverbs on the dma-buf
 *   ibv_reg_dmabuf_mr_ex     libibverbs-ext, automatic endpoint choice, the
 *                            choice asked back (not the source)
 *   _ex +source              the same, the source description asked back
 *                            too: the kernel describes the buffer
 *   _ex path=default         libibverbs-ext, IBV_DMA_PATH_DEFAULT: the
 *                            closest public knob to "no choice"
 *   ibv_query_dmabuf         the query step of _ex alone
 *   ibv_select_dma_endpoint  the choice step of _ex alone (topology cached)
 *
 * from 4 KiB to 1 GiB, and the overhead ratio of _ex over the plain call,
 * or, where the plain call is impossible (rxe, siw: rdma-core's providers
 * have no reg_dmabuf_mr op), over the substitutes it names.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_mem.h"
#include "bw_rdma.h"
#include "bw_regopts.h"
#include "json.h"
#include "opts.h"

static const char prog[] = "ibv_dmabuf_regbench";

#define MAX_SIZES 24

enum method {
	M_REG_MR,
	M_PLAIN,
	M_EX,
	M_EX_SOURCE,
	M_EX_DEFAULT,
	M_QUERY,
	M_SELECT,
	M_COUNT,
};

static const char *const method_name[M_COUNT] = {
	"ibv_reg_mr (host memory)",
	"ibv_reg_dmabuf_mr",
	"ibv_reg_dmabuf_mr_ex",
	"_ex +source",
	"_ex path=default",
	"ibv_query_dmabuf",
	"ibv_select_dma_endpoint",
};

static const char *const method_key[M_COUNT] = {
	"ibv_reg_mr", "ibv_reg_dmabuf_mr", "ibv_reg_dmabuf_mr_ex",
	"ibv_reg_dmabuf_mr_ex_source", "ibv_reg_dmabuf_mr_ex_default", "ibv_query_dmabuf",
	"ibv_select_dma_endpoint",
};

struct cell {
	bool ran;
	bool ok;
	char error[BW_WHY_LEN];
	struct bw_stat reg, dereg;
	bool has_dereg;
};

struct opts {
	struct bw_reg_opts r;	/* the options shared with _regpair */
	long min_reps;
	struct ibv_dma_path_hints hints;
	const char *policy;
	bool json;
};

struct bench {
	struct opts *o;
	struct bw_dev dev;
	struct ibv_pd *pd;
	bool software;		/* rxe/siw: has a sysfs "parent" netdev */
	struct cell cells[MAX_SIZES][M_COUNT];
	struct ibv_dmabuf_info source;	/* from the last _ex +source */
	bool have_source;
	struct ibv_dma_choice choice;	/* from the last _ex */
	bool have_choice;
	struct ibv_dmabuf_info queried;	/* from the query step */
	bool have_query;
	char mem_desc[160];
	double *reg_t, *dereg_t;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [options]\n"
		"  -d, --ib-dev DEV      RDMA device (the first one); --device is the same\n"
		"  -i, --ib-port N       port (1)\n"
		"      --mem SPEC        dma-buf backend:\n"
		"                        udmabuf[:node=N|:interleave][:hugetlb],\n"
		"                        heap[:node=N], drm[:DEV], cuda[:GPU] (udmabuf)\n"
		"      --sizes LIST      comma-separated sizes, K/M/G suffixes\n"
		"                        (4K,64K,2M,64M,1G)\n"
		"  -n, --reps N          timed repetitions per cell, at most (100)\n"
		"      --min-reps N      ... at least, whatever the budget (5)\n"
		"      --budget S        seconds per cell before stopping early (10)\n"
		"      --warmup N        untimed repetitions first (2)\n"
		"      --path POLICY     hints of the _ex row: auto, default, numa=N,\n"
		"                        endpoint=N (auto)\n"
		"      --json            JSON instead of the table\n"
		"  -V, --version\n"
		"  -h, --help\n",
		prog);
}

/* regbench's own options: 0, BW_REG_NOT_OWN, or the exit status. */
static int own_opt(int c, void *tool)
{
	struct opts *o = tool;

	switch (c) {
	case 'M':
		if (tool_parse_long(optarg, 1, 1000000, &o->min_reps))
			return tool_usage_error("bad --min-reps '%s'", optarg);
		return 0;
	case 'P':
		o->policy = optarg;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	default:
		return BW_REG_NOT_OWN;
	}
}

/* Before --mem is looked at, as always: --min-reps and --path. */
static int check(void *tool)
{
	struct opts *o = tool;

	if (o->min_reps > o->r.reps)
		o->min_reps = o->r.reps;
	if (tool_parse_path(o->policy, &o->hints))
		return tool_usage_error("bad --path '%s' (auto, default, numa=N or endpoint=N)",
					o->policy);
	return 0;
}

static const struct option own_longopts[] = {
	{ "min-reps", required_argument, NULL, 'M' },
	{ "path", required_argument, NULL, 'P' },
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};

static const struct bw_reg_tool regbench = {
	.prog = prog,
	.sizes = "4K,64K,2M,64M,1G",
	.budget = 10,
	.max_sizes = MAX_SIZES,
	.with_reps = false,
	.not_dmabuf = " (host memory is always measured with ibv_reg_mr)",
	.longopts = own_longopts,
	.opt = own_opt,
	.check = check,
	.usage = usage,
};

static const char *errno_name(int err)
{
	switch (err) {
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENODEV: return "ENODEV";
	case ENOENT: return "ENOENT";
	case ERANGE: return "ERANGE";
	case EXDEV: return "EXDEV";
	case ENOTTY: return "ENOTTY";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	default: return "error";
	}
}

/* Time n register/deregister pairs; the first failure ends the cell. */
typedef struct ibv_mr *(*reg_fn)(struct bench *b, struct bw_mem *m, int *err,
				 char *why, size_t len);

static struct ibv_mr *do_reg_mr(struct bench *b, struct bw_mem *m, int *err,
				char *why, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(b->pd, m->map, m->size, BW_REG_ACCESS);

	if (!mr) {
		*err = errno;
		snprintf(why, len, "%s", strerror(errno));
	}
	return mr;
}

static struct ibv_mr *do_plain(struct bench *b, struct bw_mem *m, int *err,
			       char *why, size_t len)
{
	struct ibv_mr *mr = ibv_reg_dmabuf_mr(b->pd, 0, m->size, m->iova,
					      m->fd, BW_REG_ACCESS);

	if (!mr) {
		*err = errno;
		if (errno == EOPNOTSUPP && b->software)
			snprintf(why, len,
				 "libibverbs refuses without a syscall: rdma-core's %s provider has no reg_dmabuf_mr op (compare _ex with the rows below)",
				 b->dev.name);
		else
			snprintf(why, len, "%s", strerror(errno));
	}
	return mr;
}

/* What the report keeps from a timed _ex call. */
enum ex_keep {
	KEEP_NOTHING,
	KEEP_CHOICE,
	KEEP_SOURCE,
};

static struct ibv_mr *ex_reg(struct bench *b, struct bw_mem *m, int *err,
			     char *why, size_t len,
			     const struct ibv_dma_path_hints *h, enum ex_keep keep)
{
	struct ibv_reg_dmabuf_mr_ex_attr a = { 0 };
	struct ibv_dma_path_hints hints;
	struct ibv_dmabuf_info source;
	struct ibv_dma_choice choice;
	struct ibv_mr *mr;

	/*
	 * As an application would ask: hints in, the choice out; the source
	 * description only in the +source row, since asking for it makes the
	 * kernel walk the buffer even where the choice does not need it.
	 */
	hints = *h;
	tool_hint_node(&hints, m->node);
	bw_mem_ex_attr(m, BW_REG_ACCESS, &hints, &choice, &source,
		       keep == KEEP_SOURCE, &a);
	mr = ibv_reg_dmabuf_mr_ex(b->pd, &a);
	if (!mr) {
		*err = errno;
		snprintf(why, len, "%s", ibv_ext_last_error());
	} else if (keep == KEEP_CHOICE) {
		/* The report shows what the automatic (or --path) row chose. */
		b->choice = choice;
		b->have_choice = true;
	} else if (keep == KEEP_SOURCE) {
		b->source = source;
		b->have_source = true;
	}
	return mr;
}

static struct ibv_mr *do_ex(struct bench *b, struct bw_mem *m, int *err,
			    char *why, size_t len)
{
	return ex_reg(b, m, err, why, len, &b->o->hints, KEEP_CHOICE);
}

static struct ibv_mr *do_ex_source(struct bench *b, struct bw_mem *m,
				   int *err, char *why, size_t len)
{
	return ex_reg(b, m, err, why, len, &b->o->hints, KEEP_SOURCE);
}

static struct ibv_mr *do_ex_default(struct bench *b, struct bw_mem *m,
				    int *err, char *why, size_t len)
{
	struct ibv_dma_path_hints h = { .policy = IBV_DMA_PATH_DEFAULT };

	return ex_reg(b, m, err, why, len, &h, KEEP_NOTHING);
}

static bool budget_left(struct bench *b, long done, double start)
{
	if (done >= b->o->r.reps)
		return false;
	return done < b->o->min_reps || bw_now() - start < b->o->r.budget;
}

static void fail_cell(struct cell *c, int err, const char *why)
{
	c->ok = false;
	snprintf(c->error, sizeof(c->error), "%s: %s", errno_name(err), why);
}

static void time_reg(struct bench *b, struct bw_mem *m, reg_fn fn,
		     struct cell *c)
{
	char why[BW_WHY_LEN];
	struct ibv_mr *mr;
	double t0, t1, start;
	long i, n = 0;
	int err = 0;

	c->ran = true;
	c->has_dereg = true;
	for (i = 0; i < b->o->r.warmup; i++) {
		mr = fn(b, m, &err, why, sizeof(why));
		if (!mr)
			return fail_cell(c, err, why);
		if (ibv_dereg_mr(mr))
			return fail_cell(c, errno, "ibv_dereg_mr failed");
	}
	start = bw_now();
	while (budget_left(b, n, start)) {
		t0 = bw_now();
		mr = fn(b, m, &err, why, sizeof(why));
		t1 = bw_now();
		if (!mr)
			return fail_cell(c, err, why);
		b->reg_t[n] = (t1 - t0) * 1e6;
		t0 = bw_now();
		err = ibv_dereg_mr(mr);
		t1 = bw_now();
		if (err)
			return fail_cell(c, err, "ibv_dereg_mr failed");
		b->dereg_t[n++] = (t1 - t0) * 1e6;
	}
	c->ok = true;
	c->reg = bw_summarize(b->reg_t, (size_t)n);
	c->dereg = bw_summarize(b->dereg_t, (size_t)n);
}

/* The two steps _ex adds, alone: query, then choice from its answer. */
static void time_step(struct bench *b, struct bw_mem *m, enum method which,
		      struct cell *c)
{
	struct ibv_dmabuf_info info;
	struct ibv_dma_choice ch;
	struct ibv_dma_path_hints h = b->o->hints;
	double t0, t1, start;
	long i, n = 0;
	int err;

	c->ran = true;
	tool_hint_node(&h, m->node);
	memset(&info, 0, sizeof(info));
	err = ibv_query_dmabuf(m->fd, &info);
	if (err)
		return fail_cell(c, err, ibv_ext_last_error());
	for (i = 0; i < b->o->r.warmup + 1; i++) {
		err = which == M_QUERY ?
			      ibv_query_dmabuf(m->fd, &info) :
			      ibv_select_dma_endpoint(b->dev.name, &info, &h, &ch);
		if (err)
			return fail_cell(c, err, ibv_ext_last_error());
	}
	start = bw_now();
	while (budget_left(b, n, start)) {
		t0 = bw_now();
		if (which == M_QUERY) {
			info.comp_mask = 0;
			err = ibv_query_dmabuf(m->fd, &info);
		} else {
			err = ibv_select_dma_endpoint(b->dev.name, &info, &h, &ch);
		}
		t1 = bw_now();
		if (err)
			return fail_cell(c, err, ibv_ext_last_error());
		b->reg_t[n++] = (t1 - t0) * 1e6;
	}
	c->ok = true;
	c->reg = bw_summarize(b->reg_t, (size_t)n);
	if (which == M_QUERY) {
		b->queried = info;
		b->have_query = true;
	}
}

static void alloc_failed(struct bench *b, int si, const char *what,
			 const char *why, int first, int last)
{
	int k;

	for (k = first; k <= last; k++) {
		b->cells[si][k].ran = true;
		snprintf(b->cells[si][k].error, sizeof(b->cells[si][k].error),
			 "no buffer: %s: %s", what, why);
	}
}

static void bench_size(struct bench *b, int si)
{
	struct bw_mem_spec host = { .ops = &bw_mem_host, .node = b->o->r.mem.node };
	uint64_t size = b->o->r.sizes[si];
	struct bw_mem m;
	struct bw_err e;

	/* One buffer at a time: a 1 GiB step needs 1 GiB, not 2. */
	if (bw_mem_alloc(&host, size, &m, &e)) {
		alloc_failed(b, si, "host memory", e.msg, M_REG_MR, M_REG_MR);
	} else {
		time_reg(b, &m, do_reg_mr, &b->cells[si][M_REG_MR]);
		bw_mem_free(&m);
	}
	if (bw_mem_alloc(&b->o->r.mem, size, &m, &e)) {
		alloc_failed(b, si, b->o->r.mem.text, e.msg, M_PLAIN, M_SELECT);
		return;
	}
	snprintf(b->mem_desc, sizeof(b->mem_desc), "%s", m.desc);
	time_reg(b, &m, do_plain, &b->cells[si][M_PLAIN]);
	time_reg(b, &m, do_ex, &b->cells[si][M_EX]);
	time_reg(b, &m, do_ex_source, &b->cells[si][M_EX_SOURCE]);
	time_reg(b, &m, do_ex_default, &b->cells[si][M_EX_DEFAULT]);
	time_step(b, &m, M_QUERY, &b->cells[si][M_QUERY]);
	time_step(b, &m, M_SELECT, &b->cells[si][M_SELECT]);
	bw_mem_free(&m);
}

/* ------------------------------------------------------------------ */

static double med(const struct bench *b, int si, enum method k)
{
	const struct cell *c = &b->cells[si][k];

	return c->ok ? c->reg.median : 0;
}

struct ratios {
	double ex_plain, ex_default, ex_reg_mr, source_ex;
	double ex_raw_est, choice_share, src_raw_est, steps_share;
};

/*
 * No public call times the bare registration ioctl on rxe/siw, so two
 * estimates stand in for it: _ex less the separately timed choice step
 * (the _ex row's own choice may be cheaper: with one usable endpoint and
 * no source asked the library does not describe the buffer), and
 * _ex +source less the query and choice steps.
 */
static struct ratios ratios_of(const struct bench *b, int si)
{
	struct ratios r = { 0 };
	double ex = med(b, si, M_EX), src = med(b, si, M_EX_SOURCE);
	double q = med(b, si, M_QUERY), c = med(b, si, M_SELECT);

	if (!ex)
		return r;
	if (med(b, si, M_PLAIN))
		r.ex_plain = ex / med(b, si, M_PLAIN);
	if (med(b, si, M_EX_DEFAULT))
		r.ex_default = ex / med(b, si, M_EX_DEFAULT);
	if (med(b, si, M_REG_MR))
		r.ex_reg_mr = ex / med(b, si, M_REG_MR);
	if (src)
		r.source_ex = src / ex;
	if (c && c < ex) {
		r.choice_share = c / ex;
		r.ex_raw_est = ex / (ex - c);
	}
	if (src && q && c && q + c < src) {
		r.steps_share = (q + c) / src;
		r.src_raw_est = src / (src - q - c);
	}
	return r;
}

static void print_text(struct bench *b)
{
	const struct opts *o = b->o;
	char sz[32];
	int si, k;

	printf("%s: %s port %u; dma-buf memory: %s (%s); ibv_reg_mr on host memory of the same size\n",
	       prog, b->dev.name, b->dev.port, o->r.mem.text, b->mem_desc);
	if (b->have_query)
		printf("query: %s memory, node %d, exporter %s (%s)\n",
		       ibv_dmabuf_source_str(b->queried.source),
		       b->queried.numa_node, b->queried.exporter,
		       ibv_dmabuf_origin_str(b->queried.origin));
	if (b->have_source)
		printf("source (_ex +source): %s memory, node %d, exporter %s (%s)\n",
		       ibv_dmabuf_source_str(b->source.source),
		       b->source.numa_node, b->source.exporter,
		       ibv_dmabuf_origin_str(b->source.origin));
	if (b->have_choice)
		printf("choice (_ex): endpoint %u (%s %s): %s\n",
		       b->choice.ep.index,
		       ibv_dma_endpoint_kind_str(b->choice.ep.kind),
		       b->choice.ep.pci_addr[0] ? b->choice.ep.pci_addr : "-",
		       b->choice.reason);
	printf("up to %ld timed repetitions per cell (at least %ld; %g s budget), %ld warm-up; topology cached; microseconds\n",
	       o->r.reps, o->min_reps, o->r.budget, o->r.warmup);
	printf("%-10s %-26s %12s %12s %13s %12s %6s\n", "#bytes", "method",
	       "reg median", "reg p99", "dereg median", "dereg p99", "reps");
	for (si = 0; si < o->r.nsizes; si++) {
		bw_size_str(o->r.sizes[si], sz, sizeof(sz));
		for (k = 0; k < M_COUNT; k++) {
			const struct cell *c = &b->cells[si][k];

			if (!c->ran)
				continue;
			if (!c->ok) {
				printf("%-10s %-26s n/a: %s\n", sz,
				       method_name[k], c->error);
				continue;
			}
			if (c->has_dereg)
				printf("%-10s %-26s %12.1f %12.1f %13.1f %12.1f %6zu\n",
				       sz, method_name[k], c->reg.median,
				       c->reg.p99, c->dereg.median,
				       c->dereg.p99, c->reg.n);
			else
				printf("%-10s %-26s %12.2f %12.2f %13s %12s %6zu\n",
				       sz, method_name[k], c->reg.median,
				       c->reg.p99, "-", "-", c->reg.n);
		}
	}
	printf("\n_ex overhead (registration medians):\n");
	for (si = 0; si < o->r.nsizes; si++) {
		struct ratios r = ratios_of(b, si);

		bw_size_str(o->r.sizes[si], sz, sizeof(sz));
		if (!med(b, si, M_EX)) {
			printf("  %-8s _ex not measured: %s\n", sz,
			       b->cells[si][M_EX].error);
			continue;
		}
		if (r.ex_plain)
			printf("  %-8s _ex / ibv_reg_dmabuf_mr = %.3f", sz,
			       r.ex_plain);
		else
			printf("  %-8s _ex / ibv_reg_dmabuf_mr: n/a (plain call impossible here)",
			       sz);
		if (r.ex_default)
			printf("; _ex / _ex(path=default) = %.3f", r.ex_default);
		if (r.ex_raw_est)
			printf("; choice = %.1f %% of _ex, _ex / (_ex - choice) = %.3f",
			       100 * r.choice_share, r.ex_raw_est);
		if (r.source_ex)
			printf("; _ex+source / _ex = %.3f", r.source_ex);
		if (r.src_raw_est)
			printf("; query+choice = %.1f %% of _ex+source, _ex+source / (_ex+source - query - choice) = %.3f",
			       100 * r.steps_share, r.src_raw_est);
		if (r.ex_reg_mr)
			printf("; _ex / ibv_reg_mr = %.3f", r.ex_reg_mr);
		printf("\n");
	}
}

static void json_stat(struct json *j, const char *key,
		      const struct bw_stat *s)
{
	json_obj_begin(j, key);
	json_double(j, "median_us", s->median);
	json_double(j, "p99_us", s->p99);
	json_double(j, "min_us", s->min);
	json_obj_end(j);
}

static void print_json(struct bench *b)
{
	const struct opts *o = b->o;
	struct json j;
	int si, k;

	json_init(&j, stdout);
	json_obj_begin(&j, NULL);
	json_str(&j, "tool", prog);
	json_str(&j, "device", b->dev.name);
	json_str(&j, "memory", o->r.mem.text);
	json_str(&j, "memory_desc", b->mem_desc);
	json_str(&j, "policy", o->policy);
	if (b->have_query) {
		json_obj_begin(&j, "query");
		json_str(&j, "source", ibv_dmabuf_source_str(b->queried.source));
		json_str(&j, "origin", ibv_dmabuf_origin_str(b->queried.origin));
		json_int(&j, "numa_node", b->queried.numa_node);
		json_str(&j, "exporter", b->queried.exporter);
		json_obj_end(&j);
	}
	if (b->have_source) {
		json_str(&j, "source", ibv_dmabuf_source_str(b->source.source));
		json_str(&j, "origin", ibv_dmabuf_origin_str(b->source.origin));
		json_str(&j, "exporter", b->source.exporter);
	}
	if (b->have_choice) {
		json_uint(&j, "endpoint", b->choice.ep.index);
		json_str(&j, "reason", b->choice.reason);
	}
	json_arr_begin(&j, "sizes");
	for (si = 0; si < o->r.nsizes; si++) {
		struct ratios r = ratios_of(b, si);

		json_obj_begin(&j, NULL);
		json_uint(&j, "bytes", o->r.sizes[si]);
		json_arr_begin(&j, "methods");
		for (k = 0; k < M_COUNT; k++) {
			const struct cell *c = &b->cells[si][k];

			if (!c->ran)
				continue;
			json_obj_begin(&j, NULL);
			json_str(&j, "method", method_key[k]);
			json_bool(&j, "ok", c->ok);
			if (c->ok) {
				json_uint(&j, "reps", c->reg.n);
				json_stat(&j, c->has_dereg ? "reg" : "call",
					  &c->reg);
				if (c->has_dereg)
					json_stat(&j, "dereg", &c->dereg);
			} else {
				json_str(&j, "error", c->error);
			}
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_begin(&j, "ratios");
#define RATIO(key, v)                                                         \
	do {                                                                  \
		if (v)                                                        \
			json_double(&j, key, v);                              \
		else                                                          \
			json_null(&j, key);                                   \
	} while (0)
		RATIO("ex_over_plain", r.ex_plain);
		RATIO("ex_over_ex_default", r.ex_default);
		RATIO("ex_over_ex_minus_choice", r.ex_raw_est);
		RATIO("choice_share", r.choice_share);
		RATIO("ex_source_over_ex", r.source_ex);
		RATIO("ex_source_over_ex_source_minus_steps", r.src_raw_est);
		RATIO("query_choice_share_of_ex_source", r.steps_share);
		RATIO("ex_over_reg_mr", r.ex_reg_mr);
#undef RATIO
		json_obj_end(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct opts o = { .min_reps = 5, .policy = "auto" };
	char path[320];
	struct stat st;
	int ret, si;

	ret = bw_reg_parse(argc, argv, &regbench, &o.r, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	b.o = &o;
	if (bw_reg_open(&o.r, &b.dev))
		return 1;
	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/parent",
		 b.dev.name);
	b.software = !stat(path, &st);
	b.pd = ibv_alloc_pd(b.dev.ctx);
	b.reg_t = calloc((size_t)o.r.reps, sizeof(double));
	b.dereg_t = calloc((size_t)o.r.reps, sizeof(double));
	if (!b.pd || !b.reg_t || !b.dereg_t) {
		fprintf(stderr, "%s: %s: PD or memory: %s\n", prog, b.dev.name,
			strerror(errno));
		return 1;
	}
	for (si = 0; si < o.r.nsizes; si++) {
		if (!o.json)
			fprintf(stderr, "%s: %llu bytes...\n", prog,
				(unsigned long long)o.r.sizes[si]);
		bench_size(&b, si);
	}
	if (o.json)
		print_json(&b);
	else
		print_text(&b);
	ibv_dealloc_pd(b.pd);
	bw_dev_close(&b.dev);
	free(b.reg_t);
	free(b.dereg_t);
	return b.cells[0][M_REG_MR].ok || b.cells[0][M_EX].ok ? 0 : 1;
}
