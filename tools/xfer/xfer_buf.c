// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_xfer's buffers and their CPU view (see xfer_buf.h): made from
 * a spec, filled and checked in 1 MiB chunks through a mapping or through
 * pread/pwrite on vfio's device file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "opts.h"
#include "xfer_buf.h"

#define CHUNK (1u << 20)
#define MiB (1ULL << 20)

void xfer_buf_init(struct xfer_buf *b, const char *spec)
{
	memset(b, 0, sizeof(*b));
	b->spec = spec;
	b->fd = -1;
	b->dev_fd = -1;
	b->node = -1;
}

/*
 * "vfio:DDDD:BB:DD.F[,bar=N][,offset=SIZE]": a dma-buf of that BAR range
 * from vfio-pci; the CPU reaches it through the device file.
 */
static int alloc_vfio(struct xfer_buf *b, const char *arg,
		      const struct xfer_buf *other)
{
	struct ibv_vfio_dmabuf_attr a = { .bar = IBV_VFIO_BAR_ANY,
					  .open_flags = O_RDWR | O_CLOEXEC };
	char buf[128], *tok, *save;
	bool have_offset = false;
	long v;

	if (strlen(arg) >= sizeof(buf))
		return XFER_BAD_SPEC;
	strcpy(buf, arg);
	tok = strtok_r(buf, ",", &save);
	if (!tok || strlen(tok) >= sizeof(b->pci))
		return XFER_BAD_SPEC;
	strcpy(b->pci, tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "bar=", 4)) {
			if (tool_parse_long(tok + 4, 0, 5, &v))
				return XFER_BAD_SPEC;
			a.bar = (int32_t)v;
		} else if (!strncmp(tok, "offset=", 7)) {
			if (tool_parse_size(tok + 7, &a.offset))
				return XFER_BAD_SPEC;
			have_offset = true;
		} else {
			return XFER_BAD_SPEC;
		}
	}
	a.pci_addr = b->pci;
	a.size = b->alloc;
	if (other && other->dev_fd >= 0 && !strcmp(other->pci, b->pci)) {
		a.comp_mask = IBV_VFIO_DMABUF_DEVICE_FD;
		a.device_fd = other->dev_fd;
		if (!have_offset)
			a.offset = (other->bar_offset + other->alloc +
				    MiB - 1) & ~(MiB - 1);
	}
	b->fd = ibv_alloc_vfio_dmabuf(&a);
	if (b->fd < 0)
		return errno;
	b->dmabuf = true;
	b->dev_fd = a.device_fd;
	b->own_dev = !(a.comp_mask & IBV_VFIO_DMABUF_DEVICE_FD);
	b->bar = a.region_index;
	b->bar_offset = a.offset;
	b->dev_base = a.region_offset + a.offset;
	return 0;
}

int xfer_buf_alloc(struct xfer_buf *b, uint64_t len,
		   const struct xfer_buf *other)
{
	struct ibv_dmabuf_alloc_attr a = { .numa_node = -1 };
	long page = sysconf(_SC_PAGESIZE);
	const char *opt = strchr(b->spec, ':');
	size_t kind = opt ? (size_t)(opt - b->spec) : strlen(b->spec);

	if (len > UINT64_MAX - b->offset - page)
		return XFER_BAD_SPEC;
	b->alloc = (b->offset + len + page - 1) / page * page;
	if (kind == 4 && !strncmp(b->spec, "host", 4) && !opt) {
		b->map = mmap(NULL, b->alloc, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b->map == MAP_FAILED) {
			b->map = NULL;
			return errno;
		}
		return 0;
	}
	if (kind == 4 && !strncmp(b->spec, "vfio", 4) && opt)
		return alloc_vfio(b, opt + 1, other);
	if (kind == 7 && !strncmp(b->spec, "udmabuf", 7))
		a.type = IBV_DMABUF_ALLOC_UDMABUF;
	else if (kind == 4 && !strncmp(b->spec, "heap", 4))
		a.type = IBV_DMABUF_ALLOC_HEAP_SYSTEM;
	else
		return XFER_BAD_SPEC;
	if (opt && !strncmp(opt, ":node=", 6)) {
		long node;

		if (tool_parse_long(opt + 6, 0, 1023, &node))
			return XFER_BAD_SPEC;
		a.numa_node = (int32_t)node;
	} else if (opt && !strcmp(opt, ":interleave")) {
		a.flags = IBV_DMABUF_ALLOC_INTERLEAVE;
	} else if (opt) {
		return XFER_BAD_SPEC;
	}
	a.size = b->alloc;
	b->node = a.numa_node;
	b->fd = ibv_alloc_dmabuf(&a);
	if (b->fd < 0)
		return errno;
	b->dmabuf = true;
	b->map = mmap(NULL, b->alloc, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return errno;
	}
	return 0;
}

