/* SPDX-License-Identifier: MIT */
/* What the daemon finds in a cluster's files and does about it: a path that
 * cannot take the file (reported), a certificate put there by someone else
 * (adopted), entries gone or damaged (restored by a renewal), a state file
 * another cce-certd wrote (taken). Starts no call itself. */

#include <stdio.h>
#include <string.h>

#include "manager-internal.h"
#include "message-id.h"
#include "parse-value.h"
#include "schedule.h"

/* Whether a kubeconfig in state s cannot take c's entries: its path
 * refused, a directory there or none above it, entries of its names that
 * are not ours, or a merged file that does not parse (its other entries
 * would be lost). */
bool cannot_write(const Cluster *c, KubeconfigState s) {
        return kubeconfig_state_blocks_writing(s) || (s == KUBECONFIG_UNREADABLE && c->config->merge);
}

/* A kubeconfig that cannot take the cluster's entries (cannot_write()):
 * reported as a write failure, retried with backoff, and no certificate is
 * asked for meanwhile. */
static void report_blocked(Manager *m, Cluster *c, const KubeconfigStatus *file) {
        LogContext ctx;
        char when[32], message[480];

        const char *kept = file->state == KUBECONFIG_UNREADABLE ?
                "; the file is left as it is (the entries of others in it cannot be read)" : "";

        c->file = (FileStatus) { .state = file->state };
        snprintf(message, sizeof(message), "writing the kubeconfig failed: %.300s%s", file->reason, kept);
        write_failed(m, c, 0, 0, message);
        log_context(c, 0, &ctx);
        ctx.error_class = "write";
        log_cluster(c, LOG_ERR, MESSAGE_ID_WRITE_FAILED, &ctx, NULL, NULL, NULL,
                    "%s: %s%s; no certificate is asked for until that is fixed; will look again at %s.",
                    c->config->name, file->reason, kept, format_iso8601_utc(c->due, when));
        status_changed(m);
        once_finished(m, c, true);
}

/* A kubeconfig that was blocked, looked at again when it is due: still so,
 * reported again; fixed, taken as it is now and scheduled from that
 * (kubeconfig_changed(): a certificate there adopted, or a restore, maybe
 * due at once, then started as any due renewal). Returns true when it was
 * blocked: this start is off. */
bool path_still_blocked(Manager *m, Cluster *c) {
        FileIdentity identity = file_identity_of(c->config->kubeconfig);
        KubeconfigStatus file;

        kubeconfig_inspect(c->config, &file);
        if (cannot_write(c, file.state)) {
                report_blocked(m, c, &file);
                return true;
        }
        kubeconfig_changed(m, c, &file, &identity);
        return true;
}

/* Adopts the certificate that file holds for c (read just now) when it is
 * another valid one than the daemon knows (newer: a --once beside it, a
 * copy from another host; older: a copy put back) and not due: state and
 * schedule from it, no call. identity: of the file read, for an own file's
 * state. Returns whether it was adopted. */
static bool adopt_certificate(Manager *m, Cluster *c, const KubeconfigStatus *file, const FileIdentity *identity) {
        char when[32];
        LogContext ctx;

        if (file->state != KUBECONFIG_OK ||
            (c->file.state == KUBECONFIG_OK && file->certificate.not_after == c->file.certificate.not_after &&
             file->certificate.not_before == c->file.certificate.not_before))
                return false;
        int64_t now = now_realtime(m);
        int64_t due = sched_next_attempt(now, true, file->certificate.not_before, file->certificate.not_after,
                                         c->state.last_success, 0, 0, c->config->renew_at_percent,
                                         c->config->renew_before_sec, c->config->cluster_id);
        if (due <= now)
                return false;
        bool newer = c->file.state != KUBECONFIG_OK || file->certificate.not_after > c->file.certificate.not_after;
        c->file = (FileStatus) {
                .state = KUBECONFIG_OK,
                .certificate = { file->certificate.not_before, file->certificate.not_after },
        };
        c->state.failures = 0;
        c->state.next_attempt = 0;
        c->state.last_error_class = API_ERROR_NONE;
        state_set_text(&c->state.last_error, NULL);
        c->state.not_before = file->certificate.not_before;
        c->state.not_after = file->certificate.not_after;
        c->state.kubeconfig_identity = *identity;
        c->expiry_level = 0;
        schedule(m, c);
        save_state(m, c);
        log_context(c, file->certificate.not_after, &ctx);
        log_cluster(c, LOG_INFO, MESSAGE_ID_ADOPTED, &ctx, NULL, NULL, NULL,
                    "%s: %s holds %s certificate, valid until %s, written by someone else (%s): "
                    "adopted, no new one asked for; next renewal at %s.", c->config->name, c->config->kubeconfig,
                    newer ? "a newer" : "an older", ctx.not_after, newer ? "a --once?" : "a copy put back?",
                    format_iso8601_utc(c->due, when));
        status_changed(m);
        once_finished(m, c, false);
        return true;
}

