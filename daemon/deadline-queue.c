/* SPDX-License-Identifier: MIT */
/* When each cluster is next due: the heap of due times and the one timer for
 * its head, a cluster's next attempt (by schedule.c's rules), credential
 * pauses across clusters, and the end of a --once pass. Starts no call. */

#include <stdlib.h>
#include <string.h>

#include "iam.h"
#include "manager-internal.h"
#include "schedule.h"
#include "time-util.h"

/* ---- the heap of due times --------------------------------------------------- */

static bool heap_less(const Cluster *a, const Cluster *b) {
        return a->due < b->due;
}

static void heap_swap(Manager *m, size_t i, size_t j) {
        Cluster *t = m->heap[i];
        m->heap[i] = m->heap[j];
        m->heap[j] = t;
        m->heap[i]->heap_index = i;
        m->heap[j]->heap_index = j;
}

static void heap_up(Manager *m, size_t i) {
        while (i > 0 && heap_less(m->heap[i], m->heap[(i - 1) / 2])) {
                heap_swap(m, i, (i - 1) / 2);
                i = (i - 1) / 2;
        }
}

static void heap_down(Manager *m, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, s = i;
                if (l < m->n_heap && heap_less(m->heap[l], m->heap[s]))
                        s = l;
                if (r < m->n_heap && heap_less(m->heap[r], m->heap[s]))
                        s = r;
                if (s == i)
                        return;
                heap_swap(m, i, s);
                i = s;
        }
}

void heap_remove(Manager *m, Cluster *c) {
        size_t i = c->heap_index;
        if (i == SIZE_MAX)
                return;
        m->n_heap--;
        if (i != m->n_heap) {
                m->heap[i] = m->heap[m->n_heap];
                m->heap[i]->heap_index = i;
                heap_down(m, i);
                heap_up(m, i);
        }
        c->heap_index = SIZE_MAX;
}

/* Puts c in the heap at its due time (out of it when INT64_MAX). */
void heap_update(Manager *m, Cluster *c) {
        heap_remove(m, c);
        if (c->due == INT64_MAX || c->phase != PHASE_WAITING)
                return;
        c->heap_index = m->n_heap;
        m->heap[m->n_heap++] = c;
        heap_up(m, c->heap_index);
}

/* ---- scheduling -------------------------------------------------------------- */

static CredentialPause *find_pause(Manager *m, const char *credential) {
        for (size_t i = 0; i < m->n_pauses; i++)
                if (strcmp(m->pauses[i].name, credential) == 0)
                        return &m->pauses[i];
        return NULL;
}

int64_t credential_paused_until(Manager *m, const char *credential) {
        CredentialPause *p = find_pause(m, credential);
        return p ? p->until : 0;
}

/* Works out c->due from its file, state and credential. */
void schedule(Manager *m, Cluster *c) {
        int64_t now = now_realtime(m);
        const ClusterConfig *cl = c->config;

        if (c->unavailable) {  /* discovered, not Available: no call until it is */
                c->due = INT64_MAX;
                heap_update(m, c);
                return;
        }

        /* A certificate fetched but not written counts as a failure: retry the write. */
        /* A certificate revoked and no new one written yet is none. */
        bool usable = c->file.state == KUBECONFIG_OK && !cluster_state_revoked_unwritten(&c->state);
        c->due = sched_next_attempt(now, usable,
                                    c->file.certificate.not_before, c->file.certificate.not_after, c->state.last_success,
                                    c->pending ? MAX(c->state.failures, 1u) : c->state.failures, c->state.next_attempt,
                                    cl->renew_at_percent, cl->renew_before_sec, cl->cluster_id);

        CredentialPause *p = find_pause(m, cl->credentials);
        if (c->due != INT64_MAX && p && p->until > c->due && !c->pending) {
                c->due = p->until;
                c->state.paused_until = p->until;  /* held back by it: for the metrics (and --status, once saved) */
        }
        if (c->due != INT64_MAX && c->restore_at > c->due)
                c->due = c->restore_at;  /* restores that follow each other back off */

        heap_update(m, c);
}

/* One wall-clock timer for the earliest deadline: idle means asleep. Past
 * deadlines held back by the cap wait for a call to end instead. */
