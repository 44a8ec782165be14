/* SPDX-License-Identifier: MIT */
/* cce-certd --status: the clusters as their files and state say, as a
 * table or JSON. Reads only: no network, no write. */

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>

#include "atomic-file.h"
#include "json.h"
#include "kubeconfig.h"
#include "macro.h"
#include "parse-value.h"
#include "schedule.h"
#include "state.h"
#include "status.h"

typedef enum ClusterHealth {
        HEALTH_OK,
        HEALTH_PENDING,         /* no usable certificate yet, nothing failed */
        HEALTH_RENEWING,        /* the running daemon has a request in flight */
        HEALTH_FAILING,
        HEALTH_PARKED,
        HEALTH_EXPIRED,
        HEALTH_UNAVAILABLE,     /* discovered, and CCE does not call it Available: not renewed */
        HEALTH_REVOKED,         /* its certificate was revoked and no new one is written yet */
        _HEALTH_MAX,
} ClusterHealth;

static const char *const health_names[_HEALTH_MAX] = {
        [HEALTH_OK] = "ok",
        [HEALTH_PENDING] = "pending",
        [HEALTH_RENEWING] = "renewing",
        [HEALTH_FAILING] = "failing",
        [HEALTH_PARKED] = "parked",
        [HEALTH_EXPIRED] = "expired",
        [HEALTH_UNAVAILABLE] = "unavailable",
        [HEALTH_REVOKED] = "revoked",
};

typedef struct Row {
        const ClusterConfig *config;
        KubeconfigStatus file;
        ClusterState state;
        bool have_state;
        ClusterHealth health;
        bool expiring;          /* under 10% of its lifetime left */
        bool expired;
        int64_t next;
        bool paused;            /* next is a pause of its credentials (another entry's failure with the same key) */
        bool revoked;           /* cluster_state_revoked_unwritten() */
        int lock;               /* file_lock_describe() */
        char lock_text[480];
} Row;


static bool listed(char **names, const char *name) {
        for (char **p = names; p && *p; p++)
                if (strcmp(*p, name) == 0)
                        return true;
        return false;
}

static void evaluate(Row *r, const char *state_dir, char **in_flight, KubeconfigReading **reading, int64_t now) {
        const ClusterConfig *cl = r->config;
        const CertInfo *cert = &r->file.certificate;

        kubeconfig_inspect_shared(cl, reading, &r->file);
        r->lock = file_lock_describe(cl->kubeconfig, r->lock_text, sizeof(r->lock_text));
        r->have_state = state_load(state_dir, cl->name, &r->state) >= 0 &&
                strcmp(r->state.cluster_id, cl->cluster_id) == 0 &&
                r->state.fingerprint == cluster_config_fingerprint(cl);
        if (!r->have_state)
                cluster_state_done(&r->state);

        bool have_cert = r->file.state == KUBECONFIG_OK;
        r->revoked = cluster_state_revoked_unwritten(&r->state);
        r->next = sched_next_attempt(now, have_cert && !r->revoked, cert->not_before, cert->not_after, r->state.last_success,
                                     r->state.failures, r->state.next_attempt,
                                     cl->renew_at_percent, cl->renew_before_sec, cl->cluster_id);
        /* Its credentials' identity was refused: the daemon waits that long (see manager.c). */
        r->paused = r->next != INT64_MAX && r->state.paused_until > MAX(now, r->next);
        if (r->paused)
                r->next = r->state.paused_until;
        int64_t lifetime = cert->not_after - cert->not_before;
        r->expiring = have_cert && cert->not_after > now && cert->not_after - now < lifetime / 10;

        r->expired = have_cert && cert->not_after <= now;
        if (r->revoked)
                r->health = HEALTH_REVOKED;
        else if (listed(in_flight, cl->name))
                r->health = HEALTH_RENEWING;
        else if (r->expired)
                r->health = HEALTH_EXPIRED;
        else if (cl->discovered && strcmp(cl->discovered_phase, "Available") != 0)
                r->health = HEALTH_UNAVAILABLE;
        else if (r->state.next_attempt == INT64_MAX)
                r->health = HEALTH_PARKED;
        else if (r->state.failures > 0 || r->lock == 2)
                r->health = HEALTH_FAILING;  /* a lock that blocks kubectl too */
        else if (!have_cert)
                r->health = HEALTH_PENDING;
        else
                r->health = HEALTH_OK;
}

