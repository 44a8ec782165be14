/* SPDX-License-Identifier: MIT */
/* Fuzz target: error bodies and headers of failed API answers. The first
 * line of the input is the Retry-After header value, the rest the body. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api-error.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *s = (const char *) data, *nl = memchr(s, '\n', size);
        _cleanup_free_ char *retry_after = NULL;
        ApiError e;
        char buf[1024];

        if (nl)
                retry_after = strndup(s, (size_t) (nl - s));
        const char *body = nl ? nl + 1 : s;
        size_t n = nl ? size - (size_t) (nl - s) - 1 : size;
        static const long statuses[] = { 400, 401, 403, 404, 429, 500, 503 };
        api_error_from_response(&e, statuses[size % ELEMENTSOF(statuses)], body, n, "req", retry_after, 1700000000);
        api_error_redact(&e, "secret");
        api_error_describe(&e, buf, sizeof(buf));
        return 0;
}
