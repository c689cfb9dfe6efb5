// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Test and benchmark dma-bufs from the exporters every Linux machine can
 * have: udmabuf (memfd pages, optionally huge pages, bound to a NUMA node
 * or interleaved) and the system dma-heap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/dma-heap.h>
#include <linux/mempolicy.h>
#include <linux/udmabuf.h>

#include "ext_internal.h"

#define UDMABUF_DEV "/dev/udmabuf"
#define SYSTEM_HEAP_DEV "/dev/dma_heap/system"

#define MASK_BITS (8 * sizeof(unsigned long))

/* A memory policy: a mode and the nodes it names. */
struct mem_policy {
	int mode;
	unsigned long mask[VEXT_MAX_NODES / MASK_BITS + 1];
};

/* The kernel reads maxnode - 1 bits. */
#define POLICY_MAXNODE (8 * sizeof(((struct mem_policy *)0)->mask) + 1)

/* The policy that puts pages on node, or over all online nodes. */
static int policy_for(int node, bool interleave, struct mem_policy *p)
{
	struct vext_topo *t;
	int n;

	memset(p, 0, sizeof(*p));
	if (interleave) {
		t = vext_topo_get();
		if (!t)
			return errno;
		for (n = 0; n < t->max_node; n++)
			if (t->node_online[n])
				p->mask[n / MASK_BITS] |= 1UL
							  << (n % MASK_BITS);
		vext_topo_put(t);
		p->mode = MPOL_INTERLEAVE;
		return 0;
	}
	if (node < 0 || node >= VEXT_MAX_NODES)
		return vext_err(EINVAL, "NUMA node %d out of range", node);
	p->mask[node / MASK_BITS] |= 1UL << (node % MASK_BITS);
	p->mode = MPOL_BIND;
	return 0;
}

static void policy_what(const struct ibv_dmabuf_alloc_attr *a, char *buf,
			size_t len)
{
	if (a->flags & IBV_DMABUF_ALLOC_INTERLEAVE)
		snprintf(buf, len, "all nodes, interleaved");
	else
		snprintf(buf, len, "node %d", a->numa_node);
}

/* Make p the calling thread's policy; the old one goes to saved. */
static int policy_push(const struct ibv_dmabuf_alloc_attr *a,
		       const struct mem_policy *p, struct mem_policy *saved)
{
	char what[32];

	memset(saved, 0, sizeof(*saved));
	if (!syscall(SYS_get_mempolicy, &saved->mode, saved->mask,
		     POLICY_MAXNODE, NULL, 0) &&
	    !syscall(SYS_set_mempolicy, p->mode, p->mask, POLICY_MAXNODE))
		return 0;
	policy_what(a, what, sizeof(what));
	return vext_err(errno, "binding to %s: %s", what, strerror(errno));
}

static void policy_pop(const struct mem_policy *saved)
{
	syscall(SYS_set_mempolicy, saved->mode,
		saved->mode == MPOL_DEFAULT ? NULL : saved->mask,
		POLICY_MAXNODE);
}

/*
 * Place the memfd's pages (shmem's shared policy, set through a mapping
 * that is gone again) before anything faults them.
 */
static int place_shmem(int memfd, const struct ibv_dmabuf_alloc_attr *a,
		       const struct mem_policy *p)
{
	char what[32];
	int err = 0;
	void *m;

	m = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (m == MAP_FAILED)
		return vext_err(errno, "mmap of memfd: %s", strerror(errno));
	if (syscall(SYS_mbind, m, a->size, p->mode, p->mask, POLICY_MAXNODE,
		    0)) {
		policy_what(a, what, sizeof(what));
		err = vext_err(errno, "mbind to %s: %s", what, strerror(errno));
	}
	munmap(m, a->size);
	return err;
}

/* The huge page size of a hugetlbfs memfd: its block size. */
static int check_huge_size(int memfd, uint64_t size)
{
	struct stat st;

	if (fstat(memfd, &st))
		return vext_err(errno, "fstat of the hugetlb memfd: %s",
				strerror(errno));
	if (st.st_blksize <= 0 || size % (uint64_t)st.st_blksize)
		return vext_err(EINVAL,
				"size %llu is not a multiple of the huge page size %lld",
				(unsigned long long)size,
				(long long)st.st_blksize);
	return 0;
}

/*
 * Allocate the pages now, under the policy: ENOMEM here, not SIGBUS later.
 * hugetlbfs has no shared policy: its pages follow the thread's policy.
 */
static int populate(int memfd, const struct ibv_dmabuf_alloc_attr *a)
{
	bool huge = a->flags & IBV_DMABUF_ALLOC_HUGETLB;
	bool placed = a->numa_node >= 0 ||
		      (a->flags & IBV_DMABUF_ALLOC_INTERLEAVE);
	struct mem_policy p, saved;
	int err = 0;

	if (placed) {
		err = policy_for(a->numa_node,
				 a->flags & IBV_DMABUF_ALLOC_INTERLEAVE, &p);
		if (!err)
			err = huge ? policy_push(a, &p, &saved) :
				     place_shmem(memfd, a, &p);
		if (err)
			return err;
	}
	if (fallocate(memfd, 0, 0, (off_t)a->size))
		err = errno;
	if (placed && huge)
		policy_pop(&saved);
	if (err == ENOSPC && huge) {
		char what[32] = "";

		if (placed)
			policy_what(a, what, sizeof(what));
		/* hugetlbfs says ENOSPC: the pool is memory, not a disk. */
		return vext_err(ENOMEM,
				"fallocate %llu bytes of huge pages%s%s: too few free in the pool (vm.nr_hugepages)",
				(unsigned long long)a->size,
				placed ? " on " : "", what);
	}
	if (err)
		return vext_err(err, "fallocate %llu bytes: %s",
				(unsigned long long)a->size, strerror(err));
	return 0;
}

