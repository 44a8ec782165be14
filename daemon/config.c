/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "parse-value.h"
#include "yaml-tree.h"

typedef struct Loader {
        Config *config;
        ConfigErrors *errors;
        bool oom;
        const char *credentials_directory;
        const YamlNode *root;  /* the top level, where "x-" keys hold anchors */
} Loader;

/* ---- errors ------------------------------------------------------------ */

static ConfigPos node_pos(const YamlNode *n) {
        return n ? (ConfigPos) { n->line, n->column } : (ConfigPos) {};
}

static int pos_compare(ConfigPos a, ConfigPos b) {
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
static int error_at(Loader *l, ConfigPos pos, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        add_message(l, false, pos, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

_printf_(3, 4)
static void warning_at(Loader *l, ConfigPos pos, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        add_message(l, true, pos, fmt, ap);
        va_end(ap);
}

static int error_compare(const void *a, const void *b) {
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
static const char *closest(const char *s, const char *const *candidates, size_t n) {
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
typedef void (*PairHandler)(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata);

static int walk_mapping(Loader *l, const YamlNode *map, const char *where,
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

/* ---- scalar values ------------------------------------------------------ */

/* The text of a scalar that must be present. */
static const char *scalar_text(Loader *l, const YamlNode *v, const char *key) {
        if (yaml_node_is_null(v)) {
                error_at(l, node_pos(v), "%s needs a value", key);
                return NULL;
        }
        if (v->type != YAML_TREE_SCALAR) {
                error_at(l, node_pos(v), "%s must be a single value, not %s", key, yaml_node_type_name(v));
                return NULL;
        }
        if (strlen(v->value) != v->length) {
                error_at(l, node_pos(v), "%s contains a NUL character", key);
                return NULL;
        }
        return v->value;
}

static bool has_control_chars(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

static int set_string(Loader *l, char **field, const char *s) {
        char *c = strdup(s);
        if (!c) {
                l->oom = true;
                return -ENOMEM;
        }
        free(*field);
        *field = c;
        return 0;
}

static bool is_word(const char *s, size_t max, bool allow_upper) {
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (const char *p = s; *p; p++) {
                bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        (allow_upper && *p >= 'A' && *p <= 'Z') ||
                        (p != s && (*p == '-' || *p == '_' || *p == '.'));
                if (!ok)
                        return false;
        }
        return true;
}

static bool is_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
                        return false;
        return true;
}

/* Each parser checks one value, records an error at it when it is bad, and
 * stores it into field. */
typedef int (*ValueParser)(Loader *l, const YamlNode *v, const char *key, void *field);

static int parse_name(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (!is_word(s, 63, true))
                return error_at(l, node_pos(v),
                                "%s '%s' is not a valid name: use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit",
                                key, s);
        return set_string(l, field, s);
}

static int parse_project_id(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (strlen(s) != 32 || !is_hex(s, 32))
                return error_at(l, node_pos(v), "project-id '%s' is not a project id (32 hexadecimal digits)", s);
        return set_string(l, field, s);
}

static int parse_cluster_id(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        bool ok;
        if (!s)
                return -EINVAL;
        ok = strlen(s) == 36;
        for (size_t i = 0; ok && i < 36; i++)
                ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : is_hex(s + i, 1);
        if (!ok)
                return error_at(l, node_pos(v),
                                "cluster-id '%s' is not a cluster id (a UUID such as 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c)", s);
        return set_string(l, field, s);
}

static int parse_region(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (!is_word(s, 64, false) || strchr(s, '_') || strchr(s, '.'))
                return error_at(l, node_pos(v), "region '%s' is not a region name (such as cn-north-4)", s);
        return set_string(l, field, s);
}

static int check_absolute_path(Loader *l, const YamlNode *v, const char *key, const char *s) {
        if (s[0] != '/')
                return error_at(l, node_pos(v), "%s '%s' must be an absolute path", key, s);
        if (has_control_chars(s))
                return error_at(l, node_pos(v), "%s must not contain control characters", key);
        if (strlen(s) >= PATH_MAX)
                return error_at(l, node_pos(v), "%s is longer than %d bytes", key, PATH_MAX - 1);
        if (s[strlen(s) - 1] == '/')
                return error_at(l, node_pos(v), "%s '%s' names a directory; give a file name", key, s);
        return 0;
}

static int parse_path(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (check_absolute_path(l, v, key, s) < 0)
                return -EINVAL;
        return set_string(l, field, s);
}

/* scheme://host[:port][/path], no user info, query or fragment; a trailing
 * '/' is dropped. */
static int parse_url(Loader *l, const YamlNode *v, const char *key, void *field, bool allow_http) {
        const char *s = scalar_text(l, v, key), *host, *end;
        if (!s)
                return -EINVAL;
        if (strncmp(s, "https://", 8) == 0)
                host = s + 8;
        else if (allow_http && strncmp(s, "http://", 7) == 0)
                host = s + 7;
        else if (allow_http)
                return error_at(l, node_pos(v), "%s '%s' must start with http:// or https://", key, s);
        else
                return error_at(l, node_pos(v), "%s '%s' must start with https://", key, s);
        end = host + strcspn(host, "/");
        if (end == host)
                return error_at(l, node_pos(v), "%s '%s' has no host name", key, s);
        for (const char *p = host; *p; p++)
                if (*p == '@' || *p == '?' || *p == '#' || *p == ' ' || *p == '\\' ||
                    (unsigned char) *p < 0x21 || *p == 0x7f)
                        return error_at(l, node_pos(v), "%s '%s' must be a plain URL (no user name, query, fragment or spaces)",
                                        key, s);
        if (set_string(l, field, s) < 0)
                return -ENOMEM;
        char *c = *(char **) field;
        size_t n = strlen(c);
        while (n > (size_t) (end - s) && c[n - 1] == '/')
                c[--n] = 0;
        return 0;
}

static int parse_https_url(Loader *l, const YamlNode *v, const char *key, void *field) {
        return parse_url(l, v, key, field, false);
}

static int parse_credentials_name(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (has_control_chars(s))
                return error_at(l, node_pos(v), "%s must not contain control characters", key);
        return set_string(l, field, s);  /* checked against the credentials section later */
}

static int parse_entry_name(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (has_control_chars(s) || strlen(s) > 253)
                return error_at(l, node_pos(v), "%s must be at most 253 characters without control characters", key);
        return set_string(l, field, s);
}

static int parse_hostname(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (strlen(s) > 253 || !is_word(s, 253, true) || strchr(s, '_'))
                return error_at(l, node_pos(v), "%s '%s' is not a host name", key, s);
        return set_string(l, field, s);
}

static int parse_user_or_group(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (!is_word(s, 64, true))
                return error_at(l, node_pos(v), "%s '%s' is not a user or group name or number", key, s);
        return set_string(l, field, s);  /* resolved after defaults are applied */
}

static int parse_days_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (parse_cert_days(s, field) < 0)
                return error_at(l, node_pos(v), "%s '%s' must be a number of days from 1 to %d, or max",
                                key, s, CERT_DAYS_MAX);
        return 0;
}

static int parse_percent_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        unsigned p;
        if (!s)
                return -EINVAL;
        if (parse_percent(s, &p) < 0 || p < 1 || p > 99)
                return error_at(l, node_pos(v), "%s '%s' must be a percentage from 1%% to 99%%, such as 66%%", key, s);
        *(unsigned *) field = p;
        return 0;
}

static int parse_duration_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        uint64_t d;
        int r;
        if (!s)
                return -EINVAL;
        r = parse_duration(s, &d);
        if (r == -ERANGE)
                return error_at(l, node_pos(v), "%s '%s' is too long", key, s);
        if (r < 0)
                return error_at(l, node_pos(v), "%s '%s' is not a duration: write a number with a unit, such as 90s, 15m, 12h, 10d or 1d12h",
                                key, s);
        if (d == 0)
                return error_at(l, node_pos(v), "%s must be longer than 0s", key);
        *(uint64_t *) field = d;
        return 0;
}

static int parse_bool_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (parse_bool(s, field) < 0)
                return error_at(l, node_pos(v), "%s '%s' must be true or false", key, s);
        return 0;
}

static int parse_mode_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        mode_t m;
        if (!s)
                return -EINVAL;
        if (parse_file_mode(s, &m) < 0)
                return error_at(l, node_pos(v), "%s '%s' must be an octal mode such as \"0600\"", key, s);
        if (m & ~(mode_t) 0770)
                return error_at(l, node_pos(v),
                                "%s %04o gives permissions to other users or special bits: the file holds a private key; use 0600, or 0640 with group",
                                key, (unsigned) m);
        if (!(m & 0400))
                return error_at(l, node_pos(v), "%s %04o does not let the owner read the file", key, (unsigned) m);
        *(mode_t *) field = m;
        return 0;
}

static const char *const endpoint_choice_names[_ENDPOINT_CHOICE_MAX] = {
        [ENDPOINT_AUTO] = "auto",
        [ENDPOINT_INTERNAL] = "internal",
        [ENDPOINT_EXTERNAL] = "external",
};

const char *endpoint_choice_to_string(EndpointChoice e) {
        return e >= 0 && e < _ENDPOINT_CHOICE_MAX ? endpoint_choice_names[e] : NULL;
}

static int parse_endpoint_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _ENDPOINT_CHOICE_MAX; i++)
                if (strcmp(s, endpoint_choice_names[i]) == 0) {
                        *(EndpointChoice *) field = (EndpointChoice) i;
                        return 0;
                }
        return error_at(l, node_pos(v), "%s '%s' must be internal, external or auto", key, s);
}

