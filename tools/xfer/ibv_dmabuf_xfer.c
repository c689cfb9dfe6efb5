// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_xfer: one-process RDMA loopback between two memory regions of
 * one device, with the data checked byte for byte from the CPU side.
 *
 * Two RC QPs on the same port are connected to each other. The source and
 * destination buffers are host memory (ibv_reg_mr) or dma-bufs made here
 * (ibv_alloc_dmabuf, registered with ibv_reg_dmabuf_mr_ex), optionally at
 * an offset into the dma-buf and a chosen iova. The tool
 *   1. fills the source with a pattern and RDMA WRITEs it to the
 *      destination, then checks the destination through its mmap,
 *   2. clears the source and RDMA READs the destination back into it,
 *      then checks the source,
 * and prints what was registered where, and MB/s of each step.
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
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_rdma.h"
#include "json.h"
#include "opts.h"

/*
 * The kernel series' P2P test exporter (kernel-patches: include/uapi/linux/
 * pci_p2p_dmabuf.h): dma-bufs of the BAR of a PCI function bound to
 * pci-p2p-dmabuf, e.g. the lab's ivshmem. Must match the kernel.
 */
struct p2p_dmabuf_create {
	uint64_t offset;
	uint64_t size;
	uint32_t flags;
	int32_t fd;
};
#define P2P_DMABUF_CLOEXEC (1U << 0)
#define P2P_DMABUF_WC (1U << 2)
#define P2P_DMABUF_IOCTL_CREATE _IOWR('u', 0x50, struct p2p_dmabuf_create)

#define CHUNK (1u << 20)
#define DEPTH 16
#define POLL_TIMEOUT_S 60

struct buf {
	const char *spec;	/* host | udmabuf[:node=N|interleave] | heap[:node=N] | p2p:PCI[:wc] */
	bool dmabuf;
	int fd;
	uint64_t alloc;		/* bytes allocated */
	uint64_t offset;	/* registration offset into the dma-buf */
	uint64_t iova;
	int node;		/* node the pages were bound to, -1 none */
	uint8_t *map;		/* CPU view of the whole buffer */
	struct ibv_mr *mr;
	struct ibv_dma_choice choice;
	struct ibv_dmabuf_info source;
};

struct ctx {
	struct bw_dev dev;	/* device, port 1, its RoCE v2 GID */
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	struct ibv_dma_path_hints hints;
	unsigned int access;
};

static const char *prog = "ibv_dmabuf_xfer";

static int die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what,
		*ibv_ext_last_error() ? ibv_ext_last_error() : strerror(err));
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A dma-buf of the BAR of PCI function addr from the P2P test exporter; each
 * buffer of the run gets its own part of the BAR.
 */
static int alloc_p2p(struct buf *b, const char *addr, bool wc)
{
	static uint64_t next_off;
	struct p2p_dmabuf_create c = { 0 };
	char path[64];
	int dev, ret = 0;

	snprintf(path, sizeof(path), "/dev/pci-p2p-dmabuf-%s", addr);
	dev = open(path, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		ret = errno;
		fprintf(stderr, "%s: %s: %s (kernel without the P2P test exporter, or %s not bound to it)\n",
			prog, path, strerror(ret), addr);
		return ret;
	}
	c.offset = next_off;
	c.size = b->alloc;
	c.flags = P2P_DMABUF_CLOEXEC | (wc ? P2P_DMABUF_WC : 0);
	if (ioctl(dev, P2P_DMABUF_IOCTL_CREATE, &c)) {
		ret = errno;
		fprintf(stderr, "%s: %s: a %" PRIu64 "-byte buffer at BAR offset %" PRIu64 ": %s\n",
			prog, path, c.size, c.offset, strerror(ret));
	}
	close(dev);
	if (ret)
		return ret;
	next_off += (b->alloc + (1u << 20) - 1) & ~((uint64_t)(1u << 20) - 1);
	b->dmabuf = true;
	b->fd = c.fd;
	b->map = mmap(NULL, b->alloc, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->fd, 0);
	return b->map == MAP_FAILED ? errno : 0;
}

