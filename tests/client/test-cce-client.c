/* SPDX-License-Identifier: MIT */
/* The clustercert client on the real event loop against the fake cloud
 * (tests/fake-cce.py): every credential kind, every error class the fake can
 * produce, Retry-After, timeouts, caps, 50 concurrent calls, connection reuse,
 * and no secret in any error. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "cce-client.h"
#include "config.h"
#include "http.h"
#include "iam.h"
#include "json.h"
#include "macro.h"
#include "../unit/tests.h"

extern char **environ;

#define PROJECT "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#define AK "HPUAEXAMPLEAK0000001"
#define SK "ExampleSecretKey00000000000000000000000001"
#define TMP_AK "TMPAKEXAMPLE00000002"
#define TMP_SK "TmpSecretKeyExample000000000000000000002"
#define TMP_TOKEN "gQpjbi1ub3J0aC00iXYZ+example/securitytoken="
#define STATIC_TOKEN "MIIstatic-token-example-0123456789"
#define IAM_PASSWORD "correct horse battery staple"

static char dir[] = "/tmp/test-cce-client-XXXXXX";
static pid_t fake_pid;
static int fake_stdin = -1;
static unsigned port, metadata_port;
static char ca_file[256];

static sd_event *event;
static HttpClient *http;
static CceClient *client;
static Config *config;

/* ---- the fake ----------------------------------------------------------- */

static void write_file(const char *name, const char *content) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
}

