/* SPDX-License-Identifier: MIT */
/* YAML as a tree with positions: libyaml's events in (aliases and merge
 * keys for the configuration, with caps), its emitter out. Knows no key of
 * any file. */

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "macro.h"
#include "secure-memory.h"
#include "yaml-tree.h"

/* ---- libyaml's allocations, wiped --------------------------------------- */

/* libyaml copies what it reads and writes (a kubeconfig's private keys) into
 * buffers of its own, grows them by realloc and frees them, through these
 * two functions of its own, which it calls by their exported names. Defined
 * here, in the program, they replace libyaml's for libyaml itself (the
 * dynamic linker binds a name to the program's definition first; the program
 * exports them, daemon/meson.build): every block libyaml frees or moves is
 * wiped first. yaml_tree_wiped_frees() counts them, for the test that
 * proves it. Part of secure-memory.c's set. */
void *yaml_realloc(void *ptr, size_t size);
void yaml_free(void *ptr);

static size_t wiped_frees;

void *yaml_realloc(void *ptr, size_t size) {
        if (ptr)
                wiped_frees++;
        return realloc_wiped(ptr, size ?: 1);
}

void yaml_free(void *ptr) {
        if (ptr)
                wiped_frees++;
        free_wiped(ptr);
}

size_t yaml_tree_wiped_frees(void) {
        return wiped_frees;
}

/* ---- nodes ---------------------------------------------------------------- */

