/* SPDX-License-Identifier: MIT */
/* Where to look after someone changed the daemon's files (file-watch.h):
 * inotify watches and the coalescing of their events. It reads no file and
 * decides nothing about one; it never writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "file-watch.h"
#include "log.h"
#include "macro.h"
#include "message-id.h"
#include "safe-path.h"
#include "time-util.h"

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | \
                    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
#define NO_DIRECTORY SIZE_MAX

typedef struct Directory {
        int wd;                 /* -1: not watched (it could not be, or it was lost) */
        char *path;             /* as the paths name it, for messages (owned) */
        bool warned;            /* that it cannot be watched was logged */
} Directory;

typedef struct File {
        const char *path;       /* borrowed from the caller */
        const char *name;       /* the name watched in dir: its last component (in path), or ancestor_name */
        char *ancestor_name;    /* while its directory is missing: the component below the deepest one that exists (owned) */
        size_t dir;             /* the Directory watched for it, NO_DIRECTORY when not resolved */
        char *target_name;      /* a symlink: the name it resolves to (owned), in target_dir */
        size_t target_dir;
        bool dirty;             /* a change to tell */
} File;

/* A name watched in a directory, for the events (sorted by dir, name). */
typedef struct NameKey {
        size_t dir;
        const char *name;
        size_t file;
} NameKey;

typedef struct WdKey {
        int wd;
        size_t dir;
} WdKey;

struct FileWatch {
        sd_event *event;
        int fd;                         /* the inotify instance, -1 when there is none */
        sd_event_source *io, *timer;
        FileWatchFileChanged file_changed;
        FileWatchEntryChanged entry_changed;
        void *userdata;

        Directory *dirs;
        size_t n_dirs;
        File *files;                    /* sorted by directory, then name (compare_paths()) */
        size_t n_files;
        NameKey *names;
        size_t n_names;
        WdKey *wds;                     /* of the watched dirs, sorted */
        size_t n_wds;

        char *whole_path;               /* the directory watched whole */
        int whole_wd;
        bool whole_warned;

        size_t *dirty;                  /* files to tell about (room for every file) */
        size_t n_dirty;
        char **entries;                 /* names in the whole directory to tell about */
        size_t n_entries;
        bool all_entries;               /* events were lost: anything there may have changed */
        uint64_t first_usec;            /* CLOCK_MONOTONIC: the first event of this burst */
};

/* ---- paths ----------------------------------------------------------------- */

static size_t directory_length(const char *path) {
        return (size_t) (strrchr(path, '/') - path);
}

/* Directory first, then name: files of one directory are neighbours. */
static int compare_paths(const char *a, const char *b) {
        size_t la = directory_length(a), lb = directory_length(b);
        int r = memcmp(a, b, MIN(la, lb));
        if (r != 0)
                return r;
        if (la != lb)
                return la < lb ? -1 : 1;
        return strcmp(a + la, b + lb);
}

static int compare_path_pointers(const void *a, const void *b) {
        return compare_paths(*(const char *const *) a, *(const char *const *) b);
}

