// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Public endpoint API: list a device's DMA endpoints, choose one for a
 * source, rank devices. The topology is the cached one of the configured
 * sysfs root; availability (can this host register through an endpoint
 * now) is asked of the device's provider backend at call time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

const struct vext_provider *vext_provider_of(enum vext_drv drv)
{
	switch (drv) {
	case VEXT_DRV_MLX5:
		return &vext_provider_mlx5;
	case VEXT_DRV_RXE:
		return &vext_provider_rxe;
	case VEXT_DRV_SIW:
		return &vext_provider_siw;
	default:
		return &vext_provider_generic;
	}
}

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
		snprintf(ep->pub.pci_addr, sizeof(ep->pub.pci_addr), "%s",
			 pci->addr);
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

int vext_endpoint_available(const struct vext_ibdev *dev,
			    const struct vext_ep *ep)
{
	const struct vext_provider *prov = vext_provider_of(dev->drv);

	if ((ep->pub.flags & IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR) &&
	    !dev->kernel_eps)
		return vext_err(EOPNOTSUPP,
				"%s endpoint %u: this kernel has no DMA endpoint attribute for REG_DMABUF_MR",
				dev->name, ep->pub.index);
	if (ep->kernel_unmappable)
		return vext_err(EOPNOTSUPP,
				"%s endpoint %u: the kernel lists it but cannot map memory through it",
				dev->name, ep->pub.index);
	return prov->available ? prov->available(dev, ep) : 0;
}

