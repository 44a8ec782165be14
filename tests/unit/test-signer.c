/* SPDX-License-Identifier: MIT */
/* The signer against every vector produced by the official SDK's signer
 * (tests/data/signer-vectors.json). Two vectors record SDK quirks; for them
 * the guide-correct result in the vector's "checks" is asserted. */
#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#include "macro.h"
#include "signer.h"
#include "tests.h"

static char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        ASSERT(f);
        char *buf = calloc(1, 1 << 20);
        ASSERT(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        ASSERT(n > 0 && !ferror(f));
        fclose(f);
        return buf;
}

static const char *str(yajl_val v, const char *key) {
        const char *path[] = { key, NULL };
        yajl_val s = yajl_tree_get(v, path, yajl_t_string);
        return s ? YAJL_GET_STRING(s) : NULL;
}

static yajl_val obj(yajl_val v, const char *key) {
        const char *path[] = { key, NULL };
        return yajl_tree_get(v, path, yajl_t_any);
}

/* Decodes %XX escapes of a query string component. */
static char *percent_decode(const char *s, size_t n) {
        char *out = malloc(n + 1), *p = out;
        ASSERT(out);
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%' && i + 2 < n + 1) {
                        unsigned v;
                        ASSERT(sscanf(s + i + 1, "%2x", &v) == 1);
                        *p++ = (char) v;
                        i += 2;
                } else
                        *p++ = s[i];
        }
        *p = 0;
        return out;
}

static unsigned n_checked, n_quirks;

static void check_vector(yajl_val v) {
        const char *id = str(v, "id");
        yajl_val in = obj(v, "input"), out = obj(v, "output"), checks = obj(v, "checks");
        const char *endpoint = str(in, "signer_endpoint");
        const char *body = str(in, "body");
        SignerPair headers[16], query[16];
        size_t n_headers = 0, n_query = 0;
        char *owned[64];
        size_t n_owned = 0;

        printf("vector %s\n", id);

        /* Path: what follows the host in the (decoded) signer endpoint. */
        const char *path = strchr(endpoint + strlen("https://"), '/');
        ASSERT(path);

        /* Query pairs, decoded, from the URL actually sent. */
        const char *url = str(in, "url"), *q = strchr(url, '?');
        if (q)
                for (q++; *q;) {
                        size_t n = strcspn(q, "&");
                        const char *eq = memchr(q, '=', n);
                        ASSERT(eq);
                        query[n_query].name = owned[n_owned++] = percent_decode(q, (size_t) (eq - q));
                        query[n_query].value = owned[n_owned++] = percent_decode(eq + 1, n - (size_t) (eq - q) - 1);
                        n_query++;
                        q += n;
                        if (*q == '&')
                                q++;
                }

        /* The headers the SDK signed: given ones plus those it added. */
        const char *signed_list = str(out, "signed_headers");
        yajl_val given = obj(in, "headers_given");
        yajl_val added = obj(out, "headers_added_by_sdk_auth") ?: obj(out, "headers_added_by_signer");
        yajl_val sources[] = { given, added };
        for (size_t s = 0; s < 2; s++)
                for (size_t i = 0; i < YAJL_GET_OBJECT(sources[s])->len; i++) {
                        const char *name = YAJL_GET_OBJECT(sources[s])->keys[i];
                        const char *value = YAJL_GET_STRING(YAJL_GET_OBJECT(sources[s])->values[i]);
                        if (strcasecmp(name, "Authorization") == 0)
                                continue;
                        bool dup = false;
                        for (size_t j = 0; j < n_headers; j++)
                                dup = dup || strcasecmp(headers[j].name, name) == 0;
                        if (dup)
                                continue;
                        char lower[128];
                        snprintf(lower, sizeof(lower), "%s", name);
                        for (char *c = lower; *c; c++)
                                *c = (char) tolower(*c);
                        char *needle = owned[n_owned++] = strdup(lower);
                        /* Only headers in the signed list are signed. */
                        const char *p = strstr(signed_list, needle);
                        size_t l = strlen(needle);
                        if (!p || (p != signed_list && p[-1] != ';') || (p[l] != 0 && p[l] != ';'))
                                continue;
                        headers[n_headers].name = name;
                        headers[n_headers].value = value;
                        n_headers++;
                }

        SignerRequest req = {
                .method = str(in, "method"),
                .path = path,
                .query = query,
                .n_query = n_query,
                .headers = headers,
                .n_headers = n_headers,
                .body = body,
                .body_size = body ? strlen(body) : 0,
        };

        bool quirk = checks && YAJL_IS_FALSE(obj(checks, "doc_reference_implementation_matches"));
        const char *want_creq = quirk ? str(checks, "reference_canonical_request_if_different") : str(out, "canonical_request");
        const char *want_auth = quirk ? str(checks, "reference_authorization_if_different") : str(out, "authorization");
        ASSERT(want_creq && want_auth);

        _cleanup_free_ char *creq = NULL, *auth = NULL;
        ASSERT_EQ(signer_canonical_request(&req, &creq), 0);
        ASSERT_STREQ(creq, want_creq);

        const char *sk = str(in, "sk");
        ASSERT_EQ(signer_authorization(&req, str(out, "x_sdk_date"), str(in, "ak"), sk, strlen(sk), &auth), 0);
        ASSERT_STREQ(auth, want_auth);

        /* The official guide's own example carries its expected signature. */
        const char *doc = checks ? str(checks, "expected_signature_from_official_doc") : NULL;
        if (doc)
                ASSERT(strstr(auth, doc));

        n_checked++;
        n_quirks += quirk;
        for (size_t i = 0; i < n_owned; i++)
                free(owned[i]);
}

