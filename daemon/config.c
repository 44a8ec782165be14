/* SPDX-License-Identifier: MIT */
/* The configuration loader: reads the file (size cap, NUL bytes, UTF-8),
 * parses the YAML, walks the top level and hands each section to its part
 * (config-*.c); frees a Config. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"
#include "parse-value.h"

/* ---- top level ---------------------------------------------------------- */

static void parse_clusters(Loader *l, const YamlNode *seq, const ClusterConfig *defaults, const YamlNode *defaults_node) {
        Config *cfg = l->config;

        if (!seq || seq->type != YAML_TREE_SEQUENCE) {
                error_at(l, node_pos(seq), "clusters must be a list, not %s", yaml_node_type_name(seq));
                return;
        }
        cfg->clusters = calloc(MAX(seq->n_children, 1u), sizeof(ClusterConfig));
        if (!cfg->clusters) {
                l->oom = true;
                return;
        }
        for (size_t i = 0; i < seq->n_children; i++) {
                ClusterConfig *c = &cfg->clusters[cfg->n_clusters++];
                char where[64];

                snprintf(where, sizeof(where), "cluster #%zu", i + 1);
                parse_settings(l, seq->children[i], where, false, c);
                if (seq->children[i]->type != YAML_TREE_MAPPING)
                        continue;  /* reported; nothing more to say about it */
                if (apply_defaults(l, c, defaults) < 0)
                        return;
                check_cluster(l, c, i, seq->children[i], defaults_node);
                /* Nothing reads a cluster's part of the tree once it is
                 * made (positions are kept in c): freed now, so that ten
                 * thousand clusters never hold the tree and their records
                 * at once. An alias of it elsewhere keeps it (refs). */
                ((YamlNode **) seq->children)[i] = yaml_node_free(seq->children[i]);
        }
        check_across_clusters(l);
}

enum {
        TOP_DEFAULTS,
        TOP_CREDENTIALS,
        TOP_CLUSTERS,
        TOP_REQUEST_TIMEOUT,
        TOP_PARALLEL_REQUESTS,
        TOP_STATE_DIRECTORY,
        TOP_METRICS_FILE,
        TOP_HOOK_TIMEOUT,
        TOP_DISCOVER,
        _TOP_MAX,
};

static const char *const top_keys[_TOP_MAX] = {
        [TOP_DEFAULTS] = "defaults",
        [TOP_CREDENTIALS] = "credentials",
        [TOP_CLUSTERS] = "clusters",
        [TOP_REQUEST_TIMEOUT] = "request-timeout",
        [TOP_PARALLEL_REQUESTS] = "parallel-requests",
        [TOP_STATE_DIRECTORY] = "state-directory",
        [TOP_METRICS_FILE] = "metrics-file",
        [TOP_HOOK_TIMEOUT] = "hook-timeout",
        [TOP_DISCOVER] = "discover",
};

typedef struct TopWalk {
        const YamlNode *values[_TOP_MAX];
} TopWalk;

static void on_top_key(Loader *l, size_t index, const YamlNode *key, const YamlNode *value, void *userdata) {
        TopWalk *w = userdata;
        w->values[index] = value;
}

/* Bytes the YAML reader must not see: NUL and invalid UTF-8. Returns the
 * offset of the first bad byte, or size. */
static size_t find_bad_byte(const char *data, size_t size, const char **why) {
        const unsigned char *p = (const unsigned char *) data;

        for (size_t i = 0; i < size;) {
                unsigned char c = p[i];
                size_t n;
                uint32_t cp;

                if (c == 0) {
                        *why = "contains a NUL byte";
                        return i;
                }
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xE0) == 0xC0) {
                        n = 2;
                        cp = c & 0x1F;
                } else if ((c & 0xF0) == 0xE0) {
                        n = 3;
                        cp = c & 0x0F;
                } else if ((c & 0xF8) == 0xF0) {
                        n = 4;
                        cp = c & 0x07;
                } else
                        goto bad;
                if (i + n > size)
                        goto bad;
                for (size_t k = 1; k < n; k++) {
                        if ((p[i + k] & 0xC0) != 0x80)
                                goto bad;
                        cp = (cp << 6) | (p[i + k] & 0x3F);
                }
                if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
                    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                        goto bad;
                i += n;
                continue;
        bad:
                *why = "is not valid UTF-8";
                return i;
        }
        return size;
}

