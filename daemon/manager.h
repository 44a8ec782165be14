/* SPDX-License-Identifier: MIT */
#pragma once

/* The root object: owns the event loop, the configuration, the clusters and
 * every child. Runs renewals when they are due (one wall-clock timer for the
 * earliest deadline), reports to systemd (READY, STATUS, watchdog, RELOADING,
 * STOPPING) and to the journal, reloads on SIGHUP and stops on SIGTERM. The
 * one-shot mode (--once) renews what is due, or the named clusters, and
 * returns. */

#include <stdbool.h>

#include "cce.h"
#include "config.h"

#define EXIT_ONCE_FAILED 1
/* --revoke: every selected cluster got a new certificate, but for one at
 * least the revocation failed (EXIT_ONCE_FAILED when a new certificate was
 * not written). */
#define REVOKE_EXIT_NOT_REVOKED 3

typedef struct Manager Manager;

typedef struct ManagerOptions {
        const char *config_path;
        bool once;                      /* one pass, then exit */
        bool force;                     /* --once: renew even what is not due */
        char **only;                    /* --once: these clusters (NULL-terminated), or NULL for all */
        bool dry_run;                   /* --once: fetch and check, print what would change, write nothing */
        bool revoke;                    /* --revoke: each selected cluster revokes, then renews (with force) */
        CceIdentity revoke_identity;    /* --revoke: --user-id or --agency-id, id "" when not given */
} ManagerOptions;

/* Takes ownership of config. */
int manager_new(const ManagerOptions *options, Config *config, Manager **ret);
Manager *manager_free(Manager *m);

/* Blocks the signals the event loop handles (SIGTERM, SIGINT, SIGHUP,
 * SIGCHLD) and ignores SIGPIPE. Called first thing by the daemon, so that a
 * signal that comes while the configuration loads waits for the loop
 * instead of killing it; again by manager_new(). */
void manager_block_signals(void);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Runs until SIGTERM/SIGINT (daemon) or until the pass is done (--once).
 * Returns the process exit status. */
int manager_run(Manager *m);

/* Where state is kept: $STATE_DIRECTORY (its first entry), or the
 * configuration's state-directory, or the built-in default. */
const char *manager_state_directory(const Config *c);
