/* SPDX-License-Identifier: MIT */
/* The per-cluster state files across restarts (and in-flight.json), read
 * and written atomically. No secret is ever stored. */

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "atomic-file.h"
#include "json.h"
#include "safe-path.h"
#include "error-buffer.h"
#include "macro.h"
#include "state.h"

#define STATE_FILE_MAX (64 * 1024)

static int directory_of(const char *path, const char **ret_name, char *error, size_t error_size);

int state_directory_prepare(const char *dir, char *error, size_t error_size) {
        _cleanup_free_ char *sub = NULL, *partial = strdup(dir);

        if (!partial)
                return -ENOMEM;
        /* Like "mkdir -p": under systemd StateDirectory= made it already. */
        for (char *p = partial + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        if (mkdir(partial, 0755) < 0 && errno != EEXIST)
                                return error_printf(error, error_size, negative_errno(), "cannot create %s: %m", partial);
                        *p = '/';
                }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return error_printf(error, error_size, negative_errno(), "cannot create the state directory %s: %m", dir);
        if (asprintf(&sub, "%s/clusters", dir) < 0)
                return -ENOMEM;
        if (mkdir(sub, 0700) < 0 && errno != EEXIST)
                return error_printf(error, error_size, negative_errno(), "cannot create %s: %m", sub);
        if (access(sub, W_OK | X_OK) < 0)
                return error_printf(error, error_size, negative_errno(), "the state directory %s is not writable: %m", sub);
        /* Both directories resolved safely now, once (see directory_of()):
         * one that another user could turn is refused at start. */
        _cleanup_free_ char *in_dir = NULL, *in_sub = NULL;
        const char *name;
        char why[400];
        if (asprintf(&in_dir, "%s/in-flight.json", dir) < 0 || asprintf(&in_sub, "%s/any", sub) < 0)
                return -ENOMEM;
        int r = directory_of(in_dir, &name, why, sizeof(why));
        if (r >= 0)
                r = directory_of(in_sub, &name, why, sizeof(why));
        if (r < 0)
                return error_printf(error, error_size, r, "refusing the state directory %s: %s", dir, why);
        return 0;
}

void cluster_state_done(ClusterState *s) {
        free(s->last_error_code);
        free(s->last_error);
        free(s->last_hook_error);
        free(s->revoked_identity);
        free(s->revoke_error);
        *s = (ClusterState) {};
}

void state_set_text(char **field, const char *text) {
        free(*field);
        *field = text && text[0] ? strdup(text) : NULL;
}

static int state_path(const char *dir, const char *name, char **ret) {
        return asprintf(ret, "%s/clusters/%s.json", dir, name) < 0 ? -ENOMEM : 0;
}

/* The directories of state files (DIR, DIR/clusters), each resolved safely
 * once per process and kept open: every state file is read, written and
 * removed relative to that fd, so neither a path swapped later nor a
 * resolution per renewal (ten thousand of them at start) costs anything. */
static struct {
        char dir[PATH_MAX];
        int fd;
} directories[2];

/* The fd of the directory of path (and its name in it), or a negative errno
 * with error set. */
static int directory_of(const char *path, const char **ret_name, char *error, size_t error_size) {
        const char *slash = strrchr(path, '/');
        size_t len = (size_t) (slash - path);
        size_t i;

        if (len >= PATH_MAX)
                return -ENAMETOOLONG;
        *ret_name = slash + 1;
        for (i = 0; i < ELEMENTSOF(directories) && directories[i].dir[0]; i++)
                if (strlen(directories[i].dir) == len && memcmp(directories[i].dir, path, len) == 0)
                        return directories[i].fd;
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        int r = safe_path_open(path, &p, error, error_size);
        if (r < 0)
                return r;
        if (i == ELEMENTSOF(directories))
                return -EMFILE;  /* not a path of this module */
        directories[i].fd = TAKE_FD(p.dir_fd);
        memcpy(directories[i].dir, path, len);
        directories[i].dir[len] = 0;
        return directories[i].fd;
}

/* Atomic, not durable unless asked (flags of atomic_file_write_at()): after
 * a power loss an old or unreadable state only means the kubeconfig is read
 * afresh (fsyncs cost throughput). */
