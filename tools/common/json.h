/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * A minimal streaming JSON writer for the tools' --json output: objects,
 * arrays, strings (escaped), integers, booleans, numbers (NaN and
 * infinities as null). Commas are managed per nesting level.
 */
#ifndef DMP_JSON_H
#define DMP_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json {
	FILE *f;
	int depth;
	bool first[32];
};

void json_init(struct json *j, FILE *f);
void json_obj_begin(struct json *j, const char *key);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j, const char *key);
void json_arr_end(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_int(struct json *j, const char *key, long long val);
void json_uint(struct json *j, const char *key, unsigned long long val);
void json_bool(struct json *j, const char *key, bool val);
void json_double(struct json *j, const char *key, double val);
void json_null(struct json *j, const char *key);

#endif
