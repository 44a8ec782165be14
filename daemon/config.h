/* SPDX-License-Identifier: MIT */
#pragma once

/* The configuration file: YAML -> validated Config. Every value remembers
 * where it was written, so that checks made after parsing still point at it.
 * Loading collects every error of the file (FILE:LINE:COLUMN: message) rather
 * than stopping at the first. Loading touches no network; it does look at the
 * files a configuration names (secret files, the CA bundle) and resolves
 * owner and group names. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CONFIG_FILE_MAX (16 * 1024 * 1024)  /* about 100,000 clusters */
#define DEFAULT_CERT_DAYS 30
#define DEFAULT_RENEW_AT_PERCENT 66
#define DEFAULT_FILE_MODE 0600
#define DEFAULT_REQUEST_TIMEOUT_SEC 60
#define REQUEST_TIMEOUT_MAX_SEC (10 * 60)
#define DEFAULT_PARALLEL_REQUESTS 8
#define DEFAULT_HOOK_TIMEOUT_SEC 30
#define HOOK_ARGS_MAX 64
#define PARALLEL_REQUESTS_MAX 256

typedef struct ConfigPos {
        unsigned line, column;  /* 1-based; line 0 = the file as a whole */
} ConfigPos;

typedef enum SecretSource {
        SECRET_NONE,
        SECRET_FILE,            /* ref is an absolute path */
        SECRET_CREDENTIAL,      /* ref is a systemd credential name */
} SecretSource;

/* Where a secret is to be read from; never the secret itself. */
typedef struct SecretRef {
        SecretSource source;
        char *ref;
        ConfigPos pos;
} SecretRef;

typedef enum CredentialKind {
        CREDENTIAL_AKSK,                /* permanent access key + secret key */
        CREDENTIAL_TEMPORARY_AKSK,      /* ... plus a security token */
        CREDENTIAL_ECS_METADATA,        /* temporary keys from the ECS metadata service */
        CREDENTIAL_IAM_PASSWORD,        /* IAM user token from a password */
        CREDENTIAL_TOKEN,               /* a ready X-Auth-Token in a file */
        _CREDENTIAL_KIND_MAX,
        _CREDENTIAL_KIND_INVALID = -1,
} CredentialKind;

/* Whose certificates a credential downloads: the CN of each is a user id
 * or an agency id, and a revocation names it as one or the other. */
typedef enum CredentialIdentity {
        CREDENTIAL_IDENTITY_DEFAULT,    /* while loading: agency for ecs-metadata, user otherwise */
        CREDENTIAL_IDENTITY_USER,
        CREDENTIAL_IDENTITY_AGENCY,
} CredentialIdentity;

typedef struct Credential {
        char *name;
        ConfigPos pos;
        CredentialKind kind;
        CredentialIdentity identity;

        SecretRef access_key, secret_key, security_token;       /* AK/SK kinds */
        char *metadata_endpoint;        /* ECS metadata: URL override, NULL = the standard address */
        char *iam_domain, *iam_user;    /* IAM password */
        SecretRef password;
        SecretRef token;                /* static token */
} Credential;

typedef enum EndpointChoice {
        ENDPOINT_AUTO,          /* what the API's current-context names */
        ENDPOINT_INTERNAL,
        ENDPOINT_EXTERNAL,
        _ENDPOINT_CHOICE_MAX,
} EndpointChoice;

/* Per-cluster keys, in the order --dump-config prints them. */
typedef enum ClusterSetting {
        SETTING_NAME,
        SETTING_PROJECT_ID,
        SETTING_CLUSTER_ID,
        SETTING_REGION,
        SETTING_API_ENDPOINT,
        SETTING_IAM_ENDPOINT,
        SETTING_CA_FILE,
        SETTING_CREDENTIALS,
        SETTING_DURATION,
        SETTING_RENEW_AT,
        SETTING_RENEW_BEFORE,
        SETTING_KUBECONFIG,
        SETTING_MERGE,
        SETTING_ENDPOINT,
        SETTING_TLS_SERVER_NAME,
        SETTING_SET_CURRENT_CONTEXT,
        SETTING_CONTEXT_NAME,
        SETTING_CLUSTER_ENTRY_NAME,
        SETTING_USER_ENTRY_NAME,
        SETTING_FILE_MODE,
        SETTING_OWNER,
        SETTING_GROUP,
        SETTING_ON_RENEW,
        SETTING_ON_FAILURE,
        SETTING_REVOKE_PREVIOUS,
        _SETTING_MAX,
} ClusterSetting;