static int write_state_file(const char *path, const void *data, size_t size, unsigned flags, char *error,
                            size_t error_size) {
        const char *name;
        int fd = directory_of(path, &name, error, error_size);
        if (fd < 0)
                return fd;
        return atomic_file_write_at(fd, name, path, data, size, 0600, flags, error, error_size);
}

static int remove_state_file(const char *path) {
        const char *name;
        int fd = directory_of(path, &name, NULL, 0);
        if (fd < 0)
                return fd;
        return unlinkat(fd, name, 0) < 0 && errno != ENOENT ? negative_errno() : 0;
}

static int64_t get_int(const JsonNode *root, const char *key) {
        const JsonNode *n = json_get(root, key);
        if (!n || n->type != JSON_NUMBER)
                return 0;
        return strtoll(n->string, NULL, 10);
}

static void get_text(const JsonNode *root, const char *key, char *buf, size_t size) {
        const char *s = json_get_string(root, key);
        snprintf(buf, size, "%s", s ?: "");
}

/* A file holding one JSON object: -EBADMSG when it holds anything else. */
static int read_object_max(const char *path, size_t max, JsonNode **ret);
static int read_object(const char *path, JsonNode **ret) {
        return read_object_max(path, STATE_FILE_MAX, ret);
}

static int read_object_max(const char *path, size_t max, JsonNode **ret) {
        _cleanup_free_ char *text = NULL;
        char why[128];
        size_t size;
        int r;

        const char *name;
        int fd = directory_of(path, &name, NULL, 0);
        if (fd < 0)
                return fd;
        r = atomic_file_read_at(fd, name, max, &text, &size);
        if (r < 0)
                return r;
        if (json_parse(text, size, ret, why, sizeof(why)) < 0)
                return -EBADMSG;
        if ((*ret)->type != JSON_OBJECT) {
                *ret = json_node_free(*ret);
                return -EBADMSG;
        }
        return 0;
}

int state_load(const char *dir, const char *name, ClusterState *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        char number[32];
        int r;

        r = state_path(dir, name, &path);
        if (r < 0)
                return r;
        r = read_object(path, &root);
        if (r < 0)
                return r;

        ClusterState s = {};
        get_text(root, "cluster-id", s.cluster_id, sizeof(s.cluster_id));
        get_text(root, "fingerprint", number, sizeof(number));
        s.fingerprint = strtoull(number, NULL, 16);
        s.last_attempt = get_int(root, "last-attempt");
        s.last_success = get_int(root, "last-success");
        s.failures = (unsigned) MIN(MAX(get_int(root, "failures"), (int64_t) 0), (int64_t) UINT32_MAX);
        s.next_attempt = get_int(root, "next-attempt");
        if (json_get(root, "parked") && json_get(root, "parked")->type == JSON_BOOLEAN && json_get(root, "parked")->boolean)
                s.next_attempt = INT64_MAX;
        s.last_http_status = (long) get_int(root, "last-http-status");
        state_set_text(&s.last_error_code, json_get_string(root, "last-error-code"));
        state_set_text(&s.last_error, json_get_string(root, "last-error"));
        const char *klass = json_get_string(root, "last-error-class");
        for (int c = 0; klass && c < _API_ERROR_CLASS_MAX; c++)
                if (strcmp(klass, api_error_class_to_string(c)) == 0)
                        s.last_error_class = c;
        state_set_text(&s.last_hook_error, json_get_string(root, "last-hook-error"));
        s.not_before = get_int(root, "not-before");
        s.not_after = get_int(root, "not-after");
        /* Unreadable: unknown, so that the file is read again. */
        (void) file_identity_parse(json_get_string(root, "kubeconfig-identity") ?: "", &s.kubeconfig_identity);
        s.paused_until = get_int(root, "paused-until");
        s.revoke_started = get_int(root, "revoke-started");
        s.last_revocation = get_int(root, "last-revocation");
        state_set_text(&s.revoked_identity, json_get_string(root, "revoked-identity"));
        state_set_text(&s.revoke_error, json_get_string(root, "revoke-error"));
        s.expire_at_refused = get_int(root, "expire-at-refused");
        get_text(root, "kubeconfig-digest", number, sizeof(number));
        s.kubeconfig_digest = strtoull(number, NULL, 16);
        *ret = s;
        return 0;
}

