/* SPDX-License-Identifier: MIT */
/* Checks once every value is read: required keys, owner and group names,
 * the CA file, names and kubeconfig paths across clusters, and the warnings
 * (unused credentials, paths the system unit hides). Sets no value but the
 * uid and gid that owner and group name. */

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"
#include "parse-value.h"

/* ---- checks across clusters --------------------------------------------- */

void resolve_owner(Loader *l, ClusterConfig *c) {
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
                        error_at(l, setting_pos(c, SETTING_OWNER), "owner '%s' is not a known user", c->owner);
        }
        if (c->group) {
                struct group gr, *result = NULL;
                if (parse_unsigned(c->group, UINT32_MAX - 1, &id) >= 0)
                        c->gid = (gid_t) id;
                else if (getgrnam_r(c->group, &gr, buf, sizeof(buf), &result) == 0 && result)
                        c->gid = result->gr_gid;
                else
                        error_at(l, setting_pos(c, SETTING_GROUP), "group '%s' is not a known group", c->group);
        }
}

void check_ca_file(Loader *l, const ClusterConfig *c) {
        struct stat st;

        if (!c->ca_file)
                return;
        if (stat(c->ca_file, &st) < 0)
                error_at(l, setting_pos(c, SETTING_CA_FILE), "ca-file %s: %m", c->ca_file);
        else if (!S_ISREG(st.st_mode))
                error_at(l, setting_pos(c, SETTING_CA_FILE), "ca-file %s is not a regular file", c->ca_file);
        else if (access(c->ca_file, R_OK) < 0)
                error_at(l, setting_pos(c, SETTING_CA_FILE), "ca-file %s cannot be read: %m", c->ca_file);
}

/* True when key is written for the cluster or in defaults, even with a bad
 * value (already reported: do not also call it missing). */
bool key_written(const YamlNode *cluster, const YamlNode *defaults, ClusterSetting s) {
        if (yaml_mapping_get(cluster, setting_rows[s].key))
                return true;
        if (setting_rows[s].cluster_only || !defaults)
                return false;
        /* Broken defaults (already reported) might have given it. */
        return defaults->type != YAML_TREE_MAPPING || yaml_mapping_get(defaults, setting_rows[s].key);
}

void check_cluster(Loader *l, ClusterConfig *c, size_t index, const YamlNode *node, const YamlNode *defaults) {
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

        check_credentials(l, c, label);
        check_lifetime(l, c, label);
        resolve_owner(l, c);
        check_ca_file(l, c);
}

void check_credentials(Loader *l, ClusterConfig *c, const char *label) {
        if (c->credentials) {
                c->credential = find_credential(l->config, c->credentials);
                if (!c->credential) {
                        const char *names[64] = {};
                        size_t n = MIN(l->config->n_credentials, ELEMENTSOF(names));
                        for (size_t i = 0; i < n; i++)
                                names[i] = l->config->credentials[i].name;
                        const char *guess = closest(c->credentials, names, n);
                        if (guess)
                                error_at(l, setting_pos(c, SETTING_CREDENTIALS), "%s: no credentials named '%s'; did you mean '%s'?",
                                         label, c->credentials, guess);
                        else
                                error_at(l, setting_pos(c, SETTING_CREDENTIALS), "%s: no credentials named '%s'",
                                         label, c->credentials);
                } else if (c->credential->kind == CREDENTIAL_IAM_PASSWORD && !c->iam_endpoint && !c->region)
                        error_at(l, c->pos, "%s uses iam-password credentials but has neither region nor iam-endpoint", label);
        }
}

void check_lifetime(Loader *l, const ClusterConfig *c, const char *label) {
        if (c->renew_before_sec > 0 && c->lifetime_sec != CERT_LIFETIME_UNLIMITED &&
            c->renew_before_sec >= (uint64_t) c->lifetime_sec) {
                char a[32], b[32];
                error_at(l, setting_pos(c, SETTING_RENEW_BEFORE),
                         "%s: renew-before %s is not shorter than duration %s: every certificate would be renewed at once",
                         label, format_duration(c->renew_before_sec, a),
                         format_duration((uint64_t) c->lifetime_sec, b));
        }
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
void check_across_clusters(Loader *l) {
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
                        error_at(l, setting_pos(c, SETTING_NAME), "duplicate cluster name '%s' (first at line %u column %u)",
                                 c->name, setting_pos(first, SETTING_NAME).line, setting_pos(first, SETTING_NAME).column);
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

void warn_unused_credentials(Loader *l) {
        const Config *cfg = l->config;

        for (size_t i = 0; i < cfg->n_credentials; i++) {
                bool used = false;
                for (size_t j = 0; j < cfg->n_clusters && !used; j++)
                        used = cfg->clusters[j].credential == &cfg->credentials[i];
                for (size_t j = 0; j < cfg->n_discover && !used; j++)
                        used = cfg->discover[j].settings.credential == &cfg->credentials[i];
                if (!used)
                        warning_at(l, cfg->credentials[i].pos, "credentials '%s' is not used by any cluster",
                                   cfg->credentials[i].name);
        }
}

/* Kubeconfigs where the system unit cannot put them: under its private
 * /tmp (PrivateTmp=yes), or in home directories (ProtectHome=yes). */
static void warn_hidden_path(Loader *l, const ClusterConfig *c) {
        static const char *const hidden[] = { "/tmp/", "/var/tmp/", "/home/", "/root/", "/run/user/" };

        for (size_t k = 0; k < ELEMENTSOF(hidden); k++)
                if (strncmp(c->kubeconfig, hidden[k], strlen(hidden[k])) == 0) {
                        bool tmp = k < 2;
                        warning_at(l, setting_pos(c, SETTING_KUBECONFIG),
                                   "kubeconfig %s is under %.*s, which the system unit hides (%s): "
                                   "there the file %s; use the user unit, or a drop-in (cce-certd(8), FILES)",
                                   c->kubeconfig, (int) strlen(hidden[k]) - 1, hidden[k],
                                   tmp ? "PrivateTmp=yes" : "ProtectHome=yes",
                                   tmp ? "lands in the service's own /tmp, seen by no one else" :
                                         "cannot be written");
                        return;
                }
}

void warn_hidden_paths(Loader *l) {
        const Config *cfg = l->config;

        for (size_t i = 0; i < cfg->n_clusters; i++)
                warn_hidden_path(l, &cfg->clusters[i]);
        for (size_t i = 0; i < cfg->n_discover; i++)
                warn_hidden_path(l, &cfg->discover[i].settings);
}
