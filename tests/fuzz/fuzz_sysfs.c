// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libFuzzer: the sysfs topology parser on fuzzed trees. The input is a list
 * of records that create files, symlinks and directories at paths chosen
 * from the ones the parser reads (contents and link targets are the
 * fuzzer's), on top of a small valid skeleton. The parser must never crash
 * or escape the tree, and whatever it parsed must be usable: every device's
 * endpoints can be ranked for a few sources.
 *
 * Record: [op:1][path:1][len:1][bytes:len]
 *   op % 3 == 0: write a file, 1: make a symlink (target = bytes), 2: mkdir
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HB "devices/pci0000:40"
#define RP HB "/0000:40:00.0"
#define NIC RP "/0000:41:00.0"
#define GPU HB "/0000:40:01.0/0000:42:00.0"
#define IB NIC "/infiniband/mlx5_0"

static const char *const paths[] = {
	"devices/system/node/online",
	"devices/system/node/node0/distance",
	"devices/system/node/node1/distance",
	"class/infiniband/mlx5_0",
	"class/infiniband/mlx5_1",
	"class/infiniband/rxe0",
	IB "/device",
	IB "/sys_image_guid",
	IB "/node_type",
	IB "/ports/1/gid_attrs/ndevs/0",
	IB "/dma_endpoints/0/kind",
	IB "/dma_endpoints/0/device",
	IB "/dma_endpoints/1/kind",
	IB "/dma_endpoints/1/numa_node",
	NIC "/numa_node",
	NIC "/current_link_speed",
	NIC "/current_link_width",
	NIC "/vendor",
	NIC "/class",
	NIC "/driver",
	NIC "/vpd",
	GPU "/numa_node",
	GPU "/vendor",
	"bus/pci/devices/0000:41:00.0",
	"bus/pci/devices/0000:42:00.0",
	"bus/pci/drivers/mlx5_data_direct/0000:42:00.0",
	"devices/virtual/infiniband/rxe0/parent",
	"devices/virtual/infiniband/rxe0/node_type",
	"devices/virtual/infiniband/rxe0/ports/1/gids/0",
	"class/net/eth0",
	"class/net/eth0/address",
	NIC "/net/eth0/address",
};

static char root[64];

static int mkpath(const char *path)
{
	char buf[512], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static void put(const char *rel, const char *content, bool link)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (mkpath(path))
		return;
	unlink(path);
	if (link) {
		if (symlink(content, path)) {
			/* a directory is in the way: leave it */
		}
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, content, strlen(content)) < 0) {
		/* nothing to do */
	}
	close(fd);
}

static void rm_tree(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	char sub[1024];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (!lstat(sub, &st) && S_ISDIR(st.st_mode))
			rm_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static void skeleton(void)
{
	put("devices/system/node/online", "0-1", false);
	put("devices/system/node/node0/distance", "10 21", false);
	put("devices/system/node/node1/distance", "21 10", false);
	put(NIC "/numa_node", "1", false);
	put(NIC "/vendor", "0x15b3", false);
	put(NIC "/class", "0x020000", false);
	put(NIC "/current_link_speed", "16.0 GT/s PCIe", false);
	put(NIC "/current_link_width", "16", false);
	put(GPU "/numa_node", "1", false);
	put(GPU "/vendor", "0x10de", false);
	put(IB "/sys_image_guid", "b8ce:f603:00a1:2b3c", false);
	put(IB "/node_type", "1: CA", false);
	put(IB "/device", "../../../0000:41:00.0", true);
	put("class/infiniband/mlx5_0",
	    "../../devices/pci0000:40/0000:40:00.0/0000:41:00.0/infiniband/mlx5_0",
	    true);
	put("bus/pci/devices/0000:41:00.0",
	    "../../../devices/pci0000:40/0000:40:00.0/0000:41:00.0", true);
	put("bus/pci/devices/0000:42:00.0",
	    "../../../devices/pci0000:40/0000:40:01.0/0000:42:00.0", true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const specs[] = { "system:node=0", "system:node=1",
					     "p2p:0000:42:00.0", "unknown" };
	struct vext_topo *t;
	size_t pos = 0, i, s;

	if (!root[0])
		snprintf(root, sizeof(root), "/tmp/fuzz-sysfs-%d", (int)getpid());
	rm_tree(root);
	mkdir(root, 0755);
	skeleton();
	while (pos + 3 <= size) {
		uint8_t op = data[pos], which = data[pos + 1], len = data[pos + 2];
		char content[256];
		char path[512];

		pos += 3;
		if (len > size - pos)
			len = (uint8_t)(size - pos);
		memcpy(content, data + pos, len);
		content[len] = '\0';
		pos += len;
		which %= sizeof(paths) / sizeof(paths[0]);
		switch (op % 3) {
		case 0:
			put(paths[which], content, false);
			break;
		case 1:
			put(paths[which], content, true);
			break;
		default:
			snprintf(path, sizeof(path), "%s/%s", root, paths[which]);
			mkpath(path);
			unlink(path);
			mkdir(path, 0755);
			break;
		}
	}

	t = vext_topo_load(root);
	if (!t)
		return 0;
	for (i = 0; i < t->nr_ibdevs; i++) {
		const struct vext_ibdev *dev = &t->ibdevs[i];

		if (dev->nr_eps > VEXT_MAX_EPS)
			abort();
		for (s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
			struct ibv_dma_choice out[VEXT_MAX_EPS];
			struct ibv_dmabuf_info src = { .numa_node = -1 };
			size_t n = VEXT_MAX_EPS;

			if (!dev->nr_eps)
				continue;
			/* Describe against this tree without the env cache. */
			if (s < 2) {
				src.source = IBV_DMABUF_SOURCE_SYSTEM;
				src.types = 1 << IBV_DMABUF_SOURCE_SYSTEM;
				src.numa_node = (int)s;
			} else if (s == 2) {
				src.source = IBV_DMABUF_SOURCE_P2P;
				src.types = 1 << IBV_DMABUF_SOURCE_P2P;
				snprintf(src.provider, sizeof(src.provider), "%s",
					 specs[s] + 4);
			}
			if (vext_policy_rank(t, &src, NULL, dev->eps, dev->nr_eps,
					     out, &n) == 0 && !out[0].reason[0])
				abort();
		}
	}
	/* Nothing parsed may point outside the tree. */
	for (i = 0; i < t->nr_ibdevs; i++) {
		size_t e;

		for (e = 0; e < t->ibdevs[i].nr_eps; e++) {
			const struct vext_pci *p = t->ibdevs[i].eps[e].pci;

			if (p && (p->path[0] == '/' || strstr(p->path, "..")))
				abort();
		}
	}
	vext_topo_free(t);
	return 0;
}
