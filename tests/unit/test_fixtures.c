// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The library on the sysfs fixture trees of real machine types (DGX-H100
 * like, socket-direct, data-direct, single NIC, the lab VM, ...), asserted
 * against tests/fixtures/expectations.json (generated into a C header):
 *   - NUMA distances, every device's endpoints (kind, PCI, node, link, via,
 *     flags),
 *   - the path class of every memory/endpoint pair,
 *   - the choice for CPU memory on each node and P2P memory from each GPU,
 *     per device, with every endpoint usable ("choices") and with only what
 *     a stock kernel with rdma-core 44 can use ("stock"), and the key facts
 *     of each explanation,
 *   - the device ranking, ties spread over exactly the preferred devices,
 *   - in the broken tree: what is skipped is reported, nothing else is lost.
 */
#include "ext_internal.h"
#include "test.h"
#include "fixture_expectations.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char fxdir[2048];

static struct vext_topo *topo(const char *name)
{
	char root[4096];

	snprintf(root, sizeof(root), "%s/%s", fxdir, name);
	/* The public calls read the tree the environment names. */
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
	return vext_topo_get_root(root);
}

static const char *flag_on(uint32_t flags, uint32_t bit)
{
	return flags & bit ? "yes" : "no";
}

static void distances(void)
{
	size_t i;

	for (i = 0; i < N(fx_dists); i++) {
		struct vext_topo *t = topo(fx_dists[i].topo);

		CHECK(t != NULL);
		if (t)
			CHECK_INT(vext_topo_distance(t, fx_dists[i].a, fx_dists[i].b),
				  fx_dists[i].d);
	}
}

static void endpoints(void)
{
	size_t i;

	for (i = 0; i < N(fx_eps); i++) {
		const struct fx_ep *x = &fx_eps[i];
		struct vext_topo *t = topo(x->topo);
		const struct vext_ibdev *dev = vext_topo_ibdev(t, x->dev);
		const struct ibv_dma_endpoint *e;

		CHECK(dev != NULL);
		if (!dev) {
			fprintf(stderr, "  %s: no device %s\n", x->topo, x->dev);
			continue;
		}
		CHECK_INT(dev->nr_eps, x->count);
		if (x->index >= dev->nr_eps)
			continue;
		e = &dev->eps[x->index].pub;
		CHECK_INT(e->index, x->index);
		CHECK_STR(ibv_dma_endpoint_kind_str(e->kind), x->kind);
		CHECK_STR(e->pci_addr, x->pci);
		CHECK_INT(e->numa_node, x->node);
		CHECK_INT(e->link_speed, x->speed);
		CHECK_INT(e->link_width, x->width);
		CHECK_STR(e->via, x->via);
		CHECK_STR(flag_on(e->flags, IBV_DMA_EP_FLAG_DEFAULT),
			  flag_on(x->flags, IBV_DMA_EP_FLAG_DEFAULT));
		CHECK_STR(flag_on(e->flags, IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR),
			  flag_on(x->flags, IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR));
		CHECK_STR(flag_on(e->flags, IBV_DMA_EP_FLAG_KERNEL_LISTED),
			  flag_on(x->flags, IBV_DMA_EP_FLAG_KERNEL_LISTED));
	}
}

/* Endpoints as the policy sees them; stock: only endpoint-0-style ones. */
static size_t policy_eps(const struct vext_ibdev *dev, bool stock,
			 struct vext_ep *out)
{
	size_t i;

	for (i = 0; i < dev->nr_eps; i++) {
		out[i] = dev->eps[i];
		if (stock && !(out[i].pub.flags & IBV_DMA_EP_FLAG_DEFAULT) &&
		    !(out[i].pub.flags & IBV_DMA_EP_FLAG_KERNEL_LISTED))
			out[i].pub.flags |= IBV_DMA_EP_FLAG_UNAVAILABLE;
	}
	return dev->nr_eps;
}

static int describe(const char *spec, struct ibv_dmabuf_info *src)
{
	memset(src, 0, sizeof(*src));
	return ibv_describe_dmabuf_source(spec, src);
}

