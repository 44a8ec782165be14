/* SPDX-License-Identifier: MIT */
/* The root object: the event loop, signals, the configuration taken at
 * start and at reloads (cluster-set.c builds the cluster list), --once's
 * selection, and the wiring of the parts (timers, watches, the client). */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "atomic-file.h"
#include "build-config.h"
#include "manager-internal.h"
#include "message-id.h"
#include "parse-value.h"
#include "schedule.h"
#include "time-util.h"

#define TIMER_ACCURACY_USEC (100 * USEC_PER_MSEC)

/* ---- what wakes the loop ----------------------------------------------------- */

static int on_write_queue(sd_event_source *s, uint64_t usec, void *userdata) {
        write_queued(userdata);
        dispatch(userdata);  /* the timer, for what the writes scheduled */
        return 0;
}

/* Someone may have changed the kubeconfig at path (the watch says so). */
static void on_kubeconfig_changed(const char *path, void *userdata) {
        _cleanup_(kubeconfig_reading_freep) KubeconfigReading *reading = NULL;
        Manager *m = userdata;
        size_t lo = 0, hi = m->n_clusters;

        while (lo < hi) {  /* the first cluster of that file */
                size_t mid = (lo + hi) / 2;
                if (strcmp(m->by_kubeconfig[mid]->config->kubeconfig, path) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == m->n_clusters || strcmp(m->by_kubeconfig[lo]->config->kubeconfig, path) != 0)
                return;
        FileIdentity identity = file_identity_of(path);
        SharedFile *shared = m->by_kubeconfig[lo]->shared;
        for (size_t i = lo; i < m->n_clusters && strcmp(m->by_kubeconfig[i]->config->kubeconfig, path) == 0; i++) {
                Cluster *c = m->by_kubeconfig[i];
                KubeconfigStatus file;
                /* The version the daemon wrote or read last (our own write),
                 * as the daemon knows it: nothing to do. Not when the path
                 * was blocked: the same file may be back (its directory
                 * moved away and back). No file, before and now: what is
                 * around it changed (a directory in its place removed). */
                if (file_identity_known(&identity) &&
                    file_identity_same(&identity, shared ? &shared->identity : &c->state.kubeconfig_identity) &&
                    !cannot_write(c, c->file.state))
                        continue;
                if (c->phase != PHASE_WAITING || c->pending || c->queued)
                        continue;  /* a write of ours comes, and takes the file as it is then */
                kubeconfig_inspect_shared(c->config, &reading, &file);
                kubeconfig_changed(m, c, &file, &identity);
        }
        if (shared)
                shared->identity = identity;
        dispatch(m);
}

static void on_state_changed(const char *name, void *userdata) {
        Manager *m = userdata;

        if (!name)  /* events were lost: every one */
                for (size_t i = 0; i < m->n_clusters; i++)
                        state_file_changed(m, m->clusters[i]);
        else {
                size_t len = strlen(name);
                if (name[0] == '.' || len <= 5 || strcmp(name + len - 5, ".json") != 0)
                        return;  /* not a state file: a temporary one */
                _cleanup_free_ char *cluster = strndup(name, len - 5);
                Cluster *c = cluster ? find_cluster(m->clusters, m->n_clusters, cluster) : NULL;
                if (c)
                        state_file_changed(m, c);
        }
        dispatch(m);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        dispatch(userdata);
        return 0;
}

/* The wall clock was set (or the machine resumed): waits measured from a
 * moment keep their length (sched_after_clock_step()); renewal times follow
 * the certificates; everything is looked at again now. The daemon's: a
 * --once does its one pass. */
static void on_clock_changed(void *userdata) {
        Manager *m = userdata;
        int64_t step = sched_clock_step(m->clock_realtime, m->clock_boottime, now_usec(CLOCK_REALTIME),
                                        now_usec(CLOCK_BOOTTIME));

        if (step != 0) {
                log_info("The wall clock was set %s by %s; waits after failures keep their length, renewals "
                         "follow the certificates' dates.", step > 0 ? "forward" : "back",
                         format_duration((uint64_t) (step > 0 ? step : -step), (char[32]) {}));
                for (size_t i = 0; i < m->n_pauses; i++)
                        m->pauses[i].until = sched_after_clock_step(m->pauses[i].until, step);
                for (size_t i = 0; i < m->n_clusters; i++) {
                        Cluster *c = m->clusters[i];
                        c->restore_at = sched_after_clock_step(c->restore_at, step);
                        if (c->state.failures > 0 && c->state.next_attempt != 0) {
                                c->state.next_attempt = sched_after_clock_step(c->state.next_attempt, step);
                                save_state(m, c);
                        }
                        if (c->phase == PHASE_WAITING)
                                schedule(m, c);
                }
        }
        status_changed(m);
        dispatch(m);
}

static int on_start(sd_event_source *s, void *userdata) {
        dispatch(userdata);
        return 0;
}

/* ---- configuration ----------------------------------------------------------- */

static void log_config_errors(const char *path, const ConfigErrors *errors, const char *message_id) {
        for (size_t i = 0; i < errors->n_errors; i++) {
                const ConfigError *e = &errors->errors[i];
                if (e->pos.line > 0)
                        log_struct(LOG_ERR, 0, message_id, LOG_FIELDS({ "CONFIG_FILE", path }),
                                   "%s:%u:%u: %s", path, e->pos.line, e->pos.column, e->message);
                else
                        log_struct(LOG_ERR, 0, message_id, LOG_FIELDS({ "CONFIG_FILE", path }), "%s: %s", path, e->message);
        }
        for (size_t i = 0; i < errors->n_warnings; i++) {
                const ConfigError *e = &errors->warnings[i];
                log_warning("%s:%u:%u: %s", path, e->pos.line, e->pos.column, e->message);
        }
}

static void reload(Manager *m) {
        _cleanup_(config_freep) Config *config = NULL;
        ConfigErrors errors = {};
        int r;

        sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading %s",
                   now_usec(CLOCK_MONOTONIC), m->options.config_path);

        r = config_load_file(m->options.config_path, &config, &errors);
        log_config_errors(m->options.config_path, &errors, MESSAGE_ID_RELOAD_FAILED);
        config_errors_clear(&errors);
        if (r < 0) {
                log_struct(LOG_ERR, 0, MESSAGE_ID_RELOAD_FAILED, LOG_FIELDS({ "CONFIG_FILE", m->options.config_path }),
                           "Reloading %s failed%s; the previous configuration stays in force.",
                           m->options.config_path, r == -EINVAL ? " (errors above)" : "");
                sd_notify(false, "READY=1");
                update_status(m);
                return;
        }

        if (config->n_discover > 0 || m->file_config) {
                /* The file as loaded stays for discovery; in force is a copy with what it finds. */
                r = discovery_reload(m, TAKE_PTR(config), &config);
                if (r < 0) {
                        log_error_errno(r, "Reloading failed halfway: %m; stopping so that systemd restarts the daemon.");
                        sd_event_exit(m->event, EX_SOFTWARE);
                        return;
                }
                if (m->file_config->n_discover == 0)
                        m->file_config = config_free(m->file_config);  /* none left: the copy is the file */
        }
        r = cluster_set_take(m, TAKE_PTR(config));
        if (r == -ENOMEM) {
                log_error("Reloading failed: out of memory; the previous configuration stays in force.");
                sd_notify(false, "READY=1");
                return;
        }
        if (r < 0) {
                log_error_errno(r, "Reloading failed halfway: %m; stopping so that systemd restarts the daemon.");
                sd_event_exit(m->event, EX_SOFTWARE);
                return;
        }
        discovery_mark_unavailable(m);
        log_struct(LOG_INFO, 0, MESSAGE_ID_RELOADED, LOG_FIELDS({ "CONFIG_FILE", m->options.config_path }),
                   "Reloaded %s: %zu clusters.", m->options.config_path, m->n_clusters);
        dispatch(m);
        sd_notify(false, "READY=1");
        update_status(m);
}

