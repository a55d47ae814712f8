/* audit_methods.c: reading, verifying and sealing the audit trail over
 * varlink. Reading is for admins; a user may read the rows about itself.
 * Verifying and sealing are for admins. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "audit_methods.h"
#include "fleet.h"
#include "method_support.h"
#include "names.h"
#include "paging.h"
#include "varlink.h"

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

/* An io.enrich.AuditEntry; NULL when out of memory. */
static json_t *entry_json(const audit_entry *e) {
        json_t *details = json_loads(e->details, 0, NULL);
        json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:s}", "id", (json_int_t) e->id,
                              "time", (json_int_t) e->time, "actor", e->actor, "action", e->action,
                              "result", e->result, "details", details ? details : json_object(), "hash", e->hash);

        if (o && e->has_actor_uid)
                json_object_set_new(o, "actorUid", json_integer(e->actor_uid));
        if (o && e->user)
                json_object_set_new(o, "user", json_string(e->user));
        return o;
}

/* Offers one row to the page (userdata) as its wire object. */
static int add_entry(void *userdata, const audit_entry *e) {
        json_t *o = entry_json(e);

        return o ? page_add_row(userdata, o, e->id) : -ENOMEM;
}

/* An action no row can have would list nothing and look like "no such
 * event": refused, with the close match (names.h). */
static json_t *check_known_action(const char *action) {
        const char *close = action ? names_suggest(action, enrich_audit_actions, 0) : NULL;
        char reason[1024], known[768];

        if (!action || names_contain(enrich_audit_actions, action))
                return NULL;
        snprintf(reason, sizeof reason, "unknown action \"%s\"%s%s%s (known: %s)", action,
                 close ? "; did you mean \"" : "", close ? close : "", close ? "\"?" : "",
                 names_join(enrich_audit_actions, ", ", known, sizeof known));
        return invalid_parameter("action", reason);
}

json_t *method_audit_list(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *action, *result;
        json_int_t since = 0, until = 0, after_id = 0;
        audit_query q = { 0 };
        page p = { 0 };
        char *own = NULL;
        json_t *reply = NULL, *out = NULL, *entries, *next;
        bool set, after_id_set;
        int r;

        if ((reply = get_int(params, "since", false, 0, INT64_MAX, &since, &set)) ||
            (reply = get_int(params, "until", false, 0, INT64_MAX, &until, &set)) ||
            (reply = get_string(params, "result", false, MAX_NAME_LENGTH, &result)) ||
            (reply = get_int(params, "afterId", false, 0, INT64_MAX, &after_id, &after_id_set)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "action", false, MAX_NAME_LENGTH, &action)) ||
            (reply = check_known_action(action)))
                goto out;
        /* Where to start: a cursor from a previous page, afterId (oldest
         * first after that row; 0: from the oldest), else the newest rows. */
        if (after_id_set && json_object_get(params, "after")) {
                reply = invalid_parameter("after", "give either after or afterId");
                goto out;
        }
        if ((reply = page_begin_rows(&p, params, !after_id_set, after_id)))
                goto out;
        if ((reply = self_or_admin_user(call, "only root and admins may read other users' audit rows", &user, &own)))
                goto out;
        q = (audit_query) { .from_id = p.after_row, .descending = p.descending, .since = since,
                            .until = until, .user = user, .action = action, .result = result,
                            .limit = page_fetch(&p) };
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
        if (!call->admin)
                redact(entries, call->peer->uid);
        if (!call->more || json_array_size(entries) <= 1) {
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

/* audit verify --fleet HOST: the end of a trail that verifies is held to
 * the checkpoint this host published to etcd (fleet.c), which a rewrite
 * of the database cannot take back. NULL, or an error reply. */
static json_t *check_published(enrichd *d, const char *host, audit_verdict *v, json_t **ret_anchor) {
        audit_anchor published;
        char *error = NULL;
        json_t *reply = NULL;
        bool compared = false;
        int r;

        r = fleet_read_checkpoint(d, host, &published, &error);
        if (r == -ENOTCONN)
                reply = error_reply("io.enrich.FleetOff", json_pack("{s:s}", "reason", error ? error : "?"));
        else if (r == -EXDEV)
                reply = invalid_parameter("fleetHost", error ? error : "not this host");
        else if (r == -ENOENT)
                reply = error_reply("io.enrich.NoSuchCheckpoint", json_pack("{s:s}", "reason", error ? error : "?"));
        else if (r < 0)
                reply = error_reply("io.enrich.FleetUnavailable", json_pack("{s:s}", "reason", error ? error : "?"));
        else if (audit_check_anchor(d, &published, v, &compared) < 0)
                reply = database_error(d, "io.enrich.AuditVerify");
        else
                *ret_anchor = json_pack("{s:I, s:s, s:I, s:b}", "row", (json_int_t) published.row_id, "head",
                                        published.head, "time", (json_int_t) published.time, "compared", compared);
        free(error);
        return reply;
}

json_t *method_audit_verify(enrichd *d, const method_call *call, json_t *params) {
        const char *after = NULL, *host = NULL;
        audit_verdict v;
        int64_t after_id = 0, next = 0;
        bool descending = false;
        char cursor[32];
        json_t *reply, *out, *anchor = NULL;

        if ((reply = get_string(params, "after", false, sizeof cursor, &after)) ||
            (reply = get_string(params, "fleetHost", false, 64, &host)))
                return reply;
        if (after && (page_parse_row_cursor(after, &descending, &after_id) < 0 || descending || after_id == 0))
                return invalid_parameter("after", "not a cursor from a previous reply's next");
        if (audit_verify(d, after_id, &v, &next) < 0)
                return database_error(d, "io.enrich.AuditVerify");
        if (host && v.ok && next == 0 && (reply = check_published(d, host, &v, &anchor)))
                return reply;
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
        if (out && anchor)
                json_object_set_new(out, "published", anchor);
        else
                json_decref(anchor);
        return out ? varlink_reply_new(out, false) : internal_error("out of memory");
}

json_t *method_audit_checkpoint(enrichd *d, const method_call *call, json_t *params) {
        char *error = NULL;
        int64_t id = 0;
        json_t *reply;
        int r;

        r = audit_checkpoint(d, call->peer, "requested", &id, &error);
        if (r == -EBADMSG)
                reply = error_reply("io.enrich.AuditTampered", json_pack("{s:s}", "reason", error ? error : "?"));
        else if (r < 0)
                reply = internal_error(error ? error : "failed to write the checkpoint");
        else
                reply = varlink_reply_new(json_pack("{s:I}", "rowId", (json_int_t) id), false);
        free(error);
        return reply;
}
