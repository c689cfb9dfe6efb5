// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * What the library finds out about the libibverbs it runs with
 * (libibverbs-ext/ibverbs_rt.c): rdma-core's version from the library's
 * file name, whether its ibv_reg_mr_ex() carries the DMA endpoint, and the
 * refusal of the hand-built MR outside the versions the lab tested.
 *
 * It prints what it found. With DMP_EXPECT_RDMA_CORE (e.g. "44.0") and
 * DMP_EXPECT_VERBS_EP (0 or 1) set, it checks them: tests/pytest runs it
 * against Debian's libibverbs and, through LD_LIBRARY_PATH, the rdma-core
 * v65 builds of tools/rdma-core/build.
 */
#include <stdlib.h>
#include <unistd.h>

#include "ext_internal.h"
#include "test.h"

static void version_parsing(void)
{
	static const struct {
		const char *path;
		int err;
		unsigned int major, minor;
	} cases[] = {
		{ "/usr/lib/x86_64-linux-gnu/libibverbs.so.1.14.44.0", 0, 44, 0 },
		{ "libibverbs.so.1.19.65.0", 0, 65, 0 },
		{ "/opt/rc/build/lib/libibverbs.so.1.18.65.1", 0, 65, 1 },
		{ "/usr/lib/libibverbs.so.1", EINVAL, 0, 0 },
		{ "/usr/lib/libibverbs.so.1.14.44", EINVAL, 0, 0 },
		{ "/usr/lib/libibverbs.so.1.14.44.0.1", EINVAL, 0, 0 },
		{ "/usr/lib/libibverbs.so.1.14.44.0~rc1", EINVAL, 0, 0 },
		{ "/usr/lib/libibverbs.so.1.14.-44.0", EINVAL, 0, 0 },
		{ "/usr/lib/libmlx5.so.1.24.44.0", EINVAL, 0, 0 },
		{ "/usr/lib/libibverbs.so.2.14.44.0", EINVAL, 0, 0 },
		{ "", EINVAL, 0, 0 },
	};
	unsigned int major, minor;
	size_t i;

	for (i = 0; i < VEXT_ARRAY_SIZE(cases); i++) {
		major = minor = 999;
		CHECK_INT(vext_ibverbs_version(cases[i].path, &major, &minor),
			  cases[i].err);
		if (cases[i].err)
			continue;
		CHECK_INT(major, cases[i].major);
		CHECK_INT(minor, cases[i].minor);
	}
}

static void hand_built_range(void)
{
	struct vext_ibverbs v = { .path = "/x/libibverbs.so.1" };

	v.major = VEXT_VERBS_MR_FIRST;
	CHECK_INT(vext_verbs_mr_allowed(&v, "rxe0"), 0);
	v.major = VEXT_VERBS_MR_LAST;
	CHECK_INT(vext_verbs_mr_allowed(&v, "rxe0"), 0);

	v.major = VEXT_VERBS_MR_FIRST - 1;
	CHECK_INT(vext_verbs_mr_allowed(&v, "rxe0"), EOPNOTSUPP);
	CHECK_HAS(ibv_ext_last_error(), "rxe0: the provider has no dma-buf MR op");
	CHECK_HAS(ibv_ext_last_error(), "rdma-core 43.0 is outside 44..65");

	v.major = VEXT_VERBS_MR_LAST + 1;
	v.minor = 2;
	CHECK_INT(vext_verbs_mr_allowed(&v, "siw0"), EOPNOTSUPP);
	CHECK_HAS(ibv_ext_last_error(), "rdma-core 66.2 is outside 44..65");

	v.major = 0;
	CHECK_INT(vext_verbs_mr_allowed(&v, "rxe1"), EOPNOTSUPP);
	CHECK_HAS(ibv_ext_last_error(),
		  "the version of /x/libibverbs.so.1 is unknown");
}

static void this_process(void)
{
	const struct vext_ibverbs *v = vext_ibverbs();
	const char *want = getenv("DMP_EXPECT_RDMA_CORE");
	const char *want_ep = getenv("DMP_EXPECT_VERBS_EP");
	char found[32];

	snprintf(found, sizeof(found), "%u.%u", v->major, v->minor);
	printf("libibverbs: %s, rdma-core %s, ibv_reg_mr_ex with DMA endpoints: %s\n",
	       v->path, found, v->reg_mr_ex ? "yes" : "no");
	CHECK(v->path[0] == '/');
	CHECK(access(v->path, R_OK) == 0);
	CHECK(vext_ibverbs() == v);
	if (want)
		CHECK_STR(found, want);
	if (want_ep)
		CHECK_INT(v->reg_mr_ex != NULL, atoi(want_ep));
}

int main(void)
{
	version_parsing();
	hand_built_range();
	this_process();
	return test_report();
}
