/* enrichctl.c: command line of enrichctl: global options, the command
 * table and usage. The commands live in daemon_commands.c (answered by
 * enrichd: also the signing keys), grant_commands.c (grants, revocation,
 * explain, refresh, reload), request_commands.c (access requests)
 * and claims_commands.c (answered by the caller's keyring). */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich.h"
#include "enrichctl.h"
#include "names.h"
#include "util.h"

/* Each command's usage lines, as the global usage shows them; a command
 * with subcommands has several. */
static const struct help_entry {
        const char *command, *text;
} help_entries[] = {
        { "status", "  status                    daemon status\n" },
        { "whoami", "  whoami                    your verified session claims\n" },
        { "check", "  check --scope S --group G exit 0 if every given scope and group is held,\n"
                   "                            1 if not (or no valid claims), 2 on error\n" },
        { "sessions", "  sessions [USER]           login sessions known to the daemon\n" },
        { "grant", "  grant USER [--group G]... [--scope S]... [--tenant T] --ttl DURATION --reason TEXT\n"
                   "        [--force]           just-in-time grant (admin); prints its id. A group\n"
                   "                            no rule or userdb group knows needs --force.\n"
                   "                            DURATION as systemd writes it: 90, 30s, 10min,\n"
                   "                            1h30min, 1h 30min, 2d, 1w (clamped to max_ttl).\n"
                   "                            --fleet [--hosts LABEL]...: signed into etcd for the\n"
                   "                            fleet's hosts (with one of the labels)\n" },
        { "grants", "  grants [--user U] [--all] active grants (--all: also expired and revoked);\n"
                    "                            users see only their own\n" },
        { "revoke", "  revoke GRANT_ID | --session SID | --user USER\n"
                    "                            revoke a grant, a session's claims, or everything\n"
                    "                            of a user; live keys follow at once (admin)\n" },
        { "explain", "  explain USER --service S [--rhost H] [--tty T] [--amr M]...\n"
                     "                            dry run: the claims such a login would get now,\n"
                     "                            and which rule or grant gave each (admin);\n"
                     "                            M: pwd pop tok svc mfa otp hwk swk\n" },
        { "request", "  request [--group G]... [--scope S]... --ttl DURATION --reason TEXT\n"
                     "                            ask admins for a grant to yourself; prints its id\n" },
        { "requests", "  requests [--user U]       access requests (admin; users see their own)\n" },
        { "approve", "  approve ID                grant a request (admin, not the requester)\n" },
        { "deny", "  deny ID --reason TEXT     refuse a request (admin, not the requester)\n" },
        { "refresh", "  refresh [--user U]        re-evaluate live sessions now (admin)\n" },
        { "reload", "  reload                    re-read the config, as SIGHUP does (admin)\n" },
        { "token", "  token issue USER --ttl DURATION [--scope S]... [--description TEXT] [--fleet]\n"
                   "                            a service-account token for USER, printed once (admin)\n"
                   "                            (--fleet: signed into etcd, it logs in on every fleet host)\n" },
        { "token", "  token list [--user U]     tokens, never their secrets; flags those unused 30d+\n" },
        { "token", "  token revoke ID           revoke a token and the sessions it opened (admin)\n" },
        { "token", "  token rotate ID [--grace DURATION]\n"
                   "                            new secret, printed once; the old one works for\n"
                   "                            the grace period (default: not at all) (admin)\n" },
        { "token", "  token unlock USER         end the locks of USER's tokens early (admin)\n" },
        { "disable", "  disable USER --reason TEXT  refuse USER's logins, revoke its tokens and keys (admin)\n"
                     "                            (--fleet: on every fleet host; enable --fleet undoes)\n" },
        { "enable", "  enable USER               undo disable (admin)\n" },
        { "audit", "  audit [--since TIME] [--until TIME] [--user U] [--action A] [--result R]\n"
                   "        [--limit N] [--follow]\n"
                   "                            the audit trail (admin; users see rows about\n"
                   "                            themselves); TIME is today, yesterday, a date\n"
                   "                            (\"2026-12-01 10:00\", ISO 8601) or a duration ago;\n"
                   "                            --follow keeps printing new rows until Ctrl-C\n" },
        { "audit", "  audit verify [--fleet HOST]\n"
                   "                            check the hash chain and the signed checkpoints;\n"
                   "                            exit 1 naming the first bad row (admin); --fleet, on\n"
                   "                            HOST: also against the checkpoint it published to etcd\n" },
        { "audit", "  audit checkpoint          sign the chain head now (admin)\n" },
        { "keys", "  keys                      the signing keys: current, still published, retired\n" },
        { "keys", "  keys rotate [--compromised]\n"
                  "                            new signing key; the old one stays in the JWKS until\n"
                  "                            its tokens expire, or with --compromised leaves it at\n"
                  "                            once and live sessions are re-issued (admin)\n" },
        { "fleet", "  fleet status|hosts|jwks   fleet mode as this host sees it: contact, revision,\n"
                   "                            lag, the live hosts, one JWKS of their keys that an\n"
                   "                            issuer vouched for (the others on stderr)\n" },
        { "fleet", "  fleet enroll HOST         the etcd user and role (etcdctl commands) and the\n"
                   "                            credentials line of a new fleet host (admin)\n" },
        { "fleet", "  fleet enroll HOST --key THUMBPRINT...\n"
                   "                            on an issuer: vouch for HOST's keys, their thumbprints\n"
                   "                            as 'enrichctl keys' shows them on HOST, in the fleet\n"
                   "                            JWKS (admin)\n" },
        { "doctor", "  doctor [--config FILE] [--pam-dir DIR] [--nsswitch FILE] [--machine-id FILE]\n"
                    "         [--enrichd PATH]   check this host's setup and say what to fix;\n"
                    "                            exit 0 fine, 1 warnings, 2 errors\n" },
        { "help", "  help [COMMAND]            this help, or one command's\n" },
};

