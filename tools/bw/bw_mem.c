// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * The backend table, --mem parsing, the generic CPU access of mapped
 * buffers (with DMA_BUF_IOCTL_SYNC around it for dma-bufs), registration,
 * and the three backends every Linux machine can have: host memory,
 * udmabuf and the system dma-heap (both made by ibv_alloc_dmabuf()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/dma-buf.h>
#include <linux/mempolicy.h>

#include "bw_mem.h"
#include "opts.h"

const struct bw_mem_ops *const bw_mem_backends[] = {
	&bw_mem_host, &bw_mem_udmabuf, &bw_mem_heap, &bw_mem_drm,
	&bw_mem_cuda, NULL,
};

static int parse_node(const char *s, int *node)
{
	long v;

	if (tool_parse_long(s, 0, 1023, &v))
		return -1;
	*node = (int)v;
	return 0;
}

/*
 * The options of host, udmabuf and heap, each after a ':': node=N, and for
 * udmabuf interleave (not with node=N) and hugetlb.
 */
static int parse_opts(const char *opts, struct bw_mem_spec *spec,
		      struct bw_err *e)
{
	bool udmabuf = spec->ops == &bw_mem_udmabuf, node = false;
	const char *name = spec->ops->name;
	char buf[sizeof(spec->text)], *tok, *next;
	bool *seen;

	if (strlen(opts) >= sizeof(buf))
		return bw_fail(e, EINVAL,
			       "--mem %s: options longer than %zu bytes", name,
			       sizeof(buf) - 1);
	strcpy(buf, opts);
	for (tok = buf; tok; tok = next) {
		next = strchr(tok, ':');
		if (next)
			*next++ = '\0';
		if (!strncmp(tok, "node=", 5) &&
		    !parse_node(tok + 5, &spec->node))
			seen = &node;
		else if (udmabuf && !strcmp(tok, "interleave"))
			seen = &spec->interleave;
		else if (udmabuf && !strcmp(tok, "hugetlb"))
			seen = &spec->hugetlb;
		else
			return bw_fail(e, EINVAL,
				       "--mem %s: bad option '%s' (want node=N%s)",
				       name, tok,
				       udmabuf ? ", interleave or hugetlb" :
						 "");
		if (*seen)
			return bw_fail(e, EINVAL,
				       "--mem %s: option '%s' given twice",
				       name, tok);
		*seen = true;
		if (node && spec->interleave)
			return bw_fail(e, EINVAL,
				       "--mem %s: node=N and interleave exclude each other",
				       name);
	}
	return 0;
}

int bw_mem_parse(const char *text, struct bw_mem_spec *spec, struct bw_err *e)
{
	const struct bw_mem_ops *const *o;
	const char *opt = strchr(text, ':');
	size_t klen = opt ? (size_t)(opt - text) : strlen(text);
	long v;

	memset(spec, 0, sizeof(*spec));
	spec->node = -1;
	snprintf(spec->text, sizeof(spec->text), "%s", text);
	for (o = bw_mem_backends; *o; o++)
		if (strlen((*o)->name) == klen && !strncmp((*o)->name, text, klen))
			spec->ops = *o;
	if (!spec->ops)
		return bw_fail(e, EINVAL,
			       "unknown memory backend '%.*s' (host, udmabuf, heap, drm, cuda)",
			       (int)klen, text);
	if (!opt)
		return 0;
	opt++;
	if (spec->ops == &bw_mem_drm) {
		if (!*opt)
			return bw_fail(e, EINVAL, "--mem drm: empty device");
		snprintf(spec->dev, sizeof(spec->dev), "%s", opt);
		return 0;
	}
	if (spec->ops == &bw_mem_cuda) {
		if (tool_parse_long(opt, 0, 1023, &v))
			return bw_fail(e, EINVAL,
				       "--mem cuda:%s: want a GPU index", opt);
		spec->gpu = (int)v;
		return 0;
	}
	return parse_opts(opt, spec, e);
}

uint64_t bw_mem_granule(const struct bw_mem_spec *spec)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	int fd;

	if (!spec->hugetlb)
		return page;
	/* hugetlbfs' block size is its huge page size. */
	fd = memfd_create("bw-hugetlb-probe", MFD_HUGETLB | MFD_CLOEXEC);
	if (fd < 0)
		return page; /* the allocation says why */
	if (fstat(fd, &st) || st.st_blksize <= 0 ||
	    (uint64_t)st.st_blksize % page)
		st.st_blksize = (blksize_t)page;
	close(fd);
	return (uint64_t)st.st_blksize;
}

int bw_mem_alloc(const struct bw_mem_spec *spec, uint64_t size,
		 struct bw_mem *m, struct bw_err *e)
{
	int ret;

