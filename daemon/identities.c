/* identities.c: the disabled_identities table (see identities.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "identities.h"

void identity_state_clear(identity_state *s) {
        if (!s)
                return;
        free(s->reason);
        free(s->disabled_by);
        memset(s, 0, sizeof *s);
}

int identities_get(db *d, const char *user, identity_state *ret) {
        identity_state s = { 0 };
        sqlite3_stmt *st = NULL;
        int r = 0, step;

        /* On every login: from the statement cache. */
        if (db_prepare(d, "SELECT reason, disabled_by, disabled FROM disabled_identities WHERE user = ?", &st) < 0)
                return -EIO;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
                s.disabled = true;
                s.reason = strdup((const char *) sqlite3_column_text(st, 0));
                s.disabled_by = strdup((const char *) sqlite3_column_text(st, 1));
                s.since = sqlite3_column_int64(st, 2);
                if (!s.reason || !s.disabled_by) {
                        identity_state_clear(&s);
                        r = -ENOMEM;
                        goto out;
                }
        } else if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to read identity");
                goto out;
        }
        *ret = s;
out:
        db_release(d, st);
        return r;
}

bool identities_is_disabled(db *d, const char *user, int *ret_error) {
        identity_state s = { 0 };
        int r = identities_get(d, user, &s);
        bool disabled = r < 0 || s.disabled;

        if (ret_error)
                *ret_error = r;
        identity_state_clear(&s);
        return disabled;
}

int identities_disabled_set(db *d, json_t **ret) {
        json_t *set = json_object();
        sqlite3_stmt *st = NULL;
        int r = 0, step;

        if (!set)
                return -ENOMEM;
        if (db_prepare(d, "SELECT user FROM disabled_identities", &st) < 0) {
                r = -EIO;
                goto out;
        }
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
                if (json_object_set_new(set, (const char *) sqlite3_column_text(st, 0), json_null()) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to list disabled identities");
                goto out;
        }
        *ret = set;
        set = NULL;
out:
        db_release(d, st);
        json_decref(set);
        return r;
}

int identities_disable(db *d, const char *user, const char *reason, const char *by, int64_t now,
                       bool *ret_was) {
        identity_state before = { 0 };
        sqlite3_stmt *st = NULL;
        int r;

        r = identities_get(d, user, &before);
        if (r < 0)
                return r;
        r = db_prepare(d, "INSERT INTO disabled_identities (user, reason, disabled_by, disabled)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user) DO UPDATE SET"
                          " reason = ?2, disabled_by = ?3", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        r = db_write(d, st, "Failed to disable identity", NULL);
        if (r == 0 && ret_was)
                *ret_was = before.disabled;
out:
        identity_state_clear(&before);
        return r;
}

int identities_enable(db *d, const char *user, bool *ret_was) {
        sqlite3_stmt *st = NULL;
        int r, changes = 0;

        r = db_prepare(d, "DELETE FROM disabled_identities WHERE user = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        r = db_write(d, st, "Failed to enable identity", &changes);
        if (r == 0 && ret_was)
                *ret_was = changes > 0;
        return r;
}
