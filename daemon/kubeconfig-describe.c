/* SPDX-License-Identifier: MIT */
/* What a dry run shows of a kubeconfig write: the entries added or
 * changed, and the new file with its secrets redacted. Opens no file: it
 * prints to the stream it is given. */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"
#include "kubeconfig-internal.h"
#include "macro.h"
#include "secure-memory.h"
#include "yaml-tree.h"

static void redact_scalar(YamlNode *n) {
        free_wiped(n->value);
        n->value = strdup("REDACTED");
        n->length = n->value ? 8 : 0;
}

/* Every scalar below n (all), or those of secret-bearing fields: any
 * "*-data", "token", "password", an auth-provider's "config" and the values
 * of an exec plugin's "env". owner is the key n is the value of. */
static void redact_secrets(YamlNode *n, const char *owner, bool all) {
        if (!n)
                return;
        if (n->type == YAML_TREE_SCALAR) {
                if (all && !yaml_node_is_null(n))
                        redact_scalar(n);
                return;
        }
        for (size_t i = 0; i < n->n_children; i++) {
                YamlNode *child = n->children[i];
                if (n->type != YAML_TREE_MAPPING) {
                        /* An item of exec's env: {name: ..., value: ...}. */
                        bool env = owner && strcmp(owner, "env") == 0;
                        if (env && child->type == YAML_TREE_MAPPING) {
                                redact_secrets(yaml_mapping_get(child, "value"), NULL, true);
                                continue;
                        }
                        redact_secrets(child, NULL, all);
                        continue;
                }
                if (i % 2 == 0)
                        continue;
                const char *key = n->children[i - 1]->value ?: "";
                size_t kl = strlen(key);
                bool secret = all || (kl > 5 && strcmp(key + kl - 5, "-data") == 0) || strcmp(key, "token") == 0 ||
                        strcmp(key, "password") == 0 ||
                        (strcmp(key, "config") == 0 && owner && strcmp(owner, "auth-provider") == 0);
                if (strcmp(key, "env") == 0 && owner && strcmp(owner, "exec") == 0)
                        redact_secrets(child, "env", false);
                else
                        redact_secrets(child, key, secret);
        }
}

/* The names of the fields whose values differ between two mappings. */
static void changed_fields(const YamlNode *a, const YamlNode *b, FILE *out) {
        bool any = false;
        for (size_t i = 0; b && b->type == YAML_TREE_MAPPING && i + 1 < b->n_children; i += 2) {
                const char *key = b->children[i]->value;
                const YamlNode *va = yaml_mapping_get(a, key), *vb = b->children[i + 1];
                bool same = va && va->type == YAML_TREE_SCALAR && vb->type == YAML_TREE_SCALAR &&
                        va->length == vb->length && memcmp(va->value, vb->value, va->length) == 0;
                if (vb->type != YAML_TREE_SCALAR && va && va->type == vb->type)
                        continue;  /* lists and mappings (extensions): not itemised */
                if (!same) {
                        fprintf(out, "%s%s", any ? ", " : " (", key);
                        any = true;
                }
        }
        fputs(any ? ")" : "", out);
}

int kubeconfig_describe(const ClusterConfig *cl, const char *old_text, size_t old_size,
                        const char *new_text, size_t new_size, FILE *out) {
        _cleanup_(yaml_node_freep) YamlNode *old = NULL, *new = NULL;
        _cleanup_free_wiped_ char *redacted = NULL;
        YamlError e;
        size_t size;
        int r;

        if (old_text && old_size > 0 && yaml_tree_parse(old_text, old_size, &old, &e) < 0)
                old = NULL;
        r = yaml_tree_parse(new_text, new_size, &new, &e);
        if (r < 0)
                return r;

        static const struct {
                const char *list, *inner, *what;
                size_t name_offset;
        } entries[] = {
                { "clusters", "cluster", "cluster", offsetof(ClusterConfig, cluster_entry_name) },
                { "users", "user", "user", offsetof(ClusterConfig, user_entry_name) },
                { "contexts", "context", "context", offsetof(ClusterConfig, context_name) },
        };
        fprintf(out, "entries in %s:\n", cl->kubeconfig);
        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                const char *name = *(char *const *) ((const char *) cl + entries[i].name_offset);
                const YamlNode *a = yaml_mapping_get(find_entry(yaml_mapping_get(old, entries[i].list), name, NULL), entries[i].inner);
                const YamlNode *b = yaml_mapping_get(find_entry(yaml_mapping_get(new, entries[i].list), name, NULL), entries[i].inner);
                fprintf(out, "  %s %s: ", entries[i].what, name);
                if (!a)
                        fputs("added", out);
                else {
                        char *buf = NULL;
                        size_t n = 0;
                        FILE *m = open_memstream(&buf, &n);
                        if (!m)
                                return -ENOMEM;
                        changed_fields(a, b, m);
                        fclose(m);
                        fprintf(out, "%s%s", n > 0 ? "changed" : "unchanged", buf ?: "");
                        free(buf);
                }
                fputc('\n', out);
        }
        const char *before = get_scalar(old, "current-context"), *after = get_scalar(new, "current-context");
        if (before && after && strcmp(before, after) == 0)
                fprintf(out, "  current-context: %s (unchanged)\n", after);
        else
                fprintf(out, "  current-context: %s (was %s)\n", after ?: "-", before ?: "none");

        redact_secrets(new, NULL, false);
        r = yaml_tree_emit(new, &redacted, &size);
        if (r < 0)
                return r;
        fputs("kubeconfig that would be written (keys, certificates, tokens, passwords and other secrets redacted):\n", out);
        fputs(redacted, out);
        return 0;
}
