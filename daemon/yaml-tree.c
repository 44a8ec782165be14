/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "macro.h"
#include "secure-memory.h"
#include "yaml-tree.h"

YamlNode *yaml_node_free(YamlNode *node) {
        if (!node)
                return NULL;
        for (size_t i = 0; i < node->n_children; i++)
                yaml_node_free(node->children[i]);
        free(node->children);
        free_wiped(node->value);  /* kubeconfig trees hold private keys */
        free(node);
        return NULL;
}

size_t yaml_node_size(const YamlNode *node) {
        if (!node)
                return 0;
        if (node->type == YAML_TREE_MAPPING)
                return node->n_children / 2;
        if (node->type == YAML_TREE_SEQUENCE)
                return node->n_children;
        return 0;
}

YamlNode *yaml_mapping_get(const YamlNode *mapping, const char *key) {
        if (!mapping || mapping->type != YAML_TREE_MAPPING)
                return NULL;
        for (size_t i = 0; i + 1 < mapping->n_children; i += 2) {
                const YamlNode *k = mapping->children[i];
                if (k->type == YAML_TREE_SCALAR && strcmp(k->value, key) == 0)
                        return mapping->children[i + 1];
        }
        return NULL;
}

bool yaml_node_is_null(const YamlNode *node) {
        if (!node)
                return true;
        if (node->type != YAML_TREE_SCALAR || !node->plain)
                return false;
        return node->length == 0 ||
                strcmp(node->value, "~") == 0 ||
                strcmp(node->value, "null") == 0 ||
                strcmp(node->value, "Null") == 0 ||
                strcmp(node->value, "NULL") == 0;
}

const char *yaml_node_type_name(const YamlNode *node) {
        if (yaml_node_is_null(node))
                return "an empty value";
        switch (node->type) {
        case YAML_TREE_SCALAR:
                return "a scalar";
        case YAML_TREE_SEQUENCE:
                return "a list";
        case YAML_TREE_MAPPING:
                return "a mapping";
        }
        return "an unknown node";
}

static YamlNode *node_alloc(YamlNodeType type, unsigned line, unsigned column) {
        YamlNode *n = calloc(1, sizeof(YamlNode));
        if (!n)
                return NULL;
        n->type = type;
        n->line = line;
        n->column = column;
        return n;
}

int yaml_node_new_scalar(const char *value, bool plain, YamlNode **ret) {
        YamlNode *n = node_alloc(YAML_TREE_SCALAR, 0, 0);
        if (!n)
                return -ENOMEM;
        n->value = strdup(value);
        if (!n->value) {
                free(n);
                return -ENOMEM;
        }
        n->length = strlen(value);
        n->plain = plain;
        *ret = n;
        return 0;
}

int yaml_node_new_collection(YamlNodeType type, YamlNode **ret) {
        assert(type != YAML_TREE_SCALAR);
        YamlNode *n = node_alloc(type, 0, 0);
        if (!n)
                return -ENOMEM;
        *ret = n;
        return 0;
}

int yaml_node_append(YamlNode *parent, YamlNode *child) {
        assert(parent->type != YAML_TREE_SCALAR);
        if (parent->n_children == parent->n_allocated) {
                size_t n = parent->n_allocated ? parent->n_allocated * 2 : 4;
                YamlNode **c = reallocarray(parent->children, n, sizeof(YamlNode *));
                if (!c) {
                        yaml_node_free(child);
                        return -ENOMEM;
                }
                parent->children = c;
                parent->n_allocated = n;
        }
        parent->children[parent->n_children++] = child;
        return 0;
}

int yaml_mapping_append(YamlNode *mapping, const char *key, YamlNode *value) {
        YamlNode *k;
        int r;

        assert(mapping->type == YAML_TREE_MAPPING);
        r = yaml_node_new_scalar(key, false, &k);
        if (r < 0) {
                yaml_node_free(value);
                return r;
        }
        r = yaml_node_append(mapping, k);
        if (r < 0) {
                yaml_node_free(value);
                return r;
        }
        r = yaml_node_append(mapping, value);
        if (r < 0) {
                /* Keep the mapping well formed: drop the dangling key. */
                mapping->n_children--;
                yaml_node_free(k);
        }
        return r;
}

static int mapping_append_scalar(YamlNode *mapping, const char *key, const char *value, bool plain) {
        YamlNode *v;
        int r = yaml_node_new_scalar(value, plain, &v);
        if (r < 0)
                return r;
        return yaml_mapping_append(mapping, key, v);
}

int yaml_mapping_append_string(YamlNode *mapping, const char *key, const char *value) {
        return mapping_append_scalar(mapping, key, value, false);
}

