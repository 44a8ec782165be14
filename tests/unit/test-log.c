/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "tests.h"

#define ID "0123456789abcdef0123456789abcdef"

/* Returns the value of field name in a native-protocol record, or NULL. */
static char *journal_field(const char *buf, size_t size, const char *name) {
        size_t nl = strlen(name);
        for (size_t i = 0; i < size;) {
                const char *line = buf + i, *eol = memchr(line, '\n', size - i);
                ASSERT(eol);
                const char *eq = memchr(line, '=', (size_t) (eol - line));
                if (eq) {
                        if ((size_t) (eq - line) == nl && memcmp(line, name, nl) == 0)
                                return strndup(eq + 1, (size_t) (eol - eq - 1));
                        i = (size_t) (eol - buf) + 1;
                        continue;
                }
                /* Binary form: NAME\n, le64 length, data, \n */
                uint64_t len;
                const char *p = eol + 1;
                ASSERT((size_t) (p - buf) + 8 <= size);
                memcpy(&len, p, 8);
                len = le64toh(len);
                p += 8;
                ASSERT((size_t) (p - buf) + len + 1 <= size);
                ASSERT(p[len] == '\n');
                if ((size_t) (eol - line) == nl && memcmp(line, name, nl) == 0)
                        return strndup(p, len);
                i = (size_t) (p - buf) + len + 1;
        }
        return NULL;
}

TEST(format_journal) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        const LogField fields[] = {
                { "CCE_CLUSTER", "prod" },
                { "KUBECONFIG_PATH", NULL },  /* left out */
                { "MULTI", "two\nlines" },
        };

        ASSERT_EQ(log_format_journal(LOG_WARNING, -EIO, "f.c", 12, "fn", ID, fields, ELEMENTSOF(fields),
                                     "hello\nworld", &buf, &size), 0);
        _cleanup_free_ char *m = journal_field(buf, size, "MESSAGE");
        _cleanup_free_ char *p = journal_field(buf, size, "PRIORITY");
        _cleanup_free_ char *id = journal_field(buf, size, "MESSAGE_ID");
        _cleanup_free_ char *e = journal_field(buf, size, "ERRNO");
        _cleanup_free_ char *c = journal_field(buf, size, "CCE_CLUSTER");
        _cleanup_free_ char *multi = journal_field(buf, size, "MULTI");
        _cleanup_free_ char *line = journal_field(buf, size, "CODE_LINE");
        _cleanup_free_ char *ident = journal_field(buf, size, "SYSLOG_IDENTIFIER");
        ASSERT_STREQ(m, "hello\nworld");
        ASSERT_STREQ(p, "4");
        ASSERT_STREQ(id, ID);
        ASSERT_STREQ(e, "5");
        ASSERT_STREQ(c, "prod");
        ASSERT_STREQ(multi, "two\nlines");
        ASSERT_STREQ(line, "12");
        ASSERT_STREQ(ident, "test-log");
        ASSERT_NULL(journal_field(buf, size, "KUBECONFIG_PATH"));
}

