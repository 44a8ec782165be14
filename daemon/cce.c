/* SPDX-License-Identifier: MIT */
/* The clustercert request (where it goes, what it sends) and the strict
 * reading of its answer. Pure: no I/O, no clock. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "cce.h"
#include "json.h"
#include "macro.h"
#include "parse-value.h"
#include "secure-memory.h"

int cce_endpoint_for_region(const char *region, char **ret) {
        const char *domain = strcmp(region, "eu-west-101") == 0 ? "myhuaweicloud.eu" : "myhuaweicloud.com";
        return asprintf(ret, "https://cce.%s.%s", region, domain) < 0 ? -ENOMEM : 0;
}

int cce_clustercert_path(const char *project_id, const char *cluster_id, char **ret) {
        return asprintf(ret, "/api/v3/projects/%s/clusters/%s/clustercert", project_id, cluster_id) < 0 ? -ENOMEM : 0;
}

bool cce_lifetime_whole_days(int64_t lifetime_sec) {
        return lifetime_sec == CERT_LIFETIME_UNLIMITED || lifetime_sec % 86400 == 0;
}

int cce_lifetime_days(int64_t lifetime_sec) {
        if (lifetime_sec == CERT_LIFETIME_UNLIMITED)
                return -1;
        return (int) MAX((lifetime_sec + 86399) / 86400, (int64_t) 1);
}

const char *cce_expire_at(int64_t t, char buf[static CCE_EXPIRE_AT_SIZE]) {
        time_t tt = (time_t) t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm) || strftime(buf, CCE_EXPIRE_AT_SIZE, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm) == 0)
                buf[0] = 0;
        return buf;
}

int cce_clustercert_body(int64_t lifetime_sec, bool whole_days, int64_t now, char **ret) {
        char at[CCE_EXPIRE_AT_SIZE];

        if (whole_days || cce_lifetime_whole_days(lifetime_sec))
                return asprintf(ret, "{\"duration\":%d}", cce_lifetime_days(lifetime_sec)) < 0 ? -ENOMEM : 0;
        return asprintf(ret, "{\"expire_at\":\"%s\"}", cce_expire_at(now + lifetime_sec, at)) < 0 ? -ENOMEM : 0;
}

bool cce_identity_id_valid(const char *id) {
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || n > CCE_IDENTITY_ID_MAX)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_'))
                        return false;
        return true;
}

int cce_revoke_path(const char *project_id, const char *cluster_id, char **ret) {
        return asprintf(ret, "/api/v3/projects/%s/clusters/%s/clustercertrevoke", project_id, cluster_id) < 0 ?
                -ENOMEM : 0;
}

int cce_revoke_body(const CceIdentity *who, char **ret) {
        if (!cce_identity_id_valid(who->id))
                return -EINVAL;
        return asprintf(ret, "{\"%s\":\"%s\"}", who->agency ? "agencyId" : "userId", who->id) < 0 ? -ENOMEM : 0;
}

CceKubeconfig *cce_kubeconfig_free(CceKubeconfig *k) {
        if (!k)
                return NULL;
        for (size_t i = 0; i < k->n_clusters; i++) {
                free(k->clusters[i].name);
                free(k->clusters[i].server);
                free(k->clusters[i].certificate_authority_data);
        }
        for (size_t i = 0; i < k->n_users; i++) {
                free(k->users[i].name);
                free(k->users[i].client_certificate_data);
                free_wiped(k->users[i].client_key_data);
        }
        for (size_t i = 0; i < k->n_contexts; i++) {
                free(k->contexts[i].name);
                free(k->contexts[i].cluster);
                free(k->contexts[i].user);
        }
        free(k->clusters);
        free(k->users);
        free(k->contexts);
        free(k->current_context);
        free(k);
        return NULL;
}

#define FIND(array, n, key)                                             \
        for (size_t i = 0; i < (n); i++)                                \
                if (strcmp((array)[i].name, key) == 0)                  \
                        return &(array)[i];                             \
        return NULL

const CceContextEntry *cce_kubeconfig_context(const CceKubeconfig *k, const char *name) {
        FIND(k->contexts, k->n_contexts, name);
}

const CceClusterEntry *cce_kubeconfig_cluster(const CceKubeconfig *k, const char *name) {
        FIND(k->clusters, k->n_clusters, name);
}

const CceUserEntry *cce_kubeconfig_user(const CceKubeconfig *k, const char *name) {
        FIND(k->users, k->n_users, name);
}

typedef struct Reader {
        ApiError *error;
        bool failed;
} Reader;

__attribute__((format(printf, 2, 3)))
static int bad(Reader *r, const char *format, ...) {
        va_list ap;
        char m[200];

        if (!r->failed) {
                va_start(ap, format);
                vsnprintf(m, sizeof(m), format, ap);
                va_end(ap);
                api_error_set(r->error, API_ERROR_BAD_RESPONSE, "invalid clustercert answer: %s", m);
                r->failed = true;
        }
        return -EINVAL;
}

/* A required (or optional) string field; where names it in messages. */
static int get_string(Reader *r, const JsonNode *obj, const char *key, const char *where, bool required, char **ret) {
        const JsonNode *n = json_get(obj, key);

        if (!n) {
                if (!required)
                        return 0;
                return bad(r, "%s has no %s", where, key);
        }
        if (n->type != JSON_STRING)
                return bad(r, "%s.%s is %s, not a string", where, key, json_type_name(n->type));
        if (n->length == 0)
                return bad(r, "%s.%s is empty", where, key);
        if (n->length > CCE_FIELD_MAX)
                return bad(r, "%s.%s is longer than %d bytes", where, key, CCE_FIELD_MAX);
        if (memchr(n->string, 0, n->length))
                return bad(r, "%s.%s contains a NUL character", where, key);
        *ret = strdup(n->string);
        return *ret ? 0 : -ENOMEM;
}

