/* fleet_methods.h: the --fleet side of the Grant, RevokeGrant, Disable and
 * Enable methods. Each returns NULL when the call is not a fleet one (the
 * method goes on as for a local call), or the reply to send: the fleet
 * grant's record, or an error saying why the fleet write failed (fleet
 * mode off, this host's key no issuer, read-only etcd credentials, etcd
 * unreachable). */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"
#include "tokens.h"

/* After Grant's parameters are read; ttl already clamped. */
json_t *fleet_method_grant(enrichd *d, const method_call *call, json_t *params, const char *user, const char **groups,
                           const char **scopes, const char *tenant, const char *reason, int64_t ttl);
/* Before a grant is revoked locally (known: this host holds it): a fleet
 * grant's key is deleted in etcd first (then NULL: the local revocation
 * follows at once); a grant this host does not hold is looked for in
 * etcd, and answered for when it was there (a grant for other labels). */
json_t *fleet_method_revoke_grant(enrichd *d, const char *id, bool known);
/* After TokenIssue's parameters are read and t filled in (id, user,
 * scopes, description, created_by, created, expires): with "fleet": true,
 * signs t with the digest of verifier into etcd (never the verifier) and
 * replies with t as record_json makes it; every host, this one too, adds
 * the token when its watch sees it. */
json_t *fleet_method_token_issue(enrichd *d, json_t *params, const token_record *t, const char *verifier,
                                 json_t *(*record_json)(const token_record *t, int64_t now));
/* Before a token is revoked locally, as fleet_method_revoke_grant: a fleet
 * token's key is deleted first (every host revokes it); an unknown id is
 * looked for in etcd. */
json_t *fleet_method_token_revoke(enrichd *d, const char *id, bool known);
/* With "fleet": true, writes the signed record, then NULL: this host
 * applies it at once, as the others will when they see it. */
json_t *fleet_method_disable(enrichd *d, json_t *params, const char *user, const char *reason, const char *by,
                             int64_t at);
json_t *fleet_method_enable(enrichd *d, json_t *params, const char *user, const char *by, int64_t at);

/* io.enrich.FleetStatus (admin), FleetHosts (admin), FleetJwks (anyone:
 * public keys only). Fleet mode off: status says enabled false, the
 * others answer empty. */
json_t *method_fleet_status(enrichd *d, const method_call *call, json_t *params);
json_t *method_fleet_hosts(enrichd *d, const method_call *call, json_t *params);
json_t *method_fleet_jwks(enrichd *d, const method_call *call, json_t *params);
/* io.enrich.FleetCheck (admin): fleet_check, for enrichctl doctor. */
json_t *method_fleet_check(enrichd *d, const method_call *call, json_t *params);