/* A command run without a shell: a list of strings, the first an absolute
 * path. */
static int parse_argv_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        char **argv;

        if (!v || v->type != YAML_TREE_SEQUENCE || v->n_children == 0)
                return error_at(l, node_pos(v), "%s must be a list: [/path/to/program, argument, ...] (it runs without a shell)",
                                key);
        if (v->n_children > HOOK_ARGS_MAX)
                return error_at(l, node_pos(v), "%s has more than %d arguments", key, HOOK_ARGS_MAX);
        for (size_t i = 0; i < v->n_children; i++) {
                const char *s = scalar_text(l, v->children[i], key);
                if (!s)
                        return -EINVAL;
                if (i == 0 && s[0] != '/')
                        return error_at(l, node_pos(v->children[i]), "%s: the program '%s' must be an absolute path", key, s);
        }
        argv = calloc(v->n_children + 1, sizeof(char *));
        if (!argv) {
                l->oom = true;
                return -ENOMEM;
        }
        for (size_t i = 0; i < v->n_children; i++)
                if (!(argv[i] = strdup(v->children[i]->value))) {
                        for (size_t j = 0; j < i; j++)
                                free(argv[j]);
                        free(argv);
                        l->oom = true;
                        return -ENOMEM;
                }
        char ***target = field;
        for (char **p = *target; p && *p; p++)
                free(*p);
        free(*target);
        *target = argv;
        return 0;
}

/* ---- the per-cluster settings table ------------------------------------ */

typedef enum ValueKind {
        VALUE_STRING,   /* char *, duplicated when inherited */
        VALUE_DAYS,
        VALUE_PERCENT,
        VALUE_DURATION,
        VALUE_BOOL,
        VALUE_MODE,
        VALUE_ENDPOINT,
        VALUE_ARGV,     /* char **, NULL-terminated, duplicated when inherited */
} ValueKind;

typedef struct SettingRow {
        const char *key;
        ValueKind kind;
        ValueParser parse;
        size_t offset;
        bool cluster_only;      /* not allowed in defaults */
} SettingRow;

#define ROW(setting, k, vkind, parser, member, only) \
        [setting] = { k, vkind, parser, offsetof(ClusterConfig, member), only }

static const SettingRow setting_rows[_SETTING_MAX] = {
        ROW(SETTING_NAME, "name", VALUE_STRING, parse_name, name, true),
        ROW(SETTING_PROJECT_ID, "project-id", VALUE_STRING, parse_project_id, project_id, true),
        ROW(SETTING_CLUSTER_ID, "cluster-id", VALUE_STRING, parse_cluster_id, cluster_id, true),
        ROW(SETTING_REGION, "region", VALUE_STRING, parse_region, region, false),
        ROW(SETTING_API_ENDPOINT, "api-endpoint", VALUE_STRING, parse_https_url, api_endpoint, false),
        ROW(SETTING_IAM_ENDPOINT, "iam-endpoint", VALUE_STRING, parse_https_url, iam_endpoint, false),
        ROW(SETTING_CA_FILE, "ca-file", VALUE_STRING, parse_path, ca_file, false),
        ROW(SETTING_CREDENTIALS, "credentials", VALUE_STRING, parse_credentials_name, credentials, false),
        ROW(SETTING_DURATION, "duration", VALUE_DAYS, parse_days_value, duration_days, false),
        ROW(SETTING_RENEW_AT, "renew-at", VALUE_PERCENT, parse_percent_value, renew_at_percent, false),
        ROW(SETTING_RENEW_BEFORE, "renew-before", VALUE_DURATION, parse_duration_value, renew_before_sec, false),
        ROW(SETTING_KUBECONFIG, "kubeconfig", VALUE_STRING, parse_path, kubeconfig, false),
        ROW(SETTING_MERGE, "merge", VALUE_BOOL, parse_bool_value, merge, false),
        ROW(SETTING_ENDPOINT, "endpoint", VALUE_ENDPOINT, parse_endpoint_value, endpoint, false),
        ROW(SETTING_TLS_SERVER_NAME, "tls-server-name", VALUE_STRING, parse_hostname, tls_server_name, false),
        ROW(SETTING_SET_CURRENT_CONTEXT, "set-current-context", VALUE_BOOL, parse_bool_value, set_current_context, false),
        ROW(SETTING_CONTEXT_NAME, "context-name", VALUE_STRING, parse_entry_name, context_name, true),
        ROW(SETTING_CLUSTER_ENTRY_NAME, "cluster-entry-name", VALUE_STRING, parse_entry_name, cluster_entry_name, true),
        ROW(SETTING_USER_ENTRY_NAME, "user-entry-name", VALUE_STRING, parse_entry_name, user_entry_name, true),
        ROW(SETTING_FILE_MODE, "file-mode", VALUE_MODE, parse_mode_value, file_mode, false),
        ROW(SETTING_OWNER, "owner", VALUE_STRING, parse_user_or_group, owner, false),
        ROW(SETTING_GROUP, "group", VALUE_STRING, parse_user_or_group, group, false),
        ROW(SETTING_ON_RENEW, "on-renew", VALUE_ARGV, parse_argv_value, on_renew, false),
        ROW(SETTING_ON_FAILURE, "on-failure", VALUE_ARGV, parse_argv_value, on_failure, false),
};

static size_t value_size(ValueKind k) {
        switch (k) {
        case VALUE_STRING:
                return sizeof(char *);
        case VALUE_DAYS:
                return sizeof(int);
        case VALUE_PERCENT:
                return sizeof(unsigned);
        case VALUE_DURATION:
                return sizeof(uint64_t);
        case VALUE_BOOL:
                return sizeof(bool);
        case VALUE_MODE:
                return sizeof(mode_t);
        case VALUE_ENDPOINT:
                return sizeof(EndpointChoice);
        case VALUE_ARGV:
                return sizeof(char **);
        }
        return 0;
}

