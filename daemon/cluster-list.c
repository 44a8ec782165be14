/* SPDX-License-Identifier: MIT */
/* The ListClusters and ShowCluster answers, read as a stream: only each
 * item's name, uid and phase are kept, everything else skipped within the
 * caps. Pure: no I/O, no clock. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "cluster-list.h"
#include "json.h"
#include "macro.h"

int cce_list_clusters_path(const char *project_id, char **ret) {
        return asprintf(ret, "/api/v3/projects/%s/clusters", project_id) < 0 ? -ENOMEM : 0;
}

int cce_show_cluster_path(const char *project_id, const char *cluster_id, char **ret) {
        return asprintf(ret, "/api/v3/projects/%s/clusters/%s", project_id, cluster_id) < 0 ? -ENOMEM : 0;
}

bool cce_cluster_available(const CceClusterInfo *c) {
        return c->phase && strcmp(c->phase, "Available") == 0;
}

void cce_cluster_info_done(CceClusterInfo *c) {
        free(c->name);
        free(c->id);
        free(c->phase);
        *c = (CceClusterInfo) {};
}

void cce_cluster_list_done(CceClusterList *l) {
        for (size_t i = 0; i < l->n_items; i++)
                cce_cluster_info_done(&l->items[i]);
        free(l->items);
        *l = (CceClusterList) {};
}

/* Where the reader is: what the container on top of the stack is. */
typedef enum Place {
        PLACE_LISTING,          /* the top-level object of a listing */
        PLACE_ITEMS,            /* its "items" array */
        PLACE_ITEM,             /* one item (the top level of ShowCluster) */
        PLACE_METADATA,
        PLACE_STATUS,
        PLACE_SKIPPED,          /* anything else, read past */
} Place;

/* What the value after the last key is for. */
typedef enum Next {
        NEXT_SKIP,
        NEXT_ITEMS,
        NEXT_METADATA,
        NEXT_STATUS,
        NEXT_NAME,
        NEXT_UID,
        NEXT_PHASE,
        _NEXT_MAX,
} Next;

static const char *const next_names[_NEXT_MAX] = {
        [NEXT_ITEMS] = "items",
        [NEXT_METADATA] = "metadata",
        [NEXT_STATUS] = "status",
        [NEXT_NAME] = "metadata.name",
        [NEXT_UID] = "metadata.uid",
        [NEXT_PHASE] = "status.phase",
};

typedef struct Reader {
        bool single;                    /* ShowCluster: the top level is the item */
        Place stack[CLUSTER_LIST_MAX_DEPTH];
        size_t depth;
        Next next;
        bool seen_items;                /* at the top level */
        bool seen[_NEXT_MAX];           /* keys seen in the current item */
        CceClusterInfo current;
        size_t index;                   /* of the current item, for messages */
        CceClusterList list;
        size_t allocated;
        int error;
        char why[200];
} Reader;

_printf_(2, 3)
static int fail(Reader *r, const char *format, ...) {
        va_list ap;

        if (r->error == 0) {
                va_start(ap, format);
                vsnprintf(r->why, sizeof(r->why), format, ap);
                va_end(ap);
                r->error = -EINVAL;
        }
        return 0;  /* stops yajl */
}

static int oom(Reader *r) {
        if (r->error == 0)
                r->error = -ENOMEM;
        return 0;
}

/* "items[3].metadata.uid", or "metadata.uid" for ShowCluster. */
static const char *where(Reader *r, Next what, char buf[static 64]) {
        if (r->single)
                snprintf(buf, 64, "%s", next_names[what]);
        else
                snprintf(buf, 64, "items[%zu].%s", r->index, next_names[what]);
        return buf;
}

static int push(Reader *r, Place p) {
        if (r->depth >= CLUSTER_LIST_MAX_DEPTH)
                return fail(r, "nested deeper than %d levels", CLUSTER_LIST_MAX_DEPTH);
        r->stack[r->depth++] = p;
        return 1;
}

static int begin_item(Reader *r) {
        if (!r->single && r->list.n_items >= CLUSTER_LIST_ITEMS_MAX)
                return fail(r, "more than %d clusters", CLUSTER_LIST_ITEMS_MAX);
        cce_cluster_info_done(&r->current);
        memset(r->seen, 0, sizeof(r->seen));
        return push(r, PLACE_ITEM);
}

static int end_item(Reader *r) {
        char b[64];

        if (!r->current.name)
                return fail(r, "%s is missing", where(r, NEXT_NAME, b));
        if (!r->current.id)
                return fail(r, "%s is missing", where(r, NEXT_UID, b));
        if (!r->current.phase && !(r->current.phase = strdup("")))
                return oom(r);
        if (r->single)
                return 1;  /* the result stays in current */
        if (r->list.n_items == r->allocated) {
                size_t n = r->allocated ? r->allocated * 2 : 16;
                CceClusterInfo *items = reallocarray(r->list.items, n, sizeof(CceClusterInfo));
                if (!items)
                        return oom(r);
                r->list.items = items;
                r->allocated = n;
        }
        r->list.items[r->list.n_items++] = r->current;
        r->current = (CceClusterInfo) {};
        r->index++;
        return 1;
}

