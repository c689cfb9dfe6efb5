// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The topology follows the machine: on a copy of the lab-vm fixture, RDMA
 * devices are added, renamed, deleted and made again under an old name
 * between calls (as rdma link add / delete / dev set name do), and every
 * call answers for the tree as it is then; a device named by its
 * ibv_device (uverbs index) is found under its new name.
 * ibv_ext_drop_topology_cache() forgets what a listing cannot tell.
 * Then threads query while one adds and deletes a device (run-host runs
 * this under ThreadSanitizer and ASan). A registration trusts the cached
 * topology without listing only for a context whose command fd is the
 * device node recorded with it: a node made again is not that node.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <unistd.h>

#include "ext_internal.h"
#include "test.h"

static char tree[] = "/tmp/dmp-refresh-XXXXXX";
static char rxe[4096];	/* a copy of rxe1's directory, the model of new ones */

static int sh(const char *fmt, ...) VEXT_PRINTF(1, 2);

/*
 * Change the tree, then wait out the time during which calls trust the
 * last listing (VEXT_LISTING_NS): the next call must see the change.
 */
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ret = system(cmd);
	usleep(VEXT_LISTING_NS / 1000 + 1000);
	return ret;
}

/* rdma link add NAME type rxe netdev PARENT (uverbs index UV). */
static int link_add(const char *name, const char *parent, int uv)
{
	return sh("cd '%s' && cp -a '%s' devices/virtual/infiniband/%s && "
		  "echo %s > devices/virtual/infiniband/%s/parent && "
		  "echo %s > devices/virtual/infiniband/%s/ports/1/gid_attrs/ndevs/0 && "
		  "ln -s ../../devices/virtual/infiniband/%s class/infiniband/%s && "
		  "mkdir -p devices/virtual/infiniband_verbs/uverbs%d && "
		  "echo %s > devices/virtual/infiniband_verbs/uverbs%d/ibdev && "
		  "ln -s ../../devices/virtual/infiniband_verbs/uverbs%d class/infiniband_verbs/uverbs%d",
		  tree, rxe, name, parent, name, parent, name, name, name, uv,
		  name, uv, uv, uv);
}

static int link_delete(const char *name, int uv)
{
	return sh("cd '%s' && rm -rf class/infiniband/%s devices/virtual/infiniband/%s "
		  "class/infiniband_verbs/uverbs%d devices/virtual/infiniband_verbs/uverbs%d",
		  tree, name, name, uv, uv);
}

/* rdma dev set OLD name NEW */
static int rename_dev(const char *old, const char *new, int uv)
{
	return sh("cd '%s' && mv devices/virtual/infiniband/%s devices/virtual/infiniband/%s && "
		  "rm class/infiniband/%s && "
		  "ln -s ../../devices/virtual/infiniband/%s class/infiniband/%s && "
		  "echo %s > devices/virtual/infiniband_verbs/uverbs%d/ibdev",
		  tree, old, new, old, new, new, new, uv);
}

/* The PCI function of a device's endpoint 0, "" when none; ENODEV etc. */
static int ep0(const char *name, char *pci)
{
	struct ibv_dma_endpoint eps[4];
	size_t n = 4;
	int ret = ibv_query_dma_endpoints(name, eps, &n);

	pci[0] = '\0';
	if (!ret)
		vext_strscpy(pci, eps[0].pci_addr, IBV_EXT_PCI_ADDR_LEN);
	return ret;
}

static size_t nr_devices(void)
{
	struct ibv_dma_choice c[8];
	size_t n = 8;

	return ibv_rank_dmabuf_devices(NULL, 0, NULL, NULL, c, &n) ? 0 : n;
}

static void follows_the_machine(void)
{
	struct ibv_device dev;
	struct vext_dev_key key = { .device = &dev };
	const struct vext_ibdev *d;
	struct vext_topo *t;
	char pci[IBV_EXT_PCI_ADDR_LEN], pci0[IBV_EXT_PCI_ADDR_LEN];

	CHECK_INT(ep0("rxe0", pci0), 0);
	CHECK_INT(ep0("rxe1", pci), 0);
	CHECK_STR(pci, "0000:41:00.0");
	CHECK_INT(nr_devices(), 2);

	/* rdma link add rxe2 ... netdev eth0 (NIC1's netdev) */
	CHECK_INT(link_add("rxe2", "eth0", 2), 0);
	CHECK_INT(ep0("rxe2", pci), 0);
	CHECK_STR(pci, "0000:41:00.0");
	CHECK_INT(nr_devices(), 3);

	/* rdma dev set rxe0 name rxe7: by name, and by its ibv_device */
	CHECK_INT(rename_dev("rxe0", "rxe7", 0), 0);
	CHECK_INT(ep0("rxe7", pci), 0);
	CHECK_STR(pci, pci0);
	CHECK_INT(ep0("rxe0", pci), ENODEV);
	CHECK_HAS(ibv_ext_last_error(), "no RDMA device rxe0");
	memset(&dev, 0, sizeof(dev));
	snprintf(dev.name, sizeof(dev.name), "rxe0"); /* as enumerated */
	snprintf(dev.dev_name, sizeof(dev.dev_name), "uverbs0");
	CHECK_INT(vext_dev_get(&key, &t, &d), 0);
	if (t) {
		CHECK_STR(d->name, "rxe7");
		vext_topo_put(t);
	}

	/* rdma link delete rxe2 */
	CHECK_INT(link_delete("rxe2", 2), 0);
	CHECK_INT(nr_devices(), 2);
	CHECK_INT(ep0("rxe2", pci), ENODEV);

	/* delete rxe1 and make it again on NIC0's netdev (eth2) */
	CHECK_INT(link_delete("rxe1", 1), 0);
	CHECK_INT(nr_devices(), 1);
	CHECK_INT(link_add("rxe1", "eth2", 1), 0);
	CHECK_INT(ep0("rxe1", pci), 0);
	CHECK_STR(pci, pci0);

	/* What no listing shows: a file changed in place. Kept until dropped. */
	CHECK_INT(sh("echo eth0 > '%s/devices/virtual/infiniband/rxe1/parent'", tree), 0);
	CHECK_INT(ep0("rxe1", pci), 0);
	CHECK_STR(pci, pci0);
	ibv_ext_drop_topology_cache();
	CHECK_INT(ep0("rxe1", pci), 0);
	CHECK_STR(pci, "0000:41:00.0");
}