int state_save(const char *dir, const char *name, const ClusterState *s, char *error, size_t error_size) {
        _cleanup_free_ char *path = NULL;
        const unsigned char *buf;
        char number[32];
        size_t len;
        int r;

        r = state_path(dir, name, &path);
        if (r < 0)
                return r;
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                return -ENOMEM;
        yajl_gen_config(g, yajl_gen_beautify, 1);
        yajl_gen_map_open(g);
        json_gen_string(g, "cluster-id", s->cluster_id);
        snprintf(number, sizeof(number), "%016" PRIx64, s->fingerprint);
        json_gen_string(g, "fingerprint", number);
        json_gen_int(g, "last-attempt", s->last_attempt);
        json_gen_int(g, "last-success", s->last_success);
        json_gen_int(g, "failures", s->failures);
        json_gen_int(g, "next-attempt", s->next_attempt == INT64_MAX ? 0 : s->next_attempt);
        json_gen_bool(g, "parked", s->next_attempt == INT64_MAX);
        json_gen_string(g, "last-error-class", api_error_class_to_string(s->last_error_class));
        json_gen_int(g, "last-http-status", s->last_http_status);
        json_gen_string(g, "last-error-code", s->last_error_code ?: "");
        json_gen_string(g, "last-error", s->last_error ?: "");
        json_gen_string(g, "last-hook-error", s->last_hook_error ?: "");
        json_gen_int(g, "not-before", s->not_before);
        json_gen_int(g, "not-after", s->not_after);
        char identity[FILE_IDENTITY_TEXT_MAX];
        file_identity_format(&s->kubeconfig_identity, identity);
        json_gen_string(g, "kubeconfig-identity", identity);
        json_gen_int(g, "paused-until", s->paused_until);
        json_gen_int(g, "revoke-started", s->revoke_started);
        json_gen_int(g, "last-revocation", s->last_revocation);
        json_gen_string(g, "revoked-identity", s->revoked_identity ?: "");
        json_gen_string(g, "revoke-error", s->revoke_error ?: "");
        json_gen_int(g, "expire-at-refused", s->expire_at_refused);
        snprintf(number, sizeof(number), "%016" PRIx64, s->kubeconfig_digest);
        json_gen_string(g, "kubeconfig-digest", number);
        yajl_gen_map_close(g);
        if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
                yajl_gen_free(g);
                return error_printf(error, error_size, -EINVAL, "cannot format the state of %s", name);
        }
        /* A revocation under way is kept across a power loss: forgotten, the
         * revoked certificate in the file would look good until its renewal. */
        r = write_state_file(path, buf, len, s->revoke_started > 0 ? ATOMIC_FILE_DURABLE : 0, error, error_size);
        yajl_gen_free(g);
        return r;
}

/* What a crashed daemon left (atomic_file_sweep()), and the spares that
 * versions before 2026-12-07 kept beside each state file (.NAME.json.spare,
 * .in-flight.json.spare). */
int state_remove_leftovers(const char *dir) {
        _cleanup_free_ char *sub = NULL, *any = NULL;
        struct dirent *e;
        DIR *d;
        int n;

        if (asprintf(&sub, "%s/clusters", dir) < 0 || asprintf(&any, "%s/any", sub) < 0)
                return -ENOMEM;
        n = atomic_file_sweep(any, NULL, 0);
        if (n < 0)
                return n;
        d = opendir(sub);
        while (d && (e = readdir(d))) {
                size_t len = strlen(e->d_name);
                if (e->d_name[0] == '.' && len > 11 && strcmp(e->d_name + len - 11, ".json.spare") == 0 &&
                    unlinkat(dirfd(d), e->d_name, 0) == 0)
                        n++;
        }
        if (d)
                closedir(d);
        _cleanup_free_ char *in_flight_spare = NULL;
        if (asprintf(&in_flight_spare, "%s/.in-flight.json.spare", dir) >= 0 && unlink(in_flight_spare) == 0)
                n++;
        return n;
}

