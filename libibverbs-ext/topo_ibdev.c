// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The RDMA devices of the topology (class/infiniband/): where each sits,
 * its netdev and sys_image_guid, its uverbs device, the backend that drives
 * it (the providers' match()) and its DMA endpoints, as the kernel lists
 * them (dma_endpoints/) or as the backend derives them; and the mlx5
 * data-direct functions of the machine.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "ext_internal.h"

static uint64_t parse_guid(const char *s)
{
	/* "b8ce:f603:00a1:2b3c" */
	uint64_t v = 0;
	int groups = 0;

	while (*s) {
		char *end;
		unsigned long g = strtoul(s, &end, 16);

		if (end == s || end - s > 4)
			return 0;
		v = v << 16 | g;
		groups++;
		s = end;
		if (*s == ':')
			s++;
		else if (*s)
			return 0;
	}
	return groups == 4 ? v : 0;
}

/*
 * The patched kernel lists endpoints under <ibdev>/dma_endpoints/<index>/
 * (kind, numa_node, device -> PCI function). Index 0 is the default.
 */
static bool parse_kernel_eps(struct vext_topo *t, const char *devpath,
			     struct vext_ibdev *dev)
{
	const char *eps = "dma_endpoints";
	unsigned int index;
	char buf[64], *path;
	bool listed;
	int err;

	path = vext_path(t->root, "%s/%s", devpath, eps);
	listed = path && !access(path, F_OK);
	free(path);
	if (!listed)
		return false;
	for (index = 0; index < VEXT_MAX_EPS; index++) {
		const struct vext_pci *pci = NULL;
		enum ibv_dma_endpoint_kind kind;
		struct vext_ep *ep;
		long node;

		if (vext_read_str(t->root, buf, sizeof(buf), "%s/%s/%u/kind",
				  devpath, eps, index) < 0)
			break;
		kind = vext_kind_of_str(buf);
		if (!kind) {
			vext_topo_note(t, "%s/%s/%u/kind: unknown kind '%s', skipped",
				       devpath, eps, index, buf);
			continue;
		}
		path = vext_resolve(t, &err, "%s/%s/%u/device", devpath, eps,
				    index);
		if (path)
			pci = vext_topo_pci_of_path(t, path);
		free(path);
		vext_ep_add(dev, kind, pci,
			    IBV_DMA_EP_FLAG_KERNEL_LISTED |
				    (index ? IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR :
					     IBV_DMA_EP_FLAG_DEFAULT),
			    kind == IBV_DMA_EP_NETDEV ? dev->netdev : "");
		ep = &dev->eps[dev->nr_eps - 1];
		ep->pub.index = index;
		if (!vext_read_int(t->root, &node, "%s/%s/%u/numa_node",
				   devpath, eps, index) &&
		    node >= -1 && node < VEXT_MAX_NODES)
			ep->pub.numa_node = (int)node;
		/* Listed for information only (e.g. mlx5 peer PFs): 0. */
		if (!vext_read_int(t->root, &node, "%s/%s/%u/mappable", devpath,
				   eps, index) &&
		    node == 0)
			ep->kernel_unmappable = true;
	}
	return dev->nr_eps > 0;
}

static const char *resolve_error(int err)
{
	return err == -EXDEV ? "points outside the tree" :
	       err == -ENOMEM ? "out of memory" : "dangling link";
}

void vext_parse_ibdev(struct vext_topo *t, const char *name)
{
	struct vext_ibdev *dev, *grown;
	char buf[128], *devpath, *path;
	struct stat st;
	int err;

	devpath = vext_resolve(t, &err, "class/infiniband/%s", name);
	if (!devpath) {
		vext_topo_note(t, "class/infiniband/%s: %s, skipped", name,
			       resolve_error(err));
		return;
	}
	path = vext_path(t->root, "%s", devpath);
	if (!path || stat(path, &st) || !S_ISDIR(st.st_mode)) {
		vext_topo_note(t, "class/infiniband/%s: not a device directory, skipped",
			       name);
		goto out;
	}
	grown = realloc(t->ibdevs, (t->nr_ibdevs + 1) * sizeof(*t->ibdevs));
	if (!grown)
		goto out;
	t->ibdevs = grown;
	dev = &t->ibdevs[t->nr_ibdevs];
	memset(dev, 0, sizeof(*dev));
	vext_strscpy(dev->name, name, sizeof(dev->name));

	if (vext_read_str(t->root, buf, sizeof(buf), "%s/sys_image_guid",
			  devpath) > 0)
		dev->sys_image_guid = parse_guid(buf);
	if (vext_read_str(t->root, buf, sizeof(buf),
			  "%s/ports/1/gid_attrs/ndevs/0", devpath) > 0)
		vext_strscpy(dev->netdev, buf, sizeof(dev->netdev));

	free(path);
	path = vext_resolve(t, &err, "%s/device", devpath);
	if (path) {
		dev->pci = vext_topo_pci_of_path(t, path);
		if (!dev->pci)
			vext_topo_note(t, "%s/device: not a PCI function",
				       devpath);
	} else if (err != -ENOENT) {
		vext_topo_note(t, "%s/device: %s", devpath,
			       err == -EXDEV ? "points outside the tree" :
					       "unresolvable");
	}
	dev->prov = vext_provider_match(t, dev, devpath, path != NULL);

	dev->kernel_eps = parse_kernel_eps(t, devpath, dev);
	t->nr_ibdevs++;
out:
	free(path);
	free(devpath);
}

int vext_cmp_ibdev(const void *a, const void *b)
{
	const struct vext_ibdev *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Which uverbs device (ibv_device.dev_name "uverbsN") is which RDMA device. */
void vext_parse_uverbs(struct vext_topo *t)
{
	char *path = vext_path(t->root, "class/infiniband_verbs");
	struct dirent *de;
	char name[IBV_EXT_NAME_LEN];
	size_t i;
	DIR *d;

	for (i = 0; i < t->nr_ibdevs; i++)
		t->ibdevs[i].uverbs = -1;
	d = path ? opendir(path) : NULL;
	free(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long idx;

		if (strncmp(de->d_name, "uverbs", 6))
			continue;
		idx = strtol(de->d_name + 6, &end, 10);
		if (end == de->d_name + 6 || *end || idx < 0 ||
		    vext_read_str(t->root, name, sizeof(name),
				  "class/infiniband_verbs/%s/ibdev",
				  de->d_name) <= 0)
			continue;
		for (i = 0; i < t->nr_ibdevs; i++) {
			if (strcmp(t->ibdevs[i].name, name))
				continue;
			t->ibdevs[i].uverbs = (int)idx;
			/* The node libibverbs opens for it (rdma-core's RDMA_CDEV_DIR). */
			if (t->live) {
				char node[64];

				snprintf(node, sizeof(node), "/dev/infiniband/%s",
					 de->d_name);
				vext_record_node(&t->ibdevs[i], node);
			}
		}
	}
	closedir(d);
}

/*
 * A device node on devtmpfs is made anew, with a new inode number, each
 * time its device is: a context whose command fd is the node recorded when
 * the topology was read is a context of the device that topology describes,
 * whatever was renamed, deleted or added since (a uverbs index can be
 * reused by a device made again; its node cannot). Elsewhere (a static
 * /dev, a node made by hand) nothing is recorded and calls list the tree.
 */
void vext_record_node(struct vext_ibdev *dev, const char *path)
{
	struct statfs sfs;
	struct stat st;

	dev->node_ino = 0;
	dev->node_rdev = 0;
	if (statfs(path, &sfs) ||
	    (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC) ||
	    stat(path, &st) || !S_ISCHR(st.st_mode) || !st.st_ino)
		return;
	dev->node_ino = (uint64_t)st.st_ino;
	dev->node_rdev = (uint64_t)st.st_rdev;
}

bool vext_same_node(const struct vext_ibdev *dev, int fd)
{
	struct stat st;

	return dev->node_ino && !fstat(fd, &st) && S_ISCHR(st.st_mode) &&
	       (uint64_t)st.st_ino == dev->node_ino &&
	       (uint64_t)st.st_rdev == dev->node_rdev;
}

/*
 * `rdma dev set name` keeps the device node: its uverbs ibdev file tells
 * whether @dev still has the name read with @t (a choice's reason names it).
 */
bool vext_same_name(const struct vext_topo *t, const struct vext_ibdev *dev)
{
	char name[IBV_EXT_NAME_LEN];

	return vext_read_str(t->root, name, sizeof(name),
			     "class/infiniband_verbs/uverbs%d/ibdev",
			     dev->uverbs) > 0 &&
	       !strcmp(name, dev->name);
}

void vext_parse_data_direct(struct vext_topo *t)
{
	char *path = vext_path(t->root, "bus/pci/drivers/mlx5_data_direct");
	struct dirent *de;
	DIR *d;

	d = path ? opendir(path) : NULL;
	free(path);
	if (!d)
		return;
	while ((de = readdir(d)) && t->nr_dd < VEXT_MAX_EPS) {
		const struct vext_pci *p;

		if (!vext_is_pci_addr(de->d_name))
			continue;
		p = vext_topo_pci(t, de->d_name);
		if (p)
			t->dd[t->nr_dd++] = p;
	}
	closedir(d);
}
