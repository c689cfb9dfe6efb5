/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * A tiny assertion harness for the C unit tests: each CHECK failure is
 * printed with its location and counted; main() returns non-zero if any
 * check failed. SKIP prints its reason (tests never skip silently).
 */
#ifndef DMP_TEST_H
#define DMP_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs_ext.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                           \
	do {                                                                  \
		test_checks++;                                                \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n",          \
				__FILE__, __LINE__, #cond);                   \
			test_failures++;                                      \
		}                                                             \
	} while (0)

#define CHECK_INT(a, b)                                                       \
	do {                                                                  \
		long long _a = (long long)(a), _b = (long long)(b);           \
		test_checks++;                                                \
		if (_a != _b) {                                               \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, #a, _a, #b, _b);          \
			test_failures++;                                      \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *_a = (a), *_b = (b);                              \
		test_checks++;                                                \
		if (strcmp(_a, _b)) {                                         \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, _a, _b);              \
			test_failures++;                                      \
		}                                                             \
	} while (0)

/* The string contains the fragment (explanations' key facts). */
#define CHECK_HAS(str, frag)                                                  \
	do {                                                                  \
		const char *_s = (str), *_f = (frag);                         \
		test_checks++;                                                \
		if (!strstr(_s, _f)) {                                        \
			fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n",       \
				__FILE__, __LINE__, _s, _f);                  \
			test_failures++;                                      \
		}                                                             \
	} while (0)

/*
 * The bad-input matrix (docs/bad-input-matrix.md): with DMP_BADINPUT_LOG
 * set, every input tried is appended as "api<TAB>input<TAB>expected errno
 * <TAB>observed errno<TAB>reason".
 */
static inline void test_row(const char *api, const char *input, int expected,
			    int observed)
{
	const char *path = getenv("DMP_BADINPUT_LOG");
	const char *reason = ibv_ext_last_error();
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	fprintf(f, "%s\t%s\t%s\t%s\t%s\n", api, input,
		expected ? strerrorname_np(expected) : "0",
		observed ? strerrorname_np(observed) : "0",
		observed ? reason : "");
	fclose(f);
}

/* "ibv_query_dmabuf(-1, &info)" -> "ibv_query_dmabuf" */
static inline void test_row_call(const char *call, int expected, int observed)
{
	char api[64];
	size_t n = strcspn(call, "(");

	snprintf(api, sizeof(api), "%.*s", (int)n, call);
	test_row(api, call + n, expected, observed);
}

/* A call returning 0 or an errno value fails with the expected errno. */
#define CHECK_ERR(call, err)                                                  \
	do {                                                                  \
		int _r = (call);                                              \
		test_row_call(#call, (err), _r);                              \
		test_checks++;                                                \
		if (_r != (err)) {                                            \
			fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", \
				__FILE__, __LINE__, #call, _r, strerror(_r),  \
				(err), strerror(err));                        \
			test_failures++;                                      \
		}                                                             \
	} while (0)

#define RUN(fn)                                                               \
	do {                                                                  \
		int _before = test_failures;                                  \
		fn();                                                         \
		printf("%s %s\n", test_failures == _before ? "ok  " : "FAIL", \
		       #fn);                                                  \
	} while (0)

#define SKIP(fn, why) printf("skip %s: %s\n", #fn, why)

static inline int test_report(void)
{
	printf("%d checks, %d failed\n", test_checks, test_failures);
	return test_failures ? 1 : 0;
}

#endif
