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

/* Exit codes: 0 success / held, 1 not held or refused, 2 usage or system
 * error (including an unreachable daemon). */
enum { CTL_EXIT_OK = 0, CTL_EXIT_NO = 1, CTL_EXIT_ERROR = 2 };

/* How long enrichctl waits for the daemon, connect and call together. */
#define CTL_TIMEOUT_MS 5000

typedef struct ctl_options {
        const char *socket;     /* --socket, else $ENRICH_SOCKET, else default */
        const char *jwks;       /* --jwks, else NULL (libenrich reads $ENRICH_JWKS) */
        bool json;
        bool verbose;
        const char **scopes;    /* check --scope, each must hold */
        size_t n_scopes;
        const char **groups;    /* check --group, each must hold */
        size_t n_groups;
        char **args;            /* positional arguments after the command */
        size_t n_args;
} ctl_options;

/* Commands: each returns an exit code. */
int cmd_status(const ctl_options *o);
int cmd_sessions(const ctl_options *o);
int cmd_whoami(const ctl_options *o);
int cmd_check(const ctl_options *o);

/* Calls method on the daemon within CTL_TIMEOUT_MS, trusting only root or
 * the "enrich" user. Returns an exit code; prints why on stderr when it is
 * not CTL_EXIT_OK; *ret is the reply parameters (new reference). */
int ctl_call(const ctl_options *o, const char *method, json_t *params, json_t **ret);

/* Prints value as indented JSON on stdout. */
void ctl_print_json(const json_t *value);
/* "2024-05-01 12:00:00" in local time into buf. */
const char *ctl_format_time(time_t t, char *buf, size_t size);
/* "1h 02m 03s" into buf; negative durations print as "expired". */
const char *ctl_format_duration(long long seconds, char *buf, size_t size);