static const char global_options[] =
        "Options:\n"
        "  --socket PATH   daemon socket (default $ENRICH_SOCKET, else " ENRICH_DEFAULT_SOCKET ")\n"
        "  --jwks PATH     public keys (default $ENRICH_JWKS, else " ENRICH_DEFAULT_JWKS ")\n"
        "  --json          machine-readable output; errors too, as {error, message, hint}\n"
        "  -v, --verbose   say so when check succeeds\n"
        "  -h, --help      this help; after a command, that command's\n"
        "  -V, --version   version\n";

static void usage(FILE *out) {
        fputs("Usage: enrichctl [--socket PATH] [--jwks PATH] [--json] COMMAND [ARGS]\n\nCommands:\n", out);
        for (size_t i = 0; i < ARRAY_SIZE(help_entries); i++)
                fputs(help_entries[i].text, out);
        fprintf(out,
                "\n%s\nExit status: 0 done (or held), 1 refused, not found or not held,\n"
                "2 usage error or daemon unreachable.\n",
                global_options);
}

/* The usage of one command (every subcommand of it). */
static void command_usage(const char *name, FILE *out) {
        fprintf(out, "Usage: enrichctl [OPTIONS] %s ...\n\n", name);
        for (size_t i = 0; i < ARRAY_SIZE(help_entries); i++)
                if (strcmp(help_entries[i].command, name) == 0)
                        fputs(help_entries[i].text, out);
        fprintf(out, "\n%s", global_options);
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
          CTL_OPT_GROUP | CTL_OPT_SCOPE | CTL_OPT_TENANT | CTL_OPT_TTL | CTL_OPT_REASON | CTL_OPT_FORCE |
                  CTL_OPT_FLEET | CTL_OPT_HOSTS,
          CTL_OPT_TTL | CTL_OPT_REASON },
        { "grants", cmd_grants, 0, 0, CTL_OPT_USER | CTL_OPT_ALL, 0 },
        { "revoke", cmd_revoke, 0, 1, CTL_OPT_SESSION | CTL_OPT_USER, 0 },
        { "explain", cmd_explain, 1, 1, CTL_OPT_SERVICE | CTL_OPT_RHOST | CTL_OPT_TTY | CTL_OPT_AMR, CTL_OPT_SERVICE },
        { "refresh", cmd_refresh, 0, 0, CTL_OPT_USER, 0 },
        { "reload", cmd_reload, 0, 0, 0, 0 },
        { "doctor", cmd_doctor, 0, 0, CTL_OPT_DOCTOR, 0 },
        { "token", cmd_token, 1, 2,
          CTL_OPT_TTL | CTL_OPT_SCOPE | CTL_OPT_DESCRIPTION | CTL_OPT_GRACE | CTL_OPT_USER | CTL_OPT_FLEET, 0 },
        { "disable", cmd_disable, 1, 1, CTL_OPT_REASON | CTL_OPT_FLEET, CTL_OPT_REASON },
        { "enable", cmd_enable, 1, 1, CTL_OPT_FLEET, 0 },
        { "audit", cmd_audit, 0, 2, CTL_OPT_AUDIT | CTL_OPT_USER | CTL_OPT_FLEET, 0 },
        { "keys", cmd_keys, 0, 1, CTL_OPT_COMPROMISED, 0 },
        { "fleet", cmd_fleet, 1, 2, CTL_OPT_KEY, 0 },
        { "request", cmd_request, 0, 0, CTL_OPT_GROUP | CTL_OPT_SCOPE | CTL_OPT_TTL | CTL_OPT_REASON,
          CTL_OPT_TTL | CTL_OPT_REASON },
        { "requests", cmd_requests, 0, 0, CTL_OPT_USER, 0 },
        { "approve", cmd_approve, 1, 1, 0, 0 },
        { "deny", cmd_deny, 1, 1, CTL_OPT_REASON, CTL_OPT_REASON },
};

