/* enrichctl.c: command line of enrichctl: global options, the command
 * table and usage. The commands live in daemon_commands.c (answered by
 * enrichd: also the signing keys), grant_commands.c (grants, revocation,
 * explain, refresh, reload)
 * and claims_commands.c (answered by the caller's keyring). */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich.h"
#include "enrichctl.h"
#include "util.h"

static void usage(FILE *out) {
        fputs("Usage: enrichctl [--socket PATH] [--jwks PATH] [--json] COMMAND [ARGS]\n"
              "\n"
              "Commands:\n"
              "  status                    daemon status\n"
              "  whoami                    your verified session claims\n"
              "  check --scope S --group G exit 0 if every given scope and group is held,\n"
              "                            1 if not (or no valid claims), 2 on error\n"
              "  sessions [USER]           login sessions known to the daemon\n"
              "  grant USER [--group G]... [--scope S]... [--tenant T] --ttl DURATION --reason TEXT\n"
              "                            just-in-time grant (admin); prints its id.\n"
              "                            DURATION: 90, 30s, 15m, 1h30m, 2d, 1w;\n"
              "                            --fleet [--hosts LABEL]...: signed into etcd for the\n"
              "                            fleet's hosts (with one of the labels)\n"
              "  grants [--user U] [--all] active grants (--all: also expired and revoked);\n"
              "                            users see only their own\n"
              "  revoke GRANT_ID | --session SID | --user USER\n"
              "                            revoke a grant, a session's claims, or everything\n"
              "                            of a user; live keys follow at once (admin)\n"
              "  explain USER --service S [--rhost H] [--tty T] [--amr M]...\n"
              "                            dry run: the claims such a login would get now,\n"
              "                            and which rule or grant gave each (admin)\n"
              "  refresh [--user U]        re-evaluate live sessions now (admin)\n"
              "  reload                    re-read the config, as SIGHUP does (admin)\n"
              "  token issue USER --ttl DURATION [--scope S]... [--description TEXT] [--fleet]\n"
              "                            a service-account token for USER, printed once (admin)\n"
              "                            (--fleet: signed into etcd, it logs in on every fleet host)\n"
              "  token list [--user U]     tokens, never their secrets; flags those unused 30d+\n"
              "  token revoke ID           revoke a token and the sessions it opened (admin)\n"
              "  token rotate ID [--grace DURATION]\n"
              "                            new secret, printed once; the old one works for\n"
              "                            the grace period (default: not at all) (admin)\n"
              "  token unlock USER         end the locks of USER's tokens early (admin)\n"
              "  disable USER --reason TEXT  refuse USER's logins, revoke its tokens and keys (admin)\n"
              "                            (--fleet: on every fleet host; enable --fleet undoes)\n"
              "  enable USER               undo disable (admin)\n"
              "  audit [--since DURATION] [--user U] [--action A] [--limit N] [--follow]\n"
              "                            the audit trail (admin; users see rows about\n"
              "                            themselves); --follow keeps printing new rows\n"
              "  audit verify [--fleet HOST]\n"
              "                            check the hash chain and the signed checkpoints;\n"
              "                            exit 1 naming the first bad row (admin); --fleet, on\n"
              "                            HOST: also against the checkpoint it published to etcd\n"
              "  audit checkpoint          sign the chain head now (admin)\n"
              "  keys                      the signing keys: current, still published, retired\n"
              "  keys rotate [--compromised]\n"
              "                            new signing key; the old one stays in the JWKS until\n"
              "                            its tokens expire, or with --compromised leaves it at\n"
              "                            once and live sessions are re-issued (admin)\n"
              "  fleet status|hosts|jwks   fleet mode as this host sees it: contact, revision,\n"
              "                            lag, the live hosts, one JWKS of their keys\n"
              "  fleet enroll HOST         the etcd user and role (etcdctl commands) and the\n"
              "                            credentials line of a new fleet host (admin)\n"
              "  doctor [--config FILE] [--pam-dir DIR] [--nsswitch FILE] [--machine-id FILE]\n"
              "         [--enrichd PATH]   check this host's setup and say what to fix;\n"
              "                            exit 0 fine, 1 warnings, 2 errors\n"
              "\n"
              "Options:\n"
              "  --socket PATH   daemon socket (default $ENRICH_SOCKET, else " ENRICH_DEFAULT_SOCKET ")\n"
              "  --jwks PATH     public keys (default $ENRICH_JWKS, else " ENRICH_DEFAULT_JWKS ")\n"
              "  --json          machine-readable output\n"
              "  -v, --verbose   say so when check succeeds\n"
              "  -h, --help      this help\n"
              "  -V, --version   version\n"
              "\n"
              "Exit status: 0 done (or held), 1 refused, not found or not held,\n"
              "2 usage error or daemon unreachable.\n", out);
}