static int check_base64(Reader *r, const char *value, const char *where, const char *key) {
        size_t size;

        if (!value)
                return 0;
        /* Checked, not decoded: the certificates and key are decoded once,
         * where they are checked (cert_check_answer()). */
        if (base64_check(value, strlen(value), &size) < 0)
                return bad(r, "%s.%s is not valid base64", where, key);
        if (size == 0)
                return bad(r, "%s.%s is empty", where, key);
        return 0;
}

static int get_array(Reader *r, const JsonNode *root, const char *key, const JsonNode **ret) {
        const JsonNode *n = json_get(root, key);

        if (!n)
                return bad(r, "no %s", key);
        if (n->type != JSON_ARRAY)
                return bad(r, "%s is %s, not an array", key, json_type_name(n->type));
        if (n->n_children == 0)
                return bad(r, "%s is empty", key);
        if (n->n_children > CCE_ENTRIES_MAX)
                return bad(r, "%s has more than %d entries", key, CCE_ENTRIES_MAX);
        for (size_t i = 0; i < n->n_children; i++)
                if (n->children[i]->type != JSON_OBJECT)
                        return bad(r, "%s[%zu] is %s, not an object", key, i, json_type_name(n->children[i]->type));
        *ret = n;
        return 0;
}

static int get_object(Reader *r, const JsonNode *obj, const char *key, const char *where, const JsonNode **ret) {
        const JsonNode *n = json_get(obj, key);
        if (!n)
                return bad(r, "%s has no %s", where, key);
        if (n->type != JSON_OBJECT)
                return bad(r, "%s.%s is %s, not an object", where, key, json_type_name(n->type));
        *ret = n;
        return 0;
}

