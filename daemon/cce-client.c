/* SPDX-License-Identifier: MIT */
/* The CCE calls on the event loop (clustercert, ListClusters, ShowCluster,
 * RevokeKubernetesClusterCert):
 * credentials, signing, the request, and the validated answer or a
 * classified error. Writes no file. */

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cce-client.h"
#include "iam.h"
#include "log.h"
#include "macro.h"
#include "parse-value.h"
#include "secure-memory.h"
#include "signer.h"
#include "time-util.h"

typedef struct ProviderEntry {
        const Credential *cred;
        IamProvider *provider;
} ProviderEntry;

struct CceClient {
        HttpClient *http;
        ProviderEntry *providers;
        size_t n_providers;
        CceCall *calls;         /* in flight, for cleanup */
};

typedef enum CceCallKind {
        CALL_CLUSTERCERT,
        CALL_LIST_CLUSTERS,
        CALL_SHOW_CLUSTER,
        CALL_REVOKE,
} CceCallKind;

struct CceCall {
        CceClient *client;
        CceCallKind kind;
        const ClusterConfig *cluster;
        char *cluster_id;               /* ShowCluster's; the cluster's own otherwise */
        CceIdentity revoke;             /* RevokeKubernetesClusterCert's */
        bool whole_days;                /* clustercert: duration in days, never expire_at */
        bool asked_expire_at;           /* clustercert: the request sent expire_at */
        ClusterListReader *reader;      /* ListClusters: the answer, read as it arrives */
        IamProvider *provider;
        CceCallDone done;
        void *userdata;
        IamWaiter *waiter;
        HttpRequest *request;
        unsigned attempts;
        char *redact[3];        /* the credentials used, never to be shown: AK, security token, token */
        CceCall *prev, *next;
};

static bool credential_equal(const Credential *a, const Credential *b) {
#define SAME(x) ((!a->x && !b->x) || (a->x && b->x && strcmp(a->x, b->x) == 0))
#define SAME_REF(x) (a->x.source == b->x.source && SAME(x.ref))
        return strcmp(a->name, b->name) == 0 && a->kind == b->kind &&
                SAME_REF(access_key) && SAME_REF(secret_key) && SAME_REF(security_token) &&
                SAME(metadata_endpoint) && SAME(iam_domain) && SAME(iam_user) &&
                SAME_REF(password) && SAME_REF(token);
#undef SAME_REF
#undef SAME
}

int cce_client_new(HttpClient *http, CceClient **ret) {
        CceClient *c = calloc(1, sizeof(CceClient));
        if (!c)
                return -ENOMEM;
        c->http = http;
        *ret = c;
        return 0;
}

static void call_free(CceCall *call) {
        CceClient *c = call->client;

        iam_waiter_cancel(call->waiter);
        http_request_cancel(call->request);
        cluster_list_reader_free(call->reader);
        free(call->cluster_id);
        for (size_t i = 0; i < ELEMENTSOF(call->redact); i++)
                free_wiped(call->redact[i]);
        if (call->prev)
                call->prev->next = call->next;
        else
                c->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        free(call);
}

CceClient *cce_client_free(CceClient *c) {
        if (!c)
                return NULL;
        while (c->calls)
                call_free(c->calls);
        for (size_t i = 0; i < c->n_providers; i++)
                iam_provider_free(c->providers[i].provider);
        free(c->providers);
        free(c);
        return NULL;
}

