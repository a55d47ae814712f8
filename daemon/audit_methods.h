/* audit_methods.h: the io.enrich methods of the audit trail (AuditList,
 * AuditVerify, AuditCheckpoint), called only through the dispatch table. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

/* AuditList: admins read every row, anyone else only rows about
 * themselves. With more, one reply per row (the last without continues). */
json_t *method_audit_list(enrichd *d, const method_call *call, json_t *params);
json_t *method_audit_verify(enrichd *d, const method_call *call, json_t *params);
json_t *method_audit_checkpoint(enrichd *d, const method_call *call, json_t *params);