static void *setting_field(ClusterConfig *c, ClusterSetting s) {
        return (uint8_t *) c + setting_rows[s].offset;
}

static const void *setting_field_const(const ClusterConfig *c, ClusterSetting s) {
        return (const uint8_t *) c + setting_rows[s].offset;
}

static const char *const *setting_keys(void) {
        static const char *keys[_SETTING_MAX];
        for (size_t i = 0; i < _SETTING_MAX; i++)
                keys[i] = setting_rows[i].key;
        return keys;
}

static char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

static char **strv_copy(char *const *v) {
        size_t n = 0;
        while (v[n])
                n++;
        char **c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(v[i])))
                        return strv_free(c);
        return c;
}

static void cluster_config_done(ClusterConfig *c) {
        for (size_t i = 0; i < _SETTING_MAX; i++)
                if (setting_rows[i].kind == VALUE_STRING)
                        free(*(char **) setting_field(c, i));
                else if (setting_rows[i].kind == VALUE_ARGV)
                        strv_free(*(char ***) setting_field(c, i));
}

typedef struct SettingsWalk {
        ClusterConfig *cluster;
        bool is_defaults;
} SettingsWalk;

static void on_setting(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        SettingsWalk *w = userdata;
        const SettingRow *row = &setting_rows[index];

        if (w->is_defaults && row->cluster_only) {
                error_at(l, node_pos(key), "%s cannot be set in defaults: it is different for every cluster", row->key);
                return;
        }
        if (row->parse(l, value, row->key, setting_field(w->cluster, index)) < 0)
                return;
        w->cluster->set[index] = true;
        w->cluster->setting_pos[index] = node_pos(value);
}

static void parse_settings(Loader *l, const YamlNode *map, const char *where, bool is_defaults, ClusterConfig *c) {
        SettingsWalk w = { c, is_defaults };

        c->pos = node_pos(map);
        walk_mapping(l, map, where, setting_keys(), _SETTING_MAX, on_setting, &w);

        if (c->set[SETTING_RENEW_AT] && c->set[SETTING_RENEW_BEFORE])
                error_at(l, c->setting_pos[SETTING_RENEW_BEFORE],
                         "renew-at and renew-before are alternatives: give one of them");
}

/* Fills what the cluster does not set from defaults, then from built-in
 * defaults. renew-at and renew-before count as one setting: a cluster that
 * gives either one does not inherit the other. */
static int apply_defaults(Loader *l, ClusterConfig *c, const ClusterConfig *d) {
        bool own_renewal = c->set[SETTING_RENEW_AT] || c->set[SETTING_RENEW_BEFORE];

        for (size_t i = 0; i < _SETTING_MAX; i++) {
                const SettingRow *row = &setting_rows[i];

                if (c->set[i] || !d->set[i])
                        continue;
                if (own_renewal && (i == SETTING_RENEW_AT || i == SETTING_RENEW_BEFORE))
                        continue;
                if (row->kind == VALUE_STRING) {
                        if (set_string(l, setting_field(c, i), *(char *const *) setting_field_const(d, i)) < 0)
                                return -ENOMEM;
                } else if (row->kind == VALUE_ARGV) {
                        char **copy = strv_copy(*(char **const *) setting_field_const(d, i));
                        if (!copy) {
                                l->oom = true;
                                return -ENOMEM;
                        }
                        *(char ***) setting_field(c, i) = copy;
                } else
                        memcpy(setting_field(c, i), setting_field_const(d, i), value_size(row->kind));
                c->set[i] = true;
                c->setting_pos[i] = d->setting_pos[i];
        }

        if (!c->set[SETTING_DURATION])
                c->duration_days = DEFAULT_CERT_DAYS;
        if (!c->set[SETTING_RENEW_AT] && !c->set[SETTING_RENEW_BEFORE])
                c->renew_at_percent = DEFAULT_RENEW_AT_PERCENT;
        if (!c->set[SETTING_FILE_MODE])
                c->file_mode = DEFAULT_FILE_MODE;
        if (!c->set[SETTING_ENDPOINT])
                c->endpoint = ENDPOINT_AUTO;
        for (ClusterSetting s = SETTING_CONTEXT_NAME; s <= SETTING_USER_ENTRY_NAME; s++)
                if (!c->set[s] && c->name && set_string(l, setting_field(c, s), c->name) < 0)
                        return -ENOMEM;
        return 0;
}

/* ---- secrets and files -------------------------------------------------- */

static void check_secret_file(Loader *l, ConfigPos pos, const char *path, const char *what) {
        struct stat st;
        _cleanup_close_ int fd = -1;

        if (stat(path, &st) < 0) {
                error_at(l, pos, "%s %s: %m", what, path);
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                error_at(l, pos, "%s %s is not a regular file", what, path);
                return;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                error_at(l, pos, "%s %s is accessible by group or others (mode %04o); make it private: chmod 0600 %s",
                         what, path, (unsigned) (st.st_mode & 07777), path);
                return;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                error_at(l, pos, "%s %s cannot be read: %m", what, path);
                return;
        }
        if (st.st_size == 0)
                error_at(l, pos, "%s %s is empty", what, path);
}

static bool credential_name_valid(const char *s) {
        return is_word(s, 255, true) && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

typedef struct SecretWalk {
        SecretRef *ref;
        const char *what;
} SecretWalk;

static void on_secret_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        SecretWalk *w = userdata;
        const char *s;

        if (w->ref->source != SECRET_NONE) {
                error_at(l, node_pos(key), "%s takes one of file or credential, not both", w->what);
                return;
        }
        if (index == 0) {  /* file */
                s = scalar_text(l, value, "file");
                if (!s || check_absolute_path(l, value, "file", s) < 0)
                        return;
                w->ref->source = SECRET_FILE;
        } else {  /* credential */
                s = scalar_text(l, value, "credential");
                if (!s)
                        return;
                if (!credential_name_valid(s)) {
                        error_at(l, node_pos(value), "credential '%s' is not a valid systemd credential name", s);
                        return;
                }
                w->ref->source = SECRET_CREDENTIAL;
        }
        w->ref->pos = node_pos(value);
        if (set_string(l, &w->ref->ref, s) < 0)
                w->ref->source = SECRET_NONE;
}

static int parse_secret_ref(Loader *l, const YamlNode *v, const char *what, SecretRef *ref) {
        static const char *const keys[] = { "file", "credential" };
        SecretWalk w = { ref, what };
        size_t n_errors = l->errors->n_errors;

        /* Never echo the value: a scalar here is most likely the secret itself. */
        if (v && v->type != YAML_TREE_MAPPING)
                return error_at(l, node_pos(v),
                                "%s must be a reference, {file: /path} or {credential: NAME}: secrets are never written in the configuration",
                                what);
        walk_mapping(l, v, what, keys, ELEMENTSOF(keys), on_secret_key, &w);
        if (ref->source == SECRET_NONE) {
                if (l->errors->n_errors == n_errors)
                        error_at(l, node_pos(v), "%s needs file: /path or credential: NAME", what);
                return -EINVAL;
        }
        if (ref->source == SECRET_FILE)
                check_secret_file(l, ref->pos, ref->ref, "secret file");
        else if (l->credentials_directory) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", l->credentials_directory, ref->ref) < 0) {
                        l->oom = true;
                        return -ENOMEM;
                }
                check_secret_file(l, ref->pos, p, "credential file");
        }
        return 0;
}