static void print_table(const Row *rows, size_t n, int64_t now, FILE *out) {
        fprintf(out, "%-20s %-11s %-21s %-8s %-21s %-8s %s\n",
                "CLUSTER", "STATE", "NOT AFTER", "LEFT", "NEXT", "FAILURES", "LAST ERROR");
        for (size_t i = 0; i < n; i++) {
                const Row *r = &rows[i];
                char na[32], next[32], left[32] = "-", err[400] = "-";
                bool have_cert = r->file.state == KUBECONFIG_OK;

                if (have_cert && r->file.certificate.not_after > now)
                        format_duration((uint64_t) (r->file.certificate.not_after - now), left);
                if (r->revoked)
                        snprintf(err, sizeof(err), "revoked (%s), new certificate not written yet",
                                 r->state.revoked_identity ?: "?");
                else if (r->state.last_error)
                        snprintf(err, sizeof(err), "%s%s%s%s%s", api_error_class_to_string(r->state.last_error_class),
                                 r->state.last_error_code ? " " : "", r->state.last_error_code ?: "", ": ", r->state.last_error);
                else if (r->lock == 2)
                        snprintf(err, sizeof(err), "%s", r->lock_text);
                else if (r->paused)
                        snprintf(err, sizeof(err), "paused: its access key (or token) was refused for another cluster");
                else if (!have_cert)
                        snprintf(err, sizeof(err), "%s", r->file.reason);
                else if (r->state.last_hook_error)
                        snprintf(err, sizeof(err), "hook: %s", r->state.last_hook_error);
                else if (r->state.revoke_error)
                        snprintf(err, sizeof(err), "previous certificate not revoked: %s", r->state.revoke_error);
                fprintf(out, "%-20s %-11s %-21s %-8s %-21s %-8u %s\n", r->config->name, health_names[r->health],
                        have_cert ? format_iso8601_utc(r->file.certificate.not_after, na) : "-", left,
                        r->next == INT64_MAX ? "parked" : format_iso8601_utc(r->next, next), r->state.failures, err);
        }
}

static void gen_time(yajl_gen g, const char *k, int64_t t) {
        char buf[32];
        json_gen_string(g, k, t > 0 && t != INT64_MAX ? format_iso8601_utc(t, buf) : NULL);
}