static void start_fake(void) {
        char accounts[1024], state[512], accounts_path[512], fake[1024];
        int in[2], out[2];

        snprintf(accounts, sizeof(accounts),
                 "{\"aksk\": {\"" AK "\": \"" SK "\"},"
                 " \"temporary\": {\"" TMP_AK "\": {\"sk\": \"" TMP_SK "\", \"token\": \"" TMP_TOKEN "\"}},"
                 " \"iam_users\": [{\"domain\": \"acme\", \"user\": \"renewer\", \"password\": \"" IAM_PASSWORD "\"}],"
                 " \"tokens\": [\"" STATIC_TOKEN "\"],"
                 " \"missing_clusters\": [\"00000000-0000-0000-0000-000000000404\"]}");
        write_file("accounts.json", accounts);
        snprintf(state, sizeof(state), "%s/fake", dir);
        snprintf(accounts_path, sizeof(accounts_path), "%s/accounts.json", dir);
        snprintf(fake, sizeof(fake), "%s/fake-cce.py", getenv("TESTS_DIR") ?: "tests");

        char *argv[] = { "/usr/bin/python3", fake, "--state-dir", state, "--accounts", accounts_path,
                         "--hang-seconds", "4", "--lifetime", "300", NULL };
        posix_spawn_file_actions_t fa;
        ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
        ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        ASSERT_EQ(posix_spawn(&fake_pid, argv[0], &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        fake_stdin = in[1];

        /* The whole line, newline included, before the pipe is closed: the
         * fake may write it in parts, and one written after the close fails
         * (EPIPE) and ends the fake. */
        FILE *f = fdopen(out[0], "r");
        char line[128];
        ASSERT(f);
        ASSERT(fgets(line, sizeof(line), f) && strchr(line, '\n'));
        ASSERT_EQ(sscanf(line, "READY %u %u", &port, &metadata_port), 2);
        fclose(f);
        snprintf(ca_file, sizeof(ca_file), "%s/fake/ca.pem", dir);
}

static void stop_fake(void) {
        close(fake_stdin);  /* the fake exits when its stdin closes */
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
}

static size_t collect(char *data, size_t size, size_t n, void *userdata) {
        FILE *f = userdata;
        return fwrite(data, size, n, f);
}

/* A blocking request to the fake's control API; returns the body. */
static char *control(const char *path, const char *json) {
        char url[256], *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        CURL *c = curl_easy_init();

        ASSERT(f && c);
        snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        if (json)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
        ASSERT_EQ(curl_easy_perform(c), CURLE_OK);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        ASSERT_EQ(status, 200);
        curl_easy_cleanup(c);
        fclose(f);
        return out;
}

static void fault(const char *cluster_id, const char *name) {
        char json[512];
        /* A dropped connection is sticky: curl retries once on a fresh
         * connection when a reused one closes before any answer. */
        snprintf(json, sizeof(json), "{\"cluster_id\": \"%s\", \"faults\": [\"%s\"], \"sticky\": %s}",
                 cluster_id, name, strcmp(name, "drop") == 0 ? "true" : "false");
        free(control("/_fake/faults", json));
}

static void clear_faults(void) {
        free(control("/_fake/clear-faults", "{}"));
}

static long calls(const char *key) {
        _cleanup_free_ char *body = control("/_fake/calls", NULL);
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        char why[128];
        ASSERT_EQ(json_parse(body, strlen(body), &root, why, sizeof(why)), 0);
        const JsonNode *n = json_get(root, key);
        ASSERT(n && n->type == JSON_NUMBER);
        return atol(n->string);
}

/* ---- the configuration -------------------------------------------------- */

#define CLUSTER_FMT \
        "  - {name: %s, project-id: " PROJECT ", cluster-id: %s, credentials: %s, kubeconfig: /k/%s}\n"

static const struct {
        const char *name, *cluster_id, *credentials;
} clusters[] = {
        { "aksk", "11111111-0000-0000-0000-000000000001", "aksk" },
        { "temporary", "11111111-0000-0000-0000-000000000002", "temporary" },
        { "ecs", "11111111-0000-0000-0000-000000000003", "ecs" },
        { "iam", "11111111-0000-0000-0000-000000000004", "iam" },
        { "static", "11111111-0000-0000-0000-000000000005", "static" },
        { "faulty", "11111111-0000-0000-0000-0000000000ff", "aksk" },
        { "missing", "00000000-0000-0000-0000-000000000404", "aksk" },
        { "wrong-sk", "11111111-0000-0000-0000-000000000006", "wrong" },
        { "temp-bad", "11111111-0000-0000-0000-000000000007", "temp-bad" },
};

static void load_config(void) {
        char *text = NULL;
        size_t size = 0;
        ConfigErrors errors = {};
        FILE *f = open_memstream(&text, &size);

        write_file("ak", AK "\n");
        write_file("sk", SK "\n");
        write_file("wrong-sk", "NotTheSecretKey\n");
        write_file("tmp-ak", TMP_AK);
        write_file("tmp-sk", TMP_SK);
        write_file("tmp-token", TMP_TOKEN);
        write_file("tmp-sk-bad", "WrongTemporarySecret");
        write_file("static-token", STATIC_TOKEN);
        write_file("iam-password", IAM_PASSWORD);

        fprintf(f,
                "defaults:\n"
                "  api-endpoint: https://127.0.0.1:%u\n"
                "  iam-endpoint: https://127.0.0.1:%u\n"
                "  ca-file: %s\n"
                "  duration: 7\n"
                "credentials:\n"
                "  aksk: {access-key: {file: %s/ak}, secret-key: {file: %s/sk}}\n"
                "  wrong: {access-key: {file: %s/ak}, secret-key: {file: %s/wrong-sk}}\n"
                "  temporary: {access-key: {file: %s/tmp-ak}, secret-key: {file: %s/tmp-sk}, security-token: {file: %s/tmp-token}}\n"
                "  temp-bad: {access-key: {file: %s/tmp-ak}, secret-key: {file: %s/tmp-sk-bad}, security-token: {file: %s/tmp-token}}\n"
                "  ecs: {ecs-metadata: {endpoint: \"http://127.0.0.1:%u\"}}\n"
                "  iam: {iam-password: {domain: acme, user: renewer, password: {file: %s/iam-password}}}\n"
                "  static: {token: {file: %s/static-token}}\n"
                "clusters:\n",
                port, port, ca_file, dir, dir, dir, dir, dir, dir, dir, dir, dir, dir, metadata_port, dir, dir);
        for (size_t i = 0; i < ELEMENTSOF(clusters); i++)
                fprintf(f, CLUSTER_FMT, clusters[i].name, clusters[i].cluster_id, clusters[i].credentials, clusters[i].name);
        fclose(f);

        if (config_load_buffer("test.yaml", text, size, &config, &errors) < 0) {
                config_errors_print(&errors, "test.yaml", stderr);
                abort();
        }
        config_errors_clear(&errors);
        free(text);
        ASSERT_EQ(cce_client_set_config(client, config), 0);
}

static const ClusterConfig *cluster(const char *name) {
        const ClusterConfig *c = config_find_cluster(config, name);
        ASSERT(c);
        return c;
}

/* ---- running calls ------------------------------------------------------ */

typedef struct Outcome {
        bool done;
        ApiError error;
        bool has_kubeconfig;
        char current_context[64];
        size_t n_clusters;
        int64_t skew;
        unsigned attempts;
        CertInfo certificate;
} Outcome;

static void on_done(CceCall *call, CceResult *result, void *userdata) {
        Outcome *o = userdata;
        o->done = true;
        o->error = result->error;
        o->has_kubeconfig = result->kubeconfig != NULL;
        o->skew = result->clock_skew_sec;
        o->attempts = result->attempts;
        o->certificate = result->certificate;
        if (result->kubeconfig) {
                snprintf(o->current_context, sizeof(o->current_context), "%s", result->kubeconfig->current_context);
                o->n_clusters = result->kubeconfig->n_clusters;
        }
}

static unsigned max_running_seen;

static void run_until(const Outcome *o, unsigned n) {
        for (int i = 0; i < 3000; i++) {  /* bounded: 3000 iterations of at most 100 ms */
                bool all = true;
                for (unsigned k = 0; k < n; k++)
                        all = all && o[k].done;
                if (all)
                        return;
                max_running_seen = MAX(max_running_seen, http_client_n_running(http));
                ASSERT(sd_event_run(event, 100 * 1000) >= 0);
        }
        fprintf(stderr, "calls did not finish\n");
        abort();
}

static Outcome call(const char *name) {
        Outcome o = {};
        ApiError e = {};
        ASSERT_EQ(cce_call_start(client, cluster(name), false, on_done, &o, NULL, &e), 0);
        ASSERT(!o.done);  /* never called back from inside the start */
        run_until(&o, 1);
        return o;
}

static void expect_class(const char *fault_name, ApiErrorClass klass, long status) {
        char buf[512];
        fault(cluster("faulty")->cluster_id, fault_name);
        Outcome o = call("faulty");
        clear_faults();
        api_error_describe(&o.error, buf, sizeof(buf));
        printf("  %-32s -> %s\n", fault_name, buf);
        if (o.error.klass != klass) {
                fprintf(stderr, "fault %s: class %s, expected %s\n", fault_name,
                        api_error_class_to_string(o.error.klass), api_error_class_to_string(klass));
                abort();
        }
        ASSERT_EQ(o.error.http_status, status);
        ASSERT(!o.has_kubeconfig);
}

/* ---- tests -------------------------------------------------------------- */

TEST(every_credential_kind) {
        static const char *const names[] = { "aksk", "temporary", "ecs", "iam", "static" };
        long before = calls("clustercert_total");
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                Outcome o = call(names[i]);
                if (o.error.klass != API_ERROR_NONE)
                        fprintf(stderr, "%s: %s\n", names[i], o.error.message);
                ASSERT_EQ(o.error.klass, API_ERROR_NONE);
                ASSERT(o.has_kubeconfig);
                ASSERT_STREQ(o.current_context, "internal");
                ASSERT_EQ(o.attempts, 1);
                /* The answer's Date was read: this machine is the fake's. */
                ASSERT(o.skew >= -5 && o.skew <= 5);
                /* duration: 7 days, as asked */
                ASSERT(o.certificate.not_after - o.certificate.not_before >= 7 * 86400 - 5);
                ASSERT(o.certificate.not_after - o.certificate.not_before <= 7 * 86400 + 5);
        }
        ASSERT_EQ(calls("clustercert_total") - before, 5);
        ASSERT_EQ(calls("auth_failures"), 0);
}

TEST(caching) {
        long iam = calls("iam_tokens"), meta = calls("metadata_securitykey"), token = calls("metadata_token");
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(call("iam").error.klass, API_ERROR_NONE);
                ASSERT_EQ(call("ecs").error.klass, API_ERROR_NONE);
        }
        /* Cached from the first test: no new fetch at all. */
        ASSERT_EQ(calls("iam_tokens"), iam);
        ASSERT_EQ(calls("metadata_securitykey"), meta);
        ASSERT_EQ(calls("metadata_token"), token);
}

