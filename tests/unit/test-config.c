/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "parse-value.h"
#include "tests.h"

static char tmpdir[] = "/tmp/test-config-XXXXXX";

#define CLUSTER(name, path)                                             \
        "  - name: " name "\n"                                          \
        "    project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"            \
        "    cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c\n"        \
        "    kubeconfig: " path "\n"

#define CREDENTIALS                                                     \
        "credentials:\n"                                                \
        "  ops:\n"                                                      \
        "    access-key: {credential: ak}\n"                            \
        "    secret-key: {credential: sk}\n"

static Config *load_ok(const char *text) {
        Config *c = NULL;
        ConfigErrors errors = {};
        int r = config_load_buffer("test.yaml", text, strlen(text), &c, &errors);
        if (r < 0)
                config_errors_print(&errors, "test.yaml", stderr);
        ASSERT_EQ(r, 0);
        config_errors_clear(&errors);
        return c;
}

/* Loads text that must fail; returns all error lines as one string. */
static char *load_fail(const char *text) {
        Config *c = NULL;
        ConfigErrors errors = {};
        char *out = NULL;
        size_t size = 0;

        ASSERT_EQ(config_load_buffer("test.yaml", text, strlen(text), &c, &errors), -EINVAL);
        ASSERT_NULL(c);
        ASSERT(errors.n_errors > 0);
        FILE *f = open_memstream(&out, &size);
        ASSERT(f);
        config_errors_print(&errors, "test.yaml", f);
        fclose(f);
        config_errors_clear(&errors);
        return out;
}

#define ASSERT_CONTAINS(haystack, needle)                                               \
        do {                                                                            \
                if (!strstr(haystack, needle)) {                                        \
                        fprintf(stderr, "%s:%d: '%s' not found in:\n%s\n",              \
                                __FILE__, __LINE__, needle, haystack);                  \
                        abort();                                                        \
                }                                                                       \
        } while (0)

/* A cluster's part of the tree is freed once its record is made: what a
 * later cluster takes from it through an alias or a merge key is still there. */
TEST(aliases_into_earlier_clusters) {
        _cleanup_(config_freep) Config *c = load_ok(
                CREDENTIALS
                "defaults:\n"
                "  region: cn-north-4\n"
                "  credentials: ops\n"
                "clusters:\n"
                "  - &first\n"
                "    name: a\n"
                "    project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                "    cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c\n"
                "    kubeconfig: /k/a\n"
                "    on-renew: &hook [/usr/bin/systemctl, reload, proxy]\n"
                "  - <<: *first\n"
                "    name: b\n"
                "    kubeconfig: /k/b\n"
                "  - name: c\n"
                "    project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                "    cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c\n"
                "    kubeconfig: /k/c\n"
                "    on-renew: *hook\n");

        ASSERT_EQ(c->n_clusters, 3);
        for (size_t i = 0; i < 3; i++) {
                ASSERT(c->clusters[i].on_renew);
                ASSERT_STREQ(c->clusters[i].on_renew[0], "/usr/bin/systemctl");
                ASSERT_STREQ(c->clusters[i].on_renew[2], "proxy");
        }
        ASSERT_STREQ(config_find_cluster(c, "b")->cluster_id, "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c");
}

TEST(minimal_and_defaults) {
        _cleanup_(config_freep) Config *c = load_ok(
                CREDENTIALS
                "defaults:\n"
                "  region: cn-north-4\n"
                "  credentials: ops\n"
                "  renew-before: 10d\n"
                "  file-mode: \"0640\"\n"
                "clusters:\n"
                CLUSTER("a", "/k/a")
                CLUSTER("b", "/k/b")
                "    renew-at: 50%\n"
                "    region: eu-west-101\n"
                "    duration: max\n");

        ASSERT_EQ(c->n_clusters, 2);
        const ClusterConfig *a = config_find_cluster(c, "a"), *b = config_find_cluster(c, "b");
        ASSERT(a && b);
        ASSERT_STREQ(a->region, "cn-north-4");
        ASSERT_NULL(a->setting_pos);  /* where settings were written: for errors while loading only */
        ASSERT_EQ(a->renew_before_sec, 10 * 86400);
        ASSERT_EQ(a->renew_at_percent, 0);
        ASSERT_EQ(a->lifetime_sec, DEFAULT_CERT_DAYS * 86400);
        ASSERT_EQ(a->file_mode, 0640);
        ASSERT_EQ(a->endpoint, ENDPOINT_AUTO);
        ASSERT(!a->merge);
        ASSERT_STREQ(a->context_name, "a");
        ASSERT_STREQ(a->cluster_entry_name, "a");
        ASSERT_STREQ(a->user_entry_name, "a");
        /* Shared, not copied (ten thousand clusters): what defaults give,
         * and the entry names that are the cluster's name. */
        ASSERT(a->region == c->defaults.region);
        ASSERT(a->credentials == c->defaults.credentials);
        ASSERT(a->context_name == a->name);
        ASSERT(a->cluster_entry_name == a->name);
        ASSERT(a->user_entry_name == a->name);
        ASSERT(a->credential == &c->credentials[0]);
        ASSERT_EQ(a->credential->kind, CREDENTIAL_AKSK);
        ASSERT_EQ(a->uid, (uid_t) -1);

        /* renew-at in the cluster replaces renew-before from defaults. */
        ASSERT_EQ(b->renew_at_percent, 50);
        ASSERT_EQ(b->renew_before_sec, 0);
        ASSERT_STREQ(b->region, "eu-west-101");
        ASSERT(b->region != c->defaults.region);
        ASSERT_EQ(b->lifetime_sec, CERT_LIFETIME_UNLIMITED);
        ASSERT_NULL(config_find_cluster(c, "c"));
}

