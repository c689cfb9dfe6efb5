// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The tools' JSON writer: what it prints is JSON, whatever the values. */
#include <math.h>

#include "json.h"
#include "test.h"

/* What write() makes of a writer on a fresh stream, compared with want. */
static void writes(void (*write)(struct json *j), const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;

	json_init(&j, f);
	write(&j);
	fclose(f);
	CHECK_STR(buf, want);
	free(buf);
}

static void some_doubles(struct json *j)
{
	json_obj_begin(j, NULL);
	json_double(j, "a", 1.5);
	json_double(j, "nan", NAN);
	json_double(j, "inf", INFINITY);
	json_double(j, "ninf", -INFINITY);
	json_double(j, "zero", 0.0 / 1.0);
	json_obj_end(j);
}

static void odd_string(struct json *j)
{
	json_str(j, NULL, "a\"b\\c\nd\te\x01");
}

static void doubles(void)
{
	writes(some_doubles,
	       "{\n  \"a\": 1.500,\n  \"nan\": null,\n  \"inf\": null,\n"
	       "  \"ninf\": null,\n  \"zero\": 0.000\n}\n");
}

static void strings(void)
{
	writes(odd_string, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
}

int main(void)
{
	RUN(doubles);
	RUN(strings);
	return test_report();
}