static void secret_ref_done(SecretRef *r) {
        free(r->ref);
        *r = (SecretRef) {};
}

/* ---- credentials -------------------------------------------------------- */

enum {
        CRED_KEY_ACCESS_KEY,
        CRED_KEY_SECRET_KEY,
        CRED_KEY_SECURITY_TOKEN,
        CRED_KEY_ECS_METADATA,
        CRED_KEY_IAM_PASSWORD,
        CRED_KEY_TOKEN,
        _CRED_KEY_MAX,
};

static const char *const credential_keys[_CRED_KEY_MAX] = {
        [CRED_KEY_ACCESS_KEY] = "access-key",
        [CRED_KEY_SECRET_KEY] = "secret-key",
        [CRED_KEY_SECURITY_TOKEN] = "security-token",
        [CRED_KEY_ECS_METADATA] = "ecs-metadata",
        [CRED_KEY_IAM_PASSWORD] = "iam-password",
        [CRED_KEY_TOKEN] = "token",
};

static const char *const credential_kind_names[_CREDENTIAL_KIND_MAX] = {
        [CREDENTIAL_AKSK] = "access-key",
        [CREDENTIAL_TEMPORARY_AKSK] = "temporary-access-key",
        [CREDENTIAL_ECS_METADATA] = "ecs-metadata",
        [CREDENTIAL_IAM_PASSWORD] = "iam-password",
        [CREDENTIAL_TOKEN] = "token",
};

const char *credential_kind_to_string(CredentialKind k) {
        return k >= 0 && k < _CREDENTIAL_KIND_MAX ? credential_kind_names[k] : NULL;
}

typedef struct CredentialWalk {
        Credential *cred;
        bool seen[_CRED_KEY_MAX];
        ConfigPos pos[_CRED_KEY_MAX];
} CredentialWalk;

static void on_ecs_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        Credential *c = userdata;
        parse_url(l, value, "endpoint", &c->metadata_endpoint, true);
}

static void on_iam_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        Credential *c = userdata;
        const char *s;

        switch (index) {
        case 0:
        case 1:
                s = scalar_text(l, value, key->value);
                if (!s)
                        return;
                if (has_control_chars(s) || strlen(s) > 255) {
                        error_at(l, node_pos(value), "%s must be at most 255 characters without control characters", key->value);
                        return;
                }
                set_string(l, index == 0 ? &c->iam_domain : &c->iam_user, s);
                return;
        case 2:
                parse_secret_ref(l, value, "password", &c->password);
                return;
        }
}

static void on_credential_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        CredentialWalk *w = userdata;
        Credential *c = w->cred;

        w->seen[index] = true;
        w->pos[index] = node_pos(key);

        switch (index) {
        case CRED_KEY_ACCESS_KEY:
                parse_secret_ref(l, value, "access-key", &c->access_key);
                break;
        case CRED_KEY_SECRET_KEY:
                parse_secret_ref(l, value, "secret-key", &c->secret_key);
                break;
        case CRED_KEY_SECURITY_TOKEN:
                parse_secret_ref(l, value, "security-token", &c->security_token);
                break;
        case CRED_KEY_TOKEN:
                parse_secret_ref(l, value, "token", &c->token);
                break;
        case CRED_KEY_ECS_METADATA: {
                static const char *const keys[] = { "endpoint" };
                if (yaml_node_is_null(value))
                        break;
                walk_mapping(l, value, "ecs-metadata", keys, ELEMENTSOF(keys), on_ecs_key, c);
                break;
        }
        case CRED_KEY_IAM_PASSWORD: {
                static const char *const keys[] = { "domain", "user", "password" };
                if (walk_mapping(l, value, "iam-password", keys, ELEMENTSOF(keys), on_iam_key, c) < 0)
                        break;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (!yaml_mapping_get(value, keys[i]))
                                error_at(l, node_pos(value), "iam-password needs %s", keys[i]);
                break;
        }
        }
}

static void parse_credential(Loader *l, const YamlNode *key, const YamlNode *value, Credential *c) {
        CredentialWalk w = { .cred = c };
        static const struct {
                CredentialKind kind;
                unsigned keys;  /* bit mask of CRED_KEY_* */
        } groups[] = {
                { CREDENTIAL_AKSK, 1u << CRED_KEY_ACCESS_KEY | 1u << CRED_KEY_SECRET_KEY | 1u << CRED_KEY_SECURITY_TOKEN },
                { CREDENTIAL_ECS_METADATA, 1u << CRED_KEY_ECS_METADATA },
                { CREDENTIAL_IAM_PASSWORD, 1u << CRED_KEY_IAM_PASSWORD },
                { CREDENTIAL_TOKEN, 1u << CRED_KEY_TOKEN },
        };
        unsigned seen = 0;
        const char *first = NULL;
        char where[300];

        c->kind = _CREDENTIAL_KIND_INVALID;
        c->pos = node_pos(key);
        snprintf(where, sizeof(where), "credentials '%s'", c->name);
        if (walk_mapping(l, value, where, credential_keys, _CRED_KEY_MAX, on_credential_key, &w) < 0)
                return;

        for (size_t i = 0; i < _CRED_KEY_MAX; i++)
                if (w.seen[i])
                        seen |= 1u << i;

        for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
                if (!(seen & groups[g].keys))
                        continue;
                if (c->kind != _CREDENTIAL_KIND_INVALID) {
                        for (size_t i = 0; i < _CRED_KEY_MAX; i++)
                                if (groups[g].keys & (1u << i) && w.seen[i]) {
                                        error_at(l, w.pos[i], "credentials '%s' mixes %s with %s: give exactly one kind of credential",
                                                 c->name, credential_keys[i], first);
                                        break;
                                }
                        continue;
                }
                c->kind = groups[g].kind;
                for (size_t i = 0; i < _CRED_KEY_MAX && !first; i++)
                        if (groups[g].keys & (1u << i) && w.seen[i])
                                first = credential_keys[i];
        }

        if (c->kind == _CREDENTIAL_KIND_INVALID) {
                error_at(l, node_pos(value),
                         "credentials '%s' has no credential: give access-key and secret-key, ecs-metadata, iam-password or token",
                         c->name);
                return;
        }
        if (c->kind == CREDENTIAL_AKSK) {
                if (!w.seen[CRED_KEY_ACCESS_KEY])
                        error_at(l, node_pos(value), "credentials '%s' has secret-key but no access-key", c->name);
                if (!w.seen[CRED_KEY_SECRET_KEY])
                        error_at(l, node_pos(value), "credentials '%s' has access-key but no secret-key", c->name);
                if (w.seen[CRED_KEY_SECURITY_TOKEN])
                        c->kind = CREDENTIAL_TEMPORARY_AKSK;
        }
}

static void credential_done(Credential *c) {
        free(c->name);
        secret_ref_done(&c->access_key);
        secret_ref_done(&c->secret_key);
        secret_ref_done(&c->security_token);
        free(c->metadata_endpoint);
        free(c->iam_domain);
        free(c->iam_user);
        secret_ref_done(&c->password);
        secret_ref_done(&c->token);
}

