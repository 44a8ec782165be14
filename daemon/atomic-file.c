/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic-file.h"
#include "log.h"
#include "error-buffer.h"
#include "macro.h"
#include "secure-memory.h"

struct FileLock {
        char *lock_path;
        char *spare_path;       /* DIR/.NAME.cce-certd-spare: see file_lock_replace_target() */
        int lock_fd;
        int target_fd;          /* flocked, or -1 when the target does not exist */
};

#define SPARE_SUFFIX ".cce-certd-spare"

int atomic_file_resolve(const char *path, char **ret, char *error, size_t error_size) {
        _cleanup_free_ char *copy1 = NULL, *copy2 = NULL;
        char resolved[PATH_MAX];
        struct stat st;

        if (lstat(path, &st) == 0) {
                if (!realpath(path, resolved))
                        return error_printf(error, error_size, -ELOOP, "%s is a symlink that leads nowhere: %m", path);
                *ret = strdup(resolved);
                return *ret ? 0 : -ENOMEM;
        }
        if (errno != ENOENT)
                return error_printf(error, error_size, negative_errno(), "cannot look at %s: %m", path);

        /* Not there yet: resolve the directory, keep the name. */
        copy1 = strdup(path);
        copy2 = strdup(path);
        if (!copy1 || !copy2)
                return -ENOMEM;
        if (!realpath(dirname(copy1), resolved))
                return error_printf(error, error_size, negative_errno(), "the directory of %s cannot be used: %m", path);
        if (asprintf(ret, "%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, basename(copy2)) < 0)
                return -ENOMEM;
        return 0;
}

/* Removes the lock file when it is left over: written by a process of ours
 * that is gone, or (kubectl writes nothing into it) older than the stale
 * age. A lock of ours names its owner until file_lock_replace_target()
 * writes the new contents into it; such a lock is left over when nobody
 * holds the flock its owner keeps on it. Returns true when it is gone
 * (removed here, or by its owner meanwhile), so that taking it can be tried
 * again.
 *
 * Only the very file that was judged is removed, and only while it is still
 * left over: it is judged and removed under its exclusive flock. Its inode
 * alone would not tell: the same file can come back under the lock's name
 * as another writer's fresh lock (the old file of a replacement is the
 * next lock, see spare_take()), but no writer of ours takes a file as its
 * lock without that flock. */
static bool remove_stale_lock(const char *lock_path) {
        _cleanup_close_ int fd = -1;
        char buf[64] = "";
        struct stat st, now;
        bool stale, flocked;
        ssize_t n;
        long pid;

        fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT;  /* released meanwhile: try again */
        flocked = flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (!flocked && errno == EWOULDBLOCK)
                return false;  /* its writer holds it */
        if (fstat(fd, &st) < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);

        if (n > 0 && (buf[n] = 0, sscanf(buf, "cce-certd %ld", &pid) == 1) && pid > 0)
                stale = kill((pid_t) pid, 0) < 0 && errno == ESRCH;
        else if (n > 0)
                /* A replacement under way, or one whose writer died: its
                 * flock says (where there are no flocks, its age). */
                stale = flocked || time(NULL) - st.st_mtime > FILE_LOCK_STALE_SEC;
        else
                stale = time(NULL) - st.st_mtime > FILE_LOCK_STALE_SEC;
        if (!stale)
                return false;
        if (lstat(lock_path, &now) < 0)
                return errno == ENOENT;
        if (now.st_ino != st.st_ino || now.st_dev != st.st_dev)
                return true;  /* replaced by a new lock: try again, it will say */
        return unlink(lock_path) == 0 || errno == ENOENT;
}

FileLock *file_lock_release(FileLock *l) {
        if (!l)
                return NULL;
        if (l->target_fd >= 0)
                close(l->target_fd);  /* drops the flock */
        if (l->lock_fd >= 0) {
                unlink(l->lock_path);
                close(l->lock_fd);    /* and this one: only then, or the lock could look left over */
        }
        free(l->lock_path);
        free(l->spare_path);
        free(l);
        return NULL;
}

/* Writes data over the start of fd's file (a new file, or one whose old
 * contents are overwritten). */
static int write_from_start(int fd, const void *data, size_t size) {
        for (size_t done = 0; done < size;) {
                ssize_t n = pwrite(fd, (const char *) data + done, size - done, (off_t) done);
                if (n < 0 && errno != EINTR)
                        return negative_errno();
                if (n == 0)
                        return -EIO;
                if (n > 0)
                        done += (size_t) n;
        }
        return 0;
}

/* DIR/.NAME.cce-certd-KIND<random>: a name of ours next to the file, which
 * atomic_file_remove_leftovers() recognizes. NULL when out of memory. */
static char *temporary_name(const char *dir, const char *name, const char *kind, int salt) {
        uint64_t rnd;
        char *tmp;

        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                rnd = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32) ^ (uint64_t) salt;
        if (asprintf(&tmp, "%s/.%s.cce-certd-%s%016llx", dir, name, kind, (unsigned long long) rnd) < 0)
                return NULL;
        return tmp;
}

/* Whether no other file description has fd's file open: a write lease is
 * granted only then. It is given back at once; an open() in that moment is
 * signalled to us with SIGURG (ignored unless handled), not the default
 * SIGIO, which would end the process. */
static bool nobody_else_has_open(int fd) {
        if (fcntl(fd, F_SETSIG, SIGURG) < 0 || fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
                return false;  /* open elsewhere, not our file (no CAP_LEASE), or no leases here */
        (void) fcntl(fd, F_SETLEASE, F_UNLCK);
        return true;
}

/* Replacements whose directory is not synced yet
 * (ATOMIC_FILE_SYNC_DIRECTORY_LATER): the directory (its fd kept once) and
 * the old file kept as the spare, open with its flock (-1: none kept). A
 * fixed table, synced when full. */
#define UNSYNCED_MAX 256
static struct {
        int dir_fd;             /* -1: an earlier entry has this directory */
        dev_t dir_dev, spare_dev;
        ino_t dir_ino, spare_ino;
        int spare_fd;
} unsynced[UNSYNCED_MAX];
static size_t n_unsynced;

size_t atomic_file_unsynced(void) {
        return n_unsynced;
}

size_t atomic_file_sync_directories(void) {
        size_t n = n_unsynced;

        for (size_t i = 0; i < n; i++) {
                int fd = unsynced[i].dir_fd;
                if (fd >= 0 && fsync(fd) < 0) {
                        char fd_path[64], dir[PATH_MAX] = "";
                        int saved = errno;
                        snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
                        if (readlink(fd_path, dir, sizeof(dir) - 1) < 0)
                                snprintf(dir, sizeof(dir), "of replaced files");
                        log_warning_errno(saved, "Cannot sync the directory %s: %m; files replaced there lately "
                                          "may be lost in a power failure (they are in place).", dir);
                }
                safe_close(fd);
                safe_close(unsynced[i].spare_fd);
        }
        n_unsynced = 0;
        return n;
}

/* Takes over dir_fd and spare_fd (-1: none) until the next sync. */
static void sync_directory_later(int dir_fd, int spare_fd, const struct stat *spare) {
        struct stat dir;
        size_t i;

        if (n_unsynced == UNSYNCED_MAX)
                (void) atomic_file_sync_directories();
        if (fstat(dir_fd, &dir) < 0) {
                if (fsync(dir_fd) < 0)
                        log_warning_errno(errno, "Cannot sync a directory of replaced files: %m");
                safe_close(dir_fd);
                safe_close(spare_fd);
                return;
        }
        for (i = 0; i < n_unsynced; i++)
                if (unsynced[i].dir_fd >= 0 && unsynced[i].dir_dev == dir.st_dev && unsynced[i].dir_ino == dir.st_ino)
                        break;
        if (i < n_unsynced)
                dir_fd = safe_close(dir_fd);
        unsynced[n_unsynced].dir_fd = dir_fd;
        unsynced[n_unsynced].dir_dev = dir.st_dev;
        unsynced[n_unsynced].dir_ino = dir.st_ino;
        unsynced[n_unsynced].spare_fd = spare_fd;
        unsynced[n_unsynced].spare_dev = spare ? spare->st_dev : 0;
        unsynced[n_unsynced].spare_ino = spare ? spare->st_ino : 0;
        n_unsynced++;
}

/* Whether st is a spare kept until its directory is synced. */
static bool kept_unsynced(const struct stat *st) {
        for (size_t i = 0; i < n_unsynced; i++)
                if (unsynced[i].spare_fd >= 0 && unsynced[i].spare_dev == st->st_dev &&
                    unsynced[i].spare_ino == st->st_ino)
                        return true;
        return false;
}

/* The target's spare (its contents before the last replacement), made
 * ready to be the lock: a regular file that still has the spare's name and
 * no other (not the target, as after a writer killed between exchange and
 * rename; not a file someone linked elsewhere), that nobody else has open
 * or flocked, with owner written over its start (what the lock's readers
 * look at; not cut short, so that the new contents reuse its blocks
 * instead of freeing and allocating them). The flock comes first: every writer
 * takes it before it links the spare, so no one can make it the lock or the
 * target after these checks. Returns an fd holding that flock, or -1 when
 * there is no spare or it cannot be reused. */
static int spare_take(const char *spare, const char *owner) {
        struct stat st, named;
        int fd = open(spare, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -1;
        bool flocked = flock(fd, LOCK_EX | LOCK_NB) == 0;
        /* Ours, kept until its directory is synced: synced now. */
        if (!flocked && errno == EWOULDBLOCK && fstat(fd, &st) == 0 && kept_unsynced(&st) &&
            atomic_file_sync_directories() > 0)
                flocked = flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (!flocked || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
            lstat(spare, &named) < 0 || named.st_ino != st.st_ino || named.st_dev != st.st_dev ||
            !nobody_else_has_open(fd) || write_from_start(fd, owner, strlen(owner)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Links the file fd has open to lock_path (through /proc/self/fd: also a
 * file without a name). Returns fd, or -EEXIST when someone holds the lock
 * or -ENOENT when it cannot be linked so (no /proc), fd closed then. */
static int link_as_lock(int fd, const char *lock_path) {
        char fd_path[64];

        snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, fd_path, AT_FDCWD, lock_path, AT_SYMLINK_FOLLOW) < 0) {
                int r = negative_errno();
                close(fd);
                return r == -EEXIST ? r : -ENOENT;
        }
        return fd;
}

/* Takes the lock by linking the spare to its name: no file created. The
 * very file opened is linked (through /proc/self/fd): the spare's name may
 * have been given to another file meanwhile (the last holder of the lock
 * keeps its old target as the spare), one that is not ours to fill and that
 * holds no flock of ours, so that it would look left over as a lock.
 * Returns an fd of the lock, -EEXIST when someone holds it, or -ENOENT when
 * there is no spare to reuse (also when it lost its name, or where there is
 * no /proc). */
static int lock_from_spare(const char *spare, const char *lock_path, const char *owner) {
        int fd = spare_take(spare, owner);
        if (fd < 0)
                return -ENOENT;
        return link_as_lock(fd, lock_path);
}

/* DIR/.NAME.cce-certd-spare for target DIR/NAME. NULL when out of memory. */
static char *spare_name(const char *target) {
        _cleanup_free_ char *copy1 = strdup(target), *copy2 = strdup(target);
        char *spare;

        if (!copy1 || !copy2 || asprintf(&spare, "%s/.%s" SPARE_SUFFIX, dirname(copy1), basename(copy2)) < 0)
                return NULL;
        return spare;
}

/* Takes the lock: from the target's spare when it can be reused, else by
 * creating the lock file whole, with owner already in it: written as a file
 * without a name (O_TMPFILE) or, where there are none, under a temporary
 * name (one that atomic_file_remove_leftovers() knows), then linked into
 * place, which fails when the lock exists. A lock of ours that a
 * SIGKILL left then always names its dead owner; an empty one would look
 * like kubectl's and hold the file for a minute. Its fd holds an flock from
 * the start, for as long as the lock is ours. Where there are no hard
 * links, created in place. Returns an fd of the lock, or -errno (-EEXIST:
 * held by someone). */
/* A new lock file (nobody else has it yet) takes its flock and names its
 * owner. */
static int lock_claim(int fd, const char *owner) {
        (void) flock(fd, LOCK_EX | LOCK_NB);
        return write_from_start(fd, owner, strlen(owner));
}

static int lock_create(const char *target, const char *lock_path, const char *spare, const char *owner) {
        _cleanup_free_ char *copy1 = strdup(target), *copy2 = strdup(target), *tmp = NULL;
        int fd = -1, r;

        if (!copy1 || !copy2)
                return -ENOMEM;
        r = lock_from_spare(spare, lock_path, owner);
        if (r != -ENOENT)
                return r;
        const char *dir = dirname(copy1), *name = basename(copy2);
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) {
                r = lock_claim(fd, owner);
                if (r < 0) {
                        close(fd);
                        return r;
                }
                r = link_as_lock(fd, lock_path);
                if (r != -ENOENT)
                        return r;
                fd = -1;
        }
        /* The holder of the lock removes what killed writers left, which may
         * be our temporary file before it is linked: then once more. */
        for (int attempt = 0; attempt < 8 && r == -ENOENT; attempt++) {
                free(tmp);
                tmp = temporary_name(dir, name, "lock-", attempt);
                if (!tmp)
                        return -ENOMEM;
                if (fd >= 0)
                        close(fd);
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return negative_errno();
                r = lock_claim(fd, owner);
                if (r >= 0)
                        r = link(tmp, lock_path) < 0 ? negative_errno() : 0;
                unlink(tmp);
        }
        if (r == -EPERM || r == -EOPNOTSUPP) {
                /* No hard links here: create it in place, then say who holds it. */
                close(fd);
                fd = open(lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return negative_errno();
                (void) lock_claim(fd, owner);
                return fd;
        }
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

int file_lock_acquire(const char *target, FileLock **ret, char *error, size_t error_size) {
        _cleanup_(file_lock_releasep) FileLock *l = NULL;
        char owner[64];

        l = calloc(1, sizeof(FileLock));
        if (!l)
                return -ENOMEM;
        l->lock_fd = l->target_fd = -1;
        if (asprintf(&l->lock_path, "%s.lock", target) < 0) {
                l->lock_path = NULL;
                return -ENOMEM;
        }
        l->spare_path = spare_name(target);
        if (!l->spare_path)
                return -ENOMEM;

        snprintf(owner, sizeof(owner), "cce-certd %ld\n", (long) getpid());
        for (int attempt = 0;; attempt++) {
                int r = lock_create(target, l->lock_path, l->spare_path, owner);
                if (r >= 0) {
                        l->lock_fd = r;
                        break;
                }
                if (r != -EEXIST) {
                        errno = -r;
                        return error_printf(error, error_size, r, "cannot create the lock %s: %m", l->lock_path);
                }
                if (attempt < 3 && remove_stale_lock(l->lock_path))
                        continue;  /* a dead writer's lock, or one just released */
                return error_printf(error, error_size, -EAGAIN, "%s is locked by another program (%s exists)",
                            target, l->lock_path);
        }

        l->target_fd = open(target, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (l->target_fd < 0 && errno != ENOENT)
                return error_printf(error, error_size, negative_errno(), "cannot open %s: %m", target);
        if (l->target_fd >= 0 && flock(l->target_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return error_printf(error, error_size, -EAGAIN, "%s is locked (flock) by another program", target);
                return error_printf(error, error_size, negative_errno(), "cannot lock %s: %m", target);
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int read_file(const char *path, size_t max, bool shared_lock, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_wiped_ char *buf = NULL;
        struct stat st;
        size_t size = 0, allocated;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        /* Where there are no flocks, writers never reuse a file (see
         * atomic_file_write_via_spare()): nothing to wait for. */
        while (shared_lock && flock(fd, LOCK_SH) < 0 && errno == EINTR)
                continue;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        /* One allocation of the final size: no realloc leaves key material behind. */
        allocated = (size_t) st.st_size + 4096;
        if (allocated > max + 1)
                allocated = max + 1;
        buf = malloc(allocated + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + size, allocated - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max || size == allocated)
                        return -EFBIG;  /* grew while we read it */
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int atomic_file_read(const char *path, size_t max, char **ret, size_t *ret_size) {
        return read_file(path, max, false, ret, ret_size);
}

int atomic_file_read_locked(const char *path, size_t max, char **ret, size_t *ret_size) {
        return read_file(path, max, true, ret, ret_size);
}

/* A spare (".NAME.cce-certd-spare") is kept while NAME exists. */
static bool leftover(int dir_fd, const char *name) {
        size_t n = strlen(name), suffix = strlen(SPARE_SUFFIX);
        char target[NAME_MAX + 1];
        struct stat st;

        if (name[0] != '.' || !strstr(name + 1, ".cce-certd-"))
                return false;
        if (n <= suffix + 1 || strcmp(name + n - suffix, SPARE_SUFFIX) != 0)
                return true;
        snprintf(target, sizeof(target), "%.*s", (int) (n - suffix - 1), name + 1);
        return fstatat(dir_fd, target, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

int atomic_file_remove_leftovers(const char *target) {
        _cleanup_free_ char *copy = strdup(target);
        struct dirent *e;
        DIR *d;
        int n = 0;

        if (!copy)
                return -ENOMEM;
        d = opendir(dirname(copy));
        if (!d)
                return negative_errno();
        while ((e = readdir(d)))
                if (leftover(dirfd(d), e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0)
                        n++;
        closedir(d);
        return n;
}

/* Gives fd, the file at path to be renamed over a target, the final mode
 * and owner, then data from its start (cut to its size), and with
 * ATOMIC_FILE_DURABLE gets it to disk. A reused file (the spare) often has
 * them already: only what differs is changed, and when mode and owner were
 * right, the data (and the size) are enough to sync: fdatasync, which does
 * not write the inode for its times alone. */
static int fill(int fd, const char *path, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                AtomicFileFlags flags, char *error, size_t error_size) {
        struct stat st;
        bool metadata_changed = false;
        int r;

        if (fstat(fd, &st) < 0)
                return error_printf(error, error_size, negative_errno(), "cannot look at %s: %m", path);
        /* umask may have narrowed the mode; owner and group as asked. */
        if ((st.st_mode & 07777) != (mode & 07777)) {
                if (fchmod(fd, mode & 07777) < 0)
                        return error_printf(error, error_size, negative_errno(), "cannot set the mode of %s: %m", path);
                metadata_changed = true;
        }
        if ((uid != (uid_t) -1 && uid != st.st_uid) || (gid != (gid_t) -1 && gid != st.st_gid)) {
                if (fchown(fd, uid, gid) < 0)
                        return error_printf(error, error_size, negative_errno(),
                                    "cannot give %s to owner %d group %d: %m", path, (int) uid, (int) gid);
                metadata_changed = true;
        }
        r = write_from_start(fd, data, size);
        if (r >= 0 && (uint64_t) st.st_size > size && ftruncate(fd, (off_t) size) < 0)
                r = negative_errno();
        if (r < 0) {
                errno = -r;
                return error_printf(error, error_size, r, "cannot write %s: %m", path);
        }
        if ((flags & ATOMIC_FILE_DURABLE) && (metadata_changed ? fsync(fd) : fdatasync(fd)) < 0)
                return error_printf(error, error_size, negative_errno(), "cannot write %s to disk: %m", path);
        return 0;
}

/* Renames path over target and with ATOMIC_FILE_DURABLE fsyncs dir_fd, the
 * directory of both. */
static int put_in_place(const char *path, const char *target, int dir_fd, AtomicFileFlags flags, char *error,
                        size_t error_size) {
        if (rename(path, target) < 0) {
                if (errno == EBUSY)
                        return error_printf(error, error_size, -EBUSY,
                                    "cannot replace %s: it is a mount point (a bind-mounted file?); "
                                    "files are replaced by rename, so mount its directory instead", target);
                return error_printf(error, error_size, negative_errno(), "cannot rename %s to %s: %m", path, target);
        }
        if ((flags & ATOMIC_FILE_DURABLE) && fsync(dir_fd) < 0)
                /* The new file is in place and is what readers see: not a failure
                 * to retry (that would ask for another certificate). */
                log_warning_errno(errno, "Replaced %s, but syncing its directory failed: %m", target);
        return 0;
}

static int open_directory_of(const char *path, char *error, size_t error_size) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        const char *dir = dirname(copy);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return error_printf(error, error_size, negative_errno(), "cannot open the directory %s: %m", dir);
        return fd;
}

int atomic_file_write(const char *target, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                      AtomicFileFlags flags, char *error, size_t error_size) {
        _cleanup_free_ char *copy = NULL, *dir = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1, dir_fd = -1;
        int r;

        copy = strdup(target);
        if (!copy)
                return -ENOMEM;
        dir = strdup(dirname(copy));
        if (!dir)
                return -ENOMEM;
        free(copy);
        copy = strdup(target);
        if (!copy)
                return -ENOMEM;
        const char *name = basename(copy);

        dir_fd = open_directory_of(target, error, error_size);
        if (dir_fd < 0)
                return dir_fd;

        /* A fresh name in the same directory, created exclusively, with the
         * final mode from the start (never wider, even for a moment). */
        for (int i = 0; i < 16 && fd < 0; i++) {
                free(tmp);
                tmp = temporary_name(dir, name, "", i);
                if (!tmp)
                        return -ENOMEM;
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
                if (fd < 0 && errno != EEXIST)
                        return error_printf(error, error_size, negative_errno(),
                                    "cannot create a temporary file in %s: %m", dir);
        }
        if (fd < 0)
                return error_printf(error, error_size, -EEXIST, "cannot find a free temporary file name in %s", dir);

        r = fill(fd, tmp, data, size, mode, uid, gid, flags, error, error_size);
        if (r < 0)
                goto fail;
        r = close(fd);
        fd = -1;
        if (r < 0) {
                r = error_printf(error, error_size, negative_errno(), "cannot write %s: %m", tmp);
                goto fail;
        }
        r = put_in_place(tmp, target, dir_fd, flags, error, error_size);
        if (r < 0)
                goto fail;
        return 0;

fail:
        unlink(tmp);
        return r;
}

/* After the exchange the lock's name holds the old target: it becomes the
 * spare when it is the file we locked (locked: its stat) and has no other
 * name, and goes otherwise (as a rename over it would have removed it). */
static bool keep_old_target_as_spare(FileLock *l, const char *target, const struct stat *locked) {
        struct stat old;

        if (lstat(l->lock_path, &old) == 0 && old.st_ino == locked->st_ino && old.st_dev == locked->st_dev &&
            old.st_nlink == 1 && rename(l->lock_path, l->spare_path) == 0)
                return true;
        if (unlink(l->lock_path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Replaced %s, but cannot remove %s: %m", target, l->lock_path);
        return false;
}

/* Exchanges the lock with the target, if the target is still the regular
 * file we locked (a directory, or a file put there meanwhile, would be
 * swapped too); ret_locked gets that file's stat. */
static bool exchange_with_target(FileLock *l, const char *target, struct stat *ret_locked) {
        struct stat now;

        if (l->target_fd < 0 || fstat(l->target_fd, ret_locked) < 0 || !S_ISREG(ret_locked->st_mode) ||
            lstat(target, &now) < 0 || now.st_ino != ret_locked->st_ino || now.st_dev != ret_locked->st_dev)
                return false;
        return renameat2(AT_FDCWD, l->lock_path, AT_FDCWD, target, RENAME_EXCHANGE) == 0;
}

int file_lock_replace_target(FileLock *l, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                             AtomicFileFlags flags, char *error, size_t error_size) {
        _cleanup_free_ char *target = NULL;
        _cleanup_close_ int dir_fd = -1;
        int r;

        assert(l && l->lock_fd >= 0);
        target = strndup(l->lock_path, strlen(l->lock_path) - strlen(".lock"));
        if (!target)
                return -ENOMEM;
        dir_fd = open_directory_of(target, error, error_size);
        if (dir_fd < 0)
                return dir_fd;
        r = fill(l->lock_fd, l->lock_path, data, size, mode, uid, gid, flags, error, error_size);
        if (r < 0)
                return r;
        /* Still our lock under its name? If another writer removed it and
         * made its own, renaming it would put that one's lock in place. */
        struct stat mine, named, locked;
        if (fstat(l->lock_fd, &mine) < 0 || lstat(l->lock_path, &named) < 0 || mine.st_ino != named.st_ino ||
            mine.st_dev != named.st_dev) {
                l->lock_fd = safe_close(l->lock_fd);  /* not ours to remove */
                return error_printf(error, error_size, -EAGAIN, "%s was taken by another writer meanwhile; "
                                    "the file is unchanged", l->lock_path);
        }
        /* The flock is kept through the rename: without it a lock holding
         * something else than its owner's name looks left over. Exchanged
         * with the target, so that the old target can be the next lock
         * (spare_take()); a plain rename where there is no target yet or
         * the file system cannot exchange. */
        bool later = (flags & ATOMIC_FILE_DURABLE) && (flags & ATOMIC_FILE_SYNC_DIRECTORY_LATER);
        if (exchange_with_target(l, target, &locked)) {
                bool spare = keep_old_target_as_spare(l, target, &locked);
                if (later) {
                        /* The spare stays flocked until then. */
                        sync_directory_later(TAKE_FD(dir_fd), spare ? TAKE_FD(l->target_fd) : -1, &locked);
                } else if ((flags & ATOMIC_FILE_DURABLE) && fsync(dir_fd) < 0)
                        log_warning_errno(errno, "Replaced %s, but syncing its directory failed: %m", target);
        } else {
                r = put_in_place(l->lock_path, target, dir_fd, later ? flags & ~ATOMIC_FILE_DURABLE : flags, error,
                                 error_size);
                if (r < 0)
                        return r;
                if (later)
                        sync_directory_later(TAKE_FD(dir_fd), -1, NULL);
        }
        /* The lock is the target now: released by being renamed. */
        l->lock_fd = safe_close(l->lock_fd);
        return 0;
}

int atomic_file_write_via_spare(const char *target, const char *spare, const void *data, size_t size, mode_t mode,
                                char *error, size_t error_size) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(spare, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, mode & 07777);
        if (fd < 0)
                return error_printf(error, error_size, negative_errno(), "cannot open %s: %m", spare);
        if (fstat(fd, &st) < 0)
                return error_printf(error, error_size, negative_errno(), "cannot look at %s: %m", spare);
        if (!S_ISREG(st.st_mode))
                return error_printf(error, error_size, -EBADF, "%s is not a regular file", spare);
        /* Not while another writer fills it, nor while a reader still reads
         * it (it was the target until the last exchange), nor where there
         * are no flocks to tell: then a new file. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return atomic_file_write(target, data, size, mode, (uid_t) -1, (gid_t) -1, 0, error, error_size);
        r = fill(fd, spare, data, size, mode, (uid_t) -1, (gid_t) -1, 0, error, error_size);
        if (r < 0)
                return r;
        if (renameat2(AT_FDCWD, spare, AT_FDCWD, target, RENAME_EXCHANGE) == 0)
                return 0;
        if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
                return error_printf(error, error_size, negative_errno(), "cannot exchange %s and %s: %m", spare, target);
        /* No target yet (the spare is created again next time), or a file
         * system that cannot exchange: a plain rename. */
        if (rename(spare, target) < 0)
                return error_printf(error, error_size, negative_errno(), "cannot rename %s to %s: %m", spare, target);
        return 0;
}
