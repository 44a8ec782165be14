/* SPDX-License-Identifier: MIT */
/* The discover section: each entry's project, filters, templates and
 * interval, and the per-cluster settings its clusters take (the settings
 * table's rows, as a cluster has them); and the configuration with the
 * clusters the listings found. No listing here: no network, no write. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"
#include "discovery-rules.h"
#include "json.h"

enum {
        DISCOVER_NAME,
        DISCOVER_MATCH,
        DISCOVER_EXCLUDE,
        DISCOVER_INTERVAL,
        _DISCOVER_OWN_MAX,
};

/* Its own keys, then the settings table's (at _DISCOVER_OWN_MAX + row);
 * "name" is its own: a template, not the table's name. */
static const char *const *discover_keys(void) {
        static const char *keys[_DISCOVER_OWN_MAX + _SETTING_MAX];
        keys[DISCOVER_NAME] = "name";
        keys[DISCOVER_MATCH] = "match";
        keys[DISCOVER_EXCLUDE] = "exclude";
        keys[DISCOVER_INTERVAL] = "interval";
        for (size_t i = 0; i < _SETTING_MAX; i++)
                keys[_DISCOVER_OWN_MAX + i] = i == SETTING_NAME ? NULL : setting_rows[i].key;
        return keys;
}

static void parse_globs(Loader *l, const YamlNode *v, const char *key, char ***ret, ConfigPos *pos) {
        char why[200];

        *pos = node_pos(v);
        if (!v || v->type != YAML_TREE_SEQUENCE) {
                error_at(l, node_pos(v), "%s must be a list of cluster name patterns, not %s", key, yaml_node_type_name(v));
                return;
        }
        char **list = calloc(v->n_children + 1, sizeof(char *));
        if (!list) {
                l->oom = true;
                return;
        }
        for (size_t i = 0, n = 0; i < v->n_children; i++) {
                const char *s = scalar_text(l, v->children[i], key);
                if (!s)
                        continue;
                if (discovery_glob_check(s, why, sizeof(why)) < 0)
                        error_at(l, node_pos(v->children[i]), "%s: %s", key, why);
                else if (set_string(l, &list[n++], s) < 0)
                        break;
        }
        *ret = list;
}

static void on_discover_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        DiscoverConfig *d = userdata;
        const char *s;

        switch (index) {
        case DISCOVER_NAME:
                d->name_pos = node_pos(value);
                if ((s = scalar_text(l, value, "name")))
                        (void) set_string(l, &d->name_template, s);
                return;
        case DISCOVER_MATCH:
                parse_globs(l, value, "match", &d->match, &d->match_pos);
                return;
        case DISCOVER_EXCLUDE:
                parse_globs(l, value, "exclude", &d->exclude, &d->exclude_pos);
                return;
        case DISCOVER_INTERVAL:
                d->interval_pos = node_pos(value);
                if (parse_duration_value(l, value, "interval", &d->interval_sec) >= 0 &&
                    d->interval_sec < DISCOVER_INTERVAL_MIN_SEC)
                        error_at(l, node_pos(value), "interval must be at least %ds", DISCOVER_INTERVAL_MIN_SEC);
                return;
        }

        ClusterSetting setting = index - _DISCOVER_OWN_MAX;
        switch (setting) {
        case SETTING_CLUSTER_ID:
                error_at(l, node_pos(key), "cluster-id cannot be set in a discover entry: it is what discovery finds");
                return;
        case SETTING_CONTEXT_NAME:
        case SETTING_CLUSTER_ENTRY_NAME:
        case SETTING_USER_ENTRY_NAME:
                error_at(l, node_pos(key), "%s cannot be set in a discover entry: the entries are named by its name template",
                         setting_rows[setting].key);
                return;
        default:
                parse_setting(l, &d->settings, setting, value);
        }
}

