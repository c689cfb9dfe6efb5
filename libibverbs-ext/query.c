// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * What backs a dma-buf. /proc/self/fdinfo names the exporter and the size;
 * the kernel's describe ioctl, when present, says what backs the buffer
 * (origin KERNEL, kernel_describe.c). Otherwise the answer is inferred from
 * the exporter's name with a table of exporters whose memory is known to be
 * CPU memory. Names that do not say what the memory is stay UNKNOWN: the
 * library never guesses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/magic.h>

#include "ext_internal.h"

/*
 * Parse the dma-buf part of an fdinfo text; -ENOTTY if it is not one. The
 * kernel prints pos, flags, mnt_id, ino, size, count and exp_name before
 * the buffer's name, which any holder of the fd may set (DMA_BUF_SET_NAME)
 * and which may contain newlines: the first line of each key is the
 * kernel's, every later one is ignored.
 */
int vext_parse_fdinfo(const char *text, struct ibv_dmabuf_info *info)
{
	const char *line = text;
	bool have_exp = false, have_size = false, have_ino = false;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *val;

		val = memchr(line, ':', len);
		if (val) {
			size_t klen = (size_t)(val - line);

			val++;
			while (val < line + len && (*val == '\t' || *val == ' '))
				val++;
			if (klen == 8 && !strncmp(line, "exp_name", 8) &&
			    !have_exp) {
				size_t vlen = (size_t)(line + len - val);

				if (vlen >= sizeof(info->exporter))
					vlen = sizeof(info->exporter) - 1;
				memcpy(info->exporter, val, vlen);
				info->exporter[vlen] = '\0';
				have_exp = true;
			} else if (klen == 4 && !strncmp(line, "size", 4) &&
				   !have_size) {
				char *end;

				info->size = strtoull(val, &end, 10);
				have_size = end != val;
				if (!have_size)
					break;
			} else if (klen == 3 && !strncmp(line, "ino", 3) &&
				   !have_ino) {
				info->inode = strtoull(val, NULL, 10);
				have_ino = true;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!have_exp || !have_size)
		return -ENOTTY;
	info->source = vext_exporter_source(info->exporter);
	info->types = info->source ? 1u << info->source : 0;
	info->origin = IBV_DMABUF_ORIGIN_INFERRED;
	info->numa_node = -1;
	return 0;
}

static int not_a_dmabuf(int fd, const struct stat *st)
{
	const char *what;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		what = "a regular file";
		break;
	case S_IFDIR:
		what = "a directory";
		break;
	case S_IFCHR:
		return vext_err(ENOTTY,
				"fd %d is a character device (%u:%u), not a dma-buf",
				fd, major(st->st_rdev), minor(st->st_rdev));
	case S_IFBLK:
		what = "a block device";
		break;
	case S_IFIFO:
		what = "a pipe";
		break;
	case S_IFSOCK:
		what = "a socket";
		break;
	default:
		what = "not a dma-buf file";
		break;
	}
	return vext_err(ENOTTY, "fd %d is %s, not a dma-buf", fd, what);
}

/*
 * Is fd a dma-buf, and how big: two syscalls, for callers that need no
 * description (a registration whose device has one usable endpoint).
 * dma-buf's llseek reports the size for SEEK_END and moves nothing.
 */
/* 0 when @fd is an open dma-buf, else EBADF or ENOTTY with the reason. */
static int check_dmabuf_fd(int fd)
{
	struct statfs sfs;
	struct stat st;

	if (fd < 0)
		return vext_err(EBADF, "fd %d is not a file descriptor", fd);
	if (fstatfs(fd, &sfs))
		return vext_err(EBADF, "fd %d is not open", fd);
	if (sfs.f_type != DMA_BUF_MAGIC) {
		if (fstat(fd, &st))
			return vext_err(EBADF, "fd %d is not open", fd);
		return not_a_dmabuf(fd, &st);
	}
	return 0;
}

int vext_dmabuf_size(int fd, uint64_t *size)
{
	off_t end;
	int ret;

	ret = check_dmabuf_fd(fd);
	if (ret)
		return ret;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return vext_err(errno, "fd %d: size of the dma-buf: %s", fd,
				strerror(errno));
	*size = (uint64_t)end;
	return 0;
}

int ibv_query_dmabuf(int fd, struct ibv_dmabuf_info *info)
{
	char path[64], text[1024];
	struct stat st;
	ssize_t n;
	int pfd, ret;

	if (!info)
		return vext_err(EINVAL, "info is NULL");
	if (info->comp_mask)
		return vext_err(EOPNOTSUPP, "info: unknown comp_mask bits 0x%x",
				info->comp_mask);
	ret = check_dmabuf_fd(fd);
	if (ret)
		return ret;

	memset(info, 0, sizeof(*info));
	info->numa_node = -1;

	/* fdinfo names the exporter; the kernel, if it can, says the rest. */
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	pfd = open(path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0)
		return vext_err(errno, "%s: %s", path, strerror(errno));
	n = read(pfd, text, sizeof(text) - 1);
	ret = n < 0 ? errno : 0;
	close(pfd);
	if (ret)
		return vext_err(ret, "%s: %s", path, strerror(ret));
	text[n] = '\0';
	if (vext_parse_fdinfo(text, info))
		return vext_err(ENOTTY, "fd %d: fdinfo has no dma-buf exporter",
				fd);
	ret = vext_kernel_describe(fd, info);
	if (ret == ENOTTY)
		return 0;
	if (!ret && fstat(fd, &st) == 0)
		info->inode = st.st_ino;
	return ret;
}

/*
 * What a registration's choice needs of a buffer: the kernel's description
 * alone, when the exporter gives one. fdinfo, read only for the exporter's
 * name, costs a procfs open per call (more than a small registration under
 * TCG); the name matters only where the kernel cannot describe the buffer,
 * and then this is ibv_query_dmabuf(). @fd is known to be a dma-buf.
 */
int vext_describe_for_choice(int fd, struct ibv_dmabuf_info *info)
{
	struct stat st;
	int ret;

	memset(info, 0, sizeof(*info));
	info->numa_node = -1;
	ret = vext_kernel_describe(fd, info);
	if (!ret && info->origin == IBV_DMABUF_ORIGIN_KERNEL) {
		/* The spread key of ties, as ibv_query_dmabuf() gives it. */
		if (fstat(fd, &st))
			return vext_err(errno, "fd %d: %s", fd, strerror(errno));
		info->inode = st.st_ino;
		return 0;
	}
	if (ret && ret != ENOTTY)
		return ret;
	memset(info, 0, sizeof(*info));
	return ibv_query_dmabuf(fd, info);
}
