/* SPDX-License-Identifier: MIT */
/* The cluster list of a configuration: a cluster made from its settings,
 * file and state, or kept when its settings did not change (its schedule,
 * state and call in flight stay); the shared files; the sweeps of what
 * crashed writers left. Reads and sweeps files, writes none. */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic-file.h"
#include "manager-internal.h"

Cluster *cluster_free(Cluster *c) {
        if (!c)
                return NULL;
        if (c->call) {
                cce_call_cancel(c->call);
                release_call(c->manager, c);
        }
        heap_remove(c->manager, c);
        write_queue_remove(c->manager, c);
        cce_kubeconfig_free(c->pending);
        free(c->pending_request_id);
        free(c->pending_serial);
        cluster_state_done(&c->state);
        free(c);
        return NULL;
}

/* Ten thousand of these are the daemon's largest allocation: no room for
 * the worst case in it, texts that are mostly absent are pointers. */
_Static_assert(sizeof(Cluster) <= 480, "a cluster's runtime record grew");

/* A cluster as it stands at start (or when its settings changed): its
 * file, its remembered state, its schedule. */
static int cluster_new(Manager *m, const ClusterConfig *cl, KubeconfigReading **reading, Cluster **ret) {
        Cluster *c = calloc(1, sizeof(Cluster));
        int r;

        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->config = cl;
        c->fingerprint = cluster_config_fingerprint(cl);
        c->heap_index = SIZE_MAX;

        r = state_load(m->state_dir, cl->name, &c->state);
        if (r < 0 && r != -ENOENT)
                log_warning("The state of %s cannot be read (%s); starting afresh.", cl->name,
                            r == -EBADMSG ? "it does not parse" : strerror(-r));
        bool state_current = r >= 0 && strcmp(c->state.cluster_id, cl->cluster_id) == 0 &&
                c->state.fingerprint == c->fingerprint;
        if (r < 0 || strcmp(c->state.cluster_id, cl->cluster_id) != 0)
                cluster_state_done(&c->state);
        else if (c->state.fingerprint != c->fingerprint) {
                /* The settings changed: what was parked or backing off may
                 * work now, and expire_at is tried again. */
                c->state.failures = 0;
                c->state.expire_at_refused = 0;
                c->state.next_attempt = 0;
                c->state.last_error_class = API_ERROR_NONE;
                state_set_text(&c->state.last_error, NULL);
        }
        snprintf(c->state.cluster_id, sizeof(c->state.cluster_id), "%s", cl->cluster_id);
        c->state.fingerprint = c->fingerprint;

        /* The file as we last wrote it, for these settings: its dates are in
         * the state, no need to read and parse it (with thousands of
         * clusters, that is most of the time to READY=1). */
        FileIdentity identity;
        if (state_current && file_identity_known(&c->state.kubeconfig_identity) && c->state.not_after > 0 &&
            (identity = file_identity_of(cl->kubeconfig), file_identity_same(&identity, &c->state.kubeconfig_identity)))
                c->file = (FileStatus) {
                        .state = KUBECONFIG_OK,
                        .certificate = { .not_before = c->state.not_before, .not_after = c->state.not_after },
                };
        else {
                KubeconfigStatus file;
                kubeconfig_inspect_shared(cl, reading, &file);
                c->file = (FileStatus) {
                        .state = file.state,
                        .certificate = { file.certificate.not_before, file.certificate.not_after },
                };
                bool unavailable = cl->discovered && strcmp(cl->discovered_phase, "Available") != 0;
                if (file.state != KUBECONFIG_OK && !cannot_write(c, file.state))  /* those: at their renewal */
                        log_info("%s: %s; renewing %s.", cl->name, file.reason,
                                 unavailable ? "when CCE says it is Available" :
                                 c->state.failures > 0 ? "when its backoff ends" : "now");
        }
        *ret = c;
        return 0;
}

static int cluster_compare(const void *a, const void *b) {
        return strcmp((*(Cluster *const *) a)->config->name, (*(Cluster *const *) b)->config->name);
}

static size_t directory_length(const char *path) {
        const char *slash = strrchr(path, '/');
        return slash ? (size_t) (slash - path) : 0;
}

static int compare_by_directory(const void *a, const void *b) {
        const char *x = (*(Cluster *const *) a)->config->kubeconfig, *y = (*(Cluster *const *) b)->config->kubeconfig;
        size_t lx = directory_length(x), ly = directory_length(y);
        int r = memcmp(x, y, MIN(lx, ly));
        return r != 0 ? r : lx < ly ? -1 : lx > ly;
}

