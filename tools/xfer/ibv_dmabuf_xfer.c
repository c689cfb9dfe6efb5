// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_xfer: one-process RDMA loopback between two memory regions of
 * one device, with the data checked byte for byte from the CPU side.
 *
 * Two RC QPs on the same port are connected to each other. The source and
 * destination buffers are host memory (ibv_reg_mr) or dma-bufs made here
 * (ibv_alloc_dmabuf, or ibv_alloc_vfio_dmabuf for a PCI BAR; registered
 * with ibv_reg_dmabuf_mr_ex), optionally at an offset into the dma-buf and
 * a chosen iova. The tool
 *   1. fills the source with a pattern and RDMA WRITEs it to the
 *      destination, then checks the destination through its CPU view,
 *   2. clears the source and RDMA READs the destination back into it,
 *      then checks the source,
 * and prints what was registered where, MB/s of each step and whether the
 * data matched (xfer_buf.c: the buffers and their CPU views).
 *
 * It is the lab's data check and the demo's "the data arrived"; the
 * benchmark proper is ibv_dmabuf_bw.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_rdma.h"
#include "json.h"
#include "opts.h"
#include "xfer_buf.h"

#define CHUNK (1u << 20)
#define DEPTH 16
#define POLL_TIMEOUT_S 60

struct ctx {
	struct bw_dev dev;	/* device, port 1, its RoCE v2 GID */
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	struct ibv_dma_path_hints hints;
	unsigned int access;
};

static const char *prog = "ibv_dmabuf_xfer";

/* A library call failed: its reason. */
static int die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what,
		*ibv_ext_last_error() ? ibv_ext_last_error() : strerror(err));
	return 1;
}

/* Anything else failed. */
static int fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int reg_buf(struct ctx *c, struct xfer_buf *b, uint64_t len)
{
	struct ibv_reg_dmabuf_mr_ex_attr attr = { 0 };
	struct ibv_dma_path_hints hints;

	if (!b->dmabuf) {
		b->mr = ibv_reg_mr(c->pd, b->map + b->offset, len, c->access);
		b->iova = (uintptr_t)(b->map + b->offset);
		return b->mr ? 0 : errno;
	}
	attr.comp_mask = IBV_REG_DMABUF_MR_EX_HINTS |
			 IBV_REG_DMABUF_MR_EX_CHOICE |
			 IBV_REG_DMABUF_MR_EX_SOURCE;
	attr.fd = b->fd;
	attr.offset = b->offset;
	attr.length = len;
	attr.iova = b->iova;
	attr.access = c->access;
	hints = c->hints;
	/* We placed the pages: say where, for kernels that cannot tell. */
	tool_hint_node(&hints, b->node);
	attr.hints = &hints;
	attr.choice = &b->choice;
	attr.source = &b->source;
	b->mr = ibv_reg_dmabuf_mr_ex(c->pd, &attr);
	return b->mr ? 0 : errno;
}

/* RDMA op of len bytes: local buffer l, remote buffer r, from QP 0. */
static int run_op(struct ctx *c, enum ibv_wr_opcode op, struct xfer_buf *l,
		  struct xfer_buf *r, uint64_t len)
{
	uint64_t posted = 0, done = 0;
	unsigned int inflight = 0;
	double deadline = now_s() + POLL_TIMEOUT_S;

