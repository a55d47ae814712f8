/* fleet_methods.h: the --fleet side of the Grant, RevokeGrant, TokenIssue,
 * TokenRevoke, TokenRotate, Disable and Enable methods. Each returns NULL when the call
 * is not a fleet one (the method goes on as for a local call); an error
 * reply to send now (fleet mode off, this host's key no issuer, too many
 * writes waiting); or json_null(): the etcd write went to fleet.c's writer
 * thread and the call is answered later (enrichd.reply_later), once etcd
 * answered or the write timed out, so the main loop never waits on etcd. */
#pragma once
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"
#include "tokens.h"

/* What a method does on this host once its fleet write is in etcd (the
 * local revocation, disable or enable, exactly as without fleet), on the
 * main thread, from the call's peer and parameters: the reply to send. */
typedef json_t *(*fleet_then)(enrichd *d, const struct ucred *peer, json_t *params);

/* After Grant's parameters are read; ttl already clamped. Answers with
 * the fleet grant's record once it is in etcd; every host, this one too,
 * applies it when its watch sees it. */
json_t *fleet_method_grant(enrichd *d, const method_call *call, json_t *params, const char *user, const char **groups,
                           const char **scopes, const char *tenant, const char *reason, int64_t ttl);
/* Before a grant is revoked locally (known: this host holds it): a fleet
 * grant's key is deleted in etcd first, then then revokes it here; a
 * grant this host does not hold is looked for in etcd, and answered for
 * when it was there (a grant for other labels), else by then (no such
 * grant). */
json_t *fleet_method_revoke_grant(enrichd *d, const method_call *call, json_t *params, const char *id, bool known,
                                  fleet_then then);
/* After TokenIssue's parameters are read and t filled in (id, user,
 * scopes, description, created_by, created, expires): with "fleet": true,
 * signs t with the digest of verifier into etcd (never the verifier) and
 * answers with t as record_json makes it; every host, this one too, adds
 * the token when its watch sees it. */
json_t *fleet_method_token_issue(enrichd *d, const method_call *call, json_t *params, const token_record *t,
                                 const char *verifier, json_t *(*record_json)(const token_record *t, int64_t now));
/* Before a token is rotated locally: a fleet token gets the digest of
 * verifier (never the verifier) in a new signed record, with when it was
 * rotated and until when the old secret works (grace), and every host,
 * this one too, rotates it when its watch sees the record; the answer is
 * the token as record_json makes it. NULL for a token that is not a
 * fleet one (or is revoked, expired or unknown: the local path says so). */
json_t *fleet_method_token_rotate(enrichd *d, const method_call *call, const char *id, const char *verifier,
                                  int64_t grace, json_t *(*record_json)(const token_record *t, int64_t now));
/* Before a token is revoked locally, as fleet_method_revoke_grant. */
json_t *fleet_method_token_revoke(enrichd *d, const method_call *call, json_t *params, const char *id, bool known,
                                  fleet_then then);
/* With "fleet": true, writes the signed record, then then applies it on
 * this host at once, as the others will when they see it. */
json_t *fleet_method_disable(enrichd *d, const method_call *call, json_t *params, const char *user, const char *reason,
                             const char *by, int64_t at, fleet_then then);
json_t *fleet_method_enable(enrichd *d, const method_call *call, json_t *params, const char *user, const char *by,
                            int64_t at, fleet_then then);

/* io.enrich.FleetStatus (admin), FleetHosts (admin), FleetJwks (anyone:
 * public keys only). Fleet mode off: status says enabled false, the
 * others answer empty. */
json_t *method_fleet_status(enrichd *d, const method_call *call, json_t *params);
json_t *method_fleet_hosts(enrichd *d, const method_call *call, json_t *params);
json_t *method_fleet_jwks(enrichd *d, const method_call *call, json_t *params);
/* io.enrich.FleetEnroll (admin, on an issuer): fleet_enrol, answered
 * once the enrolment is in etcd. */
json_t *method_fleet_enroll(enrichd *d, const method_call *call, json_t *params);
/* io.enrich.FleetCheck (admin): fleet_check, for enrichctl doctor. */
json_t *method_fleet_check(enrichd *d, const method_call *call, json_t *params);