enum {
        OPT_SOCKET = 0x100,
        OPT_JWKS,
        OPT_JSON,
        OPT_SCOPE,
        OPT_GROUP,
        OPT_TENANT,
        OPT_TTL,
        OPT_REASON,
        OPT_USER,
        OPT_ALL,
        OPT_SESSION,
        OPT_SERVICE,
        OPT_RHOST,
        OPT_TTY,
        OPT_AMR,
        OPT_CONFIG,
        OPT_PAM_DIR,
        OPT_NSSWITCH,
        OPT_MACHINE_ID,
        OPT_ENRICHD,
        OPT_DESCRIPTION,
        OPT_GRACE,
        OPT_SINCE,
        OPT_UNTIL,
        OPT_RESULT,
        OPT_ACTION,
        OPT_LIMIT,
        OPT_FOLLOW,
        OPT_COMPROMISED,
        OPT_FLEET,
        OPT_HOSTS,
        OPT_FORCE,
        OPT_KEY
};

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
        { "until", required_argument, NULL, OPT_UNTIL },
        { "result", required_argument, NULL, OPT_RESULT },
        { "action", required_argument, NULL, OPT_ACTION },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "follow", no_argument, NULL, OPT_FOLLOW },
        { "compromised", no_argument, NULL, OPT_COMPROMISED },
        { "fleet", no_argument, NULL, OPT_FLEET },
        { "hosts", required_argument, NULL, OPT_HOSTS },
        { "force", no_argument, NULL, OPT_FORCE },
        { "key", required_argument, NULL, OPT_KEY },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        {},
};

