/* SPDX-License-Identifier: MIT */
/* Writing fetched certificates: at once into an own file, batched into a
 * shared one, the directory syncs after a burst, and the outcome of a write
 * (state, schedule, log, hooks). Makes no API call. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic-file.h"
#include "manager-internal.h"
#include "message-id.h"
#include "parse-value.h"
#include "safe-path.h"
#include "schedule.h"
#include "secure-memory.h"
#include "time-util.h"

/* Kubeconfig files written are on disk at once, their directory (the new
 * name) within this: one sync for the writes of a burst. */
#define DIRECTORY_SYNC_DELAY_USEC USEC_PER_SEC

#define LOCKED_RETRY_SEC 2      /* a kubeconfig locked by someone else */

#define WRITE_QUEUE_MAX 256     /* certificates waiting to be written: past that, written at once */

#define WRITE_PACE_MAX_USEC (2 * USEC_PER_SEC)  /* the longest a certificate for a shared file waits */

/* One directory per turn of the loop, the oldest first: the loop never
 * waits on more than one fsync here, and what else is ready runs between
 * them (the timer, due again at once, comes after what was waiting). */
int on_directory_sync_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) atomic_file_sync_directories(1);
        if (atomic_file_unsynced() > 0 &&
            (sd_event_source_set_time(s, usec) < 0 || sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0))
                (void) atomic_file_sync_directories(SIZE_MAX);
        return 0;
}

/* After kubeconfig writes: their directories are synced soon (see
 * atomic_file_sync_directories()). */
static void directory_sync_soon(Manager *m) {
        int enabled = SD_EVENT_OFF;
        uint64_t now;

        if (atomic_file_unsynced() == 0 || sd_event_source_get_enabled(m->directory_sync_timer, &enabled) < 0 ||
            enabled != SD_EVENT_OFF)
                return;
        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_source_set_time(m->directory_sync_timer, now + DIRECTORY_SYNC_DELAY_USEC) < 0 ||
            sd_event_source_set_enabled(m->directory_sync_timer, SD_EVENT_ONESHOT) < 0)
                (void) atomic_file_sync_directories(SIZE_MAX);  /* now, then */
}

/* --dry-run: what would be written, and nothing written. */
static void describe_pending(Manager *m, Cluster *c) {
        _cleanup_free_wiped_ char *old = NULL, *new = NULL;
        size_t old_size = 0, new_size = 0;
        char error[768];
        int r;

        r = atomic_file_read(c->config->kubeconfig, KUBECONFIG_FILE_MAX, &old, &old_size, error, sizeof(error));
        if (r < 0 && r != -ENOENT)
                log_warning("%s: cannot read %s: %s; showing the file as if it were new.", c->config->name,
                            c->config->kubeconfig, r == -SAFE_PATH_REFUSED ? error : strerror(-r));
        r = kubeconfig_render(c->config, c->pending, old, old_size, &new, &new_size, NULL, error, sizeof(error));
        if (r < 0) {
                log_error("%s: the file would not be written: %s", c->config->name, error);
                m->exit_status = EXIT_ONCE_FAILED;
        } else {
                char when[32];
                printf("== %s: a certificate valid until %s was fetched and checked; dry run, nothing written\n",
                       c->config->name, format_iso8601_utc(c->pending_cert.not_after, when));
                if (old && old_size == new_size && memcmp(old, new, new_size) == 0)
                        printf("%s would not change\n", c->config->kubeconfig);
                else if (kubeconfig_describe(c->config, old, old_size, new, new_size, stdout) < 0)
                        m->exit_status = EXIT_ONCE_FAILED;
                fflush(stdout);
        }
        c->pending = cce_kubeconfig_free(c->pending);
        once_finished(m, c, r < 0);
}

/* A write that failed (or could not be made): counted, in the state with
 * message (for --status, and no longer "renewing"), retried at next_attempt,
 * or with backoff (0; not_after: of the certificate at stake, 0 none). */
void write_failed(Manager *m, Cluster *c, int64_t next_attempt, int64_t not_after, const char *message) {
        ApiError e = { .klass = API_ERROR_TRANSIENT };

        c->write_failures++;
        c->state.next_attempt = next_attempt ?:
                sched_retry_time(now_realtime_ceil(m), c->write_failures, &e, not_after, random_u64());
        c->state.failures = MAX(c->state.failures, 1u);
        c->state.last_error_class = API_ERROR_TRANSIENT;
        state_set_text(&c->state.last_error, message);
        save_state(m, c);
        schedule(m, c);
}

/* The entries a renamed cluster's new ones replace, when they are in the
 * same file under other names: they go in the same write. */
static const ClusterConfig *retired_here(Manager *m, const Cluster *c) {
        const ClusterConfig *old = discovery_renamed_from(m, c);
        return old && strcmp(old->kubeconfig, c->config->kubeconfig) == 0 &&
                strcmp(old->cluster_entry_name, c->config->cluster_entry_name) != 0 ? old : NULL;
}

