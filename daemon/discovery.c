/* SPDX-License-Identifier: MIT */
/* Discover entries at work: each lists its project every interval, keeps
 * what the listing holds, and puts in force the configuration with the
 * clusters it found (cluster-set.c). A failed listing changes nothing and
 * backs off; a refused key pauses its credential as a renewal's would. A
 * cluster is forgotten only after two listings without it and a 404 from
 * ShowCluster. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "discovery-rules.h"
#include "json.h"
#include "manager-internal.h"
#include "message-id.h"
#include "parse-value.h"
#include "schedule.h"
#include "time-util.h"

static void save_found(Manager *m);

static const DiscoverConfig *entry_of(const DiscoverySource *s) {
        return &s->manager->file_config->discover[s->index];
}

static DiscoveredCluster *found_free(DiscoveredCluster *f) {
        if (!f)
                return NULL;
        cce_call_cancel(f->show);
        free(f->id);
        free(f->name);
        free(f->phase);
        free(f);
        return NULL;
}

static void source_free(DiscoverySource *s) {
        if (!s)
                return;
        cce_call_cancel(s->call);
        sd_event_source_disable_unref(s->timer);
        for (size_t i = 0; i < s->n_found; i++)
                found_free(s->found[i]);
        free(s->found);
        cluster_config_done(&s->as_cluster);
        free(s);
}

void discovery_stop(Manager *m) {
        for (size_t i = 0; i < m->n_sources; i++)
                source_free(m->sources[i]);
        free(m->sources);
        m->sources = NULL;
        m->n_sources = 0;
}

static bool explicit_id(const Config *c, const char *id) {
        for (size_t i = 0; i < c->n_clusters; i++)
                if (strcmp(c->clusters[i].cluster_id, id) == 0)
                        return true;
        return false;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(((const ClusterConfig *) a)->name, ((const ClusterConfig *) b)->name);
}

int discovery_effective_config(Manager *m, Config **ret) {
        const Config *file = m->file_config;
        _cleanup_free_ ClusterConfig *extra = NULL;
        size_t n = 0, allocated = 0;
        int r;

        for (size_t i = 0; i < m->n_sources; i++) {
                const DiscoverySource *s = m->sources[i];
                const DiscoverConfig *d = entry_of(s);
                for (size_t k = 0; k < s->n_found; k++) {
                        const DiscoveredCluster *f = s->found[k];
                        if (!discovery_selects(f->name, d->match, d->exclude) || explicit_id(file, f->id))
                                continue;
                        if (n == allocated) {
                                allocated = allocated ? allocated * 2 : 16;
                                ClusterConfig *e = reallocarray(extra, allocated, sizeof(ClusterConfig));
                                if (!e) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                extra = e;
                        }
                        r = discover_cluster_config(d, f->name, f->id, &extra[n]);
                        if (r == -EINVAL)
                                continue;  /* a name that cannot go into a path: said when it was listed */
                        if (r < 0)
                                goto fail;
                        n++;
                }
        }

        /* Two clusters that would have one name, or one file of their own:
         * neither is kept (neither may overwrite the other's). */
        qsort(extra, n, sizeof(ClusterConfig), compare_names);
        for (size_t i = 0; i < n; i++) {
                bool clash = (i > 0 && strcmp(extra[i - 1].name, extra[i].name) == 0) ||
                        (i + 1 < n && strcmp(extra[i + 1].name, extra[i].name) == 0) ||
                        config_find_cluster(file, extra[i].name);
                for (size_t k = 0; k < n && !clash; k++)
                        clash = k != i && !(extra[i].merge && extra[k].merge) &&
                                strcmp(extra[k].kubeconfig, extra[i].kubeconfig) == 0;
                for (size_t k = 0; k < file->n_clusters && !clash; k++)
                        clash = !(extra[i].merge && file->clusters[k].merge) &&
                                strcmp(file->clusters[k].kubeconfig, extra[i].kubeconfig) == 0;
                extra[i].discovered_clash = clash;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
                if (extra[i].discovered_clash) {
                        log_struct(LOG_WARNING, 0, MESSAGE_ID_DISCOVERY_COLLISION,
                                   LOG_FIELDS({ "CCE_CLUSTER", extra[i].name }, { "CCE_CLUSTER_ID", extra[i].cluster_id },
                                              { "KUBECONFIG_PATH", extra[i].kubeconfig }),
                                   "Discovered cluster %s (%s) would share its name or its own kubeconfig %s with "
                                   "another cluster: left out of discovery (a configured cluster keeps its own; of two "
                                   "discovered ones, neither is taken).",
                                   extra[i].name, extra[i].cluster_id, extra[i].kubeconfig);
                        cluster_config_done(&extra[i]);
                } else
                        extra[kept++] = extra[i];
        }
        return config_with_clusters(file, extra, kept, ret);