	memset(m, 0, sizeof(*m));
	m->ops = spec->ops;
	m->fd = -1;
	m->node = -1;
	ret = spec->ops->alloc(spec, size, m, e);
	if (ret) {
		bw_err_prefix(e, "memory %s", spec->text);
		m->ops = NULL;
	}
	return ret;
}

void bw_mem_free(struct bw_mem *m)
{
	if (!m->ops)
		return;
	if (m->ops->free)
		m->ops->free(m);
	else
		bw_mem_unmap(m);
	m->ops = NULL;
}

/*
 * CPU access to a dma-buf is bracketed by DMA_BUF_IOCTL_SYNC so that
 * exporters with caches to manage see it; exporters without
 * begin/end_cpu_access simply return 0.
 */
static int dmabuf_sync(struct bw_mem *m, uint64_t flags, struct bw_err *e)
{
	struct dma_buf_sync s = { .flags = flags };

	if (m->fd < 0)
		return 0;
	while (ioctl(m->fd, DMA_BUF_IOCTL_SYNC, &s))
		if (errno != EINTR && errno != EAGAIN)
			return bw_fail(e, errno, "DMA_BUF_IOCTL_SYNC: %s",
				       strerror(errno));
	return 0;
}

static int check_range(struct bw_mem *m, uint64_t off, uint64_t len,
		       struct bw_err *e)
{
	if (!m->map)
		return bw_fail(e, EINVAL, "%s: no CPU mapping", m->desc);
	if (off > m->size || len > m->size - off)
		return bw_fail(e, ERANGE, "CPU access beyond the buffer");
	return 0;
}

/* Copy through the mapping: dir DMA_BUF_SYNC_WRITE (buf in) or _READ (out). */
static int map_copy(struct bw_mem *m, uint64_t off, void *buf, uint64_t len,
		    uint64_t dir, struct bw_err *e)
{
	int ret = check_range(m, off, len, e);

	if (!ret)
		ret = dmabuf_sync(m, DMA_BUF_SYNC_START | dir, e);
	if (ret)
		return ret;
	if (dir == DMA_BUF_SYNC_WRITE)
		memcpy(m->map + off, buf, len);
	else
		memcpy(buf, m->map + off, len);
	return dmabuf_sync(m, DMA_BUF_SYNC_END | dir, e);
}

