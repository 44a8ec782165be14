/* SPDX-License-Identifier: MIT */
#pragma once

/* Replacing a file so that no reader and no crash ever sees a partial one,
 * and no other local user can turn the write. One protocol:
 *
 *   1. resolve the path safely (safe-path.h): its directory, open and
 *      checked, and the name in it; everything below is relative to that fd;
 *   2. lock (kubeconfigs): kubectl's NAME.lock, made whole with "cce-certd
 *      PID" in it as a file without a name (O_TMPFILE), flocked for as long
 *      as it is ours, then linked into place, which fails while it exists;
 *   3. the new file: O_TMPFILE in the directory (no name anyone could have
 *      made or linked), flocked, its final mode and owner set on the fd
 *      (one given to another owner is linked as in 4 first: without
 *      CAP_FOWNER a file of another user's cannot be linked), data, fsync;
 *   4. linked as .NAME.cce-certd-RANDOM (by the fd, or through
 *      /proc/self/fd where the kernel wants CAP_DAC_READ_SEARCH for that),
 *      renamed over NAME, the directory synced (at once, or once for a
 *      batch with ATOMIC_FILE_SYNC_DIRECTORY_LATER);
 *   5. the lock removed.
 *
 * No file is reused, none is kept beside the target, and nothing is hard
 * linked to the new file but its one name. A crash leaves the old file or
 * the new one, and at most the lock (its owner named and no longer flocking
 * it) and a .NAME.cce-certd-RANDOM that nobody flocks: atomic_file_sweep()
 * removes both, at start and at writes.
 *
 * Every function that can fail returns a negative errno and, where it takes
 * one, fills error with a sentence naming the file and what is wrong. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "safe-path.h"

/* A lock left by kubectl (empty) is taken as stale after this long. */
#define FILE_LOCK_STALE_SEC 60

/* Reads a whole file (at most max bytes: -EFBIG beyond) at a path resolved
 * safely. -ENOENT when it does not exist; -EISDIR for a directory, -EBADF
 * for something else than a regular file; -SAFE_PATH_REFUSED (error says
 * why) for a path another user could turn. The buffer is NUL-terminated and
 * allocated so that it can be freed with free_wiped(). error may be NULL. */
int atomic_file_read(const char *path, size_t max, char **ret, size_t *ret_size, char *error, size_t error_size);
/* The same for the file name in the directory dir_fd. */
int atomic_file_read_at(int dir_fd, const char *name, size_t max, char **ret, size_t *ret_size);

typedef enum AtomicFileFlags {
        ATOMIC_FILE_DURABLE = 1 << 0,   /* fsync the file and its directory: kept across a power loss */
        /* With ATOMIC_FILE_DURABLE: the directory is synced later, by
         * atomic_file_sync_directories(), once for all the replacements
         * made there meanwhile. */
        ATOMIC_FILE_SYNC_DIRECTORY_LATER = 1 << 1,
} AtomicFileFlags;

/* Replaces the file at path (resolved safely) with data, steps 1, 3 and 4
 * (no lock: for the daemon's own files). uid/gid (uid_t) -1 / (gid_t) -1
 * keep the process's own. On error the old file is untouched and nothing is
 * left. */
int atomic_file_write(const char *path, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                      AtomicFileFlags flags, char *error, size_t error_size);

/* The same for the file name in dir_fd, a directory resolved safely
 * before (path names the file in messages), owned by the process. */
int atomic_file_write_at(int dir_fd, const char *name, const char *path, const void *data, size_t size, mode_t mode,
                         AtomicFileFlags flags, char *error, size_t error_size);

/* Syncs the directories of the replacements made with
 * ATOMIC_FILE_SYNC_DIRECTORY_LATER, each once, the oldest first, at most max
 * of them (SIZE_MAX: all); a failure is logged. Returns how many were
 * synced. At most 256 wait: past that a directory is synced at its write. */
size_t atomic_file_sync_directories(size_t max);
/* How many directories wait to be synced. */
size_t atomic_file_unsynced(void);

typedef struct FileLock FileLock;

/* Resolves path safely and takes NAME.lock in its directory (step 2), and
 * an flock on NAME when it exists (other programs may flock it).
 * A stale lock is removed first: one of a cce-certd that is gone (its flock
 * free, or its pid dead), or an empty one (kubectl's) older than
 * FILE_LOCK_STALE_SEC; it is judged and removed under its flock. -EAGAIN
 * (with error set) when someone else holds it. */
int file_lock_acquire(const char *path, FileLock **ret, char *error, size_t error_size);
/* Removes the lock (if it is still ours); accepts NULL; returns NULL. */
FileLock *file_lock_release(FileLock *l);
static inline void file_lock_releasep(FileLock **l) {
        file_lock_release(*l);
}
/* The locked file's path as resolved, for messages (borrowed). */
const char *file_lock_path(const FileLock *l);
/* The locked file's stat (the one flocked); -ENOENT when there is none. */
struct stat;
int file_lock_stat(FileLock *l, struct stat *ret);
/* Reads the locked file (the one flocked), as atomic_file_read_at(). */
int file_lock_read(FileLock *l, size_t max, char **ret, size_t *ret_size);
/* Replaces the locked file with data (steps 3 and 4). On error the file is
 * untouched, nothing is left, and the lock still held. -EAGAIN when the
 * lock was taken from us meanwhile (removed by hand). */
int file_lock_replace(FileLock *l, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                      AtomicFileFlags flags, char *error, size_t error_size);

/* Removes the locked file (the one flocked, while it still has its name and
 * the lock is ours) and syncs its directory as flags say. Returns 1 when
 * removed, 0 when there was none, or a negative errno (-EAGAIN: replaced or
 * its lock taken meanwhile). The lock is still held after. */
int file_lock_remove(FileLock *l, AtomicFileFlags flags, char *error, size_t error_size);

/* Removes what crashed writers of this user left in the directory of path:
 * NAME.lock files of a cce-certd that is gone (judged as above), and
 * regular files named .NAME.cce-certd-* owned by the daemon's user (or by
 * NAME's owner: a file written for another owner is given to it before its
 * data goes in) that no one flocks (a writer flocks its new file from
 * before it has a name until it is renamed; earlier versions'
 * .NAME.cce-certd-spare files too). One
 * pass over the directory. Returns how many files were removed, or a
 * negative errno (the directory cannot be resolved or listed). */
int atomic_file_sweep(const char *path, char *error, size_t error_size);

/* What the lock of the file at path says, for --status: 0 when there is
 * none; 1 with a sentence in text when one is held (by a cce-certd at work,
 * or another program for less than the stale age); 2 when it blocks kubectl
 * (its writer is gone, or it is stale). */
int file_lock_describe(const char *path, char *text, size_t text_size);
