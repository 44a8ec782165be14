/* SPDX-License-Identifier: MIT */
/* The kubeconfig model: endpoint choice, own-file and merge rendering,
 * refusals, reading back; kubectl reading what we write (when installed);
 * and two processes merging different clusters into one file. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic-file.h"
#include "config.h"
#include "json.h"
#include "kubeconfig.h"
#include "macro.h"
#include "secure-memory.h"
#include "yaml-tree.h"
#include "fixtures.h"

static char dir[] = "/tmp/test-kubeconfig-XXXXXX";
static int64_t now;

static Config *load(const char *extra_defaults, const char *path) {
        char text[4096];
        Config *c = NULL;
        ConfigErrors errors = {};
        snprintf(text, sizeof(text),
                 "credentials: {t: {token: {credential: t}}}\n"
                 "defaults: {region: r, credentials: t, kubeconfig: \"%s\"%s}\n"
                 "clusters:\n"
                 "  - {name: prod, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c}\n"
                 "  - {name: staging, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 7c2d9e4f-5a6b-11ee-8c1d-0255ac100b0d,\n"
                 "     context-name: staging-admin%s%s%s}\n",
                 path, extra_defaults,
                 /* Own files need a path each. */
                 strstr(extra_defaults, "merge: true") ? "" : ", kubeconfig: \"", strstr(extra_defaults, "merge: true") ? "" : path,
                 strstr(extra_defaults, "merge: true") ? "" : ".staging\"");
        if (config_load_buffer("t.yaml", text, strlen(text), &c, &errors) < 0) {
                config_errors_print(&errors, "t.yaml", stderr);
                abort();
        }
        config_errors_clear(&errors);
        return c;
}

static char *render(const ClusterConfig *cl, const CceKubeconfig *a, const char *existing, int expect) {
        char *out = NULL, error[512] = "";
        size_t size;
        bool insecure;
        int r = kubeconfig_render(cl, a, existing, existing ? strlen(existing) : 0, &out, &size, &insecure, error, sizeof(error));
        if (r != expect) {
                fprintf(stderr, "render: %d (%s), expected %d\n", r, error, expect);
                abort();
        }
        if (r < 0) {
                printf("  refused: %s\n", error);
                return NULL;
        }
        ASSERT_EQ(strlen(out), size);
        return out;
}

static YamlNode *parse(const char *text) {
        YamlNode *root;
        YamlError e;
        ASSERT_EQ(yaml_tree_parse(text, strlen(text), &root, &e), 0);
        return root;
}

static const YamlNode *entry(const YamlNode *root, const char *list, const char *name) {
        const YamlNode *seq = yaml_mapping_get(root, list);
        for (size_t i = 0; seq && i < seq->n_children; i++) {
                const YamlNode *n = yaml_mapping_get(seq->children[i], "name");
                if (n && strcmp(n->value, name) == 0)
                        return seq->children[i];
        }
        return NULL;
}

static const char *at(const YamlNode *root, const char *list, const char *name, const char *inner, const char *key) {
        const YamlNode *e = entry(root, list, name);
        const YamlNode *v = yaml_mapping_get(yaml_mapping_get(e, inner), key);
        return v ? v->value : NULL;
}

TEST(choose) {
        _cleanup_(config_freep) Config *c = load("", "/k/a");
        ClusterConfig cl = c->clusters[0];
        CceKubeconfig *in = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        CceKubeconfig *ex = fixture_answer(SHAPE_EXTERNAL, now - 60, now + 86400);
        CceKubeconfig *tls = fixture_answer(SHAPE_EXTERNAL_TLS, now - 60, now + 86400);
        KubeconfigChoice ch;
        char error[256];

        cl.endpoint = ENDPOINT_AUTO;
        ASSERT_EQ(kubeconfig_choose(&cl, in, &ch, error, sizeof(error)), 0);
        ASSERT_STREQ(ch.cluster->name, "internalCluster");
        ASSERT(!ch.insecure);
        ASSERT_EQ(kubeconfig_choose(&cl, ex, &ch, error, sizeof(error)), 0);
        ASSERT_STREQ(ch.cluster->name, "externalCluster");
        ASSERT(ch.insecure);

        cl.endpoint = ENDPOINT_INTERNAL;
        ASSERT_EQ(kubeconfig_choose(&cl, ex, &ch, error, sizeof(error)), 0);
        ASSERT_STREQ(ch.cluster->name, "internalCluster");

        cl.endpoint = ENDPOINT_EXTERNAL;
        ASSERT_EQ(kubeconfig_choose(&cl, in, &ch, error, sizeof(error)), -ENOENT);
        ASSERT(strstr(error, "no external endpoint"));
        ASSERT_EQ(kubeconfig_choose(&cl, ex, &ch, error, sizeof(error)), 0);
        ASSERT(ch.insecure);
        /* The verifying external entry is preferred. */
        ASSERT_EQ(kubeconfig_choose(&cl, tls, &ch, error, sizeof(error)), 0);
        ASSERT_STREQ(ch.cluster->name, "externalClusterTLSVerify");
        ASSERT(!ch.insecure);

        /* tls-server-name: CA data instead of skipping verification. */
        cl.tls_server_name = (char *) "kubernetes";
        ASSERT_EQ(kubeconfig_choose(&cl, ex, &ch, error, sizeof(error)), 0);
        ASSERT_STREQ(ch.cluster->name, "externalCluster");
        ASSERT(!ch.insecure);
        ASSERT(ch.ca_data);

        cce_kubeconfig_free(in);
        cce_kubeconfig_free(ex);
        cce_kubeconfig_free(tls);
}