static void parse_credentials(Loader *l, const YamlNode *map) {
        Config *cfg = l->config;

        if (!map || map->type != YAML_TREE_MAPPING) {
                error_at(l, node_pos(map), "credentials must be a mapping of names to credentials, not %s",
                         yaml_node_type_name(map));
                return;
        }
        cfg->credentials = calloc(MAX(yaml_node_size(map), 1u), sizeof(Credential));
        if (!cfg->credentials) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                const YamlNode *k = map->children[i], *v = map->children[i + 1];

                if (k->type != YAML_TREE_SCALAR || !credential_name_valid(k->value) || strlen(k->value) > 63) {
                        error_at(l, node_pos(k), "credentials names must be 1 to 63 letters, digits, '-', '_' or '.'");
                        continue;
                }
                bool duplicate = false;
                for (size_t j = 0; j < cfg->n_credentials; j++)
                        if (strcmp(cfg->credentials[j].name, k->value) == 0) {
                                error_at(l, node_pos(k), "duplicate credentials '%s' (first at line %u column %u)",
                                         k->value, cfg->credentials[j].pos.line, cfg->credentials[j].pos.column);
                                duplicate = true;
                        }
                if (duplicate)
                        continue;
                Credential *c = &cfg->credentials[cfg->n_credentials++];
                if (set_string(l, &c->name, k->value) < 0)
                        return;
                parse_credential(l, k, v, c);
        }
}

static const Credential *find_credential(const Config *cfg, const char *name) {
        for (size_t i = 0; i < cfg->n_credentials; i++)
                if (strcmp(cfg->credentials[i].name, name) == 0)
                        return &cfg->credentials[i];
        return NULL;
}

/* ---- checks across clusters --------------------------------------------- */

static void resolve_owner(Loader *l, ClusterConfig *c) {
        char buf[16384];
        uint64_t id;

        c->uid = (uid_t) -1;
        c->gid = (gid_t) -1;

        if (c->owner) {
                struct passwd pw, *result = NULL;
                if (parse_unsigned(c->owner, UINT32_MAX - 1, &id) >= 0)
                        c->uid = (uid_t) id;
                else if (getpwnam_r(c->owner, &pw, buf, sizeof(buf), &result) == 0 && result)
                        c->uid = result->pw_uid;
                else
                        error_at(l, c->setting_pos[SETTING_OWNER], "owner '%s' is not a known user", c->owner);
        }
        if (c->group) {
                struct group gr, *result = NULL;
                if (parse_unsigned(c->group, UINT32_MAX - 1, &id) >= 0)
                        c->gid = (gid_t) id;
                else if (getgrnam_r(c->group, &gr, buf, sizeof(buf), &result) == 0 && result)
                        c->gid = result->gr_gid;
                else
                        error_at(l, c->setting_pos[SETTING_GROUP], "group '%s' is not a known group", c->group);
        }
}

static void check_ca_file(Loader *l, const ClusterConfig *c) {
        struct stat st;

        if (!c->ca_file)
                return;
        if (stat(c->ca_file, &st) < 0)
                error_at(l, c->setting_pos[SETTING_CA_FILE], "ca-file %s: %m", c->ca_file);
        else if (!S_ISREG(st.st_mode))
                error_at(l, c->setting_pos[SETTING_CA_FILE], "ca-file %s is not a regular file", c->ca_file);
        else if (access(c->ca_file, R_OK) < 0)
                error_at(l, c->setting_pos[SETTING_CA_FILE], "ca-file %s cannot be read: %m", c->ca_file);
}

/* True when key is written for the cluster or in defaults, even with a bad
 * value (already reported: do not also call it missing). */
static bool key_written(const YamlNode *cluster, const YamlNode *defaults, ClusterSetting s) {
        if (yaml_mapping_get(cluster, setting_rows[s].key))
                return true;
        if (setting_rows[s].cluster_only || !defaults)
                return false;
        /* Broken defaults (already reported) might have given it. */
        return defaults->type != YAML_TREE_MAPPING || yaml_mapping_get(defaults, setting_rows[s].key);
}

static void check_cluster(Loader *l, ClusterConfig *c, size_t index, const YamlNode *node, const YamlNode *defaults) {
        char label[100];
        static const ClusterSetting required[] = {
                SETTING_NAME, SETTING_PROJECT_ID, SETTING_CLUSTER_ID, SETTING_KUBECONFIG, SETTING_CREDENTIALS,
        };

        if (c->name)
                snprintf(label, sizeof(label), "cluster '%s'", c->name);
        else
                snprintf(label, sizeof(label), "cluster #%zu", index + 1);

        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                if (!key_written(node, defaults, required[i]))
                        error_at(l, c->pos, "%s has no %s%s", label, setting_rows[required[i]].key,
                                 setting_rows[required[i]].cluster_only ? "" : " (set it here or in defaults)");

        if (!key_written(node, defaults, SETTING_REGION) && !key_written(node, defaults, SETTING_API_ENDPOINT))
                error_at(l, c->pos, "%s has neither region nor api-endpoint (set one here or in defaults)", label);

        if (c->credentials) {
                c->credential = find_credential(l->config, c->credentials);
                if (!c->credential) {
                        const char *names[64] = {};
                        size_t n = MIN(l->config->n_credentials, ELEMENTSOF(names));
                        for (size_t i = 0; i < n; i++)
                                names[i] = l->config->credentials[i].name;
                        const char *guess = closest(c->credentials, names, n);
                        if (guess)
                                error_at(l, c->setting_pos[SETTING_CREDENTIALS], "%s: no credentials named '%s'; did you mean '%s'?",
                                         label, c->credentials, guess);
                        else
                                error_at(l, c->setting_pos[SETTING_CREDENTIALS], "%s: no credentials named '%s'",
                                         label, c->credentials);
                } else if (c->credential->kind == CREDENTIAL_IAM_PASSWORD && !c->iam_endpoint && !c->region)
                        error_at(l, c->pos, "%s uses iam-password credentials but has neither region nor iam-endpoint", label);
        }

        if (c->renew_before_sec > 0 && c->duration_days != CERT_DAYS_UNLIMITED &&
            c->renew_before_sec >= (uint64_t) c->duration_days * 86400) {
                char a[32], b[32];
                error_at(l, c->setting_pos[SETTING_RENEW_BEFORE],
                         "%s: renew-before %s is not shorter than duration %s: every certificate would be renewed at once",
                         label, format_duration(c->renew_before_sec, a),
                         format_duration((uint64_t) c->duration_days * 86400, b));
        }

        resolve_owner(l, c);
        check_ca_file(l, c);
}

static int compare_by_name(const void *a, const void *b, void *userdata) {
        const Config *cfg = userdata;
        const ClusterConfig *x = &cfg->clusters[*(const size_t *) a];
        const ClusterConfig *y = &cfg->clusters[*(const size_t *) b];
        int c = strcmp(x->name ?: "", y->name ?: "");
        if (c != 0)
                return c;
        return pos_compare(x->pos, y->pos);
}

static int compare_by_kubeconfig(const void *a, const void *b, void *userdata) {
        const Config *cfg = userdata;
        const ClusterConfig *x = &cfg->clusters[*(const size_t *) a];
        const ClusterConfig *y = &cfg->clusters[*(const size_t *) b];
        int c = strcmp(x->kubeconfig ?: "", y->kubeconfig ?: "");
        if (c != 0)
                return c;
        return pos_compare(x->pos, y->pos);
}

/* Unique names, and no file written whole by one cluster while another
 * writes to it too. Sorting keeps this O(n log n) for thousands of clusters. */
