/* args.h: the module's arguments from the PAM configuration line
 * (socket=, timeout=, fail=, debug, daemon_user=, prompt, amr=svc). */
#pragma once
#include <stdbool.h>
#include <security/pam_modules.h>

#define ENRICH_DEFAULT_TIMEOUT_MS 1500
/* Upper bound for timeout=: a login must never hang for minutes because of
 * a typo in a PAM file. */
#define ENRICH_MAX_TIMEOUT_MS      60000
#define ENRICH_DEFAULT_DAEMON_USER "enrich"

typedef struct enrich_args {
        const char *socket;      /* borrowed from argv or a constant */
        const char *daemon_user; /* borrowed from argv or a constant */
        int timeout_ms;          /* total budget of one daemon conversation */
        bool fail_closed;
        bool debug;
        bool prompt;             /* auth: ask for the token when PAM_AUTHTOK is unset */
        bool amr_svc;            /* amr=svc: logins of this stack were started by the
                                  * service manager (systemd units) */
} enrich_args;

/* Fills *ret from argv, starting from the defaults. Never fails: unknown or
 * malformed arguments are logged with pam_syslog and ignored. The strings in
 * *ret point into argv, which PAM keeps alive for the duration of the hook. */
void args_parse(pam_handle_t *pamh, int argc, const char **argv, enrich_args *ret);
