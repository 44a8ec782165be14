/* SPDX-License-Identifier: MIT */
/* Certificate checks with certificates and keys made here (RSA and EC,
 * expired, not yet valid, mismatched key, garbage). */
#include <errno.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64.h"
#include "cert.h"
#include "macro.h"
#include "fixtures.h"
#include "tests.h"

#define NOW INT64_C(1700000000)

typedef struct Fixture {
        char *cert, *key, *ca;
} Fixture;

static Fixture fixture(bool rsa, int64_t nb, int64_t na) {
        EVP_PKEY *k = fixture_key(rsa);
        X509 *x = fixture_cert(k, k, nb, na, "0a1b2c3d-iam-user");
        Fixture f = { fixture_cert_b64(x, NULL), fixture_key_b64(k), NULL };
        EVP_PKEY *cak = fixture_key(false);
        X509 *ca = fixture_cert(cak, cak, nb - 86400, na + 86400 * 365, "cluster-ca");
        /* The API's CA data starts with "openssl x509 -text" output. */
        f.ca = fixture_cert_b64(ca, "Certificate:\n    Data:\n        Version: 3 (0x2)\n");
        X509_free(x);
        X509_free(ca);
        EVP_PKEY_free(k);
        EVP_PKEY_free(cak);
        return f;
}

static void fixture_done(Fixture *f) {
        free(f->cert);
        free(f->key);
        free(f->ca);
}

static void expect(const Fixture *f, const char *cert, const char *key, const char *ca, int r, const char *why) {
        CertInfo info;
        char error[512] = "";
        int k = cert_check_answer(cert ?: f->cert, key ?: f->key, ca, NOW, &info, error, sizeof(error));
        if (k != r || (why && !strstr(error, why))) {
                fprintf(stderr, "got %d '%s', expected %d '%s'\n", k, error, r, why ?: "");
                abort();
        }
}

TEST(valid_rsa_and_ec) {
        for (int rsa = 0; rsa <= 1; rsa++) {
                Fixture f = fixture(rsa, NOW - 60, NOW + 30 * 86400);
                CertInfo info;
                char error[256];
                ASSERT_EQ(cert_check_answer(f.cert, f.key, f.ca, NOW, &info, error, sizeof(error)), 0);
                ASSERT_EQ(info.not_before, NOW - 60);
                ASSERT_EQ(info.not_after, NOW + 30 * 86400);
                ASSERT_STREQ(info.serial, "1234ABCD");
                ASSERT_STREQ(info.subject_cn, "0a1b2c3d-iam-user");

                CertInfo info2;
                ASSERT_EQ(cert_info_from_base64(f.cert, &info2, error, sizeof(error)), 0);
                ASSERT_EQ(info2.not_after, info.not_after);
                fixture_done(&f);
        }
}

TEST(validity) {
        Fixture expired = fixture(false, NOW - 86400, NOW - 1);
        expect(&expired, NULL, NULL, expired.ca, -EBADMSG, "expired at 2023-11-14 22:13:19 UTC");
        fixture_done(&expired);

        Fixture future = fixture(false, NOW + 3600, NOW + 86400);
        expect(&future, NULL, NULL, future.ca, -EBADMSG, "not valid before 2023-11-14 23:13:20 UTC");
        fixture_done(&future);

        /* A few minutes ahead of our clock is skew, not an error. */
        Fixture skew = fixture(false, NOW + 120, NOW + 86400);
        expect(&skew, NULL, NULL, skew.ca, 0, NULL);
        fixture_done(&skew);
}

TEST(mismatch_and_garbage) {
        Fixture a = fixture(false, NOW - 60, NOW + 86400), b = fixture(true, NOW - 60, NOW + 86400);
        _cleanup_free_ char *text = NULL, *not_key = NULL;
        ASSERT_EQ(base64_encode("hello, world\n", 13, &text), 0);

        expect(&a, NULL, b.key, a.ca, -EBADMSG, "private key does not match");
        expect(&b, NULL, a.key, b.ca, -EBADMSG, "private key does not match");
        expect(&a, "!!!", NULL, a.ca, -EBADMSG, "client-certificate-data is not valid base64");
        expect(&a, text, NULL, a.ca, -EBADMSG, "client-certificate-data is not a PEM certificate");
        expect(&a, NULL, text, a.ca, -EBADMSG, "client-key-data is not a PEM private key");
        expect(&a, NULL, "", a.ca, -EBADMSG, "client-key-data is empty");
        expect(&a, NULL, NULL, NULL, -EBADMSG, "no certificate-authority-data");
        expect(&a, NULL, NULL, text, -EBADMSG, "certificate-authority-data holds no PEM certificate");
        expect(&a, NULL, NULL, "Zm9v!", -EBADMSG, "certificate-authority-data is not valid base64");
        /* A key where the certificate should be. */
        expect(&a, a.key, NULL, a.ca, -EBADMSG, "not a PEM certificate");
        fixture_done(&a);
        fixture_done(&b);
}

