/* SPDX-License-Identifier: MIT */
#pragma once

/* Assertions and a runner shared by the unit tests. A failing assertion
 * prints where and what, then aborts (so sanitizers and valgrind show the
 * stack). Exit status 77 means "skipped" to meson. */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_TEST_SKIP 77

#define ASSERT(expr)                                                            \
        do {                                                                    \
                if (!(expr)) {                                                  \
                        fprintf(stderr, "%s:%d: assertion failed: %s\n",        \
                                __FILE__, __LINE__, #expr);                     \
                        abort();                                                \
                }                                                               \
        } while (0)

#define ASSERT_EQ(a, b)                                                         \
        do {                                                                    \
                intmax_t _a = (intmax_t) (a), _b = (intmax_t) (b);              \
                if (_a != _b) {                                                 \
                        fprintf(stderr, "%s:%d: %s == %s failed: %jd != %jd\n", \
                                __FILE__, __LINE__, #a, #b, _a, _b);            \
                        abort();                                                \
                }                                                               \
        } while (0)

#define ASSERT_STREQ(a, b)                                                      \
        do {                                                                    \
                const char *_a = (a), *_b = (b);                                \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                        \
                        fprintf(stderr, "%s:%d: %s == %s failed:\n  \"%s\"\n  \"%s\"\n", \
                                __FILE__, __LINE__, #a, #b,                     \
                                _a ?: "(null)", _b ?: "(null)");                \
                        abort();                                                \
                }                                                               \
        } while (0)

#define ASSERT_NULL(a) ASSERT((a) == NULL)

/* Runs f(arg) in a forked child and returns its result (0..254), passed
 * back through a pipe rather than the exit status: under valgrind a child's
 * exit status reports valgrind's findings on memory the parent allocated. */
static inline int run_in_child(int (*f)(void *arg), void *arg) {
        int p[2], status;
        unsigned char result = 255;

        fflush(stdout);
        fflush(stderr);
        ASSERT(pipe(p) == 0);
        pid_t child = fork();
        ASSERT(child >= 0);
        if (child == 0) {
                close(p[0]);
                unsigned char r = (unsigned char) f(arg);
                fflush(stdout);
                fflush(stderr);
                if (write(p[1], &r, 1) != 1)
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        if (read(p[0], &result, 1) != 1)
                result = 255;  /* died */
        close(p[0]);
        ASSERT(waitpid(child, &status, 0) == child);
        return result;
}

typedef struct TestCase {
        const char *name;
        void (*func)(void);
} TestCase;

#define TEST(n) static void test_##n(void)
#define T(n) { #n, test_##n }

/* Runs the tests named on the command line, or all but those named "!NAME"
 * (or all); prints each name. */
static inline int run_tests(const TestCase *tests, size_t n, int argc, char **argv) {
        bool only_named = false;
        for (int a = 1; a < argc; a++)
                only_named = only_named || argv[a][0] != '!';
        for (size_t i = 0; i < n; i++) {
                bool selected = !only_named;
                for (int a = 1; a < argc; a++)
                        if (argv[a][0] == '!' ? strcmp(argv[a] + 1, tests[i].name) == 0 : strcmp(argv[a], tests[i].name) == 0)
                                selected = argv[a][0] != '!';
                if (!selected)
                        continue;
                printf("== %s\n", tests[i].name);
                fflush(stdout);
                tests[i].func();
        }
        return EXIT_SUCCESS;
}

#define RUN_TESTS(...)                                                          \
        int main(int argc, char **argv) {                                       \
                static const TestCase tests[] = { __VA_ARGS__ };                \
                return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc, argv); \
        }