static int alloc_buf(struct buf *b, uint64_t len)
{
	struct ibv_dmabuf_alloc_attr a = { .numa_node = -1 };
	long page = sysconf(_SC_PAGESIZE);
	char kind[32];
	const char *opt;

	b->alloc = (b->offset + len + page - 1) / page * page;
	opt = strchr(b->spec, ':');
	snprintf(kind, sizeof(kind), "%.*s",
		 (int)(opt ? (size_t)(opt - b->spec) : strlen(b->spec)),
		 b->spec);
	if (!strcmp(kind, "host")) {
		b->map = mmap(NULL, b->alloc, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		b->fd = -1;
		return b->map == MAP_FAILED ? errno : 0;
	}
	/* p2p:DDDD:BB:DD.F[:wc] */
	if (!strcmp(kind, "p2p") && opt && strlen(opt + 1) >= 12) {
		char addr[16];

		snprintf(addr, sizeof(addr), "%.12s", opt + 1);
		if (opt[13] && strcmp(opt + 13, ":wc"))
			return EINVAL;
		return alloc_p2p(b, addr, opt[13] != 0);
	}
	if (!strcmp(kind, "udmabuf"))
		a.type = IBV_DMABUF_ALLOC_UDMABUF;
	else if (!strcmp(kind, "heap"))
		a.type = IBV_DMABUF_ALLOC_HEAP_SYSTEM;
	else
		return EINVAL;
	if (opt && !strncmp(opt, ":node=", 6)) {
		long node;

		if (tool_parse_long(opt + 6, 0, 1023, &node))
			return EINVAL;
		a.numa_node = (int32_t)node;
	} else if (opt && !strcmp(opt, ":interleave"))
		a.flags = IBV_DMABUF_ALLOC_INTERLEAVE;
	else if (opt)
		return EINVAL;
	a.size = b->alloc;
	b->node = a.numa_node;
	b->dmabuf = true;
	b->fd = ibv_alloc_dmabuf(&a);
	if (b->fd < 0)
		return errno;
	b->map = mmap(NULL, b->alloc, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->fd, 0);
	return b->map == MAP_FAILED ? errno : 0;
}

static int reg_buf(struct ctx *c, struct buf *b, uint64_t len)
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
	if (b->node >= 0 && hints.policy == IBV_DMA_PATH_AUTO) {
		hints.comp_mask |= IBV_DMA_PATH_HINTS_NUMA_NODE;
		hints.numa_node = b->node;
	}
	attr.hints = &hints;
	attr.choice = &b->choice;
	attr.source = &b->source;
	b->mr = ibv_reg_dmabuf_mr_ex(c->pd, &attr);
	return b->mr ? 0 : errno;
}

/* RDMA op of len bytes: local buffer l, remote buffer r, from QP 0. */
static int run_op(struct ctx *c, enum ibv_wr_opcode op, struct buf *l,
		  struct buf *r, uint64_t len)
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

static void pattern(uint8_t *p, uint64_t len, uint32_t seed)
{
	uint64_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = (i + seed) * 0x9e3779b97f4a7c15ULL;

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

/* First mismatch offset, or -1. */
static int64_t compare(const uint8_t *a, const uint8_t *b, uint64_t len)
{
	uint64_t i;

	if (!memcmp(a, b, len))
		return -1;
	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return (int64_t)i;
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s --device DEV [--src SPEC] [--dst SPEC] [--size N]\n"
		"          [--src-offset N] [--dst-offset N] [--iova N] [--path POLICY]\n"
		"          [--op write|read|both] [--json]\n"
		"SPEC: host | udmabuf[:node=N|:interleave] | heap[:node=N] | p2p:PCI[:wc]\n"
		"      (default host; p2p: a BAR dma-buf of the kernel's P2P test exporter)\n"
		"POLICY: auto | default | numa=N | endpoint=N\n",
		prog);
}

