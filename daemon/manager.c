/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "build-config.h"
#include "cce-client.h"
#include "clock-change.h"
#include "file-watch.h"
#include "http.h"
#include "iam.h"
#include "kubeconfig.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "hook.h"
#include "message-id.h"
#include "metrics.h"
#include "atomic-file.h"
#include "parse-value.h"
#include "safe-path.h"
#include "schedule.h"
#include "secure-memory.h"
#include "state.h"
#include "time-util.h"

#define TIMER_ACCURACY_USEC (100 * USEC_PER_MSEC)
#define STATUS_INTERVAL_USEC USEC_PER_SEC
/* Kubeconfig files written are on disk at once, their directory (the new
 * name) within this: one sync for the writes of a burst. */
#define DIRECTORY_SYNC_DELAY_USEC USEC_PER_SEC
#define LOCKED_RETRY_SEC 2      /* a kubeconfig locked by someone else */
#define WRITE_QUEUE_MAX 256     /* certificates waiting to be written: past that, written at once */
#define WRITE_PACE_MAX_USEC (2 * USEC_PER_SEC)  /* the longest a certificate for a shared file waits */
#define EXPIRING_SOON_PERCENT 10
#define EXPIRING_SOON_SEC (24 * 60 * 60)

typedef struct ConfigRef ConfigRef;
struct ConfigRef {
        Config *config;
        unsigned users;         /* calls in flight that borrow its ClusterConfig */
        ConfigRef *next;
};

typedef enum ClusterPhase {
        PHASE_WAITING,          /* scheduled, nothing happening */
        PHASE_CALLING,          /* a clustercert call in flight */
} ClusterPhase;

/* What the scheduler needs of a certificate: its dates (CertInfo's serial
 * and subject are for logs, and a cluster keeps two; with ten thousand
 * clusters that is megabytes). */
typedef struct CertDates {
        int64_t not_before, not_after;
} CertDates;

/* A kubeconfig shared by clusters (merge: true): the version of it that the
 * daemon last wrote or read whole, so that a renewal of one of its clusters
 * can tell whether someone else changed it meanwhile (every write of the
 * file changes its identity, so one per cluster would not tell). */
typedef struct SharedFile {
        const char *path;               /* borrowed from a cluster's config */
        char identity[96];              /* kubeconfig_identity(); "" none */
} SharedFile;

/* The kubeconfig as the scheduler sees it. */
typedef struct FileStatus {
        KubeconfigState state;
        CertDates certificate;          /* when KUBECONFIG_OK */
} FileStatus;

typedef struct Cluster {
        Manager *manager;
        const ClusterConfig *config;
        uint64_t fingerprint;
        ClusterState state;
        FileStatus file;
        int64_t due;                    /* INT64_MAX: parked, nothing scheduled */
        size_t heap_index;              /* SIZE_MAX when not in the heap */
        ClusterPhase phase;
        CceCall *call;
        ConfigRef *call_ref;
        CceKubeconfig *pending;         /* fetched, not yet written */
        CertDates pending_cert;
        char *pending_request_id;       /* of the answer, while pending */
        unsigned write_failures;
        bool warned_insecure;
        bool sweeps_directory;          /* its next write removes killed writers' leftovers there */
        SharedFile *shared;             /* its kubeconfig, when shared (merge: true) */
        bool queued;                    /* in the write queue */
        bool kept;                      /* adopt_config(): carried into the new list */
        unsigned expiry_level;          /* 0, 1 expiring soon, 2 expired: logged once each */
        uint64_t renewals_total;        /* since start, for the metrics */
        uint64_t failures_total[_API_ERROR_CLASS_MAX];
        uint64_t file_changes_total[_FILE_CHANGE_MAX];
        unsigned restores;              /* restores of its file that followed each other */
        int64_t restore_at;             /* when the last restore was planned for: not before then (sched_restore_time()) */
        bool restoring_damaged;         /* its own file, ours until it stopped parsing: replaced by the next write */
        StateVersion state_version;     /* of its state file as the daemon last wrote or read it */
        bool selected, done, failed;    /* --once */
} Cluster;

typedef struct HookRun HookRun;
struct HookRun {
        Manager *manager;
        char *cluster;          /* by name: the cluster may go away meanwhile */
        const char *kind;       /* "on-renew" or "on-failure" */
        char *program;
        char *env[8];
        Hook *hook;
        HookRun *prev, *next;
};

typedef struct CredentialPause {
        char *name;
        int64_t until;
        unsigned failures;
} CredentialPause;

struct Manager {
        ManagerOptions options;
        sd_event *event;
        sd_event_source *timer, *status_timer, *directory_sync_timer;
        sd_event_source *metrics_timer;  /* the metrics file's refresh when nothing changes */
        sd_event_source *sigterm, *sigint, *sighup;
        ConfigRef *configs;             /* current first, then older ones still borrowed */
        char *state_dir;                /* fixed at start: a reload does not move it */
        HttpClient *http;
        CceClient *client;
        Cluster **clusters;             /* sorted by name */
        size_t n_clusters;
        Cluster **heap;                 /* earliest due first */
        size_t n_heap;
        CredentialPause *pauses;
        size_t n_pauses;
        unsigned in_flight;
        unsigned max_in_flight;         /* parallel-requests at start */
        SharedFile *shared_files;       /* one per kubeconfig of merge: true clusters */
        Cluster **by_kubeconfig;        /* the clusters in the order of their kubeconfig paths */
        FileWatch *watch;               /* the daemon's (not --once's) */
        ClockChange *clock_change;
        uint64_t clock_realtime, clock_boottime;  /* µs, read together: to tell a step of the wall clock */
        Cluster **write_queue;          /* fetched certificates to write: room for every cluster */
        size_t n_write_queue;
        sd_event_source *write_event;
        uint64_t write_not_before;      /* CLOCK_MONOTONIC µs: see write_pending() */
        uint64_t status_updated;        /* CLOCK_MONOTONIC µs of the last update_status() */
        bool status_dirty;
        bool in_flight_changed;         /* in-flight.json is to be written with the status */
        bool wrote_in_flight;
        bool warned_metrics, warned_in_flight;
        unsigned once_remaining;
        HookRun *hooks;
        int exit_status;
};

static Config *current_config(Manager *m) {
        return m->configs->config;
}

/* ---- time formatting ---------------------------------------------------- */


static const char *relative_time(int64_t seconds, char buf[static 32]) {
        char tmp[32];
        if (seconds <= 0)
                return strcpy(buf, "now");
        /* Two units at most: "3d4h", "12m5s". */
        format_duration((uint64_t) seconds, tmp);
        size_t units = 0, i = 0;
        for (; tmp[i] && units < 2; i++)
                if (tmp[i] < '0' || tmp[i] > '9')
                        units++;
        memcpy(buf, tmp, i);
        buf[i] = 0;
        return buf;
}

static int64_t now_realtime(Manager *m) {
        uint64_t u;
        if (sd_event_now(m->event, CLOCK_REALTIME, &u) < 0)
                return now_sec();
        return (int64_t) (u / USEC_PER_SEC);
}

/* The next whole second: a retry planned from it waits at least its delay
 * (the schedule counts whole seconds). */
static int64_t now_realtime_ceil(Manager *m) {
        uint64_t u;
        if (sd_event_now(m->event, CLOCK_REALTIME, &u) < 0)
                return now_sec() + 1;
        return (int64_t) ((u + USEC_PER_SEC - 1) / USEC_PER_SEC);
}

/* ---- the heap of due times ---------------------------------------------- */

static bool heap_less(const Cluster *a, const Cluster *b) {
        return a->due < b->due;
}

static void heap_swap(Manager *m, size_t i, size_t j) {
        Cluster *t = m->heap[i];
        m->heap[i] = m->heap[j];
        m->heap[j] = t;
        m->heap[i]->heap_index = i;
        m->heap[j]->heap_index = j;
}

static void heap_up(Manager *m, size_t i) {
        while (i > 0 && heap_less(m->heap[i], m->heap[(i - 1) / 2])) {
                heap_swap(m, i, (i - 1) / 2);
                i = (i - 1) / 2;
        }
}

