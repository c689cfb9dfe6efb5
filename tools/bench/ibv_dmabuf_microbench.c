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
 *                        with it), when this machine can make one, or
 *                        on the dma-buf open on --fd N
 *
 * A call that fails makes its figure "failed: <reason>" and the exit status
 * 1: a figure is printed only for calls that did what they were timed for.
 * Each figure is the median (and p99) of many timed repetitions. Only the
 * public API, through the shared library, as an application sees it.
 * Usage: ibv_dmabuf_microbench [--sysfs-root DIR] [-d|--ib-dev DEV]
 *        [--source SPEC] [--iters N] [--fd N] [--json] [-V|--version]
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
	bool failed;	/* note: the reason */
};

/* A figure whose call failed: "failed: <what>: <reason>" in its note. */
static struct figure failed_figure(const char *name, const char *what,
				   const char *reason)
{
	static char notes[4][256];
	static int k;
	char *note = notes[k++ % 4];

	snprintf(note, sizeof(notes[0]), "%s: %s", what, reason);
	return (struct figure){ .name = name, .failed = true, .note = note };
}

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
			json_bool(&j, "failed", f[i].failed);
			if (!f[i].skipped && !f[i].failed) {
				json_double(&j, "median", f[i].s.median / f[i].scale);
				json_double(&j, "p99", f[i].s.p99 / f[i].scale);
				json_str(&j, "unit", f[i].unit);
				json_int(&j, "samples", f[i].s.n);
				if (f[i].target)
					json_double(&j, "target", f[i].target);
			}
			if (f[i].failed) {
				char note[300];

				snprintf(note, sizeof(note), "failed: %s", f[i].note);
				json_str(&j, "note", note);
			} else {
				json_str(&j, "note", f[i].note ? f[i].note : "");
			}
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

		if (f[i].skipped || f[i].failed) {
			printf("%-34s %12s %12s %10s  %s: %s\n", f[i].name,
			       "-", "-", "-", f[i].failed ? "failed" : "skipped",
			       f[i].note);
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
		{ "fd", required_argument, NULL, 'f' },
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
	int iters = 2000, nf = 0, i, c_opt, ret, query_fd = -1, failures = 0;
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
		case 'f':
			if (tool_parse_long(optarg, 0, 1 << 20, &val))
				return tool_usage_error("bad --fd '%s' (0 .. %d)",
							optarg, 1 << 20);
			query_fd = (int)val;
			break;
		case 'j':
			json = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [--sysfs-root DIR] [-d|--ib-dev DEV] [--source SPEC] [--iters N] [--fd N] [--json] [-V]\n",
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
	ret = 0;
	if (!device) {
		size_t n = 64;

		ret = ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, c, &n);
		if (ret) {
			fig[nf++] = failed_figure("endpoint choice (cached)",
						  "ibv_rank_dmabuf_devices",
						  ibv_ext_last_error());
		} else if (!n) {
			ret = -1;
			fig[nf++] = (struct figure){
				.name = "endpoint choice (cached)",
				.skipped = true,
				.note = "no RDMA device in this sysfs tree" };
		} else {
			snprintf(devname, sizeof(devname), "%s", c[0].ep.ibdev);
			device = devname;
		}
	}
	for (i = 0; device && i < iters; i++) {
		double t0 = now_ns();

		ret = ibv_select_dma_endpoint(device, &src, NULL, &c[0]);
		v[i] = now_ns() - t0;
		if (ret) {
			fig[nf++] = failed_figure("endpoint choice (cached)",
						  "ibv_select_dma_endpoint",
						  ibv_ext_last_error());
			break;
		}
	}
	if (device && !ret)
		fig[nf++] = (struct figure){ .name = "endpoint choice (cached)",
					     .unit = "us", .scale = 1e3,
					     .s = summarize(v, iters), .target = 5,
					     .note = device };

	for (i = 0; i < iters; i++) {
		size_t n = 64;
		double t0 = now_ns();

		ret = ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, c, &n);
		v[i] = now_ns() - t0;
		if (ret)
			break;
	}
	if (ret)
		fig[nf++] = failed_figure("device ranking (all devices)",
					  "ibv_rank_dmabuf_devices",
					  ibv_ext_last_error());
	else
		fig[nf++] = (struct figure){ .name = "device ranking (all devices)",
					     .unit = "us", .scale = 1e3,
					     .s = summarize(v, iters) };

	/* 3. Query of a real dma-buf: --fd N, or one made here if this kernel can. */
	{
		struct ibv_dmabuf_alloc_attr a = {
			.type = IBV_DMABUF_ALLOC_UDMABUF, .size = 1 << 20,
			.numa_node = -1 };
		struct ibv_dmabuf_info info = { 0 };
		int fd = query_fd;

		if (fd < 0 && access("/dev/udmabuf", F_OK)) {
			fig[nf++] = (struct figure){
				.name = "ibv_query_dmabuf", .skipped = true,
				.note = "no udmabuf on this kernel (run in the VM lab)" };
		} else if (fd < 0 && (fd = ibv_alloc_dmabuf(&a)) < 0) {
			fig[nf++] = failed_figure("ibv_query_dmabuf",
						  "ibv_alloc_dmabuf udmabuf",
						  ibv_ext_last_error());
		} else {
			static char note[64];

			for (i = 0; i < iters; i++) {
				double t0 = now_ns();

				ret = ibv_query_dmabuf(fd, &info);
				v[i] = now_ns() - t0;
				if (ret)
					break;
			}
			if (ret) {
				char what[64];

				snprintf(what, sizeof(what), "ibv_query_dmabuf(fd %d)",
					 fd);
				fig[nf++] = failed_figure("ibv_query_dmabuf", what,
							  ibv_ext_last_error());
			} else {
				snprintf(note, sizeof(note), "%s path",
					 info.origin == IBV_DMABUF_ORIGIN_KERNEL ?
						 "kernel ioctl" : "fdinfo");
				fig[nf++] = (struct figure){
					.name = "ibv_query_dmabuf", .unit = "us",
					.scale = 1e3, .s = summarize(v, iters),
					.target = 20, .note = note };
			}
			if (fd != query_fd)
				close(fd);
		}
	}
	print_figures(fig, nf, json, root);
	free(v);
	for (i = 0; i < nf; i++) {
		if (fig[i].failed) {
			fprintf(stderr, "%s: %s: failed: %s\n", argv[0],
				fig[i].name, fig[i].note);
			failures++;
		}
	}
	return failures ? 1 : 0;
}
