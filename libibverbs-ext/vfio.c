// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_alloc_vfio_dmabuf: a dma-buf of a PCI BAR range exported by vfio-pci
 * (VFIO_DEVICE_FEATURE_DMA_BUF), the P2P memory of a real device.
 *
 * What sysfs tells is checked there first - the function, its BARs, its
 * driver, its IOMMU group - so that a bad request gets its reason before
 * vfio is opened (and can be tested on any sysfs tree). Then the group's
 * container (type1v2, or vfio's no-IOMMU mode for a "vfio-noiommu" group),
 * the device file, the BAR's region and the feature. Container and group
 * are closed before returning: the device file keeps them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "ext_internal.h"
#include "kernel-abi/vfio_dma_buf.h"

#define VFIO_DIR "/dev/vfio"
#define NR_BARS 6	/* VFIO_PCI_BAR0..5; the ROM cannot be exported */
#define RES_IO 0x100	/* IORESOURCE_IO */
#define RES_MEM 0x200	/* IORESOURCE_MEM */

struct vfio_req {
	const struct ibv_vfio_dmabuf_attr *attr;
	const char *root;		/* the sysfs tree */
	char addr[IBV_EXT_PCI_ADDR_LEN];
	uint32_t bar;
	char group[16];			/* IOMMU group number */
	bool noiommu;
};

static int check_attr(const struct ibv_vfio_dmabuf_attr *a, struct vfio_req *r)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), end;
	const char *p = a->pci_addr;

	if (a->comp_mask & ~IBV_VFIO_DMABUF_DEVICE_FD)
		return vext_err(EOPNOTSUPP, "attr: unknown comp_mask bits 0x%x",
				a->comp_mask & ~IBV_VFIO_DMABUF_DEVICE_FD);
	if (!p)
		return vext_err(EINVAL, "pci_addr is NULL");
	/* "bb:dd.f" is segment 0, as lspci prints it. */
	if (strlen(p) == 7)
		snprintf(r->addr, sizeof(r->addr), "0000:%s", p);
	else
		snprintf(r->addr, sizeof(r->addr), "%.15s", p);
	if (strlen(p) >= sizeof(r->addr) || !vext_is_pci_addr(r->addr))
		return vext_err(EINVAL,
				"pci_addr '%.64s' is not a PCI address (DDDD:BB:DD.F)",
				p);
	if (a->bar != IBV_VFIO_BAR_ANY && (a->bar < 0 || a->bar >= NR_BARS))
		return vext_err(ERANGE,
				"BAR %d out of range (0-%d, or IBV_VFIO_BAR_ANY)",
				a->bar, NR_BARS - 1);
	if (!a->size || a->size % page)
		return vext_err(EINVAL,
				"size %" PRIu64 " is not a non-zero multiple of the page size",
				a->size);
	if (a->offset % page)
		return vext_err(EINVAL,
				"offset %" PRIu64 " is not a multiple of the page size",
				a->offset);
	if (__builtin_add_overflow(a->offset, a->size, &end))
		return vext_err(EOVERFLOW,
				"offset 0x%" PRIx64 " + size 0x%" PRIx64 " overflows",
				a->offset, a->size);
	if (a->open_flags & ~(uint32_t)(O_ACCMODE | O_CLOEXEC) ||
	    (a->open_flags & O_ACCMODE) == O_ACCMODE)
		return vext_err(EINVAL,
				"open_flags 0x%x: only O_RDONLY, O_WRONLY or O_RDWR, and O_CLOEXEC",
				a->open_flags);
	return 0;
}

