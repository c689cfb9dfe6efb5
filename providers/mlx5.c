// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mlx5 backend. Endpoints of an mlx5 RDMA device:
 *   0      its own PF (default; plain ibv_reg_dmabuf_mr),
 *   then   data-direct functions of the same card (VPD board serial "SN"
 *          matches the PF's; libmlx5 confirms at registration time),
 *   then   peer PFs of a multi-PF / socket-direct card (same
 *          sys_image_guid, their own PCIe link; the other port of a
 *          dual-port device shares the link and is not one), which only
 *          this project's kernel can map through (REG_DMABUF_MR endpoint
 *          attribute).
 *
 * mlx5dv_reg_dmabuf_mr() and mlx5dv_get_data_direct_sysfs_path() appeared
 * in rdma-core 54 (MLX5_1.25); they are bound at run time with dlvsym so
 * the library builds and runs against older rdma-core (Debian 12: v44).
 *
 * Compile-tested only: no mlx5 hardware here.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <rdma/ib_user_ioctl_verbs.h>

#include "../libibverbs-ext/ext_internal.h"

#define MLX5DV_VERSION_DMABUF "MLX5_1.25"
#define VEXT_MLX5DV_REG_DMABUF_ACCESS_DATA_DIRECT (1 << 0)

typedef struct ibv_mr *(*dv_reg_dmabuf_mr_fn)(struct ibv_pd *pd,
					      uint64_t offset, size_t length,
					      uint64_t iova, int fd, int access,
					      int mlx5_access);
typedef int (*dv_dd_sysfs_path_fn)(struct ibv_context *ctx, char *buf,
				   size_t buf_len);

static pthread_once_t dv_once = PTHREAD_ONCE_INIT;
static dv_reg_dmabuf_mr_fn dv_reg_dmabuf_mr;
static dv_dd_sysfs_path_fn dv_dd_sysfs_path;

