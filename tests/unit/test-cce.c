/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "cce.h"
#include "macro.h"
#include "tests.h"

/* base64 of "-----BEGIN X-----" style placeholders: the parser checks the
 * encoding only; certificates are checked by the cert module. */
#define B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

#define ANSWER(clusters, users, contexts, current) \
        "{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"preferences\":{}," \
        "\"clusters\":[" clusters "],\"users\":[" users "],\"contexts\":[" contexts "]," \
        "\"current-context\":\"" current "\"}"

#define INTERNAL_CLUSTER "{\"name\":\"internalCluster\",\"cluster\":{\"server\":\"https://192.168.1.7:5443\",\"certificate-authority-data\":\"" B64 "\"}}"
#define EXTERNAL_CLUSTER "{\"name\":\"externalCluster\",\"cluster\":{\"server\":\"https://1.2.3.4:5443\",\"insecure-skip-tls-verify\":true}}"
#define USER "{\"name\":\"user\",\"user\":{\"client-certificate-data\":\"" B64 "\",\"client-key-data\":\"" B64 "\"}}"
#define INTERNAL_CONTEXT "{\"name\":\"internal\",\"context\":{\"cluster\":\"internalCluster\",\"user\":\"user\"}}"
#define EXTERNAL_CONTEXT "{\"name\":\"external\",\"context\":{\"cluster\":\"externalCluster\",\"user\":\"user\"}}"

TEST(endpoints) {
        _cleanup_free_ char *a = NULL, *b = NULL, *p = NULL, *body = NULL, *max = NULL;
        ASSERT_EQ(cce_endpoint_for_region("cn-north-4", &a), 0);
        ASSERT_STREQ(a, "https://cce.cn-north-4.myhuaweicloud.com");
        ASSERT_EQ(cce_endpoint_for_region("eu-west-101", &b), 0);
        ASSERT_STREQ(b, "https://cce.eu-west-101.myhuaweicloud.eu");
        ASSERT_EQ(cce_clustercert_path("p1", "c1", &p), 0);
        ASSERT_STREQ(p, "/api/v3/projects/p1/clusters/c1/clustercert");
        ASSERT_EQ(cce_clustercert_body(30 * 86400, false, 1000, &body), 0);
        ASSERT_STREQ(body, "{\"duration\":30}");
        ASSERT_EQ(cce_clustercert_body(-1, false, 1000, &max), 0);
        ASSERT_STREQ(max, "{\"duration\":-1}");
}

TEST(lifetime_request) {
        _cleanup_free_ char *hours = NULL, *days = NULL, *rounded = NULL, *short_rounded = NULL, *day = NULL;
        char at[CCE_EXPIRE_AT_SIZE];
        /* 2025-01-01 12:00:00 UTC */
        const int64_t now = 1735732800;

        ASSERT_STREQ(cce_expire_at(now, at), "2025-01-01 12:00:00 +0000 UTC");
        ASSERT_STREQ(cce_expire_at(now + 4 * 3600 + 61, at), "2025-01-01 16:01:01 +0000 UTC");
        /* Not whole days: expire_at = now + lifetime, and no duration. */
        ASSERT_EQ(cce_clustercert_body(4 * 3600, false, now, &hours), 0);
        ASSERT_STREQ(hours, "{\"expire_at\":\"2025-01-01 16:00:00 +0000 UTC\"}");
        /* Whole days: duration, which every cluster version takes. */
        ASSERT_EQ(cce_clustercert_body(7 * 86400, false, now, &days), 0);
        ASSERT_STREQ(days, "{\"duration\":7}");
        /* The fallback: days, rounded up, at least one. */
        ASSERT_EQ(cce_clustercert_body(36 * 3600, true, now, &rounded), 0);
        ASSERT_STREQ(rounded, "{\"duration\":2}");
        ASSERT_EQ(cce_clustercert_body(3600, true, now, &short_rounded), 0);
        ASSERT_STREQ(short_rounded, "{\"duration\":1}");
        ASSERT_EQ(cce_clustercert_body(86400, true, now, &day), 0);
        ASSERT_STREQ(day, "{\"duration\":1}");
        ASSERT(cce_lifetime_whole_days(-1) && cce_lifetime_whole_days(86400) && !cce_lifetime_whole_days(90 * 60));
        ASSERT_EQ(cce_lifetime_days(-1), -1);
}

