/* SPDX-License-Identifier: MIT */
/* Replacing files: locks, symlinks, modes, and every failure leaving the old
 * file untouched and no temporary file behind: full disk (a small tmpfs),
 * read-only file system, permission denied, a directory in the way, a
 * bind-mounted file; and a writer SIGKILLed 200 times while a reader checks
 * that every read is a whole old or new file. Tests that need a private
 * mount namespace are skipped where one cannot be made. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic-file.h"
#include "safe-path.h"
#include "macro.h"
#include "secure-memory.h"
#include "tests.h"

static char dir[] = "/tmp/test-atomic-file-XXXXXX";

static void path_of(char *buf, size_t n, const char *name) {
        snprintf(buf, n, "%s/%s", dir, name);
}

static void write_plain(const char *path, const char *content) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
}

static char *read_plain(const char *path) {
        char *data;
        size_t size;
        ASSERT_EQ(atomic_file_read(path, 1 << 20, &data, &size, NULL, 0), 0);
        return data;
}

/* Files in d whose name contains ".cce-certd-" (temporary files). */
static unsigned count_temp_files(const char *d) {
        DIR *dd = opendir(d);
        struct dirent *e;
        unsigned n = 0;
        ASSERT(dd);
        while ((e = readdir(dd)))
                n += strstr(e->d_name, ".cce-certd-") != NULL;
        closedir(dd);
        return n;
}

TEST(write_and_mode) {
        char path[256], error[256];
        struct stat st;
        mode_t old = umask(077);

        path_of(path, sizeof(path), "config");
        ASSERT_EQ(atomic_file_write(path, "one\n", 4, 0640, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0640);  /* exactly, despite the umask */
        _cleanup_free_ char *a = read_plain(path);
        ASSERT_STREQ(a, "one\n");
        ASSERT_EQ(atomic_file_write(path, "two\n", 4, 0600, 65534, 65534, ATOMIC_FILE_DURABLE, error, sizeof(error)), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 07777, 0600);
        if (getuid() == 0) {
                ASSERT_EQ(st.st_uid, 65534);
                ASSERT_EQ(st.st_gid, 65534);
        }
        ASSERT_EQ(count_temp_files(dir), 0);
        umask(old);
}

TEST(resolve) {
        char target[256], link[256], dangling[256], fresh[256], error[256];
        SafePath p = SAFE_PATH_NULL;

        path_of(target, sizeof(target), "real");
        path_of(link, sizeof(link), "link");
        path_of(dangling, sizeof(dangling), "dangling");
        path_of(fresh, sizeof(fresh), "fresh");
        write_plain(target, "x");
        ASSERT_EQ(symlink("real", link), 0);
        ASSERT_EQ(safe_path_open(link, &p, error, sizeof(error)), 0);
        ASSERT_STREQ(p.name, "real");
        ASSERT(strstr(p.path, "/real"));
        safe_path_done(&p);

        /* Not there yet: the directory is resolved, the name kept. */
        ASSERT_EQ(safe_path_open(fresh, &p, error, sizeof(error)), 0);
        ASSERT_STREQ(p.name, "fresh");
        safe_path_done(&p);

        ASSERT_EQ(symlink("nowhere", dangling), 0);
        ASSERT_EQ(safe_path_open(dangling, &p, error, sizeof(error)), -ELOOP);
        ASSERT(strstr(error, "does not exist"));
        ASSERT_EQ(safe_path_open("/nonexistent-dir-cce/x", &p, error, sizeof(error)), -ENOENT);
        ASSERT(strstr(error, "/nonexistent-dir-cce does not exist"));
        ASSERT_EQ(safe_path_open("/tmp", &p, error, sizeof(error)), -EISDIR);
        ASSERT_EQ(safe_path_open("relative/x", &p, error, sizeof(error)), -EINVAL);

        /* Writing through the link replaces the target and keeps the link. */
        ASSERT_EQ(atomic_file_write(link, "new", 3, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)), 0);
        struct stat st;
        ASSERT_EQ(lstat(link, &st), 0);
        ASSERT(S_ISLNK(st.st_mode));
        _cleanup_free_ char *c = read_plain(target);
        ASSERT_STREQ(c, "new");
}

/* A directory's walk is used again for the next file in it, and never once
 * the path leads elsewhere, the directory itself changed owner or mode, the
 * name became something else than a file, or the check is older than the
 * reuse time (then an ancestor's change is seen too). */
