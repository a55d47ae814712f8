/* issue.h: computing and signing a login's claims: the user resolved fresh
 * through NSS, its Unix groups (getgrouplist), its active grants from sqlite,
 * the policy evaluated at now, and the token built and signed. Shared by
 * Enrich, refresh, Explain and revocation. */
#pragma once
#include <stdbool.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "enrichd.h"
#include "grants.h"
#include "policy.h"

/* MESSAGE_IDs of session events beyond log.h's. */
#define LOG_MSGID_SESSION_REFRESH "7d1e2c3b4a5948f6b7c8d9e0f1a2b3c4"
#define LOG_MSGID_SESSION_REVOKED "b6a5c4d3e2f14a0b9c8d7e6f5a4b3c2d"
#define LOG_MSGID_TENANT_CONFLICT "e1d2c3b4a5f64e7d8c9b0a1f2e3d4c5b"

/* Grants and service-account tokens that end within this many seconds
 * of now enter no new token. So a token that a grant's end cuts short
 * lives at least this long, and the daemon drops the grant from live keys
 * LIVE_END_LEAD_MS before its end (live.c), while the keys, whose kernel
 * timeouts follow exp, still exist to be updated in place: a main loop
 * held up past that end would find the key expired, and the session would
 * lose every claim, not just the grant's. */
#define ISSUE_HORIZON_SECONDS 2

/* What is known about a login. Strings borrowed; optional ones NULL. */
typedef struct login_context {
        const char *user;
        const char *service;
        const char *tty;
        const char *rhost;
        const char *ruser;
        char *const *amr;           /* NULL-terminated, may be NULL */
        int64_t asid;               /* -1: unset */
        bool want_reasons;          /* explain: why each rule did not match */
        /* The user's entry as the caller looked it up an instant ago
         * (Enrich, so one login costs one getpwnam); NULL: looked up here. */
        const struct passwd *pw;
        /* A session opened just now without a service-account token (an
         * Enrich without tokenId): it has no token binding to read back. */
        bool new_without_token;
} login_context;

/* One evaluation and everything it was computed from. */
typedef struct evaluation {
        uid_t uid;
        char **unix_groups;
        grant_list grants;
        policy_grant *policy_grants;
        policy_result *result;
} evaluation;

void evaluation_clear(evaluation *e);

/* Evaluates ctx at now. -ENOENT: the user does not exist; -EIO: database
 * (db_last_error); other negative errno. *ret is overwritten. */
int issue_evaluate(enrichd *d, const login_context *ctx, int64_t now, bool session_context, evaluation *ret);
/* Logs a tenant conflict of e (no-op without one) for sid (optional). */
void issue_log_conflict(const login_context *ctx, const evaluation *e, const char *sid);
/* issue_sign's first half, for a signature made elsewhere (sign_worker.h):
 * the payload text and its object (each optional, not both NULL) and its
 * exp. */
int issue_claims(enrichd *d, const login_context *ctx, const evaluation *e, const char *sid, int64_t now,
                 char **ret_claims, json_t **ret_claims_object, int64_t *ret_expires);
/* issue_claims for a session opened just now without a service-account
 * token (no scope limit to read), in two halves: its exp, here, and its
 * claims object (a new reference, NULL when out of memory). The second
 * reads nothing but ctx, e and d's config, machine id and policy version,
 * so it may run on the signer thread (sign_worker.h) while the main thread
 * leaves those alone, as it does until it collects the job. */
int64_t issue_new_expiry(const enrichd *d, const evaluation *e, int64_t now);
json_t *issue_new_claims(const enrichd *d, const login_context *ctx, const evaluation *e, const char *sid, int64_t now,
                         int64_t expires);
/* Builds and signs the token for sid with a fresh jti: *ret_token, the
 * payload text (*ret_claims: serialized once, the bytes signed and the
 * bytes stored), the payload as an object (*ret_claims_object, optional,
 * a new reference, for the audit summary) and its exp (issue_expiry).
 * -EKEYREVOKED when the session's service-account token is revoked or
 * (nearly) expired. */
int issue_sign(enrichd *d, const login_context *ctx, const evaluation *e, const char *sid, int64_t now,
               char **ret_token, char **ret_claims, json_t **ret_claims_object, int64_t *ret_expires);
/* The exp of a token issued at now: now + ttl (at least 1, at most
 * max_ttl unless 0), cut at grants_end and token_end (0: none), the
 * earliest end of the grants and the service-account token that its claims
 * come from, so that claims never outlive what grants them. */
int64_t issue_expiry(int64_t now, unsigned ttl, unsigned max_ttl, int64_t grants_end, int64_t token_end);
/* True when expires, signed for e at now, is an end of a grant or token
 * rather than the claims' own lifetime: the token is then refreshed at
 * that end, not at two thirds of its life. */
bool issue_ends_early(const enrichd *d, const evaluation *e, int64_t now, int64_t expires);
/* Rereads the grants generation and recomputes d->policy_version and
 * d->next_grant_expiry. */
int issue_update_policy_version(enrichd *d);
/* A random id for sessions and tokens (22 characters base64url). */
int issue_random_id(char **ret);
/* A session id: like issue_random_id, but its first 7 characters encode
 * wall_ms so that ids sort in the order they were made. Sessions are
 * keyed by sid: a turn's new rows then share the index's last page rather
 * than dirtying one random page each (a WAL frame per login). */
int issue_session_id(int64_t wall_ms, char **ret);