/* Removes what crashed writers left in the directory of path (stale locks
 * of ours, unfinished new files: see atomic_file_sweep()). */
static void sweep_directory(const char *path) {
        int n = atomic_file_sweep(path, NULL, 0);
        if (n > 0) {
                const char *slash = strrchr(path, '/');
                log_info("Removed %d file%s that a crashed cce-certd left in %.*s (a lock, or an unfinished "
                         "kubeconfig).", n, n == 1 ? "" : "s", (int) (slash - path), path);
        }
}

/* What crashed writers left is removed from every directory of a
 * kubeconfig when a configuration is taken (at start, so that a lock left
 * by a crash never blocks kubectl, and at reloads), and again by the first
 * write there: one pass over each directory, not one per cluster or per
 * write (which would grow with the clusters that share it). */
static void sweep_directories(Manager *m) {
        _cleanup_free_ Cluster **by_dir = NULL;

        if (m->n_clusters == 0 || !(by_dir = malloc(m->n_clusters * sizeof(Cluster *))))
                return;
        memcpy(by_dir, m->clusters, m->n_clusters * sizeof(Cluster *));
        qsort(by_dir, m->n_clusters, sizeof(Cluster *), compare_by_directory);
        for (size_t i = 0; i < m->n_clusters; i++) {
                by_dir[i]->sweeps_directory = i == 0 || compare_by_directory(&by_dir[i - 1], &by_dir[i]) != 0;
                if (by_dir[i]->sweeps_directory && !m->options.dry_run)
                        sweep_directory(by_dir[i]->config->kubeconfig);
        }
}

/* The shared kubeconfigs of the new cluster list (in the order of their
 * files): one record each, keeping what the daemon knew of a file when one
 * of its clusters was kept (it may have changed since; a renewal will
 * tell), else the version just read. The old records go. */
static int share_files(Manager *m, Cluster **by_file, size_t n) {
        size_t n_files = 0;

        for (size_t i = 0; i < n; i++)
                n_files += by_file[i]->config->merge &&
                        (i == 0 || strcmp(by_file[i - 1]->config->kubeconfig, by_file[i]->config->kubeconfig) != 0);
        SharedFile *files = calloc(MAX(n_files, 1u), sizeof(SharedFile)), *f = NULL;
        if (!files)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                Cluster *c = by_file[i];
                if (!c->config->merge) {
                        c->shared = NULL;
                        continue;
                }
                if (!f || strcmp(f->path, c->config->kubeconfig) != 0) {
                        f = f ? f + 1 : files;
                        f->path = c->config->kubeconfig;
                        f->identity = file_identity_of(f->path);
                }
                if (c->kept && c->shared)  /* same settings: the same file */
                        f->identity = c->shared->identity;
                c->shared = f;
        }
        free(m->shared_files);
        m->shared_files = files;
        return 0;
}

static int compare_kubeconfig_paths(const void *a, const void *b, void *userdata) {
        const Config *config = userdata;
        return strcmp(config->clusters[*(const size_t *) a].kubeconfig, config->clusters[*(const size_t *) b].kubeconfig);
}

/* Builds the cluster list for config, reusing clusters whose settings did
 * not change (their schedule, state and any call in flight stay). */
