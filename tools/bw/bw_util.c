// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bw_util.h"

int bw_fail(struct bw_err *e, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return err ? err : EIO;
}

void bw_err_prefix(struct bw_err *e, const char *fmt, ...)
{
	char head[BW_WHY_LEN], old[BW_WHY_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", e->msg);
	snprintf(e->msg, sizeof(e->msg), "%s: %s", head, old);
}

double bw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *bw_size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB" };
	unsigned int u = 0;

	while (u < 3 && bytes >= 1024 && !(bytes % 1024)) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)bytes, unit[u]);
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct bw_stat bw_summarize(double *v, size_t n)
{
	struct bw_stat s = { 0 };
	size_t k;

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.n = n;
	s.min = v[0];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	/* Nearest rank: the smallest value with >= 99 % of samples at or below. */
	k = (99 * n + 99) / 100;
	s.p99 = v[k ? k - 1 : 0];
	return s;
}

static inline uint64_t pattern_word(uint64_t word, uint64_t seed)
{
	uint64_t x = (word + 1) * 0x9e3779b97f4a7c15ULL ^ seed;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return x;
}

void bw_pattern_fill(uint8_t *p, uint64_t len, uint64_t pos, uint64_t seed)
{
	uint64_t i = 0;

	/* Head up to an 8-byte boundary of pos, then whole words. */
	for (; i < len && (pos + i) % 8; i++)
		p[i] = (uint8_t)(pattern_word((pos + i) / 8, seed) >>
				 (8 * ((pos + i) % 8)));
	for (; i + 8 <= len; i += 8) {
		uint64_t w = htole64(pattern_word((pos + i) / 8, seed));

		memcpy(p + i, &w, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)(pattern_word((pos + i) / 8, seed) >>
				 (8 * ((pos + i) % 8)));
}

int64_t bw_pattern_check(const uint8_t *p, uint64_t len, uint64_t pos,
			 uint64_t seed)
{
	uint8_t want[4096];
	uint64_t done, n, i;

	for (done = 0; done < len; done += n) {
		n = len - done < sizeof(want) ? len - done : sizeof(want);
		bw_pattern_fill(want, n, pos + done, seed);
		if (!memcmp(want, p + done, n))
			continue;
		for (i = 0; i < n; i++)
			if (want[i] != p[done + i])
				return (int64_t)(done + i);
	}
	return -1;
}
