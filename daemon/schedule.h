/* SPDX-License-Identifier: MIT */
#pragma once

/* When to renew, and when to try again after a failure (pure: the current
 * time and randomness are parameters). Every rule scales with the
 * certificate's lifetime, so that certificates living seconds (tests) and
 * years follow the same logic. Times are seconds since the epoch. */

#include <stdbool.h>
#include <stdint.h>

#include "api-error.h"

#define SCHED_JITTER_PERCENT 5          /* of the lifetime, at most */
#define SCHED_FLOOR_MAX_SEC (30 * 60)   /* renew at least this long before expiry ... */
#define SCHED_FLOOR_PERCENT 10          /* ... or this share of the lifetime, if shorter */
#define SCHED_RETRY_START_SEC 30
#define SCHED_RETRY_CAP_SEC (60 * 60)
#define SCHED_RETRY_MIN_SEC 1
#define SCHED_AUTH_RETRY_MIN_SEC (5 * 60)       /* an AK is locked for 5 minutes after 5 failures */
#define SCHED_RETRY_AFTER_MAX_SEC (24 * 60 * 60)

/* A stable per-cluster number (FNV-1a of the cluster id). */
uint64_t sched_jitter_seed(const char *cluster_id);

/* The renewal time of a certificate valid from not_before to not_after:
 * at renew_at_percent of its lifetime, or renew_before_sec before its end
 * (exactly one of them non-zero), minus a stable jitter of up to 5% of the
 * lifetime, and no later than a floor before expiry (min(30 minutes, 10% of
 * the lifetime)). Never before not_before. */
int64_t sched_renewal_time(int64_t not_before, int64_t not_after,
                           unsigned renew_at_percent, uint64_t renew_before_sec, uint64_t jitter_seed);

/* The next attempt after a failure. failures counts consecutive failures,
 * this one included (>= 1); random is uniform in [0, 2^64). Exponential
 * backoff from 30 s to 1 h with full jitter; tightened to a quarter of the
 * time left when a valid certificate expires sooner; authentication errors
 * wait at least 5 minutes; Retry-After (retry_after_sec, when has_retry_after)
 * is honoured up to a day. Returns INT64_MAX for classes that are not
 * retried (not-found, invalid-request: parked). */
int64_t sched_retry_time(int64_t now, unsigned failures, const ApiError *error,
                         int64_t not_after, uint64_t random);

/* The next attempt after a failure to renew a cluster whose certificates
 * were just revoked (the file holds one that no longer works): as
 * sched_retry_time() with no certificate, but the first retry within
 * SCHED_REVOKED_FIRST_RETRY_SEC, well within 10 s (unless the API asked for a longer wait, or
 * the credentials were refused: an access key locks after 5 failures). */
#define SCHED_REVOKED_FIRST_RETRY_SEC 5
int64_t sched_retry_time_revoked(int64_t now, unsigned failures, const ApiError *error, uint64_t random);

/* The next attempt for a cluster, from what is known of it: INT64_MAX when
 * parked (next_attempt INT64_MAX), the stored next attempt while backing off
 * (failures > 0), now when there is no usable certificate (have_certificate
 * false, or expired), else its renewal time, but never sooner than a tenth
 * of the lifetime (at least a second) after the certificate was obtained
 * (obtained, 0 when unknown): a renew-before close to the lifetime, or
 * certificates dated back, must not make renewals follow each other at the
 * speed of the API. */
int64_t sched_next_attempt(int64_t now, bool have_certificate, int64_t not_before, int64_t not_after,
                           int64_t obtained, unsigned failures, int64_t next_attempt,
                           unsigned renew_at_percent, uint64_t renew_before_sec, const char *cluster_id);

/* When to restore a kubeconfig that someone deleted or damaged: at once the
 * first time; when restores follow each other (the last one less than
 * SCHED_RETRY_CAP_SEC ago), 1 s after the last one, then 2, 4, ... up to
 * SCHED_RETRY_CAP_SEC, so that a script that keeps deleting a file cannot
 * make the daemon hammer the API. last_restore: when the last one was
 * planned for; *restores: how many followed each other, updated to count
 * this one. */
int64_t sched_restore_time(int64_t now, int64_t last_restore, unsigned *restores);

/* The wall clock set (a step by NTP or by hand, not a slew): by how many
 * seconds, from a reference pair of CLOCK_REALTIME and CLOCK_BOOTTIME
 * readings (µs) and a pair read now. CLOCK_BOOTTIME counts a suspend too,
 * so a resume is no step. */
int64_t sched_clock_step(uint64_t realtime_before, uint64_t boottime_before, uint64_t realtime_now,
                         uint64_t boottime_now);

/* A deadline that is a wait measured from a moment (a retry after a
 * failure, a credential pause, a restore's delay) after the wall clock was
 * set by step seconds: shifted with it, so that the wait keeps its length (a
 * clock set back a day must not add a day to a 30 s backoff, nor one set
 * forward cut it short). 0 and INT64_MAX (none, parked) stay. Renewal
 * times come from certificate dates and are not shifted. */
int64_t sched_after_clock_step(int64_t deadline, int64_t step);

/* True for classes that park the cluster until the configuration changes. */
static inline int sched_parks(ApiErrorClass c) {
        return c == API_ERROR_NOT_FOUND || c == API_ERROR_INVALID_REQUEST;
}
