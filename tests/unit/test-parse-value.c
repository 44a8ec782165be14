/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>

#include "parse-value.h"
#include "tests.h"

TEST(duration) {
        static const struct {
                const char *in;
                int r;
                uint64_t sec;
        } cases[] = {
                { "90s", 0, 90 },
                { "15m", 0, 900 },
                { "12h", 0, 43200 },
                { "10d", 0, 864000 },
                { "1d12h", 0, 129600 },
                { "1d2h3m4s", 0, 93784 },
                { "0s", 0, 0 },
                { "36500d", 0, 36500ull * 86400 },
                { "", -EINVAL, 0 },
                { "10", -EINVAL, 0 },           /* a unit is required */
                { "10x", -EINVAL, 0 },
                { "d", -EINVAL, 0 },
                { "-5s", -EINVAL, 0 },
                { " 5s", -EINVAL, 0 },
                { "5s ", -EINVAL, 0 },
                { "1h1d", -EINVAL, 0 },         /* largest unit first */
                { "1h1h", -EINVAL, 0 },         /* each unit once */
                { "10w", -EINVAL, 0 },
                { "36501d", -ERANGE, 0 },
                { "99999999999999999999s", -ERANGE, 0 },
                { "18446744073709551615d", -ERANGE, 0 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                uint64_t v = 12345;
                int r = parse_duration(cases[i].in, &v);
                if (r != cases[i].r)
                        fprintf(stderr, "case '%s'\n", cases[i].in);
                ASSERT_EQ(r, cases[i].r);
                if (r == 0)
                        ASSERT_EQ(v, cases[i].sec);
                else
                        ASSERT_EQ(v, 12345);  /* untouched on failure */
        }
}

TEST(format_duration) {
        char buf[32];
        ASSERT_STREQ(format_duration(0, buf), "0s");
        ASSERT_STREQ(format_duration(90, buf), "1m30s");
        ASSERT_STREQ(format_duration(86400 * 10, buf), "10d");
        ASSERT_STREQ(format_duration(129600, buf), "1d12h");
        ASSERT_STREQ(format_duration(DURATION_MAX_SEC, buf), "36500d");
        /* Formatting and parsing are inverses. */
        for (uint64_t s = 0; s < 200000; s += 997) {
                uint64_t back;
                ASSERT_EQ(parse_duration(format_duration(s, buf), &back), 0);
                ASSERT_EQ(back, s);
        }
}

TEST(percent) {
        unsigned p;
        ASSERT_EQ(parse_percent("66%", &p), 0);
        ASSERT_EQ(p, 66);
        ASSERT_EQ(parse_percent("0%", &p), 0);
        ASSERT_EQ(p, 0);
        ASSERT_EQ(parse_percent("100%", &p), 0);
        ASSERT_EQ(p, 100);
        ASSERT_EQ(parse_percent("101%", &p), -ERANGE);
        ASSERT_EQ(parse_percent("66", &p), -EINVAL);
        ASSERT_EQ(parse_percent("%", &p), -EINVAL);
        ASSERT_EQ(parse_percent("6.5%", &p), -EINVAL);
        ASSERT_EQ(parse_percent("-5%", &p), -EINVAL);
        ASSERT_EQ(parse_percent("1234567%", &p), -ERANGE);
        ASSERT_EQ(parse_percent("123456789%", &p), -EINVAL);
        ASSERT_EQ(parse_percent("", &p), -EINVAL);
}

TEST(file_mode) {
        mode_t m;
        ASSERT_EQ(parse_file_mode("0600", &m), 0);
        ASSERT_EQ(m, 0600);
        ASSERT_EQ(parse_file_mode("640", &m), 0);
        ASSERT_EQ(m, 0640);
        ASSERT_EQ(parse_file_mode("7777", &m), 0);
        ASSERT_EQ(m, 07777);
        ASSERT_EQ(parse_file_mode("0800", &m), -EINVAL);
        ASSERT_EQ(parse_file_mode("60", &m), -EINVAL);
        ASSERT_EQ(parse_file_mode("00600", &m), -EINVAL);
        ASSERT_EQ(parse_file_mode("rw", &m), -EINVAL);
        ASSERT_EQ(parse_file_mode("", &m), -EINVAL);
}

TEST(cert_lifetime) {
        int64_t t;
        /* A number is days, as before. */
        ASSERT_EQ(parse_cert_lifetime("30", &t), 0);
        ASSERT_EQ(t, 30 * 86400);
        ASSERT_EQ(parse_cert_lifetime("1", &t), 0);
        ASSERT_EQ(t, 86400);
        ASSERT_EQ(parse_cert_lifetime("1827", &t), 0);
        ASSERT_EQ(t, 1827 * INT64_C(86400));
        ASSERT_EQ(parse_cert_lifetime("max", &t), 0);
        ASSERT_EQ(t, CERT_LIFETIME_UNLIMITED);
        ASSERT_EQ(parse_cert_lifetime("0", &t), -ERANGE);
        ASSERT_EQ(parse_cert_lifetime("1828", &t), -ERANGE);
        ASSERT_EQ(parse_cert_lifetime("-1", &t), -EINVAL);
        ASSERT_EQ(parse_cert_lifetime("MAX", &t), -EINVAL);
        /* A length with units, from 15 minutes to 1827 days. */
        ASSERT_EQ(parse_cert_lifetime("90m", &t), 0);
        ASSERT_EQ(t, 90 * 60);
        ASSERT_EQ(parse_cert_lifetime("4h", &t), 0);
        ASSERT_EQ(t, 4 * 3600);
        ASSERT_EQ(parse_cert_lifetime("7d", &t), 0);
        ASSERT_EQ(t, 7 * 86400);
        ASSERT_EQ(parse_cert_lifetime("1d12h", &t), 0);
        ASSERT_EQ(t, 36 * 3600);
        ASSERT_EQ(parse_cert_lifetime("15m", &t), 0);
        ASSERT_EQ(t, 15 * 60);
        ASSERT_EQ(parse_cert_lifetime("1827d", &t), 0);
        ASSERT_EQ(parse_cert_lifetime("10m", &t), -ERANGE);
        ASSERT_EQ(parse_cert_lifetime("14m59s", &t), -ERANGE);
        ASSERT_EQ(parse_cert_lifetime("1828d", &t), -ERANGE);
        ASSERT_EQ(parse_cert_lifetime("6y", &t), -EINVAL);
        ASSERT_EQ(parse_cert_lifetime("4 h", &t), -EINVAL);
        ASSERT_EQ(parse_cert_lifetime("", &t), -EINVAL);
}

TEST(bool_and_unsigned) {
        bool b;
        uint64_t u;
        ASSERT_EQ(parse_bool("true", &b), 0);
        ASSERT(b);
        ASSERT_EQ(parse_bool("FALSE", &b), 0);
        ASSERT(!b);
        ASSERT_EQ(parse_bool("yes", &b), -EINVAL);
        ASSERT_EQ(parse_bool("1", &b), -EINVAL);
        ASSERT_EQ(parse_unsigned("0", 10, &u), 0);
        ASSERT_EQ(u, 0);
        ASSERT_EQ(parse_unsigned("10", 10, &u), 0);
        ASSERT_EQ(parse_unsigned("11", 10, &u), -ERANGE);
        ASSERT_EQ(parse_unsigned("99999999999999999999", UINT64_MAX, &u), -ERANGE);
        ASSERT_EQ(parse_unsigned("+1", 10, &u), -EINVAL);
        ASSERT_EQ(parse_unsigned("", 10, &u), -EINVAL);
}

TEST(http_date) {
        int64_t t;
        uint64_t d;
        ASSERT_EQ(parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT", &t), 0);
        ASSERT_EQ(t, 1700000000);
        ASSERT_EQ(parse_http_date("Tuesday, 14-Nov-23 22:13:20 GMT", &t), 0);
        ASSERT_EQ(t, 1700000000);
        ASSERT_EQ(parse_http_date("Tue Nov 14 22:13:20 2023", &t), 0);
        ASSERT_EQ(t, 1700000000);
        ASSERT_EQ(parse_http_date("Tue, 14 Nov 2023 22:13:20 CET", &t), -EINVAL);
        ASSERT_EQ(parse_http_date("yesterday", &t), -EINVAL);
        ASSERT_EQ(parse_http_date("", &t), -EINVAL);

        ASSERT_EQ(parse_retry_after("120", 0, &d), 0);
        ASSERT_EQ(d, 120);
        ASSERT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", 1700000000, &d), 0);
        ASSERT_EQ(d, 10);
        ASSERT_EQ(parse_retry_after("Tue, 14 Nov 2023 22:13:10 GMT", 1700000000, &d), 0);
        ASSERT_EQ(d, 0);
        ASSERT_EQ(parse_retry_after("-1", 0, &d), -EINVAL);
        ASSERT_EQ(parse_retry_after("1.5", 0, &d), -EINVAL);
}

TEST(iso8601) {
        int64_t t;
        ASSERT_EQ(parse_iso8601_utc("2023-11-14T22:13:20.701000Z", &t), 0);
        ASSERT_EQ(t, 1700000000);
        ASSERT_EQ(parse_iso8601_utc("2023-11-14T22:13:20Z", &t), 0);
        ASSERT_EQ(t, 1700000000);
        ASSERT_EQ(parse_iso8601_utc("2023-11-14T22:13:20", &t), -EINVAL);
        ASSERT_EQ(parse_iso8601_utc("2023-11-14T22:13:20+08:00", &t), -EINVAL);
        ASSERT_EQ(parse_iso8601_utc("2023-11-14T22:13:20.Z", &t), -EINVAL);
        ASSERT_EQ(parse_iso8601_utc("soon", &t), -EINVAL);

        char buf[32];
        ASSERT_STREQ(format_iso8601_utc(1700000000, buf), "2023-11-14T22:13:20Z");
        ASSERT_STREQ(format_iso8601_utc(0, buf), "-");
        ASSERT_STREQ(format_iso8601_utc(INT64_MAX, buf), "-");
        ASSERT_EQ(parse_iso8601_utc(format_iso8601_utc(1234567890, buf), &t), 0);
        ASSERT_EQ(t, 1234567890);
}

RUN_TESTS(T(http_date), T(iso8601), T(duration), T(format_duration), T(percent), T(file_mode), T(cert_lifetime), T(bool_and_unsigned))