static int print_json(const Row *rows, size_t n, int64_t now, int exit_status, FILE *out) {
        const unsigned char *buf;
        size_t len;
        yajl_gen g = yajl_gen_alloc(NULL);

        if (!g)
                return -ENOMEM;
        yajl_gen_config(g, yajl_gen_beautify, 1);
        yajl_gen_map_open(g);
        gen_time(g, "now", now);
        json_gen_int(g, "exit-status", exit_status);
        json_gen_key(g, "clusters");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < n; i++) {
                const Row *r = &rows[i];
                bool have_cert = r->file.state == KUBECONFIG_OK;
                yajl_gen_map_open(g);
                json_gen_string(g, "name", r->config->name);
                json_gen_string(g, "cluster-id", r->config->cluster_id);
                json_gen_string(g, "kubeconfig", r->config->kubeconfig);
                json_gen_key(g, "discovered-by");  /* the discover entry, 1-based; null: configured */
                if (r->config->discovered)
                        yajl_gen_integer(g, (long long) r->config->discovered_by + 1);
                else
                        yajl_gen_null(g);
                json_gen_string(g, "cce-phase", r->config->discovered ? r->config->discovered_phase : NULL);
                json_gen_string(g, "state", health_names[r->health]);
                json_gen_string(g, "file", kubeconfig_state_to_string(r->file.state));
                json_gen_string(g, "file-reason", have_cert ? NULL : r->file.reason);
                gen_time(g, "not-before", have_cert ? r->file.certificate.not_before : 0);
                gen_time(g, "not-after", have_cert ? r->file.certificate.not_after : 0);
                json_gen_int(g, "seconds-left", have_cert ? MAX(r->file.certificate.not_after - now, (int64_t) 0) : 0);
                json_gen_bool(g, "expiring", r->expiring);
                gen_time(g, "next-attempt", r->next);
                json_gen_bool(g, "parked", r->next == INT64_MAX);
                gen_time(g, "paused-until", r->paused ? r->state.paused_until : 0);
                json_gen_int(g, "failures", r->state.failures);
                gen_time(g, "last-success", r->state.last_success);
                json_gen_key(g, "last-error");
                if (r->state.last_error) {
                        yajl_gen_map_open(g);
                        json_gen_string(g, "class", api_error_class_to_string(r->state.last_error_class));
                        json_gen_int(g, "http-status", r->state.last_http_status);
                        json_gen_string(g, "code", r->state.last_error_code);
                        json_gen_string(g, "message", r->state.last_error);
                        yajl_gen_map_close(g);
                } else
                        yajl_gen_null(g);
                json_gen_string(g, "last-hook-error", r->state.last_hook_error);
                json_gen_key(g, "revocation");
                yajl_gen_map_open(g);
                json_gen_bool(g, "revoke-previous", r->config->revoke_previous);
                json_gen_bool(g, "revoked-not-renewed", r->revoked);
                gen_time(g, "last-revocation", r->state.last_revocation);
                json_gen_string(g, "identity", r->state.revoked_identity);
                json_gen_string(g, "previous-not-revoked", r->state.revoke_error);
                yajl_gen_map_close(g);
                json_gen_string(g, "lock", r->lock > 0 ? r->lock_text : NULL);
                json_gen_bool(g, "lock-blocks-kubectl", r->lock == 2);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
        if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
                fwrite(buf, 1, len, out);
        yajl_gen_free(g);
        return 0;
}

int status_print(const Config *config, const char *state_dir, char **names, bool json, int64_t now, FILE *out) {
        _cleanup_free_ Row *rows = calloc(MAX(config->n_clusters, 1u), sizeof(Row));
        _cleanup_(kubeconfig_reading_freep) KubeconfigReading *reading = NULL;  /* a file merged into by neighbours */
        char **in_flight = NULL;
        size_t n = 0, n_in_flight;
        int exit_status = STATUS_EXIT_OK;

        if (!rows)
                return -ENOMEM;
        if (state_load_in_flight(state_dir, &in_flight, &n_in_flight) == -ENOMEM)
                return -ENOMEM;
        for (char **name = names; name && *name; name++)
                if (!config_find_cluster(config, *name)) {
                        fprintf(stderr, "No cluster named %s in %s.\n", *name, config->path);
                        state_in_flight_free(in_flight);
                        return -ENOENT;
                }
        for (size_t i = 0; i < config->n_clusters; i++) {
                const ClusterConfig *cl = &config->clusters[i];
                bool selected = !names || !*names;
                for (char **name = names; name && *name && !selected; name++)
                        selected = strcmp(*name, cl->name) == 0;
                if (!selected)
                        continue;
                rows[n].config = cl;
                evaluate(&rows[n], state_dir, in_flight, &reading, now);
                if (rows[n].expired || rows[n].expiring || rows[n].revoked)
                        exit_status = STATUS_EXIT_EXPIRING;
                else if (rows[n].health != HEALTH_OK && rows[n].health != HEALTH_UNAVAILABLE &&
                         exit_status == STATUS_EXIT_OK &&
                         !(rows[n].health == HEALTH_RENEWING && rows[n].file.state == KUBECONFIG_OK))
                        exit_status = STATUS_EXIT_FAILING;
                n++;
        }
        state_in_flight_free(in_flight);
        if (json)
                print_json(rows, n, now, exit_status, out);
        else
                print_table(rows, n, now, out);
        for (size_t i = 0; i < n; i++)
                cluster_state_done(&rows[i].state);
        return exit_status;
}
