/* SPDX-License-Identifier: MIT */
#pragma once

/* The kubeconfig files cce-certd keeps: turning an API answer into this
 * cluster's entries, merging them into an existing file or writing a file of
 * their own, and reading a file back to tell the scheduler what is there.
 *
 * Entries are named after the cluster (context-name, cluster-entry-name,
 * user-entry-name override). The cluster entry carries an extension named
 * "cce-certd" with the cluster id and endpoint choice, so that a file can be
 * told apart from one written for another cluster or another setting:
 *
 *   clusters:
 *   - name: prod
 *     cluster:
 *       server: https://...
 *       certificate-authority-data: ...
 *       extensions:
 *       - name: cce-certd
 *         extension: {cluster-id: ..., endpoint: external}
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cce.h"
#include "cert.h"
#include "config.h"
#include "file-identity.h"

#define KUBECONFIG_FILE_MAX (4 * 1024 * 1024)
#define KUBECONFIG_EXTENSION "cce-certd"

typedef enum KubeconfigState {
        KUBECONFIG_OK,                  /* our entries, matching the configuration */
        KUBECONFIG_MISSING,             /* no file, an empty one, or no entries of ours in it */
        KUBECONFIG_UNREADABLE,          /* cannot be read or parsed */
        KUBECONFIG_NOT_OURS,            /* entries with our names that cce-certd did not write */
        KUBECONFIG_MISMATCH,            /* ours, but for another cluster id, endpoint or entry names */
        KUBECONFIG_BAD_CERTIFICATE,     /* our entries, but the certificate does not parse */
        KUBECONFIG_REFUSED,             /* its path could be turned by another user (safe-path.h) */
        KUBECONFIG_UNWRITABLE,          /* its path holds no file: a directory, a dangling symlink, its directory missing */
        _KUBECONFIG_STATE_MAX,
} KubeconfigState;

/* A file that cannot take this cluster's entries as it is (refused, unwritable,
 * or entries of its names that cce-certd did not write): no certificate is
 * asked for while it stays so. */
static inline bool kubeconfig_state_blocks_writing(KubeconfigState s) {
        return s == KUBECONFIG_REFUSED || s == KUBECONFIG_UNWRITABLE || s == KUBECONFIG_NOT_OURS;
}

typedef struct KubeconfigStatus {
        KubeconfigState state;
        CertInfo certificate;           /* when OK */
        char reason[320];               /* when not OK: why, for the log */
} KubeconfigStatus;

const char *kubeconfig_state_to_string(KubeconfigState s);

/* What the file at cl->kubeconfig holds for this cluster. */
void kubeconfig_inspect(const ClusterConfig *cl, KubeconfigStatus *ret);
/* The same, for many clusters at once: *cache keeps the file last read and
 * parsed, and serves the next cluster of the same file (clusters merged into
 * one file, taken in the order of their files). Free it with
 * kubeconfig_reading_free(). */
typedef struct KubeconfigReading KubeconfigReading;
void kubeconfig_inspect_shared(const ClusterConfig *cl, KubeconfigReading **cache, KubeconfigStatus *ret);
KubeconfigReading *kubeconfig_reading_free(KubeconfigReading *r);
static inline void kubeconfig_reading_freep(KubeconfigReading **r) {
        kubeconfig_reading_free(*r);
}
/* The same, on a file's content (pure). */
void kubeconfig_inspect_text(const ClusterConfig *cl, const char *text, size_t size, KubeconfigStatus *ret);

/* The entry of the answer to write, per cl->endpoint: internal; external
 * (preferring one that verifies TLS); auto (the answer's current context). */
typedef struct KubeconfigChoice {
        const CceClusterEntry *cluster;
        const CceUserEntry *user;
        const char *ca_data;            /* CA to write: the entry's, or with tls-server-name the answer's */
        bool insecure;                  /* the written entry skips TLS verification */
} KubeconfigChoice;

/* -ENOENT with error set when the answer offers no such endpoint. */
int kubeconfig_choose(const ClusterConfig *cl, const CceKubeconfig *answer, KubeconfigChoice *ret,
                      char *error, size_t error_size);

/* The new content of the file (pure). existing is the current content or
 * NULL. Either way only what cce-certd owns is set: the entries' names and
 * links, the server, CA data and TLS settings, the client certificate and
 * key; everything else in the file is kept. Own-file mode: a kubeconfig of
 * this cluster alone, with more contexts of its entries allowed (refused,
 * -EEXIST, when the existing file holds entries of others); its context is
 * current unless another context of the file is. Merge mode: this
 * cluster's entries replaced or added, current-context set only with
 * set-current-context or when there was none.
 * -EBADMSG when the existing file does not parse; -EEXIST when same-named
 * entries are not ours. */
