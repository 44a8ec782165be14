/* SPDX-License-Identifier: MIT */
#pragma once

/* Which version of a file is at a path: its device, inode, size and
 * modification time, as stat() (following symlinks) gives them. A file
 * replaced or modified since has another identity, so a file whose identity
 * is the one the daemon wrote is still what it wrote. Kept as numbers (40
 * bytes in every cluster's record); the state file holds it as text,
 * "DEV:INODE:SIZE:MTIME" in hex, hex, hex and seconds.nanoseconds. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

typedef struct FileIdentity {
        uint64_t dev, ino, size;
        int64_t mtime_sec;
        uint32_t mtime_nsec;
} FileIdentity;

/* The unknown identity: no regular file could be seen there. */
#define FILE_IDENTITY_NONE ((FileIdentity) {})

/* The longest text file_identity_format() writes, its NUL included. */
#define FILE_IDENTITY_TEXT_MAX 96

static inline bool file_identity_known(const FileIdentity *id) {
        return id->dev != 0 || id->ino != 0 || id->size != 0 || id->mtime_sec != 0 || id->mtime_nsec != 0;
}

/* Whether a and b are the same identity (two unknown ones are). */
static inline bool file_identity_same(const FileIdentity *a, const FileIdentity *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_sec == b->mtime_sec &&
               a->mtime_nsec == b->mtime_nsec;
}

/* The identity of what st describes: unknown unless a regular file. */
FileIdentity file_identity_from_stat(const struct stat *st);

/* The identity of the file at path (symlinks followed): unknown when it
 * cannot be seen or is no regular file. */
FileIdentity file_identity_of(const char *path);

/* The identity as the state file holds it: "" for the unknown one. */
void file_identity_format(const FileIdentity *id, char buf[static FILE_IDENTITY_TEXT_MAX]);

/* Reads what file_identity_format() wrote. Returns 0, or -EINVAL (and the
 * unknown identity) for anything else; "" is the unknown identity. */
int file_identity_parse(const char *text, FileIdentity *ret);
