// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Soft-RoCE backend. The DMA endpoint of an rxe device is the PCI function
 * of the netdev it runs on (or none, for veth and other virtual netdevs).
 *
 * rdma-core's rxe provider has no reg_dmabuf_mr op, so libibverbs answers
 * ibv_reg_dmabuf_mr() with EOPNOTSUPP without entering the kernel. This
 * backend sends UVERBS_METHOD_REG_DMABUF_MR itself; whether it succeeds is
 * then the kernel's decision (stock 6.12 rxe: EOPNOTSUPP, this project's
 * kernel series: supported).
 */
#include <rdma/ib_user_ioctl_verbs.h>

#include "../libibverbs-ext/ext_internal.h"

static void rxe_endpoints(struct vext_topo *t, struct vext_ibdev *dev)
{
	(void)t;
	vext_ep_add(dev, IBV_DMA_EP_NETDEV, dev->pci, IBV_DMA_EP_FLAG_DEFAULT,
		    dev->netdev);
}

/*
 * The endpoint attribute goes to the kernel for a non-default endpoint, and
 * for any endpoint the caller named when the kernel lists endpoints (without
 * it the kernel chooses itself, e.g. the endpoint on the buffer's node).
 */
static struct ibv_mr *rxe_reg(struct vext_reg_req *req)
{
	return vext_reg_uverbs(req, RDMA_DRIVER_RXE,
			       !(req->ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT) ||
				       (req->named && req->dev->kernel_eps));
}

const struct vext_provider vext_provider_rxe = {
	.name = "rxe",
	.drv = VEXT_DRV_RXE,
	.endpoints = rxe_endpoints,
	.reg = rxe_reg,
};
