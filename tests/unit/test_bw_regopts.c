// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * What the registration benchmarks share (tools/bw/bw_regopts.c): the size
 * list with and without SIZE=REPS, its bad forms and limits, each with the
 * exact message; the command line through bw_reg_parse() (defaults, the
 * tool's own options and check, the order of the checks); and two helpers
 * of tools/bw and tools/common that the tools now share: tool_hint_node()
 * and bw_mem's chunked CPU access (fill, verify, zero) on host memory; the
 * --mem spec every tool of tools/bw and tools/bench parses (bw_mem_parse:
 * composable options, each bad form with its exact message) and the size a
 * buffer of it is made of (bw_mem_granule).
 */
#include <getopt.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "bw_regopts.h"

static char err[2048];
static int saved_fd = -1;
static FILE *err_file;

/* stderr into err[] between capture() and captured(). */
static void capture(void)
{
	fflush(stderr);
	err_file = tmpfile();
	saved_fd = dup(2);
	if (!err_file || saved_fd < 0 || dup2(fileno(err_file), 2) < 0) {
		perror("capture");
		exit(1);
	}
}

static const char *captured(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	rewind(err_file);
	n = fread(err, 1, sizeof(err) - 1, err_file);
	err[n] = 0;
	fclose(err_file);
	return err;
}

/* bw_reg_parse_sizes() with o->reps 100: its return, message in err[]. */
static int sizes(struct bw_reg_opts *o, const char *text, int max,
		 bool with_reps)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->reps = 100;
	capture();
	ret = bw_reg_parse_sizes(o, text, max, with_reps);
	captured();
	return ret;
}

#define BAD_SIZES(text, max, with_reps, msg)                                  \
	do {                                                                  \
		struct bw_reg_opts _o;                                        \
		CHECK_INT(sizes(&_o, text, max, with_reps), TOOL_EXIT_USAGE); \
		CHECK_STR(err, "test_bw_regopts: " msg " (see --help)\n");    \
	} while (0)

static void size_reps(void)
{
	struct bw_reg_opts o;

	CHECK_INT(sizes(&o, "4K=3,2M,64M=7", 16, true), 0);
	CHECK_STR(err, "");
	CHECK_INT(o.nsizes, 3);
	CHECK_INT(o.sizes[0], 4096);
	CHECK_INT(o.sizes[1], 2 << 20);
	CHECK_INT(o.sizes[2], 64 << 20);
	CHECK_INT(o.size_reps[0], 3);
	CHECK_INT(o.size_reps[1], 100);
	CHECK_INT(o.size_reps[2], 7);
}

static void size_reps_bounds(void)
{
	struct bw_reg_opts o;

	/* The bounds of REPS, suffixes, empty fields skipped. */
	CHECK_INT(sizes(&o, ",,8KiB=1000000,,0x2000,64G=2,", 16, true), 0);
	CHECK_STR(err, "");
	CHECK_INT(o.nsizes, 3);
	CHECK_INT(o.sizes[0], 8192);
	CHECK_INT(o.size_reps[0], 1000000);
	CHECK_INT(o.sizes[1], 8192);
	CHECK_INT(o.size_reps[1], 100);
	CHECK_INT(o.sizes[2], 64ULL << 30);
	CHECK_INT(o.size_reps[2], 2);
}

