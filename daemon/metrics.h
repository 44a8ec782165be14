/* SPDX-License-Identifier: MIT */
#pragma once

/* Prometheus metrics in the text exposition format (version 0.0.4), for
 * node_exporter's textfile collector: pure formatting of one snapshot. */

#include <stddef.h>
#include <stdint.h>

#include "api-error.h"

/* The states a cluster's state gauge can be in. */
#define METRICS_STATES "ok", "pending", "renewing", "failing", "parked", "expired"

/* What someone else did to a cluster's kubeconfig, as the daemon saw it
 * (file-watch.h): the file or the entries gone (restored), damaged
 * (restored), a certificate of the cluster put there (adopted), or the path
 * made unable to hold the file (reported). */
typedef enum FileChange {
        FILE_CHANGE_MISSING,
        FILE_CHANGE_DAMAGED,
        FILE_CHANGE_ADOPTED,
        FILE_CHANGE_UNWRITABLE,
        _FILE_CHANGE_MAX,
} FileChange;

const char *file_change_to_string(FileChange c);

typedef struct MetricsCluster {
        const char *name;
        const char *state;                      /* one of METRICS_STATES */
        int64_t not_before, not_after;          /* 0: no certificate */
        int64_t next_attempt;                   /* 0: none (parked) */
        int64_t last_success;                   /* 0: never */
        uint64_t renewals_total;                /* since the daemon started */
        uint64_t failures_total[_API_ERROR_CLASS_MAX];
        uint64_t file_changes_total[_FILE_CHANGE_MAX];
        unsigned consecutive_failures;
} MetricsCluster;

/* The whole file, NUL-terminated. */
int metrics_format(const MetricsCluster *clusters, size_t n, char **ret, size_t *ret_size);