void bw_mem_unmap(struct bw_mem *m)
{
	if (m->map)
		munmap(m->map, m->size);
	m->map = NULL;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

#define BOUNCE (1u << 20)

/* The backend's CPU access, or the mapping's where it has none of its own. */
static int mem_write(struct bw_mem *m, uint64_t off, void *src, uint64_t len,
		     struct bw_err *e)
{
	if (m->ops->write)
		return m->ops->write(m, off, src, len, e);
	return map_copy(m, off, src, len, DMA_BUF_SYNC_WRITE, e);
}

static int mem_read(struct bw_mem *m, uint64_t off, void *dst, uint64_t len,
		    struct bw_err *e)
{
	if (m->ops->read)
		return m->ops->read(m, off, dst, len, e);
	return map_copy(m, off, dst, len, DMA_BUF_SYNC_READ, e);
}

/* len bytes at off through the CPU access: the pattern of *seed, or zeros. */
static int write_chunks(struct bw_mem *m, uint64_t off, uint64_t len,
			const uint64_t *seed, struct bw_err *e)
{
	uint8_t *tmp;
	uint64_t done, n;
	int ret = 0;

	tmp = calloc(1, BOUNCE);
	if (!tmp)
		return bw_fail(e, ENOMEM, "out of memory");
	for (done = 0; done < len && !ret; done += n) {
		n = len - done < BOUNCE ? len - done : BOUNCE;
		if (seed)
			bw_pattern_fill(tmp, n, done, *seed);
		ret = mem_write(m, off + done, tmp, n, e);
	}
	free(tmp);
	return ret;
}

int bw_mem_fill(struct bw_mem *m, uint64_t off, uint64_t len, uint64_t seed,
		struct bw_err *e)
{
	return write_chunks(m, off, len, &seed, e);
}

int bw_mem_verify(struct bw_mem *m, uint64_t off, uint64_t len, uint64_t seed,
		  int64_t *bad, struct bw_err *e)
{
	uint8_t *tmp;
	uint64_t done, n;
	int64_t at;
	int ret = 0;

	*bad = -1;
	tmp = malloc(BOUNCE);
	if (!tmp)
		return bw_fail(e, ENOMEM, "out of memory");
	for (done = 0; done < len && !ret; done += n) {
		n = len - done < BOUNCE ? len - done : BOUNCE;
		ret = mem_read(m, off + done, tmp, n, e);
		if (ret)
			break;
		at = bw_pattern_check(tmp, n, done, seed);
		if (at >= 0) {
			*bad = (int64_t)done + at;
			break;
		}
	}
	free(tmp);
	return ret;
}

int bw_mem_zero(struct bw_mem *m, uint64_t off, uint64_t len, struct bw_err *e)
{
	return write_chunks(m, off, len, NULL, e);
}

/* ------------------------------------------------------------------ */
/* Registration                                                         */
/* ------------------------------------------------------------------ */

static void default_endpoint(struct ibv_pd *pd, struct bw_reg_info *info)
{
	struct ibv_dma_endpoint eps[8];
	size_t n = BW_ARRAY_SIZE(eps), i;
	const char *dev = ibv_get_device_name(pd->context->device);

	if (ibv_query_dma_endpoints(dev, eps, &n) && !n)
		return;
	for (i = 0; i < n && i < BW_ARRAY_SIZE(eps); i++) {
		if (!(eps[i].flags & IBV_DMA_EP_FLAG_DEFAULT))
			continue;
		info->have_ep = true;
		info->choice.ep = eps[i];
		info->choice.path_class = IBV_DMA_PATH_CLASS_UNKNOWN;
		info->choice.numa_distance = -1;
		snprintf(info->choice.reason, sizeof(info->choice.reason),
			 "host memory is registered with ibv_reg_mr, which always uses the device's default endpoint %u (no dma-buf, no endpoint choice)",
			 eps[i].index);
		return;
	}
}

void bw_mem_ex_attr(const struct bw_mem *m, unsigned int access,
		    const struct ibv_dma_path_hints *hints,
		    struct ibv_dma_choice *choice,
		    struct ibv_dmabuf_info *source, bool with_source,
		    struct ibv_reg_dmabuf_mr_ex_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->comp_mask = IBV_REG_DMABUF_MR_EX_HINTS | IBV_REG_DMABUF_MR_EX_CHOICE;
	if (with_source)
		a->comp_mask |= IBV_REG_DMABUF_MR_EX_SOURCE;
	a->fd = m->fd;
	a->length = m->size;
	a->iova = m->iova;
	a->access = access;
	a->hints = hints;
	a->choice = choice;
	a->source = source;
}

struct ibv_mr *bw_mem_reg(struct ibv_pd *pd, struct bw_mem *m,
			  unsigned int access,
			  const struct ibv_dma_path_hints *hints,
			  struct bw_reg_info *info, struct bw_err *e)
{
	struct ibv_reg_dmabuf_mr_ex_attr attr = { 0 };
	struct ibv_dma_path_hints h;
	const char *dev = ibv_get_device_name(pd->context->device);
	struct ibv_mr *mr;

	memset(info, 0, sizeof(*info));
	if (m->fd < 0) {
		mr = ibv_reg_mr(pd, m->map, m->size, (int)access);
		if (!mr) {
			bw_fail(e, errno, "%s: ibv_reg_mr of %s: %s", dev,
				m->desc, strerror(errno));
			return NULL;
		}
		m->iova = (uintptr_t)m->map;
		snprintf(info->choice.reason, sizeof(info->choice.reason),
			 "host memory is registered with ibv_reg_mr (no dma-buf, no endpoint choice)");
		default_endpoint(pd, info);
		return mr;
	}
	info->dmabuf = true;
	h = *hints;
	/* We placed the pages: say where, for kernels that cannot tell. */
	tool_hint_node(&h, m->node);
	bw_mem_ex_attr(m, access, &h, &info->choice, &info->source, true,
		       &attr);
	mr = ibv_reg_dmabuf_mr_ex(pd, &attr);
	if (!mr) {
		int err = errno;
		const char *why = ibv_ext_last_error();

		if (*why)
			bw_fail(e, err, "ibv_reg_dmabuf_mr_ex of %s: %s",
				m->desc, why);
		else
			bw_fail(e, err, "%s: ibv_reg_dmabuf_mr_ex of %s: %s",
				dev, m->desc, strerror(err));
		return NULL;
	}
	info->have_ep = true;
	return mr;
}

/* ------------------------------------------------------------------ */
/* host                                                                 */
/* ------------------------------------------------------------------ */

static int host_probe(const struct bw_mem_spec *spec, struct bw_err *e)
{
	return 0;
}

static int host_alloc(const struct bw_mem_spec *spec, uint64_t size,
		      struct bw_mem *m, struct bw_err *e)
{
	unsigned long mask[1024 / (8 * sizeof(unsigned long))] = { 0 };
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return bw_fail(e, errno, "mmap of %llu bytes: %s",
			       (unsigned long long)size, strerror(errno));
	if (spec->node >= 0) {
		mask[spec->node / (8 * sizeof(long))] |=
			1UL << (spec->node % (8 * sizeof(long)));
		if (syscall(SYS_mbind, p, size, MPOL_BIND, mask,
			    8 * sizeof(mask) + 1, 0)) {
			int err = errno;

			munmap(p, size);
			return bw_fail(e, err, "mbind to node %d: %s",
				       spec->node, strerror(err));
		}
	}
	/* Fault the pages in now, under the policy (and off the clock). */
	memset(p, 0, size);
	m->map = p;
	m->size = size;
	m->iova = (uintptr_t)p;
	m->node = spec->node;
	if (spec->node >= 0)
		snprintf(m->desc, sizeof(m->desc), "host memory on node %d",
			 spec->node);
	else
		snprintf(m->desc, sizeof(m->desc), "host memory");
	return 0;
}

const struct bw_mem_ops bw_mem_host = {
	.name = "host",
	.synopsis = "host[:node=N]",
	.dmabuf = false,
	.probe = host_probe,
	.alloc = host_alloc,
};

/* ------------------------------------------------------------------ */
/* udmabuf and the system heap, made by libibverbs-ext                  */
/* ------------------------------------------------------------------ */

static int dev_probe(const char *path, const char *config, struct bw_err *e)
{
	if (!access(path, R_OK))
		return 0;
	return bw_fail(e, errno, "%s: %s%s%s%s", path, strerror(errno),
		       errno == ENOENT ? " (kernel without " : "",
		       errno == ENOENT ? config : "",
		       errno == ENOENT ? ")" : "");
}

static int udmabuf_probe(const struct bw_mem_spec *spec, struct bw_err *e)
{
	return dev_probe("/dev/udmabuf", "CONFIG_UDMABUF", e);
}

static int heap_probe(const struct bw_mem_spec *spec, struct bw_err *e)
{
	return dev_probe("/dev/dma_heap/system", "CONFIG_DMABUF_HEAPS_SYSTEM",
			 e);
}

static int lib_alloc(const struct bw_mem_spec *spec, uint64_t size,
		     struct bw_mem *m, struct bw_err *e, uint32_t type)
{
	struct ibv_dmabuf_alloc_attr a = { 0 };
	int fd;
	void *p;

	a.type = type;
	a.size = size;
	a.numa_node = spec->node;
	a.flags = (spec->interleave ? IBV_DMABUF_ALLOC_INTERLEAVE : 0) |
		  (spec->hugetlb ? IBV_DMABUF_ALLOC_HUGETLB : 0);
	fd = ibv_alloc_dmabuf(&a);
	if (fd < 0)
		return bw_fail(e, errno, "%s", ibv_ext_last_error());
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(fd);
		return bw_fail(e, err, "mmap of the dma-buf: %s",
			       strerror(err));
	}
	m->fd = fd;
	m->map = p;
	m->size = size;
	m->iova = (uintptr_t)p;
	m->node = spec->node;
	{
		const char *what = type == IBV_DMABUF_ALLOC_HEAP_SYSTEM ?
					   "system-heap dma-buf" :
				   spec->hugetlb ? "udmabuf of huge pages" :
						   "udmabuf";

		if (spec->interleave)
			snprintf(m->desc, sizeof(m->desc),
				 "%s interleaved over all nodes", what);
		else if (spec->node >= 0)
			snprintf(m->desc, sizeof(m->desc), "%s on node %d",
				 what, spec->node);
		else
			snprintf(m->desc, sizeof(m->desc), "%s", what);
	}
	return 0;
}

static int udmabuf_alloc(const struct bw_mem_spec *spec, uint64_t size,
			 struct bw_mem *m, struct bw_err *e)
{
	return lib_alloc(spec, size, m, e, IBV_DMABUF_ALLOC_UDMABUF);
}

static int heap_alloc(const struct bw_mem_spec *spec, uint64_t size,
		      struct bw_mem *m, struct bw_err *e)
{
	return lib_alloc(spec, size, m, e, IBV_DMABUF_ALLOC_HEAP_SYSTEM);
}

const struct bw_mem_ops bw_mem_udmabuf = {
	.name = "udmabuf",
	.synopsis = "udmabuf[:node=N|:interleave][:hugetlb]",
	.dmabuf = true,
	.probe = udmabuf_probe,
	.alloc = udmabuf_alloc,
};

const struct bw_mem_ops bw_mem_heap = {
	.name = "heap",
	.synopsis = "heap[:node=N]",
	.dmabuf = true,
	.probe = heap_probe,
	.alloc = heap_alloc,
};