TEST(token_refetched_once_after_401) {
        /* The fake forgets every token it issued: the cached one now fails. */
        long iam = calls("iam_tokens");
        free(control("/_fake/reset", "{}"));
        Outcome o = call("iam");
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_EQ(o.attempts, 2);
        ASSERT_EQ(calls("iam_tokens"), 1);
        (void) iam;

        /* Same for the ECS metadata keys. */
        free(control("/_fake/reset", "{}"));
        o = call("ecs");
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_EQ(o.attempts, 2);
        ASSERT_EQ(calls("metadata_securitykey"), 1);

        /* A permanent key is not retried: a 401 is final. */
        o = call("wrong-sk");
        ASSERT_EQ(o.error.klass, API_ERROR_AUTHENTICATION);
        ASSERT_EQ(o.attempts, 1);
}

TEST(error_classes) {
        expect_class("status:400:cce", API_ERROR_INVALID_REQUEST, 400);
        expect_class("status:400:apigw", API_ERROR_INVALID_REQUEST, 400);
        expect_class("status:401:apigw", API_ERROR_AUTHENTICATION, 401);
        expect_class("status:401:keystone", API_ERROR_AUTHENTICATION, 401);
        expect_class("status:403:iam", API_ERROR_AUTHENTICATION, 403);
        expect_class("status:403:apig", API_ERROR_AUTHENTICATION, 403);
        expect_class("status:404:apigw", API_ERROR_NOT_FOUND, 404);
        expect_class("status:404:cce", API_ERROR_NOT_FOUND, 404);
        expect_class("status:409:cce", API_ERROR_INVALID_REQUEST, 409);
        expect_class("status:429:apigw", API_ERROR_THROTTLED, 429);
        expect_class("status:500:cce", API_ERROR_TRANSIENT, 500);
        expect_class("status:502:html", API_ERROR_TRANSIENT, 502);
        expect_class("status:503:empty", API_ERROR_TRANSIENT, 503);
        expect_class("status:504:keystone", API_ERROR_TRANSIENT, 504);
        expect_class("drop", API_ERROR_TRANSIENT, 0);
        expect_class("reset-mid-body", API_ERROR_TRANSIENT, 0);
        expect_class("truncated", API_ERROR_TRANSIENT, 0);
        expect_class("invalid-json", API_ERROR_BAD_RESPONSE, 200);
        expect_class("wrong-types", API_ERROR_BAD_RESPONSE, 200);
        expect_class("deep-json", API_ERROR_BAD_RESPONSE, 200);
        expect_class("bad-base64", API_ERROR_BAD_RESPONSE, 200);
        expect_class("http-server", API_ERROR_BAD_RESPONSE, 200);
        expect_class("duplicate-entries", API_ERROR_BAD_RESPONSE, 200);
        expect_class("missing-entries", API_ERROR_BAD_RESPONSE, 200);
        expect_class("oversized", API_ERROR_BAD_RESPONSE, 0);
        expect_class("non-pem", API_ERROR_BAD_RESPONSE, 200);
        expect_class("key-mismatch", API_ERROR_BAD_RESPONSE, 200);
        expect_class("expired", API_ERROR_BAD_RESPONSE, 200);
        expect_class("not-yet-valid", API_ERROR_BAD_RESPONSE, 200);
        expect_class("missing-ca", API_ERROR_BAD_RESPONSE, 200);

        Outcome o = call("missing");
        ASSERT_EQ(o.error.klass, API_ERROR_NOT_FOUND);
        ASSERT_STREQ(o.error.code, "CCE.01404001");
        ASSERT(o.error.request_id[0]);
}