static int in_range(const struct xfer_buf *b, uint64_t off, uint64_t n)
{
	return off <= b->alloc && n <= b->alloc - off ? 0 : ERANGE;
}

int xfer_buf_write(struct xfer_buf *b, uint64_t off, const void *p,
		   uint64_t n)
{
	const uint8_t *src = p;
	ssize_t k;

	if (in_range(b, off, n))
		return ERANGE;
	if (b->map) {
		memcpy(b->map + off, p, n);
		return 0;
	}
	while (n) {
		k = pwrite(b->dev_fd, src, n, (off_t)(b->dev_base + off));
		if (k <= 0)
			return k < 0 ? errno : EIO;
		src += k;
		off += (uint64_t)k;
		n -= (uint64_t)k;
	}
	return 0;
}

int xfer_buf_read(struct xfer_buf *b, uint64_t off, void *p, uint64_t n)
{
	uint8_t *dst = p;
	ssize_t k;

	if (in_range(b, off, n))
		return ERANGE;
	if (b->map) {
		memcpy(p, b->map + off, n);
		return 0;
	}
	while (n) {
		k = pread(b->dev_fd, dst, n, (off_t)(b->dev_base + off));
		if (k <= 0)
			return k < 0 ? errno : EIO;
		dst += k;
		off += (uint64_t)k;
		n -= (uint64_t)k;
	}
	return 0;
}

/* n bytes of the pattern of seed from byte pos of it. */
static void pattern(uint8_t *p, uint64_t pos, uint64_t n, uint32_t seed)
{
	uint64_t i, v;

	if (!seed) {
		memset(p, 0, n);
		return;
	}
	for (i = 0; i < n; i += 8) {
		v = (pos + i + seed) * 0x9e3779b97f4a7c15ULL;
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

int xfer_buf_fill(struct xfer_buf *b, uint64_t off, uint64_t len,
		  uint32_t seed)
{
	uint8_t *chunk;
	uint64_t pos, n;
	int ret = 0;

	if (in_range(b, off, len))
		return ERANGE;
	chunk = malloc(CHUNK);
	if (!chunk)
		return ENOMEM;
	for (pos = 0; pos < len && !ret; pos += n) {
		n = len - pos < CHUNK ? len - pos : CHUNK;
		pattern(chunk, pos, n, seed);
		ret = xfer_buf_write(b, off + pos, chunk, n);
	}
	free(chunk);
	return ret;
}

int xfer_buf_check(struct xfer_buf *b, uint64_t off, uint64_t len,
		   uint32_t seed, int64_t *bad)
{
	uint8_t *want, *got;
	uint64_t pos, n, i;
	int ret;

	*bad = -1;
	if (in_range(b, off, len))
		return ERANGE;
	want = malloc(CHUNK);
	got = malloc(CHUNK);
	ret = want && got ? 0 : ENOMEM;
	for (pos = 0; pos < len && !ret && *bad < 0; pos += n) {
		n = len - pos < CHUNK ? len - pos : CHUNK;
		pattern(want, pos, n, seed);
		ret = xfer_buf_read(b, off + pos, got, n);
		if (ret || !memcmp(want, got, n))
			continue;
		for (i = 0; want[i] == got[i]; i++)
			;
		*bad = (int64_t)(pos + i);
	}
	free(want);
	free(got);
	return ret;
}

void xfer_buf_free(struct xfer_buf *b)
{
	if (b->map)
		munmap(b->map, b->alloc);
	b->map = NULL;
	/* The dma-buf first: closing vfio's device file revokes it. */
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	if (b->own_dev && b->dev_fd >= 0)
		close(b->dev_fd);
	b->dev_fd = -1;
}
