// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * DRM backend: a GEM dumb buffer of a DRM device (vgem or virtio-gpu in the
 * lab), exported as a dma-buf with PRIME, mapped through the dma-buf for
 * the CPU side of --check.
 *
 * The device is the one named (a /dev/dri path or a driver name such as
 * "vgem"), or the first that can make a dumb buffer. Render nodes are tried
 * before primary nodes of the same kind; Linux 6.12 does not allow
 * DRM_IOCTL_MODE_CREATE_DUMB on render nodes (EACCES), so a driver whose
 * only generic allocation is the dumb buffer (vgem) ends up on its primary
 * node (card*). Needs no DRM master.
 *
 * A DRM dma-buf is exported by "drm", which libibverbs-ext never guesses
 * about: its source is "unknown" unless the kernel describes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bw_mem.h"

#ifdef DMP_HAVE_LIBDRM
#include <xf86drm.h>

struct drm_priv {
	int dev_fd;
	uint32_t handle;
	char node[64];
	char driver[32];
};

static int by_name(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	bool rx = !strncmp(x, "renderD", 7), ry = !strncmp(y, "renderD", 7);

	/* Render nodes first, then card*, each in numeric order. */
	if (rx != ry)
		return rx ? -1 : 1;
	if (strlen(x) != strlen(y))
		return strlen(x) < strlen(y) ? -1 : 1;
	return strcmp(x, y);
}

/* /dev/dri/{renderD*,card*}, render nodes first; returns the count. */
static int list_nodes(char names[][32], int max)
{
	const char *ptr[64];
	struct dirent *d;
	char tmp[64][32];
	DIR *dir;
	int n = 0, i;

	dir = opendir("/dev/dri");
	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < 64 && n < max) {
		if (strncmp(d->d_name, "renderD", 7) &&
		    strncmp(d->d_name, "card", 4))
			continue;
		snprintf(tmp[n], sizeof(tmp[n]), "%s", d->d_name);
		ptr[n] = tmp[n];
		n++;
	}
	closedir(dir);
	qsort(ptr, n, sizeof(ptr[0]), by_name);
	for (i = 0; i < n; i++)
		snprintf(names[i], 32, "%s", ptr[i]);
	return n;
}

static int driver_of(int fd, char *buf, size_t len)
{
	drmVersionPtr v = drmGetVersion(fd);

	if (!v)
		return -1;
	snprintf(buf, len, "%.*s", v->name_len, v->name);
	drmFreeVersion(v);
	return 0;
}

/* Dumb buffer of at least size bytes on fd, exported; 0 or errno. */
static int make_dumb(int fd, uint64_t size, struct bw_mem *m,
		     struct drm_priv *p, struct bw_err *e)
{
	struct drm_mode_create_dumb c = { 0 };
	struct drm_mode_destroy_dumb d = { 0 };
	int prime = -1, err;
	void *map;

	/* 8 bpp, 4096 pixels wide: one byte a pixel, pitch 4096. */
	c.bpp = 8;
	c.width = 4096;
	c.height = (uint32_t)((size + 4095) / 4096);
	if (drmIoctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c))
		return bw_fail(e, errno, "DRM_IOCTL_MODE_CREATE_DUMB on %s: %s",
			       p->node, strerror(errno));
	if (c.size < size) {
		err = bw_fail(e, EINVAL,
			      "%s: dumb buffer of %llu bytes is short of %llu",
			      p->node, (unsigned long long)c.size,
			      (unsigned long long)size);
		goto destroy;
	}
	if (drmPrimeHandleToFD(fd, c.handle, DRM_CLOEXEC | DRM_RDWR, &prime)) {
		err = bw_fail(e, errno, "%s: PRIME export: %s", p->node,
			      strerror(errno));
		goto destroy;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, prime, 0);
	if (map == MAP_FAILED) {
		err = bw_fail(e, errno, "%s: mmap of the PRIME dma-buf: %s",
			      p->node, strerror(errno));
		close(prime);
		goto destroy;
	}
	p->handle = c.handle;
	m->fd = prime;
	m->map = map;
	m->size = size;
	m->iova = (uintptr_t)map;
	return 0;
destroy:
	d.handle = c.handle;
	drmIoctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &d);
	return err;
}