TEST(error_details) {
        fault(cluster("faulty")->cluster_id, "status:400:cce");
        Outcome o = call("faulty");
        ASSERT_STREQ(o.error.code, "CCE.01400001");
        ASSERT_STREQ(o.error.message, "fake CCE error 400");
        ASSERT(o.error.request_id[0]);

        fault(cluster("faulty")->cluster_id, "status:401:apigw");
        o = call("faulty");
        ASSERT_STREQ(o.error.code, "APIGW.0301");

        fault(cluster("faulty")->cluster_id, "status:429:apig");
        o = call("faulty");
        ASSERT_STREQ(o.error.code, "APIG.0308");
}

TEST(retry_after) {
        fault(cluster("faulty")->cluster_id, "status:429:apigw:retry-after=7");
        Outcome o = call("faulty");
        ASSERT_EQ(o.error.klass, API_ERROR_THROTTLED);
        ASSERT(o.error.has_retry_after);
        ASSERT_EQ(o.error.retry_after_sec, 7);

        fault(cluster("faulty")->cluster_id, "status:429:apigw:retry-after-date=120");
        o = call("faulty");
        ASSERT(o.error.has_retry_after);
        ASSERT(o.error.retry_after_sec >= 110 && o.error.retry_after_sec <= 121);

        fault(cluster("faulty")->cluster_id, "status:503:cce:retry-after=30");
        o = call("faulty");
        ASSERT_EQ(o.error.klass, API_ERROR_TRANSIENT);
        ASSERT_EQ(o.error.retry_after_sec, 30);

        fault(cluster("faulty")->cluster_id, "status:429:apigw");
        o = call("faulty");
        ASSERT(!o.error.has_retry_after);
}

