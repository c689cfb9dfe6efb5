// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_microbench: the library's own costs, measured and printed.
 *
 *   topology discovery   read a whole sysfs tree: the first call after
 *                        ibv_ext_drop_topology_cache()
 *   choice               ibv_select_dma_endpoint() with the topology cached
 *   device ranking       ibv_rank_dmabuf_devices() over every device
 *   query                ibv_query_dmabuf() on a real dma-buf (fdinfo path
 *                        on kernels without the describe ioctl, kernel path
 *                        with it), when this machine can make one
 *
 * Each figure is the median (and p99) of many timed repetitions. Only the
 * public API, through the shared library, as an application sees it.
 * Usage: ibv_dmabuf_microbench [--sysfs-root DIR] [-d|--ib-dev DEV]
 *        [--source SPEC] [--iters N] [--json] [-V|--version]
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs_ext.h>

#include "json.h"
#include "opts.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat_ns {
	double median, p99;
	int n;
};

static struct stat_ns summarize(double *v, int n)
{
	struct stat_ns s;

	qsort(v, n, sizeof(*v), cmp_double);
	s.median = v[n / 2];
	s.p99 = v[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1];
	s.n = n;
	return s;
}

struct figure {
	const char *name;
	const char *unit;
	double scale;
	struct stat_ns s;
	double target; /* in unit; 0 = none */
	const char *note;
	bool skipped;
};

