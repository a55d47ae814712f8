/* fleet_record.h: what every host does to a record it reads from etcd
 * before anything is stored: check its signature against the issuers and,
 * for a grant, decode and bound its fields. Pure (no logging, no state),
 * so the fleet benchmark's light watcher runs the very code a host runs. */
#pragma once
#include <stdint.h>
#include <jansson.h>
#include "jwks.h"

/* The JWS "typ" of every record an issuer signs for the fleet. */
#define FLEET_RECORD_TYPE "enrich-fleet+jwt"
/* The JWS "typ" of a rotation's endorsement: a host's outgoing signing
 * key vouching for the key that replaces it (keys.c), published in the
 * host's presence record. Never a fleet record, never a claims token. */
#define FLEET_ENDORSEMENT_TYPE "enrich-endorse+jwt"

/* A grant record's fields: the strings borrowed from the payload they
 * were decoded from, the lists owned (fleet_grant_record_clear). */
typedef struct fleet_grant_record {
        const char *user, *tenant, *reason, *granted_by;
        const char *issuer; /* the issuing host the record names; NULL in older records */
        int64_t created, expires;
        char **groups, **scopes, **hosts; /* never NULL once decoded; hosts empty: every host */
} fleet_grant_record;

/* Verifies a record's signature and type (FLEET_RECORD_TYPE) against
 * issuers: 0 with *ret_payload (a new reference) and, when ret_kid is not
 * NULL, the signing key's id in *ret_kid (malloc'd); or a negative errno
 * with *ret_why, a static sentence saying what is wrong. */
int fleet_record_verify(const jwks *issuers, const char *value, json_t **ret_payload, char **ret_kid,
                        const char **ret_why);
/* Decodes the payload of the grant record at grants/<id>: -EINVAL when it
 * is no valid grant (its id is not id; user, reason, grantedBy or expires
 * missing; a field past its bound), -ENOMEM. */
int fleet_record_grant(json_t *payload, const char *id, fleet_grant_record *ret);
void fleet_grant_record_clear(fleet_grant_record *g);

/* A revocation record's fields (revoked/grants/<id>, revoked/tokens/<id>):
 * an issuer's word that the grant or token id is revoked, to be refused
 * until expires (its own expiry, as the issuer knew it). Strings borrowed
 * from the payload. */
typedef struct fleet_revocation_record {
        const char *revoked_by; /* who revoked it (plain text, bounded) */
        const char *issuer;     /* the revoking host; NULL when not named */
        int64_t revoked, expires;
} fleet_revocation_record;
/* Decodes the payload of the revocation record of kind ("grant",
 * "token") id: -EINVAL when it is none (its id is not id, its kind not
 * kind, revoked or expires missing, a field past its bound): a grant or
 * token record moved under revoked/ is not one. */
int fleet_record_revocation(json_t *payload, const char *kind, const char *id, fleet_revocation_record *ret);
/* Decodes the payload of the enrolment record at enrolments/<host_id>:
 * hostId must be host_id; keys, 1 to JWKS_MAX_KEYS objects {kid, x}, each
 * kid the RFC 7638 thumbprint of its Ed25519 x; at, when it was signed;
 * endorsedSince (optional, at most at; default at), from when the
 * endorsements of its keys count (an admin's enrolment sets it to its at,
 * an issuer's renewal carries it over). 0 with *ret_keys (a new object
 * kid -> x), *ret_at and *ret_since; -EINVAL with *ret_why (static) when
 * it is no valid enrolment; -ENOMEM. */
int fleet_record_enrolment(json_t *payload, const char *host_id, json_t **ret_keys, int64_t *ret_at, int64_t *ret_since,
                           const char **ret_why);
/* Verifies an endorsement (a compact JWS of FLEET_ENDORSEMENT_TYPE) that
 * a key of enrolled (host_id's enrolment) signed: its payload names
 * host_id, the endorsed key's kid and x (kid its thumbprint) and at, no
 * earlier than not_before (the enrolment's at: an enrolment supersedes
 * the endorsements made before it). 0 with *ret_payload (a new
 * reference; "kid" and "x" checked) and *ret_by (malloc'd: the signing
 * kid); -ENOKEY when its signer is not in enrolled (nothing verified);
 * -ESTALE when it is older than not_before (an admin's enrolment since
 * dropped or listed its key); else a negative errno; with
 * *ret_why (static) but for -ENOKEY. */
int fleet_endorsement_verify(const jwks *enrolled, const char *value, const char *host_id, int64_t not_before,
                             json_t **ret_payload, char **ret_by, const char **ret_why);