/* ---- signals ----------------------------------------------------------------- */

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        write_queued(m);  /* certificates already fetched are not thrown away */
        sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        log_struct(LOG_INFO, 0, MESSAGE_ID_STOPPED, NULL, 0, "Stopping on %s.", strsignal((int) si->ssi_signo));
        sd_event_exit(m->event, m->options.once ? EXIT_ONCE_FAILED : EXIT_SUCCESS);
        return 0;
}

static int on_hangup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        if (m->options.once)
                return 0;
        reload(m);
        return 0;
}

/* ---- life cycle -------------------------------------------------------------- */

const char *manager_state_directory(const Config *c) {
        const char *e = getenv("STATE_DIRECTORY");
        static char first[4096];

        if (e && e[0] == '/') {
                /* systemd lists several directories separated by ':'; ours is the first. */
                snprintf(first, sizeof(first), "%.*s", (int) strcspn(e, ":"), e);
                return first;
        }
        return c->state_directory ?: DEFAULT_STATE_DIRECTORY;
}

static int select_once(Manager *m) {
        int64_t now = now_realtime(m);
        unsigned selected = 0;

        for (char **n = m->options.only; n && *n; n++)
                if (!find_cluster(m->clusters, m->n_clusters, *n)) {
                        log_error("No cluster named %s in %s.", *n, m->options.config_path);
                        return -ENOENT;
                }

        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *c = m->clusters[i];
                bool named = !m->options.only;
                for (char **n = m->options.only; n && *n && !named; n++)
                        named = strcmp(*n, c->config->name) == 0;
                if (!named) {
                        heap_remove(m, c);
                        continue;
                }
                if (c->unavailable) {  /* discovered; not an error of ours, and --force cannot help */
                        heap_remove(m, c);
                        log_info("%s is %s in CCE, not Available: not renewed until it is.", c->config->name,
                                 c->config->discovered_phase);
                        continue;
                }
                if (m->options.force) {
                        c->state.next_attempt = 0;
                        c->state.failures = 0;
                        c->due = now;
                } else if (c->due > now) {
                        heap_remove(m, c);
                        if (c->due == INT64_MAX) {
                                log_error("%s is parked after %s errors; fix the configuration, or use --force.",
                                          c->config->name, api_error_class_to_string(c->state.last_error_class));
                                m->exit_status = EXIT_ONCE_FAILED;
                        } else if (c->state.failures > 0 || c->file.state != KUBECONFIG_OK) {
                                char when[32];
                                log_error("%s is backing off after a failure until %s; use --force to try now.",
                                          c->config->name, format_iso8601_utc(c->due, when));
                                m->exit_status = EXIT_ONCE_FAILED;
                        } else
                                log_info("%s is fresh: valid until %s, renewal due at %s.", c->config->name,
                                         format_iso8601_utc(c->file.certificate.not_after, (char[32]) {}),
                                         format_iso8601_utc(c->due, (char[32]) {}));
                        continue;
                }
                c->selected = true;
                selected++;
                heap_update(m, c);
        }
        m->once_remaining = selected;
        return (int) selected;
}

