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

/* Action names: stable, documented in README.md and enrichctl(8). */
#define AUDIT_ENRICH_ISSUED     "enrich.issued"
#define AUDIT_ENRICH_REFUSED    "enrich.refused"
#define AUDIT_SESSION_REFRESHED "session.refreshed"
#define AUDIT_SESSION_REVOKED   "session.revoked"
#define AUDIT_SESSION_ENDED     "session.ended"
#define AUDIT_GRANT_CREATED     "grant.created"
#define AUDIT_GRANT_REVOKED     "grant.revoked"
#define AUDIT_GRANT_EXPIRED     "grant.expired"
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
#define AUDIT_CHECKPOINT        "audit.checkpoint"

/* Results. */
#define AUDIT_OK       "ok"
#define AUDIT_DENIED   "denied"
#define AUDIT_REJECTED "rejected"
#define AUDIT_FAILED   "failed"

/* At most this many rows per AuditList answer. */
#define AUDIT_MAX_LIST 10000

/* Prepares the statements on d->db and learns the chain head. */
int audit_open(enrichd *d, audit **ret);
void audit_free(audit *a);

/* Appends one row, in its own transaction, or in the caller's when one is
 * open, and logs it to the journal (its action's MESSAGE_ID, ENRICH_ACTION,
 * ENRICH_USER, ENRICH_SID, ENRICH_JTI). peer NULL: enrichd itself is the
 * actor. subject (the user the decision is about) may be NULL. details
 * (stolen, may be NULL) holds what explains the decision: sid, jti, claims,
 * rules, grant or token ids; its "sid" and "jti" members feed the journal
 * fields. Failure is logged (LOG_MSGID_AUDIT_AUDIT_FAILURE) and returned;
 * callers whose decision already happened only log it. A checkpoint follows
 * when audit_checkpoint_rows rows have piled up since the last. */
int audit_record(enrichd *d, const struct ucred *peer, const char *subject, const char *action,
                 const char *result, json_t *details);

/* The same, with details built from json_pack-style format and arguments;
 * a format that fails to pack records the row without details. */
int audit_recordf(enrichd *d, const struct ucred *peer, const char *subject, const char *action,
                  const char *result, const char *format, ...);

/* A summary of a claims payload (JSON text) for a row's details: a new
 * object with its jti, sid, exp, groups, scope, tenant, amr, act and pv
 * (those present). NULL when out of memory. */
json_t *audit_claims_summary(const char *claims_text);


/* Writes an audit.checkpoint row and signs the chain head at it; then
 * prunes rows older than audit_retention_days behind the newest checkpoint
 * old enough. Refuses (-EBADMSG, *ret_error says why) when the rows since the
 * previous checkpoint do not verify, so a forgery is never sealed. peer NULL:
 * enrichd's own (interval, row count, shutdown). *ret_row_id (optional)
 * gets the checkpoint's row id. */
int audit_checkpoint(enrichd *d, const struct ucred *peer, const char *why, int64_t *ret_row_id,
                     char **ret_error);

/* Periodic work from the event loop: a checkpoint when rows were written
 * and audit_checkpoint_seconds passed since the last. */
void audit_tick(enrichd *d);

/* The outcome of walking the chain. */
typedef struct audit_verdict {
        bool ok;
        int64_t rows, checkpoints;
        int64_t first_id, last_id;      /* 0 when empty */
        int64_t sealed_id;              /* row of the newest valid checkpoint */
        int64_t bad_id;                 /* the first bad row, when !ok */
        const char *kind;               /* "modified", "deleted", "inserted",
                                         * "reordered" or "checkpoint" */
        char reason[300];
} audit_verdict;

/* Walks every retained row and checkpoint (see audit.h's first comment).
 * Returns 0 with *ret filled (ok or not), or a negative errno when the walk
 * itself failed (database error). */
int audit_verify(enrichd *d, audit_verdict *ret);

/* Rows as a JSON array of io.enrich.AuditEntry objects, oldest first:
 * id > after_id, time >= since, subject == user, action == action (each
 * filter unless 0/NULL), at most limit (1..AUDIT_MAX_LIST). With limit and
 * no after_id, the newest limit rows matching. */
int audit_list(enrichd *d, int64_t after_id, int64_t since, const char *user, const char *action,
               int64_t limit, json_t **ret);
