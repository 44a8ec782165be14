/* SPDX-License-Identifier: MIT */
#pragma once

/* A YAML document as a tree of nodes, each knowing its 1-based line and
 * column, read with libyaml's event parser and written with its emitter.
 * Used for the configuration and for kubeconfig files. Nesting is capped.
 * Kubeconfigs are read without aliases (the program rewrites them); the
 * configuration may use anchors, aliases and merge keys, expanded by sharing
 * the anchored node, with a cap on how many values they may stand for. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define YAML_TREE_MAX_DEPTH 64
/* Values (scalars, lists and mappings) that aliases may stand for in all: a
 * "billion laughs" document is refused at the first alias past it. */
#define YAML_TREE_MAX_EXPANDED 1000000

typedef enum __attribute__((packed)) YamlNodeType {
        YAML_TREE_SCALAR,
        YAML_TREE_SEQUENCE,
        YAML_TREE_MAPPING,
} YamlNodeType;

typedef struct YamlNode YamlNode;
struct YamlNode {
        /* Laid out small (56 bytes): a configuration of ten thousand
         * clusters is a tree of over a hundred thousand nodes. */

        /* Scalars. value is NUL-terminated (length excludes the NUL; a scalar
         * may contain NUL bytes only when read from a quoted escape). plain is
         * true for an unquoted scalar, whose text may mean null, a boolean or
         * a number; a quoted one is always a string. */
        char *value;

        /* Sequences: items in order. Mappings: keys and values alternate,
         * children[2*i] is the i-th key, children[2*i+1] its value. */
        YamlNode **children;

        /* An alias shares the node it names: refs counts the parents beyond
         * the first. weight is the number of values in the node with aliases
         * expanded and height its nesting, both set when the parser has
         * read the node whole (weight 0 while it is still open). */
        size_t weight;
        uint32_t length;        /* of value: files read are at most a few MiB */
        uint32_t n_children;
        uint32_t n_allocated;
        unsigned line, column;  /* 1-based position of the node's start */
        unsigned refs;
        unsigned height;
        YamlNodeType type;
        bool plain;
};

typedef struct YamlError {
        unsigned line, column;  /* 1-based; 0 when unknown */
        char message[256];
} YamlError;

/* Parses one YAML document. On success returns 0 and the root in *ret (owned
 * by the caller; NULL for a document without content). On bad input returns
 * -EINVAL (or -E2BIG past the depth cap) and fills *error; -ENOMEM on
 * allocation failure; -EFBIG for input of 4 GiB or more. */
int yaml_tree_parse(const char *data, size_t size, YamlNode **ret, YamlError *error);
/* The same, taking anchors (&name), aliases (*name) and merge keys (<<: *name
 * or <<: [*a, *b]). An aliased value is the anchored node itself, at its
 * position; a merged pair keeps the position where it is written. The tree
 * is for reading: a node may have several parents. An alias to an unknown
 * anchor or to a node that contains it, a merge of something that is not a
 * mapping: -EINVAL; past YAML_TREE_MAX_EXPANDED or the depth cap: -E2BIG. */
int yaml_tree_parse_with_aliases(const char *data, size_t size, YamlNode **ret, YamlError *error);

/* Frees a node and its children; accepts NULL; returns NULL. */
YamlNode *yaml_node_free(YamlNode *node);
static inline void yaml_node_freep(YamlNode **p) {
        yaml_node_free(*p);
}

/* Number of items of a sequence or pairs of a mapping. */
size_t yaml_node_size(const YamlNode *node);
/* The value for key in a mapping (first match), borrowed; NULL if absent. */
YamlNode *yaml_mapping_get(const YamlNode *mapping, const char *key);

/* True for a plain scalar that reads as null: empty, "~", "null". */
bool yaml_node_is_null(const YamlNode *node);
const char *yaml_node_type_name(const YamlNode *node);

/* Builders for documents the program writes. A string scalar is quoted on
 * output whenever YAML 1.1 or 1.2 would read it as something else. */
int yaml_node_new_scalar(const char *value, bool plain, YamlNode **ret);
int yaml_node_new_collection(YamlNodeType type, YamlNode **ret);
/* Appends child (ownership passes to parent, also on failure). */
int yaml_node_append(YamlNode *parent, YamlNode *child);
/* Appends key: value to a mapping; value's ownership passes to mapping. */
int yaml_mapping_append(YamlNode *mapping, const char *key, YamlNode *value);
int yaml_mapping_append_string(YamlNode *mapping, const char *key, const char *value);
int yaml_mapping_append_plain(YamlNode *mapping, const char *key, const char *value);

/* True when the string, written plain, would not read back as that string. */
bool yaml_string_needs_quotes(const char *s);

/* Emits the document as block-style YAML into a new NUL-terminated buffer
 * (free it with free_wiped() when it may hold a key). */
int yaml_tree_emit(const YamlNode *root, char **ret, size_t *ret_size);

/* How many blocks libyaml freed or moved, each wiped first (see
 * yaml-tree.c): for the test that proves libyaml uses the wiping ones. */
size_t yaml_tree_wiped_frees(void);