static void heap_down(Manager *m, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, s = i;
                if (l < m->n_heap && heap_less(m->heap[l], m->heap[s]))
                        s = l;
                if (r < m->n_heap && heap_less(m->heap[r], m->heap[s]))
                        s = r;
                if (s == i)
                        return;
                heap_swap(m, i, s);
                i = s;
        }
}

static void heap_remove(Manager *m, Cluster *c) {
        size_t i = c->heap_index;
        if (i == SIZE_MAX)
                return;
        m->n_heap--;
        if (i != m->n_heap) {
                m->heap[i] = m->heap[m->n_heap];
                m->heap[i]->heap_index = i;
                heap_down(m, i);
                heap_up(m, i);
        }
        c->heap_index = SIZE_MAX;
}

/* Puts c in the heap at its due time (out of it when INT64_MAX). */
static void heap_update(Manager *m, Cluster *c) {
        heap_remove(m, c);
        if (c->due == INT64_MAX || c->phase != PHASE_WAITING)
                return;
        c->heap_index = m->n_heap;
        m->heap[m->n_heap++] = c;
        heap_up(m, c->heap_index);
}

/* ---- status -------------------------------------------------------------- */

static bool cluster_failing(const Cluster *c) {
        return c->state.failures > 0 || c->pending;
}

static unsigned expiry_level(const CertDates *cert, int64_t now);

static const char *cluster_state_name(const Cluster *c, int64_t now) {
        if (c->phase == PHASE_CALLING)
                return "renewing";
        if (c->due == INT64_MAX)
                return "parked";
        if (c->file.state == KUBECONFIG_OK && c->file.certificate.not_after <= now)
                return "expired";
        if (cluster_failing(c))
                return "failing";
        if (c->file.state != KUBECONFIG_OK)
                return "pending";
        return "ok";
}

/* The metrics file's next write, METRICS_REFRESH_SEC after this one, when
 * nothing changes before: one wake-up in five minutes. */
static void metrics_refresh_later(Manager *m, bool enabled) {
        uint64_t now;

        if (!m->metrics_timer)
                return;
        if (!enabled || sd_event_now(m->event, CLOCK_BOOTTIME, &now) < 0 ||
            sd_event_source_set_time(m->metrics_timer, now + METRICS_REFRESH_SEC * USEC_PER_SEC) < 0)
                (void) sd_event_source_set_enabled(m->metrics_timer, SD_EVENT_OFF);
        else
                (void) sd_event_source_set_enabled(m->metrics_timer, SD_EVENT_ONESHOT);
}

/* The metrics file, when one is configured: rewritten with the status, and
 * every METRICS_REFRESH_SEC when nothing changes. */
static void write_metrics(Manager *m, int64_t now) {
        const char *path = current_config(m)->metrics_file;
        _cleanup_free_ MetricsCluster *rows = NULL;
        _cleanup_free_ char *text = NULL;
        char error[512];
        size_t size;

        metrics_refresh_later(m, path);
        if (!path)
                return;
        rows = calloc(MAX(m->n_clusters, 1u), sizeof(MetricsCluster));
        if (!rows)
                return;
        for (size_t i = 0; i < m->n_clusters; i++) {
                const Cluster *c = m->clusters[i];
                bool have = c->file.state == KUBECONFIG_OK;
                rows[i] = (MetricsCluster) {
                        .name = c->config->name,
                        .cluster_id = c->config->cluster_id,
                        .project_id = c->config->project_id,
                        .credential = c->config->credentials,
                        .paused = c->state.paused_until > now,
                        .state = cluster_state_name(c, now),
                        .not_before = have ? c->file.certificate.not_before : 0,
                        .not_after = have ? c->file.certificate.not_after : 0,
                        .next_attempt = c->due == INT64_MAX ? 0 : c->due,
                        .last_success = c->state.last_success,
                        .renewals_total = c->renewals_total,
                        .consecutive_failures = c->state.failures,
                };
                memcpy(rows[i].failures_total, c->failures_total, sizeof(c->failures_total));
                memcpy(rows[i].file_changes_total, c->file_changes_total, sizeof(c->file_changes_total));
        }
        if (metrics_format(PACKAGE_VERSION, rows, m->n_clusters, &text, &size) < 0)
                return;
        if (atomic_file_write(path, text, size, 0644, (uid_t) -1, (gid_t) -1, 0, error, sizeof(error)) < 0 &&
            !m->warned_metrics) {
                m->warned_metrics = true;
                log_warning("Cannot write the metrics file: %s", error);
        }
}

/* For --status: which clusters have requests in flight (see state.h). */
static void write_in_flight(Manager *m) {
        _cleanup_free_ const char **names = calloc(MAX(m->in_flight, 1u), sizeof(char *));
        size_t n = 0;
        char error[512];

        m->in_flight_changed = false;
        /* The daemon's file: a --once beside it leaves it alone. */
        if (m->options.dry_run || m->options.once || !names)
                return;
        for (size_t i = 0; i < m->n_clusters && n < m->in_flight; i++)
                if (m->clusters[i]->phase == PHASE_CALLING)
                        names[n++] = m->clusters[i]->config->name;
        if (state_save_in_flight(m->state_dir, names, n, error, sizeof(error)) < 0) {
                if (!m->warned_in_flight)
                        log_warning("Cannot record the requests in flight for --status: %s", error);
                m->warned_in_flight = true;
        } else
                m->wrote_in_flight = true;
}

static void update_status(Manager *m) {
        unsigned ok = 0, failing = 0, parked = 0, renewing = 0;
        const Cluster *worst = NULL, *next = m->n_heap > 0 ? m->heap[0] : NULL;
        int64_t now = now_realtime(m);
        char text[640], renewing_text[32] = "", next_text[160] = "", detail[320] = "", a[32], b[32];

        for (size_t i = 0; i < m->n_clusters; i++) {
                const Cluster *c = m->clusters[i];
                if (c->phase == PHASE_CALLING)
                        renewing++;
                else if (c->due == INT64_MAX)
                        parked++;
                else if (cluster_failing(c))
                        failing++;
                else if (c->file.state == KUBECONFIG_OK)
                        ok++;
                /* The most urgent problem: the failing cluster whose certificate ends first. */
                if ((cluster_failing(c) || c->due == INT64_MAX) && c->state.last_error &&
                    (!worst || c->file.certificate.not_after < worst->file.certificate.not_after))
                        worst = c;
        }
        if (renewing)
                snprintf(renewing_text, sizeof(renewing_text), ", %u renewing", renewing);
        if (next)
                snprintf(next_text, sizeof(next_text), "; next %s in %s", next->config->name, relative_time(next->due - now, a));
        if (worst) {
                char expiry[64] = "";
                const CertDates *cert = &worst->file.certificate;
                if (worst->file.state == KUBECONFIG_OK) {
                        static const char *const words[] = { "", "expires in ", "EXPIRES in " };
                        unsigned level = expiry_level(cert, now);
                        if (level == 3)
                                snprintf(expiry, sizeof(expiry), "EXPIRED, ");
                        else if (level > 0)
                                snprintf(expiry, sizeof(expiry), "%s%s, ", words[level], relative_time(cert->not_after - now, (char[32]) {}));
                }
                snprintf(detail, sizeof(detail), "; %s: %s%s error%s%s", worst->config->name, expiry,
                         api_error_class_to_string(worst->state.last_error_class),
                         worst->due == INT64_MAX ? ", parked" : ", retry in ",
                         worst->due == INT64_MAX ? "" : relative_time(worst->due - now, b));
        }
        snprintf(text, sizeof(text), "%zu clusters: %u ok, %u failing, %u parked%s%s%s",
                 m->n_clusters, ok, failing, parked, renewing_text, next_text, detail);
        if (!m->options.once) {
                sd_notifyf(false, "STATUS=%s", text);
                write_metrics(m, now);
        }
        if (m->in_flight_changed)
                write_in_flight(m);
        m->status_dirty = false;
        m->status_updated = now_usec(CLOCK_MONOTONIC);
}

static int on_metrics_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        write_metrics(m, now_realtime(m));
        return 0;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (m->status_dirty)
                update_status(m);
        return 0;
}

static int on_directory_sync_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) atomic_file_sync_directories();
        return 0;
}