TEST(timeouts_and_caps) {
        HttpLimits lim = http_limits_default;

        lim.total_timeout_ms = 1000;
        http_client_set_limits(http, &lim);
        expect_class("hang", API_ERROR_TRANSIENT, 0);
        expect_class("slow:3", API_ERROR_TRANSIENT, 0);

        lim = http_limits_default;
        lim.max_body = 1000;  /* a real answer is larger */
        http_client_set_limits(http, &lim);
        Outcome o = call("aksk");
        ASSERT_EQ(o.error.klass, API_ERROR_BAD_RESPONSE);
        ASSERT(strstr(o.error.message, "larger than the limit"));

        lim = http_limits_default;
        lim.max_headers = 100;
        http_client_set_limits(http, &lim);
        o = call("aksk");
        ASSERT_EQ(o.error.klass, API_ERROR_BAD_RESPONSE);
        ASSERT(strstr(o.error.message, "headers larger than the limit"));

        http_client_set_limits(http, &http_limits_default);
        ASSERT_EQ(call("aksk").error.klass, API_ERROR_NONE);
}

TEST(tls_is_verified) {
        /* The fake's certificate does not verify against the system store. */
        ClusterConfig c = *cluster("aksk");
        c.ca_file = NULL;
        Outcome o = {};
        ApiError e = {};
        ASSERT_EQ(cce_call_start(client, &c, false, on_done, &o, NULL, &e), 0);
        run_until(&o, 1);
        ASSERT_EQ(o.error.klass, API_ERROR_TRANSIENT);
        ASSERT_EQ(o.error.http_status, 0);
        printf("  without ca-file: %s\n", o.error.message);
}

static void on_plain(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        HttpResponse *out = userdata;
        out->result = resp->result;
        out->status = resp->status;
        out->body_size = 1;  /* done marker */
}

TEST(https_only) {
        char url[128];
        HttpRequest *req;
        HttpResponse resp = {};

        snprintf(url, sizeof(url), "http://127.0.0.1:%u/openstack/latest/securitykey", metadata_port);
        ASSERT_EQ(http_request_new(http, "GET", url, &req), 0);
        ASSERT_EQ(http_request_start(req, on_plain, &resp), 0);
        for (int i = 0; i < 1000 && !resp.body_size; i++)
                ASSERT(sd_event_run(event, 100 * 1000) >= 0);
        ASSERT_EQ(resp.result, CURLE_UNSUPPORTED_PROTOCOL);
        ASSERT_EQ(resp.status, 0);

        /* Allowed where a request says so (the ECS metadata service). */
        resp = (HttpResponse) {};
        ASSERT_EQ(http_request_new(http, "GET", url, &req), 0);
        http_request_allow_http(req);
        ASSERT_EQ(http_request_start(req, on_plain, &resp), 0);
        for (int i = 0; i < 1000 && !resp.body_size; i++)
                ASSERT(sd_event_run(event, 100 * 1000) >= 0);
        ASSERT_EQ(resp.result, CURLE_OK);
        ASSERT_EQ(resp.status, 200);
}

TEST(secrets_never_in_errors) {
        char buf[1024];

        /* A bad signature with temporary keys: the gateway echoes its
         * canonical request, security token included. */
        Outcome o = call("temp-bad");
        ASSERT_EQ(o.error.klass, API_ERROR_AUTHENTICATION);
        api_error_describe(&o.error, buf, sizeof(buf));
        printf("  %s\n", buf);
        static const char *const secrets[] = { AK, SK, TMP_AK, TMP_SK, TMP_TOKEN, STATIC_TOKEN, IAM_PASSWORD };
        for (size_t i = 0; i < ELEMENTSOF(secrets); i++)
                ASSERT(!strstr(buf, secrets[i]));

        /* An unusable secret file fails at start, naming the file, not the content. */
        const ClusterConfig *c = cluster("aksk");
        Outcome never = {};
        ApiError e = {};
        char sk_path[512];
        snprintf(sk_path, sizeof(sk_path), "%s/sk", dir);
        ASSERT_EQ(chmod(sk_path, 0644), 0);
        ASSERT(cce_call_start(client, c, false, on_done, &never, NULL, &e) < 0);
        ASSERT_EQ(e.klass, API_ERROR_AUTHENTICATION);
        ASSERT(strstr(e.message, "accessible by group or others"));
        ASSERT(strstr(e.message, sk_path));
        ASSERT(!strstr(e.message, SK));
        ASSERT_EQ(chmod(sk_path, 0600), 0);
        ASSERT(!never.done);
}

