/* SPDX-License-Identifier: MIT */
/* Fuzz target: the kubeconfig reader. The input is an existing kubeconfig;
 * it is read back for a cluster and this cluster's entries are merged into
 * it and rendered as an own file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "kubeconfig.h"
#include "macro.h"
#include "secure-memory.h"

#define B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

static Config *config;
static CceKubeconfig answer;

static void setup(void) {
        static const char text[] =
                "credentials: {t: {token: {credential: t}}}\n"
                "clusters:\n"
                "  - {name: prod, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c,\n"
                "     region: r, credentials: t, kubeconfig: /k/shared, merge: true}\n"
                "  - {name: own, project-id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9, cluster-id: 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c,\n"
                "     region: r, credentials: t, kubeconfig: /k/own}\n";
        static CceClusterEntry clusters[] = { { "internalCluster", "https://192.168.0.10:5443", B64, false } };
        static CceUserEntry users[] = { { "user", B64, B64 } };
        static CceContextEntry contexts[] = { { "internal", "internalCluster", "user" } };
        ConfigErrors errors = {};

        if (config_load_buffer("fuzz.yaml", text, strlen(text), &config, &errors) < 0)
                abort();
        config_errors_clear(&errors);
        answer = (CceKubeconfig) {
                .clusters = clusters, .n_clusters = 1,
                .users = users, .n_users = 1,
                .contexts = contexts, .n_contexts = 1,
                .current_context = (char *) "internal",
        };
}

/* The configuration lives for the whole run; freed at exit for leak checkers. */
__attribute__((destructor)) static void teardown(void) {
        config = config_free(config);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeconfigStatus st;
        char error[512];

        if (!config)
                setup();
        for (size_t i = 0; i < config->n_clusters; i++) {
                _cleanup_free_wiped_ char *out = NULL;
                size_t out_size;
                kubeconfig_inspect_text(&config->clusters[i], (const char *) data, size, &st);
                (void) kubeconfig_render(&config->clusters[i], &answer, (const char *) data, size,
                                         &out, &out_size, NULL, error, sizeof(error));
        }
        return 0;
}
