/* SPDX-License-Identifier: MIT */
#include "macro.h"
#include "metrics.h"
#include "tests.h"

TEST(format) {
        MetricsCluster c[2] = {
                { .name = "prod", .state = "ok", .not_before = 100, .not_after = 200, .next_attempt = 166,
                  .last_success = 101, .renewals_total = 3 },
                { .name = "we\"ird\\na\nme", .state = "parked", .consecutive_failures = 2 },
        };
        c[1].failures_total[API_ERROR_NOT_FOUND] = 2;
        c[0].file_changes_total[FILE_CHANGE_MISSING] = 4;
        _cleanup_free_ char *text = NULL;
        size_t size;

        ASSERT_EQ(metrics_format(c, 2, &text, &size), 0);
        ASSERT_EQ(strlen(text), size);
        ASSERT(strstr(text, "# TYPE cce_certd_certificate_not_after_seconds gauge\n"));
        ASSERT(strstr(text, "cce_certd_certificate_not_after_seconds{cluster=\"prod\"} 200\n"));
        ASSERT(strstr(text, "cce_certd_next_renewal_seconds{cluster=\"prod\"} 166\n"));
        ASSERT(strstr(text, "# TYPE cce_certd_renewals_total counter\n"));
        ASSERT(strstr(text, "cce_certd_renewals_total{cluster=\"prod\"} 3\n"));
        ASSERT(strstr(text, "cce_certd_cluster_state{cluster=\"prod\",state=\"ok\"} 1\n"));
        ASSERT(strstr(text, "cce_certd_cluster_state{cluster=\"prod\",state=\"parked\"} 0\n"));
        /* Label values are escaped. */
        ASSERT(strstr(text, "cce_certd_failures_total{cluster=\"we\\\"ird\\\\na\\nme\",class=\"not-found\"} 2\n"));
        ASSERT(strstr(text, "cce_certd_consecutive_failures{cluster=\"we\\\"ird\\\\na\\nme\"} 2\n"));
        ASSERT(strstr(text, "# TYPE cce_certd_kubeconfig_changes_total counter\n"));
        ASSERT(strstr(text, "cce_certd_kubeconfig_changes_total{cluster=\"prod\",change=\"missing\"} 4\n"));
        ASSERT(strstr(text, "cce_certd_kubeconfig_changes_total{cluster=\"prod\",change=\"unwritable\"} 0\n"));
        ASSERT_STREQ(file_change_to_string(FILE_CHANGE_ADOPTED), "adopted");
        /* No certificate: no date series rather than a misleading 0. */
        ASSERT(!strstr(text, "cce_certd_certificate_not_after_seconds{cluster=\"we"));
        ASSERT(text[size - 1] == '\n');
}

RUN_TESTS(T(format))
