// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_regpair: ibv_reg_dmabuf_mr_ex() against plain
 * ibv_reg_dmabuf_mr(), timed per call and interleaved, on the same buffer
 * registered again and again; every sample printed (JSON) for
 * tools/bench/reproduce, which computes the figures from them.
 *
 * For each size one buffer is made; then, per repetition, each method
 * registers it once (timed) and deregisters it (timed apart), the order of
 * the methods rotating from one repetition to the next (plain, _ex; _ex,
 * plain; ... with --with-query the query step joins the rotation), so that
 * drift of the machine falls on both alike. Nothing is subtracted: each
 * sample is one whole public call.
 *
 * --ex says what the _ex calls ask:
 *   auto      the automatic choice, the choice asked back (as applications
 *             do): on a device with one usable endpoint the library does
 *             not describe the buffer; with several it must
 *   source    the same, and the source description asked back too: the
 *             kernel describes the buffer in every call
 *   default   IBV_DMA_PATH_DEFAULT
 *
 * Plain ibv_reg_dmabuf_mr() needs a provider with a dma-buf op: rxe has one
 * only with rdma-core-patches (run with that build's libibverbs); without
 * it the tool stops with the reason, and no figure is made.
 *
 * What a registration costs depends on the buffer's pages too, not only on
 * its size: the kernel's scatterlist holds one entry per physically
 * contiguous run of them. In the lab (rxe, 7.2, guest instructions), a
 * 2 MiB buffer of anonymous memory costs about 206 us to register as one
 * run and 265 us as 510 runs, call after call, and which one a process gets
 * is the page allocator's draw. Each size's "pfn_runs" records it where
 * /proc/self/pagemap shows page frames (root). --contiguous takes the draw
 * out: each size's buffer is made again, up to 64 times and 256 MiB held,
 * and the one of the fewest runs kept (one run ends the search), so that
 * two kernels are compared on like buffers.
 *
 * --mem host[:node=N] times one method alone, ibv_reg_mr() of anonymous
 * memory (an ordinary MR by address: libibverbs sends the REG_MR write
 * command), with the same sizes, warm-up, budget and samples: what the same
 * registration costs on two kernels, each boot measured apart (--ex and
 * --with-query are refused there).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_mem.h"
#include "bw_rdma.h"
#include "bw_regopts.h"
#include "json.h"
#include "opts.h"

static const char prog[] = "ibv_dmabuf_regpair";

#define MAX_SIZES 16
/* --contiguous: buffers made for one size, and the bytes of them held. */
#define MAX_TRIES 64
#define TRIES_BYTES (256ULL << 20)

enum method { M_PLAIN, M_EX, M_QUERY, M_REG_MR, M_COUNT };

static const char *const method_key[M_COUNT] = {
	"ibv_reg_dmabuf_mr", "ibv_reg_dmabuf_mr_ex", "ibv_query_dmabuf",
	"ibv_reg_mr",
};

struct opts {
	struct bw_reg_opts r;	/* the options shared with _regbench */
	const char *ex;
	bool ex_given;
	bool with_query;
	bool contiguous;
};

struct samples {
	double *reg, *dereg;
};

struct bench {
	const struct opts *o;
	struct bw_dev dev;
	struct ibv_pd *pd;
	struct ibv_dma_choice choice;
	struct ibv_dmabuf_info source;
	bool have_choice, have_source;
	struct samples s[M_COUNT];
	enum method rotation[M_COUNT];	/* the methods timed, in order */
	int nm;
	long n;
	long runs;		/* the buffer's pfn runs, 0 unknown */
	int made;		/* buffers made for it */
	char error[BW_WHY_LEN];
	char mem_desc[160];
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s -d DEV [options]\n"
		"  -d, --ib-dev DEV      RDMA device; --device is the same\n"
		"  -i, --ib-port N       port (1)\n"
		"      --mem SPEC        dma-buf: udmabuf[:node=N|:interleave][:hugetlb],\n"
		"                        heap[:node=N] (udmabuf); host[:node=N]: ibv_reg_mr alone\n"
		"      --sizes LIST      SIZE[=REPS],... K/M/G suffixes (4K,2M,64M,1G)\n"
		"  -n, --reps N          repetitions of a size without =REPS (100)\n"
		"      --budget S        seconds per size before stopping early, after\n"
		"                        5 repetitions at least (60)\n"
		"      --warmup N        untimed repetitions first (2)\n"
		"      --ex WHAT         what _ex asks: auto, source, default (auto)\n"
		"      --with-query      ibv_query_dmabuf in the rotation too\n"
		"      --contiguous      of up to 64 buffers of a size, keep the one\n"
		"                        of the fewest physically contiguous runs (root)\n"
		"  -V, --version\n"
		"  -h, --help\n"
		"Prints JSON: every sample, in microseconds.\n",
		prog);
}

