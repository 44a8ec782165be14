/* SPDX-License-Identifier: MIT */
/* Formatting the metrics file in Prometheus' text format from one
 * snapshot. Pure: no I/O. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "metrics.h"

static const char *const states[] = { METRICS_STATES };

static const char *const file_changes[_FILE_CHANGE_MAX] = {
        [FILE_CHANGE_MISSING] = "missing",
        [FILE_CHANGE_DAMAGED] = "damaged",
        [FILE_CHANGE_ADOPTED] = "adopted",
        [FILE_CHANGE_UNWRITABLE] = "unwritable",
};

const char *file_change_to_string(FileChange c) {
        return c >= 0 && c < _FILE_CHANGE_MAX ? file_changes[c] : "unknown";
}

/* Label values: backslash, double quote and line feed escaped. */
static void put_label(FILE *f, const char *v) {
        for (; *v; v++) {
                if (*v == '\\' || *v == '"')
                        fputc('\\', f);
                if (*v == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*v, f);
        }
}

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void cluster_labels(FILE *f, const char *name, const MetricsCluster *c) {
        fprintf(f, "%s{name=\"", name);
        put_label(f, c->name);
        fputs("\",cluster_id=\"", f);
        put_label(f, c->cluster_id);
        fputs("\",project_id=\"", f);
        put_label(f, c->project_id);
        fputc('"', f);
}

static void gauge(FILE *f, const char *name, const MetricsCluster *c, int64_t value) {
        cluster_labels(f, name, c);
        fprintf(f, "} %" PRId64 "\n", value);
}

/* A series with one more label: name{name="...",...,label="value"} n. */
static void labelled(FILE *f, const char *name, const MetricsCluster *c, const char *label, const char *value,
                     uint64_t n) {
        cluster_labels(f, name, c);
        fprintf(f, ",%s=\"", label);
        put_label(f, value);
        fprintf(f, "\"} %" PRIu64 "\n", n);
}