TEST(checked_directory_reused_until_changed) {
        char d[256], old[256], path[300], target[300], anc[256], sub[300], deep[320], error[512];
        uint64_t walks;

        path_of(d, sizeof(d), "reuse");
        path_of(old, sizeof(old), "reuse.old");
        ASSERT_EQ(mkdir(d, 0755), 0);
        snprintf(path, sizeof(path), "%s/kubeconfig", d);
#define WRITE(p, text) atomic_file_write(p, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error))
        walks = safe_path_walks();
        ASSERT_EQ(WRITE(path, "one"), 0);
        ASSERT_EQ(WRITE(path, "two"), 0);
        _cleanup_free_ char *two = read_plain(path);
        ASSERT_STREQ(two, "two");
        struct statx stx;
        ASSERT_EQ(statx(AT_FDCWD, d, 0, STATX_BTIME, &stx), 0);
        if (!(stx.stx_mask & STATX_BTIME)) {
                printf("  no birth times here: every write walks\n");
                ASSERT_EQ(safe_path_walks(), walks + 3);
                return;
        }
        ASSERT_EQ(safe_path_walks(), walks + 1);

        /* The directory swapped for another: the new one is walked and written. */
        ASSERT_EQ(rename(d, old), 0);
        ASSERT_EQ(mkdir(d, 0755), 0);
        ASSERT_EQ(WRITE(path, "three"), 0);
        ASSERT_EQ(safe_path_walks(), walks + 2);
        _cleanup_free_ char *three = read_plain(path);
        ASSERT_STREQ(three, "three");
        snprintf(target, sizeof(target), "%s/kubeconfig", old);
        _cleanup_free_ char *kept = read_plain(target);
        ASSERT_STREQ(kept, "two");

        /* The directory made writable by all: refused at once. */
        ASSERT_EQ(chmod(d, 0777), 0);
        ASSERT_EQ(WRITE(path, "four"), -SAFE_PATH_REFUSED);
        ASSERT(strstr(error, "is writable by every user"));
        ASSERT_EQ(chmod(d, 0755), 0);

        /* The name now a symlink (ours): followed, as by the walk. */
        ASSERT_EQ(WRITE(path, "five"), 0);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(symlink("../reuse.old/kubeconfig", path), 0);
        ASSERT_EQ(WRITE(path, "six"), 0);
        _cleanup_free_ char *six = read_plain(target);
        ASSERT_STREQ(six, "six");

        /* An ancestor made writable by all: seen once the check is older
         * than the reuse time. */
        safe_path_set_reuse_usec(200 * 1000);
        path_of(anc, sizeof(anc), "ancestor");
        snprintf(sub, sizeof(sub), "%s/sub", anc);
        snprintf(deep, sizeof(deep), "%s/kubeconfig", sub);
        ASSERT_EQ(mkdir(anc, 0755), 0);
        ASSERT_EQ(mkdir(sub, 0755), 0);
        ASSERT_EQ(WRITE(deep, "seven"), 0);
        ASSERT_EQ(chmod(anc, 0777), 0);
        usleep(250 * 1000);
        ASSERT_EQ(WRITE(deep, "eight"), -SAFE_PATH_REFUSED);
        ASSERT(strstr(error, "is writable by every user"));
        ASSERT_EQ(chmod(anc, 0755), 0);
        _cleanup_free_ char *seven = read_plain(deep);
        ASSERT_STREQ(seven, "seven");
        safe_path_set_reuse_usec(SAFE_PATH_REUSE_USEC);
#undef WRITE
}

/* Another process holding an flock on path, until flock_holder_stop(). */
typedef struct FlockHolder {
        pid_t pid;
        int done;               /* closed: the holder exits */
} FlockHolder;

static FlockHolder flock_holder_start(const char *path) {
        int locked[2], done[2];
        char c;
        ASSERT_EQ(pipe(locked), 0);
        ASSERT_EQ(pipe(done), 0);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
                close(done[1]);  /* else its own copy would keep the pipe open */
                int fd = open(path, O_RDONLY);
                flock(fd, LOCK_EX);
                ASSERT_EQ(write(locked[1], "l", 1), 1);
                (void) read(done[0], &c, 1);  /* until the parent says */
                _exit(0);
        }
        ASSERT_EQ(read(locked[0], &c, 1), 1);
        close(locked[0]);
        close(locked[1]);
        close(done[0]);
        return (FlockHolder) { pid, done[1] };
}

static void flock_holder_stop(FlockHolder h) {
        close(h.done);
        ASSERT_EQ(waitpid(h.pid, NULL, 0), h.pid);
}

TEST(locks) {
        char path[256], lock_path[300], error[256];
        FileLock *a = NULL, *b = NULL;

        path_of(path, sizeof(path), "locked");
        snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
        write_plain(path, "x");

        ASSERT_EQ(file_lock_acquire(path, &a, error, sizeof(error)), 0);
        ASSERT_EQ(access(lock_path, F_OK), 0);
        ASSERT_EQ(file_lock_acquire(path, &b, error, sizeof(error)), -EAGAIN);
        ASSERT(strstr(error, "locked by another program"));
        a = file_lock_release(a);
        ASSERT(access(lock_path, F_OK) < 0);

        /* kubectl's lock, fresh: respected. */
        write_plain(lock_path, "");
        ASSERT_EQ(file_lock_acquire(path, &b, error, sizeof(error)), -EAGAIN);
        /* ... and old: stale, taken over. */
        struct timespec old[2] = { { .tv_sec = time(NULL) - 2 * FILE_LOCK_STALE_SEC }, { .tv_sec = time(NULL) - 2 * FILE_LOCK_STALE_SEC } };
        ASSERT_EQ(utimensat(AT_FDCWD, lock_path, old, 0), 0);
        ASSERT_EQ(file_lock_acquire(path, &b, error, sizeof(error)), 0);
        b = file_lock_release(b);

        /* A lock of a process of ours that died: taken over at once. */
        pid_t child = fork();
        ASSERT(child >= 0);
        if (child == 0)
                _exit(0);
        ASSERT_EQ(waitpid(child, NULL, 0), child);
        char note[64];
        snprintf(note, sizeof(note), "cce-certd %d\n", (int) child);
        write_plain(lock_path, note);
        ASSERT_EQ(file_lock_acquire(path, &b, error, sizeof(error)), 0);
        b = file_lock_release(b);

        /* ... and one whose pid is alive again (reused after a crash and a
         * reboot) but that nobody flocks: its writer is gone too. */
        snprintf(note, sizeof(note), "cce-certd %d\n", (int) getpid());
        write_plain(lock_path, note);
        ASSERT_EQ(file_lock_acquire(path, &b, error, sizeof(error)), 0);
        b = file_lock_release(b);

        /* ... but not while its writer holds its flock. */
        write_plain(lock_path, note);
        FlockHolder holder = flock_holder_start(lock_path);
        ASSERT_EQ(file_lock_acquire(path, &b, error, sizeof(error)), -EAGAIN);
        flock_holder_stop(holder);
        unlink(lock_path);
}

/* A lock of ours is never seen empty, not for a moment: an empty lock
 * looks like kubectl's, so a SIGKILL at that moment would hold the file for
 * a minute. A child takes and releases the lock 20,000 times while we read
 * it. */
