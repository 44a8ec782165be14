/* SPDX-License-Identifier: MIT */
#include <openssl/crypto.h>

#include "macro.h"
#include "secure-memory.h"
#include "tests.h"

static void fill(char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = (char) ('a' + i % 26);
}

static bool filled(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != (char) ('a' + i % 26))
                        return false;
        return true;
}

/* Contents kept through growth, small (in place when realloc can) and large
 * (copied); a size that fits keeps the block; 0 frees. */
TEST(realloc_wiped_keeps_the_contents) {
        static const size_t sizes[] = { 1, 16, 24, 100, 1000, 1024, 1025, 5000, 200000 };
        char *p = malloc(8);

        ASSERT(p);
        fill(p, 8);
        size_t have = 8;
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                char *q = realloc_wiped(p, sizes[i]);
                ASSERT(q);
                ASSERT(filled(q, MIN(have, sizes[i])));
                fill(q, sizes[i]);
                p = q;
                have = sizes[i];
        }
        size_t usable = malloc_usable_size(p);
        ASSERT(realloc_wiped(p, usable) == p);
        ASSERT(realloc_wiped(p, 10) == p);
        ASSERT(realloc_wiped(p, 0) == NULL);
        p = realloc_wiped(NULL, 10);
        ASSERT(p);
        free(p);
}

/* OpenSSL's allocations go through the wiping functions once set up (the
 * daemon does it first thing; here, before anything of OpenSSL's). */
TEST(openssl_allocates_through_the_wiping_functions) {
        CRYPTO_malloc_fn m;
        CRYPTO_realloc_fn r;
        CRYPTO_free_fn f;

        ASSERT_EQ(secure_memory_setup(), 0);
        CRYPTO_get_mem_functions(&m, &r, &f);
        ASSERT(m != CRYPTO_malloc && f != CRYPTO_free);
        char *p = OPENSSL_malloc(100);
        ASSERT(p);
        fill(p, 100);
        p = OPENSSL_realloc(p, 3000);
        ASSERT(p && filled(p, 100));
        OPENSSL_free(p);
}

RUN_TESTS(T(openssl_allocates_through_the_wiping_functions), T(realloc_wiped_keeps_the_contents))
