/* SPDX-License-Identifier: MIT */
/* HTTP requests on the event loop, bounded in time, size and number; HTTPS
 * only unless asked; secrets in request bodies and headers wiped. Knows
 * nothing of the CCE API. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "build-config.h"
#include "curl-glue.h"
#include "http.h"
#include "macro.h"
#include "secure-memory.h"

const HttpLimits http_limits_default = {
        .connect_timeout_ms = 10 * 1000,
        .total_timeout_ms = 60 * 1000,
        .low_speed_time_sec = 30,
        .max_body = HTTP_BODY_MAX_DEFAULT,
        .max_headers = HTTP_HEADERS_MAX_DEFAULT,
};

enum {
        HEADER_DATE,
        HEADER_RETRY_AFTER,
        HEADER_REQUEST_ID,
        HEADER_PORT_ID,
        HEADER_SUBJECT_TOKEN,
        HEADER_CONTENT_TYPE,
        _HEADER_MAX,
};

static const char *const captured_headers[_HEADER_MAX] = {
        [HEADER_DATE] = "Date",
        [HEADER_RETRY_AFTER] = "Retry-After",
        [HEADER_REQUEST_ID] = "X-Request-Id",
        [HEADER_PORT_ID] = "Port-ID",
        [HEADER_SUBJECT_TOKEN] = "X-Subject-Token",
        [HEADER_CONTENT_TYPE] = "Content-Type",
};

typedef enum RequestState {
        REQUEST_NEW,
        REQUEST_QUEUED,
        REQUEST_RUNNING,
} RequestState;

struct HttpRequest {
        HttpClient *client;
        RequestState state;
        HttpRequest *prev, *next;       /* in the client's queue or running list */

        CURL *easy;
        char *method;
        char *url;
        struct curl_slist *headers;     /* our own nodes: wiped when freed */
        char *body;
        size_t body_size, body_sent;
        unsigned rewinds;               /* of the body, for a resend by libcurl */
        bool allow_http;
        char *ca_file;

        HttpDone done;
        void *userdata;
        HttpBodySink sink;              /* of a 200 answer's body, when set */
        void *sink_userdata;
        size_t sink_max, sunk;
        bool sink_failed;

        /* The answer. */
        char *response;
        size_t response_size, response_allocated;
        size_t header_bytes;
        bool body_too_large, headers_too_large;
        char *captured[_HEADER_MAX];
        char error[CURL_ERROR_SIZE];
};

struct HttpClient {
        sd_event *event;
        CurlGlue *glue;
        HttpLimits limits;
        unsigned max_in_flight;
        HttpRequest *queue_head, *queue_tail;
        HttpRequest *running;
        unsigned n_running, n_queued;
        uint64_t n_started;
};

static void list_remove(HttpRequest **head, HttpRequest **tail, HttpRequest *r) {
        if (r->prev)
                r->prev->next = r->next;
        else
                *head = r->next;
        if (r->next)
                r->next->prev = r->prev;
        else if (tail)
                *tail = r->prev;
        r->prev = r->next = NULL;
}

static void free_headers(struct curl_slist *l) {
        while (l) {
                struct curl_slist *n = l->next;
                free_wiped(l->data);
                free(l);
                l = n;
        }
}

static void clear_captured(HttpRequest *r) {
        for (size_t i = 0; i < _HEADER_MAX; i++)
                r->captured[i] = free_wiped(r->captured[i]);
}

static void request_unlink(HttpRequest *r) {
        HttpClient *c = r->client;

        switch (r->state) {
        case REQUEST_QUEUED:
                list_remove(&c->queue_head, &c->queue_tail, r);
                c->n_queued--;
                break;
        case REQUEST_RUNNING:
                curl_glue_remove(c->glue, r->easy);
                list_remove(&c->running, NULL, r);
                c->n_running--;
                break;
        case REQUEST_NEW:
                break;
        }
        r->state = REQUEST_NEW;
}

static void request_free(HttpRequest *r) {
        if (!r)
                return;
        request_unlink(r);
        if (r->easy)
                curl_easy_cleanup(r->easy);
        free(r->method);
        free(r->url);
        free_headers(r->headers);
        free_wiped(r->body);
        free(r->ca_file);
        free_wiped(r->response);
        clear_captured(r);
        free(r);
}

/* The request body, handed to libcurl piece by piece. */
static size_t on_read_body(char *buffer, size_t size, size_t n, void *userdata) {
        HttpRequest *r = userdata;
        size_t k = MIN(size * n, r->body_size - r->body_sent);

        memcpy(buffer, r->body + r->body_sent, k);
        r->body_sent += k;
        return k;
}

/* libcurl rewinds the body to send the request again when a reused
 * connection closed before any answer: normal once, when the server had
 * closed it while idle. Each resend over yet another dead connection would
 * be one more call to an API that issues a certificate per call, so there is
 * one resend at most; then the attempt fails and the backoff decides. */