YamlNode *yaml_node_free(YamlNode *node) {
        if (!node)
                return NULL;
        if (node->refs > 0) {  /* still held by another parent (an alias) */
                node->refs--;
                return NULL;
        }
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

_Static_assert(sizeof(YamlNode) <= 56, "YamlNode grew: ten thousand clusters are over a hundred thousand of them");

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
                size_t n = parent->n_allocated ? (size_t) parent->n_allocated * 2 : 4;
                YamlNode **c = n <= UINT32_MAX ? reallocarray(parent->children, n, sizeof(YamlNode *)) : NULL;
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

/* ---- anchors, aliases and merge keys ------------------------------------ */

static YamlNode *node_ref(YamlNode *node) {
        node->refs++;
        return node;
}

/* The anchors seen so far, by name: an open-addressing table whose size is a
 * power of two kept at most half full. A name defined again points to the
 * newer node, as YAML says. The table holds a reference to each node: a
 * merge may drop the anchored mapping from the tree ("<<: &a {...}") and a
 * later *a still finds it. */
typedef struct Anchor {
        char *name;
        YamlNode *node;
} Anchor;

typedef struct AnchorTable {
        Anchor *slots;
        size_t n, allocated;
} AnchorTable;

static void anchor_table_done(AnchorTable *t) {
        for (size_t i = 0; i < t->allocated; i++) {
                free(t->slots[i].name);
                yaml_node_free(t->slots[i].node);
        }
        free(t->slots);
}

/* djb2: anchors and keys come from the configuration, not from a network peer. */
static size_t hash_bytes(const char *data, size_t size) {
        size_t h = 5381;
        for (size_t i = 0; i < size; i++)
                h = h * 33 + (unsigned char) data[i];
        return h;
}

static Anchor *anchor_slot(const AnchorTable *t, const char *name) {
        size_t mask = t->allocated - 1;
        for (size_t i = hash_bytes(name, strlen(name)) & mask;; i = (i + 1) & mask)
                if (!t->slots[i].name || strcmp(t->slots[i].name, name) == 0)
                        return &t->slots[i];
}

static YamlNode *anchor_find(const AnchorTable *t, const char *name) {
        if (t->allocated == 0)
                return NULL;
        return anchor_slot(t, name)->node;
}

static int anchor_define(AnchorTable *t, const char *name, YamlNode *node) {
        if ((t->n + 1) * 2 > t->allocated) {
                AnchorTable bigger = { .allocated = t->allocated ? t->allocated * 2 : 16 };

                bigger.slots = calloc(bigger.allocated, sizeof(Anchor));
                if (!bigger.slots)
                        return -ENOMEM;
                for (size_t i = 0; i < t->allocated; i++)
                        if (t->slots[i].name)
                                *anchor_slot(&bigger, t->slots[i].name) = t->slots[i];
                bigger.n = t->n;
                free(t->slots);
                *t = bigger;
        }

        Anchor *a = anchor_slot(t, name);
        if (!a->name) {
                a->name = strdup(name);
                if (!a->name)
                        return -ENOMEM;
                t->n++;
        }
        yaml_node_free(a->node);
        a->node = node_ref(node);
        return 0;
}

static bool is_merge_key(const YamlNode *key) {
        return key->type == YAML_TREE_SCALAR && key->plain && strcmp(key->value, "<<") == 0;
}

static bool same_scalar(const YamlNode *a, const YamlNode *b) {
        return a->type == YAML_TREE_SCALAR && b->type == YAML_TREE_SCALAR &&
                a->length == b->length && memcmp(a->value, b->value, a->length) == 0;
}

/* The scalar keys of a mapping being merged, found in constant time: a merge
 * costs what it adds, however many keys the mappings have. */
typedef struct KeySet {
        const YamlNode **slots;
        size_t mask;
} KeySet;

/* Adds a key; false when an equal one is there already. Keys that are not
 * scalars are never equal to another. */
static bool key_set_add(KeySet *set, const YamlNode *key) {
        if (key->type != YAML_TREE_SCALAR)
                return true;
        for (size_t i = hash_bytes(key->value, key->length) & set->mask;; i = (i + 1) & set->mask) {
                if (!set->slots[i]) {
                        set->slots[i] = key;
                        return true;
                }
                if (same_scalar(set->slots[i], key))
                        return false;
        }
}

/* Resolves the merge keys of a finished mapping ("<<: *defaults" or "<<: [*a,
 * *b]"), YAML 1.1's way: the pairs of the merged mappings take the place of
 * the "<<" pair, except for keys the mapping itself has or an earlier merged
 * mapping gave. The pairs are shared with the mappings they come from, so
 * each keeps the position where it is written. */
static int mapping_merge(YamlNode *m, YamlError *error) {
        _cleanup_free_ YamlNode **pairs = NULL;
        size_t n = 0, allocated = 0;
        bool any = false;

        for (size_t i = 0; i + 1 < m->n_children; i += 2)
                any = any || is_merge_key(m->children[i]);
        if (!any)
                return 0;

        for (size_t i = 0; i + 1 < m->n_children; i += 2) {
                YamlNode *key = m->children[i], *value = m->children[i + 1];
                YamlNode *const *sources = &value;
                size_t n_sources = 1;

                if (!is_merge_key(key)) {
                        allocated += 2;
                        continue;
                }
                if (value->type == YAML_TREE_SEQUENCE) {
                        sources = value->children;
                        n_sources = value->n_children;
                }
                for (size_t j = 0; j < n_sources; j++) {
                        if (sources[j]->type != YAML_TREE_MAPPING) {
                                error->line = sources[j]->line;
                                error->column = sources[j]->column;
                                snprintf(error->message, sizeof(error->message),
                                         "the merge key << takes a mapping or a list of mappings, not %s",
                                         yaml_node_type_name(sources[j]));
                                return -EINVAL;
                        }
                        allocated += sources[j]->n_children;
                }
        }

        size_t slots = 16;
        while (slots < allocated + 2)  /* at most half full: a key per two entries of pairs */
                slots *= 2;
        _cleanup_free_ const YamlNode **keys = calloc(slots, sizeof(YamlNode *));
        KeySet set = { keys, slots - 1 };
        pairs = calloc(MAX(allocated, (size_t) 1), sizeof(YamlNode *));
        if (!pairs || !keys)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < m->n_children; i += 2)
                if (!is_merge_key(m->children[i]))
                        (void) key_set_add(&set, m->children[i]);

        for (size_t i = 0; i + 1 < m->n_children; i += 2) {
                YamlNode *key = m->children[i], *value = m->children[i + 1];

                if (!is_merge_key(key)) {
                        pairs[n++] = key;
                        pairs[n++] = value;
                        continue;
                }
                YamlNode *const *sources = value->type == YAML_TREE_SEQUENCE ? value->children : &value;
                size_t n_sources = value->type == YAML_TREE_SEQUENCE ? value->n_children : 1;
                for (size_t j = 0; j < n_sources; j++)
                        for (size_t k = 0; k + 1 < sources[j]->n_children; k += 2) {
                                YamlNode *mk = sources[j]->children[k];
                                if (!key_set_add(&set, mk))
                                        continue;  /* the mapping's own, or an earlier merged one */
                                pairs[n++] = node_ref(mk);
                                pairs[n++] = node_ref(sources[j]->children[k + 1]);
                        }
        }

        for (size_t i = 0; i + 1 < m->n_children; i += 2)
                if (is_merge_key(m->children[i])) {
                        yaml_node_free(m->children[i]);
                        yaml_node_free(m->children[i + 1]);
                }
        free(m->children);
        m->children = TAKE_PTR(pairs);
        m->n_children = n;
        m->n_allocated = allocated;
        return 0;
}