/* After kubeconfig writes: their directories are synced soon (see
 * atomic_file_sync_directories()). */
static void directory_sync_soon(Manager *m) {
        int enabled = SD_EVENT_OFF;
        uint64_t now;

        if (atomic_file_unsynced() == 0 || sd_event_source_get_enabled(m->directory_sync_timer, &enabled) < 0 ||
            enabled != SD_EVENT_OFF)
                return;
        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0 ||
            sd_event_source_set_time(m->directory_sync_timer, now + DIRECTORY_SYNC_DELAY_USEC) < 0 ||
            sd_event_source_set_enabled(m->directory_sync_timer, SD_EVENT_ONESHOT) < 0)
                (void) atomic_file_sync_directories();  /* now, then */
}

/* Status updates at most once a second: thousands of clusters renewing at
 * once do not mean thousands of scans. A change after a quiet second is
 * published at once (from the loop, after what else is going on now). */
static void status_changed(Manager *m) {
        int enabled = SD_EVENT_OFF;

        m->status_dirty = true;
        if (!m->status_timer || sd_event_source_get_enabled(m->status_timer, &enabled) < 0 || enabled != SD_EVENT_OFF)
                return;
        if (sd_event_source_set_time(m->status_timer, m->status_updated + STATUS_INTERVAL_USEC) >= 0)
                (void) sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
}

/* ---- scheduling ---------------------------------------------------------- */

static CredentialPause *find_pause(Manager *m, const char *credential) {
        for (size_t i = 0; i < m->n_pauses; i++)
                if (strcmp(m->pauses[i].name, credential) == 0)
                        return &m->pauses[i];
        return NULL;
}

static void arm_timer(Manager *m);

/* Works out c->due from its file, state and credential. */
static void schedule(Manager *m, Cluster *c) {
        int64_t now = now_realtime(m);
        const ClusterConfig *cl = c->config;

        /* A certificate fetched but not written counts as a failure: retry the write. */
        c->due = sched_next_attempt(now, c->file.state == KUBECONFIG_OK,
                                    c->file.certificate.not_before, c->file.certificate.not_after, c->state.last_success,
                                    c->pending ? MAX(c->state.failures, 1u) : c->state.failures, c->state.next_attempt,
                                    cl->renew_at_percent, cl->renew_before_sec, cl->cluster_id);

        CredentialPause *p = find_pause(m, cl->credentials);
        if (c->due != INT64_MAX && p && p->until > c->due && !c->pending)
                c->due = p->until;
        if (c->due != INT64_MAX && c->restore_at > c->due)
                c->due = c->restore_at;  /* restores that follow each other back off */

        heap_update(m, c);
}

static uint64_t random_u64(void) {
        uint64_t r;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint64_t) now_usec(CLOCK_MONOTONIC) * UINT64_C(6364136223846793005);
        return r;
}

/* ---- logging with the cluster's fields ----------------------------------- */

typedef struct LogContext {
        char not_after[32], next[32], status[16];
        const char *error_class;        /* of a failure, NULL otherwise */
} LogContext;

#define log_cluster(c, level, message_id, ctx, http_status, error_code, request_id, ...)                  \
        log_struct(level, 0, message_id,                                                                 \
                   LOG_FIELDS({ "CCE_CLUSTER", (c)->config->name },                                      \
                              { "CCE_CLUSTER_ID", (c)->config->cluster_id },                             \
                              { "KUBECONFIG_PATH", (c)->config->kubeconfig },                            \
                              { "CERT_NOT_AFTER", (ctx)->not_after },                                    \
                              { "NEXT_RENEWAL", (ctx)->next[0] ? (ctx)->next : NULL },                   \
                              { "HTTP_STATUS", http_status },                                            \
                              { "CCE_ERROR_CODE", error_code },                                          \
                              { "REQUEST_ID", request_id },                                              \
                              { "ERROR_CLASS", (ctx)->error_class }),                                    \
                   __VA_ARGS__)

static void log_context(const Cluster *c, int64_t not_after, LogContext *ctx) {
        ctx->error_class = NULL;
        format_iso8601_utc(not_after, ctx->not_after);
        if (c->due == INT64_MAX)
                ctx->next[0] = 0;  /* parked: nothing planned, no NEXT_RENEWAL */
        else
                format_iso8601_utc(c->due, ctx->next);
}

/* The expiry level of a certificate at now: 0 more than a third of its
 * lifetime left, 1 less (warning), 2 less than 10% of it or 24 hours where
 * that is at most a fifth of it (error), 3 expired (critical). */
static unsigned expiry_level(const CertDates *cert, int64_t now) {
        int64_t lifetime = cert->not_after - cert->not_before, left = cert->not_after - now;
        int64_t soon = MAX(lifetime * EXPIRING_SOON_PERCENT / 100, MIN((int64_t) EXPIRING_SOON_SEC, lifetime / 5));

        if (left <= 0)
                return 3;
        if (left < soon)
                return 2;
        if (left < lifetime / 3)
                return 1;
        return 0;
}

/* How urgent a failure is: priority rises as the certificate on disk nears
 * its end. Logs each threshold crossing once, with its own message id. */
static int failure_priority(Cluster *c, int64_t now) {
        static const struct {
                int priority;
                const char *message_id, *text;
        } levels[] = {
                { LOG_NOTICE, NULL, NULL },
                { LOG_WARNING, MESSAGE_ID_EXPIRY_WARNING, "less than a third of its lifetime is left" },
                { LOG_ERR, MESSAGE_ID_EXPIRING_SOON, "it expires soon" },
                { LOG_CRIT, MESSAGE_ID_EXPIRED, "it has expired" },
        };
        const CertDates *cert = &c->file.certificate;
        LogContext ctx;
        char when[32];

        if (c->file.state != KUBECONFIG_OK)
                return LOG_ERR;  /* no usable certificate at all */
        unsigned level = expiry_level(cert, now);
        if (level > c->expiry_level) {
                c->expiry_level = level;
                log_context(c, cert->not_after, &ctx);
                log_cluster(c, levels[level].priority, levels[level].message_id, &ctx, NULL, NULL, NULL,
                            "The certificate of %s in %s %s at %s and renewals keep failing: %s.",
                            c->config->name, c->config->kubeconfig, level == 3 ? "expired" : "expires",
                            cert_format_time(cert->not_after, when), levels[level].text);
        }
        return levels[level].priority;
}

static void save_state(Manager *m, Cluster *c) {
        char error[512];

        if (m->options.dry_run)
                return;
        if (state_save(m->state_dir, c->config->name, &c->state, error, sizeof(error)) < 0)
                log_warning("Cannot save the state of %s: %s; a restart may retry it sooner than planned.",
                            c->config->name, error);
        else if (m->watch)  /* the watch tells this write from another's */
                (void) state_version(m->state_dir, c->config->name, &c->state_version);
}

/* ---- --once bookkeeping -------------------------------------------------- */

static void once_finished(Manager *m, Cluster *c, bool failed) {
        if (!m->options.once || !c->selected || c->done)
                return;
        c->done = true;
        c->failed = failed;
        /* One attempt per cluster in a pass: no retry while others finish. */
        heap_remove(m, c);
        if (failed)
                m->exit_status = EXIT_ONCE_FAILED;
        if (--m->once_remaining == 0 && !m->hooks)
                sd_event_exit(m->event, m->exit_status);
}

/* ---- hooks ------------------------------------------------------------- */

static Cluster *find_cluster(Cluster **list, size_t n, const char *name);

static void hook_run_free(HookRun *r) {
        Manager *m = r->manager;
        if (r->prev)
                r->prev->next = r->next;
        else
                m->hooks = r->next;
        if (r->next)
                r->next->prev = r->prev;
        free(r->cluster);
        free(r->program);
        for (size_t i = 0; i < ELEMENTSOF(r->env); i++)
                free(r->env[i]);
        free(r);
}

