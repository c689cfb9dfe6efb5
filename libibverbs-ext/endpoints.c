// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The endpoint calls: list a device's DMA endpoints, choose one for a
 * source, rank devices, for a device named by its name or its ibv_device
 * (and, with a context of it, what only the provider library can tell).
 * The topology is the cached one of the configured sysfs root, read again
 * when the machine's devices change; availability (can this host register
 * through an endpoint now) is asked of the provider backend at call time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

static int vext_endpoint_available(const struct vext_ibdev *dev,
			    const struct vext_ep *ep, bool remote,
			    const char **assumed, const char **here)
{
	const struct vext_provider *prov = dev->prov;

	if ((ep->pub.flags & IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR) &&
	    !dev->kernel_eps)
		return vext_err(EOPNOTSUPP,
				"%s endpoint %u: this kernel has no DMA endpoint attribute for REG_DMABUF_MR",
				dev->name, ep->pub.index);
	if (ep->kernel_unmappable)
		return vext_err(EOPNOTSUPP,
				"%s endpoint %u: the kernel lists it but cannot map memory through it",
				dev->name, ep->pub.index);
	*assumed = NULL;
	*here = NULL;
	return prov->available ?
		       prov->available(dev, ep, remote, assumed, here) : 0;
}

struct vext_ep *vext_current_eps(struct vext_topo *t,
				 const struct vext_ibdev *dev,
				 struct ibv_context *ctx, size_t *nr,
				 size_t *usable)
{
	const struct vext_provider *prov = dev->prov;
	struct vext_ep *eps = calloc(VEXT_MAX_EPS, sizeof(*eps));
	bool remote = vext_topo_remote(t, ctx);
	size_t i, n = 0;

	if (!eps) {
		errno = vext_err(ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(eps, dev->eps, dev->nr_eps * sizeof(*eps));
	*nr = dev->nr_eps;
	if (ctx && prov->ctx_endpoints)
		prov->ctx_endpoints(t, dev, ctx, eps, nr);
	for (i = 0; i < *nr; i++) {
		const char *assumed;

		if (vext_endpoint_available(dev, &eps[i], remote, &assumed,
					    &eps[i].here))
			eps[i].pub.flags |= IBV_DMA_EP_FLAG_UNAVAILABLE;
		else
			n++;
		if (assumed) {
			eps[i].pub.flags |= IBV_DMA_EP_FLAG_ASSUMED;
			vext_strscpy(eps[i].pub.assumed, assumed,
				     sizeof(eps[i].pub.assumed));
		}
	}
	vext_clear_err();
	if (usable)
		*usable = n;
	return eps;
}

/*
 * Outputs are arrays of the caller's element size (the sizeof its header
 * saw): each element gets min(that, ours) bytes of ours and zeros after.
 */
void vext_put_elem(void *arr, size_t i, size_t size, const void *ours,
		   size_t our_size)
{
	char *dst = (char *)arr + i * size;

	memcpy(dst, ours, size < our_size ? size : our_size);
	if (size > our_size)
		memset(dst + our_size, 0, size - our_size);
}

static int check_out(const void *arr, const size_t *num, size_t size,
		     size_t min_size, const char *what)
{
	if (!num || (!arr && *num))
		return vext_err(EINVAL, "%s or its count is NULL", what);
	if (size < min_size)
		return vext_err(EINVAL,
				"%s: element size %zu is smaller than any version of the struct (%zu)",
				what, size, min_size);
	return 0;
}

static int vext_query_eps(const struct vext_dev_key *key, struct ibv_context *ctx,
		   void *eps, size_t *num, size_t ep_size)
{
	const struct vext_ibdev *dev;
	struct vext_topo *t;
	struct vext_ep *cur;
	size_t i, cap, n;
	int ret;

	ret = check_out(eps, num, ep_size, VEXT_EP_SIZE_MIN, "eps");
	if (ret)
		return ret;
	ret = vext_dev_get(key, &t, &dev);
	if (ret)
		return ret;
	cap = *num;
	cur = vext_current_eps(t, dev, ctx, &n, NULL);
	if (!cur) {
		ret = errno;
		goto out;
	}
	for (i = 0; i < n && i < cap; i++)
		vext_put_elem(eps, i, ep_size, &cur[i].pub, sizeof(cur[i].pub));
	free(cur);
	*num = n;
	if (cap < n)
		ret = vext_err(ENOSPC, "%s has %zu endpoints, room for %zu",
			       dev->name, n, cap);
out:
	vext_topo_put(t);
	return ret;
}

/* Every endpoint of one device ranked into out[*num] (capacity in). */
static int rank_dev(struct vext_topo *t, const struct vext_ibdev *dev,
		    struct ibv_context *ctx, const struct ibv_dmabuf_info *src,
		    const struct ibv_dma_path_hints *hints,
		    struct ibv_dma_choice *out, size_t *num)
{
	struct vext_ep *cur;
	size_t n;
	int ret;

	cur = vext_current_eps(t, dev, ctx, &n, NULL);
	if (!cur)
		return errno;
	ret = vext_policy_rank(t, src, hints, cur, n, out, num);
	free(cur);
	return ret;
}

static int vext_rank_eps(const struct vext_dev_key *key, struct ibv_context *ctx,
		  const struct ibv_dmabuf_info *source,
		  const struct ibv_dma_path_hints *hints, void *ranked,
		  size_t *num, size_t choice_size, bool select)
{
	struct ibv_dma_choice *all = NULL;
	const struct vext_ibdev *dev;
	struct vext_topo *t;
	size_t i, cap, n = VEXT_MAX_EPS;
	int ret;

	ret = check_out(ranked, num, choice_size, VEXT_CHOICE_SIZE_MIN,
			select ? "choice" : "ranked");
	if (ret)
		return ret;
	ret = vext_dev_get(key, &t, &dev);
	if (ret)
		return ret;
	all = calloc(VEXT_MAX_EPS, sizeof(*all));
	if (!all) {
		ret = vext_err(ENOMEM, "out of memory");
		goto out;
	}
	ret = rank_dev(t, dev, ctx, source, hints, all, &n);
	if (!ret && select)
		ret = vext_choice_check(&all[0]);
	if (ret)
		goto out;
	cap = *num;
	for (i = 0; i < n && i < cap; i++)
		vext_put_elem(ranked, i, choice_size, &all[i], sizeof(all[i]));
	*num = select ? 1 : n;
	if (!select && cap < n)
		ret = vext_err(ENOSPC, "%s has %zu endpoints, room for %zu",
			       dev->name, n, cap);
out:
	free(all);
	vext_topo_put(t);
	return ret;
}

/*
 * The devices of keys[nr_keys] (or every device of the tree), all from one
 * topology: read again once if one of them is missing from it. *devsp is
 * on the heap.
 */
static int devices_of(const struct vext_dev_key *keys, size_t nr_keys,
		      struct vext_topo **tp, const struct vext_ibdev ***devsp,
		      size_t *n)
{
	struct vext_topo *t = vext_topo_get();
	const struct vext_ibdev **devs = NULL;
	bool reloaded = false;
	size_t i;

	if (!t)
		return errno;
again:
	free(devs);
	devs = calloc(keys ? nr_keys : t->nr_ibdevs + 1, sizeof(*devs));
	if (!devs) {
		vext_topo_put(t);
		return vext_err(ENOMEM, "out of memory");
	}
	*n = 0;
	for (i = 0; keys && i < nr_keys; i++) {
		const struct vext_ibdev *dev = vext_topo_find(t, &keys[i]);

		if (!dev && !reloaded) {
			t = vext_topo_reload(t);
			if (!t) {
				free(devs);
				return errno;
			}
			reloaded = true;
			goto again;
		}
		if (!dev || !dev->nr_eps) {
			int err = dev ? vext_err(ENODEV, "%s has no DMA endpoint",
						 dev->name) :
					vext_err(ENODEV,
						 "no RDMA device %s in %s/class/infiniband",
						 vext_key_name(&keys[i]), t->root);

			free(devs);
			vext_topo_put(t);
			return err;
		}
		devs[(*n)++] = dev;
	}
	for (i = 0; !keys && i < t->nr_ibdevs; i++)
		if (t->ibdevs[i].nr_eps)
			devs[(*n)++] = &t->ibdevs[i];
	*tp = t;
	*devsp = devs;
	return 0;
}

static int vext_rank_devices(const struct vext_dev_key *keys, size_t nr_keys,
		      struct ibv_context *const *ctxs,
		      const struct ibv_dmabuf_info *source,
		      const struct ibv_dma_path_hints *hints, void *ranked,
		      size_t *num, size_t choice_size)
{
	const struct vext_ibdev **devs = NULL;
	struct ibv_dma_choice *best = NULL;
	struct vext_topo *t = NULL;
	size_t i, n = 0, cap;
	uint64_t key;
	int ret;

	ret = check_out(ranked, num, choice_size, VEXT_CHOICE_SIZE_MIN,
			"ranked");
	if (ret)
		return ret;
	if (keys && !nr_keys)
		return vext_err(EINVAL, "devices given but their count is 0");
	ret = devices_of(keys, nr_keys, &t, &devs, &n);
	if (ret)
		return ret;
	if (!n) {
		ret = vext_err(ENODEV, "no RDMA devices in %s/class/infiniband",
			       t->root);
		goto out;
	}
	best = calloc(n, sizeof(*best));
	if (!best) {
		ret = vext_err(ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t one = 1;

		ret = rank_dev(t, devs[i], ctxs ? ctxs[i] : NULL, source, hints,
			       &best[i], &one);
		if (ret)
			goto out;
	}
	key = hints && (hints->comp_mask & IBV_DMA_PATH_HINTS_SPREAD_KEY) ?
		      hints->spread_key :
		      (source ? source->inode : 0);
	vext_policy_rank_devices(best, n, key);

	cap = *num;
	for (i = 0; i < n && i < cap; i++)
		vext_put_elem(ranked, i, choice_size, &best[i], sizeof(best[i]));
	*num = n;
	if (cap < n)
		ret = vext_err(ENOSPC, "%zu devices, room for %zu", n, cap);
out:
	vext_topo_put(t);
	free(best);
	free(devs);
	return ret;
}

/* --- the calls, by name, by ibv_device, by ibv_context -------------------- */

static int name_key(const char *name, struct vext_dev_key *key)
{
	memset(key, 0, sizeof(*key));
	key->name = name;
	return name ? 0 : vext_err(EINVAL, "device name is NULL");
}

static int dev_key(struct ibv_device *device, struct vext_dev_key *key)
{
	memset(key, 0, sizeof(*key));
	key->device = device;
	return device ? 0 : vext_err(EINVAL, "device is NULL");
}

static int ctx_key(struct ibv_context *ctx, struct vext_dev_key *key)
{
	memset(key, 0, sizeof(*key));
	if (!ctx || !ctx->device)
		return vext_err(EINVAL, "context is NULL");
	key->device = ctx->device;
	return 0;
}

static int select_ep(const struct vext_dev_key *key, struct ibv_context *ctx,
		     const struct ibv_dmabuf_info *source,
		     const struct ibv_dma_path_hints *hints,
		     struct ibv_dma_choice *choice, size_t choice_size)
{
	size_t one = 1;

	return vext_rank_eps(key, ctx, source, hints, choice, &one, choice_size,
			     true);
}

static int rank_eps(const struct vext_dev_key *key, struct ibv_context *ctx,
		    const struct ibv_dmabuf_info *source,
		    const struct ibv_dma_path_hints *hints,
		    struct ibv_dma_choice *ranked, size_t *num,
		    size_t choice_size)
{
	return vext_rank_eps(key, ctx, source, hints, ranked, num, choice_size,
			     false);
}

/*
 * Each call names its device three ways: by name (what the CLI has), by
 * ibv_device, or by a context of it (through which the provider library
 * can add what sysfs cannot tell). KEYED() makes the three public calls
 * from one core taking the key and the context; PARAMS are the call's
 * other parameters, ARGS their names. Their prototypes are the header's.
 */
#define UNPAREN(...) __VA_ARGS__
#define KEYED(call, core, PARAMS, ARGS)                                      \
	int _ibv_##call(const char *ibdev_name, UNPAREN PARAMS)               \
	{                                                                     \
		struct vext_dev_key key;                                      \
		int ret = name_key(ibdev_name, &key);                         \
									      \
		return ret ? ret : core(&key, NULL, UNPAREN ARGS);            \
	}                                                                     \
	int _ibv_##call##_dev(struct ibv_device *device, UNPAREN PARAMS)      \
	{                                                                     \
		struct vext_dev_key key;                                      \
		int ret = dev_key(device, &key);                              \
									      \
		return ret ? ret : core(&key, NULL, UNPAREN ARGS);            \
	}                                                                     \
	int _ibv_##call##_ctx(struct ibv_context *context, UNPAREN PARAMS)    \
	{                                                                     \
		struct vext_dev_key key;                                      \
		int ret = ctx_key(context, &key);                             \
									      \
		return ret ? ret : core(&key, context, UNPAREN ARGS);         \
	}

KEYED(query_dma_endpoints, vext_query_eps,
      (struct ibv_dma_endpoint *eps, size_t *num_eps, size_t ep_size),
      (eps, num_eps, ep_size))

KEYED(select_dma_endpoint, select_ep,
      (const struct ibv_dmabuf_info *source,
       const struct ibv_dma_path_hints *hints, struct ibv_dma_choice *choice,
       size_t choice_size),
      (source, hints, choice, choice_size))

KEYED(rank_dma_endpoints, rank_eps,
      (const struct ibv_dmabuf_info *source,
       const struct ibv_dma_path_hints *hints, struct ibv_dma_choice *ranked,
       size_t *num, size_t choice_size),
      (source, hints, ranked, num, choice_size))

/*
 * Devices to rank, as keys: n of them (each made by one of the key
 * helpers from item i of the caller's array), or NULL for every device.
 */
static int rank_keyed(const char *what, const void *items, size_t n,
		      int (*make)(const void *items, size_t i,
				  struct vext_dev_key *key),
		      struct ibv_context *const *ctxs,
		      const struct ibv_dmabuf_info *source,
		      const struct ibv_dma_path_hints *hints,
		      struct ibv_dma_choice *ranked, size_t *num,
		      size_t choice_size)
{
	struct vext_dev_key *keys = NULL;
	size_t i;
	int ret;

	if (items && !n)
		return vext_err(EINVAL, "%ss given but num_%ss is 0", what, what);
	if (items) {
		keys = calloc(n, sizeof(*keys));
		if (!keys)
			return vext_err(ENOMEM, "out of memory");
		for (i = 0; i < n; i++) {
			ret = make(items, i, &keys[i]);
			if (ret) {
				free(keys);
				return ret;
			}
		}
	}
	ret = vext_rank_devices(keys, n, items ? ctxs : NULL, source, hints,
				ranked, num, choice_size);
	free(keys);
	return ret;
}

static int name_item(const void *items, size_t i, struct vext_dev_key *key)
{
	return name_key(((const char *const *)items)[i], key);
}

static int dev_item(const void *items, size_t i, struct vext_dev_key *key)
{
	return dev_key(((struct ibv_device *const *)items)[i], key);
}

static int ctx_item(const void *items, size_t i, struct vext_dev_key *key)
{
	return ctx_key(((struct ibv_context *const *)items)[i], key);
}

/*
 * The three device rankings: of names, of ibv_devices, of contexts (each
 * also giving the provider library a context). RANK_DEVICES() makes one
 * from the type of its array, what an item is, and how it becomes a key.
 */
#define RANK_DEVICES(suffix, type, what, item, ctxs)                          \
	int _ibv_rank_dmabuf_devices##suffix(                                 \
		type const *items, size_t nr_items,                           \
		const struct ibv_dmabuf_info *source,                         \
		const struct ibv_dma_path_hints *hints,                       \
		struct ibv_dma_choice *ranked, size_t *num,                   \
		size_t choice_size)                                           \
	{                                                                     \
		return rank_keyed(what, items, nr_items, item, ctxs, source,  \
				  hints, ranked, num, choice_size);            \
	}

RANK_DEVICES(, const char *, "name", name_item, NULL)
RANK_DEVICES(_dev, struct ibv_device *, "device", dev_item, NULL)
RANK_DEVICES(_ctx, struct ibv_context *, "context", ctx_item, items)
