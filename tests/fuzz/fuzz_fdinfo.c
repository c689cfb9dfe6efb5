// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* libFuzzer: the fdinfo parser behind ibv_query_dmabuf's inference path. */
#include <stdlib.h>
#include <string.h>

#include "ext_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ibv_dmabuf_info info;
	char *text = malloc(size + 1);
	int ret;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&info, 0, sizeof(info));
	ret = vext_parse_fdinfo(text, &info);
	/* Contract: 0 or -ENOTTY; the exporter is always a terminated string. */
	if (ret != 0 && ret != -ENOTTY)
		abort();
	if (strnlen(info.exporter, sizeof(info.exporter)) == sizeof(info.exporter))
		abort();
	if (!ret && info.source != IBV_DMABUF_SOURCE_SYSTEM &&
	    info.source != IBV_DMABUF_SOURCE_UNKNOWN)
		abort();
	free(text);
	return 0;
}