static int read_clusters(Reader *r, const JsonNode *root, CceKubeconfig *k) {
        const JsonNode *a;
        int q;

        if ((q = get_array(r, root, "clusters", &a)) < 0)
                return q;
        k->clusters = calloc(a->n_children, sizeof(CceClusterEntry));
        if (!k->clusters)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_children; i++) {
                CceClusterEntry *c = &k->clusters[k->n_clusters++];
                const JsonNode *e = a->children[i], *cl, *skip;
                char where[64];

                snprintf(where, sizeof(where), "clusters[%zu]", i);
                if ((q = get_string(r, e, "name", where, true, &c->name)) < 0 ||
                    (q = get_object(r, e, "cluster", where, &cl)) < 0)
                        return q;
                snprintf(where, sizeof(where), "clusters[%zu].cluster", i);
                if ((q = get_string(r, cl, "server", where, true, &c->server)) < 0 ||
                    (q = get_string(r, cl, "certificate-authority-data", where, false, &c->certificate_authority_data)) < 0 ||
                    (q = check_base64(r, c->certificate_authority_data, where, "certificate-authority-data")) < 0)
                        return q;
                if (strncmp(c->server, "https://", 8) != 0 || c->server[8] == 0 || strpbrk(c->server, " \t\r\n"))
                        return bad(r, "%s.server is not an https:// URL", where);
                skip = json_get(cl, "insecure-skip-tls-verify");
                if (skip && skip->type != JSON_BOOLEAN)
                        return bad(r, "%s.insecure-skip-tls-verify is %s, not a boolean", where, json_type_name(skip->type));
                c->insecure_skip_tls_verify = skip && skip->boolean;
                for (size_t j = 0; j + 1 < k->n_clusters; j++)
                        if (strcmp(k->clusters[j].name, c->name) == 0)
                                return bad(r, "two clusters are named %s", c->name);
        }
        return 0;
}

static int read_users(Reader *r, const JsonNode *root, CceKubeconfig *k) {
        const JsonNode *a;
        int q;

        if ((q = get_array(r, root, "users", &a)) < 0)
                return q;
        k->users = calloc(a->n_children, sizeof(CceUserEntry));
        if (!k->users)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_children; i++) {
                CceUserEntry *u = &k->users[k->n_users++];
                const JsonNode *e = a->children[i], *us;
                char where[64];

                snprintf(where, sizeof(where), "users[%zu]", i);
                if ((q = get_string(r, e, "name", where, true, &u->name)) < 0 ||
                    (q = get_object(r, e, "user", where, &us)) < 0)
                        return q;
                snprintf(where, sizeof(where), "users[%zu].user", i);
                if ((q = get_string(r, us, "client-certificate-data", where, true, &u->client_certificate_data)) < 0 ||
                    (q = get_string(r, us, "client-key-data", where, true, &u->client_key_data)) < 0 ||
                    (q = check_base64(r, u->client_certificate_data, where, "client-certificate-data")) < 0 ||
                    (q = check_base64(r, u->client_key_data, where, "client-key-data")) < 0)
                        return q;
                for (size_t j = 0; j + 1 < k->n_users; j++)
                        if (strcmp(k->users[j].name, u->name) == 0)
                                return bad(r, "two users are named %s", u->name);
        }
        return 0;
}

static int read_contexts(Reader *r, const JsonNode *root, CceKubeconfig *k) {
        const JsonNode *a;
        int q;

        if ((q = get_array(r, root, "contexts", &a)) < 0)
                return q;
        k->contexts = calloc(a->n_children, sizeof(CceContextEntry));
        if (!k->contexts)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_children; i++) {
                CceContextEntry *c = &k->contexts[k->n_contexts++];
                const JsonNode *e = a->children[i], *ctx;
                char where[64];

                snprintf(where, sizeof(where), "contexts[%zu]", i);
                if ((q = get_string(r, e, "name", where, true, &c->name)) < 0 ||
                    (q = get_object(r, e, "context", where, &ctx)) < 0)
                        return q;
                snprintf(where, sizeof(where), "contexts[%zu].context", i);
                if ((q = get_string(r, ctx, "cluster", where, true, &c->cluster)) < 0 ||
                    (q = get_string(r, ctx, "user", where, true, &c->user)) < 0)
                        return q;
                if (!cce_kubeconfig_cluster(k, c->cluster))
                        return bad(r, "%s.cluster names no cluster", where);
                if (!cce_kubeconfig_user(k, c->user))
                        return bad(r, "%s.user names no user", where);
                for (size_t j = 0; j + 1 < k->n_contexts; j++)
                        if (strcmp(k->contexts[j].name, c->name) == 0)
                                return bad(r, "two contexts are named %s", c->name);
        }
        return 0;
}