fail:
        for (size_t i = 0; i < n; i++)
                cluster_config_done(&extra[i]);
        return r;
}

/* Puts in force what the listings hold now, marks the clusters CCE does
 * not call Available, and starts what that made due. */
static void apply(Manager *m) {
        Config *config;
        int r;

        r = discovery_effective_config(m, &config);
        if (r >= 0)
                r = cluster_set_take(m, config);
        if (r == -ENOMEM) {
                log_error("Cannot take the clusters discovery found: out of memory; will try at the next listing.");
                return;
        }
        if (r < 0) {
                log_error_errno(r, "Taking the clusters discovery found failed halfway: %m; stopping so that systemd restarts the daemon.");
                sd_event_exit(m->event, EX_SOFTWARE);
                return;
        }
        discovery_mark_unavailable(m);
        dispatch(m);
        status_changed(m);
}

void discovery_mark_unavailable(Manager *m) {
        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *c = m->clusters[i];
                bool unavailable = false;
                for (size_t s = 0; s < m->n_sources && c->config->discovered; s++)
                        for (size_t k = 0; k < m->sources[s]->n_found; k++) {
                                const DiscoveredCluster *f = m->sources[s]->found[k];
                                if (strcmp(f->id, c->config->cluster_id) == 0)
                                        unavailable = strcmp(f->phase, "Available") != 0;
                        }
                if (unavailable != c->unavailable) {
                        c->unavailable = unavailable;
                        if (c->phase == PHASE_WAITING)
                                schedule(m, c);
                }
        }
}

static void list_later(DiscoverySource *s, uint64_t usec) {
        uint64_t now;

        if (sd_event_now(s->manager->event, CLOCK_BOOTTIME, &now) < 0 ||
            sd_event_source_set_time(s->timer, now + usec) < 0 ||
            sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT) < 0)
                log_error("Cannot arm the next listing of project %s.", s->as_cluster.project_id);
}

static DiscoveredCluster *find_found(DiscoverySource *s, const char *id, size_t *index) {
        for (size_t i = 0; i < s->n_found; i++)
                if (strcmp(s->found[i]->id, id) == 0) {
                        if (index)
                                *index = i;
                        return s->found[i];
                }
        return NULL;
}

static void forget(DiscoverySource *s, DiscoveredCluster *f) {
        size_t i;

        if (!find_found(s, f->id, &i))
                return;
        log_struct(LOG_NOTICE, 0, MESSAGE_ID_DISCOVERY_GONE,
                   LOG_FIELDS({ "CCE_CLUSTER", f->name }, { "CCE_CLUSTER_ID", f->id }),
                   "Cluster %s (%s) is gone from project %s: absent from two listings, and CCE answers 404 for it; "
                   "no longer kept (its kubeconfig is left where it is).", f->name, f->id, s->as_cluster.project_id);
        found_free(f);
        s->found[i] = s->found[--s->n_found];
}