TEST(own_file) {
        _cleanup_(config_freep) Config *c = load("", "/k/a");
        const ClusterConfig *cl = &c->clusters[0];
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        _cleanup_free_wiped_ char *out = render(cl, a, NULL, 0);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(out);
        KubeconfigStatus st;

        ASSERT_STREQ(yaml_mapping_get(root, "apiVersion")->value, "v1");
        ASSERT_STREQ(yaml_mapping_get(root, "kind")->value, "Config");
        ASSERT_STREQ(yaml_mapping_get(root, "current-context")->value, "prod");
        ASSERT_EQ(yaml_node_size(yaml_mapping_get(root, "clusters")), 1);
        ASSERT_STREQ(at(root, "clusters", "prod", "cluster", "server"), "https://192.168.0.10:5443");
        ASSERT_STREQ(at(root, "contexts", "prod", "context", "cluster"), "prod");
        ASSERT_STREQ(at(root, "contexts", "prod", "context", "user"), "prod");
        ASSERT_STREQ(at(root, "users", "prod", "user", "client-key-data"), a->users[0].client_key_data);

        kubeconfig_inspect_text(cl, out, strlen(out), &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 86400);

        /* The same answer renders the same bytes: nothing would be written. */
        _cleanup_free_wiped_ char *again = render(cl, a, out, 0);
        ASSERT_STREQ(again, out);
        cce_kubeconfig_free(a);
}

/* kubectl edits to an own file are kept: a context's namespace, a
 * cluster's proxy-url, another context of its entries, preferences, and
 * the current context when it is one of the file's; cce-certd's own fields
 * are set anew. */
TEST(own_file_keeps_edits) {
        _cleanup_(config_freep) Config *c = load("", "/k/a");
        const ClusterConfig *cl = &c->clusters[0];
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        CceKubeconfig *b = fixture_answer(SHAPE_INTERNAL, now - 30, now + 2 * 86400);
        _cleanup_free_wiped_ char *first = render(cl, a, NULL, 0);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(first);
        _cleanup_free_ char *edited = NULL;
        size_t size;

        /* As kubectl config set-context / set-cluster / set would leave it. */
        YamlNode *ctx = (YamlNode *) yaml_mapping_get(entry(root, "contexts", "prod"), "context");
        YamlNode *cluster = (YamlNode *) yaml_mapping_get(entry(root, "clusters", "prod"), "cluster");
        ASSERT_EQ(yaml_mapping_append_plain(ctx, "namespace", "team-x"), 0);
        ASSERT_EQ(yaml_mapping_append_plain(cluster, "proxy-url", "http://proxy:3128"), 0);
        ASSERT_EQ(yaml_mapping_append_plain((YamlNode *) yaml_mapping_get(root, "preferences"), "colors", "true"), 0);
        _cleanup_(yaml_node_freep) YamlNode *more = parse("name: prod-system\ncontext: {cluster: prod, user: prod, namespace: kube-system}\n");
        ASSERT_EQ(yaml_node_append((YamlNode *) yaml_mapping_get(root, "contexts"), TAKE_PTR(more)), 0);
        YamlNode *cur = (YamlNode *) yaml_mapping_get(root, "current-context");
        free(cur->value);
        cur->value = strdup("prod-system");
        cur->length = strlen(cur->value);
        ASSERT_EQ(yaml_tree_emit(root, &edited, &size), 0);

        _cleanup_free_wiped_ char *out = render(cl, b, edited, 0);
        _cleanup_(yaml_node_freep) YamlNode *after = parse(out);
        ASSERT_STREQ(at(after, "contexts", "prod", "context", "namespace"), "team-x");
        ASSERT_STREQ(at(after, "clusters", "prod", "cluster", "proxy-url"), "http://proxy:3128");
        ASSERT_STREQ(at(after, "contexts", "prod-system", "context", "namespace"), "kube-system");
        ASSERT_STREQ(yaml_mapping_get(yaml_mapping_get(after, "preferences"), "colors")->value, "true");
        ASSERT_STREQ(yaml_mapping_get(after, "current-context")->value, "prod-system");
        ASSERT_STREQ(at(after, "users", "prod", "user", "client-certificate-data"), b->users[0].client_certificate_data);
        KubeconfigStatus st;
        kubeconfig_inspect_text(cl, out, strlen(out), &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 2 * 86400);

        /* A current context that is not in the file: ours again. A context of other entries: refused. */
        _cleanup_free_wiped_ char *dangling = render(cl, b, "current-context: gone\n", 0);
        ASSERT(strstr(dangling, "current-context: prod\n"));
        ASSERT_NULL(render(cl, b, "contexts:\n- name: x\n  context: {cluster: elsewhere, user: prod}\n", -EEXIST));
        cce_kubeconfig_free(a);
        cce_kubeconfig_free(b);
}

TEST(endpoint_and_insecure_flag) {
        _cleanup_(config_freep) Config *c = load(", endpoint: external", "/k/a");
        CceKubeconfig *a = fixture_answer(SHAPE_EXTERNAL, now - 60, now + 86400);
        _cleanup_free_wiped_ char *out = render(&c->clusters[0], a, NULL, 0);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(out);
        ASSERT_STREQ(at(root, "clusters", "prod", "cluster", "server"), "https://203.0.113.7:5443");
        ASSERT_STREQ(at(root, "clusters", "prod", "cluster", "insecure-skip-tls-verify"), "true");
        ASSERT(yaml_mapping_get(yaml_mapping_get(entry(root, "clusters", "prod"), "cluster"), "insecure-skip-tls-verify")->plain);
        ASSERT_NULL(at(root, "clusters", "prod", "cluster", "certificate-authority-data"));
        cce_kubeconfig_free(a);

        _cleanup_(config_freep) Config *d = load(", endpoint: external, tls-server-name: kubernetes", "/k/a");
        a = fixture_answer(SHAPE_EXTERNAL, now - 60, now + 86400);
        _cleanup_free_wiped_ char *out2 = render(&d->clusters[0], a, NULL, 0);
        _cleanup_(yaml_node_freep) YamlNode *root2 = parse(out2);
        ASSERT_STREQ(at(root2, "clusters", "prod", "cluster", "tls-server-name"), "kubernetes");
        ASSERT_NULL(at(root2, "clusters", "prod", "cluster", "insecure-skip-tls-verify"));
        ASSERT(at(root2, "clusters", "prod", "cluster", "certificate-authority-data"));
        cce_kubeconfig_free(a);
}

