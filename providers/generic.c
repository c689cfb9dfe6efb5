// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Generic backend: any RDMA device with a PCI function (or none). One
 * endpoint, the device itself; registration through the installed
 * provider's ibv_reg_dmabuf_mr().
 */
#include <errno.h>

#include "../libibverbs-ext/ext_internal.h"

static void generic_endpoints(struct vext_topo *t, struct vext_ibdev *dev)
{
	(void)t;
	vext_ep_add(dev, IBV_DMA_EP_PF, dev->pci, IBV_DMA_EP_FLAG_DEFAULT,
		    dev->netdev);
}

static struct ibv_mr *generic_reg(struct vext_reg_req *req)
{
	if (req->ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT)
		return vext_reg_plain(req);
	/*
	 * A kernel-listed non-default endpoint needs the uverbs driver id of
	 * this device for our own ioctl; the generic backend does not know
	 * it, so it says so rather than take a different path.
	 */
	errno = vext_err(EOPNOTSUPP,
			 "%s: the generic backend can only register through the default endpoint",
			 req->dev->name);
	return NULL;
}

const struct vext_provider vext_provider_generic = {
	.name = "generic",
	.drv = VEXT_DRV_GENERIC,
	.endpoints = generic_endpoints,
	.reg = generic_reg,
};
