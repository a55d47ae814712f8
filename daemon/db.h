/* db.h: enrichd's sqlite state (state_dir/enrich.db): versioned schema,
 * transactions, the statement cache; one file per table keeps that table's
 * statements (sessions.c, grants.c, tokens.c, identities.c,
 * signing_keys.c, audit.c). Every write runs in a transaction of its own or
 * a savepoint of the batch (below), so a failure never leaves a partial row. On failure a function returns a negative errno and
 * db_last_error() says why (sqlite3_errmsg text), for the log and the caller.
 *
 * Durability (WAL mode). db_begin_durable and db_write commit with
 * synchronous=FULL (the WAL is fsync'd at each commit): they carry what
 * admins do (grants, revocations, tokens, disabled accounts), which a power
 * loss must not undo. Everything else (db_begin, db_write_normal: the
 * session rows of sessions.c) commits with synchronous=NORMAL: no fsync on
 * the login path (one would cost about as much as the whole login). A power loss or kernel
 * crash never corrupts the database, but may lose the last transactions
 * before it: session changes that the same crash makes moot (every session
 * and key dies with the kernel; at restart the live set drops sessions
 * whose process is gone) and the newest audit records (the journal has
 * them too). A later FULL commit makes every earlier one durable as well.
 *
 * Group commit. While batching is allowed (db_batch_allow, once per turn
 * of the event loop that serves calls), the NORMAL writes (db_write_normal,
 * db_begin: session rows, audit records, token lockout counts) join one
 * open transaction, the batch, instead of committing each on its own;
 * a db_begin() inside it is a savepoint, so a failed call undoes only its
 * own writes. db_batch_commit() at the end of the turn commits it, and the
 * server sends the replies of the calls that wrote into it (see
 * db_batch_writes) only once that succeeded. A durable write
 * (db_begin_durable, db_write) first commits the open batch, then commits
 * on its own with synchronous=FULL. A kill -9 loses at most the open batch,
 * whose calls have not been answered.
 *
 * Checkpoints (the WAL copied back into the database, with its fsyncs) run
 * on a thread of their own with a second connection (PASSIVE, never
 * blocking the daemon's writes), started by db_open and stopped by
 * db_close, so no call waits for one. */
#pragma once
#include <stdbool.h>
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

/* Opens (creating if needed) path, switches to WAL and runs pending
 * migrations. On failure *ret_error (optional) gets a malloc'd message. */
int db_open(const char *path, db **ret, char **ret_error);
/* A read-only connection to a database db_open made (WAL), for another
 * thread: no migration, no checkpointer; db_close closes it. */
int db_open_reader(const char *path, db **ret);
void db_close(db *d);
/* Message of the last failure on d; never NULL. */
const char *db_last_error(const db *d);
int db_schema_version(db *d, int *ret);

/* Group commit (above). db_batch_allow: NORMAL writes from now on join the
 * batch. db_batch_writes: a counter that moves whenever a write joins a
 * batch (compare before and after a call). db_batch_commit: commits the
 * open batch, if any, and ends batching until the next db_batch_allow;
 * -EIO when this or any batch since db_batch_allow was lost (rolled back),
 * db_last_error() says why. */
void db_batch_allow(db *d);
uint64_t db_batch_writes(const db *d);
int db_batch_commit(db *d);
/* How the WAL fared, for tests: the times it started over, the
 * checkpoints the committing thread ran because the WAL reached its bound
 * (milliseconds each), and the times the checkpointer thread was woken to
 * copy the frames of the newest commits (so that the WAL restarts). */
void db_wal_stats(const db *d, uint64_t *ret_restarts, uint64_t *ret_main_checkpoints, uint64_t *ret_catch_ups);
/* Whether writes join a batch now (db_batch_allow until db_batch_commit). */
bool db_batch_pending(const db *d);
/* Whether a db_begin() transaction is open (the batch alone is not one). */
bool db_in_transaction(const db *d);

/* For the other tables' code (grants.c): the connection, and transactions
 * that cover several statements (nested inside an open one or the batch,
 * they are savepoints). db_fail() records "what: sqlite3_errmsg"
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
/* Binds value, or NULL when present is false (a uid or time not known). */
void db_bind_int64_or_null(sqlite3_stmt *st, int index, bool present, int64_t value);
/* Steps one prepared, bound write inside the caller's transaction (whose
 * commit decides durability) and releases it; *ret_changes (optional) gets
 * the rows changed. */
int db_step_write(db *d, sqlite3_stmt *st, const char *what, int *ret_changes);
/* Steps a prepared, bound query of one row and one integer column (a
 * count, a meta value) into *ret, and releases it. */
int db_read_int64(db *d, sqlite3_stmt *st, const char *what, int64_t *ret);
/* Steps one prepared, bound write in its own transaction, durably (see
 * above), and releases it (db_release); *ret_changes (optional) gets the rows
 * changed. */
int db_write(db *d, sqlite3_stmt *st, const char *what, int *ret_changes);
/* The same, committed with synchronous=NORMAL: for the session rows, which
 * a crash that loses them makes moot (see above). */
int db_write_normal(db *d, sqlite3_stmt *st, const char *what, int *ret_changes);