/* What writing the fetched certificate came to (r as kubeconfig_update()
 * returns): on failure the certificate is kept and the write tried again
 * later, without asking the API for another one. */
static void write_done(Manager *m, Cluster *c, int r, const char *error, bool insecure) {
        int64_t now = now_realtime(m);
        char when[32];
        LogContext ctx;

        directory_sync_soon(m);

        if (r < 0) {
                char message[256];
                snprintf(message, sizeof(message), "writing the kubeconfig failed: %.200s", error);
                write_failed(m, c, r == -EAGAIN ? now_realtime_ceil(m) + LOCKED_RETRY_SEC : 0, c->pending_cert.not_after,
                             message);
                log_context(c, c->pending_cert.not_after, &ctx);
                ctx.error_class = "write";
                log_cluster(c, r == -EAGAIN ? LOG_NOTICE : LOG_ERR, MESSAGE_ID_WRITE_FAILED, &ctx, NULL, NULL, NULL,
                            "Cannot write the renewed certificate of %s: %s; the file is unchanged; "
                            "will write it again at %s without asking for another certificate.",
                            c->config->name, error, format_iso8601_utc(c->due, when));
                status_changed(m);
                if (r != -EAGAIN || c->write_failures > 5)
                        once_finished(m, c, true);
                return;
        }

        int64_t old_not_after = c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0;
        c->restoring_damaged = false;
        char *hook_error = TAKE_PTR(c->state.last_hook_error);
        char *revoked_identity = TAKE_PTR(c->state.revoked_identity), *revoke_error = TAKE_PTR(c->state.revoke_error);
        int64_t last_attempt = c->state.last_attempt, last_revocation = c->state.last_revocation;
        int64_t expire_at_refused = c->state.expire_at_refused;
        uint64_t kubeconfig_digest = r >= 0 ? c->state.kubeconfig_digest : 0;
        bool after_revocation = c->state.revoke_started > 0;
        cluster_state_done(&c->state);
        c->file = (FileStatus) { .state = KUBECONFIG_OK, .certificate = c->pending_cert };
        c->state = (ClusterState) {
                .fingerprint = c->fingerprint,
                .last_attempt = last_attempt,
                .last_success = now,
                .not_before = c->pending_cert.not_before,
                .not_after = c->pending_cert.not_after,
        };
        snprintf(c->state.cluster_id, sizeof(c->state.cluster_id), "%s", c->config->cluster_id);
        c->state.last_hook_error = hook_error;
        /* A revocation before this certificate is over (revoke_started
         * stays 0); what it did stays for --status and the metrics. */
        c->state.last_revocation = last_revocation;
        c->state.revoked_identity = revoked_identity;
        c->state.revoke_error = revoke_error;
        c->state.expire_at_refused = expire_at_refused;
        c->state.kubeconfig_digest = kubeconfig_digest;
        c->state.kubeconfig_identity = file_identity_of(c->config->kubeconfig);
        file_watch_written(m->watch, c->config->kubeconfig);
        c->pending = cce_kubeconfig_free(c->pending);
        c->renewals_total++;
        c->write_failures = 0;
        c->expiry_level = 0;
        clear_pause(m, c->config->credentials);
        save_state(m, c);
        schedule(m, c);

        log_context(c, c->pending_cert.not_after, &ctx);
        log_cluster(c, LOG_INFO, MESSAGE_ID_RENEWED, &ctx, NULL, NULL,
                    c->pending_request_id && c->pending_request_id[0] ? c->pending_request_id : NULL,
                    "Renewed %s: %s %s, certificate valid until %s, next renewal at %s.",
                    c->config->name, c->config->kubeconfig, r > 0 ? "written" : "unchanged",
                    ctx.not_after, ctx.next);
        if (insecure && !c->warned_insecure) {
                c->warned_insecure = true;
                log_cluster(c, LOG_WARNING, NULL, &ctx, NULL, NULL, NULL,
                            "%s: the %s endpoint of %s skips TLS verification of the API server; "
                            "set tls-server-name to verify it against the cluster CA.",
                            c->config->kubeconfig, endpoint_choice_to_string(c->config->endpoint), c->config->name);
        }
        if (m->options.revoke && c->selected) {
                char from[32];
                printf("%s: new certificate, serial %s, valid from %s to %s, %s %s\n", c->config->name,
                       c->pending_serial ?: "?", format_iso8601_utc(c->pending_cert.not_before, from), ctx.not_after,
                       r > 0 ? "written to" : "already in", c->config->kubeconfig);
                fflush(stdout);
        } else if (after_revocation)
                log_cluster(c, LOG_INFO, NULL, &ctx, NULL, NULL, NULL,
                            "%s: the revoked certificate in %s is replaced.", c->config->name, c->config->kubeconfig);
        free(c->pending_request_id);
        c->pending_request_id = NULL;
        discovery_rename_done(m, c);
        run_hook(m, c, c->config->on_renew, "on-renew", "renewed", NULL, old_not_after);
        status_changed(m);
        once_finished(m, c, false);
}

