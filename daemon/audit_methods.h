/* audit_methods.h: the io.enrich methods of the audit trail (AuditList,
 * AuditVerify, AuditCheckpoint), called only through the dispatch table. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

/* AuditList: admins read every row, anyone else only rows about
 * themselves. With more, one reply per row (the last without continues). */
json_t *method_audit_list(enrichd *d, const method_call *call, json_t *params);

/* AuditList with follow and more stays open (call->stream): its first
 * reply is empty, then each committed row that matches its filters (the
 * rows after afterId, or after the newest row at the call) is sent to it
 * by audit_follow_pump, with the listing's visibility and redaction; an
 * admin's follow ends with PermissionDenied once it is no longer one.
 * Open follows: at most AUDIT_FOLLOW_PER_UID per uid but root, and
 * AUDIT_FOLLOW_MAX in all, of which the last AUDIT_FOLLOW_ROOT_RESERVE
 * only root may take; beyond that, io.enrich.TooManyFollows. */
#define AUDIT_FOLLOW_MAX          32
#define AUDIT_FOLLOW_ROOT_RESERVE 8
#define AUDIT_FOLLOW_PER_UID      4
/* Rows per reply to one follower, and per pump to all of them together
 * (a pump runs once per turn of the event loop, after its commit). */
#define AUDIT_FOLLOW_BATCH     64
#define AUDIT_FOLLOW_TURN_ROWS 256

/* Sends the open follows their new committed rows, round robin, at most
 * AUDIT_FOLLOW_TURN_ROWS in all; push sends one reply to the call of that
 * stream id (a negative errno drops the follow). True when rows are left
 * for the next pump. Call only when no batch is open. */
bool audit_follow_pump(enrichd *d, int (*push)(void *userdata, uint64_t stream, json_t *reply), void *userdata);
/* The call of that stream id ended (its connection closed). */
void audit_follow_end(enrichd *d, uint64_t stream);
void audit_follow_free(enrichd *d);
json_t *method_audit_verify(enrichd *d, const method_call *call, json_t *params);
json_t *method_audit_checkpoint(enrichd *d, const method_call *call, json_t *params);
