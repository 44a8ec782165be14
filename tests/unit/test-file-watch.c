/* SPDX-License-Identifier: MIT */
/* file-watch: what is told, and how often, for changes made in a temporary
 * directory: a burst told once, other names never, a symlinked path where
 * it resolves, a missing directory when it is made, a lost directory, the
 * whole directory by name (not its temporary files), and a set of files
 * replaced. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include "file-watch.h"
#include "macro.h"
#include "tests.h"
#include "time-util.h"

#define MAX_TOLD 64

static struct {
        char *paths[MAX_TOLD];
        size_t n_paths;
        char *names[MAX_TOLD];
        size_t n_names;
} told;

static void forget_told(void) {
        for (size_t i = 0; i < told.n_paths; i++)
                free(told.paths[i]);
        for (size_t i = 0; i < told.n_names; i++)
                free(told.names[i]);
        told.n_paths = told.n_names = 0;
}

static void on_file(const char *path, void *userdata) {
        ASSERT(told.n_paths < MAX_TOLD);
        told.paths[told.n_paths++] = strdup(path);
}

static void on_entry(const char *name, void *userdata) {
        ASSERT(told.n_names < MAX_TOLD);
        told.names[told.n_names++] = strdup(name ?: "(all)");
}

static size_t times_told(const char *path) {
        size_t n = 0;
        for (size_t i = 0; i < told.n_paths; i++)
                n += strcmp(told.paths[i], path) == 0;
        for (size_t i = 0; i < told.n_names; i++)
                n += strcmp(told.names[i], path) == 0;
        return n;
}

/* Runs the loop until something was told and then a quiet 1.5 s, or 5 s. */
static void settle(sd_event *e) {
        uint64_t start = now_usec(CLOCK_MONOTONIC), last = start;
        size_t seen = 0;
        while (now_usec(CLOCK_MONOTONIC) - last < 3 * FILE_WATCH_LATEST_USEC / 2 &&
               now_usec(CLOCK_MONOTONIC) - start < 5 * USEC_PER_SEC) {
                ASSERT(sd_event_run(e, 100 * USEC_PER_MSEC) >= 0);
                if (told.n_paths + told.n_names != seen) {
                        seen = told.n_paths + told.n_names;
                        last = now_usec(CLOCK_MONOTONIC);
                }
        }
}

static void write_file(const char *dir, const char *name, const char *text) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
        close(fd);
}

static char *join(const char *dir, const char *name) {
        char *p;
        ASSERT(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static int run(const char *top) {
        _cleanup_free_ char *a = join(top, "a"), *b = join(top, "b"), *real = join(top, "real"),
                            *state = join(top, "state"), *k1 = join(a, "k1"), *k2 = join(a, "k2"),
                            *k3 = join(b, "k3"), *k4 = join(a, "k4"), *k4_target = join(real, "k4");
        sd_event *e = NULL;
        FileWatch *w = NULL;
        char command[600];

        ASSERT(mkdir(a, 0700) == 0 && mkdir(real, 0700) == 0 && mkdir(state, 0700) == 0);
        write_file(a, "k1", "one");
        write_file(real, "k4", "four");
        ASSERT(symlink("../real/k4", k4) == 0);
        ASSERT(sd_event_new(&e) >= 0);
        ASSERT(file_watch_new(e, on_file, on_entry, NULL, &w) >= 0);
        const char *paths[] = { k1, k2, k3, k4, k1 };
        ASSERT(file_watch_set_files(w, paths, ELEMENTSOF(paths)) >= 0);
        ASSERT(file_watch_set_directory(w, state) >= 0);

        /* A burst of writes: told once. Other names in the directory: never. */
        for (int i = 0; i < 5; i++)
                write_file(a, "k1", "burst");
        write_file(a, "other", "x");
        write_file(a, "k1.lock", "");
        write_file(a, ".k1.cce-certd-0123456789abcdef", "");
        settle(e);
        ASSERT_EQ(times_told(k1), 1);
        ASSERT_EQ(told.n_paths, 1);
        forget_told();

        /* Made, deleted, renamed over: each told. */
        write_file(a, "k2", "two");
        settle(e);
        ASSERT_EQ(times_told(k2), 1);
        ASSERT(unlink(k2) == 0);
        settle(e);
        ASSERT_EQ(times_told(k2), 2);
        write_file(a, "new", "x");
        snprintf(command, sizeof(command), "%s/new", a);
        ASSERT(rename(command, k1) == 0);
        settle(e);
        ASSERT_EQ(times_told(k1), 1);
        forget_told();

        /* A symlinked path: a change where it resolves. */
        write_file(real, "k4", "changed");
        settle(e);
        ASSERT_EQ(times_told(k4), 1);
        ASSERT_EQ(told.n_paths, 1);
        forget_told();

        /* A directory that does not exist: told when it is made, then watched itself. */
        ASSERT(mkdir(b, 0700) == 0);
        settle(e);
        ASSERT_EQ(times_told(k3), 1);
        write_file(b, "k3", "three");
        settle(e);
        ASSERT_EQ(times_told(k3), 2);
        forget_told();

        /* A directory removed: told, and watched again when it is made again. */
        snprintf(command, sizeof(command), "rm -r '%s'", b);
        ASSERT(system(command) == 0);
        settle(e);
        ASSERT(times_told(k3) >= 1);
        forget_told();
        ASSERT(mkdir(b, 0700) == 0);
        settle(e);
        ASSERT_EQ(times_told(k3), 1);
        forget_told();

        /* The whole directory: by name, a burst once. */
        write_file(state, "c1.json", "{}");
        write_file(state, "c1.json", "{}");
        write_file(state, "c2.json", "{}");
        write_file(state, ".c3.json.cce-certd-0123456789abcdef", "{}");
        settle(e);
        ASSERT_EQ(times_told("c1.json"), 1);
        ASSERT_EQ(times_told("c2.json"), 1);
        ASSERT_EQ(told.n_names, 2);  /* not the temporary file */
        ASSERT_EQ(told.n_paths, 0);
        forget_told();

        /* A new set: a path no longer in it is not told about. */
        const char *fewer[] = { k1 };
        ASSERT(file_watch_set_files(w, fewer, ELEMENTSOF(fewer)) >= 0);
        write_file(a, "k2", "again");
        write_file(real, "k4", "again");
        write_file(a, "k1", "again");
        settle(e);
        ASSERT_EQ(times_told(k1), 1);
        ASSERT_EQ(told.n_paths, 1);
        forget_told();

        file_watch_free(w);
        sd_event_unref(e);
        return 0;
}

TEST(what_is_told) {
        char top[] = "/tmp/test-file-watch-XXXXXX", command[64];
        ASSERT(mkdtemp(top));
        int r = run(top);
        snprintf(command, sizeof(command), "rm -rf '%s'", top);
        ASSERT(system(command) == 0);
        ASSERT_EQ(r, 0);
}

RUN_TESTS(T(what_is_told))
