/* auth.h: the module's authentication (service-account tokens only) and
 * account (disabled identities) hooks. Both return 0 or a negative errno;
 * pam_enrich.c chooses the PAM code. */
#pragma once
#include <security/pam_modules.h>
#include "args.h"

/* PAM data under which a successful token login leaves its token id for
 * the session hook (a NUL-terminated string). */
#define AUTH_EVIDENCE_DATA "pam_enrich_token"

/* Checks the login's authentication token with enrichd when it has the
 * enrich token form. 0: accepted (evidence recorded, PAM_AUTHTOK cleared);
 * -ENOMSG: no token, or not in enrich's form (someone else's business);
 * -EACCES: refused (a pam_fail_delay was requested); other negative errno:
 * the daemon could not be asked. */
int auth_authenticate(pam_handle_t *pamh, const enrich_args *args);

/* Asks enrichd whether the user is disabled, and when it cannot answer,
 * reads its list of disabled identities beside the socket. 0: not
 * disabled; -EACCES: disabled (the user was told, unless silent); other
 * negative errno: the daemon could not be asked and the list (if any)
 * does not have the user. */
int auth_account(pam_handle_t *pamh, const enrich_args *args, bool silent);
