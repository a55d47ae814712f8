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
