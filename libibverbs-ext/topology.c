// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The topology of a sysfs tree: loaded from its parts (topo_numa.c,
 * topo_pci.c, topo_ibdev.c), cached per root, read again when the
 * machine's RDMA devices change, and the lookup of devices by name or
 * ibv_device. Immutable while it lives, except for PCI functions of P2P
 * providers, which are parsed on first use under the topology's lock.
 *
 * Nothing here trusts the tree: missing or malformed files are skipped and
 * noted (vext_topo_note), never fatal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "ext_internal.h"

struct vext_topo *vext_topo_load(const char *root)
{
	char *path, *sys_real;
	struct vext_topo *t;
	struct dirent *de;
	size_t i;
	DIR *d;

	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	atomic_init(&t->refs, 1);
	t->root = strdup(root);
	t->root_real = realpath(root, NULL);
	if (!t->root || !t->root_real) {
		int err = errno;

		vext_topo_free(t);
		errno = vext_err(err, "sysfs root %s: %s", root, strerror(err));
		return NULL;
	}
	sys_real = realpath("/sys", NULL);
	t->live = sys_real && !strcmp(sys_real, t->root_real);
	free(sys_real);
	vext_parse_nodes(t);

	path = vext_path(root, "class/infiniband");
	d = path ? opendir(path) : NULL;
	free(path);
	if (d) {
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				vext_parse_ibdev(t, de->d_name);
		closedir(d);
		if (t->nr_ibdevs > 1)
			qsort(t->ibdevs, t->nr_ibdevs, sizeof(*t->ibdevs),
			      vext_cmp_ibdev);
	}
	vext_parse_uverbs(t);
	vext_parse_data_direct(t);

	/* Endpoints need every device parsed (peer PFs). */
	for (i = 0; i < t->nr_ibdevs; i++) {
		struct vext_ibdev *dev = &t->ibdevs[i];

		if (!dev->kernel_eps)
			dev->prov->endpoints(t, dev);
	}
	return t;
}

