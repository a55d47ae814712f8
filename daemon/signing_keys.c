/* signing_keys.c: the signing_keys table (signing_keys.h). */
#include <errno.h>
#include <sqlite3.h>
#include "signing_keys.h"

#define SQL_INSERT "INSERT OR IGNORE INTO signing_keys (kid, jwk, created) VALUES (?1, ?2, ?3)"
#define SQL_UNRETIRE "UPDATE signing_keys SET retired = NULL, published_until = NULL" \
                     " WHERE kid = ?1 AND retired IS NOT NULL"
#define SQL_RETIRE "UPDATE signing_keys SET retired = ?3, published_until = ?4 WHERE kid = ?5"
#define SQL_RETIRE_OTHERS "UPDATE signing_keys SET retired = ?3, published_until = ?4" \
                          " WHERE retired IS NULL AND kid != ?5"
#define SQL_DELETE "DELETE FROM signing_keys WHERE kid = ?5"

/* The order of the listing: the current key (retired NULL) first, then the
 * most recently retired; kid breaks ties. An expression of the index
 * signing_keys_page. */
#define KEY_SORT "coalesce(retired, 9223372036854775807)"

#define READ_FAILED "Failed to read the signing keys"

/* Runs one write of c in the caller's transaction; *ret_changes optional. */
static int run_write(db *d, const char *sql, const char *what, const signing_key_change *c, int *ret_changes) {
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (db_prepare(d, sql, &st) < 0)
                return db_fail(d, what);
        db_bind_text(st, 1, c->kid);
        db_bind_text(st, 2, c->jwk);
        sqlite3_bind_int64(st, 3, c->now);
        sqlite3_bind_int64(st, 4, c->until);
        db_bind_text(st, 5, c->other_kid);
        if (sqlite3_step(st) != SQLITE_DONE)
                r = db_fail(d, what);
        else if (ret_changes)
                *ret_changes = sqlite3_changes(db_handle(d));
        db_release(d, st);
        return r;
}

int signing_keys_record_current(db *d, const signing_key_change *c, int *ret_unretired, int *ret_retired) {
        int r = db_begin_durable(d);

        if (r == 0)
                r = run_write(d, SQL_INSERT, "Failed to record the signing key", c, NULL);
        if (r == 0)
                r = run_write(d, SQL_UNRETIRE, "Failed to record the signing key", c, ret_unretired);
        if (r == 0)
                r = run_write(d, SQL_RETIRE_OTHERS, "Failed to retire other keys", c, ret_retired);
        if (r == 0)
                return db_commit(d);
        db_rollback(d);
        return r;
}

int signing_keys_record_rotation(db *d, const signing_key_change *c) {
        int r = db_begin_durable(d);

        if (r == 0)
                r = run_write(d, SQL_INSERT, "Failed to record the new signing key", c, NULL);
        if (r == 0)
                r = run_write(d, SQL_RETIRE, "Failed to retire the old signing key", c, NULL);
        if (r == 0)
                return db_commit(d);
        db_rollback(d);
        return r;
}

void signing_keys_undo_rotation(db *d, const signing_key_change *c) {
        signing_key_change undo = { .kid = c->other_kid, .other_kid = c->kid };

        if (db_begin_durable(d) < 0)
                return;
        if (run_write(d, SQL_DELETE, "Failed to undo the rotation", &undo, NULL) < 0 ||
            run_write(d, SQL_UNRETIRE, "Failed to undo the rotation", &undo, NULL) < 0) {
                db_rollback(d);
                return;
        }
        (void) db_commit(d);
}

int signing_keys_is_current(db *d, const char *kid) {
        sqlite3_stmt *st = NULL;
        int r;

        if (db_prepare(d, "SELECT retired IS NULL FROM signing_keys WHERE kid = ?1", &st) < 0)
                return db_fail(d, READ_FAILED);
        db_bind_text(st, 1, kid);
        r = sqlite3_step(st);
        r = r == SQLITE_ROW ? sqlite3_column_int(st, 0) : r == SQLITE_DONE ? 0 : db_fail(d, READ_FAILED);
        db_release(d, st);
        return r;
}

