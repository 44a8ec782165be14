/* SPDX-License-Identifier: MIT */
/* The on-renew and on-failure hooks of a cluster: their environment, their
 * run in the background, what their end says. A hook never changes the
 * outcome of a renewal. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager-internal.h"
#include "message-id.h"
#include "parse-value.h"
#include "time-util.h"

void hook_run_free(HookRun *r) {
        Manager *m = r->manager;
        if (r->prev)
                r->prev->next = r->next;
        else
                m->hooks = r->next;
        if (r->next)
                r->next->prev = r->prev;
        free(r->cluster);
        free(r->program);
        for (size_t i = 0; i < ELEMENTSOF(r->env); i++)
                free(r->env[i]);
        free(r);
}

static void on_hook_done(Hook *h, int status, void *userdata) {
        HookRun *r = userdata;
        Manager *m = r->manager;
        Cluster *c = find_cluster(m->clusters, m->n_clusters, r->cluster);
        char what[300] = "";

        if (status == -ETIME)
                snprintf(what, sizeof(what), "%s hook %s ran longer than %s and was killed", r->kind, r->program,
                         format_duration(current_config(m)->hook_timeout_sec, (char[32]) {}));
        else if (status < 0)
                snprintf(what, sizeof(what), "%s hook %s was killed by signal %d", r->kind, r->program, -status);
        else if (status > 0)
                snprintf(what, sizeof(what), "%s hook %s exited with status %d", r->kind, r->program, status);

        if (what[0])
                log_struct(LOG_WARNING, 0, MESSAGE_ID_HOOK_FAILED,
                           LOG_FIELDS({ "CCE_CLUSTER", r->cluster }, { "HOOK", r->kind }),
                           "%s: %s; the renewal itself stands.", r->cluster, what);
        if (c) {
                state_set_text(&c->state.last_hook_error, what);
                save_state(m, c);
        }
        hook_run_free(r);
        if (m->options.once && m->once_remaining == 0 && !m->hooks)
                sd_event_exit(m->event, m->exit_status);
}

/* Runs a hook in the background; a hook that cannot start is logged. */
void run_hook(Manager *m, Cluster *c, char **argv, const char *kind, const char *result,
                     const ApiError *error, int64_t old_not_after) {
        char a[32], b[32];
        int r;

        if (!argv || m->options.dry_run)
                return;
        HookRun *run = calloc(1, sizeof(HookRun));
        if (!run)
                return;
        run->manager = m;
        run->kind = kind;
        run->cluster = strdup(c->config->name);
        run->program = strdup(argv[0]);
        const char *values[][2] = {
                { "CCE_CLUSTER", c->config->name },
                { "CCE_CLUSTER_ID", c->config->cluster_id },
                { "KUBECONFIG", c->config->kubeconfig },
                { "CERT_NOT_AFTER", c->file.state == KUBECONFIG_OK ? format_iso8601_utc(c->file.certificate.not_after, a) : "" },
                { "OLD_CERT_NOT_AFTER", format_iso8601_utc(old_not_after, b) },
                { "RESULT", result },
                { "ERROR_CLASS", error ? api_error_class_to_string(error->klass) : "" },
        };
        bool ok = run->cluster && run->program;
        for (size_t i = 0; i < ELEMENTSOF(values) && ok; i++)
                ok = asprintf(&run->env[i], "%s=%s", values[i][0], strcmp(values[i][1], "-") == 0 ? "" : values[i][1]) >= 0;
        run->next = m->hooks;
        if (run->next)
                run->next->prev = run;
        m->hooks = run;
        if (!ok) {
                hook_run_free(run);
                return;
        }
        r = hook_start(m->event, argv, run->env, current_config(m)->hook_timeout_sec * USEC_PER_SEC,
                       on_hook_done, run, &run->hook);
        if (r < 0) {
                log_struct(LOG_WARNING, r, MESSAGE_ID_HOOK_FAILED,
                           LOG_FIELDS({ "CCE_CLUSTER", c->config->name }, { "HOOK", kind }),
                           "%s: cannot start the %s hook %s: %m; the renewal itself stands.", c->config->name, kind, argv[0]);
                char message[256];
                snprintf(message, sizeof(message), "%s hook %s cannot start: %s", kind, argv[0], strerror(-r));
                state_set_text(&c->state.last_hook_error, message);
                save_state(m, c);
                hook_run_free(run);
        }
}
