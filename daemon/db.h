/* db.h: enrichd's sqlite state (state_dir/enrich.db): versioned schema,
 * transactions, sessions (grants.c keeps the grants tables). Every write runs in its own transaction, so a failure never
 * leaves a partial row. On failure a function returns a negative errno and
 * db_last_error() says why (sqlite3_errmsg text), for the log and the caller.
 *
 * Durability (WAL mode). db_begin_durable and db_write commit with
 * synchronous=FULL (the WAL is fsync'd at each commit): they carry what
 * admins do (grants, revocations, tokens, disabled accounts), which a power
 * loss must not undo. Everything else (db_begin, the session rows of
 * db_session_*) commits with synchronous=NORMAL: no fsync on the login path
 * (one would cost about as much as the whole login). A power loss or kernel
 * crash never corrupts the database, but may lose the last transactions
 * before it: session changes that the same crash makes moot (every session
 * and key dies with the kernel; at restart the live set drops sessions
 * whose process is gone) and the newest audit records (the journal has
 * them too). A later FULL commit makes every earlier one durable as well. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <sqlite3.h>

#define DB_FILE_NAME "enrich.db"
/* At most this many rows make one page of a listing. */
#define DB_MAX_LIST 1000

/* Where a page of a newest-first listing (sessions, grants, tokens) starts:
 * at the rows that sort after this one, i.e. (created, id) < (created, id)
 * with id the row's primary key (sid for sessions). NULL: at the newest. */
typedef struct db_cursor {
        int64_t created;
        const char *id;
} db_cursor;

typedef struct db db;

typedef struct db_session {
        const char *sid;
        const char *user;
        uid_t uid;
        const char *service;
        const char *tty;        /* optional */
        const char *rhost;      /* optional */
        const char *ruser;      /* optional */
        int64_t pid;
        int64_t asid;           /* -1: unset */
        int64_t created;
        int64_t expires;        /* expiry of the current token */
        const char *claims;     /* JSON payload of the current token */
        const char *amr;        /* JSON array text, optional */
        int64_t pid_start;      /* start time of pid (/proc/PID/stat field 22); -1: unknown */
        int64_t token_issued;   /* iat of the current token */
        int64_t key_serial;     /* 0: no key attached (only read back by foreach) */
} db_session;

/* Opens (creating if needed) path, switches to WAL and runs pending
 * migrations. On failure *ret_error (optional) gets a malloc'd message. */
int db_open(const char *path, db **ret, char **ret_error);
void db_close(db *d);
/* Message of the last failure on d; never NULL. */
const char *db_last_error(const db *d);
int db_schema_version(db *d, int *ret);

/* For the other tables' code (grants.c): the connection, and transactions
 * that cover several statements. db_fail() records "what: sqlite3_errmsg"
 * as the last error and returns -EIO. db_rollback() is harmless when sqlite
 * already rolled back. */
sqlite3 *db_handle(db *d);
int db_begin(db *d);
int db_begin_durable(db *d);
int db_commit(db *d);
void db_rollback(db *d);
int db_fail(db *d, const char *what);
/* A prepared statement for sql from the connection's cache (prepared once,
 * with SQLITE_PREPARE_PERSISTENT). Give it back with db_release on every
 * path. Asking for the same sql again before that is harmless: the second
 * caller gets a private statement. */
int db_prepare(db *d, const char *sql, sqlite3_stmt **ret);
/* Done with st: a cached statement is reset and its bindings cleared (which
 * also ends its read transaction); any other statement (sqlite3_prepare_v2)
 * is finalized. NULL is fine. */
void db_release(db *d, sqlite3_stmt *st);
/* Binds s as text (copied), or NULL when s is NULL. */
void db_bind_text(sqlite3_stmt *st, int index, const char *s);
/* Steps one prepared, bound write in its own transaction, durably (see
 * above), and releases it (db_release); *ret_changes (optional) gets the rows
 * changed. */
int db_write(db *d, sqlite3_stmt *st, const char *what, int *ret_changes);

int db_session_insert(db *d, const db_session *s);
/* -ENOENT when sid is unknown or has ended. */
int db_session_attach_key(db *d, const char *sid, int64_t key_serial);
/* Marks sid ended at now for reason (idempotent: the first end wins);
 * -ENOENT when sid is unknown. */
int db_session_end(db *d, const char *sid, int64_t now, const char *reason);
/* Records a refreshed token of a session not ended; -ENOENT otherwise. */
int db_session_update_token(db *d, const char *sid, const char *claims, int64_t issued,
                            int64_t expires);
/* Calls fn for every session not ended (for the live set at startup),
 * oldest first, at most limit; stops at fn's first negative return. */
int db_session_foreach_active(db *d, size_t limit,
                              int (*fn)(void *userdata, const db_session *s), void *userdata);
/* Number of sessions not ended. */
int db_session_count_active(db *d, int64_t *ret);
/* Sessions not ended, filtered by uid (unless uid is (uid_t) -1) and by user
 * (unless NULL), newest first by (created, sid), from after (see db_cursor),
 * at most limit (<= DB_MAX_LIST + 1): fn gets each as an io.enrich.Session
 * object and owns it. Stops at fn's first nonzero return and returns it
 * when negative (0 when positive). Every shape walks an index from the
 * cursor. */
int db_session_list(db *d, uid_t uid, const char *user, const db_cursor *after, unsigned limit,
                    int (*fn)(void *userdata, json_t *session), void *userdata);
