/* SPDX-License-Identifier: MIT */
/* The per-cluster settings: one table row per key (name, type, parser,
 * field), inheritance from defaults, and the fingerprint that tells a
 * changed cluster on reload. Adding a key is a row here. No file access. */

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

/* ---- the per-cluster settings table ------------------------------------ */

#define ROW(setting, k, vkind, parser, member, only) \
        [setting] = { k, vkind, parser, offsetof(ClusterConfig, member), only }

const SettingRow setting_rows[_SETTING_MAX] = {
        ROW(SETTING_NAME, "name", VALUE_STRING, parse_name, name, true),
        ROW(SETTING_PROJECT_ID, "project-id", VALUE_STRING, parse_project_id, project_id, true),
        ROW(SETTING_CLUSTER_ID, "cluster-id", VALUE_STRING, parse_cluster_id, cluster_id, true),
        ROW(SETTING_REGION, "region", VALUE_STRING, parse_region, region, false),
        ROW(SETTING_API_ENDPOINT, "api-endpoint", VALUE_STRING, parse_https_url, api_endpoint, false),
        ROW(SETTING_IAM_ENDPOINT, "iam-endpoint", VALUE_STRING, parse_https_url, iam_endpoint, false),
        ROW(SETTING_CA_FILE, "ca-file", VALUE_STRING, parse_path, ca_file, false),
        ROW(SETTING_CREDENTIALS, "credentials", VALUE_STRING, parse_credentials_name, credentials, false),
        ROW(SETTING_DURATION, "duration", VALUE_LIFETIME, parse_lifetime_value, lifetime_sec, false),
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
        ROW(SETTING_REVOKE_PREVIOUS, "revoke-previous", VALUE_BOOL, parse_bool_value, revoke_previous, false),
};

