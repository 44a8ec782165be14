/* SPDX-License-Identifier: MIT */
/* Every parser of one scalar value of the configuration: names, ids, paths,
 * URLs, days, percentages, durations, booleans, modes, argument lists. Each
 * checks one value and reports at its position; none looks at another. */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"
#include "parse-value.h"

/* ---- scalar values ------------------------------------------------------ */

/* The text of a scalar that must be present. */
const char *scalar_text(Loader *l, const YamlNode *v, const char *key) {
        if (yaml_node_is_null(v)) {
                error_at(l, node_pos(v), "%s needs a value", key);
                return NULL;
        }
        if (v->type != YAML_TREE_SCALAR) {
                error_at(l, node_pos(v), "%s must be a single value, not %s", key, yaml_node_type_name(v));
                return NULL;
        }
        if (strlen(v->value) != v->length) {
                error_at(l, node_pos(v), "%s contains a NUL character", key);
                return NULL;
        }
        return v->value;
}

bool has_control_chars(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

int set_string(Loader *l, char **field, const char *s) {
        char *c = strdup(s);
        if (!c) {
                l->oom = true;
                return -ENOMEM;
        }
        free(*field);
        *field = c;
        return 0;
}

bool is_word(const char *s, size_t max, bool allow_upper) {
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (const char *p = s; *p; p++) {
                bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        (allow_upper && *p >= 'A' && *p <= 'Z') ||
                        (p != s && (*p == '-' || *p == '_' || *p == '.'));
                if (!ok)
                        return false;
        }
        return true;
}

static bool is_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
                        return false;
        return true;
}

int parse_name(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (!is_word(s, 63, true))
                return error_at(l, node_pos(v),
                                "%s '%s' is not a valid name: use 1 to 63 letters, digits, '-', '_' or '.', starting with a letter or digit",
                                key, s);
        return set_string(l, field, s);
}

int parse_project_id(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (strlen(s) != 32 || !is_hex(s, 32))
                return error_at(l, node_pos(v), "project-id '%s' is not a project id (32 hexadecimal digits)", s);
        return set_string(l, field, s);
}

int parse_cluster_id(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        bool ok;
        if (!s)
                return -EINVAL;
        ok = strlen(s) == 36;
        for (size_t i = 0; ok && i < 36; i++)
                ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-' : is_hex(s + i, 1);
        if (!ok)
                return error_at(l, node_pos(v),
                                "cluster-id '%s' is not a cluster id (a UUID such as 4a6f1b2c-3d4e-11ee-9f8a-0255ac100b0c)", s);
        return set_string(l, field, s);
}

int parse_region(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (!is_word(s, 64, false) || strchr(s, '_') || strchr(s, '.'))
                return error_at(l, node_pos(v), "region '%s' is not a region name (such as cn-north-4)", s);
        return set_string(l, field, s);
}

int check_absolute_path(Loader *l, const YamlNode *v, const char *key, const char *s) {
        if (s[0] != '/')
                return error_at(l, node_pos(v), "%s '%s' must be an absolute path", key, s);
        if (has_control_chars(s))
                return error_at(l, node_pos(v), "%s must not contain control characters", key);
        if (strlen(s) >= PATH_MAX)
                return error_at(l, node_pos(v), "%s is longer than %d bytes", key, PATH_MAX - 1);
        if (s[strlen(s) - 1] == '/')
                return error_at(l, node_pos(v), "%s '%s' names a directory; give a file name", key, s);
        return 0;
}

int parse_path(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (check_absolute_path(l, v, key, s) < 0)
                return -EINVAL;
        return set_string(l, field, s);
}

/* scheme://host[:port][/path], no user info, query or fragment; a trailing
 * '/' is dropped. */
int parse_url(Loader *l, const YamlNode *v, const char *key, void *field, bool allow_http) {
        const char *s = scalar_text(l, v, key), *host, *end;
        if (!s)
                return -EINVAL;
        if (strncmp(s, "https://", 8) == 0)
                host = s + 8;
        else if (allow_http && strncmp(s, "http://", 7) == 0)
                host = s + 7;
        else if (allow_http)
                return error_at(l, node_pos(v), "%s '%s' must start with http:// or https://", key, s);
        else
                return error_at(l, node_pos(v), "%s '%s' must start with https://", key, s);
        end = host + strcspn(host, "/");
        if (end == host)
                return error_at(l, node_pos(v), "%s '%s' has no host name", key, s);
        for (const char *p = host; *p; p++)
                if (*p == '@' || *p == '?' || *p == '#' || *p == ' ' || *p == '\\' ||
                    (unsigned char) *p < 0x21 || *p == 0x7f)
                        return error_at(l, node_pos(v), "%s '%s' must be a plain URL (no user name, query, fragment or spaces)",
                                        key, s);
        if (set_string(l, field, s) < 0)
                return -ENOMEM;
        char *c = *(char **) field;
        size_t n = strlen(c);
        while (n > (size_t) (end - s) && c[n - 1] == '/')
                c[--n] = 0;
        return 0;
}

int parse_https_url(Loader *l, const YamlNode *v, const char *key, void *field) {
        return parse_url(l, v, key, field, false);
}