typedef struct ClusterConfig {
        char *name;
        char *project_id;
        char *cluster_id;
        char *region;                   /* NULL when api_endpoint is given */
        char *api_endpoint;             /* https URL without trailing '/', or NULL */
        char *iam_endpoint;             /* https URL, or NULL */
        char *ca_file;                  /* CA bundle for the API, or NULL = system store */
        char *credentials;              /* name of a Credential */
        int64_t lifetime_sec;           /* duration: seconds (CERT_LIFETIME_MIN_SEC..MAX_SEC) or CERT_LIFETIME_UNLIMITED */
        uint64_t renew_before_sec;      /* 0 when renew_at_percent is used */
        unsigned renew_at_percent;      /* 0 when renew_before_sec is used */
        EndpointChoice endpoint;
        char *kubeconfig;               /* absolute path */
        char *tls_server_name;          /* or NULL */
        char *context_name, *cluster_entry_name, *user_entry_name;     /* default: name */
        char *owner, *group;            /* as written; NULL = the daemon's own */
        char **on_renew, **on_failure;  /* hook argv (NULL-terminated), or NULL */
        mode_t file_mode;
        uid_t uid;                      /* resolved owner, (uid_t) -1 when unset */
        gid_t gid;                      /* resolved group, (gid_t) -1 when unset */
        bool merge;
        bool set_current_context;
        bool revoke_previous;           /* each rotation revokes this identity's earlier certificates first */
        bool discovered;                /* made by discover_cluster_config() */

        ConfigPos pos;                  /* the cluster's mapping */
        uint32_t given;                 /* bit 1 << ClusterSetting: given in the file (here or in defaults); setting_given() */
        /* While the file is read: where each setting was written
         * ([_SETTING_MAX], for errors; setting_pos()). NULL in a loaded
         * configuration: a cluster's record is kept small (thousands). */
        ConfigPos *setting_pos;
        /* Settings (bit 1 << ClusterSetting) whose string or list this
         * record does not own: shared with its Config's defaults or, for a
         * discovered cluster, its discover entry; entry names that are its
         * name. */
        uint32_t borrowed;

        const Credential *credential;   /* borrowed from the Config */
        char *discovered_phase;         /* CCE's status.phase of a discovered cluster ("Available", ...) */
        size_t discovered_by;           /* the index of the discover entry that found it */
} ClusterConfig;

static inline bool setting_given(const ClusterConfig *c, ClusterSetting s) {
        return c->given & (UINT32_C(1) << s);
}

#define DISCOVER_INTERVAL_DEFAULT_SEC (10 * 60)
#define DISCOVER_INTERVAL_MIN_SEC 5

/* A discover entry: every cluster that its credentials can see in its
 * project, filtered by name, kept like a configured cluster with these
 * settings. kubeconfig and name are templates ({name}, {cluster-id},
 * {project-id}); name, cluster-id and the entry names of settings are
 * unset. */
typedef struct DiscoverConfig {
        ClusterConfig settings;         /* project_id set; kubeconfig a template */
        char *name_template;            /* of the cluster's name in cce-certd and its entries */
        char **match, **exclude;        /* globs of CCE names, NULL-terminated, or NULL */
        uint64_t interval_sec;          /* how often to list */
        ConfigPos name_pos, match_pos, exclude_pos, interval_pos;
} DiscoverConfig;

typedef struct Config {
        char *path;
        uint64_t request_timeout_sec;   /* each HTTP request, all included */
        unsigned parallel_requests;     /* HTTP requests in flight at once */
        char *state_directory;          /* absolute path, or NULL for the default */
        char *metrics_file;             /* Prometheus text file to keep current, or NULL */
        uint64_t hook_timeout_sec;      /* a hook still running then is killed */
        Credential *credentials;
        size_t n_credentials;
        ClusterConfig *clusters;
        size_t n_clusters;
        /* defaults: as read; the clusters and discover entries of the file
         * share its strings and lists (ClusterConfig.borrowed), not copies.
         * Empty in a Config from config_with_clusters(): those own theirs. */
        ClusterConfig defaults;
        DiscoverConfig *discover;
        size_t n_discover;
} Config;

typedef struct ConfigError {
        ConfigPos pos;
        char *message;
} ConfigError;

/* What loading found: errors (the file is refused) and warnings (it is
 * accepted, but something looks unintended). Each list is sorted by position. */
