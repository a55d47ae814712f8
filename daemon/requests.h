/* requests.h: access requests in sqlite (table "requests"; see
 * docs/admin-guide.md, "Access requests"): a user asks for groups or
 * scopes, admins approve or deny, undecided ones expire. Rows are kept
 * after the decision, as grants are. On failure a function returns a
 * negative errno and db_last_error() says why. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "db.h"

/* Bounds on one request (a user, not an admin, writes it). */
#define REQUESTS_MAX_VALUES 16 /* groups, and scopes, per request */
#define REQUESTS_MAX_REASON 512
#define REQUESTS_MAX_LIST   1000 /* rows returned by one listing */
/* Requests one expiry pass handles; the rest wait for the next tick. */
#define REQUESTS_EXPIRE_BATCH 100

/* MESSAGE_ID of the journal line of each step (beside its audit row's). */
#define LOG_MSGID_REQUEST "0d17f069f0e944d580acfcc02f5dfe8f"

#define REQUEST_PENDING  "pending"
#define REQUEST_APPROVED "approved"
#define REQUEST_DENIED   "denied"
#define REQUEST_EXPIRED  "expired"

typedef struct access_request {
        char *id;
        char *user;
        uid_t uid;
        char **groups; /* NULL-terminated, never NULL once loaded */
        char **scopes;
        int64_t ttl; /* of the grant it asks for */
        char *reason;
        int64_t created;
        int64_t expires; /* when it expires undecided */
        char *state; /* REQUEST_* */
        int approvals_needed; /* 1 or 2 */
        char *first_approver; /* NULL: no approval yet */
        uid_t first_approver_uid;
        char *decided_by; /* NULL: undecided, or expired */
        uid_t decided_by_uid;
        int64_t decided; /* 0: undecided */
        char *decision_reason; /* a denial's reason; NULL: none */
        char *grant_id; /* an approval's grant; NULL: none */
} access_request;

void access_request_clear(access_request *r);

/* A new random request id (22 characters of base64url). malloc'd. */
int requests_new_id(char **ret);
/* Stores r as pending, durably. */
int requests_add(db *d, const access_request *r);
/* -ENOENT when id is unknown. */
int requests_get(db *d, const char *id, access_request *ret);
/* The number of user's pending requests (expired ones not yet marked
 * included: the bound holds until the expiry pass). */
int requests_count_pending(db *d, const char *user, int64_t *ret);
/* Listing for ListRequests: user NULL means every user. Newest first by
 * (created, id), from after, at most limit (<= REQUESTS_MAX_LIST + 1): fn
 * gets each request, borrowed for the call; stops at its first nonzero
 * return and returns it when negative. */
int requests_list(db *d, const char *user, const db_cursor *after, unsigned limit,
                  int (*fn)(void *userdata, const access_request *r), void *userdata);
/* Records the first of two approvals, by by (uid), while the request is
 * pending with none yet, and that it needs two (policy may have come to
 * ask that since it was made). -ESTALE when it is no longer in that state. */
int requests_approve_first(db *d, const char *id, const char *by, uid_t by_uid);
/* Ends a pending request in state (approved, denied, expired) at now, by
 * by (NULL for expiry), with reason and grant_id (either may be NULL).
 * -ESTALE when it was no longer pending. */
int requests_decide(db *d, const char *id, const char *state, const char *by, uid_t by_uid, int64_t now,
                    const char *reason, const char *grant_id);
/* The pending requests whose time ran out by now, oldest first, at most
 * REQUESTS_EXPIRE_BATCH, as a new array of *ret_n (NULL when none; free
 * each with access_request_clear, then the array). */
int requests_due(db *d, int64_t now, access_request **ret, size_t *ret_n);