static void on_hook_done(Hook *h, int status, void *userdata) {
        HookRun *r = userdata;
        Manager *m = r->manager;
        Cluster *c = find_cluster(m->clusters, m->n_clusters, r->cluster);
        char what[300] = "";

        if (status == -ETIME)
                snprintf(what, sizeof(what), "%s hook %s ran longer than %s and was killed", r->kind, r->program,
                         format_duration(current_config(m)->hook_timeout_sec, (char[32]) {}));
        else if (status < 0)
                snprintf(what, sizeof(what), "%s hook %s was killed by signal %d", r->kind, r->program, -status);
        else if (status > 0)
                snprintf(what, sizeof(what), "%s hook %s exited with status %d", r->kind, r->program, status);

        if (what[0])
                log_struct(LOG_WARNING, 0, MESSAGE_ID_HOOK_FAILED,
                           LOG_FIELDS({ "CCE_CLUSTER", r->cluster }, { "HOOK", r->kind }),
                           "%s: %s; the renewal itself stands.", r->cluster, what);
        if (c) {
                state_set_text(&c->state.last_hook_error, what);
                save_state(m, c);
        }
        hook_run_free(r);
        if (m->options.once && m->once_remaining == 0 && !m->hooks)
                sd_event_exit(m->event, m->exit_status);
}

/* Runs a hook in the background; a hook that cannot start is logged. */
static void run_hook(Manager *m, Cluster *c, char **argv, const char *kind, const char *result,
                     const ApiError *error, int64_t old_not_after) {
        char a[32], b[32];
        int r;

        if (!argv || m->options.dry_run)
                return;
        HookRun *run = calloc(1, sizeof(HookRun));
        if (!run)
                return;
        run->manager = m;
        run->kind = kind;
        run->cluster = strdup(c->config->name);
        run->program = strdup(argv[0]);
        const char *values[][2] = {
                { "CCE_CLUSTER", c->config->name },
                { "CCE_CLUSTER_ID", c->config->cluster_id },
                { "KUBECONFIG", c->config->kubeconfig },
                { "CERT_NOT_AFTER", c->file.state == KUBECONFIG_OK ? format_iso8601_utc(c->file.certificate.not_after, a) : "" },
                { "OLD_CERT_NOT_AFTER", format_iso8601_utc(old_not_after, b) },
                { "RESULT", result },
                { "ERROR_CLASS", error ? api_error_class_to_string(error->klass) : "" },
        };
        bool ok = run->cluster && run->program;
        for (size_t i = 0; i < ELEMENTSOF(values) && ok; i++)
                ok = asprintf(&run->env[i], "%s=%s", values[i][0], strcmp(values[i][1], "-") == 0 ? "" : values[i][1]) >= 0;
        run->next = m->hooks;
        if (run->next)
                run->next->prev = run;
        m->hooks = run;
        if (!ok) {
                hook_run_free(run);
                return;
        }
        r = hook_start(m->event, argv, run->env, current_config(m)->hook_timeout_sec * USEC_PER_SEC,
                       on_hook_done, run, &run->hook);
        if (r < 0) {
                log_struct(LOG_WARNING, r, MESSAGE_ID_HOOK_FAILED,
                           LOG_FIELDS({ "CCE_CLUSTER", c->config->name }, { "HOOK", kind }),
                           "%s: cannot start the %s hook %s: %m; the renewal itself stands.", c->config->name, kind, argv[0]);
                char message[256];
                snprintf(message, sizeof(message), "%s hook %s cannot start: %s", kind, argv[0], strerror(-r));
                state_set_text(&c->state.last_hook_error, message);
                save_state(m, c);
                hook_run_free(run);
        }
}

/* ---- outcomes ------------------------------------------------------------ */

static void pause_one_credential(Manager *m, const char *credential, int64_t until) {
        CredentialPause *p = find_pause(m, credential);

        if (!p) {
                CredentialPause *n = reallocarray(m->pauses, m->n_pauses + 1, sizeof(CredentialPause));
                if (!n)
                        return;
                m->pauses = n;
                p = &m->pauses[m->n_pauses];
                *p = (CredentialPause) { .name = strdup(credential) };
                if (!p->name)
                        return;
                m->n_pauses++;
        }
        p->failures++;
        p->until = MAX(p->until, until);
        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *o = m->clusters[i];
                if (strcmp(o->config->credentials, credential) == 0 && o->phase == PHASE_WAITING &&
                    o->due != INT64_MAX && o->due < p->until && !o->pending) {
                        o->due = p->until;
                        heap_update(m, o);
                        o->state.paused_until = p->until;  /* for --status */
                        save_state(m, o);
                }
        }
}

/* Calls f for every credential entry that authenticates as credential
 * does (iam_credential_identity()): the same access key under two names is
 * one key to the API, locked after 5 failures in a row whichever name
 * failed. */
static void for_same_identity(Manager *m, const char *credential, void (*f)(Manager *m, const char *name, int64_t until),
                              int64_t until) {
        const Config *config = current_config(m);
        char identity[IAM_IDENTITY_SIZE], other[IAM_IDENTITY_SIZE];
        const Credential *failed = NULL;

        for (size_t i = 0; i < config->n_credentials && !failed; i++)
                if (strcmp(config->credentials[i].name, credential) == 0)
                        failed = &config->credentials[i];
        if (!failed) {
                f(m, credential, until);
                return;
        }
        iam_credential_identity(failed, identity);
        for (size_t i = 0; i < config->n_credentials; i++) {
                const Credential *c = &config->credentials[i];
                if (c != failed)
                        iam_credential_identity(c, other);
                if (c == failed || strcmp(identity, other) == 0)
                        f(m, c->name, until);
        }
}

/* Every cluster of this credential waits too: many clusters share an access
 * key, and five failures in a row lock it; so do those of every other
 * credential entry with the same key (or token, IAM user, ECS instance). */
static void pause_credential(Manager *m, const char *credential, int64_t until) {
        for_same_identity(m, credential, pause_one_credential, until);
}

static void clear_one_pause(Manager *m, const char *credential, int64_t until) {
        CredentialPause *p = find_pause(m, credential);
        if (p) {
                p->until = 0;
                p->failures = 0;
        }
}

static void clear_pause(Manager *m, const char *credential) {
        bool any = false;
        for (size_t i = 0; i < m->n_pauses && !any; i++)
                any = m->pauses[i].failures > 0;
        if (any)  /* no secret file is read after each renewal: only when something is paused */
                for_same_identity(m, credential, clear_one_pause, 0);
}

static void renewal_failed(Manager *m, Cluster *c, const ApiError *e) {
        int64_t now = now_realtime(m);
        char describe[700], next[32], status[24] = "";
        LogContext ctx;

        c->state.failures++;
        c->failures_total[e->klass]++;
        c->state.last_error_class = e->klass;
        c->state.last_http_status = e->http_status;
        snprintf(c->state.last_error_code, sizeof(c->state.last_error_code), "%s", e->code);
        state_set_text(&c->state.last_error, e->message);
        c->state.next_attempt = sched_retry_time(now_realtime_ceil(m), c->state.failures, e,
                                                 c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0,
                                                 random_u64());
        c->state.fingerprint = c->fingerprint;
        save_state(m, c);

        schedule(m, c);
        if (e->klass == API_ERROR_AUTHENTICATION)
                pause_credential(m, c->config->credentials, c->state.next_attempt);

        int priority = failure_priority(c, now);
        api_error_describe(e, describe, sizeof(describe));
        if (e->http_status > 0)
                snprintf(status, sizeof(status), "%ld", e->http_status);
        log_context(c, c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0, &ctx);
        ctx.error_class = api_error_class_to_string(e->klass);
        const char *http = status[0] ? status : NULL, *code = e->code[0] ? e->code : NULL;
        const char *rid = e->request_id[0] ? e->request_id : NULL;
        if (c->due == INT64_MAX)
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed: %s; parked until the configuration changes (reload after fixing it).",
                            c->config->name, describe);
        else if (e->klass == API_ERROR_AUTHENTICATION)
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed: %s; every cluster using credentials '%s' waits until %s "
                            "(an access key locks after 5 failed requests in a row).",
                            c->config->name, describe, c->config->credentials, format_iso8601_utc(c->due, next));
        else
                log_cluster(c, priority, MESSAGE_ID_RENEWAL_FAILED, &ctx, http, code, rid,
                            "Renewal of %s failed: %s; will retry at %s.", c->config->name, describe, format_iso8601_utc(c->due, next));
        run_hook(m, c, c->config->on_failure, "on-failure", "failed", e,
                 c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0);
        status_changed(m);
        once_finished(m, c, true);
}

