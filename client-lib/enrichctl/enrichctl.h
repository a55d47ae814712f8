/* enrichctl.h: what the enrichctl command files share: the parsed command
 * line, exit codes and small output helpers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>
#include "varlink.h"

#ifndef ENRICH_VERSION
#define ENRICH_VERSION "0.1.0"
#endif

/* Exit codes: 0 success / held, 1 not held, refused or not found, 2 usage or
 * system error (including an unreachable daemon). */
enum { CTL_EXIT_OK = 0, CTL_EXIT_NO = 1, CTL_EXIT_ERROR = 2 };

/* How long enrichctl waits for the daemon, connect and call together. */
#define CTL_TIMEOUT_MS 5000

/* Command options, as bits: each command says which it accepts, and
 * ctl_options.given records which were used. */
enum {
        CTL_OPT_SCOPE = 1 << 0,
        CTL_OPT_GROUP = 1 << 1,
        CTL_OPT_TENANT = 1 << 2,
        CTL_OPT_TTL = 1 << 3,
        CTL_OPT_REASON = 1 << 4,
        CTL_OPT_USER = 1 << 5,
        CTL_OPT_ALL = 1 << 6,
        CTL_OPT_SESSION = 1 << 7,
        CTL_OPT_SERVICE = 1 << 8,
        CTL_OPT_RHOST = 1 << 9,
        CTL_OPT_TTY = 1 << 10,
        CTL_OPT_AMR = 1 << 11,
        CTL_OPT_DOCTOR = 1 << 12,      /* doctor's path options, below */
        CTL_OPT_DESCRIPTION = 1 << 13,  /* token issue --description */
        CTL_OPT_GRACE = 1 << 14,      /* token rotate --grace */
        CTL_OPT_AUDIT = 1 << 15,      /* audit --since, --until, --action, --result, --limit, --follow */
        CTL_OPT_COMPROMISED = 1 << 16,  /* keys rotate --compromised */
        CTL_OPT_FLEET = 1 << 17,      /* grant/disable/enable --fleet */
        CTL_OPT_HOSTS = 1 << 18,      /* grant --hosts LABEL */
        CTL_OPT_FORCE = 1 << 19,      /* grant --force */
        CTL_OPT_KEY = 1 << 20,        /* fleet enroll --key THUMBPRINT */
};

typedef struct ctl_options {
        const char *socket;     /* --socket, else $ENRICH_SOCKET, else default */
        const char *jwks;       /* --jwks, else NULL (libenrich reads $ENRICH_JWKS) */
        bool json;
        bool verbose;
        unsigned given;         /* CTL_OPT_* bits seen on the command line */
        const char **scopes;    /* check/grant --scope, repeatable */
        size_t n_scopes;
        const char **groups;    /* check/grant --group, repeatable */
        size_t n_groups;
        const char **amr;       /* explain --amr, repeatable */
        size_t n_amr;
        const char *tenant;     /* grant --tenant */
        const char *ttl;        /* grant --ttl, as typed */
        const char *reason;     /* grant --reason */
        const char *user;       /* grants/revoke/refresh --user */
        bool all;               /* grants --all */
        const char *session;    /* revoke --session */
        const char *service;    /* explain --service */
        const char *rhost;      /* explain --rhost */
        const char *tty;        /* explain --tty */
        const char *config;     /* doctor --config */
        const char *pam_dir;    /* doctor --pam-dir */
        const char *nsswitch;   /* doctor --nsswitch */
        const char *machine_id; /* doctor --machine-id */
        const char *enrichd;    /* doctor --enrichd */
        const char *description;/* token issue --description */
        const char *grace;      /* token rotate --grace, as typed */
        char **args;            /* positional arguments after the command */
        size_t n_args;
        const char *since;      /* audit --since TIME (or DURATION ago), as typed */
        const char *until;      /* audit --until TIME (or DURATION ago), as typed */
        const char *result;     /* audit --result */
        const char *action;     /* audit --action */
        const char *limit;      /* audit --limit, as typed */
        bool follow;            /* audit --follow */
        bool compromised;       /* keys rotate --compromised */
        bool fleet;             /* grant/disable/enable --fleet */
        const char **hosts;     /* grant --hosts LABEL, repeatable (with --fleet) */
        size_t n_hosts;
        bool force;             /* grant --force: a group policy does not know */
        const char **keys;      /* fleet enroll --key THUMBPRINT, repeatable */
        size_t n_keys;
} ctl_options;

