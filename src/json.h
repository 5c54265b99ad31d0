/*-------------------------------------------------------------------------
 *
 * json.h
 *		Strict JSON through json-c, and JSON to jsonb with exact numbers.
 *
 * Included only by json.c and the dialects: no other file sees json-c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ROUTERKEYS_JSON_H
#define ROUTERKEYS_JSON_H

#include "routerkeys.h"

#include <json-c/json.h>

/*
 * Reads a parsed document.  Called with the root of the tree, which it must
 * not keep: the tree is released when it returns or throws.
 */
typedef bool (*RkJsonReader) (json_object *root, void *arg, char **problem);

extern bool rk_json_read(const char *body, size_t len, RkJsonReader reader, void *arg,
						 char **problem);
extern bool rk_json_to_jsonb(json_object *value, Jsonb **out, char **problem);
extern char *rk_json_string(json_object *value, char **problem);
extern char *rk_json_name(const char *name);
extern const char *rk_json_type_name(json_object *value);
extern const char *rk_json_type_label(json_type type);
extern char *rk_json_serialize(void (*fill) (json_object *root, const void *arg),
							   const void *arg);
extern void rk_json_add_string(json_object *obj, const char *field, const char *value);
extern json_object *rk_json_add_object(json_object *obj, const char *field);
extern void rk_json_add_boolean(json_object *obj, const char *field, bool value);

#endif							/* ROUTERKEYS_JSON_H */