/* A shared file changed by someone else: every cluster of it that waits is
 * looked at again (one read and parse for all), and adopts what is newer. */
static void shared_file_changed(Manager *m, SharedFile *shared, const FileIdentity *identity) {
        _cleanup_(kubeconfig_reading_freep) KubeconfigReading *reading = NULL;

        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *d = m->clusters[i];
                KubeconfigStatus file;
                if (d->shared != shared || d->phase != PHASE_WAITING || d->pending || d->queued)
                        continue;
                kubeconfig_inspect_shared(d->config, &reading, &file);
                (void) adopt_certificate(m, d, &file, identity);
        }
        shared->identity = *identity;
}

/* A fetched certificate whose write waited (the file was locked): when the
 * file now holds a newer certificate of this cluster that someone else
 * wrote meanwhile (a --revoke beside the daemon, whose revocation may have
 * ended the one held here), that one is adopted and ours dropped. Returns
 * true when it was. */
bool pending_superseded(Manager *m, Cluster *c) {
        FileIdentity identity = file_identity_of(c->config->kubeconfig);
        KubeconfigStatus file;

        if (!file_identity_known(&identity) ||
            file_identity_same(&identity, c->shared ? &c->shared->identity : &c->state.kubeconfig_identity))
                return false;
        kubeconfig_inspect(c->config, &file);
        if (file.state != KUBECONFIG_OK || file.certificate.not_before <= c->pending_cert.not_before)
                return false;
        CceKubeconfig *held = TAKE_PTR(c->pending);
        if (!adopt_certificate(m, c, &file, &identity)) {
                c->pending = held;
                return false;
        }
        cce_kubeconfig_free(held);
        log_info("%s: the certificate fetched before is dropped, unwritten: the one in %s is newer.", c->config->name,
                 c->config->kubeconfig);
        return true;
}

/* Before a certificate is asked for: is the file still the version the
 * daemon last wrote or read? Another writer (a --once beside the daemon, a
 * copy from another host) may have put another certificate of this cluster
 * there: it is adopted and the cluster rescheduled from it, no call. Not
 * with --once --force, which asks for a certificate whatever the file
 * holds. Returns true when the renewal is off. */
bool file_certificate_adopted(Manager *m, Cluster *c) {
        KubeconfigStatus file;

        if (m->options.force)
                return false;
        FileIdentity identity = file_identity_of(c->config->kubeconfig);
        if (!file_identity_known(&identity))
                return false;  /* gone: renewing restores it */
        if (c->shared) {
                if (file_identity_same(&identity, &c->shared->identity))
                        return false;
                if (!m->options.once) {
                        shared_file_changed(m, c->shared, &identity);  /* c with the others */
                        return c->due > now_realtime(m);
                }
                c->shared->identity = identity;
        } else if (file_identity_same(&identity, &c->state.kubeconfig_identity))
                return false;
        kubeconfig_inspect(c->config, &file);
        return adopt_certificate(m, c, &file, &identity);
}

/* c's kubeconfig changed, and no write of ours is under way: file is what it
 * holds now (read just now), identity its version. A certificate of the
 * cluster is adopted; entries gone or damaged are restored by a renewal
 * (there is no copy of the key to write back), at once the first time,
 * later with backoff when restores follow each other; a path that can no
 * longer hold the file is reported, not fought over. */
