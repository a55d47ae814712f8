/* sessions.c: the sessions table (sessions.h). */
#include <errno.h>
#include <sqlite3.h>
#include "sessions.h"

static const char *column_text(sqlite3_stmt *st, int column) {
        return (const char *) sqlite3_column_text(st, column);
}

static int64_t column_int_or(sqlite3_stmt *st, int column, int64_t fallback) {
        return sqlite3_column_type(st, column) == SQLITE_NULL ? fallback : sqlite3_column_int64(st, column);
}

/* The columns both listings select, 0 to 12: sid, user, uid, service, tty,
 * rhost, ruser, pid, asid, key_serial, created, expires, claims. */
static session_row listed_row(sqlite3_stmt *st) {
        return (session_row) {
                .sid = column_text(st, 0), .user = column_text(st, 1),
                .uid = (uid_t) sqlite3_column_int64(st, 2), .service = column_text(st, 3),
                .tty = column_text(st, 4), .rhost = column_text(st, 5), .ruser = column_text(st, 6),
                .pid = sqlite3_column_int64(st, 7), .asid = column_int_or(st, 8, -1),
                .key_serial = column_int_or(st, 9, 0), .created = sqlite3_column_int64(st, 10),
                .expires = sqlite3_column_int64(st, 11), .claims = column_text(st, 12),
                .pid_start = -1,
        };
}

int sessions_insert(db *d, const session_row *s) {
        sqlite3_stmt *st = NULL;

        if (db_prepare(d, "INSERT INTO sessions (sid, user, uid, service, tty, rhost, ruser, pid, asid,"
                          " created, expires, claims, amr, pid_start, token_issued, token_expires, key_serial)"
                          " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st) < 0)
                return db_fail(d, "Failed to prepare session insert");
        sqlite3_bind_text(st, 1, s->sid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, s->user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, s->uid);
        sqlite3_bind_text(st, 4, s->service, -1, SQLITE_TRANSIENT);
        db_bind_text(st, 5, s->tty);
        db_bind_text(st, 6, s->rhost);
        db_bind_text(st, 7, s->ruser);
        sqlite3_bind_int64(st, 8, s->pid);
        db_bind_int64_or_null(st, 9, s->asid >= 0, s->asid);
        sqlite3_bind_int64(st, 10, s->created);
        sqlite3_bind_int64(st, 11, s->expires);
        sqlite3_bind_text(st, 12, s->claims, -1, SQLITE_TRANSIENT);
        db_bind_text(st, 13, s->amr);
        db_bind_int64_or_null(st, 14, s->pid_start >= 0, s->pid_start);
        sqlite3_bind_int64(st, 15, s->token_issued);
        sqlite3_bind_int64(st, 16, s->expires);
        db_bind_int64_or_null(st, 17, s->key_serial > 0, s->key_serial);
        return db_write_normal(d, st, "Failed to insert session", NULL);
}

int sessions_attach_key(db *d, const char *sid, int64_t key_serial) {
        sqlite3_stmt *st = NULL;
        int changes = 0, r;

        if (db_prepare(d, "UPDATE sessions SET key_serial = ? WHERE sid = ? AND ended IS NULL", &st) < 0)
                return db_fail(d, "Failed to prepare key update");
        sqlite3_bind_int64(st, 1, key_serial);
        sqlite3_bind_text(st, 2, sid, -1, SQLITE_TRANSIENT);
        r = db_write_normal(d, st, "Failed to record key serial", &changes);
        if (r < 0)
                return r;
        return changes > 0 ? 0 : -ENOENT;
}

int sessions_end(db *d, const char *sid, int64_t now, const char *reason) {
        sqlite3_stmt *st = NULL;
        int changes = 0, r;

        if (db_prepare(d, "UPDATE sessions SET ended_reason = CASE WHEN ended IS NULL THEN ?3"
                          " ELSE ended_reason END, ended = COALESCE(ended, ?1) WHERE sid = ?2", &st) < 0)
                return db_fail(d, "Failed to prepare session end");
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, sid, -1, SQLITE_TRANSIENT);
        db_bind_text(st, 3, reason);
        r = db_write_normal(d, st, "Failed to end session", &changes);
        if (r < 0)
                return r;
        return changes > 0 ? 0 : -ENOENT;
}

int sessions_update_token(db *d, const char *sid, const char *claims, int64_t issued, int64_t expires) {
        sqlite3_stmt *st = NULL;
        int changes = 0, r;

        if (db_prepare(d, "UPDATE sessions SET claims = ?1, token_issued = ?2, token_expires = ?3,"
                          " expires = ?3 WHERE sid = ?4 AND ended IS NULL", &st) < 0)
                return db_fail(d, "Failed to prepare token update");
        sqlite3_bind_text(st, 1, claims, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, issued);
        sqlite3_bind_int64(st, 3, expires);
        sqlite3_bind_text(st, 4, sid, -1, SQLITE_TRANSIENT);
        r = db_write_normal(d, st, "Failed to record refreshed token", &changes);
        if (r < 0)
                return r;
        return changes > 0 ? 0 : -ENOENT;
}

int sessions_foreach_active(db *d, size_t limit, int (*fn)(void *userdata, const session_row *s),
                            void *userdata) {
        sqlite3_stmt *st = NULL;
        int r = 0, step;

        if (db_prepare(d, "SELECT sid, user, uid, service, tty, rhost, ruser, pid, asid, key_serial,"
                          " created, expires, claims, amr, pid_start, token_issued, token_expires"
                          " FROM sessions WHERE ended IS NULL ORDER BY created, rowid LIMIT ?", &st) < 0) {
                r = db_fail(d, "Failed to prepare session scan");
                goto out;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64) limit);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                session_row s = listed_row(st);

                s.expires = column_int_or(st, 16, s.expires);
                s.amr = column_text(st, 13);
                s.pid_start = column_int_or(st, 14, -1);
                /* Rows from before migration 3: assume issued at creation. */
                s.token_issued = column_int_or(st, 15, s.created);
                r = fn(userdata, &s);
                if (r < 0)
                        goto out;
        }
        if (step != SQLITE_DONE)
                r = db_fail(d, "Failed to scan sessions");
