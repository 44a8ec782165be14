/* SPDX-License-Identifier: MIT */
#pragma once

/* The CCE clustercert call (CreateKubernetesClusterCert): where it goes,
 * what it sends, and the strict reading of its answer (pure). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api-error.h"
#include "cert.h"

#define CCE_ANSWER_MAX (1024 * 1024)    /* body cap for the answer */
#define CCE_FIELD_MAX (64 * 1024)       /* cap on any one string in it */
#define CCE_ENTRIES_MAX 16              /* cap on clusters, users, contexts */

typedef struct CceClusterEntry {
        char *name;
        char *server;                   /* https URL */
        char *certificate_authority_data;       /* base64 as given, or NULL */
        bool insecure_skip_tls_verify;
} CceClusterEntry;

typedef struct CceUserEntry {
        char *name;
        char *client_certificate_data;  /* base64 as given */
        char *client_key_data;          /* base64 as given: key material, wiped when freed */
} CceUserEntry;

typedef struct CceContextEntry {
        char *name;
        char *cluster;                  /* names a CceClusterEntry */
        char *user;                     /* names a CceUserEntry */
} CceContextEntry;

/* The answer: a kubeconfig in JSON, validated. */
typedef struct CceKubeconfig {
        CceClusterEntry *clusters;
        size_t n_clusters;
        CceUserEntry *users;
        size_t n_users;
        CceContextEntry *contexts;
        size_t n_contexts;
        char *current_context;          /* names a CceContextEntry */
} CceKubeconfig;

/* https://cce.REGION.myhuaweicloud.com (".eu" for eu-west-101). */
int cce_endpoint_for_region(const char *region, char **ret);
/* The decoded request path. */
int cce_clustercert_path(const char *project_id, const char *cluster_id, char **ret);
/* The certificate's lifetime (ClusterConfig.lifetime_sec) as the request
 * asks for it: a whole number of days (or the maximum) with duration, which
 * every cluster version takes; anything else with expire_at, an absolute
 * end ("2025-01-01 16:00:00 +0000 UTC"), the only way to ask for less than
 * a day. */
bool cce_lifetime_whole_days(int64_t lifetime_sec);
/* The duration to send: whole days rounded up (at least 1), -1 for the maximum. */
int cce_lifetime_days(int64_t lifetime_sec);
#define CCE_EXPIRE_AT_SIZE 32
const char *cce_expire_at(int64_t t, char buf[static CCE_EXPIRE_AT_SIZE]);
/* {"duration":N}, or {"expire_at":"..."} for now + lifetime when that is
 * not whole days (unless whole_days: then duration rounded up). */
int cce_clustercert_body(int64_t lifetime_sec, bool whole_days, int64_t now, char **ret);

/* Reads and validates a 200 answer: kind Config, apiVersion v1, every
 * array and field with its type, names unique, references resolved, base64
 * that decodes, https servers, sizes capped. On failure returns -EINVAL (or
 * -ENOMEM) and fills e with class bad-response and what is wrong (never the
 * answer's content). */
int cce_parse_kubeconfig(const char *body, size_t size, CceKubeconfig **ret, ApiError *e);

/* The certificate checks of cert_check_answer() on a parsed answer: every
 * user's certificate and key, against the CA data of the current context's
 * cluster (or, where that has none, of the first cluster that has some);
 * every CA data present must parse too. Fills info from the current
 * context's user. On failure: -EBADMSG and e of class bad-response. */
int cce_check_certificates(const CceKubeconfig *k, int64_t now, CertInfo *info, ApiError *e);

/* RevokeKubernetesClusterCert: every certificate that one IAM user (or
 * agency) downloaded for a cluster stops working. The id is the CN of such
 * a certificate. */
#define CCE_IDENTITY_ID_MAX 64
typedef struct CceIdentity {
        bool agency;                    /* sent as agencyId, else userId */
        char id[CCE_IDENTITY_ID_MAX + 1];
} CceIdentity;
/* An id as IAM makes them (letters, digits, '-', '_'; 1 to 64): anything
 * else in a certificate's CN is not sent. */
bool cce_identity_id_valid(const char *id);
int cce_revoke_path(const char *project_id, const char *cluster_id, char **ret);
/* {"userId":"..."} or {"agencyId":"..."}; -EINVAL for an id that is not valid. */
int cce_revoke_body(const CceIdentity *who, char **ret);

CceKubeconfig *cce_kubeconfig_free(CceKubeconfig *k);
static inline void cce_kubeconfig_freep(CceKubeconfig **k) {
        cce_kubeconfig_free(*k);
}

const CceContextEntry *cce_kubeconfig_context(const CceKubeconfig *k, const char *name);
const CceClusterEntry *cce_kubeconfig_cluster(const CceKubeconfig *k, const char *name);
const CceUserEntry *cce_kubeconfig_user(const CceKubeconfig *k, const char *name);