/* PEM of a DER certificate, base64-encoded as the API sends it. */
static char *der_to_b64(const unsigned char *der, size_t size, const char *before) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *out;
        ASSERT(b);
        ASSERT(BIO_puts(b, before) >= 0);
        ASSERT(PEM_write_bio(b, "CERTIFICATE", "", der, (long) size) > 0);
        long n = BIO_get_mem_data(b, &data);
        ASSERT_EQ(base64_encode(data, (size_t) n, &out), 0);
        BIO_free(b);
        return out;
}

/* The certificate's public key is decoded apart from the rest of it: a key
 * that does not decode (a point off the curve) is refused as such, other
 * PEM blocks before the certificate are skipped, and a certificate cut
 * short is no certificate. */
TEST(certificate_structure) {
        EVP_PKEY *k = fixture_key(false);
        X509 *x = fixture_cert(k, k, NOW - 60, NOW + 86400, "0a1b2c3d-iam-user");
        Fixture f = fixture(false, NOW - 60, NOW + 86400);
        unsigned char *der = NULL;
        int size = i2d_X509(x, &der);
        ASSERT(size > 0);
        _cleanup_free_ char *key_pem = NULL, *key = fixture_key_b64(k);
        size_t key_size;
        ASSERT_EQ(base64_decode(key, strlen(key), (unsigned char **) &key_pem, &key_size), 0);
        _cleanup_free_ char *after_key = der_to_b64(der, (size_t) size, key_pem);
        expect(&f, after_key, key, f.ca, 0, NULL);

        _cleanup_free_ char *cut = der_to_b64(der, (size_t) size - 20, "");
        expect(&f, cut, key, f.ca, -EBADMSG, "not a PEM certificate");

        /* The P-256 point: BIT STRING of 66 bytes, no unused bits, uncompressed. */
        unsigned char *point = NULL;
        for (int i = 0; i + 4 < size && !point; i++)
                if (der[i] == 0x03 && der[i + 1] == 0x42 && der[i + 2] == 0x00 && der[i + 3] == 0x04)
                        point = der + i + 4;
        ASSERT(point);
        point[10] ^= 0x01;
        _cleanup_free_ char *off_curve = der_to_b64(der, (size_t) size, "");
        expect(&f, off_curve, key, f.ca, -EBADMSG, "public key of the client certificate does not parse");

        OPENSSL_free(der);
        X509_free(x);
        EVP_PKEY_free(k);
        fixture_done(&f);
}

/* "RSA PRIVATE KEY" / "EC PRIVATE KEY" (as CCE answers), with text before it. */
static char *traditional_key_b64(EVP_PKEY *k) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *out;
        ASSERT(b);
        ASSERT(BIO_puts(b, "Private-Key: (2048 bit)\n") > 0);
        ASSERT(PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL) == 1);
        long n = BIO_get_mem_data(b, &data);
        ASSERT_EQ(base64_encode(data, (size_t) n, &out), 0);
        BIO_free(b);
        return out;
}

/* Keys are decoded with one decoder kept for all of them: every form, in
 * any order, after failures, still decodes (and mismatches still show). */
