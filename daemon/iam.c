/* SPDX-License-Identifier: MIT */
/* Credentials for one request, of each of the five kinds: secret files read
 * at each use, ECS metadata keys and IAM tokens fetched and cached. Never
 * logs a secret. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/sha.h>

#include "iam.h"
#include "json.h"
#include "log.h"
#include "macro.h"
#include "parse-value.h"
#include "secret.h"
#include "secure-memory.h"
#include "time-util.h"

#define IAM_REFRESH_MARGIN_MAX_SEC (60 * 60)
#define ECS_REFRESH_MARGIN_MAX_SEC (40 * 60)
#define METADATA_TOKEN_TTL "21600"

typedef struct Cached Cached;

struct IamWaiter {
        Cached *cached;
        IamCallback cb;
        void *userdata;
        IamWaiter *prev, *next;
};

/* One thing worth caching: an IAM token for a project (and endpoint), or
 * the ECS metadata keys (project_id NULL). */
struct Cached {
        IamProvider *provider;
        char *project_id;
        char *endpoint;
        char *ca_file;

        char *token;                    /* IAM token */
        char *access_key, *secret_key, *security_token;  /* metadata keys */
        int64_t fetched_at, expires_at;
        bool valid;

        HttpRequest *request;           /* a fetch in flight */
        char *metadata_token;           /* first step of a metadata fetch */
        IamWaiter *waiters;

        Cached *next;
};

struct IamProvider {
        HttpClient *http;
        const Credential *cred;
        Cached *cached;
};

void auth_clear(Auth *a) {
        free_wiped(a->access_key);
        free_wiped(a->secret_key);
        free_wiped(a->security_token);
        free_wiped(a->token);
        *a = (Auth) {};
}

int iam_endpoint_for_region(const char *region, char **ret) {
        const char *domain = strcmp(region, "eu-west-101") == 0 ? "myhuaweicloud.eu" : "myhuaweicloud.com";
        return asprintf(ret, "https://iam.%s.%s", region, domain) < 0 ? -ENOMEM : 0;
}

static void cached_forget(Cached *c) {
        c->token = free_wiped(c->token);
        c->access_key = free_wiped(c->access_key);
        c->secret_key = free_wiped(c->secret_key);
        c->security_token = free_wiped(c->security_token);
        c->valid = false;
}

static void cached_free(Cached *c) {
        while (c->waiters)
                iam_waiter_cancel(c->waiters);
        http_request_cancel(c->request);
        cached_forget(c);
        free_wiped(c->metadata_token);
        free(c->project_id);
        free(c->endpoint);
        free(c->ca_file);
        free(c);
}

int iam_provider_new(HttpClient *http, const Credential *cred, IamProvider **ret) {
        IamProvider *p = calloc(1, sizeof(IamProvider));
        if (!p)
                return -ENOMEM;
        p->http = http;
        p->cred = cred;
        *ret = p;
        return 0;
}

IamProvider *iam_provider_free(IamProvider *p) {
        if (!p)
                return NULL;
        while (p->cached) {
                Cached *c = p->cached;
                p->cached = c->next;
                cached_free(c);
        }
        free(p);
        return NULL;
}

const Credential *iam_provider_credential(const IamProvider *p) {
        return p->cred;
}

void iam_provider_set_credential(IamProvider *p, const Credential *cred) {
        p->cred = cred;
}

void iam_waiter_cancel(IamWaiter *w) {
        if (!w)
                return;
        if (w->prev)
                w->prev->next = w->next;
        else
                w->cached->waiters = w->next;
        if (w->next)
                w->next->prev = w->prev;
        free(w);
}

static int read_secret(const SecretRef *ref, const char *what, const Credential *cred, char **ret, ApiError *error) {
        _cleanup_free_ char *path = NULL;
        int r = secret_read(ref, ret, &path);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                api_error_set(error, API_ERROR_AUTHENTICATION, "cannot read %s of credentials '%s' from %s: %s",
                              what, cred->name, path ?: ref->ref, secret_strerror(r));
        return r;
}

