/* SPDX-License-Identifier: MIT */
#pragma once

/* The CCE calls on the event loop: credentials -> signed request -> answer
 * -> validated result, or a classified error. The clustercert call gives a
 * kubeconfig (structure, and certificates: see cce_check_certificates());
 * ListClusters the clusters of a project, read as the answer arrives
 * (cluster-list.h); ShowCluster one cluster. A 401 with cached credentials
 * (IAM token, ECS metadata keys) fetches them again once and retries once.
 * Secrets used for a call are redacted from its error. */

#include <stdint.h>

#include "api-error.h"
#include "cce.h"
#include "cluster-list.h"
#include "config.h"
#include "http.h"

#define CLOCK_SKEW_WARN_SEC (5 * 60)

typedef struct CceClient CceClient;
typedef struct CceCall CceCall;

typedef struct CceResult {
        ApiError error;                 /* class none on success */
        CceKubeconfig *kubeconfig;      /* on success; the callback may take it (TAKE_PTR) */
        CertInfo certificate;           /* on success: the current context's client certificate */
        CceClusterList clusters;        /* ListClusters, on success; the callback may take it */
        CceClusterInfo cluster;         /* ShowCluster, on success; the callback may take it */
        char port_id[128];
        char request_id[128];
        int64_t server_date;            /* the answer's Date, 0 when absent */
        int64_t clock_skew_sec;         /* server_date minus our clock at arrival */
        unsigned attempts;              /* HTTP requests made (2 after a retried 401) */
        bool asked_expire_at;           /* clustercert: the lifetime was asked with expire_at */
} CceResult;

/* The call is freed after the callback returns. */
typedef void (*CceCallDone)(CceCall *call, CceResult *result, void *userdata);

/* http is borrowed. */
int cce_client_new(HttpClient *http, CceClient **ret);
CceClient *cce_client_free(CceClient *c);
static inline void cce_client_freep(CceClient **c) {
        cce_client_free(*c);
}

/* Makes a credential provider for each credential of config (borrowed: it
 * must outlive its use here). Providers of credentials that did not change
 * keep their cache. */
int cce_client_set_config(CceClient *c, const Config *config);

/* Starts a clustercert call for cluster (borrowed until done or
 * cancelled); done is called later, never from inside this call. The
 * lifetime is asked as cce_clustercert_body() says, with whole_days: in
 * days, rounded up (for an endpoint that refused expire_at). A failure to
 * start (no such credentials, a secret file that cannot be read) returns a
 * negative errno with *error filled, and done is not called. */
int cce_call_start(CceClient *c, const ClusterConfig *cluster, bool whole_days, CceCallDone done, void *userdata,
                   CceCall **ret, ApiError *error);
/* ListClusters of the project of entry, with its endpoint, credentials and
 * CA (a cluster's settings; its cluster id is not used): result->clusters.
 * The answer is read as it arrives, up to CLUSTER_LIST_ANSWER_MAX bytes.
 * Otherwise as cce_call_start(). */
int cce_list_start(CceClient *c, const ClusterConfig *entry, CceCallDone done, void *userdata,
                   CceCall **ret, ApiError *error);
/* ShowCluster of cluster_id in the project of entry: result->cluster; a
 * cluster that does not exist is a 404, class not-found. */
int cce_show_start(CceClient *c, const ClusterConfig *entry, const char *cluster_id, CceCallDone done,
                   void *userdata, CceCall **ret, ApiError *error);
/* RevokeKubernetesClusterCert for cluster: every certificate that who
 * downloaded for it stops working. Success is a 200 (its body is not
 * read); anything else an error as for cce_call_start(); an id that is not
 * valid (cce_identity_id_valid()) fails to start, -EINVAL. */
int cce_revoke_start(CceClient *c, const ClusterConfig *cluster, const CceIdentity *who, CceCallDone done,
                     void *userdata, CceCall **ret, ApiError *error);
/* Abandons a call; its callback is not called. Accepts NULL. */
void cce_call_cancel(CceCall *call);

/* The URL authority for the Host header ("host[:port]", without ":443"). */
int cce_url_host(const char *url, char **ret_host, const char **ret_path);