/* The BARs of r->addr from its sysfs resource file (start end flags). */
static int read_bars(struct vfio_req *r, uint64_t size[NR_BARS],
		     unsigned long flags[NR_BARS])
{
	char buf[2048], *line = buf, *next, *path;
	unsigned long long start, end, fl;
	int n, i;

	path = vext_path(r->root, "bus/pci/devices/%s", r->addr);
	if (!path)
		return vext_err(ENOMEM, "out of memory");
	n = access(path, F_OK) ? -errno : 0;
	free(path);
	if (n == -ENOENT)
		return vext_err(ENODEV, "no PCI function %s in %s", r->addr,
				r->root);
	n = vext_read_str(r->root, buf, sizeof(buf),
			  "bus/pci/devices/%s/resource", r->addr);
	if (n < 0)
		return vext_err(-n, "%s/bus/pci/devices/%s/resource: %s",
				r->root, r->addr, strerror(-n));
	for (i = 0; i < NR_BARS; i++, line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (sscanf(line, "%llx %llx %llx", &start, &end, &fl) != 3)
			return vext_err(EIO, "%s: resource line %d is '%.60s'",
					r->addr, i, line);
		size[i] = end > start ? end - start + 1 : 0;
		flags[i] = fl;
		if (!next)
			next = line + strlen(line);
	}
	return 0;
}

/* The BAR to use, from sysfs: ERANGE not a memory BAR, EOVERFLOW too small. */
static int pick_bar(struct vfio_req *r)
{
	const struct ibv_vfio_dmabuf_attr *a = r->attr;
	unsigned long flags[NR_BARS];
	uint64_t size[NR_BARS];
	int i, ret;

	ret = read_bars(r, size, flags);
	if (ret)
		return ret;
	if (a->bar == IBV_VFIO_BAR_ANY) {
		bool mem = false;

		for (i = 0; i < NR_BARS; i++) {
			if (!size[i] || !(flags[i] & RES_MEM))
				continue;
			mem = true;
			if (a->offset + a->size <= size[i]) {
				r->bar = (uint32_t)i;
				return 0;
			}
		}
		if (!mem)
			return vext_err(ERANGE, "%s has no memory BAR", r->addr);
		return vext_err(EOVERFLOW,
				"no memory BAR of %s holds %" PRIu64
				" bytes at offset %" PRIu64,
				r->addr, a->size, a->offset);
	}
	r->bar = (uint32_t)a->bar;
	if (!size[r->bar])
		return vext_err(ERANGE, "%s has no BAR %u", r->addr, r->bar);
	if (!(flags[r->bar] & RES_MEM))
		return vext_err(ERANGE, "BAR %u of %s is %s, not memory", r->bar,
				r->addr,
				flags[r->bar] & RES_IO ? "I/O ports" : "no memory");
	if (a->offset + a->size > size[r->bar])
		return vext_err(EOVERFLOW,
				"%" PRIu64 " bytes at offset %" PRIu64
				" do not fit BAR %u of %s (%" PRIu64 " bytes)",
				a->size, a->offset, r->bar, r->addr,
				size[r->bar]);
	return 0;
}

/* The last component of the link root/bus/pci/devices/<addr>/<name>. */
static int link_name(const struct vfio_req *r, const char *name, char *out,
		     size_t len)
{
	char target[512], *path, *base;
	ssize_t n;

	path = vext_path(r->root, "bus/pci/devices/%s/%s", r->addr, name);
	if (!path)
		return ENOMEM;
	n = readlink(path, target, sizeof(target) - 1);
	free(path);
	if (n < 0)
		return errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	vext_strscpy(out, base ? base + 1 : target, len);
	return 0;
}

static int check_driver(const struct vfio_req *r)
{
	char buf[64];

	if (link_name(r, "driver", buf, sizeof(buf)))
		return vext_err(ENXIO,
				"%s is bound to no driver, not vfio-pci (echo vfio-pci > /sys/bus/pci/devices/%s/driver_override, then drivers_probe)",
				r->addr, r->addr);
	if (strcmp(buf, "vfio-pci"))
		return vext_err(ENXIO, "%s is bound to %s, not vfio-pci",
				r->addr, buf);
	return 0;
}

/* The function's IOMMU group: which one, and is it vfio's no-IOMMU kind? */
static int find_group(struct vfio_req *r)
{
	char buf[64];

	if (link_name(r, "iommu_group", r->group, sizeof(r->group)))
		return vext_err(ENOENT,
				"%s has no IOMMU group (no IOMMU, and vfio's no-IOMMU mode is off)",
				r->addr);
	r->noiommu = vext_read_str(r->root, buf, sizeof(buf),
				   "kernel/iommu_groups/%s/name", r->group) > 0 &&
		     !strcmp(buf, "vfio-noiommu");
	return 0;
}