/* Kinds read from files at each use. */
static int acquire_from_files(IamProvider *p, Auth *auth, ApiError *error) {
        const Credential *c = p->cred;
        Auth a = {};
        int r;

        if (c->kind == CREDENTIAL_TOKEN) {
                a.kind = AUTH_TOKEN;
                r = read_secret(&c->token, "token", c, &a.token, error);
        } else {
                a.kind = AUTH_AKSK;
                r = read_secret(&c->access_key, "access-key", c, &a.access_key, error);
                if (r >= 0)
                        r = read_secret(&c->secret_key, "secret-key", c, &a.secret_key, error);
                if (r >= 0 && c->kind == CREDENTIAL_TEMPORARY_AKSK)
                        r = read_secret(&c->security_token, "security-token", c, &a.security_token, error);
        }
        if (r < 0) {
                auth_clear(&a);
                return r;
        }
        *auth = a;
        return 1;
}

static bool cached_fresh(const Cached *c, int64_t now) {
        int64_t lifetime, margin, cap;

        if (!c->valid)
                return false;
        cap = c->project_id ? IAM_REFRESH_MARGIN_MAX_SEC : ECS_REFRESH_MARGIN_MAX_SEC;
        lifetime = c->expires_at - c->fetched_at;
        margin = MIN(cap, MAX(lifetime, (int64_t) 0) / 4);
        return now < c->expires_at - margin;
}

static int auth_from_cached(const Cached *c, Auth *auth) {
        Auth a = {};

        if (c->token) {
                a.kind = AUTH_TOKEN;
                a.token = strdup(c->token);
                if (!a.token)
                        return -ENOMEM;
        } else {
                a.kind = AUTH_AKSK;
                a.access_key = strdup(c->access_key);
                a.secret_key = strdup(c->secret_key);
                a.security_token = strdup(c->security_token);
                if (!a.access_key || !a.secret_key || !a.security_token) {
                        auth_clear(&a);
                        return -ENOMEM;
                }
        }
        *auth = a;
        return 0;
}

/* Ends a fetch: every waiter hears the outcome. */
static void fetch_done(Cached *c, const ApiError *error) {
        IamWaiter *list = TAKE_PTR(c->waiters);

        c->request = NULL;
        c->metadata_token = free_wiped(c->metadata_token);

        while (list) {
                IamWaiter *w = list;
                Auth a = {};
                ApiError oom;

                list = w->next;
                if (list)
                        list->prev = NULL;
                if (error)
                        w->cb(NULL, error, w->userdata);
                else if (auth_from_cached(c, &a) < 0) {
                        api_error_set(&oom, API_ERROR_TRANSIENT, "out of memory");
                        w->cb(NULL, &oom, w->userdata);
                } else
                        w->cb(&a, NULL, w->userdata);
                auth_clear(&a);
                free(w);
        }
}

static void fetch_failed_http(Cached *c, const HttpResponse *resp, const char *what) {
        ApiError e;

        if (resp->status == 0)
                api_error_set(&e, API_ERROR_TRANSIENT, "%s: %s", what, resp->error);
        else if (resp->body_too_large || resp->headers_too_large)
                api_error_set(&e, API_ERROR_BAD_RESPONSE, "%s: answer too large", what);
        else {
                api_error_from_response(&e, resp->status, resp->body, resp->body_size,
                                        resp->request_id, resp->retry_after, now_sec());
                char m[sizeof(e.message) + 128];
                snprintf(m, sizeof(m), "%s: %s", what, e.message);
                memcpy(e.message, m, sizeof(e.message) - 1);
                e.message[sizeof(e.message) - 1] = 0;
        }
        fetch_done(c, &e);
}

/* ---- IAM password tokens ------------------------------------------------ */