/* --dry-run: what would be written, and nothing written. */
static void describe_pending(Manager *m, Cluster *c) {
        _cleanup_free_wiped_ char *old = NULL, *new = NULL;
        size_t old_size = 0, new_size = 0;
        char error[768];
        int r;

        r = atomic_file_read(c->config->kubeconfig, KUBECONFIG_FILE_MAX, &old, &old_size, error, sizeof(error));
        if (r < 0 && r != -ENOENT)
                log_warning("%s: cannot read %s: %s; showing the file as if it were new.", c->config->name,
                            c->config->kubeconfig, r == -SAFE_PATH_REFUSED ? error : strerror(-r));
        r = kubeconfig_render(c->config, c->pending, old, old_size, &new, &new_size, NULL, error, sizeof(error));
        if (r < 0) {
                log_error("%s: the file would not be written: %s", c->config->name, error);
                m->exit_status = EXIT_ONCE_FAILED;
        } else {
                char when[32];
                printf("== %s: a certificate valid until %s was fetched and checked; dry run, nothing written\n",
                       c->config->name, format_iso8601_utc(c->pending_cert.not_after, when));
                if (old && old_size == new_size && memcmp(old, new, new_size) == 0)
                        printf("%s would not change\n", c->config->kubeconfig);
                else if (kubeconfig_describe(c->config, old, old_size, new, new_size, stdout) < 0)
                        m->exit_status = EXIT_ONCE_FAILED;
                fflush(stdout);
        }
        c->pending = cce_kubeconfig_free(c->pending);
        once_finished(m, c, r < 0);
}

/* A write that failed (or could not be made): counted, in the state with
 * message (for --status, and no longer "renewing"), retried at next_attempt,
 * or with backoff (0; not_after: of the certificate at stake, 0 none). */
static void write_failed(Manager *m, Cluster *c, int64_t next_attempt, int64_t not_after, const char *message) {
        ApiError e = { .klass = API_ERROR_TRANSIENT };

        c->write_failures++;
        c->state.next_attempt = next_attempt ?:
                sched_retry_time(now_realtime_ceil(m), c->write_failures, &e, not_after, random_u64());
        c->state.failures = MAX(c->state.failures, 1u);
        c->state.last_error_class = API_ERROR_TRANSIENT;
        state_set_text(&c->state.last_error, message);
        save_state(m, c);
        schedule(m, c);
}

/* What writing the fetched certificate came to (r as kubeconfig_update()
 * returns): on failure the certificate is kept and the write tried again
 * later, without asking the API for another one. */
static void write_done(Manager *m, Cluster *c, int r, const char *error, bool insecure) {
        int64_t now = now_realtime(m);
        char when[32];
        LogContext ctx;

        directory_sync_soon(m);

        if (r < 0) {
                char message[256];
                snprintf(message, sizeof(message), "writing the kubeconfig failed: %.200s", error);
                write_failed(m, c, r == -EAGAIN ? now_realtime_ceil(m) + LOCKED_RETRY_SEC : 0, c->pending_cert.not_after,
                             message);
                log_context(c, c->pending_cert.not_after, &ctx);
                ctx.error_class = "write";
                log_cluster(c, r == -EAGAIN ? LOG_NOTICE : LOG_ERR, MESSAGE_ID_WRITE_FAILED, &ctx, NULL, NULL, NULL,
                            "Cannot write the renewed certificate of %s: %s; the file is unchanged; "
                            "will write it again at %s without asking for another certificate.",
                            c->config->name, error, format_iso8601_utc(c->due, when));
                status_changed(m);
                if (r != -EAGAIN || c->write_failures > 5)
                        once_finished(m, c, true);
                return;
        }

        int64_t old_not_after = c->file.state == KUBECONFIG_OK ? c->file.certificate.not_after : 0;
        c->restoring_damaged = false;
        char *hook_error = TAKE_PTR(c->state.last_hook_error);
        int64_t last_attempt = c->state.last_attempt;
        cluster_state_done(&c->state);
        c->file = (FileStatus) { .state = KUBECONFIG_OK, .certificate = c->pending_cert };
        c->state = (ClusterState) {
                .fingerprint = c->fingerprint,
                .last_attempt = last_attempt,
                .last_success = now,
                .not_before = c->pending_cert.not_before,
                .not_after = c->pending_cert.not_after,
        };
        snprintf(c->state.cluster_id, sizeof(c->state.cluster_id), "%s", c->config->cluster_id);
        c->state.last_hook_error = hook_error;
        kubeconfig_identity(c->config->kubeconfig, c->state.kubeconfig_identity, sizeof(c->state.kubeconfig_identity));
        file_watch_written(m->watch, c->config->kubeconfig);
        c->pending = cce_kubeconfig_free(c->pending);
        c->renewals_total++;
        c->write_failures = 0;
        c->expiry_level = 0;
        clear_pause(m, c->config->credentials);
        save_state(m, c);
        schedule(m, c);

        log_context(c, c->pending_cert.not_after, &ctx);
        log_cluster(c, LOG_INFO, MESSAGE_ID_RENEWED, &ctx, NULL, NULL,
                    c->pending_request_id && c->pending_request_id[0] ? c->pending_request_id : NULL,
                    "Renewed %s: %s %s, certificate valid until %s, next renewal at %s.",
                    c->config->name, c->config->kubeconfig, r > 0 ? "written" : "unchanged",
                    ctx.not_after, ctx.next);
        if (insecure && !c->warned_insecure) {
                c->warned_insecure = true;
                log_cluster(c, LOG_WARNING, NULL, &ctx, NULL, NULL, NULL,
                            "%s: the %s endpoint of %s skips TLS verification of the API server; "
                            "set tls-server-name to verify it against the cluster CA.",
                            c->config->kubeconfig, endpoint_choice_to_string(c->config->endpoint), c->config->name);
        }
        free(c->pending_request_id);
        c->pending_request_id = NULL;
        run_hook(m, c, c->config->on_renew, "on-renew", "renewed", NULL, old_not_after);
        status_changed(m);
        once_finished(m, c, false);
}

static int compare_by_kubeconfig(const void *a, const void *b) {
        return strcmp((*(Cluster *const *) a)->config->kubeconfig, (*(Cluster *const *) b)->config->kubeconfig);
}

/* Writes what the queue holds: clusters that share a file (merge: true)
 * go into it together, with one lock, one read and one durable write. */
static void write_queued(Manager *m) {
        Cluster **queue = m->write_queue;
        size_t n = m->n_write_queue;

        m->n_write_queue = 0;
        if (n == 0)
                return;
        uint64_t start_usec = now_usec(CLOCK_MONOTONIC);
        for (size_t i = 0; i < n; i++)
                queue[i]->queued = false;
        qsort(queue, n, sizeof(Cluster *), compare_by_kubeconfig);
        for (size_t start = 0, end; start < n; start = end) {
                bool sweep = false;
                for (end = start; end < n && compare_by_kubeconfig(&queue[start], &queue[end]) == 0; end++)
                        sweep = sweep || queue[end]->sweeps_directory;
                _cleanup_free_ KubeconfigWrite *w = calloc(end - start, sizeof(KubeconfigWrite));
                if (!w) {
                        for (size_t i = start; i < end; i++)
                                write_done(m, queue[i], -ENOMEM, "out of memory", false);
                        continue;
                }
                for (size_t i = start; i < end; i++) {
                        w[i - start] = (KubeconfigWrite) { .cl = queue[i]->config, .answer = queue[i]->pending };
                        queue[i]->sweeps_directory = false;
                }
                SharedFile *shared = queue[start]->shared;
                char read_as[sizeof(shared->identity)];
                int r = kubeconfig_update_many(w, end - start, sweep, read_as, sizeof(read_as));
                /* The daemon still knows the whole file when it was the
                 * version last seen: it is now the one just written. */
                if (shared && r >= 0 && strcmp(read_as, shared->identity) == 0)
                        kubeconfig_identity(shared->path, shared->identity, sizeof(shared->identity));
                for (size_t i = start; i < end; i++)
                        write_done(m, queue[i], w[i - start].result, w[i - start].error, w[i - start].insecure);
        }
        uint64_t end_usec = now_usec(CLOCK_MONOTONIC);
        m->write_not_before = end_usec + MIN(3 * (end_usec - start_usec), (uint64_t) WRITE_PACE_MAX_USEC);
}

