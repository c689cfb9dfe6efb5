// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The pure choice policy on a hand-built topology: path classes, every
 * policy, ties, availability, reachability, and the key facts of each
 * explanation.
 */
#include "ext_internal.h"
#include "test.h"

/*
 * Two sockets. Node 0 has host bridges pci0000:00 and pci0000:20, node 1
 * has pci0000:80. Under 00:01.0 a switch (usp 01:00.0) with GPU0 and NIC0
 * on two downstream ports and a nested switch (usp 05:00.0) holding NIC1.
 */
static struct vext_pci pcis[] = {
	{ .addr = "0000:03:00.0", .numa_node = 0,
	  .path = (char *)"devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0/0000:03:00.0" },
	{ .addr = "0000:04:00.0", .numa_node = 0, .link_speed = 32000, .link_width = 16,
	  .path = (char *)"devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.0" },
	{ .addr = "0000:07:00.0", .numa_node = 0, .link_speed = 32000, .link_width = 16,
	  .path = (char *)"devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:02.0/0000:05:00.0/0000:06:00.0/0000:07:00.0" },
	{ .addr = "0000:08:00.0", .numa_node = 0, .link_speed = 16000, .link_width = 16,
	  .path = (char *)"devices/pci0000:00/0000:00:02.0/0000:08:00.0" },
	{ .addr = "0000:21:00.0", .numa_node = 0, .link_speed = 16000, .link_width = 16,
	  .path = (char *)"devices/pci0000:20/0000:20:01.0/0000:21:00.0" },
	{ .addr = "0000:81:00.0", .numa_node = 1, .link_speed = 16000, .link_width = 16,
	  .path = (char *)"devices/pci0000:80/0000:80:01.0/0000:81:00.0" },
	{ .addr = "0000:81:00.1", .numa_node = 1, .link_speed = 16000, .link_width = 8,
	  .path = (char *)"devices/pci0000:80/0000:80:01.0/0000:81:00.1" },
	{ .addr = "0000:04:00.1", .numa_node = 0, .link_speed = 32000, .link_width = 16,
	  .path = (char *)"devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:04:00.1" },
};

enum { GPU0, NIC0, NIC1, NIC2, NIC3, NIC4, NIC4_X8, NIC0_F1 };

static struct vext_topo topo;

static void setup(int nodes)
{
	size_t i;

	memset(&topo, 0, sizeof(topo));
	pthread_mutex_init(&topo.lock, NULL);
	topo.root = (char *)"/nonexistent";
	topo.root_real = (char *)"/nonexistent";
	topo.nr_nodes = nodes;
	topo.max_node = nodes;
	for (i = 0; i < (size_t)nodes; i++)
		topo.node_online[i] = 1;
	topo.distance[0][0] = topo.distance[1][1] = 10;
	topo.distance[0][1] = topo.distance[1][0] = 21;
	for (i = 0; i + 1 < VEXT_ARRAY_SIZE(pcis); i++)
		pcis[i].next = &pcis[i + 1];
	pcis[i].next = NULL;
	topo.pcis = pcis;
}

static struct vext_ep mkep(uint32_t index, int pci, uint32_t kind,
			   uint32_t flags)
{
	struct vext_ep e;

	memset(&e, 0, sizeof(e));
	e.pci = pci >= 0 ? &pcis[pci] : NULL;
	e.pub.index = index;
	e.pub.kind = pci >= 0 ? kind : IBV_DMA_EP_VIRTUAL;
	e.pub.flags = flags;
	e.pub.numa_node = pci >= 0 ? pcis[pci].numa_node : -1;
	e.pub.link_speed = pci >= 0 ? pcis[pci].link_speed : 0;
	e.pub.link_width = pci >= 0 ? pcis[pci].link_width : 0;
	snprintf(e.pub.ibdev, sizeof(e.pub.ibdev), "mlx5_0");
	if (pci >= 0)
		snprintf(e.pub.pci_addr, sizeof(e.pub.pci_addr), "%s",
			 pcis[pci].addr);
	return e;
}

static struct ibv_dmabuf_info cpu(int node)
{
	struct ibv_dmabuf_info i = { 0 };

