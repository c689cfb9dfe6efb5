// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_alloc_vfio_dmabuf()'s bad inputs that need no vfio: the attr, and
 * what the library reads in sysfs before it opens vfio (the function, its
 * BARs, its driver, its IOMMU group), on a small tree this test writes;
 * a device_fd given that is no vfio device file; and on this machine's
 * /sys, a function bound to another driver. Each gets its documented errno
 * and a one-line reason, leaves no fd behind and device_fd -1 (or the
 * caller's, open). (Opening vfio, the feature and revocation are tried in the
 * VM lab: tests/lab/guest/test_dmabuf_vfio.py.)
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define MiB (1ULL << 20)

static char root[PATH_MAX];

static int count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX + 128], *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = strchr(path + strlen(root) + 1, '/'); p;
	     p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	if (!text)
		return;
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void link_to(const char *target, const char *rel)
{
	char path[PATH_MAX + 128];

	put(rel, NULL);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	CHECK(symlink(target, path) == 0);
}

/* BAR0 I/O ports, BAR1 none, BAR2 64 MiB prefetchable, BAR4 16 KiB. */
static const char bars[] =
	"0x000000000000c000 0x000000000000c01f 0x0000000000040101\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x00000000f4000000 0x00000000f7ffffff 0x000000000014220c\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x00000000fe200000 0x00000000fe203fff 0x0000000000040200\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
static const char io_only[] =
	"0x000000000000c000 0x000000000000c01f 0x0000000000040101\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
	"0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

/* A function: its resource file, driver (NULL: none) and IOMMU group. */
static void function(const char *addr, const char *res, const char *driver,
		     const char *group)
{
	char rel[256], target[256];

	snprintf(rel, sizeof(rel), "devices/pci0000:00/%s/resource", addr);
	put(rel, res);
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s", addr);
	snprintf(target, sizeof(target), "../../../devices/pci0000:00/%s", addr);
	link_to(target, rel);
	if (driver) {
		snprintf(rel, sizeof(rel), "devices/pci0000:00/%s/driver", addr);
		snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s",
			 driver);
		link_to(target, rel);
		snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/", driver);
		put(rel, NULL);
	}
	if (group) {
		snprintf(rel, sizeof(rel), "devices/pci0000:00/%s/iommu_group",
			 addr);
		snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%s",
			 group);
		link_to(target, rel);
		snprintf(rel, sizeof(rel), "kernel/iommu_groups/%s/", group);
		put(rel, NULL);
	}
}

static void make_tree(void)
{
	function("0000:00:05.0", bars, "vfio-pci", "7");
	function("0000:00:06.0", bars, "virtio-pci", "8");
	function("0000:00:07.0", bars, NULL, NULL);
	function("0000:00:08.0", bars, "vfio-pci", NULL);
	function("0000:00:09.0", bars, "vfio-pci", "9");
	put("kernel/iommu_groups/9/name", "vfio-noiommu\n");
	function("0000:00:0a.0", io_only, "vfio-pci", "10");
}

static struct ibv_vfio_dmabuf_attr good(const char *addr)
{
	struct ibv_vfio_dmabuf_attr a = { 0 };

	a.pci_addr = addr;
	a.bar = 2;
	a.offset = 4 * MiB;
	a.size = 2 * MiB;
	a.open_flags = O_RDWR | O_CLOEXEC;
	a.device_fd = 1234;
	return a;
}

static void expect(struct ibv_vfio_dmabuf_attr *a, int err, const char *frag,
		   const char *desc, int line)
{
	const char *r;
	int fd;

	errno = 0;
	fd = ibv_alloc_vfio_dmabuf(a);
	test_row("ibv_alloc_vfio_dmabuf", desc, err, fd == -1 ? errno : 0);
	test_checks++;
	if (fd != -1 || errno != err) {
		fprintf(stderr, "line %d: %s gave %d errno %d (%s), expected %d\n",
			line, desc, fd, errno, strerror(errno), err);
		test_failures++;
	}
	if (a && !(a->comp_mask & IBV_VFIO_DMABUF_DEVICE_FD))
		CHECK_INT(a->device_fd, -1);
	r = ibv_ext_last_error();
	CHECK(r[0] && !strchr(r, '\n'));
	CHECK_HAS(r, frag);
}

