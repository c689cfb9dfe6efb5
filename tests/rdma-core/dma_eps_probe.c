// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * dma_eps_probe: drive the DMA endpoint verbs of a patched rdma-core build from
 * the host tests (tests/rdma-core/test_rdma_core.py).
 *
 *   dma_eps_probe layout
 *       print the ABI the series defines: offsets and sizes of struct
 *       ibv_mr_init_attr's new fields and of struct ibv_dma_ep, the new
 *       constants.
 *   dma_eps_probe query DEVICE MAX_EPS [FLAGS [null|short]]
 *       ibv_query_dma_eps() on DEVICE (from ibv_get_device_list()) with room
 *       for MAX_EPS entries: "rc=N" (the return value, a negative errno on
 *       failure), then "ep index=.. kind=.. flags=.. numa=.. name=.. path=.."
 *       per entry filled. "null" passes eps=NULL, "short" an entry size one
 *       byte smaller than struct ibv_dma_ep.
 *
 * Exit status: 0 when it could run the call (whatever the call returned),
 * 1 when DEVICE is not listed, 2 for bad usage.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

static int layout(void)
{
	printf("ibv_mr_init_attr.dma_ep=%zu\n",
	       offsetof(struct ibv_mr_init_attr, dma_ep));
	printf("ibv_mr_init_attr.dma_ep_used=%zu\n",
	       offsetof(struct ibv_mr_init_attr, dma_ep_used));
	printf("sizeof.ibv_mr_init_attr=%zu\n", sizeof(struct ibv_mr_init_attr));
	printf("sizeof.ibv_dma_ep=%zu\n", sizeof(struct ibv_dma_ep));
	printf("ibv_dma_ep.dev_name=%zu\n", offsetof(struct ibv_dma_ep, dev_name));
	printf("ibv_dma_ep.dev_path=%zu\n", offsetof(struct ibv_dma_ep, dev_path));
	printf("IBV_REG_MR_MASK_DMA_EP=%d\n", IBV_REG_MR_MASK_DMA_EP);
	printf("IBV_DMA_EP_MAPPABLE=%d\n", IBV_DMA_EP_MAPPABLE);
	printf("IBV_DMA_EP_KIND_VIRTUAL=%d\n", IBV_DMA_EP_KIND_VIRTUAL);
	printf("kind_str.%d=%s\n", IBV_DMA_EP_KIND_DATA_DIRECT,
	       ibv_dma_ep_kind_str(IBV_DMA_EP_KIND_DATA_DIRECT));
	printf("kind_str.99=%s\n", ibv_dma_ep_kind_str(99));
	return 0;
}

static int query(const char *name, size_t max, uint32_t flags, const char *how)
{
	struct ibv_device **list, *dev = NULL;
	struct ibv_dma_ep *eps;
	size_t ep_size = sizeof(*eps);
	ssize_t rc, i;
	int n;

	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			dev = list[i];
	if (!dev) {
		fprintf(stderr, "dma_eps_probe: no device %s among %d\n", name,
			list ? n : -1);
		return 1;
	}

	eps = calloc(max ? max : 1, sizeof(*eps));
	if (!eps)
		return 2;
	if (!strcmp(how, "short"))
		ep_size--;
	rc = _ibv_query_dma_eps(dev, strcmp(how, "null") ? eps : NULL, max,
				flags, ep_size);
	printf("rc=%zd\n", rc);
	for (i = 0; i < rc && i < (ssize_t)max; i++)
		printf("ep index=%u kind=%s flags=%u numa=%d name=%s path=%s\n",
		       eps[i].index, ibv_dma_ep_kind_str(eps[i].kind),
		       eps[i].flags, eps[i].numa_node, eps[i].dev_name,
		       eps[i].dev_path);
	free(eps);
	ibv_free_device_list(list);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "layout"))
		return layout();
	if (argc >= 4 && argc <= 6 && !strcmp(argv[1], "query"))
		return query(argv[2], strtoul(argv[3], NULL, 0),
			     argc > 4 ? strtoul(argv[4], NULL, 0) : 0,
			     argc > 5 ? argv[5] : "");
	fprintf(stderr, "usage: dma_eps_probe layout | query DEVICE MAX_EPS [FLAGS [null|short]]\n");
	return 2;
}
