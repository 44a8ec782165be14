/* SPDX-License-Identifier: MIT */
#pragma once

/* "cce-certd --status": what each cluster's kubeconfig and remembered state
 * say, read from the files (the daemon need not run), as a table or as a
 * stable JSON object. Touches no network and writes nothing. */

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#define STATUS_EXIT_OK 0
#define STATUS_EXIT_FAILING 1   /* a cluster is failing, parked or has no certificate yet */
#define STATUS_EXIT_EXPIRING 2  /* a certificate expired or has less than 10% of its lifetime left */

/* Prints the status of the clusters named in names (NULL-terminated), or of
 * all; returns the exit status, or a negative errno (-ENOENT: no cluster of
 * that name, reported on stderr). */
int status_print(const Config *config, const char *state_dir, char **names, bool json, int64_t now, FILE *out);