static atomic_int stop;
static int reader_errors;

static void *reader(void *arg)
{
	char pci[IBV_EXT_PCI_ADDR_LEN];
	int errors = 0;

	while (!atomic_load(&stop)) {
		size_t n = nr_devices();

		if (ep0("rxe1", pci) || (n != 2 && n != 3))
			errors++;
		ibv_ext_sysfs_note(0);
	}
	__atomic_add_fetch(&reader_errors, errors, __ATOMIC_RELAXED);
	return arg;
}

static void reload_under_load(void)
{
	pthread_t th[4];
	int i, bad = 0;

	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, reader, NULL);
	for (i = 0; i < 40; i++) {
		bad |= link_add("rxe3", "eth0", 3);
		bad |= link_delete("rxe3", 3);
		if (i % 10 == 0)
			ibv_ext_drop_topology_cache();
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(bad, 0);
	CHECK_INT(reader_errors, 0);
}

/*
 * vext_same_node(): the recorded node, opened, is the device's; another
 * node, a file, or the same path made again (as devtmpfs does when a device
 * is made again under a reused uverbs index) is not.
 */
static void same_node(void)
{
	char path[] = "/dev/shm/dmp-node-XXXXXX";
	struct vext_ibdev dev = { 0 };
	struct statfs sfs;
	int fd, tmp, again;

	vext_record_node(&dev, "/etc/hostname");	/* not on devtmpfs */
	CHECK_INT(dev.node_ino, 0);
	CHECK(!vext_same_node(&dev, 0));

	if (statfs("/dev/shm", &sfs) || sfs.f_type != TMPFS_MAGIC) {
		SKIP(same_node, "/dev/shm is not a tmpfs, where a node could be made");
		return;
	}
	tmp = mkstemp(path);
	if (tmp < 0) {
		SKIP(same_node, "cannot make a file in /dev/shm");
		return;
	}
	close(tmp);
	vext_record_node(&dev, path);			/* not a device */
	CHECK_INT(dev.node_ino, 0);
	unlink(path);
	if (mknod(path, S_IFCHR | 0600, makedev(1, 3))) {	/* /dev/null's */
		SKIP(same_node, "mknod needs CAP_MKNOD: the node case is not run");
		return;
	}
	vext_record_node(&dev, path);
	CHECK(dev.node_ino != 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && vext_same_node(&dev, fd));
	tmp = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(tmp >= 0 && !vext_same_node(&dev, tmp));
	close(tmp);
	/* Made again: same path, same device number, a new node. */
	unlink(path);
	CHECK_INT(mknod(path, S_IFCHR | 0600, makedev(1, 3)), 0);
	again = open(path, O_RDWR | O_CLOEXEC);
	CHECK(again >= 0 && !vext_same_node(&dev, again));
	CHECK(vext_same_node(&dev, fd));	/* the old one still is */
	close(again);
	close(fd);
	unlink(path);
}

int main(void)
{
	const char *fx = getenv("DMP_FIXTURES");

	RUN(same_node);
	if (!fx) {
		SKIP(follows_the_machine, "DMP_FIXTURES is not set (run through ctest)");
		return test_report();
	}
	if (!mkdtemp(tree))
		return 1;
	snprintf(rxe, sizeof(rxe), "%s.rxe", tree);
	if (sh("cp -a '%s/lab-vm/.' '%s'", fx, tree) ||
	    sh("cp -a '%s/devices/virtual/infiniband/rxe1' '%s.rxe'", tree, tree))
		return 1;
	setenv(IBV_EXT_SYSFS_ROOT_ENV, tree, 1);
	RUN(follows_the_machine);
	RUN(reload_under_load);
	ibv_ext_drop_topology_cache();
	sh("rm -rf '%s' '%s.rxe'", tree, tree);
	return test_report();
}
