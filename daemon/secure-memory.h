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
 * in the block stays there. A small block's contents wait on the stack
 * while it is wiped and realloc() grows it, in place when it can, as a
 * plain realloc would (blocks moved by copy instead left as many holes in
 * the heap: libyaml grows the string of every scalar it reads, and a
 * 10,000-cluster configuration cost 3 MiB more); a large one is copied to
 * a new block. */
static inline void *realloc_wiped(void *p, size_t n) {
        char saved[1024];
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
        if (old <= sizeof(saved)) {
                memcpy(saved, p, old);
                explicit_bzero(p, old);
                q = realloc(p, n);
                memcpy(q ?: p, saved, old);  /* on failure p is still there, and still the caller's */
                explicit_bzero(saved, old);
                return q;
        }
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
