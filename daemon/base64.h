/* SPDX-License-Identifier: MIT */
#pragma once

/* Strict standard base64 (RFC 4648 section 4, with padding), as kubeconfig
 * "*-data" fields hold it. Pure. */

#include <stddef.h>

/* Decodes s[0..n). Line breaks are not allowed; padding is required and
 * unused bits must be zero. Returns 0 and a NUL-terminated buffer (its size
 * without the NUL in *ret_size), -EINVAL for anything else, -ENOMEM. The
 * buffer is owned by the caller; free it with free_wiped() when it may hold
 * key material. */
int base64_decode(const char *s, size_t n, unsigned char **ret, size_t *ret_size);

/* What base64_decode() would say of s[0..n), without decoding it anywhere:
 * 0 and the decoded size in *ret_size, or -EINVAL. */
int base64_check(const char *s, size_t n, size_t *ret_size);

/* Encodes into a new NUL-terminated string. */
int base64_encode(const void *data, size_t n, char **ret);
