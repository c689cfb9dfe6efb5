// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Limits that hold whatever the caller passes: what a 32-bit build cannot
 * carry is refused rather than truncated, and the uverbs command encoder
 * never writes past its room.
 */
#include <stdint.h>

#include "ext_internal.h"
#include "test.h"

static void fits_32bit(void)
{
	const uint64_t smax = UINT32_MAX, pmax = UINT32_MAX;

	CHECK_INT(vext_check_reg_fits(0, 1ULL << 31, smax, pmax), 0);
	CHECK_INT(vext_check_reg_fits(UINT32_MAX, UINT32_MAX, smax, pmax), 0);
	CHECK_INT(vext_check_reg_fits(0, 1ULL << 32, smax, pmax), EINVAL);
	CHECK_HAS(ibv_ext_last_error(),
		  "length 0x100000000 does not fit this build's 32-bit size_t");
	CHECK_INT(vext_check_reg_fits(1ULL << 32, 4096, smax, pmax), EINVAL);
	CHECK_HAS(ibv_ext_last_error(),
		  "offset 0x100000000 does not fit this build's 32-bit pointers");
	/* This build's own limits take what it can carry. */
	CHECK_INT(vext_check_reg_fits(UINT32_MAX + 1ULL, 1ULL << 32, SIZE_MAX,
				      UINTPTR_MAX),
		  sizeof(size_t) > 4 ? 0 : EINVAL);
}

static void encoder_bounded(void)
{
	struct {
		struct vext_ucmd cmd;
		uint64_t guard;
	} c;
	uint32_t out;
	int i;

	c.guard = 0x5a5a5a5a5a5a5a5aULL;
	vext_ucmd_init(&c.cmd, 1, 2, 3);
	for (i = 0; i < VEXT_UCMD_MAX_ATTRS; i++)
		CHECK(vext_ucmd_in(&c.cmd, (uint16_t)i, 7, 8, 0) != NULL);
	CHECK(vext_ucmd_in(&c.cmd, 99, 7, 8, 0) == NULL);
	CHECK(vext_ucmd_out(&c.cmd, 100, &out, 4) == NULL);
	CHECK_INT(c.cmd.hdr.num_attrs, VEXT_UCMD_MAX_ATTRS);
	CHECK(c.guard == 0x5a5a5a5a5a5a5a5aULL);
	/* Refused before the kernel: fd -1 would give EBADF. */
	CHECK_INT(vext_ucmd_exec(&c.cmd, -1), E2BIG);
	CHECK_HAS(ibv_ext_last_error(), "more than 12 attributes");

	/* A full but not overfull command goes to the kernel. */
	vext_ucmd_init(&c.cmd, 1, 2, 3);
	for (i = 0; i < VEXT_UCMD_MAX_ATTRS; i++)
		vext_ucmd_in(&c.cmd, (uint16_t)i, 7, 8, 0);
	CHECK_INT(vext_ucmd_exec(&c.cmd, -1), EBADF);
}

int main(void)
{
	RUN(fits_32bit);
	RUN(encoder_bounded);
	return test_report();
}
