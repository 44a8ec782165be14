/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "secret.h"
#include "secure-memory.h"
#include "tests.h"

static char dir[] = "/tmp/test-secret-XXXXXX";

static SecretRef file_ref(const char *name, const char *content, mode_t mode) {
        static char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        unlink(path);
        if (content) {
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                ASSERT(fd >= 0);
                ASSERT_EQ(write(fd, content, strlen(content)), (ssize_t) strlen(content));
                ASSERT_EQ(fchmod(fd, mode), 0);
                close(fd);
        }
        return (SecretRef) { .source = SECRET_FILE, .ref = path };
}

static int read_it(SecretRef r, char **value) {
        *value = NULL;
        return secret_read(&r, value, NULL);
}

TEST(read) {
        _cleanup_free_wiped_ char *v = NULL;
        ASSERT_EQ(read_it(file_ref("a", "SECRET\n", 0600), &v), 0);
        ASSERT_STREQ(v, "SECRET");
        v = free_wiped(v);
        ASSERT_EQ(read_it(file_ref("b", "SECRET \r\n\n", 0400), &v), 0);
        ASSERT_STREQ(v, "SECRET");
}

TEST(refusals) {
        char *v;
        ASSERT_EQ(read_it(file_ref("open", "x", 0640), &v), -EPERM);
        ASSERT_EQ(read_it(file_ref("empty", "\n", 0600), &v), -ENODATA);
        ASSERT_EQ(read_it(file_ref("lines", "a\nb\n", 0600), &v), -EBADMSG);
        ASSERT_EQ(read_it(file_ref("missing", NULL, 0), &v), -ENOENT);
        char *big = malloc(SECRET_SIZE_MAX + 2);
        ASSERT(big);
        memset(big, 'x', SECRET_SIZE_MAX + 1);
        big[SECRET_SIZE_MAX + 1] = 0;
        ASSERT_EQ(read_it(file_ref("big", big, 0600), &v), -EFBIG);
        free(big);
        SecretRef d = { .source = SECRET_FILE, .ref = dir };
        ASSERT_EQ(secret_read(&d, &v, NULL), -EBADF);
        ASSERT(strstr(secret_strerror(-EPERM), "chmod 0600"));
}

TEST(credentials_directory) {
        _cleanup_free_wiped_ char *v = NULL;
        _cleanup_free_ char *path = NULL;
        SecretRef r = { .source = SECRET_CREDENTIAL, .ref = (char *) "cred" };

        unsetenv("CREDENTIALS_DIRECTORY");
        ASSERT_EQ(secret_read(&r, &v, NULL), -ENXIO);
        file_ref("cred", "TOKEN", 0400);
        ASSERT_EQ(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
        ASSERT_EQ(secret_read(&r, &v, &path), 0);
        ASSERT_STREQ(v, "TOKEN");
        ASSERT(strstr(path, "/cred"));
        unsetenv("CREDENTIALS_DIRECTORY");
}

int main(int argc, char **argv) {
        static const TestCase tests[] = { T(read), T(refusals), T(credentials_directory) };
        static const char *const names[] = { "a", "b", "open", "empty", "lines", "big", "cred" };
        int r;

        ASSERT(mkdtemp(dir));
        r = run_tests(tests, ELEMENTSOF(tests), argc, argv);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char p[256];
                snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
                unlink(p);
        }
        rmdir(dir);
        return r;
}
