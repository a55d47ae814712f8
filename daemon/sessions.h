/* sessions.h: the sessions table, every login given claims (sid, user,
 * uid, service, tty, rhost, ruser, pid, audit session, key serial, created,
 * expires, ended, claims). Storage only: rows in, structs out; the
 * handlers build the wire's io.enrich.Session. Writes commit with
 * synchronous=NORMAL (db.h says why). Functions return 0 or a negative
 * errno; -EIO means db_last_error says why. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include "db.h"

typedef struct session_row {
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
        int64_t key_serial;     /* 0: no key attached */
} session_row;

int sessions_insert(db *d, const session_row *s);
/* -ENOENT when sid is unknown or has ended. */
int sessions_attach_key(db *d, const char *sid, int64_t key_serial);
/* Marks sid ended at now for reason (idempotent: the first end wins);
 * -ENOENT when sid is unknown. */
int sessions_end(db *d, const char *sid, int64_t now, const char *reason);
/* Records a refreshed token of a session not ended; -ENOENT otherwise. */
int sessions_update_token(db *d, const char *sid, const char *claims, int64_t issued, int64_t expires);
/* Calls fn for every session not ended (for the live set at startup),
 * oldest first, at most limit; stops at fn's first negative return. The
 * row's strings live until fn returns. */
int sessions_foreach_active(db *d, size_t limit, int (*fn)(void *userdata, const session_row *s), void *userdata);
/* Number of sessions not ended. */
int sessions_count_active(db *d, int64_t *ret);
/* Their statements, for test_session_plan. */
extern const char sessions_active_sql[];
extern const char sessions_count_sql[];
/* Sessions not ended, filtered by uid (unless uid is (uid_t) -1) and by user
 * (unless NULL), newest first by (created, sid), from after (see db_cursor),
 * at most limit (<= DB_MAX_LIST + 1); fn gets each row (amr, pid_start and
 * token_issued not read). Stops at fn's first nonzero return and returns
 * it when negative (0 when positive). Every shape walks an index from the
 * cursor. */
int sessions_list(db *d, uid_t uid, const char *user, const db_cursor *after, unsigned limit,
                  int (*fn)(void *userdata, const session_row *s), void *userdata);
