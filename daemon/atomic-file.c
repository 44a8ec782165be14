/* SPDX-License-Identifier: MIT */
/* The one replace protocol for every file the daemon writes: safe path,
 * kubectl's lock, a new file renamed over the old, fsyncs; reads and sweeps.
 * Knows nothing of kubeconfig contents. */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic-file.h"
#include "error-buffer.h"
#include "io-util.h"
#include "log.h"
#include "macro.h"
#include "secure-memory.h"

#define LOCK_SUFFIX ".lock"
#define TEMP_INFIX ".cce-certd-"        /* .NAME.cce-certd-RANDOM */
#define OWNER_PREFIX "cce-certd "       /* what a lock of ours holds: "cce-certd PID\n" */

struct FileLock {
        SafePath target;
        char *lock_name;        /* NAME.lock, in target.dir_fd */
        int lock_fd;            /* flocked while the lock is ours */
        int target_fd;          /* NAME, flocked, or -1 when there is none */
};

/* ---- reading ------------------------------------------------------------ */

static int read_fd(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_wiped_ char *buf = NULL;
        struct stat st;
        size_t size = 0, allocated;

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
        ssize_t n = read_from_start(fd, buf, allocated);
        if (n < 0)
                return (int) n;
        size = (size_t) n;
        if (size > max || size == allocated)
                return -EFBIG;  /* grew while we read it */
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int atomic_file_read_at(int dir_fd, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0)
                return errno == ELOOP ? -SAFE_PATH_REFUSED : negative_errno();  /* a symlink put there meanwhile */
        return read_fd(fd, max, ret, ret_size);
}

int atomic_file_read(const char *path, size_t max, char **ret, size_t *ret_size, char *error, size_t error_size) {
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        int r;

        r = safe_path_open(path, &p, error, error_size);
        if (r < 0)
                return r;
        r = atomic_file_read_at(p.dir_fd, p.name, max, ret, ret_size);
        if (r == -SAFE_PATH_REFUSED)
                return error_printf(error, error_size, r, "%s became a symlink while it was being opened", p.path);
        return r;
}

/* ---- writing ------------------------------------------------------------ */

static int write_all(int fd, const void *data, size_t size) {
        for (size_t done = 0; done < size;) {
                ssize_t n = write(fd, (const char *) data + done, size - done);
                if (n < 0 && errno != EINTR)
                        return negative_errno();
                if (n == 0)
                        return -EIO;
                if (n > 0)
                        done += (size_t) n;
        }
        return 0;
}

/* .NAME.cce-certd-RANDOM */
static void temporary_name(const char *name, char buf[static NAME_MAX + 1]) {
        uint64_t rnd;

        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                rnd = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 32) ^ ((uint64_t) getpid() << 16);
        }
        /* Room for the suffix: a long NAME is cut (the sweep knows the infix only). */
        snprintf(buf, NAME_MAX + 1, ".%.*s" TEMP_INFIX "%016llx", NAME_MAX - 30, name, (unsigned long long) rnd);
}

/* Links the file without a name that fd has open as name in dir_fd: by the
 * fd itself (AT_EMPTY_PATH: Linux 6.10 and later allow it for a file opened
 * with the caller's credentials, earlier ones only with CAP_DAC_READ_SEARCH),
 * else through /proc/self/fd, which costs a lookup of four components (the
 * first refusal is remembered). Both link the very inode fd has open.
 * -EEXIST when the name is taken, else why not. */
static int link_unnamed(int fd, int dir_fd, const char *name) {
        static bool by_fd_refused = false;
        char fd_path[64];

        if (!by_fd_refused) {
                if (linkat(fd, "", dir_fd, name, AT_EMPTY_PATH) == 0)
                        return 0;
                if (errno != ENOENT)
                        return negative_errno();
        }
        snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, fd_path, dir_fd, name, AT_SYMLINK_FOLLOW) < 0)
                return negative_errno();
        by_fd_refused = true;  /* refused, not gone: this kernel wants CAP_DAC_READ_SEARCH */
        return 0;
}

