/* SPDX-License-Identifier: MIT */
#pragma once

/* What the parts of the configuration loader share (config-*.c): the
 * loader's state, its error reporting, the per-cluster settings table.
 * Not for use outside them: the rest of the program sees config.h. */

#include <stdarg.h>

#include "config.h"
#include "macro.h"
#include "yaml-tree.h"

typedef struct Loader {
        Config *config;
        ConfigErrors *errors;
        bool oom;
        const char *credentials_directory;
        const YamlNode *root;  /* the top level, where "x-" keys hold anchors */
} Loader;

/* Each parser checks one value, records an error at it when it is bad, and
 * stores it into field. */
typedef int (*ValueParser)(Loader *l, const YamlNode *v, const char *key, void *field);
/* Called for each known key of a mapping, with its index in the list of keys. */
typedef void (*PairHandler)(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata);

typedef enum ValueKind {
        VALUE_STRING,   /* char *, duplicated when inherited */
        VALUE_LIFETIME,
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

extern const SettingRow setting_rows[_SETTING_MAX];

/* ---- config-walk.c: errors and the walk over a mapping ---- */

ConfigPos node_pos(const YamlNode *n);
int pos_compare(ConfigPos a, ConfigPos b);
/* For qsort() of ConfigError: by position. */
int error_compare(const void *a, const void *b);
/* An error or warning at pos, said once per position and text; error_at()
 * returns -EINVAL. */
_printf_(3, 4)
int error_at(Loader *l, ConfigPos pos, const char *fmt, ...);
_printf_(3, 4)
void warning_at(Loader *l, ConfigPos pos, const char *fmt, ...);
/* The candidate nearest to s by edit distance, if near enough; NULL if not. */
const char *closest(const char *s, const char *const *candidates, size_t n);
/* Calls on_pair for each key of a mapping that is one of keys[], reporting
 * non-scalar, duplicate and unknown keys. keys[] may hold NULL holes. */
int walk_mapping(Loader *l, const YamlNode *map, const char *where,
                 const char *const *keys, size_t n_keys,
                 PairHandler on_pair, void *userdata);

/* ---- config-values.c: one scalar value each ---- */

/* The text of a scalar that must be there, or NULL (reported). */
const char *scalar_text(Loader *l, const YamlNode *v, const char *key);
bool has_control_chars(const char *s);
/* Replaces *field with a copy of s; -ENOMEM (and l->oom) on failure. */
int set_string(Loader *l, char **field, const char *s);
bool is_word(const char *s, size_t max, bool allow_upper);
int check_absolute_path(Loader *l, const YamlNode *v, const char *key, const char *s);
int parse_url(Loader *l, const YamlNode *v, const char *key, void *field, bool allow_http);
/* The ValueParsers of the settings table: each checks v and stores it in
 * field, or reports at v's position and returns < 0. */
int parse_name(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_project_id(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_cluster_id(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_region(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_path(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_https_url(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_credentials_name(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_entry_name(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_hostname(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_user_or_group(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_lifetime_value(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_percent_value(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_duration_value(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_bool_value(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_mode_value(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_endpoint_value(Loader *l, const YamlNode *v, const char *key, void *field);
int parse_argv_value(Loader *l, const YamlNode *v, const char *key, void *field);

/* ---- config-settings.c: the per-cluster settings ---- */

const void *setting_field_const(const ClusterConfig *c, ClusterSetting s);
/* One setting's value into c (reported at value when bad). */
void parse_setting(Loader *l, ClusterConfig *c, ClusterSetting s, const YamlNode *value);
/* Reads a cluster entry or defaults (is_defaults refuses cluster-only keys). */
void parse_settings(Loader *l, const YamlNode *map, const char *where, bool is_defaults, ClusterConfig *c);
/* Fills what c does not set from d, then from the built-in defaults. Its
 * strings and lists are d's, shared (d must outlive c), and the entry names
 * it does not set are its name, shared too. */
int apply_defaults(Loader *l, ClusterConfig *c, const ClusterConfig *d);
/* Where setting s of c was written (while loading; else, or when unknown, c's mapping). */
static inline ConfigPos setting_pos(const ClusterConfig *c, ClusterSetting s) {
        return c->setting_pos ? c->setting_pos[s] : c->pos;
}
/* Drops what only loading needs from every cluster of cfg (setting_pos). */
void config_drop_positions(Config *cfg);

/* ---- config-credentials.c: the credentials section ---- */

void parse_credentials(Loader *l, const YamlNode *map);
const Credential *find_credential(const Config *cfg, const char *name);
void credential_done(Credential *c);
/* A deep copy (-ENOMEM leaves nothing to free). */
int credential_copy(Credential *dst, const Credential *src);

/* ---- config-check.c: checks once every value is read ---- */

/* Whether key s is written for a cluster (node) or in defaults, even with a
 * bad value (reported already). */
bool key_written(const YamlNode *node, const YamlNode *defaults, ClusterSetting s);
/* The credentials c names exist (with a suggestion when not). */
void check_credentials(Loader *l, ClusterConfig *c, const char *label);
/* renew-before is shorter than the lifetime. */
void check_lifetime(Loader *l, const ClusterConfig *c, const char *label);
void resolve_owner(Loader *l, ClusterConfig *c);
void check_ca_file(Loader *l, const ClusterConfig *c);
/* One cluster: required keys, its credentials, owner and group, CA file. */
void check_cluster(Loader *l, ClusterConfig *c, size_t index, const YamlNode *node, const YamlNode *defaults);
/* Names and kubeconfig paths that two clusters share. */
void check_across_clusters(Loader *l);
void warn_unused_credentials(Loader *l);
/* Kubeconfigs the system unit would hide (PrivateTmp=, ProtectHome=). */
void warn_hidden_paths(Loader *l);

/* ---- config-discover.c: the discover section ---- */

void parse_discover(Loader *l, const YamlNode *seq, const ClusterConfig *defaults, const YamlNode *defaults_node);
void discover_config_done(DiscoverConfig *d);
