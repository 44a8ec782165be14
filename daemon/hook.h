/* SPDX-License-Identifier: MIT */
#pragma once

/* Running a hook: a program with arguments, without a shell, in the
 * background on the event loop, with a timeout. Its environment is the
 * daemon's without what belongs to the daemon alone (NOTIFY_SOCKET,
 * WATCHDOG_*, LISTEN_*, CREDENTIALS_DIRECTORY), plus the given variables;
 * standard input is /dev/null, its output goes where the daemon's goes. It
 * runs in a session (and process group) of its own: a timeout, or a cancel,
 * kills the whole group, so nothing it started outlives it. */

#include <stdint.h>
#include <systemd/sd-event.h>

typedef struct Hook Hook;

/* status: the exit status (0..255), or -SIGNAL when killed by a signal, or
 * -ETIME when it ran past its timeout (and was killed). The hook is freed
 * after the callback returns. */
typedef void (*HookDone)(Hook *h, int status, void *userdata);

/* Requires SIGCHLD to be blocked. extra_env: "NAME=value" strings,
 * NULL-terminated; they replace inherited variables of the same name. */
int hook_start(sd_event *event, char *const argv[], char *const extra_env[], uint64_t timeout_usec,
               HookDone done, void *userdata, Hook **ret);
/* Kills a hook still running and its process group (SIGKILL) and frees it
 * without calling back. */
void hook_cancel(Hook *h);
