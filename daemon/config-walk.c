/* SPDX-License-Identifier: MIT */
/* The loader's ground floor: errors and warnings at a file position (sorted,
 * said once), "did you mean", and the walk over a mapping's keys. Knows no
 * key of the configuration itself. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

/* ---- errors ------------------------------------------------------------ */

ConfigPos node_pos(const YamlNode *n) {
        return n ? (ConfigPos) { n->line, n->column } : (ConfigPos) {};
}

int pos_compare(ConfigPos a, ConfigPos b) {
        if (a.line != b.line)
                return a.line < b.line ? -1 : 1;
        if (a.column != b.column)
                return a.column < b.column ? -1 : 1;
        return 0;
}

_printf_(4, 0)
static void add_message(Loader *l, bool warning, ConfigPos pos, const char *fmt, va_list ap) {
        ConfigError **list = warning ? &l->errors->warnings : &l->errors->errors;
        size_t *n = warning ? &l->errors->n_warnings : &l->errors->n_errors;
        char *m;

        if (vasprintf(&m, fmt, ap) < 0) {
                l->oom = true;
                return;
        }
        /* A value inherited from defaults is checked once per cluster: say it once. */
        for (size_t i = 0; i < *n; i++)
                if (pos_compare((*list)[i].pos, pos) == 0 && strcmp((*list)[i].message, m) == 0) {
                        free(m);
                        return;
                }
        ConfigError *e = reallocarray(*list, *n + 1, sizeof(ConfigError));
        if (!e) {
                free(m);
                l->oom = true;
                return;
        }
        *list = e;
        e[(*n)++] = (ConfigError) { pos, m };
}

_printf_(3, 4)
int error_at(Loader *l, ConfigPos pos, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        add_message(l, false, pos, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

_printf_(3, 4)
void warning_at(Loader *l, ConfigPos pos, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        add_message(l, true, pos, fmt, ap);
        va_end(ap);
}

int error_compare(const void *a, const void *b) {
        const ConfigError *x = a, *y = b;
        int c = pos_compare(x->pos, y->pos);
        return c != 0 ? c : strcmp(x->message, y->message);
}

void config_errors_clear(ConfigErrors *errors) {
        for (size_t i = 0; i < errors->n_errors; i++)
                free(errors->errors[i].message);
        for (size_t i = 0; i < errors->n_warnings; i++)
                free(errors->warnings[i].message);
        free(errors->errors);
        free(errors->warnings);
        *errors = (ConfigErrors) {};
}

static void print_one(const ConfigError *e, const char *prefix, const char *path, FILE *f) {
        if (e->pos.line > 0)
                fprintf(f, "%s:%u:%u: %s%s\n", path, e->pos.line, e->pos.column, prefix, e->message);
        else
                fprintf(f, "%s: %s%s\n", path, prefix, e->message);
}

void config_errors_print(const ConfigErrors *errors, const char *path, FILE *f) {
        for (size_t i = 0; i < errors->n_errors; i++)
                print_one(&errors->errors[i], "", path, f);
        for (size_t i = 0; i < errors->n_warnings; i++)
                print_one(&errors->warnings[i], "warning: ", path, f);
}

/* ---- "did you mean" ---------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), row[65];

        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        best = MIN(best, row[j] + 1);
                        best = MIN(best, row[j - 1] + 1);
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

/* The closest of candidates to s, when it is close enough to be a typo. */
const char *closest(const char *s, const char *const *candidates, size_t n) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX, limit = MAX(strlen(s) / 3, 2u);

        for (size_t i = 0; i < n; i++) {
                if (!candidates[i])
                        continue;
                size_t d = edit_distance(s, candidates[i]);
                if (d <= limit && d < best_d) {
                        best = candidates[i];
                        best_d = d;
                }
        }
        return best;
}

/* A key is echoed in messages only when it looks like a key: a mistyped
 * mapping could carry a pasted secret as its key. */
static bool key_printable(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 40)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

static int unknown_key(Loader *l, const YamlNode *key, const char *where, const char *const *keys, size_t n) {
        if (!key_printable(key->value))
                return error_at(l, node_pos(key), "unknown key in %s", where);
        const char *guess = closest(key->value, keys, n);
        if (guess)
                return error_at(l, node_pos(key), "unknown key '%s' in %s; did you mean '%s'?", key->value, where, guess);
        return error_at(l, node_pos(key), "unknown key '%s' in %s", key->value, where);
}

/* ---- walking mappings --------------------------------------------------- */

/* Calls on_pair for each key of a mapping that is one of keys[], reporting
 * non-scalar, duplicate and unknown keys. keys[] may hold NULL holes. */
int walk_mapping(Loader *l, const YamlNode *map, const char *where,
                 const char *const *keys, size_t n_keys,
                 PairHandler on_pair, void *userdata) {
        if (!map || map->type != YAML_TREE_MAPPING)
                return error_at(l, node_pos(map), "%s must be a mapping, not %s", where, yaml_node_type_name(map));

        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                const YamlNode *k = map->children[i], *v = map->children[i + 1];
                bool duplicate = false;
                size_t idx;

                if (k->type != YAML_TREE_SCALAR) {
                        error_at(l, node_pos(k), "keys in %s must be plain words, not %s", where, yaml_node_type_name(k));
                        continue;
                }
                for (size_t j = 0; j < i && !duplicate; j += 2) {
                        const YamlNode *o = map->children[j];
                        if (o->type == YAML_TREE_SCALAR && strcmp(o->value, k->value) == 0) {
                                if (key_printable(k->value))
                                        error_at(l, node_pos(k), "duplicate key '%s' in %s (first at line %u column %u)",
                                                 k->value, where, o->line, o->column);
                                else
                                        error_at(l, node_pos(k), "duplicate key in %s (first at line %u column %u)",
                                                 where, o->line, o->column);
                                duplicate = true;
                        }
                }
                if (duplicate)
                        continue;
                for (idx = 0; idx < n_keys; idx++)
                        if (keys[idx] && strcmp(keys[idx], k->value) == 0)
                                break;
                if (idx == n_keys && map == l->root && strncmp(k->value, "x-", 2) == 0)
                        continue;  /* an extension key: a place for anchors, ignored */
                if (idx == n_keys) {
                        unknown_key(l, k, where, keys, n_keys);
                        continue;
                }
                on_pair(l, idx, k, v, userdata);
        }
        return 0;
}