TEST(key_forms_in_any_order) {
        for (int round = 0; round < 3; round++)
                for (int rsa = 0; rsa <= 1; rsa++) {
                        EVP_PKEY *k = fixture_key(rsa), *other = fixture_key(!rsa);
                        X509 *x = fixture_cert(k, k, NOW - 60, NOW + 86400, "user");
                        Fixture f = { fixture_cert_b64(x, NULL), fixture_key_b64(k), NULL };
                        _cleanup_free_ char *trad = traditional_key_b64(k), *other_trad = traditional_key_b64(other),
                                *text = NULL;
                        ASSERT_EQ(base64_encode("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58, &text), 0);
                        f.ca = fixture_cert_b64(x, NULL);

                        expect(&f, NULL, NULL, f.ca, 0, NULL);
                        expect(&f, NULL, text, f.ca, -EBADMSG, "not a PEM private key");
                        expect(&f, NULL, trad, f.ca, 0, NULL);
                        expect(&f, NULL, other_trad, f.ca, -EBADMSG, "does not match");
                        expect(&f, NULL, f.cert, f.ca, -EBADMSG, "not a PEM private key");
                        expect(&f, NULL, NULL, f.ca, 0, NULL);
                        fixture_done(&f);
                        X509_free(x);
                        EVP_PKEY_free(k);
                        EVP_PKEY_free(other);
                }
}

/* An "EC PRIVATE KEY" (SEC 1, P-256) made of the private scalar of one key
 * and the public point of another. */
static char *sec1_key_b64(EVP_PKEY *scalar_of, EVP_PKEY *point_of) {
        BIGNUM *d = NULL;
        unsigned char der[121], pub[65];
        size_t pub_len = 0;
        static const unsigned char prime256v1[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
        char *data, *out;

        ASSERT(EVP_PKEY_get_bn_param(scalar_of, "priv", &d) == 1);
        ASSERT(EVP_PKEY_get_octet_string_param(point_of, "pub", pub, sizeof(pub), &pub_len) == 1);
        ASSERT_EQ(pub_len, 65);
        size_t n = 0;
        memcpy(der + n, (const unsigned char[]) { 0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20 }, 7);
        n += 7;
        ASSERT(BN_bn2binpad(d, der + n, 32) == 32);
        n += 32;
        der[n++] = 0xa0;
        der[n++] = sizeof(prime256v1);
        memcpy(der + n, prime256v1, sizeof(prime256v1));
        n += sizeof(prime256v1);
        memcpy(der + n, (const unsigned char[]) { 0xa1, 0x44, 0x03, 0x42, 0x00 }, 5);
        n += 5;
        memcpy(der + n, pub, 65);
        n += 65;
        ASSERT_EQ(n, sizeof(der));
        BIO *b = BIO_new(BIO_s_mem());
        ASSERT(b && PEM_write_bio(b, "EC PRIVATE KEY", "", der, (long) n) > 0);
        long len = BIO_get_mem_data(b, &data);
        ASSERT_EQ(base64_encode(data, (size_t) len, &out), 0);
        BIO_free(b);
        BN_clear_free(d);
        return out;
}

/* An EC key is checked by its private scalar: d·G must be the certificate's
 * point, whatever public point the key file carries. */
TEST(ec_key_checked_by_its_scalar) {
        Fixture f = fixture(false, NOW - 60, NOW + 86400);
        EVP_PKEY *k = fixture_key(false), *other = fixture_key(false);
        X509 *x = fixture_cert(k, k, NOW - 60, NOW + 86400, "user");
        _cleanup_free_ char *cert = fixture_cert_b64(x, NULL), *good = sec1_key_b64(k, k),
                *forged = sec1_key_b64(other, k), *wrong = sec1_key_b64(other, other);

        expect(&f, cert, good, f.ca, 0, NULL);
        /* The certificate's public point, another key's scalar: refused. */
        expect(&f, cert, forged, f.ca, -EBADMSG, "does not match");
        expect(&f, cert, wrong, f.ca, -EBADMSG, "does not match");
        /* An RSA certificate: no EC key matches it. */
        Fixture r = fixture(true, NOW - 60, NOW + 86400);
        expect(&r, NULL, good, r.ca, -EBADMSG, "does not match");
        fixture_done(&r);
        fixture_done(&f);
        X509_free(x);
        EVP_PKEY_free(k);
        EVP_PKEY_free(other);
}

TEST(error_messages_hold_no_key_material) {
        Fixture a = fixture(false, NOW - 60, NOW + 86400), b = fixture(false, NOW - 60, NOW + 86400);
        CertInfo info;
        char error[512];
        ASSERT(cert_check_answer(a.cert, b.key, a.ca, NOW, &info, error, sizeof(error)) < 0);
        ASSERT(!strstr(error, "PRIVATE"));
        ASSERT(!strstr(error, b.key));
        fixture_done(&a);
        fixture_done(&b);
}

TEST(format_time) {
        char buf[32];
        ASSERT_STREQ(cert_format_time(NOW, buf), "2023-11-14 22:13:20 UTC");
}

RUN_TESTS(T(valid_rsa_and_ec), T(validity), T(mismatch_and_garbage), T(certificate_structure), T(key_forms_in_any_order), T(ec_key_checked_by_its_scalar),
          T(error_messages_hold_no_key_material), T(format_time))
