/* enrichctl.c: command line of enrichctl: global options, the command
 * table and usage. The commands live in daemon_commands.c (answered by
 * enrichd) and claims_commands.c (answered by the caller's keyring). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich.h"
#include "enrichctl.h"
#include "util.h"

static void usage(FILE *out)
{
        fputs("Usage: enrichctl [--socket PATH] [--jwks PATH] [--json] COMMAND [ARGS]\n"
              "\n"
              "Commands:\n"
              "  status                    daemon status\n"
              "  whoami                    your verified session claims\n"
              "  check --scope S --group G exit 0 if every given scope and group is held,\n"
              "                            1 if not (or no valid claims), 2 on error\n"
              "  sessions [USER]           login sessions known to the daemon\n"
              "\n"
              "Options:\n"
              "  --socket PATH   daemon socket (default $ENRICH_SOCKET, else " ENRICH_DEFAULT_SOCKET ")\n"
              "  --jwks PATH     public keys (default $ENRICH_JWKS, else " ENRICH_DEFAULT_JWKS ")\n"
              "  --json          machine-readable output\n"
              "  -v, --verbose   say so when check succeeds\n"
              "  -h, --help      this help\n"
              "  -V, --version   version\n", out);
}

typedef struct command {
        const char *name;
        int (*run)(const ctl_options *o);
        size_t max_args;
} command;

static const command commands[] = {
        { "status", cmd_status, 0 },
        { "whoami", cmd_whoami, 0 },
        { "check", cmd_check, 0 },
        { "sessions", cmd_sessions, 1 },
};

enum { OPT_SOCKET = 0x100, OPT_JWKS, OPT_JSON, OPT_SCOPE, OPT_GROUP };

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, OPT_SOCKET },
                { "jwks", required_argument, NULL, OPT_JWKS },
                { "json", no_argument, NULL, OPT_JSON },
                { "scope", required_argument, NULL, OPT_SCOPE },
                { "group", required_argument, NULL, OPT_GROUP },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        ctl_options o = { 0 };
        const command *cmd = NULL;
        int opt, code = CTL_EXIT_ERROR;

        /* At most one entry per argument, so argc bounds both lists. */
        o.scopes = calloc((size_t) argc, sizeof(*o.scopes));
        o.groups = calloc((size_t) argc, sizeof(*o.groups));
        if (!o.scopes || !o.groups) {
                fprintf(stderr, "enrichctl: out of memory\n");
                goto out;
        }
        while ((opt = getopt_long(argc, argv, "hvV", options, NULL)) != -1) {
                switch (opt) {
                case OPT_SOCKET:
                        o.socket = optarg;
                        break;
                case OPT_JWKS:
                        o.jwks = optarg;
                        break;
                case OPT_JSON:
                        o.json = true;
                        break;
                case OPT_SCOPE:
                        o.scopes[o.n_scopes++] = optarg;
                        break;
                case OPT_GROUP:
                        o.groups[o.n_groups++] = optarg;
                        break;
                case 'v':
                        o.verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        code = CTL_EXIT_OK;
                        goto out;
                case 'V':
                        printf("enrichctl %s\n", ENRICH_VERSION);
                        code = CTL_EXIT_OK;
                        goto out;
                default:
                        usage(stderr);
                        goto out;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "enrichctl: missing command\n");
                usage(stderr);
                goto out;
        }
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (strcmp(argv[optind], commands[i].name) == 0)
                        cmd = &commands[i];
        if (!cmd) {
                fprintf(stderr, "enrichctl: unknown command '%s'\n", argv[optind]);
                usage(stderr);
                goto out;
        }
        o.args = argv + optind + 1;
        o.n_args = (size_t) (argc - optind - 1);
        if (o.n_args > cmd->max_args) {
                fprintf(stderr, "enrichctl: too many arguments for %s\n", cmd->name);
                usage(stderr);
                goto out;
        }
        if (cmd->run == cmd_check && o.n_scopes + o.n_groups == 0) {
                fprintf(stderr, "enrichctl: check needs --scope or --group\n");
                usage(stderr);
                goto out;
        }
        if (cmd->run != cmd_check && o.n_scopes + o.n_groups > 0) {
                fprintf(stderr, "enrichctl: --scope and --group belong to check\n");
                usage(stderr);
                goto out;
        }
        if (!o.socket)
                o.socket = getenv("ENRICH_SOCKET");
        if (!o.socket || !*o.socket)
                o.socket = ENRICH_DEFAULT_SOCKET;

        code = cmd->run(&o);
out:
        free(o.scopes);
        free(o.groups);
        return code;
}
