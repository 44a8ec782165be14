/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "file-identity.h"
#include "macro.h"
#include "tests.h"

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        ASSERT_EQ(close(fd), 0);
}

TEST(a_file_and_its_versions) {
        char dir[] = "/tmp/test-file-identity-XXXXXX", path[64], moved[64];
        ASSERT(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/kubeconfig", dir);
        snprintf(moved, sizeof(moved), "%s/new", dir);

        FileIdentity none = file_identity_of(path);
        ASSERT(!file_identity_known(&none));
        FileIdentity d = file_identity_of(dir);
        ASSERT(!file_identity_known(&d));  /* no regular file */

        write_text(path, "one\n");
        FileIdentity a = file_identity_of(path), again = file_identity_of(path);
        ASSERT(file_identity_known(&a));
        ASSERT(file_identity_same(&a, &again));
        ASSERT(!file_identity_same(&a, &none));

        /* Replaced by another file of the same size and time: another inode. */
        write_text(moved, "two\n");
        struct timespec times[2] = { { .tv_sec = a.mtime_sec, .tv_nsec = a.mtime_nsec },
                                     { .tv_sec = a.mtime_sec, .tv_nsec = a.mtime_nsec } };
        ASSERT_EQ(utimensat(AT_FDCWD, moved, times, 0), 0);
        ASSERT_EQ(rename(moved, path), 0);
        FileIdentity b = file_identity_of(path);
        ASSERT(file_identity_known(&b));
        ASSERT_EQ(b.size, a.size);
        ASSERT_EQ(b.mtime_sec, a.mtime_sec);
        ASSERT(!file_identity_same(&a, &b));

        /* Modified in place: another size. */
        write_text(path, "three\n");
        FileIdentity c = file_identity_of(path);
        ASSERT_EQ(c.ino, b.ino);
        ASSERT(!file_identity_same(&b, &c));

        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(rmdir(dir), 0);
}

TEST(text_round_trip) {
        static const FileIdentity ids[] = {
                { .dev = 0x803, .ino = 0x1a2b3c, .size = 0x1f4, .mtime_sec = 1765000000, .mtime_nsec = 5 },
                { .dev = UINT64_MAX, .ino = UINT64_MAX, .size = UINT64_MAX, .mtime_sec = INT64_MAX,
                  .mtime_nsec = 999999999 },
                { .dev = 1, .ino = 2, .size = 0, .mtime_sec = -1, .mtime_nsec = 0 },
                {},
        };
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                char text[FILE_IDENTITY_TEXT_MAX];
                FileIdentity back = { .ino = 7 };
                file_identity_format(&ids[i], text);
                ASSERT_EQ(file_identity_parse(text, &back), 0);
                ASSERT(file_identity_same(&back, &ids[i]));
        }
        /* What the daemon wrote before 0.3 (the same text). */
        FileIdentity id;
        ASSERT_EQ(file_identity_parse("803:1a2b3c:1f4:1765000000.000000005", &id), 0);
        ASSERT(file_identity_same(&id, &ids[0]));
        char text[FILE_IDENTITY_TEXT_MAX];
        file_identity_format(&id, text);
        ASSERT_STREQ(text, "803:1a2b3c:1f4:1765000000.000000005");
        ASSERT_EQ(file_identity_parse("", &id), 0);
        ASSERT(!file_identity_known(&id));
}

TEST(text_refused) {
        static const char *const bad[] = {
                "803:1a2b3c:1f4", "803:1a2b3c:1f4:1765000000", "803:1a2b3c:1f4:1765000000.5",
                "803:1a2b3c:1f4:1765000000.0000000050", "803:1a2b3c:1f4:1765000000.1000000000",
                "x803:1a2b3c:1f4:1765000000.000000005", " 803:1a2b3c:1f4:1765000000.000000005",
                "803:1a2b3c:1f4:1765000000.000000005 ", "803::1f4:1765000000.000000005",
                "803:-1:1f4:1765000000.000000005", "803:1a2b3c:1f4:17650000x0.000000005",
                "10000000000000000:1:1:1.000000000", "803:1a2b3c:1f4:+1765000000.000000005",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                FileIdentity id = { .ino = 7 };
                if (file_identity_parse(bad[i], &id) != -EINVAL) {
                        fprintf(stderr, "accepted: %s\n", bad[i]);
                        abort();
                }
                ASSERT(!file_identity_known(&id));  /* unknown: the file is read again */
        }
}

RUN_TESTS(T(a_file_and_its_versions), T(text_round_trip), T(text_refused))
