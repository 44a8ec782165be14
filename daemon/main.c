/* SPDX-License-Identifier: MIT */
/* The command line: options, --check, --dump-config, --status, and the
 * daemon or --once handed to the manager. Holds no logic of its own. */

#include <errno.h>
#include <getopt.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "build-config.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "revocation.h"
#include "secure-memory.h"
#include "state.h"
#include "status.h"

typedef enum Action {
        ACTION_RUN,
        ACTION_ONCE,
        ACTION_CHECK,
        ACTION_DUMP_CONFIG,
        ACTION_STATUS,
        ACTION_REVOKE,
} Action;

static const char *arg_config = DEFAULT_CONFIG_FILE;
static Action arg_action = ACTION_RUN;
static char **arg_clusters = NULL;      /* NULL-terminated */
static size_t arg_n_clusters = 0;
static bool arg_force = false;
static bool arg_json = false;
static bool arg_dry_run = false;
static bool arg_all = false;
static CceIdentity arg_revoke_identity = {};

static void help(void) {
        printf("Usage: %s [OPTIONS]\n"
               "\n"
               "Keeps the client certificates in the kubeconfig files of Huawei Cloud CCE\n"
               "clusters fresh.\n"
               "\n"
               "  -c, --config FILE    configuration file (default: %s)\n"
               "      --check          validate the configuration without touching the network\n"
               "      --dump-config    print the effective configuration, defaults applied\n"
               "      --once           renew what is due, then exit (for timers and scripts)\n"
               "      --cluster NAME   with --once or --revoke: this cluster (repeatable)\n"
               "      --force          with --once: renew even what is not due\n"
               "      --dry-run        with --once: fetch and check, show what would change, write nothing;\n"
               "                       with --revoke: show what would be revoked, call nothing\n"
               "      --revoke         revoke the certificates of the identity in each selected\n"
               "                       cluster's kubeconfig, then renew and write them at once\n"
               "      --all            with --revoke: every cluster\n"
               "      --user-id ID, --agency-id ID\n"
               "                       with --revoke: whose certificates, when the file is gone\n"
               "      --status [NAME]  show each cluster's certificate and renewal state\n"
               "      --json           with --status: print a JSON object\n"
               "  -h, --help           show this help\n"
               "      --version        show the version\n"
               "\n"
               "Exit status: 0 success; 1 --once: a selected cluster is not fresh, --revoke: a\n"
               "new certificate was not written, --status: a cluster is failing or parked;\n"
               "2 --status: a certificate expired, is near its end or was revoked; 3 --revoke:\n"
               "a revocation failed (the new certificates were written); 64 usage error;\n"
               "73 the state directory cannot be used; 78 configuration error.\n"
               "See cce-certd(8) and cce-certd.yaml(5).\n",
               program_invocation_short_name, DEFAULT_CONFIG_FILE);
}

