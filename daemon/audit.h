/* audit.h: the tamper-evident audit trail. Every decision enrichd makes is
 * one row of the sqlite table audit; rows form a SHA-256 hash chain, and the
 * chain head is signed with the daemon's Ed25519 key at intervals
 * (checkpoints), so that an edit made directly in the database is found by
 * audit_verify(). Rows never hold secrets: token ids and jtis, never token
 * secrets or verifiers.
 *
 * Canonical encoding of a row (what its hash covers): the JSON object
 *   {"action":A,"actor_name":N,"actor_uid":U|null,"details":D,"id":I,
 *    "prev_hash":P,"result":R,"subject":S|null,"time":T}
 * dumped by jansson with JSON_COMPACT|JSON_SORT_KEYS (no spaces, keys in
 * byte order), where D is the details object's own compact, sorted JSON
 * text as a string and P the previous row's hash (64 lowercase hex digits,
 * 64 zeros before the first row). hash = lowercase hex of
 * SHA-256(the 32 bytes P encodes || the canonical encoding).
 *
 * A checkpoint signs, with Ed25519, the bytes
 *   "enrich-audit-checkpoint" NUL || row id (8 bytes, big-endian) ||
 *   head (the 32 bytes of that row's hash) || time (8 bytes, big-endian). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>

#include "enrichd.h"

/* Action names: stable, documented in docs/admin-guide.md and enrichctl(8). */
#define AUDIT_ENRICH_ISSUED     "enrich.issued"
#define AUDIT_ENRICH_REFUSED    "enrich.refused"
#define AUDIT_SESSION_REFRESHED "session.refreshed"
#define AUDIT_SESSION_REVOKED   "session.revoked"
#define AUDIT_SESSION_ENDED     "session.ended"
#define AUDIT_GRANT_CREATED     "grant.created"
#define AUDIT_GRANT_REVOKED     "grant.revoked"
#define AUDIT_GRANT_EXPIRED     "grant.expired"
#define AUDIT_REQUEST_CREATED   "request.created"
#define AUDIT_REQUEST_APPROVED  "request.approved"
#define AUDIT_REQUEST_DENIED    "request.denied"
#define AUDIT_REQUEST_EXPIRED   "request.expired"
#define AUDIT_TOKEN_ISSUED      "token.issued"
#define AUDIT_TOKEN_USED        "token.used"
#define AUDIT_TOKEN_REJECTED    "token.rejected"
#define AUDIT_TOKEN_REVOKED     "token.revoked"
#define AUDIT_TOKEN_ROTATED     "token.rotated"
#define AUDIT_TOKEN_UNLOCKED    "token.unlocked"
#define AUDIT_IDENTITY_DISABLED "identity.disabled"
#define AUDIT_IDENTITY_ENABLED  "identity.enabled"
#define AUDIT_LOGIN_REFUSED     "login.refused"
#define AUDIT_PERMISSION_DENIED "permission.denied"
#define AUDIT_CONFIG_RELOADED   "config.reloaded"
#define AUDIT_CONFIG_REJECTED   "config.rejected"
#define AUDIT_KEY_ROTATED       "key.rotated"
#define AUDIT_FLEET_ENROLLED    "fleet.enrolled"
#define AUDIT_CHECKPOINT        "audit.checkpoint"

/* Results. */
#define AUDIT_OK       "ok"
#define AUDIT_DENIED   "denied"
#define AUDIT_REJECTED "rejected"
#define AUDIT_FAILED   "failed"

/* Refusals (permission.denied, login.refused, enrich.refused,
 * token.rejected) are aggregated per (actor uid, action, method, subject):
 * the first in a window of audit_refusal_window seconds (config) gets its row at
 * once, the rest of the window are counted in memory and written as one
 * summary row (details: the newest refusal's, plus "count", "first" and
 * "last") when the window closes: on the tick, at the next refusal after
 * it, or at shutdown. A slot is never taken over within its window, so a
 * flood costs at most two rows per slot and window, whatever its pattern:
 * - a uid holds at most AUDIT_REFUSAL_PER_UID keys at once; its further
 *   refusals of an action share one overflow slot of that uid, whose
 *   summary says "method":"*" and counts them per method ("methods") and,
 *   when they differ, subject ("subjects"), at most AUDIT_REFUSAL_NAMES
 *   names each, the rest in "otherMethods" and "otherSubjects". The first
 *   refusal of each method named there gets its own row (counted 0);
 * - when all AUDIT_REFUSAL_SLOTS are open, everyone's new keys share one
 *   slot per action, whose summary enrichd writes with "actor":"many
 *   callers" and the uids counted in "callers" ("otherCallers").
 * The rows' counts (a summary's "count", any other row one) add up to the
 * refusals made. Per window: at most 2 * AUDIT_REFUSAL_PER_UID +
 * AUDIT_REFUSAL_NAMES + 1 rows per uid and action, and
 * (AUDIT_REFUSAL_SLOTS + AUDIT_REFUSAL_ACTIONS) * (AUDIT_REFUSAL_NAMES + 2)
 * in all. */
