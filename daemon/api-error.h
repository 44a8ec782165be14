/* SPDX-License-Identifier: MIT */
#pragma once

/* What went wrong with a call to the cloud, in the classes that decide what
 * happens next (pure: classification and parsing of error bodies only). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ApiErrorClass {
        API_ERROR_NONE,
        API_ERROR_TRANSIENT,            /* network, timeouts, 5xx, 408: retry with backoff */
        API_ERROR_THROTTLED,            /* 429: retry after Retry-After or backoff */
        API_ERROR_AUTHENTICATION,       /* 401, 403: pause every user of the credential */
        API_ERROR_NOT_FOUND,            /* 404: park until the configuration changes */
        API_ERROR_INVALID_REQUEST,      /* 400 and other 4xx: park as a configuration problem */
        API_ERROR_BAD_RESPONSE,         /* an answer that cannot be used: unparseable, invalid, unexpected status */
        _API_ERROR_CLASS_MAX,
} ApiErrorClass;

typedef struct ApiError {
        ApiErrorClass klass;
        long http_status;               /* 0: no HTTP answer */
        char code[64];                  /* "CCE.01400001", "APIGW.0301", "IAM.0001", "401" (Keystone), "" */
        char message[256];              /* printable, truncated; never an echoed canonical request */
        char request_id[128];           /* X-Request-Id or the body's request_id, "" */
        uint64_t retry_after_sec;       /* from Retry-After; 0 = none given */
        bool has_retry_after;
} ApiError;

const char *api_error_class_to_string(ApiErrorClass c);

/* Sets class and a message (printf-style), clearing the rest. */
__attribute__((format(printf, 3, 4)))
void api_error_set(ApiError *e, ApiErrorClass c, const char *format, ...);

/* Fills e from an HTTP answer that was not the expected success: the class
 * from the status, code and message from any known error body shape (CCE
 * errorCode/errorMessage, gateway and IAM error_code/error_msg, Keystone
 * error{code,message,title}), request id and Retry-After from the headers
 * (either may be NULL). now is the current time for an HTTP-date
 * Retry-After. */
void api_error_from_response(ApiError *e, long status, const char *body, size_t size,
                             const char *request_id, const char *retry_after, int64_t now);

/* Replaces every occurrence of secret (when at least 4 bytes) in the message
 * with "[redacted]". */
void api_error_redact(ApiError *e, const char *secret);

/* "authentication failed: HTTP 401, APIGW.0301: Incorrect IAM authentication
 * information, request 7f3e..." into buf. */
const char *api_error_describe(const ApiError *e, char *buf, size_t size);
