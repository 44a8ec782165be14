/* SPDX-License-Identifier: MIT */
/* Huawei Cloud's SDK-HMAC-SHA256 request signing. Pure: no clock, no I/O. */

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "signer.h"

static bool unreserved(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~';
}

int signer_uri_encode(const char *s, size_t n, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(n * 3 + 1), *p = out;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (unreserved(c))
                        *p++ = (char) c;
                else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                }
        }
        *p = 0;
        *ret = out;
        return 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[in[i] >> 4];
                out[2 * i + 1] = hex[in[i] & 15];
        }
        out[2 * n] = 0;
}

static void sha256_hex(const void *data, size_t n, char out[static 2 * SHA256_DIGEST_LENGTH + 1]) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256(data, n, md);
        hex_encode(md, sizeof(md), out);
}

/* Encodes each '/'-separated segment of path; appends '/' when asked and
 * the path does not end in one. */
static int encode_path(const char *path, bool trailing_slash, FILE *f) {
        const char *p = path;

        if (path[0] != '/')
                return -EINVAL;
        while (*p) {
                size_t n = strcspn(p, "/");
                if (n > 0) {
                        _cleanup_free_ char *e = NULL;
                        int r = signer_uri_encode(p, n, &e);
                        if (r < 0)
                                return r;
                        fputs(e, f);
                        p += n;
                }
                if (*p == '/') {
                        fputc('/', f);
                        p++;
                }
        }
        if (trailing_slash && path[strlen(path) - 1] != '/')
                fputc('/', f);
        return 0;
}

