// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf's buffers: an inherited fd (--fd) or one made here (--create:
 * udmabuf, the system heap, or a BAR range from vfio-pci, whose device
 * file stays open while the buffer is used).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <infiniband/verbs_ext.h>

#include "ibv_dmabuf.h"
#include "opts.h"

/*
 * "vfio:DDDD:BB:DD.F,bar=2,offset=4M,size=2M": a BAR range from vfio-pci
 * (any memory BAR that holds it without bar=); its device file stays open
 * in o->vfio_fd while the buffer is used (closing it revokes the buffer).
 */
static int make_vfio(struct opts *o, char *opts)
{
	struct ibv_vfio_dmabuf_attr a = { .bar = IBV_VFIO_BAR_ANY,
					  .size = 2 << 20,
					  .open_flags = O_RDWR | O_CLOEXEC };
	char *tok, *save;
	long v;
	int fd;

	a.pci_addr = opts ? strtok_r(opts, ",", &save) : NULL;
	if (!a.pci_addr)
		return -2;
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "bar=", 4)) {
			if (tool_parse_long(tok + 4, 0, 5, &v))
				return -2;
			a.bar = (int32_t)v;
		} else if (!strncmp(tok, "offset=", 7)) {
			if (tool_parse_size(tok + 7, &a.offset))
				return -2;
		} else if (!strncmp(tok, "size=", 5)) {
			if (tool_parse_size(tok + 5, &a.size))
				return -2;
		} else {
			return -2;
		}
	}
	fd = ibv_alloc_vfio_dmabuf(&a);
	o->vfio_fd = a.device_fd;
	return fd;
}

/* "udmabuf:size=2M,node=1,interleave,hugetlb" / "heap:size=4M" / "vfio:..." */
static int make_buffer(struct opts *o)
{
	struct ibv_dmabuf_alloc_attr a = { .size = 2 << 20, .numa_node = -1 };
	char buf[256], *opts, *tok, *save;
	long v;
	int fd;

	if (strlen(o->create) >= sizeof(buf))
		return -2;
	strcpy(buf, o->create);
	opts = strchr(buf, ':');
	if (opts)
		*opts++ = '\0';
	if (!strcmp(buf, "vfio"))
		return make_vfio(o, opts);
	if (!strcmp(buf, "udmabuf"))
		a.type = IBV_DMABUF_ALLOC_UDMABUF;
	else if (!strcmp(buf, "heap"))
		a.type = IBV_DMABUF_ALLOC_HEAP_SYSTEM;
	else
		return -2;
	for (tok = opts ? strtok_r(opts, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "size=", 5)) {
			if (tool_parse_size(tok + 5, &a.size))
				return -2;
		} else if (!strncmp(tok, "node=", 5)) {
			if (tool_parse_long(tok + 5, 0, 1023, &v))
				return -2;
			a.numa_node = (int32_t)v;
		} else if (!strcmp(tok, "interleave")) {
			a.flags |= IBV_DMABUF_ALLOC_INTERLEAVE;
		} else if (!strcmp(tok, "hugetlb")) {
			a.flags |= IBV_DMABUF_ALLOC_HUGETLB;
		} else {
			return -2;
		}
	}
	fd = ibv_alloc_dmabuf(&a);
	if (fd >= 0 && a.numa_node >= 0 && o->node_hint < 0)
		o->node_hint = a.numa_node;
	return fd;
}

void close_buffer(struct opts *o, int fd)
{
	if (!o->create || fd < 0)
		return;
	close(fd);
	if (o->vfio_fd >= 0)
		close(o->vfio_fd);
	o->vfio_fd = -1;
}

/*
 * Returns a dma-buf fd from --fd/--create, -1 (reported) or -2 (none). A
 * buffer made here with node=N gives the NUMA hint N: where the kernel
 * cannot describe the buffer, its maker still knows where the pages are.
 */
int open_buffer(struct opts *o, int *rc)
{
	long v;
	int fd;

	if (o->fd_arg && o->create) {
		*rc = tool_usage_error("%s", "--fd and --create are exclusive");
		return -1;
	}
	if (o->fd_arg) {
		/* -1 and closed fds are the library's to refuse. */
		if (tool_parse_long(o->fd_arg, -1, INT32_MAX, &v)) {
			*rc = tool_usage_error("bad --fd '%s'", o->fd_arg);
			return -1;
		}
		return (int)v;
	}
	if (o->create) {
		fd = make_buffer(o);
		if (fd == -2) {
			*rc = tool_usage_error("bad --create '%s'", o->create);
			return -1;
		}
		if (fd < 0) {
			*rc = fail("creating the dma-buf");
			return -1;
		}
		return fd;
	}
	return -2;
}
