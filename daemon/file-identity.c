/* SPDX-License-Identifier: MIT */
/* A file's version as numbers, and as the state file's text. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-identity.h"

FileIdentity file_identity_from_stat(const struct stat *st) {
        if (!S_ISREG(st->st_mode))
                return FILE_IDENTITY_NONE;
        return (FileIdentity) {
                .dev = (uint64_t) st->st_dev,
                .ino = (uint64_t) st->st_ino,
                .size = (uint64_t) st->st_size,
                .mtime_sec = (int64_t) st->st_mtim.tv_sec,
                .mtime_nsec = (uint32_t) st->st_mtim.tv_nsec,
        };
}

FileIdentity file_identity_of(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return FILE_IDENTITY_NONE;
        return file_identity_from_stat(&st);
}

void file_identity_format(const FileIdentity *id, char buf[static FILE_IDENTITY_TEXT_MAX]) {
        if (!file_identity_known(id)) {
                buf[0] = 0;
                return;
        }
        snprintf(buf, FILE_IDENTITY_TEXT_MAX, "%" PRIx64 ":%" PRIx64 ":%" PRIx64 ":%" PRId64 ".%09" PRIu32, id->dev,
                 id->ino, id->size, id->mtime_sec, id->mtime_nsec);
}

static bool is_digit(char c, int base) {
        return (c >= '0' && c <= '9') || (base == 16 && c >= 'a' && c <= 'f');
}

/* A number in the given base (a '-' first when is_signed), then the
 * separator sep; *p moves past both. No spaces, no '+'. */
static int number(const char **p, int base, char sep, bool is_signed, uint64_t *ret) {
        const char *s = *p;
        char *end;

        if (!is_digit(s[0], base) && !(is_signed && s[0] == '-' && is_digit(s[1], base)))
                return -EINVAL;
        errno = 0;
        if (is_signed)
                *ret = (uint64_t) strtoll(s, &end, base);
        else
                *ret = strtoull(s, &end, base);
        if (errno != 0 || end == s || *end != sep)
                return -EINVAL;
        *p = end + (sep != 0);
        return 0;
}

int file_identity_parse(const char *text, FileIdentity *ret) {
        const char *p = text;
        uint64_t dev, ino, size, sec, nsec;

        *ret = FILE_IDENTITY_NONE;
        if (!text[0])
                return 0;
        const char *dot = strrchr(text, '.');
        if (number(&p, 16, ':', false, &dev) < 0 || number(&p, 16, ':', false, &ino) < 0 ||
            number(&p, 16, ':', false, &size) < 0 || number(&p, 10, '.', true, &sec) < 0 ||
            !dot || strlen(dot + 1) != 9 || number(&p, 10, 0, false, &nsec) < 0 || nsec >= 1000000000)
                return -EINVAL;
        *ret = (FileIdentity) {
                .dev = dev, .ino = ino, .size = size, .mtime_sec = (int64_t) sec, .mtime_nsec = (uint32_t) nsec,
        };
        return 0;
}