#define EXPECT(a, err, frag, desc) expect(a, err, frag, desc, __LINE__)

static void attr_bad(void)
{
	struct ibv_vfio_dmabuf_attr a;

	EXPECT(NULL, EINVAL, "attr is NULL", "attr NULL");
	a = good("0000:00:05.0");
	a.comp_mask = 2 | IBV_VFIO_DMABUF_DEVICE_FD;
	a.device_fd = -1;
	EXPECT(&a, EOPNOTSUPP, "unknown comp_mask bits 0x2",
	       "comp_mask 2 | IBV_VFIO_DMABUF_DEVICE_FD");
	a = good(NULL);
	EXPECT(&a, EINVAL, "pci_addr is NULL", "pci_addr NULL");
	a = good("00:05");
	EXPECT(&a, EINVAL, "pci_addr '00:05' is not a PCI address",
	       "pci_addr \"00:05\"");
	a = good("0000:00:05.0:bar=2");
	EXPECT(&a, EINVAL, "is not a PCI address", "pci_addr \"0000:00:05.0:bar=2\"");
	a = good("000g:00:05.0");
	EXPECT(&a, EINVAL, "is not a PCI address", "pci_addr \"000g:00:05.0\"");
	a = good("0000:00:05.0");
	a.bar = 6;
	EXPECT(&a, ERANGE, "BAR 6 out of range", "bar 6");
	a.bar = -2;
	EXPECT(&a, ERANGE, "BAR -2 out of range", "bar -2");
	a = good("0000:00:05.0");
	a.size = 0;
	EXPECT(&a, EINVAL, "size 0 is not a non-zero multiple of the page size",
	       "size 0");
	a.size = 4097;
	EXPECT(&a, EINVAL, "size 4097 is not", "size 4097");
	a = good("0000:00:05.0");
	a.offset = 100;
	EXPECT(&a, EINVAL, "offset 100 is not a multiple of the page size",
	       "offset 100");
	a = good("0000:00:05.0");
	a.offset = UINT64_MAX & ~4095ULL;
	EXPECT(&a, EOVERFLOW, "overflows", "offset 0xfffffffffffff000 + size 2 MiB");
	a = good("0000:00:05.0");
	a.open_flags = O_RDWR | O_APPEND;
	EXPECT(&a, EINVAL, "open_flags", "open_flags O_RDWR | O_APPEND");
	a.open_flags = O_ACCMODE;
	EXPECT(&a, EINVAL, "open_flags", "open_flags O_ACCMODE");
}

static void device_fd_bad(void)
{
	struct ibv_vfio_dmabuf_attr a = good("0000:00:05.0");
	int devnull = open("/dev/null", O_RDWR), closed = dup(devnull);

	close(closed);
	a.comp_mask = IBV_VFIO_DMABUF_DEVICE_FD;
	a.device_fd = -1;
	EXPECT(&a, EBADF, "device_fd -1 is not open",
	       "IBV_VFIO_DMABUF_DEVICE_FD, device_fd -1");
	a.device_fd = closed;
	EXPECT(&a, EBADF, "is not open", "IBV_VFIO_DMABUF_DEVICE_FD, a closed fd");
	CHECK_INT(a.device_fd, closed);
	a.device_fd = devnull;
	EXPECT(&a, EINVAL, "is not a vfio device file (/dev/null)",
	       "IBV_VFIO_DMABUF_DEVICE_FD, /dev/null");
	/* The caller's fd stays open, and theirs. */
	CHECK_INT(a.device_fd, devnull);
	CHECK(fcntl(devnull, F_GETFD) >= 0);
	close(devnull);
}