/* Is the tree this machine's /sys? Only then are its devices in /dev. */
static int check_live(const struct vfio_req *r)
{
	char *real = realpath(r->root, NULL), *sys = realpath("/sys", NULL);
	bool live = real && sys && !strcmp(real, sys);

	free(real);
	free(sys);
	if (!live)
		return vext_err(EXDEV,
				"sysfs root %s is not this machine's /sys: its vfio devices cannot be opened here",
				r->root);
	return 0;
}

static int open_dev(const char *path, int *fd)
{
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	if (errno == EACCES)
		return vext_err(EACCES, "%s: %s (root's, unless udev gives it to you)",
				path, strerror(errno));
	if (errno == EPERM)
		return vext_err(EPERM, "%s: %s (a no-IOMMU group needs CAP_SYS_RAWIO)",
				path, strerror(errno));
	if (errno == EBUSY)
		return vext_err(EBUSY,
				"%s: %s (vfio opens a group once: another process or an open device file of it holds it; see IBV_VFIO_DMABUF_DEVICE_FD)",
				path, strerror(errno));
	return vext_err(errno, "%s: %s", path, strerror(errno));
}

/*
 * The caller's device file: open, a vfio device file (anon_inode:[vfio-
 * device] from a group, /dev/vfio/devices/vfioN from iommufd's cdev), and
 * vfio's device of r->addr where the kernel names it in fdinfo
 * ("vfio-device-syspath: /sys/devices/pci0000:40/.../0000:44:00.0" in
 * Linux 7.2: the PCI function's own path).
 */
static int check_device_fd(const struct vfio_req *r, int dev)
{
	char path[64], text[512], *line, *base;
	ssize_t n;
	int fd;

	if (dev < 0 || fcntl(dev, F_GETFD) < 0)
		return vext_err(EBADF, "device_fd %d is not open", dev);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dev);
	n = readlink(path, text, sizeof(text) - 1);
	text[n > 0 ? n : 0] = '\0';
	if (strcmp(text, "anon_inode:[vfio-device]") &&
	    strncmp(text, VFIO_DIR "/devices/", strlen(VFIO_DIR "/devices/")))
		return vext_err(EINVAL, "device_fd %d is not a vfio device file (%.200s)",
				dev, text);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vext_err(errno, "%s: %s", path, strerror(errno));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	line = strstr(text, "vfio-device-syspath:");
	if (!line)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	base = strrchr(line, '/');
	if (!base || strcmp(base + 1, r->addr))
		return vext_err(EINVAL, "device_fd %d is not vfio's device of %s (%.200s)",
				dev, r->addr, line);
	return 0;
}

/* Container and group set up; the device's fd in *dev. */
static int open_device(const struct vfio_req *r, int *dev)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	unsigned long type = r->noiommu ? VFIO_NOIOMMU_IOMMU :
					  VFIO_TYPE1v2_IOMMU;
	char path[64];
	int container = -1, group = -1, ret;

	ret = open_dev(VFIO_DIR "/vfio", &container);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), VFIO_DIR "/%s%s",
		 r->noiommu ? "noiommu-" : "", r->group);
	ret = open_dev(path, &group);
	if (ret)
		goto out;
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &st)) {
		ret = vext_err(errno, "VFIO_GROUP_GET_STATUS of %s: %s", path,
			       strerror(errno));
		goto out;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = vext_err(EBUSY,
			       "IOMMU group %s of %s is not viable: bind all its devices to vfio-pci",
			       r->group, r->addr);
		goto out;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, type)) {
		ret = vext_err(errno, "%s: setting up its %s container: %s", path,
			       r->noiommu ? "no-IOMMU" : "type1v2",
			       strerror(errno));
		goto out;
	}
	*dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, r->addr);
	if (*dev < 0)
		ret = vext_err(errno, "VFIO_GROUP_GET_DEVICE_FD %s: %s", r->addr,
			       strerror(errno));
out:
	if (group >= 0)
		close(group);
	close(container);
	return ret;
}

