/* method_support.c: what the handler files share (method_support.h):
 * error replies, strict parameter readers (types, lengths, unknown names),
 * the self-or-admin rule, the journal line of an admin decision. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "grants.h"
#include "identity.h"
#include "log.h"
#include "method_support.h"
#include "names.h"
#include "util.h"
#include "varlink.h"

#define MAX_AMR        16
#define MAX_AMR_LENGTH 32

json_t *error_reply(const char *error, json_t *params) {
        return varlink_error_new(error, params);
}

/* Logs nothing itself: every PermissionDenied reply is audited by the
 * dispatcher through audit_record_refusal(), whose rows reach the journal
 * aggregated (the first of a key in its window, then a summary with the
 * count), so that a flood of refused calls cannot crowd the journal's rate
 * limit. */
json_t *permission_denied(const struct ucred *peer, const char *method, const char *reason) {
        (void) peer;
        (void) method;
        return error_reply("io.enrich.PermissionDenied", json_pack("{s:s}", "reason", reason));
}

json_t *invalid_parameter(const char *parameter, const char *reason) {
        return error_reply("io.enrich.InvalidParameter",
                           json_pack("{s:s, s:s}", "parameter", parameter, "reason", reason));
}

json_t *internal_error(const char *reason) {
        return error_reply("io.enrich.InternalError", json_pack("{s:s}", "reason", reason));
}

/* Logs the database failure and answers with it: the admin reads the
 * journal, the caller learns that it was not its fault. */
json_t *database_error(const enrichd *d, const char *method) {
        log_struct(LOG_ERR, LOG_MSGID_DATABASE, (const char *[]) { "ENRICH_METHOD", method, NULL },
                   "Database error in %s: %s", method, db_last_error(d->db));
        return internal_error(db_last_error(d->db));
}

/* Returns an error reply when params has a member not in allowed. */
json_t *check_known(json_t *params, const char *const *allowed) {
        const char *key;
        json_t *value;

        json_object_foreach(params, key, value) {
                bool known = false;
                for (size_t i = 0; allowed[i]; i++)
                        if (strcmp(key, allowed[i]) == 0)
                                known = true;
                if (!known)
                        return invalid_parameter(key, "unknown parameter");
        }
        return NULL;
}

/* A string of 1..max bytes without control characters (C0, DEL, C1) or
 * bidirectional controls. Optional ones may be absent or null (*ret stays
 * NULL). Borrowed from params. */
json_t *get_string(json_t *params, const char *key, bool required, size_t max, const char **ret) {
        json_t *v = json_object_get(params, key);
        const char *s;

        *ret = NULL;
        if (!v || json_is_null(v))
                return required ? invalid_parameter(key, "missing") : NULL;
        if (!json_is_string(v))
                return invalid_parameter(key, "must be a string");
        s = json_string_value(v);
        if (json_string_length(v) == 0 || json_string_length(v) > max || strlen(s) != json_string_length(v))
                return invalid_parameter(key, "empty, too long or contains NUL");
        /* Every string a caller stores is printed by enrichctl's tables
         * and the journal. */
        if (text_has_controls(s))
                return invalid_parameter(key, "contains control characters");
        *ret = s;
        return NULL;
}

/* An integer in [min, max]; optional ones absent or null give *ret_set false. */
json_t *get_int(json_t *params, const char *key, bool required, json_int_t min, json_int_t max, json_int_t *ret,
                bool *ret_set) {
        json_t *v = json_object_get(params, key);

        *ret_set = false;
        if (!v || json_is_null(v))
                return required ? invalid_parameter(key, "missing") : NULL;
        if (!json_is_integer(v))
                return invalid_parameter(key, "must be an integer");
        if (json_integer_value(v) < min || json_integer_value(v) > max)
                return invalid_parameter(key, "out of range");
        *ret = json_integer_value(v);
        *ret_set = true;
        return NULL;
}

/* amr: up to MAX_AMR short lowercase tokens; a new NULL-terminated array of
 * borrowed strings (free only the array). */
