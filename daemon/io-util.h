/* SPDX-License-Identifier: MIT */
#pragma once

/* Reading a whole file that another process may be changing. */

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

/* Reads fd from its start until its end or until capacity bytes are read,
 * whichever comes first: a file that fills the buffer may be larger (the
 * caller decides). Returns the number of bytes read or a negative errno. */
static inline ssize_t read_from_start(int fd, char *buf, size_t capacity) {
        size_t size = 0;

        while (size < capacity) {
                ssize_t n = pread(fd, buf + size, capacity - size, (off_t) size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno > 0 ? -errno : -EIO;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        return (ssize_t) size;
}