TEST(top_level_settings) {
        _cleanup_(config_freep) Config *c = load_ok(
                "request-timeout: 2m30s\nparallel-requests: 32\n" CREDENTIALS "clusters: []\n");
        ASSERT_EQ(c->request_timeout_sec, 150);
        ASSERT_EQ(c->parallel_requests, 32);
        _cleanup_(config_freep) Config *d = load_ok("clusters: []\n");
        ASSERT_EQ(d->request_timeout_sec, DEFAULT_REQUEST_TIMEOUT_SEC);
        ASSERT_EQ(d->parallel_requests, DEFAULT_PARALLEL_REQUESTS);
}

TEST(builtin_defaults) {
        _cleanup_(config_freep) Config *c = load_ok(
                CREDENTIALS
                "clusters:\n"
                CLUSTER("a", "/k/a")
                "    region: cn-north-4\n"
                "    credentials: ops\n"
                "    owner: root\n"
                "    group: \"0\"\n"
                "    context-name: ctx\n");
        const ClusterConfig *a = &c->clusters[0];
        ASSERT_EQ(a->lifetime_sec, 30 * 86400);
        ASSERT_EQ(a->renew_at_percent, 66);
        ASSERT_EQ(a->file_mode, 0600);
        ASSERT_EQ(a->uid, 0);
        ASSERT_EQ(a->gid, 0);
        ASSERT_STREQ(a->context_name, "ctx");
        ASSERT_STREQ(a->user_entry_name, "a");
        ASSERT(!setting_given(a, SETTING_DURATION));
}

TEST(all_errors_in_one_run) {
        _cleanup_free_ char *out = load_fail(
                CREDENTIALS
                "defaults:\n"
                "  name: nope\n"
                "  regoin: cn-north-4\n"
                "clusters:\n"
                CLUSTER("a", "relative/path")
                "    duration: 0\n"
                "    renew-at: 100%\n"
                "    credentials: opz\n"
                "    region: cn-north-4\n"
                "    region: cn-north-1\n");
        ASSERT_CONTAINS(out, "test.yaml:6:3: name cannot be set in defaults");
        ASSERT_CONTAINS(out, "test.yaml:7:3: unknown key 'regoin' in defaults; did you mean 'region'?");
        ASSERT_CONTAINS(out, "test.yaml:12:17: kubeconfig 'relative/path' must be an absolute path");
        ASSERT_CONTAINS(out, "test.yaml:13:15: duration '0' must be a number of days from 1 to 1827, a length from 15m to 1827d with a unit (90m, 4h, 7d), or max");
        ASSERT_CONTAINS(out, "test.yaml:14:15: renew-at '100%' must be a percentage");
        ASSERT_CONTAINS(out, "test.yaml:15:18: cluster 'a': no credentials named 'opz'; did you mean 'ops'?");
        ASSERT_CONTAINS(out, "test.yaml:17:5: duplicate key 'region' in cluster #1 (first at line 16 column 5)");
        /* A bad kubeconfig is reported once, not also as missing. */
        ASSERT(!strstr(out, "has no kubeconfig"));
        /* Sorted by position. */
        ASSERT(strstr(out, ":6:3:") < strstr(out, ":17:5:"));
}

