/* SPDX-License-Identifier: MIT */
/* A cluster as the daemon keeps it: the clock as the loop sees it, its log
 * fields, how near its certificate is to the end, saving its state file,
 * finding it by name. Starts nothing and schedules nothing. */

#include <string.h>
#include <sys/random.h>

#include "manager-internal.h"
#include "parse-value.h"
#include "time-util.h"

#define EXPIRING_SOON_PERCENT 10

#define EXPIRING_SOON_SEC (24 * 60 * 60)

Config *current_config(Manager *m) {
        return m->configs->config;
}

const char *relative_time(int64_t seconds, char buf[static 32]) {
        char tmp[32];
        if (seconds <= 0)
                return strcpy(buf, "now");
        /* Two units at most: "3d4h", "12m5s". */
        format_duration((uint64_t) seconds, tmp);
        size_t units = 0, i = 0;
        for (; tmp[i] && units < 2; i++)
                if (tmp[i] < '0' || tmp[i] > '9')
                        units++;
        memcpy(buf, tmp, i);
        buf[i] = 0;
        return buf;
}

int64_t now_realtime(Manager *m) {
        uint64_t u;
        if (sd_event_now(m->event, CLOCK_REALTIME, &u) < 0)
                return now_sec();
        return (int64_t) (u / USEC_PER_SEC);
}

/* The next whole second: a retry planned from it waits at least its delay
 * (the schedule counts whole seconds). */
int64_t now_realtime_ceil(Manager *m) {
        uint64_t u;
        if (sd_event_now(m->event, CLOCK_REALTIME, &u) < 0)
                return now_sec() + 1;
        return (int64_t) ((u + USEC_PER_SEC - 1) / USEC_PER_SEC);
}

uint64_t random_u64(void) {
        uint64_t r;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint64_t) now_usec(CLOCK_MONOTONIC) * UINT64_C(6364136223846793005);
        return r;
}

void log_context(const Cluster *c, int64_t not_after, LogContext *ctx) {
        ctx->error_class = NULL;
        ctx->revoked_identity = NULL;
        ctx->discovered_by[0] = 0;
        if (c->config->discovered)
                snprintf(ctx->discovered_by, sizeof(ctx->discovered_by), "%zu", c->config->discovered_by + 1);
        format_iso8601_utc(not_after, ctx->not_after);
        if (c->due == INT64_MAX)
                ctx->next[0] = 0;  /* parked: nothing planned, no NEXT_RENEWAL */
        else
                format_iso8601_utc(c->due, ctx->next);
}

/* The expiry level of a certificate at now: 0 more than a third of its
 * lifetime left, 1 less (warning), 2 less than 10% of it or 24 hours where
 * that is at most a fifth of it (error), 3 expired (critical). */
unsigned expiry_level(const CertDates *cert, int64_t now) {
        int64_t lifetime = cert->not_after - cert->not_before, left = cert->not_after - now;
        int64_t soon = MAX(lifetime * EXPIRING_SOON_PERCENT / 100, MIN((int64_t) EXPIRING_SOON_SEC, lifetime / 5));

        if (left <= 0)
                return 3;
        if (left < soon)
                return 2;
        if (left < lifetime / 3)
                return 1;
        return 0;
}

void save_state(Manager *m, Cluster *c) {
        char error[512];

        if (m->options.dry_run)
                return;
        if (state_save(m->state_dir, c->config->name, &c->state, error, sizeof(error)) < 0)
                log_warning("Cannot save the state of %s: %s; a restart may retry it sooner than planned.",
                            c->config->name, error);
        else if (m->watch)  /* the watch tells this write from another's */
                (void) state_version(m->state_dir, c->config->name, &c->state_version);
}

Cluster *find_cluster(Cluster **list, size_t n, const char *name) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(list[mid]->config->name, name);
                if (c == 0)
                        return list[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}