	while (done < len) {
		while (inflight < DEPTH && posted < len) {
			uint32_t n = len - posted > CHUNK ? CHUNK :
							    (uint32_t)(len - posted);
			struct ibv_sge sge = {
				.addr = l->iova + posted, .length = n,
				.lkey = l->mr->lkey };
			struct ibv_send_wr wr = { 0 }, *bad;

			wr.wr_id = n;
			wr.sg_list = &sge;
			wr.num_sge = 1;
			wr.opcode = op;
			wr.send_flags = IBV_SEND_SIGNALED;
			wr.wr.rdma.remote_addr = r->iova + posted;
			wr.wr.rdma.rkey = r->mr->rkey;
			if (ibv_post_send(c->qp[0], &wr, &bad))
				return errno;
			posted += n;
			inflight++;
		}
		for (;;) {
			struct ibv_wc wc;
			int k = ibv_poll_cq(c->cq, 1, &wc);

			if (k < 0)
				return EIO;
			if (k) {
				if (wc.status != IBV_WC_SUCCESS) {
					fprintf(stderr, "%s: completion error: %s\n",
						prog, ibv_wc_status_str(wc.status));
					return EIO;
				}
				done += wc.wr_id;
				inflight--;
				break;
			}
			if (now_s() > deadline) {
				fprintf(stderr, "%s: no completion in %d s\n",
					prog, POLL_TIMEOUT_S);
				return ETIMEDOUT;
			}
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s -d DEV [--src SPEC] [--dst SPEC] [--size N]\n"
		"          [--src-offset N] [--dst-offset N] [--iova N] [--path POLICY]\n"
		"          [--op write|read|both] [--json]\n"
		"SPEC: host | udmabuf[:node=N|:interleave] | heap[:node=N]\n"
		"      | vfio:DDDD:BB:DD.F[,bar=N][,offset=SIZE]\n"
		"      (default host; vfio: a BAR range exported by vfio-pci)\n"
		"POLICY: auto | default | numa=N | endpoint=N\n"
		"-d, --ib-dev DEV: the RDMA device (--device: alias); -V: version\n",
		prog);
}

static void json_buf(struct json *j, const char *key, const struct xfer_buf *b)
{
	json_obj_begin(j, key);
	json_str(j, "spec", b->spec);
	json_uint(j, "offset", b->offset);
	json_uint(j, "iova", b->iova);
	if (b->dmabuf) {
		json_str(j, "source", ibv_dmabuf_source_str(b->source.source));
		json_str(j, "origin", ibv_dmabuf_origin_str(b->source.origin));
		json_int(j, "numa_node", b->source.numa_node);
		json_str(j, "endpoint_pci", b->choice.ep.pci_addr);
		json_uint(j, "endpoint", b->choice.ep.index);
		json_bool(j, "kernel_reported",
			  b->choice.flags & IBV_DMA_CHOICE_KERNEL_REPORTED);
		json_str(j, "reason", b->choice.reason);
	}
	if (b->dev_fd >= 0) {
		json_str(j, "pci", b->pci);
		json_uint(j, "bar", b->bar);
		json_uint(j, "bar_offset", b->bar_offset);
	}
	json_obj_end(j);
}

struct result {
	double t_write, t_read;
	int64_t bad;		/* first byte that differs, or -1 */
	const char *bad_op;	/* "write" or "read" */
};

/* One RDMA step and the check of what it moved: 0 (see r->bad), or 1. */
static int step(struct ctx *c, enum ibv_wr_opcode op, struct xfer_buf *src,
		struct xfer_buf *dst, uint64_t len, struct result *r)
{
	bool write = op == IBV_WR_RDMA_WRITE;
	struct xfer_buf *into = write ? dst : src;
	double t0 = now_s();
	int ret;

