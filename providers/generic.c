// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Generic backend: any RDMA device with a PCI function (or none). One
 * endpoint, the device itself; registration through the installed
 * provider's ibv_reg_dmabuf_mr().
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
	.match = generic_match,
	.endpoints = generic_endpoints,
	.reg = generic_reg,
};
