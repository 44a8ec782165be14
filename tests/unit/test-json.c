/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "json.h"
#include "macro.h"
#include "tests.h"

static int parse(const char *s, JsonNode **ret, char *why) {
        return json_parse(s, strlen(s), ret, why, 128);
}

TEST(values) {
        _cleanup_(json_node_freep) JsonNode *n = NULL;
        char why[128];

        ASSERT_EQ(parse("{\"a\": [1, 2.5, \"x\\u00e9\", true, false, null], \"b\": {}}", &n, why), 0);
        ASSERT_EQ(n->type, JSON_OBJECT);
        const JsonNode *a = json_get(n, "a");
        ASSERT_EQ(a->type, JSON_ARRAY);
        ASSERT_EQ(a->n_children, 6);
        ASSERT_STREQ(a->children[0]->string, "1");
        ASSERT_STREQ(a->children[1]->string, "2.5");
        ASSERT_STREQ(a->children[2]->string, "x\xc3\xa9");
        ASSERT(a->children[3]->boolean);
        ASSERT(!a->children[4]->boolean);
        ASSERT_EQ(a->children[5]->type, JSON_NULL);
        ASSERT_EQ(json_get(n, "b")->type, JSON_OBJECT);
        ASSERT_NULL(json_get(n, "c"));
        ASSERT_NULL(json_get_string(n, "a"));
        ASSERT_NULL(json_get(a, "a"));
}

TEST(nul_in_string) {
        _cleanup_(json_node_freep) JsonNode *n = NULL;
        char why[128];
        ASSERT_EQ(parse("\"a\\u0000b\"", &n, why), 0);
        ASSERT_EQ(n->length, 3);
        ASSERT_EQ(n->string[1], 0);
}

TEST(refusals) {
        static const char *const bad[] = {
                "", "{", "{\"a\":1,}", "[1 2]", "{\"a\":1}{}", "{\"a\":1} x", "// c\n{}",
                "{\"a\":1,\"a\":2}", "\"\xff\"", "{a:1}", "[1,]", "tru",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                JsonNode *n = (JsonNode *) 0x1;
                char why[128] = "";
                ASSERT_EQ(parse(bad[i], &n, why), -EINVAL);
                ASSERT(n == (JsonNode *) 0x1);
                ASSERT(strncmp(why, "invalid JSON", 12) == 0);
                ASSERT(!strchr(why, '\n'));
        }
}

TEST(depth_and_size_caps) {
        char deep[2 * JSON_MAX_DEPTH + 3];
        size_t n = JSON_MAX_DEPTH + 1;
        JsonNode *root = NULL;
        char why[128];

        for (size_t i = 0; i < n; i++) {
                deep[i] = '[';
                deep[2 * n - 1 - i] = ']';
        }
        deep[2 * n] = 0;
        ASSERT_EQ(parse(deep, &root, why), -E2BIG);
        ASSERT(strstr(why, "nested too deeply"));
        /* One level less is accepted. */
        deep[2 * n - 1] = 0;
        ASSERT_EQ(parse(deep + 1, &root, why), 0);
        json_node_free(root);

        /* More values than the cap. */
        size_t count = JSON_MAX_NODES + 1;
        char *many = malloc(count * 2 + 3), *p = many;
        ASSERT(many);
        *p++ = '[';
        for (size_t i = 0; i < count - 1; i++) {
                *p++ = '0';
                *p++ = ',';
        }
        p[-1] = ']';
        *p = 0;
        ASSERT_EQ(parse(many, &root, why), -E2BIG);
        free(many);
}

RUN_TESTS(T(values), T(nul_in_string), T(refusals), T(depth_and_size_caps))
