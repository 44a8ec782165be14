/* SPDX-License-Identifier: MIT */
#pragma once

/* Resolving a path that the daemon writes, so that no other local user can
 * turn it (in the spirit of systemd's chase() with CHASE_SAFE and OpenSSH's
 * safe_path()). The path is walked one component at a time from "/" with
 * openat(O_PATH | O_NOFOLLOW), and refused when:
 *
 *   - a symlink on the way (or the file itself) is owned by anyone but root
 *     or the daemon's user (geteuid());
 *   - a directory is entered (also through "..") from one owned by another
 *     user than root or the daemon's user, and is owned by someone else
 *     (e.g. root): the owner of the first could have put it there, or linked
 *     the way to it, for us to write into;
 *   - a directory is writable by its group or by others, unless it is sticky
 *     and owned by root or the daemon's user (/tmp is fine, a 0777 one is
 *     not).
 *
 * What is returned is the directory the file is in, open, and the file's
 * name in it: every later operation (open, link, rename, unlink) is made
 * relative to that directory fd, so nothing can be swapped in between the
 * check and the use.
 *
 * The walk of a directory is used again for the next file in it for at
 * most SAFE_PATH_REUSE_USEC, and only while the directory path still leads
 * to the same directory (device, inode, birth time) with the same owner and
 * mode (safe-path.c says exactly when). */

#include <stddef.h>
#include <stdint.h>

/* The errno of a refusal (the error text says why and names the component). */
#define SAFE_PATH_REFUSED ENOLINK

typedef struct SafePath {
        int dir_fd;             /* the file's directory (O_RDONLY, or O_PATH where it cannot be read) */
        char *name;             /* the file's name in it (owned) */
        char *path;             /* the path as resolved, for messages (owned) */
} SafePath;

#define SAFE_PATH_NULL ((SafePath) { .dir_fd = -1 })

/* Resolves path (absolute) to its directory and name. The file itself need
 * not exist; its directory must. -SAFE_PATH_REFUSED for a path that breaks a
 * rule above, -ENOENT for a missing directory, -ENOTDIR, -EISDIR when the
 * path names a directory, -ELOOP for too many symlinks; error says which
 * component and why. */
int safe_path_open(const char *path, SafePath *ret, char *error, size_t error_size);

/* Resolves a directory by the same rules: *ret_fd is it, open (owned). */
int safe_path_open_directory(const char *path, int *ret_fd, char *error, size_t error_size);

#define SAFE_PATH_REUSE_USEC (10 * UINT64_C(1000000))

/* For tests: how long a check is used again (0: never; the checks kept so
 * far are forgotten), and how many walks from "/" safe_path_open() has made. */
void safe_path_set_reuse_usec(uint64_t usec);
uint64_t safe_path_walks(void);

void safe_path_done(SafePath *p);
static inline void safe_path_donep(SafePath *p) {
        safe_path_done(p);
}
