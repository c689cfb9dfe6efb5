// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Test and benchmark dma-bufs from the exporters every Linux machine can
 * have: udmabuf (memfd pages, optionally bound to a NUMA node or
 * interleaved) and the system dma-heap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/dma-heap.h>
#include <linux/mempolicy.h>
#include <linux/udmabuf.h>

#include "ext_internal.h"

#define UDMABUF_DEV "/dev/udmabuf"
#define SYSTEM_HEAP_DEV "/dev/dma_heap/system"

static long sys_mbind(void *addr, unsigned long len, int mode,
		      const unsigned long *mask, unsigned long maxnode,
		      unsigned int flags)
{
	return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}

static int node_mask(int node, unsigned long *mask, size_t words)
{
	memset(mask, 0, words * sizeof(*mask));
	if (node < 0 || (size_t)node >= words * 8 * sizeof(*mask))
		return -1;
	mask[node / (8 * sizeof(*mask))] |= 1UL << (node % (8 * sizeof(*mask)));
	return 0;
}

/* Place the memfd's pages (shared policy) before anything faults them. */
static int place_pages(int memfd, uint64_t size, int node, bool interleave)
{
	unsigned long mask[VEXT_MAX_NODES / (8 * sizeof(unsigned long)) + 1];
	struct vext_topo *t;
	int mode, n, err = 0;
	void *p;

	memset(mask, 0, sizeof(mask));
	if (interleave) {
		t = vext_topo_get();
		if (!t)
			return errno;
		for (n = 0; n < t->max_node; n++)
			if (t->node_online[n])
				mask[n / (8 * sizeof(*mask))] |=
					1UL << (n % (8 * sizeof(*mask)));
		vext_topo_put(t);
		mode = MPOL_INTERLEAVE;
	} else {
		if (node_mask(node, mask, VEXT_ARRAY_SIZE(mask)))
			return vext_err(EINVAL, "NUMA node %d out of range",
					node);
		mode = MPOL_BIND;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED)
		return vext_err(errno, "mmap of memfd: %s", strerror(errno));
	if (sys_mbind(p, size, mode, mask, 8 * sizeof(mask) + 1, 0))
		err = vext_err(errno, "mbind to %s%d: %s",
			       interleave ? "all nodes, " : "node ",
			       interleave ? 0 : node, strerror(errno));
	munmap(p, size);
	return err;
}

static int alloc_udmabuf(const struct ibv_dmabuf_alloc_attr *a)
{
	struct udmabuf_create create = { 0 };
	int memfd, dev, fd = -1, err;

	memfd = memfd_create("ibv-ext-dmabuf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (memfd < 0)
		return -vext_err(errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(memfd, (off_t)a->size)) {
		err = vext_err(errno, "ftruncate memfd to %llu: %s",
			       (unsigned long long)a->size, strerror(errno));
		goto out;
	}
	if (a->numa_node >= 0 || (a->flags & IBV_DMABUF_ALLOC_INTERLEAVE)) {
		err = place_pages(memfd, a->size, a->numa_node,
				  a->flags & IBV_DMABUF_ALLOC_INTERLEAVE);
		if (err)
			goto out;
	}
	/* Allocate now, under the policy: ENOMEM here, not SIGBUS later. */
	if (fallocate(memfd, 0, 0, (off_t)a->size)) {
		err = vext_err(errno, "fallocate %llu bytes: %s",
			       (unsigned long long)a->size, strerror(errno));
		goto out;
	}
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
	unsigned long mask[VEXT_MAX_NODES / (8 * sizeof(unsigned long)) + 1];
	unsigned long old_mask[VEXT_ARRAY_SIZE(mask)];
	int heap, old_mode = MPOL_DEFAULT, err = 0;
	bool bound = false;

	heap = open(SYSTEM_HEAP_DEV, O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		return -vext_err(errno, "%s: %s", SYSTEM_HEAP_DEV,
				 strerror(errno));
	/* The system heap allocates under the caller's memory policy. */
	if (a->numa_node >= 0) {
		if (node_mask(a->numa_node, mask, VEXT_ARRAY_SIZE(mask))) {
			close(heap);
			return -vext_err(EINVAL, "NUMA node %d out of range",
					 a->numa_node);
		}
		if (syscall(SYS_get_mempolicy, &old_mode, old_mask,
			    8 * sizeof(old_mask) + 1, NULL, 0) ||
		    syscall(SYS_set_mempolicy, MPOL_BIND, mask,
			    8 * sizeof(mask) + 1)) {
			err = vext_err(errno, "binding to node %d: %s",
				       a->numa_node, strerror(errno));
			close(heap);
			return -err;
		}
		bound = true;
	}
	data.len = a->size;
	data.fd_flags = O_RDWR | O_CLOEXEC;
	if (ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data))
		err = vext_err(errno, "DMA_HEAP_IOCTL_ALLOC of %llu bytes: %s",
			       (unsigned long long)a->size, strerror(errno));
	if (bound)
		syscall(SYS_set_mempolicy, old_mode,
			old_mode == MPOL_DEFAULT ? NULL : old_mask,
			8 * sizeof(old_mask) + 1);
	close(heap);
	return err ? -err : (int)data.fd;
}

int ibv_alloc_dmabuf(const struct ibv_dmabuf_alloc_attr *attr)
{
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
	if (attr->flags & ~IBV_DMABUF_ALLOC_INTERLEAVE) {
		errno = vext_err(EINVAL, "attr: unknown flags 0x%x",
				 attr->flags & ~IBV_DMABUF_ALLOC_INTERLEAVE);
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