int parse_credentials_name(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (has_control_chars(s))
                return error_at(l, node_pos(v), "%s must not contain control characters", key);
        return set_string(l, field, s);  /* checked against the credentials section later */
}

int parse_entry_name(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (has_control_chars(s) || strlen(s) > 253)
                return error_at(l, node_pos(v), "%s must be at most 253 characters without control characters", key);
        return set_string(l, field, s);
}

int parse_hostname(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (strlen(s) > 253 || !is_word(s, 253, true) || strchr(s, '_'))
                return error_at(l, node_pos(v), "%s '%s' is not a host name", key, s);
        return set_string(l, field, s);
}

int parse_user_or_group(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (!is_word(s, 64, true))
                return error_at(l, node_pos(v), "%s '%s' is not a user or group name or number", key, s);
        return set_string(l, field, s);  /* resolved after defaults are applied */
}

int parse_lifetime_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (parse_cert_lifetime(s, field) < 0)
                return error_at(l, node_pos(v), "%s '%s' must be a number of days from 1 to %d, a length from 15m "
                                "to %dd with a unit (90m, 4h, 7d), or max", key, s, CERT_DAYS_MAX, CERT_DAYS_MAX);
        return 0;
}

int parse_percent_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        unsigned p;
        if (!s)
                return -EINVAL;
        if (parse_percent(s, &p) < 0 || p < 1 || p > 99)
                return error_at(l, node_pos(v), "%s '%s' must be a percentage from 1%% to 99%%, such as 66%%", key, s);
        *(unsigned *) field = p;
        return 0;
}

int parse_duration_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        uint64_t d;
        int r;
        if (!s)
                return -EINVAL;
        r = parse_duration(s, &d);
        if (r == -ERANGE)
                return error_at(l, node_pos(v), "%s '%s' is too long", key, s);
        if (r < 0)
                return error_at(l, node_pos(v), "%s '%s' is not a duration: write a number with a unit, such as 90s, 15m, 12h, 10d or 1d12h",
                                key, s);
        if (d == 0)
                return error_at(l, node_pos(v), "%s must be longer than 0s", key);
        *(uint64_t *) field = d;
        return 0;
}

int parse_bool_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        if (parse_bool(s, field) < 0)
                return error_at(l, node_pos(v), "%s '%s' must be true or false", key, s);
        return 0;
}

int parse_mode_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        mode_t m;
        if (!s)
                return -EINVAL;
        if (parse_file_mode(s, &m) < 0)
                return error_at(l, node_pos(v), "%s '%s' must be an octal mode such as \"0600\"", key, s);
        if (m & ~(mode_t) 0770)
                return error_at(l, node_pos(v),
                                "%s %04o gives permissions to other users or special bits: the file holds a private key; use 0600, or 0640 with group",
                                key, (unsigned) m);
        if (!(m & 0400))
                return error_at(l, node_pos(v), "%s %04o does not let the owner read the file", key, (unsigned) m);
        *(mode_t *) field = m;
        return 0;
}

static const char *const endpoint_choice_names[_ENDPOINT_CHOICE_MAX] = {
        [ENDPOINT_AUTO] = "auto",
        [ENDPOINT_INTERNAL] = "internal",
        [ENDPOINT_EXTERNAL] = "external",
};

const char *endpoint_choice_to_string(EndpointChoice e) {
        return e >= 0 && e < _ENDPOINT_CHOICE_MAX ? endpoint_choice_names[e] : NULL;
}

int parse_endpoint_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        const char *s = scalar_text(l, v, key);
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _ENDPOINT_CHOICE_MAX; i++)
                if (strcmp(s, endpoint_choice_names[i]) == 0) {
                        *(EndpointChoice *) field = (EndpointChoice) i;
                        return 0;
                }
        return error_at(l, node_pos(v), "%s '%s' must be internal, external or auto", key, s);
}

/* A command run without a shell: a list of strings, the first an absolute
 * path. */
int parse_argv_value(Loader *l, const YamlNode *v, const char *key, void *field) {
        char **argv;

        if (!v || v->type != YAML_TREE_SEQUENCE || v->n_children == 0)
                return error_at(l, node_pos(v), "%s must be a list: [/path/to/program, argument, ...] (it runs without a shell)",
                                key);
        if (v->n_children > HOOK_ARGS_MAX)
                return error_at(l, node_pos(v), "%s has more than %d arguments", key, HOOK_ARGS_MAX);
        for (size_t i = 0; i < v->n_children; i++) {
                const char *s = scalar_text(l, v->children[i], key);
                if (!s)
                        return -EINVAL;
                if (i == 0 && s[0] != '/')
                        return error_at(l, node_pos(v->children[i]), "%s: the program '%s' must be an absolute path", key, s);
        }
        argv = calloc(v->n_children + 1, sizeof(char *));
        if (!argv) {
                l->oom = true;
                return -ENOMEM;
        }
        for (size_t i = 0; i < v->n_children; i++)
                if (!(argv[i] = strdup(v->children[i]->value))) {
                        for (size_t j = 0; j < i; j++)
                                free(argv[j]);
                        free(argv);
                        l->oom = true;
                        return -ENOMEM;
                }
        char ***target = field;
        for (char **p = *target; p && *p; p++)
                free(*p);
        free(*target);
        *target = argv;
        return 0;
}
