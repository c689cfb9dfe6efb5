// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libFuzzer: ibv_reg_dmabuf_mr_ex's validation. The fd is never a dma-buf
 * (none exists on the host), so every call must fail — with one of the
 * documented errnos and a one-line reason — before the PD is touched (the
 * PD is a poisoned dummy: any use crashes under ASan).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ext_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fds[4];

static void init_fds(void)
{
	char tmpl[] = "/tmp/fuzz-reg-XXXXXX";

	fds[0] = -1;
	fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[2] = mkstemp(tmpl);
	unlink(tmpl);
	fds[3] = 1000; /* not open */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int allowed[] = { EINVAL, EOPNOTSUPP, EBADF };
	static bool ready;
	struct ibv_reg_dmabuf_mr_ex_attr attr;
	struct ibv_dma_path_hints hints;
	struct ibv_dma_choice choice;
	struct ibv_dmabuf_info source;
	char *pd;
	struct ibv_mr *mr;
	const char *reason;
	size_t i;

	if (!ready) {
		init_fds();
		ready = true;
	}
	if (size < sizeof(attr) + sizeof(hints) + 1)
		return 0;
	memcpy(&attr, data, sizeof(attr));
	memcpy(&hints, data + sizeof(attr), sizeof(hints));
	attr.fd = fds[data[sizeof(attr) + sizeof(hints)] & 3];
	/* Pointers: NULL or valid ones, as the fuzzer picks. */
	attr.hints = (data[0] & 0x40) ? &hints : NULL;
	attr.choice = (data[0] & 0x10) ? &choice : NULL;
	attr.source = (data[0] & 0x20) ? &source : NULL;

	pd = malloc(1);
	free(pd); /* dangling: ASan reports any use */
	errno = 0;
	mr = ibv_reg_dmabuf_mr_ex((struct ibv_pd *)pd, &attr);
	if (mr)
		abort();
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (errno == allowed[i])
			break;
	if (i == sizeof(allowed) / sizeof(allowed[0]))
		abort();
	reason = ibv_ext_last_error();
	if (!reason[0] || strchr(reason, '\n'))
		abort();
	return 0;
}
