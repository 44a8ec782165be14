/* SPDX-License-Identifier: MIT */
#pragma once

/* Functions that explain their failures in a caller's buffer: one sentence,
 * then the negative errno passed through ("return error_printf(...)"). */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 4, 5)))
static inline int error_printf(char *error, size_t size, int r, const char *format, ...) {
        va_list ap;

        if (error && size > 0) {
                va_start(ap, format);
                vsnprintf(error, size, format, ap);
                va_end(ap);
        }
        return r;
}
