/* SPDX-License-Identifier: MIT */
/* The renewal of one cluster from its start to its answer: the checks
 * before the call, the revocation that comes first (revoke-previous,
 * --revoke), the call, a failure (state, backoff, credential pause, log,
 * hook), a certificate handed to the writer; and dispatch, which starts what
 * is due within the cap on calls in flight. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager-internal.h"
#include "message-id.h"
#include "parse-value.h"
#include "revocation.h"
#include "schedule.h"
#include "time-util.h"

/* How urgent a failure is: priority rises as the certificate on disk nears
 * its end. Logs each threshold crossing once, with its own message id. */
static int failure_priority(Cluster *c, int64_t now) {
        static const struct {
                int priority;
                const char *message_id, *text;
        } levels[] = {
                { LOG_NOTICE, NULL, NULL },
                { LOG_WARNING, MESSAGE_ID_EXPIRY_WARNING, "less than a third of its lifetime is left" },
                { LOG_ERR, MESSAGE_ID_EXPIRING_SOON, "it expires soon" },
                { LOG_CRIT, MESSAGE_ID_EXPIRED, "it has expired" },
        };
        const CertDates *cert = &c->file.certificate;
        LogContext ctx;
        char when[32];

        if (cluster_state_revoked_unwritten(&c->state))
                return LOG_CRIT;  /* the file's certificate was revoked */
        if (c->file.state != KUBECONFIG_OK)
                return LOG_ERR;  /* no usable certificate at all */
        unsigned level = expiry_level(cert, now);
        if (level > c->expiry_level) {
                c->expiry_level = level;
                log_context(c, cert->not_after, &ctx);
                log_cluster(c, levels[level].priority, levels[level].message_id, &ctx, NULL, NULL, NULL,
                            "The certificate of %s in %s %s at %s and renewals keep failing: %s.",
                            c->config->name, c->config->kubeconfig, level == 3 ? "expired" : "expires",
                            cert_format_time(cert->not_after, when), levels[level].text);
        }
        return levels[level].priority;
}

static void renewal_failed(Manager *m, Cluster *c, const ApiError *e) {
        int64_t now = now_realtime(m);
        char describe[700], next[32], status[24] = "";
        LogContext ctx;

        c->state.failures++;
        c->failures_total[e->klass]++;
        c->state.last_error_class = e->klass;
        c->state.last_http_status = e->http_status;
        state_set_text(&c->state.last_error_code, e->code);
        state_set_text(&c->state.last_error, e->message);
        bool revoked = cluster_state_revoked_unwritten(&c->state);
        if (revoked)  /* the file's certificate was revoked: soon, whatever its dates say */
                c->state.next_attempt = sched_retry_time_revoked(now_realtime_ceil(m), c->state.failures, e, random_u64());
        else
                c->state.next_attempt = sched_retry_time(now_realtime_ceil(m), c->state.failures, e,
                                                         c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0,
                                                         random_u64());
        c->state.fingerprint = c->fingerprint;
        save_state(m, c);

        schedule(m, c);
        if (e->klass == API_ERROR_AUTHENTICATION)
                pause_credential(m, c->config->credentials, c->state.next_attempt);

        int priority = failure_priority(c, now);
        api_error_describe(e, describe, sizeof(describe));
        if (e->http_status > 0)
                snprintf(status, sizeof(status), "%ld", e->http_status);
        log_context(c, c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0, &ctx);
        ctx.error_class = api_error_class_to_string(e->klass);
        const char *http = status[0] ? status : NULL, *code = e->code[0] ? e->code : NULL;
        const char *rid = e->request_id[0] ? e->request_id : NULL;
        if (m->options.revoke && c->selected)
                printf("%s: NO new certificate: %s; %s %s.\n", c->config->name, describe, c->config->kubeconfig,
                       revoked ? "holds the revoked one until the daemon or another run renews it" : "is unchanged");
        if (revoked && c->due != INT64_MAX)
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed after its certificates were revoked: %s; %s holds a revoked "
                            "certificate until a new one is written; will retry at %s.",
                            c->config->name, describe, c->config->kubeconfig, format_iso8601_utc(c->due, next));
        else if (c->due == INT64_MAX)
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed: %s; parked until the configuration changes (reload after fixing it).",
                            c->config->name, describe);
        else if (e->klass == API_ERROR_AUTHENTICATION)
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed: %s; every cluster using credentials '%s' waits until %s "
                            "(an access key locks after 5 failed requests in a row).",
                            c->config->name, describe, c->config->credentials, format_iso8601_utc(c->due, next));
        else
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed: %s; will retry at %s.", c->config->name, describe, format_iso8601_utc(c->due, next));
        run_hook(m, c, c->config->on_failure, "on-failure", "failed", e,
                 c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0);
        status_changed(m);
        once_finished(m, c, true);
}

