// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * A source described in words rather than queried from a buffer:
 * "system[:node=N]", "p2p:ADDR", "private", "unknown", checked against the
 * sysfs tree (the node online, the provider a PCI function of it), so that
 * a user can ask "which NIC for this memory" about any machine.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

/* "system:node=N": the node must be online in the sysfs tree. */
static int describe_node(const char *spec, long node,
			 struct ibv_dmabuf_info *info)
{
	struct vext_topo *t = vext_topo_get();
	int ret = 0;

	if (!t)
		return errno;
	if (node >= t->max_node || !t->node_online[node])
		ret = vext_err(ENODEV, "source '%s': NUMA node %ld is not online",
			       spec, node);
	else
		info->numa_node = (int)node;
	vext_topo_put(t);
	return ret;
}

/* "p2p:ADDR": the provider must be a PCI function of the sysfs tree. */
static int describe_p2p(const char *spec, const char *addr,
			struct ibv_dmabuf_info *info)
{
	struct vext_topo *t = vext_topo_get();
	const struct vext_pci *pci;
	int ret = 0;

	if (!t)
		return errno;
	pci = vext_topo_pci(t, addr);
	if (!pci) {
		ret = vext_err(ENODEV, "source '%s': no PCI function %s in %s",
			       spec, addr, t->root);
	} else {
		info->source = IBV_DMABUF_SOURCE_P2P;
		info->types = 1u << info->source;
		info->numa_node = pci->numa_node;
		vext_strscpy(info->provider, pci->addr, sizeof(info->provider));
	}
	vext_topo_put(t);
	return ret;
}

int ibv_describe_dmabuf_source(const char *spec, struct ibv_dmabuf_info *info)
{
	char addr[IBV_EXT_PCI_ADDR_LEN];
	const char *arg;

	if (!spec || !info)
		return vext_err(EINVAL, "spec or info is NULL");
	if (info->comp_mask)
		return vext_err(EOPNOTSUPP, "info: unknown comp_mask bits 0x%x",
				info->comp_mask);
	memset(info, 0, sizeof(*info));
	info->numa_node = -1;
	info->origin = IBV_DMABUF_ORIGIN_DESCRIBED;
	snprintf(info->exporter, sizeof(info->exporter), "described");

	if (!strcmp(spec, "unknown"))
		return 0;
	if (!strcmp(spec, "private")) {
		info->source = IBV_DMABUF_SOURCE_PRIVATE;
		info->types = 1u << info->source;
		return 0;
	}
	if (!strcmp(spec, "system") || !strncmp(spec, "system:", 7)) {
		info->source = IBV_DMABUF_SOURCE_SYSTEM;
		info->types = 1u << info->source;
		if (spec[6] == '\0')
			return 0;
		arg = spec + 7;
		if (strncmp(arg, "node=", 5) == 0) {
			char *end;
			long node = strtol(arg + 5, &end, 10);

			if (end != arg + 5 && !*end && node >= 0 &&
			    node < VEXT_MAX_NODES)
				return describe_node(spec, node, info);
		}
		return vext_err(EINVAL,
				"source '%s': expected system:node=N", spec);
	}
	if (!strncmp(spec, "p2p:", 4)) {
		arg = spec + 4;
		/* Accept "bb:dd.f" for segment 0. */
		if (strlen(arg) == 7)
			snprintf(addr, sizeof(addr), "0000:%s", arg);
		else
			snprintf(addr, sizeof(addr), "%s", arg);
		if (!vext_is_pci_addr(addr))
			return vext_err(EINVAL,
					"source '%s': expected p2p:DDDD:BB:DD.F",
					spec);
		return describe_p2p(spec, addr, info);
	}
	return vext_err(EINVAL,
			"source '%s': expected system[:node=N], p2p:ADDR, private or unknown",
			spec);
}