int adopt_config(Manager *m, Config *config) {
        Cluster **old = m->clusters, **list;
        size_t n_old = m->n_clusters;
        int r;

        list = calloc(MAX(config->n_clusters, 1u), sizeof(Cluster *));
        if (!list)
                return -ENOMEM;
        Cluster **heap = reallocarray(m->heap, MAX(config->n_clusters + n_old, 1u), sizeof(Cluster *));
        if (!heap) {
                free(list);
                return -ENOMEM;
        }
        m->heap = heap;
        /* Empty here: a reload writes what waits first. A cluster is queued once at most. */
        assert(m->n_write_queue == 0);
        Cluster **queue = reallocarray(m->write_queue, MAX(config->n_clusters, 1u), sizeof(Cluster *));
        if (!queue) {
                free(list);
                return -ENOMEM;
        }
        m->write_queue = queue;

        /* Taken in the order of their files: a file shared by clusters
         * (merge: true) is read and parsed once for all of them. */
        _cleanup_free_ size_t *order = calloc(MAX(config->n_clusters, 1u), sizeof(size_t));
        if (!order) {
                free(list);
                return -ENOMEM;
        }
        for (size_t i = 0; i < config->n_clusters; i++)
                order[i] = i;
        qsort_r(order, config->n_clusters, sizeof(size_t), compare_kubeconfig_paths, config);
        _cleanup_(kubeconfig_reading_freep) KubeconfigReading *reading = NULL;

        for (size_t k = 0; k < config->n_clusters; k++) {
                size_t i = order[k];
                const ClusterConfig *cl = &config->clusters[i];
                Cluster *c = find_cluster(old, n_old, cl->name);
                if (c && c->fingerprint == cluster_config_fingerprint(cl)) {
                        c->config = cl;         /* unchanged: keep everything */
                        c->kept = true;
                } else {
                        if (c) {
                                /* Changed: it starts over (the old one goes below). */
                                if (c->call) {
                                        cce_call_cancel(c->call);
                                        release_call(m, c);
                                }
                        }
                        r = cluster_new(m, cl, &reading, &c);
                        if (r < 0) {
                                free(list);
                                return r;
                        }
                        c->heap_index = SIZE_MAX;
                }
                list[i] = c;
        }
        Cluster **by_file = calloc(MAX(config->n_clusters, 1u), sizeof(Cluster *));
        if (!by_file) {
                free(list);
                return -ENOMEM;
        }
        for (size_t k = 0; k < config->n_clusters; k++)
                by_file[k] = list[order[k]];
        free(m->by_kubeconfig);
        m->by_kubeconfig = by_file;
        r = share_files(m, by_file, config->n_clusters);
        if (r >= 0 && m->watch) {
                /* The watch borrows the paths: they live with config. */
                _cleanup_free_ const char **paths = calloc(MAX(config->n_clusters, 1u), sizeof(char *));
                for (size_t k = 0; paths && k < config->n_clusters; k++)
                        paths[k] = by_file[k]->config->kubeconfig;
                r = paths ? file_watch_set_files(m->watch, paths, config->n_clusters) : -ENOMEM;
        }
        if (r < 0) {
                free(list);
                return r;
        }
        /* Clusters that went away or were replaced. */
        for (size_t i = 0; i < n_old; i++)
                if (!old[i]->kept) {
                        /* Its kubeconfig stays (it may still be used); nothing else of ours beside it. */
                        if (!m->options.dry_run)
                                sweep_directory(old[i]->config->kubeconfig);
                        cluster_free(old[i]);
                }
        free(old);
        qsort(list, config->n_clusters, sizeof(Cluster *), cluster_compare);
        m->clusters = list;
        m->n_clusters = config->n_clusters;
        sweep_directories(m);
        for (size_t i = 0; i < m->n_clusters; i++) {
                m->clusters[i]->kept = false;
                if (m->clusters[i]->phase == PHASE_WAITING)
                        schedule(m, m->clusters[i]);
        }
        return 0;
}

void apply_limits(Manager *m) {
        HttpLimits limits = http_limits_default;
        Config *c = current_config(m);
        limits.total_timeout_ms = c->request_timeout_sec * 1000;
        limits.connect_timeout_ms = MIN(limits.connect_timeout_ms, limits.total_timeout_ms);
        limits.low_speed_time_sec = MIN(limits.low_speed_time_sec, c->request_timeout_sec);
        http_client_set_limits(m->http, &limits);
}

int cluster_set_take(Manager *m, Config *config) {
        ConfigRef *ref = calloc(1, sizeof(ConfigRef));
        int r;

        if (!ref) {
                config_free(config);
                return -ENOMEM;
        }
        /* Calls of clusters whose settings or credentials change are
         * cancelled in adopt_config(); those of unchanged ones go on and
         * borrow the old configuration until they end. */
        ref->config = config;
        ref->next = m->configs;
        m->configs = ref;

        /* Certificates fetched under the previous configuration are written
         * under it, before clusters are replaced or go away. */
        write_queued(m);

        /* The client compares the new credentials with the previous
         * configuration's: it must outlive the calls adopt_config() ends. */
        ConfigRef *previous = ref->next;
        previous->users++;
        r = adopt_config(m, config);
        if (r >= 0)
                r = cce_client_set_config(m->client, config);
        previous->users--;
        if (r < 0)
                return r == -ENOMEM ? -EIO : r;  /* halfway: not "nothing changed" */
        apply_limits(m);
        free_retired_configs(m);
        return 0;
}
