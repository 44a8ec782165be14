/* SPDX-License-Identifier: MIT */
/* Logging to the journal (native records with fields) or stderr. Callers
 * never pass secrets; this file adds none. */

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static LogTarget log_target = LOG_TARGET_CONSOLE;
static int log_max_level = LOG_INFO;
static char journal_socket[sizeof(((struct sockaddr_un *) NULL)->sun_path)] = LOG_JOURNAL_SOCKET;
static int journal_fd = -1;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        return -EINVAL;
}

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(void) {
        const char *e;

        /* The socket can be moved for tests, where no journald runs. */
        log_set_target(stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE, getenv("CCE_CERTD_JOURNAL_SOCKET"));

        e = getenv("CCE_CERTD_LOG_LEVEL");
        if (e) {
                int l = log_level_from_string(e);
                if (l >= 0)
                        log_max_level = l;
                else
                        log_warning("Ignoring CCE_CERTD_LOG_LEVEL=%s: not a log level (err, warning, notice, info, debug).", e);
        }
}

void log_set_target(LogTarget target, const char *socket_path) {
        log_target = target;
        journal_fd = safe_close(journal_fd);
        snprintf(journal_socket, sizeof(journal_socket), "%s", socket_path ?: LOG_JOURNAL_SOCKET);
}

LogTarget log_get_target(void) {
        return log_target;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

static bool field_name_valid(const char *name) {
        if (!name[0] || name[0] == '_' || strlen(name) > 64)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

/* KEY=value\n, or for values with a newline the binary form
 * KEY\n<le64 length>value\n. */
static void put_field(FILE *f, const char *name, const char *value) {
        size_t n = strlen(value);

        if (!memchr(value, '\n', n)) {
                fprintf(f, "%s=%s\n", name, value);
                return;
        }
        uint64_t le = htole64((uint64_t) n);
        fprintf(f, "%s\n", name);
        fwrite(&le, sizeof(le), 1, f);
        fwrite(value, 1, n, f);
        fputc('\n', f);
}

int log_format_journal(int level, int error,
                       const char *file, int line, const char *func,
                       const char *message_id,
                       const LogField *fields, size_t n_fields,
                       const char *message,
                       char **ret, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0;
        char num[32];

        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        put_field(f, "MESSAGE", message);
        snprintf(num, sizeof(num), "%d", level & LOG_PRIMASK);
        put_field(f, "PRIORITY", num);
        put_field(f, "SYSLOG_IDENTIFIER", program_invocation_short_name);
        if (message_id)
                put_field(f, "MESSAGE_ID", message_id);
        if (error != 0) {
                snprintf(num, sizeof(num), "%d", abs(error));
                put_field(f, "ERRNO", num);
        }
        if (file) {
                put_field(f, "CODE_FILE", file);
                snprintf(num, sizeof(num), "%d", line);
                put_field(f, "CODE_LINE", num);
                put_field(f, "CODE_FUNC", func);
        }
        for (size_t i = 0; i < n_fields; i++) {
                assert(field_name_valid(fields[i].name));
                if (fields[i].value)
                        put_field(f, fields[i].name, fields[i].value);
        }

        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_size = size;
        return 0;
}

static int journal_send(const char *data, size_t size) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (journal_fd < 0) {
                journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (journal_fd < 0)
                        return negative_errno();
        }
        memcpy(sa.sun_path, journal_socket, sizeof(sa.sun_path));
        if (sendto(journal_fd, data, size, MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        return 0;
}

static void console_write(int level, const char *message) {
        static const char *const words[] = {
                [LOG_EMERG] = "emergency: ",
                [LOG_ALERT] = "alert: ",
                [LOG_CRIT] = "critical: ",
                [LOG_ERR] = "error: ",
                [LOG_WARNING] = "warning: ",
        };
        int saved = errno;

        if (isatty(STDERR_FILENO))
                fprintf(stderr, "%s%s\n", level <= LOG_WARNING ? words[level] : "", message);
        else
                fprintf(stderr, "<%d>%s\n", level, message);
        errno = saved;
}

int log_struct_internal(int level, int error,
                        const char *file, int line, const char *func,
                        const char *message_id,
                        const LogField *fields, size_t n_fields,
                        const char *format, ...) {
        char message[LOG_MESSAGE_MAX];
        int saved = errno;
        va_list ap;

        level &= LOG_PRIMASK;
        if (level > log_max_level)
                goto finish;

        errno = abs(error);  /* for %m */
        va_start(ap, format);
        int n = vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        if (n >= (int) sizeof(message))
                memcpy(message + sizeof(message) - 4, "...", 4);

        if (log_target == LOG_TARGET_JOURNAL) {
                _cleanup_free_ char *buf = NULL;
                size_t size;

                if (log_format_journal(level, error, file, line, func, message_id, fields, n_fields,
                                       message, &buf, &size) >= 0 &&
                    journal_send(buf, size) >= 0)
                        goto finish;
        }
        console_write(level, message);

finish:
        errno = saved;
        return error == 0 ? 0 : -abs(error);
}