static bool wanted(const struct bw_mem_spec *spec, const char *path,
		   const char *driver)
{
	if (!spec->dev[0])
		return true;
	if (spec->dev[0] == '/')
		return !strcmp(spec->dev, path);
	return !strcmp(spec->dev, driver);
}

static int drm_find(const struct bw_mem_spec *spec, uint64_t size,
		    struct bw_mem *m, struct drm_priv *p, struct bw_err *e)
{
	char names[64][32], path[64], driver[32], tried[BW_WHY_LEN] = "";
	struct bw_err last = { "" };
	int n, i, fd, ret;
	size_t used = 0;

	n = list_nodes(names, 64);
	if (!n)
		return bw_fail(e, ENODEV,
			       "no DRM device (/dev/dri is empty or missing; in the lab: modprobe vgem)");
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/dev/dri/%s", names[i]);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (driver_of(fd, driver, sizeof(driver)) ||
		    !wanted(spec, path, driver)) {
			close(fd);
			continue;
		}
		snprintf(p->node, sizeof(p->node), "%s", path);
		snprintf(p->driver, sizeof(p->driver), "%s", driver);
		if (!size) { /* probe only */
			close(fd);
			return 0;
		}
		ret = make_dumb(fd, size, m, p, &last);
		if (!ret) {
			p->dev_fd = fd;
			return 0;
		}
		close(fd);
		used += (size_t)snprintf(tried + used, sizeof(tried) - used,
					 "%s%s (%s): %s", used ? "; " : "",
					 path, driver, strerror(ret));
		if (used >= sizeof(tried))
			used = sizeof(tried) - 1;
	}
	if (!tried[0])
		return bw_fail(e, ENODEV, "no DRM device %s%s",
			       spec->dev[0] ? "matches " : "in /dev/dri",
			       spec->dev);
	if (strchr(tried, ';'))
		return bw_fail(e, EOPNOTSUPP, "no DRM device made a dumb buffer: %s",
			       tried);
	return bw_fail(e, EOPNOTSUPP, "%s", last.msg);
}

static int drm_probe(const struct bw_mem_spec *spec, struct bw_err *e)
{
	struct drm_priv p = { .dev_fd = -1 };
	struct bw_mem m = { .fd = -1 };

	return drm_find(spec, 0, &m, &p, e);
}

static int drm_alloc(const struct bw_mem_spec *spec, uint64_t size,
		     struct bw_mem *m, struct bw_err *e)
{
	struct drm_priv *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return bw_fail(e, ENOMEM, "out of memory");
	p->dev_fd = -1;
	ret = drm_find(spec, size, m, p, e);
	if (ret) {
		free(p);
		return ret;
	}
	m->priv = p;
	snprintf(m->desc, sizeof(m->desc), "%s dumb buffer on %s (PRIME)",
		 p->driver, p->node);
	return 0;
}

static void drm_free(struct bw_mem *m)
{
	struct drm_priv *p = m->priv;
	struct drm_mode_destroy_dumb d = { 0 };

	bw_mem_unmap(m);
	if (p) {
		/* The dma-buf held its own reference; drop the handle's. */
		d.handle = p->handle;
		drmIoctl(p->dev_fd, DRM_IOCTL_MODE_DESTROY_DUMB, &d);
		close(p->dev_fd);
		free(p);
	}
	m->priv = NULL;
}

#else /* !DMP_HAVE_LIBDRM */

static int drm_probe(const struct bw_mem_spec *spec, struct bw_err *e)
{
	return bw_fail(e, EOPNOTSUPP,
		       "not built: libdrm-dev was missing when this tool was built (tools/install-deps build)");
}

static int drm_alloc(const struct bw_mem_spec *spec, uint64_t size,
		     struct bw_mem *m, struct bw_err *e)
{
	return drm_probe(spec, e);
}

static void drm_free(struct bw_mem *m)
{
	bw_mem_unmap(m);
}

#endif

const struct bw_mem_ops bw_mem_drm = {
	.name = "drm",
	.synopsis = "drm[:/dev/dri/NODE|:DRIVER]",
	.dmabuf = true,
	.probe = drm_probe,
	.alloc = drm_alloc,
	.free = drm_free,
};
