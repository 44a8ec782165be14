/* SPDX-License-Identifier: MIT */
#pragma once

/* What the daemon remembers about each cluster across restarts, so that a
 * restart neither asks for certificates it already has nor forgets a
 * backoff: one JSON file per cluster, STATE_DIRECTORY/clusters/NAME.json,
 * replaced atomically. No secret is ever stored. */

#include <stdbool.h>
#include <stdint.h>

#include "api-error.h"
#include "file-identity.h"
#include "json.h"

typedef struct ClusterState {
        uint64_t fingerprint;           /* cluster_config_fingerprint() when written */
        int64_t last_attempt;           /* seconds since the epoch; 0 = never */
        int64_t last_success;
        int64_t next_attempt;           /* 0 = by the certificate; INT64_MAX = parked */
        long last_http_status;
        char *last_error_code;          /* CCE's or IAM's error code of the last failure, or NULL */
        char *last_error;               /* NULL or not empty (allocated: most clusters have none) */
        int64_t not_before, not_after;  /* of the certificate last written */
        char *last_hook_error;          /* the last hook that failed, NULL after one that worked */
        FileIdentity kubeconfig_identity; /* of the file as last written; unknown: none known */
        int64_t paused_until;           /* its credentials' identity was refused: no call before then (0 none) */
        /* Revocation (revoke-previous, --revoke): a revocation began at
         * revoke_started and no certificate was written since, so the file
         * may hold a revoked one: a new one is asked for at once, and never
         * a second revocation first (0 none). Saved durably. */
        int64_t revoke_started;
        int64_t last_revocation;        /* when a revocation last succeeded (0 never) */
        char *revoked_identity;         /* whose certificates it revoked: "user ID" or "agency ID", or NULL */
        char *revoke_error;             /* why the last revocation failed (the previous certificate still works), or NULL */
        int64_t expire_at_refused;      /* when its endpoint answered 400 to expire_at: asked in days since (0 never) */
        uint64_t kubeconfig_digest;     /* own file: KubeconfigWrite.written_plain_hash of the last write, 0 none */
        unsigned failures;              /* consecutive */
        ApiErrorClass last_error_class; /* none after a success */
        char cluster_id[64];
} ClusterState;

/* The file holds a certificate that may be revoked, and no new one yet. */
static inline bool cluster_state_revoked_unwritten(const ClusterState *s) {
        return s->revoke_started > 0 && !s->revoke_error;
}

/* Frees the texts and empties the state. */
void cluster_state_done(ClusterState *s);
/* Replaces *field with a copy of text, NULL when text is empty or NULL (or
 * when out of memory: a message is lost, nothing else). */
void state_set_text(char **field, const char *text);

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

/* Which version of a cluster's state file is there: every write makes a new
 * one, so the daemon tells its own writes from those of a --once beside it. */
typedef struct StateVersion {
        uint64_t inode;
        int64_t mtime_nsec;
} StateVersion;
int state_version(const char *dir, const char *name, StateVersion *ret);
static inline bool state_version_equal(const StateVersion *a, const StateVersion *b) {
        return a->inode == b->inode && a->mtime_nsec == b->mtime_nsec;
}

/* The clusters whose requests are in flight, for --status "renewing":
 * STATE_DIRECTORY/in-flight.json, {"pid": PID, "clusters": [NAME, ...]},
 * rewritten by the daemon within a second of a change (not with each
 * cluster's state: one file for all, and one write per second at most) and
 * removed when it stops. */
int state_save_in_flight(const char *dir, const char *const *names, size_t n, char *error, size_t error_size);
/* A NULL-terminated list of names; -ENOENT when there is no file or the
 * daemon that wrote it is gone. */
int state_load_in_flight(const char *dir, char ***ret, size_t *ret_n);
char **state_in_flight_free(char **names);
int state_remove_in_flight(const char *dir);

/* What discover entries found (discovery.c), so that a restart has it
 * before any listing: STATE_DIRECTORY/discovered.json, one JSON object
 * written by discovery.c after a listing changed it. */
#define STATE_DISCOVERED_MAX (32 * 1024 * 1024)
int state_save_discovered(const char *dir, const char *json, size_t size, char *error, size_t error_size);
/* -ENOENT when there is none, -EBADMSG when it does not parse. */
int state_load_discovered(const char *dir, JsonNode **ret);
