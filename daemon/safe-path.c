/* SPDX-License-Identifier: MIT */
/* Resolving a path the daemon writes one component at a time, refusing
 * any that another local user could turn. Writes nothing. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error-buffer.h"
#include "macro.h"
#include "safe-path.h"
#include "time-util.h"

#define SYMLINKS_MAX 32

void safe_path_done(SafePath *p) {
        if (!p)
                return;
        safe_close(p->dir_fd);
        free(p->name);
        free(p->path);
        *p = SAFE_PATH_NULL;
}

static bool trusted_owner(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

/* Appends "/name" to the resolved path (dir is "" for "/"). */
static int path_append(char **dir, const char *name, size_t len) {
        char *p;
        if (asprintf(&p, "%s/%.*s", *dir, (int) len, name) < 0)
                return -ENOMEM;
        free(*dir);
        *dir = p;
        return 0;
}

static void path_up(char *dir) {
        char *slash = strrchr(dir, '/');
        if (slash)
                *slash = 0;
}

/* The rules for a directory entered from parent (NULL: "/"). */
static int check_directory(const struct stat *parent, const struct stat *st, const char *path, char *error,
                           size_t error_size) {
        const char *shown = path[0] ? path : "/";

        if (parent && !trusted_owner(parent->st_uid) && parent->st_uid != st->st_uid)
                return error_printf(error, error_size, -SAFE_PATH_REFUSED,
                                    "%s is owned by uid %u but is reached through a directory owned by uid %u, "
                                    "who could have put it there", shown, (unsigned) st->st_uid, (unsigned) parent->st_uid);
        if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !((st->st_mode & S_ISVTX) && trusted_owner(st->st_uid)))
                return error_printf(error, error_size, -SAFE_PATH_REFUSED,
                                    "the directory %s is writable by %s (mode %04o, owner uid %u); "
                                    "only a sticky one owned by root or uid %u is accepted",
                                    shown, (st->st_mode & S_IWOTH) ? "every user" : "its group",
                                    (unsigned) (st->st_mode & 07777), (unsigned) st->st_uid, (unsigned) geteuid());
        return 0;
}