TEST(vectors) {
        char path[4096], err[256];
        snprintf(path, sizeof(path), "%s/data/signer-vectors.json", getenv("TESTS_DIR") ?: "tests");
        _cleanup_free_ char *text = read_all(path);
        yajl_val root = yajl_tree_parse(text, err, sizeof(err));
        ASSERT(root);
        yajl_val vectors = obj(root, "vectors");
        ASSERT(YAJL_IS_ARRAY(vectors));
        for (size_t i = 0; i < YAJL_GET_ARRAY(vectors)->len; i++)
                check_vector(YAJL_GET_ARRAY(vectors)->values[i]);
        ASSERT_EQ(n_checked, 12);
        ASSERT_EQ(n_quirks, 2);
        yajl_tree_free(root);
}

static const SignerPair clustercert_headers[] = {
        { "Content-Type", "application/json" },
        { "Host", "cce.cn-north-4.myhuaweicloud.com" },
        { "X-Project-Id", "0a1b2c3d4e5f60718293a4b5c6d7e8f9" },
        { "X-Sdk-Date", "20240102T030405Z" },
};

TEST(encoding) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        ASSERT_EQ(signer_uri_encode("a b/c~é*", strlen("a b/c~é*"), &a), 0);
        ASSERT_STREQ(a, "a%20b%2Fc~%C3%A9%2A");
        ASSERT_EQ(signer_encode_path("/v1/my file/x", &b), 0);
        ASSERT_STREQ(b, "/v1/my%20file/x");
        static const SignerPair q[] = { { "b", "2" }, { "a", "z" }, { "a", "y y" } };
        ASSERT_EQ(signer_encode_query(q, 3, &c), 0);
        ASSERT_STREQ(c, "a=y%20y&a=z&b=2");
        ASSERT_EQ(signer_encode_query(q, 0, &d), 0);
        ASSERT_STREQ(d, "");
}

TEST(refusals) {
        _cleanup_free_ char *out = NULL;
        SignerRequest req = {
                .method = "POST",
                .path = "/api/v3/x",
                .headers = clustercert_headers,
                .n_headers = ELEMENTSOF(clustercert_headers),
                .body = "{}",
                .body_size = 2,
        };

        /* The date must be the signed X-Sdk-Date. */
        ASSERT_EQ(signer_authorization(&req, "20240102T030406Z", "AK", "SK", 2, &out), -EINVAL);
        ASSERT_EQ(signer_authorization(&req, "20240102T030405Z", "AK", "SK", 2, &out), 0);
        ASSERT(strstr(out, "SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature="));

        /* The same header twice (in any case) cannot be signed. */
        const SignerPair twice[] = { { "Host", "a" }, { "host", "b" }, { "X-Sdk-Date", "d" } };
        req.headers = twice;
        req.n_headers = 3;
        ASSERT_EQ(signer_authorization(&req, "d", "AK", "SK", 2, &out), -EINVAL);

        /* Neither can a value with a line break, nor a relative path. */
        const SignerPair broken[] = { { "X-Sdk-Date", "d" }, { "X-Evil", "a\r\nb" } };
        req.headers = broken;
        req.n_headers = 2;
        ASSERT_EQ(signer_canonical_request(&req, &out), -EINVAL);
        req.headers = clustercert_headers;
        req.n_headers = ELEMENTSOF(clustercert_headers);
        req.path = "api";
        ASSERT_EQ(signer_canonical_request(&req, &out), -EINVAL);
        req.n_headers = 0;
        req.path = "/";
        ASSERT_EQ(signer_canonical_request(&req, &out), -EINVAL);
}

TEST(body_changes_signature) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        SignerRequest req = {
                .method = "POST",
                .path = "/api/v3/projects/p/clusters/c/clustercert",
                .headers = clustercert_headers,
                .n_headers = ELEMENTSOF(clustercert_headers),
                .body = "{\"duration\":30}",
                .body_size = 15,
        };
        ASSERT_EQ(signer_authorization(&req, "20240102T030405Z", "AK", "SK", 2, &a), 0);
        req.body = "{\"duration\":31}";
        ASSERT_EQ(signer_authorization(&req, "20240102T030405Z", "AK", "SK", 2, &b), 0);
        ASSERT(strcmp(a, b) != 0);
}

RUN_TESTS(T(vectors), T(encoding), T(refusals), T(body_changes_signature))