	ret = run_op(c, op, src, dst, len);
	*(write ? &r->t_write : &r->t_read) = now_s() - t0;
	if (ret)
		return fail(write ? "RDMA WRITE" : "RDMA READ", ret);
	ret = xfer_buf_check(into, into->offset, len, 1, &r->bad);
	if (ret)
		return fail("reading the data back", ret);
	if (r->bad >= 0) {
		r->bad_op = write ? "write" : "read";
		fprintf(stderr, "%s: %s: data differs at byte %" PRId64 "\n",
			prog, write ? "WRITE" : "READ", r->bad);
	}
	return 0;
}

/* Both steps as asked: 0 when they ran (r->bad says if the data matched). */
static int transfer(struct ctx *c, struct xfer_buf *src, struct xfer_buf *dst,
		    uint64_t len, bool do_write, bool do_read, struct result *r)
{
	int ret;

	r->bad = -1;
	ret = xfer_buf_fill(src, src->offset, len, 1);
	if (!ret)
		ret = xfer_buf_fill(dst, 0, dst->alloc, 0);
	if (!ret && !do_write)
		ret = xfer_buf_fill(dst, dst->offset, len, 1);
	if (ret)
		return fail("filling the buffers", ret);
	if (do_write && step(c, IBV_WR_RDMA_WRITE, src, dst, len, r))
		return 1;
	if (!do_read || r->bad >= 0)
		return 0;
	ret = xfer_buf_fill(src, 0, src->alloc, 0);
	if (ret)
		return fail("clearing the source", ret);
	return step(c, IBV_WR_RDMA_READ, src, dst, len, r);
}

static void report(bool json, const char *dev, uint64_t len, bool do_write,
		   bool do_read, const struct xfer_buf *src,
		   const struct xfer_buf *dst, const struct result *r)
{
	const char *check = r->bad < 0 ? "data verified" : "DATA DIFFER";
	struct json j;

	if (json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "device", dev);
		json_uint(&j, "bytes", len);
		json_buf(&j, "src", src);
		json_buf(&j, "dst", dst);
		if (do_write)
			json_double(&j, "write_MBps", len / r->t_write / 1e6);
		if (do_read && r->t_read > 0)
			json_double(&j, "read_MBps", len / r->t_read / 1e6);
		json_bool(&j, "verified", r->bad < 0);
		if (r->bad >= 0) {
			json_obj_begin(&j, "mismatch");
			json_str(&j, "op", r->bad_op);
			json_uint(&j, "byte", (uint64_t)r->bad);
			json_obj_end(&j);
		}
		json_obj_end(&j);
		return;
	}
	printf("%s: %" PRIu64 " bytes, %s (offset %" PRIu64 ") <-> %s (offset %" PRIu64 ")\n",
	       dev, len, src->spec, src->offset, dst->spec, dst->offset);
	if (src->dmabuf)
		printf("  src MR: %s\n", src->choice.reason);
	if (dst->dmabuf)
		printf("  dst MR: %s\n", dst->choice.reason);
	if (do_write)
		printf("  RDMA WRITE src -> dst: %.1f MB/s, %s\n",
		       len / r->t_write / 1e6,
		       r->bad_op && !strcmp(r->bad_op, "write") ? check :
								  "data verified");
	if (do_read && r->t_read > 0)
		printf("  RDMA READ  dst -> src: %.1f MB/s, %s\n",
		       len / r->t_read / 1e6, check);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPTS_IB_DEV,
		TOOL_LONGOPT_VERSION,
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 'n' },
		{ "src-offset", required_argument, NULL, 'o' },
		{ "dst-offset", required_argument, NULL, 'O' },
		{ "iova", required_argument, NULL, 'i' },
		{ "path", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, 'x' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xfer_buf src, dst;
	struct result r = { .bad = -1 };
	struct ctx c = { 0 };
	struct bw_err err;
	const char *dev = NULL, *op = "both", *path = "auto";
	uint64_t len = 1 << 20, iova = 0x100000000ULL;
	bool json = false, do_write, do_read;
	int o, i, ret, rc = 1;

	tool_set_prog(prog);
	xfer_buf_init(&src, "host");
	xfer_buf_init(&dst, "host");
	while ((o = getopt_long(argc, argv, "hd:V", longopts, NULL)) != -1) {
		switch (o) {
		case 'd': dev = optarg; break;
		case 's': src.spec = optarg; break;
		case 't': dst.spec = optarg; break;
		case 'n':
			if (tool_parse_size(optarg, &len) || !len)
				return tool_usage_error("bad --size '%s'", optarg);
			break;
		case 'o':
			if (tool_parse_size(optarg, &src.offset))
				return tool_usage_error("bad --src-offset '%s'", optarg);
			break;
		case 'O':
			if (tool_parse_size(optarg, &dst.offset))
				return tool_usage_error("bad --dst-offset '%s'", optarg);
			break;
		case 'i':
			if (tool_parse_size(optarg, &iova))
				return tool_usage_error("bad --iova '%s'", optarg);
			break;
		case 'p': path = optarg; break;
		case 'x': op = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': return tool_print_version();
		default: usage(stderr); return 2;
		}
	}
	if (!dev || optind < argc) {
		usage(stderr);
		return 2;
	}
	do_write = !strcmp(op, "write") || !strcmp(op, "both");
	do_read = !strcmp(op, "read") || !strcmp(op, "both");
	if (!do_write && !do_read)
		return tool_usage_error("bad --op '%s'", op);
	if (tool_parse_path(path, &c.hints))
		return tool_usage_error("bad --path '%s' (auto, default, numa=N or endpoint=N)",
					path);
	/* iova keeps each buffer's page offset; they must not overlap. */
	src.iova = iova + (src.offset & 4095);
	dst.iova = iova + (1ULL << 40) + (dst.offset & 4095);
	c.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		   IBV_ACCESS_REMOTE_READ;

	/* Buffers first: a bad spec is a usage error, whatever the device. */
	for (i = 0; i < 2; i++) {
		struct xfer_buf *b = i ? &dst : &src;

		ret = xfer_buf_alloc(b, len, i ? &src : NULL);
		if (ret == XFER_BAD_SPEC) {
			rc = tool_usage_error("bad --%s '%s' (host, udmabuf[:node=N|:interleave], heap[:node=N] or vfio:PCI[,bar=N][,offset=SIZE])",
					      i ? "dst" : "src", b->spec);
			goto out;
		}
		if (ret) {
			rc = die(i ? "allocating the destination" :
				     "allocating the source", ret);
			goto out;
		}
	}
	if (bw_dev_open(dev, 1, -1, &c.dev, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		goto out;
	}
	c.pd = ibv_alloc_pd(c.dev.ctx);
	c.cq = c.pd ? ibv_create_cq(c.dev.ctx, 4 * DEPTH, NULL, NULL, 0) : NULL;
	if (!c.cq) {
		rc = die("PD/CQ", errno);
		goto out;
	}
	for (i = 0; i < 2; i++) {
		c.qp[i] = bw_qp_create(&c.dev, c.pd, c.cq, DEPTH, 1, &err);
		if (!c.qp[i]) {
			fprintf(stderr, "%s: %s\n", prog, err.msg);
			goto out;
		}
	}
	if (bw_qp_loopback(&c.dev, c.qp, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		goto out;
	}
	ret = reg_buf(&c, &src, len);
	if (ret) {
		rc = die("registering the source", ret);
		goto out;
	}
	ret = reg_buf(&c, &dst, len);
	if (ret) {
		rc = die("registering the destination", ret);
		goto out;
	}
	if (transfer(&c, &src, &dst, len, do_write, do_read, &r))
		goto out;
	/* The exit status and "verified" are what the comparisons found. */
	rc = r.bad < 0 ? 0 : 1;
	report(json, dev, len, do_write, do_read, &src, &dst, &r);
out:
	for (i = 0; i < 2; i++) {
		struct xfer_buf *b = i ? &dst : &src;

		if (b->mr && ibv_dereg_mr(b->mr) && !rc)
			rc = die("ibv_dereg_mr", errno);
	}
	/* dst may use src's vfio device file: it goes first. */
	xfer_buf_free(&dst);
	xfer_buf_free(&src);
	for (i = 0; i < 2; i++)
		if (c.qp[i])
			ibv_destroy_qp(c.qp[i]);
	if (c.cq)
		ibv_destroy_cq(c.cq);
	if (c.pd)
		ibv_dealloc_pd(c.pd);
	if (c.dev.ctx)
		bw_dev_close(&c.dev);
	return rc;
}