/* Commands: each returns an exit code. */
int cmd_status(const ctl_options *o);
int cmd_sessions(const ctl_options *o);
int cmd_whoami(const ctl_options *o);
int cmd_check(const ctl_options *o);
int cmd_grant(const ctl_options *o);
int cmd_grants(const ctl_options *o);
int cmd_revoke(const ctl_options *o);
int cmd_explain(const ctl_options *o);
int cmd_refresh(const ctl_options *o);
int cmd_reload(const ctl_options *o);
int cmd_doctor(const ctl_options *o);
int cmd_token(const ctl_options *o);
int cmd_disable(const ctl_options *o);
int cmd_enable(const ctl_options *o);
int cmd_audit(const ctl_options *o);
int cmd_keys(const ctl_options *o);
int cmd_fleet(const ctl_options *o);
int cmd_request(const ctl_options *o);
int cmd_requests(const ctl_options *o);
int cmd_approve(const ctl_options *o);
int cmd_deny(const ctl_options *o);

/* Calls method on the daemon within CTL_TIMEOUT_MS, trusting only root or
 * the "enrich" user. Returns an exit code; prints why on stderr when it is
 * not CTL_EXIT_OK; *ret is the reply parameters (new reference). */
int ctl_call(const ctl_options *o, const char *method, json_t *params, json_t **ret);
/* What a command says of its reply, in words (ctl_say). */
typedef void (*ctl_say_fn)(const ctl_options *o, const json_t *reply);
/* A command of one call: calls method with params and prints the reply,
 * with --json as it is, else through say. params are taken: built for the
 * call, NULL when building them ran out of memory. An exit code, as
 * ctl_call. */
int ctl_say(const ctl_options *o, const char *method, json_t *params, ctl_say_fn say);

/* Connects to the daemon, trusting only root or the "enrich" user. An exit
 * code; says why on stderr when it is not CTL_EXIT_OK. */
int ctl_connect(const ctl_options *o, varlink_client **ret);

/* What a page callback returns to stop early with success; CTL_EXIT_OK asks
 * for the next page, any other exit code stops with it. */
#define CTL_PAGES_DONE (-1)
/* Gets each page of a listing as it comes: the reply, its rows (the key's
 * array) and the request the next page will be asked with, which it may
 * change (limit, say). Everything is borrowed for the call. */
typedef int (*ctl_page_fn)(void *userdata, json_t *reply, json_t *rows, json_t *request);
/* Calls a listing that pages (params may be NULL) on one connection: hands
 * each page to fn and follows its next, passing it back as after, until
 * the last page or fn stops. A page that does not move on (no rows, or the
 * cursor it started from) is an error. With key NULL the reply has no
 * array of rows (FleetJwks: a JWKS per page), rows is NULL and a page may
 * be empty. An exit code, as ctl_call. */
int ctl_pages(const ctl_options *o, const char *method, json_t *params, const char *key, ctl_page_fn fn,
              void *userdata);

/* A listing as enrichctl shows it: the method and its rows' key, the
 * table's columns and how one row fills them (fill_row writes n_columns
 * malloc'd cells, NULL when out of memory), and what to say when there is
 * no row (NULL: the headers alone). */