int cce_client_set_config(CceClient *c, const Config *config) {
        ProviderEntry *n = calloc(MAX(config->n_credentials, 1u), sizeof(ProviderEntry));
        int r;

        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < config->n_credentials; i++) {
                const Credential *cred = &config->credentials[i];
                n[i].cred = cred;
                for (size_t j = 0; j < c->n_providers; j++)
                        if (c->providers[j].provider && credential_equal(c->providers[j].cred, cred)) {
                                /* Keep the cache; the provider now refers to the new copy. */
                                n[i].provider = TAKE_PTR(c->providers[j].provider);
                                iam_provider_set_credential(n[i].provider, cred);
                                break;
                        }
                if (!n[i].provider) {
                        r = iam_provider_new(c->http, cred, &n[i].provider);
                        if (r < 0) {
                                for (size_t k = 0; k < i; k++)
                                        iam_provider_free(n[k].provider);
                                free(n);
                                return r;
                        }
                }
        }
        /* Calls in flight hold the providers they use: cancel those going away. */
        for (size_t j = 0; j < c->n_providers; j++)
                if (c->providers[j].provider) {
                        for (CceCall *call = c->calls, *next; call; call = next) {
                                next = call->next;
                                if (call->provider == c->providers[j].provider)
                                        call_free(call);
                        }
                        iam_provider_free(c->providers[j].provider);
                }
        free(c->providers);
        c->providers = n;
        c->n_providers = config->n_credentials;
        return 0;
}

int cce_url_host(const char *url, char **ret_host, const char **ret_path) {
        const char *h, *end;

        if (strncmp(url, "https://", 8) == 0)
                h = url + 8;
        else if (strncmp(url, "http://", 7) == 0)
                h = url + 7;
        else
                return -EINVAL;
        end = h + strcspn(h, "/");
        if (end == h)
                return -EINVAL;
        size_t n = (size_t) (end - h);
        if (strncmp(url, "https://", 8) == 0 && n > 4 && memcmp(end - 4, ":443", 4) == 0)
                n -= 4;
        *ret_host = strndup(h, n);
        if (!*ret_host)
                return -ENOMEM;
        if (ret_path)
                *ret_path = end;
        return 0;
}

static void sdk_date(char buf[static 17]) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void finish(CceCall *call, CceResult *result) {
        for (size_t i = 0; i < ELEMENTSOF(call->redact); i++)
                api_error_redact(&result->error, call->redact[i]);
        result->attempts = call->attempts;
        result->asked_expire_at = call->asked_expire_at;
        call->done(call, result, call->userdata);
        cce_kubeconfig_free(result->kubeconfig);
        cce_cluster_list_done(&result->clusters);
        cce_cluster_info_done(&result->cluster);
        call_free(call);
}

static void fail(CceCall *call, ApiError *e) {
        CceResult result = { .error = *e };
        finish(call, &result);
}

static int acquire_and_send(CceCall *call, ApiError *e);