int yaml_mapping_append_plain(YamlNode *mapping, const char *key, const char *value) {
        return mapping_append_scalar(mapping, key, value, true);
}

/* 1-based line and column of a byte offset. */
static void offset_position(const char *data, size_t size, size_t offset, unsigned *line, unsigned *column) {
        unsigned l = 1, c = 1;
        for (size_t i = 0; i < offset && i < size; i++) {
                if (data[i] == '\n') {
                        l++;
                        c = 1;
                } else if (((unsigned char) data[i] & 0xC0) != 0x80)
                        c++;  /* count characters, not UTF-8 continuation bytes */
        }
        *line = l;
        *column = c;
}

_printf_(4, 5)
static int set_error(YamlError *error, const yaml_mark_t *mark, int r, const char *fmt, ...) {
        va_list ap;

        error->line = mark ? (unsigned) mark->line + 1 : 0;
        error->column = mark ? (unsigned) mark->column + 1 : 0;
        va_start(ap, fmt);
        vsnprintf(error->message, sizeof(error->message), fmt, ap);
        va_end(ap);
        return r;
}

static int parser_error(yaml_parser_t *parser, const char *data, size_t size, YamlError *error) {
        if (parser->error == YAML_MEMORY_ERROR)
                return -ENOMEM;

        if (parser->error == YAML_READER_ERROR) {
                offset_position(data, size, parser->problem_offset, &error->line, &error->column);
                snprintf(error->message, sizeof(error->message), "%s",
                         parser->problem ?: "cannot read the input");
                return -EINVAL;
        }

        if (parser->context)
                return set_error(error, &parser->problem_mark, -EINVAL,
                                 "YAML syntax error: %s %s (line %zu column %zu)",
                                 parser->problem ?: "unexpected input",
                                 parser->context,
                                 parser->context_mark.line + 1,
                                 parser->context_mark.column + 1);
        return set_error(error, &parser->problem_mark, -EINVAL, "YAML syntax error: %s",
                         parser->problem ?: "unexpected input");
}

static void yaml_parser_deletep(yaml_parser_t *p) {
        yaml_parser_delete(p);
}

int yaml_tree_parse(const char *data, size_t size, YamlNode **ret, YamlError *error) {
        _cleanup_(yaml_parser_deletep) yaml_parser_t parser = {};
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlNode *stack[YAML_TREE_MAX_DEPTH];
        size_t depth = 0;
        unsigned documents = 0;
        int r = 0;

        assert(data || size == 0);
        *error = (YamlError) {};

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) data, size);

        for (bool done = false; !done;) {
                yaml_event_t ev;
                YamlNode *node = NULL;

                if (!yaml_parser_parse(&parser, &ev))
                        return parser_error(&parser, data, size, error);

                unsigned line = (unsigned) ev.start_mark.line + 1, column = (unsigned) ev.start_mark.column + 1;

                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;

                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1)
                                r = set_error(error, &ev.start_mark, -EINVAL,
                                              "more than one YAML document in the file");
                        break;

                case YAML_ALIAS_EVENT:
                        r = set_error(error, &ev.start_mark, -EINVAL,
                                      "YAML aliases (*%s) are not supported", (const char *) ev.data.alias.anchor);
                        break;

                case YAML_SCALAR_EVENT: {
                        const char *tag = (const char *) ev.data.scalar.tag;

                        node = node_alloc(YAML_TREE_SCALAR, line, column);
                        if (!node) {
                                r = -ENOMEM;
                                break;
                        }
                        node->value = malloc(ev.data.scalar.length + 1);
                        if (!node->value) {
                                node = yaml_node_free(node);
                                r = -ENOMEM;
                                break;
                        }
                        memcpy(node->value, ev.data.scalar.value, ev.data.scalar.length);
                        node->value[ev.data.scalar.length] = 0;
                        node->length = ev.data.scalar.length;
                        node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                                !(tag && strcmp(tag, YAML_STR_TAG) == 0);
                        break;
                }

                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if (depth >= YAML_TREE_MAX_DEPTH) {
                                r = set_error(error, &ev.start_mark, -E2BIG,
                                              "nesting deeper than %d levels", YAML_TREE_MAX_DEPTH);
                                break;
                        }
                        node = node_alloc(ev.type == YAML_SEQUENCE_START_EVENT ? YAML_TREE_SEQUENCE : YAML_TREE_MAPPING,
                                          line, column);
                        if (!node)
                                r = -ENOMEM;
                        break;

                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        assert(depth > 0);
                        depth--;
                        break;

                default:
                        break;
                }

                if (node) {
                        bool collection = node->type != YAML_TREE_SCALAR;

                        if (depth == 0) {
                                assert(!root);
                                root = node;
                        } else {
                                r = yaml_node_append(stack[depth - 1], node);
                                if (r < 0)
                                        node = NULL;
                        }
                        if (node && collection)
                                stack[depth++] = node;
                }

                yaml_event_delete(&ev);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(root);
        return 0;
}