TEST(lock_always_names_its_owner) {
        char path[256], lock_path[300];
        unsigned empty = 0, named = 0;

        path_of(path, sizeof(path), "named");
        snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
        write_plain(path, "x");
        pid_t child = fork();
        ASSERT(child >= 0);
        if (child == 0) {
                char error[256];
                for (int i = 0; i < 20000; i++) {
                        FileLock *l = NULL;
                        if (file_lock_acquire(path, &l, error, sizeof(error)) == 0)
                                file_lock_release(l);
                }
                _exit(0);
        }
        while (waitpid(child, NULL, WNOHANG) == 0) {
                char buf[64];
                int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t n = read(fd, buf, sizeof(buf));
                close(fd);
                if (n == 0)
                        empty++;
                else if (n > 0 && strncmp(buf, "cce-certd ", 10) == 0)
                        named++;
        }
        printf("  %u reads of the lock named its owner, %u found it empty\n", named, empty);
        ASSERT(named > 0);
        ASSERT_EQ(empty, 0u);
        ASSERT_EQ(count_temp_files(dir), 0u);
}

TEST(directory_in_the_way_and_missing_directory) {
        char path[256], error[256];
        path_of(path, sizeof(path), "adir");
        ASSERT_EQ(mkdir(path, 0700), 0);
        ASSERT(atomic_file_write(path, "x", 1, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)) < 0);
        ASSERT_EQ(count_temp_files(dir), 0);
        char *data;
        size_t size;
        ASSERT_EQ(atomic_file_read(path, 100, &data, &size, NULL, 0), -EISDIR);
        ASSERT_EQ(atomic_file_write("/nonexistent-dir-cce/x", "x", 1, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)), -ENOENT);
        ASSERT(strstr(error, "/nonexistent-dir-cce"));
}

static int write_as_nobody(void *path) {
        char error[256];
        if (setgid(65534) < 0 || setuid(65534) < 0)
                return 2;
        int r = atomic_file_write(path, "new", 3, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error));
        return r == -EACCES && strstr(error, "Permission denied") ? 0 : 1;
}

TEST(permission_denied) {
        char sub[256], path[300];

        if (getuid() != 0) {
                printf("  not root: skipped\n");
                return;
        }
        path_of(sub, sizeof(sub), "root-only");
        ASSERT_EQ(mkdir(sub, 0755), 0);
        snprintf(path, sizeof(path), "%s/file", sub);
        write_plain(path, "old");
        ASSERT_EQ(run_in_child(write_as_nobody, path), 0);
        _cleanup_free_ char *c = read_plain(path);
        ASSERT_STREQ(c, "old");
        ASSERT_EQ(count_temp_files(sub), 0);
}

static int namespace_child(void *f) {
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return 77;
        return ((int (*)(void)) f)();
}

/* Runs f in a child inside a private mount namespace; false when no
 * namespace can be made here. */
static bool in_mount_namespace(int (*f)(void)) {
        int r = run_in_child(namespace_child, (void *) f);
        if (r == 77) {
                printf("  no private mount namespace here: skipped\n");
                return false;
        }
        if (r != 0) {
                fprintf(stderr, "check in the mount namespace failed at step %d\n", r);
                abort();
        }
        return true;
}

#define CHECK(step, cond)                                                               \
        do {                                                                            \
                if (!(cond)) {                                                          \
                        fprintf(stderr, "step %d: %s: %m\n", step, #cond);              \
                        return step;                                                    \
                }                                                                       \
        } while (0)

/* Without /proc a file without a name (O_TMPFILE) is linked with
 * AT_EMPTY_PATH (root) or, where neither works, created under its name:
 * either way the lock names its owner and nothing is left. */
static int without_proc(void) {
        char path[256], lock_path[300], error[256], owner[64];
        FileLock *l = NULL;
        path_of(path, sizeof(path), "no-proc");
        snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
        CHECK(1, mount("tmpfs", "/proc", "tmpfs", 0, "size=4k") == 0);
        for (int i = 0; i < 3; i++) {
                CHECK(2, file_lock_acquire(path, &l, error, sizeof(error)) == 0);
                int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
                CHECK(3, fd >= 0);
                ssize_t n = read(fd, owner, sizeof(owner) - 1);
                close(fd);
                CHECK(4, n > 0 && strncmp(owner, "cce-certd ", 10) == 0);
                CHECK(5, file_lock_replace(l, "x", 1, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error,
                                                  sizeof(error)) == 0);
                l = file_lock_release(l);
        }
        CHECK(6, count_temp_files(dir) == 0);
        CHECK(7, access(lock_path, F_OK) < 0);
        return 0;
}

TEST(lock_without_proc) {
        in_mount_namespace(without_proc);
}

static int full_disk(void) {
        char mnt[256], path[300], error[256], *data;
        size_t size;
        path_of(mnt, sizeof(mnt), "small");
        CHECK(1, mkdir(mnt, 0700) == 0);
        CHECK(2, mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0);
        snprintf(path, sizeof(path), "%s/kubeconfig", mnt);
        CHECK(3, atomic_file_write(path, "old content\n", 12, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)) == 0);
        size_t big = 256 * 1024;
        char *blob = malloc(big);
        CHECK(4, blob != NULL);
        memset(blob, 'x', big);
        int r = atomic_file_write(path, blob, big, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error));
        free(blob);
        printf("  full disk: %s\n", error);
        CHECK(5, r == -ENOSPC);
        CHECK(6, atomic_file_read(path, 1 << 20, &data, &size, NULL, 0) == 0);
        CHECK(7, strcmp(data, "old content\n") == 0);
        free(data);
        CHECK(8, count_temp_files(mnt) == 0);
        umount(mnt);
        return 0;
}

TEST(full_disk) {
        in_mount_namespace(full_disk);
}

static int read_only(void) {
        char mnt[256], path[300], error[256], *data;
        size_t size;
        path_of(mnt, sizeof(mnt), "ro");
        CHECK(1, mkdir(mnt, 0700) == 0);
        CHECK(2, mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0);
        snprintf(path, sizeof(path), "%s/kubeconfig", mnt);
        CHECK(3, atomic_file_write(path, "old\n", 4, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)) == 0);
        CHECK(4, mount("none", mnt, "none", MS_REMOUNT | MS_RDONLY, NULL) == 0);
        CHECK(5, atomic_file_write(path, "new\n", 4, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error)) == -EROFS);
        printf("  read-only: %s\n", error);
        CHECK(6, atomic_file_read(path, 1 << 20, &data, &size, NULL, 0) == 0 && strcmp(data, "old\n") == 0);
        free(data);
        umount(mnt);
        return 0;
}

