/* SPDX-License-Identifier: MIT */
#pragma once

/* The rules of cluster discovery (pure, no I/O): which listed clusters an
 * entry takes (match and exclude globs), the names and paths it gives them
 * (templates with {name}, {cluster-id} and {project-id}), which names from
 * CCE may go into a path at all, and when a cluster missing from a listing
 * is gone. */

#include <stdbool.h>
#include <stddef.h>

#define DISCOVERY_NAME_MAX 128          /* a CCE cluster name */

/* A glob of cluster names (fnmatch(3): *, ?, [...]), checked: not empty,
 * no '/', brackets closed. Returns 0, or -EINVAL with why. */
int discovery_glob_check(const char *glob, char *why, size_t why_size);

/* Whether name is taken: it matches one of match (none given: all) and
 * none of exclude. */
bool discovery_selects(const char *name, char *const *match, char *const *exclude);

/* Checks a template: only {name}, {cluster-id} and {project-id}, braces
 * closed. *has_placeholder tells whether it has any (a kubeconfig template
 * without one names one file for every cluster). Returns 0, or -EINVAL
 * with why. */
int discovery_template_check(const char *template, bool *has_placeholder, char *why, size_t why_size);

/* The template with its placeholders replaced (checked before: -EINVAL
 * otherwise). */
int discovery_template_expand(const char *template, const char *name, const char *cluster_id,
                              const char *project_id, char **ret);

/* Whether a name CCE lists may name files and kubeconfig entries: 1 to
 * DISCOVERY_NAME_MAX characters of [A-Za-z0-9._-], not starting with '.' or
 * '-'. (CCE's own rule is narrower; a name outside this is skipped, never
 * written into a path.) */
bool discovery_name_usable(const char *name);

/* A known cluster that a successful listing did not hold: absent is how
 * many listings in a row did not (this one counted). It is gone only once
 * two did not and ShowCluster answered 404 for it; before that it is
 * asked about (DISCOVERY_ASK) or waited for (DISCOVERY_KEEP). */
typedef enum DiscoveryAbsence {
        DISCOVERY_KEEP,                 /* absent once: maybe a listing in the middle of a change */
        DISCOVERY_ASK,                  /* absent twice: ask ShowCluster */
        DISCOVERY_GONE,                 /* absent twice and ShowCluster said 404 */
} DiscoveryAbsence;

/* show_status: ShowCluster's HTTP status for it, 0 when not asked yet. */
DiscoveryAbsence discovery_absence(unsigned absent, long show_status);
