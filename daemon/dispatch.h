/* dispatch.h: the main socket's methods, dispatched from one table that
 * says who may call each (dispatch.c). Every call is authorized from the
 * peer's SO_PEERCRED credentials taken at accept time, never from anything
 * in its parameters. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"

/* Answers one call on the main socket: org.varlink.service, or a method of
 * the table once its access rule and parameter names allow it. Returns a
 * new reply (an array of replies for a streamed AuditList); NULL only when
 * out of memory. */
json_t *dispatch_call(enrichd *d, const struct ucred *peer, const char *method, json_t *parameters, bool more);
/* The same, for a call that may stay open under stream (server_call_id;
 * 0: it may not): AuditList's follow. */
json_t *dispatch_call_stream(enrichd *d, const struct ucred *peer, const char *method, json_t *parameters, bool more,
                             uint64_t stream);
