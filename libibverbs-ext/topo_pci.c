// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The PCI functions of the topology: NUMA node, IDs, class, PCIe link,
 * driver and (mlx5) the VPD board serial that pairs functions of one card.
 * Parsed on first use under the topology's lock, never moved or freed
 * while the topology lives.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext_internal.h"

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

/* The PCI function a netdev sits on (NULL for virtual netdevs). */
const struct vext_pci *vext_topo_pci_of_netdev(struct vext_topo *t,
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