static File *find_file(FileWatch *w, const char *path) {
        size_t lo = 0, hi = w->n_files;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = compare_paths(w->files[mid].path, path);
                if (c == 0)
                        return &w->files[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* ---- indexes --------------------------------------------------------------- */

static int compare_wd_keys(const void *a, const void *b) {
        const WdKey *x = a, *y = b;
        return (x->wd > y->wd) - (x->wd < y->wd);
}

static int compare_name_keys(const void *a, const void *b) {
        const NameKey *x = a, *y = b;
        if (x->dir != y->dir)
                return x->dir < y->dir ? -1 : 1;
        return strcmp(x->name, y->name);
}

static size_t directory_of_wd(FileWatch *w, int wd) {
        WdKey key = { .wd = wd }, *k = bsearch(&key, w->wds, w->n_wds, sizeof(WdKey), compare_wd_keys);
        return k ? k->dir : NO_DIRECTORY;
}

static bool watched(const FileWatch *w, size_t dir) {
        return dir != NO_DIRECTORY && w->dirs[dir].wd >= 0;
}

/* After directories or files changed: the lookups of events. */
static int rebuild_indexes(FileWatch *w) {
        WdKey *wds = reallocarray(w->wds, MAX(w->n_dirs, 1u), sizeof(WdKey));
        if (!wds)
                return -ENOMEM;
        w->wds = wds;
        w->n_wds = 0;
        for (size_t i = 0; i < w->n_dirs; i++)
                if (w->dirs[i].wd >= 0)
                        wds[w->n_wds++] = (WdKey) { w->dirs[i].wd, i };
        qsort(wds, w->n_wds, sizeof(WdKey), compare_wd_keys);

        NameKey *names = reallocarray(w->names, MAX(2 * w->n_files, 1u), sizeof(NameKey));
        if (!names)
                return -ENOMEM;
        w->names = names;
        w->n_names = 0;
        for (size_t i = 0; i < w->n_files; i++) {
                const File *f = &w->files[i];
                if (watched(w, f->dir))
                        names[w->n_names++] = (NameKey) { f->dir, f->name, i };
                if (f->target_name && watched(w, f->target_dir))
                        names[w->n_names++] = (NameKey) { f->target_dir, f->target_name, i };
        }
        qsort(names, w->n_names, sizeof(NameKey), compare_name_keys);
        return 0;
}

/* ---- watches --------------------------------------------------------------- */

static bool network_file_system(int fd) {
        /* NFS, SMB, CIFS, SMB2, FUSE (sshfs...), Ceph, AFS, 9P, GFS2, OCFS2. */
        static const unsigned long types[] = {
                0x6969, 0x517b, 0xff534d42, 0xfe534d42, 0x65735546, 0x00c36400, 0x5346414f, 0x01021997,
                0x01161970, 0x7461636f,
        };
        struct statfs st;
        if (fstatfs(fd, &st) < 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if ((unsigned long) st.f_type == types[i])
                        return true;
        return false;
}

static void warn_unwatched(const char *path, int error, bool *warned) {
        if (*warned)
                return;
        *warned = true;
        log_struct(LOG_WARNING, error, MESSAGE_ID_WATCH_UNAVAILABLE, LOG_FIELDS({ "WATCH_DIRECTORY", path }),
                   "Cannot watch %s for changes (%s%m); a kubeconfig there that is deleted or changed is seen "
                   "only when its renewal is due.", path,
                   error == -ENOSPC ? "the limit fs.inotify.max_user_watches is reached: " : "");
}

/* Adds the watch of the directory open at fd, whose path is path: the index
 * of its Directory, shared with the paths that resolve to the same
 * directory, kept from before for the same path (which says once that it
 * cannot be watched), or new. */
static int watch_directory(FileWatch *w, int fd, const char *path, size_t *ret) {
        char proc[64];
        int wd = -1, error = 0;
        size_t i;

        if (w->fd >= 0) {
                /* Through the fd: the directory that was checked, not what the path leads to now. */
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                wd = inotify_add_watch(w->fd, proc, WATCH_MASK);
                if (wd < 0)
                        error = negative_errno();
        }
        for (i = 0; wd >= 0 && i < w->n_dirs; i++)
                if (w->dirs[i].wd == wd) {
                        *ret = i;
                        return 0;
                }
        for (i = 0; i < w->n_dirs; i++)
                if (w->dirs[i].wd < 0 && strcmp(w->dirs[i].path, path) == 0)
                        break;
        if (i == w->n_dirs) {
                Directory *dirs = reallocarray(w->dirs, w->n_dirs + 1, sizeof(Directory));
                if (!dirs)
                        return -ENOMEM;
                w->dirs = dirs;
                dirs[i] = (Directory) { .wd = -1, .path = strdup(path) };
                if (!dirs[i].path)
                        return -ENOMEM;
                w->n_dirs++;
        }
        Directory *d = &w->dirs[i];
        d->wd = wd;
        *ret = i;
        if (wd < 0 && w->fd >= 0)
                warn_unwatched(path, error, &d->warned);
        else if (wd >= 0 && !d->warned && network_file_system(fd)) {
                d->warned = true;
                log_struct(LOG_NOTICE, 0, MESSAGE_ID_WATCH_UNAVAILABLE, LOG_FIELDS({ "WATCH_DIRECTORY", path }),
                           "%s is on a network file system: changes made to a kubeconfig there from another host "
                           "are seen only when its renewal is due.", path);
        }
        return 0;
}

/* Resolves and watches the directory named by the first len bytes of path
 * ("" for "/"), or while it does not exist, the deepest directory above it
 * that does (to see it made). *ret_len: the length of what is watched;
 * *ret_fd: it, open; -1 and NO_DIRECTORY when it cannot be resolved
 * (refused: its writes say why). */
static int watch_directory_path(FileWatch *w, const char *path, size_t len, size_t *ret_len, int *ret_fd,
                                size_t *ret) {
        char error[512];
        int fd, r;

        *ret_fd = -1;
        *ret = NO_DIRECTORY;
        for (;;) {
                _cleanup_free_ char *dir = strndup(path, len);
                if (!dir)
                        return -ENOMEM;
                r = safe_path_open_directory(dir[0] ? dir : "/", &fd, error, sizeof(error));
                if (r == -ENOENT && len > 0) {
                        len = (size_t) ((const char *) memrchr(path, '/', len) - path);
                        continue;
                }
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return 0;
                r = watch_directory(w, fd, dir[0] ? dir : "/", ret);
                if (r < 0) {
                        safe_close(fd);
                        return r;
                }
                *ret_len = len;
                *ret_fd = fd;
                return 0;
        }
}

static void forget_target(File *f) {
        free(f->target_name);
        f->target_name = NULL;
        f->target_dir = NO_DIRECTORY;
}

/* A path whose last component is a symlink: the directory it resolves to,
 * and the name there, are watched too. */
static int watch_target(FileWatch *w, File *f) {
        _cleanup_(safe_path_donep) SafePath p = SAFE_PATH_NULL;
        char error[512];

        forget_target(f);
        int r = safe_path_open(f->path, &p, error, sizeof(error));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;  /* dangling, refused: seen when it is written */
        const char *slash = strrchr(p.path, '/');
        _cleanup_free_ char *dir = strndup(p.path, (size_t) (slash - p.path));
        if (!dir)
                return -ENOMEM;
        r = watch_directory(w, p.dir_fd, dir[0] ? dir : "/", &f->target_dir);
        if (r < 0)
                return r;
        f->target_name = TAKE_PTR(p.name);
        return 0;
}

/* f in the directory dir (open at dir_fd, -1 when not resolved), whose path
 * is the first dir_len bytes of f's: f's own, or one above it. */
static int watch_file(FileWatch *w, File *f, size_t dir, size_t dir_len, int dir_fd) {
        struct stat st;

        free(f->ancestor_name);
        f->ancestor_name = NULL;
        f->name = strrchr(f->path, '/') + 1;
        f->dir = dir;
        forget_target(f);
        if (dir_fd < 0)
                return 0;
        if (dir_len < directory_length(f->path)) {
                const char *below = f->path + dir_len + 1;
                f->ancestor_name = strndup(below, strcspn(below, "/"));
                if (!f->ancestor_name)
                        return -ENOMEM;
                f->name = f->ancestor_name;
                return 0;
        }
        if (fstatat(dir_fd, f->name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISLNK(st.st_mode))
                return watch_target(w, f);
        return 0;
}

/* Watches f anew: its directory (or the one above that exists), and where
 * it resolves. */
static int rewatch_file(FileWatch *w, File *f) {
        _cleanup_close_ int fd = -1;
        size_t dir, len;
        int r = watch_directory_path(w, f->path, directory_length(f->path), &len, &fd, &dir);
        if (r >= 0)
                r = watch_file(w, f, dir, len, fd);
        if (r >= 0)
                r = rebuild_indexes(w);
        return r;
}

/* Whether f is watched as it is now: its directory and where it resolves. */
static bool watched_whole(const FileWatch *w, const File *f) {
        return watched(w, f->dir) && !f->ancestor_name && (!f->target_name || watched(w, f->target_dir));
}

/* ---- events ---------------------------------------------------------------- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void mark_file(FileWatch *w, size_t i) {
        if (w->files[i].dirty)
                return;
        w->files[i].dirty = true;
        w->dirty[w->n_dirty++] = i;
}

static void mark_entry(FileWatch *w, const char *name) {
        if (w->all_entries)
                return;
        char **entries = reallocarray(w->entries, w->n_entries + 1, sizeof(char *));
        if (entries) {
                w->entries = entries;
                entries[w->n_entries] = strdup(name);
                if (entries[w->n_entries]) {
                        w->n_entries++;
                        return;
                }
        }
        w->all_entries = true;  /* out of memory: tell about everything */
}

static void mark_all(FileWatch *w) {
        for (size_t i = 0; i < w->n_files; i++)
                mark_file(w, i);
        if (w->whole_path)
                w->all_entries = true;
}

/* A directory removed or moved away: every file in it changed, and is
 * watched again when the daemon writes it (in a directory made anew). */
static void lose_directory(FileWatch *w, size_t dir) {
        w->dirs[dir].wd = -1;
        for (size_t i = 0; i < w->n_files; i++)
                if (w->files[i].dir == dir || w->files[i].target_dir == dir)
                        mark_file(w, i);
        if (rebuild_indexes(w) < 0)
                log_error("Out of memory while watching files.");
}

static void handle_event(FileWatch *w, const struct inotify_event *e) {
        if (e->mask & IN_Q_OVERFLOW) {
                mark_all(w);
                return;
        }
        if (w->whole_wd >= 0 && e->wd == w->whole_wd) {
                if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                        w->whole_wd = -1;
                        w->all_entries = true;
                } else if (e->len > 0 && e->name[0] != '.')  /* not a temporary file being written */
                        mark_entry(w, e->name);
        }
        size_t dir = directory_of_wd(w, e->wd);
        if (dir == NO_DIRECTORY)
                return;
        if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
                if (e->mask & IN_MOVE_SELF)
                        (void) inotify_rm_watch(w->fd, e->wd);  /* it watches another path now */
                lose_directory(w, dir);
                return;
        }
        if (e->len == 0)
                return;
        NameKey key = { .dir = dir, .name = e->name };
        NameKey *k = bsearch(&key, w->names, w->n_names, sizeof(NameKey), compare_name_keys);
        if (!k)
                return;
        while (k > w->names && compare_name_keys(k - 1, &key) == 0)
                k--;
        for (; k < w->names + w->n_names && compare_name_keys(k, &key) == 0; k++)
                mark_file(w, k->file);
}

static bool anything_to_tell(const FileWatch *w) {
        return w->n_dirty > 0 || w->n_entries > 0 || w->all_entries;
}

/* Tells the burst once it has been quiet a moment, and within a second. */
static void arm_timer(FileWatch *w) {
        int enabled = SD_EVENT_OFF;
        uint64_t now;

        if (!anything_to_tell(w) || sd_event_now(w->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        (void) sd_event_source_get_enabled(w->timer, &enabled);
        if (enabled == SD_EVENT_OFF)
                w->first_usec = now;
        if (sd_event_source_set_time(w->timer, MIN(now + FILE_WATCH_QUIET_USEC, w->first_usec + FILE_WATCH_LATEST_USEC)) < 0 ||
            sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT) < 0)
                (void) on_timer(w->timer, now, w);  /* tell at once, then */
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        FileWatch *w = userdata;
        union {
                struct inotify_event event;
                char raw[16 * 1024];
        } buf;

        for (;;) {
                ssize_t n = read(fd, &buf, sizeof(buf));
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                log_error_errno(negative_errno(), "Cannot read file change events: %m");
                        break;
                }
                for (char *p = buf.raw; p < buf.raw + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;
                        handle_event(w, e);
                        p += sizeof(struct inotify_event) + e->len;
                }
        }
        arm_timer(w);
        return 0;
}

static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        FileWatch *w = userdata;

        /* Taken out first: what the handlers cause is told next time. */
        size_t n_dirty = w->n_dirty, n_entries = w->n_entries;
        _cleanup_free_ size_t *dirty = NULL;
        char **entries = TAKE_PTR(w->entries);
        bool all_entries = w->all_entries;

        w->n_entries = 0;
        w->all_entries = false;
        if (n_dirty > 0 && !(dirty = malloc(n_dirty * sizeof(size_t)))) {
                mark_all(w);  /* told next time */
                n_dirty = 0;
        } else {
                if (n_dirty > 0)
                        memcpy(dirty, w->dirty, n_dirty * sizeof(size_t));
                w->n_dirty = 0;
        }
        for (size_t i = 0; i < n_dirty; i++) {
                File *f = &w->files[dirty[i]];
                f->dirty = false;
                /* A link may lead elsewhere now, a missing directory exist, a lost one be missing. */
                if ((f->target_name || !watched_whole(w, f)) && rewatch_file(w, f) < 0)
                        log_error("Out of memory while watching files.");
        }
        for (size_t i = 0; i < n_dirty; i++)
                w->file_changed(w->files[dirty[i]].path, w->userdata);
        if (all_entries)
                w->entry_changed(NULL, w->userdata);
        else if (n_entries > 0) {
                qsort(entries, n_entries, sizeof(char *), compare_strings);
                for (size_t i = 0; i < n_entries; i++)
                        if (i == 0 || strcmp(entries[i - 1], entries[i]) != 0)
                                w->entry_changed(entries[i], w->userdata);
        }
        for (size_t i = 0; i < n_entries; i++)
                free(entries[i]);
        free(entries);
        arm_timer(w);
        return 0;
}

