/* SPDX-License-Identifier: MIT */
#pragma once

/* What the daemon remembers about each cluster across restarts, so that a
 * restart neither asks for certificates it already has nor forgets a
 * backoff: one JSON file per cluster, STATE_DIRECTORY/clusters/NAME.json,
 * replaced atomically. No secret is ever stored. */

#include <stdbool.h>
#include <stdint.h>

#include "api-error.h"

typedef struct ClusterState {
        char cluster_id[64];
        uint64_t fingerprint;           /* cluster_config_fingerprint() when written */
        int64_t last_attempt;           /* seconds since the epoch; 0 = never */
        int64_t last_success;
        unsigned failures;              /* consecutive */
        int64_t next_attempt;           /* 0 = by the certificate; INT64_MAX = parked */
        ApiErrorClass last_error_class; /* none after a success */
        long last_http_status;
        char last_error_code[64];
        char last_error[256];
        int64_t not_before, not_after;  /* of the certificate last written */
        char last_hook_error[256];      /* the last hook that failed, "" after one that worked */
        bool in_flight;                 /* a request had started and not ended when this was written */
        char kubeconfig_identity[96];   /* of the file as last written, kubeconfig_identity(); "" unknown */
} ClusterState;

/* Creates the directory (0700) and its clusters/ subdirectory if needed
 * and checks that it is writable. */
int state_directory_prepare(const char *dir, char *error, size_t error_size);

/* -ENOENT when there is no state for the cluster; -EBADMSG when the file
 * does not parse (the caller starts afresh). */
int state_load(const char *dir, const char *name, ClusterState *ret);
int state_save(const char *dir, const char *name, const ClusterState *s, char *error, size_t error_size);
/* Removes what a killed daemon left while writing state files. */
int state_remove_leftovers(const char *dir);

int state_remove(const char *dir, const char *name);