TEST(missing_keys) {
        _cleanup_free_ char *out = load_fail(
                CREDENTIALS
                "clusters:\n"
                "  - name: a\n"
                "  - {}\n");
        ASSERT_CONTAINS(out, "test.yaml:6:5: cluster 'a' has no project-id\n");
        ASSERT_CONTAINS(out, "test.yaml:6:5: cluster 'a' has no kubeconfig (set it here or in defaults)\n");
        ASSERT_CONTAINS(out, "test.yaml:6:5: cluster 'a' has neither region nor api-endpoint");
        ASSERT_CONTAINS(out, "test.yaml:7:5: cluster #2 has no name\n");
}

TEST(top_level) {
        _cleanup_free_ char *a = load_fail("- just\n- a list\n");
        ASSERT_CONTAINS(a, "test.yaml:1:1: the top level must be a mapping, not a list");
        _cleanup_free_ char *b = load_fail("");
        ASSERT_CONTAINS(b, "test.yaml: file is empty");
        _cleanup_free_ char *c = load_fail(CREDENTIALS);
        ASSERT_CONTAINS(c, "test.yaml:1:1: no clusters list");
        _cleanup_free_ char *d = load_fail("clusters: {}\n");
        ASSERT_CONTAINS(d, "test.yaml:1:11: clusters must be a list, not a mapping");
        _cleanup_free_ char *e = load_fail("cluster: []\n");
        ASSERT_CONTAINS(e, "unknown key 'cluster' in the top level; did you mean 'clusters'?");
}

TEST(bad_bytes) {
        static const char nul[] = "clusters:\n  - name: a\0b\n";
        Config *c = NULL;
        ConfigErrors errors = {};

        ASSERT_EQ(config_load_buffer("t", nul, sizeof(nul) - 1, &c, &errors), -EINVAL);
        ASSERT_EQ(errors.n_errors, 1);
        ASSERT_EQ(errors.errors[0].pos.line, 2);
        ASSERT_EQ(errors.errors[0].pos.column, 12);
        ASSERT_CONTAINS(errors.errors[0].message, "NUL");
        config_errors_clear(&errors);

        static const char *const bad_utf8[] = {
                "a: \xff\n", "a: \xc3\n", "a: \xc0\xaf\n", "a: \xed\xa0\x80\n", "a: \xf4\x90\x80\x80\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_utf8); i++) {
                ASSERT_EQ(config_load_buffer("t", bad_utf8[i], strlen(bad_utf8[i]), &c, &errors), -EINVAL);
                ASSERT_EQ(errors.n_errors, 1);
                ASSERT_EQ(errors.errors[0].pos.line, 1);
                ASSERT_EQ(errors.errors[0].pos.column, 4);
                ASSERT_CONTAINS(errors.errors[0].message, "UTF-8");
                config_errors_clear(&errors);
        }

        _cleanup_free_ char *big = malloc(CONFIG_FILE_MAX + 2);
        ASSERT(big);
        memset(big, ' ', CONFIG_FILE_MAX + 1);
        big[CONFIG_FILE_MAX + 1] = 0;
        ASSERT_EQ(config_load_buffer("t", big, CONFIG_FILE_MAX + 1, &c, &errors), -EINVAL);
        ASSERT_CONTAINS(errors.errors[0].message, "larger than");
        config_errors_clear(&errors);
}