/* ---- the object ------------------------------------------------------------ */

int file_watch_new(sd_event *event, FileWatchFileChanged file_changed, FileWatchEntryChanged entry_changed,
                   void *userdata, FileWatch **ret) {
        FileWatch *w = calloc(1, sizeof(FileWatch));
        int r;

        if (!w)
                return -ENOMEM;
        *w = (FileWatch) {
                .event = sd_event_ref(event),
                .file_changed = file_changed,
                .entry_changed = entry_changed,
                .userdata = userdata,
                .whole_wd = -1,
        };
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0)
                log_struct(LOG_WARNING, negative_errno(), MESSAGE_ID_WATCH_UNAVAILABLE, NULL, 0,
                           "Cannot watch files for changes (%s%m); a kubeconfig that is deleted or changed is "
                           "seen only when its renewal is due.",
                           errno == EMFILE ? "the limit fs.inotify.max_user_instances is reached: " : "");
        else if ((r = sd_event_add_io(event, &w->io, w->fd, EPOLLIN, on_inotify, w)) < 0) {
                file_watch_free(w);
                return r;
        }
        r = sd_event_add_time(event, &w->timer, CLOCK_MONOTONIC, UINT64_MAX, 50 * USEC_PER_MSEC, on_timer, w);
        if (r < 0) {
                file_watch_free(w);
                return r;
        }
        (void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        *ret = w;
        return 0;
}

