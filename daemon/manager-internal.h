/* SPDX-License-Identifier: MIT */
#pragma once

/* What the parts of the daemon's manager share (the files that manager.c
 * wires together): the Manager and Cluster records, the log fields of a
 * cluster, and each part's functions. Not for use outside them: the rest of
 * the program sees manager.h. The parts, lowest first (each calls only
 * those before it): cluster.c, deadline-queue.c, publish.c,
 * renewal-hooks.c, kubeconfig-writer.c, file-changes.c, renewal.c,
 * cluster-set.c. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "api-error.h"
#include "cce-client.h"
#include "clock-change.h"
#include "config.h"
#include "file-watch.h"
#include "hook.h"
#include "http.h"
#include "kubeconfig.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "metrics.h"
#include "state.h"

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
        FileIdentity identity;          /* unknown: none */
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
        CceCall *call;
        ConfigRef *call_ref;
        CceKubeconfig *pending;         /* fetched, not yet written */
        CertDates pending_cert;
        char *pending_request_id;       /* of the answer, while pending */
        char *pending_serial;           /* --revoke: the new certificate's, for the report */
        SharedFile *shared;             /* its kubeconfig, when shared (merge: true) */
        int64_t restore_at;             /* when the last restore was planned for: not before then (sched_restore_time()) */
        StateVersion state_version;     /* of its state file as the daemon last wrote or read it */
        ClusterPhase phase;
        unsigned write_failures;
        unsigned expiry_level;          /* 0, 1 expiring soon, 2 expired: logged once each */
        unsigned restores;              /* restores of its file that followed each other */
        /* Since start, for the metrics: 32 bits each (ten thousand clusters;
         * a counter that wraps is read by Prometheus as a restart). */
        uint32_t renewals_total;
        uint32_t revocations_total, revocation_failures_total;
        uint32_t failures_total[_API_ERROR_CLASS_MAX];
        uint32_t file_changes_total[_FILE_CHANGE_MAX];
        bool warned_insecure : 1;
        bool sweeps_directory : 1;      /* its next write removes killed writers' leftovers there */
        bool queued : 1;                /* in the write queue */
        bool kept : 1;                  /* adopt_config(): carried into the new list */
        bool revoke_failed : 1;         /* --revoke: its revocation failed */
        bool restoring_damaged : 1;     /* its own file, ours until it stopped parsing: replaced by the next write */
        bool selected : 1, done : 1, failed : 1;   /* --once */
        bool unavailable : 1;           /* discovered, and CCE says it is not Available: not renewed */
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

/* A cluster that a discover entry's listing holds (discovery.c). */
typedef struct DiscoverySource DiscoverySource;
typedef struct DiscoveredCluster {
        DiscoverySource *source;
        char *id, *name, *phase;        /* CCE's uid, name and status.phase */
        unsigned absent;                /* successful listings in a row without it */
        bool listed;                    /* in the listing being read */
        CceCall *show;                  /* ShowCluster in flight, asking whether it is gone */
        /* Renamed in CCE: its settings under the earliest name not yet
         * replaced, until it is written under the new one. */
        ClusterConfig *retire;
} DiscoveredCluster;

/* A cluster CCE confirmed deleted, until the list no longer holds it. */
typedef struct GoneCluster {
        ClusterConfig *config;          /* its settings then (for its file), or NULL when none was in force */
        char *name, *id, *project_id;
} GoneCluster;

/* One discover entry at work: its clusters, its listing and when it comes. */
struct DiscoverySource {
        Manager *manager;
        size_t index;                   /* of its entry in the file's configuration */
        ClusterConfig as_cluster;       /* the entry's settings, named for the client and the log */
        DiscoveredCluster **found;
        size_t n_found;
        CceCall *call;                  /* ListClusters in flight */
        sd_event_source *timer;         /* the next listing */
        unsigned failures;              /* listings that failed in a row */
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
        size_t once_listings;           /* --once: listings of discover entries not answered yet */
        HookRun *hooks;
        int exit_status;
        Config *file_config;            /* with discover entries: the file as loaded (the one in force adds what they found) */
        DiscoverySource **sources;
        size_t n_sources;
        sd_event_source *discovery_apply;       /* puts what listings changed in force, at most once a second */
        uint64_t discovery_applied;             /* when it last did (CLOCK_BOOTTIME) */
        GoneCluster *gone;
        size_t n_gone;
        size_t n_renames;                       /* found clusters with a retire */
};

typedef struct LogContext {
        char not_after[32], next[32], status[16];
        char discovered_by[24];         /* the discover entry (from 1) that found the cluster, "" for a configured one */
        const char *error_class;        /* of a failure, NULL otherwise */
        const char *revoked_identity;   /* of a revocation ("user ID"), NULL otherwise */
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
                              { "ERROR_CLASS", (ctx)->error_class },                                     \
                              { "CCE_DISCOVERED_BY", (ctx)->discovered_by[0] ? (ctx)->discovered_by : NULL }, \
                              { "CCE_PROJECT_ID", (ctx)->discovered_by[0] ? (c)->config->project_id : NULL }, \
                              { "CCE_REVOKED_IDENTITY", (ctx)->revoked_identity }),                     \
                   __VA_ARGS__)