/* regpair's own options: 0, BW_REG_NOT_OWN, or the exit status. */
static int own_opt(int c, void *tool)
{
	struct opts *o = tool;

	switch (c) {
	case 'x':
		if (strcmp(optarg, "auto") && strcmp(optarg, "source") &&
		    strcmp(optarg, "default"))
			return tool_usage_error("bad --ex '%s' (auto, source or default)",
						optarg);
		o->ex = optarg;
		o->ex_given = true;
		return 0;
	case 'q':
		o->with_query = true;
		return 0;
	case 'c':
		o->contiguous = true;
		return 0;
	default:
		return BW_REG_NOT_OWN;
	}
}

static int check(void *tool)
{
	const struct opts *o = tool;

	return o->r.dev ? 0 : tool_usage_error("which device? (-d DEV)");
}

static const struct option own_longopts[] = {
	{ "ex", required_argument, NULL, 'x' },
	{ "with-query", no_argument, NULL, 'q' },
	{ "contiguous", no_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};

static const struct bw_reg_tool regpair = {
	.prog = prog,
	.sizes = "4K,2M,64M,1G",
	.budget = 60,
	.max_sizes = MAX_SIZES,
	.with_reps = true,
	.host_ok = true,
	.not_dmabuf = "",
	.longopts = own_longopts,
	.opt = own_opt,
	.check = check,
	.usage = usage,
};

/*
 * The physically contiguous runs of m's pages, from /proc/self/pagemap:
 * the entries of the scatterlist a registration of m makes. 0 when that
 * cannot be read: no CPU mapping, or page frames hidden (not root).
 */
static long pfn_runs(const struct bw_mem *m)
{
	uint64_t v[512], prev = 0, pfn;
	long pages = (long)(m->size / 4096), runs = 0, i, k, n;
	off_t at;
	int fd;

	if (!m->map || sysconf(_SC_PAGESIZE) != 4096)
		return 0;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	at = (off_t)((uintptr_t)m->map / 4096 * sizeof(v[0]));
	for (i = 0; i < pages; i += n) {
		n = pages - i < 512 ? pages - i : 512;
		if (pread(fd, v, n * sizeof(v[0]), at + i * (off_t)sizeof(v[0])) !=
		    (ssize_t)(n * sizeof(v[0]))) {
			runs = 0;
			break;
		}
		for (k = 0; k < n; k++) {
			pfn = v[k] & ((1ULL << 55) - 1);
			if (!(v[k] >> 63) || !pfn) {	/* absent, or hidden */
				close(fd);
				return 0;
			}
			runs += !(i + k) || pfn != prev + 1;
			prev = pfn;
		}
	}
	close(fd);
	return runs;
}

/*
 * Size's buffer into *m: one, or with --contiguous the one of the fewest
 * pfn runs of up to MAX_TRIES made (held at once, TRIES_BYTES at most, so
 * that the allocator hands out other pages), the others freed. 0, or an
 * errno with b->error set.
 */
static int make_buffer(struct bench *b, uint64_t size, struct bw_mem *m)
{
	static struct bw_mem tried[MAX_TRIES];
	long most = (long)(TRIES_BYTES / size), runs;
	int best = 0, i, err = 0;
	struct bw_err e;

	if (!b->o->contiguous || most < 1)
		most = 1;
	if (most > MAX_TRIES)
		most = MAX_TRIES;
	b->runs = 0;
	b->made = 0;
	while (b->made < most) {
		if (bw_mem_alloc(&b->o->r.mem, size, &tried[b->made], &e)) {
			snprintf(b->error, sizeof(b->error),
				 "no buffer: %s: %s", b->o->r.mem_text, e.msg);
			err = ENOMEM;
			break;
		}
		runs = pfn_runs(&tried[b->made++]);
		if (b->o->contiguous && !runs) {
			snprintf(b->error, sizeof(b->error),
				 "--contiguous: the page frames of /proc/self/pagemap cannot be read here (root only)");
			err = EPERM;
			break;
		}
		if (b->made == 1 || runs < b->runs) {
			best = b->made - 1;
			b->runs = runs;
		}
		if (runs == 1)
			break;
	}
	for (i = 0; i < b->made; i++)
		if (err || i != best)
			bw_mem_free(&tried[i]);
	if (!err)
		*m = tried[best];
	return err;
}

/* One timed call of method k on m; 0, or an errno with b->error set. */
static int call(struct bench *b, struct bw_mem *m, enum method k, double *reg,
		double *dereg)
{
	struct ibv_reg_dmabuf_mr_ex_attr a = { 0 };
	struct ibv_dma_path_hints hints = { 0 };
	struct ibv_dmabuf_info info;
	struct ibv_dma_choice choice;
	struct ibv_mr *mr;
	double t0, t1;
	int err;

	if (k == M_QUERY) {
		memset(&info, 0, sizeof(info));
		t0 = bw_now();
		err = ibv_query_dmabuf(m->fd, &info);
		t1 = bw_now();
		if (err) {
			snprintf(b->error, sizeof(b->error), "ibv_query_dmabuf: %s",
				 ibv_ext_last_error());
			return err;
		}
		*reg = (t1 - t0) * 1e6;
		*dereg = 0;
		return 0;
	}
	if (k == M_EX) {
		hints.numa_node = -1;
		hints.policy = strcmp(b->o->ex, "default") ?
				       IBV_DMA_PATH_AUTO : IBV_DMA_PATH_DEFAULT;
		bw_mem_ex_attr(m, BW_REG_ACCESS, &hints, &choice, &info,
			       !strcmp(b->o->ex, "source"), &a);
	}
	t0 = bw_now();
	if (k == M_REG_MR)
		mr = ibv_reg_mr(b->pd, m->map, m->size, BW_REG_ACCESS);
	else if (k == M_PLAIN)
		mr = ibv_reg_dmabuf_mr(b->pd, 0, m->size, m->iova, m->fd, BW_REG_ACCESS);
	else
		mr = ibv_reg_dmabuf_mr_ex(b->pd, &a);
	t1 = bw_now();
	if (!mr) {
		err = errno;
		if (k == M_PLAIN && err == EOPNOTSUPP)
			snprintf(b->error, sizeof(b->error),
				 "ibv_reg_dmabuf_mr: EOPNOTSUPP: this libibverbs' %s provider has no dma-buf op (rxe has one with rdma-core-patches: run with that build's LD_LIBRARY_PATH)",
				 b->dev.name);
		else
			snprintf(b->error, sizeof(b->error), "%s: %s",
				 method_key[k],
				 k == M_EX ? ibv_ext_last_error() : strerror(err));
		return err ? err : EIO;
	}
	*reg = (t1 - t0) * 1e6;
	if (k == M_EX) {
		b->choice = choice;
		b->have_choice = true;
		if (a.comp_mask & IBV_REG_DMABUF_MR_EX_SOURCE) {
			b->source = info;
			b->have_source = true;
		}
	}
	t0 = bw_now();
	err = ibv_dereg_mr(mr);
	t1 = bw_now();
	if (err) {
		snprintf(b->error, sizeof(b->error), "ibv_dereg_mr after %s: %s",
			 method_key[k], strerror(err));
		return err;
	}
	*dereg = (t1 - t0) * 1e6;
	return 0;
}

/* Repetition i's order: the methods rotated by i. */
static enum method nth(const struct bench *b, long i, int j)
{
	return b->rotation[(i + j) % b->nm];
}

static int bench_size(struct bench *b, int si, struct bw_mem *m)
{
	double reg, dereg, start;
	int j, err;
	long i;

	for (i = 0; i < b->o->r.warmup; i++)
		for (j = 0; j < b->nm; j++) {
			err = call(b, m, nth(b, i, j), &reg, &dereg);
			if (err)
				return err;
		}
	start = bw_now();
	for (b->n = 0; b->n < b->o->r.size_reps[si]; b->n++) {
		if (b->n >= 5 && bw_now() - start > b->o->r.budget)
			break;
		for (j = 0; j < b->nm; j++) {
			enum method k = nth(b, b->n, j);

			err = call(b, m, k, &reg, &dereg);
			if (err)
				return err;
			b->s[k].reg[b->n] = reg;
			b->s[k].dereg[b->n] = dereg;
		}
	}
	return 0;
}

static void json_samples(struct json *j, const char *key, const double *v,
			 long n)
{
	long i;

	json_arr_begin(j, key);
	for (i = 0; i < n; i++)
		json_double(j, NULL, v[i]);
	json_arr_end(j);
}

static const char *order_str(const struct bench *b)
{
	if (b->nm == 1)
		return "one method, called again and again";
	return b->nm == 3 ? "rotating: plain _ex query, _ex query plain, ..." :
			    "alternating: plain _ex, _ex plain, ...";
}

static void json_size(struct bench *b, struct json *j, int si, int err)
{
	int i;

	json_obj_begin(j, NULL);
	json_uint(j, "bytes", b->o->r.sizes[si]);
	json_bool(j, "ok", !err);
	if (err) {
		json_str(j, "error", b->error);
		json_obj_end(j);
		return;
	}
	json_int(j, "reps", b->n);
	json_int(j, "reps_asked", b->o->r.size_reps[si]);
	if (b->runs)
		json_int(j, "pfn_runs", b->runs);
	else
		json_null(j, "pfn_runs");
	if (b->o->contiguous)
		json_int(j, "buffers_made", b->made);
	json_str(j, "order", order_str(b));
	json_obj_begin(j, "methods");
	for (i = 0; i < b->nm; i++) {
		enum method k = b->rotation[i];

		json_obj_begin(j, method_key[k]);
		json_samples(j, k == M_QUERY ? "call_us" : "reg_us", b->s[k].reg, b->n);
		if (k != M_QUERY)
			json_samples(j, "dereg_us", b->s[k].dereg, b->n);
		json_obj_end(j);
	}
	json_obj_end(j);
	json_obj_end(j);
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct opts o = { .ex = "auto" };
	struct json j;
	long most = 0;
	int ret, si, k, failed = 0;

	ret = bw_reg_parse(argc, argv, &regpair, &o.r, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (!o.r.mem.ops->dmabuf && (o.ex_given || o.with_query))
		return tool_usage_error("%s needs a dma-buf (--mem %s is timed with ibv_reg_mr alone)",
					o.with_query ? "--with-query" : "--ex",
					o.r.mem_text);
	b.o = &o;
	if (!o.r.mem.ops->dmabuf) {
		b.rotation[b.nm++] = M_REG_MR;
	} else {
		b.rotation[b.nm++] = M_PLAIN;
		b.rotation[b.nm++] = M_EX;
		if (o.with_query)
			b.rotation[b.nm++] = M_QUERY;
	}
	if (bw_reg_open(&o.r, &b.dev))
		return 1;
	for (si = 0; si < o.r.nsizes; si++)
		if (o.r.size_reps[si] > most)
			most = o.r.size_reps[si];
	b.pd = ibv_alloc_pd(b.dev.ctx);
	for (k = 0; k < M_COUNT; k++) {
		b.s[k].reg = calloc((size_t)most, sizeof(double));
		b.s[k].dereg = calloc((size_t)most, sizeof(double));
		if (!b.s[k].reg || !b.s[k].dereg)
			b.pd = NULL;
	}
	if (!b.pd) {
		fprintf(stderr, "%s: %s: PD or memory: %s\n", prog, b.dev.name,
			strerror(errno));
		return 1;
	}
	json_init(&j, stdout);
	json_obj_begin(&j, NULL);
	json_str(&j, "tool", prog);
	json_str(&j, "device", b.dev.name);
	json_str(&j, "memory", o.r.mem_text);
	if (o.r.mem.ops->dmabuf)
		json_str(&j, "ex", o.ex);
	else
		json_str(&j, "method", "ibv_reg_mr");
	json_int(&j, "warmup", o.r.warmup);
	json_arr_begin(&j, "sizes");
	for (si = 0; si < o.r.nsizes; si++) {
		struct bw_mem m;
		int err;

		fprintf(stderr, "%s: %s, %llu bytes...\n", prog, b.dev.name,
			(unsigned long long)o.r.sizes[si]);
		b.n = 0;
		err = make_buffer(&b, o.r.sizes[si], &m);
		if (!err) {
			snprintf(b.mem_desc, sizeof(b.mem_desc), "%s", m.desc);
			err = bench_size(&b, si, &m);
			bw_mem_free(&m);
		}
		if (err) {
			fprintf(stderr, "%s: %llu bytes: %s\n", prog,
				(unsigned long long)o.r.sizes[si], b.error);
			failed = 1;
		}
		json_size(&b, &j, si, err);
	}
	json_arr_end(&j);
	json_str(&j, "memory_desc", b.mem_desc);
	if (b.have_choice) {
		json_uint(&j, "endpoint", b.choice.ep.index);
		json_str(&j, "endpoint_pci", b.choice.ep.pci_addr);
		json_str(&j, "reason", b.choice.reason);
	}
	if (b.have_source) {
		json_str(&j, "source", ibv_dmabuf_source_str(b.source.source));
		json_str(&j, "origin", ibv_dmabuf_origin_str(b.source.origin));
		json_int(&j, "source_node", b.source.numa_node);
	}
	json_obj_end(&j);
	ibv_dealloc_pd(b.pd);
	bw_dev_close(&b.dev);
	for (k = 0; k < M_COUNT; k++) {
		free(b.s[k].reg);
		free(b.s[k].dereg);
	}
	return failed;
}
