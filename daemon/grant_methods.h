/* grant_methods.h: the io.enrich methods of grants and Explain
 * (grant_methods.c), called only through the dispatch table. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

json_t *method_grant(enrichd *d, const method_call *call, json_t *params);
json_t *method_list_grants(enrichd *d, const method_call *call, json_t *params);
json_t *method_revoke_grant(enrichd *d, const method_call *call, json_t *params);
json_t *method_revoke_user(enrichd *d, const method_call *call, json_t *params);
json_t *method_explain(enrichd *d, const method_call *call, json_t *params);