	i.source = IBV_DMABUF_SOURCE_SYSTEM;
	i.types = 1 << IBV_DMABUF_SOURCE_SYSTEM;
	i.origin = IBV_DMABUF_ORIGIN_KERNEL;
	i.numa_node = node;
	return i;
}

static struct ibv_dmabuf_info p2p(int pci)
{
	struct ibv_dmabuf_info i = { 0 };

	i.source = IBV_DMABUF_SOURCE_P2P;
	i.types = 1 << IBV_DMABUF_SOURCE_P2P;
	i.origin = IBV_DMABUF_ORIGIN_KERNEL;
	i.numa_node = pcis[pci].numa_node;
	snprintf(i.provider, sizeof(i.provider), "%s", pcis[pci].addr);
	return i;
}

static int rank(const struct ibv_dmabuf_info *src,
		const struct ibv_dma_path_hints *h, const struct vext_ep *eps,
		size_t n, struct ibv_dma_choice *out)
{
	size_t num = n;

	return vext_policy_rank(&topo, src, h, eps, n, out, &num);
}

static void path_classes(void)
{
	setup(2);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[GPU0]),
		  IBV_DMA_PATH_CLASS_LOC);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[NIC0]),
		  IBV_DMA_PATH_CLASS_PIX);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[NIC0], &pcis[GPU0]),
		  IBV_DMA_PATH_CLASS_PIX);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[NIC1]),
		  IBV_DMA_PATH_CLASS_PXB);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[NIC1], &pcis[GPU0]),
		  IBV_DMA_PATH_CLASS_PXB);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[NIC2]),
		  IBV_DMA_PATH_CLASS_PHB);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[NIC3]),
		  IBV_DMA_PATH_CLASS_NODE);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[NIC4]),
		  IBV_DMA_PATH_CLASS_SYS);
	/* Two functions of one device on one root port turn around there. */
	CHECK_INT(vext_pci_path_class(&topo, &pcis[NIC4], &pcis[NIC4_X8]),
		  IBV_DMA_PATH_CLASS_PIX);
	CHECK_INT(vext_pci_path_class(&topo, &pcis[NIC0], &pcis[NIC0_F1]),
		  IBV_DMA_PATH_CLASS_PIX);
	CHECK_INT(vext_pci_path_class(&topo, NULL, &pcis[NIC0]),
		  IBV_DMA_PATH_CLASS_UNKNOWN);
	/* Unknown NUMA node across host bridges: cannot tell. */
	pcis[NIC3].numa_node = -1;
	CHECK_INT(vext_pci_path_class(&topo, &pcis[GPU0], &pcis[NIC3]),
		  IBV_DMA_PATH_CLASS_UNKNOWN);
	pcis[NIC3].numa_node = 0;
}

static void cpu_memory_each_node(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dma_choice c[2];
	struct ibv_dmabuf_info src;

	setup(2);
	src = cpu(1);
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK_INT(c[0].path_class, IBV_DMA_PATH_CLASS_PHB);
	CHECK_INT(c[0].numa_distance, 10);
	CHECK_INT(c[1].ep.index, 0);
	CHECK_INT(c[1].path_class, IBV_DMA_PATH_CLASS_SYS);
	CHECK_INT(c[1].numa_distance, 21);
	CHECK_HAS(c[0].reason, "chose endpoint 1 (peer_pf 0000:81:00.0");
	CHECK_HAS(c[0].reason, "node 1)");
	CHECK_HAS(c[0].reason, "system memory on node 1 (kernel)");
	CHECK_HAS(c[0].reason, "PHB (same NUMA node)");
	CHECK_HAS(c[0].reason, "NUMA distance 10");
	CHECK_HAS(c[0].reason, "endpoint 0 (pf 0000:08:00.0, node 0): SYS");
	CHECK_HAS(c[0].reason, "NUMA distance 21");
	CHECK_HAS(c[1].reason, "ranked endpoint 0");
	CHECK_HAS(c[1].reason, "SYS (other NUMA node)");
	CHECK_INT(vext_choice_check(&c[0]), 0);

	src = cpu(0);
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK_HAS(c[0].reason, "system memory on node 0");
	CHECK_HAS(c[0].reason, "endpoint 1 (peer_pf 0000:81:00.0, node 1): SYS");
}