static void on_iam_token(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        Cached *c = userdata;
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        ApiError e;
        char why[128];
        int64_t expires;

        c->request = NULL;
        if (resp->status != 201 && resp->status != 200)
                return fetch_failed_http(c, resp, "IAM token request");

        const char *expires_at = NULL;
        if (json_parse(resp->body, resp->body_size, &root, why, sizeof(why)) >= 0)
                expires_at = json_get_string(json_get(root, "token"), "expires_at");
        if (!resp->subject_token || !resp->subject_token[0] || strpbrk(resp->subject_token, " \t") ||
            !expires_at || parse_iso8601_utc(expires_at, &expires) < 0) {
                api_error_set(&e, API_ERROR_BAD_RESPONSE,
                              "IAM token request: the answer has no usable X-Subject-Token or token.expires_at");
                e.http_status = resp->status;
                return fetch_done(c, &e);
        }
        cached_forget(c);
        c->token = strdup(resp->subject_token);
        if (!c->token) {
                api_error_set(&e, API_ERROR_TRANSIENT, "out of memory");
                return fetch_done(c, &e);
        }
        c->fetched_at = now_sec();
        c->expires_at = expires;
        c->valid = true;
        log_debug("Obtained an IAM token for credentials '%s', project %s, valid until %s.",
                  c->provider->cred->name, c->project_id, expires_at);
        fetch_done(c, NULL);
}

static int iam_token_body(const Credential *cred, const char *project_id, char **ret, ApiError *error) {
        _cleanup_free_wiped_ char *password = NULL, *qp = NULL;
        _cleanup_free_ char *qd = NULL, *qu = NULL, *qproj = NULL;
        int r;

        r = read_secret(&cred->password, "password", cred, &password, error);
        if (r < 0)
                return r;
        if (json_quote(cred->iam_domain, &qd) < 0 || json_quote(cred->iam_user, &qu) < 0 ||
            json_quote(password, &qp) < 0 || json_quote(project_id, &qproj) < 0)
                return -ENOMEM;

        /* Built without realloc, so no copy of the password is left behind. */
        static const char *const parts[] = {
                "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"domain\":{\"name\":",
                "},\"name\":", ",\"password\":", "}}},\"scope\":{\"project\":{\"id\":", "}}}}",
        };
        const char *values[] = { qd, qu, qp, qproj };
        size_t n = 1;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                n += strlen(parts[i]) + (i < ELEMENTSOF(values) ? strlen(values[i]) : 0);
        char *body = malloc(n), *p = body;
        if (!body)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                p = stpcpy(p, parts[i]);
                if (i < ELEMENTSOF(values))
                        p = stpcpy(p, values[i]);
        }
        *ret = body;
        return 0;
}

static int start_iam_fetch(Cached *c, ApiError *error) {
        IamProvider *p = c->provider;
        _cleanup_free_wiped_ char *body = NULL;
        _cleanup_free_ char *url = NULL;
        HttpRequest *req;
        int r;

        r = iam_token_body(p->cred, c->project_id, &body, error);
        if (r < 0)
                return r;
        if (asprintf(&url, "%s/v3/auth/tokens", c->endpoint) < 0)
                return -ENOMEM;
        r = http_request_new(p->http, "POST", url, &req);
        if (r < 0)
                return r;
        if ((r = http_request_add_header(req, "Content-Type", "application/json;charset=utf8")) < 0 ||
            (r = http_request_set_body(req, body, strlen(body))) < 0 ||
            (c->ca_file && (r = http_request_set_ca_file(req, c->ca_file)) < 0) ||
            (r = http_request_start(req, on_iam_token, c)) < 0) {
                http_request_cancel(req);
                return r;
        }
        c->request = req;
        return 0;
}

/* ---- ECS metadata ------------------------------------------------------- */

static int start_metadata_get(Cached *c);

