/* SPDX-License-Identifier: MIT */
#pragma once

/* Memory that may hold secrets (keys, tokens, private key material) is wiped
 * before it is freed, so it does not linger in the heap or in a core file. */

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* Wipes a heap block (its whole usable size) and frees it; accepts NULL. */
static inline void *free_wiped(void *p) {
        if (p) {
                explicit_bzero(p, malloc_usable_size(p));
                free(p);
        }
        return NULL;
}

static inline void free_wipedp(void *p) {
        free_wiped(*(void **) p);
}
#define _cleanup_free_wiped_ _cleanup_(free_wipedp)

/* realloc that never leaves a copy of the old contents behind: what fits
 * in the block stays there, anything larger moves to a new block and the
 * old one is wiped. */
static inline void *realloc_wiped(void *p, size_t n) {
        void *q;

        if (!p)
                return malloc(n);
        if (n == 0) {
                free_wiped(p);
                return NULL;
        }
        size_t old = malloc_usable_size(p);
        if (n <= old)
                return p;
        q = malloc(n);
        if (!q)
                return NULL;
        memcpy(q, p, old);
        free_wiped(p);
        return q;
}

/* Makes OpenSSL wipe what it frees (secure-memory.c): call first thing,
 * before OpenSSL is used. -EBUSY when it has allocated memory already. */
int secure_memory_setup(void);
/* The same for libcurl: before its first use; once is enough. */
int secure_memory_setup_curl(void);
