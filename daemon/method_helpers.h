/* method_helpers.h: what every file of varlink methods shares with
 * methods.c: error replies, strict parameter readers and the admin check.
 * Each returns NULL when all is well, or the error reply to send. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"

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
json_t *get_int(json_t *params, const char *key, bool required, json_int_t min, json_int_t max,
                json_int_t *ret, bool *ret_set);
/* An optional array of distinct strings accepted by valid; *ret a new
 * NULL-terminated array of borrowed strings (free only the array). */
json_t *get_value_list(const enrichd *d, json_t *params, const char *key,
                       bool (*valid)(const enrichd *d, const char *s), const char *what,
                       const char ***ret);
/* RFC 6749 scope-token. */
bool valid_scope(const char *s);
/* Root, or a member of admin_group; else a logged PermissionDenied. */
json_t *admin_only(const enrichd *d, const struct ucred *peer, const char *method);
/* The peer's user name (or uid as text), malloc'd; NULL when out of memory. */
char *peer_name(const struct ucred *peer);