static void check_across_clusters(Loader *l) {
        Config *cfg = l->config;
        _cleanup_free_ size_t *order = NULL;

        if (cfg->n_clusters < 2)
                return;
        order = calloc(cfg->n_clusters, sizeof(size_t));
        if (!order) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i < cfg->n_clusters; i++)
                order[i] = i;

        qsort_r(order, cfg->n_clusters, sizeof(size_t), compare_by_name, cfg);
        for (size_t i = 1; i < cfg->n_clusters; i++) {
                const ClusterConfig *first = &cfg->clusters[order[i - 1]], *c = &cfg->clusters[order[i]];
                if (c->name && first->name && strcmp(c->name, first->name) == 0)
                        error_at(l, c->setting_pos[SETTING_NAME], "duplicate cluster name '%s' (first at line %u column %u)",
                                 c->name, first->setting_pos[SETTING_NAME].line, first->setting_pos[SETTING_NAME].column);
        }

        qsort_r(order, cfg->n_clusters, sizeof(size_t), compare_by_kubeconfig, cfg);
        for (size_t start = 0, end; start < cfg->n_clusters; start = end) {
                const ClusterConfig *head = &cfg->clusters[order[start]];
                for (end = start + 1; end < cfg->n_clusters; end++)
                        if (!head->kubeconfig || !cfg->clusters[order[end]].kubeconfig ||
                            strcmp(head->kubeconfig, cfg->clusters[order[end]].kubeconfig) != 0)
                                break;
                if (end - start < 2)
                        continue;
                /* Each own-file cluster is named once: against the first
                 * cluster of the file, or (being first itself) against the
                 * next, unless a later own-file cluster already names it. */
                size_t own = 0;
                for (size_t i = start; i < end; i++)
                        own += !cfg->clusters[order[i]].merge;
                for (size_t i = start; i < end; i++) {
                        const ClusterConfig *c = &cfg->clusters[order[i]];
                        const ClusterConfig *other = &cfg->clusters[order[i == start ? start + 1 : start]];
                        if (c->merge || (i == start && own > 1))
                                continue;
                        error_at(l, c->pos,
                                 "cluster '%s' writes %s as its own file, but cluster '%s' (line %u) writes the same file; set merge: true on every cluster that shares a file",
                                 c->name ?: "?", c->kubeconfig, other->name ?: "?", other->pos.line);
                }
        }
}

/* ---- top level ---------------------------------------------------------- */

static void parse_clusters(Loader *l, const YamlNode *seq, const ClusterConfig *defaults, const YamlNode *defaults_node) {
        Config *cfg = l->config;

        if (!seq || seq->type != YAML_TREE_SEQUENCE) {
                error_at(l, node_pos(seq), "clusters must be a list, not %s", yaml_node_type_name(seq));
                return;
        }
        cfg->clusters = calloc(MAX(seq->n_children, 1u), sizeof(ClusterConfig));
        if (!cfg->clusters) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i < seq->n_children; i++) {
                ClusterConfig *c = &cfg->clusters[cfg->n_clusters++];
                char where[64];

                snprintf(where, sizeof(where), "cluster #%zu", i + 1);
                parse_settings(l, seq->children[i], where, false, c);
                if (seq->children[i]->type != YAML_TREE_MAPPING)
                        continue;  /* reported; nothing more to say about it */
                if (apply_defaults(l, c, defaults) < 0)
                        return;
                check_cluster(l, c, i, seq->children[i], defaults_node);
        }
        check_across_clusters(l);
}

enum {
        TOP_DEFAULTS,
        TOP_CREDENTIALS,
        TOP_CLUSTERS,
        TOP_REQUEST_TIMEOUT,
        TOP_PARALLEL_REQUESTS,
        TOP_STATE_DIRECTORY,
        TOP_METRICS_FILE,
        TOP_HOOK_TIMEOUT,
        _TOP_MAX,
};

static const char *const top_keys[_TOP_MAX] = {
        [TOP_DEFAULTS] = "defaults",
        [TOP_CREDENTIALS] = "credentials",
        [TOP_CLUSTERS] = "clusters",
        [TOP_REQUEST_TIMEOUT] = "request-timeout",
        [TOP_PARALLEL_REQUESTS] = "parallel-requests",
        [TOP_STATE_DIRECTORY] = "state-directory",
        [TOP_METRICS_FILE] = "metrics-file",
        [TOP_HOOK_TIMEOUT] = "hook-timeout",
};

typedef struct TopWalk {
        const YamlNode *values[_TOP_MAX];
} TopWalk;

static void on_top_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        TopWalk *w = userdata;
        w->values[index] = value;
}

/* Bytes the YAML reader must not see: NUL and invalid UTF-8. Returns the
 * offset of the first bad byte, or size. */
static size_t find_bad_byte(const char *data, size_t size, const char **why) {
        const unsigned char *p = (const unsigned char *) data;

        for (size_t i = 0; i < size;) {
                unsigned char c = p[i];
                size_t n;
                uint32_t cp;

                if (c == 0) {
                        *why = "contains a NUL byte";
                        return i;
                }
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xE0) == 0xC0) {
                        n = 2;
                        cp = c & 0x1F;
                } else if ((c & 0xF0) == 0xE0) {
                        n = 3;
                        cp = c & 0x0F;
                } else if ((c & 0xF8) == 0xF0) {
                        n = 4;
                        cp = c & 0x07;
                } else
                        goto bad;
                if (i + n > size)
                        goto bad;
                for (size_t k = 1; k < n; k++) {
                        if ((p[i + k] & 0xC0) != 0x80)
                                goto bad;
                        cp = (cp << 6) | (p[i + k] & 0x3F);
                }
                if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        goto bad;
                i += n;
                continue;
        bad:
                *why = "is not valid UTF-8";
                return i;
        }
        return size;
}

static ConfigPos offset_pos(const char *data, size_t offset) {
        ConfigPos pos = { 1, 1 };
        for (size_t i = 0; i < offset; i++) {
                if (data[i] == '\n') {
                        pos.line++;
                        pos.column = 1;
                } else if (((unsigned char) data[i] & 0xC0) != 0x80)
                        pos.column++;
        }
        return pos;
}

static void warn_unused_credentials(Loader *l) {
        const Config *cfg = l->config;

        for (size_t i = 0; i < cfg->n_credentials; i++) {
                bool used = false;
                for (size_t j = 0; j < cfg->n_clusters && !used; j++)
                        used = cfg->clusters[j].credential == &cfg->credentials[i];
                if (!used)
                        warning_at(l, cfg->credentials[i].pos, "credentials '%s' is not used by any cluster",
                                   cfg->credentials[i].name);
        }
}

/* Kubeconfigs where the system unit cannot put them: under its private
 * /tmp (PrivateTmp=yes), or in home directories (ProtectHome=yes). */
static void warn_hidden_paths(Loader *l) {
        static const char *const hidden[] = { "/tmp/", "/var/tmp/", "/home/", "/root/", "/run/user/" };
        const Config *cfg = l->config;

        for (size_t i = 0; i < cfg->n_clusters; i++)
                for (size_t k = 0; k < ELEMENTSOF(hidden); k++)
                        if (strncmp(cfg->clusters[i].kubeconfig, hidden[k], strlen(hidden[k])) == 0) {
                                bool tmp = k < 2;
                                warning_at(l, cfg->clusters[i].setting_pos[SETTING_KUBECONFIG],
                                           "kubeconfig %s is under %.*s, which the system unit hides (%s): "
                                           "there the file %s; use the user unit, or a drop-in (cce-certd(8), FILES)",
                                           cfg->clusters[i].kubeconfig, (int) strlen(hidden[k]) - 1, hidden[k],
                                           tmp ? "PrivateTmp=yes" : "ProtectHome=yes",
                                           tmp ? "lands in the service's own /tmp, seen by no one else" :
                                                 "cannot be written");
                                break;
                        }
}