typedef struct command {
        const char *name;
        int (*run)(const ctl_options *o);
        size_t min_args, max_args;
        unsigned accepted;      /* CTL_OPT_* the command takes */
        unsigned required;      /* CTL_OPT_* it cannot do without */
} command;

static const command commands[] = {
        { "status", cmd_status, 0, 0, 0, 0 },
        { "whoami", cmd_whoami, 0, 0, 0, 0 },
        { "check", cmd_check, 0, 0, CTL_OPT_SCOPE | CTL_OPT_GROUP, 0 },
        { "sessions", cmd_sessions, 0, 1, 0, 0 },
        { "grant", cmd_grant, 1, 1,
          CTL_OPT_GROUP | CTL_OPT_SCOPE | CTL_OPT_TENANT | CTL_OPT_TTL | CTL_OPT_REASON | CTL_OPT_FLEET |
          CTL_OPT_HOSTS,
          CTL_OPT_TTL | CTL_OPT_REASON },
        { "grants", cmd_grants, 0, 0, CTL_OPT_USER | CTL_OPT_ALL, 0 },
        { "revoke", cmd_revoke, 0, 1, CTL_OPT_SESSION | CTL_OPT_USER, 0 },
        { "explain", cmd_explain, 1, 1,
          CTL_OPT_SERVICE | CTL_OPT_RHOST | CTL_OPT_TTY | CTL_OPT_AMR, CTL_OPT_SERVICE },
        { "refresh", cmd_refresh, 0, 0, CTL_OPT_USER, 0 },
        { "reload", cmd_reload, 0, 0, 0, 0 },
        { "doctor", cmd_doctor, 0, 0, CTL_OPT_DOCTOR, 0 },
        { "token", cmd_token, 1, 2,
          CTL_OPT_TTL | CTL_OPT_SCOPE | CTL_OPT_DESCRIPTION | CTL_OPT_GRACE | CTL_OPT_USER | CTL_OPT_FLEET, 0 },
        { "disable", cmd_disable, 1, 1, CTL_OPT_REASON | CTL_OPT_FLEET, CTL_OPT_REASON },
        { "enable", cmd_enable, 1, 1, CTL_OPT_FLEET, 0 },
        { "audit", cmd_audit, 0, 2, CTL_OPT_AUDIT | CTL_OPT_USER | CTL_OPT_FLEET, 0 },
        { "keys", cmd_keys, 0, 1, CTL_OPT_COMPROMISED, 0 },
        { "fleet", cmd_fleet, 1, 2, 0, 0 },
};

enum { OPT_SOCKET = 0x100, OPT_JWKS, OPT_JSON, OPT_SCOPE, OPT_GROUP, OPT_TENANT, OPT_TTL,
       OPT_REASON, OPT_USER, OPT_ALL, OPT_SESSION, OPT_SERVICE, OPT_RHOST, OPT_TTY, OPT_AMR,
       OPT_CONFIG, OPT_PAM_DIR, OPT_NSSWITCH, OPT_MACHINE_ID, OPT_ENRICHD, OPT_DESCRIPTION, OPT_GRACE,
       OPT_SINCE, OPT_ACTION, OPT_LIMIT, OPT_FOLLOW, OPT_COMPROMISED, OPT_FLEET, OPT_HOSTS };

static const struct option options[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "jwks", required_argument, NULL, OPT_JWKS },
        { "json", no_argument, NULL, OPT_JSON },
        { "scope", required_argument, NULL, OPT_SCOPE },
        { "group", required_argument, NULL, OPT_GROUP },
        { "tenant", required_argument, NULL, OPT_TENANT },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "reason", required_argument, NULL, OPT_REASON },
        { "user", required_argument, NULL, OPT_USER },
        { "all", no_argument, NULL, OPT_ALL },
        { "session", required_argument, NULL, OPT_SESSION },
        { "service", required_argument, NULL, OPT_SERVICE },
        { "rhost", required_argument, NULL, OPT_RHOST },
        { "tty", required_argument, NULL, OPT_TTY },
        { "amr", required_argument, NULL, OPT_AMR },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "pam-dir", required_argument, NULL, OPT_PAM_DIR },
        { "nsswitch", required_argument, NULL, OPT_NSSWITCH },
        { "machine-id", required_argument, NULL, OPT_MACHINE_ID },
        { "enrichd", required_argument, NULL, OPT_ENRICHD },
        { "description", required_argument, NULL, OPT_DESCRIPTION },
        { "grace", required_argument, NULL, OPT_GRACE },
        { "since", required_argument, NULL, OPT_SINCE },
        { "action", required_argument, NULL, OPT_ACTION },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "follow", no_argument, NULL, OPT_FOLLOW },
        { "compromised", no_argument, NULL, OPT_COMPROMISED },
        { "fleet", no_argument, NULL, OPT_FLEET },
        { "hosts", required_argument, NULL, OPT_HOSTS },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {}
};