static void on_metadata_key(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        Cached *c = userdata;
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        ApiError e;
        char why[128];
        int64_t expires;

        c->request = NULL;
        if (resp->status != 200)
                return fetch_failed_http(c, resp, "ECS metadata security key request");

        const JsonNode *cred = NULL;
        if (json_parse(resp->body, resp->body_size, &root, why, sizeof(why)) >= 0)
                cred = json_get(root, "credential");
        const char *ak = json_get_string(cred, "access"), *sk = json_get_string(cred, "secret");
        const char *st = json_get_string(cred, "securitytoken"), *exp = json_get_string(cred, "expires_at");
        if (!ak || !sk || !st || !exp || !ak[0] || !sk[0] || !st[0] || parse_iso8601_utc(exp, &expires) < 0) {
                api_error_set(&e, API_ERROR_BAD_RESPONSE,
                              "ECS metadata security key request: the answer lacks access, secret, securitytoken or expires_at");
                return fetch_done(c, &e);
        }
        cached_forget(c);
        c->access_key = strdup(ak);
        c->secret_key = strdup(sk);
        c->security_token = strdup(st);
        if (!c->access_key || !c->secret_key || !c->security_token) {
                cached_forget(c);
                api_error_set(&e, API_ERROR_TRANSIENT, "out of memory");
                return fetch_done(c, &e);
        }
        c->fetched_at = now_sec();
        c->expires_at = expires;
        c->valid = true;
        log_debug("Obtained temporary keys from the ECS metadata service for credentials '%s', valid until %s.",
                  c->provider->cred->name, exp);
        fetch_done(c, NULL);
}

static void on_metadata_token(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        Cached *c = userdata;
        ApiError e;

        c->request = NULL;
        if (resp->status == 0)
                return fetch_failed_http(c, resp, "ECS metadata token request");
        /* The token step is optional: without one, ask for the keys anyway. */
        if (resp->status == 200 && resp->body_size > 0 && resp->body_size < 1024 &&
            !strpbrk(resp->body, "\r\n \t")) {
                c->metadata_token = strdup(resp->body);
                if (!c->metadata_token) {
                        api_error_set(&e, API_ERROR_TRANSIENT, "out of memory");
                        return fetch_done(c, &e);
                }
        }
        if (start_metadata_get(c) < 0) {
                api_error_set(&e, API_ERROR_TRANSIENT, "cannot start the ECS metadata request");
                fetch_done(c, &e);
        }
}

static int metadata_request(Cached *c, const char *method, const char *path, HttpDone done) {
        _cleanup_free_ char *url = NULL;
        HttpRequest *req;
        int r;

        if (asprintf(&url, "%s%s", c->endpoint, path) < 0)
                return -ENOMEM;
        r = http_request_new(c->provider->http, method, url, &req);
        if (r < 0)
                return r;
        http_request_allow_http(req);
        if (strcmp(method, "PUT") == 0)
                r = http_request_add_header(req, "X-Metadata-Token-Ttl-Seconds", METADATA_TOKEN_TTL);
        else if (c->metadata_token)
                r = http_request_add_header(req, "X-Metadata-Token", c->metadata_token);
        if (r >= 0)
                r = http_request_start(req, done, c);
        if (r < 0) {
                http_request_cancel(req);
                return r;
        }
        c->request = req;
        return 0;
}

static int start_metadata_get(Cached *c) {
        return metadata_request(c, "GET", "/openstack/latest/securitykey", on_metadata_key);
}

static int start_metadata_fetch(Cached *c) {
        return metadata_request(c, "PUT", "/meta-data/latest/api/token", on_metadata_token);
}

/* ---- acquire ------------------------------------------------------------ */

static Cached *find_cached(IamProvider *p, const char *project_id, const char *endpoint) {
        for (Cached *c = p->cached; c; c = c->next)
                if ((!project_id || strcmp(c->project_id, project_id) == 0) && strcmp(c->endpoint, endpoint) == 0)
                        return c;
        return NULL;
}

static int get_cached(IamProvider *p, const char *project_id, const char *endpoint, const char *ca_file, Cached **ret) {
        Cached *c = find_cached(p, project_id, endpoint);

        if (!c) {
                c = calloc(1, sizeof(Cached));
                if (!c)
                        return -ENOMEM;
                c->provider = p;
                c->project_id = project_id ? strdup(project_id) : NULL;
                c->endpoint = strdup(endpoint);
                c->ca_file = ca_file ? strdup(ca_file) : NULL;
                if ((project_id && !c->project_id) || !c->endpoint || (ca_file && !c->ca_file)) {
                        cached_free(c);
                        return -ENOMEM;
                }
                c->next = p->cached;
                p->cached = c;
        }
        *ret = c;
        return 0;
}