/* ---- the parser ---------------------------------------------------------- */

static const char *event_anchor(const yaml_event_t *ev) {
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                return (const char *) ev->data.scalar.anchor;
        case YAML_SEQUENCE_START_EVENT:
                return (const char *) ev->data.sequence_start.anchor;
        case YAML_MAPPING_START_EVENT:
                return (const char *) ev->data.mapping_start.anchor;
        default:
                return NULL;
        }
}

/* A node is finished: its size with aliases expanded and its height. */
static void node_measure(YamlNode *node) {
        node->weight = 1;
        node->height = 1;
        for (size_t i = 0; i < node->n_children; i++) {
                node->weight += node->children[i]->weight;
                node->height = MAX(node->height, node->children[i]->height + 1);
        }
}

static int tree_parse(const char *data, size_t size, bool aliases, YamlNode **ret, YamlError *error) {
        _cleanup_(yaml_parser_deletep) yaml_parser_t parser = {};
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_(anchor_table_done) AnchorTable anchors = {};
        YamlNode *stack[YAML_TREE_MAX_DEPTH];
        size_t depth = 0, expanded = 0;
        unsigned documents = 0;
        int r = 0;

        assert(data || size == 0);
        *error = (YamlError) {};
        if (size > UINT32_MAX)
                return -EFBIG;  /* a node's length is 32 bits */

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) data, size);

        for (bool done = false; !done;) {
                yaml_event_t ev;
                YamlNode *node = NULL;
                bool open = false;

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

                case YAML_ALIAS_EVENT: {
                        const char *name = (const char *) ev.data.alias.anchor;
                        YamlNode *target;

                        if (!aliases) {
                                r = set_error(error, &ev.start_mark, -EINVAL,
                                              "YAML aliases (*%s) are not supported", name);
                                break;
                        }
                        target = anchor_find(&anchors, name);
                        if (!target)
                                r = set_error(error, &ev.start_mark, -EINVAL, "alias *%s names no anchor before it", name);
                        else if (target->weight == 0)
                                r = set_error(error, &ev.start_mark, -EINVAL,
                                              "alias *%s is inside the node it names", name);
                        else if (depth + target->height > YAML_TREE_MAX_DEPTH)
                                r = set_error(error, &ev.start_mark, -E2BIG,
                                              "alias *%s nests deeper than %d levels", name, YAML_TREE_MAX_DEPTH);
                        else if ((expanded += target->weight) > YAML_TREE_MAX_EXPANDED)
                                r = set_error(error, &ev.start_mark, -E2BIG,
                                              "YAML aliases expand to more than %d values (at *%s)",
                                              YAML_TREE_MAX_EXPANDED, name);
                        else
                                node = node_ref(target);
                        break;
                }

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
                        node_measure(node);
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
                        open = true;
                        break;

                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        assert(depth > 0);
                        depth--;
                        if (aliases && ev.type == YAML_MAPPING_END_EVENT)
                                r = mapping_merge(stack[depth], error);
                        node_measure(stack[depth]);
                        break;

                default:
                        break;
                }

                if (node) {
                        if (depth == 0) {
                                assert(!root);
                                root = node;
                        } else {
                                r = yaml_node_append(stack[depth - 1], node);
                                if (r < 0)
                                        node = NULL;
                        }
                        if (node && aliases && event_anchor(&ev) && r >= 0)
                                r = anchor_define(&anchors, event_anchor(&ev), node);
                        if (node && open)
                                stack[depth++] = node;
                }

                yaml_event_delete(&ev);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(root);
        return 0;
}

int yaml_tree_parse(const char *data, size_t size, YamlNode **ret, YamlError *error) {
        return tree_parse(data, size, false, ret, error);
}

int yaml_tree_parse_with_aliases(const char *data, size_t size, YamlNode **ret, YamlError *error) {
        return tree_parse(data, size, true, ret, error);
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
        if (strnlen(s, 6) <= 5)  /* the longest word: base64 and the like skip the list */
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
