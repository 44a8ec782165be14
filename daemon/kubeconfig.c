/* SPDX-License-Identifier: MIT */
/* The kubeconfig files: rendering a cluster's entries, merging them into a
 * file or writing one of its own (through atomic-file.c), and reading a
 * file back for the scheduler. Makes no API call. */

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic-file.h"
#include "kubeconfig.h"
#include "kubeconfig-internal.h"
#include "error-buffer.h"
#include "macro.h"
#include "secure-memory.h"
#include "yaml-tree.h"

static const char *const state_names[_KUBECONFIG_STATE_MAX] = {
        [KUBECONFIG_OK] = "ok",
        [KUBECONFIG_MISSING] = "missing",
        [KUBECONFIG_UNREADABLE] = "unreadable",
        [KUBECONFIG_NOT_OURS] = "not-ours",
        [KUBECONFIG_MISMATCH] = "mismatch",
        [KUBECONFIG_BAD_CERTIFICATE] = "bad-certificate",
        [KUBECONFIG_REFUSED] = "refused",
        [KUBECONFIG_UNWRITABLE] = "unwritable",
};

const char *kubeconfig_state_to_string(KubeconfigState s) {
        return s >= 0 && s < _KUBECONFIG_STATE_MAX ? state_names[s] : "unknown";
}

/* ---- the tree ----------------------------------------------------------- */

/* Our extension in a cluster mapping, or NULL. */
static const YamlNode *our_extension(const YamlNode *cluster) {
        const YamlNode *ext = yaml_mapping_get(cluster, "extensions");
        if (!ext || ext->type != YAML_TREE_SEQUENCE)
                return NULL;
        for (size_t i = 0; i < ext->n_children; i++) {
                const char *n = get_scalar(ext->children[i], "name");
                if (n && strcmp(n, KUBECONFIG_EXTENSION) == 0)
                        return yaml_mapping_get(ext->children[i], "extension");
        }
        return NULL;
}

static const char *const foreign_user_keys[] = {
        "token", "tokenFile", "exec", "auth-provider", "username", "password",
};

static bool user_is_certificate_based(const YamlNode *user) {
        for (size_t i = 0; i < ELEMENTSOF(foreign_user_keys); i++)
                if (yaml_mapping_get(user, foreign_user_keys[i]))
                        return false;
        return true;
}

/* ---- reading back -------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void set_state(KubeconfigStatus *st, KubeconfigState s, const char *format, ...) {
        va_list ap;
        st->state = s;
        va_start(ap, format);
        vsnprintf(st->reason, sizeof(st->reason), format, ap);
        va_end(ap);
}

/* A file's content as read and parsed, for every cluster that shares it. */
struct KubeconfigReading {
        char *path;
        int read_error;                 /* negative errno from reading, or 0 */
        char read_reason[320];          /* why, when the path was refused or cannot be resolved */
        bool empty;
        YamlNode *root;                 /* NULL when empty or unparsable */
        YamlError parse_error;
        bool unparsable;
};

KubeconfigReading *kubeconfig_reading_free(KubeconfigReading *r) {
        if (r) {
                free(r->path);
                yaml_node_free(r->root);
                free(r);
        }
        return NULL;
}

static void reading_parse(KubeconfigReading *r, const char *text, size_t size) {
        r->empty = size == 0;
        if (!r->empty && yaml_tree_parse(text, size, &r->root, &r->parse_error) < 0)
                r->unparsable = true;
}