int signer_encode_path(const char *path, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        int r;

        if (!f)
                return -ENOMEM;
        r = encode_path(path, false, f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

static int pair_compare(const void *a, const void *b) {
        const SignerPair *x = *(const SignerPair *const *) a, *y = *(const SignerPair *const *) b;
        int c = strcmp(x->name, y->name);
        return c != 0 ? c : strcmp(x->value, y->value);
}

static int write_query(const SignerPair *query, size_t n, FILE *f) {
        _cleanup_free_ const SignerPair **sorted = NULL;

        if (n == 0)
                return 0;
        sorted = calloc(n, sizeof(SignerPair *));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sorted[i] = &query[i];
        qsort(sorted, n, sizeof(SignerPair *), pair_compare);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                if (signer_uri_encode(sorted[i]->name, strlen(sorted[i]->name), &k) < 0 ||
                    signer_uri_encode(sorted[i]->value, strlen(sorted[i]->value), &v) < 0)
                        return -ENOMEM;
                fprintf(f, "%s%s=%s", i > 0 ? "&" : "", k, v);
        }
        return 0;
}

int signer_encode_query(const SignerPair *query, size_t n, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        int r;

        if (!f)
                return -ENOMEM;
        r = write_query(query, n, f);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

typedef struct Header {
        char name[128];         /* lower case */
        const char *value;      /* trimmed: value[0..length) */
        size_t length;
} Header;

static int header_compare(const void *a, const void *b) {
        return strcmp(((const Header *) a)->name, ((const Header *) b)->name);
}

/* Lower-cased, trimmed and sorted copies of the headers to sign. */
static int prepare_headers(const SignerRequest *req, Header **ret) {
        _cleanup_free_ Header *h = NULL;

        if (req->n_headers == 0)
                return -EINVAL;
        h = calloc(req->n_headers, sizeof(Header));
        if (!h)
                return -ENOMEM;
        for (size_t i = 0; i < req->n_headers; i++) {
                const char *name = req->headers[i].name, *v = req->headers[i].value;
                size_t n = strlen(name), len;

                if (n == 0 || n >= sizeof(h[i].name) || strpbrk(name, ":;\r\n \t"))
                        return -EINVAL;
                for (size_t j = 0; j <= n; j++)
                        h[i].name[j] = (char) ((name[j] >= 'A' && name[j] <= 'Z') ? name[j] + 32 : name[j]);
                while (*v == ' ' || *v == '\t')
                        v++;
                len = strlen(v);
                while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                        len--;
                if (memchr(v, '\n', len) || memchr(v, '\r', len))
                        return -EINVAL;
                h[i].value = v;
                h[i].length = len;
        }
        qsort(h, req->n_headers, sizeof(Header), header_compare);
        for (size_t i = 1; i < req->n_headers; i++)
                if (strcmp(h[i - 1].name, h[i].name) == 0)
                        return -EINVAL;
        *ret = TAKE_PTR(h);
        return 0;
}

static int canonical_request(const SignerRequest *req, const Header *h, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        const char *payload = NULL;
        char body_hash[2 * SHA256_DIGEST_LENGTH + 1];
        FILE *f;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fprintf(f, "%s\n", req->method);
        r = encode_path(req->path, true, f);
        if (r >= 0) {
                fputc('\n', f);
                r = write_query(req->query, req->n_query, f);
        }
        if (r >= 0) {
                fputc('\n', f);
                for (size_t i = 0; i < req->n_headers; i++) {
                        fprintf(f, "%s:%.*s\n", h[i].name, (int) h[i].length, h[i].value);
                        /* A signed X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD replaces the body hash. */
                        if (strcmp(h[i].name, "x-sdk-content-sha256") == 0 &&
                            h[i].length == strlen(SIGNER_UNSIGNED_PAYLOAD) &&
                            memcmp(h[i].value, SIGNER_UNSIGNED_PAYLOAD, h[i].length) == 0)
                                payload = SIGNER_UNSIGNED_PAYLOAD;
                }
                fputc('\n', f);
                for (size_t i = 0; i < req->n_headers; i++)
                        fprintf(f, "%s%s", i > 0 ? ";" : "", h[i].name);
                fputc('\n', f);
                if (!payload) {
                        sha256_hex(req->body ?: "", req->body_size, body_hash);
                        payload = body_hash;
                }
                fputs(payload, f);
        }
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

int signer_canonical_request(const SignerRequest *req, char **ret) {
        _cleanup_free_ Header *h = NULL;
        int r;

        r = prepare_headers(req, &h);
        if (r < 0)
                return r;
        return canonical_request(req, h, ret);
}

int signer_authorization(const SignerRequest *req, const char *date,
                         const char *access_key,
                         const void *secret_key, size_t secret_key_size,
                         char **ret) {
        _cleanup_free_ Header *h = NULL;
        _cleanup_free_ char *creq = NULL, *string_to_sign = NULL, *signed_headers = NULL;
        char creq_hash[2 * SHA256_DIGEST_LENGTH + 1], signature[2 * EVP_MAX_MD_SIZE + 1];
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_size = 0;
        size_t n = 0;
        int r;

        if (secret_key_size > INT32_MAX || strpbrk(access_key, " ,\r\n"))
                return -EINVAL;
        r = prepare_headers(req, &h);
        if (r < 0)
                return r;
        bool dated = false;
        for (size_t i = 0; i < req->n_headers; i++)
                if (strcmp(h[i].name, "x-sdk-date") == 0)
                        dated = h[i].length == strlen(date) && memcmp(h[i].value, date, h[i].length) == 0;
        if (!dated)
                return -EINVAL;
        r = canonical_request(req, h, &creq);
        if (r < 0)
                return r;
        sha256_hex(creq, strlen(creq), creq_hash);

        if (asprintf(&string_to_sign, SIGNER_ALGORITHM "\n%s\n%s", date, creq_hash) < 0)
                return -ENOMEM;
        if (!HMAC(EVP_sha256(), secret_key, (int) secret_key_size,
                  (const unsigned char *) string_to_sign, strlen(string_to_sign), mac, &mac_size))
                return -EIO;
        hex_encode(mac, mac_size, signature);
        OPENSSL_cleanse(mac, sizeof(mac));

        for (size_t i = 0; i < req->n_headers; i++)
                n += strlen(h[i].name) + 1;
        signed_headers = malloc(n + 1);
        if (!signed_headers)
                return -ENOMEM;
        signed_headers[0] = 0;
        for (size_t i = 0; i < req->n_headers; i++) {
                if (i > 0)
                        strcat(signed_headers, ";");
                strcat(signed_headers, h[i].name);
        }

        if (asprintf(ret, SIGNER_ALGORITHM " Access=%s, SignedHeaders=%s, Signature=%s",
                     access_key, signed_headers, signature) < 0)
                return -ENOMEM;
        return 0;
}
