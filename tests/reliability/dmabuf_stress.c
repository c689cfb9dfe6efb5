// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * dmabuf_stress: registration churn, traffic and revocation at once, on
 * one RDMA device (the VM lab's rxe on the patched kernel).
 *
 *   - N registration threads: make a udmabuf, register it with
 *     ibv_reg_dmabuf_mr_ex on the shared PD or a PD of their own, close the
 *     fd (every other round before deregistration: the MR must outlive it),
 *     deregister, repeat;
 *   - one traffic thread: a loopback RC QP pair RDMA WRITEs host memory
 *     into a dma-buf MR and checks the bytes; when the buffer is revoked
 *     under it, the work completes in error, the QPs are reset, the MR is
 *     still deregistered, and a new buffer is registered;
 *   - one revoker thread (--revoke): makes the importers of the traffic
 *     buffer see a move (debugfs dma_buf/move_notify, CONFIG_DMABUF_DEBUG),
 *     every 20-50 ms, but only once the buffer has taken one checked write:
 *     on a slow kernel (KASAN under emulation) an earlier revocation would
 *     cut every round before any data is checked.
 *
 * At the end it prints the figures and exits non-zero on any failure: an
 * unexpected errno, a deregistration that failed, corrupted data, a
 * completion other than success or the revocation's error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_rdma.h"
#include "opts.h"

#define MOVE_NOTIFY "/sys/kernel/debug/dma_buf/move_notify"
#define XFER (256 << 10)

static struct ibv_context *ctx;
static struct ibv_pd *shared_pd;
static atomic_bool stop;
static atomic_long n_regs, n_deregs, n_fd_closed_first, n_rounds, n_bytes,
	n_err_cqes, n_revokes, n_failures;
static atomic_ulong traffic_ino;
static bool own_pds, do_revoke;
static int seconds = 30, nthreads = 4;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void failure(const char *what)
{
	fprintf(stderr, "dmabuf_stress: %s: %s (errno %d)\n", what,
		*ibv_ext_last_error() ? ibv_ext_last_error() : strerror(errno),
		errno);
	atomic_fetch_add(&n_failures, 1);
}

static int make_buf(uint64_t size, int node)
{
	struct ibv_dmabuf_alloc_attr a = { .type = IBV_DMABUF_ALLOC_UDMABUF,
					   .size = size, .numa_node = node };

	return ibv_alloc_dmabuf(&a);
}

static void *reg_thread(void *arg)
{
	long id = (long)arg;
	struct ibv_pd *pd = own_pds ? ibv_alloc_pd(ctx) : shared_pd;
	unsigned int round = 0;

	if (!pd) {
		failure("ibv_alloc_pd");
		return NULL;
	}
	while (!atomic_load(&stop)) {
		uint64_t size = (uint64_t)(4096 << (round % 9)); /* 4K..1M */
		struct ibv_reg_dmabuf_mr_ex_attr attr = { 0 };
		struct ibv_mr *mr;
		int fd = make_buf(size, (int)((id + round) % 2));

		if (fd < 0) {
			failure("ibv_alloc_dmabuf");
			break;
		}
		attr.fd = fd;
		attr.length = size;
		attr.iova = 0x100000000ULL * (uint64_t)(id + 1);
		attr.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			      IBV_ACCESS_REMOTE_READ;
		mr = ibv_reg_dmabuf_mr_ex(pd, &attr);
		if (!mr) {
			failure("ibv_reg_dmabuf_mr_ex");
			close(fd);
			break;
		}
		atomic_fetch_add(&n_regs, 1);
		if (round & 1) {
			close(fd); /* the MR holds the buffer, not the fd */
			fd = -1;
			atomic_fetch_add(&n_fd_closed_first, 1);
		}
		if (ibv_dereg_mr(mr))
			failure("ibv_dereg_mr");
		else
			atomic_fetch_add(&n_deregs, 1);
		if (fd >= 0)
			close(fd);
		round++;
	}
	if (own_pds && ibv_dealloc_pd(pd))
		failure("ibv_dealloc_pd (an MR left behind?)");
	return NULL;
}

struct qp_pair {
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
};

static struct bw_dev bwdev;

/* One WRITE of XFER bytes; 1 success, 0 error completion, -1 failure. */
static int write_once(struct qp_pair *p, struct ibv_mr *src, struct ibv_mr *dst,
		      uint64_t dst_iova)
{
	struct ibv_sge sge = { .addr = (uintptr_t)src->addr, .length = XFER,
			       .lkey = src->lkey };
	struct ibv_send_wr wr = { 0 }, *bad;
	struct ibv_wc wc;
	double deadline = now() + 30;
	int n;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = dst_iova;
	wr.wr.rdma.rkey = dst->rkey;
	if (ibv_post_send(p->qp[0], &wr, &bad))
		return -1;
	while (!(n = ibv_poll_cq(p->cq, 1, &wc))) {
		if (now() > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	if (n < 0)
		return -1;
	if (wc.status == IBV_WC_SUCCESS)
		return 1;
	/* What a revoked destination looks like from the requester. */
	if (wc.status == IBV_WC_REM_ACCESS_ERR ||
	    wc.status == IBV_WC_REM_OP_ERR || wc.status == IBV_WC_WR_FLUSH_ERR)
		return 0;
	fprintf(stderr, "dmabuf_stress: unexpected completion: %s\n",
		ibv_wc_status_str(wc.status));
	return -1;
}

static void *traffic_thread(void *arg)
{
	struct qp_pair p = { 0 };
	struct bw_err err = { { 0 } };
	uint8_t *src_buf;
	struct ibv_mr *src;
	int i;

	(void)arg;
	src_buf = aligned_alloc(4096, XFER);
	for (i = 0; i < XFER; i++)
		src_buf[i] = (uint8_t)(i * 7 + 1);
	src = ibv_reg_mr(shared_pd, src_buf, XFER, IBV_ACCESS_LOCAL_WRITE);
	p.cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	for (i = 0; i < 2 && p.cq; i++)
		p.qp[i] = bw_qp_create(&bwdev, shared_pd, p.cq, 4, 1, &err);
	if (!src || !p.qp[0] || !p.qp[1] || bw_qp_loopback(&bwdev, p.qp, &err)) {
		fprintf(stderr, "dmabuf_stress: %s\n", err.msg);
		failure("traffic setup");
		return NULL;
	}
	while (!atomic_load(&stop)) {
		struct ibv_reg_dmabuf_mr_ex_attr attr = { 0 };
		struct ibv_mr *dst;
		struct stat st;
		uint8_t *map;
		int fd = make_buf(XFER, 1), k, r = 1;

		if (fd < 0) {
			failure("traffic buffer");
			break;
		}
		map = mmap(NULL, XFER, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		attr.fd = fd;
		attr.length = XFER;
		attr.iova = 0x7700000000ULL;
		attr.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
		dst = ibv_reg_dmabuf_mr_ex(shared_pd, &attr);
		if (!dst || map == MAP_FAILED) {
			failure("traffic registration");
			close(fd);
			break;
		}
		atomic_fetch_add(&n_regs, 1);
		fstat(fd, &st);
		for (k = 0; k < 20 && r == 1 && !atomic_load(&stop); k++) {
			memset(map, 0, XFER);
			r = write_once(&p, src, dst, attr.iova);
			if (r == 1) {
				if (memcmp(map, src_buf, XFER)) {
					errno = EIO;
					failure("data check after RDMA WRITE");
				}
				atomic_fetch_add(&n_bytes, XFER);
				/* Revocable from now on. */
				if (k == 0)
					atomic_store(&traffic_ino, st.st_ino);
			} else if (r == 0) {
				atomic_fetch_add(&n_err_cqes, 1);
			} else {
				failure("RDMA WRITE");
			}
		}
		atomic_store(&traffic_ino, 0);
		/* Revoked or not, the MR can always be deregistered. */
		if (ibv_dereg_mr(dst))
			failure("traffic ibv_dereg_mr");
		else
			atomic_fetch_add(&n_deregs, 1);
		munmap(map, XFER);
		close(fd);
		if (r != 1 && bw_qp_loopback(&bwdev, p.qp, &err)) {
			fprintf(stderr, "dmabuf_stress: %s\n", err.msg);
			failure("QP reset after an error completion");
		}
		atomic_fetch_add(&n_rounds, 1);
	}
	ibv_destroy_qp(p.qp[0]);
	ibv_destroy_qp(p.qp[1]);
	ibv_destroy_cq(p.cq);
	ibv_dereg_mr(src);
	free(src_buf);
	return NULL;
}

static void *revoke_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		unsigned long ino = atomic_load(&traffic_ino);
		char buf[32];
		int fd, n;

		usleep(20000 + rand() % 30000);
		if (!ino)
			continue;
		fd = open(MOVE_NOTIFY, O_WRONLY);
		if (fd < 0) {
			failure(MOVE_NOTIFY);
			return NULL;
		}
		n = snprintf(buf, sizeof(buf), "%lu", ino);
		/* ENOENT: the buffer went away first; fine. */
		if (write(fd, buf, n) == n)
			atomic_fetch_add(&n_revokes, 1);
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "own-pds", no_argument, NULL, 'o' },
		{ "revoke", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = "rxe0";
	struct bw_err err = { { 0 } };
	pthread_t th[66];
	int i, o, nth = 0;
	long v;

	tool_set_prog("dmabuf_stress");
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dev = optarg; break;
		case 't':
			if (tool_parse_long(optarg, 1, 64, &v))
				return tool_usage_error("bad --threads '%s' (1..64)", optarg);
			nthreads = (int)v;
			break;
		case 's':
			if (tool_parse_long(optarg, 1, 86400, &v))
				return tool_usage_error("bad --seconds '%s' (1..86400)", optarg);
			seconds = (int)v;
			break;
		case 'o': own_pds = true; break;
		case 'r': do_revoke = true; break;
		default:
			return tool_usage_error("usage: [--device DEV] [--threads N] [--seconds S] [--own-pds] [--revoke]");
		}
	}
	if (bw_dev_open(dev, 1, -1, &bwdev, &err)) {
		fprintf(stderr, "dmabuf_stress: %s\n", err.msg);
		return 1;
	}
	ctx = bwdev.ctx;
	shared_pd = ibv_alloc_pd(ctx);
	if (!shared_pd) {
		fprintf(stderr, "dmabuf_stress: ibv_alloc_pd: %s\n", strerror(errno));
		return 1;
	}
	if (do_revoke && access(MOVE_NOTIFY, W_OK)) {
		fprintf(stderr, "dmabuf_stress: %s: %s (needs CONFIG_DMABUF_DEBUG and debugfs)\n",
			MOVE_NOTIFY, strerror(errno));
		return 1;
	}
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[nth++], NULL, reg_thread, (void *)(long)i);
	pthread_create(&th[nth++], NULL, traffic_thread, NULL);
	if (do_revoke)
		pthread_create(&th[nth++], NULL, revoke_thread, NULL);
	for (i = 0; i < seconds * 10 && !atomic_load(&n_failures); i++)
		usleep(100000);
	atomic_store(&stop, true);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (ibv_dealloc_pd(shared_pd))
		failure("ibv_dealloc_pd of the shared PD (an MR left behind?)");
	bw_dev_close(&bwdev);

	printf("stress: %s, %d registration threads (%s PDs), %d s%s\n", dev,
	       nthreads, own_pds ? "own" : "shared", seconds,
	       do_revoke ? ", revocation on" : "");
	printf("  MRs registered %ld, deregistered %ld (fd closed first: %ld)\n",
	       atomic_load(&n_regs), atomic_load(&n_deregs),
	       atomic_load(&n_fd_closed_first));
	printf("  traffic rounds %ld, %ld MiB written and checked, %ld error completions, %ld revocations\n",
	       atomic_load(&n_rounds), atomic_load(&n_bytes) >> 20,
	       atomic_load(&n_err_cqes), atomic_load(&n_revokes));
	printf("  failures %ld\n", atomic_load(&n_failures));
	if (atomic_load(&n_regs) != atomic_load(&n_deregs))
		return 1;
	return atomic_load(&n_failures) ? 1 : 0;
}
