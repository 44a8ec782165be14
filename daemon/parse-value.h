/* SPDX-License-Identifier: MIT */
#pragma once

/* Pure parsers and formatters for the value syntaxes of the configuration:
 * durations ("90s", "15m", "12h", "10d", or several: "1d12h"), percentages
 * ("66%"), octal file modes ("0600"), certificate lifetimes ("30" days,
 * "4h", "max"), booleans and small unsigned numbers. Each returns 0 or a negative
 * errno: -EINVAL for bad syntax, -ERANGE for a value out of range. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DURATION_MAX_SEC (UINT64_C(100) * 365 * 24 * 3600)
#define CERT_DAYS_MAX 1827
#define CERT_LIFETIME_UNLIMITED (-1)  /* "max": the API's duration -1, five years */
#define CERT_LIFETIME_MIN_SEC (15 * 60)
#define CERT_LIFETIME_MAX_SEC ((int64_t) CERT_DAYS_MAX * 86400)

int parse_duration(const char *s, uint64_t *ret_sec);
/* Writes the shortest exact spelling ("1d12h", "90s", "0s") into buf. */
const char *format_duration(uint64_t sec, char buf[static 32]);

/* "66%" -> 66; the number must be 0..100 and the sign present. */
int parse_percent(const char *s, unsigned *ret);

/* Octal digits only, 3 or 4 of them, at most 07777. */
int parse_file_mode(const char *s, mode_t *ret);

/* A certificate lifetime in seconds: a number of days 1..CERT_DAYS_MAX, a
 * length with units ("90m", "4h", "7d", "1d12h") from CERT_LIFETIME_MIN_SEC
 * to CERT_LIFETIME_MAX_SEC, or "max" for CERT_LIFETIME_UNLIMITED. */
int parse_cert_lifetime(const char *s, int64_t *ret);

/* true/True/TRUE/false/False/FALSE. */
int parse_bool(const char *s, bool *ret);

/* Decimal digits only, no sign, at most max. */
int parse_unsigned(const char *s, uint64_t max, uint64_t *ret);

/* An HTTP date (IMF-fixdate, RFC 850 or asctime form) as seconds since the
 * epoch. */
int parse_http_date(const char *s, int64_t *ret);

/* Retry-After: delay seconds or an HTTP date; returns the delay from now
 * (0 for a date in the past). */
int parse_retry_after(const char *s, int64_t now, uint64_t *ret_sec);

/* "2020-01-04T09:05:22.701000Z" (fraction optional, UTC only) as seconds
 * since the epoch. */
int parse_iso8601_utc(const char *s, int64_t *ret);

/* "2020-01-04T09:05:22Z" into buf; "-" for 0, negative or INT64_MAX. */
const char *format_iso8601_utc(int64_t t, char buf[static 32]);
