/* SPDX-License-Identifier: MIT */
/* Checks of the certificate, key and CA data of an answer before any file
 * is touched: they parse, the dates hold, the key matches. Pure: the time
 * is a parameter. */

#include <errno.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "cert.h"
#include "macro.h"
#include "secure-memory.h"

/* A certificate as RFC 5280 (4.1) lays it out, for OpenSSL's ASN.1 decoder:
 * the grammar of OpenSSL's own X509, except that the public key is kept as
 * its DER bytes. OpenSSL 3.0's d2i_X509() decodes every certificate's key
 * through a decoder context built for that one key, which was half the CPU
 * time of a renewal; here only the client certificate's key is decoded, by
 * a context made once (see cert_prepare()). */
typedef struct CertificateBody {
        ASN1_INTEGER *version;
        ASN1_INTEGER *serial;
        X509_ALGOR *signature;
        X509_NAME *issuer;
        X509_VAL *validity;
        X509_NAME *subject;
        ASN1_STRING *public_key;        /* the whole SubjectPublicKeyInfo */
        ASN1_BIT_STRING *issuer_unique_id;
        ASN1_BIT_STRING *subject_unique_id;
        STACK_OF(X509_EXTENSION) *extensions;
} CertificateBody;

ASN1_SEQUENCE(CertificateBody) = {
        ASN1_EXP_OPT(CertificateBody, version, ASN1_INTEGER, 0),
        ASN1_SIMPLE(CertificateBody, serial, ASN1_INTEGER),
        ASN1_SIMPLE(CertificateBody, signature, X509_ALGOR),
        ASN1_SIMPLE(CertificateBody, issuer, X509_NAME),
        ASN1_SIMPLE(CertificateBody, validity, X509_VAL),
        ASN1_SIMPLE(CertificateBody, subject, X509_NAME),
        ASN1_SIMPLE(CertificateBody, public_key, ASN1_SEQUENCE),
        ASN1_IMP_OPT(CertificateBody, issuer_unique_id, ASN1_BIT_STRING, 1),
        ASN1_IMP_OPT(CertificateBody, subject_unique_id, ASN1_BIT_STRING, 2),
        ASN1_EXP_SEQUENCE_OF_OPT(CertificateBody, extensions, X509_EXTENSION, 3),
} static_ASN1_SEQUENCE_END(CertificateBody)

typedef struct Certificate {
        CertificateBody *body;
        X509_ALGOR *signature_algorithm;
        ASN1_BIT_STRING *signature;
} Certificate;