TEST(read_only_file_system) {
        in_mount_namespace(read_only);
}

static int bind_mounted(void) {
        char path[300], source[300], error[512], *data;
        size_t size;
        path_of(path, sizeof(path), "bound");
        path_of(source, sizeof(source), "bound-source");
        write_plain(path, "old\n");
        write_plain(source, "source\n");
        CHECK(1, mount(source, path, "none", MS_BIND, NULL) == 0);
        int r = atomic_file_write(path, "new\n", 4, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error, sizeof(error));
        printf("  bind mount: %s\n", error);
        CHECK(2, r == -EBUSY);
        CHECK(3, strstr(error, "mount its directory instead") != NULL);
        CHECK(4, atomic_file_read(path, 1 << 20, &data, &size, NULL, 0) == 0 && strcmp(data, "source\n") == 0);
        free(data);
        CHECK(5, count_temp_files(dir) == 0);
        umount(path);
        return 0;
}

TEST(bind_mounted_file) {
        in_mount_namespace(bind_mounted);
}

/* Content i: a header, a body whose length depends on i, and a trailer that
 * repeats the number, so a torn read is detected. */
static size_t content(unsigned i, char *buf, size_t n) {
        size_t len = (size_t) snprintf(buf, n, "begin %u\n", i);
        size_t body = 1000 + (i % 7) * 3000;
        memset(buf + len, 'a' + (char) (i % 26), body);
        len += body;
        len += (size_t) snprintf(buf + len, n - len, "\nend %u\n", i);
        return len;
}

static bool content_valid(const char *data, size_t size, unsigned *ret) {
        char expect[32768];
        unsigned i;
        if (sscanf(data, "begin %u", &i) != 1)
                return false;
        size_t n = content(i, expect, sizeof(expect));
        *ret = i;
        return n == size && memcmp(expect, data, n) == 0;
}

typedef enum WriterKind {
        WRITE_PLAIN,            /* atomic_file_write() */
        WRITE_UNDER_LOCK,       /* file_lock_acquire() + file_lock_replace() */
} WriterKind;

static int write_kind(WriterKind kind, const char *path, const char *data, size_t size, char *error, size_t error_size) {
        FileLock *l = NULL;
        int r;

        switch (kind) {
        case WRITE_PLAIN:
                return atomic_file_write(path, data, size, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error,
                                         error_size);
        case WRITE_UNDER_LOCK:
                r = file_lock_acquire(path, &l, error, error_size);
                if (r < 0)
                        return r;
                r = file_lock_replace(l, data, size, 0600, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE, error,
                                             error_size);
                file_lock_release(l);
                return r;
        }
        return -EINVAL;
}

/* A writer SIGKILLed 200 times at random moments while a reader checks
 * every read: whole, never older than the last. Under a lock, a killed
 * writer's lock (its own name, or contents it was writing into it) must
 * not stop the next writer, which takes it over at once. */
static void crash_safety(const char *name, WriterKind kind) {
        char path[256], error[256], buf[32768];
        unsigned kills = 0, reads = 0, last = 0;

        path_of(path, sizeof(path), name);
        size_t n = content(0, buf, sizeof(buf));
        ASSERT_EQ(write_kind(kind, path, buf, n, error, sizeof(error)), 0);

        srand(12345);  /* reproducible */
        for (unsigned round = 0; round < 200; round++) {
                pid_t writer = fork();
                ASSERT(writer >= 0);
                if (writer == 0) {
                        for (unsigned i = last + 1;; i++) {
                                char b[32768], e[256];
                                size_t len = content(i, b, sizeof(b));
                                if (write_kind(kind, path, b, len, e, sizeof(e)) < 0) {
                                        fprintf(stderr, "writer: %s\n", e);
                                        _exit(1);
                                }
                        }
                }
                /* Read while it writes, for a random moment, then kill it. */
                struct timespec deadline;
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                long wait_ns = (rand() % 20) * 1000000L;
                for (;;) {
                        char *data;
                        size_t size;
                        unsigned seen;
                        ASSERT_EQ(atomic_file_read(path, 1 << 20, &data, &size, NULL, 0), 0);
                        if (!content_valid(data, size, &seen)) {
                                fprintf(stderr, "torn read of %zu bytes in round %u\n", size, round);
                                abort();
                        }
                        ASSERT(seen >= last);  /* never older than what was seen before */
                        last = seen;
                        free(data);
                        reads++;
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        if ((now.tv_sec - deadline.tv_sec) * 1000000000L + (now.tv_nsec - deadline.tv_nsec) >= wait_ns)
                                break;
                }
                ASSERT_EQ(kill(writer, SIGKILL), 0);
                int status;
                ASSERT_EQ(waitpid(writer, &status, 0), writer);
                ASSERT(WIFSIGNALED(status));  /* not an exit: the writer never failed */
                kills++;

                /* After the crash: the file is whole. */
                char *data;
                size_t size;
                unsigned seen;
                ASSERT_EQ(atomic_file_read(path, 1 << 20, &data, &size, NULL, 0), 0);
                ASSERT(content_valid(data, size, &seen));
                last = seen;
                free(data);
        }
        printf("  %u kills, %u reads, last version %u; all reads whole\n", kills, reads, last);
        ASSERT_EQ(kills, 200);

        /* Writers killed between linking and renaming leave a new file
         * (nobody flocks it now), under a lock the lock too: the sweep
         * removes both, and then nothing but the file is there. */
        unsigned left = count_temp_files(dir);
        char lock_path[300];
        snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
        bool lock_left = access(lock_path, F_OK) == 0;
        printf("  %u new files and %u lock left by killed writers\n", left, (unsigned) lock_left);
        ASSERT_EQ(atomic_file_sweep(path, error, sizeof(error)), (int) left + (int) lock_left);
        ASSERT_EQ(count_temp_files(dir), 0);
        ASSERT(access(lock_path, F_OK) < 0);
}

