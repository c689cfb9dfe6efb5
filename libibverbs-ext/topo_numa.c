// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The NUMA part of the topology: online nodes and the SLIT distances
 * between them (devices/system/node/). A malformed row is rejected and
 * taken from the other rows (the SLIT is symmetric); nothing is fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

void vext_parse_nodes(struct vext_topo *t)
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