ASN1_SEQUENCE(Certificate) = {
        ASN1_SIMPLE(Certificate, body, CertificateBody),
        ASN1_SIMPLE(Certificate, signature_algorithm, X509_ALGOR),
        ASN1_SIMPLE(Certificate, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(Certificate)

static void certificate_free(Certificate *c) {
        ASN1_item_free((ASN1_VALUE *) c, ASN1_ITEM_rptr(Certificate));
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Certificate *, certificate_free)
/* An EC private key as SEC 1 (C.4) lays it out ("EC PRIVATE KEY"), with
 * its curve named (explicit parameters are left to OpenSSL's decoder), and
 * a SubjectPublicKeyInfo: for OpenSSL's ASN.1 decoder, so that an EC key is
 * checked against its certificate by computing its public point on a group
 * made once (see ec_key_matches()), without the decoders, which build the
 * curve's group for every key. */
typedef struct Sec1Key {
        ASN1_INTEGER *version;
        ASN1_OCTET_STRING *private_key;
        ASN1_OBJECT *curve;
        ASN1_BIT_STRING *public_key;
} Sec1Key;

ASN1_SEQUENCE(Sec1Key) = {
        ASN1_SIMPLE(Sec1Key, version, ASN1_INTEGER),
        ASN1_SIMPLE(Sec1Key, private_key, ASN1_OCTET_STRING),
        ASN1_EXP_OPT(Sec1Key, curve, ASN1_OBJECT, 0),
        ASN1_EXP_OPT(Sec1Key, public_key, ASN1_BIT_STRING, 1),
} static_ASN1_SEQUENCE_END(Sec1Key)

typedef struct PublicKeyInfo {
        X509_ALGOR *algorithm;
        ASN1_BIT_STRING *key;
} PublicKeyInfo;

ASN1_SEQUENCE(PublicKeyInfo) = {
        ASN1_SIMPLE(PublicKeyInfo, algorithm, X509_ALGOR),
        ASN1_SIMPLE(PublicKeyInfo, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(PublicKeyInfo)

static void sec1_key_free(Sec1Key *k) {
        if (k && k->private_key)
                OPENSSL_cleanse(k->private_key->data, (size_t) k->private_key->length);
        ASN1_item_free((ASN1_VALUE *) k, ASN1_ITEM_rptr(Sec1Key));
}

static void public_key_info_free(PublicKeyInfo *k) {
        ASN1_item_free((ASN1_VALUE *) k, ASN1_ITEM_rptr(PublicKeyInfo));
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Sec1Key *, sec1_key_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(PublicKeyInfo *, public_key_info_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_clear_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EC_POINT *, EC_POINT_clear_free)
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

static int read_info(const Certificate *c, CertInfo *info) {
        const ASN1_INTEGER *serial = c->body->serial;
        BIGNUM *bn;

        *info = (CertInfo) {};
        if (asn1_time_to_epoch(c->body->validity->notBefore, &info->not_before) < 0 ||
            asn1_time_to_epoch(c->body->validity->notAfter, &info->not_after) < 0)
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
        X509_NAME_get_text_by_NID(c->body->subject, NID_commonName, info->subject_cn, sizeof(info->subject_cn));
        /* Printable only: it may reach a log line. */
        for (char *p = info->subject_cn; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return 0;
}

/* The first certificate in PEM data (what PEM_read_bio_X509() takes:
 * "CERTIFICATE" or "X509 CERTIFICATE", unencrypted); text and other blocks
 * before it are skipped. */
static Certificate *read_certificate(const unsigned char *pem, size_t size) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int) size);
        Certificate *c = NULL;

        while (bio && !c) {
                char *name = NULL, *header = NULL;
                unsigned char *der = NULL;
                long length = 0;

                if (PEM_read_bio(bio, &name, &header, &der, &length) != 1)
                        break;
                bool certificate = strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0;
                if (certificate) {
                        const unsigned char *p = der;
                        /* Headers only come with encryption, which a certificate never has. */
                        if (header[0] == 0)
                                c = (Certificate *) ASN1_item_d2i(NULL, &p, length, ASN1_ITEM_rptr(Certificate));
                }
                OPENSSL_free(name);
                OPENSSL_free(header);
                OPENSSL_free(der);
                if (certificate)
                        break;
        }
        return c;
}

int cert_info_from_base64(const char *b64, CertInfo *info, char *error, size_t error_size) {
        _cleanup_free_ unsigned char *pem = NULL;
        _cleanup_(certificate_freep) Certificate *x = NULL;
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

/* OpenSSL 3.0 builds a decoder context for every PEM_read_bio_PrivateKey()
 * (and for every d2i_X509()): it looks through every provider's decoders and
 * key managers, most of the CPU time of a renewal. One context for private
 * keys and one for certificates' public keys, made once (cert_prepare()) and
 * used for every key, decode the same keys at a tenth of the cost (OpenSSL
 * 3.1 caches its contexts in the same spirit). The daemon is single-threaded. */
typedef struct KeyDecoder {
        OSSL_DECODER_CTX *context;
        EVP_PKEY *decoded;
} KeyDecoder;

static KeyDecoder private_keys, public_keys;

static void key_decoders_free(void) {
        OSSL_DECODER_CTX_free(private_keys.context);
        OSSL_DECODER_CTX_free(public_keys.context);
        private_keys.context = public_keys.context = NULL;
}

int cert_prepare(void) {
        if (private_keys.context)
                return 0;
        private_keys.context = OSSL_DECODER_CTX_new_for_pkey(&private_keys.decoded, "PEM", NULL, NULL,
                                                             EVP_PKEY_KEYPAIR, NULL, NULL);
        public_keys.context = OSSL_DECODER_CTX_new_for_pkey(&public_keys.decoded, "DER", "SubjectPublicKeyInfo", NULL,
                                                            EVP_PKEY_PUBLIC_KEY, NULL, NULL);
        if (!private_keys.context || !public_keys.context) {
                key_decoders_free();
                return -ENOMEM;
        }
        /* Registered after OpenSSL's own exit handler, so run before it. */
        atexit(key_decoders_free);
        return 0;
}

static EVP_PKEY *decode_key(KeyDecoder *d, const unsigned char *data, size_t size) {
        if (cert_prepare() < 0)
                return NULL;
        d->decoded = NULL;
        if (OSSL_DECODER_from_data(d->context, &data, &size) != 1) {
                EVP_PKEY_free(d->decoded);
                d->decoded = NULL;
        }
        return TAKE_PTR(d->decoded);
}

/* The groups of the curves seen, made once each (the daemon is
 * single-threaded), and a BN_CTX for the arithmetic. */
static struct {
        int nid;
        EC_GROUP *group;
} groups[4];
static BN_CTX *bn_ctx;

static void groups_free(void) {
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                EC_GROUP_free(groups[i].group);
        BN_CTX_free(bn_ctx);
}

static const EC_GROUP *group_of(int nid) {
        size_t i;
        for (i = 0; i < ELEMENTSOF(groups) && groups[i].group; i++)
                if (groups[i].nid == nid)
                        return groups[i].group;
        if (i == ELEMENTSOF(groups))
                return NULL;
        if (!bn_ctx) {
                if (!(bn_ctx = BN_CTX_new()))
                        return NULL;
                atexit(groups_free);
        }
        groups[i].group = EC_GROUP_new_by_curve_name(nid);
        groups[i].nid = nid;
        return groups[i].group;
}

/* Whether the EC private key in key_pem matches the certificate's public
 * key (spki): 1 it does (d·G is the certificate's point), 0 it does not,
 * -1 when this cannot tell and OpenSSL's decoders are to (another form or
 * more than one PEM block, explicit curve parameters, an unusual curve, a
 * scalar out of range, out of memory). Only one PEM block, "EC PRIVATE
 * KEY", unencrypted, with text before it allowed: what CCE answers. */
static int ec_key_matches(const unsigned char *key_pem, size_t key_size, const ASN1_STRING *spki) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(key_pem, (int) key_size);
        _cleanup_(sec1_key_freep) Sec1Key *k = NULL;
        _cleanup_(public_key_info_freep) PublicKeyInfo *pub = NULL;
        _cleanup_(BN_clear_freep) BIGNUM *d = NULL;
        _cleanup_(EC_POINT_clear_freep) EC_POINT *mine = NULL, *theirs = NULL;
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long length = 0;
        int r = -1;

        if (!bio || PEM_read_bio(bio, &name, &header, &der, &length) != 1) {
                ERR_clear_error();
                return -1;
        }
        bool usable = strcmp(name, "EC PRIVATE KEY") == 0 && header[0] == 0;
        if (usable) {
                const unsigned char *p = der;
                k = (Sec1Key *) ASN1_item_d2i(NULL, &p, length, ASN1_ITEM_rptr(Sec1Key));
                usable = k && p == der + length;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(der, (size_t) length);
        /* One block only: with more, the decoders say which is the key. */
        char *more_name = NULL, *more_header = NULL;
        unsigned char *more = NULL;
        if (usable && PEM_read_bio(bio, &more_name, &more_header, &more, &length) == 1) {
                OPENSSL_free(more_name);
                OPENSSL_free(more_header);
                OPENSSL_clear_free(more, (size_t) length);
                usable = false;
        }
        ERR_clear_error();
        if (!usable || ASN1_INTEGER_get(k->version) != 1 || !k->curve)
                return -1;

        int nid = OBJ_obj2nid(k->curve);
        const EC_GROUP *group = nid != NID_undef ? group_of(nid) : NULL;
        if (!group)
                return -1;
        d = BN_bin2bn(k->private_key->data, k->private_key->length, NULL);
        if (!d || BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
                return -1;
        BN_set_flags(d, BN_FLG_CONSTTIME);  /* a secret */

        /* The certificate's key: an EC key on the same curve, or no match. */
        const unsigned char *p = ASN1_STRING_get0_data(spki);
        pub = (PublicKeyInfo *) ASN1_item_d2i(NULL, &p, ASN1_STRING_length(spki), ASN1_ITEM_rptr(PublicKeyInfo));
        if (!pub) {
                ERR_clear_error();
                return -1;
        }
        int param_type;
        const void *param;
        const ASN1_OBJECT *algorithm;
        X509_ALGOR_get0(&algorithm, &param_type, &param, pub->algorithm);
        if (OBJ_obj2nid(algorithm) != NID_X9_62_id_ecPublicKey)
                return 0;  /* an EC key cannot match it */
        if (param_type != V_ASN1_OBJECT)
                return -1;  /* explicit parameters */
        if (OBJ_obj2nid(param) != nid)
                return 0;

        mine = EC_POINT_new(group);
        theirs = EC_POINT_new(group);
        if (!mine || !theirs || EC_POINT_mul(group, mine, d, NULL, NULL, bn_ctx) != 1)
                goto done;
        if (EC_POINT_oct2point(group, theirs, pub->key->data, (size_t) pub->key->length, bn_ctx) != 1) {
                r = 0;  /* not a point on the curve: no key matches it */
                goto done;
        }
        r = EC_POINT_cmp(group, mine, theirs, bn_ctx) == 0;
done:
        ERR_clear_error();
        return r;
}

/* The private key in key_pem parses and matches the certificate's public
 * key (spki): an "EC PRIVATE KEY" by ec_key_matches(), any other form
 * through OpenSSL's decoders. */
static int check_key(const unsigned char *key_pem, size_t key_size, const ASN1_STRING *spki, char *error,
                     size_t error_size) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL, *cert_key = NULL;
        int r = ec_key_matches(key_pem, key_size, spki);

        if (r >= 0)
                return r > 0 ? 0 : fail(error, error_size, "the private key does not match the client certificate");
        key = decode_key(&private_keys, key_pem, key_size);
        if (!key)
                return fail(error, error_size, "client-key-data is not a PEM private key");
        if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA && EVP_PKEY_base_id(key) != EVP_PKEY_EC)
                return fail(error, error_size, "client-key-data is neither an RSA nor an EC key");
        cert_key = decode_key(&public_keys, ASN1_STRING_get0_data(spki), (size_t) ASN1_STRING_length(spki));
        if (!cert_key)
                return fail(error, error_size, "the public key of the client certificate does not parse");
        if (EVP_PKEY_eq(cert_key, key) != 1)
                return fail(error, error_size, "the private key does not match the client certificate");
        return 0;
}

int cert_check_answer(const char *client_certificate_b64, const char *client_key_b64, const char *ca_b64,
                      int64_t now, CertInfo *info, char *error, size_t error_size) {
        _cleanup_free_ unsigned char *cert_pem = NULL, *ca_pem = NULL;
        _cleanup_free_wiped_ unsigned char *key_pem = NULL;
        _cleanup_(certificate_freep) Certificate *cert = NULL;
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
        r = check_key(key_pem, key_size, cert->body->public_key, error, error_size);
        if (r < 0)
                return r;

        if (!ca_b64)
                return fail(error, error_size, "the answer has no certificate-authority-data");
        r = decode(ca_b64, "certificate-authority-data", &ca_pem, &ca_size, error, error_size);
        if (r < 0)
                return r;
        {
                _cleanup_(certificate_freep) Certificate *ca = read_certificate(ca_pem, ca_size);
                if (!ca)
                        return fail(error, error_size, "certificate-authority-data holds no PEM certificate");
        }

        ERR_clear_error();
        return 0;
}
