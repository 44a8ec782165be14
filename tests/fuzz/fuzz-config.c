/* SPDX-License-Identifier: MIT */
/* Fuzz target: the configuration loader, from raw bytes to errors or a
 * Config, and the dump of whatever loads. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL;
        ConfigErrors errors = {};

        if (config_load_buffer("fuzz.yaml", (const char *) data, size, &c, &errors) == 0) {
                _cleanup_free_ char *dump = NULL;
                (void) config_dump(c, &dump);
        }
        config_errors_clear(&errors);
        return 0;
}