/* ---- one way to run a statement --------------------------------------------
 * The tables' code names its SQL and the values of its parameters; these
 * prepare, bind, step, map rows and release, so that skeleton stands here
 * once. The i-th value binds ?i (1-based); values past the statement's
 * last parameter are left unbound, so one list can serve several
 * statements. A statement that fails to prepare, bind or step records
 * "what: sqlite3_errmsg" (db_last_error) and gives -EIO. */
typedef enum db_value_type {
        DB_VALUE_NULL,
        DB_VALUE_INT,
        DB_VALUE_TEXT,          /* NULL text binds NULL */
        DB_VALUE_BLOB,
} db_value_type;

typedef struct db_value {
        db_value_type type;
        int64_t integer;
        const void *data;       /* the text or the blob */
        size_t size;            /* a blob's size; at most this many bytes of a text */
} db_value;

#define DB_INT(v) ((db_value) { .type = DB_VALUE_INT, .integer = (int64_t) (v) })
/* v, or NULL when present is false (a uid or time not known). */
#define DB_INT_OR_NULL(present, v) \
        ((db_value) { .type = (present) ? DB_VALUE_INT : DB_VALUE_NULL, .integer = (int64_t) (v) })
#define DB_TEXT(s)              ((db_value) { .type = DB_VALUE_TEXT, .data = (s), .size = SIZE_MAX })
#define DB_TEXT_BOUNDED(s, max) ((db_value) { .type = DB_VALUE_TEXT, .data = (s), .size = (max) })
#define DB_BLOB(p, n)           ((db_value) { .type = DB_VALUE_BLOB, .data = (p), .size = (n) })
/* Where a newest-first page starts (db_cursor): the row's (created, id),
 * or without a cursor a (created, id) that sorts after every row. */
#define DB_CURSOR_CREATED(after) DB_INT((after) ? (after)->created : INT64_MAX)
#define DB_CURSOR_ID(after)      DB_TEXT((after) ? (after)->id : "")
/* A page's LIMIT: limit, at most one more than max rows (the one more
 * tells whether another page follows). */
#define DB_PAGE_LIMIT(limit, max) DB_INT((limit) < (max) + 1 ? (limit) : (max) + 1)
/* The values of a statement, as the last two arguments (array, count) of
 * the functions below. */
#define DB_ARGS(...) (const db_value[]) { __VA_ARGS__ }, (sizeof((const db_value[]) { __VA_ARGS__ }) / sizeof(db_value))
#define DB_NO_ARGS   NULL, 0

/* db_prepare of sql with args bound; give it back with db_release. */
int db_statement(db *d, const char *sql, const char *what, sqlite3_stmt **ret, const db_value *args, size_t n_args);

/* How db_run commits its write: as db_write, db_write_normal, or inside
 * the caller's transaction as db_step_write. */
typedef enum db_write_kind {
        DB_WRITE_DURABLE,
        DB_WRITE_NORMAL,
        DB_WRITE_IN_TRANSACTION,
} db_write_kind;
/* Runs one write of sql with args, committed as kind says; *ret_changes
 * (optional) gets the rows changed. */
int db_run(db *d, db_write_kind kind, const char *sql, const char *what, int *ret_changes, const db_value *args,
           size_t n_args);

/* What a query hands each row to: 0 for the next row, > 0 to stop there
 * (a success), < 0 to fail with it. The columns are valid until it
 * returns. */
typedef int (*db_row_fn)(void *userdata, sqlite3_stmt *st);
/* Every row of the query to fn. 0 (also when fn stopped), fn's negative
 * return, or -EIO. */
int db_query_each(db *d, const char *sql, const char *what, db_row_fn fn, void *userdata, const db_value *args,
                  size_t n_args);
/* A query of at most one row: fn's return for the row; -ENOENT, with
 * nothing recorded, when there is none. */
int db_query_row(db *d, const char *sql, const char *what, db_row_fn fn, void *userdata, const db_value *args,
                 size_t n_args);
/* The integer in column 0 of a query's one row (NULL reads as 0: a count,
 * a min(), a meta value); -ENOENT, with nothing recorded, when no row. */
int db_query_int64(db *d, const char *sql, const char *what, int64_t *ret, const db_value *args, size_t n_args);
/* The text in column 0 of every row (NULL skipped) as a NULL-terminated
 * list; *ret NULL when there is no row. Bound it with a LIMIT. */
int db_query_strv(db *d, const char *sql, const char *what, char ***ret, const db_value *args, size_t n_args);

/* Runs fn(d, userdata) in one transaction, durable (db_begin_durable) or
 * not (db_begin): committed when fn returns >= 0, rolled back otherwise.
 * fn's return, or the commit's failure. */
int db_transaction(db *d, bool durable, int (*fn)(db *d, void *userdata), void *userdata);

/* Columns of the current row: text (NULL when NULL), an integer or
 * fallback when NULL, a malloc'd copy of a text (*ret NULL when NULL;
 * -ENOMEM). */
const char *db_column_text(sqlite3_stmt *st, int column);
int64_t db_column_int64_or(sqlite3_stmt *st, int column, int64_t fallback);
int db_column_dup(sqlite3_stmt *st, int column, char **ret);