/* A new file in dir_fd, flocked (so that atomic_file_sweep() leaves it
 * alone while we hold it), with the given name once linked: made without a
 * name (O_TMPFILE) and linked when the caller asks, or, where there are no
 * such files, created under a fresh temporary name at once. ret_name gets
 * the temporary name (empty while it has none). */
static int new_file(const SafePath *p, char ret_name[static NAME_MAX + 1], char *error, size_t error_size) {
        int dir_fd = p->dir_fd, fd;
        const char *path = p->path;

        ret_name[0] = 0;
        fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) {
                (void) flock(fd, LOCK_EX | LOCK_NB);
                return fd;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return error_printf(error, error_size, negative_errno(), "cannot create a file next to %s: %m", path);
        for (int i = 0; i < 16; i++) {
                temporary_name(p->name, ret_name);
                fd = openat(dir_fd, ret_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0) {
                        (void) flock(fd, LOCK_EX | LOCK_NB);
                        return fd;
                }
                if (errno != EEXIST)
                        return error_printf(error, error_size, negative_errno(), "cannot create a file next to %s: %m", path);
        }
        return error_printf(error, error_size, -EEXIST, "cannot find a free temporary name next to %s", path);
}

/* Gives the new file fd a name in dir_fd, once: a fresh temporary one
 * (tmp empty until then). */
static int name_new_file(int fd, const SafePath *p, char tmp[static NAME_MAX + 1], char *error, size_t error_size) {
        for (int i = 0; !tmp[0] && i < 16; i++) {
                temporary_name(p->name, tmp);
                int r = link_unnamed(fd, p->dir_fd, tmp);
                if (r == -EEXIST)
                        tmp[0] = 0;
                else if (r < 0) {
                        tmp[0] = 0;
                        errno = -r;
                        return error_printf(error, error_size, r, "cannot give the new %s a name: %m", p->path);
                }
        }
        if (!tmp[0])
                return error_printf(error, error_size, -EEXIST, "cannot find a free temporary name next to %s", p->path);
        return 0;
}

/* Directories of replacements made with ATOMIC_FILE_SYNC_DIRECTORY_LATER,
 * not synced yet: each once (its fd kept), a fixed table synced when full. */
#define UNSYNCED_MAX 256
static struct {
        int fd;
        dev_t dev;
        ino_t ino;
} unsynced[UNSYNCED_MAX];
static size_t n_unsynced;

size_t atomic_file_unsynced(void) {
        return n_unsynced;
}

size_t atomic_file_sync_directories(size_t max) {
        size_t n = MIN(n_unsynced, max);

        /* The oldest first: unsynced[] is kept in the order they came. */
        for (size_t i = 0; i < n; i++) {
                if (fsync(unsynced[i].fd) < 0) {
                        char fd_path[64], dir[PATH_MAX] = "";
                        int saved = errno;
                        snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", unsynced[i].fd);
                        if (readlink(fd_path, dir, sizeof(dir) - 1) < 0)
                                snprintf(dir, sizeof(dir), "of replaced files");
                        log_warning_errno(saved, "Cannot sync the directory %s: %m; files replaced there lately "
                                          "may be lost in a power failure (they are in place).", dir);
                }
                safe_close(unsynced[i].fd);
        }
        n_unsynced -= n;
        memmove(unsynced, unsynced + n, n_unsynced * sizeof(unsynced[0]));
        return n;
}

static void sync_directory(int dir_fd, const char *path, AtomicFileFlags flags) {
        struct stat st;

        if (!(flags & ATOMIC_FILE_DURABLE))
                return;
        if ((flags & ATOMIC_FILE_SYNC_DIRECTORY_LATER) && fstat(dir_fd, &st) == 0) {
                for (size_t i = 0; i < n_unsynced; i++)
                        if (unsynced[i].dev == st.st_dev && unsynced[i].ino == st.st_ino)
                                return;
                /* A full table: this one is synced now, like a write
                 * without batching (never a whole table at once). */
                int fd = n_unsynced < UNSYNCED_MAX ? fcntl(dir_fd, F_DUPFD_CLOEXEC, 3) : -1;
                if (fd >= 0) {
                        unsynced[n_unsynced++] = (typeof(unsynced[0])) { .fd = fd, .dev = st.st_dev, .ino = st.st_ino };
                        return;
                }
        }
        if (fsync(dir_fd) < 0)
                /* The new file is in place and is what readers see: not a failure
                 * to retry (that would ask for another certificate). */
                log_warning_errno(errno, "Replaced %s, but syncing its directory failed: %m", path);
}

