/* session_methods.h: the io.enrich methods of login sessions
 * (session_methods.c), called only through the dispatch table. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

json_t *method_enrich(enrichd *d, const method_call *call, json_t *params);
/* Enrich calls left waiting for the end of the turn, at most; older ones
 * are finished as newer ones come. */
#define SESSION_ENRICH_MAX_PENDING 16
/* Finishes the Enrich calls whose tokens are being signed (method_enrich),
 * in call order: each one's rows are written and its held reply filled in.
 * Called before the turn's commit, and before any other call or write that
 * must come after them (main.c). */
void session_enrich_finish(enrichd *d);
/* How many Enrich calls wait for session_enrich_finish(). */
size_t session_enrich_pending(const enrichd *d);
json_t *method_attach_key(enrichd *d, const method_call *call, json_t *params);
json_t *method_end_session(enrichd *d, const method_call *call, json_t *params);
json_t *method_list_sessions(enrichd *d, const method_call *call, json_t *params);
json_t *method_status(enrichd *d, const method_call *call, json_t *params);
json_t *method_revoke_session(enrichd *d, const method_call *call, json_t *params);
json_t *method_refresh(enrichd *d, const method_call *call, json_t *params);