/* The long name of the option with bit, for messages. */
static const char *option_name(unsigned bit) {
        static const struct {
                unsigned bit;
                const char *name;
        } names[] = {
                { CTL_OPT_SCOPE, "scope" },
                { CTL_OPT_GROUP, "group" },
                { CTL_OPT_TENANT, "tenant" },
                { CTL_OPT_TTL, "ttl" },
                { CTL_OPT_REASON, "reason" },
                { CTL_OPT_USER, "user" },
                { CTL_OPT_ALL, "all" },
                { CTL_OPT_SESSION, "session" },
                { CTL_OPT_SERVICE, "service" },
                { CTL_OPT_RHOST, "rhost" },
                { CTL_OPT_TTY, "tty" },
                { CTL_OPT_AMR, "amr" },
                { CTL_OPT_DOCTOR, "config, --pam-dir, --nsswitch, --machine-id or --enrichd" },
                { CTL_OPT_DESCRIPTION, "description" },
                { CTL_OPT_GRACE, "grace" },
                { CTL_OPT_AUDIT, "since, --until, --action, --result, --limit or --follow" },
                { CTL_OPT_COMPROMISED, "compromised" },
                { CTL_OPT_FLEET, "fleet" },
                { CTL_OPT_HOSTS, "hosts" },
                { CTL_OPT_FORCE, "force" },
                { CTL_OPT_KEY, "key" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (names[i].bit == bit)
                        return names[i].name;
        return "?";
}

/* A usage slip: one line saying what is wrong and where the help is, not
 * the whole usage. Returns CTL_EXIT_ERROR. */
#define usage_slip(name, ...) ctl_fail(CTL_EXIT_ERROR, "enrichctl.Usage", slip_hint(name), __VA_ARGS__)

static const char *slip_hint(const char *name) {
        static char hint[96];

        snprintf(hint, sizeof hint, "see 'enrichctl %s%s--help'", name ? name : "", name ? " " : "");
        return hint;
}

/* Refuses options the command does not take, or lacks, with a message. */
static bool options_fit(const command *cmd, const ctl_options *o) {
        for (unsigned bit = 1; bit != 0; bit <<= 1) {
                if ((o->given & bit) && !(cmd->accepted & bit)) {
                        usage_slip(cmd->name, "--%s does not apply to %s", option_name(bit), cmd->name);
                        return false;
                }
                if (!(o->given & bit) && (cmd->required & bit)) {
                        usage_slip(cmd->name, "%s needs --%s", cmd->name, option_name(bit));
                        return false;
                }
        }
        if (o->n_args < cmd->min_args) {
                usage_slip(cmd->name, "%s needs an argument", cmd->name);
                return false;
        }
        if (o->n_args > cmd->max_args) {
                usage_slip(cmd->name, "too many arguments for %s", cmd->name);
                return false;
        }
        if ((o->given & CTL_OPT_HOSTS) && !(o->given & CTL_OPT_FLEET)) {
                fprintf(stderr, "enrichctl: --hosts targets fleet hosts: it needs --fleet\n");
                return false;
        }
        if (cmd->run == cmd_check && o->n_scopes + o->n_groups == 0) {
                usage_slip(cmd->name, "check needs --scope or --group");
                return false;
        }
        return true;
}

/* A value from a closed list (amr values, audit actions), checked where it
 * is typed, with the close match. */
static bool value_known(const char *option, const char *value, const char *const *list) {
        const char *close;
        char known[768], hint[800];

        if (names_contain(list, value))
                return true;
        close = names_suggest(value, list, 0);
        snprintf(hint, sizeof hint, "valid: %s", names_join(list, ", ", known, sizeof known));
        ctl_fail(CTL_EXIT_ERROR, "enrichctl.InvalidValue", hint, "unknown --%s value \"%s\"%s%s%s", option, value,
                 close ? "; did you mean \"" : "", close ? close : "", close ? "\"?" : "");
        return false;
}

/* Sets a single-valued option, refusing it twice: a second --ttl is more
 * likely a mistake than an intended override. */
static bool set_once(const char **slot, const char *value, const char *name) {
        if (*slot) {
                usage_slip(NULL, "--%s given twice", name);
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
#define VALUE(id, field, name, bit) \
        { id, OPTION_VALUE, offsetof(ctl_options, field), 0, name, bit }
#define LIST(id, field, count, name, bit) \
        { id, OPTION_LIST, offsetof(ctl_options, field), offsetof(ctl_options, count), name, bit }
#define FLAG(id, field, name, bit) \
        { id, OPTION_FLAG, offsetof(ctl_options, field), 0, name, bit }
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
        VALUE(OPT_UNTIL, until, "until", CTL_OPT_AUDIT),
        VALUE(OPT_RESULT, result, "result", CTL_OPT_AUDIT),
        VALUE(OPT_ACTION, action, "action", CTL_OPT_AUDIT),
        VALUE(OPT_LIMIT, limit, "limit", CTL_OPT_AUDIT),
        FLAG(OPT_FOLLOW, follow, "follow", CTL_OPT_AUDIT),
        FLAG(OPT_COMPROMISED, compromised, "compromised", CTL_OPT_COMPROMISED),
        FLAG(OPT_FLEET, fleet, "fleet", CTL_OPT_FLEET),
        LIST(OPT_HOSTS, hosts, n_hosts, "hosts", CTL_OPT_HOSTS),
        FLAG(OPT_FORCE, force, "force", CTL_OPT_FORCE),
        LIST(OPT_KEY, keys, n_keys, "key", CTL_OPT_KEY),
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

/* The command named name, or NULL. */
static const command *find_command(const char *name) {
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (strcmp(name, commands[i].name) == 0)
                        return &commands[i];
        return NULL;
}

/* The names of the commands (and help), NULL-terminated, for suggestions. */
static const char *const *command_names(void) {
        static const char *names[ARRAY_SIZE(commands) + 2];

        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                names[i] = commands[i].name;
        names[ARRAY_SIZE(commands)] = "help";
        return names;
}

static int unknown_command(const char *name) {
        const char *close = names_suggest(name, command_names(), 0);
        char hint[128];

        snprintf(hint, sizeof hint, "%s%s%s'enrichctl --help' lists the commands", close ? "did you mean '" : "",
                 close ? close : "", close ? "'? " : "");
        return ctl_fail(CTL_EXIT_ERROR, "enrichctl.UnknownCommand", hint, "unknown command '%s'", name);
}

/* getopt's '?' for the argument at argv[index]: an option we do not know,
 * with the close match among ours. */
static int unknown_option(const char *arg) {
        const char *names[ARRAY_SIZE(options)], *close;
        char typed[64], hint[128];
        size_t n = 0;

        for (size_t i = 0; options[i].name; i++)
                names[n++] = options[i].name;
        names[n] = NULL;
        /* An option typed with "=VALUE" is looked up by its name alone. */
        snprintf(typed, sizeof typed, "%s", arg + strspn(arg, "-"));
        typed[strcspn(typed, "=")] = '\0';
        close = names_suggest(typed, names, 0);
        snprintf(hint, sizeof hint, "%s%s%s'enrichctl --help' lists the options", close ? "did you mean '--" : "",
                 close ? close : "", close ? "'? " : "");
        return ctl_fail(CTL_EXIT_ERROR, "enrichctl.Usage", hint, "unknown option '%s'", arg);
}

/* With --json, whatever a command says on stderr is held back: on failure
 * it becomes the JSON error, unless one was printed already; otherwise it
 * goes to stderr as it would have. */
typedef struct held_stderr {
        FILE *real, *memory;
        char *text;
        size_t size;
} held_stderr;

static void hold_stderr(held_stderr *h) {
        h->memory = open_memstream(&h->text, &h->size);
        if (!h->memory)
                return;
        h->real = stderr;
        stderr = h->memory;
}

static void release_stderr(held_stderr *h, int code) {
        char *line, *rest;

        if (!h->memory)
                return;
        fclose(h->memory);
        stderr = h->real;
        if (h->size > 0 && code != CTL_EXIT_OK && !ctl_error_reported()) {
                /* "enrichctl: MESSAGE\n..." into message and hint. */
                line = h->text + (strncmp(h->text, "enrichctl: ", 11) == 0 ? 11 : 0);
                rest = strchr(line, '\n');
                if (rest)
                        *rest++ = '\0';
                if (rest && rest[0] && rest[strlen(rest) - 1] == '\n')
                        rest[strlen(rest) - 1] = '\0';
                ctl_fail(code, "enrichctl.Error", rest && *rest ? rest : NULL, "%s", line);
        } else if (h->size > 0)
                fputs(h->text, stderr);
        free(h->text);
}

int main(int argc, char **argv) {
        ctl_options o = { 0 };
        const command *cmd = NULL;
        held_stderr held = { 0 };
        bool help = false;
        int opt, code = CTL_EXIT_ERROR;

        /* --json before anything can fail, so every error is JSON. */
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (strcmp(argv[i], "--json") == 0)
                        o.json = true;
        ctl_set_json_errors(o.json);
        if (o.json)
                hold_stderr(&held);
        /* At most one entry per argument, so argc bounds every list. */
        o.scopes = calloc((size_t) argc, sizeof(*o.scopes));
        o.groups = calloc((size_t) argc, sizeof(*o.groups));
        o.amr = calloc((size_t) argc, sizeof(*o.amr));
        o.hosts = calloc((size_t) argc, sizeof(*o.hosts));
        o.keys = calloc((size_t) argc, sizeof(*o.keys));
        if (!o.scopes || !o.groups || !o.amr || !o.hosts || !o.keys) {
                code = ctl_oom();
                goto out;
        }
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hvV", options, NULL)) != -1) {
                bool fine = true;

                switch (opt) {
                case OPT_SOCKET: o.socket = optarg; break;
                case OPT_JWKS: o.jwks = optarg; break;
                case OPT_JSON: o.json = true; break;
                case 'v': o.verbose = true; break;
                case 'h': help = true; break;
                case 'V':
                        printf("enrichctl %s\n", ENRICH_VERSION);
                        code = CTL_EXIT_OK;
                        goto out;
                case ':': code = usage_slip(NULL, "%s needs a value", argv[optind - 1]); goto out;
                case '?': code = unknown_option(argv[optind - 1]); goto out;
                default:
                        /* The options of option_slots. */
                        if (!set_option(&o, opt, optarg, &fine))
                                fine = false;
                        break;
                }
                if (!fine)
                        goto out;
        }
        /* enrichctl help [COMMAND], enrichctl [COMMAND] --help */
        if (optind < argc && strcmp(argv[optind], "help") == 0) {
                help = true;
                optind++;
        }
        if (help) {
                if (optind >= argc)
                        usage(stdout);
                else if (find_command(argv[optind]))
                        command_usage(argv[optind], stdout);
                else
                        goto unknown;
                code = CTL_EXIT_OK;
                goto out;
        }
        if (optind >= argc) {
                code = usage_slip(NULL, "missing command");
                goto out;
        }
        cmd = find_command(argv[optind]);
unknown:
        if (!cmd) {
                code = unknown_command(argv[optind]);
                goto out;
        }
        o.args = argv + optind + 1;
        o.n_args = (size_t) (argc - optind - 1);
        if (!options_fit(cmd, &o))
                goto out;
        for (size_t i = 0; i < o.n_amr; i++)
                if (!value_known("amr", o.amr[i], enrich_amr_values))
                        goto out;
        if (o.action && !value_known("action", o.action, enrich_audit_actions))
                goto out;
        if (!o.socket)
                o.socket = getenv("ENRICH_SOCKET");
        if (!o.socket || !*o.socket)
                o.socket = ENRICH_DEFAULT_SOCKET;

        code = cmd->run(&o);
out:
        fflush(stdout);
        release_stderr(&held, code);
        free(o.scopes);
        free(o.groups);
        free(o.amr);
        free(o.hosts);
        free(o.keys);
        return code;
}
