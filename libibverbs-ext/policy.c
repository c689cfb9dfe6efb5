// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The endpoint choice policy (DESIGN.md section 5): a pure function of the
 * topology, the source description, the endpoints and the hints. It ranks
 * endpoints by
 *   1. usable on this host now (kernel/provider can register through it),
 *   2. reachability (P2P memory must be reachable from the endpoint),
 *   3. path class memory -> endpoint (LOC < PIX < PXB < PHB < NODE < SYS),
 *   4. NUMA distance (CPU memory),
 *   5. PCIe link bandwidth,
 *   6. the default endpoint,
 * and spreads equal candidates by a key (the dma-buf inode by default).
 * Each entry gets its explanation in words.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

/* --- PCI path classes -------------------------------------------------- */

#define MAX_DEPTH 32

static int split_path(const char *path, char comp[][IBV_EXT_PCI_ADDR_LEN],
		      int max)
{
	/* "devices/pci0000:40/0000:40:00.0/..." -> host bridge, functions */
	const char *p = path;
	int n = 0;

	if (strncmp(p, "devices/", 8) == 0)
		p += 8;
	while (*p && n < max) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len >= IBV_EXT_PCI_ADDR_LEN)
			len = IBV_EXT_PCI_ADDR_LEN - 1;
		memcpy(comp[n], p, len);
		comp[n][len] = '\0';
		n++;
		if (!slash)
			break;
		p = slash + 1;
	}
	return n;
}

static int ep_node(const struct vext_topo *t, int node)
{
	/* Without NUMA information a single-node host has everything on 0. */
	if (node < 0 && t->nr_nodes <= 1)
		return 0;
	return node;
}

/*
 * Components: [0] host bridge "pciDDDD:BB", [1] root port (or an endpoint
 * integrated in the root complex), then switch ports in upstream/downstream
 * pairs: [2k] upstream and [2k+1] downstream port of switch level k-1,
 * the device last. A switch is touched by the route if one of its ports is.
 */
enum ibv_dma_path_class vext_pci_path_class(const struct vext_topo *t,
					    const struct vext_pci *a,
					    const struct vext_pci *b)
{
	char ca[MAX_DEPTH][IBV_EXT_PCI_ADDR_LEN], cb[MAX_DEPTH][IBV_EXT_PCI_ADDR_LEN];
	int na, nb, lca, i, switches;
	int na_node, nb_node;

	if (!a || !b)
		return IBV_DMA_PATH_CLASS_UNKNOWN;
	if (a == b || strcmp(a->addr, b->addr) == 0)
		return IBV_DMA_PATH_CLASS_LOC;

	na = split_path(a->path, ca, MAX_DEPTH);
	nb = split_path(b->path, cb, MAX_DEPTH);
	if (na < 2 || nb < 2 || strncmp(ca[0], "pci", 3) != 0 ||
	    strncmp(cb[0], "pci", 3) != 0)
		return IBV_DMA_PATH_CLASS_UNKNOWN;

	if (strcmp(ca[0], cb[0]) != 0) {
		na_node = ep_node(t, a->numa_node);
		nb_node = ep_node(t, b->numa_node);
		if (na_node < 0 || nb_node < 0)
			return IBV_DMA_PATH_CLASS_UNKNOWN;
		return na_node == nb_node ? IBV_DMA_PATH_CLASS_NODE :
					    IBV_DMA_PATH_CLASS_SYS;
	}

	/* Index of the lowest common component. */
	lca = 0;
	while (lca + 1 < na && lca + 1 < nb && strcmp(ca[lca + 1], cb[lca + 1]) == 0)
		lca++;
	/* Common ancestor is the host bridge: through the root complex. */
	if (lca == 0)
		return IBV_DMA_PATH_CLASS_PHB;
	/* Functions of one device on a root port turn around there. */
	if (lca == 1)
		return IBV_DMA_PATH_CLASS_PIX;

	/*
	 * Count switches: the common one (holding the lca port) plus each
	 * further switch level crossed below it on either side.
	 */
	switches = 1;
	for (i = lca + 1; i < na - 1; i++) {
		/* ports at index i belong to switch level (i - 2) / 2 */
		if ((i - 2) / 2 != (lca - 2) / 2 && i % 2 == 0)
			switches++;
	}
	for (i = lca + 1; i < nb - 1; i++) {
		if ((i - 2) / 2 != (lca - 2) / 2 && i % 2 == 0)
			switches++;
	}
	return switches == 1 ? IBV_DMA_PATH_CLASS_PIX : IBV_DMA_PATH_CLASS_PXB;
}

