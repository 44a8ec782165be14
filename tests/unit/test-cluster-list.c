/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster-list.h"
#include "macro.h"
#include "tests.h"

/* An item as CCE writes it: the three fields read, and many that are not. */
#define ITEM(name, uid, phase)                                                                          \
        "{\"kind\":\"Cluster\",\"apiVersion\":\"v3\","                                                  \
        "\"metadata\":{\"name\":\"" name "\",\"uid\":\"" uid "\",\"creationTimestamp\":\"2026-01-02\"," \
        "\"labels\":{\"FeatureGates\":\"elbv3,\"},\"annotations\":{\"a\":{\"deep\":[1,[2,{\"x\":null}]]}}},"  \
        "\"spec\":{\"category\":\"CCE\",\"type\":\"VirtualMachine\",\"flavor\":\"cce.s1.small\","        \
        "\"hostNetwork\":{\"vpc\":\"v\",\"subnet\":\"s\"},\"containerNetwork\":{\"mode\":\"overlay_l2\"},"  \
        "\"kubeProxyMode\":\"iptables\",\"az\":\"multi_az\",\"extendParam\":{\"upgradefrom\":\"\"}},"    \
        "\"status\":{\"phase\":\"" phase "\",\"jobID\":\"j\",\"endpoints\":[{\"url\":\"https://192.0.2.1:5443\"," \
        "\"type\":\"Internal\"}],\"isLocked\":false,\"deleteOption\":{},\"nodeCount\":3}}"

#define UID_A "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c"
#define UID_B "7c2d9e4f-5a6b-11ee-8c1d-0255ac100b0d"

static int parse_list(const char *text, CceClusterList *l, ApiError *e) {
        *e = (ApiError) {};
        return cce_parse_cluster_list(text, strlen(text), l, e);
}

static void list_fails(const char *text, const char *why) {
        CceClusterList l = {};
        ApiError e;
        int r = parse_list(text, &l, &e);
        if (r != -EINVAL || !strstr(e.message, why))
                fprintf(stderr, "for %s\n  got %d: %s\n  expected: %s\n", text, r, e.message, why);
        ASSERT_EQ(r, -EINVAL);
        ASSERT_EQ(e.klass, API_ERROR_BAD_RESPONSE);
        ASSERT(strstr(e.message, why));
        ASSERT_EQ(l.n_items, 0);
        ASSERT_NULL(l.items);
}

TEST(listing) {
        CceClusterList l = {};
        ApiError e;
        const char *text = "{\"kind\":\"Cluster\",\"apiVersion\":\"v3\",\"items\":["
                ITEM("prod-a", UID_A, "Available") "," ITEM("dev", UID_B, "Hibernation") "]}";

        ASSERT_EQ(parse_list(text, &l, &e), 0);
        ASSERT_EQ(l.n_items, 2);
        ASSERT_STREQ(l.items[0].name, "prod-a");
        ASSERT_STREQ(l.items[0].id, UID_A);
        ASSERT_STREQ(l.items[0].phase, "Available");
        ASSERT(cce_cluster_available(&l.items[0]));
        ASSERT_STREQ(l.items[1].name, "dev");
        ASSERT_STREQ(l.items[1].phase, "Hibernation");
        ASSERT(!cce_cluster_available(&l.items[1]));
        cce_cluster_list_done(&l);
        ASSERT_EQ(l.n_items, 0);

        /* An empty project; no items at all; items null; fields in any order. */
        ASSERT_EQ(parse_list("{\"kind\":\"Cluster\",\"items\":[]}", &l, &e), 0);
        ASSERT_EQ(l.n_items, 0);
        ASSERT_EQ(parse_list("{}", &l, &e), 0);
        ASSERT_EQ(parse_list("{\"items\":null}", &l, &e), 0);
        ASSERT_EQ(parse_list("{\"items\":[{\"status\":{\"phase\":\"Creating\"},\"metadata\":{\"uid\":\"" UID_A
                             "\",\"name\":\"x\"}}],\"kind\":\"Cluster\"}", &l, &e), 0);
        ASSERT_EQ(l.n_items, 1);
        ASSERT_STREQ(l.items[0].phase, "Creating");
        cce_cluster_list_done(&l);

        /* No status, or no phase: known, not available. An unknown phase is kept as it is. */
        ASSERT_EQ(parse_list("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"1\"}},"
                             "{\"metadata\":{\"name\":\"b\",\"uid\":\"2\"},\"status\":{\"phase\":null}},"
                             "{\"metadata\":{\"name\":\"c\",\"uid\":\"3\"},\"status\":{\"phase\":\"Teleporting\"}}]}",
                             &l, &e), 0);
        ASSERT_EQ(l.n_items, 3);
        ASSERT_STREQ(l.items[0].phase, "");
        ASSERT_STREQ(l.items[1].phase, "");
        ASSERT_STREQ(l.items[2].phase, "Teleporting");
        ASSERT(!cce_cluster_available(&l.items[2]));
        cce_cluster_list_done(&l);
}

