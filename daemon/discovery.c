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

/* Changes found by listings and ShowCluster are put in force at most once within this. */
#define DISCOVERY_APPLY_DELAY_USEC USEC_PER_SEC

static void save_found(Manager *m);

static const DiscoverConfig *entry_of(const DiscoverySource *s) {
        return &s->manager->file_config->discover[s->index];
}

static DiscoveredCluster *found_free(DiscoveredCluster *f) {
        if (!f)
                return NULL;
        cce_call_cancel(f->show);
        if (f->retire)
                f->source->manager->n_renames--;
        cluster_config_free(f->retire);
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

static void gone_free(Manager *m) {
        for (size_t i = 0; i < m->n_gone; i++) {
                cluster_config_free(m->gone[i].config);
                free(m->gone[i].name);
                free(m->gone[i].id);
                free(m->gone[i].project_id);
        }
        free(m->gone);
        m->gone = NULL;
        m->n_gone = 0;
}

void discovery_stop(Manager *m) {
        /* What waits to be put in force is dropped: the saved set still has
         * the gone clusters, whose deletion the next run confirms again. */
        gone_free(m);
        m->discovery_apply = sd_event_source_disable_unref(m->discovery_apply);
        for (size_t i = 0; i < m->n_sources; i++)
                source_free(m->sources[i]);
        free(m->sources);
        m->sources = NULL;
        m->n_sources = 0;
}

static void log_left_out(const ClusterConfig *c, const ClusterConfig *other, bool same_name, void *userdata) {
        char what[1024];

        if (same_name)
                snprintf(what, sizeof(what), "have the same name as");
        else
                snprintf(what, sizeof(what), "share the kubeconfig %s (a file of its own, for one of them) with",
                         c->kubeconfig);
        log_struct(LOG_WARNING, 0, MESSAGE_ID_DISCOVERY_COLLISION,
                   LOG_FIELDS({ "CCE_CLUSTER", c->name }, { "CCE_CLUSTER_ID", c->cluster_id },
                              { "KUBECONFIG_PATH", c->kubeconfig }, { "CCE_COLLIDES_WITH", other->name }),
                   "Discovered cluster %s (%s) would %s %s cluster %s (%s): left out of discovery (a configured "
                   "cluster keeps its own; of two discovered ones, neither is taken).",
                   c->name, c->cluster_id, what, other->discovered ? "discovered" : "configured", other->name,
                   other->cluster_id);
}

int discovery_effective_config(Manager *m, Config **ret) {
        _cleanup_free_ DiscoveredItem *items = NULL;
        size_t n = 0;

        for (size_t i = 0; i < m->n_sources; i++)
                n += m->sources[i]->n_found;
        items = calloc(MAX(n, 1u), sizeof(DiscoveredItem));
        if (!items)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < m->n_sources; i++)
                for (size_t k = 0; k < m->sources[i]->n_found; k++) {
                        const DiscoveredCluster *f = m->sources[i]->found[k];
                        items[n++] = (DiscoveredItem) { m->sources[i]->index, f->id, f->name, f->phase };
                }
        return config_with_discovered(m->file_config, items, n, log_left_out, NULL, ret);
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

static void clean_up_gone(Manager *m);

/* What the listings changed, put in force now: the clusters, what is
 * saved, renamed clusters' earlier settings, gone clusters' files. */
static void apply_now(Manager *m) {
        (void) sd_event_source_set_enabled(m->discovery_apply, SD_EVENT_OFF);
        (void) sd_event_now(m->event, CLOCK_BOOTTIME, &m->discovery_applied);
        apply(m);
        save_found(m);
        clean_up_gone(m);
}

static int on_apply_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        apply_now(userdata);
        return 0;
}

/* The same at once, or when it was done less than
 * DISCOVERY_APPLY_DELAY_USEC ago, then for every change until then
 * (listings answering together, ShowCluster answers one by one): each
 * apply builds the whole cluster list. --once: at once. */