static const char existing[] =
        "apiVersion: v1\n"
        "kind: Config\n"
        "preferences:\n"
        "  colors: true\n"
        "clusters:\n"
        "- name: other\n"
        "  cluster:\n"
        "    server: https://other.example:6443\n"
        "    proxy-url: http://proxy:3128\n"
        "users:\n"
        "- name: other-admin\n"
        "  user:\n"
        "    token: abc\n"
        "contexts:\n"
        "- name: other\n"
        "  context:\n"
        "    cluster: other\n"
        "    user: other-admin\n"
        "    namespace: apps\n"
        "current-context: other\n"
        "extensions:\n"
        "- name: something\n"
        "  extension:\n"
        "    x: 1\n";

TEST(merge_keeps_everything_else) {
        _cleanup_(config_freep) Config *c = load(", merge: true", "/k/shared");
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        _cleanup_free_wiped_ char *one = render(&c->clusters[0], a, existing, 0);
        _cleanup_free_wiped_ char *two = render(&c->clusters[1], a, one, 0);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(two);

        ASSERT_STREQ(yaml_mapping_get(yaml_mapping_get(root, "preferences"), "colors")->value, "true");
        ASSERT_STREQ(at(root, "clusters", "other", "cluster", "proxy-url"), "http://proxy:3128");
        ASSERT_STREQ(at(root, "users", "other-admin", "user", "token"), "abc");
        ASSERT_STREQ(at(root, "contexts", "other", "context", "namespace"), "apps");
        ASSERT(entry(root, "clusters", "prod") && entry(root, "clusters", "staging"));
        ASSERT(entry(root, "contexts", "staging-admin"));
        ASSERT_EQ(yaml_node_size(yaml_mapping_get(root, "clusters")), 3);
        ASSERT_STREQ(yaml_mapping_get(root, "current-context")->value, "other");  /* kept */
        ASSERT(yaml_mapping_get(root, "extensions"));

        /* Renewing one cluster replaces its entries in place. */
        CceKubeconfig *b = fixture_answer(SHAPE_INTERNAL, now - 60, now + 2 * 86400);
        _cleanup_free_wiped_ char *three = render(&c->clusters[0], b, two, 0);
        _cleanup_(yaml_node_freep) YamlNode *root3 = parse(three);
        ASSERT_EQ(yaml_node_size(yaml_mapping_get(root3, "clusters")), 3);
        ASSERT_EQ(yaml_node_size(yaml_mapping_get(root3, "users")), 3);
        ASSERT_STREQ(at(root3, "users", "prod", "user", "client-certificate-data"), b->users[0].client_certificate_data);
        ASSERT_STREQ(at(root3, "users", "staging", "user", "client-certificate-data"), a->users[0].client_certificate_data);

        KubeconfigStatus st;
        kubeconfig_inspect_text(&c->clusters[0], three, strlen(three), &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 2 * 86400);
        kubeconfig_inspect_text(&c->clusters[1], three, strlen(three), &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 86400);
        cce_kubeconfig_free(a);
        cce_kubeconfig_free(b);
}

TEST(merge_current_context) {
        _cleanup_(config_freep) Config *c = load(", merge: true", "/k/shared");
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);

        /* No current context in the file: ours becomes it. */
        _cleanup_free_wiped_ char *out = render(&c->clusters[0], a, "clusters: []\n", 0);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(out);
        ASSERT_STREQ(yaml_mapping_get(root, "current-context")->value, "prod");

        /* set-current-context: true takes it over. */
        _cleanup_(config_freep) Config *d = load(", merge: true, set-current-context: true", "/k/shared");
        _cleanup_free_wiped_ char *out2 = render(&d->clusters[0], a, existing, 0);
        _cleanup_(yaml_node_freep) YamlNode *root2 = parse(out2);
        ASSERT_STREQ(yaml_mapping_get(root2, "current-context")->value, "prod");
        cce_kubeconfig_free(a);
}

TEST(json_existing_file) {
        _cleanup_(config_freep) Config *c = load(", merge: true", "/k/shared");
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        _cleanup_free_wiped_ char *out = render(&c->clusters[0], a,
                "{\"apiVersion\": \"v1\", \"kind\": \"Config\", \"clusters\": [{\"name\": \"x\", \"cluster\": {\"server\": \"https://x:1\"}}],"
                " \"users\": null, \"contexts\": [], \"current-context\": \"\"}", 0);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(out);
        ASSERT(entry(root, "clusters", "x"));
        ASSERT(entry(root, "users", "prod"));
        ASSERT_STREQ(yaml_mapping_get(root, "current-context")->value, "prod");
        cce_kubeconfig_free(a);
}

TEST(refusals) {
        _cleanup_(config_freep) Config *m = load(", merge: true", "/k/shared");
        _cleanup_(config_freep) Config *o = load("", "/k/own");
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);

        /* Unparsable files are left alone, in both modes. */
        ASSERT_NULL(render(&m->clusters[0], a, "clusters: [\n", -EBADMSG));
        ASSERT_NULL(render(&o->clusters[0], a, "clusters: [\n", -EBADMSG));
        ASSERT_NULL(render(&m->clusters[0], a, "- a list\n", -EBADMSG));
        /* An own file never overwrites entries of others. */
        ASSERT_NULL(render(&o->clusters[0], a, existing, -EEXIST));
        /* Same-named entries that are not ours. */
        ASSERT_NULL(render(&m->clusters[0], a,
                           "clusters:\n- name: prod\n  cluster:\n    server: https://elsewhere:6443\n", -EEXIST));
        ASSERT_NULL(render(&m->clusters[0], a,
                           "users:\n- name: prod\n  user:\n    exec: {command: aws}\n", -EEXIST));
        ASSERT_NULL(render(&m->clusters[0], a,
                           "contexts:\n- name: prod\n  context: {cluster: other, user: prod}\n", -EEXIST));
        ASSERT_NULL(render(&m->clusters[0], a,
                           "clusters:\n- name: prod\n  cluster:\n    server: https://192.168.0.10:5443\n"
                           "    extensions:\n    - name: cce-certd\n      extension: {cluster-id: 11111111-2222-3333-4444-555555555555}\n",
                           -EEXIST));
        /* A hand-made entry for this very cluster (same server) is adopted. */
        _cleanup_free_wiped_ char *adopted = render(&m->clusters[0], a,
                "clusters:\n- name: prod\n  cluster:\n    server: https://192.168.0.10:5443\n    insecure-skip-tls-verify: true\n", 0);
        ASSERT(adopted && !strstr(adopted, "insecure-skip-tls-verify"));
        cce_kubeconfig_free(a);
}

