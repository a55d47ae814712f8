/* args.c: parses the arguments of a pam_enrich.so line. Bad arguments are
 * logged and ignored, so a typo in a PAM file degrades to the defaults
 * (except for fail=, see below) instead of locking everybody out. */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>

#include "args.h"
#include "enrich.h"
#include "util.h"

/* Returns the value after "name=" if arg starts with it, else NULL. */
static const char *arg_value(const char *arg, const char *name) {
        size_t n = strlen(name);

        if (strncmp(arg, name, n) != 0 || arg[n] != '=')
                return NULL;
        return arg + n + 1;
}

void args_parse(pam_handle_t *pamh, int argc, const char **argv, enrich_args *ret) {
        enrich_args a = {
                .socket = ENRICH_DEFAULT_SOCKET,
                .daemon_user = ENRICH_DEFAULT_DAEMON_USER,
                .timeout_ms = ENRICH_DEFAULT_TIMEOUT_MS,
                .fail_closed = false,
                .debug = false,
        };

        for (int i = 0; i < argc; i++) {
                const char *arg = argv[i], *v;

                if (!arg)
                        continue;
                if (strcmp(arg, "debug") == 0) {
                        a.debug = true;
                } else if (strcmp(arg, "prompt") == 0) {
                        a.prompt = true;
                } else if ((v = arg_value(arg, "amr"))) {
                        /* The one method a PAM line may claim: the others
                         * are observed, never configured. */
                        if (strcmp(v, "svc") == 0)
                                a.amr_svc = true;
                        else
                                pam_syslog(pamh, LOG_ERR, "Ignoring amr=%s: only amr=svc may be set", v);
                } else if ((v = arg_value(arg, "socket"))) {
                        /* A relative path would depend on the cwd of
                         * whatever application runs the stack. */
                        if (v[0] != '/')
                                pam_syslog(pamh, LOG_ERR, "Ignoring socket=%s: not an absolute path", v);
                        else
                                a.socket = v;
                } else if ((v = arg_value(arg, "timeout"))) {
                        unsigned long ms;
                        int r = parse_uint(v, ENRICH_MAX_TIMEOUT_MS, &ms);

                        if (r < 0 || ms == 0)
                                pam_syslog(pamh, LOG_ERR, "Ignoring timeout=%s: expected 1..%d milliseconds, using %d",
                                           v, ENRICH_MAX_TIMEOUT_MS, a.timeout_ms);
                        else
                                a.timeout_ms = (int) ms;
                } else if ((v = arg_value(arg, "fail"))) {
                        if (strcmp(v, "open") == 0)
                                a.fail_closed = false;
                        else if (strcmp(v, "closed") == 0)
                                a.fail_closed = true;
                        else {
                                /* An admin who wrote fail= at all wanted to
                                 * change the default (open), so the only
                                 * value worth guessing is "closed"; it is also
                                 * the reading that cannot hand out a session
                                 * the policy meant to refuse. */
                                pam_syslog(pamh, LOG_ERR,
                                           "Unknown fail=%s (expected open or closed), treating as fail=closed", v);
                                a.fail_closed = true;
                        }
                } else if ((v = arg_value(arg, "daemon_user"))) {
                        if (v[0] == '\0')
                                pam_syslog(pamh, LOG_ERR, "Ignoring empty daemon_user=");
                        else
                                a.daemon_user = v;
                } else {
                        pam_syslog(pamh, LOG_ERR, "Ignoring unknown argument: %s", arg);
                }
        }
        *ret = a;
}