json_t *get_amr(json_t *params, const char ***ret) {
        json_t *v = json_object_get(params, "amr"), *e;
        const char **list;
        size_t i;

        *ret = NULL;
        if (!v || json_is_null(v))
                return NULL;
        if (!json_is_array(v) || json_array_size(v) > MAX_AMR)
                return invalid_parameter("amr", "must be an array of at most 16 strings");
        list = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!list)
                return internal_error("out of memory");
        json_array_foreach(v, i, e) {
                const char *s = json_string_value(e);
                if (!s || !*s || strlen(s) > MAX_AMR_LENGTH ||
                    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(s)) {
                        free(list);
                        return invalid_parameter("amr", "entries must be short lowercase method names");
                }
                list[i] = s;
        }
        *ret = list;
        return NULL;
}

json_t *check_known_amr(const char *const *amr) {
        char reason[256], known[128];

        for (size_t i = 0; amr && amr[i]; i++) {
                const char *close = names_suggest(amr[i], enrich_amr_values, 0);

                if (names_contain(enrich_amr_values, amr[i]))
                        continue;
                snprintf(reason, sizeof reason, "unknown amr value \"%s\"%s%s%s (valid: %s)", amr[i],
                         close ? "; did you mean \"" : "", close ? close : "", close ? "\"?" : "",
                         names_join(enrich_amr_values, ", ", known, sizeof known));
                return invalid_parameter("amr", reason);
        }
        return NULL;
}

json_t *no_such_user(const char *user) {
        return error_reply("io.enrich.NoSuchUser", json_pack("{s:s}", "user", user));
}

/* Fields every admin decision carries in the journal. */
void log_decision(const char *message_id, const struct ucred *peer, const char *grant_id, const char *user,
                  const char *sid, const char *format, ...) {
        char message[1024], uid[32];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        snprintf(uid, sizeof uid, "%u", (unsigned) peer->uid);
        log_struct(LOG_NOTICE, message_id,
                   (const char *[]) { "ENRICH_GRANT", grant_id, "ENRICH_USER", user, "ENRICH_SID", sid,
                                      "ENRICH_PEER_UID", uid, NULL },
                   "%s", message);
}

/* RFC 6749 scope-token: printable ASCII without space, '"' and '\'. */
bool valid_scope(const char *s) {
        for (const char *p = s; *p; p++)
                if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\')
                        return false;
        return *s != '\0';
}

/* An optional array of up to GRANTS_MAX_VALUES distinct strings, each
 * accepted by valid; *ret a new NULL-terminated array of borrowed strings
 * (free only the array; NULL when absent or empty). */
json_t *get_value_list(const enrichd *d, json_t *params, const char *key,
                       bool (*valid)(const enrichd *d, const char *s), const char *what, const char ***ret) {
        json_t *v = json_object_get(params, key), *e;
        const char **list;
        size_t i;
        char reason[256];

        *ret = NULL;
        if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
                return NULL;
        if (!json_is_array(v) || json_array_size(v) > GRANTS_MAX_VALUES) {
                snprintf(reason, sizeof reason, "must be an array of at most %d strings", GRANTS_MAX_VALUES);
                return invalid_parameter(key, reason);
        }
        list = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!list)
                return internal_error("out of memory");
        json_array_foreach(v, i, e) {
                const char *s = json_string_value(e);
                if (!s || strlen(s) != json_string_length(e) || strlen(s) > GRANTS_MAX_VALUE_LENGTH || !valid(d, s)) {
                        free(list);
                        snprintf(reason, sizeof reason, "entry %zu is not %s (at most %d characters)", i + 1, what,
                                 GRANTS_MAX_VALUE_LENGTH);
                        return invalid_parameter(key, reason);
                }
                for (size_t j = 0; j < i; j++)
                        if (strcmp(list[j], s) == 0) {
                                free(list);
                                return invalid_parameter(key, "contains duplicates");
                        }
                list[i] = s;
        }
        *ret = list;
        return NULL;
}

/* The grantor's name for the record: the peer's user name (or uid). */
char *peer_name(const struct ucred *peer) {
        char *name = NULL;
        return identity_user_name(peer->uid, &name) == 0 ? name : NULL;
}

json_t *self_or_admin_user(const method_call *call, const char *reason, const char **user, char **ret_own) {
        char *own;

        *ret_own = NULL;
        if (call->admin)
                return NULL;
        own = peer_name(call->peer);
        if (!own)
                return internal_error("out of memory");
        if (*user && strcmp(*user, own) != 0) {
                free(own);
                return permission_denied(call->peer, call->method, reason);
        }
        *user = *ret_own = own;
        return NULL;
}

uid_t self_or_admin_uid(const method_call *call) {
        return call->admin ? (uid_t) -1 : call->peer->uid;
}
