// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Software RDMA devices: Soft-RoCE (rxe) and Soft-iWARP (siw). Neither has
 * a PCI function of its own; the DMA endpoint is the PCI function of the
 * netdev the device runs on (none for veth and other virtual netdevs:
 * kind virtual). rxe names its netdev in `parent`; siw has no such file,
 * but its GID starts with the netdev's MAC.
 *
 * Upstream rdma-core's rxe and siw providers have no reg_dmabuf_mr op, so
 * libibverbs answers ibv_reg_dmabuf_mr() with EOPNOTSUPP without entering
 * the kernel; with rdma-core-patches they have one, and reg_mr_ex for the
 * endpoint (providers/common.c chooses).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <rdma/ib_user_ioctl_verbs.h>

#include "../libibverbs-ext/ext_internal.h"

/* siw: the GID starts with the netdev's MAC; find that netdev. */
static void siw_netdev_by_gid(struct vext_topo *t, const char *devpath,
			      struct vext_ibdev *dev)
{
	char gid[64], mac[32], want[32], *path;
	struct dirent *de;
	DIR *d;
	int n;

	if (vext_read_str(t->root, gid, sizeof(gid), "%s/ports/1/gids/0",
			  devpath) < 14)
		return;
	/* "5254:0012:3456:..." -> "52:54:00:12:34:56" */
	n = snprintf(want, sizeof(want), "%.2s:%.2s:%.2s:%.2s:%.2s:%.2s",
		     gid, gid + 2, gid + 5, gid + 7, gid + 10, gid + 12);
	if (n != 17)
		return;
	path = vext_path(t->root, "class/net");
	d = path ? opendir(path) : NULL;
	free(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (vext_read_str(t->root, mac, sizeof(mac),
				  "class/net/%s/address", de->d_name) == 17 &&
		    strcasecmp(mac, want) == 0) {
			snprintf(dev->netdev, sizeof(dev->netdev), "%s",
				 de->d_name);
			break;
		}
	}
	closedir(d);
}

static bool soft_match(struct vext_topo *t, struct vext_ibdev *dev,
		       const char *devpath, bool has_device)
{
	char buf[64];

	if (has_device)
		return false;
	if (vext_read_str(t->root, buf, sizeof(buf), "%s/parent", devpath) > 0) {
		dev->driver_id = RDMA_DRIVER_RXE;
		vext_strscpy(dev->netdev, buf, sizeof(dev->netdev));
	} else if (vext_read_str(t->root, buf, sizeof(buf), "%s/node_type",
				 devpath) > 0 &&
		   buf[0] == '4') {
		dev->driver_id = RDMA_DRIVER_SIW;
		if (!dev->netdev[0])
			siw_netdev_by_gid(t, devpath, dev);
	} else {
		return false;
	}
	if (dev->netdev[0])
		dev->pci = vext_topo_pci_of_netdev(t, dev->netdev);
	return true;
}

static void soft_endpoints(struct vext_topo *t, struct vext_ibdev *dev)
{
	vext_ep_add(dev, IBV_DMA_EP_NETDEV, dev->pci, IBV_DMA_EP_FLAG_DEFAULT,
		    dev->netdev);
}

/*
 * The endpoint goes to the kernel for a non-default endpoint, and for any
 * endpoint the caller named when the kernel lists endpoints (without it the
 * kernel chooses itself, e.g. the endpoint on the buffer's node). The
 * provider's MR is a bare struct verbs_mr: where it has no dma-buf op
 * (rdma-core without rdma-core-patches), the library's ioctl makes it.
 */
static struct ibv_mr *soft_reg(struct vext_reg_req *req)
{
	return vext_reg_endpoint(req,
				 !(req->ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT) ||
					 (req->named && req->dev->kernel_eps),
				 req->dev->driver_id);
}

const struct vext_provider vext_provider_soft = {
	.name = "soft",
	.match = soft_match,
	.endpoints = soft_endpoints,
	.reg = soft_reg,
};
