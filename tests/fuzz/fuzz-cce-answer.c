/* SPDX-License-Identifier: MIT */
/* Fuzz target: the clustercert answer parser. */
#include <stddef.h>
#include <stdint.h>

#include "cce.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CceKubeconfig *k = NULL;
        ApiError e = {};

        if (cce_parse_kubeconfig((const char *) data, size, &k, &e) == 0)
                cce_kubeconfig_free(k);
        return 0;
}