static void print_figures(struct figure *f, int n, bool json, const char *root)
{
	struct json j;
	int i;

	if (json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "sysfs_root", root);
		json_arr_begin(&j, "figures");
		for (i = 0; i < n; i++) {
			json_obj_begin(&j, NULL);
			json_str(&j, "name", f[i].name);
			json_bool(&j, "skipped", f[i].skipped);
			if (!f[i].skipped) {
				json_double(&j, "median", f[i].s.median / f[i].scale);
				json_double(&j, "p99", f[i].s.p99 / f[i].scale);
				json_str(&j, "unit", f[i].unit);
				json_int(&j, "samples", f[i].s.n);
				if (f[i].target)
					json_double(&j, "target", f[i].target);
			}
			json_str(&j, "note", f[i].note ? f[i].note : "");
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		return;
	}
	printf("sysfs root: %s\n", root);
	printf("%-34s %12s %12s %10s  %s\n", "figure", "median", "p99", "target",
	       "note");
	for (i = 0; i < n; i++) {
		char target[32] = "-";

		if (f[i].skipped) {
			printf("%-34s %12s %12s %10s  skipped: %s\n", f[i].name,
			       "-", "-", "-", f[i].note);
			continue;
		}
		if (f[i].target)
			snprintf(target, sizeof(target), "%.0f %s", f[i].target,
				 f[i].unit);
		printf("%-34s %9.2f %-2s %9.2f %-2s %10s  %s%s\n", f[i].name,
		       f[i].s.median / f[i].scale, f[i].unit,
		       f[i].s.p99 / f[i].scale, f[i].unit, target,
		       f[i].target && f[i].s.median / f[i].scale > f[i].target ?
			       "OVER TARGET " : "",
		       f[i].note ? f[i].note : "");
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sysfs-root", required_argument, NULL, 'r' },
		TOOL_LONGOPTS_IB_DEV,
		TOOL_LONGOPT_VERSION,
		{ "source", required_argument, NULL, 's' },
		{ "iters", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *root = "/sys", *device = NULL, *spec = NULL;
	struct ibv_dmabuf_info src;
	struct ibv_dma_choice c[64];
	struct figure fig[4];
	double *v;
	bool json = false;
	int iters = 2000, nf = 0, i, c_opt, ret;
	long val;
	char devname[IBV_EXT_NAME_LEN] = "";

	tool_set_prog("ibv_dmabuf_microbench");
	while ((c_opt = getopt_long(argc, argv, "hd:V", longopts, NULL)) != -1) {
		switch (c_opt) {
		case 'V':
			return tool_print_version();
		case 'r':
			root = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 's':
			spec = optarg;
			break;
		case 'n':
			if (tool_parse_long(optarg, 10, 100000000, &val))
				return tool_usage_error("bad --iters '%s' (10 .. 100000000)",
							optarg);
			iters = (int)val;
			break;
		case 'j':
			json = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [--sysfs-root DIR] [-d|--ib-dev DEV] [--source SPEC] [--iters N] [--json] [-V]\n",
				argv[0]);
			return c_opt == 'h' ? 0 : 2;
		}
	}
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
	v = calloc(iters, sizeof(*v));
	if (!v)
		return 1;

	/* 1. Topology discovery: the first call after dropping the cache. */
	if (access(root, R_OK | X_OK)) {
		fprintf(stderr, "%s: --sysfs-root %s: not a readable directory\n",
			argv[0], root);
		return 1;
	}
	for (i = 0; i < iters / 10; i++) {
		double t0;

		ibv_ext_drop_topology_cache();
		t0 = now_ns();
		ibv_ext_sysfs_note(0);
		v[i] = now_ns() - t0;
	}
	fig[nf++] = (struct figure){ .name = "topology discovery (uncached)",
				     .unit = "ms", .scale = 1e6,
				     .s = summarize(v, iters / 10),
				     .target = 2 };

	/* 2. A choice with the topology cached. */
	if (spec)
		ret = ibv_describe_dmabuf_source(spec, &src);
	else
		ret = ibv_describe_dmabuf_source("system:node=0", &src);
	if (ret) {
		fprintf(stderr, "%s: --source: %s\n", argv[0],
			ibv_ext_last_error());
		return 1;
	}
	if (!device) {
		size_t n = 64;

		ret = ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, c, &n);
		if (ret) {
			fprintf(stderr, "%s: %s\n", argv[0], ibv_ext_last_error());
			return 1;
		}
		snprintf(devname, sizeof(devname), "%s", c[0].ep.ibdev);
		device = devname;
	}
	for (i = 0; i < iters; i++) {
		double t0 = now_ns();

		ret = ibv_select_dma_endpoint(device, &src, NULL, &c[0]);
		v[i] = now_ns() - t0;
		if (ret) {
			fprintf(stderr, "%s: select: %s\n", argv[0],
				ibv_ext_last_error());
			return 1;
		}
	}
	fig[nf++] = (struct figure){ .name = "endpoint choice (cached)",
				     .unit = "us", .scale = 1e3,
				     .s = summarize(v, iters), .target = 5,
				     .note = device };

	for (i = 0; i < iters; i++) {
		size_t n = 64;
		double t0 = now_ns();

		ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, c, &n);
		v[i] = now_ns() - t0;
	}
	fig[nf++] = (struct figure){ .name = "device ranking (all devices)",
				     .unit = "us", .scale = 1e3,
				     .s = summarize(v, iters) };

	/* 3. Query of a real dma-buf, if one can be made here. */
	{
		struct ibv_dmabuf_alloc_attr a = {
			.type = IBV_DMABUF_ALLOC_UDMABUF, .size = 1 << 20,
			.numa_node = -1 };
		struct ibv_dmabuf_info info = { 0 };
		int fd = ibv_alloc_dmabuf(&a);

		if (fd < 0) {
			fig[nf++] = (struct figure){
				.name = "ibv_query_dmabuf", .skipped = true,
				.note = "no udmabuf on this kernel (run in the VM lab)" };
		} else {
			static char note[64];

			for (i = 0; i < iters; i++) {
				double t0 = now_ns();

				ibv_query_dmabuf(fd, &info);
				v[i] = now_ns() - t0;
			}
			snprintf(note, sizeof(note), "%s path",
				 info.origin == IBV_DMABUF_ORIGIN_KERNEL ?
					 "kernel ioctl" : "fdinfo");
			fig[nf++] = (struct figure){
				.name = "ibv_query_dmabuf", .unit = "us",
				.scale = 1e3, .s = summarize(v, iters),
				.target = 20, .note = note };
			close(fd);
		}
	}
	print_figures(fig, nf, json, root);
	free(v);
	return 0;
}
