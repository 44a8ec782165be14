/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "base64.h"
#include "macro.h"
#include "tests.h"

TEST(round_trip) {
        unsigned char data[256];
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (unsigned char) (i * 37 + 11);
        for (size_t n = 0; n <= sizeof(data); n++) {
                _cleanup_free_ char *e = NULL;
                _cleanup_free_ unsigned char *d = NULL;
                size_t size;
                ASSERT_EQ(base64_encode(data, n, &e), 0);
                ASSERT_EQ(strlen(e), (n + 2) / 3 * 4);
                ASSERT_EQ(base64_decode(e, strlen(e), &d, &size), 0);
                ASSERT_EQ(size, n);
                size = SIZE_MAX;
                ASSERT_EQ(base64_check(e, strlen(e), &size), 0);
                ASSERT_EQ(size, n);
                ASSERT(memcmp(d, data, n) == 0);
                ASSERT_EQ(d[n], 0);
        }
}

TEST(known) {
        _cleanup_free_ unsigned char *d = NULL;
        size_t size;
        ASSERT_EQ(base64_decode("Q2VydGlmaWNhdGU6", 16, &d, &size), 0);
        ASSERT_STREQ((char *) d, "Certificate:");
}

TEST(refusals) {
        static const char *const bad[] = {
                "Zm9v\n", "Zm9", "Zm9v=", "Z===", "Zm==Zm9v", "Zm9-", "Zm9_", "Zh==", "Zm9=Zm9v", " Zm9v", "Zm=v",
                "====", "=m9v", "Zm9v====", "Zm8\x80", "Zm9\xff",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned char *d = NULL;
                size_t size;
                ASSERT_EQ(base64_decode(bad[i], strlen(bad[i]), &d, &size), -EINVAL);
                ASSERT_NULL(d);
                ASSERT_EQ(base64_check(bad[i], strlen(bad[i]), &size), -EINVAL);
        }
}

RUN_TESTS(T(round_trip), T(known), T(refusals))
