/* SPDX-License-Identifier: MIT */
#pragma once

/* HTTP requests on the event loop (libcurl through curl-glue): bounded in
 * time, size and number. HTTPS only, unless a request allows plain HTTP (the
 * ECS metadata service). Redirects are never followed. Proxies come from the
 * usual environment variables (https_proxy, no_proxy, ...), as libcurl reads
 * them. Connections are reused across requests to the same host.
 *
 * Request bodies and header values may hold secrets (passwords, tokens): they
 * are kept in memory that is wiped when freed, and never logged. */

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define HTTP_BODY_MAX_DEFAULT (1024 * 1024)
#define HTTP_RESENDS_MAX 1  /* libcurl may send a request again once (see http.c) */
#define HTTP_HEADERS_MAX_DEFAULT (64 * 1024)

typedef struct HttpClient HttpClient;
typedef struct HttpRequest HttpRequest;

typedef struct HttpLimits {
        uint64_t connect_timeout_ms;    /* TCP + TLS handshake */
        uint64_t total_timeout_ms;      /* the whole transfer */
        uint64_t low_speed_time_sec;    /* abort when under 1 byte/s for this long */
        size_t max_body;                /* answers larger than this fail */
        size_t max_headers;             /* total header bytes */
} HttpLimits;

extern const HttpLimits http_limits_default;

typedef struct HttpResponse {
        long status;                    /* 0: no HTTP answer (see result) */
        CURLcode result;                /* CURLE_OK, or why the transfer failed */
        const char *error;              /* curl's message for result, "" for CURLE_OK */
        bool body_too_large;            /* the answer was over max_body (or the sink's max_size) */
        bool sink_failed;               /* the body sink refused what it was given */
        bool headers_too_large;
        const char *body;               /* NUL-terminated; borrowed for the callback's duration */
        size_t body_size;
        /* Response headers of interest, NULL when absent (borrowed). */
        const char *date;
        const char *retry_after;
        const char *request_id;         /* X-Request-Id */
        const char *port_id;            /* Port-ID */
        const char *subject_token;      /* X-Subject-Token: a secret */
        const char *content_type;
        const char *primary_ip;
} HttpResponse;

/* Called once when a started request ends (answer, failure or timeout); the
 * request is freed after the callback returns. Not called for cancelled
 * requests. */
typedef void (*HttpDone)(HttpRequest *req, const HttpResponse *response, void *userdata);

/* max_in_flight: transfers running at once; more wait in order. */
int http_client_new(sd_event *event, unsigned max_in_flight, HttpClient **ret);
/* Cancels everything still pending or running (no callbacks). */
HttpClient *http_client_free(HttpClient *c);
static inline void http_client_freep(HttpClient **c) {
        http_client_free(*c);
}
void http_client_set_limits(HttpClient *c, const HttpLimits *limits);
unsigned http_client_n_running(const HttpClient *c);
unsigned http_client_n_queued(const HttpClient *c);
/* Requests started since creation (for tests and benchmarks). */
uint64_t http_client_n_started(const HttpClient *c);

/* A request to url (encoded, https:// unless allow_http). */
int http_request_new(HttpClient *c, const char *method, const char *url, HttpRequest **ret);
int http_request_add_header(HttpRequest *r, const char *name, const char *value);
int http_request_set_body(HttpRequest *r, const void *body, size_t size);
void http_request_allow_http(HttpRequest *r);
int http_request_set_ca_file(HttpRequest *r, const char *path);
/* The body of a 200 answer goes to sink as it arrives, up to max_size bytes
 * in all, instead of being kept whole (the callback's HttpResponse then has
 * no body); the body of any other status is kept as usual, within
 * max_body. sink returns < 0 to abort the transfer (sink_failed). */
typedef int (*HttpBodySink)(const char *data, size_t size, void *userdata);
void http_request_set_body_sink(HttpRequest *r, size_t max_size, HttpBodySink sink, void *userdata);
/* Queues or starts the request; ownership passes to the client. On failure
 * (a negative errno) the request is still the caller's to cancel. */
int http_request_start(HttpRequest *r, HttpDone done, void *userdata);
/* Frees a request that was not started, or cancels a started one. */
void http_request_cancel(HttpRequest *r);
