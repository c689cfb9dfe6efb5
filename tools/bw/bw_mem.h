/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Memory backends of the benchmarks, behind one ops table (perftest's
 * memory_ctx is the model): where the buffer comes from, how the CPU
 * reaches it (for --check), and whether it is a dma-buf.
 *
 *   host[:node=N]                       anonymous memory (ibv_reg_mr)
 *   udmabuf[:node=N|:interleave][:hugetlb]
 *                                       memfd pages wrapped by /dev/udmabuf
 *                                       (hugetlb: from the huge page pool)
 *   heap[:node=N]                       /dev/dma_heap/system
 *   drm[:DEV]                           a DRM dumb buffer exported with PRIME
 *                                       (DEV: /dev/dri/... or driver name)
 *   cuda[:N]                            cuMemAlloc on GPU N, exported as a
 *                                       dma-buf (libcuda.so.1 via dlopen)
 *
 * Every dma-buf backend is registered with ibv_reg_dmabuf_mr_ex(); host
 * memory with ibv_reg_mr().
 */
#ifndef DMP_BW_MEM_H
#define DMP_BW_MEM_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "bw_util.h"

struct bw_mem_ops;

struct bw_mem_spec {
	const struct bw_mem_ops *ops;
	int node;		/* -1: anywhere */
	bool interleave;	/* udmabuf: pages over all nodes */
	bool hugetlb;		/* udmabuf: huge pages (MFD_HUGETLB) */
	char dev[128];		/* drm: device node or driver name */
	int gpu;		/* cuda: device ordinal */
	char text[160];		/* as given, for reports */
};

struct bw_mem {
	const struct bw_mem_ops *ops;
	uint64_t size;		/* bytes usable from offset 0 */
	int fd;			/* dma-buf, -1 for host memory */
	uint8_t *map;		/* CPU mapping; NULL when there is none */
	uint64_t iova;		/* address the peer uses for offset 0 */
	int node;		/* where the pages were placed, -1 unknown */
	char desc[160];		/* what was made, e.g. "vgem dumb buffer, /dev/dri/card0" */
	void *priv;
};

struct bw_mem_ops {
	const char *name;
	const char *synopsis;
	bool dmabuf;
	/*
	 * Can this machine make such buffers at all? 0, or an errno with the
	 * reason (e.g. "libcuda.so.1 not found: no NVIDIA driver here").
	 */
	int (*probe)(const struct bw_mem_spec *spec, struct bw_err *e);
	int (*alloc)(const struct bw_mem_spec *spec, uint64_t size,
		     struct bw_mem *m, struct bw_err *e);
	/* NULL: bw_mem_unmap() is all there is to free. */
	void (*free)(struct bw_mem *m);
	/*
	 * CPU access for --check: copy in and out at offset off. NULL: through
	 * the mapping (with DMA_BUF_IOCTL_SYNC around it for dma-bufs).
	 */
	int (*write)(struct bw_mem *m, uint64_t off, const void *src,
		     uint64_t len, struct bw_err *e);
	int (*read)(struct bw_mem *m, uint64_t off, void *dst, uint64_t len,
		    struct bw_err *e);
};

extern const struct bw_mem_ops bw_mem_host, bw_mem_udmabuf, bw_mem_heap,
	bw_mem_drm, bw_mem_cuda;

/* Every backend, NULL-terminated, in the order --help lists them. */
extern const struct bw_mem_ops *const bw_mem_backends[];

/* Parse a --mem value. 0, or EINVAL with the reason. */
int bw_mem_parse(const char *text, struct bw_mem_spec *spec, struct bw_err *e);

/*
 * What the size of a buffer of spec must be a multiple of: the page size,
 * or the huge page size for udmabuf:hugetlb.
 */
uint64_t bw_mem_granule(const struct bw_mem_spec *spec);

int bw_mem_alloc(const struct bw_mem_spec *spec, uint64_t size,
		 struct bw_mem *m, struct bw_err *e);
void bw_mem_free(struct bw_mem *m);

/* Pattern fill / check through the backend's CPU access (--check). */
int bw_mem_fill(struct bw_mem *m, uint64_t off, uint64_t len, uint64_t seed,
		struct bw_err *e);
/* 0 and *bad = -1 when equal; *bad = first differing byte otherwise. */
int bw_mem_verify(struct bw_mem *m, uint64_t off, uint64_t len, uint64_t seed,
		  int64_t *bad, struct bw_err *e);
int bw_mem_zero(struct bw_mem *m, uint64_t off, uint64_t len, struct bw_err *e);

/* The CPU mapping and the dma-buf fd closed (host, udmabuf, heap, drm, cuda). */
void bw_mem_unmap(struct bw_mem *m);

/* What a registration went through, for the report. */
struct bw_reg_info {
	bool dmabuf;		/* ibv_reg_dmabuf_mr_ex, else ibv_reg_mr */
	bool have_ep;		/* ep / choice are valid */
	struct ibv_dma_choice choice;
	struct ibv_dmabuf_info source;
};

/*
 * *a for ibv_reg_dmabuf_mr_ex() of all of dma-buf m: hints in, the choice
 * out, the source description out where with_source asks for it.
 */
void bw_mem_ex_attr(const struct bw_mem *m, unsigned int access,
		    const struct ibv_dma_path_hints *hints,
		    struct ibv_dma_choice *choice,
		    struct ibv_dmabuf_info *source, bool with_source,
		    struct ibv_reg_dmabuf_mr_ex_attr *a);

/*
 * Register m on pd: host memory with ibv_reg_mr(), dma-bufs with
 * ibv_reg_dmabuf_mr_ex() steered by hints (a NUMA hint is added for AUTO
 * when the backend placed the pages). On failure: NULL, errno, reason.
 */
struct ibv_mr *bw_mem_reg(struct ibv_pd *pd, struct bw_mem *m,
			  unsigned int access,
			  const struct ibv_dma_path_hints *hints,
			  struct bw_reg_info *info, struct bw_err *e);

#endif