/* --- scoring ------------------------------------------------------------ */

/* SLIT distances are at most 255: an unknown one ranks after all. */
#define DIST_UNKNOWN 1000

static int cmp_score(const struct vext_score *a, const struct vext_score *b)
{
	if (a->usable != b->usable)
		return b->usable - a->usable;
	if (a->reach != b->reach)
		return b->reach - a->reach;
	if (a->cls != b->cls)
		return a->cls - b->cls;
	if (a->dist != b->dist)
		return a->dist - b->dist;
	if (a->bw != b->bw)
		return a->bw > b->bw ? -1 : 1;
	if (a->is_default != b->is_default)
		return b->is_default - a->is_default;
	return 0;
}

static void build_src(const struct vext_topo *t,
		      const struct ibv_dmabuf_info *src,
		      const struct ibv_dma_path_hints *h,
		      struct vext_src_view *v, uint32_t *flags)
{
	bool has_p2p, has_cpu, has_priv;

	memset(v, 0, sizeof(*v));
	v->node = -1;
	v->src = src;

	if (h->policy == IBV_DMA_PATH_NUMA) {
		v->kind = VEXT_SRC_CPU;
		v->node = h->numa_node;
		v->story = VEXT_STORY_STEERED;
		*flags |= IBV_DMA_CHOICE_HINT_USED;
		return;
	}
	/* Memory of a kind this library does not know is not guessed at. */
	if (!src || src->source == IBV_DMABUF_SOURCE_UNKNOWN)
		goto unknown;

	has_p2p = src->types & (1u << IBV_DMABUF_SOURCE_P2P) ||
		  src->source == IBV_DMABUF_SOURCE_P2P;
	has_cpu = src->types & (1u << IBV_DMABUF_SOURCE_SYSTEM) ||
		  src->source == IBV_DMABUF_SOURCE_SYSTEM;
	has_priv = src->types & (1u << IBV_DMABUF_SOURCE_PRIVATE) ||
		   src->source == IBV_DMABUF_SOURCE_PRIVATE;

	if (has_priv) {
		v->kind = VEXT_SRC_PRIVATE;
		v->story = VEXT_STORY_PRIVATE;
		return;
	}
	if (has_p2p) {
		/* A mixed buffer is only safe where its P2P part is. */
		v->kind = VEXT_SRC_P2P;
		v->prov = src->provider[0] ?
			vext_topo_pci((struct vext_topo *)t, src->provider) :
			NULL;
		v->story = has_cpu ? VEXT_STORY_MIXED_P2P : VEXT_STORY_P2P;
		return;
	}
	if (has_cpu) {
		v->kind = VEXT_SRC_CPU;
		v->node = src->numa_node;
		if (v->node < 0 && t->nr_nodes <= 1)
			v->node = 0;
		if (v->node >= 0) {
			v->story = VEXT_STORY_SYSTEM;
			return;
		}
		if (h->comp_mask & IBV_DMA_PATH_HINTS_NUMA_NODE) {
			v->node = h->numa_node;
			v->story = VEXT_STORY_SYSTEM_HINT;
			*flags |= IBV_DMA_CHOICE_HINT_USED;
			return;
		}
		v->kind = VEXT_SRC_NONE;
		v->story = VEXT_STORY_SYSTEM_NODE_UNKNOWN;
		return;
	}
unknown:
	if (h->comp_mask & IBV_DMA_PATH_HINTS_NUMA_NODE) {
		v->kind = VEXT_SRC_CPU;
		v->node = h->numa_node;
		v->story = VEXT_STORY_UNKNOWN_HINT;
		*flags |= IBV_DMA_CHOICE_HINT_USED;
		return;
	}
	v->kind = VEXT_SRC_NONE;
	v->story = VEXT_STORY_UNKNOWN;
}

