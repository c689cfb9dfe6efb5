// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * A binary built against the 0.1 header (IBVERBS_EXT_1.0; the build takes
 * it from git, commit 9ec1275) calls today's library: the calls whose
 * structures changed since (the choice's layout, the registration's
 * embedded hints) must answer in the old layouts. Runs on the dgx-h100
 * fixture tree.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <infiniband/verbs_ext.h>

#ifdef ibv_reg_dmabuf_mr_ex
#error "built against a newer header: ibv_reg_dmabuf_mr_ex is a macro since 1.1"
#endif

static int failures, checks;

#define CHECK(cond)                                                           \
	do {                                                                  \
		checks++;                                                     \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: CHECK(%s) failed (%s)\n",     \
				__FILE__, __LINE__, #cond,                    \
				ibv_ext_last_error());                        \
			failures++;                                           \
		}                                                             \
	} while (0)

static void endpoints_and_choices(void)
{
	struct ibv_dma_endpoint eps[4];
	struct ibv_dma_choice c[4];
	struct ibv_dmabuf_info src = { 0 };
	size_t n = 4;

	CHECK(ibv_query_dma_endpoints("mlx5_0", eps, &n) == 0);
	CHECK(n == 1 && eps[0].kind == IBV_DMA_EP_PF);
	CHECK(!strcmp(eps[0].pci_addr, "0000:1a:00.0"));

	CHECK(ibv_describe_dmabuf_source("p2p:0000:1b:00.0", &src) == 0);
	memset(c, 0xa5, sizeof(c));
	CHECK(ibv_select_dma_endpoint("mlx5_0", &src, NULL, &c[0]) == 0);
	CHECK(!strcmp(c[0].ep.ibdev, "mlx5_0"));
	CHECK(!strcmp(c[0].ep.pci_addr, "0000:1a:00.0"));
	CHECK(c[0].path_class == IBV_DMA_PATH_CLASS_PIX);
	CHECK(strstr(c[0].reason, "chose endpoint 0 (pf 0000:1a:00.0") != NULL);
	CHECK(strstr(c[0].reason, "PIX") != NULL);
	/* Nothing written past the one 0.1-sized choice. */
	CHECK(c[1].comp_mask == 0xa5a5a5a5);

	n = 4;
	CHECK(ibv_rank_dma_endpoints("mlx5_0", &src, NULL, c, &n) == 0);
	CHECK(n == 1 && c[0].path_class == IBV_DMA_PATH_CLASS_PIX);

	n = 4;
	CHECK(ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, c, &n) == ENOSPC);
	CHECK(n == 9);
	CHECK(!strcmp(c[0].ep.ibdev, "mlx5_0"));
	CHECK(!strcmp(c[1].ep.ibdev, "mlx5_1"));
	CHECK(c[1].path_class == IBV_DMA_PATH_CLASS_PXB);
	CHECK(strstr(c[3].reason, "NODE") != NULL);
	{
		const char *names[] = { "mlx5_4", "mlx5_0" };

		n = 2;
		CHECK(ibv_rank_dmabuf_devices(names, 2, &src, NULL, c, &n) == 0);
		CHECK(n == 2 && !strcmp(c[0].ep.ibdev, "mlx5_0"));
		CHECK(c[1].path_class == IBV_DMA_PATH_CLASS_SYS);
	}
}

/* The 0.1 attr embeds the hints: they are read where that layout has them. */
static void registration(void)
{
	static char not_a_pd[1];
	struct ibv_reg_dmabuf_mr_ex_attr a;
	struct ibv_dma_choice choice;
	struct ibv_mr *mr;

	memset(&a, 0, sizeof(a));
	a.fd = -1;
	a.length = 4096;
	a.access = IBV_ACCESS_LOCAL_WRITE;
	a.comp_mask = IBV_REG_DMABUF_MR_EX_HINTS | IBV_REG_DMABUF_MR_EX_CHOICE;
	a.choice = &choice;
	a.hints.policy = 17;
	mr = ibv_reg_dmabuf_mr_ex((struct ibv_pd *)not_a_pd, &a);
	CHECK(!mr && errno == EINVAL);
	CHECK(strstr(ibv_ext_last_error(), "unknown policy 17") != NULL);

	a.hints.policy = IBV_DMA_PATH_AUTO;
	a.hints.comp_mask = 1u << 9;
	mr = ibv_reg_dmabuf_mr_ex((struct ibv_pd *)not_a_pd, &a);
	CHECK(!mr && errno == EOPNOTSUPP);
	CHECK(strstr(ibv_ext_last_error(), "hints: unknown comp_mask bits 0x200") != NULL);

	a.hints.comp_mask = IBV_DMA_PATH_HINTS_NUMA_NODE;
	a.hints.numa_node = 0;
	mr = ibv_reg_dmabuf_mr_ex((struct ibv_pd *)not_a_pd, &a);
	CHECK(!mr && errno == EBADF);

	a.comp_mask = IBV_REG_DMABUF_MR_EX_SOURCE;
	mr = ibv_reg_dmabuf_mr_ex((struct ibv_pd *)not_a_pd, &a);
	CHECK(!mr && errno == EINVAL);
	CHECK(strstr(ibv_ext_last_error(), "source is NULL") != NULL);
}

int main(void)
{
	endpoints_and_choices();
	registration();
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