static void paths(void)
{
	size_t i, k;

	for (i = 0; i < N(fx_paths); i++) {
		const struct fx_path *x = &fx_paths[i];
		struct vext_topo *t = topo(x->topo);
		struct ibv_dmabuf_info src;
		struct ibv_dma_choice c;
		struct vext_ep ep;
		bool found = false;

		CHECK_INT(describe(x->source, &src), 0);
		/*
		 * An endpoint of some device with that PCI function, or
		 * "virtual:DEV", the virtual endpoint of DEV.
		 */
		for (k = 0; k < t->nr_ibdevs && !found; k++) {
			size_t e;

			for (e = 0; e < t->ibdevs[k].nr_eps && !found; e++) {
				const struct ibv_dma_endpoint *p =
					&t->ibdevs[k].eps[e].pub;

				if (!strncmp(x->pci, "virtual:", 8) ?
					    p->kind == IBV_DMA_EP_VIRTUAL &&
						    !strcmp(p->ibdev, x->pci + 8) :
					    !strcmp(p->pci_addr, x->pci)) {
					ep = t->ibdevs[k].eps[e];
					found = true;
				}
			}
		}
		CHECK(found);
		if (!found) {
			fprintf(stderr, "  %s: no endpoint at %s\n", x->topo, x->pci);
			continue;
		}
		{
			size_t one = 1;

			CHECK_INT(vext_policy_rank(t, &src, NULL, &ep, 1, &c, &one),
				  0);
		}
		if (strcmp(ibv_dma_path_class_str(c.path_class), x->cls))
			fprintf(stderr, "  %s: %s -> %s\n", x->topo, x->source,
				x->pci);
		CHECK_STR(ibv_dma_path_class_str(c.path_class), x->cls);
	}
}

static void source_words(const struct ibv_dmabuf_info *src, char *buf,
			 size_t len)
{
	if (src->source == IBV_DMABUF_SOURCE_P2P)
		snprintf(buf, len, "P2P memory of %s (described)", src->provider);
	else
		snprintf(buf, len, "system memory on node %d (described)",
			 src->numa_node);
}

static void choices(void)
{
	size_t i;

	for (i = 0; i < N(fx_choices); i++) {
		const struct fx_choice *x = &fx_choices[i];
		struct vext_topo *t = topo(x->topo);
		const struct vext_ibdev *dev = vext_topo_ibdev(t, x->dev);
		struct vext_ep eps[VEXT_MAX_EPS];
		struct ibv_dma_choice c[VEXT_MAX_EPS];
		struct ibv_dmabuf_info src;
		char words[160], fact[96];
		size_t n, cap = VEXT_MAX_EPS;

		CHECK(dev != NULL);
		if (!dev)
			continue;
		CHECK_INT(describe(x->source, &src), 0);
		n = policy_eps(dev, x->stock, eps);
		CHECK_INT(vext_policy_rank(t, &src, NULL, eps, n, c, &cap), 0);
		if (c[0].ep.index != x->endpoint)
			fprintf(stderr, "  %s %s %s%s: %s\n", x->topo, x->dev,
				x->source, x->stock ? " (stock)" : "",
				c[0].reason);
		CHECK_INT(c[0].ep.index, x->endpoint);
		CHECK_STR(c[0].ep.pci_addr, x->pci);
		CHECK_STR(ibv_dma_path_class_str(c[0].path_class), x->cls);
		CHECK_INT(vext_choice_check(&c[0]),
			  c[0].flags & IBV_DMA_CHOICE_UNREACHABLE ? EXDEV : 0);
		/* The explanation's key facts. */
		snprintf(fact, sizeof(fact), "chose endpoint %u (", x->endpoint);
		CHECK_HAS(c[0].reason, fact);
		if (x->pci[0])
			CHECK_HAS(c[0].reason, x->pci);
		source_words(&src, words, sizeof(words));
		CHECK_HAS(c[0].reason, words);
		snprintf(fact, sizeof(fact), ": %s (", x->cls);
		CHECK_HAS(c[0].reason, fact);
		if (c[0].numa_distance >= 0) {
			snprintf(fact, sizeof(fact), "NUMA distance %d",
				 c[0].numa_distance);
			CHECK_HAS(c[0].reason, fact);
		}
		if (n > 1)
			CHECK_HAS(c[0].reason, "; endpoint ");
	}
}

static bool in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return true;
	return false;
}