static void sysfs_bad(void)
{
	struct ibv_vfio_dmabuf_attr a;

	a = good("0000:00:1f.7");
	EXPECT(&a, ENODEV, "no PCI function 0000:00:1f.7", "no such function");
	a = good("0000:00:05.0");
	a.bar = 0;
	EXPECT(&a, ERANGE, "BAR 0 of 0000:00:05.0 is I/O ports, not memory",
	       "bar 0: I/O ports");
	a.bar = 1;
	EXPECT(&a, ERANGE, "0000:00:05.0 has no BAR 1", "bar 1: not implemented");
	a.bar = 2;
	a.offset = 0;
	a.size = 128 * MiB;
	EXPECT(&a, EOVERFLOW, "do not fit BAR 2 of 0000:00:05.0 (67108864 bytes)",
	       "128 MiB of the 64 MiB BAR 2");
	a.offset = 63 * MiB;
	a.size = 2 * MiB;
	EXPECT(&a, EOVERFLOW, "do not fit BAR 2", "2 MiB at 63 MiB of the 64 MiB BAR 2");
	a.bar = IBV_VFIO_BAR_ANY;
	a.offset = 0;
	a.size = 128 * MiB;
	EXPECT(&a, EOVERFLOW, "no memory BAR of 0000:00:05.0 holds",
	       "IBV_VFIO_BAR_ANY, 128 MiB (BARs of 64 MiB and 16 KiB)");
	a = good("0000:00:0a.0");
	a.bar = IBV_VFIO_BAR_ANY;
	EXPECT(&a, ERANGE, "0000:00:0a.0 has no memory BAR",
	       "IBV_VFIO_BAR_ANY of a function with only I/O ports");
	a = good("0000:00:06.0");
	EXPECT(&a, ENXIO, "0000:00:06.0 is bound to virtio-pci, not vfio-pci",
	       "function bound to virtio-pci");
	a = good("0000:00:07.0");
	EXPECT(&a, ENXIO, "bound to no driver, not vfio-pci",
	       "function bound to no driver");
	a = good("00:07.0");
	EXPECT(&a, ENXIO, "0000:00:07.0 is bound to no driver",
	       "pci_addr \"00:07.0\" (segment 0), bound to no driver");
	a = good("0000:00:08.0");
	EXPECT(&a, ENOENT, "0000:00:08.0 has no IOMMU group",
	       "vfio-pci function without IOMMU group");
	a = good("0000:00:05.0");
	EXPECT(&a, EXDEV, "is not this machine's /sys",
	       "vfio-pci function of another machine's sysfs tree");
	a = good("0000:00:09.0");
	a.bar = IBV_VFIO_BAR_ANY;
	a.size = 16 * 1024;
	a.offset = 0;
	EXPECT(&a, EXDEV, "is not this machine's /sys",
	       "no-IOMMU group of another machine's sysfs tree");
}

/* On this machine's /sys: a function bound to a driver other than vfio-pci. */
static void live_other_driver(void)
{
	struct ibv_vfio_dmabuf_attr a = good(NULL);
	char path[PATH_MAX], target[PATH_MAX], want[PATH_MAX + 64];
	const char *drv = NULL;
	struct dirent *de;
	ssize_t n;
	DIR *d = opendir("/sys/bus/pci/devices");

	unsetenv(IBV_EXT_SYSFS_ROOT_ENV);
	while (d && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver",
			 de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		drv = strrchr(target, '/') + 1;
		if (strcmp(drv, "vfio-pci"))
			break;
		drv = NULL;
	}
	if (!drv) {
		SKIP(live_other_driver, "this machine has no PCI function bound to a driver other than vfio-pci");
		if (d)
			closedir(d);
		return;
	}
	a.pci_addr = de->d_name;
	a.bar = IBV_VFIO_BAR_ANY;
	a.offset = 0;
	a.size = (uint64_t)sysconf(_SC_PAGESIZE);
	errno = 0;
	CHECK_INT(ibv_alloc_vfio_dmabuf(&a), -1);
	/* Without a memory BAR of a page it fails earlier, for that. */
	if (errno != ERANGE && errno != EOVERFLOW) {
		CHECK_INT(errno, ENXIO);
		snprintf(want, sizeof(want), "%s is bound to %s, not vfio-pci",
			 de->d_name, drv);
		CHECK_HAS(ibv_ext_last_error(), want);
	}
	CHECK_INT(a.device_fd, -1);
	closedir(d);
}

int main(void)
{
	int fds = count_fds();
	char cmd[PATH_MAX + 16];

	snprintf(root, sizeof(root), "/tmp/dmp-vfio-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	make_tree();
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
	RUN(attr_bad);
	RUN(device_fd_bad);
	RUN(sysfs_bad);
	RUN(live_other_driver);
	CHECK_INT(count_fds(), fds);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", root);
	return test_report();
}