static void p2p_nearest(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC4, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC1, IBV_DMA_EP_PEER_PF, 0),
		mkep(2, NIC0, IBV_DMA_EP_DATA_DIRECT, 0),
		mkep(3, NIC2, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dma_choice c[4];
	struct ibv_dmabuf_info src = p2p(GPU0);

	setup(2);
	CHECK_INT(rank(&src, NULL, eps, 4, c), 0);
	CHECK_INT(c[0].ep.index, 2);
	CHECK_INT(c[0].path_class, IBV_DMA_PATH_CLASS_PIX);
	CHECK_INT(c[1].ep.index, 1);
	CHECK_INT(c[1].path_class, IBV_DMA_PATH_CLASS_PXB);
	CHECK_INT(c[2].ep.index, 3);
	CHECK_INT(c[2].path_class, IBV_DMA_PATH_CLASS_PHB);
	CHECK(c[2].flags & IBV_DMA_CHOICE_P2P_HOST_BRIDGE);
	CHECK_INT(c[3].ep.index, 0);
	CHECK_INT(c[3].path_class, IBV_DMA_PATH_CLASS_SYS);
	CHECK(c[3].flags & IBV_DMA_CHOICE_P2P_HOST_BRIDGE);
	CHECK(!(c[3].flags & IBV_DMA_CHOICE_UNREACHABLE));
	CHECK_INT(c[0].numa_distance, 10);
	CHECK_INT(c[3].numa_distance, 21);
	CHECK_HAS(c[0].reason, "chose endpoint 2 (data_direct 0000:04:00.0");
	CHECK_HAS(c[0].reason, "P2P memory of 0000:03:00.0 (kernel)");
	CHECK_HAS(c[0].reason, "PIX (through one PCIe switch)");
	CHECK_HAS(c[0].reason, "endpoint 1 (peer_pf 0000:07:00.0, node 0): PXB");
	CHECK_HAS(c[1].reason, "PXB (through several PCIe switches)");
	CHECK_HAS(c[2].reason, "P2P through host bridges: the kernel decides");
	CHECK_HAS(c[3].reason, "SYS (across NUMA nodes), NUMA distance 21");
	CHECK_HAS(c[3].reason, "the kernel decides");
	CHECK_INT(vext_choice_check(&c[0]), 0);
}

static void p2p_unreachable(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC4, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
	};
	struct ibv_dma_choice c[1];
	struct ibv_dmabuf_info src = p2p(GPU0);

	setup(2);
	/* Across sockets: only the kernel's p2pdma can say; not refused here. */
	CHECK_INT(rank(&src, NULL, eps, 1, c), 0);
	CHECK(c[0].flags & IBV_DMA_CHOICE_P2P_HOST_BRIDGE);
	CHECK_INT(vext_choice_check(&c[0]), 0);

	/* An unknown provider is not assumed reachable. */
	snprintf(src.provider, sizeof(src.provider), "0000:ee:00.0");
	CHECK_INT(rank(&src, NULL, eps, 1, c), 0);
	CHECK_INT(c[0].path_class, IBV_DMA_PATH_CLASS_UNKNOWN);
	CHECK_INT(vext_choice_check(&c[0]), EXDEV);
	CHECK_HAS(c[0].reason, "provider not in sysfs");
}

static void private_memory(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC0, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
	};
	struct ibv_dmabuf_info src = { .source = IBV_DMABUF_SOURCE_PRIVATE,
				       .types = 1 << IBV_DMABUF_SOURCE_PRIVATE,
				       .origin = IBV_DMABUF_ORIGIN_KERNEL,
				       .numa_node = -1 };
	struct ibv_dma_choice c[1];

	setup(2);
	CHECK_INT(rank(&src, NULL, eps, 1, c), 0);
	CHECK_INT(vext_choice_check(&c[0]), EXDEV);
	CHECK_HAS(c[0].reason, "device-private memory");
}