int state_remove(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        int r = state_path(dir, name, &path);
        if (r < 0)
                return r;
        return remove_state_file(path);
}

int state_version(const char *dir, const char *name, StateVersion *ret) {
        _cleanup_free_ char *path = NULL;
        const char *file;
        struct stat st;
        int r = state_path(dir, name, &path);
        if (r < 0)
                return r;
        int fd = directory_of(path, &file, NULL, 0);
        if (fd < 0)
                return fd;
        if (fstatat(fd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        *ret = (StateVersion) {
                .inode = st.st_ino,
                .mtime_nsec = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
        };
        return 0;
}

/* ---- requests in flight ---------------------------------------------------- */

static int in_flight_path(const char *dir, char **ret) {
        return asprintf(ret, "%s/in-flight.json", dir) < 0 ? -ENOMEM : 0;
}

int state_save_in_flight(const char *dir, const char *const *names, size_t n, char *error, size_t error_size) {
        _cleanup_free_ char *path = NULL;
        const unsigned char *buf;
        size_t len;
        int r;

        r = in_flight_path(dir, &path);
        if (r < 0)
                return r;
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                return -ENOMEM;
        yajl_gen_map_open(g);
        json_gen_int(g, "pid", getpid());
        json_gen_key(g, "clusters");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < n; i++)
                yajl_gen_string(g, (const unsigned char *) names[i], strlen(names[i]));
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
        if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
                yajl_gen_free(g);
                return error_printf(error, error_size, -EINVAL, "cannot format the requests in flight");
        }
        r = write_state_file(path, buf, len, 0, error, error_size);
        yajl_gen_free(g);
        return r;
}

char **state_in_flight_free(char **names) {
        for (char **p = names; p && *p; p++)
                free(*p);
        free(names);
        return NULL;
}

int state_load_in_flight(const char *dir, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *path = NULL;
        _cleanup_(json_node_freep) JsonNode *root = NULL;
        int r;

        *ret = NULL;
        *ret_n = 0;
        r = in_flight_path(dir, &path);
        if (r < 0)
                return r;
        r = read_object(path, &root);
        if (r < 0)
                return r;
        int64_t pid = get_int(root, "pid");
        /* Written by a daemon that has gone (a crash): nothing is in flight. */
        if (pid <= 0 || pid > INT32_MAX || (kill((pid_t) pid, 0) < 0 && errno != EPERM))
                return -ENOENT;
        const JsonNode *list = json_get(root, "clusters");
        if (!list || list->type != JSON_ARRAY)
                return -EBADMSG;
        char **names = calloc(list->n_children + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < list->n_children; i++) {
                const JsonNode *e = list->children[i];
                if (e->type != JSON_STRING)
                        continue;
                names[*ret_n] = strdup(e->string);
                if (!names[*ret_n]) {
                        state_in_flight_free(names);
                        *ret_n = 0;
                        return -ENOMEM;
                }
                (*ret_n)++;
        }
        *ret = names;
        return 0;
}

int state_remove_in_flight(const char *dir) {
        _cleanup_free_ char *path = NULL;
        int r = in_flight_path(dir, &path);
        if (r < 0)
                return r;
        return remove_state_file(path);
}

/* ---- what discovery found --------------------------------------------------- */

static int discovered_path(const char *dir, char **ret) {
        return asprintf(ret, "%s/discovered.json", dir) < 0 ? -ENOMEM : 0;
}

int state_save_discovered(const char *dir, const char *json, size_t size, char *error, size_t error_size) {
        _cleanup_free_ char *path = NULL;
        int r = discovered_path(dir, &path);
        if (r < 0)
                return r;
        return write_state_file(path, json, size, 0, error, error_size);
}

int state_load_discovered(const char *dir, JsonNode **ret) {
        _cleanup_free_ char *path = NULL;
        int r = discovered_path(dir, &path);
        if (r < 0)
                return r;
        return read_object_max(path, STATE_DISCOVERED_MAX, ret);
}
