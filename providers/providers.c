// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The provider backends, one table as rdma-core's providers: each device
 * goes to the first whose match() takes it (generic, last, takes all).
 */
#include "../libibverbs-ext/ext_internal.h"

static const struct vext_provider *const providers[] = {
	&vext_provider_mlx5,
	&vext_provider_soft,
	&vext_provider_generic,
};

const struct vext_provider *vext_provider_match(struct vext_topo *t,
						struct vext_ibdev *dev,
						const char *devpath,
						bool has_device)
{
	size_t i;

	for (i = 0; i + 1 < VEXT_ARRAY_SIZE(providers); i++)
		if (providers[i]->match(t, dev, devpath, has_device))
			return providers[i];
	providers[i]->match(t, dev, devpath, has_device);
	return providers[i];
}