static void dispatch(Manager *m);

static int on_write_queue(sd_event_source *s, uint64_t usec, void *userdata) {
        write_queued(userdata);
        dispatch(userdata);  /* the timer, for what the writes scheduled */
        return 0;
}

/* Writes a fetched certificate (a dry run shows it instead). One for a
 * file of its own is written at once. One for a file shared with other
 * clusters (merge: true) waits, so that answers still coming in for that
 * file join it in one write: for the event loop to have nothing else to do,
 * and for three times as long as the last write of queued certificates
 * took (at most WRITE_PACE_MAX_USEC). Writing a large shared file then
 * takes at most a quarter of the time however few requests are in flight
 * (writes hold up the event loop), and each write takes in more
 * certificates the longer writes take. */
static void write_pending(Manager *m, Cluster *c) {
        if (m->options.dry_run) {
                describe_pending(m, c);
                return;
        }
        if (!c->config->merge) {
                KubeconfigWrite w = { .cl = c->config, .answer = c->pending, .replace_damaged = c->restoring_damaged };
                bool sweep = c->sweeps_directory;
                c->sweeps_directory = false;
                kubeconfig_update_many(&w, 1, sweep, NULL, 0);
                write_done(m, c, w.result, w.error, w.insecure);
                return;
        }
        if (c->queued)
                return;
        c->queued = true;
        m->write_queue[m->n_write_queue++] = c;
        if (m->n_write_queue >= WRITE_QUEUE_MAX) {
                write_queued(m);
                return;
        }
        if (m->n_write_queue == 1 &&
            (sd_event_source_set_time(m->write_event, MAX(now_usec(CLOCK_MONOTONIC), m->write_not_before)) < 0 ||
             sd_event_source_set_enabled(m->write_event, SD_EVENT_ONESHOT) < 0)) {
                log_error("Cannot arm the write of %s; writing it now.", c->config->kubeconfig);
                write_queued(m);
        }
}

static void write_queue_remove(Manager *m, Cluster *c) {
        if (!c->queued)
                return;
        for (size_t i = 0; i < m->n_write_queue; i++)
                if (m->write_queue[i] == c) {
                        m->write_queue[i] = m->write_queue[--m->n_write_queue];
                        break;
                }
        c->queued = false;
}

/* Configurations replaced by a reload go once no call borrows them. */
static void free_retired_configs(Manager *m) {
        for (ConfigRef **p = &m->configs->next; *p;) {
                ConfigRef *r = *p;
                if (r->users == 0) {
                        *p = r->next;
                        config_free(r->config);
                        free(r);
                } else
                        p = &r->next;
        }
}

static void release_call(Manager *m, Cluster *c) {
        c->call = NULL;
        c->phase = PHASE_WAITING;
        m->in_flight--;
        m->in_flight_changed = true;
        if (c->call_ref) {
                c->call_ref->users--;
                c->call_ref = NULL;
        }
        free_retired_configs(m);
}

static void on_call_done(CceCall *call, CceResult *result, void *userdata) {
        Cluster *c = userdata;
        Manager *m = c->manager;

        release_call(m, c);
        if (result->error.klass != API_ERROR_NONE)
                renewal_failed(m, c, &result->error);
        else {
                c->pending = TAKE_PTR(result->kubeconfig);
                c->pending_cert = (CertDates) { result->certificate.not_before, result->certificate.not_after };
                free(c->pending_request_id);
                c->pending_request_id = strdup(result->request_id);  /* for the log: NULL is no harm */
                write_pending(m, c);
        }
        dispatch(m);
}

/* Whether a kubeconfig in state s cannot take c's entries: its path
 * refused, a directory there or none above it, entries of its names that
 * are not ours, or a merged file that does not parse (its other entries
 * would be lost). */
static bool cannot_write(const Cluster *c, KubeconfigState s) {
        return kubeconfig_state_blocks_writing(s) || (s == KUBECONFIG_UNREADABLE && c->config->merge);
}

/* A kubeconfig that cannot take the cluster's entries (cannot_write()):
 * reported as a write failure, retried with backoff, and no certificate is
 * asked for meanwhile. */
static void report_blocked(Manager *m, Cluster *c, const KubeconfigStatus *file) {
        LogContext ctx;
        char when[32], message[480];

        const char *kept = file->state == KUBECONFIG_UNREADABLE ?
                "; the file is left as it is (the entries of others in it cannot be read)" : "";

        c->file = (FileStatus) { .state = file->state };
        snprintf(message, sizeof(message), "writing the kubeconfig failed: %.300s%s", file->reason, kept);
        write_failed(m, c, 0, 0, message);
        log_context(c, 0, &ctx);
        ctx.error_class = "write";
        log_cluster(c, LOG_ERR, MESSAGE_ID_WRITE_FAILED, &ctx, NULL, NULL, NULL,
                    "%s: %s%s; no certificate is asked for until that is fixed; will look again at %s.",
                    c->config->name, file->reason, kept, format_iso8601_utc(c->due, when));
        status_changed(m);
        once_finished(m, c, true);
}

static void kubeconfig_changed(Manager *m, Cluster *c, const KubeconfigStatus *file, const char *identity);

/* A kubeconfig that was blocked, looked at again when it is due: still so,
 * reported again; fixed, taken as it is now and scheduled from that
 * (kubeconfig_changed(): a certificate there adopted, or a restore, maybe
 * due at once, then started as any due renewal). Returns true when it was
 * blocked: this start is off. */
static bool path_still_blocked(Manager *m, Cluster *c) {
        char identity[sizeof(c->state.kubeconfig_identity)];
        KubeconfigStatus file;

        kubeconfig_identity(c->config->kubeconfig, identity, sizeof(identity));
        kubeconfig_inspect(c->config, &file);
        if (cannot_write(c, file.state)) {
                report_blocked(m, c, &file);
                return true;
        }
        kubeconfig_changed(m, c, &file, identity);
        return true;
}

/* Adopts the certificate that file holds for c (read just now) when it is
 * another valid one than the daemon knows (newer: a --once beside it, a
 * copy from another host; older: a copy put back) and not due: state and
 * schedule from it, no call. identity: of the file read, for an own file's
 * state. Returns whether it was adopted. */
static bool adopt_certificate(Manager *m, Cluster *c, const KubeconfigStatus *file, const char *identity) {
        char when[32];
        LogContext ctx;

        if (file->state != KUBECONFIG_OK ||
            (c->file.state == KUBECONFIG_OK && file->certificate.not_after == c->file.certificate.not_after &&
             file->certificate.not_before == c->file.certificate.not_before))
                return false;
        int64_t now = now_realtime(m);
        int64_t due = sched_next_attempt(now, true, file->certificate.not_before, file->certificate.not_after,
                                         c->state.last_success, 0, 0, c->config->renew_at_percent,
                                         c->config->renew_before_sec, c->config->cluster_id);
        if (due <= now)
                return false;
        bool newer = c->file.state != KUBECONFIG_OK || file->certificate.not_after > c->file.certificate.not_after;
        c->file = (FileStatus) {
                .state = KUBECONFIG_OK,
                .certificate = { file->certificate.not_before, file->certificate.not_after },
        };
        c->state.failures = 0;
        c->state.next_attempt = 0;
        c->state.last_error_class = API_ERROR_NONE;
        state_set_text(&c->state.last_error, NULL);
        c->state.not_before = file->certificate.not_before;
        c->state.not_after = file->certificate.not_after;
        snprintf(c->state.kubeconfig_identity, sizeof(c->state.kubeconfig_identity), "%s", identity);
        c->expiry_level = 0;
        schedule(m, c);
        save_state(m, c);
        log_context(c, file->certificate.not_after, &ctx);
        log_cluster(c, LOG_INFO, MESSAGE_ID_ADOPTED, &ctx, NULL, NULL, NULL,
                    "%s: %s holds %s certificate, valid until %s, written by someone else (%s): "
                    "adopted, no new one asked for; next renewal at %s.", c->config->name, c->config->kubeconfig,
                    newer ? "a newer" : "an older", ctx.not_after, newer ? "a --once?" : "a copy put back?",
                    format_iso8601_utc(c->due, when));
        status_changed(m);
        once_finished(m, c, false);
        return true;
}