TEST(crash_safety) {
        crash_safety("crash", WRITE_PLAIN);
}

TEST(crash_safety_under_lock) {
        crash_safety("crash-locked", WRITE_UNDER_LOCK);
}

/* Writers in several processes replace one file under its lock at once,
 * taking the spare in turns, while we read it: every read is one writer's
 * whole contents, every write succeeds (after waiting for the lock), and
 * nothing is left but the file and its spare. */
TEST(concurrent_writers_under_lock) {
        char path[256], lock_path[300], error[256], buf[32768];
        enum { WRITERS = 3, WRITES = 300 };
        pid_t writers[WRITERS];
        unsigned reads = 0, seen;

        path_of(path, sizeof(path), "concurrent");
        snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
        size_t n = content(0, buf, sizeof(buf));
        ASSERT_EQ(write_kind(WRITE_UNDER_LOCK, path, buf, n, error, sizeof(error)), 0);
        for (unsigned w = 0; w < WRITERS; w++) {
                writers[w] = fork();
                ASSERT(writers[w] >= 0);
                if (writers[w] > 0)
                        continue;
                for (unsigned k = 1; k <= WRITES; k++) {
                        char b[32768], e[256];
                        size_t len = content((w + 1) * 100000 + k, b, sizeof(b));
                        int r;
                        while ((r = write_kind(WRITE_UNDER_LOCK, path, b, len, e, sizeof(e))) == -EAGAIN)
                                usleep(100);
                        if (r < 0) {
                                fprintf(stderr, "writer %u: %s\n", w, e);
                                _exit(1);
                        }
                }
                _exit(0);
        }
        for (unsigned running = WRITERS; running > 0;) {
                char *data;
                size_t size;
                ASSERT_EQ(atomic_file_read(path, 1 << 20, &data, &size, NULL, 0), 0);
                if (!content_valid(data, size, &seen)) {
                        fprintf(stderr, "torn read of %zu bytes after %u reads\n", size, reads);
                        abort();
                }
                free(data);
                reads++;
                int status;
                pid_t done = waitpid(-1, &status, WNOHANG);
                if (done > 0) {
                        ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                        running--;
                }
        }
        printf("  %u writes by %u processes, %u reads; all whole\n", WRITERS * WRITES, WRITERS, reads);
        _cleanup_free_ char *last = read_plain(path);
        ASSERT(content_valid(last, strlen(last), &seen) && seen % 100000 == WRITES);
        ASSERT(access(lock_path, F_OK) < 0);
        ASSERT_EQ(count_temp_files(dir), 0);
}

/* Under a lock: a new file (not the lock, not the old file) with the mode
 * asked, the lock gone afterwards, nothing else beside the file. On an error
 * the target is untouched and the lock still held until released. */
TEST(replace_through_the_lock) {
        char path[256], lock_path[300], error[256];
        FileLock *l = NULL, *other = NULL;
        struct stat st, old_st, lock_st;

        path_of(path, sizeof(path), "through-lock");
        snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
        write_plain(path, "old");
        ASSERT_EQ(stat(path, &old_st), 0);
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), 0);
        ASSERT_EQ(stat(lock_path, &lock_st), 0);
        ASSERT_EQ(file_lock_replace(l, "new contents", 12, 0640, (uid_t) -1, (gid_t) -1, ATOMIC_FILE_DURABLE,
                                    error, sizeof(error)), 0);
        ASSERT_EQ(access(lock_path, F_OK), 0);  /* until released */
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT(st.st_ino != lock_st.st_ino && st.st_ino != old_st.st_ino);
        ASSERT_EQ(st.st_nlink, 1u);
        ASSERT_EQ(st.st_mode & 07777, 0640);
        _cleanup_free_ char *c = read_plain(path);
        ASSERT_STREQ(c, "new contents");
        l = file_lock_release(l);
        ASSERT(access(lock_path, F_OK) < 0);
        ASSERT_EQ(count_temp_files(dir), 0);

        /* A lock removed by hand and taken by kubectl: not replaced through,
         * and kubectl's lock is not removed by our release. */
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), 0);
        ASSERT_EQ(unlink(lock_path), 0);
        write_plain(lock_path, "");
        ASSERT_EQ(file_lock_replace(l, "mine", 4, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)), -EAGAIN);
        l = file_lock_release(l);
        ASSERT_EQ(access(lock_path, F_OK), 0);
        ASSERT_EQ(unlink(lock_path), 0);
        ASSERT_EQ(count_temp_files(dir), 0);

        /* An flock on the file itself (flock(1) in a script): respected. */
        FlockHolder holder = flock_holder_start(path);
        ASSERT_EQ(file_lock_acquire(path, &other, error, sizeof(error)), -EAGAIN);
        ASSERT(strstr(error, "flock"));
        ASSERT(access(lock_path, F_OK) < 0);
        flock_holder_stop(holder);
        _cleanup_free_ char *d = read_plain(path);
        ASSERT_STREQ(d, "new contents");

        /* A directory in the way: refused, the lock still released. */
        char dir_path[256], dir_lock[300];
        path_of(dir_path, sizeof(dir_path), "through-lock-dir");
        snprintf(dir_lock, sizeof(dir_lock), "%s.lock", dir_path);
        ASSERT_EQ(mkdir(dir_path, 0700), 0);
        ASSERT_EQ(file_lock_acquire(dir_path, &l, error, sizeof(error)), -EISDIR);
        ASSERT(access(dir_lock, F_OK) < 0);
        ASSERT_EQ(rmdir(dir_path), 0);

        /* A lock holding something else than an owner line (an earlier
         * version's lock being filled): respected for the stale age. */
        write_plain(lock_path, "apiVersion: v1\n");
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), -EAGAIN);
        unlink(lock_path);
        ASSERT_EQ(count_temp_files(dir), 0);
}

