/* SPDX-License-Identifier: MIT */
#pragma once

/* JSON documents from peers (API answers, error bodies, metadata), read with
 * yajl's event parser into a small tree. Every allocation, yajl's own
 * included, is wiped when freed: answers carry private keys and tokens.
 * Depth and node count are capped; duplicate object keys are refused. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_NODES 100000

typedef enum JsonType {
        JSON_NULL,
        JSON_BOOLEAN,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
} JsonType;

typedef struct JsonNode JsonNode;
struct JsonNode {
        JsonType type;
        bool boolean;
        char *string;           /* JSON_STRING: the value; JSON_NUMBER: its text; NUL-terminated */
        size_t length;          /* of string, which may contain NUL bytes (\u0000) */
        char **keys;            /* JSON_OBJECT: keys[i] names children[i] */
        JsonNode **children;    /* JSON_ARRAY items or JSON_OBJECT values */
        size_t n_children;
        size_t n_allocated;
};

/* Parses one JSON value. Returns 0 and the tree (owned), or -EINVAL with a
 * short description in error (which never quotes the input), -E2BIG past
 * the caps, -ENOMEM. */
int json_parse(const char *data, size_t size, JsonNode **ret, char *error, size_t error_size);

JsonNode *json_node_free(JsonNode *n);
static inline void json_node_freep(JsonNode **n) {
        json_node_free(*n);
}

/* Borrowed lookups; NULL when absent or of another type. */
const JsonNode *json_get(const JsonNode *object, const char *key);
const char *json_get_string(const JsonNode *object, const char *key);
const char *json_type_name(JsonType t);

/* Writing objects with yajl_gen: one "key": value member each; a NULL
 * string is written as null. */
void json_gen_string(yajl_gen g, const char *key, const char *value);
void json_gen_int(yajl_gen g, const char *key, int64_t value);
void json_gen_bool(yajl_gen g, const char *key, bool value);
/* Starts a member whose value the caller writes next (an array, an object). */
void json_gen_key(yajl_gen g, const char *key);

/* s as a JSON string literal, quotes included, in memory that the caller
 * frees with free_wiped() (it may be a password). */
int json_quote(const char *s, char **ret);
