/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "discovery-rules.h"
#include "macro.h"
#include "tests.h"

TEST(globs) {
        char why[160];

        ASSERT_EQ(discovery_glob_check("prod-*", why, sizeof(why)), 0);
        ASSERT_EQ(discovery_glob_check("[a-c]?-[!x]*", why, sizeof(why)), 0);
        ASSERT_EQ(discovery_glob_check("[]x]", why, sizeof(why)), 0);  /* "]" first is in the set */
        ASSERT_EQ(discovery_glob_check("a\\*", why, sizeof(why)), 0);
        ASSERT_EQ(discovery_glob_check("", why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "empty"));
        ASSERT_EQ(discovery_glob_check("team/*", why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "'/'"));
        ASSERT_EQ(discovery_glob_check("prod-[ab", why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "does not close"));
        ASSERT_EQ(discovery_glob_check("x\\", why, sizeof(why)), -EINVAL);

        char *match[] = { "prod-*", "stage-?", NULL }, *exclude[] = { "*-old", NULL }, *none[] = { NULL };
        ASSERT(discovery_selects("prod-a", match, exclude));
        ASSERT(discovery_selects("stage-1", match, exclude));
        ASSERT(!discovery_selects("stage-12", match, exclude));
        ASSERT(!discovery_selects("prod-a-old", match, exclude));
        ASSERT(!discovery_selects("dev", match, exclude));
        /* No match list: everything; no exclude list: nothing excluded. */
        ASSERT(discovery_selects("dev", NULL, NULL));
        ASSERT(discovery_selects("dev", none, none));
        ASSERT(!discovery_selects("x-old", NULL, exclude));
}

TEST(templates) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        bool any;
        char why[160];

        ASSERT_EQ(discovery_template_check("/etc/kubernetes/cce-certd/{name}.kubeconfig", &any, why, sizeof(why)), 0);
        ASSERT(any);
        ASSERT_EQ(discovery_template_check("/etc/kubernetes/cce-certd/all.kubeconfig", &any, why, sizeof(why)), 0);
        ASSERT(!any);
        ASSERT_EQ(discovery_template_check("/k/{nam}.kubeconfig", &any, why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "{nam}, which is not {name}"));
        ASSERT_EQ(discovery_template_check("/k/{name", &any, why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "opens a '{' that it does not close"));
        ASSERT_EQ(discovery_template_check("/k/{project/{name}", &any, why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "opens a '{' that it does not close"));
        ASSERT_EQ(discovery_template_check("/k/name}", &any, why, sizeof(why)), -EINVAL);
        ASSERT(strstr(why, "closes nothing"));

        ASSERT_EQ(discovery_template_expand("/k/{project-id}/{name}-{cluster-id}.kubeconfig", "prod", "4a6f", "0a1b", &a), 0);
        ASSERT_STREQ(a, "/k/0a1b/prod-4a6f.kubeconfig");
        ASSERT_EQ(discovery_template_expand("cce-{name}{name}", "x", "i", "p", &b), 0);
        ASSERT_STREQ(b, "cce-xx");
        ASSERT_EQ(discovery_template_expand("{oops}", "x", "i", "p", &c), -EINVAL);
        ASSERT_NULL(c);
}

TEST(names) {
        ASSERT(discovery_name_usable("prod-a"));
        ASSERT(discovery_name_usable("Prod_1.eu"));
        ASSERT(!discovery_name_usable(""));
        ASSERT(!discovery_name_usable("."));
        ASSERT(!discovery_name_usable(".."));
        ASSERT(!discovery_name_usable(".hidden"));
        ASSERT(!discovery_name_usable("-rf"));
        ASSERT(!discovery_name_usable("a/b"));
        ASSERT(!discovery_name_usable("a b"));
        ASSERT(!discovery_name_usable("\xc3\xa9t\xc3\xa9"));
        char long_name[DISCOVERY_NAME_MAX + 2];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = 0;
        ASSERT(!discovery_name_usable(long_name));
        long_name[DISCOVERY_NAME_MAX] = 0;
        ASSERT(discovery_name_usable(long_name));
}

TEST(absence) {
        /* Absent from one listing: kept; from two: asked; gone only on a 404. */
        ASSERT_EQ(discovery_absence(0, 0), DISCOVERY_KEEP);
        ASSERT_EQ(discovery_absence(1, 0), DISCOVERY_KEEP);
        ASSERT_EQ(discovery_absence(1, 404), DISCOVERY_KEEP);
        ASSERT_EQ(discovery_absence(2, 0), DISCOVERY_ASK);
        ASSERT_EQ(discovery_absence(2, 200), DISCOVERY_ASK);
        ASSERT_EQ(discovery_absence(2, 503), DISCOVERY_ASK);
        ASSERT_EQ(discovery_absence(2, 404), DISCOVERY_GONE);
        ASSERT_EQ(discovery_absence(7, 404), DISCOVERY_GONE);
}

RUN_TESTS(T(globs), T(templates), T(names), T(absence))