TEST(revoke_request) {
        _cleanup_free_ char *p = NULL, *user = NULL, *agency = NULL, *bad = NULL;
        CceIdentity who = { .id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9" };

        ASSERT_EQ(cce_revoke_path("p1", "c1", &p), 0);
        ASSERT_STREQ(p, "/api/v3/projects/p1/clusters/c1/clustercertrevoke");
        ASSERT_EQ(cce_revoke_body(&who, &user), 0);
        ASSERT_STREQ(user, "{\"userId\":\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"}");
        who.agency = true;
        ASSERT_EQ(cce_revoke_body(&who, &agency), 0);
        ASSERT_STREQ(agency, "{\"agencyId\":\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\"}");
        /* A CN that is no IAM id is never sent (nor could it break the JSON). */
        ASSERT(cce_identity_id_valid("ab-C_9"));
        ASSERT(!cce_identity_id_valid(""));
        ASSERT(!cce_identity_id_valid("a\"b"));
        ASSERT(!cce_identity_id_valid("user name"));
        ASSERT(!cce_identity_id_valid("x/../y"));
        ASSERT(!cce_identity_id_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
        snprintf(who.id, sizeof(who.id), "a\"}");
        ASSERT_EQ(cce_revoke_body(&who, &bad), -EINVAL);
        ASSERT_NULL(bad);
}

TEST(internal_only) {
        _cleanup_(cce_kubeconfig_freep) CceKubeconfig *k = NULL;
        const char *s = ANSWER(INTERNAL_CLUSTER, USER, INTERNAL_CONTEXT, "internal");
        ApiError e = {};

        ASSERT_EQ(cce_parse_kubeconfig(s, strlen(s), &k, &e), 0);
        ASSERT_EQ(k->n_clusters, 1);
        ASSERT_STREQ(k->clusters[0].server, "https://192.168.1.7:5443");
        ASSERT_STREQ(k->clusters[0].certificate_authority_data, B64);
        ASSERT(!k->clusters[0].insecure_skip_tls_verify);
        ASSERT_STREQ(k->users[0].client_key_data, B64);
        ASSERT_STREQ(k->current_context, "internal");
        ASSERT(cce_kubeconfig_context(k, "internal"));
        ASSERT_NULL(cce_kubeconfig_context(k, "external"));
}

TEST(internal_and_external) {
        _cleanup_(cce_kubeconfig_freep) CceKubeconfig *k = NULL;
        const char *s = ANSWER(INTERNAL_CLUSTER "," EXTERNAL_CLUSTER, USER, INTERNAL_CONTEXT "," EXTERNAL_CONTEXT, "external");
        ApiError e = {};

        ASSERT_EQ(cce_parse_kubeconfig(s, strlen(s), &k, &e), 0);
        ASSERT_EQ(k->n_clusters, 2);
        ASSERT(cce_kubeconfig_cluster(k, "externalCluster")->insecure_skip_tls_verify);
        ASSERT_NULL(cce_kubeconfig_cluster(k, "externalCluster")->certificate_authority_data);
        ASSERT_STREQ(cce_kubeconfig_context(k, k->current_context)->cluster, "externalCluster");
}

static void expect_bad(const char *s, const char *why) {
        CceKubeconfig *k = NULL;
        ApiError e = {};
        ASSERT_EQ(cce_parse_kubeconfig(s, strlen(s), &k, &e), -EINVAL);
        ASSERT_NULL(k);
        ASSERT_EQ(e.klass, API_ERROR_BAD_RESPONSE);
        if (!strstr(e.message, why)) {
                fprintf(stderr, "'%s' not in '%s'\n", why, e.message);
                abort();
        }
        /* The message never carries the answer's key material. */
        ASSERT(!strstr(e.message, B64));
}

TEST(invalid_answers) {
        expect_bad("", "invalid JSON");
        expect_bad("{\"kind\":\"Config\"", "invalid JSON");
        expect_bad("[]", "not an object");
        expect_bad("{\"kind\":\"Config\",\"apiVersion\":\"v2\"}", "apiVersion is not v1");
        expect_bad("{\"kind\":\"List\",\"apiVersion\":\"v1\"}", "kind is not Config");
        expect_bad(ANSWER(, USER, INTERNAL_CONTEXT, "internal"), "clusters is empty");
        expect_bad("{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"clusters\":{}}", "clusters is an object, not an array");
        expect_bad(ANSWER("1", USER, INTERNAL_CONTEXT, "internal"), "clusters[0] is a number, not an object");
        expect_bad(ANSWER("{\"name\":\"internalCluster\",\"cluster\":{\"server\":\"http://192.168.1.7:5443\"}}", USER, INTERNAL_CONTEXT, "internal"),
                   "server is not an https:// URL");
        expect_bad(ANSWER("{\"name\":\"internalCluster\",\"cluster\":{\"server\":5443}}", USER, INTERNAL_CONTEXT, "internal"),
                   "clusters[0].cluster.server is a number, not a string");
        expect_bad(ANSWER("{\"name\":\"internalCluster\",\"cluster\":{\"server\":\"https://a\",\"insecure-skip-tls-verify\":\"true\"}}", USER, INTERNAL_CONTEXT, "internal"),
                   "not a boolean");
        expect_bad(ANSWER("{\"name\":\"internalCluster\",\"cluster\":{\"server\":\"https://a\",\"certificate-authority-data\":\"not base64!\"}}", USER, INTERNAL_CONTEXT, "internal"),
                   "certificate-authority-data is not valid base64");
        expect_bad(ANSWER(INTERNAL_CLUSTER "," INTERNAL_CLUSTER, USER, INTERNAL_CONTEXT, "internal"), "two clusters are named internalCluster");
        expect_bad(ANSWER(INTERNAL_CLUSTER, "{\"name\":\"user\",\"user\":{\"client-certificate-data\":\"" B64 "\"}}", INTERNAL_CONTEXT, "internal"),
                   "users[0].user has no client-key-data");
        expect_bad(ANSWER(INTERNAL_CLUSTER, "{\"name\":\"user\",\"user\":{\"client-certificate-data\":\"" B64 "\",\"client-key-data\":\"%%%\"}}", INTERNAL_CONTEXT, "internal"),
                   "client-key-data is not valid base64");
        expect_bad(ANSWER(INTERNAL_CLUSTER, USER, EXTERNAL_CONTEXT, "external"), "contexts[0].context.cluster names no cluster");
        expect_bad(ANSWER(INTERNAL_CLUSTER, USER, INTERNAL_CONTEXT, "external"), "current-context names no context");
        expect_bad(ANSWER(INTERNAL_CLUSTER, USER, INTERNAL_CONTEXT "," INTERNAL_CONTEXT, "internal"), "two contexts are named internal");
        expect_bad("{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"clusters\":[" INTERNAL_CLUSTER "],\"users\":[" USER "],\"contexts\":[" INTERNAL_CONTEXT "]}",
                   "the answer has no current-context");
}

TEST(caps) {
        /* Too many entries, a field too long, a body too large. */
        char *s = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&s, &size);
        ASSERT(f);
        fputs("{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"clusters\":[", f);
        for (int i = 0; i < CCE_ENTRIES_MAX + 1; i++)
                fprintf(f, "%s{\"name\":\"c%d\",\"cluster\":{\"server\":\"https://a\"}}", i ? "," : "", i);
        fputs("]}", f);
        fclose(f);
        expect_bad(s, "clusters has more than 16 entries");
        free(s);

        char *big = malloc(CCE_FIELD_MAX + 200);
        ASSERT(big);
        int n = sprintf(big, "{\"kind\":\"Config\",\"apiVersion\":\"v1\",\"clusters\":[{\"name\":\"");
        memset(big + n, 'a', CCE_FIELD_MAX + 1);
        strcpy(big + n + CCE_FIELD_MAX + 1, "\"}]}");
        expect_bad(big, "clusters[0].name is longer than 65536 bytes");
        free(big);

        CceKubeconfig *k = NULL;
        ApiError e = {};
        ASSERT_EQ(cce_parse_kubeconfig("{}", CCE_ANSWER_MAX + 1, &k, &e), -EINVAL);
        ASSERT(strstr(e.message, "larger than"));
}

RUN_TESTS(T(endpoints), T(revoke_request), T(lifetime_request), T(internal_only), T(internal_and_external), T(invalid_answers), T(caps))