static void json_buf(struct json *j, const char *key, const struct buf *b)
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
	json_obj_end(j);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
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
	struct buf src = { .spec = "host", .node = -1 },
		   dst = { .spec = "host", .node = -1 };
	struct ctx c = { 0 };
	struct bw_err err;
	const char *dev = NULL, *op = "both", *path = "auto";
	uint64_t len = 1 << 20, iova = 0x100000000ULL;
	double t0, t_write = 0, t_read = 0;
	int64_t bad = -1;
	bool json = false, do_write, do_read;
	int o, i, ret, rc = 1;

	tool_set_prog(prog);
	while ((o = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
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

	if (bw_dev_open(dev, 1, -1, &c.dev, &err))
		return fprintf(stderr, "%s: %s\n", prog, err.msg), 1;
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

	ret = alloc_buf(&src, len);
	if (!ret)
		ret = alloc_buf(&dst, len);
	if (ret) {
		rc = ret == EINVAL && !*ibv_ext_last_error() ?
			     (fprintf(stderr, "%s: bad buffer spec\n", prog), 2) :
			     die("allocating buffers", ret);
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

	pattern(src.map + src.offset, len, 1);
	memset(dst.map, 0, dst.alloc);
	if (do_write) {
		t0 = now_s();
		ret = run_op(&c, IBV_WR_RDMA_WRITE, &src, &dst, len);
		t_write = now_s() - t0;
		if (ret) {
			rc = die("RDMA WRITE", ret);
			goto out;
		}
		bad = compare(src.map + src.offset, dst.map + dst.offset, len);
		if (bad >= 0) {
			fprintf(stderr, "%s: WRITE: data differs at byte %" PRId64 "\n",
				prog, bad);
			goto out;
		}
	} else {
		pattern(dst.map + dst.offset, len, 1);
	}
	if (do_read) {
		memset(src.map, 0, src.alloc);
		t0 = now_s();
		ret = run_op(&c, IBV_WR_RDMA_READ, &src, &dst, len);
		t_read = now_s() - t0;
		if (ret) {
			rc = die("RDMA READ", ret);
			goto out;
		}
		bad = compare(dst.map + dst.offset, src.map + src.offset, len);
		if (bad >= 0) {
			fprintf(stderr, "%s: READ: data differs at byte %" PRId64 "\n",
				prog, bad);
			goto out;
		}
	}
	rc = 0;
	if (json) {
		struct json j;

		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "device", dev);
		json_uint(&j, "bytes", len);
		json_buf(&j, "src", &src);
		json_buf(&j, "dst", &dst);
		if (do_write)
			json_double(&j, "write_MBps", len / t_write / 1e6);
		if (do_read)
			json_double(&j, "read_MBps", len / t_read / 1e6);
		json_bool(&j, "verified", true);
		json_obj_end(&j);
	} else {
		printf("%s: %" PRIu64 " bytes, %s (offset %" PRIu64 ") <-> %s (offset %" PRIu64 ")\n",
		       dev, len, src.spec, src.offset, dst.spec, dst.offset);
		if (src.dmabuf)
			printf("  src MR: %s\n", src.choice.reason);
		if (dst.dmabuf)
			printf("  dst MR: %s\n", dst.choice.reason);
		if (do_write)
			printf("  RDMA WRITE src -> dst: %.1f MB/s, data verified\n",
			       len / t_write / 1e6);
		if (do_read)
			printf("  RDMA READ  dst -> src: %.1f MB/s, data verified\n",
			       len / t_read / 1e6);
	}
out:
	for (i = 0; i < 2; i++) {
		struct buf *b = i ? &dst : &src;

		if (b->mr && ibv_dereg_mr(b->mr) && !rc)
			rc = die("ibv_dereg_mr", errno);
		if (b->map && b->map != MAP_FAILED)
			munmap(b->map, b->alloc);
		if (b->dmabuf && b->fd >= 0)
			close(b->fd);
	}
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
