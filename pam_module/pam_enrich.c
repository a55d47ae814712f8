/* pam_enrich.c: the PAM entry points of pam_enrich.so. The session hooks
 * ask enrichd for claims (session.c), the auth and account hooks check
 * service-account tokens and disabled identities (auth.c); this file only
 * parses the arguments and chooses the PAM return code, in one place, from
 * the hook running. */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "args.h"
#include "auth.h"
#include "session.h"

/* The PAM code for an internal result r (0 or -errno) of the given hook.
 * With fail=open a failed enrichment still lets the login in, without
 * claims, which downstream tools read as least privilege. */
static int pam_result(pam_handle_t *pamh, const enrich_args *args, const char *hook, int r) {
        if (r >= 0)
                return PAM_SUCCESS;
        if (args->fail_closed) {
                pam_syslog(pamh, LOG_ERR, "%s failed (%s); refusing the session (fail=closed)", hook, strerror(-r));
                return PAM_SESSION_ERR;
        }
        pam_syslog(pamh, LOG_WARNING, "%s failed (%s); %s (fail=open)", hook, strerror(-r),
                   strcmp(hook, "open_session") == 0 ? "the session opens without claims" : "closing anyway");
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        enrich_args args;

        args_parse(pamh, argc, argv, &args);
        return pam_result(pamh, &args, "open_session", session_open(pamh, &args));
}

/* close_session fails only with fail=closed and only when the claims key
 * could not be revoked, i.e. when claims might outlive the login. A daemon
 * that cannot be told about the end is logged but harmless: the revoked key
 * already ends the claims, and refusing to close a session helps nobody. */
PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        enrich_args args;

        args_parse(pamh, argc, argv, &args);
        return pam_result(pamh, &args, "close_session", session_close(pamh, &args));
}

/* Only service-account tokens are this module's business: anything that
 * is not in enrich's token form is left to the rest of the stack
 * (PAM_IGNORE). A token that cannot be verified, because the daemon is
 * unreachable, is refused whatever fail= says: there is no one else who
 * could vouch for it. Claims are never added here. */
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        enrich_args args;
        int r;

        args_parse(pamh, argc, argv, &args);
        r = auth_authenticate(pamh, &args);
        if (r == 0)
                return PAM_SUCCESS;
        if (r == -ENOMSG)
                return PAM_IGNORE;
        return PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        return PAM_IGNORE;
}

/* The one refusal the module takes from the daemon: a disabled identity
 * (PAM_PERM_DENIED). When the daemon cannot be asked, the rest of the stack
 * decides (PAM_IGNORE), unless fail=closed, which refuses with PAM_AUTH_ERR
 * so the log tells "could not check" from "disabled". */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        enrich_args args;
        int r;

        args_parse(pamh, argc, argv, &args);
        r = auth_account(pamh, &args, flags & PAM_SILENT);
        if (r == 0)
                return PAM_SUCCESS;
        if (r == -EACCES)
                return PAM_PERM_DENIED;
        if (args.fail_closed) {
                pam_syslog(pamh, LOG_ERR, "Cannot check the account with enrichd (%s); refusing (fail=closed)",
                           strerror(-r));
                return PAM_AUTH_ERR;
        }
        pam_syslog(pamh, LOG_WARNING, "Cannot check the account with enrichd (%s); leaving it to the stack (fail=open)",
                   strerror(-r));
        return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        return PAM_IGNORE;
}
