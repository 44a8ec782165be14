/* SPDX-License-Identifier: MIT */
#pragma once

/* Reading the secrets a configuration refers to, when they are needed and
 * not before: each read goes to the file again, so a rotated key or a
 * refreshed temporary token on disk is picked up. The value lives in memory
 * that is wiped when freed (free_wiped). */

#include <stddef.h>

#include "config.h"

#define SECRET_SIZE_MAX (16 * 1024)

/* Reads ref (a file, or $CREDENTIALS_DIRECTORY/NAME) into a new
 * NUL-terminated buffer, without a trailing line break. Fails with
 * -ENOENT/-EACCES (the file), -EPERM (readable by group or others),
 * -EBADF (not a regular file), -EFBIG (over SECRET_SIZE_MAX), -ENODATA
 * (empty), -EBADMSG (contains a NUL byte or a line break inside),
 * -ENXIO (a credential while $CREDENTIALS_DIRECTORY is not set).
 * *ret_path, when not NULL, gets the path read (owned), for messages. */
int secret_read(const SecretRef *ref, char **ret, char **ret_path);

/* A message for secret_read()'s errors. */
const char *secret_strerror(int error);
