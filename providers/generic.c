// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Generic backend: any RDMA device with a PCI function (or none). One
 * endpoint, the device itself (more where the kernel lists them);
 * registration through the installed provider.
 */
#include <errno.h>

#include "../libibverbs-ext/ext_internal.h"

/*
 * Last in the table, it takes every device: its own PCI function, or for
 * a device without one the PCI function of its netdev, if any.
 */
static bool generic_match(struct vext_topo *t, struct vext_ibdev *dev,
			  const char *devpath, bool has_device)
{
	if (!has_device && dev->netdev[0])
		dev->pci = vext_topo_pci_of_netdev(t, dev->netdev);
	return true;
}

static void generic_endpoints(struct vext_topo *t, struct vext_ibdev *dev)
{
	vext_ep_add(dev, IBV_DMA_EP_PF, dev->pci, IBV_DMA_EP_FLAG_DEFAULT,
		    dev->netdev);
}

/* The provider's MR layout is unknown: never hand-built. */
static struct ibv_mr *generic_reg(struct vext_reg_req *req)
{
	return vext_reg_endpoint(req,
				 !(req->ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT),
				 0);
}

static int generic_available(const struct vext_ibdev *dev,
			     const struct vext_ep *ep, bool remote,
			     const char **assumed, const char **here)
{
	return remote ? 0 : vext_ep_needs_verbs_ep(dev, ep);
}

const struct vext_provider vext_provider_generic = {
	.name = "generic",
	.match = generic_match,
	.endpoints = generic_endpoints,
	.available = generic_available,
	.reg = generic_reg,
};
