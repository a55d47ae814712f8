/* request_methods.h: the io.enrich methods of access requests
 * (request_methods.c), called only through the dispatch table, and the
 * expiry of undecided requests, run from the daemon's tick. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

json_t *method_request(enrichd *d, const method_call *call, json_t *params);
json_t *method_list_requests(enrichd *d, const method_call *call, json_t *params);
json_t *method_approve_request(enrichd *d, const method_call *call, json_t *params);
json_t *method_deny_request(enrichd *d, const method_call *call, json_t *params);
/* Marks expired (and audits request.expired) the pending requests whose
 * time ran out, at most REQUESTS_EXPIRE_BATCH per call. */
void requests_expire_due(enrichd *d);