static void size_reps_bad(void)
{
	BAD_SIZES("4K=0", 16, true, "bad repetitions '0'");
	BAD_SIZES("4K=", 16, true, "bad repetitions ''");
	BAD_SIZES("4K=x", 16, true, "bad repetitions 'x'");
	BAD_SIZES("4K=-1", 16, true, "bad repetitions '-1'");
	BAD_SIZES("4K=1000001", 16, true, "bad repetitions '1000001'");
	BAD_SIZES("4K==3", 16, true, "bad repetitions '=3'");
	BAD_SIZES("4K=2=3", 16, true, "bad repetitions '2=3'");
	/* The count is read first; the size without it is what is named. */
	BAD_SIZES("3000=2", 16, true, "bad size '3000' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("=3", 16, true, "bad size '' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("4K,1Q=2", 16, true, "bad size '1Q' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("65G=1", 16, true, "bad size '65G' (multiples of 4 KiB, up to 64 GiB)");
}

static void sizes_plain(void)
{
	struct bw_reg_opts o;

	CHECK_INT(sizes(&o, "4K,64K", 24, false), 0);
	CHECK_INT(o.nsizes, 2);
	CHECK_INT(o.size_reps[1], 100);
	/* Without SIZE=REPS the '=' is part of a bad size. */
	BAD_SIZES("4K=3", 24, false, "bad size '4K=3' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("0", 24, false, "bad size '0' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("3000", 24, false, "bad size '3000' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("-4K", 24, false, "bad size '-4K' (multiples of 4 KiB, up to 64 GiB)");
	BAD_SIZES("", 24, false, "no sizes in ''");
	BAD_SIZES(",,", 16, true, "no sizes in ',,'");
}

static void sizes_limit(void)
{
	char list[256] = "4K", plain[256] = "4K";
	struct bw_reg_opts o;
	int i;

	for (i = 1; i < 16; i++)
		strcat(list, ",4K=2");
	CHECK_INT(sizes(&o, list, 16, true), 0);
	CHECK_INT(o.nsizes, 16);
	strcat(list, ",8K");
	CHECK_INT(sizes(&o, list, 16, true), TOOL_EXIT_USAGE);
	CHECK_HAS(err, "test_bw_regopts: more than 16 sizes in '4K,4K=2,");
	for (i = 1; i < 24; i++)
		strcat(plain, ",4K");
	CHECK_INT(sizes(&o, plain, 24, false), 0);
	CHECK_INT(o.nsizes, 24);
	strcat(plain, ",4K");
	CHECK_INT(sizes(&o, plain, 24, false), TOOL_EXIT_USAGE);
	CHECK_HAS(err, "more than 24 sizes");
	/* No tool gets more room than the arrays have. */
	CHECK_INT(sizes(&o, plain, 99, false), TOOL_EXIT_USAGE);
	CHECK_HAS(err, "more than 24 sizes");
}

/* A tool of the test's own: --flag, and a check that can refuse. */
struct fake {
	struct bw_reg_opts r;
	bool flag;
	int checked;
	int refuse;
};

static int fake_opt(int c, void *tool)
{
	struct fake *f = tool;

	if (c != 'f')
		return BW_REG_NOT_OWN;
	f->flag = true;
	return 0;
}

static int fake_check(void *tool)
{
	struct fake *f = tool;

	f->checked++;
	return f->refuse ? tool_usage_error("refused by the tool") : 0;
}

static void fake_usage(FILE *f)
{
	fprintf(f, "Usage: fake\n");
}

static const struct option fake_longopts[] = {
	{ "flag", no_argument, NULL, 'f' },
	{ NULL, 0, NULL, 0 },
};

/* Not const: host_memory() lets it take host memory. */
static struct bw_reg_tool fake_tool = {
	.prog = "fake",
	.sizes = "4K,8K",
	.budget = 7,
	.max_sizes = 4,
	.with_reps = true,
	.not_dmabuf = " (a note)",
	.longopts = fake_longopts,
	.opt = fake_opt,
	.check = fake_check,
	.usage = fake_usage,
};

static int parse(struct fake *f, int refuse, ...)
{
	char *argv[32] = { "fake" }, *arg;
	va_list ap;
	int argc = 1, ret;

	va_start(ap, refuse);
	while ((arg = va_arg(ap, char *))) {
		if (argc == (int)(sizeof(argv) / sizeof(argv[0])) - 1) {
			fprintf(stderr, "parse(): more than %d arguments\n", argc);
			abort();
		}
		argv[argc++] = arg;
	}
	va_end(ap);
	argv[argc] = NULL;
	memset(f, 0, sizeof(*f));
	f->refuse = refuse;
	optind = 0;
	capture();
	ret = bw_reg_parse(argc, argv, &fake_tool, &f->r, f);
	captured();
	tool_set_prog("test_bw_regopts");
	return ret;
}

static void command_line(void)
{
	struct fake f;

	CHECK_INT(parse(&f, 0, NULL), 0);
	CHECK_STR(err, "");
	CHECK(f.r.dev == NULL && !f.flag && f.checked == 1);
	CHECK_INT(f.r.port, 1);
	CHECK_STR(f.r.mem_text, "udmabuf");
	CHECK(f.r.mem.ops == &bw_mem_udmabuf);
	CHECK_INT(f.r.reps, 100);
	CHECK_INT(f.r.warmup, 2);
	CHECK(f.r.budget == 7);
	CHECK_INT(f.r.nsizes, 2);

	CHECK_INT(parse(&f, 0, "-d", "rxe0", "-i", "2", "--flag", "--mem",
			"heap:node=1", "--sizes", "2M=5,4K", "-n", "9",
			"--budget", "3", "--warmup", "0", NULL), 0);
	CHECK_STR(err, "");
	CHECK_STR(f.r.dev, "rxe0");
	CHECK_INT(f.r.port, 2);
	CHECK(f.flag);
	CHECK(f.r.mem.ops == &bw_mem_heap && f.r.mem.node == 1);
	CHECK_INT(f.r.reps, 9);
	CHECK_INT(f.r.warmup, 0);
	CHECK(f.r.budget == 3);
	CHECK_INT(f.r.nsizes, 2);
	CHECK_INT(f.r.size_reps[0], 5);
	CHECK_INT(f.r.size_reps[1], 9); /* -n, whatever its place */

	/* Each refusal is one line; the first problem wins. */
	CHECK_INT(parse(&f, 0, "--reps", "0", "--bogus", NULL), 2);
	CHECK_STR(err, "fake: bad --reps '0' (see --help)\n");
	CHECK_INT(parse(&f, 0, "--bogus", "--reps", "0", NULL), 2);
	CHECK_STR(err, "fake: unknown option '--bogus' (see --help)\n");
	CHECK_INT(parse(&f, 0, "--budget", "86401", NULL), 2);
	CHECK_STR(err, "fake: bad --budget '86401' (seconds) (see --help)\n");
	CHECK_INT(parse(&f, 0, "--warmup", "1001", NULL), 2);
	CHECK_STR(err, "fake: bad --warmup '1001' (see --help)\n");
	CHECK_INT(parse(&f, 0, "-i", "0", NULL), 2);
	CHECK_STR(err, "fake: bad --ib-port '0' (see --help)\n");
	CHECK_INT(parse(&f, 0, "--sizes", NULL), 2);
	CHECK_STR(err, "fake: option '--sizes' needs a value (see --help)\n");
	/* Words left over come before the tool's check, --mem and sizes. */
	CHECK_INT(parse(&f, 1, "--mem", "gpu", "extra", NULL), 2);
	CHECK_STR(err, "fake: unexpected argument 'extra' (see --help)\n");
	CHECK_INT(f.checked, 0);
	/* The tool's check before --mem, --mem before the sizes. */
	CHECK_INT(parse(&f, 1, "--mem", "gpu", NULL), 2);
	CHECK_STR(err, "fake: refused by the tool (see --help)\n");
	CHECK_INT(parse(&f, 0, "--mem", "gpu", "--sizes", "0", NULL), 2);
	CHECK_STR(err, "fake: unknown memory backend 'gpu' (host, udmabuf, heap, drm, cuda) (see --help)\n");
	CHECK_INT(parse(&f, 0, "--mem", "host", "--sizes", "0", NULL), 2);
	CHECK_STR(err, "fake: --mem host is not a dma-buf (a note) (see --help)\n");
	CHECK_INT(parse(&f, 0, "--sizes", "4K,4K,4K,4K,4K", NULL), 2);
	CHECK_STR(err, "fake: more than 4 sizes in '4K,4K,4K,4K,4K' (see --help)\n");
	/* --help and --version: exit 0, nothing on stderr. */
	fflush(stdout);
	CHECK_INT(parse(&f, 0, "--help", NULL), -1);
	CHECK_STR(err, "");
}

/* A tool with host_ok takes --mem host; the dma-bufs as before. */
static void host_memory(void)
{
	struct fake f;

	fake_tool.host_ok = true;
	CHECK_INT(parse(&f, 0, "--mem", "host:node=1", NULL), 0);
	CHECK_STR(err, "");
	CHECK(f.r.mem.ops == &bw_mem_host && f.r.mem.node == 1);
	CHECK_INT(parse(&f, 0, "--mem", "udmabuf", NULL), 0);
	CHECK(f.r.mem.ops == &bw_mem_udmabuf);
	/* Still no bad backend, and still the sizes checked after it. */
	CHECK_INT(parse(&f, 0, "--mem", "gpu", NULL), 2);
	CHECK_STR(err, "fake: unknown memory backend 'gpu' (host, udmabuf, heap, drm, cuda) (see --help)\n");
	CHECK_INT(parse(&f, 0, "--mem", "host", "--sizes", "0", NULL), 2);
	CHECK_STR(err, "fake: bad size '0' (multiples of 4 KiB, up to 64 GiB) (see --help)\n");
	fake_tool.host_ok = false;
}

static void hint_node(void)
{
	struct ibv_dma_path_hints h;

	CHECK_INT(tool_parse_path("auto", &h), 0);
	tool_hint_node(&h, 3);
	CHECK(h.comp_mask & IBV_DMA_PATH_HINTS_NUMA_NODE);
	CHECK_INT(h.numa_node, 3);
	CHECK_INT(tool_parse_path("auto", &h), 0);
	tool_hint_node(&h, -1);
	CHECK_INT(h.comp_mask, 0);
	CHECK_INT(h.numa_node, -1);
	/* An explicit policy is the caller's: no node added. */
	CHECK_INT(tool_parse_path("default", &h), 0);
	tool_hint_node(&h, 3);
	CHECK_INT(h.comp_mask, 0);
	CHECK_INT(h.numa_node, -1);
}

/* bw_mem's chunked fill / verify / zero through host memory's mapping. */
static void mem_cpu_access(void)
{
	struct bw_mem_spec spec;
	uint64_t len = (3 << 20) + 5, off = 4097;
	struct bw_mem m;
	struct bw_err e;
	int64_t bad = 7;
	uint64_t i;

	CHECK_INT(bw_mem_parse("host", &spec, &e), 0);
	CHECK_INT(bw_mem_alloc(&spec, 4 << 20, &m, &e), 0);
	if (!m.map)
		return;
	memset(m.map, 0xa5, m.size);
	CHECK_INT(bw_mem_fill(&m, off, len, 1, &e), 0);
	CHECK_INT(bw_mem_verify(&m, off, len, 1, &bad, &e), 0);
	CHECK_INT(bad, -1);
	CHECK_INT(bw_mem_verify(&m, off, len, 2, &bad, &e), 0);
	CHECK_INT(bad, 0);
	CHECK_INT(m.map[off - 1], 0xa5);
	CHECK_INT(m.map[off + len], 0xa5);
	/* A difference beyond the first 1 MiB chunk. */
	m.map[off + (1 << 20) + 5] ^= 0x40;
	CHECK_INT(bw_mem_verify(&m, off, len, 1, &bad, &e), 0);
	CHECK_INT(bad, (1 << 20) + 5);
	CHECK_INT(bw_mem_zero(&m, off, len, &e), 0);
	for (i = 0; i < len && !m.map[off + i]; i++)
		;
	CHECK_INT(i, len);
	CHECK_INT(m.map[off + len], 0xa5);
	/* Beyond the buffer: refused, nothing written. */
	CHECK_INT(bw_mem_fill(&m, m.size - 4, 8, 1, &e), ERANGE);
	CHECK_HAS(e.msg, "CPU access beyond the buffer");
	CHECK_INT(m.map[m.size - 4], 0xa5);
	bw_mem_free(&m);
	CHECK(m.ops == NULL);
}

/* --mem specs that parse, and what each gives. */
static void mem_spec_good(void)
{
	static const struct {
		const char *text;
		const struct bw_mem_ops *ops;
		int node;
		bool interleave, hugetlb;
	} t[] = {
		{ "host", &bw_mem_host, -1, false, false },
		{ "host:node=3", &bw_mem_host, 3, false, false },
		{ "udmabuf", &bw_mem_udmabuf, -1, false, false },
		{ "udmabuf:node=1", &bw_mem_udmabuf, 1, false, false },
		{ "udmabuf:node=1023", &bw_mem_udmabuf, 1023, false, false },
		{ "udmabuf:interleave", &bw_mem_udmabuf, -1, true, false },
		{ "udmabuf:hugetlb", &bw_mem_udmabuf, -1, false, true },
		{ "udmabuf:node=1:hugetlb", &bw_mem_udmabuf, 1, false, true },
		{ "udmabuf:hugetlb:node=0", &bw_mem_udmabuf, 0, false, true },
		{ "udmabuf:interleave:hugetlb", &bw_mem_udmabuf, -1, true, true },
		{ "udmabuf:hugetlb:interleave", &bw_mem_udmabuf, -1, true, true },
		{ "heap", &bw_mem_heap, -1, false, false },
		{ "heap:node=0", &bw_mem_heap, 0, false, false },
	};
	struct bw_mem_spec spec;
	struct bw_err e;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		e.msg[0] = 0;
		CHECK_INT(bw_mem_parse(t[i].text, &spec, &e), 0);
		CHECK_STR(e.msg, "");
		CHECK(spec.ops == t[i].ops);
		CHECK_INT(spec.node, t[i].node);
		CHECK_INT(spec.interleave, t[i].interleave);
		CHECK_INT(spec.hugetlb, t[i].hugetlb);
		CHECK_STR(spec.text, t[i].text);
	}
	/* drm and cuda take the rest whole, as before. */
	CHECK_INT(bw_mem_parse("drm:/dev/dri/card0", &spec, &e), 0);
	CHECK_STR(spec.dev, "/dev/dri/card0");
	CHECK_INT(bw_mem_parse("drm:vgem:hugetlb", &spec, &e), 0);
	CHECK_STR(spec.dev, "vgem:hugetlb");
	CHECK_INT(bw_mem_parse("cuda:2", &spec, &e), 0);
	CHECK_INT(spec.gpu, 2);
}

/* --mem specs refused, each with its message. */
static void mem_spec_bad(void)
{
	static const struct {
		const char *text, *msg;
	} t[] = {
		{ "gpu",
		  "unknown memory backend 'gpu' (host, udmabuf, heap, drm, cuda)" },
		{ "udmabuf:node=x",
		  "--mem udmabuf: bad option 'node=x' (want node=N, interleave or hugetlb)" },
		{ "udmabuf:node=1024",
		  "--mem udmabuf: bad option 'node=1024' (want node=N, interleave or hugetlb)" },
		{ "udmabuf:",
		  "--mem udmabuf: bad option '' (want node=N, interleave or hugetlb)" },
		{ "udmabuf:hugetlb:",
		  "--mem udmabuf: bad option '' (want node=N, interleave or hugetlb)" },
		{ "udmabuf:huge",
		  "--mem udmabuf: bad option 'huge' (want node=N, interleave or hugetlb)" },
		{ "udmabuf:node=1,hugetlb",
		  "--mem udmabuf: bad option 'node=1,hugetlb' (want node=N, interleave or hugetlb)" },
		{ "udmabuf:node=1:interleave",
		  "--mem udmabuf: node=N and interleave exclude each other" },
		{ "udmabuf:interleave:hugetlb:node=0",
		  "--mem udmabuf: node=N and interleave exclude each other" },
		{ "udmabuf:hugetlb:hugetlb",
		  "--mem udmabuf: option 'hugetlb' given twice" },
		{ "udmabuf:node=0:node=1",
		  "--mem udmabuf: option 'node=1' given twice" },
		{ "heap:interleave", "--mem heap: bad option 'interleave' (want node=N)" },
		{ "heap:hugetlb", "--mem heap: bad option 'hugetlb' (want node=N)" },
		{ "host:hugetlb", "--mem host: bad option 'hugetlb' (want node=N)" },
		{ "host:node=0:hugetlb",
		  "--mem host: bad option 'hugetlb' (want node=N)" },
		{ "drm:", "--mem drm: empty device" },
		{ "cuda:x", "--mem cuda:x: want a GPU index" },
	};
	char longer[256];
	struct bw_mem_spec spec;
	struct bw_err e;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		e.msg[0] = 0;
		CHECK_INT(bw_mem_parse(t[i].text, &spec, &e), EINVAL);
		CHECK_STR(e.msg, t[i].msg);
	}
	/* Not cut to fit: node=00..01 must not read as node=0. */
	snprintf(longer, sizeof(longer), "udmabuf:node=%0200d", 1);
	CHECK_INT(bw_mem_parse(longer, &spec, &e), EINVAL);
	CHECK_STR(e.msg, "--mem udmabuf: options longer than 159 bytes");
}

/* Hugepagesize of /proc/meminfo in bytes, 0 if it has none. */
static uint64_t meminfo_hugepagesize(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* What a buffer is made of: pages, or huge pages for udmabuf:hugetlb. */
static void mem_granule(void)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), huge;
	struct bw_mem_spec spec;
	struct bw_err e;
	int fd;

	CHECK_INT(bw_mem_parse("udmabuf:node=1", &spec, &e), 0);
	CHECK_INT(bw_mem_granule(&spec), page);
	CHECK_INT(bw_mem_parse("host", &spec, &e), 0);
	CHECK_INT(bw_mem_granule(&spec), page);
	CHECK_INT(bw_mem_parse("udmabuf:node=1:hugetlb", &spec, &e), 0);
	fd = memfd_create("test", MFD_HUGETLB | MFD_CLOEXEC);
	if (fd < 0) {
		/* No hugetlbfs: the allocation will say so. */
		CHECK_INT(bw_mem_granule(&spec), page);
		SKIP(mem_granule_huge, "this kernel makes no MFD_HUGETLB memfd");
		return;
	}
	close(fd);
	huge = meminfo_hugepagesize();
	CHECK(huge > page);
	CHECK_INT(bw_mem_granule(&spec), huge);
}

int main(void)
{
	tool_set_prog("test_bw_regopts");
	RUN(size_reps);
	RUN(size_reps_bounds);
	RUN(size_reps_bad);
	RUN(sizes_plain);
	RUN(sizes_limit);
	RUN(command_line);
	RUN(host_memory);
	RUN(hint_node);
	RUN(mem_cpu_access);
	RUN(mem_spec_good);
	RUN(mem_spec_bad);
	RUN(mem_granule);
	return test_report();
}