TEST(listing_errors) {
        list_fails("[]", "the answer is an array, not an object");
        list_fails("\"x\"", "not an object");
        list_fails("{\"items\":{}}", "items is an object, not an array");
        list_fails("{\"items\":[1]}", "items[0] is a number, not an object");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"1\"}}, \"x\"]}", "items[1] is a string");
        list_fails("{\"items\":[{\"metadata\":[]}]}", "items[0].metadata is an array, not an object");
        list_fails("{\"items\":[{\"metadata\":{\"uid\":\"1\"}}]}", "items[0].metadata.name is missing");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\"}}]}", "items[0].metadata.uid is missing");
        list_fails("{\"items\":[{}]}", "items[0].metadata.name is missing");
        list_fails("{\"items\":[{\"metadata\":{\"name\":7,\"uid\":\"1\"}}]}", "items[0].metadata.name is a number, not a string");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":null}}]}", "metadata.uid is null, not a string");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"1\"},\"status\":{\"phase\":true}}]}",
                   "items[0].status.phase is a boolean, not a string");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"1\"},\"status\":\"x\"}]}",
                   "items[0].status is a string, not an object");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"name\":\"b\",\"uid\":\"1\"}}]}",
                   "items[0].metadata.name is given twice");
        list_fails("{\"items\":[],\"items\":[]}", "items is given twice");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"\",\"uid\":\"1\"}}]}", "metadata.name is not 1 to 256 printable");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\\nb\",\"uid\":\"1\"}}]}", "metadata.name is not 1 to 256 printable");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"1\"}},{\"metadata\":{\"name\":\"b\",\"uid\":\"1\"}}]}",
                   "two items have the uid 1");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"1\"}},{\"metadata\":{\"name\":\"a\",\"uid\":\"2\"}}]}",
                   "two items have the name a");
        /* Broken JSON, said without quoting the answer. */
        list_fails("{\"items\":[", "invalid JSON");
        list_fails("{\"items\":[]} {}", "invalid JSON");
        list_fails("{\"items\":[]} // comment", "invalid JSON");
        list_fails("{\"items\":[{\"metadata\":{\"name\":\"\xff\",\"uid\":\"1\"}}]}", "invalid JSON");
        list_fails("", "invalid JSON");

        /* Nesting is capped in skipped parts too. */
        char deep[200] = "{\"items\":[],\"x\":";
        for (int i = 0; i < CLUSTER_LIST_MAX_DEPTH; i++)
                strcat(deep, "[");
        list_fails(deep, "nested deeper than 32 levels");

        /* A field longer than the cap. */
        char long_name[400];
        snprintf(long_name, sizeof(long_name), "{\"items\":[{\"metadata\":{\"name\":\"%0*d\",\"uid\":\"1\"}}]}",
                 CLUSTER_LIST_FIELD_MAX + 1, 0);
        list_fails(long_name, "metadata.name is not 1 to 256 printable");
}

TEST(listing_caps) {
        /* CLUSTER_LIST_ITEMS_MAX items pass, one more does not. */
        size_t n = CLUSTER_LIST_ITEMS_MAX + 1, size = n * 64 + 64;
        _cleanup_free_ char *text = malloc(size);
        CceClusterList l = {};
        ApiError e;
        char *p = text;

        ASSERT(text);
        p += sprintf(p, "{\"items\":[");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s{\"metadata\":{\"name\":\"c%zu\",\"uid\":\"u%zu\"}}", i ? "," : "", i, i);
        strcpy(p, "]}");
        list_fails(text, "more than 100000 clusters");

        /* Cut after CLUSTER_LIST_ITEMS_MAX items: fine. */
        p = strstr(text, ",{\"metadata\":{\"name\":\"c100000\"");
        ASSERT(p);
        strcpy(p, "]}");
        ASSERT_EQ(cce_parse_cluster_list(text, strlen(text), &l, &e), 0);
        ASSERT_EQ(l.n_items, CLUSTER_LIST_ITEMS_MAX);
        ASSERT_STREQ(l.items[CLUSTER_LIST_ITEMS_MAX - 1].id, "u99999");
        cce_cluster_list_done(&l);

        /* The size cap is checked before anything is read. */
        ASSERT_EQ(cce_parse_cluster_list("{}", (size_t) CLUSTER_LIST_ANSWER_MAX + 1, &l, &e), -EINVAL);
        ASSERT(strstr(e.message, "larger than"));
}

