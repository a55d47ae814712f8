/* audit_methods.h: the io.enrich methods of the audit trail (AuditList,
 * AuditVerify, AuditCheckpoint) and the audit of refused calls. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"

/* AuditList: admins read every row, anyone else only rows about
 * themselves. With more, one reply per row (the last without continues). */
json_t *method_audit_list(enrichd *d, const struct ucred *peer, json_t *params, bool more);
json_t *method_audit_verify(enrichd *d, const struct ucred *peer, json_t *params);
json_t *method_audit_checkpoint(enrichd *d, const struct ucred *peer, json_t *params);

/* Records a permission.denied row when reply (borrowed) is
 * io.enrich.PermissionDenied: every refusal of every method, in one place. */
void audit_refusal(enrichd *d, const struct ucred *peer, const char *method, const json_t *reply);