static int alloc_udmabuf(const struct ibv_dmabuf_alloc_attr *a)
{
	struct udmabuf_create create = { 0 };
	bool huge = a->flags & IBV_DMABUF_ALLOC_HUGETLB;
	int memfd, dev, fd = -1, err;

	memfd = memfd_create("ibv-ext-dmabuf",
			     MFD_ALLOW_SEALING | MFD_CLOEXEC |
				     (huge ? MFD_HUGETLB : 0));
	if (memfd < 0)
		return -vext_err(errno, "memfd_create%s: %s%s",
				 huge ? " (MFD_HUGETLB)" : "", strerror(errno),
				 huge && errno == ENOSYS ?
					 " (kernel without CONFIG_HUGETLBFS)" :
					 "");
	if (huge) {
		err = check_huge_size(memfd, a->size);
		if (err)
			goto out;
	}
	if (ftruncate(memfd, (off_t)a->size)) {
		err = vext_err(errno, "ftruncate memfd to %llu: %s",
			       (unsigned long long)a->size, strerror(errno));
		goto out;
	}
	err = populate(memfd, a);
	if (err)
		goto out;
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		err = vext_err(errno, "sealing memfd: %s", strerror(errno));
		goto out;
	}
	dev = open(UDMABUF_DEV, O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		err = vext_err(errno, "%s: %s (kernel without CONFIG_UDMABUF?)",
			       UDMABUF_DEV, strerror(errno));
		goto out;
	}
	create.memfd = (uint32_t)memfd;
	create.flags = UDMABUF_FLAGS_CLOEXEC;
	create.offset = 0;
	create.size = a->size;
	fd = ioctl(dev, UDMABUF_CREATE, &create);
	err = fd < 0 ? errno : 0;
	close(dev);
	if (fd < 0)
		err = vext_err(err, "UDMABUF_CREATE of %llu bytes: %s%s",
			       (unsigned long long)a->size, strerror(err),
			       err == EINVAL ?
				       " (over udmabuf.size_limit_mb?)" : "");
out:
	close(memfd);
	return fd < 0 ? -err : fd;
}

static int alloc_heap(const struct ibv_dmabuf_alloc_attr *a)
{
	struct dma_heap_allocation_data data = { 0 };
	struct mem_policy p, saved;
	int heap, err = 0;

	heap = open(SYSTEM_HEAP_DEV, O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		return -vext_err(errno, "%s: %s", SYSTEM_HEAP_DEV,
				 strerror(errno));
	/* The system heap allocates under the caller's memory policy. */
	if (a->numa_node >= 0) {
		err = policy_for(a->numa_node, false, &p);
		if (!err)
			err = policy_push(a, &p, &saved);
		if (err) {
			close(heap);
			return -err;
		}
	}
	data.len = a->size;
	data.fd_flags = O_RDWR | O_CLOEXEC;
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data))
		err = vext_err(errno, "DMA_HEAP_IOCTL_ALLOC of %llu bytes: %s",
			       (unsigned long long)a->size, strerror(errno));
	if (a->numa_node >= 0)
		policy_pop(&saved);
	close(heap);
	return err ? -err : (int)data.fd;
}

int ibv_alloc_dmabuf(const struct ibv_dmabuf_alloc_attr *attr)
{
	const uint32_t known = IBV_DMABUF_ALLOC_INTERLEAVE |
			       IBV_DMABUF_ALLOC_HUGETLB;
	long page = sysconf(_SC_PAGESIZE);
	int ret;

	if (!attr) {
		errno = vext_err(EINVAL, "attr is NULL");
		return -1;
	}
	if (attr->comp_mask) {
		errno = vext_err(EOPNOTSUPP, "attr: unknown comp_mask bits 0x%x",
				 attr->comp_mask);
		return -1;
	}
	if (attr->flags & ~known) {
		errno = vext_err(EINVAL, "attr: unknown flags 0x%x",
				 attr->flags & ~known);
		return -1;
	}
	/* memfd, mmap and fallocate take it as size_t and off_t. */
	if (attr->size > SIZE_MAX || attr->size > INT64_MAX) {
		errno = vext_err(EINVAL,
				 "size 0x%llx does not fit this build's %zu-bit size_t",
				 (unsigned long long)attr->size,
				 8 * sizeof(size_t));
		return -1;
	}
	if (!attr->size || attr->size % (uint64_t)page) {
		errno = vext_err(EINVAL,
				 "size %llu is not a non-zero multiple of the page size",
				 (unsigned long long)attr->size);
		return -1;
	}
	if (attr->numa_node < -1 || attr->numa_node >= VEXT_MAX_NODES) {
		errno = vext_err(EINVAL, "NUMA node %d out of range",
				 attr->numa_node);
		return -1;
	}
	switch (attr->type) {
	case IBV_DMABUF_ALLOC_UDMABUF:
		ret = alloc_udmabuf(attr);
		break;
	case IBV_DMABUF_ALLOC_HEAP_SYSTEM:
		if (attr->flags & IBV_DMABUF_ALLOC_INTERLEAVE) {
			errno = vext_err(EINVAL,
					 "interleaving is only for udmabuf");
			return -1;
		}
		if (attr->flags & IBV_DMABUF_ALLOC_HUGETLB) {
			errno = vext_err(EINVAL,
					 "huge pages (IBV_DMABUF_ALLOC_HUGETLB) are only for udmabuf");
			return -1;
		}
		ret = alloc_heap(attr);
		break;
	default:
		errno = vext_err(EINVAL, "attr: unknown type %u", attr->type);
		return -1;
	}
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}