static void bind_dv(void)
{
	void *h = dlopen("libmlx5.so.1", RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		h = dlopen("libmlx5.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	/* Kept open for the life of the process. */
	dv_reg_dmabuf_mr = (dv_reg_dmabuf_mr_fn)dlvsym(h, "mlx5dv_reg_dmabuf_mr",
						       MLX5DV_VERSION_DMABUF);
	dv_dd_sysfs_path = (dv_dd_sysfs_path_fn)dlvsym(
		h, "mlx5dv_get_data_direct_sysfs_path", MLX5DV_VERSION_DMABUF);
}

/*
 * Functions of one PCI device (the ports of a dual-port card) share its
 * link: mapping through the other one gains nothing, so it is no endpoint.
 */
static bool same_link(const struct vext_pci *a, const struct vext_pci *b)
{
	const char *sa = strrchr(a->path, '/'), *sb = strrchr(b->path, '/');

	/* "dddd:bb:dd." is the device part of the address. */
	return sa && sb && sa - a->path == sb - b->path &&
	       !strncmp(a->path, b->path, (size_t)(sa - a->path)) &&
	       !strncmp(a->addr, b->addr, 11);
}

/* A device of an mlx5_core PCI function. */
static bool mlx5_match(struct vext_topo *t, struct vext_ibdev *dev,
		       const char *devpath, bool has_device)
{
	return dev->pci && !strcmp(dev->pci->driver, "mlx5_core");
}

/*
 * Data-direct functions are paired with their PF by the board serial in
 * VPD, which only root may read (the vpd file is 0600). Say so when that
 * stopped a pairing, rather than dropping the endpoints silently.
 */
static void note_unpaired(struct vext_topo *t, const struct vext_ibdev *dev)
{
	const struct vext_pci *denied = NULL;
	size_t i;

	if (dev->pci->vpd_err == EACCES)
		denied = dev->pci;
	for (i = 0; i < t->nr_dd && !denied; i++)
		if (t->dd[i]->vpd_err == EACCES)
			denied = t->dd[i];
	if (denied)
		vext_topo_note(t, "%s: data-direct functions (%s%s) cannot be paired with it: %s/vpd is readable by root only; calls given a device context ask libmlx5 (mlx5dv_get_data_direct_sysfs_path, rdma-core 54 or later)",
			       dev->name, t->dd[0]->addr,
			       t->nr_dd > 1 ? ", ..." : "", denied->addr);
}

static void mlx5_endpoints(struct vext_topo *t, struct vext_ibdev *dev)
{
	size_t i;

	vext_ep_add(dev, IBV_DMA_EP_PF, dev->pci, IBV_DMA_EP_FLAG_DEFAULT, "");
	if (!dev->pci)
		return;

	for (i = 0; i < t->nr_dd; i++) {
		if (dev->pci->serial[0] &&
		    !strcmp(t->dd[i]->serial, dev->pci->serial))
			vext_ep_add(dev, IBV_DMA_EP_DATA_DIRECT, t->dd[i], 0, "");
	}
	if (t->nr_dd && dev->nr_eps == 1)
		note_unpaired(t, dev);

	for (i = 0; i < t->nr_ibdevs; i++) {
		const struct vext_ibdev *peer = &t->ibdevs[i];

		if (peer == dev || peer->prov != &vext_provider_mlx5 || !peer->pci ||
		    !dev->sys_image_guid ||
		    peer->sys_image_guid != dev->sys_image_guid ||
		    same_link(peer->pci, dev->pci))
			continue;
		vext_ep_add(dev, IBV_DMA_EP_PEER_PF, peer->pci,
			    IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR, peer->name);
	}
}

/*
 * With a context of the device on this machine, libmlx5 tells the
 * data-direct function the kernel uses, which needs no VPD: the endpoint
 * sysfs could not pair. Appended to eps (room for VEXT_MAX_EPS).
 */
static void mlx5_ctx_endpoints(struct vext_topo *t, const struct vext_ibdev *dev,
			       struct ibv_context *ctx, struct vext_ep *eps,
			       size_t *nr_eps)
{
	const struct vext_pci *pci;
	char path[256];
	size_t i;

	for (i = 0; i < *nr_eps; i++)
		if (eps[i].pub.kind == IBV_DMA_EP_DATA_DIRECT)
			return;
	if (!t->live || dev->kernel_eps || !t->nr_dd ||
	    *nr_eps >= VEXT_MAX_EPS)
		return;
	pthread_once(&dv_once, bind_dv);
	if (!dv_dd_sysfs_path || dv_dd_sysfs_path(ctx, path, sizeof(path)))
		return;
	/* kobject path: "/devices/pci0000:00/.../0000:08:00.0" */
	pci = vext_topo_pci_of_path(t, path[0] == '/' ? path + 1 : path);
	if (!pci)
		return;
	vext_ep_init(&eps[*nr_eps], dev, *nr_eps, IBV_DMA_EP_DATA_DIRECT, pci, 0,
		     "");
	(*nr_eps)++;
}

static int mlx5_available(const struct vext_ibdev *dev,
			  const struct vext_ep *ep, bool remote,
			  const char **assumed, const char **here)
{
	pthread_once(&dv_once, bind_dv);
	/* A kernel-listed endpoint: libibverbs names it, or libmlx5 (dd). */
	if (dev->kernel_eps) {
		if (remote || (ep->pub.kind == IBV_DMA_EP_DATA_DIRECT &&
			       dv_reg_dmabuf_mr))
			return 0;
		return vext_ep_needs_verbs_ep(dev, ep);
	}
	if (ep->pub.kind != IBV_DMA_EP_DATA_DIRECT)
		return 0;
	/* Another machine's tree: what its rdma-core has, not this host's. */
	if (remote) {
		*assumed = "rdma-core >= 54 on that machine";
		*here = dv_reg_dmabuf_mr ?
				"this host's libmlx5 has mlx5dv_reg_dmabuf_mr too" :
				"this host's libmlx5 has no mlx5dv_reg_dmabuf_mr";
		return 0;
	}
	if (!dv_reg_dmabuf_mr)
		return vext_err(EOPNOTSUPP,
				"%s endpoint %u (data direct): the installed libmlx5 has no mlx5dv_reg_dmabuf_mr (rdma-core 54 or later)",
				dev->name, ep->pub.index);
	return 0;
}

/* libmlx5 knows which data-direct function the device really uses. */
static int check_dd_path(struct vext_reg_req *req)
{
	char path[256];
	const char *base;
	int ret;

	if (!dv_dd_sysfs_path)
		return 0;
	ret = dv_dd_sysfs_path(req->pd->context, path, sizeof(path));
	if (ret)
		return vext_err(ret == ENODEV ? EOPNOTSUPP : ret,
				"%s: libmlx5 reports no data-direct function (%s)",
				req->dev->name, strerror(ret));
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strcmp(base, req->ep->pub.pci_addr))
		return vext_err(EINVAL,
				"%s: libmlx5 says the data-direct function is %s, not %s",
				req->dev->name, base, req->ep->pub.pci_addr);
	return 0;
}

static struct ibv_mr *mlx5_reg(struct vext_reg_req *req)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	struct ibv_mr *mr;
	int ret;

	/*
	 * libmlx5's own way to data direct, unless libibverbs can name the
	 * endpoint to a kernel that lists it.
	 */
	if (req->ep->pub.kind == IBV_DMA_EP_DATA_DIRECT &&
	    !(req->dev->kernel_eps && vext_ibverbs()->reg_mr_ex)) {
		pthread_once(&dv_once, bind_dv);
		if (dv_reg_dmabuf_mr) {
			ret = check_dd_path(req);
			if (ret) {
				errno = ret;
				return NULL;
			}
			mr = dv_reg_dmabuf_mr(req->pd, a->offset, a->length,
					      a->iova, a->fd, (int)req->access,
					      VEXT_MLX5DV_REG_DMABUF_ACCESS_DATA_DIRECT);
			if (!mr)
				errno = vext_err(errno,
						 "mlx5dv_reg_dmabuf_mr(DATA_DIRECT) on %s: %s",
						 req->dev->name, strerror(errno));
			return mr;
		}
	}
	/* A libmlx5 MR has fields of its own: never hand-built. */
	return vext_reg_endpoint(req,
				 !(req->ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT),
				 0);
}

const struct vext_provider vext_provider_mlx5 = {
	.name = "mlx5",
	.match = mlx5_match,
	.endpoints = mlx5_endpoints,
	.ctx_endpoints = mlx5_ctx_endpoints,
	.available = mlx5_available,
	.reg = mlx5_reg,
};
