/* SPDX-License-Identifier: MIT */
/* Runs a fuzz target once on each file named on the command line (a
 * directory: on each file inside), so corpora are replayed by every test run
 * without libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "macro.h"

static int replay_file(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        if (!f) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        for (;;) {
                if (allocated - size < 4096) {
                        allocated = allocated ? allocated * 2 : 65536;
                        char *b = realloc(buf, allocated);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                size_t n = fread(buf + size, 1, allocated - size, f);
                size += n;
                if (n == 0)
                        break;
        }
        if (ferror(f))
                return -EIO;
        LLVMFuzzerTestOneInput((const uint8_t *) buf, size);
        return 0;
}

int main(int argc, char **argv) {
        unsigned count = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %m\n", argv[i]);
                        return EXIT_FAILURE;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (replay_file(argv[i]) < 0)
                                return EXIT_FAILURE;
                        count++;
                        continue;
                }
                struct dirent **entries;
                int n = scandir(argv[i], &entries, NULL, alphasort);
                if (n < 0) {
                        fprintf(stderr, "%s: %m\n", argv[i]);
                        return EXIT_FAILURE;
                }
                for (int j = 0; j < n; j++) {
                        _cleanup_free_ char *path = NULL;
                        if (entries[j]->d_name[0] != '.' &&
                            asprintf(&path, "%s/%s", argv[i], entries[j]->d_name) >= 0 &&
                            stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                                printf("%s\n", path);
                                if (replay_file(path) < 0)
                                        return EXIT_FAILURE;
                                count++;
                        }
                        free(entries[j]);
                }
                free(entries);
        }
        printf("replayed %u inputs\n", count);
        return count > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