static void inspect_reading(const ClusterConfig *cl, const KubeconfigReading *reading, KubeconfigStatus *st) {
        const YamlNode *root = reading->root;
        const YamlNode *cluster_entry, *user_entry, *context_entry, *cluster, *user, *context, *ext;
        const char *s;
        char why[256];

        *st = (KubeconfigStatus) {};
        if (reading->read_error == -ENOENT && !reading->read_reason[0])
                return set_state(st, KUBECONFIG_MISSING, "%s does not exist", cl->kubeconfig);
        if (reading->read_error == -ENOENT || reading->read_error == -ENOTDIR || reading->read_error == -EISDIR ||
            reading->read_error == -ELOOP)
                return set_state(st, KUBECONFIG_UNWRITABLE, "%s cannot be written: %s", cl->kubeconfig,
                                 reading->read_reason[0] ? reading->read_reason : strerror(-reading->read_error));
        if (reading->read_error == -SAFE_PATH_REFUSED)
                return set_state(st, KUBECONFIG_REFUSED, "refusing to use %s: %s", cl->kubeconfig,
                                 reading->read_reason);
        if (reading->read_error < 0 && reading->read_reason[0])
                return set_state(st, KUBECONFIG_UNREADABLE, "cannot read %s: %s", cl->kubeconfig, reading->read_reason);
        if (reading->read_error < 0)
                return set_state(st, KUBECONFIG_UNREADABLE, "cannot read %s: %s", cl->kubeconfig,
                                 reading->read_error == -EFBIG ? "larger than 4 MiB" :
                                 reading->read_error == -EBADF ? "not a regular file" : strerror(-reading->read_error));
        if (reading->empty)
                return set_state(st, KUBECONFIG_MISSING, "%s is empty", cl->kubeconfig);
        if (reading->unparsable)
                return set_state(st, KUBECONFIG_UNREADABLE, "%s:%u:%u: %s", cl->kubeconfig, reading->parse_error.line,
                                 reading->parse_error.column, reading->parse_error.message);
        if (!root)
                return set_state(st, KUBECONFIG_MISSING, "%s is empty", cl->kubeconfig);
        if (root->type != YAML_TREE_MAPPING)
                return set_state(st, KUBECONFIG_UNREADABLE, "%s is not a kubeconfig (not a mapping)", cl->kubeconfig);

        cluster_entry = find_entry(yaml_mapping_get(root, "clusters"), cl->cluster_entry_name, NULL);
        user_entry = find_entry(yaml_mapping_get(root, "users"), cl->user_entry_name, NULL);
        context_entry = find_entry(yaml_mapping_get(root, "contexts"), cl->context_name, NULL);
        if (!cluster_entry && !user_entry && !context_entry)
                return set_state(st, KUBECONFIG_MISSING, "%s has no entries for %s", cl->kubeconfig, cl->name);
        if (!cluster_entry)
                return set_state(st, KUBECONFIG_MISMATCH, "%s has no cluster entry %s", cl->kubeconfig,
                                 cl->cluster_entry_name);

        cluster = yaml_mapping_get(cluster_entry, "cluster");
        ext = our_extension(cluster);
        if (!ext)
                return set_state(st, KUBECONFIG_NOT_OURS, "the cluster entry %s in %s was not written by cce-certd",
                                 cl->cluster_entry_name, cl->kubeconfig);
        s = get_scalar(ext, "cluster-id");
        if (!s || strcmp(s, cl->cluster_id) != 0)
                return set_state(st, KUBECONFIG_MISMATCH, "the cluster entry %s in %s was written for cluster %s",
                                 cl->cluster_entry_name, cl->kubeconfig, s ?: "?");
        s = get_scalar(ext, "endpoint");
        if (!s || strcmp(s, endpoint_choice_to_string(cl->endpoint)) != 0)
                return set_state(st, KUBECONFIG_MISMATCH, "%s holds the %s endpoint, the configuration asks for %s",
                                 cl->kubeconfig, s ?: "?", endpoint_choice_to_string(cl->endpoint));
        s = get_scalar(cluster, "tls-server-name");
        if ((s || cl->tls_server_name) && (!s || !cl->tls_server_name || strcmp(s, cl->tls_server_name) != 0))
                return set_state(st, KUBECONFIG_MISMATCH, "the tls-server-name in %s differs from the configuration",
                                 cl->kubeconfig);
        s = get_scalar(cluster, "server");
        if (!s || strncmp(s, "https://", 8) != 0)
                return set_state(st, KUBECONFIG_MISMATCH, "the cluster entry %s in %s has no https server",
                                 cl->cluster_entry_name, cl->kubeconfig);

        if (!user_entry)
                return set_state(st, KUBECONFIG_MISMATCH, "%s has no user entry %s", cl->kubeconfig, cl->user_entry_name);
        if (!context_entry)
                return set_state(st, KUBECONFIG_MISMATCH, "%s has no context %s", cl->kubeconfig, cl->context_name);
        context = yaml_mapping_get(context_entry, "context");
        if (!get_scalar(context, "cluster") || strcmp(get_scalar(context, "cluster"), cl->cluster_entry_name) != 0 ||
            !get_scalar(context, "user") || strcmp(get_scalar(context, "user"), cl->user_entry_name) != 0)
                return set_state(st, KUBECONFIG_MISMATCH, "the context %s in %s does not join %s and %s",
                                 cl->context_name, cl->kubeconfig, cl->cluster_entry_name, cl->user_entry_name);

        user = yaml_mapping_get(user_entry, "user");
        s = get_scalar(user, "client-certificate-data");
        if (!s)
                return set_state(st, KUBECONFIG_MISMATCH, "the user entry %s in %s has no client-certificate-data",
                                 cl->user_entry_name, cl->kubeconfig);
        if (cert_info_from_base64(s, &st->certificate, why, sizeof(why)) < 0)
                return set_state(st, KUBECONFIG_BAD_CERTIFICATE, "the client certificate in %s: %s", cl->kubeconfig, why);
        st->state = KUBECONFIG_OK;
}

void kubeconfig_inspect_text(const ClusterConfig *cl, const char *text, size_t size, KubeconfigStatus *st) {
        KubeconfigReading reading = {};

        reading_parse(&reading, text, size);
        inspect_reading(cl, &reading, st);
        yaml_node_free(reading.root);
}

