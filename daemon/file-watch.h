/* SPDX-License-Identifier: MIT */
#pragma once

/* Which of the daemon's files someone may have changed: inotify on the
 * directories they are in, one watch a directory, placed where the path
 * resolves (by the rules of safe-path.h), the events of a burst told once,
 * a moment later. It watches:
 *
 *   - files, by path (the kubeconfigs): a name created, written, renamed
 *     over or away, or deleted in its directory; for a path whose last
 *     component is a symlink, both the link's name and the name it resolves
 *     to; and the loss of a directory (removed or moved away), which is told
 *     for every file in it. Told as the path, as given;
 *   - one directory whole (the state's clusters/): told as the name that
 *     changed in it (not a name beginning with a dot: a temporary file
 *     being written), or NULL when events were lost (anything may have).
 *
 * This module only says where to look: whether a change was the daemon's
 * own write is for the handler to tell (it knows what it wrote). Where a
 * directory cannot be watched (no inotify instance left, the watch limit
 * reached), that is logged once per directory and the files there are not
 * told about; on a network file system, changes made on other hosts are
 * not seen either, which is logged once too. The daemon then relies on
 * its check of each file before a renewal. */

#include <stddef.h>
#include <systemd/sd-event.h>

/* A burst is told once it has been quiet this long, and at the latest this
 * long after its first event. */
#define FILE_WATCH_QUIET_USEC (200 * UINT64_C(1000))
#define FILE_WATCH_LATEST_USEC (1000 * UINT64_C(1000))

typedef struct FileWatch FileWatch;

typedef void (*FileWatchFileChanged)(const char *path, void *userdata);
typedef void (*FileWatchEntryChanged)(const char *name, void *userdata);

int file_watch_new(sd_event *event, FileWatchFileChanged file_changed, FileWatchEntryChanged entry_changed,
                   void *userdata, FileWatch **ret);
FileWatch *file_watch_free(FileWatch *w);

/* Replaces the files watched (absolute paths, borrowed: they must stay valid
 * until the next call; duplicates are fine). Changes not yet told about a
 * path that stays are kept. */
int file_watch_set_files(FileWatch *w, const char *const *paths, size_t n);

/* Watches the directory at path whole (one at most; path is copied). */
int file_watch_set_directory(FileWatch *w, const char *path);

/* After the daemon wrote path: watched again where that could not be done
 * before or its directory was lost (made anew since). Cheap otherwise. */
void file_watch_written(FileWatch *w, const char *path);
