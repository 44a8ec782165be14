/* SPDX-License-Identifier: MIT */
#pragma once

/* Whose certificates a revocation names (RevokeKubernetesClusterCert): the
 * CN of the certificate in the cluster's kubeconfig, which CCE makes the
 * IAM user id or the agency id, sent as an agency id when the cluster's
 * credentials are an agency's (identity: agency, ecs-metadata); or an id
 * given on the command line. Reads the kubeconfig, nothing else. */

#include <stdio.h>

#include "cce.h"
#include "config.h"

#define REVOCATION_HOW_MAX 1024

/* *ret for cl: override when given (its id checked), else from the file.
 * how: how it was found, for the operator. -ENOENT when the file holds no
 * certificate of ours (nothing to take the id from), -EINVAL when its CN is
 * not an IAM id; how says why. */
int revocation_identity(const ClusterConfig *cl, const CceIdentity *override, CceIdentity *ret,
                        char how[static REVOCATION_HOW_MAX]);

/* "user ID" or "agency ID" */
const char *revocation_identity_text(const CceIdentity *who, char buf[static CCE_IDENTITY_ID_MAX + 8]);

/* --revoke --dry-run: for each cluster of config named in only (NULL: all),
 * what would be revoked and written; no call. Returns the exit status:
 * 0, or 3 (REVOKE_EXIT_NOT_REVOKED) when an identity cannot be found. */
int revocation_describe(const Config *config, char **only, const CceIdentity *override, FILE *out);