TEST(inspect_states) {
        _cleanup_(config_freep) Config *c = load(", merge: true", "/k/shared");
        _cleanup_(config_freep) Config *e = load(", merge: true, endpoint: external", "/k/shared");
        CceKubeconfig *a = fixture_answer(SHAPE_EXTERNAL, now - 60, now + 86400);
        _cleanup_free_wiped_ char *out = render(&c->clusters[0], a, NULL, 0);
        KubeconfigStatus st;

        kubeconfig_inspect_text(&c->clusters[0], "", 0, &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISSING);
        kubeconfig_inspect_text(&c->clusters[0], "a: [", 4, &st);
        ASSERT_EQ(st.state, KUBECONFIG_UNREADABLE);
        kubeconfig_inspect_text(&c->clusters[0], existing, strlen(existing), &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISSING);
        kubeconfig_inspect_text(&c->clusters[1], out, strlen(out), &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISSING);
        static const char hand_made[] = "clusters:\n- name: prod\n  cluster: {server: \"https://a:1\"}\n";
        kubeconfig_inspect_text(&c->clusters[0], hand_made, strlen(hand_made), &st);
        ASSERT_EQ(st.state, KUBECONFIG_NOT_OURS);
        /* The configuration now asks for another endpoint. */
        kubeconfig_inspect_text(&e->clusters[0], out, strlen(out), &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISMATCH);
        ASSERT(strstr(st.reason, "endpoint"));
        /* Another cluster id with the same names. */
        ClusterConfig other = c->clusters[0];
        other.cluster_id = (char *) "11111111-2222-3333-4444-555555555555";
        kubeconfig_inspect_text(&other, out, strlen(out), &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISMATCH);
        /* Renamed context in the configuration. */
        other = c->clusters[0];
        other.context_name = (char *) "prod-admin";
        kubeconfig_inspect_text(&other, out, strlen(out), &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISMATCH);
        /* A broken certificate. */
        char *broken = strdup(out);
        char *p = strstr(broken, "client-certificate-data: ");
        ASSERT(p);
        memcpy(p + strlen("client-certificate-data: "), "QUFB", 4);
        kubeconfig_inspect_text(&c->clusters[0], broken, strlen(broken), &st);
        ASSERT_EQ(st.state, KUBECONFIG_BAD_CERTIFICATE);
        free(broken);
        cce_kubeconfig_free(a);
}

/* Reads a kubeconfig with kubectl and returns its JSON view. */
static JsonNode *kubectl_view(const char *path) {
        char cmd[512], *out = NULL, why[128];
        size_t size = 0;
        snprintf(cmd, sizeof(cmd), "kubectl config view --raw -o json --kubeconfig '%s' 2>&1", path);
        FILE *p = popen(cmd, "r");
        ASSERT(p);
        FILE *m = open_memstream(&out, &size);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, m);
        fclose(m);
        ASSERT_EQ(pclose(p), 0);
        JsonNode *root = NULL;
        if (json_parse(out, size, &root, why, sizeof(why)) < 0) {
                fprintf(stderr, "kubectl said: %s\n", out);
                abort();
        }
        free(out);
        return root;
}

static const JsonNode *json_entry(const JsonNode *root, const char *list, const char *name) {
        const JsonNode *seq = json_get(root, list);
        for (size_t i = 0; seq && i < seq->n_children; i++)
                if (strcmp(json_get_string(seq->children[i], "name") ?: "", name) == 0)
                        return seq->children[i];
        return NULL;
}

static void write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

TEST(kubectl_reads_it_back) {
        char path[256], error[512];
        bool insecure;

        if (system("kubectl version --client >/dev/null 2>&1") != 0) {
                printf("  kubectl not installed: skipped\n");
                return;
        }
        snprintf(path, sizeof(path), "%s/kubectl-view", dir);
        _cleanup_(config_freep) Config *c = load(", merge: true, endpoint: external", path);
        CceKubeconfig *a = fixture_answer(SHAPE_EXTERNAL, now - 60, now + 86400);
        write_file(path, existing);
        ASSERT_EQ(kubeconfig_update(&c->clusters[0], a, true, &insecure, error, sizeof(error)), 1);
        ASSERT(insecure);
        ASSERT_EQ(kubeconfig_update(&c->clusters[1], a, true, &insecure, error, sizeof(error)), 1);

        JsonNode *v = kubectl_view(path);
        const JsonNode *cl = json_get(json_entry(v, "clusters", "prod"), "cluster");
        ASSERT_STREQ(json_get_string(cl, "server"), "https://203.0.113.7:5443");
        ASSERT(json_get(cl, "insecure-skip-tls-verify")->boolean);
        const JsonNode *u = json_get(json_entry(v, "users", "prod"), "user");
        ASSERT_STREQ(json_get_string(u, "client-certificate-data"), a->users[0].client_certificate_data);
        ASSERT_STREQ(json_get_string(u, "client-key-data"), a->users[0].client_key_data);
        const JsonNode *ctx = json_get(json_entry(v, "contexts", "staging-admin"), "context");
        ASSERT_STREQ(json_get_string(ctx, "cluster"), "staging");
        ASSERT_STREQ(json_get_string(ctx, "user"), "staging");
        ASSERT_STREQ(json_get_string(v, "current-context"), "other");
        ASSERT_STREQ(json_get_string(json_get(json_entry(v, "users", "other-admin"), "user"), "token"), "abc");
        ASSERT_STREQ(json_get_string(json_get(json_entry(v, "clusters", "other"), "cluster"), "proxy-url"), "http://proxy:3128");
        /* Our extension survives kubectl. */
        const JsonNode *ext = json_get(cl, "extensions");
        ASSERT(ext && ext->n_children == 1);
        ASSERT_STREQ(json_get_string(ext->children[0], "name"), "cce-certd");
        ASSERT_STREQ(json_get_string(json_get(ext->children[0], "extension"), "cluster-id"),
                     "4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c");
        json_node_free(v);

        /* And a file kubectl itself rewrote still reads as ours. */
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "kubectl config set-context staging-admin --namespace=apps --kubeconfig '%s' >/dev/null", path);
        ASSERT_EQ(system(cmd), 0);
        KubeconfigStatus st;
        kubeconfig_inspect(&c->clusters[0], &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        kubeconfig_inspect(&c->clusters[1], &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        cce_kubeconfig_free(a);
}

typedef struct Writer {
        Config *config;
        int index;
} Writer;

static int merge_500_times(void *userdata) {
        Writer *w = userdata;
        /* Two answers in turn, so that every update writes. */
        CceKubeconfig *a[2] = {
                fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400 + w->index),
                fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400 + w->index),
        };
        char error[512];
        int result = 0;
        for (int i = 0; i < 500;) {
                int r = kubeconfig_update(&w->config->clusters[w->index], a[i % 2], i == 0, NULL, error, sizeof(error));
                if (r == -EAGAIN)
                        continue;  /* the other process holds the lock */
                if (r != 1) {
                        fprintf(stderr, "writer %d: %d %s\n", w->index, r, error);
                        result = 1;
                        break;
                }
                i++;
        }
        cce_kubeconfig_free(a[0]);
        cce_kubeconfig_free(a[1]);
        return result;
}