TEST(fifty_concurrent_calls) {
        static const char *const names[] = { "aksk", "temporary", "ecs", "iam", "static" };
        Outcome o[50] = {};
        long before = calls("clustercert_total"), connections = calls("connections");
        ApiError e = {};

        /* Earlier tests made the fake forget the cached token: renew it first. */
        ASSERT_EQ(call("iam").error.klass, API_ERROR_NONE);
        before = calls("clustercert_total");
        long iam = calls("iam_tokens");

        max_running_seen = 0;
        for (size_t i = 0; i < 50; i++)
                ASSERT_EQ(cce_call_start(client, cluster(names[i % 5]), false, on_done, &o[i], NULL, &e), 0);
        ASSERT(http_client_n_queued(http) > 0);  /* the cap holds the rest back */
        run_until(o, 50);
        for (size_t i = 0; i < 50; i++) {
                if (o[i].error.klass != API_ERROR_NONE)
                        fprintf(stderr, "call %zu: %s\n", i, o[i].error.message);
                ASSERT_EQ(o[i].error.klass, API_ERROR_NONE);
                ASSERT(o[i].has_kubeconfig);
        }
        ASSERT_EQ(calls("clustercert_total") - before, 50);
        ASSERT_EQ(calls("iam_tokens"), iam);  /* ten IAM calls, one cached token */
        ASSERT(max_running_seen <= 8);
        printf("  50 calls, at most %u at once, %ld new connections\n",
               max_running_seen, calls("connections") - connections - 1);
        /* Connections are reused: far fewer than one per call. */
        ASSERT(calls("connections") - connections <= 20);
}

TEST(revoked_token_fetched_once_for_many) {
        /* Ten calls in flight meet a revoked token: each retries once, and
         * they share one new token. */
        Outcome o[10] = {};
        ApiError e = {};
        free(control("/_fake/reset", "{}"));
        for (size_t i = 0; i < 10; i++)
                ASSERT_EQ(cce_call_start(client, cluster("iam"), false, on_done, &o[i], NULL, &e), 0);
        run_until(o, 10);
        for (size_t i = 0; i < 10; i++) {
                ASSERT_EQ(o[i].error.klass, API_ERROR_NONE);
                ASSERT_EQ(o[i].attempts, 2);
        }
        ASSERT_EQ(calls("iam_tokens"), 1);
        ASSERT_EQ(calls("clustercert_total"), 20);
}

TEST(endpoint_shapes) {
        char json[256];
        snprintf(json, sizeof(json), "{\"cluster_id\": \"%s\", \"shape\": \"external-tls\"}", cluster("aksk")->cluster_id);
        free(control("/_fake/shape", json));
        Outcome o = call("aksk");
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_STREQ(o.current_context, "external");
        ASSERT_EQ(o.n_clusters, 3);
}