int signing_keys_count_published(db *d, int64_t now) {
        sqlite3_stmt *st = NULL;
        int r;

        if (db_prepare(d, "SELECT count(*) FROM signing_keys WHERE retired IS NOT NULL AND published_until > ?1",
                       &st) < 0)
                return db_fail(d, READ_FAILED);
        sqlite3_bind_int64(st, 1, now);
        r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_fail(d, READ_FAILED);
        db_release(d, st);
        return r;
}

int signing_keys_find(db *d, const char *kid, jwks **ret, int64_t *ret_retired) {
        sqlite3_stmt *st = NULL;
        json_t *doc = NULL, *jwk;
        int r, step;

        if (db_prepare(d, "SELECT jwk, retired FROM signing_keys WHERE kid = ?1", &st) < 0)
                return db_fail(d, READ_FAILED);
        db_bind_text(st, 1, kid);
        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
                r = step == SQLITE_DONE ? -ENOENT : db_fail(d, READ_FAILED);
                goto out;
        }
        jwk = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
        *ret_retired = sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 1);
        doc = jwk ? json_pack("{s:[o]}", "keys", jwk) : NULL;
        r = doc ? jwks_parse(doc, ret) : -EBADMSG;
out:
        db_release(d, st);
        json_decref(doc);
        return r;
}

int signing_keys_foreach_published(db *d, int64_t now, const char *kid_a, const char *kid_b,
                                   int (*fn)(void *userdata, const char *jwk, int64_t until), void *userdata) {
        sqlite3_stmt *st = NULL;
        int r = 0, step;

        if (db_prepare(d, "SELECT jwk, published_until FROM signing_keys WHERE retired IS NOT NULL"
                           " AND published_until > ?1 AND kid != ?2 AND kid != ?3"
                           " ORDER BY retired DESC, kid", &st) < 0)
                return db_fail(d, READ_FAILED);
        sqlite3_bind_int64(st, 1, now);
        db_bind_text(st, 2, kid_a);
        db_bind_text(st, 3, kid_b);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                r = fn(userdata, (const char *) sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1));
                if (r != 0)
                        break;
        }
        if (r == 0 && step != SQLITE_DONE)
                r = db_fail(d, READ_FAILED);
        db_release(d, st);
        return r < 0 ? r : 0;
}

int signing_keys_list(db *d, const db_cursor *after, unsigned limit,
                      int (*fn)(void *userdata, const signing_key_row *row), void *userdata) {
        sqlite3_stmt *st = NULL;
        int step = SQLITE_DONE, r;

        /* Retired keys stay for good (old checkpoints verify with them), so
         * years of rotations outgrow one reply: this pages like the other
         * listings. The cursor seeks the index on the sort key; only keys
         * retired in the same second are stepped over. */
        if (after)
                r = db_prepare(d, "SELECT kid, created, retired, published_until, " KEY_SORT
                                   " FROM signing_keys INDEXED BY signing_keys_page"
                                   " WHERE " KEY_SORT " <= ?1 AND (" KEY_SORT " < ?1 OR kid < ?2)"
                                   " ORDER BY " KEY_SORT " DESC, kid DESC LIMIT ?3", &st);
        else
                r = db_prepare(d, "SELECT kid, created, retired, published_until, " KEY_SORT
                                   " FROM signing_keys INDEXED BY signing_keys_page"
                                   " ORDER BY " KEY_SORT " DESC, kid DESC LIMIT ?3", &st);
        if (r < 0)
                return r;
        if (after) {
                sqlite3_bind_int64(st, 1, after->created);
                sqlite3_bind_text(st, 2, after->id, -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_int(st, 3, (int) limit);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                signing_key_row row = {
                        .kid = (const char *) sqlite3_column_text(st, 0),
                        .created = sqlite3_column_int64(st, 1),
                        .retired = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 2),
                        .published_until = sqlite3_column_int64(st, 3),
                        .sort = sqlite3_column_int64(st, 4),
                };

                r = fn(userdata, &row);
                if (r != 0)
                        break;
        }
        if (r == 0 && step != SQLITE_DONE)
                r = db_fail(d, READ_FAILED);
        db_release(d, st);
        return r;
}
