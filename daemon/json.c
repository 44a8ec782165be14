/* SPDX-License-Identifier: MIT */
/* JSON from peers into a small tree with caps on depth and size, every
 * allocation wiped when freed. Pure: parses what it is given. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <yajl/yajl_parse.h>

#include "json.h"
#include "macro.h"
#include "secure-memory.h"

JsonNode *json_node_free(JsonNode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++) {
                json_node_free(n->children[i]);
                if (n->keys)
                        free_wiped(n->keys[i]);
        }
        free_wiped(n->keys);
        free_wiped(n->children);
        free_wiped(n->string);
        free_wiped(n);
        return NULL;
}

const char *json_type_name(JsonType t) {
        static const char *const names[] = {
                [JSON_NULL] = "null",
                [JSON_BOOLEAN] = "a boolean",
                [JSON_NUMBER] = "a number",
                [JSON_STRING] = "a string",
                [JSON_ARRAY] = "an array",
                [JSON_OBJECT] = "an object",
        };
        return t <= JSON_OBJECT ? names[t] : "?";
}

const JsonNode *json_get(const JsonNode *object, const char *key) {
        if (!object || object->type != JSON_OBJECT)
                return NULL;
        for (size_t i = 0; i < object->n_children; i++)
                if (strcmp(object->keys[i], key) == 0)
                        return object->children[i];
        return NULL;
}

const char *json_get_string(const JsonNode *object, const char *key) {
        const JsonNode *n = json_get(object, key);
        return n && n->type == JSON_STRING ? n->string : NULL;
}

typedef struct Builder {
        JsonNode *root;
        JsonNode *stack[JSON_MAX_DEPTH];
        size_t depth;
        char *pending_key;      /* key read, value not yet */
        size_t nodes;
        int error;              /* first failure: -ENOMEM, -E2BIG, -EINVAL */
        const char *why;
} Builder;

static void *wiping_malloc(void *ctx, size_t n) {
        return malloc(n);
}
static void *wiping_realloc(void *ctx, void *p, size_t n) {
        return realloc_wiped(p, n);
}
static void wiping_free(void *ctx, void *p) {
        free_wiped(p);
}

static char *dup_bytes(const unsigned char *s, size_t n) {
        char *c = malloc(n + 1);
        if (c) {
                memcpy(c, s, n);
                c[n] = 0;
        }
        return c;
}

static int fail(Builder *b, int error, const char *why) {
        if (b->error == 0) {
                b->error = error;
                b->why = why;
        }
        return 0;  /* stops yajl */
}

/* Attaches a new node to the container on top of the stack (or as root). */
static int add(Builder *b, JsonNode *n) {
        if (++b->nodes > JSON_MAX_NODES) {
                json_node_free(n);
                return fail(b, -E2BIG, "too many values");
        }
        if (b->depth == 0) {
                assert(!b->root);
                b->root = n;
                return 1;
        }
        JsonNode *parent = b->stack[b->depth - 1];
        if (parent->type == JSON_OBJECT) {
                assert(b->pending_key);
                for (size_t i = 0; i < parent->n_children; i++)
                        if (strcmp(parent->keys[i], b->pending_key) == 0) {
                                json_node_free(n);
                                return fail(b, -EINVAL, "duplicate key in an object");
                        }
        }
        if (parent->n_children == parent->n_allocated) {
                size_t na = parent->n_allocated ? parent->n_allocated * 2 : 4;
                JsonNode **c = realloc_wiped(parent->children, na * sizeof(JsonNode *));
                if (!c) {
                        json_node_free(n);
                        return fail(b, -ENOMEM, "out of memory");
                }
                parent->children = c;
                if (parent->type == JSON_OBJECT) {
                        char **k = realloc_wiped(parent->keys, na * sizeof(char *));
                        if (!k) {
                                json_node_free(n);
                                return fail(b, -ENOMEM, "out of memory");
                        }
                        parent->keys = k;
                }
                parent->n_allocated = na;
        }
        if (parent->type == JSON_OBJECT)
                parent->keys[parent->n_children] = TAKE_PTR(b->pending_key);
        parent->children[parent->n_children++] = n;
        return 1;
}

static JsonNode *node_new(Builder *b, JsonType t) {
        JsonNode *n = calloc(1, sizeof(JsonNode));
        if (!n)
                fail(b, -ENOMEM, "out of memory");
        else
                n->type = t;
        return n;
}

static int on_null(void *ctx) {
        Builder *b = ctx;
        JsonNode *n = node_new(b, JSON_NULL);
        return n ? add(b, n) : 0;
}

static int on_boolean(void *ctx, int value) {
        Builder *b = ctx;
        JsonNode *n = node_new(b, JSON_BOOLEAN);
        if (!n)
                return 0;
        n->boolean = value;
        return add(b, n);
}

