// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The libibverbs this process runs with, as far as dma-buf registration
 * cares. The library builds against the distro's rdma-core (Debian 12: v44)
 * and may run with a newer one:
 *
 *  - rdma-core with this project's series (rdma-core-patches/) exports
 *    _ibv_query_dma_eps@IBVERBS_1.19. Its ibv_reg_mr_ex() carries the DMA
 *    endpoint (IBV_REG_MR_MASK_DMA_EP) and its rxe and siw providers
 *    register dma-bufs themselves, so every MR is the provider's own.
 *    Only that symbol tells: an unpatched v65 has ibv_reg_mr_ex too, but
 *    refuses the endpoint bit (or, before the series' 0005, drops it).
 *  - Its version, from the file name rdma-core's build gives the library
 *    (libibverbs.so.1.<ABI>.<rdma-core version>, e.g. 1.14.44.0). The MR
 *    that uverbs.c builds by hand copies libibverbs' private struct
 *    verbs_mr; it is made only for the versions whose layout the lab tests
 *    ran against (VEXT_VERBS_MR_FIRST..LAST), and refused elsewhere.
 *
 * Found once per process; libibverbs is already loaded (it is linked).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

#define SONAME_PREFIX "libibverbs.so.1."

static struct vext_ibverbs ibverbs;
static pthread_once_t ibverbs_once = PTHREAD_ONCE_INIT;

int vext_ibverbs_version(const char *path, unsigned int *major,
			 unsigned int *minor)
{
	const char *base = strrchr(path, '/');
	unsigned int abi, maj, min;
	int end = 0;

	base = base ? base + 1 : path;
	if (strncmp(base, SONAME_PREFIX, strlen(SONAME_PREFIX)))
		return EINVAL;
	base += strlen(SONAME_PREFIX);
	/* "<abi>.<major>.<minor>", digits only, nothing after. */
	if (strspn(base, "0123456789.") != strlen(base) ||
	    sscanf(base, "%u.%u.%u%n", &abi, &maj, &min, &end) != 3 ||
	    base[end])
		return EINVAL;
	*major = maj;
	*minor = min;
	return 0;
}

static void find_ibverbs(void)
{
	struct vext_ibverbs *v = &ibverbs;
	char *real = NULL;
	Dl_info info;
	void *h;

	/* The libibverbs our own reference to it resolved to. */
	if (!dladdr((void *)&ibv_reg_dmabuf_mr, &info) || !info.dli_fname)
		return;
	real = realpath(info.dli_fname, NULL);
	vext_strscpy(v->path, real ? real : info.dli_fname, sizeof(v->path));
	free(real);
	if (vext_ibverbs_version(v->path, &v->major, &v->minor))
		v->major = v->minor = 0;

	h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return;
	if (dlvsym(h, "_ibv_query_dma_eps", "IBVERBS_1.19"))
		v->reg_mr_ex = (vext_reg_mr_ex_fn)dlvsym(h, "ibv_reg_mr_ex",
							 "IBVERBS_1.15");
	/* NOLOAD took a reference only: the library stays, we link it. */
	dlclose(h);
}

const struct vext_ibverbs *vext_ibverbs(void)
{
	pthread_once(&ibverbs_once, find_ibverbs);
	return &ibverbs;
}

int vext_verbs_mr_allowed(const struct vext_ibverbs *v, const char *devname)
{
	if (!v->major)
		return vext_err(EOPNOTSUPP,
				"%s: the provider has no dma-buf MR op, and the version of %s is unknown, so the library will not build libibverbs' private MR struct for it",
				devname, v->path[0] ? v->path : "libibverbs");
	if (v->major < VEXT_VERBS_MR_FIRST || v->major > VEXT_VERBS_MR_LAST)
		return vext_err(EOPNOTSUPP,
				"%s: the provider has no dma-buf MR op, and rdma-core %u.%u is outside %u..%u, whose private MR struct the library was tested against",
				devname, v->major, v->minor,
				VEXT_VERBS_MR_FIRST, VEXT_VERBS_MR_LAST);
	return 0;
}