static int on_rewind_body(void *userdata, curl_off_t offset, int origin) {
        HttpRequest *r = userdata;

        if (origin != SEEK_SET || offset != 0 || r->rewinds >= HTTP_RESENDS_MAX)
                return CURL_SEEKFUNC_FAIL;
        r->rewinds++;
        r->body_sent = 0;
        return CURL_SEEKFUNC_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        HttpRequest *r = userdata;
        size_t len = size * n, max = r->client->limits.max_body;
        long status = 0;

        if (r->sink && curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200) {
                if (len > r->sink_max || r->sunk > r->sink_max - len) {
                        r->body_too_large = true;
                        return 0;
                }
                if (r->sink(data, len, r->sink_userdata) < 0) {
                        r->sink_failed = true;
                        return 0;
                }
                r->sunk += len;
                return len;
        }

        if (len > max || r->response_size > max - len) {
                r->body_too_large = true;
                return 0;  /* aborts the transfer */
        }
        if (r->response_size + len + 1 > r->response_allocated) {
                size_t a = MAX(r->response_allocated * 2, r->response_size + len + 1);
                a = MAX(a, (size_t) 4096);
                char *b = realloc_wiped(r->response, a);
                if (!b)
                        return 0;
                r->response = b;
                r->response_allocated = a;
        }
        memcpy(r->response + r->response_size, data, len);
        r->response_size += len;
        r->response[r->response_size] = 0;
        return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        HttpRequest *r = userdata;
        size_t len = size * n;

        r->header_bytes += len;
        if (r->header_bytes > r->client->limits.max_headers) {
                r->headers_too_large = true;
                return 0;
        }
        /* A new status line starts a new header block (1xx answers). */
        if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
                clear_captured(r);
                return len;
        }
        for (size_t i = 0; i < _HEADER_MAX; i++) {
                size_t l = strlen(captured_headers[i]);
                if (len <= l || data[l] != ':' || strncasecmp(data, captured_headers[i], l) != 0)
                        continue;
                const char *v = data + l + 1, *end = data + len;
                while (v < end && (*v == ' ' || *v == '\t'))
                        v++;
                while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                        end--;
                if (memchr(v, 0, (size_t) (end - v)))
                        break;
                free_wiped(r->captured[i]);
                r->captured[i] = strndup(v, (size_t) (end - v));
                break;
        }
        return len;
}

static int setup_easy(HttpRequest *r) {
        const HttpLimits *lim = &r->client->limits;
        CURL *e = curl_easy_init();

        if (!e)
                return -ENOMEM;
        r->easy = e;

        if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, r->allow_http ? "http,https" : "https") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_USERAGENT, "cce-certd/" PACKAGE_VERSION) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) lim->connect_timeout_ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) lim->total_timeout_ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long) lim->low_speed_time_sec) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) MAX(lim->max_body, r->sink_max)) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK)
                return -EIO;

        if (r->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file) != CURLE_OK)
                return -EIO;

        if (strcmp(r->method, "GET") == 0) {
                if (curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK)
                        return -EIO;
        } else {
                /* The body is read from ours (no copy made at setup: it may
                 * hold a password), chunk by chunk into libcurl's upload
                 * buffer, its smallest, not its 64 KiB: bodies are small, and
                 * one buffer is held per request in flight. */
                if (curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
                    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L) != CURLE_OK ||
                    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read_body) != CURLE_OK ||
                    curl_easy_setopt(e, CURLOPT_READDATA, r) != CURLE_OK ||
                    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_rewind_body) != CURLE_OK ||
                    curl_easy_setopt(e, CURLOPT_SEEKDATA, r) != CURLE_OK ||
                    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_size) != CURLE_OK)
                        return -EIO;
                if (strcmp(r->method, "POST") != 0 &&
                    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method) != CURLE_OK)
                        return -EIO;
        }
        return 0;
}

static void start_queued(HttpClient *c);

static void finish(HttpRequest *r, CURLcode result) {
        HttpClient *c = r->client;
        HttpResponse resp = {
                .result = result,
                .error = result == CURLE_OK ? "" :
                         result == CURLE_SEND_FAIL_REWIND ? "the connection closed before an answer, twice; not sending again" :
                         (r->error[0] ? r->error : curl_easy_strerror(result)),
                .body_too_large = r->body_too_large || result == CURLE_FILESIZE_EXCEEDED,
                .sink_failed = r->sink_failed,
                .headers_too_large = r->headers_too_large,
                .body = r->response ?: "",
                .body_size = r->response_size,
                .date = r->captured[HEADER_DATE],
                .retry_after = r->captured[HEADER_RETRY_AFTER],
                .request_id = r->captured[HEADER_REQUEST_ID],
                .port_id = r->captured[HEADER_PORT_ID],
                .subject_token = r->captured[HEADER_SUBJECT_TOKEN],
                .content_type = r->captured[HEADER_CONTENT_TYPE],
        };
        char *ip = NULL;

        if (result == CURLE_OK)
                (void) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        (void) curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &ip);
        resp.primary_ip = ip;

        request_unlink(r);
        if (r->done)
                r->done(r, &resp, r->userdata);
        request_free(r);
        start_queued(c);
}

