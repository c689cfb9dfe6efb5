// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The API that can grow (IBVERBS_EXT_1.1) on the dgx-h100 and lab-vm
 * fixture trees: devices named by ibv_device and ibv_context answer as by
 * name; arrays are written at the caller's element size (a newer caller's
 * larger elements get zeros after what this library knows, a smaller one
 * than any version is refused).
 */
#include <stdint.h>

#include "ext_internal.h"
#include "test.h"

static char fx[2048];

static void use(const char *tree)
{
	char root[4096];

	snprintf(root, sizeof(root), "%s/%s", fx, tree);
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
}

/* An ibv_device as libibverbs enumerates rxe1 of the lab VM (uverbs1). */
static struct ibv_device lab_rxe1(void)
{
	struct ibv_device d;

	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "rxe1");
	snprintf(d.dev_name, sizeof(d.dev_name), "uverbs1");
	snprintf(d.dev_path, sizeof(d.dev_path),
		 "/sys/class/infiniband_verbs/uverbs1");
	snprintf(d.ibdev_path, sizeof(d.ibdev_path),
		 "/sys/class/infiniband/rxe1");
	return d;
}

static void by_device_and_context(void)
{
	struct ibv_device dev = lab_rxe1();
	struct ibv_context ctx;
	struct ibv_device *devs[] = { &dev };
	struct ibv_context *ctxs[] = { &ctx };
	struct ibv_dma_endpoint e_name[2], e_dev[2], e_ctx[2];
	struct ibv_dma_choice c[4];
	struct ibv_dmabuf_info src = { 0 };
	size_t n;

	use("lab-vm");
	memset(&ctx, 0, sizeof(ctx));
	ctx.device = &dev;
	n = 2;
	CHECK_ERR(ibv_query_dma_endpoints("rxe1", e_name, &n), 0);
	n = 2;
	CHECK_ERR(ibv_query_dma_endpoints_dev(&dev, e_dev, &n), 0);
	n = 2;
	CHECK_ERR(ibv_query_dma_endpoints_ctx(&ctx, e_ctx, &n), 0);
	CHECK_INT(n, 1);
	CHECK(!memcmp(e_name, e_dev, sizeof(e_name[0])));
	CHECK(!memcmp(e_name, e_ctx, sizeof(e_name[0])));

	CHECK_ERR(ibv_describe_dmabuf_source("system:node=1", &src), 0);
	CHECK_ERR(ibv_select_dma_endpoint_dev(&dev, &src, NULL, &c[0]), 0);
	CHECK_STR(c[0].ep.ibdev, "rxe1");
	CHECK_ERR(ibv_select_dma_endpoint_ctx(&ctx, &src, NULL, &c[1]), 0);
	CHECK_STR(c[1].reason, c[0].reason);
	n = 4;
	CHECK_ERR(ibv_rank_dma_endpoints_ctx(&ctx, &src, NULL, c, &n), 0);
	CHECK_INT(n, 1);
	n = 4;
	CHECK_ERR(ibv_rank_dmabuf_devices_dev(devs, 1, &src, NULL, c, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(c[0].ep.ibdev, "rxe1");
	n = 4;
	CHECK_ERR(ibv_rank_dmabuf_devices_ctx(ctxs, 1, &src, NULL, c, &n), 0);
	CHECK_STR(c[0].ep.ibdev, "rxe1");

	/* Bad handles. */
	n = 2;
	CHECK_ERR(ibv_query_dma_endpoints_dev(NULL, e_dev, &n), EINVAL);
	CHECK_ERR(ibv_query_dma_endpoints_ctx(NULL, e_dev, &n), EINVAL);
	CHECK_ERR(ibv_rank_dmabuf_devices_dev(devs, 0, &src, NULL, c, &n),
		  EINVAL);
	devs[0] = NULL;
	CHECK_ERR(ibv_rank_dmabuf_devices_dev(devs, 1, &src, NULL, c, &n),
		  EINVAL);
	snprintf(dev.dev_name, sizeof(dev.dev_name), "uverbs9");
	CHECK_ERR(ibv_query_dma_endpoints_dev(&dev, e_dev, &n), ENODEV);
	CHECK_HAS(ibv_ext_last_error(), "no RDMA device rxe1");
}

/* A caller built against a larger struct (a newer header). */
struct big_ep {
	struct ibv_dma_endpoint ep;
	uint64_t newer[4];
};

struct big_choice {
	struct ibv_dma_choice c;
	uint64_t newer[4];
};

static void element_sizes(void)
{
	struct big_ep eps[3];
	struct big_choice ranked[12];
	struct ibv_dmabuf_info src = { 0 };
	size_t n = 3, i;

	use("dgx-h100");
	memset(eps, 0xa5, sizeof(eps));
	CHECK_ERR(_ibv_query_dma_endpoints("mlx5_0", &eps[0].ep, &n,
					   sizeof(eps[0])), 0);
	CHECK_INT(n, 1);
	CHECK_STR(eps[0].ep.pci_addr, "0000:1a:00.0");
	CHECK(!eps[0].newer[0] && !eps[0].newer[3]);
	CHECK(eps[1].ep.comp_mask == 0xa5a5a5a5);

	CHECK_ERR(ibv_describe_dmabuf_source("p2p:0000:1b:00.0", &src), 0);
	n = 12;
	memset(ranked, 0xa5, sizeof(ranked));
	CHECK_ERR(_ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, &ranked[0].c, &n,
					   sizeof(ranked[0])), 0);
	CHECK_INT(n, 9);
	for (i = 0; i < n; i++) {
		CHECK(!ranked[i].newer[0] && !ranked[i].newer[3]);
		CHECK(ranked[i].c.reason[0]);
	}
	CHECK_STR(ranked[0].c.ep.ibdev, "mlx5_0");
	CHECK(ranked[9].c.comp_mask == 0xa5a5a5a5);

	/* Smaller than any version of the struct. */
	n = 3;
	CHECK_ERR(_ibv_query_dma_endpoints("mlx5_0", &eps[0].ep, &n, 168),
		  EINVAL);
	CHECK_HAS(ibv_ext_last_error(), "element size 168 is smaller");
	n = 1;
	CHECK_ERR(_ibv_select_dma_endpoint("mlx5_0", &src, NULL, &ranked[0].c,
					   16), EINVAL);
}

int main(void)
{
	const char *d = getenv("DMP_FIXTURES");

	if (!d) {
		SKIP(by_device_and_context, "DMP_FIXTURES is not set (run through ctest)");
		return test_report();
	}
	snprintf(fx, sizeof(fx), "%s", d);
	RUN(by_device_and_context);
	RUN(element_sizes);
	return test_report();
}
