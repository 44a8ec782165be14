/* SPDX-License-Identifier: MIT */
#pragma once

/* What kubeconfig.c and kubeconfig-describe.c share: reading a kubeconfig's
 * tree. */

#include <string.h>

#include "yaml-tree.h"

static inline const char *scalar(const YamlNode *n) {
        return n && n->type == YAML_TREE_SCALAR && !yaml_node_is_null(n) ? n->value : NULL;
}

static inline const char *get_scalar(const YamlNode *map, const char *key) {
        return scalar(yaml_mapping_get(map, key));
}

/* The entry named name in sequence seq (clusters, users, contexts). */
static inline YamlNode *find_entry(const YamlNode *seq, const char *name, size_t *ret_index) {
        if (!seq || seq->type != YAML_TREE_SEQUENCE)
                return NULL;
        for (size_t i = 0; i < seq->n_children; i++) {
                const char *n = get_scalar(seq->children[i], "name");
                if (n && strcmp(n, name) == 0) {
                        if (ret_index)
                                *ret_index = i;
                        return seq->children[i];
                }
        }
        return NULL;
}