static void score_ep(const struct vext_topo *t, const struct vext_src_view *v,
		     const struct vext_ep *ep, struct vext_score *s,
		     struct ibv_dma_choice *c)
{
	int node = ep_node(t, ep->pub.numa_node);

	memset(s, 0, sizeof(*s));
	s->usable = !(ep->pub.flags & IBV_DMA_EP_FLAG_UNAVAILABLE);
	s->assumed = ep->pub.flags & IBV_DMA_EP_FLAG_ASSUMED ?
			     ep->pub.assumed : NULL;
	s->here = ep->here;
	s->index = ep->pub.index;
	s->is_default = !!(ep->pub.flags & IBV_DMA_EP_FLAG_DEFAULT);
	s->bw = (uint64_t)ep->pub.link_speed * ep->pub.link_width;
	s->dist = 0;
	s->reach = 2;
	s->cls = IBV_DMA_PATH_CLASS_UNKNOWN;

	c->numa_distance = -1;
	c->flags = 0;
	switch (v->kind) {
	case VEXT_SRC_CPU:
		if (node < 0) {
			s->cls = IBV_DMA_PATH_CLASS_UNKNOWN;
			s->dist = DIST_UNKNOWN;
		} else {
			s->cls = node == v->node ? IBV_DMA_PATH_CLASS_PHB :
						   IBV_DMA_PATH_CLASS_SYS;
			s->dist = vext_topo_distance(t, v->node, node);
			c->numa_distance = s->dist;
		}
		break;
	case VEXT_SRC_P2P:
		/*
		 * Through PCIe switches only, P2P always works. Through host
		 * bridges (PHB, NODE, SYS) it is the kernel's p2pdma whitelist
		 * that decides; userspace cannot know, so such endpoints rank
		 * after, and the kernel refuses what it cannot map. Without a
		 * PCI function on either side it cannot work at all.
		 */
		s->cls = vext_pci_path_class(t, v->prov, ep->pci);
		if (s->cls <= IBV_DMA_PATH_CLASS_PXB) {
			s->reach = 2;
		} else if (s->cls <= IBV_DMA_PATH_CLASS_SYS) {
			s->reach = 1;
			c->flags |= IBV_DMA_CHOICE_P2P_HOST_BRIDGE;
		} else {
			s->reach = 0;
			c->flags |= IBV_DMA_CHOICE_UNREACHABLE;
		}
		/* Between SYS endpoints, the nearer node (AMD NPS modes). */
		if (v->prov && ep->pci) {
			int d = vext_topo_distance(t, ep_node(t, v->prov->numa_node),
						   node);

			s->dist = d < 0 ? DIST_UNKNOWN : d;
			c->numa_distance = d;
		}
		break;
	case VEXT_SRC_PRIVATE:
		s->reach = 0;
		c->flags |= IBV_DMA_CHOICE_UNREACHABLE;
		break;
	case VEXT_SRC_NONE:
		break;
	}
	c->path_class = s->cls;
	c->ep = ep->pub;
}

struct ranked {
	struct vext_score s;
	struct ibv_dma_choice c;
};

static int cmp_ranked(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;
	int r = cmp_score(&a->s, &b->s);

	if (r)
		return r;
	return a->s.index < b->s.index ? -1 : a->s.index > b->s.index;
}

int vext_validate_hints(const struct ibv_dma_path_hints *h)
{
	const uint32_t known = IBV_DMA_PATH_HINTS_NUMA_NODE |
			       IBV_DMA_PATH_HINTS_SPREAD_KEY;

	if (h->comp_mask & ~known)
		return vext_err(EOPNOTSUPP,
				"path hints: unknown comp_mask bits 0x%x",
				h->comp_mask & ~known);
	if (h->policy > IBV_DMA_PATH_ENDPOINT)
		return vext_err(EINVAL, "path hints: unknown policy %u",
				h->policy);
	return 0;
}

static int check_node(const struct vext_topo *t, int node, const char *what)
{
	if (node < 0 || node >= t->max_node || !t->node_online[node])
		return vext_err(ENODEV, "%s: NUMA node %d is not online", what,
				node);
	return 0;
}

