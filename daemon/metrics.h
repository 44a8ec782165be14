/* SPDX-License-Identifier: MIT */
#pragma once

/* Prometheus metrics in the text exposition format (version 0.0.4), for
 * node_exporter's textfile collector: pure formatting of one snapshot. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api-error.h"

/* The states a cluster's state gauge can be in. */
#define METRICS_STATES "ok", "pending", "renewing", "failing", "parked", "expired", "unavailable", "revoked"

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

/* Every series of a cluster carries the labels name (the configuration's
 * name for it), cluster_id and project_id; none is called "cluster", which
 * most Prometheus setups already use for the target. */
typedef struct MetricsCluster {
        const char *name, *cluster_id, *project_id;
        const char *credential;                 /* the credential entry's name */
        bool paused;                            /* its credential's identity was refused: no call for now */
        unsigned discovered_by;                 /* the discover entry that found it, from 1; 0: configured */
        const char *cce_phase;                  /* CCE's phase of a discovered cluster */
        const char *state;                      /* one of METRICS_STATES */
        int64_t not_before, not_after;          /* 0: no certificate */
        int64_t next_attempt;                   /* 0: none (parked) */
        int64_t last_success;                   /* 0: never */
        uint64_t renewals_total;                /* since the daemon started */
        uint64_t failures_total[_API_ERROR_CLASS_MAX];
        uint64_t file_changes_total[_FILE_CHANGE_MAX];
        unsigned consecutive_failures;
        /* Revocation: its series only for a cluster with revoke-previous
         * or a revocation since the state began. */
        bool revocation;
        int64_t last_revocation;                /* 0: never */
        uint32_t revocations_total, revocation_failures_total;  /* since the daemon started */
        bool previous_not_revoked;              /* the last revocation failed */
} MetricsCluster;

/* How often the file is written even when nothing changed, so that its age
 * (node_textfile_mtime_seconds) tells a live daemon from a dead one. */
#define METRICS_REFRESH_SEC 300

/* The whole file, NUL-terminated: cce_certd_build_info{version} and the
 * clusters' series. */
int metrics_format(const char *version, const MetricsCluster *clusters, size_t n, char **ret, size_t *ret_size);