/* A value begins (t its type): what it is for, by where it stands. */
static int value(Reader *r, JsonType t, const unsigned char *s, size_t len) {
        Next next = r->next;
        char b[64];

        r->next = NEXT_SKIP;
        if (r->depth == 0) {
                if (t != JSON_OBJECT)
                        return fail(r, "the answer is %s, not an object", json_type_name(t));
                return r->single ? begin_item(r) : push(r, PLACE_LISTING);
        }

        Place parent = r->stack[r->depth - 1];
        if (parent == PLACE_ITEMS) {
                if (t != JSON_OBJECT)
                        return fail(r, "items[%zu] is %s, not an object", r->index, json_type_name(t));
                return begin_item(r);
        }
        switch (next) {
        case NEXT_ITEMS:
                if (t == JSON_NULL)
                        return 1;  /* no clusters */
                if (t != JSON_ARRAY)
                        return fail(r, "items is %s, not an array", json_type_name(t));
                return push(r, PLACE_ITEMS);
        case NEXT_METADATA:
        case NEXT_STATUS:
                if (next == NEXT_STATUS && t == JSON_NULL)
                        return 1;
                if (t != JSON_OBJECT)
                        return fail(r, "%s is %s, not an object", where(r, next, b), json_type_name(t));
                return push(r, next == NEXT_METADATA ? PLACE_METADATA : PLACE_STATUS);
        case NEXT_NAME:
        case NEXT_UID:
        case NEXT_PHASE: {
                if (next == NEXT_PHASE && t == JSON_NULL)
                        return 1;
                if (t != JSON_STRING)
                        return fail(r, "%s is %s, not a string", where(r, next, b), json_type_name(t));
                bool printable = len > 0 && len <= CLUSTER_LIST_FIELD_MAX;
                for (size_t i = 0; i < len && printable; i++)
                        printable = s[i] >= 0x20 && s[i] != 0x7f;
                if (!printable)
                        return fail(r, "%s is not 1 to %d printable bytes", where(r, next, b), CLUSTER_LIST_FIELD_MAX);
                char *copy = strndup((const char *) s, len);
                if (!copy)
                        return oom(r);
                char **field = next == NEXT_NAME ? &r->current.name : next == NEXT_UID ? &r->current.id : &r->current.phase;
                *field = copy;
                return 1;
        }
        default:
                /* Skipped: a container is read past, a scalar dropped. */
                return t == JSON_OBJECT || t == JSON_ARRAY ? push(r, PLACE_SKIPPED) : 1;
        }
}

static bool key_is(const unsigned char *s, size_t len, const char *key) {
        return len == strlen(key) && memcmp(s, key, len) == 0;
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len) {
        Reader *r = ctx;
        Next next = NEXT_SKIP;
        char b[64];

        switch (r->stack[r->depth - 1]) {
        case PLACE_LISTING:
                if (key_is(s, len, "items"))
                        next = NEXT_ITEMS;
                break;
        case PLACE_ITEM:
                if (key_is(s, len, "metadata"))
                        next = NEXT_METADATA;
                else if (key_is(s, len, "status"))
                        next = NEXT_STATUS;
                break;
        case PLACE_METADATA:
                if (key_is(s, len, "name"))
                        next = NEXT_NAME;
                else if (key_is(s, len, "uid"))
                        next = NEXT_UID;
                break;
        case PLACE_STATUS:
                if (key_is(s, len, "phase"))
                        next = NEXT_PHASE;
                break;
        default:
                break;
        }
        if (next == NEXT_ITEMS) {
                if (r->seen_items)
                        return fail(r, "items is given twice");
                r->seen_items = true;
        } else if (next != NEXT_SKIP) {
                if (r->seen[next])
                        return fail(r, "%s is given twice", where(r, next, b));
                r->seen[next] = true;
        }
        r->next = next;
        return 1;
}

static int on_end(void *ctx) {
        Reader *r = ctx;
        Place p = r->stack[--r->depth];
        return p == PLACE_ITEM ? end_item(r) : 1;
}

static int on_null(void *ctx) {
        return value(ctx, JSON_NULL, NULL, 0);
}

static int on_boolean(void *ctx, int b) {
        return value(ctx, JSON_BOOLEAN, NULL, 0);
}

static int on_number(void *ctx, const char *s, size_t len) {
        return value(ctx, JSON_NUMBER, NULL, 0);
}

static int on_string(void *ctx, const unsigned char *s, size_t len) {
        return value(ctx, JSON_STRING, s, len);
}

static int on_start_map(void *ctx) {
        return value(ctx, JSON_OBJECT, NULL, 0);
}

static int on_start_array(void *ctx) {
        return value(ctx, JSON_ARRAY, NULL, 0);
}

static int compare_ids(const void *a, const void *b) {
        return strcmp((*(CceClusterInfo *const *) a)->id, (*(CceClusterInfo *const *) b)->id);
}

static int compare_names(const void *a, const void *b) {
        return strcmp((*(CceClusterInfo *const *) a)->name, (*(CceClusterInfo *const *) b)->name);
}

