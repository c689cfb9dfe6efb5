/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * ibv_dmabuf's parts: the options (ibv_dmabuf.c) and the buffers given with
 * --fd or made with --create (buffer.c).
 */
#ifndef DMP_IBV_DMABUF_H
#define DMP_IBV_DMABUF_H

#include <stdbool.h>
#include <stdint.h>

#include "opts.h"

#define EXIT_FAIL 1
#define EXIT_USAGE TOOL_EXIT_USAGE

struct opts {
	bool json;
	const char *fd_arg;
	const char *create;
	const char *source;
	const char *device;
	const char *path;
	uint64_t offset, length, iova;
	bool have_length, have_iova;
	unsigned int access;
	int node_hint;		/* --node-hint, or the node --create bound to */
	int vfio_fd;		/* --create vfio:...: its device file */
};

extern const char *const prog;

/* "prog: what: reason (strerror)" on stderr; EXIT_FAIL. */
int fail_err(const char *what, int err);
/* The same for calls that return NULL or -1 and set errno. */
int fail(const char *what);

/*
 * The dma-buf fd of --fd or --create, -1 (reported, *rc set) or -2 (none
 * given). A buffer made with node=N gives the NUMA hint N.
 */
int open_buffer(struct opts *o, int *rc);
/* A buffer made here: closed, then its vfio device file (which revokes it). */
void close_buffer(struct opts *o, int fd);

#endif
