/* SPDX-License-Identifier: MIT */
/* libcurl's multi-socket API driven by sd-event: an io source per socket,
 * one timer. Knows nothing of what the requests are for. */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#include "curl-glue.h"
#include "log.h"
#include "macro.h"

/* curl asks for its timeout in milliseconds. sd-event may run a timer late
 * by its accuracy, which lets it keep the armed time when curl moves its
 * timeout a little (each request moves it): 2% of the delay, at least 1 ms
 * (its 250 ms default would delay curl's short timeouts). */
#define CURL_TIMER_ACCURACY_MIN_USEC 1000
#define CURL_TIMER_ACCURACY_PERCENT 2

typedef struct SocketWatch SocketWatch;
struct SocketWatch {
        CurlGlue *glue;
        sd_event_source *source;
        curl_socket_t fd;
        SocketWatch *prev, *next;
};

struct CurlGlue {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *now;   /* curl's timeout 0: act in the next iteration, no timer armed */
        SocketWatch *watches;
        unsigned n_watches;
        CurlGlueFinished on_finished;
        void *userdata;
};

static void check_finished(CurlGlue *g) {
        CURLMsg *msg;
        int left;

        /* Drain every completion: one action can finish several transfers. */
        while ((msg = curl_multi_info_read(g->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                /* Copy before the callback removes the handle, which frees msg. */
                CURL *easy = msg->easy_handle;
                CURLcode result = msg->data.result;
                g->on_finished(g, easy, result, g->userdata);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        CurlGlue *g = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;

        if (curl_multi_socket_action(g->multi, fd, action, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action() failed for fd %d", fd);
        check_finished(g);
        return 0;
}

static SocketWatch *watch_free(SocketWatch *w) {
        CurlGlue *g = w->glue;

        sd_event_source_disable_unref(w->source);
        if (w->prev)
                w->prev->next = w->next;
        else
                g->watches = w->next;
        if (w->next)
                w->next->prev = w->prev;
        g->n_watches--;
        free(w);
        return NULL;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userdata, void *socketp) {
        CurlGlue *g = userdata;
        SocketWatch *w = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (w) {
                        curl_multi_assign(g->multi, fd, NULL);
                        watch_free(w);
                }
                return 0;
        }

        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (w) {
                if (sd_event_source_set_io_events(w->source, events) < 0)
                        return -1;
                return 0;
        }

        w = calloc(1, sizeof(SocketWatch));
        if (!w)
                return -1;
        w->glue = g;
        w->fd = fd;
        if (sd_event_add_io(g->event, &w->source, fd, events, on_io, g) < 0) {
                free(w);
                return -1;
        }
        (void) sd_event_source_set_description(w->source, "curl-io");
        if (curl_multi_assign(g->multi, fd, w) != CURLM_OK) {
                sd_event_source_disable_unref(w->source);
                free(w);
                return -1;
        }
        w->next = g->watches;
        if (w->next)
                w->next->prev = w;
        g->watches = w;
        g->n_watches++;
        return 0;
}

static void on_timeout(CurlGlue *g) {
        int running;

        if (curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action() failed for the timeout");
        check_finished(g);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        on_timeout(userdata);
        return 0;
}

static int on_now(sd_event_source *s, void *userdata) {
        on_timeout(userdata);
        return 0;
}

/* curl's one timeout, replacing the last: -1 none, 0 as soon as possible
 * (each new request asks for it; a defer source then, which arms no timer
 * and leaves the armed one as it is), else in timeout_ms. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userdata) {
        CurlGlue *g = userdata;
        uint64_t now, when, accuracy;

        if (timeout_ms < 0)
                return (g->timer && sd_event_source_set_enabled(g->timer, SD_EVENT_OFF) < 0) ||
                       (g->now && sd_event_source_set_enabled(g->now, SD_EVENT_OFF) < 0) ? -1 : 0;
        if (timeout_ms == 0) {
                if (!g->now) {
                        if (sd_event_add_defer(g->event, &g->now, on_now, g) < 0)
                                return -1;
                        (void) sd_event_source_set_description(g->now, "curl-now");
                }
                return sd_event_source_set_enabled(g->now, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
        }
        if (g->now && sd_event_source_set_enabled(g->now, SD_EVENT_OFF) < 0)
                return -1;

        if (sd_event_now(g->event, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        when = now + (uint64_t) timeout_ms * 1000;
        accuracy = MAX((uint64_t) timeout_ms * 1000 * CURL_TIMER_ACCURACY_PERCENT / 100,
                       (uint64_t) CURL_TIMER_ACCURACY_MIN_USEC);

        if (!g->timer) {
                if (sd_event_add_time(g->event, &g->timer, CLOCK_MONOTONIC, when, accuracy, on_timer, g) < 0)
                        return -1;
                (void) sd_event_source_set_description(g->timer, "curl-timer");
                return 0;
        }
        if (sd_event_source_set_time(g->timer, when) < 0 || sd_event_source_set_time_accuracy(g->timer, accuracy) < 0 ||
            sd_event_source_set_enabled(g->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

int curl_glue_new(sd_event *event, CurlGlueFinished on_finished, void *userdata, CurlGlue **ret) {
        CurlGlue *g;

        assert(event && on_finished);

        g = calloc(1, sizeof(CurlGlue));
        if (!g)
                return -ENOMEM;
        g->event = sd_event_ref(event);
        g->on_finished = on_finished;
        g->userdata = userdata;
        g->multi = curl_multi_init();
        if (!g->multi) {
                curl_glue_free(g);
                return -ENOMEM;
        }
        if (curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
            curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g) != CURLM_OK) {
                curl_glue_free(g);
                return -EIO;
        }
        *ret = g;
        return 0;
}

CurlGlue *curl_glue_free(CurlGlue *g) {
        if (!g)
                return NULL;
        if (g->multi)
                curl_multi_cleanup(g->multi);
        while (g->watches)
                watch_free(g->watches);
        sd_event_source_disable_unref(g->timer);
        sd_event_source_disable_unref(g->now);
        sd_event_unref(g->event);
        free(g);
        return NULL;
}

int curl_glue_add(CurlGlue *g, CURL *easy) {
        return curl_multi_add_handle(g->multi, easy) == CURLM_OK ? 0 : -EIO;
}

void curl_glue_remove(CurlGlue *g, CURL *easy) {
        curl_multi_remove_handle(g->multi, easy);
}

unsigned curl_glue_n_sockets(const CurlGlue *g) {
        return g->n_watches;
}