/* A shared file changed by someone else: every cluster of it that waits is
 * looked at again (one read and parse for all), and adopts what is newer. */
static void shared_file_changed(Manager *m, SharedFile *shared, const char *identity) {
        _cleanup_(kubeconfig_reading_freep) KubeconfigReading *reading = NULL;

        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *d = m->clusters[i];
                KubeconfigStatus file;
                if (d->shared != shared || d->phase != PHASE_WAITING || d->pending || d->queued)
                        continue;
                kubeconfig_inspect_shared(d->config, &reading, &file);
                (void) adopt_certificate(m, d, &file, identity);
        }
        snprintf(shared->identity, sizeof(shared->identity), "%s", identity);
}

/* Before a certificate is asked for: is the file still the version the
 * daemon last wrote or read? Another writer (a --once beside the daemon, a
 * copy from another host) may have put another certificate of this cluster
 * there: it is adopted and the cluster rescheduled from it, no call. Not
 * with --once --force, which asks for a certificate whatever the file
 * holds. Returns true when the renewal is off. */
static bool file_certificate_adopted(Manager *m, Cluster *c) {
        char identity[sizeof(c->state.kubeconfig_identity)];
        KubeconfigStatus file;

        if (m->options.force)
                return false;
        kubeconfig_identity(c->config->kubeconfig, identity, sizeof(identity));
        if (!identity[0])
                return false;  /* gone: renewing restores it */
        if (c->shared) {
                if (strcmp(identity, c->shared->identity) == 0)
                        return false;
                if (!m->options.once) {
                        shared_file_changed(m, c->shared, identity);  /* c with the others */
                        return c->due > now_realtime(m);
                }
                snprintf(c->shared->identity, sizeof(c->shared->identity), "%s", identity);
        } else if (strcmp(identity, c->state.kubeconfig_identity) == 0)
                return false;
        kubeconfig_inspect(c->config, &file);
        return adopt_certificate(m, c, &file, identity);
}

/* ---- files changed by others (file-watch.h) ---------------------------------- */

/* c's kubeconfig changed, and no write of ours is under way: file is what it
 * holds now (read just now), identity its version. A certificate of the
 * cluster is adopted; entries gone or damaged are restored by a renewal
 * (there is no copy of the key to write back), at once the first time,
 * later with backoff when restores follow each other; a path that can no
 * longer hold the file is reported, not fought over. */
static void kubeconfig_changed(Manager *m, Cluster *c, const KubeconfigStatus *file, const char *identity) {
        int64_t now = now_realtime(m);
        char when[32], plan[160];
        LogContext ctx;

        if (!c->shared)  /* seen: the check before the renewal need not read it again */
                snprintf(c->state.kubeconfig_identity, sizeof(c->state.kubeconfig_identity), "%s", identity);
        if (cannot_write(c, c->file.state) && !cannot_write(c, file->state)) {
                /* Fixed: the backoff was the path's (no call was made), not the API's. */
                c->state.failures = 0;
                c->state.next_attempt = 0;
                c->write_failures = 0;
        }
        if (cannot_write(c, file->state)) {
                c->file_changes_total[FILE_CHANGE_UNWRITABLE]++;
                report_blocked(m, c, file);
                return;
        }
        if (file->state == KUBECONFIG_OK && file->certificate.not_after > now) {
                if (c->file.state == KUBECONFIG_OK && file->certificate.not_after == c->file.certificate.not_after &&
                    file->certificate.not_before == c->file.certificate.not_before)
                        return;  /* the same certificate: something else in the file changed */
                c->file_changes_total[FILE_CHANGE_ADOPTED]++;
                if (!adopt_certificate(m, c, file, identity)) {
                        /* Due already: renewed now. */
                        c->file = (FileStatus) {
                                .state = KUBECONFIG_OK,
                                .certificate = { file->certificate.not_before, file->certificate.not_after },
                        };
                        schedule(m, c);
                        status_changed(m);
                }
                return;
        }

        FileChange change = file->state == KUBECONFIG_MISSING ? FILE_CHANGE_MISSING : FILE_CHANGE_DAMAGED;
        c->file_changes_total[change]++;
        if (file->state == KUBECONFIG_UNREADABLE && c->file.state == KUBECONFIG_OK)
                c->restoring_damaged = true;  /* an own file (cannot_write() took merged ones) */
        bool planned = c->file.state != KUBECONFIG_OK && c->restore_at > now;
        c->file = (FileStatus) {
                .state = file->state,
                .certificate = { file->certificate.not_before, file->certificate.not_after },
        };
        if (!planned) {
                c->restore_at = sched_restore_time(now, c->restore_at, &c->restores);
        }
        schedule(m, c);
        status_changed(m);
        if (c->due == INT64_MAX)
                snprintf(plan, sizeof(plan), "not restored: the cluster is parked until the configuration changes");
        else if (c->due <= now)
                snprintf(plan, sizeof(plan), "restoring it now with a new certificate");
        else
                snprintf(plan, sizeof(plan), "restoring it with a new certificate at %s (%s)",
                         format_iso8601_utc(c->due, when),
                         c->state.failures > 0 ? "backing off after a failure" :
                         c->due == c->restore_at ? "restores of this file that follow each other back off" :
                         "its credentials are paused");
        log_context(c, 0, &ctx);
        log_struct(LOG_WARNING, 0, MESSAGE_ID_KUBECONFIG_CHANGED,
                   LOG_FIELDS({ "CCE_CLUSTER", c->config->name }, { "CCE_CLUSTER_ID", c->config->cluster_id },
                              { "KUBECONFIG_PATH", c->config->kubeconfig }, { "KUBECONFIG_CHANGE", file_change_to_string(change) },
                              { "NEXT_RENEWAL", ctx.next[0] ? ctx.next : NULL }),
                   "%s: %s, changed by someone else; %s.", c->config->name, file->reason, plan);
}

/* Someone may have changed the kubeconfig at path (the watch says so). */
static void on_kubeconfig_changed(const char *path, void *userdata) {
        _cleanup_(kubeconfig_reading_freep) KubeconfigReading *reading = NULL;
        Manager *m = userdata;
        char identity[sizeof(m->shared_files->identity)];
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
        kubeconfig_identity(path, identity, sizeof(identity));
        SharedFile *shared = m->by_kubeconfig[lo]->shared;
        for (size_t i = lo; i < m->n_clusters && strcmp(m->by_kubeconfig[i]->config->kubeconfig, path) == 0; i++) {
                Cluster *c = m->by_kubeconfig[i];
                KubeconfigStatus file;
                /* The version the daemon wrote or read last (our own write),
                 * as the daemon knows it: nothing to do. Not when the path
                 * was blocked: the same file may be back (its directory
                 * moved away and back). No file, before and now: what is
                 * around it changed (a directory in its place removed). */
                if (identity[0] && strcmp(identity, shared ? shared->identity : c->state.kubeconfig_identity) == 0 &&
                    !cannot_write(c, c->file.state))
                        continue;
                if (c->phase != PHASE_WAITING || c->pending || c->queued)
                        continue;  /* a write of ours comes, and takes the file as it is then */
                kubeconfig_inspect_shared(c->config, &reading, &file);
                kubeconfig_changed(m, c, &file, identity);
        }
        if (shared)
                snprintf(shared->identity, sizeof(shared->identity), "%s", identity);
        dispatch(m);
}

/* A cluster's state file written by another cce-certd (a --once beside the
 * daemon): the daemon takes what it says, so that its STATUS=, metrics and
 * --status agree; the certificate it names when the file is that version. */