static ConfigPos offset_pos(const char *data, size_t offset) {
        ConfigPos pos = { 1, 1 };
        for (size_t i = 0; i < offset; i++) {
                if (data[i] == '\n') {
                        pos.line++;
                        pos.column = 1;
                } else if (((unsigned char) data[i] & 0xC0) != 0x80)
                        pos.column++;
        }
        return pos;
}

int config_load_buffer(const char *path, const char *data, size_t size, Config **ret, ConfigErrors *errors) {
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        TopWalk top = {};
        YamlError yerr;
        const char *why = NULL;
        size_t bad;
        int r;

        cfg = calloc(1, sizeof(Config));
        if (!cfg)
                return -ENOMEM;
        cfg->path = strdup(path);
        if (!cfg->path)
                return -ENOMEM;
        cfg->request_timeout_sec = DEFAULT_REQUEST_TIMEOUT_SEC;
        cfg->parallel_requests = DEFAULT_PARALLEL_REQUESTS;
        cfg->hook_timeout_sec = DEFAULT_HOOK_TIMEOUT_SEC;

        Loader l = {
                .config = cfg,
                .errors = errors,
                .credentials_directory = getenv("CREDENTIALS_DIRECTORY"),
        };

        if (size > CONFIG_FILE_MAX)
                return error_at(&l, (ConfigPos) {}, "file is larger than %d bytes", CONFIG_FILE_MAX);
        bad = find_bad_byte(data, size, &why);
        if (bad < size)
                return error_at(&l, offset_pos(data, bad), "file %s", why);

        r = yaml_tree_parse_with_aliases(data, size, &root, &yerr);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_at(&l, (ConfigPos) { yerr.line, yerr.column }, "%s", yerr.message);
        if (!root)
                return error_at(&l, (ConfigPos) {}, "file is empty: it needs at least a clusters list");

        l.root = root;
        walk_mapping(&l, root, "the top level", top_keys, _TOP_MAX, on_top_key, &top);

        if (top.values[TOP_REQUEST_TIMEOUT] &&
            parse_duration_value(&l, top.values[TOP_REQUEST_TIMEOUT], "request-timeout", &cfg->request_timeout_sec) >= 0 &&
            cfg->request_timeout_sec > REQUEST_TIMEOUT_MAX_SEC)
                error_at(&l, node_pos(top.values[TOP_REQUEST_TIMEOUT]), "request-timeout must be at most 10m");
        if (top.values[TOP_PARALLEL_REQUESTS]) {
                const char *t = scalar_text(&l, top.values[TOP_PARALLEL_REQUESTS], "parallel-requests");
                uint64_t v;
                if (t && (parse_unsigned(t, PARALLEL_REQUESTS_MAX, &v) < 0 || v == 0))
                        error_at(&l, node_pos(top.values[TOP_PARALLEL_REQUESTS]),
                                 "parallel-requests '%s' must be a number from 1 to %d", t, PARALLEL_REQUESTS_MAX);
                else if (t)
                        cfg->parallel_requests = (unsigned) v;
        }
        if (top.values[TOP_STATE_DIRECTORY]) {
                const char *t = scalar_text(&l, top.values[TOP_STATE_DIRECTORY], "state-directory");
                if (t && t[0] != '/')
                        error_at(&l, node_pos(top.values[TOP_STATE_DIRECTORY]), "state-directory '%s' must be an absolute path", t);
                else if (t && set_string(&l, &cfg->state_directory, t) < 0)
                        return -ENOMEM;
        }
        if (top.values[TOP_HOOK_TIMEOUT] &&
            parse_duration_value(&l, top.values[TOP_HOOK_TIMEOUT], "hook-timeout", &cfg->hook_timeout_sec) >= 0 &&
            cfg->hook_timeout_sec > REQUEST_TIMEOUT_MAX_SEC)
                error_at(&l, node_pos(top.values[TOP_HOOK_TIMEOUT]), "hook-timeout must be at most 10m");
        if (top.values[TOP_METRICS_FILE] &&
            parse_path(&l, top.values[TOP_METRICS_FILE], "metrics-file", &cfg->metrics_file) == -ENOMEM)
                return -ENOMEM;
        if (top.values[TOP_DEFAULTS])
                parse_settings(&l, top.values[TOP_DEFAULTS], "defaults", true, &cfg->defaults);
        if (top.values[TOP_CREDENTIALS])
                parse_credentials(&l, top.values[TOP_CREDENTIALS]);
        if (root->type == YAML_TREE_MAPPING) {
                if (top.values[TOP_CLUSTERS])
                        parse_clusters(&l, top.values[TOP_CLUSTERS], &cfg->defaults, top.values[TOP_DEFAULTS]);
                if (top.values[TOP_DISCOVER])
                        parse_discover(&l, top.values[TOP_DISCOVER], &cfg->defaults, top.values[TOP_DEFAULTS]);
                if (!top.values[TOP_CLUSTERS] && !top.values[TOP_DISCOVER])
                        error_at(&l, node_pos(root), "no clusters list: the file needs \"clusters:\" with at least one "
                                 "cluster, or \"discover:\"");
        }
        if (l.oom)
                return -ENOMEM;
        if (errors->n_errors == 0) {
                warn_unused_credentials(&l);
                warn_hidden_paths(&l);
        }
        if (l.oom)
                return -ENOMEM;

        if (errors->n_errors > 0)
                qsort(errors->errors, errors->n_errors, sizeof(ConfigError), error_compare);
        if (errors->n_warnings > 0)
                qsort(errors->warnings, errors->n_warnings, sizeof(ConfigError), error_compare);
        if (errors->n_errors > 0)
                return -EINVAL;

        config_drop_positions(cfg);
        *ret = TAKE_PTR(cfg);
        return 0;
}