out:
        db_release(d, st);
        return r;
}

int sessions_count_active(db *d, int64_t *ret) {
        sqlite3_stmt *st = NULL;

        if (db_prepare(d, "SELECT count(*) FROM sessions WHERE ended IS NULL", &st) < 0)
                return db_fail(d, "Failed to count sessions");
        return db_read_int64(d, st, "Failed to count sessions", ret);
}

int sessions_list(db *d, uid_t uid, const char *user, const db_cursor *after, unsigned limit,
                  int (*fn)(void *userdata, const session_row *s), void *userdata) {
        sqlite3_stmt *st = NULL;
        int r = 0, step;

#define SESSION_LIST_COLUMNS "SELECT sid, user, uid, service, tty, rhost, ruser, pid, asid, key_serial," \
                             " created, expires, claims FROM sessions"
#define SESSION_LIST_PAGE " ended IS NULL AND (?2 IS NULL OR user = ?2) AND (created, sid) < (?3, ?4)" \
                          " ORDER BY created DESC, sid DESC LIMIT ?5"
        /* One shape per filter, each with its index: a non-admin's own
         * sessions by uid, an admin's by user name, or everyone's. */
        if (uid != (uid_t) -1)
                r = db_prepare(d, SESSION_LIST_COLUMNS " INDEXED BY sessions_open_uid_page WHERE uid = ?1 AND"
                                  SESSION_LIST_PAGE, &st);
        else if (user)
                r = db_prepare(d, SESSION_LIST_COLUMNS " INDEXED BY sessions_open_user_page WHERE user = ?2 AND"
                                  SESSION_LIST_PAGE, &st);
        else
                r = db_prepare(d, SESSION_LIST_COLUMNS " INDEXED BY sessions_open_page WHERE"
                                  SESSION_LIST_PAGE, &st);
#undef SESSION_LIST_COLUMNS
#undef SESSION_LIST_PAGE
        if (r < 0) {
                r = db_fail(d, "Failed to prepare session listing");
                goto out;
        }
        if (uid != (uid_t) -1)
                sqlite3_bind_int64(st, 1, (int64_t) uid);
        db_bind_text(st, 2, user);
        /* Without a cursor: before a (created, sid) no row has. */
        sqlite3_bind_int64(st, 3, after ? after->created : INT64_MAX);
        sqlite3_bind_text(st, 4, after ? after->id : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, (int) (limit < DB_MAX_LIST + 1 ? limit : DB_MAX_LIST + 1));
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                session_row s = listed_row(st);

                r = fn(userdata, &s);
                if (r != 0) {
                        r = r < 0 ? r : 0;
                        goto out;
                }
        }
        if (step != SQLITE_DONE)
                r = db_fail(d, "Failed to list sessions");
out:
        db_release(d, st);
        return r;
}