/* Returns 1 to go on, 0 to exit successfully, or a negative errno. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CHECK = 0x100,
                ARG_DUMP_CONFIG,
                ARG_ONCE,
                ARG_CLUSTER,
                ARG_FORCE,
                ARG_STATUS,
                ARG_JSON,
                ARG_DRY_RUN,
                ARG_VERSION,
                ARG_REVOKE,
                ARG_ALL,
                ARG_USER_ID,
                ARG_AGENCY_ID,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check", no_argument, NULL, ARG_CHECK },
                { "dump-config", no_argument, NULL, ARG_DUMP_CONFIG },
                { "once", no_argument, NULL, ARG_ONCE },
                { "cluster", required_argument, NULL, ARG_CLUSTER },
                { "force", no_argument, NULL, ARG_FORCE },
                { "status", no_argument, NULL, ARG_STATUS },
                { "json", no_argument, NULL, ARG_JSON },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "revoke", no_argument, NULL, ARG_REVOKE },
                { "all", no_argument, NULL, ARG_ALL },
                { "user-id", required_argument, NULL, ARG_USER_ID },
                { "agency-id", required_argument, NULL, ARG_AGENCY_ID },
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
                case ARG_ONCE:
                case ARG_STATUS:
                case ARG_REVOKE:
                        if (arg_action != ACTION_RUN) {
                                fprintf(stderr, "%s: --check, --dump-config, --once, --revoke and --status exclude each other\n",
                                        program_invocation_short_name);
                                return -EINVAL;
                        }
                        arg_action = c == ARG_CHECK ? ACTION_CHECK : c == ARG_DUMP_CONFIG ? ACTION_DUMP_CONFIG :
                                c == ARG_ONCE ? ACTION_ONCE : c == ARG_REVOKE ? ACTION_REVOKE : ACTION_STATUS;
                        break;
                case ARG_ALL:
                        arg_all = true;
                        break;
                case ARG_USER_ID:
                case ARG_AGENCY_ID:
                        if (arg_revoke_identity.id[0]) {
                                fprintf(stderr, "%s: give --user-id or --agency-id once\n", program_invocation_short_name);
                                return -EINVAL;
                        }
                        if (!cce_identity_id_valid(optarg)) {
                                fprintf(stderr, "%s: '%s' is not an IAM user or agency id (1 to %d letters, digits, '-', '_')\n",
                                        program_invocation_short_name, optarg, CCE_IDENTITY_ID_MAX);
                                return -EINVAL;
                        }
                        arg_revoke_identity.agency = c == ARG_AGENCY_ID;
                        memcpy(arg_revoke_identity.id, optarg, strlen(optarg) + 1);
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_CLUSTER: {
                        char **n = reallocarray(arg_clusters, arg_n_clusters + 2, sizeof(char *));
                        if (!n)
                                return -ENOMEM;
                        arg_clusters = n;
                        arg_clusters[arg_n_clusters++] = optarg;
                        arg_clusters[arg_n_clusters] = NULL;
                        break;
                }
                case ARG_FORCE:
                        arg_force = true;
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

        if (arg_json && arg_action != ACTION_STATUS) {
                fprintf(stderr, "%s: --json goes with --status\n", program_invocation_short_name);
                return -EINVAL;
        }
        if (arg_action == ACTION_REVOKE) {
                if (arg_force) {
                        fprintf(stderr, "%s: --force goes with --once (--revoke always renews)\n", program_invocation_short_name);
                        return -EINVAL;
                }
                if (!arg_clusters == !arg_all) {
                        fprintf(stderr, arg_all ? "%s: --revoke takes --cluster NAME or --all, not both\n" :
                                "%s: --revoke needs the clusters: --cluster NAME (repeatable), or --all\n",
                                program_invocation_short_name);
                        return -EINVAL;
                }
        } else if (arg_all || arg_revoke_identity.id[0]) {
                fprintf(stderr, "%s: --all, --user-id and --agency-id go with --revoke\n", program_invocation_short_name);
                return -EINVAL;
        } else if ((arg_clusters || arg_force || arg_dry_run) && arg_action != ACTION_ONCE) {
                fprintf(stderr, "%s: --cluster, --force and --dry-run go with --once or --revoke\n", program_invocation_short_name);
                return -EINVAL;
        }
        /* --status takes cluster names as arguments. */
        for (; arg_action == ACTION_STATUS && optind < argc; optind++) {
                char **n = reallocarray(arg_clusters, arg_n_clusters + 2, sizeof(char *));
                if (!n)
                        return -ENOMEM;
                arg_clusters = n;
                arg_clusters[arg_n_clusters++] = argv[optind];
                arg_clusters[arg_n_clusters] = NULL;
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'; see --help\n", program_invocation_short_name, argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* --check and --dump-config talk to the person at the terminal: errors as
 * FILE:LINE:COLUMN lines on stderr, the result on stdout. */
/* Loads the configuration for a command at the terminal: errors as
 * FILE:LINE:COLUMN lines on stderr. Returns 0, or the exit status. */
static int load_config_for_terminal(Config **ret) {
        ConfigErrors errors = {};
        int r;

        r = config_load_file(arg_config, ret, &errors);
        config_errors_print(&errors, arg_config, stderr);
        config_errors_clear(&errors);
        if (r == -EINVAL)
                return EX_CONFIG;
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", arg_config, strerror(-r));
                return EX_SOFTWARE;
        }
        return 0;
}