int metrics_format(const char *version, const MetricsCluster *clusters, size_t n, char **ret, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;

        header(f, "cce_certd_build_info", "gauge", "Always 1; the version of cce-certd that writes this file.");
        fputs("cce_certd_build_info{version=\"", f);
        put_label(f, version);
        fputs("\"} 1\n", f);

        static const struct {
                const char *name, *help;
                size_t offset;
        } times[] = {
                { "cce_certd_certificate_not_before_timestamp_seconds",
                  "When the certificate in the kubeconfig became valid (Unix time).",
                  offsetof(MetricsCluster, not_before) },
                { "cce_certd_certificate_not_after_timestamp_seconds",
                  "When the certificate in the kubeconfig expires (Unix time).",
                  offsetof(MetricsCluster, not_after) },
                { "cce_certd_next_renewal_timestamp_seconds",
                  "When the next renewal or retry is planned (Unix time).",
                  offsetof(MetricsCluster, next_attempt) },
                { "cce_certd_last_success_timestamp_seconds",
                  "When the certificate was last renewed (Unix time).",
                  offsetof(MetricsCluster, last_success) },
        };
        for (size_t t = 0; t < ELEMENTSOF(times); t++) {
                header(f, times[t].name, "gauge", times[t].help);
                for (size_t i = 0; i < n; i++) {
                        int64_t v = *(const int64_t *) ((const char *) &clusters[i] + times[t].offset);
                        if (v > 0)  /* absent rather than a misleading 0 */
                                gauge(f, times[t].name, &clusters[i], v);
                }
        }

        header(f, "cce_certd_last_revocation_timestamp_seconds", "gauge",
               "When the certificates of the cluster's identity were last revoked (Unix time).");
        for (size_t i = 0; i < n; i++)
                if (clusters[i].revocation && clusters[i].last_revocation > 0)
                        gauge(f, "cce_certd_last_revocation_timestamp_seconds", &clusters[i], clusters[i].last_revocation);
        header(f, "cce_certd_revocations_total", "counter", "Revocations done since the daemon started.");
        for (size_t i = 0; i < n; i++)
                if (clusters[i].revocation)
                        gauge(f, "cce_certd_revocations_total", &clusters[i], clusters[i].revocations_total);
        header(f, "cce_certd_revocation_failures_total", "counter",
               "Revocations that failed since the daemon started (the certificate was renewed anyway).");
        for (size_t i = 0; i < n; i++)
                if (clusters[i].revocation)
                        gauge(f, "cce_certd_revocation_failures_total", &clusters[i], clusters[i].revocation_failures_total);
        header(f, "cce_certd_previous_certificate_not_revoked", "gauge",
               "1 when the last revocation failed: the certificate before the current one still works.");
        for (size_t i = 0; i < n; i++)
                if (clusters[i].revocation)
                        gauge(f, "cce_certd_previous_certificate_not_revoked", &clusters[i], clusters[i].previous_not_revoked);

        header(f, "cce_certd_renewals_total", "counter", "Certificates renewed and written since the daemon started.");
        for (size_t i = 0; i < n; i++)
                gauge(f, "cce_certd_renewals_total", &clusters[i], (int64_t) clusters[i].renewals_total);

        header(f, "cce_certd_failures_total", "counter", "Failed renewals since the daemon started, by error class.");
        for (size_t i = 0; i < n; i++)
                for (int k = API_ERROR_TRANSIENT; k < _API_ERROR_CLASS_MAX; k++)
                        labelled(f, "cce_certd_failures_total", &clusters[i], "class", api_error_class_to_string(k),
                                 clusters[i].failures_total[k]);

        header(f, "cce_certd_kubeconfig_changes_total", "counter",
               "Changes by others to the kubeconfig seen since the daemon started: missing and damaged (restored), "
               "adopted (a certificate of the cluster put there), unwritable (reported).");
        for (size_t i = 0; i < n; i++)
                for (int k = 0; k < _FILE_CHANGE_MAX; k++)
                        labelled(f, "cce_certd_kubeconfig_changes_total", &clusters[i], "change", file_changes[k],
                                 clusters[i].file_changes_total[k]);

        header(f, "cce_certd_consecutive_failures", "gauge", "Failed renewals in a row.");
        for (size_t i = 0; i < n; i++)
                gauge(f, "cce_certd_consecutive_failures", &clusters[i], clusters[i].consecutive_failures);

        header(f, "cce_certd_credential_paused", "gauge",
               "1 while the cluster's credentials are paused because CCE or IAM refused their access key or token.");
        for (size_t i = 0; i < n; i++)
                labelled(f, "cce_certd_credential_paused", &clusters[i], "credential", clusters[i].credential,
                         clusters[i].paused);

        header(f, "cce_certd_discovered_cluster_info", "gauge",
               "1 for each cluster that a discover entry found: the entry (from 1) and CCE's phase.");
        for (size_t i = 0; i < n; i++)
                if (clusters[i].discovered_by > 0) {
                        char entry[16];
                        snprintf(entry, sizeof(entry), "%u", clusters[i].discovered_by);
                        cluster_labels(f, "cce_certd_discovered_cluster_info", &clusters[i]);
                        fputs(",entry=\"", f);
                        put_label(f, entry);
                        fputs("\",cce_phase=\"", f);
                        put_label(f, clusters[i].cce_phase ?: "");
                        fputs("\"} 1\n", f);
                }

        header(f, "cce_certd_cluster_state", "gauge", "1 for the state the cluster is in, 0 for the others.");
        for (size_t i = 0; i < n; i++)
                for (size_t s = 0; s < ELEMENTSOF(states); s++)
                        labelled(f, "cce_certd_cluster_state", &clusters[i], "state", states[s],
                                 strcmp(states[s], clusters[i].state) == 0);

        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_size = size;
        return 0;
}
