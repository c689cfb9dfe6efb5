/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * ibv_dmabuf_xfer's buffers: host memory or a dma-buf made here, and the
 * CPU's view of each - a mapping (host memory, udmabuf, heap) or pread/
 * pwrite on vfio's device file (vfio BAR dma-bufs cannot be mapped) -
 * behind one read/write interface, with which the data are checked.
 */
#ifndef DMP_XFER_BUF_H
#define DMP_XFER_BUF_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs_ext.h>

/* xfer_buf_alloc()'s answer for a spec it cannot parse. */
#define XFER_BAD_SPEC (-1)

struct xfer_buf {
	/* host | udmabuf[:node=N|:interleave] | heap[:node=N] |
	 * vfio:PCI[,bar=N][,offset=SIZE] */
	const char *spec;
	bool dmabuf;
	int fd;			/* the dma-buf; -1 for host memory */
	uint64_t alloc;		/* bytes allocated */
	uint64_t offset;	/* registration offset into the buffer */
	uint64_t iova;
	int node;		/* node the pages were bound to, -1 none */
	uint8_t *map;		/* CPU view: a mapping of the whole buffer, */
	int dev_fd;		/* ... or pread/pwrite on this vfio device, */
	uint64_t dev_base;	/* ... byte 0 of the buffer there */
	bool own_dev;		/* dev_fd is closed with this buffer */
	char pci[IBV_EXT_PCI_ADDR_LEN];	/* vfio: the function */
	uint32_t bar;		/* vfio: the BAR and where in it */
	uint64_t bar_offset;
	struct ibv_mr *mr;
	struct ibv_dma_choice choice;
	struct ibv_dmabuf_info source;
};

/* An unallocated buffer of spec (fd and dev_fd -1, node -1). */
void xfer_buf_init(struct xfer_buf *b, const char *spec);

/*
 * Make b for len bytes at b->offset. A vfio buffer of the function of an
 * earlier one (other, may be NULL) shares its device file and, unless
 * offset= is given, takes the next MiB of the BAR after it. 0, errno
 * (ibv_ext_last_error() says why, or a message was printed), or
 * XFER_BAD_SPEC.
 */
int xfer_buf_alloc(struct xfer_buf *b, uint64_t len,
		   const struct xfer_buf *other);

/* n bytes at off of the buffer through its CPU view: 0 or errno. */
int xfer_buf_write(struct xfer_buf *b, uint64_t off, const void *p,
		   uint64_t n);
int xfer_buf_read(struct xfer_buf *b, uint64_t off, void *p, uint64_t n);

/* The check pattern of seed over [off, off + len) (seed 0: zeros). */
int xfer_buf_fill(struct xfer_buf *b, uint64_t off, uint64_t len,
		  uint32_t seed);
/*
 * Does [off, off + len) hold the pattern of seed? 0 with *bad the first
 * byte that differs (relative to off) or -1; errno if it cannot be read.
 */
int xfer_buf_check(struct xfer_buf *b, uint64_t off, uint64_t len,
		   uint32_t seed, int64_t *bad);

/* Unmap and close what b holds (not its MR). */
void xfer_buf_free(struct xfer_buf *b);

#endif
