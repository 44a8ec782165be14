/* SPDX-License-Identifier: MIT */
/* --dump-config: a loaded configuration as YAML, every cluster with its
 * effective settings, secrets as references only. Reads a Config, never a
 * file. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"
#include "parse-value.h"

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

static int dump_credential_keys(YamlNode *m, const Credential *c) {
        YamlNode *sub;
        int r;

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

static int dump_credential(YamlNode *parent, const Credential *c) {
        YamlNode *m;
        int r;

        r = yaml_node_new_collection(YAML_TREE_MAPPING, &m);
        if (r < 0)
                return r;
        r = yaml_mapping_append(parent, c->name, m);
        if (r < 0 || (r = dump_credential_keys(m, c)) < 0)
                return r;
        return yaml_mapping_append_string(m, "identity", c->identity == CREDENTIAL_IDENTITY_AGENCY ? "agency" : "user");
}

/* A list of strings (NULL-terminated), when there is one. */
static int dump_strv(YamlNode *m, const char *key, char *const *strv) {
        YamlNode *seq;
        int r;

        if (!strv)
                return 0;
        if ((r = yaml_node_new_collection(YAML_TREE_SEQUENCE, &seq)) < 0)
                return r;
        for (char *const *a = strv; *a; a++) {
                YamlNode *item;
                if ((r = yaml_node_new_scalar(*a, false, &item)) < 0 || (r = yaml_node_append(seq, item)) < 0) {
                        yaml_node_free(seq);
                        return r;
                }
        }
        return yaml_mapping_append(m, key, seq);
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
        case VALUE_LIFETIME: {
                int64_t t = *(const int64_t *) field;
                if (t == CERT_LIFETIME_UNLIMITED)
                        return yaml_mapping_append_plain(m, row->key, "max");
                if (t % 86400 == 0)  /* days, as a number */
                        snprintf(buf, sizeof(buf), "%" PRId64, t / 86400);
                else
                        format_duration((uint64_t) t, buf);
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
        case VALUE_ARGV:
                return dump_strv(m, row->key, *(char **const *) field);
        }
        return -EINVAL;
}

static int dump_discover(YamlNode *list, const DiscoverConfig *d) {
        YamlNode *m;
        char buf[32];
        int r;

        if ((r = yaml_node_new_collection(YAML_TREE_MAPPING, &m)) < 0 ||
            (r = yaml_node_append(list, m)) < 0 ||
            (r = dump_setting(m, &d->settings, SETTING_PROJECT_ID)) < 0 ||
            (r = yaml_mapping_append_string(m, "name", d->name_template)) < 0 ||
            (r = dump_strv(m, "match", d->match)) < 0 ||
            (r = dump_strv(m, "exclude", d->exclude)) < 0 ||
            (r = yaml_mapping_append_plain(m, "interval", format_duration(d->interval_sec, buf))) < 0)
                return r;
        for (ClusterSetting s = 0; s < _SETTING_MAX; s++) {
                if (s == SETTING_NAME || s == SETTING_PROJECT_ID || s == SETTING_CLUSTER_ID ||
                    s == SETTING_CONTEXT_NAME || s == SETTING_CLUSTER_ENTRY_NAME || s == SETTING_USER_ENTRY_NAME)
                        continue;  /* its own, or what its name template gives */
                if ((r = dump_setting(m, &d->settings, s)) < 0)
                        return r;
        }
        return 0;
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
        if (c->n_discover > 0) {
                YamlNode *discover;
                if ((r = yaml_node_new_collection(YAML_TREE_SEQUENCE, &discover)) < 0 ||
                    (r = yaml_mapping_append(root, "discover", discover)) < 0)
                        return r;
                for (size_t i = 0; i < c->n_discover; i++)
                        if ((r = dump_discover(discover, &c->discover[i])) < 0)
                                return r;
        }

        return yaml_tree_emit(root, ret, &size);
}