/* A hook in fstatat(), which this test binary defines for the library it
 * is linked with: the moment a stale-lock check looks whether the lock's
 * name still holds the file it judged, once, for the test below. */
static const char *hook_fstatat_name;
static void (*hook_fstatat)(void);

int fstatat(int dir_fd, const char *path, struct stat *st, int flags) {
        if (hook_fstatat && strcmp(path, hook_fstatat_name) == 0) {
                void (*f)(void) = hook_fstatat;
                hook_fstatat = NULL;
                f();
        }
        return (int) syscall(SYS_newfstatat, dir_fd, path, st, flags);
}

static char ab_path[256], ab_lock[300], ab_aside[300];
static FileLock *ab_other;

/* Another writer, in the moment between the judgement and the removal:
 * the judged file leaves the lock's name (someone else removed it), and
 * the writer takes its lock. */
static void other_writer_takes_the_lock(void) {
        char error[256];
        ASSERT_EQ(rename(ab_lock, ab_aside), 0);
        ASSERT_EQ(file_lock_acquire(ab_path, &ab_other, error, sizeof(error)), 0);
}

/* A lock left over by a writer that died while filling it is removed, but
 * never once it has come back as another writer's lock: the same file can
 * (a spare is the next lock), so its inode alone does not tell. Without
 * the judged file's flock held through the removal, the check removed the
 * other writer's fresh lock, and both wrote the file at once. */
TEST(stale_lock_check_never_removes_a_lock_taken_meanwhile) {
        char error[256];
        FileLock *mine = NULL;
        struct stat st;
        path_of(ab_path, sizeof(ab_path), "judged");
        snprintf(ab_lock, sizeof(ab_lock), "%s.lock", ab_path);
        snprintf(ab_aside, sizeof(ab_aside), "%s/judged-aside", dir);
        write_plain(ab_path, "apiVersion: v1\n");
        write_plain(ab_lock, "cce-certd 1\n");  /* its writer gone: nobody flocks it */

        /* Plainly left over: taken over. */
        ASSERT_EQ(file_lock_acquire(ab_path, &mine, error, sizeof(error)), 0);
        mine = file_lock_release(mine);

        write_plain(ab_lock, "cce-certd 1\n");
        hook_fstatat_name = strrchr(ab_lock, '/') + 1;
        hook_fstatat = other_writer_takes_the_lock;
        ASSERT_EQ(file_lock_acquire(ab_path, &mine, error, sizeof(error)), -EAGAIN);
        ASSERT_NULL(hook_fstatat);  /* the moment came */
        ASSERT(ab_other);
        ASSERT_EQ(lstat(ab_lock, &st), 0);  /* the other's lock is still there */
        ASSERT_EQ(file_lock_replace(ab_other, "theirs", 6, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)), 0);
        ab_other = file_lock_release(ab_other);
        _cleanup_free_ char *c = read_plain(ab_path);
        ASSERT_STREQ(c, "theirs");
}

/* Writers that try again at once whenever the file is locked: the most
 * contention, every lock check racing a release or a reuse of the spare.
 * No writer, once it holds the lock, loses it to another ("taken meanwhile"
 * or a failed rename), and the file is always one writer's whole contents
 * (a lost lock let two writers put their files in place, one of them the
 * other's lock). CCE_CERTD_STRESS_WRITES sets the attempts per writer, for
 * long runs by hand: with the lock-check bug above, 4 of 10 runs of 20000
 * failed. */
TEST(contended_writers_never_share_the_lock) {
        enum { WRITERS = 6 };
        char path[256];
        const char *env = getenv("CCE_CERTD_STRESS_WRITES");
        unsigned attempts = env ? (unsigned) atoi(env) : 2000;
        pid_t writers[WRITERS];

        path_of(path, sizeof(path), "contended");
        write_plain(path, "writer - 0\n");
        for (unsigned w = 0; w < WRITERS; w++) {
                writers[w] = fork();
                ASSERT(writers[w] >= 0);
                if (writers[w] > 0)
                        continue;
                unsigned written = 0;
                for (unsigned k = 0; k < attempts; k++) {
                        char text[64], head[8] = "", error[256];
                        FileLock *l = NULL;
                        int r = file_lock_acquire(path, &l, error, sizeof(error));
                        if (r == -EAGAIN)
                                continue;
                        if (r >= 0) {
                                snprintf(text, sizeof(text), "writer %u %u\n", w, k);
                                r = file_lock_replace(l, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1, 0,
                                                             error, sizeof(error));
                                file_lock_release(l);
                        }
                        if (r < 0) {
                                fprintf(stderr, "writer %u: %s\n", w, error);
                                _exit(1);
                        }
                        written++;
                        int fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0 || read(fd, head, 7) != 7 || strncmp(head, "writer ", 7) != 0) {
                                fprintf(stderr, "writer %u: the file starts with \"%.7s\"\n", w, head);
                                _exit(1);
                        }
                        close(fd);
                }
                printf("  writer %u: %u of %u attempts wrote\n", w, written, attempts);
                fflush(stdout);
                _exit(0);
        }
        for (unsigned w = 0; w < WRITERS; w++) {
                int status;
                ASSERT_EQ(waitpid(writers[w], &status, 0), writers[w]);
                ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        ASSERT_EQ(count_temp_files(dir), 0);
}

/* ATOMIC_FILE_SYNC_DIRECTORY_LATER: each directory once, until
 * atomic_file_sync_directories(), some at a time or all. */
