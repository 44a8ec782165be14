/* SPDX-License-Identifier: MIT */
/* Strict base64 encoding and decoding for kubeconfig "*-data" fields. Pure. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include "base64.h"
#include "secure-memory.h"

/* Each byte's value in the alphabet plus one: 0 for a byte outside it, 66
 * for '=' (which is no value). */
static const unsigned char values[256] = {
        ['A'] = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
        ['a'] = 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,
        ['0'] = 53, 54, 55, 56, 57, 58, 59, 60, 61, 62,
        ['+'] = 63, ['/'] = 64, ['='] = 66,
};

/* Decodes s[0..n) into out (n / 4 * 3 bytes at most), or only checks it
 * when out is NULL. Returns the decoded size, or -EINVAL. */
static ssize_t decode(const char *s, size_t n, unsigned char *out) {
        size_t size = 0;

        if (n % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i += 4) {
                const unsigned char *q = (const unsigned char *) s + i;
                int v0 = values[q[0]] - 1, v1 = values[q[1]] - 1, v2 = values[q[2]] - 1, v3 = values[q[3]] - 1;
                size_t pad = 0;

                /* '=' only as the last one or two of the last four. */
                if (i + 4 == n && v3 == 65) {
                        pad = v2 == 65 ? 2 : 1;
                        v3 = 0;
                        if (pad == 2)
                                v2 = 0;
                }
                if ((v0 | v1 | v2 | v3) < 0 || v0 > 63 || v1 > 63 || v2 > 63 || v3 > 63)
                        return -EINVAL;
                uint32_t triple = (uint32_t) v0 << 18 | (uint32_t) v1 << 12 | (uint32_t) v2 << 6 | (uint32_t) v3;
                /* Bits under the padding must be zero (canonical encoding). */
                if ((pad == 1 && (triple & 0xFF)) || (pad == 2 && (triple & 0xFFFF)))
                        return -EINVAL;
                if (out) {
                        out[size] = (unsigned char) (triple >> 16);
                        out[size + 1] = (unsigned char) (triple >> 8);
                        out[size + 2] = (unsigned char) triple;
                }
                size += 3 - pad;
        }
        return (ssize_t) size;
}

int base64_check(const char *s, size_t n, size_t *ret_size) {
        ssize_t k = decode(s, n, NULL);

        if (k < 0)
                return (int) k;
        *ret_size = (size_t) k;
        return 0;
}

int base64_decode(const char *s, size_t n, unsigned char **ret, size_t *ret_size) {
        unsigned char *out;
        ssize_t k;

        if (n % 4 != 0)
                return -EINVAL;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        k = decode(s, n, out);
        if (k < 0) {
                free_wiped(out);
                return (int) k;
        }
        out[k] = 0;
        *ret = out;
        *ret_size = (size_t) k;
        return 0;
}

int base64_encode(const void *data, size_t n, char **ret) {
        static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *in = data;
        char *out = malloc((n + 2) / 3 * 4 + 1), *p = out;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) in[i + 1] << 8;
                if (i + 2 < n)
                        v |= in[i + 2];
                *p++ = table[(v >> 18) & 63];
                *p++ = table[(v >> 12) & 63];
                *p++ = i + 1 < n ? table[(v >> 6) & 63] : '=';
                *p++ = i + 2 < n ? table[v & 63] : '=';
        }
        *p = 0;
        *ret = out;
        return 0;
}
