/* grant_apply.c: a grant added or revoked, and what follows from it: the
 * one path shared by the local methods and the fleet, so that a grant
 * from etcd reaches live sessions exactly as a local one does. */
#include <errno.h>
#include "clock.h"
#include "grant_apply.h"
#include "issue.h"
#include "log.h"

/* The policy version follows the grants generation: a failure to write it
 * is logged, not fatal (the grant itself is stored). */
void grant_apply_effects(enrichd *d, const char *user, const char *why, live_counts *ret_counts) {
        live_counts counts = { 0 };

        if (issue_update_policy_version(d) < 0)
                log_error("Failed to update the policy version: %s", db_last_error(d->db));
        live_reissue(d, user, why, &counts);
        if (ret_counts)
                *ret_counts = counts;
}

int grant_apply_add(enrichd *d, const grant *g, const char *why, live_counts *ret_counts) {
        int r;

        r = grants_add(d->db, g);
        if (r < 0)
                return r;
        grant_apply_effects(d, g->user, why, ret_counts);
        return 0;
}

int grant_apply_revoke(enrichd *d, const char *id, const char *by, const char *why, grant *ret_grant, bool *ret_changed,
                       live_counts *ret_counts) {
        grant g = { 0 };
        bool changed = false;
        int r;

        r = grants_get(d->db, id, &g);
        if (r < 0)
                goto out;
        r = grants_revoke(d->db, id, by, clock_now(), &changed);
        if (r < 0)
                goto out;
        grant_apply_effects(d, g.user, why, ret_counts);
        if (ret_changed)
                *ret_changed = changed;
        if (ret_grant) {
                *ret_grant = g;
                g = (grant) { 0 };
        }
out:
        grant_clear(&g);
        return r;
}