TEST(directory_synced_later) {
        char path[256], error[256];
        (void) atomic_file_sync_directories(SIZE_MAX);
        path_of(path, sizeof(path), "later");
        for (int i = 0; i < 3; i++)
                ASSERT_EQ(atomic_file_write(path, "x", 1, 0600, (uid_t) -1, (gid_t) -1,
                                            ATOMIC_FILE_DURABLE | ATOMIC_FILE_SYNC_DIRECTORY_LATER, error, sizeof(error)), 0);
        ASSERT_EQ(atomic_file_unsynced(), 1u);
        ASSERT_EQ(atomic_file_sync_directories(SIZE_MAX), 1u);
        ASSERT_EQ(atomic_file_unsynced(), 0u);
        /* Past 256 waiting, each is synced at its write: never the whole
         * table at once. Synced some at a time, the oldest first. */
        for (int i = 0; i < 300; i++) {
                char sub[300], file[320];
                snprintf(sub, sizeof(sub), "%s/later-%d", dir, i);
                ASSERT_EQ(mkdir(sub, 0700), 0);
                snprintf(file, sizeof(file), "%s/f", sub);
                ASSERT_EQ(atomic_file_write(file, "x", 1, 0600, (uid_t) -1, (gid_t) -1,
                                            ATOMIC_FILE_DURABLE | ATOMIC_FILE_SYNC_DIRECTORY_LATER, error, sizeof(error)), 0);
                ASSERT_EQ(atomic_file_unsynced(), (size_t) MIN(i + 1, 256));
        }
        ASSERT_EQ(atomic_file_sync_directories(1), 1u);
        ASSERT_EQ(atomic_file_unsynced(), 255u);
        /* The oldest went: a write in the second directory waits no more. */
        char again[320];
        snprintf(again, sizeof(again), "%s/later-1/f", dir);
        ASSERT_EQ(atomic_file_write(again, "y", 1, 0600, (uid_t) -1, (gid_t) -1,
                                    ATOMIC_FILE_DURABLE | ATOMIC_FILE_SYNC_DIRECTORY_LATER, error, sizeof(error)), 0);
        ASSERT_EQ(atomic_file_unsynced(), 255u);  /* later-1 waits already */
        snprintf(again, sizeof(again), "%s/later-0/f", dir);
        ASSERT_EQ(atomic_file_write(again, "y", 1, 0600, (uid_t) -1, (gid_t) -1,
                                    ATOMIC_FILE_DURABLE | ATOMIC_FILE_SYNC_DIRECTORY_LATER, error, sizeof(error)), 0);
        ASSERT_EQ(atomic_file_unsynced(), 256u);  /* later-0 was synced: it waits anew */
        ASSERT_EQ(atomic_file_sync_directories(SIZE_MAX), 256u);
}

/* The sweep removes a dead writer's new file and lock, and leaves alone:
 * a writer's file it flocks, files of another user (planted), kubectl's
 * lock, a live writer's lock, anything else. Earlier versions' spares go. */
TEST(sweep_removes_only_dead_writers_files) {
        char sub[256], path[300], f[400], error[256];
        path_of(sub, sizeof(sub), "sweep");
        ASSERT_EQ(mkdir(sub, 0700), 0);
        snprintf(path, sizeof(path), "%s/kube", sub);
        write_plain(path, "config");
#define AT(name) (snprintf(f, sizeof(f), "%s/%s", sub, name), f)
        write_plain(AT(".kube.cce-certd-0123456789abcdef"), "key");     /* a dead writer's */
        write_plain(AT(".kube.cce-certd-spare"), "old key");            /* an earlier version's */
        write_plain(AT("kube.lock"), "cce-certd 1\n");                  /* a dead writer's lock */
        write_plain(AT("other.lock"), "");                              /* kubectl's */
        write_plain(AT(".kube.cce-certd-fedcba9876543210"), "writing"); /* a live writer's */
        FlockHolder writer = flock_holder_start(f);
        write_plain(AT("busy.lock"), "cce-certd 1\n");                  /* a live writer's lock */
        FlockHolder locker = flock_holder_start(f);
        write_plain(AT("notes.txt"), "mine");
        bool root = getuid() == 0;
        if (root) {
                write_plain(AT(".kube.cce-certd-planted"), "someone else's");
                ASSERT_EQ(chown(f, 65534, 65534), 0);
                /* Written for another owner (owner:), left by a crash: its owner is the file's. */
                write_plain(AT("given"), "config");
                ASSERT_EQ(chown(f, 65534, 65534), 0);
                write_plain(AT(".given.cce-certd-1111111111111111"), "key");
                ASSERT_EQ(chown(f, 65534, 65534), 0);
        }
        ASSERT_EQ(atomic_file_sweep(path, error, sizeof(error)), root ? 4 : 3);
        ASSERT(access(AT(".given.cce-certd-1111111111111111"), F_OK) < 0);
        ASSERT(access(AT(".kube.cce-certd-0123456789abcdef"), F_OK) < 0);
        ASSERT(access(AT(".kube.cce-certd-spare"), F_OK) < 0);
        ASSERT(access(AT("kube.lock"), F_OK) < 0);
        ASSERT_EQ(access(AT("other.lock"), F_OK), 0);
        ASSERT_EQ(access(AT(".kube.cce-certd-fedcba9876543210"), F_OK), 0);
        ASSERT_EQ(access(AT("busy.lock"), F_OK), 0);
        ASSERT_EQ(access(AT("notes.txt"), F_OK), 0);
        ASSERT_EQ(access(path, F_OK), 0);
        if (getuid() == 0)
                ASSERT_EQ(access(AT(".kube.cce-certd-planted"), F_OK), 0);
        flock_holder_stop(locker);  /* the later first: it holds a copy of the other's pipe */
        flock_holder_stop(writer);
        ASSERT_EQ(atomic_file_sweep(path, error, sizeof(error)), 2);
#undef AT
}

/* What another user (uid 65534 here) can plant where they can write: the
 * daemon writes nothing through it and the victim stays byte for byte. */
