/* method_support.h: what every handler file shares, below them all: the
 * call a handler is given, strict parameter readers, error replies, the
 * self-or-admin rule and the journal line of an admin decision. Each
 * reader and check returns NULL when all is well, or the reply to send. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"

/* Longest user, service, tty, host or id a method accepts. */
#define MAX_NAME_LENGTH 256

/* One call as the dispatcher hands it to a handler, after the dispatch
 * table's access rule let it through and its parameter names were
 * checked. admin: the peer is root or in admin_group (decided only for
 * methods whose access class needs it; else true for root alone). */
typedef struct method_call {
        const char *method;
        const struct ucred *peer;
        bool admin;
        bool more;
        uint64_t stream;    /* the id under which the call may stay open; 0: it may not */
} method_call;

json_t *error_reply(const char *error, json_t *params);
/* Answers io.enrich.PermissionDenied; the dispatcher audits it (and so
 * logs it, aggregated: audit.h). */
json_t *permission_denied(const struct ucred *peer, const char *method, const char *reason);
json_t *invalid_parameter(const char *parameter, const char *reason);
json_t *internal_error(const char *reason);
/* Logs db_last_error and answers InternalError with it. */
json_t *database_error(const enrichd *d, const char *method);
json_t *no_such_user(const char *user);

/* An error when params has a member not in the NULL-terminated allowed. */
json_t *check_known(json_t *params, const char *const *allowed);
/* A string of 1..max bytes without control characters, borrowed from params. */
json_t *get_string(json_t *params, const char *key, bool required, size_t max, const char **ret);
json_t *get_int(json_t *params, const char *key, bool required, json_int_t min, json_int_t max, json_int_t *ret,
                bool *ret_set);
/* amr: up to 16 short lowercase tokens; a new NULL-terminated array of
 * borrowed strings (free only the array; NULL when absent). */
json_t *get_amr(json_t *params, const char ***ret);
/* An InvalidParameter error for the first amr value (NULL-terminated) that
 * is not one a login can show (names.h), with the close match; NULL when
 * all are known. */
json_t *check_known_amr(const char *const *amr);
/* An optional array of distinct strings accepted by valid; *ret a new
 * NULL-terminated array of borrowed strings (free only the array). */
json_t *get_value_list(const enrichd *d, json_t *params, const char *key,
                       bool (*valid)(const enrichd *d, const char *s), const char *what, const char ***ret);
/* RFC 6749 scope-token. */
bool valid_scope(const char *s);

/* The peer's user name, malloc'd; NULL when unknown or out of memory. */
char *peer_name(const struct ucred *peer);

/* The self-or-admin rule of the listings about users (ListGrants,
 * AuditList): an admin reads the rows of *user (NULL: everyone's); anyone
 * else only its own, so *user becomes the caller's name (*ret_own, to
 * free), and naming another user is refused with reason. ListSessions
 * applies the same rule by uid: self_or_admin_uid. */
json_t *self_or_admin_user(const method_call *call, const char *reason, const char **user, char **ret_own);
/* (uid_t) -1 (every uid) for an admin, else the caller's own uid. */
uid_t self_or_admin_uid(const method_call *call);

/* The journal line of an admin decision (grant, revoke, refresh), with
 * the fields every such line carries. */
void log_decision(const char *message_id, const struct ucred *peer, const char *grant_id, const char *user,
                  const char *sid, const char *format, ...) __attribute__((format(printf, 6, 7)));
