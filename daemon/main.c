/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "build-config.h"
#include "config.h"
#include "log.h"
#include "macro.h"

typedef enum Action {
        ACTION_RUN,
        ACTION_CHECK,
        ACTION_DUMP_CONFIG,
} Action;

static const char *arg_config = DEFAULT_CONFIG_FILE;
static Action arg_action = ACTION_RUN;

static void help(void) {
        printf("Usage: %s [OPTIONS]\n"
               "\n"
               "Keeps the client certificates in the kubeconfig files of Huawei Cloud CCE\n"
               "clusters fresh.\n"
               "\n"
               "  -c, --config FILE   configuration file (default: %s)\n"
               "      --check         validate the configuration without touching the network\n"
               "      --dump-config   print the effective configuration, defaults applied\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n"
               "\n"
               "Exit status: 0 success, 64 usage error, 78 configuration error.\n"
               "See cce-certd(8) and cce-certd.yaml(5).\n",
               program_invocation_short_name, DEFAULT_CONFIG_FILE);
}

/* Returns 1 to go on, 0 to exit successfully, or a negative errno. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CHECK = 0x100,
                ARG_DUMP_CONFIG,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, ARG_CHECK },
                { "dump-config", no_argument, NULL, ARG_DUMP_CONFIG },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_CHECK:
                case ARG_DUMP_CONFIG:
                        if (arg_action != ACTION_RUN) {
                                fprintf(stderr, "%s: --check and --dump-config exclude each other\n",
                                        program_invocation_short_name);
                                return -EINVAL;
                        }
                        arg_action = c == ARG_CHECK ? ACTION_CHECK : ACTION_DUMP_CONFIG;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("cce-certd %s\n", PACKAGE_VERSION);
                        return 0;
                case ':':
                        fprintf(stderr, "%s: option '%s' needs an argument\n", program_invocation_short_name,
                                argv[optind - 1]);
                        return -EINVAL;
                default:
                        fprintf(stderr, "%s: unknown option '%s'; see --help\n", program_invocation_short_name,
                                argv[optind - 1]);
                        return -EINVAL;
                }

        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'; see --help\n", program_invocation_short_name, argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* --check and --dump-config talk to the person at the terminal: errors as
 * FILE:LINE:COLUMN lines on stderr, the result on stdout. */
static int run_check(bool dump) {
        _cleanup_(config_freep) Config *config = NULL;
        ConfigErrors errors = {};
        int r;

        r = config_load_file(arg_config, &config, &errors);
        config_errors_print(&errors, arg_config, stderr);
        config_errors_clear(&errors);
        if (r == -EINVAL)
                return EX_CONFIG;
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", arg_config, strerror(-r));
                return EX_SOFTWARE;
        }

        if (dump) {
                _cleanup_free_ char *text = NULL;
                r = config_dump(config, &text);
                if (r < 0) {
                        fprintf(stderr, "Failed to format the configuration: %s\n", strerror(-r));
                        return EX_SOFTWARE;
                }
                fputs(text, stdout);
        } else
                printf("configuration OK: %zu cluster%s\n", config->n_clusters, config->n_clusters == 1 ? "" : "s");
        return fflush(stdout) == 0 ? EXIT_SUCCESS : EX_IOERR;
}

static void log_config_errors(const ConfigErrors *errors) {
        for (size_t i = 0; i < errors->n_errors; i++) {
                const ConfigError *e = &errors->errors[i];
                if (e->pos.line > 0)
                        log_error("%s:%u:%u: %s", arg_config, e->pos.line, e->pos.column, e->message);
                else
                        log_error("%s: %s", arg_config, e->message);
        }
        for (size_t i = 0; i < errors->n_warnings; i++) {
                const ConfigError *e = &errors->warnings[i];
                log_warning("%s:%u:%u: %s", arg_config, e->pos.line, e->pos.column, e->message);
        }
}

static int run_daemon(void) {
        _cleanup_(config_freep) Config *config = NULL;
        ConfigErrors errors = {};
        int r;

        r = config_load_file(arg_config, &config, &errors);
        log_config_errors(&errors);
        config_errors_clear(&errors);
        if (r == -EINVAL) {
                log_error("Refusing to start with an invalid configuration.");
                return EX_CONFIG;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to load %s: %m", arg_config);
                return EX_SOFTWARE;
        }

        log_info("cce-certd %s: %zu clusters configured; renewing is not implemented in this version yet.",
                 PACKAGE_VERSION, config->n_clusters);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        int r;

        log_setup();

        r = parse_argv(argc, argv);
        if (r < 0)
                return EX_USAGE;
        if (r == 0)
                return fflush(stdout) == 0 ? EXIT_SUCCESS : EX_IOERR;

        switch (arg_action) {
        case ACTION_CHECK:
                return run_check(false);
        case ACTION_DUMP_CONFIG:
                return run_check(true);
        case ACTION_RUN:
                return run_daemon();
        }
        return EX_SOFTWARE;
}
