/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "macro.h"
#include "tests.h"
#include "yaml-tree.h"

static YamlNode *parse_ok(const char *text) {
        YamlNode *root = NULL;
        YamlError e;
        int r = yaml_tree_parse(text, strlen(text), &root, &e);
        if (r < 0)
                fprintf(stderr, "unexpected error %d at %u:%u: %s\n", r, e.line, e.column, e.message);
        ASSERT_EQ(r, 0);
        return root;
}

static int parse_fail(const char *text, YamlError *e) {
        YamlNode *root = (YamlNode *) 0x1;
        int r = yaml_tree_parse(text, strlen(text), &root, e);
        ASSERT(r < 0);
        ASSERT(root == (YamlNode *) 0x1);  /* untouched on failure */
        return r;
}

TEST(positions) {
        _cleanup_(yaml_node_freep) YamlNode *root = parse_ok(
                "a: 1\n"
                "b:\n"
                "  - x\n"
                "  - 'quoted'\n"
                "c: {d: ~}\n");
        ASSERT_EQ(root->type, YAML_TREE_MAPPING);
        ASSERT_EQ(yaml_node_size(root), 3);
        ASSERT_EQ(root->line, 1);
        ASSERT_EQ(root->column, 1);

        YamlNode *a = yaml_mapping_get(root, "a");
        ASSERT_STREQ(a->value, "1");
        ASSERT(a->plain);
        ASSERT_EQ(a->line, 1);
        ASSERT_EQ(a->column, 4);

        YamlNode *b = yaml_mapping_get(root, "b");
        ASSERT_EQ(b->type, YAML_TREE_SEQUENCE);
        ASSERT_EQ(yaml_node_size(b), 2);
        ASSERT_EQ(b->children[1]->line, 4);
        ASSERT_EQ(b->children[1]->column, 5);
        ASSERT(!b->children[1]->plain);

        YamlNode *d = yaml_mapping_get(yaml_mapping_get(root, "c"), "d");
        ASSERT(yaml_node_is_null(d));
        ASSERT_NULL(yaml_mapping_get(root, "missing"));
        ASSERT_NULL(yaml_mapping_get(a, "a"));  /* not a mapping */
}

TEST(empty_document) {
        YamlNode *root = (YamlNode *) 0x1;
        YamlError e;
        ASSERT_EQ(yaml_tree_parse("", 0, &root, &e), 0);
        ASSERT_NULL(root);
        root = (YamlNode *) 0x1;
        ASSERT_EQ(yaml_tree_parse("# only a comment\n", 17, &root, &e), 0);
        ASSERT_NULL(root);
}

TEST(errors) {
        YamlError e;

        ASSERT_EQ(parse_fail("a: [1, 2\n", &e), -EINVAL);
        ASSERT(e.line >= 1);
        ASSERT(strstr(e.message, "YAML syntax error"));

        ASSERT_EQ(parse_fail("a: 1\n---\nb: 2\n", &e), -EINVAL);
        ASSERT_EQ(e.line, 2);
        ASSERT(strstr(e.message, "more than one"));

        ASSERT_EQ(parse_fail("a: &x [1]\nb: *x\n", &e), -EINVAL);
        ASSERT_EQ(e.line, 2);
        ASSERT_EQ(e.column, 4);
        ASSERT(strstr(e.message, "aliases"));

        /* A self-referencing alias would be a cycle; refused like any alias. */
        ASSERT_EQ(parse_fail("&a [*a]\n", &e), -EINVAL);

        ASSERT_EQ(parse_fail("a:\tb\n\t- c\n", &e), -EINVAL);
}

TEST(depth_cap) {
        char deep[2 * (YAML_TREE_MAX_DEPTH + 1) + 1];
        size_t n = YAML_TREE_MAX_DEPTH + 1;
        YamlError e;

        for (size_t i = 0; i < n; i++) {
                deep[i] = '[';
                deep[2 * n - 1 - i] = ']';
        }
        deep[2 * n] = 0;
        ASSERT_EQ(parse_fail(deep, &e), -E2BIG);
        ASSERT_EQ(e.line, 1);
        ASSERT_EQ(e.column, YAML_TREE_MAX_DEPTH + 1);

        /* Exactly at the cap is fine. */
        deep[2 * n - 1] = 0;
        _cleanup_(yaml_node_freep) YamlNode *root = parse_ok(deep + 1);
        ASSERT(root);
}

TEST(needs_quotes) {
        static const char *const quoted[] = {
                "", "true", "False", "yes", "no", "on", "OFF", "y", "N", "null", "~",
                "0600", "123", "-1", "+1", ".5", "1e3", "2024-01-01", ".inf", "<<",
        };
        static const char *const plain[] = {
                "prod", "cn-north-4", "https://x.example", "/etc/kubernetes/a", "user", "maybe",
        };
        for (size_t i = 0; i < ELEMENTSOF(quoted); i++)
                ASSERT(yaml_string_needs_quotes(quoted[i]));
        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                ASSERT(!yaml_string_needs_quotes(plain[i]));
}

TEST(emit_round_trip) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_(yaml_node_freep) YamlNode *back = NULL;
        _cleanup_free_ char *text = NULL;
        YamlNode *seq;
        YamlError e;
        size_t size;
        static const char *const strings[] = {
                "true", "0600", "", "a: b", "line\nbreak", "# not a comment", "-", "tab\there",
                "ünïcödé", "'single'", "\"double\"", "trailing ", " leading", "x" /* long below */,
        };

        ASSERT_EQ(yaml_node_new_collection(YAML_TREE_MAPPING, &root), 0);
        ASSERT_EQ(yaml_node_new_collection(YAML_TREE_SEQUENCE, &seq), 0);
        ASSERT_EQ(yaml_mapping_append(root, "strings", seq), 0);
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                YamlNode *s;
                ASSERT_EQ(yaml_node_new_scalar(strings[i], false, &s), 0);
                ASSERT_EQ(yaml_node_append(seq, s), 0);
        }
        char long_value[5000];
        memset(long_value, 'A', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = 0;
        ASSERT_EQ(yaml_mapping_append_string(root, "long", long_value), 0);
        ASSERT_EQ(yaml_mapping_append_plain(root, "flag", "true"), 0);
        ASSERT_EQ(yaml_mapping_append_plain(root, "count", "3"), 0);

        ASSERT_EQ(yaml_tree_emit(root, &text, &size), 0);
        ASSERT_EQ(strlen(text), size);
        ASSERT(strstr(text, "flag: true\n"));
        ASSERT(strstr(text, "count: 3\n"));
        ASSERT(!strstr(text, "\n  AAAA"));  /* long values are not folded */

        ASSERT_EQ(yaml_tree_parse(text, size, &back, &e), 0);
        YamlNode *s2 = yaml_mapping_get(back, "strings");
        ASSERT_EQ(yaml_node_size(s2), ELEMENTSOF(strings));
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                ASSERT_STREQ(s2->children[i]->value, strings[i]);
                /* What was a string reads back as a string, never as a bool or number. */
                ASSERT(!s2->children[i]->plain || !yaml_string_needs_quotes(strings[i]));
        }
        ASSERT_STREQ(yaml_mapping_get(back, "long")->value, long_value);
        ASSERT(yaml_mapping_get(back, "flag")->plain);
}

RUN_TESTS(T(positions), T(empty_document), T(errors), T(depth_cap), T(needs_quotes), T(emit_round_trip))