static void check_discover(Loader *l, DiscoverConfig *d, size_t index, const YamlNode *node, const YamlNode *defaults) {
        ClusterConfig *c = &d->settings;
        char label[64], why[200];
        bool placeholder = false;

        snprintf(label, sizeof(label), "discover entry #%zu", index + 1);
        if (!setting_given(c, SETTING_PROJECT_ID))
                error_at(l, c->pos, "%s has no project-id", label);
        if (!key_written(node, defaults, SETTING_KUBECONFIG))
                error_at(l, c->pos, "%s has no kubeconfig (a template such as /etc/kubernetes/cce-certd/{name}.kubeconfig; "
                         "set it here or in defaults)", label);
        if (!key_written(node, defaults, SETTING_CREDENTIALS))
                error_at(l, c->pos, "%s has no credentials (set them here or in defaults)", label);
        if (!key_written(node, defaults, SETTING_REGION) && !key_written(node, defaults, SETTING_API_ENDPOINT))
                error_at(l, c->pos, "%s has neither region nor api-endpoint (set one here or in defaults)", label);

        if (c->kubeconfig) {
                if (discovery_template_check(c->kubeconfig, &placeholder, why, sizeof(why)) < 0)
                        error_at(l, setting_pos(c, SETTING_KUBECONFIG), "%s: kubeconfig %s", label, why);
                else if (!strstr(c->kubeconfig, "{name}") && !strstr(c->kubeconfig, "{cluster-id}") && !c->merge)
                        error_at(l, setting_pos(c, SETTING_KUBECONFIG),
                                 "%s: kubeconfig %s is one file for every cluster of the project: put {name} or "
                                 "{cluster-id} in it, or set merge: true", label, c->kubeconfig);
        }
        if (discovery_template_check(d->name_template, NULL, why, sizeof(why)) < 0)
                error_at(l, d->name_pos, "%s: name %s", label, why);
        else if (!strstr(d->name_template, "{name}") && !strstr(d->name_template, "{cluster-id}"))
                error_at(l, d->name_pos, "%s: name '%s' would give every cluster the same name: put {name} or "
                         "{cluster-id} in it", label, d->name_template);

        check_credentials(l, c, label);
        check_lifetime(l, c, label);
        resolve_owner(l, c);
        check_ca_file(l, c);
}

void parse_discover(Loader *l, const YamlNode *seq, const ClusterConfig *defaults, const YamlNode *defaults_node) {
        Config *cfg = l->config;

        if (!seq || seq->type != YAML_TREE_SEQUENCE) {
                error_at(l, node_pos(seq), "discover must be a list, not %s", yaml_node_type_name(seq));
                return;
        }
        cfg->discover = calloc(MAX(seq->n_children, 1u), sizeof(DiscoverConfig));
        if (!cfg->discover) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i < seq->n_children; i++) {
                DiscoverConfig *d = &cfg->discover[cfg->n_discover++];
                const YamlNode *node = seq->children[i];
                char where[64];

                d->interval_sec = DISCOVER_INTERVAL_DEFAULT_SEC;
                d->settings.pos = d->name_pos = node_pos(node);
                snprintf(where, sizeof(where), "discover entry #%zu", i + 1);
                walk_mapping(l, node, where, discover_keys(), _DISCOVER_OWN_MAX + _SETTING_MAX, on_discover_key, d);
                if (node->type != YAML_TREE_MAPPING)
                        continue;  /* reported */
                if (setting_given(&d->settings, SETTING_RENEW_AT) && setting_given(&d->settings, SETTING_RENEW_BEFORE))
                        error_at(l, setting_pos(&d->settings, SETTING_RENEW_BEFORE),
                                 "renew-at and renew-before are alternatives: give one of them");
                if (!d->name_template && set_string(l, &d->name_template, "{name}") < 0)
                        return;
                if (apply_defaults(l, &d->settings, defaults) < 0)
                        return;
                check_discover(l, d, i, node, defaults_node);
        }
}

void discover_config_done(DiscoverConfig *d) {
        cluster_config_done(&d->settings);
        free(d->name_template);
        for (char **p = d->match; p && *p; p++)
                free(*p);
        free(d->match);
        for (char **p = d->exclude; p && *p; p++)
                free(*p);
        free(d->exclude);
}

