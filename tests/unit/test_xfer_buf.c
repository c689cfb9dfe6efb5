// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_xfer's buffers (tools/xfer/xfer_buf.c): the check finds the
 * first byte that differs, through a mapping and through pread/pwrite on a
 * device file at an offset (vfio's view of a BAR; a memfd stands in for
 * it here), so "verified" can be false; the specs it refuses, and a vfio
 * spec reaching the library (which says why it cannot on the lab tree).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "xfer_buf.h"

#define KiB 1024ULL

/* Fill, check, spoil one byte behind the buffer's back, check again. */
static void check_round(struct xfer_buf *b, uint64_t off, uint64_t len,
			uint64_t spoil, int spoil_fd, uint64_t spoil_at)
{
	uint8_t byte;
	int64_t bad = 7;

	CHECK_INT(xfer_buf_fill(b, 0, b->alloc, 0), 0);
	CHECK_INT(xfer_buf_fill(b, off, len, 1), 0);
	CHECK_INT(xfer_buf_check(b, off, len, 1, &bad), 0);
	CHECK_INT(bad, -1);
	/* Zeros outside the range, the pattern inside. */
	CHECK_INT(xfer_buf_check(b, 0, off, 0, &bad), 0);
	CHECK_INT(bad, -1);
	CHECK_INT(xfer_buf_check(b, off, len, 2, &bad), 0);
	CHECK_INT(bad, 0);
	if (spoil_fd >= 0) {
		CHECK(pread(spoil_fd, &byte, 1, (off_t)spoil_at) == 1);
		byte ^= 0x40;
		CHECK(pwrite(spoil_fd, &byte, 1, (off_t)spoil_at) == 1);
	} else {
		b->map[off + spoil] ^= 0x40;
	}
	CHECK_INT(xfer_buf_check(b, off, len, 1, &bad), 0);
	CHECK_INT(bad, (int64_t)spoil);
	/* Outside the buffer: refused, not read. */
	CHECK_INT(xfer_buf_check(b, off, b->alloc, 1, &bad), ERANGE);
}

static void mapped(void)
{
	struct xfer_buf b;

	xfer_buf_init(&b, "host");
	b.offset = 4 * KiB + 12;
	CHECK_INT(xfer_buf_alloc(&b, 3 * (1 << 20) + 5, NULL), 0);
	CHECK(b.map != NULL && b.alloc == 3 * (1 << 20) + 8 * KiB);
	/* A difference beyond the first 1 MiB chunk. */
	check_round(&b, b.offset, 3 * (1 << 20) + 5, (1 << 20) + 4097, -1, 0);
	xfer_buf_free(&b);
	CHECK(b.map == NULL);
}

static void device_file(void)
{
	struct xfer_buf b;
	uint64_t base = 64 * KiB;
	int fd = memfd_create("xfer-buf", MFD_CLOEXEC);

	CHECK(fd >= 0 && ftruncate(fd, (off_t)(base + 2 * (1 << 20))) == 0);
	xfer_buf_init(&b, "vfio:test");
	b.dev_fd = fd;
	b.dev_base = base;
	b.alloc = 2 * (1 << 20);
	check_round(&b, 8 * KiB, (1 << 20) + 100, 333, fd,
		    base + 8 * KiB + 333);
	/* What the device file holds before the buffer's base is not it. */
	CHECK_INT(xfer_buf_fill(&b, 0, 4 * KiB, 3), 0);
	{
		uint8_t head[16] = { 0 }, zeros[16] = { 0 };

		CHECK(pread(fd, head, sizeof(head), 0) == sizeof(head));
		CHECK(!memcmp(head, zeros, sizeof(head)));
	}
	b.own_dev = true;
	xfer_buf_free(&b);
	CHECK(fcntl(fd, F_GETFD) < 0);
}

static void specs(void)
{
	static const char *const bad[] = {
		"hos", "host:node=1", "udmabuf:node=x", "udmabuf:nodes=1",
		"heap:interleave=1", "p2p:0000:44:00.0", "vfio",
		"vfio:0000:44:00.0,bar=6", "vfio:0000:44:00.0,bar=",
		"vfio:0000:44:00.0,offset=1Q", "vfio:0000:44:00.0,wc",
		"vfio:0000:44:00.0:bar=2",
	};
	struct xfer_buf b;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xfer_buf_init(&b, bad[i]);
		if (xfer_buf_alloc(&b, 4096, NULL) != XFER_BAD_SPEC) {
			fprintf(stderr, "spec '%s' was not refused\n", bad[i]);
			test_failures++;
		}
		test_checks++;
		CHECK(b.fd < 0 && b.dev_fd < 0 && !b.map);
		xfer_buf_free(&b);
	}
}

static const char *fixtures;

/* On the lab's tree ivshmem is bound to no driver: the library says so. */
static void vfio_spec(void)
{
	char root[4096];
	struct xfer_buf b;

	snprintf(root, sizeof(root), "%s/lab-vm", fixtures);
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
	xfer_buf_init(&b, "vfio:0000:44:00.0,bar=2,offset=4M");
	CHECK_INT(xfer_buf_alloc(&b, 1 << 20, NULL), ENXIO);
	CHECK_HAS(ibv_ext_last_error(), "0000:44:00.0 is bound to no driver");
	CHECK(b.fd < 0 && b.dev_fd < 0);
	xfer_buf_init(&b, "vfio:0000:44:00.0,bar=2,offset=64M");
	CHECK_INT(xfer_buf_alloc(&b, 1 << 20, NULL), EOVERFLOW);
	CHECK_HAS(ibv_ext_last_error(), "do not fit BAR 2 of 0000:44:00.0");
	unsetenv(IBV_EXT_SYSFS_ROOT_ENV);
}

int main(void)
{
	fixtures = getenv("DMP_FIXTURES");
	RUN(mapped);
	RUN(device_file);
	RUN(specs);
	if (fixtures)
		RUN(vfio_spec);
	else
		SKIP(vfio_spec, "DMP_FIXTURES is not set (run through ctest)");
	return test_report();
}