/* --once with discover entries, once every project was listed (or its
 * listing failed: then with the clusters the daemon's listings found). */
void once_start_pass(Manager *m) {
        int r = select_once(m);
        if (r < 0)
                sd_event_exit(m->event, EX_USAGE);
        else if (r == 0)
                sd_event_exit(m->event, m->exit_status);
        else
                dispatch(m);
}

/* The daemon watches its kubeconfigs (from adopt_config()) and the state
 * files a --once beside it writes; --once and --dry-run watch nothing. */
static int watch_files(Manager *m) {
        _cleanup_free_ char *states = NULL;
        int r;

        if (m->options.once || m->options.dry_run)
                return 0;
        r = file_watch_new(m->event, on_kubeconfig_changed, on_state_changed, m, &m->watch);
        if (r < 0)
                return r;
        if (asprintf(&states, "%s/clusters", m->state_dir) < 0)
                return -ENOMEM;
        return file_watch_set_directory(m->watch, states);
}

int manager_new(const ManagerOptions *options, Config *config, Manager **ret) {
        Manager *m = calloc(1, sizeof(Manager));
        char error[512];
        int r;

        if (!m) {
                config_free(config);
                return -ENOMEM;
        }
        m->options = *options;
        m->configs = calloc(1, sizeof(ConfigRef));
        if (!m->configs) {
                config_free(config);
                manager_free(m);
                return -ENOMEM;
        }
        m->configs->config = config;
        m->max_in_flight = config->parallel_requests;
        m->state_dir = strdup(manager_state_directory(config));
        if (!m->state_dir) {
                manager_free(m);
                return -ENOMEM;
        }
        if (config->n_discover > 0) {
                /* The file as loaded stays for discovery; in force is a copy with
                 * what it found, before any listing (what an earlier run saved). */
                m->file_config = config;
                m->configs->config = NULL;
                if ((r = discovery_setup(m)) < 0 ||
                    (r = discovery_effective_config(m, &m->configs->config)) < 0) {
                        manager_free(m);
                        return r;
                }
                config = m->configs->config;
        }

        r = options->dry_run ? 0 : state_directory_prepare(m->state_dir, error, sizeof(error));
        if (r < 0) {
                log_error("%s", error);
                manager_free(m);
                return r;
        }
        if (!options->dry_run)
                (void) state_remove_leftovers(m->state_dir);

        if ((r = cert_prepare()) < 0 ||
            (r = sd_event_new(&m->event)) < 0 ||
            (r = watch_files(m)) < 0 ||
            (!options->once && (r = clock_change_new(m->event, on_clock_changed, m, &m->clock_change)) < 0) ||
            (r = http_client_new(m->event, config->parallel_requests, &m->http)) < 0 ||
            (r = cce_client_new(m->http, &m->client)) < 0 ||
            (r = cce_client_set_config(m->client, config)) < 0) {
                manager_free(m);
                return r;
        }
        apply_limits(m);

        manager_block_signals();
        if ((r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_terminate, m)) < 0 ||
            (r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_terminate, m)) < 0 ||
            (r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_hangup, m)) < 0 ||
            (r = sd_event_add_time(m->event, &m->timer, CLOCK_REALTIME, UINT64_MAX, TIMER_ACCURACY_USEC, on_timer, m)) < 0 ||
            (r = sd_event_add_time(m->event, &m->status_timer, CLOCK_MONOTONIC, UINT64_MAX, 100 * USEC_PER_MSEC,
                                   on_status_timer, m)) < 0 ||
            (r = sd_event_add_time(m->event, &m->write_event, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_MSEC,
                                   on_write_queue, m)) < 0 ||
            (r = sd_event_add_time(m->event, &m->directory_sync_timer, CLOCK_MONOTONIC, UINT64_MAX,
                                   100 * USEC_PER_MSEC, on_directory_sync_timer, m)) < 0 ||
            (!options->once &&
             (r = sd_event_add_time(m->event, &m->metrics_timer, CLOCK_BOOTTIME, UINT64_MAX,
                                    10 * USEC_PER_SEC, on_metrics_timer, m)) < 0) ||
            (r = sd_event_source_set_priority(m->write_event, SD_EVENT_PRIORITY_IDLE)) < 0 ||
            (r = sd_event_set_watchdog(m->event, true)) < 0) {
                manager_free(m);
                return r;
        }
        (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->write_event, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->directory_sync_timer, SD_EVENT_OFF);
        if (m->metrics_timer)
                (void) sd_event_source_set_enabled(m->metrics_timer, SD_EVENT_OFF);

        r = adopt_config(m, config);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        discovery_mark_unavailable(m);
        *ret = m;
        return 0;
}

