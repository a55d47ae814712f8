/* sessions.c: the sessions table (sessions.h). */
#include <errno.h>
#include <sqlite3.h>
#include "sessions.h"

/* The columns both reads select, 0 to 12, and what the live set reads on
 * top of them, 13 to 16. */
#define SESSION_COLUMNS      "sid, user, uid, service, tty, rhost, ruser, pid, asid, key_serial, created, expires, claims"
#define SESSION_LIVE_COLUMNS SESSION_COLUMNS ", amr, pid_start, token_issued, token_expires"

/* A walk over session rows: each to fn; live: the row has the
 * SESSION_LIVE_COLUMNS, and only fn's failure stops the walk. */
typedef struct session_walk {
        int (*fn)(void *userdata, const session_row *s);
        void *userdata;
        bool live;
} session_walk;

static int walk_row(void *userdata, sqlite3_stmt *st) {
        const session_walk *w = userdata;
        session_row s = {
                .sid = db_column_text(st, 0),
                .user = db_column_text(st, 1),
                .uid = (uid_t) sqlite3_column_int64(st, 2),
                .service = db_column_text(st, 3),
                .tty = db_column_text(st, 4),
                .rhost = db_column_text(st, 5),
                .ruser = db_column_text(st, 6),
                .pid = sqlite3_column_int64(st, 7),
                .asid = db_column_int64_or(st, 8, -1),
                .key_serial = db_column_int64_or(st, 9, 0),
                .created = sqlite3_column_int64(st, 10),
                .expires = sqlite3_column_int64(st, 11),
                .claims = db_column_text(st, 12),
                .pid_start = -1,
        };
        int r;

        if (w->live) {
                s.expires = db_column_int64_or(st, 16, s.expires);
                s.amr = db_column_text(st, 13);
                s.pid_start = db_column_int64_or(st, 14, -1);
                /* Rows from before migration 3: assume issued at creation. */
                s.token_issued = db_column_int64_or(st, 15, s.created);
        }
        r = w->fn(w->userdata, &s);
        return w->live && r > 0 ? 0 : r;
}

/* One write of one session's row; -ENOENT when it changed none. */
static int write_session(db *d, const char *sql, const char *what, const db_value *args, size_t n_args) {
        int changes = 0, r;

        r = db_run(d, DB_WRITE_NORMAL, sql, what, &changes, args, n_args);
        if (r < 0)
                return r;
        return changes > 0 ? 0 : -ENOENT;
}

int sessions_insert(db *d, const session_row *s) {
        return db_run(d, DB_WRITE_NORMAL,
                      "INSERT INTO sessions (sid, user, uid, service, tty, rhost, ruser, pid, asid,"
                      " created, expires, claims, amr, pid_start, token_issued, token_expires, key_serial)"
                      " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      "Failed to insert session", NULL,
                      DB_ARGS(DB_TEXT(s->sid), DB_TEXT(s->user), DB_INT(s->uid), DB_TEXT(s->service), DB_TEXT(s->tty),
                              DB_TEXT(s->rhost), DB_TEXT(s->ruser), DB_INT(s->pid),
                              DB_INT_OR_NULL(s->asid >= 0, s->asid), DB_INT(s->created), DB_INT(s->expires),
                              DB_TEXT(s->claims), DB_TEXT(s->amr), DB_INT_OR_NULL(s->pid_start >= 0, s->pid_start),
                              DB_INT(s->token_issued), DB_INT(s->expires),
                              DB_INT_OR_NULL(s->key_serial > 0, s->key_serial)));
}

int sessions_attach_key(db *d, const char *sid, int64_t key_serial) {
        return write_session(d, "UPDATE sessions SET key_serial = ? WHERE sid = ? AND ended IS NULL",
                             "Failed to record key serial", DB_ARGS(DB_INT(key_serial), DB_TEXT(sid)));
}

int sessions_end(db *d, const char *sid, int64_t now, const char *reason) {
        return write_session(d,
                             "UPDATE sessions SET ended_reason = CASE WHEN ended IS NULL THEN ?3"
                             " ELSE ended_reason END, ended = COALESCE(ended, ?1) WHERE sid = ?2",
                             "Failed to end session", DB_ARGS(DB_INT(now), DB_TEXT(sid), DB_TEXT(reason)));
}

int sessions_update_token(db *d, const char *sid, const char *claims, int64_t issued, int64_t expires) {
        return write_session(d,
                             "UPDATE sessions SET claims = ?1, token_issued = ?2, token_expires = ?3,"
                             " expires = ?3 WHERE sid = ?4 AND ended IS NULL",
                             "Failed to record refreshed token",
                             DB_ARGS(DB_TEXT(claims), DB_INT(issued), DB_INT(expires), DB_TEXT(sid)));
}

const char sessions_active_sql[] = "SELECT " SESSION_LIVE_COLUMNS " FROM sessions WHERE ended IS NULL"
                                   " ORDER BY created, rowid LIMIT ?";
const char sessions_count_sql[] = "SELECT count(*) FROM sessions WHERE ended IS NULL";

int sessions_foreach_active(db *d, size_t limit, int (*fn)(void *userdata, const session_row *s), void *userdata) {
        session_walk w = { .fn = fn, .userdata = userdata, .live = true };

        return db_query_each(d, sessions_active_sql, "Failed to scan sessions", walk_row, &w, DB_ARGS(DB_INT(limit)));
}

int sessions_count_active(db *d, int64_t *ret) {
        return db_query_int64(d, sessions_count_sql, "Failed to count sessions", ret, DB_NO_ARGS);
}

int sessions_list(db *d, uid_t uid, const char *user, const db_cursor *after, unsigned limit,
                  int (*fn)(void *userdata, const session_row *s), void *userdata) {
        session_walk w = { .fn = fn, .userdata = userdata };
        const char *sql;

#define SESSION_LIST "SELECT " SESSION_COLUMNS " FROM sessions INDEXED BY "
#define SESSION_LIST_PAGE \
        " ended IS NULL AND (?2 IS NULL OR user = ?2) AND (created, sid) < (?3, ?4)" \
        " ORDER BY created DESC, sid DESC LIMIT ?5"
        /* One shape per filter, each with its index: a non-admin's own
         * sessions by uid, an admin's by user name, or everyone's. */
        if (uid != (uid_t) -1)
                sql = SESSION_LIST "sessions_open_uid_page WHERE uid = ?1 AND" SESSION_LIST_PAGE;
        else if (user)
                sql = SESSION_LIST "sessions_open_user_page WHERE user = ?2 AND" SESSION_LIST_PAGE;
        else
                sql = SESSION_LIST "sessions_open_page WHERE" SESSION_LIST_PAGE;
#undef SESSION_LIST
#undef SESSION_LIST_PAGE
        return db_query_each(d, sql, "Failed to list sessions", walk_row, &w,
                             DB_ARGS(DB_INT_OR_NULL(uid != (uid_t) -1, uid), DB_TEXT(user), DB_CURSOR_CREATED(after),
                                     DB_CURSOR_ID(after), DB_PAGE_LIMIT(limit, DB_MAX_LIST)));
}
