/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Small helpers shared by ibv_dmabuf_bw and ibv_dmabuf_regbench: clocks,
 * statistics, the data pattern of --check, and the one-line error buffer
 * every helper fills on failure (options are tools/common's).
 */
#ifndef DMP_BW_UTIL_H
#define DMP_BW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BW_WHY_LEN 512

#if defined(__GNUC__)
#define BW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BW_PRINTF(a, b)
#endif

/* A one-line reason, filled by whatever failed first. */
struct bw_err {
	char msg[BW_WHY_LEN];
};

/* Record a reason (printf style) and return err, for "return bw_fail(...)". */
int bw_fail(struct bw_err *e, int err, const char *fmt, ...) BW_PRINTF(3, 4);
/* Prefix the recorded reason with more context: "what: old reason". */
void bw_err_prefix(struct bw_err *e, const char *fmt, ...) BW_PRINTF(2, 3);

double bw_now(void);		/* CLOCK_MONOTONIC, seconds */

/* "64 KiB", "2 MiB", "1 GiB", "12 B" for reports. */
const char *bw_size_str(uint64_t bytes, char *buf, size_t len);

/* Median and 99th percentile of n samples (sorts v in place). */
struct bw_stat {
	double median;
	double p99;
	double min;
	size_t n;
};
struct bw_stat bw_summarize(double *v, size_t n);

/*
 * The --check pattern: byte pos of a region seeded with seed. Different
 * seeds (sizes, QPs, slots) give different contents, so data left over
 * from an earlier step never passes a check.
 */
void bw_pattern_fill(uint8_t *p, uint64_t len, uint64_t pos, uint64_t seed);
/* Offset of the first byte of p differing from the pattern, or -1. */
int64_t bw_pattern_check(const uint8_t *p, uint64_t len, uint64_t pos,
			 uint64_t seed);

#endif