static int policy_rank(const struct vext_topo *t,
		       const struct ibv_dmabuf_info *src,
		       const struct ibv_dma_path_hints *hints,
		       const struct vext_ep *eps, size_t nr_eps,
		       struct ibv_dma_choice *out, size_t *nr_out, bool words)
{
	static const struct ibv_dma_path_hints auto_hints;
	const struct ibv_dma_path_hints *h = hints ? hints : &auto_hints;
	struct ranked *r;
	struct vext_src_view v;
	uint32_t src_flags = 0, choice_flags = 0;
	uint64_t key;
	size_t i, first = 0, ties = 1, cap = *nr_out;
	int ret;

	if (!nr_eps || nr_eps > VEXT_MAX_EPS)
		return vext_err(ENODEV, "device has no DMA endpoint");
	ret = vext_validate_hints(h);
	if (ret)
		return ret;
	if (h->policy == IBV_DMA_PATH_NUMA ||
	    h->comp_mask & IBV_DMA_PATH_HINTS_NUMA_NODE) {
		ret = check_node(t, h->numa_node, "path hint");
		if (ret)
			return ret;
	}
	if (h->policy == IBV_DMA_PATH_ENDPOINT) {
		for (i = 0; i < nr_eps; i++)
			if (eps[i].pub.index == h->endpoint)
				break;
		if (i == nr_eps)
			return vext_err(ENOENT,
					"endpoint %u does not exist (%s has %zu)",
					h->endpoint, eps[0].pub.ibdev, nr_eps);
	}

	build_src(t, src, h, &v, &src_flags);
	if (words)
		vext_reason_source(&v);

	/* On the heap: a library call keeps its stack small. */
	r = calloc(nr_eps, sizeof(*r));
	if (!r)
		return vext_err(ENOMEM, "out of memory");
	for (i = 0; i < nr_eps; i++) {
		memset(&r[i].c, 0, sizeof(r[i].c));
		score_ep(t, &v, &eps[i], &r[i].s, &r[i].c);
	}
	qsort(r, nr_eps, sizeof(r[0]), cmp_ranked);

	/* Policy overrides of the head of the ranking. */
	switch (h->policy) {
	case IBV_DMA_PATH_DEFAULT:
		for (i = 0; i < nr_eps; i++)
			if (r[i].s.is_default)
				break;
		first = i < nr_eps ? i : 0;
		break;
	case IBV_DMA_PATH_ENDPOINT:
		for (i = 0; i < nr_eps; i++)
			if (r[i].s.index == h->endpoint)
				break;
		first = i;
		if (!r[first].s.usable) {
			ret = vext_err(EOPNOTSUPP,
				       "endpoint %u of %s cannot be used on this host (%s)",
				       h->endpoint, r[first].c.ep.ibdev,
				       r[first].c.ep.flags &
						       IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR ?
					       "the kernel has no endpoint attribute" :
					       "the provider library lacks the entry point");
			goto out;
		}
		if (!r[first].s.reach) {
			ret = vext_err(EXDEV,
				       "endpoint %u of %s cannot reach %s",
				       h->endpoint, r[first].c.ep.ibdev,
				       v.words);
			goto out;
		}
		break;
	default:
		if (v.kind == VEXT_SRC_NONE) {
			for (i = 0; i < nr_eps; i++)
				if (r[i].s.is_default)
					break;
			first = i < nr_eps ? i : 0;
			choice_flags |= IBV_DMA_CHOICE_FALLBACK;
			break;
		}
		/* Unreachable or unusable heads are the caller's to refuse. */
		if (!r[0].s.reach || !r[0].s.usable)
			break;
		/* Spread equal candidates. */
		while (ties < nr_eps && !cmp_score(&r[0].s, &r[ties].s))
			ties++;
		if (ties > 1) {
			key = (h->comp_mask & IBV_DMA_PATH_HINTS_SPREAD_KEY) ?
				      h->spread_key : (src ? src->inode : 0);
			first = key % ties;
			choice_flags |= IBV_DMA_CHOICE_TIED;
		}
		break;
	}
	if (first) {
		struct ranked tmp = r[first];

		memmove(&r[1], &r[0], first * sizeof(r[0]));
		r[0] = tmp;
	}