TEST(url_host) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        const char *path;
        ASSERT_EQ(cce_url_host("https://cce.example.com:443/p", &a, &path), 0);
        ASSERT_STREQ(a, "cce.example.com");
        ASSERT_STREQ(path, "/p");
        ASSERT_EQ(cce_url_host("https://[::1]:8443", &b, &path), 0);
        ASSERT_STREQ(b, "[::1]:8443");
        ASSERT_STREQ(path, "");
        ASSERT_EQ(cce_url_host("https://h:4431", &c, NULL), 0);
        ASSERT_STREQ(c, "h:4431");
        ASSERT_EQ(cce_url_host("ftp://h", &c, NULL), -EINVAL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* ---- ListClusters and ShowCluster --------------------------------------- */

typedef struct ListOutcome {
        bool done;
        ApiError error;
        unsigned attempts;
        size_t n;
        char names[4][32], ids[4][40], phases[4][32];
} ListOutcome;

static void on_listed(CceCall *call, CceResult *result, void *userdata) {
        ListOutcome *o = userdata;
        o->done = true;
        o->error = result->error;
        o->attempts = result->attempts;
        o->n = result->clusters.n_items;
        for (size_t i = 0; i < MIN(o->n, ELEMENTSOF(o->names)); i++) {
                snprintf(o->names[i], sizeof(o->names[i]), "%s", result->clusters.items[i].name);
                snprintf(o->ids[i], sizeof(o->ids[i]), "%s", result->clusters.items[i].id);
                snprintf(o->phases[i], sizeof(o->phases[i]), "%s", result->clusters.items[i].phase);
        }
        if (result->cluster.id) {  /* ShowCluster */
                o->n = 1;
                snprintf(o->names[0], sizeof(o->names[0]), "%s", result->cluster.name);
                snprintf(o->ids[0], sizeof(o->ids[0]), "%s", result->cluster.id);
                snprintf(o->phases[0], sizeof(o->phases[0]), "%s", result->cluster.phase);
        }
}

static void run_until_listed(const ListOutcome *o) {
        for (int i = 0; i < 3000 && !o->done; i++)  /* bounded: 3000 iterations of at most 100 ms */
                ASSERT(sd_event_run(event, 100 * 1000) >= 0);
        ASSERT(o->done);
}

static ListOutcome list(const char *credentials) {
        ClusterConfig entry = *cluster(credentials);
        ListOutcome o = {};
        ApiError e = {};
        ASSERT_EQ(cce_list_start(client, &entry, on_listed, &o, NULL, &e), 0);
        ASSERT(!o.done);
        run_until_listed(&o);
        return o;
}

static ListOutcome show(const char *cluster_id) {
        ListOutcome o = {};
        ApiError e = {};
        ASSERT_EQ(cce_show_start(client, cluster("aksk"), cluster_id, on_listed, &o, NULL, &e), 0);
        run_until_listed(&o);
        return o;
}

#define LISTED_A "22222222-0000-0000-0000-00000000000a"
#define LISTED_B "22222222-0000-0000-0000-00000000000b"

static void expect_list_class(const char *fault_name, ApiErrorClass klass, long status) {
        char json[256], buf[512];
        /* Sticky for a dropped connection, as in fault(). */
        snprintf(json, sizeof(json), "{\"cluster_id\": \"list:" PROJECT "\", \"faults\": [\"%s\"], \"sticky\": %s}",
                 fault_name, strcmp(fault_name, "drop") == 0 ? "true" : "false");
        free(control("/_fake/faults", json));
        ListOutcome o = list("aksk");
        clear_faults();
        api_error_describe(&o.error, buf, sizeof(buf));
        printf("  list %-27s -> %s\n", fault_name, buf);
        if (o.error.klass != klass) {
                fprintf(stderr, "list fault %s: class %s, expected %s\n", fault_name,
                        api_error_class_to_string(o.error.klass), api_error_class_to_string(klass));
                abort();
        }
        ASSERT_EQ(o.error.http_status, status);
        ASSERT_EQ(o.n, 0);
}

TEST(list_and_show) {
        /* An empty project, then two clusters; with every credential kind. */
        ListOutcome o = list("aksk");
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_EQ(o.n, 0);
        free(control("/_fake/clusters", "{\"project_id\": \"" PROJECT "\", \"clusters\": ["
                     "{\"cluster_id\": \"" LISTED_A "\", \"name\": \"prod\"},"
                     "{\"cluster_id\": \"" LISTED_B "\", \"name\": \"dev\", \"phase\": \"Hibernation\"}]}"));
        static const char *const kinds[] = { "aksk", "temporary", "ecs", "iam", "static" };
        long before = calls("auth_failures");
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                o = list(kinds[i]);
                if (o.error.klass != API_ERROR_NONE)
                        fprintf(stderr, "%s: %s\n", kinds[i], o.error.message);
                ASSERT_EQ(o.error.klass, API_ERROR_NONE);
                /* A token or metadata key cached before an earlier test's reset is fetched again once. */
                ASSERT(o.attempts == 1 || (o.attempts == 2 && (strcmp(kinds[i], "iam") == 0 || strcmp(kinds[i], "ecs") == 0)));
                ASSERT_EQ(o.n, 2);
                ASSERT_STREQ(o.names[0], "dev");  /* the fake lists by name */
                ASSERT_STREQ(o.ids[0], LISTED_B);
                ASSERT_STREQ(o.phases[0], "Hibernation");
                ASSERT_STREQ(o.names[1], "prod");
                ASSERT_STREQ(o.phases[1], "Available");
                if (i == 1)  /* the two signed kinds: each GET signed as the gateway checks it */
                        ASSERT_EQ(calls("auth_failures"), before);
        }

        o = show(LISTED_A);
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_STREQ(o.names[0], "prod");
        ASSERT_STREQ(o.ids[0], LISTED_A);
        free(control("/_fake/clusters/delete", "{\"project_id\": \"" PROJECT "\", \"cluster_id\": \"" LISTED_A "\"}"));
        o = show(LISTED_A);
        ASSERT_EQ(o.error.klass, API_ERROR_NOT_FOUND);
        ASSERT_EQ(o.error.http_status, 404);
        ASSERT_STREQ(o.error.code, "CCE.01404001");
        o = list("aksk");
        ASSERT_EQ(o.n, 1);

        /* A refused key is an authentication failure, a cached token is fetched again once. */
        o = list("wrong-sk");
        ASSERT_EQ(o.error.klass, API_ERROR_AUTHENTICATION);
        free(control("/_fake/reset", "{}"));  /* forgets the tokens it issued, and the clusters */
        o = list("iam");
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_EQ(o.attempts, 2);
        ASSERT_EQ(o.n, 0);
}

