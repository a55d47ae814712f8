/* grant_methods.h: the io.enrich methods of grants and Explain
 * (grant_methods.c), called only through the dispatch table. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"
#include "grants.h"
#include "method_support.h"

/* What a grant's scopes may be (an RFC 6749 scope); access requests
 * (request_methods.c) check theirs the same way. */
bool grant_scope_ok(const enrichd *d, const char *s);
/* The path every grant takes, from Grant and from an approved access
 * request: stores g (id, created and expires set), audits grant.created,
 * moves the policy version and re-issues the user's live sessions' keys
 * before returning. NULL with the stored GrantRecord in *ret_record (a new
 * reference), or the error reply to send (method names the call in the
 * log). */
json_t *grant_commit(enrichd *d, const struct ucred *peer, const char *method, const grant *g, json_t **ret_record);

json_t *method_grant(enrichd *d, const method_call *call, json_t *params);
json_t *method_list_grants(enrichd *d, const method_call *call, json_t *params);
json_t *method_revoke_grant(enrichd *d, const method_call *call, json_t *params);
json_t *method_revoke_user(enrichd *d, const method_call *call, json_t *params);
json_t *method_explain(enrichd *d, const method_call *call, json_t *params);