	for (i = 0; i < nr_eps && i < cap; i++) {
		const char *lead = i ? "ranked " : "chose ";
		bool has_runner = i == 0 && nr_eps > 1;

		out[i] = r[i].c;
		out[i].flags |= src_flags;
		if (i == 0)
			out[i].flags |= choice_flags;
		if (i == 0 && h->policy == IBV_DMA_PATH_DEFAULT)
			lead = "default policy: chose ";
		else if (i == 0 && h->policy == IBV_DMA_PATH_ENDPOINT)
			lead = "explicit request: chose ";
		else if (i == 0 && (choice_flags & IBV_DMA_CHOICE_TIED))
			lead = "tie spread by key: chose ";
		if (words)
			vext_reason_explain(&v, &out[i], &r[i].s, lead,
					    has_runner ? &r[1].c : NULL, &r[1].s);
		else
			out[i].reason[0] = '\0';
	}
	*nr_out = nr_eps;
out:
	free(r);
	return ret;
}

int vext_policy_rank(const struct vext_topo *t,
		     const struct ibv_dmabuf_info *src,
		     const struct ibv_dma_path_hints *hints,
		     const struct vext_ep *eps, size_t nr_eps,
		     struct ibv_dma_choice *out, size_t *nr_out)
{
	return policy_rank(t, src, hints, eps, nr_eps, out, nr_out, true);
}

int vext_policy_rank_unexplained(const struct vext_topo *t,
				 const struct ibv_dmabuf_info *src,
				 const struct ibv_dma_path_hints *hints,
				 const struct vext_ep *eps, size_t nr_eps,
				 struct ibv_dma_choice *out, size_t *nr_out)
{
	return policy_rank(t, src, hints, eps, nr_eps, out, nr_out, false);
}

static void score_of_choice(const struct ibv_dma_choice *c, struct vext_score *s)
{
	memset(s, 0, sizeof(*s));
	s->usable = !(c->ep.flags & IBV_DMA_EP_FLAG_UNAVAILABLE);
	s->reach = c->flags & IBV_DMA_CHOICE_UNREACHABLE ? 0 :
		   c->flags & IBV_DMA_CHOICE_P2P_HOST_BRIDGE ? 1 : 2;
	s->cls = (int)c->path_class;
	/* Unknown ranks last, as in score_ep(). */
	s->dist = c->numa_distance < 0 ? DIST_UNKNOWN : c->numa_distance;
	s->bw = (uint64_t)c->ep.link_speed * c->ep.link_width;
	s->is_default = !!(c->ep.flags & IBV_DMA_EP_FLAG_DEFAULT);
}

int vext_choice_check(const struct ibv_dma_choice *c)
{
	if (c->flags & IBV_DMA_CHOICE_UNREACHABLE)
		return vext_err(EXDEV, "no endpoint of %s can reach the memory: %s",
				c->ep.ibdev, c->reason);
	if (c->ep.flags & IBV_DMA_EP_FLAG_UNAVAILABLE)
		return vext_err(EOPNOTSUPP,
				"no endpoint of %s is usable on this host: %s",
				c->ep.ibdev, c->reason);
	return 0;
}

static int cmp_choice(const void *pa, const void *pb)
{
	const struct ibv_dma_choice *a = pa, *b = pb;
	struct vext_score sa, sb;
	int r;

	score_of_choice(a, &sa);
	score_of_choice(b, &sb);
	r = cmp_score(&sa, &sb);
	return r ? r : strcmp(a->ep.ibdev, b->ep.ibdev);
}

void vext_policy_rank_devices(struct ibv_dma_choice *best, size_t n,
			      uint64_t key)
{
	struct vext_score s0, si;
	size_t ties = 1;

	qsort(best, n, sizeof(*best), cmp_choice);
	if (n < 2)
		return;
	score_of_choice(&best[0], &s0);
	if (!s0.reach || !s0.usable ||
	    (best[0].flags & IBV_DMA_CHOICE_FALLBACK))
		return;
	while (ties < n) {
		score_of_choice(&best[ties], &si);
		if (cmp_score(&s0, &si))
			break;
		ties++;
	}
	if (ties > 1 && key % ties) {
		struct ibv_dma_choice tmp = best[key % ties];

		memmove(&best[1], &best[0], (key % ties) * sizeof(*best));
		best[0] = tmp;
	}
	if (ties > 1)
		best[0].flags |= IBV_DMA_CHOICE_TIED;
}