void arm_timer(Manager *m) {
        if (m->n_heap == 0 || (m->heap[0]->due <= now_realtime(m) &&
                               m->in_flight >= m->max_in_flight)) {
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
                return;
        }
        uint64_t when = (uint64_t) MAX(m->heap[0]->due, (int64_t) 0) * USEC_PER_SEC;
        if (sd_event_source_set_time(m->timer, when) < 0 ||
            sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT) < 0)
                log_error("Cannot arm the renewal timer.");
}

/* ---- the end of a --once pass ------------------------------------------------ */

void once_finished(Manager *m, Cluster *c, bool failed) {
        if (!m->options.once || !c->selected || c->done)
                return;
        c->done = true;
        c->failed = failed;
        /* One attempt per cluster in a pass: no retry while others finish. */
        heap_remove(m, c);
        if (failed)
                m->exit_status = EXIT_ONCE_FAILED;
        else if (c->revoke_failed && m->exit_status == EXIT_SUCCESS)
                m->exit_status = REVOKE_EXIT_NOT_REVOKED;
        if (--m->once_remaining == 0 && !m->hooks)
                sd_event_exit(m->event, m->exit_status);
}

/* ---- credential pauses ------------------------------------------------------- */

static void pause_one_credential(Manager *m, const char *credential, int64_t until) {
        CredentialPause *p = find_pause(m, credential);

        if (!p) {
                CredentialPause *n = reallocarray(m->pauses, m->n_pauses + 1, sizeof(CredentialPause));
                if (!n)
                        return;
                m->pauses = n;
                p = &m->pauses[m->n_pauses];
                *p = (CredentialPause) { .name = strdup(credential) };
                if (!p->name)
                        return;
                m->n_pauses++;
        }
        p->failures++;
        p->until = MAX(p->until, until);
        for (size_t i = 0; i < m->n_clusters; i++) {
                Cluster *o = m->clusters[i];
                if (strcmp(o->config->credentials, credential) == 0 && o->phase == PHASE_WAITING &&
                    o->due != INT64_MAX && o->due < p->until && !o->pending) {
                        o->due = p->until;
                        heap_update(m, o);
                        o->state.paused_until = p->until;  /* for --status */
                        save_state(m, o);
                }
        }
}

/* Calls f for every credential entry that authenticates as credential
 * does (iam_credential_identity()): the same access key under two names is
 * one key to the API, locked after 5 failures in a row whichever name
 * failed. */
static void for_same_identity(Manager *m, const char *credential, void (*f)(Manager *m, const char *name, int64_t until),
                              int64_t until) {
        const Config *config = current_config(m);
        char identity[IAM_IDENTITY_SIZE], other[IAM_IDENTITY_SIZE];
        const Credential *failed = NULL;

        for (size_t i = 0; i < config->n_credentials && !failed; i++)
                if (strcmp(config->credentials[i].name, credential) == 0)
                        failed = &config->credentials[i];
        if (!failed) {
                f(m, credential, until);
                return;
        }
        iam_credential_identity(failed, identity);
        for (size_t i = 0; i < config->n_credentials; i++) {
                const Credential *c = &config->credentials[i];
                if (c != failed)
                        iam_credential_identity(c, other);
                if (c == failed || strcmp(identity, other) == 0)
                        f(m, c->name, until);
        }
}

/* Every cluster of this credential waits too: many clusters share an access
 * key, and five failures in a row lock it; so do those of every other
 * credential entry with the same key (or token, IAM user, ECS instance). */
void pause_credential(Manager *m, const char *credential, int64_t until) {
        for_same_identity(m, credential, pause_one_credential, until);
}

static void clear_one_pause(Manager *m, const char *credential, int64_t until) {
        CredentialPause *p = find_pause(m, credential);
        if (p) {
                p->until = 0;
                p->failures = 0;
        }
}

void clear_pause(Manager *m, const char *credential) {
        bool any = false;
        for (size_t i = 0; i < m->n_pauses && !any; i++)
                any = m->pauses[i].failures > 0;
        if (any)  /* no secret file is read after each renewal: only when something is paused */
                for_same_identity(m, credential, clear_one_pause, 0);
}
