// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

#ifndef DMP_TOOLS_VERSION
#error "DMP_TOOLS_VERSION (the project's VERSION) comes from CMake"
#endif

static const char *prog = "tool";

void tool_set_prog(const char *name)
{
	prog = name;
}

const char *tool_prog(void)
{
	return prog;
}

int tool_print_version(void)
{
	printf("%s (dmabuf-multipath) %s\n", prog, DMP_TOOLS_VERSION);
	return 0;
}

int tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	return TOOL_EXIT_USAGE;
}

int tool_getopt_error(int c, char **argv)
{
	char opt[3] = { '-', (char)optopt, 0 };

	if (c == ':')
		return tool_usage_error("option '%s' needs a value",
					argv[optind - 1]);
	return tool_usage_error("unknown option '%s'",
				optopt ? opt : argv[optind - 1]);
}

int tool_getopt_default(int c, char **argv, void (*usage)(FILE *f))
{
	switch (c) {
	case 'V':
		tool_print_version();
		return -1;
	case 'h':
		usage(stdout);
		return -1;
	default:
		return tool_getopt_error(c, argv);
	}
}

int tool_parse_ib_port(const char *s, int *port)
{
	long v;

	if (tool_parse_long(s, 1, 255, &v))
		return tool_usage_error("bad --ib-port '%s'", s);
	*port = (int)v;
	return 0;
}

int tool_no_more_args(int argc, char **argv)
{
	if (optind < argc)
		return tool_usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

int tool_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	default:
		break;
	}
	if (shift) {
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (v > (~0ULL >> shift))
			return -1;
		v <<= shift;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int tool_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int tool_parse_path(const char *s, struct ibv_dma_path_hints *h)
{
	long v;

	memset(h, 0, sizeof(*h));
	h->numa_node = -1;
	if (!s || !strcmp(s, "auto")) {
		h->policy = IBV_DMA_PATH_AUTO;
	} else if (!strcmp(s, "default")) {
		h->policy = IBV_DMA_PATH_DEFAULT;
	} else if (!strncmp(s, "numa=", 5) &&
		   !tool_parse_long(s + 5, 0, 1023, &v)) {
		h->policy = IBV_DMA_PATH_NUMA;
		h->numa_node = (int32_t)v;
	} else if (!strncmp(s, "endpoint=", 9) &&
		   !tool_parse_long(s + 9, 0, 1023, &v)) {
		h->policy = IBV_DMA_PATH_ENDPOINT;
		h->endpoint = (uint32_t)v;
	} else {
		return -1;
	}
	return 0;
}

void tool_hint_node(struct ibv_dma_path_hints *h, int node)
{
	if (node >= 0 && h->policy == IBV_DMA_PATH_AUTO) {
		h->comp_mask |= IBV_DMA_PATH_HINTS_NUMA_NODE;
		h->numa_node = node;
	}
}

int tool_split(char *s, const char **out, int max)
{
	int n = 0;
	char *tok;

	for (tok = s; tok; n++) {
		char *comma = strchr(tok, ',');

		if (comma)
			*comma = '\0';
		if (!*tok || n == max)
			return -1;
		out[n] = tok;
		tok = comma ? comma + 1 : NULL;
	}
	return n;
}
