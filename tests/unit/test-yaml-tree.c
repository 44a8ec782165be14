/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "macro.h"
#include "tests.h"
#include "yaml-tree.h"

typedef int (*Parser)(const char *data, size_t size, YamlNode **ret, YamlError *error);

static YamlNode *parse_ok_with(Parser parse, const char *text) {
        YamlNode *root = NULL;
        YamlError e;
        int r = parse(text, strlen(text), &root, &e);
        if (r < 0)
                fprintf(stderr, "unexpected error %d at %u:%u: %s\n", r, e.line, e.column, e.message);
        ASSERT_EQ(r, 0);
        return root;
}

static int parse_fail_with(Parser parse, const char *text, YamlError *e) {
        YamlNode *root = (YamlNode *) 0x1;
        int r = parse(text, strlen(text), &root, e);
        ASSERT(r < 0);
        ASSERT(root == (YamlNode *) 0x1);  /* untouched on failure */
        return r;
}

#define parse_ok(text) parse_ok_with(yaml_tree_parse, text)
#define parse_fail(text, e) parse_fail_with(yaml_tree_parse, text, e)
#define parse_aliases_ok(text) parse_ok_with(yaml_tree_parse_with_aliases, text)
#define parse_aliases_fail(text, e) parse_fail_with(yaml_tree_parse_with_aliases, text, e)

/* The keys of a mapping in order, joined by spaces. */
static const char *keys_of(const YamlNode *m) {
        static char buf[256];
        buf[0] = 0;
        for (size_t i = 0; i + 1 < m->n_children; i += 2) {
                if (buf[0])
                        strcat(buf, " ");
                strcat(buf, m->children[i]->value);
        }
        return buf;
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

        /* The kubeconfig reader refuses aliases (see the tests of the other reader below). */
        ASSERT_EQ(parse_fail("a: &x [1]\nb: *x\n", &e), -EINVAL);
        ASSERT_EQ(e.line, 2);
        ASSERT_EQ(e.column, 4);
        ASSERT(strstr(e.message, "aliases"));

        /* A self-referencing alias would be a cycle; refused like any alias. */
        ASSERT_EQ(parse_fail("&a [*a]\n", &e), -EINVAL);

        ASSERT_EQ(parse_fail("a:\tb\n\t- c\n", &e), -EINVAL);
}

TEST(aliases_share_the_anchored_node) {
        _cleanup_(yaml_node_freep) YamlNode *root = parse_aliases_ok(
                "hooks: &h\n"
                "  after: [/bin/true]\n"
                "one: *h\n"
                "two: *h\n"
                "word: &w hello\n"
                "again: *w\n");
        YamlNode *h = yaml_mapping_get(root, "hooks");

        /* Every alias is the anchored node, so a value is reported where it is written. */
        ASSERT(yaml_mapping_get(root, "one") == h);
        ASSERT(yaml_mapping_get(root, "two") == h);
        ASSERT_EQ(h->refs, 2);
        ASSERT_EQ(h->line, 1);
        ASSERT_EQ(h->column, 8);
        YamlNode *w = yaml_mapping_get(root, "again");
        ASSERT_STREQ(w->value, "hello");
        ASSERT_EQ(w->line, 5);
        ASSERT_EQ(w->column, 7);
        /* root, 5 keys, hooks (4 values) counted three times, two words */
        ASSERT_EQ(root->weight, 1 + 5 + 3 * 4 + 2);
}

TEST(merge_keys) {
        _cleanup_(yaml_node_freep) YamlNode *root = parse_aliases_ok(
                "base: &base {region: r1, duration: 7, merge: false}\n"
                "more: &more {duration: 30, endpoint: external}\n"
                "one:\n"
                "  name: one\n"
                "  <<: *base\n"
                "  merge: true\n"
                "two:\n"
                "  <<: [*more, *base]\n"
                "  name: two\n"
                "three:\n"
                "  '<<': quoted\n");
        YamlNode *one = yaml_mapping_get(root, "one");
        YamlNode *two = yaml_mapping_get(root, "two");
        YamlNode *three = yaml_mapping_get(root, "three");

        /* The merged pairs take the place of "<<"; the mapping's own keys win. */
        ASSERT_STREQ(keys_of(one), "name region duration merge");
        ASSERT_STREQ(yaml_mapping_get(one, "merge")->value, "true");
        ASSERT_EQ(yaml_mapping_get(one, "merge")->line, 6);
        /* A merged value is the one written in the anchored mapping. */
        ASSERT_EQ(yaml_mapping_get(one, "region")->line, 1);
        ASSERT_EQ(yaml_mapping_get(one, "region")->column, 22);

        /* Of several merged mappings, the earlier one wins. */
        ASSERT_STREQ(keys_of(two), "duration endpoint region merge name");
        ASSERT_STREQ(yaml_mapping_get(two, "duration")->value, "30");
        ASSERT_EQ(yaml_mapping_get(two, "duration")->line, 2);

        /* A quoted "<<" is an ordinary key. */
        ASSERT_STREQ(keys_of(three), "<<");

        /* Merged mappings nest: a merge of a mapping that itself merged. */
        _cleanup_(yaml_node_freep) YamlNode *nested = parse_aliases_ok(
                "a: &a {x: 1}\n"
                "b: &b {<<: *a, y: 2}\n"
                "c: {<<: *b, z: 3}\n");
        ASSERT_STREQ(keys_of(yaml_mapping_get(nested, "c")), "x y z");

        /* A mapping anchored right at the merge key leaves the tree with the
         * merge, and an alias to it still finds it (found by fuzzing). */
        _cleanup_(yaml_node_freep) YamlNode *inline_anchor = parse_aliases_ok(
                "a: {<<: &x {k: 1}, l: 2}\n"
                "b: *x\n");
        ASSERT_STREQ(keys_of(yaml_mapping_get(inline_anchor, "a")), "k l");
        ASSERT_STREQ(keys_of(yaml_mapping_get(inline_anchor, "b")), "k");
}