static void on_answer(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        CceCall *call = userdata;
        const ClusterConfig *cl = call->cluster;
        CceResult result = {};

        call->request = NULL;

        if (resp->request_id)
                snprintf(result.request_id, sizeof(result.request_id), "%s", resp->request_id);
        if (resp->port_id)
                snprintf(result.port_id, sizeof(result.port_id), "%s", resp->port_id);
        if (resp->date && parse_http_date(resp->date, &result.server_date) >= 0) {
                result.clock_skew_sec = result.server_date - now_sec();
                if (llabs(result.clock_skew_sec) > CLOCK_SKEW_WARN_SEC)
                        log_struct(LOG_WARNING, 0, NULL, LOG_FIELDS({ "CCE_CLUSTER", cl->name }),
                                   "The clock of the API endpoint for %s is %+llds off ours: check NTP here; "
                                   "signed requests fail when it is more than 15 minutes off.",
                                   cl->name, (long long) result.clock_skew_sec);
        }

        if (call->kind == CALL_LIST_CLUSTERS && (resp->status == 200 || resp->sink_failed)) {
                /* Read as it arrived; a bad answer was refused as soon as it was bad. */
                int r = cluster_list_reader_finish(call->reader, &result.clusters, NULL, &result.error);
                if (r < 0 && result.error.klass == API_ERROR_NONE)
                        api_error_set(&result.error, API_ERROR_TRANSIENT, "out of memory reading the answer");
                result.error.http_status = 200;
        } else if (resp->status == 0) {
                api_error_set(&result.error, resp->body_too_large || resp->headers_too_large ?
                              API_ERROR_BAD_RESPONSE : API_ERROR_TRANSIENT,
                              "%s", resp->body_too_large ? "answer larger than the limit" :
                              resp->headers_too_large ? "answer headers larger than the limit" : resp->error);
        } else if (resp->status == 200 && call->kind == CALL_REVOKE) {
                result.error.http_status = 200;  /* done; the body says nothing more */
        } else if (resp->status == 200 && call->kind == CALL_SHOW_CLUSTER) {
                if (cce_parse_cluster(resp->body, resp->body_size, &result.cluster, &result.error) < 0 &&
                    result.error.klass == API_ERROR_NONE)
                        api_error_set(&result.error, API_ERROR_TRANSIENT, "out of memory reading the answer");
                result.error.http_status = 200;
        } else if (resp->status == 200) {
                int r = cce_parse_kubeconfig(resp->body, resp->body_size, &result.kubeconfig, &result.error);
                if (r >= 0) {
                        r = cce_check_certificates(result.kubeconfig, now_sec(), &result.certificate, &result.error);
                        if (r < 0)
                                result.kubeconfig = cce_kubeconfig_free(result.kubeconfig);
                }
                if (r < 0 && result.error.klass == API_ERROR_NONE)
                        api_error_set(&result.error, API_ERROR_TRANSIENT, "out of memory reading the answer");
                result.error.http_status = 200;
        } else {
                api_error_from_response(&result.error, resp->status, resp->body, resp->body_size,
                                        resp->request_id, resp->retry_after, now_sec());
                /* A cached token or key the API no longer takes: fetch it anew, once. */
                Auth used = { .access_key = call->redact[0], .token = call->redact[2] };
                if (resp->status == 401 && call->attempts == 1 &&
                    iam_provider_invalidate(call->provider, cl->project_id, &used)) {
                        ApiError again = {};
                        log_debug("%s: credentials '%s' were refused; fetching new ones and trying once more.",
                                  cl->name, cl->credentials);
                        if (acquire_and_send(call, &again) >= 0)
                                return;
                        result.error = again;
                }
        }
        if (result.request_id[0] && !result.error.request_id[0])
                memcpy(result.error.request_id, result.request_id, sizeof(result.request_id));
        finish(call, &result);
}

static int feed_reader(const char *data, size_t size, void *userdata) {
        CceCall *call = userdata;
        return cluster_list_reader_feed(call->reader, data, size);
}

static int remember_secret(CceCall *call, size_t slot, const char *value) {
        free_wiped(call->redact[slot]);
        call->redact[slot] = value ? strdup(value) : NULL;
        return value && !call->redact[slot] ? -ENOMEM : 0;
}