static int add_text(Builder *b, JsonType t, const unsigned char *s, size_t len) {
        JsonNode *n = node_new(b, t);
        if (!n)
                return 0;
        n->string = dup_bytes(s, len);
        n->length = len;
        if (!n->string) {
                json_node_free(n);
                return fail(b, -ENOMEM, "out of memory");
        }
        return add(b, n);
}

static int on_number(void *ctx, const char *s, size_t len) {
        return add_text(ctx, JSON_NUMBER, (const unsigned char *) s, len);
}

static int on_string(void *ctx, const unsigned char *s, size_t len) {
        return add_text(ctx, JSON_STRING, s, len);
}

static int open_container(Builder *b, JsonType t) {
        if (b->depth >= JSON_MAX_DEPTH)
                return fail(b, -E2BIG, "nested too deeply");
        JsonNode *n = node_new(b, t);
        if (!n || !add(b, n))
                return 0;
        b->stack[b->depth++] = n;
        return 1;
}

static int on_start_map(void *ctx) {
        return open_container(ctx, JSON_OBJECT);
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len) {
        Builder *b = ctx;
        if (memchr(s, 0, len))
                return fail(b, -EINVAL, "NUL byte in an object key");
        free_wiped(b->pending_key);
        b->pending_key = dup_bytes(s, len);
        return b->pending_key ? 1 : fail(b, -ENOMEM, "out of memory");
}

static int on_end(void *ctx) {
        Builder *b = ctx;
        assert(b->depth > 0);
        b->depth--;
        return 1;
}

static const yajl_callbacks callbacks = {
        .yajl_null = on_null,
        .yajl_boolean = on_boolean,
        .yajl_number = on_number,
        .yajl_string = on_string,
        .yajl_start_map = on_start_map,
        .yajl_map_key = on_map_key,
        .yajl_end_map = on_end,
        .yajl_start_array = NULL,  /* set below: yajl wants non-const */
        .yajl_end_array = on_end,
};

static int on_start_array(void *ctx) {
        return open_container(ctx, JSON_ARRAY);
}

int json_parse(const char *data, size_t size, JsonNode **ret, char *error, size_t error_size) {
        yajl_alloc_funcs alloc = { wiping_malloc, wiping_realloc, wiping_free, NULL };
        yajl_callbacks cb = callbacks;
        Builder b = {};
        yajl_handle h;
        yajl_status s;

        cb.yajl_start_array = on_start_array;
        h = yajl_alloc(&cb, &alloc, &b);
        if (!h)
                return -ENOMEM;
        /* Strict: no comments, valid UTF-8, one value, nothing after it. */
        yajl_config(h, yajl_allow_comments, 0);
        yajl_config(h, yajl_dont_validate_strings, 0);

        s = yajl_parse(h, (const unsigned char *) data, size);
        if (s == yajl_status_ok)
                s = yajl_complete_parse(h);

        if (s != yajl_status_ok && b.error == 0) {
                /* yajl's own message quotes the input: keep only its first words. */
                unsigned char *m = yajl_get_error(h, 0, NULL, 0);
                size_t n = m ? strcspn((const char *) m, "\n") : 0;
                snprintf(error, error_size, "invalid JSON: %.*s", (int) n, m ? (const char *) m : "");
                yajl_free_error(h, m);
                b.error = -EINVAL;
        } else if (b.error != 0)
                snprintf(error, error_size, "invalid JSON: %s", b.why);
        else if (!b.root) {
                snprintf(error, error_size, "invalid JSON: no value");
                b.error = -EINVAL;
        }
        yajl_free(h);
        free_wiped(b.pending_key);

        if (b.error != 0) {
                json_node_free(b.root);
                return b.error;
        }
        *ret = b.root;
        return 0;
}

int json_quote(const char *s, char **ret) {
        size_t n = 2;
        char *out, *p;

        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                n += (*c == '"' || *c == '\\') ? 2 : *c < 0x20 ? 6 : 1;
        out = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        p = out;
        *p++ = '"';
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (*c == '"' || *c == '\\') {
                        *p++ = '\\';
                        *p++ = (char) *c;
                } else if (*c < 0x20)
                        p += sprintf(p, "\\u%04x", *c);
                else
                        *p++ = (char) *c;
        }
        *p++ = '"';
        *p = 0;
        *ret = out;
        return 0;
}

void json_gen_key(yajl_gen g, const char *key) {
        yajl_gen_string(g, (const unsigned char *) key, strlen(key));
}

void json_gen_string(yajl_gen g, const char *key, const char *value) {
        json_gen_key(g, key);
        if (value)
                yajl_gen_string(g, (const unsigned char *) value, strlen(value));
        else
                yajl_gen_null(g);
}

void json_gen_int(yajl_gen g, const char *key, int64_t value) {
        json_gen_key(g, key);
        yajl_gen_integer(g, value);
}

void json_gen_bool(yajl_gen g, const char *key, bool value) {
        json_gen_key(g, key);
        yajl_gen_bool(g, value);
}