/* ---- cluster.c: the cluster record ---- */

Config *current_config(Manager *m);
const char *relative_time(int64_t seconds, char buf[static 32]);
int64_t now_realtime(Manager *m);
int64_t now_realtime_ceil(Manager *m);
uint64_t random_u64(void);
void log_context(const Cluster *c, int64_t not_after, LogContext *ctx);
unsigned expiry_level(const CertDates *cert, int64_t now);
void save_state(Manager *m, Cluster *c);
Cluster *find_cluster(Cluster **list, size_t n, const char *name);

/* ---- deadline-queue.c: due times ---- */

void heap_remove(Manager *m, Cluster *c);
void heap_update(Manager *m, Cluster *c);
void schedule(Manager *m, Cluster *c);
void once_finished(Manager *m, Cluster *c, bool failed);
void pause_credential(Manager *m, const char *credential, int64_t until);
/* When a pause of credential ends (0: none, or over). */
int64_t credential_paused_until(Manager *m, const char *credential);
void clear_pause(Manager *m, const char *credential);
void arm_timer(Manager *m);

/* ---- publish.c: STATUS=, metrics, in-flight ---- */

void write_metrics(Manager *m, int64_t now);
void update_status(Manager *m);
int on_metrics_timer(sd_event_source *s, uint64_t usec, void *userdata);
int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata);
void status_changed(Manager *m);
void once_write_metrics(Manager *m);

/* ---- renewal-hooks.c: hooks ---- */

void hook_run_free(HookRun *r);
void run_hook(Manager *m, Cluster *c, char **argv, const char *kind, const char *result,
              const ApiError *error, int64_t old_not_after);

/* ---- kubeconfig-writer.c: writes and their outcome ---- */

int on_directory_sync_timer(sd_event_source *s, uint64_t usec, void *userdata);
void write_failed(Manager *m, Cluster *c, int64_t next_attempt, int64_t not_after, const char *message);
void write_queued(Manager *m);
void write_pending(Manager *m, Cluster *c);
void write_queue_remove(Manager *m, Cluster *c);

/* ---- file-changes.c: files changed by others ---- */

bool cannot_write(const Cluster *c, KubeconfigState s);
bool path_still_blocked(Manager *m, Cluster *c);
bool file_certificate_adopted(Manager *m, Cluster *c);
bool pending_superseded(Manager *m, Cluster *c);
void kubeconfig_changed(Manager *m, Cluster *c, const KubeconfigStatus *file, const FileIdentity *identity);
void state_file_changed(Manager *m, Cluster *c);

/* ---- renewal.c: a renewal, start to answer ---- */

void free_retired_configs(Manager *m);
void release_call(Manager *m, Cluster *c);
void dispatch(Manager *m);

/* ---- cluster-set.c: the cluster list of a configuration ---- */

Cluster *cluster_free(Cluster *c);
/* Builds the cluster list for config, reusing clusters whose settings did
 * not change. */
int adopt_config(Manager *m, Config *config);
/* Puts config in force (taken over): its cluster list (adopt_config()), its
 * credentials, limits; what was fetched under the previous one is written
 * first. -ENOMEM before anything changed (the previous one stays); another
 * failure halfway, when the daemon must stop. */
int cluster_set_take(Manager *m, Config *config);
void apply_limits(Manager *m);

/* ---- discovery.c: discover entries at work ---- */

/* Makes a source for each discover entry of m->file_config, with what an
 * earlier run found for the same entry (state.h); with none, does nothing. */
int discovery_setup(Manager *m);
/* Starts their listings (the first at once, from the loop). */
int discovery_start(Manager *m);
void discovery_stop(Manager *m);
/* A reload: file_config (taken over) replaces m->file_config; an entry that
 * did not change keeps what it found. *ret: the configuration to put in
 * force. The listings start. */
int discovery_reload(Manager *m, Config *file_config, Config **ret);
/* Marks the clusters in force that the listings say are not Available
 * (not renewed until they are), and reschedules what changed. */
void discovery_mark_unavailable(Manager *m);
/* The configuration in force for m->file_config: its clusters and the
 * ones its entries found (skipping explicit ids, usable names only, and
 * clusters whose names or own files would collide). */
int discovery_effective_config(Manager *m, Config **ret);

/* A discovered cluster renamed in CCE and not written under its new name
 * yet: its settings under the earlier name, or NULL. */
const ClusterConfig *discovery_renamed_from(Manager *m, const Cluster *c);
/* It was written under the new name: the earlier file goes (an own one;
 * a file both share lost the old entries in that write), and the earlier
 * state. */
void discovery_rename_done(Manager *m, const Cluster *c);

/* ---- manager.c ---- */

/* --once with discover entries: the pass, once every project was listed. */
void once_start_pass(Manager *m);
