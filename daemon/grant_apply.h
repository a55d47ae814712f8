/* grant_apply.h: a grant added or revoked, with its effects: stored, the
 * policy version (pv claim) bumped, and the user's live sessions
 * re-evaluated (keys re-issued in place). The one path of the Grant and
 * RevokeGrant methods (grant_methods.c) and of fleet records (fleet.c);
 * each caller audits and logs in its own words. */
#pragma once
#include <stdbool.h>
#include "enrichd.h"
#include "grants.h"
#include "live.h"

/* Stores g (its id set, see grants_new_id), then re-issues the user's live
 * sessions, why in their log. *ret_counts (optional): sessions re-issued
 * and revoked. Returns 0 or the database's -errno (db_last_error says
 * why); nothing is re-issued on failure. */
int grant_apply_add(enrichd *d, const grant *g, const char *why, live_counts *ret_counts);
/* Revokes grant id at now by by, then re-issues its user's live sessions.
 * *ret_grant (optional): the grant as it was before (grant_clear it);
 * *ret_changed (optional): whether it was not yet revoked. -ENOENT when id
 * is unknown; else 0 or the database's -errno. */
int grant_apply_revoke(enrichd *d, const char *id, const char *by, const char *why, grant *ret_grant, bool *ret_changed,
                       live_counts *ret_counts);
/* The effects alone, for a change of the active grants made otherwise
 * (a fleet grant suspended or resumed, fleet_store.c). */
void grant_apply_effects(enrichd *d, const char *user, const char *why, live_counts *ret_counts);
