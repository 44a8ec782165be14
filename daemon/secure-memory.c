/* SPDX-License-Identifier: MIT */
/* The libraries' memory wiped too: what the daemon receives (a private key
 * in the API's answer), reads (the kubeconfig it replaces), writes and sends
 * (a password, a token) passes through buffers of libcurl, OpenSSL and
 * libyaml, not only through ours. Each block those libraries free or move is
 * wiped first, as free_wiped() and realloc_wiped() do for ours:
 *   - libcurl and OpenSSL through their documented allocator hooks, set
 *     before either allocates anything: OpenSSL's first thing in main(),
 *     libcurl's when the first HTTP client is made (a run that makes none,
 *     --check, --status, loads neither library's global state);
 *   - libyaml, which has none, by the program's own yaml_free() and
 *     yaml_realloc() (yaml-tree.c);
 *   - yajl through the allocator json.c gives it.
 * OpenSSL's buffer of decrypted records goes back to it (and so is wiped)
 * whenever a connection is idle, so nothing of an answer stays while the
 * connection is kept for the next request. */

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <openssl/crypto.h>

#include "secure-memory.h"

static void *openssl_malloc(size_t size, const char *file, int line) {
        return malloc(size);
}

static void *openssl_realloc(void *p, size_t size, const char *file, int line) {
        return realloc_wiped(p, size);
}

static void openssl_free(void *p, const char *file, int line) {
        free_wiped(p);
}

static void curl_free_wiped(void *p) {
        free_wiped(p);
}

int secure_memory_setup(void) {
        if (CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free) != 1)
                return -EBUSY;  /* OpenSSL allocated something already */
        return 0;
}

int secure_memory_setup_curl(void) {
        static bool done = false;

        if (done)
                return 0;
        if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, curl_free_wiped, realloc_wiped, strdup, calloc) != CURLE_OK)
                return -EIO;
        done = true;
        return 0;
}
