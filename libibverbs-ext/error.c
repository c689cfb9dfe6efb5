// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Per-thread reason for the last failure. Every error path of the library
 * goes through vext_err() so that ibv_ext_last_error() can say why.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ext_internal.h"

static _Thread_local char last_error[IBV_EXT_REASON_LEN];

int vext_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

void vext_clear_err(void)
{
	last_error[0] = '\0';
}

const char *ibv_ext_last_error(void)
{
	return last_error;
}