void kubeconfig_changed(Manager *m, Cluster *c, const KubeconfigStatus *file, const FileIdentity *identity) {
        int64_t now = now_realtime(m);
        char when[32], plan[160];
        LogContext ctx;

        if (!c->shared)  /* seen: the check before the renewal need not read it again */
                c->state.kubeconfig_identity = *identity;
        if (cannot_write(c, c->file.state) && !cannot_write(c, file->state)) {
                /* Fixed: the backoff was the path's (no call was made), not the API's. */
                c->state.failures = 0;
                c->state.next_attempt = 0;
                c->write_failures = 0;
        }
        if (cannot_write(c, file->state)) {
                c->file_changes_total[FILE_CHANGE_UNWRITABLE]++;
                report_blocked(m, c, file);
                return;
        }
        if (file->state == KUBECONFIG_OK && file->certificate.not_after > now) {
                if (c->file.state == KUBECONFIG_OK && file->certificate.not_after == c->file.certificate.not_after &&
                    file->certificate.not_before == c->file.certificate.not_before)
                        return;  /* the same certificate: something else in the file changed */
                c->file_changes_total[FILE_CHANGE_ADOPTED]++;
                if (!adopt_certificate(m, c, file, identity)) {
                        /* Due already: renewed now. */
                        c->file = (FileStatus) {
                                .state = KUBECONFIG_OK,
                                .certificate = { file->certificate.not_before, file->certificate.not_after },
                        };
                        schedule(m, c);
                        status_changed(m);
                }
                return;
        }

        FileChange change = file->state == KUBECONFIG_MISSING ? FILE_CHANGE_MISSING : FILE_CHANGE_DAMAGED;
        c->file_changes_total[change]++;
        if (file->state == KUBECONFIG_UNREADABLE && c->file.state == KUBECONFIG_OK)
                c->restoring_damaged = true;  /* an own file (cannot_write() took merged ones) */
        bool planned = c->file.state != KUBECONFIG_OK && c->restore_at > now;
        c->file = (FileStatus) {
                .state = file->state,
                .certificate = { file->certificate.not_before, file->certificate.not_after },
        };
        if (!planned) {
                c->restore_at = sched_restore_time(now, c->restore_at, &c->restores);
        }
        schedule(m, c);
        status_changed(m);
        if (c->due == INT64_MAX)
                snprintf(plan, sizeof(plan), "not restored: the cluster is parked until the configuration changes");
        else if (c->due <= now)
                snprintf(plan, sizeof(plan), "restoring it now with a new certificate");
        else
                snprintf(plan, sizeof(plan), "restoring it with a new certificate at %s (%s)",
                         format_iso8601_utc(c->due, when),
                         c->state.failures > 0 ? "backing off after a failure" :
                         c->due == c->restore_at ? "restores of this file that follow each other back off" :
                         "its credentials are paused");
        log_context(c, 0, &ctx);
        log_struct(LOG_WARNING, 0, MESSAGE_ID_KUBECONFIG_CHANGED,
                   LOG_FIELDS({ "CCE_CLUSTER", c->config->name }, { "CCE_CLUSTER_ID", c->config->cluster_id },
                              { "KUBECONFIG_PATH", c->config->kubeconfig }, { "KUBECONFIG_CHANGE", file_change_to_string(change) },
                              { "NEXT_RENEWAL", ctx.next[0] ? ctx.next : NULL }),
                   "%s: %s, changed by someone else; %s.", c->config->name, file->reason, plan);
}

/* A cluster's state file written by another cce-certd (a --once beside the
 * daemon): the daemon takes what it says, so that its STATUS=, metrics and
 * --status agree; the certificate it names when the file is that version. */
void state_file_changed(Manager *m, Cluster *c) {
        StateVersion version;
        ClusterState s;

        if (c->phase != PHASE_WAITING || c->pending || c->queued ||
            state_version(m->state_dir, c->config->name, &version) < 0 ||
            state_version_equal(&version, &c->state_version))
                return;  /* busy (our write comes), gone, or our own write */
        c->state_version = version;
        if (state_load(m->state_dir, c->config->name, &s) < 0)
                return;
        if (s.fingerprint != c->fingerprint || strcmp(s.cluster_id, c->config->cluster_id) != 0) {
                cluster_state_done(&s);  /* written under other settings */
                return;
        }
        if (s.revoke_started > 0) {
                /* The other one (a --revoke) is between a revocation and
                 * its write: its next version follows, taken then. */
                c->state_version = (StateVersion) {};
                cluster_state_done(&s);
                return;
        }
        cluster_state_done(&c->state);
        c->state = s;
        FileIdentity identity = file_identity_of(c->config->kubeconfig);
        if (s.not_after > 0 && file_identity_same(&identity, &s.kubeconfig_identity))
                c->file = (FileStatus) { .state = KUBECONFIG_OK, .certificate = { s.not_before, s.not_after } };
        schedule(m, c);
        status_changed(m);
        log_info("%s: took the state that another cce-certd wrote (a --once?): %s%s.", c->config->name,
                 s.failures > 0 ? "its last attempt failed: " : "its last renewal worked",
                 s.failures > 0 && s.last_error ? s.last_error : "");
}