void kubeconfig_inspect_shared(const ClusterConfig *cl, KubeconfigReading **cache, KubeconfigStatus *st) {
        _cleanup_free_wiped_ char *text = NULL;
        size_t size = 0;

        if (!*cache || strcmp((*cache)->path, cl->kubeconfig) != 0) {
                *cache = kubeconfig_reading_free(*cache);
                KubeconfigReading *r = calloc(1, sizeof(KubeconfigReading));
                if (!r || !(r->path = strdup(cl->kubeconfig))) {
                        free(r);
                        *st = (KubeconfigStatus) {};
                        return set_state(st, KUBECONFIG_UNREADABLE, "cannot read %s: out of memory", cl->kubeconfig);
                }
                r->read_error = atomic_file_read(cl->kubeconfig, KUBECONFIG_FILE_MAX, &text, &size, r->read_reason,
                                                 sizeof(r->read_reason));
                if (r->read_error >= 0) {
                        r->read_error = 0;
                        reading_parse(r, text, size);
                }
                *cache = r;
        }
        inspect_reading(cl, *cache, st);
}

void kubeconfig_inspect(const ClusterConfig *cl, KubeconfigStatus *st) {
        KubeconfigReading *reading = NULL;

        kubeconfig_inspect_shared(cl, &reading, st);
        kubeconfig_reading_free(reading);
}

/* ---- choosing the endpoint --------------------------------------------- */

int kubeconfig_choose(const ClusterConfig *cl, const CceKubeconfig *a, KubeconfigChoice *ret,
                      char *error, size_t error_size) {
        const CceContextEntry *ctx = NULL;
        KubeconfigChoice c = {};

        switch (cl->endpoint) {
        case ENDPOINT_INTERNAL:
                ctx = cce_kubeconfig_context(a, "internal");
                if (!ctx)
                        return error_printf(error, error_size, -ENOENT, "the answer for %s offers no internal endpoint", cl->name);
                break;
        case ENDPOINT_EXTERNAL:
                ctx = cce_kubeconfig_context(a, "externalTLSVerify") ?: cce_kubeconfig_context(a, "external");
                if (!ctx)
                        return error_printf(error, error_size, -ENOENT,
                                    "the answer for %s offers no external endpoint (does the cluster have an EIP?)", cl->name);
                break;
        default:
                ctx = cce_kubeconfig_context(a, a->current_context);
                break;
        }
        c.cluster = cce_kubeconfig_cluster(a, ctx->cluster);
        c.user = cce_kubeconfig_user(a, ctx->user);
        c.ca_data = c.cluster->certificate_authority_data;
        c.insecure = c.cluster->insecure_skip_tls_verify || !c.ca_data;
        if (cl->tls_server_name) {
                /* Verify the server against the cluster CA under the given name. */
                for (size_t i = 0; !c.ca_data && i < a->n_clusters; i++)
                        c.ca_data = a->clusters[i].certificate_authority_data;
                if (!c.ca_data)
                        return error_printf(error, error_size, -ENOENT, "the answer for %s has no CA data to verify with", cl->name);
                c.insecure = false;
        }
        *ret = c;
        return 0;
}

/* ---- building entries --------------------------------------------------- */

static int put(YamlNode *map, const char *key, const char *value) {
        return yaml_mapping_append_string(map, key, value);
}

/* Removes key from a mapping (every occurrence). */
static void mapping_remove(YamlNode *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n_children;) {
                const YamlNode *k = map->children[i];
                if (k->type == YAML_TREE_SCALAR && strcmp(k->value, key) == 0) {
                        yaml_node_free(map->children[i]);
                        yaml_node_free(map->children[i + 1]);
                        memmove(map->children + i, map->children + i + 2, (map->n_children - i - 2) * sizeof(YamlNode *));
                        map->n_children -= 2;
                } else
                        i += 2;
        }
}

/* Removes key from a mapping and returns its value (the first one), or NULL. */
static YamlNode *mapping_take(YamlNode *map, const char *key) {
        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                YamlNode *k = map->children[i], *v = map->children[i + 1];
                if (k->type == YAML_TREE_SCALAR && strcmp(k->value, key) == 0) {
                        yaml_node_free(k);
                        memmove(map->children + i, map->children + i + 2, (map->n_children - i - 2) * sizeof(YamlNode *));
                        map->n_children -= 2;
                        return v;
                }
        }
        return NULL;
}

/* Sets key to value, in place when it exists (keeping the order), else at the end. */
static int mapping_set(YamlNode *map, const char *key, YamlNode *value) {
        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                const YamlNode *k = map->children[i];
                if (k->type == YAML_TREE_SCALAR && strcmp(k->value, key) == 0) {
                        yaml_node_free(map->children[i + 1]);
                        map->children[i + 1] = value;
                        return 0;
                }
        }
        return yaml_mapping_append(map, key, value);
}

static int mapping_set_string(YamlNode *map, const char *key, const char *value) {
        YamlNode *v;
        int r = yaml_node_new_scalar(value, false, &v);
        return r < 0 ? r : mapping_set(map, key, v);
}

