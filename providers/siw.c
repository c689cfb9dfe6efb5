// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Soft-iWARP backend: like rxe, the endpoint is the netdev's PCI function,
 * and rdma-core's siw provider has no reg_dmabuf_mr op, so registration
 * goes through the library's own uverbs ioctl.
 */
#include <rdma/ib_user_ioctl_verbs.h>

#include "../libibverbs-ext/ext_internal.h"

static void siw_endpoints(struct vext_topo *t, struct vext_ibdev *dev)
{
	(void)t;
	vext_ep_add(dev, IBV_DMA_EP_NETDEV, dev->pci, IBV_DMA_EP_FLAG_DEFAULT,
		    dev->netdev);
}

/* As rxe: a named endpoint is sent whenever the kernel lists endpoints. */
static struct ibv_mr *siw_reg(struct vext_reg_req *req)
{
	return vext_reg_uverbs(req, RDMA_DRIVER_SIW,
			       !(req->ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT) ||
				       (req->named && req->dev->kernel_eps));
}

const struct vext_provider vext_provider_siw = {
	.name = "siw",
	.drv = VEXT_DRV_SIW,
	.endpoints = siw_endpoints,
	.reg = siw_reg,
};