struct vext_ep *vext_current_eps(struct vext_topo *t,
				 const struct vext_ibdev *dev,
				 struct ibv_context *ctx, size_t *nr,
				 size_t *usable)
{
	const struct vext_provider *prov = vext_provider_of(dev->drv);
	struct vext_ep *eps = calloc(VEXT_MAX_EPS, sizeof(*eps));
	size_t i, n = 0;

	if (!eps) {
		errno = vext_err(ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(eps, dev->eps, dev->nr_eps * sizeof(*eps));
	*nr = dev->nr_eps;
	if (ctx && prov->ctx_endpoints)
		prov->ctx_endpoints(t, dev, ctx, eps, nr);
	for (i = 0; i < *nr; i++) {
		if (vext_endpoint_available(dev, &eps[i]))
			eps[i].pub.flags |= IBV_DMA_EP_FLAG_UNAVAILABLE;
		else
			n++;
	}
	vext_clear_err();
	if (usable)
		*usable = n;
	return eps;
}

static int get_dev(const char *name, struct vext_topo **tp,
		   const struct vext_ibdev **dp)
{
	if (!name)
		return vext_err(EINVAL, "device name is NULL");
	*tp = vext_topo_get();
	if (!*tp)
		return errno;
	*dp = vext_topo_ibdev(*tp, name);
	if (!*dp)
		return vext_err(ENODEV, "no RDMA device %s in %s/class/infiniband",
				name, (*tp)->root);
	if (!(*dp)->nr_eps)
		return vext_err(ENODEV, "%s has no DMA endpoint", name);
	return 0;
}

int ibv_query_dma_endpoints(const char *ibdev_name,
			    struct ibv_dma_endpoint *eps, size_t *num_eps)
{
	const struct vext_ibdev *dev;
	struct vext_topo *t;
	struct vext_ep *cur;
	size_t i, cap, n;
	int ret;

	if (!num_eps || (!eps && *num_eps))
		return vext_err(EINVAL, "eps or num_eps is NULL");
	ret = get_dev(ibdev_name, &t, &dev);
	if (ret)
		return ret;
	cap = *num_eps;
	cur = vext_current_eps(t, dev, NULL, &n, NULL);
	if (!cur)
		return errno;
	for (i = 0; i < n && i < cap; i++)
		eps[i] = cur[i].pub;
	free(cur);
	*num_eps = n;
	if (cap < n)
		return vext_err(ENOSPC, "%s has %zu endpoints, room for %zu",
				ibdev_name, n, cap);
	return 0;
}

static int rank_dev(struct vext_topo *t, const struct vext_ibdev *dev,
		    const struct ibv_dmabuf_info *src,
		    const struct ibv_dma_path_hints *hints,
		    struct ibv_dma_choice *out, size_t *num)
{
	struct vext_ep *cur;
	size_t n;
	int ret;

	cur = vext_current_eps(t, dev, NULL, &n, NULL);
	if (!cur)
		return errno;
	ret = vext_policy_rank(t, src, hints, cur, n, out, num);
	free(cur);
	return ret;
}

int ibv_rank_dma_endpoints(const char *ibdev_name,
			   const struct ibv_dmabuf_info *source,
			   const struct ibv_dma_path_hints *hints,
			   struct ibv_dma_choice *ranked, size_t *num)
{
	const struct vext_ibdev *dev;
	struct vext_topo *t;
	size_t cap;
	int ret;

	if (!num || (!ranked && *num))
		return vext_err(EINVAL, "ranked or num is NULL");
	ret = get_dev(ibdev_name, &t, &dev);
	if (ret)
		return ret;
	cap = *num;
	ret = rank_dev(t, dev, source, hints, ranked, num);
	if (!ret && cap < *num)
		return vext_err(ENOSPC, "%s has %zu endpoints, room for %zu",
				ibdev_name, *num, cap);
	return ret;
}

int ibv_select_dma_endpoint(const char *ibdev_name,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct ibv_dma_choice *choice)
{
	const struct vext_ibdev *dev;
	struct vext_topo *t;
	size_t n = 1;
	int ret;

	if (!choice)
		return vext_err(EINVAL, "choice is NULL");
	ret = get_dev(ibdev_name, &t, &dev);
	if (ret)
		return ret;
	ret = rank_dev(t, dev, source, hints, choice, &n);
	if (ret)
		return ret;
	return vext_choice_check(choice);
}

int ibv_rank_dmabuf_devices(const char *const *names, size_t num_names,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct ibv_dma_choice *ranked, size_t *num)
{
	struct ibv_dma_choice *best;
	struct vext_topo *t;
	size_t i, n = 0, cap, total;
	uint64_t key;
	int ret = 0;

	if (!num || (!ranked && *num))
		return vext_err(EINVAL, "ranked or num is NULL");
	if (names && !num_names)
		return vext_err(EINVAL, "names given but num_names is 0");
	t = vext_topo_get();
	if (!t)
		return errno;
	total = names ? num_names : t->nr_ibdevs;
	if (!total)
		return vext_err(ENODEV, "no RDMA devices in %s/class/infiniband",
				t->root);
	best = calloc(total, sizeof(*best));
	if (!best)
		return vext_err(ENOMEM, "out of memory");

	for (i = 0; i < total; i++) {
		const struct vext_ibdev *dev;
		size_t one = 1;

		if (names) {
			ret = get_dev(names[i], &t, &dev);
			if (ret)
				goto out;
		} else {
			dev = &t->ibdevs[i];
			if (!dev->nr_eps)
				continue;
		}
		ret = rank_dev(t, dev, source, hints, &best[n], &one);
		if (ret)
			goto out;
		n++;
	}
	key = hints && (hints->comp_mask & IBV_DMA_PATH_HINTS_SPREAD_KEY) ?
		      hints->spread_key :
		      (source ? source->inode : 0);
	vext_policy_rank_devices(best, n, key);

	cap = *num;
	for (i = 0; i < n && i < cap; i++)
		ranked[i] = best[i];
	*num = n;
	if (cap < n)
		ret = vext_err(ENOSPC, "%zu devices, room for %zu", n, cap);
out:
	free(best);
	return ret;
}

const char *ibv_dma_endpoint_kind_str(enum ibv_dma_endpoint_kind kind)
{
	switch (kind) {
	case IBV_DMA_EP_PF:
		return "pf";
	case IBV_DMA_EP_DATA_DIRECT:
		return "data_direct";
	case IBV_DMA_EP_PEER_PF:
		return "peer_pf";
	case IBV_DMA_EP_NETDEV:
		return "netdev";
	case IBV_DMA_EP_VIRTUAL:
		return "virtual";
	default:
		return "unknown";
	}
}

const char *ibv_dma_path_class_str(enum ibv_dma_path_class cls)
{
	static const char *const names[] = {
		[IBV_DMA_PATH_CLASS_LOC] = "LOC",
		[IBV_DMA_PATH_CLASS_PIX] = "PIX",
		[IBV_DMA_PATH_CLASS_PXB] = "PXB",
		[IBV_DMA_PATH_CLASS_PHB] = "PHB",
		[IBV_DMA_PATH_CLASS_NODE] = "NODE",
		[IBV_DMA_PATH_CLASS_SYS] = "SYS",
		[IBV_DMA_PATH_CLASS_UNKNOWN] = "UNKNOWN",
	};

	if ((unsigned int)cls >= VEXT_ARRAY_SIZE(names))
		return "UNKNOWN";
	return names[cls];
}