static void mixed_sources(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC4, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC0, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dma_choice c[2];
	struct ibv_dmabuf_info src = p2p(GPU0);

	setup(2);
	/* Mixed CPU + P2P: the P2P part decides. */
	src.source = IBV_DMABUF_SOURCE_MIXED;
	src.types |= 1 << IBV_DMABUF_SOURCE_SYSTEM;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK_HAS(c[0].reason, "mixed CPU and P2P memory of 0000:03:00.0");

	/* Pages spanning nodes: the majority node decides, and it says so. */
	src = cpu(1);
	src.flags = IBV_DMABUF_INFO_NUMA_MIXED;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK_HAS(c[0].reason, "system memory on node 1, mostly; pages span nodes");
}

static void unknown_source(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dma_path_hints h = { 0 };
	struct ibv_dmabuf_info src = { .origin = IBV_DMABUF_ORIGIN_INFERRED,
				       .numa_node = -1 };
	struct ibv_dma_choice c[2];

	setup(2);
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK(c[0].flags & IBV_DMA_CHOICE_FALLBACK);
	CHECK_HAS(c[0].reason, "unknown memory (inferred)");
	CHECK_HAS(c[0].reason, "no source information, default endpoint");

	/* Partly of a kind newer than the library: still unknown. */
	src.types = 1 << IBV_DMABUF_SOURCE_SYSTEM;
	src.numa_node = 1;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK(c[0].flags & IBV_DMA_CHOICE_FALLBACK);
	src.types = 0;
	src.numa_node = -1;

	/* NULL source: the same. */
	CHECK_INT(rank(NULL, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK(c[0].flags & IBV_DMA_CHOICE_FALLBACK);

	/* A NUMA hint stands in for what the source cannot tell. */
	h.comp_mask = IBV_DMA_PATH_HINTS_NUMA_NODE;
	h.numa_node = 1;
	CHECK_INT(rank(&src, &h, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK(c[0].flags & IBV_DMA_CHOICE_HINT_USED);
	CHECK_HAS(c[0].reason, "hint says node 1");

	/* System memory on an unknown node, no hint: default, said so. */
	src = cpu(-1);
	src.origin = IBV_DMABUF_ORIGIN_INFERRED;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK(c[0].flags & IBV_DMA_CHOICE_FALLBACK);
	CHECK_HAS(c[0].reason, "system memory on an unknown NUMA node (inferred)");
	CHECK_INT(rank(&src, &h, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK_HAS(c[0].reason, "node unknown (inferred), hint says node 1");
	/* The hint does not override what the kernel said. */
	src = cpu(0);
	CHECK_INT(rank(&src, &h, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK(!(c[0].flags & IBV_DMA_CHOICE_HINT_USED));
}

static void single_node_host(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
	};
	struct ibv_dmabuf_info src = cpu(-1);
	struct ibv_dma_choice c[1];

	setup(1);
	eps[0].pub.numa_node = -1;
	src.origin = IBV_DMABUF_ORIGIN_INFERRED;
	CHECK_INT(rank(&src, NULL, eps, 1, c), 0);
	CHECK_INT(c[0].path_class, IBV_DMA_PATH_CLASS_PHB);
	CHECK(!(c[0].flags & IBV_DMA_CHOICE_FALLBACK));
	CHECK_HAS(c[0].reason, "system memory on node 0 (inferred)");
}

static void policy_default_and_endpoint(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC4, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC0, IBV_DMA_EP_DATA_DIRECT, 0),
		mkep(2, NIC2, IBV_DMA_EP_PEER_PF,
		     IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR | IBV_DMA_EP_FLAG_UNAVAILABLE),
	};
	struct ibv_dma_path_hints h = { 0 };
	struct ibv_dmabuf_info src = p2p(GPU0);
	struct ibv_dma_choice c[3];

	setup(2);
	h.policy = IBV_DMA_PATH_DEFAULT;
	CHECK_INT(rank(&src, &h, eps, 3, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK_HAS(c[0].reason, "default policy: chose endpoint 0");
	CHECK(c[0].flags & IBV_DMA_CHOICE_P2P_HOST_BRIDGE);
	/* Default policy still cannot make unknown P2P reachable. */
	snprintf(src.provider, sizeof(src.provider), "0000:ee:00.0");
	CHECK_INT(rank(&src, &h, eps, 3, c), 0);
	CHECK_INT(vext_choice_check(&c[0]), EXDEV);

	h.policy = IBV_DMA_PATH_ENDPOINT;
	h.endpoint = 1;
	src = cpu(1);
	CHECK_INT(rank(&src, &h, eps, 3, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK_HAS(c[0].reason, "explicit request: chose endpoint 1");

	h.endpoint = 7;
	CHECK_ERR(rank(&src, &h, eps, 3, c), ENOENT);
	CHECK_HAS(ibv_ext_last_error(), "endpoint 7 does not exist");

	h.endpoint = 2;
	CHECK_ERR(rank(&src, &h, eps, 3, c), EOPNOTSUPP);
	CHECK_HAS(ibv_ext_last_error(), "no endpoint attribute");

	src = p2p(GPU0);
	snprintf(src.provider, sizeof(src.provider), "0000:ee:00.0");
	h.endpoint = 0;
	CHECK_ERR(rank(&src, &h, eps, 3, c), EXDEV);
	CHECK_HAS(ibv_ext_last_error(), "cannot reach");
}

static void policy_numa(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dma_path_hints h = { .policy = IBV_DMA_PATH_NUMA,
					.numa_node = 1 };
	struct ibv_dmabuf_info src = cpu(0);
	struct ibv_dma_choice c[2];

	setup(2);
	CHECK_INT(rank(&src, &h, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK(c[0].flags & IBV_DMA_CHOICE_HINT_USED);
	CHECK_HAS(c[0].reason, "memory steered to NUMA node 1 (hint)");
	h.numa_node = 5;
	CHECK_ERR(rank(&src, &h, eps, 2, c), ENODEV);
	CHECK_HAS(ibv_ext_last_error(), "NUMA node 5 is not online");
	h.numa_node = -1;
	CHECK_ERR(rank(&src, &h, eps, 2, c), ENODEV);
}

static void ties_spread(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, 0),
		mkep(1, NIC3, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dma_path_hints h = { .comp_mask =
						IBV_DMA_PATH_HINTS_SPREAD_KEY };
	struct ibv_dmabuf_info src = cpu(0);
	struct ibv_dma_choice c[2];

	setup(2);
	h.spread_key = 0;
	CHECK_INT(rank(&src, &h, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK(c[0].flags & IBV_DMA_CHOICE_TIED);
	CHECK_HAS(c[0].reason, "tie spread by key");
	h.spread_key = 1;
	CHECK_INT(rank(&src, &h, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK_INT(c[1].ep.index, 0);
	CHECK_HAS(c[0].reason, "ties; spread key chose");
	/* Without the hint, the dma-buf inode is the key. */
	src.inode = 3;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	src.inode = 4;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);

	/* The default endpoint wins an otherwise equal tie. */
	eps[1].pub.flags = IBV_DMA_EP_FLAG_DEFAULT;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK(!(c[0].flags & IBV_DMA_CHOICE_TIED));
	CHECK_HAS(c[0].reason, "the default endpoint wins ties");
}

static void link_bandwidth(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC4_X8, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dmabuf_info src = cpu(1);
	struct ibv_dma_choice c[2];

	setup(2);
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 1);
	CHECK_HAS(c[0].reason, "has a slower link");
}

static void availability(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF,
		     IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR | IBV_DMA_EP_FLAG_UNAVAILABLE),
	};
	struct ibv_dmabuf_info src = cpu(1);
	struct ibv_dma_choice c[2];

	setup(2);
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(c[0].ep.index, 0);
	CHECK_HAS(c[0].reason, "is not usable on this host");
	CHECK_HAS(c[1].reason, "not usable on this host");
	CHECK_INT(vext_choice_check(&c[0]), 0);

	/* Nothing usable: the head is refused. */
	eps[0].pub.flags |= IBV_DMA_EP_FLAG_UNAVAILABLE;
	CHECK_INT(rank(&src, NULL, eps, 2, c), 0);
	CHECK_INT(vext_choice_check(&c[0]), EOPNOTSUPP);
}

static void virtual_endpoint(void)
{
	/* rxe on veth: no PCI function; CPU memory still works. */
	struct vext_ep eps[] = {
		mkep(0, -1, IBV_DMA_EP_NETDEV, IBV_DMA_EP_FLAG_DEFAULT),
	};
	struct ibv_dmabuf_info src = cpu(1);
	struct ibv_dma_choice c[1];

	setup(2);
	CHECK_INT(rank(&src, NULL, eps, 1, c), 0);
	CHECK_INT(c[0].ep.kind, IBV_DMA_EP_VIRTUAL);
	CHECK_INT(c[0].path_class, IBV_DMA_PATH_CLASS_UNKNOWN);
	CHECK_INT(vext_choice_check(&c[0]), 0);
	src = p2p(GPU0);
	CHECK_INT(rank(&src, NULL, eps, 1, c), 0);
	CHECK_INT(vext_choice_check(&c[0]), EXDEV);
}

static void hints_validation(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
	};
	struct ibv_dma_path_hints h = { .comp_mask = 1u << 7 };
	struct ibv_dmabuf_info src = cpu(0);
	struct ibv_dma_choice c[1];

	setup(2);
	CHECK_ERR(rank(&src, &h, eps, 1, c), EOPNOTSUPP);
	CHECK_HAS(ibv_ext_last_error(), "unknown comp_mask bits 0x80");
	h.comp_mask = 0;
	h.policy = 9;
	CHECK_ERR(rank(&src, &h, eps, 1, c), EINVAL);
	CHECK_HAS(ibv_ext_last_error(), "unknown policy 9");
	h.policy = 0;
	h.comp_mask = IBV_DMA_PATH_HINTS_NUMA_NODE;
	h.numa_node = 3;
	CHECK_ERR(rank(&src, &h, eps, 1, c), ENODEV);
	CHECK_ERR(rank(&src, NULL, eps, 0, c), ENODEV);
}

static void short_output(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dmabuf_info src = cpu(1);
	struct ibv_dma_choice c[2];
	size_t n = 1;

	setup(2);
	memset(c, 0xa5, sizeof(c));
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, eps, 2, c, &n), 0);
	CHECK_INT(n, 2);
	CHECK_INT(c[0].ep.index, 1);
	/* The second slot was not written. */
	CHECK_INT(c[1].ep.index, 0xa5a5a5a5);
}

/*
 * The unexplained ranking (a registration that writes its own reason) is
 * the same choice, for each kind of source and policy, with no reason.
 */
static void unexplained_same_choice(void)
{
	struct vext_ep eps[] = {
		mkep(0, NIC2, IBV_DMA_EP_PF, IBV_DMA_EP_FLAG_DEFAULT),
		mkep(1, NIC4, IBV_DMA_EP_PEER_PF, 0),
	};
	struct ibv_dmabuf_info srcs[] = { cpu(0), cpu(1), { .numa_node = -1 } };
	struct ibv_dma_path_hints hints[] = {
		{ .policy = IBV_DMA_PATH_AUTO, .numa_node = -1 },
		{ .policy = IBV_DMA_PATH_DEFAULT, .numa_node = -1 },
		{ .policy = IBV_DMA_PATH_AUTO, .numa_node = 1,
		  .comp_mask = IBV_DMA_PATH_HINTS_NUMA_NODE },
	};
	struct ibv_dma_choice a[2], b[2];
	size_t i, j, na, nb;

	setup(2);
	for (i = 0; i < VEXT_ARRAY_SIZE(srcs); i++) {
		for (j = 0; j < VEXT_ARRAY_SIZE(hints); j++) {
			na = nb = 2;
			memset(a, 0, sizeof(a));
			memset(b, 0x5a, sizeof(b));
			CHECK_INT(vext_policy_rank(&topo, &srcs[i], &hints[j], eps,
						   2, a, &na), 0);
			CHECK_INT(vext_policy_rank_unexplained(&topo, &srcs[i],
							       &hints[j], eps, 2,
							       b, &nb), 0);
			CHECK_INT(nb, na);
			CHECK(a[0].reason[0] != '\0');
			CHECK_STR(b[0].reason, "");
			CHECK_STR(b[1].reason, "");
			memset(a[0].reason, 0, sizeof(a[0].reason));
			memset(a[1].reason, 0, sizeof(a[1].reason));
			memset(b[0].reason, 0, sizeof(b[0].reason));
			memset(b[1].reason, 0, sizeof(b[1].reason));
			CHECK(!memcmp(a, b, sizeof(a)));
		}
	}
}

static void rank_devices(void)
{
	struct vext_ep a[] = { mkep(0, NIC2, IBV_DMA_EP_PF,
				    IBV_DMA_EP_FLAG_DEFAULT) };
	struct vext_ep b[] = { mkep(0, NIC4, IBV_DMA_EP_PF,
				    IBV_DMA_EP_FLAG_DEFAULT) };
	struct vext_ep d[] = { mkep(0, NIC3, IBV_DMA_EP_PF,
				    IBV_DMA_EP_FLAG_DEFAULT) };
	struct ibv_dmabuf_info src = cpu(1);
	struct ibv_dma_choice best[3];
	size_t n = 1;

	setup(2);
	snprintf(a[0].pub.ibdev, sizeof(a[0].pub.ibdev), "mlx5_0");
	snprintf(b[0].pub.ibdev, sizeof(b[0].pub.ibdev), "mlx5_1");
	snprintf(d[0].pub.ibdev, sizeof(d[0].pub.ibdev), "mlx5_2");
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, a, 1, &best[0], &n), 0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, b, 1, &best[1], &n), 0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, d, 1, &best[2], &n), 0);
	vext_policy_rank_devices(best, 3, 0);
	CHECK_STR(best[0].ep.ibdev, "mlx5_1");
	CHECK(!(best[0].flags & IBV_DMA_CHOICE_TIED));

	/* Node 0 memory: mlx5_0 and mlx5_2 tie; the key spreads them. */
	src = cpu(0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, a, 1, &best[0], &n), 0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, b, 1, &best[1], &n), 0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, d, 1, &best[2], &n), 0);
	vext_policy_rank_devices(best, 3, 0);
	CHECK_STR(best[0].ep.ibdev, "mlx5_0");
	CHECK(best[0].flags & IBV_DMA_CHOICE_TIED);
	CHECK_STR(best[2].ep.ibdev, "mlx5_1");
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, a, 1, &best[0], &n), 0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, b, 1, &best[1], &n), 0);
	CHECK_INT(vext_policy_rank(&topo, &src, NULL, d, 1, &best[2], &n), 0);
	vext_policy_rank_devices(best, 3, 1);
	CHECK_STR(best[0].ep.ibdev, "mlx5_2");
	CHECK_STR(best[1].ep.ibdev, "mlx5_0");
}