int config_load_file(const char *path, Config **ret, ConfigErrors *errors) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t size = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                Loader l = { .errors = errors };
                return error_at(&l, (ConfigPos) {}, "cannot read the configuration: %m");
        }
        if (!S_ISREG(st.st_mode)) {
                Loader l = { .errors = errors };
                return error_at(&l, (ConfigPos) {}, "not a regular file");
        }
        if (st.st_size > CONFIG_FILE_MAX) {
                Loader l = { .errors = errors };
                return error_at(&l, (ConfigPos) {}, "file is larger than %d bytes", CONFIG_FILE_MAX);
        }

        /* Room for what stat() said, and some: a file that grows meanwhile
         * is read up to one byte past the limit, to be refused. */
        size_t allocated = MIN((size_t) st.st_size + 65536, (size_t) CONFIG_FILE_MAX + 1);
        data = malloc(allocated);
        if (!data)
                return -ENOMEM;
        for (;;) {
                if (size == allocated) {
                        if (allocated > CONFIG_FILE_MAX)
                                break;
                        size_t more = MIN(allocated * 2, (size_t) CONFIG_FILE_MAX + 1);
                        char *n = realloc(data, more);
                        if (!n)
                                return -ENOMEM;
                        data = n;
                        allocated = more;
                }
                ssize_t n = read(fd, data + size, allocated - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        Loader l = { .errors = errors };
                        return error_at(&l, (ConfigPos) {}, "cannot read the configuration: %m");
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > CONFIG_FILE_MAX)
                        break;  /* grew while we read it */
        }
        return config_load_buffer(path, data, size, ret, errors);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_credentials; i++)
                credential_done(&c->credentials[i]);
        free(c->credentials);
        for (size_t i = 0; i < c->n_clusters; i++)
                cluster_config_done(&c->clusters[i]);
        free(c->clusters);
        cluster_config_done(&c->defaults);
        for (size_t i = 0; i < c->n_discover; i++)
                discover_config_done(&c->discover[i]);
        free(c->discover);
        free(c->state_directory);
        free(c->metrics_file);
        free(c->path);
        free(c);
        return NULL;
}