int discover_cluster_config(const DiscoverConfig *d, size_t entry, const char *cce_name, const char *cluster_id,
                            const char *phase, ClusterConfig *ret) {
        char *name = NULL, *kubeconfig = NULL, *id = NULL;
        ClusterConfig c;
        int r;

        if (!discovery_name_usable(cce_name))
                return -EINVAL;
        /* Its own: name, kubeconfig, id, phase. The rest is the entry's,
         * shared; its entry names are its name. */
        if ((r = discovery_template_expand(d->name_template, cce_name, cluster_id, d->settings.project_id, &name)) < 0 ||
            (r = discovery_template_expand(d->settings.kubeconfig, cce_name, cluster_id, d->settings.project_id,
                                           &kubeconfig)) < 0 ||
            !(id = strdup(cluster_id))) {
                free(name);
                free(kubeconfig);
                return r < 0 ? r : -ENOMEM;
        }
        cluster_config_share(&c, &d->settings);
        cluster_config_own(&c, SETTING_NAME, name);
        cluster_config_own(&c, SETTING_KUBECONFIG, kubeconfig);
        cluster_config_own(&c, SETTING_CLUSTER_ID, id);
        cluster_config_share_again(&c, &d->settings);  /* the entry names: the name just set */
        c.discovered_by = entry;
        if (!(c.discovered_phase = strdup(phase))) {
                cluster_config_done(&c);
                return -ENOMEM;
        }
        c.given |= UINT32_C(1) << SETTING_NAME | UINT32_C(1) << SETTING_CLUSTER_ID;
        c.discovered = true;
        *ret = c;
        return 0;
}

static uint64_t hash_text(uint64_t h, const char *s) {
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return (h ^ '|') * UINT64_C(1099511628211);
}

uint64_t discover_entry_fingerprint(const DiscoverConfig *d) {
        uint64_t h = hash_text(cluster_config_fingerprint(&d->settings), d->name_template);

        for (char **p = d->match; p && *p; p++)
                h = hash_text(h, *p);
        h = hash_text(h, "match");
        for (char **p = d->exclude; p && *p; p++)
                h = hash_text(h, *p);
        h = hash_text(h, "exclude");
        return (h ^ d->interval_sec) * UINT64_C(1099511628211);
}

static bool explicit_id(const Config *c, const char *id) {
        for (size_t i = 0; i < c->n_clusters; i++)
                if (strcmp(c->clusters[i].cluster_id, id) == 0)
                        return true;
        return false;
}

/* A cluster in the collision check: a configured one (extra SIZE_MAX) or a discovered one. */
typedef struct Party {
        const ClusterConfig *c;
        size_t extra;
} Party;

static int compare_party_names(const void *a, const void *b) {
        const Party *x = a, *y = b;
        int r = strcmp(x->c->name, y->c->name);
        return r != 0 ? r : (x->extra < y->extra) - (x->extra > y->extra);  /* configured first */
}

static int compare_party_paths(const void *a, const void *b) {
        const Party *x = a, *y = b;
        int r = strcmp(x->c->kubeconfig, y->c->kubeconfig);
        return r != 0 ? r : (x->extra < y->extra) - (x->extra > y->extra);
}

static const char *party_key(const Party *p, bool by_name) {
        return by_name ? p->c->name : p->c->kubeconfig;
}

/* Marks the discovered clusters of parties (sorted by compare) that share
 * a name (by_name) or a kubeconfig that one of the two has as its own
 * with another, and which other. One pass over each group of equals. */
static void find_clashes(Party *parties, size_t n, bool by_name, const ClusterConfig **other, bool *same_name) {
        qsort(parties, n, sizeof(Party), by_name ? compare_party_names : compare_party_paths);
        for (size_t start = 0, end; start < n; start = end) {
                const Party *own = NULL;  /* a member with the file as its own (merge: false) */
                for (end = start; end < n && strcmp(party_key(&parties[start], by_name), party_key(&parties[end], by_name)) == 0;
                     end++)
                        if (!own && !parties[end].c->merge)
                                own = &parties[end];
                if (end - start < 2)
                        continue;
                for (size_t i = start; i < end; i++) {
                        const Party *p = &parties[i], *with;
                        if (p->extra == SIZE_MAX || other[p->extra])
                                continue;
                        if (by_name || !p->c->merge)
                                with = &parties[i == start ? start + 1 : start];  /* configured ones first */
                        else if (own)
                                with = own;  /* merged, sharing the file that another has as its own */
                        else
                                continue;    /* merged into one file together: as meant */
                        other[p->extra] = with->c;
                        same_name[p->extra] = by_name;
                }
        }
}

