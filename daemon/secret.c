/* SPDX-License-Identifier: MIT */
/* Reading a secret from its file or systemd credential when it is needed,
 * into memory wiped when freed. Never keeps or logs it. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io-util.h"
#include "macro.h"
#include "secret.h"
#include "secure-memory.h"

static int secret_path(const SecretRef *ref, char **ret) {
        if (ref->source == SECRET_FILE) {
                *ret = strdup(ref->ref);
                return *ret ? 0 : -ENOMEM;
        }
        if (ref->source != SECRET_CREDENTIAL)
                return -EINVAL;
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        if (!dir || dir[0] != '/')
                return -ENXIO;
        return asprintf(ret, "%s/%s", dir, ref->ref) < 0 ? -ENOMEM : 0;
}

int secret_read(const SecretRef *ref, char **ret, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_wiped_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t size = 0;
        int r;

        r = secret_path(ref, &path);
        if (r < 0)
                return r;
        if (ret_path) {
                *ret_path = strdup(path);
                if (!*ret_path)
                        return -ENOMEM;
        }

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if (st.st_mode & (S_IRWXG | S_IRWXO))
                return -EPERM;
        if (st.st_size > SECRET_SIZE_MAX)
                return -EFBIG;

        buf = malloc(SECRET_SIZE_MAX + 2);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read_from_start(fd, buf, SECRET_SIZE_MAX + 1);
        if (n < 0)
                return (int) n;
        size = (size_t) n;
        if (size > SECRET_SIZE_MAX)
                return -EFBIG;
        while (size > 0 && (buf[size - 1] == '\n' || buf[size - 1] == '\r' || buf[size - 1] == ' ' || buf[size - 1] == '\t'))
                size--;
        buf[size] = 0;
        if (size == 0)
                return -ENODATA;
        if (memchr(buf, 0, size) || memchr(buf, '\n', size) || memchr(buf, '\r', size))
                return -EBADMSG;

        *ret = TAKE_PTR(buf);
        return 0;
}

const char *secret_strerror(int error) {
        switch (-error) {
        case EPERM:
                return "the file is accessible by group or others (chmod 0600 it)";
        case EBADF:
                return "not a regular file";
        case EFBIG:
                return "larger than 16 KiB";
        case ENODATA:
                return "the file is empty";
        case EBADMSG:
                return "the file holds more than one line or a NUL byte";
        case ENXIO:
                return "$CREDENTIALS_DIRECTORY is not set (give the credential with LoadCredential= in the unit)";
        default:
                return strerror(-error);
        }
}