typedef struct ctl_listing {
        const char *method, *key, *none;
        const char *const *headers;
        size_t n_columns;
        void (*fill_row)(json_t *item, char **row);
} ctl_listing;
/* Every page of l (params may be NULL) printed as one table, or with
 * --json as {key: [rows]}. Past CTL_MAX_TABLE_ROWS rows it prints the
 * first ones, warns and returns CTL_EXIT_ERROR: a partial listing must not
 * pass for a whole one. Otherwise an exit code, as ctl_call. */
#define CTL_MAX_TABLE_ROWS 100000
int ctl_list(const ctl_options *o, const ctl_listing *l, json_t *params);
/* ctl_list of the rows of user, or with NULL of every row the caller may
 * see. */
int ctl_list_of_user(const ctl_options *o, const ctl_listing *l, const char *user);
/* Prints value as indented JSON on stdout. */
void ctl_print_json(const json_t *value);
/* The one time format of enrichctl: "2024-05-01 12:00 (in 14m)" /
 * "... (2h 5m ago)", local time, into buf; "-" for no time. */
const char *ctl_format_time(time_t t, char *buf, size_t size);
/* "2024-05-01 12:00", local time, into buf; "-" for no time. */
const char *ctl_format_absolute(time_t t, char *buf, size_t size);
/* t relative to now: "in 14m", "2h 5m ago", "now", into buf. */
const char *ctl_format_relative(time_t t, time_t now, char *buf, size_t size);
/* A span in the same style ("1h 2m", "9m", "45s") into buf; negative
 * durations print as "expired". */
const char *ctl_format_duration(long long seconds, char *buf, size_t size);
/* A string member of obj, or "-" when absent or empty. */
const char *ctl_str_or_dash(const json_t *obj, const char *key);
/* The strings of a JSON array joined with sep into a new string, "-" when
 * empty; NULL on allocation failure. */
char *ctl_join(const json_t *array, const char *sep);
/* Prints a table: headers, then n_rows rows of n_columns cells (row-major),
 * each column as wide as its widest cell, two spaces apart. */
void ctl_print_table(const char *const *headers, size_t n_columns, char *const *cells, size_t n_rows);
#define CTL_TABLE_MAX_COLUMNS 16
/* The same for a table printed in batches (a listing that pages or
 * streams): widths (n_columns of them, zeroed before the first batch)
 * only grow, to fit the headers and each batch's cells, so columns stay
 * put unless a longer cell comes; the header line only with print_header. */
void ctl_print_table_batch(const char *const *headers, bool print_header, size_t n_columns, int *widths,
                           char *const *cells, size_t n_rows);
/* Says "out of memory" and returns CTL_EXIT_ERROR. */
int ctl_oom(void);
/* Reports a failure and returns code (unchanged by --json): on stderr
 * "enrichctl: MESSAGE" and, with a hint (the next step), "hint: HINT"; with
 * --json instead one object {"error", "message", "hint"} on stdout. error
 * is a stable name scripts can match: the Varlink error of enrichd's reply,
 * or enrichctl.* for what enrichctl found itself. */
int ctl_fail(int code, const char *error, const char *hint, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
/* "unknown COMMAND command 'typed'", with the close match among known
 * (NULL-terminated); CTL_EXIT_ERROR. */
int ctl_unknown_subcommand(const char *command, const char *typed, const char *const *known);
/* One subcommand of a command: its name and what runs it. */
typedef struct ctl_subcommand {
        const char *name;
        int (*run)(const ctl_options *o);
} ctl_subcommand;
/* Runs the one of the n subcommands that o->args[0] names, or says it is
 * unknown (ctl_unknown_subcommand). An exit code. */
int ctl_run_subcommand(const ctl_options *o, const char *command, const ctl_subcommand *list, size_t n);
/* --json was given: ctl_fail prints JSON. */
void ctl_set_json_errors(bool on);
/* ctl_fail reported an error or ctl_print_json printed a result. */
bool ctl_error_reported(void);
