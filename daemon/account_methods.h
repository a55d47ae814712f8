/* account_methods.h: the io.enrich methods of service-account tokens and
 * disabled identities (Authenticate, Token*, Disable, Enable,
 * CheckAccount), and what Enrich asks of them. */
#pragma once
#include <pwd.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

json_t *method_authenticate(enrichd *d, const method_call *call, json_t *params);
json_t *method_token_issue(enrichd *d, const method_call *call, json_t *params);
json_t *method_token_list(enrichd *d, const method_call *call, json_t *params);
json_t *method_token_revoke(enrichd *d, const method_call *call, json_t *params);
json_t *method_token_rotate(enrichd *d, const method_call *call, json_t *params);
json_t *method_token_unlock(enrichd *d, const method_call *call, json_t *params);
json_t *method_disable(enrichd *d, const method_call *call, json_t *params);
json_t *method_enable(enrichd *d, const method_call *call, json_t *params);
json_t *method_check_account(enrichd *d, const method_call *call, json_t *params);

/* Enrich's part: refuses a disabled user, checks the evidence of a token
 * login (token_id, optional) against the daemon's own record, and rewrites
 * *amr (a NULL-terminated array of borrowed strings, free only the array,
 * may be NULL) so that "tok" is in it exactly when a token was verified.
 * pw: user's entry, just looked up (NULL: not known, or looked up here).
 * NULL, or the error reply. */
json_t *account_check_enrich(enrichd *d, const char *user, const struct passwd *pw, const char *token_id, int64_t now,
                             const char ***amr);
