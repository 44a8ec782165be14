/* SPDX-License-Identifier: MIT */
#pragma once

/* Checks of what the API hands out before any file is touched (pure: the
 * time is a parameter). Certificates and keys come as base64 of PEM, as
 * kubeconfig "*-data" fields hold them; PEM may follow descriptive text
 * (the output of "openssl x509 -text"). RSA and EC keys are accepted. */

#include <stddef.h>
#include <stdint.h>

/* How far our clock may be behind the issuer's: a certificate whose
 * notBefore is up to this far in the future is still taken. */
#define CERT_CLOCK_SKEW_SEC (5 * 60)

typedef struct CertInfo {
        int64_t not_before, not_after;  /* seconds since the epoch */
        char serial[96];                /* upper-case hex */
        char subject_cn[128];           /* "" when none */
} CertInfo;

/* Reads the first certificate of base64-encoded PEM. Fills info. */
int cert_info_from_base64(const char *b64, CertInfo *info, char *error, size_t error_size);

/* The checks made on an answer: the client certificate parses and is
 * currently valid (allowing CERT_CLOCK_SKEW_SEC), the private key parses and
 * matches it, and the CA data is present and holds at least one certificate
 * that parses. Returns 0 and fills info (of the client certificate), or
 * -EBADMSG with a message naming what is wrong (never key material);
 * -ENOMEM. */
int cert_check_answer(const char *client_certificate_b64, const char *client_key_b64, const char *ca_b64,
                      int64_t now, CertInfo *info, char *error, size_t error_size);

/* "2026-12-01 06:17:59 UTC" */
const char *cert_format_time(int64_t t, char buf[static 32]);

/* Makes what checking answers keeps for every key (a long-lived OpenSSL
 * decoder), early, before the heap fills with clusters. Also done on first
 * use. -ENOMEM on failure. */
int cert_prepare(void);