static void state_file_changed(Manager *m, Cluster *c) {
        char identity[sizeof(c->state.kubeconfig_identity)];
        StateVersion version;
        ClusterState s;

        if (c->phase != PHASE_WAITING || c->pending || c->queued ||
            state_version(m->state_dir, c->config->name, &version) < 0 ||
            state_version_equal(&version, &c->state_version))
                return;  /* busy (our write comes), gone, or our own write */
        c->state_version = version;
        if (state_load(m->state_dir, c->config->name, &s) < 0)
                return;
        if (s.fingerprint != c->fingerprint || strcmp(s.cluster_id, c->config->cluster_id) != 0) {
                cluster_state_done(&s);  /* written under other settings */
                return;
        }
        cluster_state_done(&c->state);
        c->state = s;
        kubeconfig_identity(c->config->kubeconfig, identity, sizeof(identity));
        if (s.not_after > 0 && strcmp(identity, s.kubeconfig_identity) == 0)
                c->file = (FileStatus) { .state = KUBECONFIG_OK, .certificate = { s.not_before, s.not_after } };
        schedule(m, c);
        status_changed(m);
        log_info("%s: took the state that another cce-certd wrote (a --once?): %s%s.", c->config->name,
                 s.failures > 0 ? "its last attempt failed: " : "its last renewal worked",
                 s.failures > 0 && s.last_error ? s.last_error : "");
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

static void start_renewal(Manager *m, Cluster *c) {
        ApiError e = {};
        int r;

        c->state.last_attempt = now_realtime(m);
        if (c->pending) {
                write_pending(m, c);
                return;
        }
        if (cannot_write(c, c->file.state) && path_still_blocked(m, c))
                return;
        if (file_certificate_adopted(m, c))
                return;
        heap_remove(m, c);  /* a call in flight is never due as well, whatever the checks above scheduled */
        r = cce_call_start(m->client, c->config, on_call_done, c, &c->call, &e);
        if (r < 0) {
                if (e.klass == API_ERROR_NONE)
                        api_error_set(&e, API_ERROR_TRANSIENT, "cannot start the request: %s", strerror(-r));
                renewal_failed(m, c, &e);
                return;
        }
        c->phase = PHASE_CALLING;
        c->call_ref = m->configs;
        c->call_ref->users++;
        m->in_flight++;
        m->in_flight_changed = true;  /* written with the status, for --status */
        status_changed(m);
}

/* Starts what is due, within the cap on renewals in flight. */
static void dispatch(Manager *m) {
        int64_t now = now_realtime(m);
        unsigned cap = m->max_in_flight;

        m->clock_realtime = now_usec(CLOCK_REALTIME);  /* the clocks as they go, to tell a step from them */
        m->clock_boottime = now_usec(CLOCK_BOOTTIME);

        while (m->n_heap > 0 && m->heap[0]->due <= now && m->in_flight < cap) {
                Cluster *c = m->heap[0];
                heap_remove(m, c);
                start_renewal(m, c);
        }
        arm_timer(m);
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

/* One wall-clock timer for the earliest deadline: idle means asleep. Past
 * deadlines held back by the cap wait for a call to end instead. */
static void arm_timer(Manager *m) {
        if (m->n_heap == 0 || (m->heap[0]->due <= now_realtime(m) &&
                               m->in_flight >= m->max_in_flight)) {
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
                return;
        }
        uint64_t when = (uint64_t) MAX(m->heap[0]->due, (int64_t) 0) * USEC_PER_SEC;
        if (sd_event_source_set_time(m->timer, when) < 0 ||
            sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT) < 0)
                log_error("Cannot arm the renewal timer.");
}

/* ---- clusters ------------------------------------------------------------ */

static Cluster *cluster_free(Cluster *c) {
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
        cluster_state_done(&c->state);
        free(c);
        return NULL;
}

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
                /* The settings changed: what was parked or backing off may work now. */
                c->state.failures = 0;
                c->state.next_attempt = 0;
                c->state.last_error_class = API_ERROR_NONE;
                state_set_text(&c->state.last_error, NULL);
        }
        snprintf(c->state.cluster_id, sizeof(c->state.cluster_id), "%s", cl->cluster_id);
        c->state.fingerprint = c->fingerprint;

        /* The file as we last wrote it, for these settings: its dates are in
         * the state, no need to read and parse it (with thousands of
         * clusters, that is most of the time to READY=1). */
        char identity[sizeof(c->state.kubeconfig_identity)];
        if (state_current && c->state.kubeconfig_identity[0] && c->state.not_after > 0 &&
            (kubeconfig_identity(cl->kubeconfig, identity, sizeof(identity)),
             strcmp(identity, c->state.kubeconfig_identity) == 0))
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
                if (file.state != KUBECONFIG_OK && !cannot_write(c, file.state))  /* those: at their renewal */
                        log_info("%s: %s; renewing %s.", cl->name, file.reason,
                                 c->state.failures > 0 ? "when its backoff ends" : "now");
        }
        *ret = c;
        return 0;
}

static int cluster_compare(const void *a, const void *b) {
        return strcmp((*(Cluster *const *) a)->config->name, (*(Cluster *const *) b)->config->name);
}

static Cluster *find_cluster(Cluster **list, size_t n, const char *name) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(list[mid]->config->name, name);
                if (c == 0)
                        return list[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* ---- configuration ------------------------------------------------------- */

static void apply_limits(Manager *m) {
        HttpLimits limits = http_limits_default;
        Config *c = current_config(m);
        limits.total_timeout_ms = c->request_timeout_sec * 1000;
        limits.connect_timeout_ms = MIN(limits.connect_timeout_ms, limits.total_timeout_ms);
        limits.low_speed_time_sec = MIN(limits.low_speed_time_sec, c->request_timeout_sec);
        http_client_set_limits(m->http, &limits);
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
                        kubeconfig_identity(f->path, f->identity, sizeof(f->identity));
                }
                if (c->kept && c->shared)  /* same settings: the same file */
                        snprintf(f->identity, sizeof(f->identity), "%s", c->shared->identity);
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
static int adopt_config(Manager *m, Config *config) {
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

        /* Calls of clusters whose settings or credentials change are
         * cancelled in adopt_config(); those of unchanged ones go on and
         * borrow the old configuration until they end. */
        ConfigRef *ref = calloc(1, sizeof(ConfigRef));
        if (!ref) {
                log_error("Reloading failed: out of memory; the previous configuration stays in force.");
                sd_notify(false, "READY=1");
                return;
        }
        ref->config = TAKE_PTR(config);
        ref->next = m->configs;
        m->configs = ref;

        /* Certificates fetched under the previous configuration are written
         * under it, before clusters are replaced or go away. */
        write_queued(m);

        /* The client compares the new credentials with the previous
         * configuration's: it must outlive the calls adopt_config() ends. */
        ConfigRef *previous = ref->next;
        previous->users++;
        r = adopt_config(m, ref->config);
        if (r >= 0)
                r = cce_client_set_config(m->client, ref->config);
        previous->users--;
        if (r < 0) {
                log_error_errno(r, "Reloading failed halfway: %m; stopping so that systemd restarts the daemon.");
                sd_event_exit(m->event, EX_SOFTWARE);
                return;
        }
        apply_limits(m);
        free_retired_configs(m);
        log_struct(LOG_INFO, 0, MESSAGE_ID_RELOADED, LOG_FIELDS({ "CONFIG_FILE", m->options.config_path }),
                   "Reloaded %s: %zu clusters.", m->options.config_path, m->n_clusters);
        dispatch(m);
        sd_notify(false, "READY=1");
        update_status(m);
}

/* ---- signals --------------------------------------------------------------- */

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

/* ---- life cycle ------------------------------------------------------------ */

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

/* --once: the metrics file, when one is configured and no daemon runs with
 * this state directory (its in-flight.json names a live pid), which keeps
 * it current itself. */
static void once_write_metrics(Manager *m) {
        char **names = NULL;
        size_t n;

        if (m->options.dry_run || state_load_in_flight(m->state_dir, &names, &n) >= 0) {
                state_in_flight_free(names);
                return;
        }
        write_metrics(m, now_realtime(m));
}

int manager_run(Manager *m) {
        int r;

        if (m->options.once) {
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
        }

        /* The first renewals start from the loop, after READY=1 is out. */
        r = sd_event_add_defer(m->event, NULL, on_start, m);
        if (r < 0)
                return EX_SOFTWARE;
        r = sd_event_loop(m->event);
        (void) atomic_file_sync_directories();  /* what was written last, before the exit */
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