static void free_directories(Directory *dirs, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(dirs[i].path);
        free(dirs);
}

static void free_files(File *files, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(files[i].target_name);
                free(files[i].ancestor_name);
        }
        free(files);
}

FileWatch *file_watch_free(FileWatch *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->io);
        sd_event_source_disable_unref(w->timer);
        safe_close(w->fd);
        free_directories(w->dirs, w->n_dirs);
        free_files(w->files, w->n_files);
        free(w->names);
        free(w->wds);
        free(w->whole_path);
        free(w->dirty);
        for (size_t i = 0; i < w->n_entries; i++)
                free(w->entries[i]);
        free(w->entries);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

/* Directories no file needs any more: unwatched and forgotten. */
static int drop_unused_directories(FileWatch *w) {
        _cleanup_free_ size_t *map = malloc(MAX(w->n_dirs, 1u) * sizeof(size_t));
        size_t kept = 0;

        if (!map)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_dirs; i++)
                map[i] = NO_DIRECTORY;
        for (size_t i = 0; i < w->n_files; i++) {
                if (w->files[i].dir != NO_DIRECTORY)
                        map[w->files[i].dir] = 0;
                if (w->files[i].target_dir != NO_DIRECTORY)
                        map[w->files[i].target_dir] = 0;
        }
        for (size_t i = 0; i < w->n_dirs; i++) {
                if (map[i] == NO_DIRECTORY) {
                        if (w->dirs[i].wd >= 0 && w->dirs[i].wd != w->whole_wd)
                                (void) inotify_rm_watch(w->fd, w->dirs[i].wd);
                        free(w->dirs[i].path);
                        continue;
                }
                map[i] = kept;
                w->dirs[kept++] = w->dirs[i];
        }
        w->n_dirs = kept;
        for (size_t i = 0; i < w->n_files; i++) {
                File *f = &w->files[i];
                f->dir = f->dir == NO_DIRECTORY ? NO_DIRECTORY : map[f->dir];
                f->target_dir = f->target_dir == NO_DIRECTORY ? NO_DIRECTORY : map[f->target_dir];
        }
        return 0;
}