/* The BAR's region in the device file; the range checked against it. */
static int get_region(const struct vfio_req *r, int dev,
		      struct vfio_region_info *ri)
{
	const struct ibv_vfio_dmabuf_attr *a = r->attr;

	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = r->bar;
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, ri))
		return vext_err(errno, "VFIO_DEVICE_GET_REGION_INFO of BAR %u of %s: %s",
				r->bar, r->addr, strerror(errno));
	if (!ri->size)
		return vext_err(ERANGE, "vfio: %s has no BAR %u", r->addr, r->bar);
	if (a->offset + a->size > ri->size)
		return vext_err(EOVERFLOW,
				"%" PRIu64 " bytes at offset %" PRIu64
				" do not fit BAR %u of %s (%llu bytes)",
				a->size, a->offset, r->bar, r->addr,
				(unsigned long long)ri->size);
	return 0;
}

/* VFIO_DEVICE_FEATURE_DMA_BUF: probed, then asked for one range. */
static int export_range(const struct vfio_req *r, int dev, int *fd)
{
	struct vfio_device_feature hdr = { .argsz = sizeof(hdr) };
	struct vfio_device_feature_dma_buf get = { 0 };
	struct vfio_region_dma_range range;
	uint64_t arg[(sizeof(hdr) + sizeof(get) + sizeof(range) + 7) / 8];
	unsigned char *p = (unsigned char *)arg;
	int err;

	hdr.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		    VFIO_DEVICE_FEATURE_DMA_BUF;
	if (ioctl(dev, VFIO_DEVICE_FEATURE, &hdr)) {
		err = errno;
		if (err == ENOTTY || err == EINVAL || err == EOPNOTSUPP)
			return vext_err(ENOTTY,
					"%s: this kernel's vfio-pci cannot export dma-bufs (VFIO_DEVICE_FEATURE_DMA_BUF: %s)",
					r->addr, strerror(err));
		return vext_err(err, "%s: probing VFIO_DEVICE_FEATURE_DMA_BUF: %s",
				r->addr, strerror(err));
	}
	hdr.argsz = sizeof(arg);
	hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	get.region_index = r->bar;
	get.open_flags = r->attr->open_flags;
	get.nr_ranges = 1;
	range.offset = r->attr->offset;
	range.length = r->attr->size;
	memcpy(p, &hdr, sizeof(hdr));
	memcpy(p + sizeof(hdr), &get, sizeof(get));
	memcpy(p + sizeof(hdr) + sizeof(get), &range, sizeof(range));
	*fd = ioctl(dev, VFIO_DEVICE_FEATURE, arg);
	if (*fd < 0)
		return vext_err(errno,
				"VFIO_DEVICE_FEATURE_DMA_BUF of %" PRIu64
				" bytes at offset %" PRIu64 " of BAR %u of %s: %s",
				r->attr->size, r->attr->offset, r->bar, r->addr,
				strerror(errno));
	return 0;
}

int ibv_alloc_vfio_dmabuf(struct ibv_vfio_dmabuf_attr *attr)
{
	struct vfio_req r = { .attr = attr };
	struct vfio_region_info ri;
	int dev = -1, fd = -1, ret;
	bool given;

	if (!attr) {
		errno = vext_err(EINVAL, "attr is NULL");
		return -1;
	}
	given = attr->comp_mask & IBV_VFIO_DMABUF_DEVICE_FD;
	if (!given)
		attr->device_fd = -1;
	r.root = vext_sysfs_root();
	ret = check_attr(attr, &r);
	if (!ret && given)
		ret = check_device_fd(&r, dev = attr->device_fd);
	if (!ret)
		ret = pick_bar(&r);
	if (!ret)
		ret = check_driver(&r);
	if (!ret && !given)
		ret = find_group(&r);
	if (!ret)
		ret = check_live(&r);
	if (!ret && !given)
		ret = open_device(&r, &dev);
	if (!ret)
		ret = get_region(&r, dev, &ri);
	if (!ret)
		ret = export_range(&r, dev, &fd);
	if (ret) {
		if (dev >= 0 && !given)
			close(dev);
		errno = ret;
		return -1;
	}
	attr->device_fd = dev;
	attr->region_offset = ri.offset;
	attr->region_size = ri.size;
	attr->region_index = r.bar;
	return fd;
}