/* Whether name in dir_fd is still the file open as fd (not removed, not
 * replaced, not a symlink to it). */
static bool still_named(int dir_fd, const char *name, int fd) {
        struct stat open_file, named;
        return fstat(fd, &open_file) == 0 && fstatat(dir_fd, name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
                open_file.st_ino == named.st_ino && open_file.st_dev == named.st_dev;
}

/* Steps 3 and 4 in the checked directory. lock_fd/lock_name, when given: the
 * lock must still be ours just before the rename. */
static int replace_in(const SafePath *p, int lock_fd, const char *lock_name, const void *data, size_t size, mode_t mode,
                      uid_t uid, gid_t gid, AtomicFileFlags flags, char *error, size_t error_size) {
        _cleanup_close_ int fd = -1;
        char tmp[NAME_MAX + 1];
        int r;

        fd = new_file(p, tmp, error, error_size);
        if (fd < 0)
                return fd;
        /* The mode first: umask may have narrowed it, and once the file is
         * given away only CAP_FOWNER could set it. */
        r = fchmod(fd, mode & 07777) < 0 ?
                error_printf(error, error_size, negative_errno(), "cannot set the mode of %s: %m", p->path) : 0;
        /* A file given to another owner is named first, while it is ours:
         * without CAP_FOWNER a file of someone else's cannot be linked
         * (fs.protected_hardlinks). Its data comes after, so no key is ever
         * in a file of an owner not asked for. */
        if (r >= 0 && (uid != (uid_t) -1 || gid != (gid_t) -1)) {
                r = name_new_file(fd, p, tmp, error, error_size);
                if (r >= 0 && fchown(fd, uid, gid) < 0)
                        r = error_printf(error, error_size, negative_errno(), "cannot give %s to owner %d group %d: %m",
                                         p->path, (int) uid, (int) gid);
        }
        if (r >= 0) {
                r = write_all(fd, data, size);
                if (r < 0) {
                        errno = -r;
                        r = error_printf(error, error_size, r, "cannot write %s: %m", p->path);
                }
        }
        if (r >= 0 && (flags & ATOMIC_FILE_DURABLE) && fsync(fd) < 0)
                r = error_printf(error, error_size, negative_errno(), "cannot write %s to disk: %m", p->path);
        if (r >= 0)
                r = name_new_file(fd, p, tmp, error, error_size);
        if (r >= 0 && lock_fd >= 0 && !still_named(p->dir_fd, lock_name, lock_fd))
                r = error_printf(error, error_size, -EAGAIN,
                                 "the lock of %s was removed by someone else meanwhile; the file is unchanged", p->path);
        if (r >= 0 && renameat(p->dir_fd, tmp, p->dir_fd, p->name) < 0) {
                if (errno == EBUSY)
                        r = error_printf(error, error_size, -EBUSY,
                                         "cannot replace %s: it is a mount point (a bind-mounted file?); "
                                         "files are replaced by rename, so mount its directory instead", p->path);
                else
                        r = error_printf(error, error_size, negative_errno(), "cannot rename the new %s into place: %m",
                                         p->path);
        }
        if (r < 0) {
                if (tmp[0])
                        (void) unlinkat(p->dir_fd, tmp, 0);
                return r;
        }
        sync_directory(p->dir_fd, p->path, flags);
        return 0;  /* fd closed now: its flock goes with the last reference */
}

int atomic_file_write_at(int dir_fd, const char *name, const char *path, const void *data, size_t size, mode_t mode,
                         AtomicFileFlags flags, char *error, size_t error_size) {
        const SafePath p = { .dir_fd = dir_fd, .name = (char *) name, .path = (char *) path };
        return replace_in(&p, -1, NULL, data, size, mode, (uid_t) -1, (gid_t) -1, flags, error, error_size);
}

int atomic_file_write(const char *path, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                      AtomicFileFlags flags, char *error, size_t error_size) {
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        int r;

        r = safe_path_open(path, &p, error, error_size);
        if (r < 0)
                return r;
        return replace_in(&p, -1, NULL, data, size, mode, uid, gid, flags, error, error_size);
}

/* ---- the lock ----------------------------------------------------------- */

/* Whether the lock file fd (flocked by us when flocked) is stale: a lock of
 * ours whose writer is gone, or kubectl's (empty) older than the stale age. */
static bool lock_stale(int fd, bool flocked, long *ret_pid, time_t *ret_age) {
        char buf[64] = "";
        struct stat st;
        long pid = 0;

        if (fstat(fd, &st) < 0)
                return false;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        *ret_age = time(NULL) - st.st_mtime;
        if (n > 0 && (buf[n] = 0, sscanf(buf, OWNER_PREFIX "%ld", &pid) == 1) && pid > 0) {
                *ret_pid = pid;
                /* Its writer flocks it for as long as it is alive. */
                return flocked || (kill((pid_t) pid, 0) < 0 && errno == ESRCH);
        }
        *ret_pid = 0;
        return *ret_age > FILE_LOCK_STALE_SEC;
}

/* Removes the lock lock_name in dir_fd when it is stale, judged and removed
 * under its exclusive flock (so two judges never both act), and only while
 * the name still holds the file judged. Returns true when it is gone (so
 * that taking it can be tried again). */
static bool remove_stale_lock(int dir_fd, const char *lock_name) {
        _cleanup_close_ int fd = -1;
        struct stat st, now;
        time_t age;
        long pid;

        fd = openat(dir_fd, lock_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT;  /* released meanwhile: try again */
        bool flocked = flock(fd, LOCK_EX | LOCK_NB) == 0;
        if (!flocked && errno == EWOULDBLOCK)
                return false;  /* its writer holds it */
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !lock_stale(fd, flocked, &pid, &age))
                return false;
        if (fstatat(dir_fd, lock_name, &now, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT;
        if (now.st_ino != st.st_ino || now.st_dev != st.st_dev)
                return true;  /* replaced by a new lock: try again, it will say */
        return unlinkat(dir_fd, lock_name, 0) == 0 || errno == ENOENT;
}

/* Makes the lock: a new file holding the owner line, flocked, linked into
 * place (which fails while a lock exists: -EEXIST). Where files cannot be
 * linked so, it is created in place. Returns its fd. */
static int lock_create(const FileLock *l) {
        char owner[64];
        int fd, r;

        snprintf(owner, sizeof(owner), OWNER_PREFIX "%ld\n", (long) getpid());
        fd = openat(l->target.dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) {
                (void) flock(fd, LOCK_EX | LOCK_NB);
                r = write_all(fd, owner, strlen(owner));
                if (r >= 0)
                        r = link_unnamed(fd, l->target.dir_fd, l->lock_name);
                if (r >= 0)
                        return fd;
                close(fd);
                if (r == -EEXIST)
                        return r;
        }
        /* No file without a name here, or none that can be linked (no /proc
         * and no CAP_DAC_READ_SEARCH): made in place (a crash before the
         * owner line is in leaves an empty lock, stale after a minute). */
        fd = openat(l->target.dir_fd, l->lock_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        (void) flock(fd, LOCK_EX | LOCK_NB);
        (void) write_all(fd, owner, strlen(owner));
        return fd;
}

FileLock *file_lock_release(FileLock *l) {
        if (!l)
                return NULL;
        if (l->lock_fd >= 0) {
                /* Only our own lock: someone may have removed it and taken a new one. */
                if (still_named(l->target.dir_fd, l->lock_name, l->lock_fd))
                        (void) unlinkat(l->target.dir_fd, l->lock_name, 0);
                close(l->lock_fd);  /* the flock only now, or the lock could look left over */
        }
        safe_close(l->target_fd);
        safe_path_done(&l->target);
        free(l->lock_name);
        free(l);
        return NULL;
}

int file_lock_acquire(const char *path, FileLock **ret, char *error, size_t error_size) {
        _cleanup_(file_lock_releasep) FileLock *l = NULL;
        int r;

        l = calloc(1, sizeof(FileLock));
        if (!l)
                return -ENOMEM;
        l->lock_fd = l->target_fd = -1;
        l->target = SAFE_PATH_NULL;
        r = safe_path_open(path, &l->target, error, error_size);
        if (r < 0)
                return r;
        if (strlen(l->target.name) + strlen(LOCK_SUFFIX) > NAME_MAX)
                return error_printf(error, error_size, -ENAMETOOLONG, "%s: the name is too long for a lock beside it",
                                    l->target.path);
        if (asprintf(&l->lock_name, "%s" LOCK_SUFFIX, l->target.name) < 0) {
                l->lock_name = NULL;
                return -ENOMEM;
        }
        for (int attempt = 0;; attempt++) {
                r = lock_create(l);
                if (r >= 0) {
                        l->lock_fd = r;
                        break;
                }
                if (r != -EEXIST) {
                        errno = -r;
                        return error_printf(error, error_size, r, "cannot create the lock %s" LOCK_SUFFIX ": %m",
                                            l->target.path);
                }
                if (attempt < 3 && remove_stale_lock(l->target.dir_fd, l->lock_name))
                        continue;  /* a dead writer's lock, or one just released */
                return error_printf(error, error_size, -EAGAIN, "%s is locked by another program (%s" LOCK_SUFFIX " exists)",
                                    l->target.path, l->target.path);
        }
        /* Programs that lock the file itself with flock are respected too. */
        l->target_fd = openat(l->target.dir_fd, l->target.name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (l->target_fd < 0 && errno != ENOENT)
                return error_printf(error, error_size, errno == ELOOP ? -SAFE_PATH_REFUSED : negative_errno(),
                                    "cannot open %s: %m", l->target.path);
        if (l->target_fd >= 0 && flock(l->target_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return error_printf(error, error_size, -EAGAIN, "%s is locked (flock) by another program",
                                            l->target.path);
                return error_printf(error, error_size, negative_errno(), "cannot lock %s: %m", l->target.path);
        }
        *ret = TAKE_PTR(l);
        return 0;
}

const char *file_lock_path(const FileLock *l) {
        return l->target.path;
}

int file_lock_stat(FileLock *l, struct stat *ret) {
        if (l->target_fd < 0)
                return -ENOENT;
        return fstat(l->target_fd, ret) < 0 ? negative_errno() : 0;
}

int file_lock_read(FileLock *l, size_t max, char **ret, size_t *ret_size) {
        return l->target_fd < 0 ? -ENOENT : read_fd(l->target_fd, max, ret, ret_size);
}

int file_lock_replace(FileLock *l, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                      AtomicFileFlags flags, char *error, size_t error_size) {
        assert(l && l->lock_fd >= 0);
        return replace_in(&l->target, l->lock_fd, l->lock_name, data, size, mode, uid, gid, flags, error, error_size);
}

int file_lock_remove(FileLock *l, AtomicFileFlags flags, char *error, size_t error_size) {
        assert(l && l->lock_fd >= 0);
        if (l->target_fd < 0)
                return 0;
        /* Only the file read under the lock, still under its name, and only while the lock is ours. */
        if (!still_named(l->target.dir_fd, l->target.name, l->target_fd))
                return error_printf(error, error_size, -EAGAIN, "%s was replaced meanwhile; it is left as it is",
                                    l->target.path);
        if (!still_named(l->target.dir_fd, l->lock_name, l->lock_fd))
                return error_printf(error, error_size, -EAGAIN,
                                    "the lock of %s was removed by someone else meanwhile; the file is left as it is",
                                    l->target.path);
        if (unlinkat(l->target.dir_fd, l->target.name, 0) < 0)
                return error_printf(error, error_size, negative_errno(), "cannot remove %s: %m", l->target.path);
        l->target_fd = safe_close(l->target_fd);
        sync_directory(l->target.dir_fd, l->target.path, flags);
        return 1;
}

/* ---- what crashed writers left ------------------------------------------ */

/* Whether a file named .NAME.cce-certd-* with owner uid is ours: owned by
 * the daemon's user, or by NAME's owner (a file written for another owner
 * gets that owner before its data, see replace_in()). */
static bool temporary_is_ours(int dir_fd, const char *name, uid_t uid) {
        char target[NAME_MAX + 1];
        struct stat st;

        if (uid == geteuid())
                return true;
        const char *infix = strstr(name + 1, TEMP_INFIX);
        for (const char *next; (next = strstr(infix + 1, TEMP_INFIX));)
                infix = next;  /* the last: NAME may hold the infix too */
        snprintf(target, sizeof(target), "%.*s", (int) (infix - name - 1), name + 1);
        return fstatat(dir_fd, target, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid;
}

/* A regular file of ours named .NAME.cce-certd-*, that no one flocks and
 * that still has that name: removed. */
static bool remove_temporary(int dir_fd, const char *name) {
        _cleanup_close_ int fd = -1;
        struct stat st, now;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !temporary_is_ours(dir_fd, name, st.st_uid))
                return false;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return false;  /* a writer's, being written; or no flocks here to tell */
        if (fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
                return false;  /* renamed into place meanwhile */
        return unlinkat(dir_fd, name, 0) == 0;
}

static bool is_temporary_name(const char *name) {
        return name[0] == '.' && strstr(name + 1, TEMP_INFIX) != NULL;
}

static bool is_lock_name(const char *name) {
        size_t n = strlen(name), s = strlen(LOCK_SUFFIX);
        return n > s && strcmp(name + n - s, LOCK_SUFFIX) == 0;
}

/* A lock of ours (it names its owner): kubectl's are left to the writes. */
static bool lock_is_ours(int dir_fd, const char *name) {
        char buf[sizeof(OWNER_PREFIX)] = "";
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        return fd >= 0 && pread(fd, buf, sizeof(buf) - 1, 0) == (ssize_t) sizeof(buf) - 1 &&
                memcmp(buf, OWNER_PREFIX, sizeof(buf) - 1) == 0;
}

int atomic_file_sweep(const char *path, char *error, size_t error_size) {
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        struct dirent *e;
        DIR *d;
        int r, n = 0;

        r = safe_path_open(path, &p, error, error_size);
        if (r < 0)
                return r;
        int fd = openat(p.dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || !(d = fdopendir(fd))) {
                r = negative_errno();
                safe_close(fd);
                errno = -r;
                return error_printf(error, error_size, r, "cannot list the directory of %s: %m", p.path);
        }
        while ((e = readdir(d))) {
                if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
                        continue;
                if (is_temporary_name(e->d_name))
                        n += remove_temporary(p.dir_fd, e->d_name);
                else if (is_lock_name(e->d_name) && lock_is_ours(p.dir_fd, e->d_name) &&
                         remove_stale_lock(p.dir_fd, e->d_name) &&
                         faccessat(p.dir_fd, e->d_name, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        n++;
        }
        closedir(d);
        return n;
}

int file_lock_describe(const char *path, char *text, size_t text_size) {
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        _cleanup_free_ char *lock = NULL;
        _cleanup_close_ int fd = -1;
        time_t age;
        long pid;

        if (safe_path_open(path, &p, NULL, 0) < 0)
                return 0;  /* the file's own state says why */
        if (asprintf(&lock, "%s" LOCK_SUFFIX, p.name) < 0)
                return -ENOMEM;
        fd = openat(p.dir_fd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : error_printf(text, text_size, 2, "%s" LOCK_SUFFIX " is there and cannot be read: %m",
                                                         p.path);
        /* Looked at, not taken: a shared flock tells whether its writer holds it. */
        bool free_now = flock(fd, LOCK_SH | LOCK_NB) == 0;
        bool stale = lock_stale(fd, free_now, &pid, &age);
        if (pid > 0 && !stale)
                return error_printf(text, text_size, 1, "%s" LOCK_SUFFIX " is held by cce-certd (pid %ld)", p.path, pid);
        if (pid > 0)
                return error_printf(text, text_size, 2,
                                    "%s" LOCK_SUFFIX " was left by cce-certd pid %ld, which is gone: it blocks kubectl until "
                                    "cce-certd starts or writes there, or it is removed", p.path, pid);
        return error_printf(text, text_size, stale ? 2 : 1, "%s" LOCK_SUFFIX " is held by another program (kubectl?) for %lld s%s",
                            p.path, (long long) age, stale ? "; it is taken as stale at the next write" : "");
}
