/* SPDX-License-Identifier: MIT */
/* Classifying what went wrong with a call (HTTP status, CCE, APIG, IAM and
 * Keystone error bodies) and saying it without a secret. Pure: no I/O. */

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api-error.h"
#include "json.h"
#include "macro.h"
#include "parse-value.h"

static const char *const class_names[_API_ERROR_CLASS_MAX] = {
        [API_ERROR_NONE] = "none",
        [API_ERROR_TRANSIENT] = "transient",
        [API_ERROR_THROTTLED] = "throttled",
        [API_ERROR_AUTHENTICATION] = "authentication",
        [API_ERROR_NOT_FOUND] = "not-found",
        [API_ERROR_INVALID_REQUEST] = "invalid-request",
        [API_ERROR_BAD_RESPONSE] = "bad-response",
};

const char *api_error_class_to_string(ApiErrorClass c) {
        return c >= 0 && c < _API_ERROR_CLASS_MAX ? class_names[c] : "unknown";
}

/* Copies untrusted text: printable characters only (UTF-8 kept), cut at
 * a '|' (the gateway echoes its canonical request, headers included, after
 * one), trimmed, truncated. */
static void copy_clean(char *dst, size_t size, const char *src, size_t n) {
        size_t j = 0;

        for (size_t i = 0; i < n && j + 1 < size; i++) {
                unsigned char c = (unsigned char) src[i];
                if (c == '|' || c == 0)
                        break;
                dst[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
        }
        /* Do not end inside a UTF-8 sequence. */
        while (j > 0 && ((unsigned char) dst[j - 1] & 0x80)) {
                size_t start = j - 1;
                while (start > 0 && ((unsigned char) dst[start] & 0xC0) == 0x80)
                        start--;
                unsigned char lead = (unsigned char) dst[start];
                size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
                if (j - start == need)
                        break;
                j = start;
        }
        while (j > 0 && (dst[j - 1] == ' ' || dst[j - 1] == ':'))
                j--;
        dst[j] = 0;
}

void api_error_set(ApiError *e, ApiErrorClass c, const char *format, ...) {
        va_list ap;

        *e = (ApiError) { .klass = c };
        va_start(ap, format);
        vsnprintf(e->message, sizeof(e->message), format, ap);
        va_end(ap);
}

static ApiErrorClass class_from_status(long status) {
        if (status == 429)
                return API_ERROR_THROTTLED;
        if (status == 401 || status == 403)
                return API_ERROR_AUTHENTICATION;
        if (status == 404)
                return API_ERROR_NOT_FOUND;
        if (status == 408 || (status >= 500 && status <= 599))
                return API_ERROR_TRANSIENT;
        if (status >= 400 && status <= 499)
                return API_ERROR_INVALID_REQUEST;
        return API_ERROR_BAD_RESPONSE;
}

static void copy_json_string(char *dst, size_t size, const JsonNode *n) {
        if (n && n->type == JSON_STRING)
                copy_clean(dst, size, n->string, n->length);
        else if (n && n->type == JSON_NUMBER)
                copy_clean(dst, size, n->string, n->length);
}

static void parse_error_body(ApiError *e, const char *body, size_t size) {
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        char why[128];

        if (!body || size == 0 || json_parse(body, size, &root, why, sizeof(why)) < 0 || root->type != JSON_OBJECT)
                return;

        /* CCE */
        copy_json_string(e->code, sizeof(e->code), json_get(root, "errorCode"));
        copy_json_string(e->message, sizeof(e->message), json_get(root, "errorMessage"));
        /* API gateway (APIGW. or APIG.) and IAM */
        if (!e->code[0])
                copy_json_string(e->code, sizeof(e->code), json_get(root, "error_code"));
        if (!e->message[0])
                copy_json_string(e->message, sizeof(e->message), json_get(root, "error_msg"));
        if (!e->request_id[0])
                copy_json_string(e->request_id, sizeof(e->request_id), json_get(root, "request_id"));
        /* Keystone: {"error": {"code": 401, "message": "...", "title": "..."}} */
        const JsonNode *k = json_get(root, "error");
        if (k && k->type == JSON_OBJECT) {
                if (!e->code[0])
                        copy_json_string(e->code, sizeof(e->code), json_get(k, "code"));
                if (!e->message[0])
                        copy_json_string(e->message, sizeof(e->message), json_get(k, "message"));
                if (!e->message[0])
                        copy_json_string(e->message, sizeof(e->message), json_get(k, "title"));
        }
}

void api_error_from_response(ApiError *e, long status, const char *body, size_t size,
                             const char *request_id, const char *retry_after, int64_t now) {
        *e = (ApiError) {
                .klass = class_from_status(status),
                .http_status = status,
        };
        if (request_id)
                copy_clean(e->request_id, sizeof(e->request_id), request_id, strlen(request_id));
        if (retry_after && parse_retry_after(retry_after, now, &e->retry_after_sec) >= 0)
                e->has_retry_after = true;
        parse_error_body(e, body, size);
        if (!e->message[0])
                snprintf(e->message, sizeof(e->message), "%s",
                         status >= 200 && status < 400 ? "unexpected HTTP status" : "no error details in the answer");
}

/* Rewrites field with every occurrence of secret replaced by the mark, cut
 * to the field's size; then cuts a trailing prefix of the secret that a
 * truncation may have left. */
static void redact_field(char *field, size_t size, const char *secret) {
        static const char mark[] = "[redacted]";
        size_t n = strlen(secret), len = 0;
        char out[512];
        const char *p = field;

        assert(size <= sizeof(out));
        while (*p && len + 1 < size) {
                if (strncmp(p, secret, n) == 0) {
                        for (const char *m = mark; *m && len + 1 < size; m++)
                                out[len++] = *m;
                        p += n;
                } else
                        out[len++] = *p++;
        }
        out[len] = 0;
        for (size_t k = MIN(n - 1, len); k >= 4; k--)
                if (memcmp(out + len - k, secret, k) == 0) {
                        out[len - k] = 0;
                        break;
                }
        memcpy(field, out, strlen(out) + 1);
}

void api_error_redact(ApiError *e, const char *secret) {
        if (!secret || strlen(secret) < 4)
                return;
        redact_field(e->message, sizeof(e->message), secret);
        redact_field(e->code, sizeof(e->code), secret);
        redact_field(e->request_id, sizeof(e->request_id), secret);
}

const char *api_error_describe(const ApiError *e, char *buf, size_t size) {
        char status[32] = "", code[80] = "", rid[160] = "";

        if (e->http_status > 0)
                snprintf(status, sizeof(status), "HTTP %ld, ", e->http_status);
        if (e->code[0])
                snprintf(code, sizeof(code), "%s: ", e->code);
        if (e->request_id[0])
                snprintf(rid, sizeof(rid), " (request %s)", e->request_id);
        snprintf(buf, size, "%s error: %s%s%s%s", api_error_class_to_string(e->klass), status, code, e->message, rid);
        return buf;
}