void manager_block_signals(void) {
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);      /* hooks: sd_event_add_child() */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        discovery_stop(m);  /* its calls, before the client that holds them */
        while (m->hooks) {
                hook_cancel(m->hooks->hook);
                hook_run_free(m->hooks);
        }
        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *c = m->clusters[i];
                cluster_free(c);
        }
        /* Stopping: calls are abandoned, --status must not say "renewing". */
        if (m->wrote_in_flight)
                (void) state_remove_in_flight(m->state_dir);
        free(m->clusters);
        free(m->heap);
        free(m->write_queue);
        free(m->shared_files);
        free(m->by_kubeconfig);
        file_watch_free(m->watch);
        clock_change_free(m->clock_change);
        cce_client_free(m->client);
        http_client_free(m->http);
        for (size_t i = 0; i < m->n_pauses; i++)
                free(m->pauses[i].name);
        free(m->pauses);
        config_free(m->file_config);
        while (m->configs) {
                ConfigRef *r = m->configs;
                m->configs = r->next;
                config_free(r->config);
                free(r);
        }
        sd_event_source_disable_unref(m->timer);
        sd_event_source_disable_unref(m->status_timer);
        sd_event_source_disable_unref(m->metrics_timer);
        sd_event_source_disable_unref(m->directory_sync_timer);
        sd_event_source_disable_unref(m->write_event);
        sd_event_source_disable_unref(m->sigterm);
        sd_event_source_disable_unref(m->sigint);
        sd_event_source_disable_unref(m->sighup);
        sd_event_unref(m->event);
        free(m->state_dir);
        free(m);
        return NULL;
}

