/* SPDX-License-Identifier: MIT */
/* Whose certificates a revocation names, and --revoke --dry-run's account
 * of what it would do. */

#include <errno.h>
#include <string.h>

#include "kubeconfig.h"
#include "manager.h"
#include "revocation.h"

static bool credential_is_agency(const ClusterConfig *cl) {
        return cl->credential && cl->credential->identity == CREDENTIAL_IDENTITY_AGENCY;
}

const char *revocation_identity_text(const CceIdentity *who, char buf[static CCE_IDENTITY_ID_MAX + 8]) {
        snprintf(buf, CCE_IDENTITY_ID_MAX + 8, "%s %s", who->agency ? "agency" : "user", who->id);
        return buf;
}

int revocation_identity(const ClusterConfig *cl, const CceIdentity *override, CceIdentity *ret,
                        char how[static REVOCATION_HOW_MAX]) {
        KubeconfigStatus file;

        if (override && override->id[0]) {
                if (!cce_identity_id_valid(override->id)) {
                        snprintf(how, REVOCATION_HOW_MAX, "the id given is not an IAM id (letters, digits, '-', '_')");
                        return -EINVAL;
                }
                *ret = *override;
                snprintf(how, REVOCATION_HOW_MAX, "given with --%s-id", override->agency ? "agency" : "user");
                return 0;
        }
        kubeconfig_inspect(cl, &file);
        if (file.state != KUBECONFIG_OK) {
                snprintf(how, REVOCATION_HOW_MAX, "%s holds no certificate of ours to take the id from (%s)",
                         cl->kubeconfig, file.reason);
                return -ENOENT;
        }
        if (!cce_identity_id_valid(file.certificate.subject_cn)) {
                snprintf(how, REVOCATION_HOW_MAX, "the CN of the certificate in %s is not an IAM user or agency id",
                         cl->kubeconfig);
                return -EINVAL;
        }
        *ret = (CceIdentity) { .agency = credential_is_agency(cl) };
        memcpy(ret->id, file.certificate.subject_cn, strlen(file.certificate.subject_cn) + 1);
        snprintf(how, REVOCATION_HOW_MAX, "the CN of the certificate in %s, %s as credentials '%s' %s",
                 cl->kubeconfig, ret->agency ? "an agency" : "a user",
                 cl->credentials, ret->agency ? "are an agency's" : "are a user's");
        return 0;
}

int revocation_describe(const Config *config, char **only, const CceIdentity *override, FILE *out) {
        int status = 0;

        for (size_t i = 0; i < config->n_clusters; i++) {
                const ClusterConfig *cl = &config->clusters[i];
                char how[REVOCATION_HOW_MAX], who_text[CCE_IDENTITY_ID_MAX + 8];
                CceIdentity who;
                bool named = !only;

                for (char **n = only; n && *n && !named; n++)
                        named = strcmp(*n, cl->name) == 0;
                if (!named)
                        continue;
                if (revocation_identity(cl, override, &who, how) < 0) {
                        fprintf(out, "%s: cannot revoke: %s; give --user-id or --agency-id. A new certificate "
                                "would still be asked for and written to %s.\n", cl->name, how, cl->kubeconfig);
                        status = REVOKE_EXIT_NOT_REVOKED;
                } else
                        fprintf(out, "%s: would revoke every certificate of %s for cluster %s (id: %s), then ask "
                                "for a new one and write it to %s. Dry run: no call made, nothing written.\n",
                                cl->name, revocation_identity_text(&who, who_text), cl->cluster_id, how, cl->kubeconfig);
        }
        return status;
}