TEST(journal_socket) {
        char dir[] = "/tmp/test-log-XXXXXX", path[128], buf[8192];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;
        ssize_t n;

        ASSERT(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/socket", dir);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT(fd >= 0);
        strcpy(sa.sun_path, path);
        ASSERT_EQ(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);

        log_set_target(LOG_TARGET_JOURNAL, path);
        log_set_max_level(LOG_INFO);
        ASSERT_EQ(log_struct(LOG_ERR, -ENOENT, ID, LOG_FIELDS({ "CCE_CLUSTER", "prod" }, { "HTTP_STATUS", "503" }),
                             "Renewal of %s failed: %m", "prod"), -ENOENT);
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        ASSERT(n > 0);
        _cleanup_free_ char *m = journal_field(buf, (size_t) n, "MESSAGE");
        _cleanup_free_ char *c = journal_field(buf, (size_t) n, "CCE_CLUSTER");
        _cleanup_free_ char *h = journal_field(buf, (size_t) n, "HTTP_STATUS");
        _cleanup_free_ char *p = journal_field(buf, (size_t) n, "PRIORITY");
        ASSERT_STREQ(m, "Renewal of prod failed: No such file or directory");
        ASSERT_STREQ(c, "prod");
        ASSERT_STREQ(h, "503");
        ASSERT_STREQ(p, "3");

        /* Below the maximum level nothing is sent. */
        log_debug("not sent");
        ASSERT(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
        ASSERT_EQ(errno, EAGAIN);

        close(fd);
        unlink(path);
        rmdir(dir);
        log_set_target(LOG_TARGET_CONSOLE, NULL);
}

/* Runs f with stderr redirected to a file; returns what was written. */
static char *capture_stderr(void (*f)(void)) {
        char path[] = "/tmp/test-log-stderr-XXXXXX";
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        char *out = calloc(1, 65536);

        ASSERT(fd >= 0 && saved >= 0 && out);
        fflush(stderr);
        ASSERT(dup2(fd, STDERR_FILENO) >= 0);
        f();
        fflush(stderr);
        ASSERT(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        ASSERT(pread(fd, out, 65535, 0) >= 0);
        close(fd);
        unlink(path);
        return out;
}

static void log_three(void) {
        log_set_max_level(LOG_INFO);
        log_info("started %d", 3);
        log_warning_errno(EACCES, "cannot write: %m");
        log_debug("hidden");
}

TEST(console) {
        log_set_target(LOG_TARGET_CONSOLE, NULL);
        _cleanup_free_ char *out = capture_stderr(log_three);
        ASSERT_STREQ(out, "<6>started 3\n<4>cannot write: Permission denied\n");
}

static void log_to_missing_journal(void) {
        log_set_target(LOG_TARGET_JOURNAL, "/nonexistent/journal/socket");
        log_notice("still seen");
        log_set_target(LOG_TARGET_CONSOLE, NULL);
}

TEST(journal_unreachable_falls_back) {
        _cleanup_free_ char *out = capture_stderr(log_to_missing_journal);
        ASSERT_STREQ(out, "<5>still seen\n");
}

static void long_message(void) {
        char big[LOG_MESSAGE_MAX * 2];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        log_info("%s", big);
}

TEST(truncation) {
        _cleanup_free_ char *out = capture_stderr(long_message);
        size_t n = strlen(out);
        ASSERT_EQ(n, 3 + LOG_MESSAGE_MAX - 1 + 1);
        ASSERT(memcmp(out + n - 4, "...\n", 4) == 0);
}

TEST(setup_detects_journal_stream) {
        struct stat st;
        char value[64];

        ASSERT_EQ(fstat(STDERR_FILENO, &st), 0);
        snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        ASSERT_EQ(setenv("JOURNAL_STREAM", value, 1), 0);
        ASSERT_EQ(setenv("CCE_CERTD_LOG_LEVEL", "debug", 1), 0);
        log_setup();
        ASSERT_EQ(log_get_target(), LOG_TARGET_JOURNAL);
        ASSERT_EQ(log_get_max_level(), LOG_DEBUG);

        snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino + 1);
        ASSERT_EQ(setenv("JOURNAL_STREAM", value, 1), 0);
        ASSERT_EQ(setenv("CCE_CERTD_LOG_LEVEL", "4", 1), 0);
        log_setup();
        ASSERT_EQ(log_get_target(), LOG_TARGET_CONSOLE);
        ASSERT_EQ(log_get_max_level(), LOG_WARNING);
        unsetenv("JOURNAL_STREAM");
        unsetenv("CCE_CERTD_LOG_LEVEL");
        log_set_max_level(LOG_INFO);
}

TEST(level_names) {
        ASSERT_EQ(log_level_from_string("err"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("error"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("WARNING"), LOG_WARNING);
        ASSERT_EQ(log_level_from_string("7"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("8"), -EINVAL);
        ASSERT_EQ(log_level_from_string("loud"), -EINVAL);
}

RUN_TESTS(T(format_journal), T(journal_socket), T(console), T(journal_unreachable_falls_back), T(truncation),
          T(setup_detects_journal_stream), T(level_names))