static void on_shown(CceCall *call, CceResult *result, void *userdata) {
        DiscoveredCluster *f = userdata;
        DiscoverySource *s = f->source;

        f->show = NULL;
        if (result->error.klass == API_ERROR_NONE) {
                f->absent = 0;  /* still there: the listings were in the middle of something */
                return;
        }
        if (discovery_absence(f->absent, result->error.http_status) == DISCOVERY_GONE &&
            result->error.klass == API_ERROR_NOT_FOUND) {
                Manager *m = s->manager;
                forget(s, f);
                apply(m);
                save_found(m);
        }
}

static void on_listed(CceCall *call, CceResult *result, void *userdata) {
        DiscoverySource *s = userdata;
        Manager *m = s->manager;
        const DiscoverConfig *d = entry_of(s);
        bool changed = false;

        s->call = NULL;
        if (result->error.klass != API_ERROR_NONE) {
                char describe[700];
                int64_t now = now_realtime(m);
                s->failures++;
                int64_t next = sched_retry_time(now, s->failures, &result->error, 0, random_u64());
                if (next == INT64_MAX || next <= now)
                        next = now + (int64_t) d->interval_sec;
                if (result->error.klass == API_ERROR_AUTHENTICATION)
                        pause_credential(m, s->as_cluster.credentials, next);
                api_error_describe(&result->error, describe, sizeof(describe));
                log_struct(LOG_WARNING, 0, MESSAGE_ID_DISCOVERY_FAILED,
                           LOG_FIELDS({ "CCE_PROJECT_ID", s->as_cluster.project_id },
                                      { "ERROR_CLASS", api_error_class_to_string(result->error.klass) }),
                           "Listing the clusters of project %s failed: %s; nothing changes, will list again in %s.",
                           s->as_cluster.project_id, describe,
                           format_duration((uint64_t) (next - now), (char[32]) {}));
                list_later(s, (uint64_t) (next - now) * USEC_PER_SEC);
                return;
        }
        s->failures = 0;

        /* What the listing holds: new ones, renamed ones, phases. */
        for (size_t i = 0; i < result->clusters.n_items; i++) {
                const CceClusterInfo *item = &result->clusters.items[i];
                DiscoveredCluster *f = find_found(s, item->id, NULL);
                if (!f) {
                        DiscoveredCluster **a = reallocarray(s->found, s->n_found + 1, sizeof(DiscoveredCluster *));
                        if (a)
                                s->found = a;
                        if (!a || !(f = calloc(1, sizeof(DiscoveredCluster))) || !(f->id = strdup(item->id))) {
                                free(f);
                                log_error("Out of memory keeping the clusters of project %s.", s->as_cluster.project_id);
                                break;
                        }
                        s->found[s->n_found++] = f;
                        f->source = s;
                        changed = true;
                        if (!discovery_name_usable(item->name))
                                log_warning("Discovered cluster %s has the name '%.64s', which cannot name a file: left out.",
                                            f->id, item->name);
                }
                if (!f->name || strcmp(f->name, item->name) != 0) {
                        free(f->name);
                        f->name = strdup(item->name);
                        changed = true;
                }
                if (!f->phase || strcmp(f->phase, item->phase) != 0) {
                        free(f->phase);
                        f->phase = strdup(item->phase);
                        changed = true;
                }
                if (!f->name || !f->phase) {
                        log_error("Out of memory keeping the clusters of project %s.", s->as_cluster.project_id);
                        break;
                }
                f->absent = 0;
                f->listed = true;
        }
        /* What it does not hold: gone only when ShowCluster says so, after two listings. */
        for (size_t i = 0; i < s->n_found; i++) {
                DiscoveredCluster *f = s->found[i];
                if (f->listed) {
                        f->listed = false;
                        continue;
                }
                f->absent++;
                if (discovery_absence(f->absent, 0) == DISCOVERY_ASK && !f->show) {
                        ApiError e = {};
                        if (cce_show_start(m->client, &s->as_cluster, f->id, on_shown, f, &f->show, &e) < 0)
                                log_warning("Cannot ask CCE about cluster %s: %s", f->id, e.message);
                }
        }
        if (changed) {
                apply(m);
                save_found(m);
        }
        list_later(s, d->interval_sec * USEC_PER_SEC);
}

