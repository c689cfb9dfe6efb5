// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The MRs the library makes through its own uverbs ioctl are freed by
 * plain ibv_dereg_mr(), i.e. by the installed provider, which takes them
 * for rdma-core's private struct verbs_mr. Pin that layout against the
 * real provider: an MR it made itself (ibv_reg_mr) must show mr_type MR
 * and the access flags right where struct vext_verbs_mr puts them, and fit
 * in the library's allocation. Where the kernel can register dma-bufs
 * (this project's kernel series), an MR made by ibv_reg_dmabuf_mr_ex must
 * be released by ibv_dereg_mr() for real: the PD can be freed afterwards
 * (the kernel refuses with EBUSY while an MR holds it).
 *
 * Needs an RDMA device: on a host without one it exits 77 (ctest: skipped)
 * and says why; the VM lab runs it on rxe.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ext_internal.h"
#include "test.h"

#define SKIP_RC 77

static struct ibv_context *ctx;

static void layout_vs_provider(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ;
	size_t len = 1 << 16;
	void *buf = aligned_alloc(4096, len);
	struct ibv_mr *mr;

	CHECK(pd != NULL);
	mr = pd ? ibv_reg_mr(pd, buf, len, access) : NULL;
	CHECK(mr != NULL);
	if (!mr) {
		if (pd)
			ibv_dealloc_pd(pd);
		free(buf);
		return;
	}
	CHECK_INT(((struct vext_verbs_mr *)mr)->mr_type, VEXT_MR_TYPE_MR);
	CHECK_INT(((struct vext_verbs_mr *)mr)->access, access);
	/* The provider's MR object fits in what the library allocates. */
	CHECK(malloc_usable_size(mr) <= VEXT_MR_ALLOC_SIZE + 16);
	CHECK_INT(ibv_dereg_mr(mr), 0);
	CHECK_INT(ibv_dealloc_pd(pd), 0);
	free(buf);
}

static void dmabuf_mr_released(void)
{
	struct ibv_dmabuf_alloc_attr a = { .type = IBV_DMABUF_ALLOC_UDMABUF,
					   .size = 1 << 20, .numa_node = -1 };
	struct ibv_reg_dmabuf_mr_ex_attr attr = { 0 };
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr;
	int fd = ibv_alloc_dmabuf(&a);

	CHECK(pd != NULL);
	if (fd < 0 || !pd) {
		printf("skip dmabuf_mr_released: no udmabuf here (%s)\n",
		       ibv_ext_last_error());
		if (pd)
			ibv_dealloc_pd(pd);
		return;
	}
	attr.fd = fd;
	attr.offset = 4096;
	attr.length = (1 << 20) - 8192;
	attr.iova = 0x7000001000ULL;
	attr.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	mr = ibv_reg_dmabuf_mr_ex(pd, &attr);
	if (!mr && errno == EOPNOTSUPP) {
		printf("skip dmabuf_mr_released: this kernel cannot register dma-bufs on %s (%s)\n",
		       ibv_get_device_name(ctx->device), ibv_ext_last_error());
	} else {
		CHECK(mr != NULL);
	}
	if (mr) {
		struct vext_verbs_mr *v = (struct vext_verbs_mr *)mr;
		struct vext_topo *t = vext_topo_get();
		const struct vext_ibdev *dev =
			t ? vext_topo_ibdev(t, ibv_get_device_name(ctx->device)) :
			    NULL;
		bool plain_op = dev && dev->prov == &vext_provider_soft &&
				vext_ibverbs()->reg_mr_ex;

		/*
		 * Upstream rdma-core's rxe provider has no dma-buf op: the
		 * plain call fails in libibverbs even though the kernel can
		 * do it. With rdma-core-patches it has one, and works.
		 */
		if (dev && dev->prov == &vext_provider_soft &&
		    dev->driver_id == RDMA_DRIVER_RXE) {
			bool op = vext_ibverbs()->reg_mr_ex != NULL;
			struct ibv_mr *plain;

			errno = 0;
			plain = ibv_reg_dmabuf_mr(pd, attr.offset, attr.length,
						  attr.iova, fd, (int)attr.access);
			if (op)
				CHECK(plain != NULL);
			else
				CHECK(plain == NULL && errno == EOPNOTSUPP);
			printf("plain ibv_reg_dmabuf_mr (provider %s a dma-buf op): %s\n",
			       op ? "with" : "without",
			       plain ? "registered" : strerror(errno));
			if (plain)
				CHECK_INT(ibv_dereg_mr(plain), 0);
		}

		CHECK_INT(v->mr_type, VEXT_MR_TYPE_DMABUF_MR);
		/*
		 * The default endpoint through rxe's own dma-buf op
		 * (rdma-core-patches): libibverbs' ibv_cmd_reg_dmabuf_mr()
		 * records no access in verbs_mr, as for any plain
		 * ibv_reg_dmabuf_mr() MR; ibv_reg_mr_ex() and the library's
		 * ioctl do.
		 */
		CHECK_INT(v->access, plain_op ? 0 : (int)attr.access);
		CHECK_INT((uintptr_t)mr->addr, attr.offset);
		CHECK_INT(mr->length, attr.length);
		CHECK(mr->pd == pd && mr->context == ctx);
		/* While the MR lives, the kernel refuses to free the PD. */
		CHECK_INT(ibv_dealloc_pd(pd), EBUSY);
		CHECK_INT(ibv_dereg_mr(mr), 0);
	}
	close(fd);
	CHECK_INT(ibv_dealloc_pd(pd), 0);
}

int main(void)
{
	struct ibv_device **list;
	int n = 0, i;

	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n && !ctx; i++)
		ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx) {
		printf("skip: no RDMA device to pin the MR layout against (run in the VM lab)\n");
		return SKIP_RC;
	}
	printf("device %s\n", ibv_get_device_name(ctx->device));
	RUN(layout_vs_provider);
	RUN(dmabuf_mr_released);
	ibv_close_device(ctx);
	return test_report();
}
