/* tokens.h: service-account tokens (sqlite table "tokens", migration 4):
 * issuing, listing, revoking and rotating them, checking a presented
 * verifier in constant time, the failure counters per token id and source
 * (migration 10) with their growing delay and their lock that ends by
 * itself, and the scope limit of sessions a token opened.
 * The daemon never sees a token's secret: enrichctl and the PAM module send
 * its verifier (svctoken.h), and a row keeps only
 * HMAC-SHA256(daemon secret, verifier), the daemon secret being a 32-byte
 * file in state_dir (0600) made on first use. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "db.h"
#include "svctoken.h"

#define TOKENS_SECRET_FILE      "token-secret"
#define TOKENS_MAX_SCOPES       64
#define TOKENS_MAX_SCOPE_LENGTH 128
#define TOKENS_MAX_DESCRIPTION  256
#define TOKENS_MAX_LIST         1000    /* rows returned by one listing */
#define TOKENS_MAX_ACTIVE       100     /* live tokens per user */
#define TOKENS_MAX_TTL          (5LL * 366 * 86400)
/* list flags a token not used (or, never used, not created) for this long. */
#define TOKENS_STALE_SECONDS (30LL * 86400)
/* The delay after the n-th wrong secret in a row for a token from one
 * source is BASE << (n - 1), at most MAX; attempts on that token from that
 * source inside half of it (libpam may wait as little as that) are refused
 * without being checked.
 * Attempts that name no token (unknown ids, unknown users) are delayed per
 * source the same way, at most SOURCE_MAX (as long as pam_unix makes a
 * wrong password wait), and never refused unchecked: the source may also
 * be where the honest token logs come from. */
#define TOKENS_DELAY_BASE_MS       250
#define TOKENS_DELAY_MAX_MS        30000
#define TOKENS_SOURCE_DELAY_MAX_MS 2000
/* Failures and locks are kept per (token id, source), source being where
 * the attempt came from (rhost, else ruser, else service): token ids are
 * not secret, so whoever can name one locks out only his own source, and
 * the token's honest logins from elsewhere go on (finding F5). Guessing
 * from many sources is still slowed: once wrong secrets for one id come
 * from more than ID_SOURCES_SLOW sources, every further wrong secret for
 * it is told the longest delay, from any source. That only delays: a
 * right secret from a source that is not locked is always checked. A row
 * stops counting FORGET_MS after its last failure or the end of its lock,
 * whichever is later, and is pruned then; an id keeps at most
 * SOURCES_PER_ID rows and the table at most ROWS (past them the row least
 * worth keeping goes: not locked before locked, then the oldest). */
#define TOKENS_ID_SOURCES_SLOW        3
#define TOKENS_FAILURE_FORGET_MS      (24LL * 3600 * 1000)
#define TOKENS_FAILURE_SOURCES_PER_ID 64
#define TOKENS_FAILURE_ROWS           10000
#define TOKENS_MAX_SOURCE             600     /* bytes of a source kept */
/* Enrich accepts a tokenId only when Authenticate accepted that token this
 * recently: the evidence of this very login, not of some older one. */
#define TOKENS_EVIDENCE_SECONDS 300

#define LOG_MSGID_TOKEN_ISSUED      "2f7c1c64e0a04d8e9b3e5f0a6d1c2b71"
#define LOG_MSGID_TOKEN_REVOKED     "8a4e2d9c7b1f4e3a9d6c5b4a3f2e1d01"
#define LOG_MSGID_TOKEN_AUTH_OK     "5c9e1a7b3d2f4c6e8a0b1d3f5e7c9a02"
#define LOG_MSGID_TOKEN_AUTH_FAILED "d4b6f8a0c2e44d1a9b7c5e3f1a2b4c03"
#define LOG_MSGID_TOKEN_LOCKED      "f0e1d2c3b4a54968a7b6c5d4e3f2a104"

typedef struct token_record {
        char id[SVCTOKEN_ID_LENGTH + 1];
        char *user;
        uid_t uid;
        char *scopes;           /* space-separated, "" for none */
        char *description;      /* NULL: none */
        int64_t created;
        char *created_by;
        int64_t expires;
        int64_t last_used;      /* 0: never */
        int64_t revoked;        /* 0: not revoked */
        char *revoked_by;
        int64_t rotated;        /* 0: never */
        int64_t previous_until; /* the old secret works until then; 0: none */
} token_record;

void token_record_clear(token_record *t);

/* A new random id (16 hex digits). */
int tokens_new_id(char ret[SVCTOKEN_ID_LENGTH + 1]);
/* Stores t (id, user, uid, scopes, description, created, created_by,
 * expires) with the hash of verifier. */
int tokens_add(db *d, const char *state_dir, const token_record *t, const char *verifier);
/* A fleet token (fleet.c): etcd holds no verifier, only its digest,
 * base64url(SHA-256(verifier)) (tokens_verifier_digest, malloc'd); the row
 * is keyed on that digest, and tokens_authenticate accepts the verifier
 * whose digest it is, as for a local token. */
int tokens_verifier_digest(const char *verifier, char **ret);
int tokens_add_fleet(db *d, const char *state_dir, const token_record *t, const char *digest);
/* -ENOENT when id is unknown. */
int tokens_get(db *d, const char *id, token_record *ret);
/* Tokens, user NULL meaning all users, newest first by (created, id), from
 * after (see db_cursor), at most limit (<= TOKENS_MAX_LIST + 1): fn gets
 * each record, valid until it returns. Stops at fn's first nonzero return
 * and returns it when negative (0 when positive). Both shapes walk an index
 * from the cursor. */