/* The mapping under key, created (or replaced, when not a mapping). */
static int mapping_child(YamlNode *map, const char *key, YamlNodeType type, YamlNode **ret) {
        YamlNode *v = yaml_mapping_get(map, key);
        int r;

        if (v && v->type == type && !yaml_node_is_null(v)) {
                *ret = v;
                return 0;
        }
        r = yaml_node_new_collection(type, &v);
        if (r < 0)
                return r;
        r = mapping_set(map, key, v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

static int new_mapping(YamlNode **ret) {
        return yaml_node_new_collection(YAML_TREE_MAPPING, ret);
}

/* Our extension, replacing an older one of ours and keeping the others. */
static int set_extension(YamlNode *cluster, const ClusterConfig *cl) {
        YamlNode *list, *item, *ext;
        int r;

        r = mapping_child(cluster, "extensions", YAML_TREE_SEQUENCE, &list);
        if (r < 0)
                return r;
        for (size_t i = 0; i < list->n_children;) {
                const char *n = get_scalar(list->children[i], "name");
                if (n && strcmp(n, KUBECONFIG_EXTENSION) == 0) {
                        yaml_node_free(list->children[i]);
                        memmove(list->children + i, list->children + i + 1, (list->n_children - i - 1) * sizeof(YamlNode *));
                        list->n_children--;
                } else
                        i++;
        }
        if ((r = new_mapping(&item)) < 0)
                return r;
        if ((r = yaml_node_append(list, item)) < 0 ||
            (r = put(item, "name", KUBECONFIG_EXTENSION)) < 0 ||
            (r = new_mapping(&ext)) < 0)
                return r;
        if ((r = yaml_mapping_append(item, "extension", ext)) < 0 ||
            (r = put(ext, "cluster-id", cl->cluster_id)) < 0 ||
            (r = put(ext, "endpoint", endpoint_choice_to_string(cl->endpoint))) < 0)
                return r;
        return 0;
}

/* Fills (or updates, keeping fields that are not ours) the inner mappings. */
static int fill_cluster(YamlNode *cluster, const ClusterConfig *cl, const KubeconfigChoice *c) {
        /* The extensions go last, so that writing again gives the same text. */
        _cleanup_(yaml_node_freep) YamlNode *extensions = mapping_take(cluster, "extensions");
        int r;

        if ((r = mapping_set_string(cluster, "server", c->cluster->server)) < 0)
                return r;
        mapping_remove(cluster, "certificate-authority");
        mapping_remove(cluster, "certificate-authority-data");
        mapping_remove(cluster, "insecure-skip-tls-verify");
        mapping_remove(cluster, "tls-server-name");
        if (c->ca_data && (r = put(cluster, "certificate-authority-data", c->ca_data)) < 0)
                return r;
        if (cl->tls_server_name && (r = put(cluster, "tls-server-name", cl->tls_server_name)) < 0)
                return r;
        if (c->insecure && (r = yaml_mapping_append_plain(cluster, "insecure-skip-tls-verify", "true")) < 0)
                return r;
        if (extensions && (r = yaml_mapping_append(cluster, "extensions", TAKE_PTR(extensions))) < 0)
                return r;
        return set_extension(cluster, cl);
}

static int fill_user(YamlNode *user, const KubeconfigChoice *c) {
        int r;
        mapping_remove(user, "client-certificate");
        mapping_remove(user, "client-key");
        if ((r = mapping_set_string(user, "client-certificate-data", c->user->client_certificate_data)) < 0 ||
            (r = mapping_set_string(user, "client-key-data", c->user->client_key_data)) < 0)
                return r;
        return 0;
}

static int fill_context(YamlNode *context, const ClusterConfig *cl) {
        int r;
        if ((r = mapping_set_string(context, "cluster", cl->cluster_entry_name)) < 0 ||
            (r = mapping_set_string(context, "user", cl->user_entry_name)) < 0)
                return r;
        return 0;
}

/* Finds or appends the entry named name in root[list]; returns its inner
 * mapping (root[list][i][inner]). */
static int entry(YamlNode *root, const char *list, const char *inner, const char *name, YamlNode **ret) {
        YamlNode *seq, *e;
        int r;

        r = mapping_child(root, list, YAML_TREE_SEQUENCE, &seq);
        if (r < 0)
                return r;
        e = find_entry(seq, name, NULL);
        if (!e) {
                if ((r = new_mapping(&e)) < 0)
                        return r;
                if ((r = yaml_node_append(seq, e)) < 0 || (r = put(e, "name", name)) < 0)
                        return r;
        }
        return mapping_child(e, inner, YAML_TREE_MAPPING, ret);
}

static int add_entries(YamlNode *root, const ClusterConfig *cl, const KubeconfigChoice *c) {
        YamlNode *m;
        int r;

        if ((r = entry(root, "clusters", "cluster", cl->cluster_entry_name, &m)) < 0 ||
            (r = fill_cluster(m, cl, c)) < 0 ||
            (r = entry(root, "users", "user", cl->user_entry_name, &m)) < 0 ||
            (r = fill_user(m, c)) < 0 ||
            (r = entry(root, "contexts", "context", cl->context_name, &m)) < 0 ||
            (r = fill_context(m, cl)) < 0)
                return r;
        return 0;
}

/* Same-named entries that cce-certd did not write (for this cluster) are
 * left alone: the file is refused instead. */
static int check_ours(const YamlNode *root, const ClusterConfig *cl, const CceKubeconfig *a,
                      char *error, size_t error_size) {
        const YamlNode *e;

        e = find_entry(yaml_mapping_get(root, "clusters"), cl->cluster_entry_name, NULL);
        if (e) {
                const YamlNode *cluster = yaml_mapping_get(e, "cluster");
                const YamlNode *ext = our_extension(cluster);
                const char *id = get_scalar(ext, "cluster-id"), *server = get_scalar(cluster, "server");
                bool ours = false;
                if (ext)
                        ours = id && strcmp(id, cl->cluster_id) == 0;
                else
                        /* Adopt an entry made by hand for this very cluster. */
                        for (size_t i = 0; !ours && server && i < a->n_clusters; i++)
                                ours = strcmp(server, a->clusters[i].server) == 0;
                if (!ours)
                        return error_printf(error, error_size, -EEXIST,
                                    "%s already has a cluster entry %s for another cluster (%s); "
                                    "rename it or set cluster-entry-name", cl->kubeconfig, cl->cluster_entry_name,
                                    ext ? "written by cce-certd for another cluster-id" : "another server");
        }
        e = find_entry(yaml_mapping_get(root, "users"), cl->user_entry_name, NULL);
        if (e && !user_is_certificate_based(yaml_mapping_get(e, "user")))
                return error_printf(error, error_size, -EEXIST,
                            "%s already has a user entry %s that authenticates otherwise (token, exec, ...); "
                            "rename it or set user-entry-name", cl->kubeconfig, cl->user_entry_name);
        e = find_entry(yaml_mapping_get(root, "contexts"), cl->context_name, NULL);
        if (e) {
                const YamlNode *ctx = yaml_mapping_get(e, "context");
                const char *c = get_scalar(ctx, "cluster"), *u = get_scalar(ctx, "user");
                if ((c && strcmp(c, cl->cluster_entry_name) != 0) || (u && strcmp(u, cl->user_entry_name) != 0))
                        return error_printf(error, error_size, -EEXIST,
                                    "%s already has a context %s for other entries; rename it or set context-name",
                                    cl->kubeconfig, cl->context_name);
        }
        return 0;
}

/* In own-file mode, a file that holds anything but this cluster's entries
 * is not overwritten; more contexts of this cluster's entries (kubectl
 * config set-context prod-system --cluster prod --user prod
 * --namespace kube-system) are its own. */
static bool context_of_ours(const YamlNode *entry, const ClusterConfig *cl) {
        const YamlNode *ctx = yaml_mapping_get(entry, "context");
        const char *c = get_scalar(ctx, "cluster"), *u = get_scalar(ctx, "user");
        return c && u && strcmp(c, cl->cluster_entry_name) == 0 && strcmp(u, cl->user_entry_name) == 0;
}

static int check_own_file(const YamlNode *root, const ClusterConfig *cl, char *error, size_t error_size) {
        static const struct {
                const char *list;
                size_t name_offset;
        } lists[] = {
                { "clusters", offsetof(ClusterConfig, cluster_entry_name) },
                { "users", offsetof(ClusterConfig, user_entry_name) },
                { "contexts", offsetof(ClusterConfig, context_name) },
        };
        for (size_t l = 0; l < ELEMENTSOF(lists); l++) {
                const YamlNode *seq = yaml_mapping_get(root, lists[l].list);
                const char *ours = *(char *const *) ((const char *) cl + lists[l].name_offset);
                if (!seq || seq->type != YAML_TREE_SEQUENCE)
                        continue;
                for (size_t i = 0; i < seq->n_children; i++) {
                        const char *n = get_scalar(seq->children[i], "name");
                        if (n && strcmp(lists[l].list, "contexts") == 0 && context_of_ours(seq->children[i], cl))
                                continue;
                        if (!n || strcmp(n, ours) != 0)
                                return error_printf(error, error_size, -EEXIST,
                                            "%s holds %s entries of others (%s); it is not overwritten: "
                                            "set merge: true to keep them, or move the file away",
                                            cl->kubeconfig, lists[l].list, n ?: "unnamed");
                }
        }
        return 0;
}

/* The existing content as a tree: NULL when there is none. */
static int parse_existing(const ClusterConfig *cl, const char *existing, size_t existing_size, YamlNode **ret,
                          char *error, size_t error_size) {
        _cleanup_(yaml_node_freep) YamlNode *old = NULL;
        YamlError yerr;
        int r;

        *ret = NULL;
        if (!existing || existing_size == 0)
                return 0;
        r = yaml_tree_parse(existing, existing_size, &old, &yerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_printf(error, error_size, -EBADMSG, "%s:%u:%u: cannot parse the existing file: %s; "
                            "it is left as it is", cl->kubeconfig, yerr.line, yerr.column, yerr.message);
        if (old && old->type != YAML_TREE_MAPPING)
                return error_printf(error, error_size, -EBADMSG,
                            "the existing %s is not a kubeconfig (not a mapping); it is left as it is", cl->kubeconfig);
        *ret = TAKE_PTR(old);
        return 0;
}

/* Puts this cluster's entries into *root, the file's content so far (NULL
 * when there is no file yet): merged in, or, in own-file mode, as the whole
 * new content. *root is left as it was on a refusal (-ENOENT, -EEXIST). */
static int apply_entries(YamlNode **root, const ClusterConfig *cl, const CceKubeconfig *answer, bool *ret_insecure,
                         char *error, size_t error_size) {
        KubeconfigChoice choice;
        int r;

        r = kubeconfig_choose(cl, answer, &choice, error, error_size);
        if (r < 0)
                return r;
        if (*root) {
                r = check_ours(*root, cl, answer, error, error_size);
                if (r >= 0 && !cl->merge)
                        r = check_own_file(*root, cl, error, error_size);
                if (r < 0)
                        return r;
        }

        /* What is there stays, in an own file too: only the fields of our
         * entries that cce-certd owns are set (fill_*()), so a context's
         * namespace, a proxy-url, more contexts and preferences that a
         * person added are kept. */
        if (*root) {
                const char *cur = get_scalar(*root, "current-context");
                bool set = cl->merge ? cl->set_current_context || !cur || !cur[0] :
                        !cur || !find_entry(yaml_mapping_get(*root, "contexts"), cur, NULL);  /* theirs, if one of its contexts */
                if (set && (r = mapping_set_string(*root, "current-context", cl->context_name)) < 0)
                        return r;
        } else {
                _cleanup_(yaml_node_freep) YamlNode *fresh = NULL;
                YamlNode *prefs;
                if ((r = new_mapping(&fresh)) < 0 ||
                    (r = put(fresh, "apiVersion", "v1")) < 0 ||
                    (r = put(fresh, "kind", "Config")) < 0 ||
                    (r = new_mapping(&prefs)) < 0 ||
                    (r = yaml_mapping_append(fresh, "preferences", prefs)) < 0)
                        return r;
                /* A new file's context is current. */
                if ((r = mapping_set_string(fresh, "current-context", cl->context_name)) < 0)
                        return r;
                yaml_node_free(*root);
                *root = TAKE_PTR(fresh);
        }
        r = add_entries(*root, cl, &choice);
        if (r < 0)
                return r;
        if (ret_insecure)
                *ret_insecure = choice.insecure;
        return 0;
}

int kubeconfig_render(const ClusterConfig *cl, const CceKubeconfig *answer,
                      const char *existing, size_t existing_size,
                      char **ret, size_t *ret_size, bool *ret_insecure,
                      char *error, size_t error_size) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        int r;

        r = parse_existing(cl, existing, existing_size, &root, error, error_size);
        if (r < 0)
                return r;
        r = apply_entries(&root, cl, answer, ret_insecure, error, error_size);
        if (r < 0)
                return r;
        return yaml_tree_emit(root, ret, ret_size);
}

static void sequence_remove_at(YamlNode *seq, size_t i) {
        yaml_node_free(seq->children[i]);
        memmove(seq->children + i, seq->children + i + 1, (seq->n_children - i - 1) * sizeof(YamlNode *));
        seq->n_children--;
}

/* Takes cl's entries out of root: its cluster entry, its user entry (a
 * certificate's), every context that joins the two, and a current-context
 * that named one of those. Only when the cluster entry is the one
 * cce-certd wrote for cl's cluster id: otherwise nothing is ours to take
 * (false). */
static bool remove_entries(YamlNode *root, const ClusterConfig *cl, bool *ret_current_gone) {
        YamlNode *clusters = yaml_mapping_get(root, "clusters"), *users = yaml_mapping_get(root, "users");
        YamlNode *contexts = yaml_mapping_get(root, "contexts"), *e;
        size_t i = 0;

        e = find_entry(clusters, cl->cluster_entry_name, &i);
        const char *id = get_scalar(our_extension(yaml_mapping_get(e, "cluster")), "cluster-id");
        if (!id || strcmp(id, cl->cluster_id) != 0)
                return false;
        sequence_remove_at(clusters, i);
        e = find_entry(users, cl->user_entry_name, &i);
        if (e && user_is_certificate_based(yaml_mapping_get(e, "user")))
                sequence_remove_at(users, i);
        const char *current = get_scalar(root, "current-context");
        bool current_gone = false;
        for (i = 0; contexts && contexts->type == YAML_TREE_SEQUENCE && i < contexts->n_children;) {
                if (!context_of_ours(contexts->children[i], cl)) {
                        i++;
                        continue;
                }
                const char *n = get_scalar(contexts->children[i], "name");
                current_gone = current_gone || (n && current && strcmp(n, current) == 0);
                sequence_remove_at(contexts, i);
        }
        if (current_gone)
                mapping_remove(root, "current-context");
        if (ret_current_gone)
                *ret_current_gone = current_gone;
        return true;
}

/* Marks every write still without a result as failed with this error. */
static int fail_rest(KubeconfigWrite *w, size_t n, int r, const char *error) {
        for (size_t i = 0; i < n; i++)
                if (w[i].result == KUBECONFIG_WRITE_PENDING) {
                        w[i].result = r;
                        snprintf(w[i].error, sizeof(w[i].error), "%s", error);
                }
        return r;
}

static EVP_MD *sha256;
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)

static void sha256_free(void) {
        EVP_MD_free(sha256);
}

uint64_t kubeconfig_content_hash(const ClusterConfig *cl, const char *data, size_t size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        unsigned char digest[EVP_MAX_MD_SIZE];
        char settings[1024];
        uint64_t h = 0;

        if (!sha256) {
                sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
                if (!sha256)
                        return 0;
                atexit(sha256_free);
        }
        /* What the rendering of its entries depends on, besides the answer. */
        int n = snprintf(settings, sizeof(settings), "%s%c%s%c%s%c%s%c%s%c%s%c%d%c%s%c%d", cl->name, 0, cl->cluster_id, 0,
                         cl->kubeconfig, 0, cl->context_name, 0, cl->cluster_entry_name, 0, cl->user_entry_name, 0,
                         (int) cl->endpoint, 0, cl->tls_server_name ?: "", 0, (int) cl->merge);
        if (n < 0 || (size_t) n >= sizeof(settings) || !(ctx = EVP_MD_CTX_new()) ||
            EVP_DigestInit_ex(ctx, sha256, NULL) != 1 || EVP_DigestUpdate(ctx, settings, (size_t) n + 1) != 1 ||
            EVP_DigestUpdate(ctx, data, size) != 1 || EVP_DigestFinal_ex(ctx, digest, NULL) != 1)
                return 0;
        memcpy(&h, digest, sizeof(h));
        OPENSSL_cleanse(digest, sizeof(digest));
        return h > KUBECONFIG_NOT_PLAIN ? h : h + 2;  /* never 0 or KUBECONFIG_NOT_PLAIN */
}

/* Whether content, the whole new content of an own file, holds nothing but
 * what cce-certd makes for this cluster: rendering the answer with no file
 * gives the same bytes. */
static bool own_file_plain(const ClusterConfig *cl, const CceKubeconfig *answer, const char *content, size_t size) {
        _cleanup_(yaml_node_freep) YamlNode *fresh = NULL;
        _cleanup_free_wiped_ char *text = NULL;
        size_t text_size = 0;
        char error[256];
        bool insecure;

        if (apply_entries(&fresh, cl, answer, &insecure, error, sizeof(error)) < 0 ||
            yaml_tree_emit(fresh, &text, &text_size) < 0)
                return false;
        return text_size == size && memcmp(text, content, size) == 0;
}

int kubeconfig_update_many(KubeconfigWrite *w, size_t n, bool remove_leftovers, FileIdentity *ret_identity_read) {
        _cleanup_(file_lock_releasep) FileLock *lock = NULL;
        _cleanup_free_wiped_ char *old = NULL, *new = NULL;
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        size_t old_size = 0, new_size = 0, applied = 0;
        const ClusterConfig *first;
        char error[sizeof(w->error)];
        int r;

        if (n == 0)
                return 0;
        first = w[0].cl;
        for (size_t i = 0; i < n; i++) {
                w[i].result = KUBECONFIG_WRITE_PENDING;
                w[i].insecure = false;
                w[i].error[0] = 0;
                w[i].written_plain_hash = 0;
        }
        /* An own file, alone: may skip the parse of a file as it was written. */
        bool own = n == 1 && !first->merge && !w[0].retire;

        r = file_lock_acquire(first->kubeconfig, &lock, error, sizeof(error));
        if (r < 0)
                return fail_rest(w, n, r, error);
        if (remove_leftovers)
                (void) atomic_file_sweep(first->kubeconfig, NULL, 0);

        if (ret_identity_read) {
                struct stat st;
                *ret_identity_read = file_lock_stat(lock, &st) < 0 ? FILE_IDENTITY_NONE : file_identity_from_stat(&st);
        }
        r = file_lock_read(lock, KUBECONFIG_FILE_MAX, &old, &old_size);
        if (r == -EISDIR)
                snprintf(error, sizeof(error), "%s is a directory", first->kubeconfig);
        else if (r < 0 && r != -ENOENT)
                snprintf(error, sizeof(error), "cannot read %s: %s; it is left as it is", first->kubeconfig,
                         r == -EFBIG ? "larger than 4 MiB" : r == -EBADF ? "not a regular file" : strerror(-r));
        if (r < 0 && r != -ENOENT)
                return fail_rest(w, n, r, error);
        /* Still the content last written, which held only this cluster's
         * entries: nothing of it is kept, so it need not be parsed. */
        bool as_written = own && old && w[0].plain_hash > KUBECONFIG_NOT_PLAIN &&
                kubeconfig_content_hash(first, old, old_size) == w[0].plain_hash;
        r = as_written ? 0 : parse_existing(first, old, old_size, &root, error, sizeof(error));
        if (r == -EBADMSG && n == 1 && !first->merge && w[0].replace_damaged)
                r = 0;  /* the daemon's own file, damaged: written whole again */
        if (r < 0)
                return fail_rest(w, n, r, r == -ENOMEM ? "out of memory" : error);

        /* Each cluster's entries in turn, as if written one after the
         * other: one refused does not hold back the others. */
        for (size_t i = 0; i < n; i++) {
                /* An own file's entries of the earlier name are not another's: out first. */
                if (w[i].retire && !w[i].cl->merge && root)
                        (void) remove_entries(root, w[i].retire, NULL);
                r = apply_entries(&root, w[i].cl, w[i].answer, &w[i].insecure, w[i].error, sizeof(w[i].error));
                bool current_gone = false;
                if (r >= 0 && w[i].retire && w[i].cl->merge && remove_entries(root, w[i].retire, &current_gone) &&
                    current_gone)
                        r = mapping_set_string(root, "current-context", w[i].cl->context_name);  /* the same cluster */
                if (r == -ENOMEM)
                        return fail_rest(w, n, r, "out of memory");
                if (r < 0)
                        w[i].result = r;
                else
                        applied++;
        }
        if (applied == 0)
                return 0;

        r = yaml_tree_emit(root, &new, &new_size);
        if (r < 0)
                return fail_rest(w, n, r, "out of memory");
        /* Whether what is written now holds only this cluster's entries:
         * checked by a second rendering when the file had more, until one
         * write found it still has (then not again while the daemon runs). */
        bool plain = own && w[0].result == KUBECONFIG_WRITE_PENDING &&
                (!old || as_written ||
                 (w[0].plain_hash != KUBECONFIG_NOT_PLAIN && own_file_plain(first, w[0].answer, new, new_size)));
        if (old && old_size == new_size && memcmp(old, new, new_size) == 0)
                r = 0;
        else {
                r = file_lock_replace(lock, new, new_size, first->file_mode, first->uid, first->gid,
                                      ATOMIC_FILE_DURABLE | ATOMIC_FILE_SYNC_DIRECTORY_LATER, error, sizeof(error));
                if (r < 0)
                        return fail_rest(w, n, r, error);
                r = 1;
        }
        for (size_t i = 0; i < n; i++)
                if (w[i].result == KUBECONFIG_WRITE_PENDING)
                        w[i].result = r;
        if (own && w[0].result >= 0)
                w[0].written_plain_hash = plain ? kubeconfig_content_hash(first, new, new_size) : KUBECONFIG_NOT_PLAIN;
        return (int) applied;
}

int kubeconfig_update(const ClusterConfig *cl, const CceKubeconfig *answer, bool remove_leftovers, bool *ret_insecure,
                      char *error, size_t error_size) {
        KubeconfigWrite w = { .cl = cl, .answer = answer };

        kubeconfig_update_many(&w, 1, remove_leftovers, NULL);
        if (ret_insecure)
                *ret_insecure = w.insecure;
        if (w.result < 0)
                snprintf(error, error_size, "%s", w.error);
        return w.result;
}

/* ---- removing a cluster's entries --------------------------------------- */

int kubeconfig_render_removal(const ClusterConfig *cl, const char *existing, size_t existing_size,
                              char **ret, size_t *ret_size, char *error, size_t error_size) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        int r;

        *ret = NULL;
        *ret_size = 0;
        r = parse_existing(cl, existing, existing_size, &root, error, error_size);
        if (r < 0)
                return r;
        if (!root)
                return 0;
        /* An own file that holds nothing but this cluster's entries (and
         * contexts of them) goes whole. */
        bool whole = !cl->merge && check_own_file(root, cl, NULL, 0) == 0;
        if (!remove_entries(root, cl, NULL))
                return 0;
        if (whole)
                return KUBECONFIG_REMOVE_FILE;
        r = yaml_tree_emit(root, ret, ret_size);
        return r < 0 ? r : KUBECONFIG_REMOVE_ENTRIES;
}