int file_watch_set_files(FileWatch *w, const char *const *paths, size_t n) {
        _cleanup_free_ const char **sorted = malloc(MAX(n, 1u) * sizeof(char *));
        File *old_files = w->files, *files = NULL;
        size_t n_old_files = w->n_files, n_files = 0;
        size_t *dirty = NULL;
        int r = 0;

        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, paths, n * sizeof(char *));
        qsort(sorted, n, sizeof(char *), compare_path_pointers);
        files = calloc(MAX(n, 1u), sizeof(File));
        dirty = malloc(MAX(n, 1u) * sizeof(size_t));
        if (!files || !dirty) {
                free(files);
                free(dirty);
                return -ENOMEM;
        }

        /* Files of one directory are neighbours: it is resolved once for them. */
        _cleanup_close_ int dir_fd = -1;
        size_t dir = NO_DIRECTORY, dir_len = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && strcmp(sorted[i - 1], sorted[i]) == 0)
                        continue;
                File *f = &files[n_files++];
                size_t len = directory_length(sorted[i]);
                *f = (File) { .path = sorted[i], .target_dir = NO_DIRECTORY };
                if (n_files == 1 || directory_length(f[-1].path) != len || memcmp(f[-1].path, f->path, len) != 0) {
                        dir_fd = safe_close(dir_fd);
                        if ((r = watch_directory_path(w, f->path, len, &dir_len, &dir_fd, &dir)) < 0)
                                break;
                }
                if ((r = watch_file(w, f, dir, dir_len, dir_fd)) < 0)
                        break;
        }
        if (r == -ENOMEM) {
                free_files(files, n_files);
                free(dirty);
                return r;
        }
        w->files = files;
        w->n_files = n_files;
        free(w->dirty);
        w->dirty = dirty;
        w->n_dirty = 0;
        /* Changes not told yet, of paths that stay. */
        for (size_t i = 0; i < n_old_files; i++) {
                File *f = old_files[i].dirty ? find_file(w, old_files[i].path) : NULL;
                if (f)
                        mark_file(w, (size_t) (f - w->files));
        }
        free_files(old_files, n_old_files);
        r = drop_unused_directories(w);
        if (r >= 0)
                r = rebuild_indexes(w);
        arm_timer(w);
        return r;
}