/* Builds, signs and starts the request with auth. */
static int send_request(CceCall *call, const Auth *auth, ApiError *error) {
        const ClusterConfig *cl = call->cluster;
        _cleanup_free_ char *base = NULL, *host = NULL, *path = NULL, *full_path = NULL, *wire_path = NULL;
        _cleanup_free_ char *url = NULL, *body = NULL, *authorization = NULL;
        const char *prefix;
        char date[17];
        HttpRequest *req;
        int r;

        if (cl->api_endpoint)
                base = strdup(cl->api_endpoint);
        else if (cce_endpoint_for_region(cl->region, &base) < 0)
                base = NULL;
        if (!base)
                return -ENOMEM;
        r = cce_url_host(base, &host, &prefix);
        if (r < 0) {
                api_error_set(error, API_ERROR_INVALID_REQUEST, "api-endpoint %s is not a URL", base);
                return r;
        }
        bool post = call->kind == CALL_CLUSTERCERT || call->kind == CALL_REVOKE;
        const char *method = post ? "POST" : "GET";
        if ((call->kind == CALL_CLUSTERCERT ? cce_clustercert_path(cl->project_id, cl->cluster_id, &path) :
             call->kind == CALL_REVOKE ? cce_revoke_path(cl->project_id, cl->cluster_id, &path) :
             call->kind == CALL_LIST_CLUSTERS ? cce_list_clusters_path(cl->project_id, &path) :
             cce_show_cluster_path(cl->project_id, call->cluster_id, &path)) < 0 ||
            asprintf(&full_path, "%s%s", prefix, path) < 0 ||
            signer_encode_path(full_path, &wire_path) < 0 ||
            asprintf(&url, "%.*s%s", (int) (prefix - base), base, wire_path) < 0 ||
            (call->kind == CALL_CLUSTERCERT ? cce_clustercert_body(cl->lifetime_sec, call->whole_days, now_sec(), &body) :
             call->kind == CALL_REVOKE ? cce_revoke_body(&call->revoke, &body) :
             (body = strdup("")) ? 0 : -ENOMEM) < 0)
                return -ENOMEM;
        call->asked_expire_at = call->kind == CALL_CLUSTERCERT && !call->whole_days &&
                !cce_lifetime_whole_days(cl->lifetime_sec);
        if (call->kind == CALL_LIST_CLUSTERS) {
                /* A new reader for each attempt: a retried 401 starts over. */
                call->reader = cluster_list_reader_free(call->reader);
                if (cluster_list_reader_new(false, &call->reader) < 0)
                        return -ENOMEM;
        }

        if ((r = remember_secret(call, 0, auth->access_key)) < 0 ||
            (r = remember_secret(call, 1, auth->security_token)) < 0 ||
            (r = remember_secret(call, 2, auth->token)) < 0)
                return r;

        r = http_request_new(call->client->http, method, url, &req);
        if (r < 0)
                return r;
        if (call->kind == CALL_LIST_CLUSTERS)
                http_request_set_body_sink(req, CLUSTER_LIST_ANSWER_MAX, feed_reader, call);

        sdk_date(date);
        SignerPair headers[5] = {
                { "Content-Type", "application/json" },
                { "Host", host },
                { "X-Project-Id", cl->project_id },
                { "X-Sdk-Date", date },
                { "X-Security-Token", auth->security_token },
        };
        size_t n_headers = auth->security_token ? 5 : 4;

        if (auth->kind == AUTH_AKSK) {
                SignerRequest sreq = {
                        .method = method,
                        .path = full_path,
                        .headers = headers,
                        .n_headers = n_headers,
                        .body = body,
                        .body_size = strlen(body),
                };
                r = signer_authorization(&sreq, date, auth->access_key, auth->secret_key, strlen(auth->secret_key),
                                         &authorization);
                if (r < 0) {
                        http_request_cancel(req);
                        api_error_set(error, API_ERROR_AUTHENTICATION, "cannot sign the request with credentials '%s'",
                                      cl->credentials);
                        return r;
                }
        } else
                n_headers = 3;  /* Content-Type, Host, X-Project-Id */

        for (size_t i = 0; i < n_headers && r >= 0; i++)
                r = http_request_add_header(req, headers[i].name, headers[i].value);
        if (r >= 0 && authorization)
                r = http_request_add_header(req, "Authorization", authorization);
        if (r >= 0 && auth->kind == AUTH_TOKEN)
                r = http_request_add_header(req, "X-Auth-Token", auth->token);
        if (r >= 0)
                r = http_request_add_header(req, "Accept", "application/json");
        if (r >= 0 && post)
                r = http_request_set_body(req, body, strlen(body));
        if (r >= 0 && cl->ca_file)
                r = http_request_set_ca_file(req, cl->ca_file);
        if (r >= 0)
                r = http_request_start(req, on_answer, call);
        if (r < 0) {
                http_request_cancel(req);
                if (r == -EINVAL)
                        api_error_set(error, API_ERROR_AUTHENTICATION, "credentials '%s' hold characters that cannot be sent",
                                      cl->credentials);
                return r;
        }
        call->request = req;
        call->attempts++;
        return 0;
}

static void on_auth(const Auth *auth, const ApiError *error, void *userdata) {
        CceCall *call = userdata;
        ApiError e = {};

        call->waiter = NULL;
        if (error) {
                e = *error;
                return fail(call, &e);
        }
        if (send_request(call, auth, &e) < 0) {
                if (e.klass == API_ERROR_NONE)
                        api_error_set(&e, API_ERROR_TRANSIENT, "cannot start the request");
                fail(call, &e);
        }
}