bool yaml_string_needs_quotes(const char *s) {
        static const char *const words[] = {
                "~", "null", "Null", "NULL",
                "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                "true", "True", "TRUE", "false", "False", "FALSE",
                "on", "On", "ON", "off", "Off", "OFF",
                ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", "=", "<<",
        };

        if (*s == 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcmp(s, words[i]) == 0)
                        return true;
        /* Anything that might read as a number, date or signed value. */
        if (strchr("0123456789+-.", *s))
                return true;
        return false;
}

static int emit(yaml_emitter_t *emitter, yaml_event_t *ev) {
        return yaml_emitter_emit(emitter, ev) ? 0 : -ENOMEM;
}

static int emit_node(yaml_emitter_t *emitter, const YamlNode *node) {
        yaml_event_t ev;
        int r;

        switch (node->type) {
        case YAML_TREE_SCALAR: {
                yaml_scalar_style_t style;

                if (node->plain)
                        style = YAML_PLAIN_SCALAR_STYLE;
                else if (yaml_string_needs_quotes(node->value))
                        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
                else
                        style = YAML_ANY_SCALAR_STYLE;
                if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
                                                  (yaml_char_t *) node->value, (int) node->length,
                                                  1, 1, style))
                        return -ENOMEM;
                return emit(emitter, &ev);
        }

        case YAML_TREE_SEQUENCE:
        case YAML_TREE_MAPPING:
                if (node->type == YAML_TREE_SEQUENCE) {
                        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE))
                                return -ENOMEM;
                } else if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE))
                        return -ENOMEM;
                r = emit(emitter, &ev);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < node->n_children; i++) {
                        r = emit_node(emitter, node->children[i]);
                        if (r < 0)
                                return r;
                }
                if (node->type == YAML_TREE_SEQUENCE) {
                        if (!yaml_sequence_end_event_initialize(&ev))
                                return -ENOMEM;
                } else if (!yaml_mapping_end_event_initialize(&ev))
                        return -ENOMEM;
                return emit(emitter, &ev);
        }
        return -EINVAL;
}

static void yaml_emitter_deletep(yaml_emitter_t *e) {
        yaml_emitter_delete(e);
}

typedef struct Output {
        char *data;
        size_t size, allocated;
} Output;

/* Grows without leaving copies behind: the document may hold a private key. */
static int write_output(void *userdata, unsigned char *buffer, size_t size) {
        Output *o = userdata;

        if (o->size + size + 1 > o->allocated) {
                size_t a = MAX(o->allocated * 2, o->size + size + 1);
                char *d = realloc_wiped(o->data, MAX(a, (size_t) 4096));
                if (!d)
                        return 0;
                o->data = d;
                o->allocated = MAX(a, (size_t) 4096);
        }
        memcpy(o->data + o->size, buffer, size);
        o->size += size;
        o->data[o->size] = 0;
        return 1;
}

int yaml_tree_emit(const YamlNode *root, char **ret, size_t *ret_size) {
        _cleanup_(yaml_emitter_deletep) yaml_emitter_t emitter = {};
        Output out = {};
        yaml_event_t ev;
        int r = 0;

        assert(root);

        if (!yaml_emitter_initialize(&emitter))
                return -ENOMEM;
        yaml_emitter_set_output(&emitter, write_output, &out);
        yaml_emitter_set_unicode(&emitter, 1);
        yaml_emitter_set_width(&emitter, -1);
        yaml_emitter_set_indent(&emitter, 2);

        if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
            (r = emit(&emitter, &ev)) < 0 ||
            !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
            (r = emit(&emitter, &ev)) < 0 ||
            (r = emit_node(&emitter, root)) < 0 ||
            !yaml_document_end_event_initialize(&ev, 1) ||
            (r = emit(&emitter, &ev)) < 0 ||
            !yaml_stream_end_event_initialize(&ev) ||
            (r = emit(&emitter, &ev)) < 0 ||
            !yaml_emitter_flush(&emitter) || !out.data) {
                free_wiped(out.data);
                return -ENOMEM;
        }

        *ret_size = out.size;
        *ret = out.data;
        return 0;
}
