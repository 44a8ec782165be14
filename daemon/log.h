/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging: native journal records with structured fields when stderr is
 * connected to the journal ($JOURNAL_STREAM names stderr's device and inode),
 * plain lines on stderr otherwise ("<N>message" with the syslog priority N
 * when stderr is not a terminal, so that a service manager reading stderr
 * still sees the priority).
 *
 * Callers never pass secrets: no key, token, password or key material may
 * appear in a message or a field. */

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_CONSOLE,
        LOG_TARGET_JOURNAL,
} LogTarget;

/* One structured field; name is upper case ([A-Z0-9_], not starting with
 * '_'); value any bytes without NUL. */
typedef struct LogField {
        const char *name;
        const char *value;
} LogField;

#define LOG_MESSAGE_MAX 4096
#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Chooses the target from the environment: the journal when $JOURNAL_STREAM
 * matches stderr (its socket: $CCE_CERTD_JOURNAL_SOCKET, for tests, or the
 * journal's); and the maximum level from $CCE_CERTD_LOG_LEVEL (a syslog
 * level name or number) when set. */
void log_setup(void);

/* For tests: send journal records to this datagram socket. */
void log_set_target(LogTarget target, const char *journal_socket);
LogTarget log_get_target(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* "err", "warning", "info", "debug", ... or a number 0..7; -EINVAL otherwise. */
int log_level_from_string(const char *s);

/* Writes one record. error is a positive or negative errno to record as
 * ERRNO= (0 for none); %m in the format renders it. message_id is a
 * 32-hex-digit id or NULL. Returns -abs(error), or 0 without one, so that
 * "return log_error_errno(r, ...)" passes the error on. */
_printf_(9, 10)
int log_struct_internal(int level, int error,
                        const char *file, int line, const char *func,
                        const char *message_id,
                        const LogField *fields, size_t n_fields,
                        const char *format, ...);

/* Serialises one record in the journal's native protocol into a new buffer;
 * exposed for the unit tests. */
int log_format_journal(int level, int error,
                       const char *file, int line, const char *func,
                       const char *message_id,
                       const LogField *fields, size_t n_fields,
                       const char *message,
                       char **ret, size_t *ret_size);

#define log_full_errno(level, error, ...) \
        log_struct_internal(level, error, __FILE__, __LINE__, __func__, NULL, NULL, 0, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)

/* A record with a MESSAGE_ID and fields:
 *   log_struct(LOG_INFO, 0, MESSAGE_ID_RENEWED,
 *              LOG_FIELDS({"CCE_CLUSTER", name}, {"KUBECONFIG_PATH", path}),
 *              "Renewed %s", name);
 * A field whose value is NULL is left out. */
#define LOG_FIELDS(...) \
        ((const LogField[]) { __VA_ARGS__ }), \
        (sizeof((const LogField[]) { __VA_ARGS__ }) / sizeof(LogField))

#define log_struct(level, error, message_id, fields_and_count, ...) \
        log_struct_internal(level, error, __FILE__, __LINE__, __func__, message_id, fields_and_count, __VA_ARGS__)