void vext_topo_free(struct vext_topo *t)
{
	struct vext_pci *p, *next;
	size_t i;

	if (!t)
		return;
	for (p = t->pcis; p; p = next) {
		next = p->next;
		free(p->path);
		free(p);
	}
	for (i = 0; i < t->nr_notes; i++)
		free(t->notes[i]);
	free(t->ibdevs);
	free(t->root);
	free(t->root_real);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

const struct vext_ibdev *vext_topo_ibdev(const struct vext_topo *t,
					 const char *name)
{
	size_t i;

	for (i = 0; i < t->nr_ibdevs; i++)
		if (!strcmp(t->ibdevs[i].name, name))
			return &t->ibdevs[i];
	return NULL;
}

/* --- per-process cache ---------------------------------------------------- */

/*
 * The topology follows the machine: a use compares the listing of
 * class/infiniband (names and inode numbers: a device added, removed,
 * renamed or made again under an old name changes it; kernfs keeps no
 * directory mtime) with the one the cached topology was read under, and
 * reads sysfs again when it differs. Listing costs a few microseconds (a
 * cached choice takes less than one), so calls within VEXT_LISTING_NS of
 * the last listing trust it; a lookup that misses reads sysfs again at
 * once. Topologies are reference counted: a call in flight keeps the one it
 * started with.
 */
struct topo_cache {
	struct topo_cache *next;
	struct vext_topo *t;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct topo_cache *cache;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

static uint64_t vext_topo_listing(const char *root)
{
	/*
	 * kernfs never gives a new node an inode number it gave before; a
	 * tree on another file system (a fixture, a copy) may reuse one, so
	 * there each entry's change time counts too.
	 */
	bool kernfs = !strcmp(root, "/sys");
	uint64_t sig = 0, count = 0;
	struct dirent *de;
	char *path;
	DIR *d;

	path = vext_path(root, "class/infiniband");
	d = path ? opendir(path) : NULL;
	free(path);
	if (!d)
		return 0;
	/* Order-independent: a sum of one hash per entry. */
	while ((de = readdir(d))) {
		uint64_t h = 0xcbf29ce484222325ULL;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		h = fnv1a(h, de->d_name, strlen(de->d_name));
		h = fnv1a(h, &de->d_ino, sizeof(de->d_ino));
		if (!kernfs && !fstatat(dirfd(d), de->d_name, &st,
					AT_SYMLINK_NOFOLLOW))
			h = fnv1a(h, &st.st_ctim, sizeof(st.st_ctim));
		sig += h;
		count++;
	}
	closedir(d);
	return sig ^ count << 56 ^ 1;
}

static struct vext_topo *vext_topo_hold(struct vext_topo *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

void vext_topo_put(struct vext_topo *t)
{
	if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		vext_topo_free(t);
}

static struct topo_cache *cache_find(const char *root)
{
	struct topo_cache *c;

	for (c = cache; c; c = c->next)
		if (!strcmp(c->t->root, root))
			return c;
	return NULL;
}

/*
 * The cached topology of root if it is still read under listing @sig and
 * is not @stale; else a new one. Loads are serialised by the cache lock.
 */
static struct vext_topo *get_root(const char *root, uint64_t sig,
				  const struct vext_topo *stale)
{
	struct topo_cache *c;
	struct vext_topo *t;
	int err;

	pthread_mutex_lock(&cache_lock);
	c = cache_find(root);
	if (c && c->t->listing == sig && c->t != stale) {
		c->t->checked_ns = now_ns();
		t = vext_topo_hold(c->t);
		pthread_mutex_unlock(&cache_lock);
		return t;
	}
	t = vext_topo_load(root);
	if (!t) {
		err = errno;
		pthread_mutex_unlock(&cache_lock);
		errno = err;
		return NULL;
	}
	t->listing = sig;
	t->checked_ns = now_ns();
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (c) {
			c->next = cache;
			cache = c;
		}
	} else {
		vext_topo_put(c->t);
	}
	if (c)
		c->t = vext_topo_hold(t);
	pthread_mutex_unlock(&cache_lock);
	return t;
}

struct vext_topo *vext_topo_get_root(const char *root)
{
	struct topo_cache *c;
	struct vext_topo *t = NULL;

	/* Listed less than VEXT_LISTING_NS ago: as it was then. */
	pthread_mutex_lock(&cache_lock);
	c = cache_find(root);
	if (c && now_ns() - c->t->checked_ns < VEXT_LISTING_NS)
		t = vext_topo_hold(c->t);
	pthread_mutex_unlock(&cache_lock);
	return t ? t : get_root(root, vext_topo_listing(root), NULL);
}

/*
 * The environment redirects the tree only for a process that runs with its
 * caller's own credentials: a setuid/setgid or file-capability program
 * (AT_SECURE) always reads /sys, as rdma-core's SYSFS_PATH is honoured only
 * when getuid() == geteuid().
 */
const char *vext_sysfs_root(void)
{
	const char *root = secure_getenv(IBV_EXT_SYSFS_ROOT_ENV);

	return root && *root ? root : "/sys";
}

bool vext_topo_remote(const struct vext_topo *t, const struct ibv_context *ctx)
{
	const char *local = secure_getenv(IBV_EXT_LOCAL_VIEW_ENV);

	return !t->live && !ctx && !(local && *local && strcmp(local, "0"));
}

struct vext_topo *vext_topo_get(void)
{
	return vext_topo_get_root(vext_sysfs_root());
}

struct vext_topo *vext_topo_reload(struct vext_topo *stale)
{
	struct vext_topo *t = get_root(stale->root,
				       vext_topo_listing(stale->root), stale);

	vext_topo_put(stale);
	return t;
}

void ibv_ext_drop_topology_cache(void)
{
	struct topo_cache *c, *next;

	pthread_mutex_lock(&cache_lock);
	for (c = cache; c; c = next) {
		next = c->next;
		vext_topo_put(c->t);
		free(c);
	}
	cache = NULL;
	pthread_mutex_unlock(&cache_lock);
}

/* --- devices by key ------------------------------------------------------- */

const struct vext_ibdev *vext_topo_find(const struct vext_topo *t,
					const struct vext_dev_key *key)
{
	const char *dev_name;
	size_t i;

	if (key->name)
		return vext_topo_ibdev(t, key->name);
	/* ibv_device: its uverbs index, which a rename does not change. */
	dev_name = key->device->dev_name;
	if (!strncmp(dev_name, "uverbs", 6)) {
		char *end;
		long idx = strtol(dev_name + 6, &end, 10);

		if (end != dev_name + 6 && !*end) {
			for (i = 0; i < t->nr_ibdevs; i++)
				if (t->ibdevs[i].uverbs == idx)
					return &t->ibdevs[i];
			return NULL;
		}
	}
	/* No uverbs device (a tree without infiniband_verbs): its name. */
	return vext_topo_ibdev(t, ibv_get_device_name(
					  (struct ibv_device *)key->device));
}

const char *vext_key_name(const struct vext_dev_key *key)
{
	return key->name ? key->name :
			   ibv_get_device_name((struct ibv_device *)key->device);
}

int vext_dev_get(const struct vext_dev_key *key, struct vext_topo **tp,
		 const struct vext_ibdev **dp)
{
	struct vext_topo *t;
	const struct vext_ibdev *dev;

	if (!key->name && !key->device)
		return vext_err(EINVAL, "device is NULL");
	t = vext_topo_get();
	if (!t)
		return errno;
	dev = vext_topo_find(t, key);
	if (!dev) {
		/* Added, renamed or made again since the topology was read? */
		t = vext_topo_reload(t);
		if (!t)
			return errno;
		dev = vext_topo_find(t, key);
	}
	if (!dev) {
		int err = vext_err(ENODEV, "no RDMA device %s in %s/class/infiniband",
				   vext_key_name(key), t->root);

		vext_topo_put(t);
		return err;
	}
	if (!dev->nr_eps) {
		vext_topo_put(t);
		return vext_err(ENODEV, "%s has no DMA endpoint", dev->name);
	}
	*tp = t;
	*dp = dev;
	return 0;
}

int vext_dev_get_ctx(struct ibv_context *ctx, struct vext_topo **tp,
		     const struct vext_ibdev **dp)
{
	struct vext_dev_key key = { .device = ctx->device };
	const struct vext_ibdev *dev;
	struct vext_topo *t = NULL;
	struct topo_cache *c;

	/*
	 * A registration's fast path: no listing (a few hundred microseconds
	 * of sysfs under TCG, more than a small registration) when one fstat()
	 * proves the context's device is the one the cached topology read, and
	 * one read of its uverbs ibdev file that it has the name read then.
	 */
	pthread_mutex_lock(&cache_lock);
	c = cache_find(vext_sysfs_root());
	if (c && c->t->live)
		t = vext_topo_hold(c->t);
	pthread_mutex_unlock(&cache_lock);
	if (t) {
		dev = vext_topo_find(t, &key);
		if (dev && dev->nr_eps && vext_same_node(dev, ctx->cmd_fd)) {
			if (vext_same_name(t, dev)) {
				*tp = t;
				*dp = dev;
				return 0;
			}
			/* Renamed: listed again, even within VEXT_LISTING_NS. */
			t = vext_topo_reload(t);
			if (!t)
				return errno;
		}
		vext_topo_put(t);
	}
	return vext_dev_get(&key, tp, dp);
}

/*
 * Notes grow while the topology lives (lazily parsed PCI functions add
 * theirs under its lock): each is copied out under that lock, into a
 * buffer of the calling thread.
 */
const char *ibv_ext_sysfs_note(size_t i)
{
	static _Thread_local char note[VEXT_NOTE_LEN];
	struct vext_topo *t = vext_topo_get();
	bool found = false;

	if (!t)
		return NULL;
	pthread_mutex_lock(&t->lock);
	if (i < t->nr_notes) {
		vext_strscpy(note, t->notes[i], sizeof(note));
		found = true;
	}
	pthread_mutex_unlock(&t->lock);
	vext_topo_put(t);
	return found ? note : NULL;
}
