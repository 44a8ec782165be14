/* SPDX-License-Identifier: MIT */
#pragma once

/* The clusters of a project as CCE lists them: the ListClusters call
 * (GET /api/v3/projects/{project_id}/clusters) and ShowCluster (GET
 * .../clusters/{cluster_id}), their paths and the strict, streaming read of
 * their answers (pure). A listing of ten thousand clusters is tens of
 * megabytes of JSON, most of it fields cce-certd never uses: the answer is
 * read event by event and only each item's metadata.name, metadata.uid and
 * status.phase are kept; every other value is skipped, whatever it holds,
 * within the depth cap. */

#include <stdbool.h>
#include <stddef.h>

#include "api-error.h"

#define CLUSTER_LIST_ANSWER_MAX (64 * 1024 * 1024)      /* body cap for a listing */
#define CLUSTER_LIST_ITEMS_MAX 100000                   /* clusters in one listing */
#define CLUSTER_LIST_FIELD_MAX 256                      /* bytes of a name, uid or phase */
#define CLUSTER_LIST_MAX_DEPTH 32                       /* nesting of the answer, skipped parts too */

typedef struct CceClusterInfo {
        char *name;             /* metadata.name: unique within a project, as CCE gives it */
        char *id;               /* metadata.uid: the cluster id of every other call */
        char *phase;            /* status.phase ("Available", "Hibernation", ...); "" when absent */
} CceClusterInfo;

typedef struct CceClusterList {
        CceClusterInfo *items;
        size_t n_items;
} CceClusterList;

/* The decoded request paths. */
int cce_list_clusters_path(const char *project_id, char **ret);
int cce_show_cluster_path(const char *project_id, const char *cluster_id, char **ret);

/* Reads a 200 answer of ListClusters: an object whose "items" is an array
 * of objects, each with metadata.name and metadata.uid (strings of at most
 * CLUSTER_LIST_FIELD_MAX bytes, no control characters) and optionally
 * status.phase. No two items may have the same uid or the same name. No
 * "items" at all is an empty project. What a name or uid may be used for
 * is the caller's to check. On failure returns -EINVAL (or -ENOMEM) and
 * fills e with class bad-response and what is wrong (never the answer's
 * content). */
int cce_parse_cluster_list(const char *body, size_t size, CceClusterList *ret, ApiError *e);

/* Reads a 200 answer of ShowCluster: one item as above, at the top level. */
int cce_parse_cluster(const char *body, size_t size, CceClusterInfo *ret, ApiError *e);

/* The same, fed as the answer arrives (a listing need not be held whole):
 * feed returns the error once the answer is known to be bad (-EINVAL,
 * -ENOMEM), finish says what it is (e as above) and hands over the list
 * (single false) or the one cluster (single true). */
typedef struct ClusterListReader ClusterListReader;
int cluster_list_reader_new(bool single, ClusterListReader **ret);
int cluster_list_reader_feed(ClusterListReader *r, const char *data, size_t size);
int cluster_list_reader_finish(ClusterListReader *r, CceClusterList *ret_list, CceClusterInfo *ret_one, ApiError *e);
ClusterListReader *cluster_list_reader_free(ClusterListReader *r);

/* Only "Available" is certain to answer the clustercert call. */
bool cce_cluster_available(const CceClusterInfo *c);

void cce_cluster_info_done(CceClusterInfo *c);
void cce_cluster_list_done(CceClusterList *l);