static size_t rank_devices(struct vext_topo *t, const struct ibv_dmabuf_info *src,
			   bool stock, uint64_t key, struct ibv_dma_choice *best)
{
	size_t k, n = 0;

	for (k = 0; k < t->nr_ibdevs; k++) {
		struct vext_ep eps[VEXT_MAX_EPS];
		size_t ne = policy_eps(&t->ibdevs[k], stock, eps), one = 1;

		if (!ne)
			continue;
		if (!vext_policy_rank(t, src, NULL, eps, ne, &best[n], &one))
			n++;
	}
	vext_policy_rank_devices(best, n, key);
	return n;
}

static void device_ranking(void)
{
	size_t i;

	for (i = 0; i < N(fx_best); i++) {
		const struct fx_best *x = &fx_best[i];
		struct vext_topo *t = topo(x->topo);
		struct ibv_dma_choice best[64];
		struct ibv_dmabuf_info src;
		size_t n, k, npref = 0;
		uint64_t key;
		int seen[24] = { 0 };

		CHECK_INT(describe(x->source, &src), 0);
		while (x->preferred[npref])
			npref++;
		/* Every key lands on a preferred device; all of them get used. */
		for (key = 0; key < 2 * npref; key++) {
			n = rank_devices(t, &src, x->stock, key, best);
			CHECK(n > 0);
			if (!in_list(x->preferred, best[0].ep.ibdev))
				fprintf(stderr, "  %s %s%s: got %s\n", x->topo,
					x->source, x->stock ? " (stock)" : "",
					best[0].ep.ibdev);
			CHECK(in_list(x->preferred, best[0].ep.ibdev));
			CHECK_STR(ibv_dma_path_class_str(best[0].path_class),
				  x->cls);
			for (k = 0; k < npref; k++)
				if (!strcmp(x->preferred[k], best[0].ep.ibdev))
					seen[k] = 1;
			/* The preferred devices head the ranking. */
			for (k = 0; k < npref && k < n; k++)
				CHECK(in_list(x->preferred, best[k].ep.ibdev));
			/* Devices of the best class follow before the rest. */
			for (k = npref; k < n; k++)
				if (in_list(x->devices, best[k].ep.ibdev))
					CHECK_STR(ibv_dma_path_class_str(best[k].path_class),
						  x->cls);
			CHECK_INT(!!(best[0].flags & IBV_DMA_CHOICE_TIED),
				  npref > 1);
		}
		for (k = 0; k < npref; k++)
			CHECK(seen[k]);
	}
}

static void broken_tree(void)
{
	struct vext_topo *t = topo("broken");
	struct ibv_dmabuf_info src;
	size_t i, k;

	for (i = 0; i < N(fx_skipped) && fx_skipped[i].topo; i++)
		CHECK(vext_topo_ibdev(t, fx_skipped[i].dev) == NULL);
	/* Every defect that concerns what is parsed eagerly is reported. */
	for (i = 0; i < N(fx_defects) && fx_defects[i].topo; i++) {
		const char *path = fx_defects[i].path;
		bool eager = !strncmp(path, "class/infiniband/", 17) ||
			     strstr(path, "numa_node") || strstr(path, "distance") ||
			     strstr(path, "/vpd");
		bool found = false;

		if (!eager)
			continue;
		for (k = 0; k < t->nr_notes; k++)
			if (!strncmp(t->notes[k], path, strlen(path)))
				found = true;
		if (!found)
			fprintf(stderr, "  broken: no note for %s\n", path);
		CHECK(found);
	}
	/* The public iterator sees the same notes. */
	for (k = 0; ibv_ext_sysfs_note(k); k++)
		;
	CHECK_INT(k, t->nr_notes);
	/* A provider link that climbs out of the tree is not followed. */
	CHECK_ERR(describe("p2p:0000:ff:00.0", &src), ENODEV);
}

int main(void)
{
	const char *fx = getenv("DMP_FIXTURES");

	if (!fx) {
		SKIP(all, "DMP_FIXTURES is not set (run through ctest)");
		return 77;
	}
	snprintf(fxdir, sizeof(fxdir), "%s", fx);
	RUN(distances);
	RUN(endpoints);
	RUN(paths);
	RUN(choices);
	RUN(device_ranking);
	RUN(broken_tree);
	return test_report();
}
