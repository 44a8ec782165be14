/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "cert.h"
#include "macro.h"
#include "secure-memory.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)

const char *cert_format_time(int64_t t, char buf[static 32]) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm))
                snprintf(buf, 32, "@%lld", (long long) t);
        else
                strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
        return buf;
}

/* Sets the message, with OpenSSL's first reason when it has one; empties
 * OpenSSL's error queue either way. */
__attribute__((format(printf, 3, 4)))
static int fail(char *error, size_t size, const char *format, ...) {
        unsigned long e = ERR_peek_error();
        const char *reason = e ? ERR_reason_error_string(e) : NULL;
        char m[256];
        va_list ap;

        va_start(ap, format);
        vsnprintf(m, sizeof(m), format, ap);
        va_end(ap);
        if (reason)
                snprintf(error, size, "%s (%s)", m, reason);
        else
                snprintf(error, size, "%s", m);
        ERR_clear_error();
        return -EBADMSG;
}

static int decode(const char *b64, const char *what, unsigned char **ret, size_t *ret_size, char *error, size_t size) {
        int r = base64_decode(b64, strlen(b64), ret, ret_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail(error, size, "%s is not valid base64", what);
        if (*ret_size == 0) {
                *ret = free_wiped(*ret);
                return fail(error, size, "%s is empty", what);
        }
        return 0;
}

static int asn1_time_to_epoch(const ASN1_TIME *t, int64_t *ret) {
        struct tm tm;
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return -EINVAL;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

static int read_info(X509 *x, CertInfo *info) {
        const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
        BIGNUM *bn;

        *info = (CertInfo) {};
        if (asn1_time_to_epoch(X509_get0_notBefore(x), &info->not_before) < 0 ||
            asn1_time_to_epoch(X509_get0_notAfter(x), &info->not_after) < 0)
                return -EINVAL;
        bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
        if (bn) {
                char *hex = BN_bn2hex(bn);
                if (hex) {
                        snprintf(info->serial, sizeof(info->serial), "%s", hex);
                        OPENSSL_free(hex);
                }
                BN_free(bn);
        }
        X509_NAME *name = X509_get_subject_name(x);
        if (name)
                X509_NAME_get_text_by_NID(name, NID_commonName, info->subject_cn, sizeof(info->subject_cn));
        /* Printable only: it may reach a log line. */
        for (char *c = info->subject_cn; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        *c = '?';
        return 0;
}

/* The first certificate in PEM data; text before it is skipped. */
static X509 *read_certificate(const unsigned char *pem, size_t size) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int) size);
        return bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
}

int cert_info_from_base64(const char *b64, CertInfo *info, char *error, size_t error_size) {
        _cleanup_free_ unsigned char *pem = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        size_t size;
        int r;

        r = decode(b64, "the certificate", &pem, &size, error, error_size);
        if (r < 0)
                return r;
        if (size > INT32_MAX)
                return fail(error, error_size, "the certificate is too large");
        x = read_certificate(pem, size);
        if (!x)
                return fail(error, error_size, "the certificate is not a PEM certificate");
        if (read_info(x, info) < 0)
                return fail(error, error_size, "the certificate's validity dates do not parse");
        ERR_clear_error();
        return 0;
}

/* OpenSSL 3.0 builds a decoder context for every PEM_read_bio_PrivateKey():
 * it looks through every provider's decoders and key managers, most of the
 * CPU time of a renewal. One context, made once (cert_prepare()) and used for every
 * key, decodes the same keys at a tenth of the cost (OpenSSL 3.1 caches its
 * contexts in the same spirit). The daemon is single-threaded. */
static OSSL_DECODER_CTX *key_decoder;
static EVP_PKEY *key_decoded;

static void key_decoder_free(void) {
        OSSL_DECODER_CTX_free(key_decoder);
        key_decoder = NULL;
}

int cert_prepare(void) {
        if (key_decoder)
                return 0;
        key_decoder = OSSL_DECODER_CTX_new_for_pkey(&key_decoded, "PEM", NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
        if (!key_decoder)
                return -ENOMEM;
        /* Registered after OpenSSL's own exit handler, so run before it. */
        atexit(key_decoder_free);
        return 0;
}

static EVP_PKEY *read_private_key(const unsigned char *pem, size_t size) {
        if (cert_prepare() < 0)
                return NULL;
        key_decoded = NULL;
        if (OSSL_DECODER_from_data(key_decoder, &pem, &size) != 1) {
                EVP_PKEY_free(key_decoded);
                key_decoded = NULL;
        }
        return TAKE_PTR(key_decoded);
}

int cert_check_answer(const char *client_certificate_b64, const char *client_key_b64, const char *ca_b64,
                      int64_t now, CertInfo *info, char *error, size_t error_size) {
        _cleanup_free_ unsigned char *cert_pem = NULL, *ca_pem = NULL;
        _cleanup_free_wiped_ unsigned char *key_pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        size_t cert_size, key_size, ca_size;
        char a[32], b[32];
        int r;

        ERR_clear_error();

        r = decode(client_certificate_b64, "client-certificate-data", &cert_pem, &cert_size, error, error_size);
        if (r < 0)
                return r;
        cert = read_certificate(cert_pem, cert_size);
        if (!cert)
                return fail(error, error_size, "client-certificate-data is not a PEM certificate");
        if (read_info(cert, info) < 0)
                return fail(error, error_size, "the client certificate's validity dates do not parse");
        if (info->not_after <= now)
                return fail(error, error_size, "the client certificate expired at %s",
                            cert_format_time(info->not_after, a));
        if (info->not_before > now + CERT_CLOCK_SKEW_SEC)
                return fail(error, error_size, "the client certificate is not valid before %s (now %s)",
                            cert_format_time(info->not_before, a), cert_format_time(now, b));
        if (info->not_after <= info->not_before)
                return fail(error, error_size, "the client certificate's validity ends before it starts");

        r = decode(client_key_b64, "client-key-data", &key_pem, &key_size, error, error_size);
        if (r < 0)
                return r;
        key = read_private_key(key_pem, key_size);
        if (!key)
                return fail(error, error_size, "client-key-data is not a PEM private key");
        if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA && EVP_PKEY_base_id(key) != EVP_PKEY_EC)
                return fail(error, error_size, "client-key-data is neither an RSA nor an EC key");
        if (X509_check_private_key(cert, key) != 1)
                return fail(error, error_size, "the private key does not match the client certificate");

        if (!ca_b64)
                return fail(error, error_size, "the answer has no certificate-authority-data");
        r = decode(ca_b64, "certificate-authority-data", &ca_pem, &ca_size, error, error_size);
        if (r < 0)
                return r;
        {
                _cleanup_(X509_freep) X509 *ca = read_certificate(ca_pem, ca_size);
                if (!ca)
                        return fail(error, error_size, "certificate-authority-data holds no PEM certificate");
        }

        ERR_clear_error();
        return 0;
}
