/* SPDX-License-Identifier: MIT */
/* Running one hook program in the background: fork, a session of its own,
 * the environment, the timeout that kills its process group. Knows nothing
 * of clusters. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hook.h"
#include "macro.h"

extern char **environ;

struct Hook {
        pid_t pid;
        sd_event_source *child, *timer;
        bool timed_out;
        HookDone done;
        void *userdata;
};

static const char *const withheld[] = {
        "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=",
        "CREDENTIALS_DIRECTORY=",
};

static bool withheld_or_replaced(const char *entry, char *const extra[]) {
        for (size_t i = 0; i < ELEMENTSOF(withheld); i++)
                if (strncmp(entry, withheld[i], strlen(withheld[i])) == 0)
                        return true;
        for (char *const *e = extra; e && *e; e++) {
                size_t n = strcspn(*e, "=") + 1;
                if (strncmp(entry, *e, n) == 0)
                        return true;
        }
        return false;
}

static void hook_free(Hook *h) {
        sd_event_source_disable_unref(h->child);
        sd_event_source_disable_unref(h->timer);
        free(h);
}

void hook_cancel(Hook *h) {
        if (!h)
                return;
        if (h->pid > 0 && h->child) {
                kill(-h->pid, SIGKILL);  /* its process group: what it started too */
                /* Reap it: the child source would have; nobody else will. */
                (void) waitpid(h->pid, NULL, 0);
        }
        hook_free(h);
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Hook *h = userdata;
        int status;

        if (h->timed_out)
                status = -ETIME;
        else if (si->si_code == CLD_EXITED)
                status = si->si_status;
        else
                status = -si->si_status;
        h->done(h, status, h->userdata);
        hook_free(h);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Hook *h = userdata;
        h->timed_out = true;
        kill(-h->pid, SIGKILL);  /* the hook and what it started (its process group); on_child_exit follows */
        return 0;
}

int hook_start(sd_event *event, char *const argv[], char *const extra_env[], uint64_t timeout_usec,
               HookDone done, void *userdata, Hook **ret) {
        _cleanup_free_ char **env = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        size_t n = 0, k = 0;
        Hook *h;
        int r;

        for (char **e = environ; *e; e++)
                n++;
        for (char *const *e = extra_env; e && *e; e++)
                n++;
        env = calloc(n + 1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        for (char **e = environ; *e; e++)
                if (!withheld_or_replaced(*e, extra_env))
                        env[k++] = *e;
        for (char *const *e = extra_env; e && *e; e++)
                env[k++] = *e;

        h = calloc(1, sizeof(Hook));
        if (!h)
                return -ENOMEM;
        h->done = done;
        h->userdata = userdata;

        /* The daemon blocks SIGTERM, SIGHUP, SIGCHLD...: the hook starts with
         * every signal unblocked and at its default. */
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_init(&attr);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        /* A session of its own, so its process group is its own: a timeout
         * kills what it started too, and no terminal signal reaches it. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        /* Nothing of the daemon's but stdin, stdout and stderr: not its API
         * connections (libcurl's sockets are not close-on-exec), not its files. */
        posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        r = posix_spawn(&h->pid, argv[0], &fa, &attr, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0) {
                free(h);
                return -r;
        }

        r = sd_event_add_child(event, &h->child, h->pid, WEXITED, on_child_exit, h);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &h->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout, h);
        if (r < 0) {
                hook_cancel(h);
                return r;
        }
        if (ret)
                *ret = h;
        return 0;
}