int iam_provider_acquire(IamProvider *p, const char *project_id, const char *iam_endpoint, const char *ca_file,
                         Auth *auth, ApiError *error,
                         IamCallback cb, void *userdata, IamWaiter **ret_waiter) {
        const Credential *cred = p->cred;
        Cached *c;
        int r;

        switch (cred->kind) {
        case CREDENTIAL_AKSK:
        case CREDENTIAL_TEMPORARY_AKSK:
        case CREDENTIAL_TOKEN:
                return acquire_from_files(p, auth, error);

        case CREDENTIAL_IAM_PASSWORD:
                assert(project_id && iam_endpoint);
                r = get_cached(p, project_id, iam_endpoint, ca_file, &c);
                break;

        case CREDENTIAL_ECS_METADATA:
                r = get_cached(p, NULL, cred->metadata_endpoint ?: ECS_METADATA_ENDPOINT, NULL, &c);
                break;

        default:
                api_error_set(error, API_ERROR_AUTHENTICATION, "credentials '%s' have no kind", cred->name);
                return -EINVAL;
        }
        if (r < 0)
                return r;

        if (cached_fresh(c, now_sec())) {
                r = auth_from_cached(c, auth);
                return r < 0 ? r : 1;
        }

        if (!c->request) {
                r = cred->kind == CREDENTIAL_IAM_PASSWORD ? start_iam_fetch(c, error) : start_metadata_fetch(c);
                if (r < 0) {
                        if (r == -ENOMEM || error->klass == API_ERROR_NONE)
                                api_error_set(error, API_ERROR_TRANSIENT, "cannot start a request for credentials '%s': %s",
                                              cred->name, strerror(-r));
                        return r;
                }
        }

        IamWaiter *w = calloc(1, sizeof(IamWaiter));
        if (!w)
                return -ENOMEM;
        w->cached = c;
        w->cb = cb;
        w->userdata = userdata;
        w->next = c->waiters;
        if (w->next)
                w->next->prev = w;
        c->waiters = w;
        if (ret_waiter)
                *ret_waiter = w;
        return 0;
}

bool iam_provider_invalidate(IamProvider *p, const char *project_id, const Auth *used) {
        if (p->cred->kind != CREDENTIAL_IAM_PASSWORD && p->cred->kind != CREDENTIAL_ECS_METADATA)
                return false;

        for (Cached *c = p->cached; c; c = c->next) {
                if (c->project_id && project_id && strcmp(c->project_id, project_id) != 0)
                        continue;
                if (!c->valid)
                        continue;
                if ((c->token && used->token && strcmp(c->token, used->token) == 0) ||
                    (c->access_key && used->access_key && strcmp(c->access_key, used->access_key) == 0))
                        cached_forget(c);
        }
        return true;
}

void iam_credential_identity(const Credential *cred, char ret[static IAM_IDENTITY_SIZE]) {
        _cleanup_free_wiped_ char *secret = NULL, *text = NULL;
        unsigned char md[SHA256_DIGEST_LENGTH];
        int r = -EINVAL;

        switch (cred->kind) {
        case CREDENTIAL_AKSK:
        case CREDENTIAL_TEMPORARY_AKSK:
                r = secret_read(&cred->access_key, &secret, NULL);
                r = r < 0 ? r : asprintf(&text, "access-key %s", secret);
                break;
        case CREDENTIAL_TOKEN:
                r = secret_read(&cred->token, &secret, NULL);
                r = r < 0 ? r : asprintf(&text, "token %s", secret);
                break;
        case CREDENTIAL_IAM_PASSWORD:
                r = asprintf(&text, "iam-user %s %s", cred->iam_domain ?: "", cred->iam_user ?: "");
                break;
        case CREDENTIAL_ECS_METADATA:
                r = asprintf(&text, "ecs-metadata %s", cred->metadata_endpoint ?: "");
                break;
        default:
                break;
        }
        if (r < 0)
                text = free_wiped(text);  /* the name alone */
        const char *what = text ?: cred->name;
        SHA256((const unsigned char *) what, strlen(what), md);
        for (size_t i = 0; i < sizeof(md); i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
}