#define AUDIT_REFUSAL_SLOTS   1024
#define AUDIT_REFUSAL_PER_UID 16
#define AUDIT_REFUSAL_NAMES   16
#define AUDIT_REFUSAL_ACTIONS 4

/* The record of the newest checkpoint kept outside the database, in the
 * state directory beside enrich.db (audit.c). */
#define AUDIT_HEAD_FILE "audit.head"

/* Prepares the statements on d->db and learns the chain head. */
int audit_open(enrichd *d, audit **ret);
void audit_free(audit *a);

/* The canonical encoding (above) of one row, malloc'd; NULL for a text
 * that is not valid UTF-8 (jansson could not have held it) or without
 * memory. actor_uid < 0 and subject NULL encode as null. */
char *audit_canonical(int64_t id, int64_t time, int64_t actor_uid, const char *actor_name, const char *subject,
                      const char *action, const char *result, const char *details, const char *prev_hash);

/* Appends one row, in its own transaction, or in the caller's when one is
 * open, and logs it to the journal (its action's MESSAGE_ID, ENRICH_ACTION,
 * ENRICH_USER, ENRICH_SID, ENRICH_JTI). peer NULL: enrichd itself is the
 * actor. subject (the user the decision is about) may be NULL. details
 * (stolen, may be NULL) holds what explains the decision: sid, jti, claims,
 * rules, grant or token ids; its "sid" and "jti" members feed the journal
 * fields. Failure is logged (LOG_MSGID_AUDIT_AUDIT_FAILURE) and returned;
 * callers whose decision already happened only log it. A checkpoint follows
 * when audit_checkpoint_rows rows have piled up since the last. */
int audit_record(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                 json_t *details);
/* audit_record with the details already written as audit_record writes
 * them (json_dumps, JSON_COMPACT | JSON_SORT_KEYS; NULL: out of memory), by
 * a thread that had them at hand (Enrich's signer, sign_worker.h); sid and
 * jti (may be NULL) feed the journal's fields. */
int audit_record_text(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                      const char *details, const char *sid, const char *jti);

/* The batch (db.h) that held the newest rows was rolled back: the chain's
 * head is read again from the database. */
void audit_batch_lost(enrichd *d);
/* The newest row of the trail as this process knows it: committed, once
 * the turn's batch is (0: none). */
int64_t audit_head_id(const enrichd *d);

/* The same, with details built from json_pack-style format and arguments;
 * a format that fails to pack records the row without details. */
int audit_recordf(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                  const char *format, ...);

/* Records a refusal through the aggregation above: the arguments are
 * audit_record's, and method (may be NULL) is part of the key. details is
 * stolen. Returns 0 when the refusal was counted or written. */
int audit_record_refusal(enrichd *d, const struct ucred *peer, const char *subject, const char *action,
                         const char *result, const char *method, json_t *details);

/* Writes the summary rows of every window that closed (all: every window,
 * at shutdown) and frees their slots. */
void audit_flush_refusals(enrichd *d, bool all);

/* A summary of a claims payload (borrowed; NULL gives an empty summary)
 * for a row's details: a new object with its jti, sid, exp, groups, scope,
 * tenant, amr, act and pv (those present). NULL when out of memory. */
json_t *audit_claims_summary(json_t *claims);

/* Writes an audit.checkpoint row and signs the chain head at it; then
 * prunes rows older than audit_retention_days behind the newest checkpoint
 * old enough. Refuses (-EBADMSG, *ret_error says why) when the rows since the
 * previous checkpoint do not verify, so a forgery is never sealed. peer NULL:
 * enrichd's own (interval, row count, shutdown). *ret_row_id (optional)
 * gets the checkpoint's row id. */
int audit_checkpoint(enrichd *d, const struct ucred *peer, const char *why, int64_t *ret_row_id, char **ret_error);

/* Periodic work from the event loop: a checkpoint when audit_checkpoint_rows
 * rows were written, or rows were and audit_checkpoint_seconds passed since
 * the last. Its slow parts (verifying the trail, the fsyncs) run on a worker
 * thread; audit_after_turn, after each turn of the event loop, moves it on
 * as soon as the worker is done, so that the main thread's part (verifying
 * the few rows written meanwhile, appending and signing the checkpoint row,
 * publishing it) stays short. Without the worker (it could not start) the
 * checkpoint is made on the main thread, as audit_checkpoint. */
