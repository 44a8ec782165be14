/* SPDX-License-Identifier: MIT */
/* The rules of when to renew and when to retry (renewal point, jitter,
 * backoff, restores, clock steps). Pure: time and randomness are parameters. */

#include <stdint.h>

#include "macro.h"
#include "schedule.h"

uint64_t sched_jitter_seed(const char *cluster_id) {
        uint64_t h = UINT64_C(14695981039346656037);
        for (const unsigned char *p = (const unsigned char *) cluster_id; *p; p++) {
                h ^= *p;
                h *= UINT64_C(1099511628211);
        }
        return h;
}

int64_t sched_renewal_time(int64_t not_before, int64_t not_after,
                           unsigned renew_at_percent, uint64_t renew_before_sec, uint64_t jitter_seed) {
        int64_t lifetime = not_after - not_before, when, floor_sec;
        uint64_t jitter_max;

        if (lifetime <= 0)
                return not_before;  /* nonsense dates: renew now */

        if (renew_before_sec > 0)
                when = not_after - (int64_t) MIN(renew_before_sec, (uint64_t) lifetime);
        else
                when = not_before + (int64_t) ((__int128) lifetime * renew_at_percent / 100);

        jitter_max = (uint64_t) lifetime * SCHED_JITTER_PERCENT / 100;
        if (jitter_max > 0)
                when -= (int64_t) (jitter_seed % (jitter_max + 1));

        floor_sec = MIN((int64_t) SCHED_FLOOR_MAX_SEC, lifetime * SCHED_FLOOR_PERCENT / 100);
        when = MIN(when, not_after - floor_sec);
        return MAX(when, not_before);
}

int64_t sched_retry_time(int64_t now, unsigned failures, const ApiError *error,
                         int64_t not_after, uint64_t random) {
        uint64_t cap, delay;

        if (sched_parks(error->klass))
                return INT64_MAX;

        /* 30 s, 60 s, 120 s, ... up to an hour. */
        cap = SCHED_RETRY_START_SEC;
        for (unsigned i = 1; i < failures && cap < SCHED_RETRY_CAP_SEC; i++)
                cap *= 2;
        cap = MIN(cap, (uint64_t) SCHED_RETRY_CAP_SEC);

        /* Closer to expiry, try more often: never wait past a quarter of what is left. */
        if (not_after > now)
                cap = MIN(cap, MAX((uint64_t) (not_after - now) / 4, (uint64_t) SCHED_RETRY_MIN_SEC));

        /* Full jitter: uniform in [min, cap]. */
        delay = SCHED_RETRY_MIN_SEC + (cap > SCHED_RETRY_MIN_SEC ? random % (cap - SCHED_RETRY_MIN_SEC + 1) : 0);

        if (error->klass == API_ERROR_AUTHENTICATION)
                delay = MAX(delay, (uint64_t) SCHED_AUTH_RETRY_MIN_SEC);
        if (error->has_retry_after)
                delay = MAX(delay, MIN(error->retry_after_sec, (uint64_t) SCHED_RETRY_AFTER_MAX_SEC));
        return now + (int64_t) delay;
}

int64_t sched_retry_time_revoked(int64_t now, unsigned failures, const ApiError *error, uint64_t random) {
        int64_t when = sched_retry_time(now, failures, error, 0, random);

        if (failures == 1 && when != INT64_MAX && error->klass != API_ERROR_AUTHENTICATION && !error->has_retry_after)
                when = MIN(when, now + SCHED_REVOKED_FIRST_RETRY_SEC);
        return when;
}

int64_t sched_next_attempt(int64_t now, bool have_certificate, int64_t not_before, int64_t not_after,
                           int64_t obtained, unsigned failures, int64_t next_attempt,
                           unsigned renew_at_percent, uint64_t renew_before_sec, const char *cluster_id) {
        if (next_attempt == INT64_MAX)
                return INT64_MAX;                       /* parked */
        if (failures > 0)
                return MAX(next_attempt, now);          /* backing off */
        if (!have_certificate || not_after <= now)
                return now;                             /* nothing usable */
        int64_t when = sched_renewal_time(not_before, not_after, renew_at_percent, renew_before_sec,
                                          sched_jitter_seed(cluster_id));
        if (obtained > 0)
                when = MAX(when, MIN(obtained + MAX((not_after - not_before) / 10, (int64_t) 1), not_after));
        return when;
}

int64_t sched_restore_time(int64_t now, int64_t last_restore, unsigned *restores) {
        uint64_t delay = 1;

        if (*restores == 0 || now - last_restore >= SCHED_RETRY_CAP_SEC) {
                *restores = 1;
                return now;
        }
        for (unsigned i = 1; i < *restores && delay < SCHED_RETRY_CAP_SEC; i++)
                delay *= 2;
        (*restores)++;
        return MAX(now, last_restore + (int64_t) MIN(delay, (uint64_t) SCHED_RETRY_CAP_SEC));
}

int64_t sched_clock_step(uint64_t realtime_before, uint64_t boottime_before, uint64_t realtime_now,
                         uint64_t boottime_now) {
        int64_t wall = (int64_t) (realtime_now - realtime_before), elapsed = (int64_t) (boottime_now - boottime_before);
        int64_t step_usec = wall - elapsed;
        /* Rounded to whole seconds, toward zero: the schedule counts seconds. */
        return step_usec / 1000000;
}

int64_t sched_after_clock_step(int64_t deadline, int64_t step) {
        if (deadline == 0 || deadline == INT64_MAX)
                return deadline;
        if (step > 0 && deadline > INT64_MAX - 1 - step)
                return INT64_MAX - 1;
        return MAX(deadline + step, (int64_t) 1);
}
