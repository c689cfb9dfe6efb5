// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * What the backends share: making a device's endpoints, and registering
 * through one of them.
 */
#include <errno.h>
#include <stdint.h>
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


int vext_ep_needs_verbs_ep(const struct vext_ibdev *dev,
			   const struct vext_ep *ep)
{
	if ((ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT) || vext_ibverbs()->reg_mr_ex)
		return 0;
	return vext_err(EOPNOTSUPP,
			"%s endpoint %u: registering through a chosen endpoint needs rdma-core with IBV_REG_MR_MASK_DMA_EP (rdma-core-patches)",
			dev->name, ep->pub.index);
}

/* The provider's own ibv_reg_dmabuf_mr(). */
static struct ibv_mr *reg_plain(struct vext_reg_req *req)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	struct ibv_mr *mr;

	mr = ibv_reg_dmabuf_mr(req->pd, a->offset, a->length, a->iova, a->fd,
			       (int)req->access);
	if (!mr)
		errno = vext_reason_plain_failure(req, errno);
	return mr;
}

/* ibv_reg_mr_ex() of a libibverbs with DMA endpoints, the endpoint sent. */
static struct ibv_mr *reg_mr_ex(struct vext_reg_req *req,
				vext_reg_mr_ex_fn fn)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	uint32_t used = UINT32_MAX;
	struct vext_mr_init_attr in = {
		.length = a->length,
		.access = (int)req->access,
		.comp_mask = VEXT_REG_MR_MASK_IOVA | VEXT_REG_MR_MASK_FD |
			     VEXT_REG_MR_MASK_FD_OFFSET | VEXT_REG_MR_MASK_DMA_EP,
		.iova = a->iova,
		.fd = a->fd,
		.fd_offset = a->offset,
		.dma_ep = req->ep->pub.index,
		.dma_ep_used = &used,
	};
	struct ibv_mr *mr;

	mr = fn(req->pd, &in);
	if (!mr) {
		errno = vext_reason_reg_failure(req, errno, true);
		return NULL;
	}
	if (used != UINT32_MAX) {
		req->kernel_ep = used;
		req->kernel_reported = true;
	}
	return mr;
}

/*
 * 1. An endpoint to send, a libibverbs with DMA endpoints and a kernel that
 *    lists them: ibv_reg_mr_ex() with the chosen endpoint (the kernel maps
 *    through exactly it and says so); the provider makes the MR.
 * 2. Nothing to send (the default endpoint, not named by the caller): the
 *    provider's ibv_reg_dmabuf_mr(), which a kernel that lists endpoints
 *    maps through its endpoint 0, the default. Sending endpoint 0 anyway
 *    would buy only the kernel's confirmation, at the price of the kernel's
 *    reachability check: a describe of the whole buffer, O(size).
 * 3. Otherwise, or when the provider has no dma-buf op, and only where its
 *    MR is a bare struct verbs_mr and this libibverbs is one the layout
 *    was tested with: the library's own ioctl (uverbs.c).
 */
struct ibv_mr *vext_reg_endpoint(struct vext_reg_req *req, bool send_endpoint,
				 uint32_t hand_built_driver)
{
	const struct vext_ibverbs *v = vext_ibverbs();
	struct ibv_mr *mr;
	int err;

	if (send_endpoint && v->reg_mr_ex && req->dev->kernel_eps)
		return reg_mr_ex(req, v->reg_mr_ex);
	if (!send_endpoint) {
		mr = reg_plain(req);
		/* EOPNOTSUPP without a syscall: a provider with no op for it. */
		if (mr || errno != EOPNOTSUPP || !hand_built_driver ||
		    v->reg_mr_ex)
			return mr;
	} else if (!hand_built_driver) {
		errno = vext_ep_needs_verbs_ep(req->dev, req->ep);
		if (!errno)
			errno = vext_err(EOPNOTSUPP,
					 "%s endpoint %u: the kernel does not list DMA endpoints",
					 req->dev->name, req->ep->pub.index);
		return NULL;
	}
	err = vext_verbs_mr_allowed(v, req->dev->name);
	if (err) {
		errno = err;
		return NULL;
	}
	return vext_reg_uverbs(req, hand_built_driver, send_endpoint);
}
