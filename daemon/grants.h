/* grants.h: just-in-time grants in sqlite (table "grants"; see
 * docs/admin-guide.md, "Just-in-time grants"): adding, listing, revoking
 * and expiring them, the generation counter that changes with every
 * change of the set of active grants, and the policy version (pv claim)
 * derived from it. Every write is one transaction together with its
 * generation bump; on failure a function returns a negative errno and
 * db_last_error() says why. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "db.h"
#include "policy.h"

/* Bounds on one grant, and on how many grants one call handles. */
#define GRANTS_MAX_VALUES       64      /* groups, and scopes, per grant */
#define GRANTS_MAX_VALUE_LENGTH 128
#define GRANTS_MAX_REASON       1024
#define GRANTS_MAX_LIST         1000    /* rows returned by one listing */
#define GRANTS_MAX_ACTIVE       1024    /* active grants per user */

/* MESSAGE_IDs of grant events in the journal. */
#define LOG_MSGID_GRANT_NEW     "5f1a0e0a8f7e4c7fa6b3f1f4d0f4a9d1"
#define LOG_MSGID_GRANT_REVOKED "a3c9b04fb1de4b0b9c31f8f3c4e2d6a7"
#define LOG_MSGID_GRANT_EXPIRED "c0f5a1e2d3b44c6a8e9f0a1b2c3d4e5f"

typedef struct grant {
        char *id;
        char *user;
        uid_t uid;
        char **groups;          /* NULL-terminated, never NULL once loaded */
        char **scopes;          /* NULL-terminated, never NULL once loaded */
        char *tenant;           /* NULL: none */
        char *reason;
        char *granted_by;
        uid_t granted_by_uid;
        int64_t created;
        int64_t expires;
        int64_t revoked;        /* 0: not revoked */
        char *revoked_by;
        char *request_id;       /* the access request it came from; NULL: none */
} grant;

typedef struct grant_list {
        grant *items;
        size_t n;
} grant_list;

void grant_clear(grant *g);
/* How grants (and access requests, requests.c) store a list of values: a
 * JSON array as text, malloc'd (NULL when out of memory); and back, at
 * most GRANTS_MAX_VALUES of them, anything else reading as empty. */
char *grants_strv_to_json_text(char *const *list);
int grants_strv_from_json_text(const char *text, char ***ret);
void grant_list_clear(grant_list *l);

/* Stores g (its id must be set, see grants_new_id) and bumps the generation,
 * in one transaction. */
int grants_add(db *d, const grant *g);
/* A new random grant id (22 characters of base64url). malloc'd. */
int grants_new_id(char **ret);

/* The user's grants active at now (not revoked, expires > now), oldest
 * first, at most GRANTS_MAX_ACTIVE. *ret is overwritten. */
int grants_active(db *d, const char *user, int64_t now, grant_list *ret);
/* Count of the user's active grants. */
int grants_count_active(db *d, const char *user, int64_t now, int64_t *ret);
/* Listing for ListGrants: user NULL means every user; all=false only the
 * active ones. Newest first by (created, id), from after (see db_cursor), at
 * most limit (<= GRANTS_MAX_LIST + 1): fn gets each grant, borrowed for the
 * call. Stops at fn's first nonzero return and returns it when negative (0
 * when positive). Every shape walks an index from the cursor. */
int grants_list(db *d, const char *user, bool all, int64_t now, const db_cursor *after, unsigned limit,
                int (*fn)(void *userdata, const grant *g), void *userdata);
/* -ENOENT when id is unknown. */
int grants_get(db *d, const char *id, grant *ret);
/* Marks id revoked at now by by. *ret_changed tells whether it was still
 * active (then the generation was bumped); -ENOENT when id is unknown. */
int grants_revoke(db *d, const char *id, const char *by, int64_t now, bool *ret_changed);
/* Undoes a revocation by by (fleet mode's offline suspension) of a grant
 * still unexpired, and bumps the generation, in one durable transaction.
 * *ret_changed: whether it was so revoked. */
int grants_unrevoke(db *d, const char *id, const char *by, bool *ret_changed);
/* Revokes every active grant of user; *ret_count of them. */
int grants_revoke_user(db *d, const char *user, const char *by, int64_t now, int *ret_count);

int grants_generation(db *d, int64_t *ret);
/* The earliest expiry > after of a grant not revoked; 0 when there is none. */
int grants_next_expiry(db *d, int64_t after, int64_t *ret);
/* Users with a grant (not revoked) that expired in (since, until]; bumps the
 * generation when there is any, and marks ended every grant that expires by
 * until, as grants_end_expired does. *ret is a NULL-terminated list (NULL when
 * none), at most GRANTS_MAX_LIST users. */
int grants_expired_users(db *d, int64_t since, int64_t until, char ***ret);
/* Sets the ended column to what the expiry processing up to until decides:
 * grants not revoked expiring by until are ended, later ones are not. For
 * start-up (grants that expired while the daemon was down) and a wall clock
 * stepped back. Ended grants leave the active listings' indexes; the
 * listings still compare expires with now, so marking is never needed for
 * correctness, only for cost. */
int grants_end_expired(db *d, int64_t until);

/* An in-memory index of who holds which group through an active grant, so
 * that userdb answers (every `ls -l`, `id` and login may ask) come from
 * memory, never from sqlite. It is a snapshot: the daemon reloads it when
 * the grants generation changes (grant, revoke, expiry) and readers skip
 * memberships whose expiry has passed, so an expired grant disappears at
 * once even before the reload. */
#define GRANTS_INDEX_MAX 65536          /* (user, group) pairs held */

typedef struct grants_membership {
        char *user;
        char *group;
        int64_t expires;                /* the latest of the grants giving it */
} grants_membership;

typedef struct grants_index grants_index;

/* Every active grant's (user, group) pairs at now; generation is recorded
 * as given. *ret is new (free with grants_index_free). */
int grants_index_load(db *d, int64_t now, int64_t generation, grants_index **ret);
/* Building an index by hand (userdb adds the memberships rules give): new,
 * add pairs (-E2BIG past GRANTS_INDEX_MAX), then seal before any lookup. */
int grants_index_new(int64_t generation, grants_index **ret);
int grants_index_add(grants_index *x, const char *user, const char *group, int64_t expires);
int grants_index_seal(grants_index *x);
void grants_index_free(grants_index *x);
int64_t grants_index_generation(const grants_index *x);
/* The memberships of group, ordered by user, as *ret (borrowed from x until
 * it is freed); returns their number. Expired ones included: check expires. */
size_t grants_index_by_group(const grants_index *x, const char *group, const grants_membership **ret);
/* The memberships of user, ordered by group, as an array of pointers. */
size_t grants_index_by_user(const grants_index *x, const char *user, const grants_membership *const **ret);
/* All memberships, ordered by group then user. */
size_t grants_index_all(const grants_index *x, const grants_membership **ret);

/* The policy version: the first 16 hex digits of
 * sha256(config content hash ":" generation). */
int grants_policy_version(const char *content_hash, int64_t generation, char ret[17]);

/* The list as the policy evaluator's input; *ret borrows from l (free only
 * the array). */
int grants_to_policy(const grant_list *l, policy_grant **ret);
