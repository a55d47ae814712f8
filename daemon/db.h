/* db.h: enrichd's sqlite state (state_dir/enrich.db): versioned schema,
 * sessions. Every write runs in its own transaction, so a failure never
 * leaves a partial row. On failure a function returns a negative errno and
 * db_last_error() says why (sqlite3_errmsg text), for the log and the caller. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#define DB_FILE_NAME "enrich.db"
/* At most this many sessions are returned by one listing. */
#define DB_MAX_LIST 1000

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
        int64_t expires;
        const char *claims;     /* JSON payload of the token */
} db_session;

/* Opens (creating if needed) path, switches to WAL and runs pending
 * migrations. On failure *ret_error (optional) gets a malloc'd message. */
int db_open(const char *path, db **ret, char **ret_error);
void db_close(db *d);
/* Message of the last failure on d; never NULL. */
const char *db_last_error(const db *d);
int db_schema_version(db *d, int *ret);

int db_session_insert(db *d, const db_session *s);
/* -ENOENT when sid is unknown or has ended. */
int db_session_attach_key(db *d, const char *sid, int64_t key_serial);
/* Marks sid ended at now (idempotent); -ENOENT when sid is unknown. */
int db_session_end(db *d, const char *sid, int64_t now);
/* Number of sessions not ended. */
int db_session_count_active(db *d, int64_t *ret);
/* Sessions not ended as a JSON array of io.enrich.Session objects, filtered
 * by uid (unless uid is (uid_t) -1) and by user (unless NULL), newest first,
 * at most DB_MAX_LIST. */
int db_session_list(db *d, uid_t uid, const char *user, json_t **ret);