int tokens_list(db *d, const char *user, const db_cursor *after, unsigned limit,
                int (*fn)(void *userdata, const token_record *t), void *userdata);
/* Live (not revoked, not expired) tokens of user. */
int tokens_count_active(db *d, const char *user, int64_t now, int64_t *ret);
/* Marks id revoked; *ret_changed false when it already was. -ENOENT. */
int tokens_revoke(db *d, const char *id, const char *by, int64_t now, bool *ret_changed);
/* Revokes every token of user not yet revoked; *ret_count of them. */
int tokens_revoke_user(db *d, const char *user, const char *by, int64_t now, int *ret_count);
/* Gives id the new verifier; the old one keeps working until now + grace
 * (not at all with grace 0). -ENOENT when id is unknown, -EKEYREVOKED when
 * it is revoked or expired. */
int tokens_rotate(db *d, const char *state_dir, const char *id, const char *verifier, int64_t now, int64_t grace);
/* The same for a fleet token rotated by an issuer: the new verifier's
 * digest (tokens_add_fleet), rotated at now (the record's time). */
int tokens_rotate_fleet(db *d, const char *state_dir, const char *id, const char *digest, int64_t now, int64_t grace);
/* Clears the failure counters and locks of every token of user, from every
 * source; *ret_was_locked tells whether one was locked at now_ms. */
int tokens_unlock(db *d, const char *user, int64_t now_ms, bool *ret_was_locked);

/* The delay after the failures-th failure in a row: TOKENS_DELAY_BASE_MS,
 * doubling, at most max_ms. */
int64_t tokens_failure_delay_ms(unsigned failures, int64_t max_ms);

/* When a token id locks, and for how long (config: token_max_failures,
 * token_lock_seconds, token_lock_max_seconds). */
typedef struct token_lock_policy {
        unsigned max_failures;  /* wrong secrets in a row from one source that lock the id for it */
        int64_t lock_ms;        /* the first lock; doubles with each further one */
        int64_t lock_max_ms;    /* ... up to this */
} token_lock_policy;

typedef enum token_auth_outcome {
        TOKEN_AUTH_OK,
        TOKEN_AUTH_FAILED,      /* counted when a wrong secret for a known id */
        TOKEN_AUTH_TOO_SOON,    /* inside the delay of the last failure from this source: not checked, not counted */
        TOKEN_AUTH_LOCKED,      /* the token is locked for this source: not checked */
} token_auth_outcome;

typedef struct token_auth_result {
        token_auth_outcome outcome;
        const char *reason;     /* static text for the log and the caller */
        int64_t delay_ms;       /* failures: how long until the next attempt is checked
                                 * (0 for an unknown id: the caller delays its source) */
        unsigned failures;      /* wrong secrets in a row for the token from this source, this one included */
        unsigned id_failures;   /* ... from every source still counted */
        unsigned id_sources;    /* the sources they came from */
        bool unknown_id;        /* no such token: nothing counted, nothing locked */
        bool counted;           /* a wrong secret for a known id: counted against it and the source */
        bool locked_now;        /* this failure locked the token for this source */
        int64_t locked_until_ms; /* locked_now or LOCKED: until when */
        char *owner;            /* failures of a known id: the token's user */
        token_record token;     /* on success */
} token_auth_result;

/* Checks verifier against token id for user at now_ms (Unix ms), presented
 * from source (at most TOKENS_MAX_SOURCE bytes count). A wrong secret for a
 * known id is counted against that id and source (growing delay; at
 * policy->max_failures a lock of the id for that source that ends by
 * itself, longer with each further failure); a success records last_used
 * and resets the counter of that id and source only. Unknown ids, right
 * secrets of revoked or expired tokens or of another user's token are
 * refused and never counted. Negative errno only when the check itself
 * could not run (database, secret file); *ret is then untouched. */
int tokens_authenticate(db *d, const char *state_dir, const token_lock_policy *policy, const char *user, const char *id,
                        const char *verifier, const char *source, int64_t now_ms, token_auth_result *ret);
void token_auth_result_clear(token_auth_result *r);

/* For Enrich: 0 when id is a live token of user that Authenticate accepted
 * within TOKENS_EVIDENCE_SECONDS; -ENOENT, -EKEYREVOKED (revoked or
 * expired) or -ESTALE (not used recently) otherwise. Locks are not looked
 * at: they are per source, and Authenticate refused this login's source if
 * it was locked. */
int tokens_check_evidence(db *d, const char *id, const char *user, int64_t now);
/* Records that session sid was opened with token id, so every token of
 * the session (refreshes too) is limited to the token's scopes. */
int tokens_bind_session(db *d, const char *sid, const char *id);
/* The scope limit of sid: *ret_bound false when no token opened it;
 * otherwise *ret_scopes (malloc'd, space-separated) and the token's expiry
 * (*ret_expires, optional), which no claims of the session may outlive.
 * -EKEYREVOKED when the token is revoked or expired at now. */
int tokens_session_limit(db *d, const char *sid, int64_t now, bool *ret_bound, char **ret_scopes, int64_t *ret_expires);
/* The sessions (sids, NULL-terminated, NULL when none) opened with id and
 * not ended, at most TOKENS_MAX_LIST. */
int tokens_sessions(db *d, const char *id, char ***ret);