/* Configurations replaced by a reload go once no call borrows them. */
void free_retired_configs(Manager *m) {
        for (ConfigRef **p = &m->configs->next; *p;) {
                ConfigRef *r = *p;
                if (r->users == 0) {
                        *p = r->next;
                        config_free(r->config);
                        free(r);
                } else
                        p = &r->next;
        }
}

void release_call(Manager *m, Cluster *c) {
        c->call = NULL;
        c->phase = PHASE_WAITING;
        m->in_flight--;
        m->in_flight_changed = true;
        if (c->call_ref) {
                c->call_ref->users--;
                c->call_ref = NULL;
        }
        free_retired_configs(m);
}

/* An endpoint that refused expire_at is asked in days for this long. */
#define EXPIRE_AT_RETRY_SEC (7 * 24 * 3600)

static void start_mint(Manager *m, Cluster *c);

/* Its endpoint answered 400 to a lifetime asked with expire_at (older
 * regions and clusters do not take it): asked again at once in whole days,
 * the one extra call, and in days until its settings change or a week has
 * passed. */
static void expire_at_refused(Manager *m, Cluster *c, const ApiError *e) {
        char describe[700], lifetime[32], status[24];
        LogContext ctx;
        int days = cce_lifetime_days(c->config->lifetime_sec);

        c->state.expire_at_refused = now_realtime(m);
        save_state(m, c);
        api_error_describe(e, describe, sizeof(describe));
        snprintf(status, sizeof(status), "%ld", e->http_status);
        log_context(c, c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0, &ctx);
        log_cluster(c, LOG_WARNING, MESSAGE_ID_EXPIRE_AT_REFUSED, &ctx, status, e->code[0] ? e->code : NULL,
                    e->request_id[0] ? e->request_id : NULL,
                    "The API endpoint of %s does not take expire_at (%s): asking again for %d day%s instead of %s; "
                    "its renewals ask in days until its settings change or a week has passed.", c->config->name,
                    describe, days, days == 1 ? "" : "s", format_duration((uint64_t) c->config->lifetime_sec, lifetime));
}

/* Ask in whole days: the endpoint refused expire_at less than a week ago. */
static bool ask_whole_days(Manager *m, const Cluster *c) {
        return c->state.expire_at_refused > 0 && now_realtime(m) - c->state.expire_at_refused < EXPIRE_AT_RETRY_SEC;
}

static void on_call_done(CceCall *call, CceResult *result, void *userdata) {
        Cluster *c = userdata;
        Manager *m = c->manager;

        release_call(m, c);
        if (result->error.klass != API_ERROR_NONE && result->asked_expire_at && result->error.http_status == 400) {
                expire_at_refused(m, c, &result->error);
                start_mint(m, c);
        } else if (result->error.klass != API_ERROR_NONE)
                renewal_failed(m, c, &result->error);
        else {
                c->pending = TAKE_PTR(result->kubeconfig);
                c->pending_cert = (CertDates) { result->certificate.not_before, result->certificate.not_after };
                if (m->options.revoke) {  /* for the report */
                        free(c->pending_serial);
                        c->pending_serial = strdup(result->certificate.serial);
                }
                free(c->pending_request_id);
                c->pending_request_id = strdup(result->request_id);  /* for the log: NULL is no harm */
                write_pending(m, c);
        }
        dispatch(m);
}

static void call_started(Manager *m, Cluster *c) {
        c->phase = PHASE_CALLING;
        c->call_ref = m->configs;
        c->call_ref->users++;
        m->in_flight++;
        m->in_flight_changed = true;  /* written with the status, for --status */
        status_changed(m);
}

/* The clustercert call. */
static void start_mint(Manager *m, Cluster *c) {
        ApiError e = {};
        int r;

        heap_remove(m, c);  /* a call in flight is never due as well, whatever the checks before scheduled */
        r = cce_call_start(m->client, c->config, ask_whole_days(m, c), on_call_done, c, &c->call, &e);
        if (r < 0) {
                if (e.klass == API_ERROR_NONE)
                        api_error_set(&e, API_ERROR_TRANSIENT, "cannot start the request: %s", strerror(-r));
                renewal_failed(m, c, &e);
                return;
        }
        call_started(m, c);
}

/* ---- revocation before the call ---------------------------------------------- */

/* Revoke first? --revoke: always; revoke-previous: unless a revocation
 * began and no certificate was written since (never a second one before a
 * write). */
static bool wants_revocation(Manager *m, const Cluster *c) {
        if (m->options.dry_run)
                return false;
        if (m->options.revoke)
                return c->selected;
        return c->config->revoke_previous && c->state.revoke_started == 0;
}

/* The revocation failed (or could not be made): said, counted, remembered;
 * the certificate is renewed anyway, and the revocation not tried again
 * before the next rotation. */
