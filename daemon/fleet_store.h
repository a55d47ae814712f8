/* fleet_store.h: fleet mode's own rows (migrations 13, 15, 17, 18): which grants
 * and service-account tokens came from the fleet, and the etcd revision
 * the local state stands at. The grants and tokens themselves are rows of
 * grants.c and tokens.c like local ones. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "db.h"

/* The revision recorded (0: never synced). */
int fleet_store_revision(db *d, int64_t *ret);
int fleet_store_set_revision(db *d, int64_t revision);
/* The newest "at" and "endorsedSince" of host_id's enrolments verified
 * here (0: none), kept in fleet_state as "enrolled/<host_id>" and
 * "enrolled-since/<host_id>" so that an older enrolment put back into
 * etcd, or a renewal made from a superseded one, is refused after a
 * restart too; set keeps the later of each. */
int fleet_store_enrolled(db *d, const char *host_id, int64_t *ret_at, int64_t *ret_since);
int fleet_store_set_enrolled(db *d, const char *host_id, int64_t at, int64_t since);
/* Marks id as a fleet grant from issuer (the issuing host, or "key KID"). */
int fleet_store_mark_grant(db *d, const char *id, int64_t mod_revision, const char *issuer);
/* Whether id is a fleet grant, and its issuer (malloc'd; NULL when not
 * recorded, or not a fleet grant). */
int fleet_store_grant_origin(db *d, const char *id, bool *ret_fleet, char **ret_issuer);
/* Whether id is a fleet grant. */
int fleet_store_is_fleet_grant(db *d, const char *id, bool *ret);
/* The fleet grants neither revoked nor expired at now, as a
 * NULL-terminated list (strv; NULL when none). */
int fleet_store_active_grants(db *d, int64_t now, char ***ret);

/* Marks id as a fleet token; whether id is one; the fleet tokens neither
 * revoked nor expired at now (strv; NULL when none). */
int fleet_store_mark_token(db *d, const char *id, int64_t mod_revision);
int fleet_store_is_fleet_token(db *d, const char *id, bool *ret);
int fleet_store_active_tokens(db *d, int64_t now, char ***ret);

/* offline_max: fleet grants this host stopped honouring because it lost
 * contact with etcd for too long are revoked here by FLEET_STORE_OFFLINE;
 * when contact is back, those still in etcd are resumed. */
#define FLEET_STORE_OFFLINE "fleet:offline"
/* The fleet grants revoked by FLEET_STORE_OFFLINE that have not expired at
 * now (strv; NULL when none). */
int fleet_store_suspended_grants(db *d, int64_t now, char ***ret);
/* A suspended grant is made active again by grants_unrevoke(d, id,
 * FLEET_STORE_OFFLINE, ...) (grants.c). */

/* Signed records (grants/, tokens/) for a user this host does not know
 * yet, kept until the user appears, their key goes or they expire. */
#define FLEET_STORE_MAX_PENDING 10000
typedef struct fleet_pending {
        char *key, *value, *user;
        int64_t mod_revision, expires;
} fleet_pending;
void fleet_pending_clear(fleet_pending *p);
/* Keeps (or replaces) the record at key; -ENOSPC past
 * FLEET_STORE_MAX_PENDING. */
int fleet_store_pending_put(db *d, const fleet_pending *p);
/* Forgets key's record (nothing when there is none). */
int fleet_store_pending_drop(db *d, const char *key);
/* Forgets every one (a full read of etcd keeps again those still there). */
int fleet_store_pending_drop_all(db *d);
/* Forgets the records expired at now; how many records are left. */
int fleet_store_pending_expire(db *d, int64_t now, int64_t *ret_left);
/* At most limit records whose key sorts after after ("" from the first),
 * in key order, into *ret (fleet_pending_free) and *ret_n. */
int fleet_store_pending_list(db *d, const char *after, unsigned limit, fleet_pending **ret, size_t *ret_n);
void fleet_pending_free(fleet_pending *list, size_t n);
/* The record waiting at key, into *ret (fleet_pending_clear); -ENOENT
 * when none waits there. */
int fleet_store_pending_get(db *d, const char *key, fleet_pending *ret);

/* Grant and token ids revoked in the fleet (an issuer's signed revoked/
 * record, or the deletion of a record that waited for its user): kind
 * "grant" or "token". A signed record of a revoked id, written back into
 * etcd, is refused until expires (the record's own expiry). Rows come
 * only from signed records (a revocation, or a record that waited), so
 * an etcd writer cannot add any of its own; bounded all the same. */
#define FLEET_STORE_MAX_REVOKED 100000
/* Records (kind, id) as revoked until expires (the later of two when it
 * was already); *io_count is how many are kept (fleet_store_revoked_expire),
 * one more when this one is new; -ENOSPC when it is new and
 * FLEET_STORE_MAX_REVOKED are kept already. */
int fleet_store_revoked_put(db *d, const char *kind, const char *id, int64_t expires, int64_t *io_count);
/* Whether (kind, id) is revoked at now, and until when (*ret_until, when
 * not NULL; 0 when it is not). */
int fleet_store_is_revoked(db *d, const char *kind, const char *id, int64_t now, bool *ret, int64_t *ret_until);
/* Forgets the revocations expired at now; how many are left. */
int fleet_store_revoked_expire(db *d, int64_t now, int64_t *ret_left);