int config_load_buffer(const char *path, const char *data, size_t size, Config **ret, ConfigErrors *errors) {
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        ClusterConfig defaults = {};
        TopWalk top = {};
        YamlError yerr;
        const char *why = NULL;
        size_t bad;
        int r;

        cfg = calloc(1, sizeof(Config));
        if (!cfg)
                return -ENOMEM;
        cfg->path = strdup(path);
        if (!cfg->path)
                return -ENOMEM;
        cfg->request_timeout_sec = DEFAULT_REQUEST_TIMEOUT_SEC;
        cfg->parallel_requests = DEFAULT_PARALLEL_REQUESTS;
        cfg->hook_timeout_sec = DEFAULT_HOOK_TIMEOUT_SEC;

        Loader l = {
                .config = cfg,
                .errors = errors,
                .credentials_directory = getenv("CREDENTIALS_DIRECTORY"),
        };

        if (size > CONFIG_FILE_MAX)
                return error_at(&l, (ConfigPos) {}, "file is larger than %d bytes", CONFIG_FILE_MAX);
        bad = find_bad_byte(data, size, &why);
        if (bad < size)
                return error_at(&l, offset_pos(data, bad), "file %s", why);

        r = yaml_tree_parse_with_aliases(data, size, &root, &yerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_at(&l, (ConfigPos) { yerr.line, yerr.column }, "%s", yerr.message);
        if (!root)
                return error_at(&l, (ConfigPos) {}, "file is empty: it needs at least a clusters list");

        l.root = root;
        walk_mapping(&l, root, "the top level", top_keys, _TOP_MAX, on_top_key, &top);

        if (top.values[TOP_REQUEST_TIMEOUT] &&
            parse_duration_value(&l, top.values[TOP_REQUEST_TIMEOUT], "request-timeout", &cfg->request_timeout_sec) >= 0 &&
            cfg->request_timeout_sec > REQUEST_TIMEOUT_MAX_SEC)
                error_at(&l, node_pos(top.values[TOP_REQUEST_TIMEOUT]), "request-timeout must be at most 10m");
        if (top.values[TOP_PARALLEL_REQUESTS]) {
                const char *t = scalar_text(&l, top.values[TOP_PARALLEL_REQUESTS], "parallel-requests");
                uint64_t v;
                if (t && (parse_unsigned(t, PARALLEL_REQUESTS_MAX, &v) < 0 || v == 0))
                        error_at(&l, node_pos(top.values[TOP_PARALLEL_REQUESTS]),
                                 "parallel-requests '%s' must be a number from 1 to %d", t, PARALLEL_REQUESTS_MAX);
                else if (t)
                        cfg->parallel_requests = (unsigned) v;
        }
        if (top.values[TOP_STATE_DIRECTORY]) {
                const char *t = scalar_text(&l, top.values[TOP_STATE_DIRECTORY], "state-directory");
                if (t && t[0] != '/')
                        error_at(&l, node_pos(top.values[TOP_STATE_DIRECTORY]), "state-directory '%s' must be an absolute path", t);
                else if (t && set_string(&l, &cfg->state_directory, t) < 0)
                        return -ENOMEM;
        }
        if (top.values[TOP_HOOK_TIMEOUT] &&
            parse_duration_value(&l, top.values[TOP_HOOK_TIMEOUT], "hook-timeout", &cfg->hook_timeout_sec) >= 0 &&
            cfg->hook_timeout_sec > REQUEST_TIMEOUT_MAX_SEC)
                error_at(&l, node_pos(top.values[TOP_HOOK_TIMEOUT]), "hook-timeout must be at most 10m");
        if (top.values[TOP_METRICS_FILE] &&
            parse_path(&l, top.values[TOP_METRICS_FILE], "metrics-file", &cfg->metrics_file) == -ENOMEM)
                return -ENOMEM;
        if (top.values[TOP_DEFAULTS])
                parse_settings(&l, top.values[TOP_DEFAULTS], "defaults", true, &defaults);
        if (top.values[TOP_CREDENTIALS])
                parse_credentials(&l, top.values[TOP_CREDENTIALS]);
        if (root->type == YAML_TREE_MAPPING) {
                if (top.values[TOP_CLUSTERS])
                        parse_clusters(&l, top.values[TOP_CLUSTERS], &defaults, top.values[TOP_DEFAULTS]);
                else
                        error_at(&l, node_pos(root), "no clusters list: the file needs \"clusters:\" with at least one cluster");
        }
        cluster_config_done(&defaults);

        if (l.oom)
                return -ENOMEM;
        if (errors->n_errors == 0) {
                warn_unused_credentials(&l);
                warn_hidden_paths(&l);
        }
        if (l.oom)
                return -ENOMEM;

        if (errors->n_errors > 0)
                qsort(errors->errors, errors->n_errors, sizeof(ConfigError), error_compare);
        if (errors->n_warnings > 0)
                qsort(errors->warnings, errors->n_warnings, sizeof(ConfigError), error_compare);
        if (errors->n_errors > 0)
                return -EINVAL;

        *ret = TAKE_PTR(cfg);
        return 0;
}

int config_load_file(const char *path, Config **ret, ConfigErrors *errors) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t size = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                Loader l = { .errors = errors };
                return error_at(&l, (ConfigPos) {}, "cannot read the configuration: %m");
        }
        if (!S_ISREG(st.st_mode)) {
                Loader l = { .errors = errors };
                return error_at(&l, (ConfigPos) {}, "not a regular file");
        }
        if (st.st_size > CONFIG_FILE_MAX) {
                Loader l = { .errors = errors };
                return error_at(&l, (ConfigPos) {}, "file is larger than %d bytes", CONFIG_FILE_MAX);
        }

        /* Room for what stat() said, and some: a file that grows meanwhile
         * is read up to one byte past the limit, to be refused. */
        size_t allocated = MIN((size_t) st.st_size + 65536, (size_t) CONFIG_FILE_MAX + 1);
        data = malloc(allocated);
        if (!data)
                return -ENOMEM;
        for (;;) {
                if (size == allocated) {
                        if (allocated > CONFIG_FILE_MAX)
                                break;
                        size_t more = MIN(allocated * 2, (size_t) CONFIG_FILE_MAX + 1);
                        char *n = realloc(data, more);
                        if (!n)
                                return -ENOMEM;
                        data = n;
                        allocated = more;
                }
                ssize_t n = read(fd, data + size, allocated - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        Loader l = { .errors = errors };
                        return error_at(&l, (ConfigPos) {}, "cannot read the configuration: %m");
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > CONFIG_FILE_MAX)
                        break;  /* grew while we read it */
        }
        return config_load_buffer(path, data, size, ret, errors);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_credentials; i++)
                credential_done(&c->credentials[i]);
        free(c->credentials);
        for (size_t i = 0; i < c->n_clusters; i++)
                cluster_config_done(&c->clusters[i]);
        free(c->clusters);
        free(c->state_directory);
        free(c->metrics_file);
        free(c->path);
        free(c);
        return NULL;
}

const ClusterConfig *config_find_cluster(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_clusters; i++)
                if (c->clusters[i].name && strcmp(c->clusters[i].name, name) == 0)
                        return &c->clusters[i];
        return NULL;
}

/* ---- dump --------------------------------------------------------------- */

static int dump_secret(YamlNode *map, const char *key, const SecretRef *ref) {
        YamlNode *v;
        int r;

        if (ref->source == SECRET_NONE)
                return 0;
        r = yaml_node_new_collection(YAML_TREE_MAPPING, &v);
        if (r < 0)
                return r;
        r = yaml_mapping_append_string(v, ref->source == SECRET_FILE ? "file" : "credential", ref->ref);
        if (r < 0) {
                yaml_node_free(v);
                return r;
        }
        return yaml_mapping_append(map, key, v);
}