int file_watch_set_directory(FileWatch *w, const char *path) {
        _cleanup_close_ int fd = -1;
        char error[512], proc[64];
        int r;

        free(w->whole_path);
        w->whole_path = strdup(path);
        if (!w->whole_path)
                return -ENOMEM;
        if (w->fd < 0)
                return 0;
        r = safe_path_open_directory(path, &fd, error, sizeof(error));
        if (r < 0) {
                log_warning("Cannot watch %s for changes: %s", path, error);
                return 0;
        }
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        w->whole_wd = inotify_add_watch(w->fd, proc, WATCH_MASK);
        if (w->whole_wd < 0)
                warn_unwatched(path, negative_errno(), &w->whole_warned);
        return 0;
}

void file_watch_written(FileWatch *w, const char *path) {
        struct stat st;

        if (!w || w->fd < 0)
                return;
        File *f = find_file(w, path);
        if (!f)
                return;
        /* Whether it is a symlink now (or no longer): a look at the path is
         * enough to tell whether to resolve it again. */
        bool link = lstat(path, &st) >= 0 && S_ISLNK(st.st_mode);
        if (watched_whole(w, f) && link == !!f->target_name)
                return;
        if (rewatch_file(w, f) < 0)
                log_error("Out of memory while watching files.");
}