int manager_run(Manager *m) {
        int r;

        if (m->options.once && m->n_sources > 0) {
                /* Each project is listed first; the pass starts when every
                 * listing has answered (once_start_pass()). */
                m->once_listings = m->n_sources;
                r = discovery_start(m);
                if (r < 0) {
                        log_error_errno(r, "Cannot start discovery: %m");
                        return EX_SOFTWARE;
                }
        } else if (m->options.once) {
                r = select_once(m);
                if (r < 0)
                        return EX_USAGE;
                if (r == 0) {
                        once_write_metrics(m);
                        return m->exit_status;
                }
        } else {
                log_struct(LOG_INFO, 0, MESSAGE_ID_STARTED, LOG_FIELDS({ "CONFIG_FILE", m->options.config_path }),
                           "cce-certd %s started: %zu clusters from %s, state in %s.",
                           PACKAGE_VERSION, m->n_clusters, m->options.config_path, m->state_dir);
                /* Configuration, state and files are loaded and timers armed:
                 * ready, before any network call. */
                arm_timer(m);
                m->in_flight_changed = true;  /* in-flight.json with our pid: a daemon runs */
                update_status(m);
                sd_notify(false, "READY=1");
                /* The first listings start from the loop too. */
                r = discovery_start(m);
                if (r < 0) {
                        log_error_errno(r, "Cannot start discovery: %m");
                        return EX_SOFTWARE;
                }
        }

        /* The first renewals start from the loop, after READY=1 is out. */
        r = sd_event_add_defer(m->event, NULL, on_start, m);
        if (r < 0)
                return EX_SOFTWARE;
        r = sd_event_loop(m->event);
        (void) atomic_file_sync_directories(SIZE_MAX);  /* what was written last, before the exit */
        if (m->options.once)
                once_write_metrics(m);
        else if (m->status_dirty)
                write_metrics(m, now_realtime(m));  /* the last changes too */
        if (r < 0) {
                sd_notifyf(false, "ERRNO=%d", -r);
                log_error_errno(r, "The event loop failed: %m");
                return EX_SOFTWARE;
        }
        if (r != 0 && !m->options.once)
                sd_notifyf(false, "ERRNO=%d", EIO);
        return r;
}
