/* SPDX-License-Identifier: MIT */
/* Parsers and formatters of the configuration's value syntaxes (durations,
 * percentages, modes, days). Pure. */

#include <errno.h>
#include <locale.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "parse-value.h"

int parse_unsigned(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static const struct {
        char suffix;
        uint64_t seconds;
} duration_units[] = {
        { 'd', 86400 },
        { 'h', 3600 },
        { 'm', 60 },
        { 's', 1 },
};

int parse_duration(const char *s, uint64_t *ret_sec) {
        uint64_t total = 0;
        size_t next_unit = 0;  /* units come largest first, each at most once */
        const char *p = s;

        if (!*p)
                return -EINVAL;

        while (*p) {
                uint64_t v = 0;
                size_t i;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (v > DURATION_MAX_SEC)
                                return -ERANGE;
                        v = v * 10 + (uint64_t) (*p - '0');
                }
                for (i = next_unit; i < ELEMENTSOF(duration_units); i++)
                        if (*p == duration_units[i].suffix)
                                break;
                if (i == ELEMENTSOF(duration_units))
                        return -EINVAL;
                next_unit = i + 1;
                p++;
                if (v > DURATION_MAX_SEC / duration_units[i].seconds)
                        return -ERANGE;
                total += v * duration_units[i].seconds;
                if (total > DURATION_MAX_SEC)
                        return -ERANGE;
        }

        *ret_sec = total;
        return 0;
}

const char *format_duration(uint64_t sec, char buf[static 32]) {
        size_t n = 0;

        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
                uint64_t v = sec / duration_units[i].seconds;
                if (v == 0)
                        continue;
                sec -= v * duration_units[i].seconds;
                n += (size_t) snprintf(buf + n, 32 - n, "%llu%c", (unsigned long long) v, duration_units[i].suffix);
        }
        if (n == 0)
                snprintf(buf, 32, "0s");
        return buf;
}

int parse_percent(const char *s, unsigned *ret) {
        char digits[8];
        size_t n = strlen(s);
        uint64_t v;
        int r;

        if (n < 2 || s[n - 1] != '%' || n - 1 >= sizeof(digits))
                return -EINVAL;
        memcpy(digits, s, n - 1);
        digits[n - 1] = 0;
        r = parse_unsigned(digits, 100, &v);
        if (r < 0)
                return r;
        *ret = (unsigned) v;
        return 0;
}

int parse_file_mode(const char *s, mode_t *ret) {
        size_t n = strlen(s);
        mode_t m = 0;

        if (n < 3 || n > 4)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '7')
                        return -EINVAL;
                m = m * 8 + (mode_t) (*p - '0');
        }
        *ret = m;
        return 0;
}

int parse_cert_lifetime(const char *s, int64_t *ret) {
        uint64_t v;
        int r;

        if (strcmp(s, "max") == 0) {
                *ret = CERT_LIFETIME_UNLIMITED;
                return 0;
        }
        if (*s >= '0' && *s <= '9' && s[strspn(s, "0123456789")] == 0) {  /* days */
                r = parse_unsigned(s, CERT_DAYS_MAX, &v);
                if (r < 0)
                        return r;
                if (v < 1)
                        return -ERANGE;
                *ret = (int64_t) v * 86400;
                return 0;
        }
        r = parse_duration(s, &v);
        if (r < 0)
                return r;
        if (v < CERT_LIFETIME_MIN_SEC || v > (uint64_t) CERT_LIFETIME_MAX_SEC)
                return -ERANGE;
        *ret = (int64_t) v;
        return 0;
}

int parse_bool(const char *s, bool *ret) {
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
                *ret = true;
        else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

int parse_http_date(const char *s, int64_t *ret) {
        static const char *const formats[] = {
                "%a, %d %b %Y %H:%M:%S GMT",    /* IMF-fixdate */
                "%A, %d-%b-%y %H:%M:%S GMT",    /* RFC 850 */
                "%a %b %e %H:%M:%S %Y",         /* asctime */
        };
        locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t) 0);

        if (c == (locale_t) 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                struct tm tm = {};
                const char *end = strptime_l(s, formats[i], &tm, c);
                if (!end || *end != 0)
                        continue;
                time_t t = timegm(&tm);
                if (t == (time_t) -1)
                        break;
                freelocale(c);
                *ret = (int64_t) t;
                return 0;
        }
        freelocale(c);
        return -EINVAL;
}

int parse_retry_after(const char *s, int64_t now, uint64_t *ret_sec) {
        int64_t when;
        uint64_t v;

        if (parse_unsigned(s, DURATION_MAX_SEC, &v) >= 0) {
                *ret_sec = v;
                return 0;
        }
        if (parse_http_date(s, &when) < 0)
                return -EINVAL;
        *ret_sec = when > now ? (uint64_t) (when - now) : 0;
        return 0;
}

int parse_iso8601_utc(const char *s, int64_t *ret) {
        struct tm tm = {};
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        time_t t;

        if (!p)
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        if (strcmp(p, "Z") != 0)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = (int64_t) t;
        return 0;
}

const char *format_iso8601_utc(int64_t t, char buf[static 32]) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (t <= 0 || t == INT64_MAX || !gmtime_r(&tt, &tm))
                return strcpy(buf, "-");
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
}
