/* SPDX-License-Identifier: MIT */
/* Strict base64 encoding and decoding for kubeconfig "*-data" fields. Pure. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"
#include "secure-memory.h"

static int value_of(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *s, size_t n, unsigned char **ret, size_t *ret_size) {
        unsigned char *out, *p;

        if (n % 4 != 0)
                return -EINVAL;
        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        p = out;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                size_t pad = 0;

                for (size_t j = 0; j < 4; j++) {
                        if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                                v[j] = 0;
                                pad++;
                                continue;
                        }
                        v[j] = pad > 0 ? -1 : value_of(s[i + j]);
                        if (v[j] < 0) {
                                free_wiped(out);
                                return -EINVAL;
                        }
                }
                uint32_t triple = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6 | (uint32_t) v[3];
                /* Bits under the padding must be zero (canonical encoding). */
                if ((pad == 1 && (triple & 0xFF)) || (pad == 2 && (triple & 0xFFFF))) {
                        free_wiped(out);
                        return -EINVAL;
                }
                *p++ = (unsigned char) (triple >> 16);
                if (pad < 2)
                        *p++ = (unsigned char) (triple >> 8);
                if (pad < 1)
                        *p++ = (unsigned char) triple;
        }
        *p = 0;
        *ret = out;
        *ret_size = (size_t) (p - out);
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
