/* SPDX-License-Identifier: MIT */
/* The rules of cluster discovery: globs, templates, usable names, and when
 * an absent cluster is gone. Pure: no I/O, no clock. */

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery-rules.h"
#include "macro.h"

int discovery_glob_check(const char *glob, char *why, size_t why_size) {
        if (!glob[0]) {
                snprintf(why, why_size, "an empty pattern matches no cluster name");
                return -EINVAL;
        }
        if (strchr(glob, '/')) {
                snprintf(why, why_size, "'%s' has a '/', which no cluster name has", glob);
                return -EINVAL;
        }
        for (const char *p = glob; *p; p++) {
                if (*p == '\\') {
                        if (!*++p) {
                                snprintf(why, why_size, "'%s' ends in a lone '\\'", glob);
                                return -EINVAL;
                        }
                        continue;
                }
                if (*p != '[')
                        continue;
                /* A set: "]" right after "[" or "[!" belongs to it. */
                const char *q = p + 1;
                if (*q == '!' || *q == '^')
                        q++;
                if (*q == ']')
                        q++;
                while (*q && *q != ']')
                        q++;
                if (!*q) {
                        snprintf(why, why_size, "'%s' opens a '[' set that it does not close", glob);
                        return -EINVAL;
                }
                p = q;
        }
        return 0;
}

static bool matches_any(const char *name, char *const *globs) {
        for (char *const *g = globs; g && *g; g++)
                if (fnmatch(*g, name, 0) == 0)
                        return true;
        return false;
}

bool discovery_selects(const char *name, char *const *match, char *const *exclude) {
        if (match && match[0] && !matches_any(name, match))
                return false;
        return !matches_any(name, exclude);
}

static const char *const placeholders[] = { "{name}", "{cluster-id}", "{project-id}" };

/* The placeholder at p (index into placeholders), or -1. */
static int placeholder_at(const char *p) {
        for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
                if (strncmp(p, placeholders[i], strlen(placeholders[i])) == 0)
                        return (int) i;
        return -1;
}

int discovery_template_check(const char *template, bool *has_placeholder, char *why, size_t why_size) {
        bool any = false;

        for (const char *p = template; *p; p++) {
                if (*p == '}') {
                        snprintf(why, why_size, "'%s' has a '}' that closes nothing", template);
                        return -EINVAL;
                }
                if (*p != '{')
                        continue;
                int k = placeholder_at(p);
                if (k < 0) {
                        size_t n = strcspn(p + 1, "{}") + 1;
                        if (p[n] != '}')
                                snprintf(why, why_size, "'%s' opens a '{' that it does not close", template);
                        else
                                snprintf(why, why_size, "'%s' has %.*s, which is not {name}, {cluster-id} or {project-id}",
                                         template, (int) MIN(n + 1, (size_t) 64), p);
                        return -EINVAL;
                }
                any = true;
                p += strlen(placeholders[k]) - 1;
        }
        if (has_placeholder)
                *has_placeholder = any;
        return 0;
}

int discovery_template_expand(const char *template, const char *name, const char *cluster_id,
                              const char *project_id, char **ret) {
        const char *values[] = { name, cluster_id, project_id };
        char why[160], *out, *o;
        size_t n = 1;

        if (discovery_template_check(template, NULL, why, sizeof(why)) < 0)
                return -EINVAL;
        for (const char *p = template; *p; p++) {
                int k = *p == '{' ? placeholder_at(p) : -1;
                if (k >= 0) {
                        n += strlen(values[k]);
                        p += strlen(placeholders[k]) - 1;
                } else
                        n++;
        }
        out = o = malloc(n);
        if (!out)
                return -ENOMEM;
        for (const char *p = template; *p; p++) {
                int k = *p == '{' ? placeholder_at(p) : -1;
                if (k >= 0) {
                        o = stpcpy(o, values[k]);
                        p += strlen(placeholders[k]) - 1;
                } else
                        *o++ = *p;
        }
        *o = 0;
        *ret = out;
        return 0;
}

bool discovery_name_usable(const char *name) {
        size_t n = strlen(name);

        if (n == 0 || n > DISCOVERY_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

DiscoveryAbsence discovery_absence(unsigned absent, long show_status) {
        if (absent < 2)
                return DISCOVERY_KEEP;
        return show_status == 404 ? DISCOVERY_GONE : DISCOVERY_ASK;
}
