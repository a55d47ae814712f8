/* audit_methods.c: reading, verifying and sealing the audit trail over
 * varlink. Reading is for admins; a user may read the rows about itself.
 * Verifying and sealing are for admins. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "audit_methods.h"
#include "method_support.h"
#include "varlink.h"

/* A cursor: 'a' (rows after id, oldest first) or 'b' (rows before id,
 * newest first) and the id. Opaque to callers, who only pass "next" back. */
#define CURSOR_MAX 32

static bool parse_cursor(const char *text, bool *ret_descending, int64_t *ret_id) {
        char *end = NULL;
        long long id;

        if (!text || (text[0] != 'a' && text[0] != 'b') || text[1] < '0' || text[1] > '9')
                return false;
        errno = 0;
        id = strtoll(text + 1, &end, 10);
        if (errno != 0 || *end != '\0' || id < 0)
                return false;
        *ret_descending = text[0] == 'b';
        *ret_id = id;
        return true;
}

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

/* The page as a JSON array; NULL when out of memory. */
static json_t *entries_json(const audit_page *p) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < p->n; i++) {
                json_t *e = entry_json(&p->entries[i]);

                if (!e || json_array_append_new(a, e) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

json_t *method_audit_list(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *action, *after;
        json_int_t since = 0, after_id = 0, limit = 0;
        audit_query q = { 0 };
        audit_page rows = { 0 };
        int64_t next = 0;
        char *own = NULL, cursor[CURSOR_MAX];
        json_t *reply = NULL, *entries = NULL, *out;
        bool set, after_id_set;
        int r;

        if ((reply = get_int(params, "since", false, 0, INT64_MAX, &since, &set)) ||
            (reply = get_int(params, "afterId", false, 0, INT64_MAX, &after_id, &after_id_set)) ||
            (reply = get_int(params, "limit", false, 1, AUDIT_MAX_LIST, &limit, &set)) ||
            (reply = get_string(params, "after", false, CURSOR_MAX, &after)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "action", false, MAX_NAME_LENGTH, &action)))
                goto out;
        /* Where to start: a cursor from a previous page, afterId (oldest
         * first after that row; 0: from the oldest), else the newest rows. */
        if (after && after_id_set) {
                reply = invalid_parameter("after", "give either after or afterId");
                goto out;
        }
        if (after && !parse_cursor(after, &q.descending, &q.from_id)) {
                reply = invalid_parameter("after", "not a cursor from a previous reply's next");
                goto out;
        }
        if (!after) {
                q.descending = !after_id_set;
                q.from_id = after_id;
        }
        if ((reply = self_or_admin_user(call, "only root and admins may read other users' audit rows", &user, &own)))
                goto out;
        q.since = since;
        q.user = user;
        q.action = action;
        q.limit = limit;
        r = audit_list(d, &q, &rows, &next);
        if (r < 0) {
                reply = r == -EIO ? database_error(d, "io.enrich.AuditList") : internal_error("out of memory");
                goto out;
        }
        entries = entries_json(&rows);
        if (!entries) {
                reply = internal_error("out of memory");
                goto out;
        }
        if (!call->admin)
                redact(entries, call->peer->uid);
        snprintf(cursor, sizeof cursor, "%c%lld", q.descending ? 'b' : 'a', (long long) next);
        if (!call->more || json_array_size(entries) <= 1) {
                out = json_pack("{s:O}", "entries", entries);
                if (out && next > 0)
                        json_object_set_new(out, "next", json_string(cursor));
                reply = out ? varlink_reply_new(out, false) : internal_error("out of memory");
                goto out;
        }
        /* A stream: the server queues each reply in order; the last one
         * carries next. */
        reply = json_array();
        for (size_t i = 0; reply && i < json_array_size(entries); i++) {
                bool last = i + 1 == json_array_size(entries);
                json_t *one;

                out = json_pack("{s:[O]}", "entries", json_array_get(entries, i));
                if (out && last && next > 0)
                        json_object_set_new(out, "next", json_string(cursor));
                one = out ? varlink_reply_new(out, !last) : NULL;
                if (!one || json_array_append_new(reply, one) < 0) {
                        json_decref(reply);
                        reply = internal_error("out of memory");
                        goto out;
                }
        }
        if (!reply)
                reply = internal_error("out of memory");
out:
        audit_page_clear(&rows);
        json_decref(entries);
        free(own);
        return reply;
}

json_t *method_audit_verify(enrichd *d, const method_call *call, json_t *params) {
        const char *after = NULL;
        audit_verdict v;
        int64_t after_id = 0, next = 0;
        bool descending = false;
        char cursor[CURSOR_MAX];
        json_t *reply, *out;

        if ((reply = get_string(params, "after", false, CURSOR_MAX, &after)))
                return reply;
        if (after && (!parse_cursor(after, &descending, &after_id) || descending || after_id == 0))
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