/* No two items with one uid, or one name (unique in a project). */
static void check_unique(Reader *r) {
        _cleanup_free_ CceClusterInfo **sorted = NULL;
        size_t n = r->list.n_items;

        if (n < 2)
                return;
        sorted = malloc(n * sizeof(CceClusterInfo *));
        if (!sorted) {
                oom(r);
                return;
        }
        for (size_t i = 0; i < n; i++)
                sorted[i] = &r->list.items[i];
        qsort(sorted, n, sizeof(CceClusterInfo *), compare_ids);
        for (size_t i = 1; i < n; i++)
                if (compare_ids(&sorted[i - 1], &sorted[i]) == 0) {
                        fail(r, "two items have the uid %s", sorted[i]->id);
                        return;
                }
        qsort(sorted, n, sizeof(CceClusterInfo *), compare_names);
        for (size_t i = 1; i < n; i++)
                if (compare_names(&sorted[i - 1], &sorted[i]) == 0) {
                        fail(r, "two items have the name %s", sorted[i]->name);
                        return;
                }
}

static const yajl_callbacks callbacks = {
        .yajl_null = on_null,
        .yajl_boolean = on_boolean,
        .yajl_number = on_number,
        .yajl_string = on_string,
        .yajl_start_map = on_start_map,
        .yajl_map_key = on_map_key,
        .yajl_end_map = on_end,
        .yajl_start_array = on_start_array,
        .yajl_end_array = on_end,
};

struct ClusterListReader {
        Reader reader;
        yajl_handle yajl;
        size_t size;
};

ClusterListReader *cluster_list_reader_free(ClusterListReader *lr) {
        if (!lr)
                return NULL;
        if (lr->yajl)
                yajl_free(lr->yajl);
        cce_cluster_info_done(&lr->reader.current);
        cce_cluster_list_done(&lr->reader.list);
        free(lr);
        return NULL;
}

int cluster_list_reader_new(bool single, ClusterListReader **ret) {
        ClusterListReader *lr = calloc(1, sizeof(ClusterListReader));

        if (!lr)
                return -ENOMEM;
        lr->reader.single = single;
        lr->yajl = yajl_alloc(&callbacks, NULL, &lr->reader);
        if (!lr->yajl) {
                free(lr);
                return -ENOMEM;
        }
        /* Strict: no comments, valid UTF-8, one value, nothing after it. */
        yajl_config(lr->yajl, yajl_allow_comments, 0);
        yajl_config(lr->yajl, yajl_dont_validate_strings, 0);
        *ret = lr;
        return 0;
}

/* yajl's own message quotes the input: keep only its first words. */
static void yajl_failed(ClusterListReader *lr) {
        unsigned char *m = yajl_get_error(lr->yajl, 0, NULL, 0);
        fail(&lr->reader, "invalid JSON: %.*s", m ? (int) strcspn((const char *) m, "\n") : 0, m ? (const char *) m : "");
        yajl_free_error(lr->yajl, m);
}

int cluster_list_reader_feed(ClusterListReader *lr, const char *data, size_t size) {
        Reader *r = &lr->reader;

        if (r->error != 0)
                return r->error;
        lr->size += size;
        if (lr->size > CLUSTER_LIST_ANSWER_MAX) {
                fail(r, "larger than %d bytes", CLUSTER_LIST_ANSWER_MAX);
                return r->error;
        }
        if (yajl_parse(lr->yajl, (const unsigned char *) data, size) != yajl_status_ok && r->error == 0)
                yajl_failed(lr);
        return r->error;
}

int cluster_list_reader_finish(ClusterListReader *lr, CceClusterList *ret_list, CceClusterInfo *ret_one, ApiError *e) {
        Reader *r = &lr->reader;

        if (r->error == 0 && yajl_complete_parse(lr->yajl) != yajl_status_ok && r->error == 0)
                yajl_failed(lr);
        if (r->error == 0 && !r->single)
                check_unique(r);
        if (r->error == -EINVAL)
                api_error_set(e, API_ERROR_BAD_RESPONSE, "invalid %s answer: %s",
                              r->single ? "cluster" : "cluster list", r->why);
        if (r->error != 0)
                return r->error;
        if (r->single) {
                *ret_one = r->current;
                r->current = (CceClusterInfo) {};
        } else {
                *ret_list = r->list;
                r->list = (CceClusterList) {};
        }
        return 0;
}

static int parse(const char *body, size_t size, bool single, CceClusterList *ret_list, CceClusterInfo *ret_one,
                 ApiError *e) {
        ClusterListReader *lr = NULL;
        int r = cluster_list_reader_new(single, &lr);

        if (r < 0)
                return r;
        (void) cluster_list_reader_feed(lr, body, size);
        r = cluster_list_reader_finish(lr, ret_list, ret_one, e);
        cluster_list_reader_free(lr);
        return r;
}

int cce_parse_cluster_list(const char *body, size_t size, CceClusterList *ret, ApiError *e) {
        return parse(body, size, false, ret, NULL, e);
}

int cce_parse_cluster(const char *body, size_t size, CceClusterInfo *ret, ApiError *e) {
        return parse(body, size, true, NULL, ret, e);
}
