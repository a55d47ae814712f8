/* session.h: one login's enrichment: asking enrichd for claims, installing
 * the claims key in the session keyring, and ending both at close. */
#pragma once
#include <security/pam_modules.h>
#include "args.h"

/* Asks the daemon for claims, installs the key and attaches it, all within
 * args->timeout_ms. Remembers sid and serial in PAM data for
 * session_close(). 0 or a negative errno; failures are logged here with the
 * step that failed, the caller decides what they mean for the login. */
int session_open(pam_handle_t *pamh, const enrich_args *args);

/* Revokes the claims key and tells the daemon the session ended, within
 * args->timeout_ms. Returns 0 when the key is gone (revoked now, or there
 * was none); a daemon failure alone is logged but returns 0, since the
 * revoked key already ends the claims. Negative errno when the key could
 * not be revoked. */
int session_close(pam_handle_t *pamh, const enrich_args *args);
