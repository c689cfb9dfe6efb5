// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sysfs readers. Every path is relative to a tree root (normally /sys, a
 * fixture tree in tests) and given as a printf format; paths are built on
 * the heap (a library call keeps its stack small). Readers never fail
 * loudly: they return a negative errno and let the caller note what was
 * skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext_internal.h"

size_t vext_strscpy(char *dst, const char *src, size_t size)
{
	size_t len = strnlen(src, size - 1);

	memmove(dst, src, len);
	dst[len] = '\0';
	return len;
}

static char *vext_pathv(const char *root, const char *fmt, va_list ap)
{
	char *rel, *path;

	if (vasprintf(&rel, fmt, ap) < 0)
		return NULL;
	if (asprintf(&path, "%s/%s", root, rel) < 0)
		path = NULL;
	free(rel);
	return path;
}

char *vext_path(const char *root, const char *fmt, ...)
{
	va_list ap;
	char *path;

	va_start(ap, fmt);
	path = vext_pathv(root, fmt, ap);
	va_end(ap);
	return path;
}

static int read_strv(const char *root, char *buf, size_t len, const char *fmt,
		     va_list ap)
{
	char *path;
	ssize_t n;
	int fd;

	if (len == 0)
		return -EINVAL;
	path = vext_pathv(root, fmt, ap);
	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return (int)n;
}

int vext_read_str(const char *root, char *buf, size_t len, const char *fmt,
		  ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = read_strv(root, buf, len, fmt, ap);
	va_end(ap);
	return ret;
}

/*
 * root/<rel> as a long in base 10 or 16 (strtol's rules: leading blanks, a
 * sign, 0x with base 16), the whole text: 0; -ENODATA when it is empty,
 * -EINVAL when it is not such a number, is beyond a long or below min; or
 * read_strv()'s error. *val is set only on success.
 */
static int read_longv(const char *root, int base, long min, long *val,
		      const char *fmt, va_list ap)
{
	char buf[64], *end;
	long v;
	int ret;

	ret = read_strv(root, buf, sizeof(buf), fmt, ap);
	if (ret < 0)
		return ret;
	if (!*buf)
		return -ENODATA;
	errno = 0;
	v = strtol(buf, &end, base);
	if (errno || end == buf || *end || v < min)
		return -EINVAL;
	*val = v;
	return 0;
}

int vext_read_int(const char *root, long *val, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = read_longv(root, 10, LONG_MIN, val, fmt, ap);
	va_end(ap);
	return ret;
}

int vext_read_hex(const char *root, unsigned long *val, const char *fmt, ...)
{
	va_list ap;
	long v;
	int ret;

	va_start(ap, fmt);
	ret = read_longv(root, 16, 0, &v, fmt, ap);
	va_end(ap);
	if (!ret)
		*val = (unsigned long)v;
	return ret;
}

char *vext_resolve(const struct vext_topo *t, int *err, const char *fmt, ...)
{
	size_t rl = strlen(t->root_real);
	char *path, *real, *out;
	bool real_sys = !strcmp(t->root_real, "/");
	va_list ap;
	char first;

	va_start(ap, fmt);
	path = vext_pathv(t->root, fmt, ap);
	va_end(ap);
	if (!path) {
		*err = -ENOMEM;
		return NULL;
	}
	/* An absolute link leaves a tree that is not the real /sys. */
	if (!real_sys && readlink(path, &first, 1) == 1 && first == '/') {
		free(path);
		*err = -EXDEV;
		return NULL;
	}
	real = realpath(path, NULL);
	*err = real ? 0 : -errno;
	free(path);
	if (!real)
		return NULL;
	/* The target must stay inside the tree. */
	if (real_sys) {
		rl = 0;
	} else if (strncmp(real, t->root_real, rl) != 0 ||
		   (real[rl] != '/' && real[rl] != '\0')) {
		free(real);
		*err = -EXDEV;
		return NULL;
	}
	out = strdup(real[rl] == '/' ? real + rl + 1 : real + rl);
	free(real);
	if (!out)
		*err = -ENOMEM;
	return out;
}

bool vext_is_pci_addr(const char *s)
{
	/* dddd:bb:dd.f, hexadecimal */
	static const char pat[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(pat) - 1)
		return false;
	for (i = 0; i < sizeof(pat) - 1; i++) {
		if (pat[i] == 'x' ? !isxdigit((unsigned char)s[i]) :
				    s[i] != pat[i])
			return false;
	}
	return true;
}

uint32_t vext_parse_link_speed(const char *s)
{
	/*
	 * "16.0 GT/s PCIe", older kernels "8 GT/s"; "Unknown" -> 0. Parsed
	 * digit by digit: strtod() follows the caller's locale, and under
	 * one with a decimal comma "16.0" would stop at the dot.
	 */
	uint32_t mts = 0, scale = 1000;
	bool digits = false;

	for (; *s >= '0' && *s <= '9'; s++) {
		mts = mts * 10 + (uint32_t)(*s - '0');
		if (mts > 1000)
			return 0;
		digits = true;
	}
	mts *= 1000;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			scale /= 10;
			mts += scale * (uint32_t)(*s - '0');
			digits = true;
		}
	}
	if (!digits || !mts)
		return 0;
	while (*s == ' ')
		s++;
	if (strncmp(s, "GT/s", 4) != 0)
		return 0;
	return mts;
}

int vext_parse_cpulist(const char *s, int *mask, int max)
{
	/* "0", "0-1", "0,2-3"; sets mask[i] = 1; returns count or -EINVAL */
	int count = 0;

	while (*s) {
		char *end;
		long a, b;

		errno = 0;
		a = strtol(s, &end, 10);
		if (errno || end == s || a < 0)
			return -EINVAL;
		b = a;
		s = end;
		if (*s == '-') {
			s++;
			b = strtol(s, &end, 10);
			if (errno || end == s || b < a)
				return -EINVAL;
			s = end;
		}
		if (b >= max)
			return -ERANGE;
		for (; a <= b; a++) {
			if (!mask[a])
				count++;
			mask[a] = 1;
		}
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
	}
	return count;
}

void vext_topo_note(struct vext_topo *t, const char *fmt, ...)
{
	char buf[VEXT_NOTE_LEN];
	va_list ap;

	if (t->nr_notes >= VEXT_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->notes[t->nr_notes] = strdup(buf);
	if (t->notes[t->nr_notes])
		t->nr_notes++;
}
