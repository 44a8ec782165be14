/* SPDX-License-Identifier: MIT */
#pragma once

/* Credentials for signing or authorising one API request, for each of the
 * five kinds a configuration can name:
 *   access-key            AK/SK read from their files at each use
 *   temporary-access-key  AK/SK + security token, read at each use (so a
 *                         refreshed file is picked up)
 *   ecs-metadata          temporary keys from the ECS metadata service,
 *                         cached, refreshed when less than
 *                         min(40 minutes, a quarter of their lifetime) is left
 *   iam-password          an IAM token per project (and IAM endpoint),
 *                         cached in memory only, shared by every cluster of
 *                         the project, refreshed when less than
 *                         min(1 hour, a quarter of its lifetime) is left
 *   token                 a token read from its file at each use
 * One fetch runs at a time per cached item; requests that need it meanwhile
 * wait for it. */

#include <stdbool.h>

#include "api-error.h"
#include "config.h"
#include "http.h"

#define ECS_METADATA_ENDPOINT "http://169.254.169.254"

typedef enum AuthKind {
        AUTH_AKSK,
        AUTH_TOKEN,
} AuthKind;

/* What authorises one request. Every string is wiped when cleared. */
typedef struct Auth {
        AuthKind kind;
        char *access_key;
        char *secret_key;
        char *security_token;   /* temporary keys only */
        char *token;            /* X-Auth-Token */
} Auth;

void auth_clear(Auth *a);

typedef struct IamProvider IamProvider;
typedef struct IamWaiter IamWaiter;

/* Exactly one of auth and error is set. auth is borrowed for the call. */
typedef void (*IamCallback)(const Auth *auth, const ApiError *error, void *userdata);

/* cred is borrowed and must outlive the provider. */
int iam_provider_new(HttpClient *http, const Credential *cred, IamProvider **ret);
/* Cancels waiters without calling them back. Accepts NULL. */
IamProvider *iam_provider_free(IamProvider *p);
const Credential *iam_provider_credential(const IamProvider *p);
/* After a reload: the same credential, now in the new configuration. */
void iam_provider_set_credential(IamProvider *p, const Credential *cred);

/* Credentials for a request to project_id. iam_endpoint is the IAM URL for
 * iam-password credentials; ca_file (or NULL) verifies IAM.
 * Returns 1 with *auth filled (clear it after use) when they are at hand;
 * 0 when they are being fetched: cb is called later (never from inside this
 * call) and *ret_waiter can cancel that; or a negative errno with *error
 * filled (class authentication when a secret file cannot be read). */
int iam_provider_acquire(IamProvider *p, const char *project_id, const char *iam_endpoint, const char *ca_file,
                         Auth *auth, ApiError *error,
                         IamCallback cb, void *userdata, IamWaiter **ret_waiter);
void iam_waiter_cancel(IamWaiter *w);

/* The API refused credentials from this provider (401): forget the cached
 * ones for project_id if they are still those that were refused (used), so
 * that the next acquire fetches anew; newer ones fetched meanwhile stay.
 * Returns true for kinds with a cache, where asking once more can help. */
bool iam_provider_invalidate(IamProvider *p, const char *project_id, const Auth *used);

/* Who a credential entry authenticates as, as a SHA-256 in hex (no secret
 * kept): its access key, token, IAM domain and user, or ECS instance (the
 * metadata service). Entries with the same identity are locked out together
 * (an access key after 5 failures in a row, whatever entry names it). A
 * secret that cannot be read gives an identity of the entry's name alone. */
#define IAM_IDENTITY_SIZE 65
void iam_credential_identity(const Credential *cred, char ret[static IAM_IDENTITY_SIZE]);

/* https://iam.REGION.myhuaweicloud.com (".eu" for eu-west-101). */
int iam_endpoint_for_region(const char *region, char **ret);