TEST(alias_errors) {
        YamlError e;

        ASSERT_EQ(parse_aliases_fail("a: *nothing\n", &e), -EINVAL);
        ASSERT_EQ(e.line, 1);
        ASSERT_EQ(e.column, 4);
        ASSERT(strstr(e.message, "names no anchor"));

        /* An alias before its anchor is unknown too. */
        ASSERT_EQ(parse_aliases_fail("a: *x\nb: &x 1\n", &e), -EINVAL);

        /* A node that contains an alias to itself would be a cycle. */
        ASSERT_EQ(parse_aliases_fail("&a [*a]\n", &e), -EINVAL);
        ASSERT(strstr(e.message, "inside the node"));
        ASSERT_EQ(parse_aliases_fail("a: &a {b: {c: *a}}\n", &e), -EINVAL);

        ASSERT_EQ(parse_aliases_fail("a: &s 1\nb: {<<: *s}\n", &e), -EINVAL);
        ASSERT_EQ(e.line, 1);  /* at the value that is not a mapping */
        ASSERT(strstr(e.message, "merge key"));
        ASSERT_EQ(parse_aliases_fail("a: {<<: [{x: 1}, 2]}\n", &e), -EINVAL);
        ASSERT_EQ(e.column, 18);
}

TEST(alias_expansion_cap) {
        /* Nine levels of nine: 9^9 values if expanded. Refused at the first
         * alias past the cap, having built only the document itself. */
        char text[2048], *p = text;
        YamlError e;

        p += sprintf(p, "a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (char c = 'b'; c <= 'i'; c++) {
                p += sprintf(p, "%c: &%c [", c, c);
                for (int i = 0; i < 9; i++)
                        p += sprintf(p, "%s*%c", i ? ", " : "", c - 1);
                p += sprintf(p, "]\n");
        }
        ASSERT_EQ(parse_aliases_fail(text, &e), -E2BIG);
        ASSERT(strstr(e.message, "expand to more than"));
        ASSERT_EQ(e.line, 7);  /* the first *f in "g" passes the cap */

        /* Below the cap the same shape is fine. */
        _cleanup_(yaml_node_freep) YamlNode *small = parse_aliases_ok(
                "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n");
        ASSERT_EQ(yaml_mapping_get(small, "c")->weight, 1 + 2 * (1 + 2 * 3));

        /* An alias cannot nest a document past the depth cap. */
        char deep[2 * YAML_TREE_MAX_DEPTH + 64];
        p = deep;
        p += sprintf(p, "a: &a ");
        for (int i = 0; i < YAML_TREE_MAX_DEPTH - 2; i++)
                *p++ = '[';
        for (int i = 0; i < YAML_TREE_MAX_DEPTH - 2; i++)
                *p++ = ']';
        p += sprintf(p, "\nb: [[*a]]\n");
        ASSERT_EQ(parse_aliases_fail(deep, &e), -E2BIG);
        ASSERT_EQ(e.line, 2);
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

/* libyaml frees and moves its buffers through the program's wiping
 * yaml_free() and yaml_realloc(), not its own: they held the key. */
TEST(libyaml_frees_through_the_wiping_functions) {
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_(yaml_node_freep) YamlNode *back = NULL;
        _cleanup_free_ char *text = NULL;
        char key[3000];
        YamlError e;
        size_t size;

        memset(key, 'K', sizeof(key) - 1);
        key[sizeof(key) - 1] = 0;
        ASSERT_EQ(yaml_node_new_collection(YAML_TREE_MAPPING, &root), 0);
        ASSERT_EQ(yaml_mapping_append_plain(root, "client-key-data", key), 0);

        size_t before = yaml_tree_wiped_frees();
        ASSERT_EQ(yaml_tree_emit(root, &text, &size), 0);
        size_t emitted = yaml_tree_wiped_frees();
        ASSERT(emitted > before);  /* the emitter's buffers, the events' copies */

        ASSERT_EQ(yaml_tree_parse(text, size, &back, &e), 0);
        ASSERT_STREQ(yaml_mapping_get(back, "client-key-data")->value, key);
        /* The parser's buffers, and the scalar grown block by block to 3,000 bytes. */
        ASSERT(yaml_tree_wiped_frees() > emitted + 8);
}

RUN_TESTS(T(positions), T(empty_document), T(errors), T(aliases_share_the_anchored_node), T(merge_keys),
          T(alias_errors), T(alias_expansion_cap), T(depth_cap), T(needs_quotes), T(emit_round_trip),
          T(libyaml_frees_through_the_wiping_functions))
