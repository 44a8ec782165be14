/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "schedule.h"
#include "tests.h"

#define DAY 86400

TEST(renewal_time) {
        static const struct {
                const char *what;
                int64_t nb, na;
                unsigned at;
                uint64_t before, seed;
                int64_t want;
        } cases[] = {
                /* 30 days, 66%, no jitter: day 19.8 */
                { "renew-at", 0, 30 * DAY, 66, 0, 0, 30 * DAY * 66 / 100 },
                /* jitter is subtracted, bounded by 5% of the lifetime */
                { "jitter", 0, 30 * DAY, 66, 0, 1000, 30 * DAY * 66 / 100 - 1000 },
                { "jitter wraps", 0, 100, 50, 0, 6, 50 - 0 },   /* 6 % (5 + 1) = 0 */
                { "jitter max", 0, 100, 50, 0, 5, 45 },
                /* renew-before */
                { "renew-before", 0, 30 * DAY, 0, 10 * DAY, 0, 20 * DAY },
                { "renew-before longer than the lifetime", 1000, 2000, 0, 10 * DAY, 0, 1000 },
                /* the floor: 99% of 30 days would be 7 h before the end; the floor is 30 min */
                { "floor of 30 minutes", 0, 30 * DAY, 99, 0, 0, 30 * DAY * 99 / 100 },
                { "floor applies", 0, 30 * DAY, 0, 60, 0, 30 * DAY - 30 * 60 },
                /* short certificates: the floor is 10% of the lifetime */
                { "10 s certificate, 50%", 100, 110, 50, 0, 0, 105 },
                { "10 s certificate, 99%", 100, 110, 99, 0, 0, 109 },
                { "10 s certificate, renew-before 1s", 100, 110, 0, 1, 0, 109 },
                /* nonsense dates: now */
                { "inverted", 200, 100, 66, 0, 0, 200 },
                { "never before not_before", 100, 110, 1, 0, 9, 100 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int64_t got = sched_renewal_time(cases[i].nb, cases[i].na, cases[i].at, cases[i].before, cases[i].seed);
                if (got != cases[i].want) {
                        fprintf(stderr, "%s: got %lld, want %lld\n", cases[i].what, (long long) got, (long long) cases[i].want);
                        abort();
                }
        }
}

TEST(jitter_seed_is_stable_and_spread) {
        ASSERT_EQ(sched_jitter_seed("4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c"), sched_jitter_seed("4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c"));
        ASSERT(sched_jitter_seed("a") != sched_jitter_seed("b"));
        /* Clusters issued together spread over the jitter window. */
        unsigned buckets[5] = {};
        for (int i = 0; i < 1000; i++) {
                char id[64];
                snprintf(id, sizeof(id), "00000000-0000-0000-0000-%012d", i);
                int64_t t = sched_renewal_time(0, 100 * DAY, 66, 0, sched_jitter_seed(id));
                int64_t offset = 66 * DAY - t;  /* 0 .. 5 days */
                ASSERT(offset >= 0 && offset <= 5 * DAY);
                buckets[MIN(offset / DAY, 4)]++;
        }
        for (int b = 0; b < 5; b++)
                ASSERT(buckets[b] > 100);
}

static ApiError err(ApiErrorClass c) {
        return (ApiError) { .klass = c };
}

TEST(retry_backoff) {
        ApiError e = err(API_ERROR_TRANSIENT);
        const int64_t now = 1000000;

        /* With random 0 the delay is the minimum; with random max it is the cap. */
        ASSERT_EQ(sched_retry_time(now, 1, &e, 0, 0), now + 1);
        ASSERT_EQ(sched_retry_time(now, 1, &e, 0, 29), now + 30);  /* 29 % 30 = 29: 1 + 29 */
        static const struct {
                unsigned failures;
                uint64_t cap;
        } caps[] = { { 1, 30 }, { 2, 60 }, { 3, 120 }, { 4, 240 }, { 7, 1920 }, { 8, 3600 }, { 50, 3600 }, { 10000, 3600 } };
        for (size_t i = 0; i < ELEMENTSOF(caps); i++) {
                int64_t lo = INT64_MAX, hi = 0;
                for (uint64_t r = 0; r < 20000; r++) {
                        int64_t t = sched_retry_time(now, caps[i].failures, &e, 0, r * 7919);
                        lo = MIN(lo, t);
                        hi = MAX(hi, t);
                }
                ASSERT(lo >= now + 1);
                ASSERT_EQ(hi, now + (int64_t) caps[i].cap);
        }
}

TEST(retry_near_expiry) {
        ApiError e = err(API_ERROR_TRANSIENT);
        const int64_t now = 1000000;
        /* 100 s left: never wait more than 25 s, even after many failures. */
        for (uint64_t r = 0; r < 5000; r++)
                ASSERT(sched_retry_time(now, 20, &e, now + 100, r) <= now + 25);
        /* 2 s left: at least the minimum, 1 s. */
        ASSERT_EQ(sched_retry_time(now, 20, &e, now + 2, 12345), now + 1);
}

TEST(retry_classes) {
        const int64_t now = 1000000;
        ApiError auth = err(API_ERROR_AUTHENTICATION), nf = err(API_ERROR_NOT_FOUND), bad = err(API_ERROR_INVALID_REQUEST);
        ASSERT(sched_retry_time(now, 1, &auth, 0, 0) >= now + 300);
        ASSERT_EQ(sched_retry_time(now, 1, &nf, 0, 0), INT64_MAX);
        ASSERT_EQ(sched_retry_time(now, 1, &bad, 0, 0), INT64_MAX);
        ASSERT(sched_parks(API_ERROR_NOT_FOUND) && !sched_parks(API_ERROR_THROTTLED));

        ApiError t = err(API_ERROR_THROTTLED);
        t.has_retry_after = true;
        t.retry_after_sec = 120;
        ASSERT_EQ(sched_retry_time(now, 1, &t, 0, 0), now + 120);
        t.retry_after_sec = 7 * DAY;  /* capped at a day */
        ASSERT_EQ(sched_retry_time(now, 1, &t, 0, 0), now + DAY);
        t.retry_after_sec = 0;  /* "Retry-After: 0" still waits the backoff minimum */
        ASSERT_EQ(sched_retry_time(now, 1, &t, 0, 0), now + 1);
}

TEST(retry_after_revocation) {
        const int64_t now = 1000000;
        ApiError e = err(API_ERROR_TRANSIENT), auth = err(API_ERROR_AUTHENTICATION), nf = err(API_ERROR_NOT_FOUND);
        /* The first retry within SCHED_REVOKED_FIRST_RETRY_SEC, whatever the jitter ... */
        for (uint64_t r = 0; r < 5000; r++) {
                int64_t t = sched_retry_time_revoked(now, 1, &e, r * 7919);
                ASSERT(t >= now + 1 && t <= now + SCHED_REVOKED_FIRST_RETRY_SEC);
        }
        ASSERT(SCHED_REVOKED_FIRST_RETRY_SEC < 10);
        /* ... then the usual backoff. */
        ASSERT_EQ(sched_retry_time_revoked(now, 3, &e, 119), sched_retry_time(now, 3, &e, 0, 119));
        /* A refused key still waits for its lock to end; parking classes park. */
        ASSERT(sched_retry_time_revoked(now, 1, &auth, 0) >= now + SCHED_AUTH_RETRY_MIN_SEC);
        ASSERT_EQ(sched_retry_time_revoked(now, 1, &nf, 0), INT64_MAX);
        ApiError t = err(API_ERROR_THROTTLED);
        t.has_retry_after = true;
        t.retry_after_sec = 120;  /* the API asked for a wait */
        ASSERT_EQ(sched_retry_time_revoked(now, 1, &t, 0), now + 120);
}

/* Every rule holds for certificates that live minutes (duration: 1h, 90m,
 * 15m): renewal point, jitter, floor, the tenth-of-the-lifetime rule,
 * backoff caps. */
TEST(lifetimes_of_minutes) {
        const int64_t t = 1000000;
        static const int64_t lifetimes[] = { 15 * 60, 90 * 60, 3600, 4 * 3600 };

        for (size_t i = 0; i < ELEMENTSOF(lifetimes); i++) {
                int64_t life = lifetimes[i], na = t + life;
                for (uint64_t seed = 0; seed < 5000; seed += 7) {
                        /* 66%, less a jitter of at most 5% of the lifetime */
                        int64_t at = sched_renewal_time(t, na, 66, 0, seed);
                        ASSERT(at <= t + life * 66 / 100 && at >= t + life * 61 / 100 - 1);
                        /* renew-before 5m: 5 minutes before the end, less the jitter, or the floor */
                        int64_t before = sched_renewal_time(t, na, 0, 300, seed);
                        ASSERT(before <= na - 300 && before >= na - MAX(300 + life / 20, life / 10) - 1);
                        /* never later than the floor (10% of the lifetime, under 30 minutes) */
                        ASSERT(sched_renewal_time(t, na, 99, 0, seed) <= na - life / 10);
                }
                /* Not sooner than a tenth of the lifetime after it was obtained. */
                ASSERT(sched_next_attempt(t + 1, true, t - 5, na, t, 0, 0, 0, (uint64_t) life, "id") >= t + life / 10);
                /* Backoff never waits past a quarter of what is left. */
                ApiError e = { .klass = API_ERROR_TRANSIENT };
                for (uint64_t r = 0; r < 2000; r++) {
                        int64_t now = t + life * 70 / 100;
                        ASSERT(sched_retry_time(now, 20, &e, na, r * 7919) <= now + (na - now) / 4);
                }
        }
        /* 1 h renewed at 66%: about 36 calls a day (24 h / (0.63 h .. 0.66 h)). */
        ASSERT(86400 / (3600 * 66 / 100) == 36);
}

TEST(never_right_after_obtaining) {
        const int64_t t = 1000000;
        /* renew-before 58 s of a 60 s certificate dated back a second: its
         * renewal time is before it was obtained; a tenth of the lifetime after. */
        ASSERT_EQ(sched_next_attempt(t + 1, true, t - 1, t + 59, t, 0, 0, 0, 58, "id"), t + 6);
        /* Obtained unknown (a file found on disk): the renewal time as it is. */
        ASSERT(sched_next_attempt(t + 1, true, t - 1, t + 59, 0, 0, 0, 0, 58, "id") <= t + 1);
        /* Ordinary settings are not touched. */
        ASSERT_EQ(sched_next_attempt(t, true, t, t + 100 * DAY, t, 0, 0, 50, 0, "id"),
                  sched_renewal_time(t, t + 100 * DAY, 50, 0, sched_jitter_seed("id")));
        /* Expired or unusable: now, whatever was obtained when. */
        ASSERT_EQ(sched_next_attempt(t + 70, true, t - 1, t + 59, t, 0, 0, 0, 58, "id"), t + 70);
        ASSERT_EQ(sched_next_attempt(t + 1, false, 0, 0, t, 0, 0, 0, 58, "id"), t + 1);
}

TEST(restores_back_off) {
        const int64_t t = 1000000;
        unsigned restores = 0;
        int64_t last = 0, at;

        /* The first at once; then 1, 2, 4 ... s after the one before. */
        ASSERT_EQ(at = sched_restore_time(t, last, &restores), t);
        ASSERT_EQ(restores, 1);
        last = at;
        ASSERT_EQ(at = sched_restore_time(t, last, &restores), t + 1);
        last = at;
        ASSERT_EQ(at = sched_restore_time(t + 1, last, &restores), t + 3);
        last = at;
        ASSERT_EQ(at = sched_restore_time(t + 2, last, &restores), t + 7);
        last = at;
        /* Later than the delay: now. */
        ASSERT_EQ(at = sched_restore_time(t + 100, last, &restores), t + 100);
        ASSERT_EQ(restores, 5);
        last = at;
        ASSERT_EQ(sched_restore_time(t + 100, last, &restores), t + 116);
        /* Never more than the cap after the last one... */
        restores = 40;
        ASSERT_EQ(sched_restore_time(t, t, &restores), t + SCHED_RETRY_CAP_SEC);
        /* ... and a file left alone that long starts afresh. */
        restores = 40;
        ASSERT_EQ(sched_restore_time(t + SCHED_RETRY_CAP_SEC, t, &restores), t + SCHED_RETRY_CAP_SEC);
        ASSERT_EQ(restores, 1);
        /* Ten deletions three seconds apart: six restores, the last 34 s after the first. */
        restores = 0;
        last = 0;
        unsigned n = 0;
        for (int64_t now = t; now < t + 30; now += 3)
                if (now >= last) {  /* a restore planned later is not planned again */
                        last = sched_restore_time(now, last, &restores);
                        n++;
                }
        ASSERT_EQ(n, 6);
        ASSERT_EQ(last, t + 34);
}

TEST(clock_steps) {
        const uint64_t real = UINT64_C(1800000000) * 1000000, boot = UINT64_C(5000) * 1000000;
        const int64_t t = 1800000000;

        /* 10 s later by both clocks: no step. A suspend of an hour: both move, no step. */
        ASSERT_EQ(sched_clock_step(real, boot, real + 10000000, boot + 10000000), 0);
        ASSERT_EQ(sched_clock_step(real, boot, real + UINT64_C(3600000000), boot + UINT64_C(3600000000)), 0);
        /* Set back a day 10 s later; set forward an hour. */
        ASSERT_EQ(sched_clock_step(real, boot, real - UINT64_C(86400000000) + 10000000, boot + 10000000), -86400);
        ASSERT_EQ(sched_clock_step(real, boot, real + UINT64_C(3600000000) + 5000000, boot + 5000000), 3600);
        /* Less than a second (a slew's leftovers): none. */
        ASSERT_EQ(sched_clock_step(real, boot, real + 900000, boot), 0);

        /* A 30 s backoff when the clock goes back a day: still 30 s away. */
        int64_t retry = t + 30, now_after = t - 86400;
        ASSERT_EQ(sched_after_clock_step(retry, -86400) - now_after, 30);
        /* ... and forward an hour: still 30 s away, not due at once. */
        ASSERT_EQ(sched_after_clock_step(retry, 3600) - (t + 3600), 30);
        /* None and parked stay; no overflow. */
        ASSERT_EQ(sched_after_clock_step(0, 3600), 0);
        ASSERT_EQ(sched_after_clock_step(INT64_MAX, -3600), INT64_MAX);
        ASSERT_EQ(sched_after_clock_step(INT64_MAX - 10, 3600), INT64_MAX - 1);
        ASSERT_EQ(sched_after_clock_step(100, -3600), 1);
}

RUN_TESTS(T(renewal_time), T(never_right_after_obtaining), T(restores_back_off), T(clock_steps), T(jitter_seed_is_stable_and_spread), T(retry_backoff), T(retry_near_expiry), T(retry_classes),
          T(retry_after_revocation), T(lifetimes_of_minutes))