/* Gets credentials, then sends (now, or when they arrive). On failure fills
 * *e and returns a negative errno; the caller decides how to report it. */
static int acquire_and_send(CceCall *call, ApiError *e) {
        const ClusterConfig *cl = call->cluster;
        _cleanup_free_ char *iam_endpoint = NULL;
        Auth auth = {};
        int r;

        if (cl->iam_endpoint)
                iam_endpoint = strdup(cl->iam_endpoint);
        else if (cl->region)
                (void) iam_endpoint_for_region(cl->region, &iam_endpoint);

        r = iam_provider_acquire(call->provider, cl->project_id, iam_endpoint, cl->ca_file, &auth, e,
                                 on_auth, call, &call->waiter);
        if (r == 0)
                return 0;  /* on_auth follows */
        if (r > 0) {
                r = send_request(call, &auth, e);
                auth_clear(&auth);
                if (r >= 0)
                        return 0;
        }
        if (e->klass == API_ERROR_NONE)
                api_error_set(e, API_ERROR_TRANSIENT, "cannot start the request: %s", strerror(-r));
        return r;
}

static int call_start(CceClient *c, CceCallKind kind, const ClusterConfig *cluster, const char *cluster_id,
                      const CceIdentity *revoke, bool whole_days, CceCallDone done, void *userdata, CceCall **ret,
                      ApiError *error) {
        IamProvider *provider = NULL;
        CceCall *call;
        int r;

        for (size_t i = 0; i < c->n_providers; i++)
                if (strcmp(c->providers[i].cred->name, cluster->credentials) == 0)
                        provider = c->providers[i].provider;
        if (!provider) {
                api_error_set(error, API_ERROR_INVALID_REQUEST, "no credentials named '%s'", cluster->credentials);
                return -ENOENT;
        }

        call = calloc(1, sizeof(CceCall));
        if (!call)
                return -ENOMEM;
        call->client = c;
        call->kind = kind;
        call->cluster = cluster;
        if (cluster_id && !(call->cluster_id = strdup(cluster_id))) {
                free(call);
                return -ENOMEM;
        }
        if (revoke)
                call->revoke = *revoke;
        call->whole_days = whole_days;
        call->provider = provider;
        call->done = done;
        call->userdata = userdata;
        call->next = c->calls;
        if (call->next)
                call->next->prev = call;
        c->calls = call;

        r = acquire_and_send(call, error);
        if (r < 0) {
                for (size_t i = 0; i < ELEMENTSOF(call->redact); i++)
                        api_error_redact(error, call->redact[i]);
                call_free(call);
                return r;
        }
        if (ret)
                *ret = call;
        return 0;
}

int cce_call_start(CceClient *c, const ClusterConfig *cluster, bool whole_days, CceCallDone done, void *userdata,
                   CceCall **ret, ApiError *error) {
        return call_start(c, CALL_CLUSTERCERT, cluster, NULL, NULL, whole_days, done, userdata, ret, error);
}

int cce_list_start(CceClient *c, const ClusterConfig *entry, CceCallDone done, void *userdata,
                   CceCall **ret, ApiError *error) {
        return call_start(c, CALL_LIST_CLUSTERS, entry, NULL, NULL, false, done, userdata, ret, error);
}

int cce_show_start(CceClient *c, const ClusterConfig *entry, const char *cluster_id, CceCallDone done,
                   void *userdata, CceCall **ret, ApiError *error) {
        return call_start(c, CALL_SHOW_CLUSTER, entry, cluster_id, NULL, false, done, userdata, ret, error);
}

int cce_revoke_start(CceClient *c, const ClusterConfig *cluster, const CceIdentity *who, CceCallDone done,
                     void *userdata, CceCall **ret, ApiError *error) {
        if (!cce_identity_id_valid(who->id)) {
                api_error_set(error, API_ERROR_INVALID_REQUEST, "not an IAM user or agency id");
                return -EINVAL;
        }
        return call_start(c, CALL_REVOKE, cluster, NULL, who, false, done, userdata, ret, error);
}

void cce_call_cancel(CceCall *call) {
        if (call)
                call_free(call);
}