static void on_finished(CurlGlue *g, CURL *easy, CURLcode result, void *userdata) {
        HttpRequest *r = NULL;

        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &r) != CURLE_OK || !r)
                return;
        finish(r, result);
}

static int run(HttpRequest *r) {
        HttpClient *c = r->client;
        int k;

        k = setup_easy(r);
        if (k < 0)
                return k;
        r->state = REQUEST_RUNNING;
        r->next = c->running;
        if (r->next)
                r->next->prev = r;
        c->running = r;
        c->n_running++;
        c->n_started++;
        k = curl_glue_add(c->glue, r->easy);
        if (k < 0) {
                list_remove(&c->running, NULL, r);
                c->n_running--;
                r->state = REQUEST_NEW;
        }
        return k;
}

static void start_queued(HttpClient *c) {
        while (c->queue_head && c->n_running < c->max_in_flight) {
                HttpRequest *r = c->queue_head;
                list_remove(&c->queue_head, &c->queue_tail, r);
                c->n_queued--;
                r->state = REQUEST_NEW;
                if (run(r) < 0)
                        /* Report it like any failed transfer, without recursion into the queue. */
                        finish(r, CURLE_FAILED_INIT);
        }
}

int http_client_new(sd_event *event, unsigned max_in_flight, HttpClient **ret) {
        HttpClient *c;
        int k;

        assert(max_in_flight > 0);
        k = secure_memory_setup_curl();
        if (k < 0)
                return k;
        c = calloc(1, sizeof(HttpClient));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->limits = http_limits_default;
        c->max_in_flight = max_in_flight;
        k = curl_glue_new(event, on_finished, c, &c->glue);
        if (k < 0) {
                http_client_free(c);
                return k;
        }
        *ret = c;
        return 0;
}

HttpClient *http_client_free(HttpClient *c) {
        if (!c)
                return NULL;
        while (c->queue_head)
                request_free(c->queue_head);
        while (c->running)
                request_free(c->running);
        curl_glue_free(c->glue);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

void http_client_set_limits(HttpClient *c, const HttpLimits *limits) {
        c->limits = *limits;
}

unsigned http_client_n_running(const HttpClient *c) {
        return c->n_running;
}

unsigned http_client_n_queued(const HttpClient *c) {
        return c->n_queued;
}

uint64_t http_client_n_started(const HttpClient *c) {
        return c->n_started;
}

int http_request_new(HttpClient *c, const char *method, const char *url, HttpRequest **ret) {
        HttpRequest *r = calloc(1, sizeof(HttpRequest));

        if (!r)
                return -ENOMEM;
        r->client = c;
        r->method = strdup(method);
        r->url = strdup(url);
        if (!r->method || !r->url) {
                request_free(r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

int http_request_add_header(HttpRequest *r, const char *name, const char *value) {
        struct curl_slist *node, **tail;
        size_t n = strlen(name) + 2 + strlen(value) + 1;

        if (strpbrk(name, ":\r\n") || strpbrk(value, "\r\n"))
                return -EINVAL;
        node = calloc(1, sizeof(struct curl_slist));
        if (!node)
                return -ENOMEM;
        node->data = malloc(n);
        if (!node->data) {
                free(node);
                return -ENOMEM;
        }
        /* "Name:" with nothing after it tells curl to send no such header. */
        snprintf(node->data, n, value[0] ? "%s: %s" : "%s:", name, value);
        for (tail = &r->headers; *tail; tail = &(*tail)->next)
                ;
        *tail = node;
        return 0;
}

int http_request_set_body(HttpRequest *r, const void *body, size_t size) {
        char *b = malloc(size + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b, body, size);
        b[size] = 0;
        free_wiped(r->body);
        r->body = b;
        r->body_size = size;
        return 0;
}

void http_request_allow_http(HttpRequest *r) {
        r->allow_http = true;
}

int http_request_set_ca_file(HttpRequest *r, const char *path) {
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        free(r->ca_file);
        r->ca_file = p;
        return 0;
}

void http_request_set_body_sink(HttpRequest *r, size_t max_size, HttpBodySink sink, void *userdata) {
        r->sink = sink;
        r->sink_userdata = userdata;
        r->sink_max = max_size;
}

int http_request_start(HttpRequest *r, HttpDone done, void *userdata) {
        HttpClient *c = r->client;
        int k;

        assert(r->state == REQUEST_NEW);
        r->done = done;
        r->userdata = userdata;

        /* "Expect: 100-continue" would add a round trip; no body is that large. */
        k = http_request_add_header(r, "Expect", "");
        if (k < 0)
                return k;

        if (c->n_running < c->max_in_flight && !c->queue_head)
                return run(r);

        r->state = REQUEST_QUEUED;
        r->prev = c->queue_tail;
        if (c->queue_tail)
                c->queue_tail->next = r;
        else
                c->queue_head = r;
        c->queue_tail = r;
        c->n_queued++;
        return 0;
}

void http_request_cancel(HttpRequest *r) {
        HttpClient *c;

        if (!r)
                return;
        c = r->client;
        request_free(r);
        start_queued(c);
}