int config_with_discovered(const Config *file, const DiscoveredItem *items, size_t n_items,
                           void (*left_out)(const ClusterConfig *c, const ClusterConfig *other, bool same_name,
                                            void *userdata),
                           void *userdata, Config **ret) {
        _cleanup_free_ ClusterConfig *extra = calloc(MAX(n_items, 1u), sizeof(ClusterConfig));
        _cleanup_free_ const ClusterConfig **other = NULL;
        _cleanup_free_ bool *same_name = NULL;
        _cleanup_free_ Party *parties = NULL;
        size_t n = 0, kept = 0;
        int r;

        if (!extra)
                return -ENOMEM;
        for (size_t i = 0; i < n_items; i++) {
                const DiscoveredItem *it = &items[i];
                const DiscoverConfig *d = &file->discover[it->entry];
                if (!discovery_selects(it->name, d->match, d->exclude) || explicit_id(file, it->id))
                        continue;
                r = discover_cluster_config(d, it->entry, it->name, it->id, it->phase, &extra[n]);
                if (r == -EINVAL)
                        continue;  /* a name that cannot go into a path */
                if (r < 0)
                        goto fail;
                n++;
        }

        /* Two clusters that would have one name, or one file that either
         * has as its own: the discovered ones of them are not taken
         * (neither may overwrite the other's; a configured one keeps its
         * own). Sorted, not compared pair by pair: thousands of clusters. */
        other = calloc(MAX(n, 1u), sizeof(ClusterConfig *));
        same_name = calloc(MAX(n, 1u), sizeof(bool));
        parties = calloc(MAX(n + file->n_clusters, 1u), sizeof(Party));
        if (!other || !same_name || !parties) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < file->n_clusters; i++)
                parties[i] = (Party) { &file->clusters[i], SIZE_MAX };
        for (size_t i = 0; i < n; i++)
                parties[file->n_clusters + i] = (Party) { &extra[i], i };
        find_clashes(parties, n + file->n_clusters, true, other, same_name);
        find_clashes(parties, n + file->n_clusters, false, other, same_name);
        for (size_t i = 0; i < n; i++)
                if (other[i] && left_out)
                        left_out(&extra[i], other[i], same_name[i], userdata);
        for (size_t i = 0; i < n; i++) {
                if (other[i])
                        cluster_config_done(&extra[i]);
                else
                        extra[kept++] = extra[i];
        }
        return config_with_clusters(file, extra, kept, ret);
fail:
        for (size_t i = 0; i < n; i++)
                cluster_config_done(&extra[i]);
        return r;
}

void discovered_items_free(DiscoveredItem *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free((char *) items[i].id);
                free((char *) items[i].name);
                free((char *) items[i].phase);
        }
        free(items);
}

int discovered_items_from_saved(const Config *file, const void *saved_json_node, DiscoveredItem **ret, size_t *ret_n) {
        const JsonNode *entries = json_get(saved_json_node, "entries");
        DiscoveredItem *items = NULL;
        size_t n = 0;

        for (size_t e = 0; e < file->n_discover; e++) {
                char fp[32];
                snprintf(fp, sizeof(fp), "%016" PRIx64, discover_entry_fingerprint(&file->discover[e]));
                for (size_t i = 0; entries && entries->type == JSON_ARRAY && i < entries->n_children; i++) {
                        const JsonNode *saved = entries->children[i];
                        const char *project = json_get_string(saved, "project_id"), *f = json_get_string(saved, "fingerprint");
                        const JsonNode *list = json_get(saved, "clusters");
                        if (!project || !f || strcmp(project, file->discover[e].settings.project_id) != 0 ||
                            strcmp(f, fp) != 0 || !list || list->type != JSON_ARRAY)
                                continue;
                        for (size_t k = 0; k < list->n_children; k++) {
                                const char *id = json_get_string(list->children[k], "id");
                                const char *name = json_get_string(list->children[k], "name");
                                const char *phase = json_get_string(list->children[k], "phase");
                                if (!id || !name || !phase)
                                        continue;
                                DiscoveredItem *a = reallocarray(items, n + 1, sizeof(DiscoveredItem));
                                if (!a)
                                        goto oom;
                                items = a;
                                items[n] = (DiscoveredItem) { .entry = e, .id = strdup(id), .name = strdup(name),
                                                              .phase = strdup(phase) };
                                n++;
                                if (!items[n - 1].id || !items[n - 1].name || !items[n - 1].phase)
                                        goto oom;
                        }
                        break;
                }
        }
        *ret = items;
        *ret_n = n;
        return 0;
oom:
        discovered_items_free(items, n);
        return -ENOMEM;
}
