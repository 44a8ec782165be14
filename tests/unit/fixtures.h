/* SPDX-License-Identifier: MIT */
#pragma once

/* Certificates, keys and clustercert answers made in memory for the tests. */

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base64.h"
#include "cce.h"
#include "tests.h"

static inline EVP_PKEY *fixture_key(bool rsa) {
        EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
        ASSERT(k);
        return k;
}

/* base64 of the PEM of a certificate, with optional text before it. */
static inline char *fixture_cert_b64(X509 *x, const char *prefix_text) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *out;
        ASSERT(b);
        if (prefix_text)
                BIO_puts(b, prefix_text);
        ASSERT(PEM_write_bio_X509(b, x) == 1);
        long n = BIO_get_mem_data(b, &data);
        ASSERT_EQ(base64_encode(data, (size_t) n, &out), 0);
        BIO_free(b);
        return out;
}

static inline char *fixture_key_b64(EVP_PKEY *k) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *out;
        ASSERT(b);
        ASSERT(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1);
        long n = BIO_get_mem_data(b, &data);
        ASSERT_EQ(base64_encode(data, (size_t) n, &out), 0);
        BIO_free(b);
        return out;
}

static inline X509 *fixture_cert(EVP_PKEY *key, EVP_PKEY *signer, int64_t not_before, int64_t not_after, const char *cn) {
        X509 *x = X509_new();
        ASSERT(x);
        ASSERT(X509_set_version(x, 2) == 1);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234abcd);
        ASSERT(ASN1_TIME_set(X509_getm_notBefore(x), (time_t) not_before));
        ASSERT(ASN1_TIME_set(X509_getm_notAfter(x), (time_t) not_after));
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
        X509_set_issuer_name(x, n);
        ASSERT(X509_set_pubkey(x, key) == 1);
        ASSERT(X509_sign(x, signer, EVP_sha256()) > 0);
        return x;
}

/* A clustercert answer like the API's: internal only, or internal and
 * external (insecure), or also the TLS-verifying external entry. */
typedef enum FixtureShape {
        SHAPE_INTERNAL,
        SHAPE_EXTERNAL,
        SHAPE_EXTERNAL_TLS,
} FixtureShape;

static inline char *fixture_strdup(const char *s) {
        char *c = strdup(s);
        ASSERT(c);
        return c;
}

static inline CceKubeconfig *fixture_answer(FixtureShape shape, int64_t not_before, int64_t not_after) {
        CceKubeconfig *k = calloc(1, sizeof(CceKubeconfig));
        EVP_PKEY *key = fixture_key(false), *cak = fixture_key(false);
        X509 *cert = fixture_cert(key, cak, not_before, not_after, "iam-user-id");
        X509 *ca = fixture_cert(cak, cak, not_before - 86400, not_after + 86400, "cluster-ca");
        char *ca_data = fixture_cert_b64(ca, "Certificate:\n    Data:\n");
        size_t n = shape == SHAPE_INTERNAL ? 1 : shape == SHAPE_EXTERNAL ? 2 : 3;

        ASSERT(k);
        k->clusters = calloc(n, sizeof(CceClusterEntry));
        k->contexts = calloc(n, sizeof(CceContextEntry));
        k->users = calloc(1, sizeof(CceUserEntry));
        ASSERT(k->clusters && k->contexts && k->users);
        static const char *const cluster_names[] = { "internalCluster", "externalCluster", "externalClusterTLSVerify" };
        static const char *const context_names[] = { "internal", "external", "externalTLSVerify" };
        static const char *const servers[] = { "https://192.168.0.10:5443", "https://203.0.113.7:5443", "https://203.0.113.7:5443" };
        for (size_t i = 0; i < n; i++) {
                k->clusters[i].name = fixture_strdup(cluster_names[i]);
                k->clusters[i].server = fixture_strdup(servers[i]);
                k->clusters[i].certificate_authority_data = i == 1 ? NULL : fixture_strdup(ca_data);
                k->clusters[i].insecure_skip_tls_verify = i == 1;
                k->contexts[i].name = fixture_strdup(context_names[i]);
                k->contexts[i].cluster = fixture_strdup(cluster_names[i]);
                k->contexts[i].user = fixture_strdup("user");
        }
        k->n_clusters = k->n_contexts = n;
        k->users[0].name = fixture_strdup("user");
        k->users[0].client_certificate_data = fixture_cert_b64(cert, NULL);
        k->users[0].client_key_data = fixture_key_b64(key);
        k->n_users = 1;
        k->current_context = fixture_strdup(shape == SHAPE_INTERNAL ? "internal" : "external");
        free(ca_data);
        X509_free(cert);
        X509_free(ca);
        EVP_PKEY_free(key);
        EVP_PKEY_free(cak);
        return k;
}
