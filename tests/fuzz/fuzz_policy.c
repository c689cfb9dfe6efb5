// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libFuzzer: the choice policy on a real topology (a fixture tree, from
 * $DMP_FUZZ_SYSFS, default the DGX-H100-like one) with fuzzed source
 * descriptions, hints and endpoint flags. Invariants: documented errnos
 * only; on success the head is one of the endpoints, every entry has a
 * reason, an explicit endpoint is honoured, and ranking is a permutation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vext_topo *topo;

static struct vext_topo *get_topo(void)
{
	const char *root = getenv("DMP_FUZZ_SYSFS");

	if (!topo)
		topo = vext_topo_get_root(root ? root : "build/fixtures/dgx-h100");
	if (!topo)
		abort();
	return topo;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vext_topo *t = get_topo();
	struct ibv_dmabuf_info src;
	struct ibv_dma_path_hints h;
	struct ibv_dma_choice out[VEXT_MAX_EPS];
	struct vext_ep eps[VEXT_MAX_EPS];
	const struct vext_ibdev *dev;
	size_t n, cap, i, k;
	int ret;

	if (size < sizeof(src) + sizeof(h) + 2 || !t->nr_ibdevs)
		return 0;
	memcpy(&src, data, sizeof(src));
	memcpy(&h, data + sizeof(src), sizeof(h));
	src.provider[sizeof(src.provider) - 1] = '\0';
	src.exporter[sizeof(src.exporter) - 1] = '\0';
	/* Half the time, a provider that exists. */
	if (data[size - 1] & 1)
		snprintf(src.provider, sizeof(src.provider), "%s",
			 t->ibdevs[data[size - 2] % t->nr_ibdevs].eps[0].pub.pci_addr);
	dev = &t->ibdevs[data[size - 2] % t->nr_ibdevs];
	n = dev->nr_eps;
	for (i = 0; i < n; i++) {
		eps[i] = dev->eps[i];
		if (data[size - 1] & (2 << i % 7))
			eps[i].pub.flags |= IBV_DMA_EP_FLAG_UNAVAILABLE;
	}
	cap = (data[size - 1] >> 4) % (n + 1);
	ret = vext_policy_rank(t, &src, &h, eps, n, out, &cap);
	if (ret) {
		if (ret != EINVAL && ret != EOPNOTSUPP && ret != ENODEV &&
		    ret != ENOENT && ret != EXDEV)
			abort();
		return 0;
	}
	if (cap != n)
		abort();
	k = (data[size - 1] >> 4) % (n + 1);
	for (i = 0; i < k; i++) {
		if (!out[i].reason[0] || out[i].ep.index >= VEXT_MAX_EPS)
			abort();
	}
	if (k && h.policy == IBV_DMA_PATH_ENDPOINT &&
	    out[0].ep.index != h.endpoint)
		abort();
	/* A full ranking holds each endpoint exactly once. */
	if (k == n) {
		unsigned int seen = 0;

		for (i = 0; i < n; i++)
			seen |= 1u << out[i].ep.index;
		if (seen != (n == 32 ? ~0u : (1u << n) - 1))
			abort();
	}
	return 0;
}
