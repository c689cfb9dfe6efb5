// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Topology from sysfs: NUMA nodes and distances, RDMA devices and the PCI
 * functions behind them, mlx5 data-direct functions, and the DMA endpoints
 * of each device. Parsed per root, read again when the machine's RDMA
 * devices change (see the cache below), and immutable while it lives
 * except for PCI functions of P2P providers, which are parsed on first use
 * under the topology's lock and never moved or freed while it lives.
 *
 * Nothing here trusts the tree: missing or malformed files are skipped and
 * noted (vext_topo_note), never fatal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdatomic.h>

#include "ext_internal.h"

void vext_topo_note(struct vext_topo *t, const char *fmt, ...)
{
	char buf[VEXT_NOTE_LEN];
	va_list ap;

	if (t->nr_notes >= VEXT_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->notes[t->nr_notes] = strdup(buf);
	if (t->notes[t->nr_notes])
		t->nr_notes++;
}

/* --- NUMA ----------------------------------------------------------------- */

static void parse_nodes(struct vext_topo *t)
{
	bool row_ok[VEXT_MAX_NODES];
	char buf[1024], rel[96];
	int node, other, ret;

	ret = vext_read_str(t->root, buf, sizeof(buf),
			    "devices/system/node/online");
	if (ret < 0 ||
	    vext_parse_cpulist(buf, t->node_online, VEXT_MAX_NODES) <= 0) {
		if (ret != -ENOENT)
			vext_topo_note(t, "devices/system/node/online: unreadable or malformed, assuming node 0");
		memset(t->node_online, 0, sizeof(t->node_online));
		t->node_online[0] = 1;
	}
	for (node = 0; node < VEXT_MAX_NODES; node++) {
		if (t->node_online[node]) {
			t->nr_nodes++;
			t->max_node = node + 1;
		}
	}
	/* Default SLIT: 10 local, 20 remote. */
	for (node = 0; node < t->max_node; node++)
		for (other = 0; other < t->max_node; other++)
			t->distance[node][other] = node == other ? 10 : 20;

	for (node = 0; node < t->max_node; node++) {
		int row[VEXT_MAX_NODES], n = 0;
		char *p, *end;

		row_ok[node] = false;
		if (!t->node_online[node])
			continue;
		snprintf(rel, sizeof(rel), "devices/system/node/node%d/distance",
			 node);
		ret = vext_read_str(t->root, buf, sizeof(buf), "%s", rel);
		if (ret < 0) {
			if (t->nr_nodes > 1)
				vext_topo_note(t, "%s: unreadable, row rejected", rel);
			continue;
		}
		for (p = buf; *p && n < VEXT_MAX_NODES;) {
			long v = strtol(p, &end, 10);

			if (end == p || v <= 0 || v > 255)
				break;
			row[n++] = (int)v;
			p = end;
			while (*p == ' ')
				p++;
		}
		/* One entry per online node, in node order. */
		if (*p || n != t->nr_nodes) {
			vext_topo_note(t, "%s: %d entries for %d nodes, row rejected",
				       rel, n, t->nr_nodes);
			continue;
		}
		n = 0;
		for (other = 0; other < t->max_node; other++)
			if (t->node_online[other])
				t->distance[node][other] = row[n++];
		row_ok[node] = true;
	}
	/* A rejected row takes what the other rows say (SLIT is symmetric). */
	for (node = 0; node < t->max_node; node++) {
		if (row_ok[node] || !t->node_online[node])
			continue;
		for (other = 0; other < t->max_node; other++)
			if (other != node && row_ok[other])
				t->distance[node][other] =
					t->distance[other][node];
	}
}

int vext_topo_distance(const struct vext_topo *t, int a, int b)
{
	if (a < 0 || b < 0 || a >= t->max_node || b >= t->max_node)
		return -1;
	return t->distance[a][b];
}

/* --- PCI functions ----------------------------------------------------------- */

#define VPD_MAX 4096

/* The VPD-R "SN" keyword (board serial) of a function's VPD image. */
static void parse_vpd(struct vext_topo *t, struct vext_pci *p,
		      const unsigned char *vpd, size_t n)
{
	size_t pos = 0;

	while (pos + 3 <= n) {
		unsigned char tag = vpd[pos];
		size_t len, end, kw;

		if (tag == 0x78) /* end tag */
			return;
		if (!(tag & 0x80)) { /* small resource: length in bits 0..2 */
			pos += 1 + (tag & 7);
			continue;
		}
		len = vpd[pos + 1] | (size_t)vpd[pos + 2] << 8;
		end = pos + 3 + len;
		if (end > n) {
			vext_topo_note(t, "%s/vpd: truncated", p->path);
			return;
		}
		if (tag == 0x90) { /* VPD-R: keywords */
			for (kw = pos + 3; kw + 3 <= end;) {
				size_t kl = vpd[kw + 2];

				if (kw + 3 + kl > end)
					break;
				if (vpd[kw] == 'S' && vpd[kw + 1] == 'N') {
					if (kl >= sizeof(p->serial))
						kl = sizeof(p->serial) - 1;
					memcpy(p->serial, &vpd[kw + 3], kl);
					p->serial[kl] = '\0';
					while (kl && p->serial[kl - 1] == ' ')
						p->serial[--kl] = '\0';
					return;
				}
				kw += 3 + kl;
			}
		}
		pos = end;
	}
}

/* Read the VPD of a function, if it has one and this user may read it. */
static void parse_vpd_serial(struct vext_topo *t, struct vext_pci *p)
{
	unsigned char *vpd;
	char *path;
	size_t n;
	FILE *f;

	path = vext_path(t->root, "%s/vpd", p->path);
	f = path ? fopen(path, "re") : NULL;
	p->vpd_err = f ? 0 : path ? errno : ENOMEM;
	free(path);
	if (!f)
		return;
	vpd = malloc(VPD_MAX);
	n = vpd ? fread(vpd, 1, VPD_MAX, f) : 0;
	fclose(f);
	p->serial[0] = '\0';
	parse_vpd(t, p, vpd, n);
	free(vpd);
}

/* The basename of the target of root/<path>/<link>, "" if none. */
static void link_base(const struct vext_topo *t, const char *path,
		      const char *link, char *out, size_t len)
{
	char *lpath = vext_path(t->root, "%s/%s", path, link);
	char *target = malloc(PATH_MAX);
	ssize_t n = lpath && target ? readlink(lpath, target, PATH_MAX - 1) : -1;

	out[0] = '\0';
	if (n > 0) {
		const char *base;

		target[n] = '\0';
		base = strrchr(target, '/');
		vext_strscpy(out, base ? base + 1 : target, len);
	}
	free(lpath);
	free(target);
}

static struct vext_pci *parse_pci(struct vext_topo *t, const char *addr,
				  const char *path)
{
	char buf[64];
	unsigned long v;
	long node;
	struct vext_pci *p;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->path = strdup(path);
	if (!p->path) {
		free(p);
		return NULL;
	}
	vext_strscpy(p->addr, addr, sizeof(p->addr));

	if (vext_read_int(t->root, &node, "%s/numa_node", path) || node < -1 ||
	    node >= VEXT_MAX_NODES) {
		vext_topo_note(t, "%s/numa_node: missing or malformed, node unknown",
			       path);
		node = -1;
	}
	p->numa_node = (int)node;

	if (!vext_read_hex(t->root, &v, "%s/vendor", path))
		p->vendor = (uint16_t)v;
	if (!vext_read_hex(t->root, &v, "%s/device", path))
		p->device = (uint16_t)v;
	if (!vext_read_hex(t->root, &v, "%s/class", path))
		p->class_code = (uint32_t)v;

	if (vext_read_str(t->root, buf, sizeof(buf), "%s/current_link_speed",
			  path) >= 0)
		p->link_speed = vext_parse_link_speed(buf);
	if (!vext_read_int(t->root, &node, "%s/current_link_width", path) &&
	    node > 0 && node <= 32)
		p->link_width = (uint32_t)node;

	link_base(t, path, "driver", p->driver, sizeof(p->driver));
	if (p->vendor == 0x15b3)
		parse_vpd_serial(t, p);
	return p;
}

static struct vext_pci *find_pci_locked(struct vext_topo *t, const char *addr)
{
	struct vext_pci *p;

	for (p = t->pcis; p; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			return p;
	return NULL;
}

static const struct vext_pci *add_pci(struct vext_topo *t, const char *addr,
				      const char *path)
{
	struct vext_pci *p;

	pthread_mutex_lock(&t->lock);
	p = find_pci_locked(t, addr);
	if (!p) {
		p = parse_pci(t, addr, path);
		if (p) {
			p->next = t->pcis;
			t->pcis = p;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return p;
}

const struct vext_pci *vext_topo_pci(struct vext_topo *t, const char *addr)
{
	struct vext_pci *p;
	char *path;
	int err;

	if (!vext_is_pci_addr(addr))
		return NULL;
	pthread_mutex_lock(&t->lock);
	p = find_pci_locked(t, addr);
	pthread_mutex_unlock(&t->lock);
	if (p)
		return p;
	path = vext_resolve(t, &err, "bus/pci/devices/%s", addr);
	if (!path)
		return NULL;
	p = (struct vext_pci *)add_pci(t, addr, path);
	free(path);
	return p;
}

const struct vext_pci *vext_topo_pci_of_path(struct vext_topo *t,
					     const char *path)
{
	/* The last PCI-address component of the path owns it. */
	char addr[IBV_EXT_PCI_ADDR_LEN], *prefix;
	const struct vext_pci *p = NULL;
	const char *comp, *last = NULL;
	size_t len;

	for (comp = path; *comp; comp += len + (comp[len] == '/')) {
		len = strcspn(comp, "/");
		if (len != VEXT_PCI_ADDR_CHARS)
			continue;
		memcpy(addr, comp, len);
		addr[len] = '\0';
		if (vext_is_pci_addr(addr))
			last = comp;
	}
	if (!last)
		return NULL;
	memcpy(addr, last, VEXT_PCI_ADDR_CHARS);
	addr[VEXT_PCI_ADDR_CHARS] = '\0';
	prefix = strndup(path, (size_t)(last - path) + VEXT_PCI_ADDR_CHARS);
	if (prefix)
		p = add_pci(t, addr, prefix);
	free(prefix);
	return p;
}

/* --- RDMA devices ------------------------------------------------------------- */

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

static const struct vext_pci *netdev_pci(struct vext_topo *t,
					 const char *netdev)
{
	const struct vext_pci *pci;
	char *path;
	int err;

	path = vext_resolve(t, &err, "class/net/%s", netdev);
	if (!path) {
		vext_topo_note(t, "class/net/%s: netdev not found", netdev);
		return NULL;
	}
	pci = vext_topo_pci_of_path(t, path);
	free(path);
	return pci;
}

static enum ibv_dma_endpoint_kind kind_of_str(const char *s)
{
	if (!strcmp(s, "pf"))
		return IBV_DMA_EP_PF;
	if (!strcmp(s, "data_direct"))
		return IBV_DMA_EP_DATA_DIRECT;
	if (!strcmp(s, "peer_pf"))
		return IBV_DMA_EP_PEER_PF;
	if (!strcmp(s, "netdev"))
		return IBV_DMA_EP_NETDEV;
	if (!strcmp(s, "virtual"))
		return IBV_DMA_EP_VIRTUAL;
	return 0;
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
		kind = kind_of_str(buf);
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

static void parse_ibdev(struct vext_topo *t, const char *name)
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
		dev->drv = dev->pci && !strcmp(dev->pci->driver, "mlx5_core") ?
				   VEXT_DRV_MLX5 :
				   VEXT_DRV_GENERIC;
	} else {
		if (err != -ENOENT)
			vext_topo_note(t, "%s/device: %s", devpath,
				       err == -EXDEV ? "points outside the tree" :
						       "unresolvable");
		if (vext_read_str(t->root, buf, sizeof(buf), "%s/parent",
				  devpath) > 0) {
			dev->drv = VEXT_DRV_RXE;
			vext_strscpy(dev->netdev, buf, sizeof(dev->netdev));
		} else if (vext_read_str(t->root, buf, sizeof(buf),
					 "%s/node_type", devpath) > 0 &&
			   buf[0] == '4') {
			dev->drv = VEXT_DRV_SIW;
			if (!dev->netdev[0])
				siw_netdev_by_gid(t, devpath, dev);
		}
		if (dev->netdev[0])
			dev->pci = netdev_pci(t, dev->netdev);
	}

	dev->kernel_eps = parse_kernel_eps(t, devpath, dev);
	t->nr_ibdevs++;
out:
	free(path);
	free(devpath);
}

static int cmp_ibdev(const void *a, const void *b)
{
	const struct vext_ibdev *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Which uverbs device (ibv_device.dev_name "uverbsN") is which RDMA device. */
static void parse_uverbs(struct vext_topo *t)
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
		for (i = 0; i < t->nr_ibdevs; i++)
			if (!strcmp(t->ibdevs[i].name, name))
				t->ibdevs[i].uverbs = (int)idx;
	}
	closedir(d);
}

static void parse_data_direct(struct vext_topo *t)
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

struct vext_topo *vext_topo_load(const char *root)
{
	char *path, *sys_real;
	struct vext_topo *t;
	struct dirent *de;
	size_t i;
	DIR *d;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	atomic_init(&t->refs, 1);
	t->root = strdup(root);
	t->root_real = realpath(root, NULL);
	if (!t->root || !t->root_real) {
		int err = errno;

		vext_topo_free(t);
		errno = vext_err(err, "sysfs root %s: %s", root, strerror(err));
		return NULL;
	}
	sys_real = realpath("/sys", NULL);
	t->live = sys_real && !strcmp(sys_real, t->root_real);
	free(sys_real);
	parse_nodes(t);

	path = vext_path(root, "class/infiniband");
	d = path ? opendir(path) : NULL;
	free(path);
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				parse_ibdev(t, de->d_name);
		closedir(d);
		if (t->nr_ibdevs > 1)
			qsort(t->ibdevs, t->nr_ibdevs, sizeof(*t->ibdevs),
			      cmp_ibdev);
	}
	parse_uverbs(t);
	parse_data_direct(t);

	/* Endpoints need every device parsed (peer PFs). */
	for (i = 0; i < t->nr_ibdevs; i++) {
		struct vext_ibdev *dev = &t->ibdevs[i];

		if (!dev->kernel_eps)
			vext_provider_of(dev->drv)->endpoints(t, dev);
	}
	return t;
}

void vext_topo_free(struct vext_topo *t)
{
	struct vext_pci *p, *next;
	size_t i;

	if (!t)
		return;
	for (p = t->pcis; p; p = next) {
		next = p->next;
		free(p->path);
		free(p);
	}
	for (i = 0; i < t->nr_notes; i++)
		free(t->notes[i]);
	free(t->ibdevs);
	free(t->root);
	free(t->root_real);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

const struct vext_ibdev *vext_topo_ibdev(const struct vext_topo *t,
					 const char *name)
{
	size_t i;

	for (i = 0; i < t->nr_ibdevs; i++)
		if (!strcmp(t->ibdevs[i].name, name))
			return &t->ibdevs[i];
	return NULL;
}

/* --- per-process cache ---------------------------------------------------- */

/*
 * The topology follows the machine: each use compares the listing of
 * class/infiniband (names and inode numbers: a device added, removed,
 * renamed or made again under an old name changes it; kernfs keeps no
 * directory mtime) with the one the cached topology was read under, and
 * reads sysfs again when it differs. A lookup that misses reads it again
 * too. Topologies are reference counted: a call in flight keeps the one it
 * started with.
 */
struct topo_cache {
	struct topo_cache *next;
	struct vext_topo *t;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct topo_cache *cache;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

uint64_t vext_topo_listing(const char *root)
{
	/*
	 * kernfs never gives a new node an inode number it gave before; a
	 * tree on another file system (a fixture, a copy) may reuse one, so
	 * there each entry's change time counts too.
	 */
	bool kernfs = !strcmp(root, "/sys");
	uint64_t sig = 0, count = 0;
	struct dirent *de;
	char *path;
	DIR *d;

	path = vext_path(root, "class/infiniband");
	d = path ? opendir(path) : NULL;
	free(path);
	if (!d)
		return 0;
	/* Order-independent: a sum of one hash per entry. */
	while ((de = readdir(d))) {
		uint64_t h = 0xcbf29ce484222325ULL;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		h = fnv1a(h, de->d_name, strlen(de->d_name));
		h = fnv1a(h, &de->d_ino, sizeof(de->d_ino));
		if (!kernfs && !fstatat(dirfd(d), de->d_name, &st,
					AT_SYMLINK_NOFOLLOW))
			h = fnv1a(h, &st.st_ctim, sizeof(st.st_ctim));
		sig += h;
		count++;
	}
	closedir(d);
	return sig ^ count << 56 ^ 1;
}

struct vext_topo *vext_topo_hold(struct vext_topo *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void vext_topo_put(struct vext_topo *t)
{
	if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		vext_topo_free(t);
}

static struct topo_cache *cache_find(const char *root)
{
	struct topo_cache *c;

	for (c = cache; c; c = c->next)
		if (!strcmp(c->t->root, root))
			return c;
	return NULL;
}

/*
 * The cached topology of root if it is still read under listing @sig and
 * is not @stale; else a new one. Loads are serialised by the cache lock.
 */
static struct vext_topo *get_root(const char *root, uint64_t sig,
				  const struct vext_topo *stale)
{
	struct topo_cache *c;
	struct vext_topo *t;
	int err;

	pthread_mutex_lock(&cache_lock);
	c = cache_find(root);
	if (c && c->t->listing == sig && c->t != stale) {
		t = vext_topo_hold(c->t);
		pthread_mutex_unlock(&cache_lock);
		return t;
	}
	t = vext_topo_load(root);
	if (!t) {
		err = errno;
		pthread_mutex_unlock(&cache_lock);
		errno = err;
		return NULL;
	}
	t->listing = sig;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (c) {
			c->next = cache;
			cache = c;
		}
	} else {
		vext_topo_put(c->t);
	}
	if (c)
		c->t = vext_topo_hold(t);
	pthread_mutex_unlock(&cache_lock);
	return t;
}

struct vext_topo *vext_topo_get_root(const char *root)
{
	return get_root(root, vext_topo_listing(root), NULL);
}

/*
 * The environment redirects the tree only for a process that runs with its
 * caller's own credentials: a setuid/setgid or file-capability program
 * (AT_SECURE) always reads /sys, as rdma-core's SYSFS_PATH is honoured only
 * when getuid() == geteuid().
 */
const char *vext_sysfs_root(void)
{
	const char *root = secure_getenv(IBV_EXT_SYSFS_ROOT_ENV);

	return root && *root ? root : "/sys";
}

bool vext_topo_remote(const struct vext_topo *t, const struct ibv_context *ctx)
{
	const char *local = secure_getenv(IBV_EXT_LOCAL_VIEW_ENV);

	return !t->live && !ctx && !(local && *local && strcmp(local, "0"));
}

struct vext_topo *vext_topo_get(void)
{
	return vext_topo_get_root(vext_sysfs_root());
}

struct vext_topo *vext_topo_reload(struct vext_topo *stale)
{
	struct vext_topo *t = get_root(stale->root,
				       vext_topo_listing(stale->root), stale);

	vext_topo_put(stale);
	return t;
}

void ibv_ext_drop_topology_cache(void)
{
	struct topo_cache *c, *next;

	pthread_mutex_lock(&cache_lock);
	for (c = cache; c; c = next) {
		next = c->next;
		vext_topo_put(c->t);
		free(c);
	}
	cache = NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* --- devices by key ------------------------------------------------------- */

const struct vext_ibdev *vext_topo_find(const struct vext_topo *t,
					const struct vext_dev_key *key)
{
	const char *dev_name;
	size_t i;

	if (key->name)
		return vext_topo_ibdev(t, key->name);
	/* ibv_device: its uverbs index, which a rename does not change. */
	dev_name = key->device->dev_name;
	if (!strncmp(dev_name, "uverbs", 6)) {
		char *end;
		long idx = strtol(dev_name + 6, &end, 10);

		if (end != dev_name + 6 && !*end) {
			for (i = 0; i < t->nr_ibdevs; i++)
				if (t->ibdevs[i].uverbs == idx)
					return &t->ibdevs[i];
			return NULL;
		}
	}
	/* No uverbs device (a tree without infiniband_verbs): its name. */
	return vext_topo_ibdev(t, ibv_get_device_name(
					  (struct ibv_device *)key->device));
}

const char *vext_key_name(const struct vext_dev_key *key)
{
	return key->name ? key->name :
			   ibv_get_device_name((struct ibv_device *)key->device);
}

int vext_dev_get(const struct vext_dev_key *key, struct vext_topo **tp,
		 const struct vext_ibdev **dp)
{
	struct vext_topo *t;
	const struct vext_ibdev *dev;

	if (!key->name && !key->device)
		return vext_err(EINVAL, "device is NULL");
	t = vext_topo_get();
	if (!t)
		return errno;
	dev = vext_topo_find(t, key);
	if (!dev) {
		/* Added, renamed or made again since the topology was read? */
		t = vext_topo_reload(t);
		if (!t)
			return errno;
		dev = vext_topo_find(t, key);
	}
	if (!dev) {
		int err = vext_err(ENODEV, "no RDMA device %s in %s/class/infiniband",
				   vext_key_name(key), t->root);

		vext_topo_put(t);
		return err;
	}
	if (!dev->nr_eps) {
		vext_topo_put(t);
		return vext_err(ENODEV, "%s has no DMA endpoint", dev->name);
	}
	*tp = t;
	*dp = dev;
	return 0;
}

/*
 * Notes grow while the topology lives (lazily parsed PCI functions add
 * theirs under its lock): each is copied out under that lock, into a
 * buffer of the calling thread.
 */
const char *ibv_ext_sysfs_note(size_t i)
{
	static _Thread_local char note[VEXT_NOTE_LEN];
	struct vext_topo *t = vext_topo_get();
	bool found = false;

	if (!t)
		return NULL;
	pthread_mutex_lock(&t->lock);
	if (i < t->nr_notes) {
		vext_strscpy(note, t->notes[i], sizeof(note));
		found = true;
	}
	pthread_mutex_unlock(&t->lock);
	vext_topo_put(t);
	return found ? note : NULL;
}