static void write_file(const char *name, const char *content, mode_t mode, char *path_out, size_t n) {
        snprintf(path_out, n, "%s/%s", tmpdir, name);
        int fd = open(path_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        ASSERT_EQ(fchmod(fd, mode), 0);
        close(fd);
}

TEST(secret_files) {
        char good[256], open_[256], empty[256], text[4096];

        write_file("good", "AK", 0600, good, sizeof(good));
        write_file("open", "SK", 0640, open_, sizeof(open_));
        write_file("empty", "", 0400, empty, sizeof(empty));

        snprintf(text, sizeof(text),
                 "credentials:\n"
                 "  ok:\n"
                 "    access-key: {file: %s}\n"
                 "    secret-key: {file: %s}\n"
                 "clusters:\n" CLUSTER("a", "/k/a") "    region: r1\n    credentials: ok\n",
                 good, good);
        _cleanup_(config_freep) Config *c = load_ok(text);
        ASSERT_EQ(c->credentials[0].access_key.source, SECRET_FILE);
        ASSERT_STREQ(c->credentials[0].access_key.ref, good);

        snprintf(text, sizeof(text),
                 "credentials:\n"
                 "  bad:\n"
                 "    access-key: {file: %s}\n"
                 "    secret-key: {file: %s}\n"
                 "    security-token: {file: %s/missing}\n"
                 "clusters: []\n",
                 open_, empty, tmpdir);
        _cleanup_free_ char *out = load_fail(text);
        ASSERT_CONTAINS(out, ":3:24: secret file ");
        ASSERT_CONTAINS(out, "is accessible by group or others (mode 0640)");
        ASSERT_CONTAINS(out, ":4:24: secret file ");
        ASSERT_CONTAINS(out, "is empty");
        ASSERT_CONTAINS(out, ":5:28: secret file ");
        ASSERT_CONTAINS(out, "No such file or directory");

        /* Credential references are checked only with $CREDENTIALS_DIRECTORY. */
        write_file("sk", "SK", 0644, good, sizeof(good));
        ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", tmpdir, 1), 0);
        _cleanup_free_ char *out2 = load_fail(
                "credentials:\n"
                "  ops:\n"
                "    access-key: {credential: ak}\n"
                "    secret-key: {credential: sk}\n"
                "clusters: []\n");
        ASSERT_CONTAINS(out2, ":3:30: credential file ");
        ASSERT_CONTAINS(out2, "/ak: No such file or directory");
        ASSERT_CONTAINS(out2, ":4:30: credential file ");
        ASSERT_CONTAINS(out2, "is accessible by group or others (mode 0644)");
        ASSERT_EQ(unsetenv("CREDENTIALS_DIRECTORY"), 0);
}

TEST(inline_secret_never_echoed) {
        _cleanup_free_ char *out = load_fail(
                "credentials:\n"
                "  ops:\n"
                "    access-key: HPUAEXAMPLEAK0000001\n"
                "    secret-key: {ExampleSecretKey00000000000000000000000001: x}\n"
                "    ExampleSecretKey00000000000000000000000002: y\n"
                "clusters: []\n");
        ASSERT_CONTAINS(out, ":3:17: access-key must be a reference");
        ASSERT_CONTAINS(out, ":4:18: unknown key in secret-key");
        ASSERT_CONTAINS(out, ":5:5: unknown key in credentials 'ops'");
        ASSERT(!strstr(out, "HPUAEXAMPLEAK"));
        ASSERT(!strstr(out, "ExampleSecretKey"));
}

TEST(credential_kinds) {
        _cleanup_(config_freep) Config *c = load_ok(
                "credentials:\n"
                "  t:\n"
                "    access-key: {credential: ak}\n"
                "    secret-key: {credential: sk}\n"
                "    security-token: {credential: st}\n"
                "  e1:\n"
                "    ecs-metadata: {}\n"
                "  e2:\n"
                "    ecs-metadata: {endpoint: \"http://127.0.0.1:8080/\"}\n"
                "  i:\n"
                "    iam-password: {domain: d, user: u, password: {credential: pw}}\n"
                "  s:\n"
                "    token: {credential: tok}\n"
                "clusters:\n"
                CLUSTER("a", "/k/a") "    region: r\n    credentials: t\n"
                CLUSTER("b", "/k/b") "    region: r\n    credentials: e1\n"
                CLUSTER("c", "/k/c") "    region: r\n    credentials: e2\n"
                CLUSTER("d", "/k/d") "    region: r\n    credentials: i\n"
                CLUSTER("e", "/k/e") "    region: r\n    credentials: s\n");
        ASSERT_EQ(c->n_credentials, 5);
        ASSERT_EQ(c->credentials[0].kind, CREDENTIAL_TEMPORARY_AKSK);
        ASSERT_EQ(c->credentials[1].kind, CREDENTIAL_ECS_METADATA);
        ASSERT_NULL(c->credentials[1].metadata_endpoint);
        ASSERT_EQ(c->credentials[2].kind, CREDENTIAL_ECS_METADATA);
        ASSERT_STREQ(c->credentials[2].metadata_endpoint, "http://127.0.0.1:8080");
        ASSERT_EQ(c->credentials[3].kind, CREDENTIAL_IAM_PASSWORD);
        ASSERT_STREQ(c->credentials[3].iam_domain, "d");
        ASSERT_STREQ(c->credentials[3].iam_user, "u");
        ASSERT_STREQ(c->credentials[3].password.ref, "pw");
        ASSERT_EQ(c->credentials[4].kind, CREDENTIAL_TOKEN);

        _cleanup_free_ char *out = load_fail(
                "credentials:\n"
                "  mixed:\n"
                "    access-key: {credential: ak}\n"
                "    secret-key: {credential: sk}\n"
                "    token: {credential: t}\n"
                "  half:\n"
                "    access-key: {credential: ak}\n"
                "  none: {}\n"
                "  iam:\n"
                "    iam-password: {user: u}\n"
                "clusters: []\n");
        ASSERT_CONTAINS(out, ":5:5: credentials 'mixed' mixes token with access-key");
        ASSERT_CONTAINS(out, ":7:5: credentials 'half' has access-key but no secret-key");
        ASSERT_CONTAINS(out, ":8:9: credentials 'none' has no credential");
        ASSERT_CONTAINS(out, ":10:19: iam-password needs domain");
        ASSERT_CONTAINS(out, ":10:19: iam-password needs password");
}

TEST(urls) {
        _cleanup_(config_freep) Config *c = load_ok(
                CREDENTIALS
                "clusters:\n"
                CLUSTER("a", "/k/a")
                "    api-endpoint: https://cce.example.com:8443/prefix//\n"
                "    credentials: ops\n");
        ASSERT_STREQ(c->clusters[0].api_endpoint, "https://cce.example.com:8443/prefix");
        ASSERT_NULL(c->clusters[0].region);

        _cleanup_free_ char *out = load_fail(
                CREDENTIALS
                "defaults: {credentials: ops, kubeconfig: /k/x, merge: true}\n"
                "clusters:\n"
                "  - {name: a, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c, api-endpoint: \"http://cce.example.com\"}\n"
                "  - {name: b, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c, api-endpoint: \"https://\"}\n"
                "  - {name: c, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c, api-endpoint: \"https://u:p@h\"}\n");
        ASSERT_CONTAINS(out, "api-endpoint 'http://cce.example.com' must start with https://");
        ASSERT_CONTAINS(out, "api-endpoint 'https://' has no host name");
        ASSERT_CONTAINS(out, "must be a plain URL");
        ASSERT(!strstr(out, "neither region nor api-endpoint"));
}

TEST(shared_files) {
        /* Merging clusters may share a file; an own-file cluster may not. */
        _cleanup_(config_freep) Config *c = load_ok(
                CREDENTIALS
                "defaults: {credentials: ops, region: r, merge: true, kubeconfig: /k/shared}\n"
                "clusters:\n"
                "  - {name: a, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c}\n"
                "  - {name: b, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0d}\n");
        ASSERT_EQ(c->n_clusters, 2);

        _cleanup_free_ char *out = load_fail(
                CREDENTIALS
                "defaults: {credentials: ops, region: r, kubeconfig: /k/shared}\n"
                "clusters:\n"
                "  - {name: a, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c}\n"
                "  - {name: b, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0d, merge: true}\n"
                "  - {name: a, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0e, kubeconfig: /k/other}\n");
        ASSERT_CONTAINS(out, "test.yaml:7:5: cluster 'a' writes /k/shared as its own file, but cluster 'b' (line 8) writes the same file");
        ASSERT_CONTAINS(out, "test.yaml:9:12: duplicate cluster name 'a' (first at line 7 column 12)");
}

TEST(many_clusters) {
        /* Thousands of clusters load, and a duplicate among them is found. */
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        ASSERT(f);
        fputs(CREDENTIALS "defaults: {credentials: ops, region: r}\nclusters:\n", f);
        for (int i = 0; i < 5000; i++)
                fprintf(f, "  - {name: c%d, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, "
                        "cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c, kubeconfig: /k/%d}\n", i, i);
        fclose(f);
        Config *c = load_ok(text);
        ASSERT_EQ(c->n_clusters, 5000);
        config_free(c);

        char *dup = strstr(text, "name: c4321,");
        ASSERT(dup);
        memcpy(dup, "name: c0001,", 12);  /* c0001 is not c1: still unique */
        c = load_ok(text);
        config_free(c);
        memcpy(dup, "name: c17,  ", 12);
        _cleanup_free_ char *out = load_fail(text);
        ASSERT_CONTAINS(out, "duplicate cluster name 'c17'");
        free(text);
}

TEST(dump_round_trip) {
        _cleanup_(config_freep) Config *c = load_ok(
                "credentials:\n"
                "  i:\n"
                "    iam-password: {domain: \"0\", user: \"yes\", password: {credential: pw}}\n"
                "  e:\n"
                "    ecs-metadata:\n"
                "clusters:\n"
                CLUSTER("a", "/k/a")
                "    region: cn-north-4\n"
                "    credentials: i\n"
                "    renew-before: 1d12h\n"
                "    tls-server-name: kubernetes.default.svc\n"
                CLUSTER("b", "/k/b")
                "    api-endpoint: https://cce.example.com\n"
                "    credentials: e\n"
                "    duration: max\n"
                "    merge: true\n"
                "    set-current-context: true\n"
                "    endpoint: internal\n"
                "    file-mode: \"0640\"\n");
        _cleanup_free_ char *dump = NULL, *dump2 = NULL;
        ASSERT_EQ(config_dump(c, &dump), 0);
        ASSERT_CONTAINS(dump, "renew-before: 1d12h\n");
        ASSERT_CONTAINS(dump, "duration: max\n");
        ASSERT_CONTAINS(dump, "file-mode: \"0640\"\n");
        ASSERT_CONTAINS(dump, "domain: \"0\"\n");
        ASSERT_CONTAINS(dump, "user: \"yes\"\n");
        ASSERT_CONTAINS(dump, "credential: pw\n");

        /* The dump is itself a configuration that dumps the same. */
        _cleanup_(config_freep) Config *c2 = load_ok(dump);
        ASSERT_EQ(config_dump(c2, &dump2), 0);
        ASSERT_STREQ(dump, dump2);
}

TEST(discover) {
        _cleanup_(config_freep) Config *c = load_ok(
                CREDENTIALS
                "defaults:\n"
                "  region: cn-north-4\n"
                "  credentials: ops\n"
                "  renew-before: 2d\n"
                "  on-renew: [/usr/local/bin/reload]\n"
                "discover:\n"
                "  - project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                "    kubeconfig: /etc/kubernetes/cce-certd/{project-id}/{name}.kubeconfig\n"
                "    match: [prod-*, '[ab]-?']\n"
                "    exclude: ['*-old']\n"
                "  - project-id: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n"
                "    kubeconfig: /etc/kubernetes/cce-certd/all.kubeconfig\n"
                "    merge: true\n"
                "    name: 'p2-{name}'\n"
                "    interval: 30s\n"
                "    duration: max\n");
        ASSERT_EQ(c->n_clusters, 0);
        ASSERT_EQ(c->n_discover, 2);

        const DiscoverConfig *d = &c->discover[0];
        ASSERT_STREQ(d->settings.project_id, "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
        ASSERT_STREQ(d->settings.kubeconfig, "/etc/kubernetes/cce-certd/{project-id}/{name}.kubeconfig");
        ASSERT_STREQ(d->name_template, "{name}");  /* the default */
        ASSERT_EQ(d->interval_sec, DISCOVER_INTERVAL_DEFAULT_SEC);
        ASSERT_STREQ(d->match[0], "prod-*");
        ASSERT_STREQ(d->match[1], "[ab]-?");
        ASSERT_NULL(d->match[2]);
        ASSERT_STREQ(d->exclude[0], "*-old");
        /* What a cluster inherits, a discover entry inherits. */
        ASSERT_STREQ(d->settings.region, "cn-north-4");
        ASSERT_STREQ(d->settings.credentials, "ops");
        ASSERT(d->settings.credential && strcmp(d->settings.credential->name, "ops") == 0);
        ASSERT_EQ(d->settings.renew_before_sec, 2 * 86400);
        ASSERT_STREQ(d->settings.on_renew[0], "/usr/local/bin/reload");
        ASSERT_EQ(d->settings.file_mode, DEFAULT_FILE_MODE);
        ASSERT_NULL(d->settings.name);
        ASSERT_NULL(d->settings.cluster_id);
        ASSERT_NULL(d->settings.context_name);

        /* A cluster it finds: its settings, named by the templates. */
        ClusterConfig found;
        ASSERT_EQ(discover_cluster_config(d, 0, "prod-a", "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c", "Available", &found), 0);
        ASSERT_STREQ(found.name, "prod-a");
        ASSERT_STREQ(found.cluster_id, "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c");
        ASSERT_STREQ(found.kubeconfig, "/etc/kubernetes/cce-certd/0a1b2c3d4e5f60718293a4b5c6d7e8f9/prod-a.kubeconfig");
        ASSERT_STREQ(found.context_name, "prod-a");
        ASSERT_STREQ(found.user_entry_name, "prod-a");
        ASSERT_STREQ(found.region, "cn-north-4");
        /* Shared with the entry, not copied (thousands of clusters); the entry names are its name. */
        ASSERT(found.region == d->settings.region);
        ASSERT(found.context_name == found.name && found.user_entry_name == found.name);
        ASSERT_STREQ(found.on_renew[0], "/usr/local/bin/reload");
        ASSERT(found.on_renew == d->settings.on_renew);
        ASSERT(found.credential == d->settings.credential);
        ASSERT_EQ(found.renew_before_sec, 2 * 86400);
        /* A copy owns all it holds, and outlives the entry's settings. */
        ClusterConfig *copy = cluster_config_dup(&found);
        ASSERT(copy && copy->region != d->settings.region && copy->context_name != copy->name);
        ASSERT_STREQ(copy->context_name, "prod-a");
        cluster_config_done(&found);
        ASSERT_STREQ(d->settings.region, "cn-north-4");  /* nothing of the entry's freed */
        cluster_config_free(copy);
        /* A name that cannot go into a path is refused. */
        ASSERT_EQ(discover_cluster_config(d, 0, "../etc", "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c", "Available", &found), -EINVAL);
        ASSERT_EQ(discover_cluster_config(d, 0, "a/b", "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c", "Available", &found), -EINVAL);

        d = &c->discover[1];
        ASSERT_STREQ(d->name_template, "p2-{name}");
        ASSERT_EQ(discover_cluster_config(d, 1, "x", "9e1f2a3b-5a6b-11ee-8c1d-0255ac100b0e", "Available", &found), 0);
        ASSERT_STREQ(found.name, "p2-x");
        ASSERT_STREQ(found.kubeconfig, "/etc/kubernetes/cce-certd/all.kubeconfig");
        ASSERT(found.merge);
        cluster_config_done(&found);
        ASSERT_EQ(d->interval_sec, 30);
        ASSERT(d->settings.merge);
        ASSERT_EQ(d->settings.lifetime_sec, CERT_LIFETIME_UNLIMITED);
        ASSERT_NULL(d->match);

        /* A file with discover entries needs no clusters list; one with neither is refused. */
        _cleanup_free_ char *e = load_fail(CREDENTIALS "defaults: {region: cn-north-4}\n");
        ASSERT_CONTAINS(e, "no clusters list");
        ASSERT_CONTAINS(e, "or \"discover:\"");
        free(e);
        e = load_fail(CREDENTIALS
                      "discover:\n"
                      "  - {project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, region: r1, credentials: ops,\n"
                      "     kubeconfig: '/k/{cluster-id}', name: '{project-id}'}\n"
                      "  - project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                      "    region: r1\n"
                      "    credentials: ops\n"
                      "    kubeconfig: '/k/{name'\n"
                      "    renew-at: 50%\n"
                      "    renew-before: 1d\n");
        ASSERT_CONTAINS(e, "discover entry #1: name '{project-id}' would give every cluster the same name");
        ASSERT_CONTAINS(e, "test.yaml:11:17: discover entry #2: kubeconfig '/k/{name' opens a '{' that it does not close");
        ASSERT_CONTAINS(e, "renew-at and renew-before are alternatives");
}

TEST(with_discovered_clusters) {
        Config *base = load_ok(
                CREDENTIALS
                "defaults: {region: cn-north-4, credentials: ops, on-failure: [/bin/alert, x]}\n"
                "clusters:\n"
                CLUSTER("a", "/k/a")
                "discover:\n"
                "  - project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                "    kubeconfig: /k/{name}\n"
                "    match: [p-*]\n");
        _cleanup_free_ char *before = NULL, *after = NULL;
        ClusterConfig found[2];
        Config *c = NULL;

        ASSERT_EQ(config_dump(base, &before), 0);
        ASSERT_EQ(discover_cluster_config(&base->discover[0], 0, "p-1", "11111111-0000-0000-0000-000000000001", "Available", &found[0]), 0);
        ASSERT_EQ(discover_cluster_config(&base->discover[0], 0, "p-2", "11111111-0000-0000-0000-000000000002", "Available", &found[1]), 0);
        ASSERT_EQ(config_with_clusters(base, found, 2, &c), 0);
        ASSERT_NULL(found[0].name);  /* taken over */
        config_free(base);  /* the copy owns everything it holds */

        ASSERT_EQ(c->n_clusters, 3);
        ASSERT_EQ(c->n_discover, 1);
        ASSERT_STREQ(c->clusters[0].name, "a");
        ASSERT_STREQ(c->clusters[2].name, "p-2");
        ASSERT_STREQ(c->clusters[2].kubeconfig, "/k/p-2");
        ASSERT_STREQ(c->clusters[2].on_failure[1], "x");
        for (size_t i = 0; i < c->n_clusters; i++)
                ASSERT(c->clusters[i].credential == &c->credentials[0]);
        ASSERT(c->discover[0].settings.credential == &c->credentials[0]);
        ASSERT_STREQ(c->discover[0].match[0], "p-*");
        ASSERT_EQ(config_dump(c, &after), 0);
        /* The same as the file says, with the two clusters added. */
        ASSERT_CONTAINS(after, "- name: p-1\n");
        ASSERT_CONTAINS(after, "discover:\n- project-id: \"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"\n");
        char *cut = strstr(before, "discover:");
        ASSERT(cut);
        ASSERT_CONTAINS(after, cut);
        config_free(c);
}

static void record_left_out(const ClusterConfig *c, const ClusterConfig *other, bool same_name, void *userdata) {
        char *log = userdata;
        size_t used = strlen(log);
        snprintf(log + used, 1024 - used, "%s/%s:%s%s:%s\n", c->name, c->cluster_id + 34, other->discovered ? "" : "configured ",
                 other->name, same_name ? "name" : "file");
}

/* Discovered clusters that would share a name, or a file one of them has
 * as its own, with a configured one or each other are left out, each told
 * with the other; clusters merged into one file together are taken. */
TEST(discovered_collisions) {
        Config *base = load_ok(
                CREDENTIALS
                "defaults: {region: cn-north-4, credentials: ops}\n"
                "clusters:\n"
                CLUSTER("a", "/k/a")
                CLUSTER("b", "/k/x")
                "discover:\n"
                "  - project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                "    kubeconfig: /k/{name}\n"
                "  - project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n"
                "    kubeconfig: /k/all\n"
                "    merge: true\n"
                "    name: m-{name}\n");
        static const DiscoveredItem items[] = {
                { 0, "11111111-0000-0000-0000-000000000001", "a", "Available" },    /* a configured one's name */
                { 0, "11111111-0000-0000-0000-000000000002", "p-1", "Available" },  /* two of one name */
                { 0, "11111111-0000-0000-0000-000000000003", "p-1", "Available" },
                { 0, "11111111-0000-0000-0000-000000000004", "x", "Available" },    /* b's own file */
                { 0, "11111111-0000-0000-0000-000000000005", "ok", "Available" },
                { 1, "11111111-0000-0000-0000-000000000006", "q1", "Available" },   /* merged together */
                { 1, "11111111-0000-0000-0000-000000000007", "q2", "Available" },
                { 0, "11111111-0000-0000-0000-000000000008", "all", "Available" },  /* the merged file as its own */
        };
        char log[1024] = "";
        Config *c = NULL;

        ASSERT_EQ(config_with_discovered(base, items, ELEMENTSOF(items), record_left_out, log, &c), 0);
        printf("%s", log);
        ASSERT_CONTAINS(log, "a/01:configured a:name\n");
        ASSERT_CONTAINS(log, "p-1/02:p-1:name\n");
        ASSERT_CONTAINS(log, "p-1/03:p-1:name\n");
        ASSERT_CONTAINS(log, "x/04:configured b:file\n");
        /* An own file where others merge: none of them taken. */
        ASSERT_CONTAINS(log, "all/08:m-q");
        ASSERT_CONTAINS(log, "m-q1/06:all:file\n");
        ASSERT_CONTAINS(log, "m-q2/07:all:file\n");
        ASSERT_EQ(c->n_clusters, 3);
        ASSERT_STREQ(c->clusters[2].name, "ok");
        ASSERT_STREQ(config_find_cluster(c, "a")->cluster_id, "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c");
        config_free(c);

        /* Without it, the two merged into one file together are taken. */
        log[0] = 0;
        ASSERT_EQ(config_with_discovered(base, items, ELEMENTSOF(items) - 1, record_left_out, log, &c), 0);
        ASSERT(!strstr(log, "m-q"));
        ASSERT_EQ(c->n_clusters, 5);
        ASSERT(config_find_cluster(c, "m-q1") && config_find_cluster(c, "m-q2"));
        ASSERT_STREQ(config_find_cluster(c, "m-q1")->kubeconfig, "/k/all");
        config_free(c);
        config_free(base);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

int main(int argc, char **argv) {
        static const TestCase tests[] = {
                T(minimal_and_defaults), T(aliases_into_earlier_clusters), T(top_level_settings), T(builtin_defaults), T(all_errors_in_one_run), T(missing_keys),
                T(top_level), T(bad_bytes), T(secret_files), T(inline_secret_never_echoed),
                T(credential_kinds), T(urls), T(shared_files), T(many_clusters), T(dump_round_trip), T(discover), T(with_discovered_clusters), T(discovered_collisions),
        };
        int r;

        unsetenv("CREDENTIALS_DIRECTORY");
        ASSERT(mkdtemp(tmpdir));
        r = run_tests(tests, ELEMENTSOF(tests), argc, argv);
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r;
}