int kubeconfig_render(const ClusterConfig *cl, const CceKubeconfig *answer,
                      const char *existing, size_t existing_size,
                      char **ret, size_t *ret_size, bool *ret_insecure,
                      char *error, size_t error_size);

/* For a dry run: what writing would change (each of the cluster's entries
 * added, changed with the fields named, or unchanged; current-context), then
 * the new content with every "*-data" value redacted. Pure. */
int kubeconfig_describe(const ClusterConfig *cl, const char *old_text, size_t old_size,
                        const char *new_text, size_t new_size, FILE *out);

/* Lock, read, render, and replace the file if the content changed (durably:
 * fsync of the file; its directory is synced by the caller's next
 * atomic_file_sync_directories(), once for a batch). With remove_leftovers,
 * first removes what crashed writers left in its directory (see
 * atomic_file_sweep()).
 * Returns 1 when written, 0 when nothing changed, or a negative errno with
 * error set (-EAGAIN: locked by someone else, try again soon). */
int kubeconfig_update(const ClusterConfig *cl, const CceKubeconfig *answer, bool remove_leftovers, bool *ret_insecure,
                      char *error, size_t error_size);

/* Taking a cluster's entries out of its file, when CCE confirmed the
 * cluster deleted or it was renamed: its cluster entry, only when it is the
 * one cce-certd wrote for cl's cluster id (else the file is not touched),
 * its user entry, the contexts that join the two, and a current-context
 * that named one of those. An own file (merge: false) that held nothing
 * else is removed; a merged one loses only those entries and is written
 * with cl's file-mode, owner and group, as at every write.
 * kubeconfig_render_removal() is the pure part: 0 when
 * nothing is ours, KUBECONFIG_REMOVE_FILE, or KUBECONFIG_REMOVE_ENTRIES
 * with the new content in *ret. kubeconfig_remove() does it under the
 * file's lock and returns the same (0 also when there is no file), or a
 * negative errno with error set (-EBADMSG: does not parse, left as it is;
 * -EAGAIN: locked by someone else). */
#define KUBECONFIG_REMOVE_ENTRIES 1
#define KUBECONFIG_REMOVE_FILE 2
int kubeconfig_render_removal(const ClusterConfig *cl, const char *existing, size_t existing_size,
                              char **ret, size_t *ret_size, char *error, size_t error_size);
int kubeconfig_remove(const ClusterConfig *cl, char *error, size_t error_size);

/* One cluster's part in a write of several clusters into one file. */
#define KUBECONFIG_WRITE_PENDING 2
typedef struct KubeconfigWrite {
        const ClusterConfig *cl;
        const CceKubeconfig *answer;
        bool replace_damaged;           /* own file: one that does not parse is replaced (restored), not refused */
        /* The same cluster under its earlier name (renamed in CCE), whose
         * entries are in this file: taken out in the same write. */
        const ClusterConfig *retire;
        /* Own file (alone in a write): the hash (kubeconfig_content_hash())
         * of the content last written when that held nothing but this
         * cluster's entries; 0 not known, KUBECONFIG_NOT_PLAIN it held more.
         * A file still of that content is written anew without being
         * parsed (nothing of it is kept). */
        uint64_t plain_hash;
        uint64_t written_plain_hash;    /* out: the same for what was written now (0: not an own file, or failed) */
        int result;                     /* as kubeconfig_update() returns */
        bool insecure;
        char error[768];                /* when result < 0 */
} KubeconfigWrite;

/* The first 64 bits of the SHA-256 of a file's content and of the settings
 * of cl that its entries depend on (names, cluster id, path, endpoint),
 * never 0 or KUBECONFIG_NOT_PLAIN (0 when it cannot be computed): tells the
 * content cce-certd wrote under these settings from any other, and says
 * nothing of the key in it. */
uint64_t kubeconfig_content_hash(const ClusterConfig *cl, const char *data, size_t size);
#define KUBECONFIG_NOT_PLAIN UINT64_C(1)

/* kubeconfig_update() for n clusters that merge into the same file (all
 * w[i].cl->kubeconfig equal; the first's file-mode, owner and group apply):
 * one lock, one read and parse, each cluster's entries applied in turn as if
 * written one after the other, one durable write. A cluster whose entries
 * are refused (not ours, no such endpoint) gets its own error and the
 * others are still written; a file that cannot be locked, read, parsed or
 * written fails them all. Returns how many were applied (0 when every one
 * was refused), or a negative errno when the file could not be locked,
 * read, parsed or written. ret_identity_read (when not NULL) gets the
 * identity of the file as it was read under the lock: unknown when there
 * was none. */
int kubeconfig_update_many(KubeconfigWrite *w, size_t n, bool remove_leftovers, FileIdentity *ret_identity_read);