int cce_parse_kubeconfig(const char *body, size_t size, CceKubeconfig **ret, ApiError *e) {
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        _cleanup_(cce_kubeconfig_freep) CceKubeconfig *k = NULL;
        Reader r = { .error = e };
        const char *s;
        char why[128];
        int q;

        if (size > CCE_ANSWER_MAX)
                return bad(&r, "larger than %d bytes", CCE_ANSWER_MAX);
        q = json_parse(body, size, &root, why, sizeof(why));
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return bad(&r, "%s", why);
        if (root->type != JSON_OBJECT)
                return bad(&r, "the answer is %s, not an object", json_type_name(root->type));

        s = json_get_string(root, "kind");
        if (!s || strcmp(s, "Config") != 0)
                return bad(&r, "kind is not Config");
        s = json_get_string(root, "apiVersion");
        if (!s || strcmp(s, "v1") != 0)
                return bad(&r, "apiVersion is not v1");
        const JsonNode *pref = json_get(root, "preferences");
        if (pref && pref->type != JSON_OBJECT)
                return bad(&r, "preferences is %s, not an object", json_type_name(pref->type));

        k = calloc(1, sizeof(CceKubeconfig));
        if (!k)
                return -ENOMEM;
        if ((q = read_clusters(&r, root, k)) < 0 ||
            (q = read_users(&r, root, k)) < 0 ||
            (q = read_contexts(&r, root, k)) < 0 ||
            (q = get_string(&r, root, "current-context", "the answer", true, &k->current_context)) < 0)
                return q;
        if (!cce_kubeconfig_context(k, k->current_context))
                return bad(&r, "current-context names no context");

        *ret = TAKE_PTR(k);
        return 0;
}

int cce_check_certificates(const CceKubeconfig *k, int64_t now, CertInfo *info, ApiError *e) {
        const CceContextEntry *current = cce_kubeconfig_context(k, k->current_context);
        const char *ca = cce_kubeconfig_cluster(k, current->cluster)->certificate_authority_data;
        char why[256];
        int r;

        for (size_t i = 0; !ca && i < k->n_clusters; i++)
                ca = k->clusters[i].certificate_authority_data;

        for (size_t i = 0; i < k->n_users; i++) {
                CertInfo this;
                r = cert_check_answer(k->users[i].client_certificate_data, k->users[i].client_key_data, ca,
                                      now, &this, why, sizeof(why));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        api_error_set(e, API_ERROR_BAD_RESPONSE, "unusable clustercert answer: %s", why);
                        return r;
                }
                if (strcmp(k->users[i].name, current->user) == 0)
                        *info = this;
        }
        for (size_t i = 0; i < k->n_clusters; i++) {
                const char *data = k->clusters[i].certificate_authority_data;
                CertInfo unused;
                bool checked = data && ca && strcmp(data, ca) == 0;
                /* The entries usually share one CA: each is parsed once (a parse costs ~0.1 ms). */
                for (size_t j = 0; data && !checked && j < i; j++)
                        checked = k->clusters[j].certificate_authority_data &&
                                strcmp(data, k->clusters[j].certificate_authority_data) == 0;
                if (data && !checked && cert_info_from_base64(data, &unused, why, sizeof(why)) < 0) {
                        api_error_set(e, API_ERROR_BAD_RESPONSE, "unusable clustercert answer: the CA data of %s: %s",
                                      k->clusters[i].name, why);
                        return -EBADMSG;
                }
        }
        return 0;
}
