/* identities.c: the disabled_identities table (see identities.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "identities.h"
#include "config.h"

/* Rows matching an identity_key: ?1 the name as presented, ?2 the
 * canonical name (NULL never matches), ?3 the uid (NULL never matches). */
#define MATCHES_KEY "user = ?1 OR user = ?2 OR uid = ?3"

void identity_state_clear(identity_state *s) {
        if (!s)
                return;
        free(s->user);
        free(s->reason);
        free(s->disabled_by);
        memset(s, 0, sizeof *s);
        s->uid = -1;
}

static void bind_key(sqlite3_stmt *st, const identity_key *key) {
        sqlite3_bind_text(st, 1, key->name, -1, SQLITE_TRANSIENT);
        db_bind_text(st, 2, key->canonical);
        db_bind_int64_or_null(st, 3, key->uid >= 0, key->uid);
}

int identities_get(db *d, const identity_key *key, identity_state *ret) {
        identity_state s = { .uid = -1 };
        sqlite3_stmt *st = NULL;
        int r = 0, step;

        /* On every login: from the statement cache. The oldest row first,
         * so the answer does not change with the order rows were read. */
        r = db_prepare(d, "SELECT user, reason, disabled_by, disabled, uid FROM disabled_identities WHERE "
                       MATCHES_KEY " ORDER BY disabled, user LIMIT 1", &st);
        if (r < 0)
                return r;
        bind_key(st, key);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
                s.disabled = true;
                s.user = strdup((const char *) sqlite3_column_text(st, 0));
                s.reason = strdup((const char *) sqlite3_column_text(st, 1));
                s.disabled_by = strdup((const char *) sqlite3_column_text(st, 2));
                s.since = sqlite3_column_int64(st, 3);
                s.uid = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
                if (!s.user || !s.reason || !s.disabled_by) {
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

bool identities_is_disabled(db *d, const identity_key *key, int *ret_error) {
        identity_state s = { .uid = -1 };
        int r = identities_get(d, key, &s);
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

int identities_disabled_uids(db *d, uid_t **ret, size_t *ret_n) {
        sqlite3_stmt *st = NULL;
        uid_t *uids = NULL;
        size_t n = 0, size = 0;
        int r = 0, step;

        r = db_prepare(d, "SELECT DISTINCT uid FROM disabled_identities WHERE uid IS NOT NULL ORDER BY uid", &st);
        if (r < 0)
                return r;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                sqlite3_int64 v = sqlite3_column_int64(st, 0);

                if (v < 0 || v >= (sqlite3_int64) (uid_t) -1)
                        continue;
                if (n == size) {
                        uid_t *grown = reallocarray(uids, size ? size * 2 : 16, sizeof *uids);
                        if (!grown) {
                                r = -ENOMEM;
                                goto out;
                        }
                        uids = grown;
                        size = size ? size * 2 : 16;
                }
                uids[n++] = (uid_t) v;
        }
        if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to list disabled uids");
                goto out;
        }
        *ret = uids;
        *ret_n = n;
        uids = NULL;
out:
        db_release(d, st);
        free(uids);
        return r;
}

int identities_without_uid(db *d, char ***ret) {
        sqlite3_stmt *st = NULL;
        char **names = NULL;
        size_t n = 0, size = 0;
        int r = 0, step;

        r = db_prepare(d, "SELECT user FROM disabled_identities WHERE uid IS NULL", &st);
        if (r < 0)
                return r;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (n + 1 >= size) {
                        char **grown = reallocarray(names, size ? size * 2 : 16, sizeof *names);
                        if (!grown) {
                                r = -ENOMEM;
                                goto out;
                        }
                        names = grown;
                        size = size ? size * 2 : 16;
                }
                names[n] = strdup((const char *) sqlite3_column_text(st, 0));
                if (!names[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                names[++n] = NULL;
        }
        if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to list identities without uid");
                goto out;
        }
        if (!names)
                names = calloc(1, sizeof *names);
        if (!names) {
                r = -ENOMEM;
                goto out;
        }
        *ret = names;
        names = NULL;
out:
        db_release(d, st);
        strv_free(names);
        return r;
}

int identities_set_uid(db *d, const char *user, uid_t uid) {
        sqlite3_stmt *st = NULL;

        int r;

        r = db_prepare(d, "UPDATE disabled_identities SET uid = ?2 WHERE user = ?1 AND uid IS NULL", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) uid);
        return db_write(d, st, "Failed to record the uid of a disabled identity", NULL);
}

int identities_disable(db *d, const identity_key *key, const char *reason, const char *by, int64_t now,
                       bool *ret_was) {
        identity_state before = { .uid = -1 };
        sqlite3_stmt *st = NULL;
        int r;

        r = identities_get(d, key, &before);
        if (r < 0)
                return r;
        r = db_prepare(d, "INSERT INTO disabled_identities (user, reason, disabled_by, disabled, uid)"
                       " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user) DO UPDATE SET"
                       " reason = ?2, disabled_by = ?3, uid = coalesce(?5, uid)", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_text(st, 1, key->canonical ? key->canonical : key->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        db_bind_int64_or_null(st, 5, key->uid >= 0, key->uid);
        r = db_write(d, st, "Failed to disable identity", NULL);
        if (r == 0 && ret_was)
                *ret_was = before.disabled;
out:
        identity_state_clear(&before);
        return r;
}

int identities_enable(db *d, const identity_key *key, bool *ret_was) {
        sqlite3_stmt *st = NULL;
        int r, changes = 0;

        r = db_prepare(d, "DELETE FROM disabled_identities WHERE " MATCHES_KEY, &st);
        if (r < 0)
                return r;
        bind_key(st, key);
        r = db_write(d, st, "Failed to enable identity", &changes);
        if (r == 0 && ret_was)
                *ret_was = changes > 0;
        return r;
}