void audit_tick(enrichd *d);
void audit_after_turn(enrichd *d);
/* Whether an automatic checkpoint is under way (begun by a tick and not
 * yet published). */
bool audit_checkpoint_under_way(enrichd *d);

/* The outcome of walking the chain. */
typedef struct audit_verdict {
        bool ok;
        int64_t rows, checkpoints;
        int64_t first_id, last_id;      /* 0 when empty */
        int64_t sealed_id;              /* row of the newest valid checkpoint */
        int64_t bad_id;                 /* the first bad row, when !ok */
        const char *kind;               /* "modified", "deleted", "inserted",
                                         * "reordered", "checkpoint" or
                                         * "truncated" (the newest checkpoint
                                         * recorded in AUDIT_HEAD_FILE is gone) */
        char reason[300];
        /* The page's cursor row was gone with every row before it
         * (retention passed it): the walk began again at first_id, and the
         * counts of the pages before no longer describe the trail. */
        bool restarted;
} audit_verdict;

/* A signed checkpoint as fleet mode publishes it (checkpoints/<host_id>)
 * and compares it: the row it seals, that row's hash, when, the signing
 * key's kid and the Ed25519 signature (hex) over checkpoint_message. */
typedef struct audit_anchor {
        int64_t row_id, time;
        char head[65];
        char kid[128];
        char signature[129];
} audit_anchor;
/* The newest checkpoint in the trail known durable (one the checkpoint
 * worker has not synced yet is left out); -ENOENT when there is none. */
int audit_newest_checkpoint(enrichd *d, audit_anchor *ret);
/* Compares the trail with a checkpoint this host published earlier (the
 * end of a verify that was ok): the same checkpoint, same head, same
 * signature, must still seal the same row, else v fails with kind
 * "anchor". A checkpoint older than the retained rows (pruned by
 * audit_retention_days) is not compared; *ret_compared says whether it was. */
int audit_check_anchor(enrichd *d, const audit_anchor *anchor, audit_verdict *v, bool *ret_compared);
/* Rows one AuditVerify call walks: a long trail is verified page by page,
 * so that no call holds the daemon for long (about a second here). */
#define AUDIT_VERIFY_PAGE 50000

/* Walks the retained rows and checkpoints (see audit.h's first comment),
 * from the first or after row after_id (a previous page's *ret_next), at
 * most AUDIT_VERIFY_PAGE rows; *ret_next gets where to continue, 0 when
 * this page ended the trail (and then the record outside the database is
 * compared too). Returns 0 with *ret filled (ok or not; its counts are
 * this page's), or a negative errno when the walk itself failed. */
int audit_verify(enrichd *d, int64_t after_id, audit_verdict *ret, int64_t *ret_next);

/* What AuditList reads: rows with id > from_id (ascending) or id <
 * from_id (descending; 0: from the newest), time >= since, time <= until,
 * subject == user, action == action, result == result (each filter unless
 * 0/NULL), at most limit. */
typedef struct audit_query {
        int64_t from_id;
        bool descending;
        int64_t since, until;
        const char *user, *action, *result;
        int64_t limit;
} audit_query;

/* One row of the trail. */
typedef struct audit_entry {
        int64_t id, time;
        bool has_actor_uid;
        int64_t actor_uid;
        char *actor, *action, *result, *hash;
        char *user;             /* the subject; NULL: none */
        char *details;          /* JSON object text */
} audit_entry;

void audit_entry_clear(audit_entry *e);

/* Walks those rows in the direction asked: fn gets each (borrowed, valid
 * during the call). Stops at fn's first nonzero return and returns it
 * when negative (0 when positive), as grants_list. Every filter and
 * direction reads through an index (see audit_list_sql). */
int audit_list(enrichd *d, const audit_query *q, int (*fn)(void *userdata, const audit_entry *entry), void *userdata);

/* The statement audit_list runs for these filters, static text (for the
 * unit test that checks its query plan). Parameters: ?1 < id < ?2,
 * ?3 time, ?4 subject, ?5 action, ?6 limit, ?7 result (NULL: any), ?8 the
 * latest time. */
const char *audit_list_sql(bool user, bool action, bool since, bool descending);

/* The statements that turn since into the first row id and until into
 * the first row past it. */
extern const char audit_since_sql[];
extern const char audit_until_sql[];

/* Retention's steps: the oldest checkpoint past the first row, and whether
 * any row before ?1 is at ?2 or later (by rowid: only the rows a step would
 * delete). */
extern const char audit_prune_next_sql[];
extern const char audit_prune_recent_sql[];
