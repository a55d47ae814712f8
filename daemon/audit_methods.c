/* audit_methods.c: reading, verifying and sealing the audit trail over
 * varlink. Reading is for admins; a user may read the rows about itself.
 * Verifying and sealing are for admins. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "audit_methods.h"
#include "identity.h"
#include "method_helpers.h"
#include "paging.h"
#include "varlink.h"

#define MAX_NAME_LENGTH 256

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What a user reading the rows about itself does not see of a decision
 * someone else made: who made it (actor, actorUid, and the hash that
 * would let a guess at the name be confirmed) and the free text given
 * for it (a disable's reason, a grant's reason, a token's description),
 * which often names an admin or a case. */
static void redact(json_t *entries, uid_t reader) {
        json_t *e, *details, *v;
        const char *key;
        void *tmp;
        size_t i;

        json_array_foreach(entries, i, e) {
                json_t *actor_uid = json_object_get(e, "actorUid");

                if (json_is_integer(actor_uid) && json_integer_value(actor_uid) == (json_int_t) reader)
                        continue;
                json_object_del(e, "actor");
                json_object_del(e, "actorUid");
                json_object_del(e, "hash");
                details = json_object_get(e, "details");
                json_object_foreach_safe(details, tmp, key, v)
                        if (strcmp(key, "reason") == 0 || strcmp(key, "description") == 0 ||
                            strcmp(key, "why") == 0 || ends_with(key, "By"))
                                json_object_del(details, key);
        }
}

static int add_entry(void *userdata, json_t *entry, int64_t id) {
        return page_add_row(userdata, entry, id);
}

json_t *method_audit_list(enrichd *d, const struct ucred *peer, json_t *params, bool more) {
        static const char *const known[] = { "since", "afterId", "after", "user", "action", "limit", NULL };
        const char *user, *action;
        json_int_t since = 0, after_id = 0;
        audit_query q = { 0 };
        page p = { 0 };
        char *own = NULL;
        json_t *reply = NULL, *out = NULL, *entries, *next;
        bool set, after_id_set, admin;
        int r;

        if ((reply = check_known(params, known)) ||
            (reply = get_int(params, "since", false, 0, INT64_MAX, &since, &set)) ||
            (reply = get_int(params, "afterId", false, 0, INT64_MAX, &after_id, &after_id_set)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "action", false, MAX_NAME_LENGTH, &action)))
                goto out;
        /* Where to start: a cursor from a previous page, afterId (oldest
         * first after that row; 0: from the oldest), else the newest rows. */
        if (after_id_set && json_object_get(params, "after")) {
                reply = invalid_parameter("after", "give either after or afterId");
                goto out;
        }
        if ((reply = page_begin_rows(&p, params, !after_id_set, after_id)))
                goto out;
        admin = identity_is_admin(d->config->admin_group, peer->uid);
        if (!admin) {
                own = peer_name(peer);
                if (!own) {
                        reply = internal_error("out of memory");
                        goto out;
                }
                if (user && strcmp(user, own) != 0) {
                        reply = permission_denied(peer, "io.enrich.AuditList",
                                                  "only root and admins may read other users' audit rows");
                        goto out;
                }
                user = own;
        }
        q = (audit_query) { .from_id = p.after_row, .descending = p.descending, .since = since,
                            .user = user, .action = action, .limit = page_fetch(&p) };
        r = audit_list(d, &q, add_entry, &p);
        if (r < 0) {
                reply = r == -EIO ? database_error(d, "io.enrich.AuditList") : internal_error("out of memory");
                goto out;
        }
        out = page_reply(&p, "entries");
        if (!out) {
                reply = internal_error("out of memory");
                goto out;
        }
        entries = json_object_get(out, "entries");
        if (!admin)
                redact(entries, peer->uid);
        if (!more || json_array_size(entries) <= 1) {
                reply = varlink_reply_new(out, false);
                out = NULL;
                goto out;
        }
        /* A stream: the server queues each reply in order; the last one
         * carries next. */
        next = json_object_get(out, "next");
        reply = json_array();
        for (size_t i = 0; reply && i < json_array_size(entries); i++) {
                bool last = i + 1 == json_array_size(entries);
                json_t *one;

                one = json_pack("{s:[O]}", "entries", json_array_get(entries, i));
                if (one && last && next)
                        json_object_set(one, "next", next);
                one = one ? varlink_reply_new(one, !last) : NULL;
                if (!one || json_array_append_new(reply, one) < 0) {
                        json_decref(reply);
                        reply = internal_error("out of memory");
                        goto out;
                }
        }
        if (!reply)
                reply = internal_error("out of memory");
out:
        json_decref(out);
        page_done(&p);
        free(own);
        return reply;
}

json_t *method_audit_verify(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "after", NULL };
        const char *after = NULL;
        audit_verdict v;
        int64_t after_id = 0, next = 0;
        bool descending = false;
        char cursor[32];
        json_t *reply, *out;

        if ((reply = admin_only(d, peer, "io.enrich.AuditVerify")) || (reply = check_known(params, known)) ||
            (reply = get_string(params, "after", false, sizeof cursor, &after)))
                return reply;
        if (after && (page_parse_row_cursor(after, &descending, &after_id) < 0 || descending || after_id == 0))
                return invalid_parameter("after", "not a cursor from a previous reply's next");
        if (audit_verify(d, after_id, &v, &next) < 0)
                return database_error(d, "io.enrich.AuditVerify");
        out = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "ok", v.ok, "rows", (json_int_t) v.rows,
                        "checkpoints", (json_int_t) v.checkpoints, "firstId", (json_int_t) v.first_id,
                        "lastId", (json_int_t) v.last_id, "sealedId", (json_int_t) v.sealed_id);
        if (out && v.ok && next > 0) {
                snprintf(cursor, sizeof cursor, "a%lld", (long long) next);
                json_object_set_new(out, "next", json_string(cursor));
        }
        if (out && !v.ok) {
                json_object_set_new(out, "badId", json_integer(v.bad_id));
                json_object_set_new(out, "kind", json_string(v.kind));
                json_object_set_new(out, "reason", json_string(v.reason));
        }
        return out ? varlink_reply_new(out, false) : internal_error("out of memory");
}

json_t *method_audit_checkpoint(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { NULL };
        char *error = NULL;
        int64_t id = 0;
        json_t *reply;
        int r;

        if ((reply = admin_only(d, peer, "io.enrich.AuditCheckpoint")) || (reply = check_known(params, known)))
                return reply;
        r = audit_checkpoint(d, peer, "requested", &id, &error);
        if (r == -EBADMSG)
                reply = error_reply("io.enrich.AuditTampered", json_pack("{s:s}", "reason", error ? error : "?"));
        else if (r < 0)
                reply = internal_error(error ? error : "failed to write the checkpoint");
        else
                reply = varlink_reply_new(json_pack("{s:I}", "rowId", (json_int_t) id), false);
        free(error);
        return reply;
}

void audit_refusal(enrichd *d, const struct ucred *peer, const char *method, const json_t *reply) {
        const char *error = json_string_value(json_object_get(reply, "error"));
        const char *reason = json_string_value(json_object_get(json_object_get(reply, "parameters"), "reason"));
        char *name = NULL;

        if (!error || strcmp(error, "io.enrich.PermissionDenied") != 0)
                return;
        name = peer_name(peer);
        (void) audit_record_refusal(d, peer, name, AUDIT_PERMISSION_DENIED, AUDIT_DENIED, method,
                                    json_pack("{s:s, s:s, s:I}", "method", method, "reason", reason ? reason : "",
                                              "pid", (json_int_t) peer->pid));
        free(name);
}