static int compare_by_kubeconfig(const void *a, const void *b) {
        return strcmp((*(Cluster *const *) a)->config->kubeconfig, (*(Cluster *const *) b)->config->kubeconfig);
}

/* Writes what the queue holds: clusters that share a file (merge: true)
 * go into it together, with one lock, one read and one durable write. */
void write_queued(Manager *m) {
        Cluster **queue = m->write_queue;
        size_t n = m->n_write_queue;

        m->n_write_queue = 0;
        if (n == 0)
                return;
        uint64_t start_usec = now_usec(CLOCK_MONOTONIC);
        for (size_t i = 0; i < n; i++)
                queue[i]->queued = false;
        qsort(queue, n, sizeof(Cluster *), compare_by_kubeconfig);
        for (size_t start = 0, end; start < n; start = end) {
                bool sweep = false;
                for (end = start; end < n && compare_by_kubeconfig(&queue[start], &queue[end]) == 0; end++)
                        sweep = sweep || queue[end]->sweeps_directory;
                _cleanup_free_ KubeconfigWrite *w = calloc(end - start, sizeof(KubeconfigWrite));
                if (!w) {
                        for (size_t i = start; i < end; i++)
                                write_done(m, queue[i], -ENOMEM, "out of memory", false);
                        continue;
                }
                for (size_t i = start; i < end; i++) {
                        w[i - start] = (KubeconfigWrite) { .cl = queue[i]->config, .answer = queue[i]->pending,
                                                           .retire = retired_here(m, queue[i]) };
                        queue[i]->sweeps_directory = false;
                }
                SharedFile *shared = queue[start]->shared;
                FileIdentity read_as = FILE_IDENTITY_NONE;
                int r = kubeconfig_update_many(w, end - start, sweep, &read_as);
                /* The daemon still knows the whole file when it was the
                 * version last seen: it is now the one just written. */
                if (shared && r >= 0 && file_identity_same(&read_as, &shared->identity))
                        shared->identity = file_identity_of(shared->path);
                for (size_t i = start; i < end; i++)
                        write_done(m, queue[i], w[i - start].result, w[i - start].error, w[i - start].insecure);
        }
        uint64_t end_usec = now_usec(CLOCK_MONOTONIC);
        m->write_not_before = end_usec + MIN(3 * (end_usec - start_usec), (uint64_t) WRITE_PACE_MAX_USEC);
}

/* Writes a fetched certificate (a dry run shows it instead). One for a
 * file of its own is written at once. One for a file shared with other
 * clusters (merge: true) waits, so that answers still coming in for that
 * file join it in one write: for the event loop to have nothing else to do,
 * and for three times as long as the last write of queued certificates
 * took (at most WRITE_PACE_MAX_USEC). Writing a large shared file then
 * takes at most a quarter of the time however few requests are in flight
 * (writes hold up the event loop), and each write takes in more
 * certificates the longer writes take. */
void write_pending(Manager *m, Cluster *c) {
        if (m->options.dry_run) {
                describe_pending(m, c);
                return;
        }
        if (!c->config->merge) {
                KubeconfigWrite w = { .cl = c->config, .answer = c->pending, .replace_damaged = c->restoring_damaged,
                                      .retire = retired_here(m, c), .plain_hash = c->state.kubeconfig_digest };
                bool sweep = c->sweeps_directory;
                c->sweeps_directory = false;
                kubeconfig_update_many(&w, 1, sweep, NULL);
                c->state.kubeconfig_digest = w.result >= 0 ? w.written_plain_hash : 0;
                write_done(m, c, w.result, w.error, w.insecure);
                return;
        }
        if (c->queued)
                return;
        c->queued = true;
        m->write_queue[m->n_write_queue++] = c;
        if (m->n_write_queue >= WRITE_QUEUE_MAX) {
                write_queued(m);
                return;
        }
        if (m->n_write_queue == 1 &&
            (sd_event_source_set_time(m->write_event, MAX(now_usec(CLOCK_MONOTONIC), m->write_not_before)) < 0 ||
             sd_event_source_set_enabled(m->write_event, SD_EVENT_ONESHOT) < 0)) {
                log_error("Cannot arm the write of %s; writing it now.", c->config->kubeconfig);
                write_queued(m);
        }
}

void write_queue_remove(Manager *m, Cluster *c) {
        if (!c->queued)
                return;
        for (size_t i = 0; i < m->n_write_queue; i++)
                if (m->write_queue[i] == c) {
                        m->write_queue[i] = m->write_queue[--m->n_write_queue];
                        break;
                }
        c->queued = false;
}