/* The long name of the option with bit, for messages. */
static const char *option_name(unsigned bit) {
        static const struct { unsigned bit; const char *name; } names[] = {
                { CTL_OPT_SCOPE, "scope" }, { CTL_OPT_GROUP, "group" }, { CTL_OPT_TENANT, "tenant" },
                { CTL_OPT_TTL, "ttl" }, { CTL_OPT_REASON, "reason" }, { CTL_OPT_USER, "user" },
                { CTL_OPT_ALL, "all" }, { CTL_OPT_SESSION, "session" }, { CTL_OPT_SERVICE, "service" },
                { CTL_OPT_RHOST, "rhost" }, { CTL_OPT_TTY, "tty" }, { CTL_OPT_AMR, "amr" },
                { CTL_OPT_DOCTOR, "config, --pam-dir, --nsswitch, --machine-id or --enrichd" },
                { CTL_OPT_DESCRIPTION, "description" }, { CTL_OPT_GRACE, "grace" },
                { CTL_OPT_AUDIT, "since, --action, --limit or --follow" },
                { CTL_OPT_COMPROMISED, "compromised" }, { CTL_OPT_FLEET, "fleet" }, { CTL_OPT_HOSTS, "hosts" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (names[i].bit == bit)
                        return names[i].name;
        return "?";
}

/* Refuses options the command does not take, or lacks, with a message. */
static bool options_fit(const command *cmd, const ctl_options *o) {
        for (unsigned bit = 1; bit != 0; bit <<= 1) {
                if ((o->given & bit) && !(cmd->accepted & bit)) {
                        fprintf(stderr, "enrichctl: --%s does not apply to %s\n", option_name(bit), cmd->name);
                        return false;
                }
                if (!(o->given & bit) && (cmd->required & bit)) {
                        fprintf(stderr, "enrichctl: %s needs --%s\n", cmd->name, option_name(bit));
                        return false;
                }
        }
        if (o->n_args < cmd->min_args) {
                fprintf(stderr, "enrichctl: %s needs an argument\n", cmd->name);
                return false;
        }
        if (o->n_args > cmd->max_args) {
                fprintf(stderr, "enrichctl: too many arguments for %s\n", cmd->name);
                return false;
        }
        if ((o->given & CTL_OPT_HOSTS) && !(o->given & CTL_OPT_FLEET)) {
                fprintf(stderr, "enrichctl: --hosts targets fleet hosts: it needs --fleet\n");
                return false;
        }
        if (cmd->run == cmd_check && o->n_scopes + o->n_groups == 0) {
                fprintf(stderr, "enrichctl: check needs --scope or --group\n");
                return false;
        }
        return true;
}

/* Sets a single-valued option, refusing it twice: a second --ttl is more
 * likely a mistake than an intended override. */
static bool set_once(const char **slot, const char *value, const char *name) {
        if (*slot) {
                fprintf(stderr, "enrichctl: --%s given twice\n", name);
                return false;
        }
        *slot = value;
        return true;
}

/* Where each option with a CTL_OPT_* bit goes in ctl_options: a value
 * (const char *, given once), a list (const char **, repeatable, with its
 * size_t count) or a flag (bool); the name a message gives. */
typedef enum option_kind { OPTION_VALUE, OPTION_LIST, OPTION_FLAG } option_kind;

static const struct option_slot {
        int id;
        option_kind kind;
        size_t offset, count_offset;
        const char *name;
        unsigned bit;
} option_slots[] = {
#define VALUE(id, field, name, bit) { id, OPTION_VALUE, offsetof(ctl_options, field), 0, name, bit }
#define LIST(id, field, count, name, bit) \
        { id, OPTION_LIST, offsetof(ctl_options, field), offsetof(ctl_options, count), name, bit }
#define FLAG(id, field, name, bit) { id, OPTION_FLAG, offsetof(ctl_options, field), 0, name, bit }
        LIST(OPT_SCOPE, scopes, n_scopes, "scope", CTL_OPT_SCOPE),
        LIST(OPT_GROUP, groups, n_groups, "group", CTL_OPT_GROUP),
        LIST(OPT_AMR, amr, n_amr, "amr", CTL_OPT_AMR),
        VALUE(OPT_TENANT, tenant, "tenant", CTL_OPT_TENANT),
        VALUE(OPT_TTL, ttl, "ttl", CTL_OPT_TTL),
        VALUE(OPT_REASON, reason, "reason", CTL_OPT_REASON),
        VALUE(OPT_USER, user, "user", CTL_OPT_USER),
        FLAG(OPT_ALL, all, "all", CTL_OPT_ALL),
        VALUE(OPT_SESSION, session, "session", CTL_OPT_SESSION),
        VALUE(OPT_SERVICE, service, "service", CTL_OPT_SERVICE),
        VALUE(OPT_RHOST, rhost, "rhost", CTL_OPT_RHOST),
        VALUE(OPT_TTY, tty, "tty", CTL_OPT_TTY),
        VALUE(OPT_CONFIG, config, "config", CTL_OPT_DOCTOR),
        VALUE(OPT_PAM_DIR, pam_dir, "pam-dir", CTL_OPT_DOCTOR),
        VALUE(OPT_NSSWITCH, nsswitch, "nsswitch", CTL_OPT_DOCTOR),
        VALUE(OPT_MACHINE_ID, machine_id, "machine-id", CTL_OPT_DOCTOR),
        VALUE(OPT_ENRICHD, enrichd, "enrichd", CTL_OPT_DOCTOR),
        VALUE(OPT_DESCRIPTION, description, "description", CTL_OPT_DESCRIPTION),
        VALUE(OPT_GRACE, grace, "grace", CTL_OPT_GRACE),
        VALUE(OPT_SINCE, since, "since", CTL_OPT_AUDIT),
        VALUE(OPT_ACTION, action, "action", CTL_OPT_AUDIT),
        VALUE(OPT_LIMIT, limit, "limit", CTL_OPT_AUDIT),
        FLAG(OPT_FOLLOW, follow, "follow", CTL_OPT_AUDIT),
        FLAG(OPT_COMPROMISED, compromised, "compromised", CTL_OPT_COMPROMISED),
        FLAG(OPT_FLEET, fleet, "fleet", CTL_OPT_FLEET),
        LIST(OPT_HOSTS, hosts, n_hosts, "hosts", CTL_OPT_HOSTS),
#undef VALUE
#undef LIST
#undef FLAG
};

/* Takes the option id (with value) into o when option_slots has it:
 * *ret_fine false when a value was given twice. false: not one of them. */
static bool set_option(ctl_options *o, int id, const char *value, bool *ret_fine) {
        for (size_t i = 0; i < ARRAY_SIZE(option_slots); i++) {
                const struct option_slot *s = &option_slots[i];
                char *field = (char *) o + s->offset;

                if (s->id != id)
                        continue;
                o->given |= s->bit;
                if (s->kind == OPTION_FLAG)
                        *(bool *) field = true;
                else if (s->kind == OPTION_LIST)
                        (*(const char ***) field)[(*(size_t *) ((char *) o + s->count_offset))++] = value;
                else
                        *ret_fine = set_once((const char **) field, value, s->name);
                return true;
        }
        return false;
}

int main(int argc, char **argv) {
        ctl_options o = { 0 };
        const command *cmd = NULL;
        int opt, code = CTL_EXIT_ERROR;

        /* At most one entry per argument, so argc bounds every list. */
        o.scopes = calloc((size_t) argc, sizeof(*o.scopes));
        o.groups = calloc((size_t) argc, sizeof(*o.groups));
        o.amr = calloc((size_t) argc, sizeof(*o.amr));
        o.hosts = calloc((size_t) argc, sizeof(*o.hosts));
        if (!o.scopes || !o.groups || !o.amr || !o.hosts) {
                fprintf(stderr, "enrichctl: out of memory\n");
                goto out;
        }
        while ((opt = getopt_long(argc, argv, "hvV", options, NULL)) != -1) {
                bool fine = true;

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
                        /* The options of option_slots, or a mistake. */
                        if (!set_option(&o, opt, optarg, &fine))
                                fine = false;
                        break;
                }
                if (!fine) {
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
        if (!options_fit(cmd, &o)) {
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
        free(o.amr);
        free(o.hosts);
        return code;
}