static void revocation_failed(Manager *m, Cluster *c, const ApiError *e, const char *why) {
        char describe[700], status[24] = "";
        LogContext ctx;

        if (e)
                api_error_describe(e, describe, sizeof(describe));
        else
                snprintf(describe, sizeof(describe), "%s", why);
        c->revocation_failures_total++;
        c->revoke_failed = true;
        state_set_text(&c->state.revoke_error, describe);
        save_state(m, c);
        if (e && e->http_status > 0)
                snprintf(status, sizeof(status), "%ld", e->http_status);
        log_context(c, c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0, &ctx);
        ctx.revoked_identity = c->state.revoked_identity;
        ctx.error_class = e ? api_error_class_to_string(e->klass) : NULL;
        log_cluster(c, LOG_WARNING, MESSAGE_ID_NOT_REVOKED, &ctx, status[0] ? status : NULL,
                    e && e->code[0] ? e->code : NULL, e && e->request_id[0] ? e->request_id : NULL,
                    "The previous certificate of %s was not revoked: %s; renewing anyway (it keeps working until it "
                    "expires; not tried again before the next rotation).", c->config->name, describe);
        if (m->options.revoke)
                printf("%s: NOT revoked: %s\n", c->config->name, describe);
        status_changed(m);
}

static void on_revoke_done(CceCall *call, CceResult *result, void *userdata) {
        Cluster *c = userdata;
        Manager *m = c->manager;
        LogContext ctx;

        release_call(m, c);
        if (result->error.klass != API_ERROR_NONE)
                revocation_failed(m, c, &result->error, NULL);
        else {
                c->revocations_total++;
                c->state.last_revocation = now_realtime(m);
                state_set_text(&c->state.revoke_error, NULL);
                save_state(m, c);
                log_context(c, c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0, &ctx);
                ctx.revoked_identity = c->state.revoked_identity;
                log_cluster(c, LOG_NOTICE, MESSAGE_ID_REVOKED, &ctx, NULL, NULL,
                            result->request_id[0] ? result->request_id : NULL,
                            "Revoked every certificate of %s for %s; asking for a new one now.",
                            c->state.revoked_identity, c->config->name);
                status_changed(m);
        }
        start_mint(m, c);
        dispatch(m);
}

/* Starts the revocation that comes before the call; false when there is
 * none to make (nothing of ours on disk to retire) or it failed to start:
 * then the certificate is asked for at once. */
static bool start_revocation(Manager *m, Cluster *c) {
        const CceIdentity *given = m->options.revoke_identity.id[0] ? &m->options.revoke_identity : NULL;
        char how[REVOCATION_HOW_MAX], who_text[CCE_IDENTITY_ID_MAX + 8];
        CceIdentity who;
        ApiError e = {};
        int r;

        r = revocation_identity(c->config, given, &who, how);
        if (r == -ENOENT && !m->options.revoke)
                return false;  /* revoke-previous: no certificate of ours yet, nothing to retire */
        if (r < 0) {
                if (m->options.revoke && r == -ENOENT)
                        strncat(how, "; give --user-id or --agency-id", REVOCATION_HOW_MAX - strlen(how) - 1);
                revocation_failed(m, c, NULL, how);
                return false;
        }
        /* Recorded (durably) before the call: a restart after it, whatever
         * its outcome, renews at once and does not revoke again. */
        c->state.revoke_started = now_realtime(m);
        state_set_text(&c->state.revoked_identity, revocation_identity_text(&who, who_text));
        state_set_text(&c->state.revoke_error, NULL);
        save_state(m, c);
        if (m->options.revoke)
                printf("%s: revoking every certificate of %s for cluster %s (id: %s)\n", c->config->name, who_text,
                       c->config->cluster_id, how);
        heap_remove(m, c);
        r = cce_revoke_start(m->client, c->config, &who, on_revoke_done, c, &c->call, &e);
        if (r < 0) {
                if (e.klass == API_ERROR_NONE)
                        api_error_set(&e, API_ERROR_TRANSIENT, "cannot start the request: %s", strerror(-r));
                revocation_failed(m, c, &e, NULL);
                return false;
        }
        call_started(m, c);
        return true;
}

static void start_renewal(Manager *m, Cluster *c) {
        c->state.last_attempt = now_realtime(m);
        if (c->pending) {
                if (!pending_superseded(m, c))
                        write_pending(m, c);
                return;
        }
        if (cannot_write(c, c->file.state) && path_still_blocked(m, c))
                return;
        if (file_certificate_adopted(m, c))
                return;
        if (wants_revocation(m, c) && start_revocation(m, c))
                return;
        start_mint(m, c);
}

/* Starts what is due, within the cap on renewals in flight. */
void dispatch(Manager *m) {
        int64_t now = now_realtime(m);
        unsigned cap = m->max_in_flight;

        if (m->once_listings > 0)
                return;  /* --once: the pass starts when the projects are listed (once_start_pass()) */
        m->clock_realtime = now_usec(CLOCK_REALTIME);  /* the clocks as they go, to tell a step from them */
        m->clock_boottime = now_usec(CLOCK_BOOTTIME);

        while (m->n_heap > 0 && m->heap[0]->due <= now && m->in_flight < cap) {
                Cluster *c = m->heap[0];
                heap_remove(m, c);
                start_renewal(m, c);
        }
        arm_timer(m);
}
