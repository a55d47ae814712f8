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
#include "varlink.h"

#define MAX_NAME_LENGTH 256

json_t *method_audit_list(enrichd *d, const struct ucred *peer, json_t *params, bool more) {
        static const char *const known[] = { "since", "afterId", "user", "action", "limit", NULL };
        const char *user, *action;
        json_int_t since = 0, after = 0, limit = 0;
        char *own = NULL;
        json_t *reply = NULL, *entries = NULL;
        bool set;
        int r;

        if ((reply = check_known(params, known)) ||
            (reply = get_int(params, "since", false, 0, INT64_MAX, &since, &set)) ||
            (reply = get_int(params, "afterId", false, 0, INT64_MAX, &after, &set)) ||
            (reply = get_int(params, "limit", false, 1, AUDIT_MAX_LIST, &limit, &set)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "action", false, MAX_NAME_LENGTH, &action)))
                goto out;
        if (!identity_is_admin(d->config->admin_group, peer->uid)) {
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
        r = audit_list(d, after, since, user, action, limit, &entries);
        if (r < 0) {
                reply = r == -EIO ? database_error(d, "io.enrich.AuditList") : internal_error("out of memory");
                goto out;
        }
        if (!more || json_array_size(entries) <= 1) {
                reply = varlink_reply_new(json_pack("{s:O}", "entries", entries), false);
                goto out;
        }
        /* A stream: the server queues each reply in order. */
        reply = json_array();
        for (size_t i = 0; reply && i < json_array_size(entries); i++) {
                json_t *one = varlink_reply_new(json_pack("{s:[O]}", "entries", json_array_get(entries, i)),
                                                i + 1 < json_array_size(entries));
                if (!one || json_array_append_new(reply, one) < 0) {
                        json_decref(reply);
                        reply = internal_error("out of memory");
                        goto out;
                }
        }
        if (!reply)
                reply = internal_error("out of memory");
out:
        json_decref(entries);
        free(own);
        return reply;
}

json_t *method_audit_verify(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { NULL };
        audit_verdict v;
        json_t *reply, *out;

        if ((reply = admin_only(d, peer, "io.enrich.AuditVerify")) || (reply = check_known(params, known)))
                return reply;
        if (audit_verify(d, &v) < 0)
                return database_error(d, "io.enrich.AuditVerify");
        out = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "ok", v.ok, "rows", (json_int_t) v.rows,
                        "checkpoints", (json_int_t) v.checkpoints, "firstId", (json_int_t) v.first_id,
                        "lastId", (json_int_t) v.last_id, "sealedId", (json_int_t) v.sealed_id);
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
        (void) audit_recordf(d, peer, name, AUDIT_PERMISSION_DENIED, AUDIT_DENIED, "{s:s, s:s, s:I}",
                             "method", method, "reason", reason ? reason : "", "pid", (json_int_t) peer->pid);
        free(name);
}