/* A device whose NUMA distance is unknown ranks after one whose is known. */
static void rank_devices_unknown_distance(void)
{
	struct ibv_dma_choice best[2];
	size_t i;

	memset(best, 0, sizeof(best));
	for (i = 0; i < 2; i++) {
		best[i].path_class = IBV_DMA_PATH_CLASS_PHB;
		best[i].ep.flags = IBV_DMA_EP_FLAG_DEFAULT;
		best[i].ep.link_speed = 16000;
		best[i].ep.link_width = 16;
	}
	snprintf(best[0].ep.ibdev, sizeof(best[0].ep.ibdev), "mlx5_0");
	best[0].numa_distance = -1;
	snprintf(best[1].ep.ibdev, sizeof(best[1].ep.ibdev), "mlx5_1");
	best[1].numa_distance = 21;
	vext_policy_rank_devices(best, 2, 0);
	CHECK_STR(best[0].ep.ibdev, "mlx5_1");
	CHECK(!(best[0].flags & IBV_DMA_CHOICE_TIED));
}

int main(void)
{
	RUN(path_classes);
	RUN(cpu_memory_each_node);
	RUN(p2p_nearest);
	RUN(p2p_unreachable);
	RUN(private_memory);
	RUN(mixed_sources);
	RUN(unknown_source);
	RUN(single_node_host);
	RUN(policy_default_and_endpoint);
	RUN(policy_numa);
	RUN(ties_spread);
	RUN(link_bandwidth);
	RUN(availability);
	RUN(virtual_endpoint);
	RUN(hints_validation);
	RUN(short_output);
	RUN(unexplained_same_choice);
	RUN(rank_devices);
	RUN(rank_devices_unknown_distance);
	return test_report();
}