static int run_check(bool dump) {
        _cleanup_(config_freep) Config *config = NULL;
        int r;

        r = load_config_for_terminal(&config);
        if (r != 0)
                return r;

        if (dump) {
                _cleanup_free_ char *text = NULL;
                r = config_dump(config, &text);
                if (r < 0) {
                        fprintf(stderr, "Failed to format the configuration: %s\n", strerror(-r));
                        return EX_SOFTWARE;
                }
                fputs(text, stdout);
        } else {
                printf("configuration OK: %zu cluster%s", config->n_clusters, config->n_clusters == 1 ? "" : "s");
                if (config->n_discover > 0)
                        printf(", %zu discover entr%s", config->n_discover, config->n_discover == 1 ? "y" : "ies");
                printf("\n");
        }
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

/* With discover entries: the discovered clusters too, as the daemon's last
 * listings found them (no call). */
static void add_saved_discovered(Config **config) {
        if ((*config)->n_discover > 0) {
                /* The discovered clusters too, as the daemon's last listings found them. */
                _cleanup_(json_node_freep) JsonNode *saved = NULL;
                DiscoveredItem *items = NULL;
                size_t n = 0;
                Config *with = NULL;
                if (state_load_discovered(manager_state_directory(*config), &saved) >= 0 &&
                    discovered_items_from_saved(*config, saved, &items, &n) >= 0 &&
                    config_with_discovered(*config, items, n, NULL, NULL, &with) >= 0) {
                        config_free(*config);
                        *config = with;
                }
                discovered_items_free(items, n);
        }
}

/* The configuration for --status and --revoke --dry-run: the file's
 * clusters and the discovered ones. Returns 0, or the exit status. */
static int load_config_with_discovered(Config **ret) {
        int r = load_config_for_terminal(ret);
        if (r == 0)
                add_saved_discovered(ret);
        return r;
}

static int run_status(void) {
        _cleanup_(config_freep) Config *config = NULL;
        int r;

        r = load_config_with_discovered(&config);
        if (r != 0)
                return r;
        r = status_print(config, manager_state_directory(config), arg_clusters, arg_json, (int64_t) time(NULL), stdout);
        if (r == -ENOENT)
                return EX_USAGE;
        if (r < 0)
                return EX_SOFTWARE;
        return fflush(stdout) == 0 ? r : EX_IOERR;
}

/* --revoke --dry-run: what would be revoked, no call. */
static int run_revoke_dry_run(void) {
        _cleanup_(config_freep) Config *config = NULL;
        int r;

        r = load_config_with_discovered(&config);
        if (r != 0)
                return r;
        for (char **name = arg_clusters; name && *name; name++)
                if (!config_find_cluster(config, *name)) {
                        fprintf(stderr, "No cluster named %s in %s.\n", *name, config->path);
                        return EX_USAGE;
                }
        r = revocation_describe(config, arg_clusters, &arg_revoke_identity, stdout);
        return fflush(stdout) == 0 ? r : EX_IOERR;
}

/* The daemon, or one pass of it (--once, --revoke). */
static int run_manager(bool once) {
        _cleanup_(manager_freep) Manager *m = NULL;
        Config *config = NULL;
        ConfigErrors errors = {};
        ManagerOptions options = {
                .config_path = arg_config,
                .once = once,
                .force = arg_force,
                .only = arg_clusters,
                .dry_run = arg_dry_run,
                .revoke = arg_action == ACTION_REVOKE,
                .revoke_identity = arg_revoke_identity,
        };
        if (options.revoke)
                options.force = true;  /* a new certificate, whatever the file holds */
        int r;

        r = config_load_file(arg_config, &config, &errors);
        log_config_errors(&errors);
        config_errors_clear(&errors);
        if (r == -EINVAL) {
                log_error("Refusing to start with an invalid configuration.");
                sd_notifyf(false, "ERRNO=%d", EINVAL);
                return EX_CONFIG;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to load %s: %m", arg_config);
                return EX_SOFTWARE;
        }

        r = manager_new(&options, config, &m);
        if (r < 0) {
                sd_notifyf(false, "ERRNO=%d", -r);
                if (r == -EACCES || r == -EROFS || r == -ENOENT || r == -ENOTDIR || r == -EPERM || r == -ENOLINK)
                        return EX_CANTCREAT;
                log_error_errno(r, "Failed to start: %m");
                return EX_SOFTWARE;
        }
        return manager_run(m);
}
int main(int argc, char *argv[]) {
        int r;

        log_setup();
        r = secure_memory_setup();
        if (r < 0) {
                log_error_errno(r, "Cannot make OpenSSL wipe the memory it frees: %m");
                return EX_SOFTWARE;
        }
        /* No core dump, no ptrace by other processes of this user, /proc/PID
         * files owned by root: this process holds private keys and secrets. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        r = parse_argv(argc, argv);
        if (r > 0 && (arg_action == ACTION_ONCE || arg_action == ACTION_RUN ||
                      (arg_action == ACTION_REVOKE && !arg_dry_run)))
                manager_block_signals();
        if (r < 0)
                return EX_USAGE;
        if (r == 0)
                return fflush(stdout) == 0 ? EXIT_SUCCESS : EX_IOERR;

        switch (arg_action) {
        case ACTION_CHECK:
                r = run_check(false);
                break;
        case ACTION_DUMP_CONFIG:
                r = run_check(true);
                break;
        case ACTION_ONCE:
                r = run_manager(true);
                break;
        case ACTION_STATUS:
                r = run_status();
                break;
        case ACTION_REVOKE:
                r = arg_dry_run ? run_revoke_dry_run() : run_manager(true);
                break;
        default:
                r = run_manager(false);
                break;
        }
        free(arg_clusters);
        return r;
}