static int on_list_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        DiscoverySource *s = userdata;
        Manager *m = s->manager;
        ApiError e = {};

        if (s->call)
                return 0;
        /* Its credentials refused for a renewal or a listing: no call with them before the pause ends. */
        int64_t now = now_realtime(m), until = credential_paused_until(m, s->as_cluster.credentials);
        if (until > now) {
                list_later(s, (uint64_t) (until - now) * USEC_PER_SEC);
                return 0;
        }
        if (cce_list_start(m->client, &s->as_cluster, on_listed, s, &s->call, &e) < 0) {
                log_warning("Cannot list the clusters of project %s: %s; will try again in %s.",
                            s->as_cluster.project_id, e.message,
                            format_duration(entry_of(s)->interval_sec, (char[32]) {}));
                list_later(s, entry_of(s)->interval_sec * USEC_PER_SEC);
        }
        return 0;
}

static uint64_t hash_text(uint64_t h, const char *s) {
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return (h ^ '|') * UINT64_C(1099511628211);
}

/* What tells an entry changed on reload: its settings and its own keys. */
static uint64_t entry_fingerprint(const DiscoverConfig *d) {
        uint64_t h = hash_text(cluster_config_fingerprint(&d->settings), d->name_template);

        for (char **p = d->match; p && *p; p++)
                h = hash_text(h, *p);
        h = hash_text(h, "match");
        for (char **p = d->exclude; p && *p; p++)
                h = hash_text(h, *p);
        h = hash_text(h, "exclude");
        return (h ^ d->interval_sec) * UINT64_C(1099511628211);
}

int discovery_reload(Manager *m, Config *file_config, Config **ret) {
        DiscoverySource **old = m->sources;
        size_t n_old = m->n_sources;
        Config *old_file = m->file_config;
        int r;

        m->sources = NULL;
        m->n_sources = 0;
        m->file_config = file_config;
        r = discovery_setup(m);
        /* An entry that did not change keeps what its listings found: a
         * reload changes nothing for it. Its listing comes at once anyway. */
        for (size_t i = 0; r >= 0 && i < m->n_sources; i++)
                for (size_t k = 0; k < n_old; k++)
                        if (old[k] && old[k]->n_found > 0 &&
                            entry_fingerprint(&old_file->discover[old[k]->index]) ==
                            entry_fingerprint(&file_config->discover[i])) {
                                DiscoverySource *s = m->sources[i];
                                for (size_t f = 0; f < s->n_found; f++)
                                        found_free(s->found[f]);  /* what the file said: this run knows better */
                                free(s->found);
                                s->found = TAKE_PTR(old[k]->found);
                                s->n_found = old[k]->n_found;
                                old[k]->n_found = 0;
                                for (size_t f = 0; f < s->n_found; f++) {
                                        s->found[f]->source = s;
                                        cce_call_cancel(TAKE_PTR(s->found[f]->show));
                                }
                                break;
                        }
        for (size_t k = 0; k < n_old; k++)
                source_free(old[k]);
        free(old);
        config_free(old_file);
        if (r >= 0 && !m->options.once)
                r = discovery_start(m);
        if (r < 0)
                return r;
        return discovery_effective_config(m, ret);
}

/* What the listings found, for the next start (state.h). Not by --once or
 * --dry-run, which list nothing. */
static void save_found(Manager *m) {
        const unsigned char *buf;
        char error[512];
        size_t len;

        if (m->options.once || m->options.dry_run)
                return;
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                return;
        yajl_gen_map_open(g);
        json_gen_key(g, "entries");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < m->n_sources; i++) {
                const DiscoverySource *s = m->sources[i];
                char fp[32];
                snprintf(fp, sizeof(fp), "%016" PRIx64, entry_fingerprint(entry_of(s)));
                yajl_gen_map_open(g);
                json_gen_string(g, "project_id", s->as_cluster.project_id);
                json_gen_string(g, "fingerprint", fp);
                json_gen_key(g, "clusters");
                yajl_gen_array_open(g);
                for (size_t k = 0; k < s->n_found; k++) {
                        yajl_gen_map_open(g);
                        json_gen_string(g, "id", s->found[k]->id);
                        json_gen_string(g, "name", s->found[k]->name);
                        json_gen_string(g, "phase", s->found[k]->phase);
                        yajl_gen_map_close(g);
                }
                yajl_gen_array_close(g);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
        if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok &&
            state_save_discovered(m->state_dir, (const char *) buf, len, error, sizeof(error)) < 0)
                log_warning("Cannot save what discovery found: %s; a restart lists again before it knows it.", error);
        yajl_gen_free(g);
}