typedef struct ConfigErrors {
        ConfigError *errors;
        size_t n_errors;
        ConfigError *warnings;
        size_t n_warnings;
} ConfigErrors;

/* Loads and validates. Returns 0 with *ret set (owned) when the file has no
 * error; -EINVAL when it has errors (all of them in *errors, sorted by
 * position); another negative errno (-ENOMEM) on internal failure. A file that
 * cannot be read is reported as an error too. Warnings may come either way. */
int config_load_file(const char *path, Config **ret, ConfigErrors *errors);
int config_load_buffer(const char *path, const char *data, size_t size, Config **ret, ConfigErrors *errors);

Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}

/* A deep copy of base with the clusters of extra added (taken over, also
 * on failure). */
int config_with_clusters(const Config *base, ClusterConfig *extra, size_t n_extra, Config **ret);

/* A cluster a listing of discover entry `entry` holds. */
typedef struct DiscoveredItem {
        size_t entry;
        const char *id, *name, *phase;
} DiscoveredItem;

/* What tells a discover entry changed: its settings and its own keys. */
uint64_t discover_entry_fingerprint(const DiscoverConfig *d);

/* The configuration in force: file's, with the clusters of items that
 * their entries take (match and exclude, a name that can go into a path,
 * not a configured cluster's id). A discovered cluster that would share
 * its name, or a kubeconfig that either has as its own (merge: false), with
 * a configured cluster or another discovered one is left out (all of them:
 * neither of two discovered ones overwrites the other's file): left_out
 * (when given) is told of each, with one it collides with (a configured
 * one first) and whether their names are the same (else their file). */
int config_with_discovered(const Config *file, const DiscoveredItem *items, size_t n,
                           void (*left_out)(const ClusterConfig *c, const ClusterConfig *other, bool same_name,
                                            void *userdata),
                           void *userdata, Config **ret);

/* The items that STATE_DIRECTORY/discovered.json (saved, its JSON) holds
 * for file's entries, when each entry is still the same: owned strings in
 * *ret (free with discovered_items_free()). */
int discovered_items_from_saved(const Config *file, const void *saved_json_node, DiscoveredItem **ret, size_t *ret_n);
void discovered_items_free(DiscoveredItem *items, size_t n);

/* The settings of a cluster that discover entry d found: CCE's name and id,
 * its name in cce-certd and kubeconfig from d's templates, the entry names
 * after that name, the rest as d has it. Free with cluster_config_done().
 * -EINVAL when cce_name cannot go into a name or a path
 * (discovery_name_usable()). */
int discover_cluster_config(const DiscoverConfig *d, size_t entry, const char *cce_name, const char *cluster_id,
                            const char *phase, ClusterConfig *ret);
void cluster_config_done(ClusterConfig *c);
/* A deep copy: strings and argument lists duplicated. */
int cluster_config_copy(ClusterConfig *dst, const ClusterConfig *src);
/* A discovered cluster's record made from its entry's settings (from):
 * every string and list shared with them, not copied (thousands of
 * clusters). cluster_config_share_again() points the shared ones at
 * another copy of the same settings (the entry of a new Config). */
void cluster_config_share(ClusterConfig *dst, const ClusterConfig *from);
void cluster_config_share_again(ClusterConfig *c, const ClusterConfig *from);
/* Gives c value (taken) for setting s, a string: owned from now on. */
void cluster_config_own(ClusterConfig *c, ClusterSetting s, char *value);
/* The same on the heap (NULL when out of memory), without the credential it
 * borrowed (it may outlive its Config); freed with cluster_config_free(). */
ClusterConfig *cluster_config_dup(const ClusterConfig *src);
ClusterConfig *cluster_config_free(ClusterConfig *c);

/* "FILE:LINE:COLUMN: message" lines ("FILE: message" for the file as a whole),
 * warnings prefixed "warning: ". */
void config_errors_print(const ConfigErrors *errors, const char *path, FILE *f);
void config_errors_clear(ConfigErrors *errors);

/* The effective configuration (defaults applied) as YAML that loads back to
 * the same configuration. Secrets appear only as their references. */
int config_dump(const Config *c, char **ret);

const ClusterConfig *config_find_cluster(const Config *c, const char *name);

/* A fingerprint of everything that decides what is requested and written
 * for a cluster (its settings and its credential's definition): equal
 * fingerprints mean "unchanged" across reloads and restarts. */
uint64_t cluster_config_fingerprint(const ClusterConfig *c);
const char *credential_kind_to_string(CredentialKind k);
const char *endpoint_choice_to_string(EndpointChoice e);