static size_t value_size(ValueKind k) {
        switch (k) {
        case VALUE_STRING:
                return sizeof(char *);
        case VALUE_LIFETIME:
                return sizeof(int64_t);
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

const void *setting_field_const(const ClusterConfig *c, ClusterSetting s) {
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

_Static_assert(_SETTING_MAX <= 32, "ClusterConfig.given and .borrowed have a bit per setting");

static bool is_borrowed(const ClusterConfig *c, size_t s) {
        return c->borrowed & (UINT32_C(1) << s);
}

static bool is_entry_name(size_t s) {
        return s == SETTING_CONTEXT_NAME || s == SETTING_CLUSTER_ENTRY_NAME || s == SETTING_USER_ENTRY_NAME;
}

void cluster_config_share_again(ClusterConfig *c, const ClusterConfig *from) {
        for (size_t i = 0; i < _SETTING_MAX; i++) {
                if (!is_borrowed(c, i))
                        continue;
                if (is_entry_name(i))
                        *(char **) setting_field(c, i) = c->name;
                else
                        memcpy(setting_field(c, i), setting_field_const(from, i), sizeof(void *));
        }
}

void cluster_config_share(ClusterConfig *dst, const ClusterConfig *from) {
        *dst = *from;
        dst->setting_pos = NULL;
        dst->discovered_phase = NULL;
        dst->borrowed = 0;
        for (size_t i = 0; i < _SETTING_MAX; i++)
                if (setting_rows[i].kind == VALUE_STRING || setting_rows[i].kind == VALUE_ARGV)
                        dst->borrowed |= UINT32_C(1) << i;
}

void cluster_config_own(ClusterConfig *c, ClusterSetting s, char *value) {
        assert(setting_rows[s].kind == VALUE_STRING);
        if (!is_borrowed(c, s))
                free(*(char **) setting_field(c, s));
        *(char **) setting_field(c, s) = value;
        c->borrowed &= ~(UINT32_C(1) << s);
}

void cluster_config_done(ClusterConfig *c) {
        for (size_t i = 0; i < _SETTING_MAX; i++)
                if (is_borrowed(c, i))
                        continue;
                else if (setting_rows[i].kind == VALUE_STRING)
                        free(*(char **) setting_field(c, i));
                else if (setting_rows[i].kind == VALUE_ARGV)
                        strv_free(*(char ***) setting_field(c, i));
        free(c->discovered_phase);
        free(c->setting_pos);
}

/* Where c's settings were written: room for them, made when the first one is. */
static int positions(Loader *l, ClusterConfig *c) {
        if (!c->setting_pos && !(c->setting_pos = calloc(_SETTING_MAX, sizeof(ConfigPos)))) {
                l->oom = true;
                return -ENOMEM;
        }
        return 0;
}

void config_drop_positions(Config *cfg) {
        free(cfg->defaults.setting_pos);
        cfg->defaults.setting_pos = NULL;
        for (size_t i = 0; i < cfg->n_clusters; i++) {
                free(cfg->clusters[i].setting_pos);
                cfg->clusters[i].setting_pos = NULL;
        }
        for (size_t i = 0; i < cfg->n_discover; i++) {
                free(cfg->discover[i].settings.setting_pos);
                cfg->discover[i].settings.setting_pos = NULL;
        }
}

typedef struct SettingsWalk {
        ClusterConfig *cluster;
        bool is_defaults;
} SettingsWalk;

void parse_setting(Loader *l, ClusterConfig *c, ClusterSetting s, const YamlNode *value) {
        const SettingRow *row = &setting_rows[s];

        if (row->parse(l, value, row->key, setting_field(c, s)) < 0 || positions(l, c) < 0)
                return;
        c->given |= UINT32_C(1) << s;
        c->setting_pos[s] = node_pos(value);
}

static void on_setting(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        SettingsWalk *w = userdata;
        const SettingRow *row = &setting_rows[index];

        if (w->is_defaults && row->cluster_only) {
                error_at(l, node_pos(key), "%s cannot be set in defaults: it is different for every cluster", row->key);
                return;
        }
        parse_setting(l, w->cluster, index, value);
}

void parse_settings(Loader *l, const YamlNode *map, const char *where, bool is_defaults, ClusterConfig *c) {
        SettingsWalk w = { c, is_defaults };

        c->pos = node_pos(map);
        walk_mapping(l, map, where, setting_keys(), _SETTING_MAX, on_setting, &w);

        if (setting_given(c, SETTING_RENEW_AT) && setting_given(c, SETTING_RENEW_BEFORE))
                error_at(l, setting_pos(c, SETTING_RENEW_BEFORE),
                         "renew-at and renew-before are alternatives: give one of them");
}

int cluster_config_copy(ClusterConfig *dst, const ClusterConfig *src) {
        *dst = *src;
        dst->setting_pos = NULL;  /* a copy is made after loading */
        dst->borrowed = 0;        /* every string copied: its own */
        dst->discovered_phase = NULL;
        if (src->discovered_phase && !(dst->discovered_phase = strdup(src->discovered_phase))) {
                /* Nothing copied yet: drop every borrowed pointer before failing. */
                for (size_t i = 0; i < _SETTING_MAX; i++)
                        if (setting_rows[i].kind == VALUE_STRING || setting_rows[i].kind == VALUE_ARGV)
                                *(void **) setting_field(dst, i) = NULL;
                return -ENOMEM;
        }
        for (size_t i = 0; i < _SETTING_MAX; i++) {
                const SettingRow *row = &setting_rows[i];
                if (row->kind == VALUE_STRING) {
                        char **f = setting_field(dst, i);
                        if (*f && !(*f = strdup(*f)))
                                goto fail;
                } else if (row->kind == VALUE_ARGV) {
                        char ***f = setting_field(dst, i);
                        if (*f && !(*f = strv_copy(*f)))
                                goto fail;
                }
        }
        return 0;
fail:
        /* What was not copied yet still points into src: drop it before freeing. */
        for (size_t i = 0; i < _SETTING_MAX; i++) {
                const SettingRow *row = &setting_rows[i];
                if (row->kind != VALUE_STRING && row->kind != VALUE_ARGV)
                        continue;
                void **f = setting_field(dst, i);
                if (*f == *(void *const *) setting_field_const(src, i))
                        *f = NULL;
        }
        cluster_config_done(dst);
        return -ENOMEM;
}

ClusterConfig *cluster_config_dup(const ClusterConfig *src) {
        ClusterConfig *c = malloc(sizeof(ClusterConfig));
        if (c && cluster_config_copy(c, src) < 0) {
                free(c);
                return NULL;
        }
        if (c)
                c->credential = NULL;  /* borrowed from a Config this copy may outlive */
        return c;
}

ClusterConfig *cluster_config_free(ClusterConfig *c) {
        if (c) {
                cluster_config_done(c);
                free(c);
        }
        return NULL;
}

/* Points c's string or list s at value, which c does not own: the
 * defaults' (they live as long as the Config) or c's own name. */
static void share_setting(ClusterConfig *c, ClusterSetting s, void *value) {
        if (!is_borrowed(c, s)) {
                if (setting_rows[s].kind == VALUE_STRING)
                        free(*(char **) setting_field(c, s));
                else
                        strv_free(*(char ***) setting_field(c, s));
        }
        *(void **) setting_field(c, s) = value;
        c->borrowed |= UINT32_C(1) << s;
}

/* Fills what the cluster does not set from defaults, then from built-in
 * defaults. renew-at and renew-before count as one setting: a cluster that
 * gives either one does not inherit the other. */
int apply_defaults(Loader *l, ClusterConfig *c, const ClusterConfig *d) {
        bool own_renewal = setting_given(c, SETTING_RENEW_AT) || setting_given(c, SETTING_RENEW_BEFORE);

        for (size_t i = 0; i < _SETTING_MAX; i++) {
                const SettingRow *row = &setting_rows[i];

                if (setting_given(c, i) || !setting_given(d, i))
                        continue;
                if (own_renewal && (i == SETTING_RENEW_AT || i == SETTING_RENEW_BEFORE))
                        continue;
                if (row->kind == VALUE_STRING || row->kind == VALUE_ARGV)
                        share_setting(c, i, *(void *const *) setting_field_const(d, i));
                else
                        memcpy(setting_field(c, i), setting_field_const(d, i), value_size(row->kind));
                if (positions(l, c) < 0)
                        return -ENOMEM;
                c->given |= UINT32_C(1) << i;
                c->setting_pos[i] = setting_pos(d, i);
        }

        if (!setting_given(c, SETTING_DURATION))
                c->lifetime_sec = (int64_t) DEFAULT_CERT_DAYS * 86400;
        if (!setting_given(c, SETTING_RENEW_AT) && !setting_given(c, SETTING_RENEW_BEFORE))
                c->renew_at_percent = DEFAULT_RENEW_AT_PERCENT;
        if (!setting_given(c, SETTING_FILE_MODE))
                c->file_mode = DEFAULT_FILE_MODE;
        if (!setting_given(c, SETTING_ENDPOINT))
                c->endpoint = ENDPOINT_AUTO;
        for (ClusterSetting s = SETTING_CONTEXT_NAME; s <= SETTING_USER_ENTRY_NAME; s++)
                if (!setting_given(c, s) && c->name)
                        share_setting(c, s, c->name);
        return 0;
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
                h = fnv(h, &k->identity, sizeof(k->identity));
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
