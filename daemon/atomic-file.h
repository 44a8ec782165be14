/* SPDX-License-Identifier: MIT */
#pragma once

/* Replacing a file so that no reader and no crash ever sees a partial one:
 * lock (kubectl's "<file>.lock" convention, created O_EXCL, plus flock),
 * temporary file in the same directory created O_EXCL with the final mode
 * and owner, write, fsync, rename over the file, fsync the directory. On any
 * error the old file is untouched and the temporary file is gone.
 *
 * Under a lock, the lock file itself serves as the temporary file
 * (file_lock_replace_target()), and the old file is kept as the spare
 * ".NAME.cce-certd-spare" that the next replacement links into place as its
 * lock: no file created or removed per replacement. That matters at
 * thousands of renewals: on ext4 without a journal, each file created skips
 * over the inodes deleted in the last half minute or so, a cost that grows
 * with the rate of replacements.
 *
 * Every function that can fail returns a negative errno and, where it takes
 * one, fills error with a sentence naming the file and what to do. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A stale lock (its writer died, or it is older than this) is removed. */
#define FILE_LOCK_STALE_SEC 60

typedef struct FileLock FileLock;

/* The file a path names: symlinks followed (also for a file that does not
 * exist yet, through its directory). -ENOENT when the directory is missing,
 * -ELOOP for a dangling or looping symlink. */
int atomic_file_resolve(const char *path, char **ret, char *error, size_t error_size);

/* Takes "<target>.lock" and an flock on the target when it exists.
 * -EAGAIN (with error set) when another process holds it. The lock is the
 * target's spare when it can be reused: a regular file with no other name
 * that nobody else has open (a write lease is granted, given back at once)
 * or flocked; otherwise a new file. */
int file_lock_acquire(const char *target, FileLock **ret, char *error, size_t error_size);
/* Releases and removes the lock; accepts NULL; returns NULL. */
FileLock *file_lock_release(FileLock *l);
static inline void file_lock_releasep(FileLock **l) {
        file_lock_release(*l);
}

/* Reads a whole file (at most max bytes: -EFBIG beyond). -ENOENT when it
 * does not exist; -EISDIR for a directory. The buffer is NUL-terminated and
 * allocated so that it can be freed with free_wiped(). */
int atomic_file_read(const char *path, size_t max, char **ret, size_t *ret_size);

/* The same, holding a shared flock while reading: for files written with
 * atomic_file_write_via_spare(), whose old contents are overwritten later. */
int atomic_file_read_locked(const char *path, size_t max, char **ret, size_t *ret_size);

/* Removes the temporary files that killed writers left in target's
 * directory (".NAME.cce-certd-*", for any NAME; a spare only when NAME is
 * gone): one pass over the
 * directory, so callers do it once per directory and run, not per write (a
 * writer of this process never leaves one; a concurrent writer of another
 * process whose file goes fails its rename and tries again). Returns how
 * many were removed. */
int atomic_file_remove_leftovers(const char *target);

typedef enum AtomicFileFlags {
        ATOMIC_FILE_DURABLE = 1 << 0,   /* fsync the file and its directory: kept across a power loss */
        /* With ATOMIC_FILE_DURABLE, in file_lock_replace_target(): the
         * directory is synced later, by atomic_file_sync_directories(), once
         * for all the replacements made there meanwhile. */
        ATOMIC_FILE_SYNC_DIRECTORY_LATER = 1 << 1,
} AtomicFileFlags;

/* Syncs the directories of the replacements made with
 * ATOMIC_FILE_SYNC_DIRECTORY_LATER since the last call, each once; a failure
 * is logged. Until then each such replacement keeps its old file (the
 * spare) open and flocked, so that no writer writes into it in place while
 * the disk may still name it as the file; a replacement that would reuse
 * one syncs them all first, as does the 257th. Returns how many
 * replacements were waiting. */
size_t atomic_file_sync_directories(void);
/* How many replacements wait for their directory to be synced. */
size_t atomic_file_unsynced(void);

/* Replaces target with data: temp file, rename (atomic for readers and
 * against crashes of the writer), and with ATOMIC_FILE_DURABLE fsync before
 * the rename and of the directory after it. uid/gid (uid_t) -1 / (gid_t) -1
 * keep the process's own. */
int atomic_file_write(const char *target, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                      AtomicFileFlags flags, char *error, size_t error_size);

/* Replaces target with data, as atomically for readers and against crashes
 * as atomic_file_write() but without creating a file each time, for files
 * rewritten often (the daemon's state): data goes into spare (created when
 * missing), which is then exchanged with target (renameat2
 * RENAME_EXCHANGE), so that the old contents become the next spare. Where
 * exchanging is not supported, or there is no target yet, spare is renamed
 * over target. Not durable. Read it with atomic_file_read_locked(): a spare
 * that another writer or a reader holds (flock) is not touched, a new file
 * is written instead. */
int atomic_file_write_via_spare(const char *target, const char *spare, const void *data, size_t size, mode_t mode,
                                char *error, size_t error_size);

/* Like atomic_file_write() for the target that l locks, through the lock
 * file: it gets mode, owner and data (and with ATOMIC_FILE_DURABLE an
 * fsync) while its flock keeps it ours, then is exchanged with the target
 * (renameat2 RENAME_EXCHANGE), and the old target, now under the lock's
 * name, is renamed to the spare, which releases kubectl's lock
 * (file_lock_release() then only drops the flocks). The old target is
 * removed instead when it has another name (a hard link keeps it) or is not
 * the file that was locked; with no target yet, or where exchanging is not
 * supported, the lock is renamed over the target. On error the target is
 * untouched and the lock still held. */
int file_lock_replace_target(FileLock *l, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                             AtomicFileFlags flags, char *error, size_t error_size);
