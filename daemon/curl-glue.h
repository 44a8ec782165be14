/* SPDX-License-Identifier: MIT */
#pragma once

/* libcurl's multi_socket API driven by sd-event: one io source per socket
 * curl asks to watch, one timer for curl's timeout. Completed transfers are
 * drained after every action and handed to the finished callback. */

#include <curl/curl.h>
#include <systemd/sd-event.h>

typedef struct CurlGlue CurlGlue;

/* Called once per completed transfer; the callback may remove and free the
 * easy handle and add new ones, but must not free the glue. */
typedef void (*CurlGlueFinished)(CurlGlue *g, CURL *easy, CURLcode result, void *userdata);

int curl_glue_new(sd_event *event, CurlGlueFinished on_finished, void *userdata, CurlGlue **ret);

/* Cleans up the multi handle first (which may still call back to drop
 * sockets), then the event sources. Easy handles still added are left to
 * their owners, who must have removed them before. Accepts NULL. */
CurlGlue *curl_glue_free(CurlGlue *g);

int curl_glue_add(CurlGlue *g, CURL *easy);
void curl_glue_remove(CurlGlue *g, CURL *easy);

/* Number of sockets watched now (for tests: idle means zero timers armed). */
unsigned curl_glue_n_sockets(const CurlGlue *g);
