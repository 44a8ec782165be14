/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "metrics.h"
#include "tests.h"

#define PROD "name=\"prod\",cluster_id=\"4a6f1b2c\",project_id=\"0a1b2c3d\""
#define WEIRD "name=\"we\\\"ird\\\\na\\nme\",cluster_id=\"7c2d\",project_id=\"0a1b2c3d\""

TEST(format) {
        MetricsCluster c[2] = {
                { .name = "prod", .cluster_id = "4a6f1b2c", .project_id = "0a1b2c3d", .credential = "ops",
                  .state = "ok", .not_before = 100, .not_after = 200, .next_attempt = 166,
                  .last_success = 101, .renewals_total = 3 },
                { .name = "we\"ird\\na\nme", .cluster_id = "7c2d", .project_id = "0a1b2c3d", .credential = "o\"ps",
                  .paused = true, .state = "parked", .consecutive_failures = 2,
                  .discovered_by = 2, .cce_phase = "Hibernation" },
        };
        c[1].failures_total[API_ERROR_NOT_FOUND] = 2;
        c[0].file_changes_total[FILE_CHANGE_MISSING] = 4;
        _cleanup_free_ char *text = NULL;
        size_t size;

        ASSERT_EQ(metrics_format("1.2.3", c, 2, &text, &size), 0);
        ASSERT_EQ(strlen(text), size);
        ASSERT(strstr(text, "# TYPE cce_certd_build_info gauge\ncce_certd_build_info{version=\"1.2.3\"} 1\n"));
        /* Unix times end in _timestamp_seconds, as Prometheus' conventions say. */
        ASSERT(strstr(text, "# TYPE cce_certd_certificate_not_after_timestamp_seconds gauge\n"));
        ASSERT(strstr(text, "cce_certd_certificate_not_after_timestamp_seconds{" PROD "} 200\n"));
        ASSERT(strstr(text, "cce_certd_certificate_not_before_timestamp_seconds{" PROD "} 100\n"));
        ASSERT(strstr(text, "cce_certd_next_renewal_timestamp_seconds{" PROD "} 166\n"));
        ASSERT(strstr(text, "cce_certd_last_success_timestamp_seconds{" PROD "} 101\n"));
        ASSERT(strstr(text, "# TYPE cce_certd_renewals_total counter\n"));
        ASSERT(strstr(text, "cce_certd_renewals_total{" PROD "} 3\n"));
        ASSERT(strstr(text, "cce_certd_cluster_state{" PROD ",state=\"ok\"} 1\n"));
        ASSERT(strstr(text, "cce_certd_cluster_state{" PROD ",state=\"parked\"} 0\n"));
        /* No label is called "cluster": that one is the scrape target's. */
        ASSERT(!strstr(text, "{cluster=") && !strstr(text, ",cluster="));
        /* Label values are escaped. */
        ASSERT(strstr(text, "cce_certd_failures_total{" WEIRD ",class=\"not-found\"} 2\n"));
        ASSERT(strstr(text, "cce_certd_consecutive_failures{" WEIRD "} 2\n"));
        ASSERT(strstr(text, "# TYPE cce_certd_kubeconfig_changes_total counter\n"));
        ASSERT(strstr(text, "cce_certd_kubeconfig_changes_total{" PROD ",change=\"missing\"} 4\n"));
        ASSERT(strstr(text, "cce_certd_kubeconfig_changes_total{" PROD ",change=\"unwritable\"} 0\n"));
        ASSERT(strstr(text, "cce_certd_credential_paused{" PROD ",credential=\"ops\"} 0\n"));
        ASSERT(strstr(text, "cce_certd_credential_paused{" WEIRD ",credential=\"o\\\"ps\"} 1\n"));
        ASSERT_STREQ(file_change_to_string(FILE_CHANGE_ADOPTED), "adopted");
        /* Where a cluster came from: an info series for the discovered ones only. */
        ASSERT(strstr(text, "# TYPE cce_certd_discovered_cluster_info gauge\n"));
        ASSERT(strstr(text, "cce_certd_discovered_cluster_info{" WEIRD ",entry=\"2\",cce_phase=\"Hibernation\"} 1\n"));
        ASSERT(!strstr(text, "cce_certd_discovered_cluster_info{" PROD));
        /* No certificate: no date series rather than a misleading 0. */
        ASSERT(!strstr(text, "cce_certd_certificate_not_after_timestamp_seconds{name=\"we"));
        /* None of the old names is left. */
        ASSERT(!strstr(text, "_not_after_seconds") && !strstr(text, "_renewal_seconds") &&
               !strstr(text, "_success_seconds"));
        ASSERT(text[size - 1] == '\n');
}

RUN_TESTS(T(format))
