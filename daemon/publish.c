/* SPDX-License-Identifier: MIT */
/* What is published about the clusters: STATUS= (at most once a second),
 * the metrics file (and its five-minute refresh) and in-flight.json for
 * --status. Reads the clusters, changes none. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "atomic-file.h"
#include "build-config.h"
#include "manager-internal.h"
#include "time-util.h"

#define STATUS_INTERVAL_USEC USEC_PER_SEC

static bool cluster_failing(const Cluster *c) {
        return c->state.failures > 0 || c->pending;
}

static const char *cluster_state_name(const Cluster *c, int64_t now) {
        if (c->phase == PHASE_CALLING)
                return "renewing";
        if (c->unavailable)
                return "unavailable";
        if (cluster_state_revoked_unwritten(&c->state))
                return "revoked";  /* the file's certificate, and no new one written yet */
        if (c->due == INT64_MAX)
                return "parked";
        if (c->file.state == KUBECONFIG_OK && c->file.certificate.not_after <= now)
                return "expired";
        if (cluster_failing(c))
                return "failing";
        if (c->file.state != KUBECONFIG_OK)
                return "pending";
        return "ok";
}

/* The metrics file's next write, METRICS_REFRESH_SEC after this one, when
 * nothing changes before: one wake-up in five minutes. */
static void metrics_refresh_later(Manager *m, bool enabled) {
        uint64_t now;

        if (!m->metrics_timer)
                return;
        if (!enabled || sd_event_now(m->event, CLOCK_BOOTTIME, &now) < 0 ||
            sd_event_source_set_time(m->metrics_timer, now + METRICS_REFRESH_SEC * USEC_PER_SEC) < 0)
                (void) sd_event_source_set_enabled(m->metrics_timer, SD_EVENT_OFF);
        else
                (void) sd_event_source_set_enabled(m->metrics_timer, SD_EVENT_ONESHOT);
}

/* The metrics file, when one is configured: rewritten with the status, and
 * every METRICS_REFRESH_SEC when nothing changes. */
void write_metrics(Manager *m, int64_t now) {
        const char *path = current_config(m)->metrics_file;
        _cleanup_free_ MetricsCluster *rows = NULL;
        _cleanup_free_ char *text = NULL;
        char error[512];
        size_t size;

        metrics_refresh_later(m, path);
        if (!path)
                return;
        rows = calloc(MAX(m->n_clusters, 1u), sizeof(MetricsCluster));
        if (!rows)
                return;
        for (size_t i = 0; i < m->n_clusters; i++) {
                const Cluster *c = m->clusters[i];
                bool have = c->file.state == KUBECONFIG_OK;
                rows[i] = (MetricsCluster) {
                        .name = c->config->name,
                        .cluster_id = c->config->cluster_id,
                        .project_id = c->config->project_id,
                        .credential = c->config->credentials,
                        .paused = c->state.paused_until > now,
                        .discovered_by = c->config->discovered ? (unsigned) c->config->discovered_by + 1 : 0,
                        .cce_phase = c->config->discovered_phase,
                        .state = cluster_state_name(c, now),
                        .not_before = have ? c->file.certificate.not_before : 0,
                        .not_after = have ? c->file.certificate.not_after : 0,
                        .next_attempt = c->due == INT64_MAX ? 0 : c->due,
                        .last_success = c->state.last_success,
                        .renewals_total = c->renewals_total,
                        .consecutive_failures = c->state.failures,
                        .revocation = c->config->revoke_previous || c->state.last_revocation > 0 ||
                                c->state.revoke_error || c->revocations_total > 0 || c->revocation_failures_total > 0,
                        .last_revocation = c->state.last_revocation,
                        .revocations_total = c->revocations_total,
                        .revocation_failures_total = c->revocation_failures_total,
                        .previous_not_revoked = c->state.revoke_error != NULL,
                };
                for (size_t k = 0; k < _API_ERROR_CLASS_MAX; k++)
                        rows[i].failures_total[k] = c->failures_total[k];
                for (size_t k = 0; k < _FILE_CHANGE_MAX; k++)
                        rows[i].file_changes_total[k] = c->file_changes_total[k];
        }
        if (metrics_format(PACKAGE_VERSION, rows, m->n_clusters, &text, &size) < 0)
                return;
        if (atomic_file_write(path, text, size, 0644, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)) < 0 &&
            !m->warned_metrics) {
                m->warned_metrics = true;
                log_warning("Cannot write the metrics file: %s", error);
        }
}

/* For --status: which clusters have requests in flight (see state.h). */
static void write_in_flight(Manager *m) {
        _cleanup_free_ const char **names = calloc(MAX(m->in_flight, 1u), sizeof(char *));
        size_t n = 0;
        char error[512];

        m->in_flight_changed = false;
        /* The daemon's file: a --once beside it leaves it alone. */
        if (m->options.dry_run || m->options.once || !names)
                return;
        for (size_t i = 0; i < m->n_clusters && n < m->in_flight; i++)
                if (m->clusters[i]->phase == PHASE_CALLING)
                        names[n++] = m->clusters[i]->config->name;
        if (state_save_in_flight(m->state_dir, names, n, error, sizeof(error)) < 0) {
                if (!m->warned_in_flight)
                        log_warning("Cannot record the requests in flight for --status: %s", error);
                m->warned_in_flight = true;
        } else
                m->wrote_in_flight = true;
}