static int dump_credential(YamlNode *parent, const Credential *c) {
        YamlNode *m, *sub;
        int r;

        r = yaml_node_new_collection(YAML_TREE_MAPPING, &m);
        if (r < 0)
                return r;
        r = yaml_mapping_append(parent, c->name, m);
        if (r < 0)
                return r;

        switch (c->kind) {
        case CREDENTIAL_AKSK:
        case CREDENTIAL_TEMPORARY_AKSK:
                if ((r = dump_secret(m, "access-key", &c->access_key)) < 0 ||
                    (r = dump_secret(m, "secret-key", &c->secret_key)) < 0 ||
                    (r = dump_secret(m, "security-token", &c->security_token)) < 0)
                        return r;
                return 0;
        case CREDENTIAL_ECS_METADATA:
                r = yaml_node_new_collection(YAML_TREE_MAPPING, &sub);
                if (r < 0)
                        return r;
                r = yaml_mapping_append(m, "ecs-metadata", sub);
                if (r < 0)
                        return r;
                return c->metadata_endpoint ? yaml_mapping_append_string(sub, "endpoint", c->metadata_endpoint) : 0;
        case CREDENTIAL_IAM_PASSWORD:
                r = yaml_node_new_collection(YAML_TREE_MAPPING, &sub);
                if (r < 0)
                        return r;
                r = yaml_mapping_append(m, "iam-password", sub);
                if (r < 0 ||
                    (r = yaml_mapping_append_string(sub, "domain", c->iam_domain)) < 0 ||
                    (r = yaml_mapping_append_string(sub, "user", c->iam_user)) < 0)
                        return r;
                return dump_secret(sub, "password", &c->password);
        case CREDENTIAL_TOKEN:
                return dump_secret(m, "token", &c->token);
        default:
                return -EINVAL;
        }
}

static int dump_setting(YamlNode *m, const ClusterConfig *c, ClusterSetting s) {
        const SettingRow *row = &setting_rows[s];
        const void *field = setting_field_const(c, s);
        char buf[32];

        switch (row->kind) {
        case VALUE_STRING: {
                const char *v = *(char *const *) field;
                return v ? yaml_mapping_append_string(m, row->key, v) : 0;
        }
        case VALUE_DAYS: {
                int d = *(const int *) field;
                if (d == CERT_DAYS_UNLIMITED)
                        return yaml_mapping_append_plain(m, row->key, "max");
                snprintf(buf, sizeof(buf), "%d", d);
                return yaml_mapping_append_plain(m, row->key, buf);
        }
        case VALUE_PERCENT: {
                unsigned p = *(const unsigned *) field;
                if (p == 0)
                        return 0;
                snprintf(buf, sizeof(buf), "%u%%", p);
                return yaml_mapping_append_plain(m, row->key, buf);
        }
        case VALUE_DURATION: {
                uint64_t d = *(const uint64_t *) field;
                return d == 0 ? 0 : yaml_mapping_append_plain(m, row->key, format_duration(d, buf));
        }
        case VALUE_BOOL:
                return yaml_mapping_append_plain(m, row->key, *(const bool *) field ? "true" : "false");
        case VALUE_MODE:
                snprintf(buf, sizeof(buf), "%04o", (unsigned) *(const mode_t *) field);
                return yaml_mapping_append_string(m, row->key, buf);
        case VALUE_ENDPOINT:
                return yaml_mapping_append_plain(m, row->key, endpoint_choice_to_string(*(const EndpointChoice *) field));
        case VALUE_ARGV: {
                char *const *argv = *(char **const *) field;
                YamlNode *seq;
                int r;
                if (!argv)
                        return 0;
                if ((r = yaml_node_new_collection(YAML_TREE_SEQUENCE, &seq)) < 0)
                        return r;
                for (char *const *a = argv; *a; a++) {
                        YamlNode *item;
                        if ((r = yaml_node_new_scalar(*a, false, &item)) < 0 || (r = yaml_node_append(seq, item)) < 0) {
                                yaml_node_free(seq);
                                return r;
                        }
                }
                return yaml_mapping_append(m, row->key, seq);
        }
        }
        return -EINVAL;
}

int config_dump(const Config *c, char **ret) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        YamlNode *creds, *clusters;
        char buf[32];
        size_t size;
        int r;

        if ((r = yaml_node_new_collection(YAML_TREE_MAPPING, &root)) < 0 ||
            (r = yaml_mapping_append_plain(root, "request-timeout", format_duration(c->request_timeout_sec, buf))) < 0)
                return r;
        snprintf(buf, sizeof(buf), "%u", c->parallel_requests);
        char hook_timeout[32];
        if ((r = yaml_mapping_append_plain(root, "hook-timeout", format_duration(c->hook_timeout_sec, hook_timeout))) < 0)
                return r;
        if ((c->state_directory && (r = yaml_mapping_append_string(root, "state-directory", c->state_directory)) < 0) ||
            (c->metrics_file && (r = yaml_mapping_append_string(root, "metrics-file", c->metrics_file)) < 0) ||
            (r = yaml_mapping_append_plain(root, "parallel-requests", buf)) < 0 ||
            (r = yaml_node_new_collection(YAML_TREE_MAPPING, &creds)) < 0)
                return r;
        if ((r = yaml_mapping_append(root, "credentials", creds)) < 0)
                return r;
        for (size_t i = 0; i < c->n_credentials; i++)
                if ((r = dump_credential(creds, &c->credentials[i])) < 0)
                        return r;

        if ((r = yaml_node_new_collection(YAML_TREE_SEQUENCE, &clusters)) < 0 ||
            (r = yaml_mapping_append(root, "clusters", clusters)) < 0)
                return r;
        for (size_t i = 0; i < c->n_clusters; i++) {
                YamlNode *m;
                if ((r = yaml_node_new_collection(YAML_TREE_MAPPING, &m)) < 0 ||
                    (r = yaml_node_append(clusters, m)) < 0)
                        return r;
                for (ClusterSetting s = 0; s < _SETTING_MAX; s++)
                        if ((r = dump_setting(m, &c->clusters[i], s)) < 0)
                                return r;
        }

        return yaml_tree_emit(root, ret, &size);
}

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
        const unsigned char *p = data;
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= UINT64_C(1099511628211);
        }
        return h;
}

static uint64_t fnv_string(uint64_t h, const char *s) {
        h = fnv(h, s ? s : "", s ? strlen(s) + 1 : 0);
        return fnv(h, s ? "s" : "n", 1);
}

static uint64_t fnv_secret(uint64_t h, const SecretRef *r) {
        h = fnv(h, &r->source, sizeof(r->source));
        return fnv_string(h, r->ref);
}

uint64_t cluster_config_fingerprint(const ClusterConfig *c) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (size_t i = 0; i < _SETTING_MAX; i++) {
                const void *field = setting_field_const(c, i);
                if (setting_rows[i].kind == VALUE_STRING)
                        h = fnv_string(h, *(char *const *) field);
                else if (setting_rows[i].kind == VALUE_ARGV) {
                        char *const *argv = *(char **const *) field;
                        for (char *const *a = argv; a && *a; a++)
                                h = fnv_string(h, *a);
                        h = fnv(h, "|", 1);
                } else
                        h = fnv(h, field, value_size(setting_rows[i].kind));
        }
        if (c->credential) {
                const Credential *k = c->credential;
                h = fnv(h, &k->kind, sizeof(k->kind));
                h = fnv_secret(h, &k->access_key);
                h = fnv_secret(h, &k->secret_key);
                h = fnv_secret(h, &k->security_token);
                h = fnv_string(h, k->metadata_endpoint);
                h = fnv_string(h, k->iam_domain);
                h = fnv_string(h, k->iam_user);
                h = fnv_secret(h, &k->password);
                h = fnv_secret(h, &k->token);
        }
        return h;
}