TEST(one_cluster) {
        CceClusterInfo c = {};
        ApiError e = {};
        const char *text = ITEM("prod-a", UID_A, "Available");

        ASSERT_EQ(cce_parse_cluster(text, strlen(text), &c, &e), 0);
        ASSERT_STREQ(c.name, "prod-a");
        ASSERT_STREQ(c.id, UID_A);
        ASSERT(cce_cluster_available(&c));
        cce_cluster_info_done(&c);
        ASSERT_NULL(c.name);

        text = "{\"metadata\":{\"name\":\"a\"}}";
        ASSERT_EQ(cce_parse_cluster(text, strlen(text), &c, &e), -EINVAL);
        ASSERT(strstr(e.message, "invalid cluster answer: metadata.uid is missing"));
        text = "{\"items\":[]}";  /* a listing is not one cluster */
        ASSERT_EQ(cce_parse_cluster(text, strlen(text), &c, &e), -EINVAL);
        ASSERT(strstr(e.message, "metadata.name is missing"));
        ASSERT_NULL(c.name);
}

TEST(fed_in_pieces) {
        /* Byte by byte, the same as whole; a bad answer is known as soon as it is bad. */
        const char *text = "{\"items\":[" ITEM("prod-a", UID_A, "Available") "," ITEM("dev", UID_B, "Creating") "]}";
        ClusterListReader *lr = NULL;
        CceClusterList l = {};
        ApiError e = {};

        ASSERT_EQ(cluster_list_reader_new(false, &lr), 0);
        for (const char *p = text; *p; p++)
                ASSERT_EQ(cluster_list_reader_feed(lr, p, 1), 0);
        ASSERT_EQ(cluster_list_reader_finish(lr, &l, NULL, &e), 0);
        lr = cluster_list_reader_free(lr);
        ASSERT_EQ(l.n_items, 2);
        ASSERT_STREQ(l.items[1].name, "dev");
        ASSERT_STREQ(l.items[1].phase, "Creating");
        cce_cluster_list_done(&l);

        ASSERT_EQ(cluster_list_reader_new(false, &lr), 0);
        ASSERT_EQ(cluster_list_reader_feed(lr, "[", 1), -EINVAL);
        ASSERT_EQ(cluster_list_reader_feed(lr, "]", 1), -EINVAL);  /* stays bad, reads no more */
        ASSERT_EQ(cluster_list_reader_finish(lr, &l, NULL, &e), -EINVAL);
        ASSERT(strstr(e.message, "the answer is an array, not an object"));
        lr = cluster_list_reader_free(lr);

        /* The size cap counts what was fed. */
        ASSERT_EQ(cluster_list_reader_new(false, &lr), 0);
        ASSERT_EQ(cluster_list_reader_feed(lr, "{\"x\":\"", 6), 0);
        ASSERT_EQ(cluster_list_reader_feed(lr, text, (size_t) CLUSTER_LIST_ANSWER_MAX), -EINVAL);
        ASSERT_EQ(cluster_list_reader_finish(lr, &l, NULL, &e), -EINVAL);
        ASSERT(strstr(e.message, "larger than"));
        cluster_list_reader_free(lr);
        ASSERT_NULL(cluster_list_reader_free(NULL));
}

TEST(paths) {
        _cleanup_free_ char *list = NULL, *one = NULL;

        ASSERT_EQ(cce_list_clusters_path("0a1b", &list), 0);
        ASSERT_STREQ(list, "/api/v3/projects/0a1b/clusters");
        ASSERT_EQ(cce_show_cluster_path("0a1b", UID_A, &one), 0);
        ASSERT_STREQ(one, "/api/v3/projects/0a1b/clusters/" UID_A);
}

RUN_TESTS(T(listing), T(listing_errors), T(listing_caps), T(one_cluster), T(fed_in_pieces), T(paths))