TEST(list_errors) {
        free(control("/_fake/clusters", "{\"project_id\": \"" PROJECT "\", \"clusters\": ["
                     "{\"cluster_id\": \"" LISTED_A "\", \"name\": \"prod\"}]}"));
        expect_list_class("status:401:apigw", API_ERROR_AUTHENTICATION, 401);
        expect_list_class("status:403:iam", API_ERROR_AUTHENTICATION, 403);
        expect_list_class("status:404:apigw", API_ERROR_NOT_FOUND, 404);
        expect_list_class("status:429:apigw", API_ERROR_THROTTLED, 429);
        expect_list_class("status:503:cce", API_ERROR_TRANSIENT, 503);
        expect_list_class("drop", API_ERROR_TRANSIENT, 0);
        expect_list_class("truncated", API_ERROR_TRANSIENT, 0);
        expect_list_class("reset-mid-body", API_ERROR_TRANSIENT, 0);
        expect_list_class("invalid-json", API_ERROR_BAD_RESPONSE, 200);
        expect_list_class("wrong-types", API_ERROR_BAD_RESPONSE, 200);
        expect_list_class("deep-json", API_ERROR_BAD_RESPONSE, 200);
        expect_list_class("duplicate-entries", API_ERROR_BAD_RESPONSE, 200);
        expect_list_class("missing-entries", API_ERROR_BAD_RESPONSE, 200);
        /* Past CLUSTER_LIST_ANSWER_MAX: refused when that much has come, not held. */
        expect_list_class("oversized", API_ERROR_BAD_RESPONSE, 0);
        ListOutcome o = list("aksk");
        ASSERT_EQ(o.error.klass, API_ERROR_NONE);
        ASSERT_EQ(o.n, 1);
}

int main(int argc, char **argv) {
        static const TestCase tests[] = {
                T(url_host), T(every_credential_kind), T(caching), T(token_refetched_once_after_401),
                T(error_classes), T(error_details), T(retry_after), T(timeouts_and_caps), T(tls_is_verified),
                T(https_only), T(secrets_never_in_errors), T(fifty_concurrent_calls), T(revoked_token_fetched_once_for_many),
                T(endpoint_shapes), T(list_and_show), T(list_errors),
        };

        if (access("/usr/bin/python3", X_OK) < 0)
                return EXIT_TEST_SKIP;
        signal(SIGPIPE, SIG_IGN);
        unsetenv("https_proxy");
        unsetenv("HTTPS_PROXY");
        unsetenv("http_proxy");
        unsetenv("all_proxy");
        ASSERT(mkdtemp(dir));
        start_fake();
        ASSERT(sd_event_new(&event) >= 0);
        ASSERT_EQ(http_client_new(event, 8, &http), 0);
        ASSERT_EQ(cce_client_new(http, &client), 0);
        load_config();

        run_tests(tests, ELEMENTSOF(tests), argc, argv);

        cce_client_free(client);
        http_client_free(http);
        config_free(config);
        sd_event_unref(event);
        stop_fake();
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return 0;
}