static const Credential *credential_named(const Config *c, const char *name) {
        for (size_t i = 0; name && i < c->n_credentials; i++)
                if (strcmp(c->credentials[i].name, name) == 0)
                        return &c->credentials[i];
        return NULL;
}

static int copy_strv(char ***strv) {
        size_t n = 0;
        if (!*strv)
                return 0;
        while ((*strv)[n])
                n++;
        char **c = calloc(n + 1, sizeof(char *));
        if (!c) {
                *strv = NULL;
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup((*strv)[i]))) {
                        for (size_t k = 0; k < i; k++)
                                free(c[k]);
                        free(c);
                        *strv = NULL;
                        return -ENOMEM;
                }
        *strv = c;
        return 0;
}

int config_with_clusters(const Config *base, ClusterConfig *extra, size_t n_extra, Config **ret) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));
        int r = 0;

        if (!c)
                goto fail;
        *c = (Config) {
                .request_timeout_sec = base->request_timeout_sec,
                .parallel_requests = base->parallel_requests,
                .hook_timeout_sec = base->hook_timeout_sec,
        };
        if (!(c->path = strdup(base->path)) ||
            (base->state_directory && !(c->state_directory = strdup(base->state_directory))) ||
            (base->metrics_file && !(c->metrics_file = strdup(base->metrics_file))) ||
            !(c->credentials = calloc(MAX(base->n_credentials, 1u), sizeof(Credential))) ||
            !(c->clusters = calloc(MAX(base->n_clusters + n_extra, 1u), sizeof(ClusterConfig))) ||
            !(c->discover = calloc(MAX(base->n_discover, 1u), sizeof(DiscoverConfig))))
                goto fail;
        for (; c->n_credentials < base->n_credentials; c->n_credentials++)
                if (credential_copy(&c->credentials[c->n_credentials], &base->credentials[c->n_credentials]) < 0)
                        goto fail;
        for (; c->n_clusters < base->n_clusters; c->n_clusters++) {
                ClusterConfig *cl = &c->clusters[c->n_clusters];
                if (cluster_config_copy(cl, &base->clusters[c->n_clusters]) < 0)
                        goto fail;
                cl->credential = credential_named(c, cl->credentials);
        }
        for (; c->n_discover < base->n_discover; c->n_discover++) {
                const DiscoverConfig *from = &base->discover[c->n_discover];
                DiscoverConfig *d = &c->discover[c->n_discover];
                if (cluster_config_copy(&d->settings, &from->settings) < 0)
                        goto fail;
                d->settings.credential = credential_named(c, d->settings.credentials);
                d->interval_sec = from->interval_sec;
                d->name_pos = from->name_pos;
                d->match_pos = from->match_pos;
                d->exclude_pos = from->exclude_pos;
                d->interval_pos = from->interval_pos;
                d->match = from->match;
                d->exclude = from->exclude;
                if (!(d->name_template = strdup(from->name_template)) |
                    (copy_strv(&d->match) < 0) | (copy_strv(&d->exclude) < 0)) {
                        c->n_discover++;  /* freed with what it has */
                        goto fail;
                }
        }
        for (size_t i = 0; i < n_extra; i++) {
                ClusterConfig *cl = &c->clusters[c->n_clusters++];
                *cl = extra[i];
                extra[i] = (ClusterConfig) {};
                /* What it shares is now this Config's discover entry's: base may go first. */
                if (cl->borrowed) {
                        assert(cl->discovered && cl->discovered_by < c->n_discover);
                        cluster_config_share_again(cl, &c->discover[cl->discovered_by].settings);
                }
                cl->credential = credential_named(c, cl->credentials);
        }
        *ret = TAKE_PTR(c);
        return 0;
fail:
        r = -ENOMEM;
        for (size_t i = 0; i < n_extra; i++)
                cluster_config_done(&extra[i]);
        return r;
}

const ClusterConfig *config_find_cluster(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_clusters; i++)
                if (c->clusters[i].name && strcmp(c->clusters[i].name, name) == 0)
                        return &c->clusters[i];
        return NULL;
}