int kubeconfig_remove(const ClusterConfig *cl, char *error, size_t error_size) {
        _cleanup_(file_lock_releasep) FileLock *lock = NULL;
        _cleanup_free_wiped_ char *old = NULL, *new = NULL;
        size_t old_size = 0, new_size = 0;
        int r;

        r = file_lock_acquire(cl->kubeconfig, &lock, error, error_size);
        if (r < 0)
                return r;
        r = file_lock_read(lock, KUBECONFIG_FILE_MAX, &old, &old_size);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return error_printf(error, error_size, r, "cannot read %s: %s; it is left as it is", cl->kubeconfig,
                                    r == -EFBIG ? "larger than 4 MiB" : r == -EBADF ? "not a regular file" :
                                    r == -EISDIR ? "a directory" : strerror(-r));
        r = kubeconfig_render_removal(cl, old, old_size, &new, &new_size, error, error_size);
        if (r == KUBECONFIG_REMOVE_FILE) {
                r = file_lock_remove(lock, ATOMIC_FILE_DURABLE, error, error_size);
                return r < 0 ? r : KUBECONFIG_REMOVE_FILE;
        }
        if (r == KUBECONFIG_REMOVE_ENTRIES) {
                /* The other clusters' keys stay in it: the mode and owner the
                 * configuration names, as at every write, not those found. */
                r = file_lock_replace(lock, new, new_size, cl->file_mode, cl->uid, cl->gid, ATOMIC_FILE_DURABLE,
                                      error, error_size);
                return r < 0 ? r : KUBECONFIG_REMOVE_ENTRIES;
        }
        return r;
}
