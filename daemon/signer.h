/* SPDX-License-Identifier: MIT */
#pragma once

/* Huawei Cloud API request signing, "SDK-HMAC-SHA256" (pure: no clock, no
 * I/O). See the API signing guide; in short:
 *   canonical request = METHOD \n URI/ \n QUERY \n HEADERS \n SIGNED \n hex(sha256(body))
 *   string to sign    = SDK-HMAC-SHA256 \n DATE \n hex(sha256(canonical request))
 *   signature         = hex(HMAC-SHA256(secret key, string to sign))
 * Paths and query pairs are given decoded; the signer encodes them. */

#include <stddef.h>

#define SIGNER_ALGORITHM "SDK-HMAC-SHA256"
#define SIGNER_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct SignerPair {
        const char *name;       /* header name (any case) or query key */
        const char *value;
} SignerPair;

typedef struct SignerRequest {
        const char *method;             /* upper case */
        const char *path;               /* decoded, starting with '/' */
        const SignerPair *query;        /* decoded pairs, any order */
        size_t n_query;
        const SignerPair *headers;      /* the headers to sign, as sent (values without surrounding white space) */
        size_t n_headers;
        const void *body;
        size_t body_size;
} SignerRequest;

/* Percent-encodes every byte except A-Z a-z 0-9 - . _ ~ (upper-case hex). */
int signer_uri_encode(const char *s, size_t n, char **ret);

/* The path as sent on the wire: each segment encoded, no '/' appended. */
int signer_encode_path(const char *path, char **ret);
/* The query string as sent (without '?'), sorted like the canonical query. */
int signer_encode_query(const SignerPair *query, size_t n, char **ret);

/* The canonical request; -EINVAL for a request that cannot be signed (no
 * headers, a header name twice, a path not starting with '/'). */
int signer_canonical_request(const SignerRequest *req, char **ret);

/* The Authorization header's value:
 * "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
 * date is the X-Sdk-Date value, which must be among the signed headers. */
int signer_authorization(const SignerRequest *req, const char *date,
                         const char *access_key,
                         const void *secret_key, size_t secret_key_size,
                         char **ret);