TEST(another_user_cannot_turn_the_path) {
        char sticky[256], victim[256], path[300], error[512];
        struct stat st;
        FileLock *l = NULL;

        if (getuid() != 0) {
                printf("  not root: skipped\n");
                return;
        }
        path_of(victim, sizeof(victim), "victim");
        write_plain(victim, "root's own file\n");
        path_of(sticky, sizeof(sticky), "shared");
        ASSERT_EQ(mkdir(sticky, 0700), 0);
        ASSERT_EQ(chmod(sticky, 01777), 0);  /* like /tmp: fine for root, by the rules */

        /* A symlink owned by the other user: refused, for reading and writing. */
        snprintf(path, sizeof(path), "%s/team-kubeconfig", sticky);
        ASSERT_EQ(symlink(victim, path), 0);
        ASSERT_EQ(lchown(path, 65534, 65534), 0);
        ASSERT_EQ(atomic_file_write(path, "key", 3, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)),
                  -SAFE_PATH_REFUSED);
        ASSERT(strstr(error, "team-kubeconfig is a symlink owned by uid 65534"));
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), -SAFE_PATH_REFUSED);
        char *data;
        size_t size;
        ASSERT_EQ(atomic_file_read(path, 1 << 20, &data, &size, error, sizeof(error)), -SAFE_PATH_REFUSED);
        _cleanup_free_ char *v = read_plain(victim);
        ASSERT_STREQ(v, "root's own file\n");
        ASSERT_EQ(unlink(path), 0);

        /* The same symlink owned by root: followed. */
        ASSERT_EQ(symlink("../victim", path), 0);
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), 0);
        ASSERT(strstr(file_lock_path(l), "/victim"));
        l = file_lock_release(l);
        ASSERT_EQ(unlink(path), 0);

        /* A hard link to the victim, a planted lock-name file and temporary
         * names: the file is replaced by rename, the victim untouched, the
         * new file owned as asked and mode 0600. */
        snprintf(path, sizeof(path), "%s/prod.kubeconfig", sticky);
        ASSERT_EQ(link(victim, path), 0);
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), 0);
        ASSERT_EQ(file_lock_replace(l, "apiVersion: v1\n", 15, 0600, 4242, 4242, ATOMIC_FILE_DURABLE, error,
                                    sizeof(error)), 0);
        l = file_lock_release(l);
        _cleanup_free_ char *v2 = read_plain(victim);
        ASSERT_STREQ(v2, "root's own file\n");
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_uid, 4242u);
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_EQ(st.st_nlink, 1u);

        /* A spare of an earlier version planted by the other user: not
         * used, not removed (not ours), and the kubeconfig is not theirs. */
        char planted[320];
        snprintf(planted, sizeof(planted), "%s/.prod.kubeconfig.cce-certd-spare", sticky);
        write_plain(planted, "");
        ASSERT_EQ(chown(planted, 65534, 65534), 0);
        ASSERT_EQ(file_lock_acquire(path, &l, error, sizeof(error)), 0);
        ASSERT_EQ(file_lock_replace(l, "v2", 2, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)), 0);
        l = file_lock_release(l);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_uid, 0u);
        ASSERT_EQ(stat(planted, &st), 0);
        ASSERT_EQ(st.st_size, 0);
        ASSERT_EQ(atomic_file_sweep(path, error, sizeof(error)), 0);
        ASSERT_EQ(access(planted, F_OK), 0);

        /* A directory writable by others without the sticky bit: refused. */
        char open_dir[256];
        path_of(open_dir, sizeof(open_dir), "open");
        ASSERT_EQ(mkdir(open_dir, 0700), 0);
        ASSERT_EQ(chmod(open_dir, 0777), 0);
        snprintf(path, sizeof(path), "%s/kubeconfig", open_dir);
        ASSERT_EQ(atomic_file_write(path, "key", 3, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)),
                  -SAFE_PATH_REFUSED);
        ASSERT(strstr(error, "is writable by every user"));
        ASSERT(access(path, F_OK) < 0);
        /* Sticky, but owned by the other user: refused too. */
        ASSERT_EQ(chmod(open_dir, 01777), 0);
        ASSERT_EQ(chown(open_dir, 65534, 65534), 0);
        ASSERT_EQ(atomic_file_write(path, "key", 3, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)),
                  -SAFE_PATH_REFUSED);

        /* From a directory of the other user into a root-owned one: refused. */
        char theirs[200], inner[240];
        path_of(theirs, sizeof(theirs), "theirs");
        ASSERT_EQ(mkdir(theirs, 0755), 0);
        snprintf(inner, sizeof(inner), "%s/etc", theirs);
        ASSERT_EQ(mkdir(inner, 0755), 0);
        ASSERT_EQ(chown(theirs, 65534, 65534), 0);
        snprintf(path, sizeof(path), "%s/kubeconfig", inner);
        ASSERT_EQ(atomic_file_write(path, "key", 3, 0600, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)),
                  -SAFE_PATH_REFUSED);
        ASSERT(strstr(error, "reached through a directory owned by uid 65534"));
        ASSERT(access(path, F_OK) < 0);
        /* ... and "..": the same rule. */
        snprintf(path, sizeof(path), "%s/../victim", theirs);
        SafePath p = SAFE_PATH_NULL;
        ASSERT_EQ(safe_path_open(path, &p, error, sizeof(error)), -SAFE_PATH_REFUSED);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

int main(int argc, char **argv) {
        static const TestCase tests[] = {
                T(write_and_mode), T(resolve), T(checked_directory_reused_until_changed), T(locks), T(lock_without_proc), T(lock_always_names_its_owner),
                T(directory_in_the_way_and_missing_directory),
                T(permission_denied), T(full_disk), T(read_only_file_system), T(bind_mounted_file), T(crash_safety),
                T(crash_safety_under_lock), T(replace_through_the_lock), T(directory_synced_later),
                T(concurrent_writers_under_lock), T(stale_lock_check_never_removes_a_lock_taken_meanwhile),
                T(contended_writers_never_share_the_lock), T(sweep_removes_only_dead_writers_files),
                T(another_user_cannot_turn_the_path),
        };
        int r;

        ASSERT(mkdtemp(dir));
        chmod(dir, 0755);  /* the permission test's unprivileged child must enter it */
        r = run_tests(tests, ELEMENTSOF(tests), argc, argv);
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return r;
}