static void apply_soon(Manager *m) {
        uint64_t now;

        if (m->discovery_apply && sd_event_source_get_enabled(m->discovery_apply, NULL) > 0)
                return;  /* armed already */
        if (m->options.once || sd_event_now(m->event, CLOCK_BOOTTIME, &now) < 0 ||
            now >= m->discovery_applied + DISCOVERY_APPLY_DELAY_USEC) {
                apply_now(m);
                return;
        }
        uint64_t when = m->discovery_applied + DISCOVERY_APPLY_DELAY_USEC;
        int r = m->discovery_apply ? sd_event_source_set_time(m->discovery_apply, when) :
                sd_event_add_time(m->event, &m->discovery_apply, CLOCK_BOOTTIME, when, 0, on_apply_timer, m);
        if (r < 0 || sd_event_source_set_enabled(m->discovery_apply, SD_EVENT_ONESHOT) < 0)
                apply_now(m);
}

void discovery_mark_unavailable(Manager *m) {
        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *c = m->clusters[i];
                bool unavailable = c->config->discovered && strcmp(c->config->discovered_phase, "Available") != 0;
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

static int compare_found_ids(const void *a, const void *b) {
        return strcmp((*(DiscoveredCluster *const *) a)->id, (*(DiscoveredCluster *const *) b)->id);
}

/* s->found sorted by id, each id once (a later duplicate is dropped): a
 * listing looks its items up by bsearch, not one scan each (thousands of
 * clusters in a project). */
static void sort_found(DiscoverySource *s) {
        size_t kept = 0;

        if (s->n_found < 2)
                return;
        qsort(s->found, s->n_found, sizeof(DiscoveredCluster *), compare_found_ids);
        for (size_t i = 0; i < s->n_found; i++) {
                if (kept > 0 && strcmp(s->found[kept - 1]->id, s->found[i]->id) == 0)
                        found_free(s->found[i]);
                else
                        s->found[kept++] = s->found[i];
        }
        s->n_found = kept;
}

/* The cluster of this id among the first n of s->found (sorted by id). */
static DiscoveredCluster *lookup_found(DiscoverySource *s, size_t n, const char *id) {
        DiscoveredCluster key = { .id = (char *) id }, *k = &key;
        if (n == 0)
                return NULL;
        DiscoveredCluster **f = bsearch(&k, s->found, n, sizeof(DiscoveredCluster *), compare_found_ids);
        return f ? *f : NULL;
}

/* Reserves room for n more in s->found. */
static int reserve_found(DiscoverySource *s, size_t n) {
        DiscoveredCluster **a = reallocarray(s->found, MAX(s->n_found + n, 1u), sizeof(DiscoveredCluster *));
        if (!a)
                return -ENOMEM;
        s->found = a;
        return 0;
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

/* The cluster that entry made of CCE's cluster id, in the list in force. */
static Cluster *discovered_cluster(Manager *m, size_t entry, const char *id) {
        for (size_t i = 0; i < m->n_clusters; i++) {
                const ClusterConfig *cl = m->clusters[i]->config;
                if (cl->discovered && cl->discovered_by == entry && strcmp(cl->cluster_id, id) == 0)
                        return m->clusters[i];
        }
        return NULL;
}

/* CCE confirmed the cluster deleted: it goes from the list at the next
 * apply_now(), then its entries from its file (an own file whole:
 * kubeconfig_remove()) and its state, in clean_up_gone(). */
static void forget(DiscoverySource *s, DiscoveredCluster *f) {
        Manager *m = s->manager;
        size_t i;

        if (!find_found(s, f->id, &i))
                return;
        GoneCluster *a = reallocarray(m->gone, m->n_gone + 1, sizeof(GoneCluster));
        if (!a) {
                log_error("Out of memory: cluster %s, deleted in CCE, is still kept.", f->id);
                return;
        }
        m->gone = a;
        GoneCluster *g = &m->gone[m->n_gone++];
        Cluster *c = discovered_cluster(m, s->index, f->id);
        *g = (GoneCluster) { .config = c ? cluster_config_dup(c->config) : NULL, .name = TAKE_PTR(f->name),
                             .id = TAKE_PTR(f->id), .project_id = strdup(s->as_cluster.project_id) };
        if (c && !g->config)
                log_error("Out of memory: the kubeconfig of %s is left where it is.", c->config->name);
        if (c && c->phase == PHASE_WAITING)
                heap_remove(m, c);  /* no call for it meanwhile: it would only be told 404 */
        s->found[i] = s->found[--s->n_found];
        found_free(f);
        apply_soon(m);
}

/* The gone clusters, once the list no longer holds them (their calls
 * ended, what was fetched for their files written): their files and states. */
static void clean_up_gone(Manager *m) {
        for (size_t k = 0; k < m->n_gone; k++) {
                GoneCluster *g = &m->gone[k];
                char error[768] = "", outcome[1024];
                int priority = LOG_NOTICE, r;

                if (!g->config)
                        snprintf(outcome, sizeof(outcome), "no kubeconfig was kept for it");
                else if (m->options.dry_run)
                        snprintf(outcome, sizeof(outcome), "dry run: %s is left as it is", g->config->kubeconfig);
                else {
                        r = kubeconfig_remove(g->config, error, sizeof(error));
                        if (r == KUBECONFIG_REMOVE_FILE)
                                snprintf(outcome, sizeof(outcome), "its kubeconfig %s is removed", g->config->kubeconfig);
                        else if (r == KUBECONFIG_REMOVE_ENTRIES)
                                snprintf(outcome, sizeof(outcome), "its entries are taken out of %s", g->config->kubeconfig);
                        else if (r == 0)
                                snprintf(outcome, sizeof(outcome), "%s holds nothing cce-certd wrote for it",
                                         g->config->kubeconfig);
                        else {
                                priority = LOG_WARNING;
                                snprintf(outcome, sizeof(outcome),
                                         "its kubeconfig cannot be cleaned up and is left as it is: %s", error);
                        }
                        /* Its state, unless a cluster of the list has its name now. */
                        if (!find_cluster(m->clusters, m->n_clusters, g->config->name))
                                (void) state_remove(m->state_dir, g->config->name);
                }
                log_struct(priority, 0, MESSAGE_ID_DISCOVERY_GONE,
                           LOG_FIELDS({ "CCE_CLUSTER", g->name }, { "CCE_CLUSTER_ID", g->id },
                                      { "CCE_PROJECT_ID", g->project_id },
                                      { "KUBECONFIG_PATH", g->config ? g->config->kubeconfig : NULL }),
                           "Cluster %s (%s) is gone from project %s: absent from two listings, and CCE answers 404 "
                           "for it; no longer kept: %s.", g->name ?: "?", g->id, g->project_id ?: "?", outcome);
        }
        gone_free(m);
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
            result->error.klass == API_ERROR_NOT_FOUND)
                forget(s, f);
}

const ClusterConfig *discovery_renamed_from(Manager *m, const Cluster *c) {
        if (m->n_renames == 0 || !c->config->discovered || c->config->discovered_by >= m->n_sources)
                return NULL;
        DiscoveredCluster *f = find_found(m->sources[c->config->discovered_by], c->config->cluster_id, NULL);
        return f ? f->retire : NULL;
}

void discovery_rename_done(Manager *m, const Cluster *c) {
        DiscoveredCluster *f;
        char error[768] = "";
        int r = 0;

        if (m->n_renames == 0 || !c->config->discovered || c->config->discovered_by >= m->n_sources ||
            !(f = find_found(m->sources[c->config->discovered_by], c->config->cluster_id, NULL)) || !f->retire)
                return;
        ClusterConfig *old = TAKE_PTR(f->retire);
        m->n_renames--;
        bool same_file = strcmp(old->kubeconfig, c->config->kubeconfig) == 0;
        if (!same_file)
                r = kubeconfig_remove(old, error, sizeof(error));
        if (r < 0)
                log_warning("%s was renamed in CCE from %s: its earlier kubeconfig %s is left as it is: %s",
                            c->config->name, old->name, old->kubeconfig, error);
        else
                log_info("%s was renamed in CCE from %s: %s %s.", c->config->name, old->name,
                         r == KUBECONFIG_REMOVE_FILE ? "removed its earlier kubeconfig" :
                         same_file || r == KUBECONFIG_REMOVE_ENTRIES ? "took its earlier entries out of" :
                         "nothing of it was left in", old->kubeconfig);
        if (strcmp(old->name, c->config->name) != 0 && !find_cluster(m->clusters, m->n_clusters, old->name))
                (void) state_remove(m->state_dir, old->name);
        cluster_config_free(old);
}

/* After a listing, or one that could not be made: the next one; with
 * --once, the pass once every project has answered. */
static void next_listing(DiscoverySource *s, uint64_t usec) {
        Manager *m = s->manager;

        if (!m->options.once)
                list_later(s, usec);
        else if (m->once_listings > 0 && --m->once_listings == 0)
                once_start_pass(m);
}

static void names_free(char **names) {
        for (char **n = names; n && *n; n++)
                free(*n);
        free(names);
}

static void names_freep(char ***names) {
        names_free(*names);
}

/* The names of the clusters that s made, in the list in force (--dry-run
 * compares them before and after a listing). */
static char **names_found_by(DiscoverySource *s) {
        Manager *m = s->manager;
        char **names = calloc(m->n_clusters + 1, sizeof(char *));
        size_t n = 0;

        for (size_t i = 0; names && i < m->n_clusters; i++) {
                const ClusterConfig *cl = m->clusters[i]->config;
                if (cl->discovered && cl->discovered_by == s->index && !(names[n++] = strdup(cl->name))) {
                        names_free(names);
                        return NULL;
                }
        }
        return names;
}

static bool names_hold(char **strv, const char *s) {
        for (; strv && *strv; strv++)
                if (strcmp(*strv, s) == 0)
                        return true;
        return false;
}

/* --dry-run: what this listing would add to the clusters kept, and drop. */
static void print_listing_changes(DiscoverySource *s, char **before) {
        Manager *m = s->manager;
        _cleanup_(names_freep) char **after = names_found_by(s);

        for (size_t i = 0; i < m->n_clusters; i++) {
                const ClusterConfig *cl = m->clusters[i]->config;
                if (cl->discovered && cl->discovered_by == s->index && !names_hold(before, cl->name))
                        printf("discover #%zu (project %s): would add %s (%s, %s), kubeconfig %s\n", s->index + 1,
                               s->as_cluster.project_id, cl->name, cl->cluster_id, cl->discovered_phase, cl->kubeconfig);
        }
        for (char **n = before; n && *n; n++)
                if (!names_hold(after, *n))
                        printf("discover #%zu (project %s): would stop keeping %s (renamed in CCE, or left out)\n",
                               s->index + 1, s->as_cluster.project_id, *n);
        fflush(stdout);
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
                char then[80];
                if (m->options.once) {
                        m->exit_status = EXIT_ONCE_FAILED;
                        snprintf(then, sizeof(then), "this pass takes the clusters the daemon's listings found");
                } else
                        snprintf(then, sizeof(then), "will list again in %s",
                                 format_duration((uint64_t) (next - now), (char[32]) {}));
                log_struct(LOG_WARNING, 0, MESSAGE_ID_DISCOVERY_FAILED,
                           LOG_FIELDS({ "CCE_PROJECT_ID", s->as_cluster.project_id },
                                      { "ERROR_CLASS", api_error_class_to_string(result->error.klass) }),
                           "Listing the clusters of project %s failed: %s; nothing changes, %s.",
                           s->as_cluster.project_id, describe, then);
                next_listing(s, (uint64_t) (next - now) * USEC_PER_SEC);
                return;
        }
        s->failures = 0;
        _cleanup_(names_freep) char **kept_before = m->options.dry_run ? names_found_by(s) : NULL;

        /* What the listing holds: new ones, renamed ones, phases. */
        sort_found(s);
        size_t n_known = s->n_found;
        if (reserve_found(s, result->clusters.n_items) < 0) {
                log_error("Out of memory keeping the clusters of project %s.", s->as_cluster.project_id);
                next_listing(s, d->interval_sec * USEC_PER_SEC);
                return;
        }
        for (size_t i = 0; i < result->clusters.n_items; i++) {
                const CceClusterInfo *item = &result->clusters.items[i];
                DiscoveredCluster *f = lookup_found(s, n_known, item->id);
                if (!f) {
                        if (!(f = calloc(1, sizeof(DiscoveredCluster))) || !(f->id = strdup(item->id))) {
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
                        Cluster *before = f->name ? discovered_cluster(m, s->index, f->id) : NULL;
                        /* Renamed: its earlier entries go once it is written under the new
                         * name (the earliest name's, if an earlier rename still waits). */
                        if (before && !f->retire && (f->retire = cluster_config_dup(before->config)))
                                m->n_renames++;
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
        sort_found(s);  /* the new ones in place; an id the listing held twice, once */

        /* What it does not hold: gone only when ShowCluster says so, after two listings. */
        for (size_t i = 0; i < s->n_found; i++) {
                DiscoveredCluster *f = s->found[i];
                if (f->listed) {
                        f->listed = false;
                        continue;
                }
                if (m->options.once) {  /* one listing proves nothing gone */
                        if (m->options.dry_run)
                                printf("discover #%zu (project %s): %s (%s) is not in this listing; it would go after "
                                       "another listing without it and a 404 from CCE\n", s->index + 1,
                                       s->as_cluster.project_id, f->name ?: "?", f->id);
                        continue;
                }
                f->absent++;
                if (discovery_absence(f->absent, 0) == DISCOVERY_ASK && !f->show) {
                        ApiError e = {};
                        if (cce_show_start(m->client, &s->as_cluster, f->id, on_shown, f, &f->show, &e) < 0)
                                log_warning("Cannot ask CCE about cluster %s: %s", f->id, e.message);
                }
        }
        if (changed)
                apply_soon(m);
        if (m->options.dry_run)
                print_listing_changes(s, kept_before);
        next_listing(s, d->interval_sec * USEC_PER_SEC);
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
                if (m->options.once)
                        log_warning("Not listing project %s: its credentials were refused and are paused until %s.",
                                    s->as_cluster.project_id, format_iso8601_utc(until, (char[32]) {}));
                next_listing(s, (uint64_t) (until - now) * USEC_PER_SEC);
                return 0;
        }
        if (cce_list_start(m->client, &s->as_cluster, on_listed, s, &s->call, &e) < 0) {
                log_warning("Cannot list the clusters of project %s: %s; will try again in %s.",
                            s->as_cluster.project_id, e.message,
                            format_duration(entry_of(s)->interval_sec, (char[32]) {}));
                if (m->options.once)
                        m->exit_status = EXIT_ONCE_FAILED;
                next_listing(s, entry_of(s)->interval_sec * USEC_PER_SEC);
        }
        return 0;
}

int discovery_reload(Manager *m, Config *file_config, Config **ret) {
        DiscoverySource **old = m->sources;
        size_t n_old = m->n_sources;
        Config *old_file = m->file_config;
        int r;

        if (m->n_gone > 0 || (m->discovery_apply && sd_event_source_get_enabled(m->discovery_apply, NULL) > 0))
                apply_now(m);  /* what the listings changed first, under the configuration they were made for */

        m->sources = NULL;
        m->n_sources = 0;
        m->file_config = file_config;
        r = discovery_setup(m);
        /* An entry that did not change keeps what its listings found: a
         * reload changes nothing for it. Its listing comes at once anyway. */
        for (size_t i = 0; r >= 0 && i < m->n_sources; i++)
                for (size_t k = 0; k < n_old; k++)
                        if (old[k] && old[k]->n_found > 0 &&
                            discover_entry_fingerprint(&old_file->discover[old[k]->index]) ==
                            discover_entry_fingerprint(&file_config->discover[i])) {
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
                snprintf(fp, sizeof(fp), "%016" PRIx64, discover_entry_fingerprint(entry_of(s)));
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

/* What an earlier run found for the entries (state.h), given to their sources. */
static int load_found(Manager *m, const JsonNode *saved) {
        DiscoveredItem *items = NULL;
        size_t n = 0;
        int r = discovered_items_from_saved(m->file_config, saved, &items, &n);

        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_sources && r >= 0; i++) {
                size_t of_entry = 0;
                for (size_t k = 0; k < n; k++)
                        of_entry += items[k].entry == i;
                r = reserve_found(m->sources[i], of_entry);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                DiscoverySource *s = m->sources[items[i].entry];
                DiscoveredCluster *f = calloc(1, sizeof(DiscoveredCluster));
                if (!f) {
                        r = -ENOMEM;
                        break;
                }
                *f = (DiscoveredCluster) { .source = s, .id = (char *) items[i].id, .name = (char *) items[i].name,
                                           .phase = (char *) items[i].phase };
                items[i] = (DiscoveredItem) {};  /* taken */
                s->found[s->n_found++] = f;
        }
        for (size_t i = 0; i < m->n_sources; i++)
                sort_found(m->sources[i]);
        discovered_items_free(items, n);
        return r;
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
        }
        return saved ? load_found(m, saved) : 0;
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