/* directory: path ends in "/." and names the directory itself. */
static int resolve(const char *path, bool directory, SafePath *ret, char *error, size_t error_size) {
        _cleanup_free_ char *todo = NULL, *done = strdup(""), *name = NULL, *final = NULL;
        _cleanup_close_ int fd = -1;
        struct stat cur;
        unsigned symlinks = 0;
        bool via_symlink = false;
        int r;

        if (!done)
                return -ENOMEM;
        if (path[0] != '/')
                return error_printf(error, error_size, -EINVAL, "%s is not an absolute path", path);
        todo = strdup(path);
        if (!todo)
                return -ENOMEM;
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &cur) < 0)
                return error_printf(error, error_size, negative_errno(), "cannot open /: %m");
        r = check_directory(NULL, &cur, "", error, error_size);
        if (r < 0)
                return r;

        for (const char *p = todo;;) {
                while (*p == '/')
                        p++;
                size_t len = strcspn(p, "/");
                const char *rest = p + len;
                while (*rest == '/')
                        rest++;
                bool last = *rest == 0;

                if (len == 0)
                        return error_printf(error, error_size, -EISDIR, "%s names a directory, not a file", path);
                if (len == 1 && p[0] == '.') {
                        if (last && directory) {
                                name = strdup(".");
                                if (!name)
                                        return -ENOMEM;
                                break;
                        }
                        if (last)
                                return error_printf(error, error_size, -EISDIR, "%s names a directory, not a file", path);
                        p = rest;
                        continue;
                }
                if (len > NAME_MAX)
                        return error_printf(error, error_size, -ENAMETOOLONG, "a component of %s is too long", path);
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        struct stat parent;
                        if (last)
                                return error_printf(error, error_size, -EISDIR, "%s names a directory, not a file", path);
                        int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (up < 0 || fstat(up, &parent) < 0) {
                                r = error_printf(error, error_size, negative_errno(), "cannot go up from %s: %m",
                                                 done[0] ? done : "/");
                                safe_close(up);
                                return r;
                        }
                        path_up(done);
                        r = check_directory(&cur, &parent, done, error, error_size);
                        safe_close(fd);
                        fd = up;
                        if (r < 0)
                                return r;
                        cur = parent;
                        p = rest;
                        continue;
                }

                _cleanup_close_ int child = -1;
                char component[NAME_MAX + 1];
                memcpy(component, p, len);
                component[len] = 0;
                struct stat st;
                child = openat(fd, component, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (child < 0) {
                        if (errno == ENOENT && last) {
                                if (via_symlink)
                                        return error_printf(error, error_size, -ELOOP,
                                                            "%s is a symlink to %s/%s, which does not exist", path,
                                                            done, component);
                                name = strdup(component);
                                if (!name)
                                        return -ENOMEM;
                                break;
                        }
                        r = negative_errno();
                        if (path_append(&done, p, len) < 0)
                                return -ENOMEM;
                        if (r == -ENOENT)
                                return error_printf(error, error_size, r, "the directory %s does not exist", done);
                        errno = -r;
                        return error_printf(error, error_size, r, "cannot look at %s: %m", done);
                }
                if (fstat(child, &st) < 0)
                        return error_printf(error, error_size, negative_errno(), "cannot look at %s/%s: %m", done, component);

                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        if (!trusted_owner(st.st_uid))
                                return error_printf(error, error_size, -SAFE_PATH_REFUSED,
                                                    "%s/%s is a symlink owned by uid %u, not by root or uid %u",
                                                    done, component, (unsigned) st.st_uid, (unsigned) geteuid());
                        if (++symlinks > SYMLINKS_MAX)
                                return error_printf(error, error_size, -ELOOP, "%s: too many levels of symlinks", path);
                        ssize_t n = readlinkat(child, "", target, sizeof(target) - 1);
                        if (n <= 0)
                                return error_printf(error, error_size, n < 0 ? negative_errno() : -EINVAL,
                                                    "cannot read the symlink %s/%s: %m", done, component);
                        target[n] = 0;
                        char *next;
                        if (asprintf(&next, "%s/%s", target, rest) < 0)
                                return -ENOMEM;
                        if (target[0] == '/') {
                                safe_close(fd);
                                fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                                if (fd < 0 || fstat(fd, &cur) < 0) {
                                        free(next);
                                        return error_printf(error, error_size, negative_errno(), "cannot open /: %m");
                                }
                                done[0] = 0;
                        }
                        free(todo);
                        todo = next;
                        p = todo;
                        /* A link that is the file must lead to one. */
                        via_symlink = via_symlink || last;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (last)
                                return error_printf(error, error_size, -EISDIR, "%s/%s is a directory", done, component);
                        if (path_append(&done, p, len) < 0)
                                return -ENOMEM;
                        r = check_directory(&cur, &st, done, error, error_size);
                        if (r < 0)
                                return r;
                        safe_close(fd);
                        fd = TAKE_FD(child);
                        cur = st;
                        p = rest;
                        continue;
                }
                if (!last)
                        return error_printf(error, error_size, -ENOTDIR, "%s/%s is not a directory", done, component);
                name = strdup(component);
                if (!name)
                        return -ENOMEM;
                break;
        }

        if (asprintf(&final, "%s/%s", done, name) < 0)
                return -ENOMEM;
        /* Readable, for syncing it and listing it; O_PATH is enough for the rest. */
        int dir_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                dir_fd = TAKE_FD(fd);
        *ret = (SafePath) { .dir_fd = dir_fd, .name = TAKE_PTR(name), .path = TAKE_PTR(final) };
        return 0;
}

/* ---- directories checked lately ----------------------------------------- */

/* A directory that passed the walk above is used again for a file in it,
 * without a walk, for at most reuse_usec, and only when
 *   - the same directory path, opened now with the kernel's own lookup, is
 *     the very directory that passed: same device, inode and birth time (a
 *     new directory given a freed inode's number is born later), with the
 *     owner and mode that passed, and
 *   - the file's name in it is a regular file or nothing (a symlink, a
 *     directory and the rest are walked, to be judged).
 * Anything else walks from "/" again. So a swapped component (the path now
 * leads elsewhere) and a directory that changed its own owner or mode are
 * seen at once; an ancestor's new owner or mode at the next walk, within
 * reuse_usec. No directory is held open in between (that would keep a
 * removed one alive, and delay what inotify says of it). Where the file
 * system tells no birth time, every write walks. */
#define CHECKED_MAX 32
#define CHECKED_STATX (STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_BTIME)

static bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* Held in place, not on the heap: a process that forks and _exit()s
 * leaves nothing allocated behind (valgrind's leak check says so), and a
 * lookup allocates nothing. A directory path of PATH_MAX or longer is
 * walked each time. */
typedef struct CheckedDirectory {
        char dir[PATH_MAX];     /* as written in the path given */
        char resolved[PATH_MAX]; /* as the walk found it, for messages */
        struct statx stx;       /* what passed */
        uint64_t checked_usec;  /* CLOCK_MONOTONIC */
} CheckedDirectory;

static CheckedDirectory checked[CHECKED_MAX];
static size_t n_checked;
static uint64_t reuse_usec = SAFE_PATH_REUSE_USEC;
static uint64_t walks;

static void checked_drop(size_t i) {
        if (i != --n_checked)
                memcpy(&checked[i], &checked[n_checked], sizeof(checked[i]));
}

void safe_path_set_reuse_usec(uint64_t usec) {
        reuse_usec = usec;
        n_checked = 0;
}

uint64_t safe_path_walks(void) {
        return walks;
}

/* path's directory (as written) and final name, when the name is a plain
 * one (not ".", "..", empty) and the directory shorter than PATH_MAX. */
static bool split_path(const char *path, char dir[static PATH_MAX], const char **ret_name) {
        const char *slash = strrchr(path, '/');
        if (!slash || !slash[1] || streq(slash + 1, ".") || streq(slash + 1, ".."))
                return false;
        size_t len = slash == path ? 1 : (size_t) (slash - path);
        if (len >= PATH_MAX)
                return false;
        memcpy(dir, path, len);
        dir[len] = 0;
        *ret_name = slash + 1;
        return true;
}

static bool same_directory(const struct statx *a, const struct statx *b) {
        return (a->stx_mask & CHECKED_STATX) == CHECKED_STATX && (b->stx_mask & CHECKED_STATX) == CHECKED_STATX &&
                a->stx_dev_major == b->stx_dev_major && a->stx_dev_minor == b->stx_dev_minor &&
                a->stx_ino == b->stx_ino && a->stx_btime.tv_sec == b->stx_btime.tv_sec &&
                a->stx_btime.tv_nsec == b->stx_btime.tv_nsec && a->stx_uid == b->stx_uid && a->stx_mode == b->stx_mode;
}

/* 1 and *ret filled when the check of path's directory can be used again. */
static int reuse_checked(const char *path, SafePath *ret) {
        char dir[PATH_MAX];
        const char *name;
        struct statx now;
        struct stat st;

        if (!split_path(path, dir, &name))
                return 0;
        for (size_t i = 0; i < n_checked; i++) {
                CheckedDirectory *c = &checked[i];
                if (!streq(c->dir, dir))
                        continue;
                if (now_usec(CLOCK_MONOTONIC) - c->checked_usec >= reuse_usec) {
                        checked_drop(i);
                        return 0;
                }
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0 || statx(fd, "", AT_EMPTY_PATH, CHECKED_STATX, &now) < 0 ||
                    !same_directory(&now, &c->stx)) {
                        checked_drop(i);
                        return 0;
                }
                if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? errno != ENOENT : !S_ISREG(st.st_mode))
                        return 0;  /* a symlink, a directory...: the walk judges and says */
                _cleanup_free_ char *n = strdup(name), *p = NULL;
                if (!n || asprintf(&p, "%s/%s", streq(c->resolved, "/") ? "" : c->resolved, name) < 0)
                        return -ENOMEM;
                *ret = (SafePath) { .dir_fd = TAKE_FD(fd), .name = TAKE_PTR(n), .path = TAKE_PTR(p) };
                return 1;
        }
        return 0;
}

/* Keeps what the walk of path found, when it is path's own directory (not
 * one a symlink led to), readable, and its file system tells birth times. */
static void remember_checked(const char *path, const SafePath *p) {
        char dir[PATH_MAX];
        const char *name;
        struct statx found, named;

        if (reuse_usec == 0 || !split_path(path, dir, &name) || !streq(p->name, name))
                return;
        int flags = fcntl(p->dir_fd, F_GETFL);
        if (flags < 0 || (flags & O_PATH))
                return;  /* one that cannot be read is walked each time */
        if (statx(p->dir_fd, "", AT_EMPTY_PATH, CHECKED_STATX, &found) < 0 ||
            statx(AT_FDCWD, dir, 0, CHECKED_STATX, &named) < 0 || !same_directory(&found, &named))
                return;
        const char *slash = strrchr(p->path, '/');
        size_t resolved_len = slash == p->path ? 1 : (size_t) (slash - p->path);
        if (resolved_len >= PATH_MAX)
                return;
        if (n_checked == CHECKED_MAX) {
                size_t oldest = 0;
                for (size_t i = 1; i < n_checked; i++)
                        if (checked[i].checked_usec < checked[oldest].checked_usec)
                                oldest = i;
                checked_drop(oldest);
        }
        CheckedDirectory *c = &checked[n_checked++];
        strcpy(c->dir, dir);
        memcpy(c->resolved, p->path, resolved_len);
        c->resolved[resolved_len] = 0;
        c->stx = found;
        c->checked_usec = now_usec(CLOCK_MONOTONIC);
}

int safe_path_open(const char *path, SafePath *ret, char *error, size_t error_size) {
        int r = reuse_checked(path, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        walks++;
        r = resolve(path, false, ret, error, error_size);
        if (r >= 0)
                remember_checked(path, ret);
        return r;
}

int safe_path_open_directory(const char *path, int *ret_fd, char *error, size_t error_size) {
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        _cleanup_free_ char *dot = NULL;
        int r;

        if (asprintf(&dot, "%s/.", path) < 0)
                return -ENOMEM;
        r = resolve(dot, true, &p, error, error_size);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(p.dir_fd);
        return 0;
}
