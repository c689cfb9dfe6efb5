// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * What the backends share: making a device's endpoints, and registering
 * through the installed provider's ibv_reg_dmabuf_mr().
 */
#include <errno.h>
#include <string.h>

#include "../libibverbs-ext/ext_internal.h"

void vext_ep_init(struct vext_ep *ep, const struct vext_ibdev *dev,
		  size_t index, enum ibv_dma_endpoint_kind kind,
		  const struct vext_pci *pci, uint32_t flags, const char *via)
{
	memset(ep, 0, sizeof(*ep));
	ep->pci = pci;
	ep->pub.index = (uint32_t)index;
	ep->pub.kind = pci ? kind : IBV_DMA_EP_VIRTUAL;
	ep->pub.flags = flags;
	ep->pub.numa_node = pci ? pci->numa_node : -1;
	ep->pub.link_speed = pci ? pci->link_speed : 0;
	ep->pub.link_width = pci ? pci->link_width : 0;
	vext_strscpy(ep->pub.ibdev, dev->name, sizeof(ep->pub.ibdev));
	if (pci)
		vext_strscpy(ep->pub.pci_addr, pci->addr,
			     sizeof(ep->pub.pci_addr));
	vext_strscpy(ep->pub.via, via ? via : "", sizeof(ep->pub.via));
}

void vext_ep_add(struct vext_ibdev *dev, enum ibv_dma_endpoint_kind kind,
		 const struct vext_pci *pci, uint32_t flags, const char *via)
{
	if (dev->nr_eps >= VEXT_MAX_EPS)
		return;
	vext_ep_init(&dev->eps[dev->nr_eps], dev, dev->nr_eps, kind, pci, flags,
		     via);
	dev->nr_eps++;
}

struct ibv_mr *vext_reg_plain(struct vext_reg_req *req)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	struct ibv_mr *mr;

	mr = ibv_reg_dmabuf_mr(req->pd, a->offset, a->length, a->iova, a->fd,
			       (int)req->access);
	if (!mr)
		errno = vext_reason_plain_failure(req, errno);
	return mr;
}
