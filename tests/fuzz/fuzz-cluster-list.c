/* SPDX-License-Identifier: MIT */
/* Fuzz target: the ListClusters and ShowCluster answer readers, from raw
 * bytes to a list (or one cluster) or a bad-response error; the listing
 * also fed in two pieces, split where the first byte says, which must come
 * to the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-list.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CceClusterList whole = {}, pieces = {};
        CceClusterInfo one = {};
        ClusterListReader *lr = NULL;
        ApiError e = {};
        int a, b;

        a = cce_parse_cluster_list((const char *) data, size, &whole, &e);
        if (cluster_list_reader_new(false, &lr) == 0) {
                size_t cut = size > 0 ? data[0] % (size + 1) : 0;
                (void) cluster_list_reader_feed(lr, (const char *) data, cut);
                (void) cluster_list_reader_feed(lr, (const char *) data + cut, size - cut);
                b = cluster_list_reader_finish(lr, &pieces, NULL, &e);
                if (a != b || whole.n_items != pieces.n_items)
                        abort();
                for (size_t i = 0; i < whole.n_items; i++)
                        if (strcmp(whole.items[i].id, pieces.items[i].id) != 0 ||
                            strcmp(whole.items[i].name, pieces.items[i].name) != 0 ||
                            strcmp(whole.items[i].phase, pieces.items[i].phase) != 0)
                                abort();
                cluster_list_reader_free(lr);
        }
        cce_cluster_list_done(&whole);
        cce_cluster_list_done(&pieces);
        if (cce_parse_cluster((const char *) data, size, &one, &e) == 0)
                (void) cce_cluster_available(&one);
        cce_cluster_info_done(&one);
        return 0;
}