/* What an earlier run found for source s, when its entry is the same. */
static void load_found(DiscoverySource *s, const JsonNode *root) {
        const JsonNode *entries = json_get(root, "entries");
        char fp[32];

        snprintf(fp, sizeof(fp), "%016" PRIx64, entry_fingerprint(entry_of(s)));
        for (size_t i = 0; entries && entries->type == JSON_ARRAY && i < entries->n_children; i++) {
                const JsonNode *e = entries->children[i];
                const char *project = json_get_string(e, "project_id"), *f = json_get_string(e, "fingerprint");
                const JsonNode *list = json_get(e, "clusters");
                if (!project || !f || strcmp(project, s->as_cluster.project_id) != 0 || strcmp(f, fp) != 0 ||
                    !list || list->type != JSON_ARRAY)
                        continue;
                for (size_t k = 0; k < list->n_children; k++) {
                        const char *id = json_get_string(list->children[k], "id");
                        const char *name = json_get_string(list->children[k], "name");
                        const char *phase = json_get_string(list->children[k], "phase");
                        DiscoveredCluster *found;
                        if (!id || !name || !phase || find_found(s, id, NULL))
                                continue;
                        DiscoveredCluster **a = reallocarray(s->found, s->n_found + 1, sizeof(DiscoveredCluster *));
                        if (!a)
                                return;
                        s->found = a;
                        if (!(found = calloc(1, sizeof(DiscoveredCluster))))
                                return;
                        found->source = s;
                        found->id = strdup(id);
                        found->name = strdup(name);
                        found->phase = strdup(phase);
                        if (!found->id || !found->name || !found->phase) {
                                found_free(found);
                                return;
                        }
                        s->found[s->n_found++] = found;
                }
                return;
        }
}

int discovery_setup(Manager *m) {
        const Config *file = m->file_config;
        _cleanup_(json_node_freep) JsonNode *saved = NULL;

        if (!file || file->n_discover == 0)
                return 0;
        m->sources = calloc(file->n_discover, sizeof(DiscoverySource *));
        if (!m->sources)
                return -ENOMEM;
        int q = state_load_discovered(m->state_dir, &saved);
        if (q < 0 && q != -ENOENT)
                log_warning("What discovery found before cannot be read (%s); listing anew.",
                            q == -EBADMSG ? "it does not parse" : strerror(-q));
        for (size_t i = 0; i < file->n_discover; i++) {
                DiscoverySource *s = calloc(1, sizeof(DiscoverySource));
                int r;
                if (!s)
                        return -ENOMEM;
                m->sources[m->n_sources++] = s;
                s->manager = m;
                s->index = i;
                r = cluster_config_copy(&s->as_cluster, &file->discover[i].settings);
                if (r < 0)
                        return r;
                if (asprintf(&s->as_cluster.name, "discover #%zu", i + 1) < 0)
                        return -ENOMEM;
                s->as_cluster.credential = file->discover[i].settings.credential;
                if (saved)
                        load_found(s, saved);
        }
        return 0;
}

int discovery_start(Manager *m) {
        for (size_t i = 0; i < m->n_sources; i++) {
                DiscoverySource *s = m->sources[i];
                if (s->timer)
                        continue;
                int r = sd_event_add_time(m->event, &s->timer, CLOCK_BOOTTIME, 0, 100 * USEC_PER_MSEC, on_list_timer, s);
                if (r < 0)
                        return r;
        }
        return 0;
}