void update_status(Manager *m) {
        unsigned ok = 0, failing = 0, parked = 0, renewing = 0, discovered = 0, unavailable = 0, revoked = 0;
        const Cluster *worst = NULL, *next = m->n_heap > 0 ? m->heap[0] : NULL;
        int64_t now = now_realtime(m);
        char text[800], renewing_text[32] = "", discovered_text[80] = "", next_text[160] = "", detail[320] = "";
        char revoked_text[64] = "";
        char a[32], b[32];

        for (size_t i = 0; i < m->n_clusters; i++) {
                const Cluster *c = m->clusters[i];
                discovered += c->config->discovered;
                revoked += cluster_state_revoked_unwritten(&c->state);
                if (c->phase == PHASE_CALLING)
                        renewing++;
                else if (c->unavailable)
                        unavailable++;  /* not parked: waiting for CCE */
                else if (c->due == INT64_MAX)
                        parked++;
                else if (cluster_failing(c))
                        failing++;
                else if (c->file.state == KUBECONFIG_OK)
                        ok++;
                /* The most urgent problem: the failing cluster whose certificate ends first. */
                if ((cluster_failing(c) || c->due == INT64_MAX) && !c->unavailable && c->state.last_error &&
                    (!worst || c->file.certificate.not_after < worst->file.certificate.not_after))
                        worst = c;
        }
        if (renewing)
                snprintf(renewing_text, sizeof(renewing_text), ", %u renewing", renewing);
        if (revoked)  /* critical: those files hold certificates that no longer work */
                snprintf(revoked_text, sizeof(revoked_text), ", %u REVOKED and not yet renewed", revoked);
        if (m->n_sources > 0)
                snprintf(discovered_text, sizeof(discovered_text), "; %u discovered by %zu entr%s, %u not Available in CCE",
                         discovered, m->n_sources, m->n_sources == 1 ? "y" : "ies", unavailable);
        if (next)
                snprintf(next_text, sizeof(next_text), "; next %s in %s", next->config->name, relative_time(next->due - now, a));
        if (worst) {
                char expiry[64] = "";
                const CertDates *cert = &worst->file.certificate;
                if (worst->file.state == KUBECONFIG_OK) {
                        static const char *const words[] = { "", "expires in ", "EXPIRES in " };
                        unsigned level = expiry_level(cert, now);
                        if (level == 3)
                                snprintf(expiry, sizeof(expiry), "EXPIRED, ");
                        else if (level > 0)
                                snprintf(expiry, sizeof(expiry), "%s%s, ", words[level], relative_time(cert->not_after - now, (char[32]) {}));
                }
                snprintf(detail, sizeof(detail), "; %s: %s%s error%s%s", worst->config->name, expiry,
                         api_error_class_to_string(worst->state.last_error_class),
                         worst->due == INT64_MAX ? ", parked" : ", retry in ",
                         worst->due == INT64_MAX ? "" : relative_time(worst->due - now, b));
        }
        snprintf(text, sizeof(text), "%zu clusters: %u ok, %u failing, %u parked%s%s%s%s%s",
                 m->n_clusters, ok, failing, parked, renewing_text, revoked_text, discovered_text, next_text, detail);
        if (!m->options.once) {
                sd_notifyf(false, "STATUS=%s", text);
                write_metrics(m, now);
        }
        if (m->in_flight_changed)
                write_in_flight(m);
        m->status_dirty = false;
        m->status_updated = now_usec(CLOCK_MONOTONIC);
}

int on_metrics_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        write_metrics(m, now_realtime(m));
        return 0;
}

int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (m->status_dirty)
                update_status(m);
        return 0;
}

/* Status updates at most once a second: thousands of clusters renewing at
 * once do not mean thousands of scans. A change after a quiet second is
 * published at once (from the loop, after what else is going on now). */
void status_changed(Manager *m) {
        int enabled = SD_EVENT_OFF;

        m->status_dirty = true;
        if (!m->status_timer || sd_event_source_get_enabled(m->status_timer, &enabled) < 0 || enabled != SD_EVENT_OFF)
                return;
        if (sd_event_source_set_time(m->status_timer, m->status_updated + STATUS_INTERVAL_USEC) >= 0)
                (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
}

/* --once: the metrics file, when one is configured and no daemon runs with
 * this state directory (its in-flight.json names a live pid), which keeps
 * it current itself. */
void once_write_metrics(Manager *m) {
        char **names = NULL;
        size_t n;

        if (m->options.dry_run || state_load_in_flight(m->state_dir, &names, &n) >= 0) {
                state_in_flight_free(names);
                return;
        }
        write_metrics(m, now_realtime(m));
}
