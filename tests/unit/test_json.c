// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* The tools' JSON writer: what it prints is JSON, whatever the values. */
#include <math.h>

#include "json.h"
#include "test.h"

static void doubles(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;

	json_init(&j, f);
	json_obj_begin(&j, NULL);
	json_double(&j, "a", 1.5);
	json_double(&j, "nan", NAN);
	json_double(&j, "inf", INFINITY);
	json_double(&j, "ninf", -INFINITY);
	json_double(&j, "zero", 0.0 / 1.0);
	json_obj_end(&j);
	fclose(f);
	CHECK_STR(buf, "{\n  \"a\": 1.500,\n  \"nan\": null,\n  \"inf\": null,\n"
		       "  \"ninf\": null,\n  \"zero\": 0.000\n}\n");
	free(buf);
}

static void strings(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;

	json_init(&j, f);
	json_str(&j, NULL, "a\"b\\c\nd\te\x01");
	fclose(f);
	CHECK_STR(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
	free(buf);
}

int main(void)
{
	RUN(doubles);
	RUN(strings);
	return test_report();
}