static int run_writer(void *userdata) {
        return run_in_child(merge_500_times, userdata);
}

TEST(two_processes_merge_one_file) {
        char path[256];

        snprintf(path, sizeof(path), "%s/shared", dir);
        Config *c = load(", merge: true", path);
        Writer w0 = { c, 0 }, w1 = { c, 1 };
        /* Writer 0 runs in a child of a child, so both run at once. */
        int p[2];
        ASSERT_EQ(pipe(p), 0);
        pid_t other = fork();
        ASSERT(other >= 0);
        if (other == 0) {
                unsigned char r = (unsigned char) run_writer(&w0);
                (void) !write(p[1], &r, 1);
                _exit(0);
        }
        ASSERT_EQ(run_writer(&w1), 0);
        unsigned char r0 = 255;
        ASSERT_EQ(read(p[0], &r0, 1), 1);
        ASSERT_EQ(r0, 0);
        ASSERT_EQ(waitpid(other, NULL, 0), other);
        close(p[0]);
        close(p[1]);

        KubeconfigStatus st;
        kubeconfig_inspect(&c->clusters[0], &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 86400);
        kubeconfig_inspect(&c->clusters[1], &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 86401);
        config_free(c);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

/* Several clusters merged in one write: each as if written in turn; one
 * refused does not hold back the other; a file that does not parse fails
 * them all and stays as it was. */
TEST(many_in_one_write) {
        char path[256];
        snprintf(path, sizeof(path), "%s/many", dir);
        _cleanup_(config_freep) Config *c = load(", merge: true", path);
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        KubeconfigWrite w[2] = { { .cl = &c->clusters[0], .answer = a }, { .cl = &c->clusters[1], .answer = a } };

        /* No file yet: both written, the first one's context current. */
        FileIdentity read_as = { .ino = 1 }, before, after;
        ASSERT_EQ(kubeconfig_update_many(w, 2, false, &read_as), 2);
        ASSERT(!file_identity_known(&read_as));  /* there was none */
        ASSERT_EQ(w[0].result, 1);
        ASSERT_EQ(w[1].result, 1);
        _cleanup_free_wiped_ char *text = NULL;
        size_t size;
        ASSERT_EQ(atomic_file_read(path, KUBECONFIG_FILE_MAX, &text, &size, NULL, 0), 0);
        ASSERT(strstr(text, "name: prod\n"));
        ASSERT(strstr(text, "name: staging-admin\n"));
        ASSERT(strstr(text, "current-context: prod\n"));

        /* Nothing changes: nothing written; the identity read is the file's. */
        before = file_identity_of(path);
        ASSERT_EQ(kubeconfig_update_many(w, 2, false, &read_as), 2);
        ASSERT_EQ(w[0].result, 0);
        ASSERT_EQ(w[1].result, 0);
        after = file_identity_of(path);
        ASSERT(file_identity_known(&before));
        ASSERT(file_identity_same(&read_as, &before));
        ASSERT(file_identity_same(&after, &before));

        /* A user entry "staging" of someone else's: staging refused, prod written. */
        write_file(path, "apiVersion: v1\nkind: Config\nusers:\n- name: staging\n  user:\n    token: abc\n");
        ASSERT_EQ(kubeconfig_update_many(w, 2, false, NULL), 1);
        ASSERT_EQ(w[0].result, 1);
        ASSERT_EQ(w[1].result, -EEXIST);
        ASSERT(strstr(w[1].error, "user entry staging that authenticates otherwise"));
        text = free_wiped(text);
        ASSERT_EQ(atomic_file_read(path, KUBECONFIG_FILE_MAX, &text, &size, NULL, 0), 0);
        ASSERT(strstr(text, "name: prod\n"));
        ASSERT(strstr(text, "token: abc\n"));
        ASSERT(!strstr(text, "staging-admin"));

        /* A file that does not parse: both fail, the file as it was. */
        write_file(path, "clusters: [\n");
        ASSERT_EQ(kubeconfig_update_many(w, 2, false, NULL), -EBADMSG);
        ASSERT_EQ(w[0].result, -EBADMSG);
        ASSERT_EQ(w[1].result, -EBADMSG);
        ASSERT(strstr(w[1].error, "cannot parse the existing file"));
        text = free_wiped(text);
        ASSERT_EQ(atomic_file_read(path, KUBECONFIG_FILE_MAX, &text, &size, NULL, 0), 0);
        ASSERT_STREQ(text, "clusters: [\n");
        cce_kubeconfig_free(a);
}

/* Clusters of one file are inspected from one reading of it. */
TEST(inspect_shared_reads_once) {
        char path[256];
        snprintf(path, sizeof(path), "%s/shared-read", dir);
        _cleanup_(config_freep) Config *c = load(", merge: true", path);
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        KubeconfigWrite w[2] = { { .cl = &c->clusters[0], .answer = a }, { .cl = &c->clusters[1], .answer = a } };
        KubeconfigReading *reading = NULL;
        KubeconfigStatus st;

        ASSERT_EQ(kubeconfig_update_many(w, 2, false, NULL), 2);
        kubeconfig_inspect_shared(&c->clusters[0], &reading, &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        /* Gone from disk: the second cluster is still served from the reading. */
        ASSERT_EQ(unlink(path), 0);
        kubeconfig_inspect_shared(&c->clusters[1], &reading, &st);
        ASSERT_EQ(st.state, KUBECONFIG_OK);
        ASSERT_EQ(st.certificate.not_after, now + 86400);
        /* Another file is read afresh (one whose directory is missing cannot be written). */
        _cleanup_(config_freep) Config *other = load(", merge: true", "/nonexistent/kubeconfig");
        kubeconfig_inspect_shared(&other->clusters[0], &reading, &st);
        ASSERT_EQ(st.state, KUBECONFIG_UNWRITABLE);
        ASSERT(strstr(st.reason, "the directory /nonexistent does not exist"));
        ASSERT(kubeconfig_state_blocks_writing(st.state));
        kubeconfig_reading_free(reading);
        kubeconfig_inspect(&c->clusters[0], &st);
        ASSERT_EQ(st.state, KUBECONFIG_MISSING);
        ASSERT(!kubeconfig_state_blocks_writing(st.state));
        cce_kubeconfig_free(a);
}

/* A path that cannot hold the file: a directory there, a dangling symlink. */
TEST(inspect_unwritable) {
        char path[256], target[300];
        snprintf(path, sizeof(path), "%s/unwritable", dir);
        snprintf(target, sizeof(target), "%s.gone", path);
        _cleanup_(config_freep) Config *c = load("", path);
        KubeconfigStatus st;

        ASSERT_EQ(mkdir(path, 0700), 0);
        kubeconfig_inspect(&c->clusters[0], &st);
        ASSERT_EQ(st.state, KUBECONFIG_UNWRITABLE);
        ASSERT(strstr(st.reason, "is a directory"));
        ASSERT_EQ(rmdir(path), 0);
        ASSERT_EQ(symlink(target, path), 0);
        kubeconfig_inspect(&c->clusters[0], &st);
        ASSERT_EQ(st.state, KUBECONFIG_UNWRITABLE);
        ASSERT(strstr(st.reason, "which does not exist"));
        ASSERT_EQ(unlink(path), 0);
        ASSERT_STREQ(kubeconfig_state_to_string(st.state), "unwritable");
}

static int removal(const ClusterConfig *cl, const char *text, char **ret) {
        size_t size = 0;
        char error[512] = "";
        int r = kubeconfig_render_removal(cl, text, strlen(text), ret, &size, error, sizeof(error));
        if (r < 0)
                printf("  removal refused: %s\n", error);
        if (r == KUBECONFIG_REMOVE_ENTRIES)
                ASSERT_EQ(strlen(*ret), size);
        else
                ASSERT_NULL(*ret);
        return r;
}

/* A deleted cluster's entries come out of its file: only those cce-certd
 * wrote for its cluster id; an own file that held nothing else goes whole. */
TEST(removal_rules) {
        _cleanup_(config_freep) Config *merged = load(", merge: true", "/k/merged");
        _cleanup_(config_freep) Config *own = load("", "/k/own");
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        char *out = NULL;

        /* Merged: prod and staging in someone's file with a context of their own. */
        _cleanup_free_wiped_ char *one = render(&merged->clusters[0], a, existing, 0);
        _cleanup_free_wiped_ char *both = render(&merged->clusters[1], a, one, 0);
        _cleanup_free_ char *current_prod = strdup(both);
        char *cur = strstr(current_prod, "current-context: other\n");
        ASSERT(cur);
        memcpy(cur, "current-context: prod \n", 23);  /* the same length */
        ASSERT_EQ(removal(&merged->clusters[0], current_prod, &out), KUBECONFIG_REMOVE_ENTRIES);
        _cleanup_(yaml_node_freep) YamlNode *root = parse(out);
        ASSERT_NULL(entry(root, "clusters", "prod"));
        ASSERT_NULL(entry(root, "users", "prod"));
        ASSERT_NULL(entry(root, "contexts", "prod"));
        ASSERT_NULL(yaml_mapping_get(root, "current-context"));  /* it named a context that is gone */
        ASSERT(entry(root, "contexts", "staging-admin"));
        ASSERT(entry(root, "clusters", "staging"));
        ASSERT(entry(root, "clusters", "other"));               /* someone's entries stay */
        ASSERT(entry(root, "users", "other-admin"));
        free_wiped(out);
        out = NULL;

        /* Entries of that name for another cluster id, or made by hand: not ours, nothing taken. */
        ClusterConfig other_id = merged->clusters[0];
        other_id.cluster_id = (char *) "11111111-2222-3333-4444-555555555555";
        ASSERT_EQ(removal(&other_id, both, &out), 0);
        ASSERT_EQ(removal(&merged->clusters[0],
                          "clusters:\n- name: prod\n  cluster: {server: 'https://192.168.0.10:5443'}\n"
                          "users:\n- name: prod\n  user: {client-certificate-data: eA==}\n", &out), 0);
        ASSERT_EQ(removal(&merged->clusters[0], "clusters: [\n", &out), -EBADMSG);
        ASSERT_EQ(removal(&merged->clusters[0], "", &out), 0);

        /* Own file: nothing but its entries and a context of them (kubectl's): the whole file. */
        _cleanup_free_wiped_ char *mine = render(&own->clusters[0], a, NULL, 0);
        _cleanup_(yaml_node_freep) YamlNode *edited = parse(mine);
        _cleanup_(yaml_node_freep) YamlNode *more = parse("name: prod-system\ncontext: {cluster: prod, user: prod, namespace: kube-system}\n");
        ASSERT_EQ(yaml_node_append((YamlNode *) yaml_mapping_get(edited, "contexts"), TAKE_PTR(more)), 0);
        _cleanup_free_ char *edited_text = NULL;
        size_t size;
        ASSERT_EQ(yaml_tree_emit(edited, &edited_text, &size), 0);
        ASSERT_EQ(removal(&own->clusters[0], mine, &out), KUBECONFIG_REMOVE_FILE);
        ASSERT_EQ(removal(&own->clusters[0], edited_text, &out), KUBECONFIG_REMOVE_FILE);
        /* An own file someone added entries of others to: only ours go. */
        _cleanup_(yaml_node_freep) YamlNode *plus = parse(mine);
        _cleanup_(yaml_node_freep) YamlNode *theirs = parse("name: theirs\nuser: {token: abc}\n");
        ASSERT_EQ(yaml_node_append((YamlNode *) yaml_mapping_get(plus, "users"), TAKE_PTR(theirs)), 0);
        _cleanup_free_ char *plus_text = NULL;
        ASSERT_EQ(yaml_tree_emit(plus, &plus_text, &size), 0);
        ASSERT_EQ(removal(&own->clusters[0], plus_text, &out), KUBECONFIG_REMOVE_ENTRIES);
        ASSERT(strstr(out, "name: theirs"));
        ASSERT(!strstr(out, "client-key-data"));
        free_wiped(out);
        cce_kubeconfig_free(a);
}

/* kubeconfig_remove() on files: an own file removed, a merged one
 * rewritten with the configured mode, kubectl's lock respected, no lock left, a
 * directory that others can write to refused. */
TEST(remove_files) {
        char own_path[256], merged_path[256], lock[300];
        snprintf(own_path, sizeof(own_path), "%s/removed-own", dir);
        snprintf(merged_path, sizeof(merged_path), "%s/removed-merged", dir);
        _cleanup_(config_freep) Config *own = load("", own_path);
        _cleanup_(config_freep) Config *merged = load(", merge: true", merged_path);
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        KubeconfigWrite w[2] = { { .cl = &merged->clusters[0], .answer = a }, { .cl = &merged->clusters[1], .answer = a } };
        char error[768] = "";
        struct stat st;

        ASSERT_EQ(kubeconfig_update(&own->clusters[0], a, false, NULL, error, sizeof(error)), 1);
        ASSERT_EQ(kubeconfig_remove(&own->clusters[0], error, sizeof(error)), KUBECONFIG_REMOVE_FILE);
        ASSERT(access(own_path, F_OK) < 0 && errno == ENOENT);
        ASSERT_EQ(kubeconfig_remove(&own->clusters[0], error, sizeof(error)), 0);  /* none */

        ASSERT_EQ(kubeconfig_update_many(w, 2, false, NULL), 2);
        ASSERT_EQ(chmod(merged_path, 0640), 0);
        ASSERT_EQ(kubeconfig_remove(&merged->clusters[0], error, sizeof(error)), KUBECONFIG_REMOVE_ENTRIES);
        ASSERT_EQ(stat(merged_path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0600);  /* as configured (file-mode), not as found: other keys are in it */
        KubeconfigStatus ks;
        kubeconfig_inspect(&merged->clusters[0], &ks);
        ASSERT_EQ(ks.state, KUBECONFIG_MISSING);
        kubeconfig_inspect(&merged->clusters[1], &ks);
        ASSERT_EQ(ks.state, KUBECONFIG_OK);

        /* Locked by kubectl meanwhile: -EAGAIN, the file as it was, kubectl's lock kept. */
        snprintf(lock, sizeof(lock), "%s.lock", merged_path);
        write_file(lock, "");
        ASSERT_EQ(kubeconfig_remove(&merged->clusters[1], error, sizeof(error)), -EAGAIN);
        printf("  locked: %s\n", error);
        kubeconfig_inspect(&merged->clusters[1], &ks);
        ASSERT_EQ(ks.state, KUBECONFIG_OK);
        ASSERT_EQ(unlink(lock), 0);
        ASSERT_EQ(kubeconfig_remove(&merged->clusters[1], error, sizeof(error)), KUBECONFIG_REMOVE_ENTRIES);
        ASSERT(access(lock, F_OK) < 0);
        snprintf(lock, sizeof(lock), "%s.lock", own_path);
        ASSERT(access(lock, F_OK) < 0);

        /* In a directory that every user can write to: refused, the file kept. */
        char open_dir[256], open_path[300];
        snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
        snprintf(open_path, sizeof(open_path), "%s/kubeconfig", open_dir);
        ASSERT_EQ(mkdir(open_dir, 0700), 0);
        _cleanup_(config_freep) Config *open = load("", open_path);
        ASSERT_EQ(kubeconfig_update(&open->clusters[0], a, false, NULL, error, sizeof(error)), 1);
        ASSERT_EQ(chmod(open_dir, 0777), 0);
        ASSERT_EQ(kubeconfig_remove(&open->clusters[0], error, sizeof(error)), -SAFE_PATH_REFUSED);
        printf("  open directory: %s\n", error);
        ASSERT_EQ(access(open_path, F_OK), 0);
        cce_kubeconfig_free(a);
}

static char *slurp(const char *path, size_t *size) {
        FILE *f = fopen(path, "re");
        ASSERT(f);
        char *buf = malloc(65536);
        ASSERT(buf);
        *size = fread(buf, 1, 65535, f);
        buf[*size] = 0;
        fclose(f);
        return buf;
}

/* An own file still as cce-certd wrote it (its content's hash, when it held
 * only this cluster's entries) is written anew without a parse, to the same
 * bytes a parse would give; one that someone edited meanwhile is parsed and
 * keeps the edit; one that holds more than this cluster's entries is known
 * so and never taken for plain. */
TEST(own_file_as_written) {
        char path[256], other[256];
        snprintf(path, sizeof(path), "%s/as-written", dir);
        snprintf(other, sizeof(other), "%s/as-written-parsed", dir);
        _cleanup_(config_freep) Config *c = load("", path);
        _cleanup_(config_freep) Config *d = load("", other);
        CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
        CceKubeconfig *b = fixture_answer(SHAPE_INTERNAL, now - 30, now + 2 * 86400);
        KubeconfigWrite w = { .cl = &c->clusters[0], .answer = a };
        size_t size, size2;

        /* A new file: plain, its hash given back. */
        ASSERT_EQ(kubeconfig_update_many(&w, 1, false, NULL), 1);
        ASSERT_EQ(w.result, 1);
        _cleanup_free_ char *first = slurp(path, &size);
        ASSERT_EQ(w.written_plain_hash, kubeconfig_content_hash(&c->clusters[0], first, size));
        /* Under other entry names the same content is not "as written". */
        ASSERT(kubeconfig_content_hash(&d->clusters[0], first, size) != w.written_plain_hash);

        /* Written again over it with that hash (no parse), and the same
         * write without it (parsed) elsewhere: the same bytes. */
        uint64_t h = w.written_plain_hash;
        w = (KubeconfigWrite) { .cl = &c->clusters[0], .answer = b, .plain_hash = h };
        ASSERT_EQ(kubeconfig_update_many(&w, 1, false, NULL), 1);
        write_file(other, first);
        KubeconfigWrite p = { .cl = &d->clusters[0], .answer = b };
        ASSERT_EQ(kubeconfig_update_many(&p, 1, false, NULL), 1);
        _cleanup_free_ char *fast = slurp(path, &size), *parsed = slurp(other, &size2);
        ASSERT(size == size2 && memcmp(fast, parsed, size) == 0);
        ASSERT(w.written_plain_hash > KUBECONFIG_NOT_PLAIN && p.written_plain_hash > KUBECONFIG_NOT_PLAIN);
        ASSERT_EQ(w.written_plain_hash, kubeconfig_content_hash(&c->clusters[0], parsed, size2));

        /* Someone sets a namespace meanwhile: the stale hash no longer
         * matches, the file is parsed and the edit kept; not plain now. */
        h = w.written_plain_hash;
        _cleanup_free_ char *edited = NULL;
        ASSERT(asprintf(&edited, "%s", fast) > 0);
        char *ctx = strstr(edited, "    user: ");
        ASSERT(ctx);
        _cleanup_free_ char *with_ns = NULL;
        ASSERT(asprintf(&with_ns, "%.*s    namespace: team-a\n%s", (int) (ctx - edited), edited, ctx) > 0);
        write_file(path, with_ns);
        w = (KubeconfigWrite) { .cl = &c->clusters[0], .answer = a, .plain_hash = h };
        ASSERT_EQ(kubeconfig_update_many(&w, 1, false, NULL), 1);
        _cleanup_free_ char *kept = slurp(path, &size);
        ASSERT(strstr(kept, "namespace: team-a"));
        ASSERT_EQ(w.written_plain_hash, KUBECONFIG_NOT_PLAIN);
        /* Known so: the next write parses (and keeps it) without checking again. */
        w = (KubeconfigWrite) { .cl = &c->clusters[0], .answer = b, .plain_hash = KUBECONFIG_NOT_PLAIN };
        ASSERT_EQ(kubeconfig_update_many(&w, 1, false, NULL), 1);
        _cleanup_free_ char *still = slurp(path, &size);
        ASSERT(strstr(still, "namespace: team-a"));
        ASSERT_EQ(w.written_plain_hash, KUBECONFIG_NOT_PLAIN);
        cce_kubeconfig_free(a);
        cce_kubeconfig_free(b);
}

/* A cluster renamed in CCE, whose file stays the same: the entries of its
 * earlier name go in the same write as the new ones come, in a merged file
 * and in an own one (which would otherwise refuse them as another's). */
TEST(rename_in_one_write) {
        for (int merge = 0; merge <= 1; merge++) {
                char path[256];
                snprintf(path, sizeof(path), "%s/renamed-%d", dir, merge);
                _cleanup_(config_freep) Config *c = load(merge ? ", merge: true" : "", path);
                CceKubeconfig *a = fixture_answer(SHAPE_INTERNAL, now - 60, now + 86400);
                char error[768] = "";

                ASSERT_EQ(kubeconfig_update(&c->clusters[0], a, false, NULL, error, sizeof(error)), 1);
                ClusterConfig renamed = c->clusters[0];
                renamed.name = renamed.context_name = renamed.cluster_entry_name = renamed.user_entry_name =
                        (char *) "prod-new";
                KubeconfigWrite w = { .cl = &renamed, .answer = a };
                /* Without retire: merged, written beside the old entries, which stay; own, refused (another's entries). */
                ASSERT_EQ(kubeconfig_update(&renamed, a, false, NULL, error, sizeof(error)), merge ? 1 : -EEXIST);
                w.retire = &c->clusters[0];
                ASSERT_EQ(kubeconfig_update_many(&w, 1, false, NULL), 1);
                ASSERT_EQ(w.result, 1);
                _cleanup_free_wiped_ char *text = NULL;
                size_t size;
                ASSERT_EQ(atomic_file_read(path, KUBECONFIG_FILE_MAX, &text, &size, NULL, 0), 0);
                _cleanup_(yaml_node_freep) YamlNode *root = parse(text);
                ASSERT_NULL(entry(root, "clusters", "prod"));
                ASSERT_NULL(entry(root, "users", "prod"));
                ASSERT_NULL(entry(root, "contexts", "prod"));
                ASSERT(entry(root, "clusters", "prod-new"));
                ASSERT_STREQ(yaml_mapping_get(root, "current-context")->value, "prod-new");
                cce_kubeconfig_free(a);
        }
}

int main(int argc, char **argv) {
        static const TestCase tests[] = {
                T(choose), T(own_file), T(endpoint_and_insecure_flag), T(merge_keeps_everything_else),
                T(merge_current_context), T(json_existing_file), T(refusals), T(inspect_states),
                T(kubectl_reads_it_back), T(two_processes_merge_one_file), T(many_in_one_write),
                T(inspect_shared_reads_once),
                T(inspect_unwritable),
                T(own_file_keeps_edits),
                T(removal_rules), T(remove_files), T(rename_in_one_write), T(own_file_as_written),
        };
        int r;

        now = (int64_t) time(NULL);
        ASSERT(mkdtemp(dir));
        r = run_tests(tests, ELEMENTSOF(tests), argc, argv);
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r;
}
