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
#include "identity.h"
#include "log.h"
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
                        if (strcmp(key, "reason") == 0 || strcmp(key, "description") == 0 || strcmp(key, "why") == 0 ||
                            ends_with(key, "By"))
                                json_object_del(details, key);
        }
}

/* An io.enrich.AuditEntry; NULL when out of memory. */
static json_t *entry_json(const audit_entry *e) {
        json_t *details = json_loads(e->details, 0, NULL);
        json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:s}", "id", (json_int_t) e->id, "time",
                              (json_int_t) e->time, "actor", e->actor, "action", e->action, "result", e->result,
                              "details", details ? details : json_object(), "hash", e->hash);

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

/* An AuditList call left open (follow): its filters, who reads it and
 * the last row it was sent. */
typedef struct audit_follower {
        uint64_t stream;                /* 0: a free slot */
        uid_t uid;
        bool admin;
        char *user, *action, *result;   /* a reader not an admin: user is its own name */
        int64_t since, until;
        int64_t last_id;
} audit_follower;

struct audit_follows {
        audit_follower slots[AUDIT_FOLLOW_MAX];
        size_t next;                    /* where the next pump starts (round robin) */
};

static void follower_clear(audit_follower *f) {
        free(f->user);
        free(f->action);
        free(f->result);
        *f = (audit_follower) { 0 };
}

void audit_follow_free(enrichd *d) {
        if (!d || !d->follows)
                return;
        for (size_t i = 0; i < AUDIT_FOLLOW_MAX; i++)
                follower_clear(&d->follows->slots[i]);
        free(d->follows);
        d->follows = NULL;
}

void audit_follow_end(enrichd *d, uint64_t stream) {
        if (!d->follows || stream == 0)
                return;
        for (size_t i = 0; i < AUDIT_FOLLOW_MAX; i++)
                if (d->follows->slots[i].stream == stream)
                        follower_clear(&d->follows->slots[i]);
}

static char *strdup_or_null(const char *s, bool *failed) {
        char *copy = s ? strdup(s) : NULL;

        if (s && !copy)
                *failed = true;
        return copy;
}

/* Takes a slot for a follow of call: the bounds per uid and in all, then
 * the filters. A reply (an error) when refused, else NULL with *ret. */
static json_t *follow_start(enrichd *d, const method_call *call, const audit_query *q, audit_follower **ret) {
        audit_follower *free_slot = NULL;
        unsigned mine = 0, others = 0;
        bool failed = false;

        if (!call->more || call->stream == 0)
                return invalid_parameter("follow", "a follow is a \"more\" call, on the main socket");
        if (!d->follows && !(d->follows = calloc(1, sizeof *d->follows)))
                return internal_error("out of memory");
        for (size_t i = 0; i < AUDIT_FOLLOW_MAX; i++) {
                audit_follower *f = &d->follows->slots[i];

                if (!f->stream) {
                        if (!free_slot)
                                free_slot = f;
                        continue;
                }
                if (f->uid == call->peer->uid)
                        mine++;
                if (f->uid != 0)
                        others++;
        }
        /* Root is held only to the total; everyone else to a few each
         * and together to less than the total, so root can always follow. */
        if (!free_slot || (call->peer->uid != 0 &&
                           (mine >= AUDIT_FOLLOW_PER_UID || others >= AUDIT_FOLLOW_MAX - AUDIT_FOLLOW_ROOT_RESERVE)))
                return error_reply("io.enrich.TooManyFollows",
                                   json_pack("{s:i, s:i, s:s}", "perUid", AUDIT_FOLLOW_PER_UID, "max", AUDIT_FOLLOW_MAX,
                                             "reason",
                                             "too many audit follows are open; end one (Ctrl-C "
                                             "in its enrichctl audit --follow) and try again"));
        *free_slot = (audit_follower) { .stream = call->stream,
                                        .uid = call->peer->uid,
                                        .admin = call->admin,
                                        .since = q->since,
                                        .until = q->until,
                                        .last_id = q->from_id };
        free_slot->user = strdup_or_null(q->user, &failed);
        free_slot->action = strdup_or_null(q->action, &failed);
        free_slot->result = strdup_or_null(q->result, &failed);
        if (failed) {
                follower_clear(free_slot);
                return internal_error("out of memory");
        }
        *ret = free_slot;
        return NULL;
}

typedef struct follow_batch {
        json_t *entries;
        int64_t last_id;
} follow_batch;

static int add_follow_entry(void *userdata, const audit_entry *e) {
        follow_batch *b = userdata;
        json_t *o = entry_json(e);

        if (!o || json_array_append_new(b->entries, o) < 0)
                return -ENOMEM;
        b->last_id = e->id;
        return 0;
}

/* Sends f the committed rows after its last one, at most limit; the
 * number sent, or a negative errno (the follower is then dropped). */
static int follow_send(enrichd *d, audit_follower *f, int64_t limit,
                       int (*push)(void *userdata, uint64_t stream, json_t *reply), void *userdata) {
        audit_query q = { .from_id = f->last_id,
                          .since = f->since,
                          .until = f->until,
                          .user = f->user,
                          .action = f->action,
                          .result = f->result,
                          .limit = limit };
        follow_batch b = { .entries = json_array(), .last_id = f->last_id };
        json_t *reply = NULL;
        size_t n;
        int r;

        if (!b.entries)
                return -ENOMEM;
        /* An admin removed from admin_group loses admin at once, here
         * too: the follow ends before it sends another row. */
        if (f->admin && f->uid != 0 && !identity_is_admin(d->config->admin_group, f->uid)) {
                reply = error_reply("io.enrich.PermissionDenied", json_pack("{s:s}", "reason",
                                                                            "no longer a member of admin_group; "
                                                                            "the follow of every user's rows ended"));
                if (reply)
                        (void) push(userdata, f->stream, reply);
                r = -EPERM;
                goto out;
        }
        r = audit_list(d, &q, add_follow_entry, &b);
        n = json_array_size(b.entries);
        if (r < 0) {
                /* Ends the call with the error, rather than leaving it
                 * open and silent. */
                reply = r == -EIO ? database_error(d, "io.enrich.AuditList") : internal_error("out of memory");
                if (reply)
                        (void) push(userdata, f->stream, reply);
                goto out;
        }
        if (n == 0)
                goto out;
        if (!f->admin)
                redact(b.entries, f->uid);
        reply = varlink_reply_new(json_pack("{s:O}", "entries", b.entries), true);
        r = reply ? push(userdata, f->stream, reply) : -ENOMEM;
        if (r >= 0)
                f->last_id = b.last_id;
out:
        json_decref(reply);
        json_decref(b.entries);
        return r < 0 ? r : (int) n;
}

bool audit_follow_pump(enrichd *d, int (*push)(void *userdata, uint64_t stream, json_t *reply), void *userdata) {
        int64_t head = audit_head_id(d);
        unsigned budget = AUDIT_FOLLOW_TURN_ROWS;
        bool left = false;

        if (!d->follows)
                return false;
        /* Round robin from where the last pump stopped, so a follower with
         * a long backlog cannot keep the others waiting. */
        for (size_t k = 0; k < AUDIT_FOLLOW_MAX; k++) {
                size_t i = (d->follows->next + k) % AUDIT_FOLLOW_MAX;
                audit_follower *f = &d->follows->slots[i];
                int n;

                if (!f->stream || f->last_id >= head)
                        continue;
                if (budget == 0) {
                        d->follows->next = i;
                        return true;
                }
                n = follow_send(d, f, budget < AUDIT_FOLLOW_BATCH ? budget : AUDIT_FOLLOW_BATCH, push, userdata);
                if (n < 0) {
                        follower_clear(f);
                        continue;
                }
                budget -= (unsigned) n;
                /* A full batch: rows may be left (or filtered out up to
                 * head: then the next query finds none and stops). */
                if (n == AUDIT_FOLLOW_BATCH)
                        left = true;
                else if (n == 0 || f->last_id < head)
                        f->last_id = head;
        }
        return left;
}

json_t *method_audit_list(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *action, *result;
        json_int_t since = 0, until = 0, after_id = 0;
        audit_query q = { 0 };
        page p = { 0 };
        char *own = NULL;
        json_t *reply = NULL, *out = NULL, *entries, *next, *follow;
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
        follow = json_object_get(params, "follow");
        if (follow && !json_is_boolean(follow)) {
                reply = invalid_parameter("follow", "not a boolean");
                goto out;
        }
        if (json_is_true(follow)) {
                audit_follower *f = NULL;

                if (json_object_get(params, "after") || json_object_get(params, "limit")) {
                        reply = invalid_parameter(json_object_get(params, "after") ? "after" : "limit",
                                                  "a follow starts after afterId (or at the newest row) "
                                                  "and has no pages");
                        goto out;
                }
                if ((reply = self_or_admin_user(call, "only root and admins may read other users' audit rows", &user,
                                                &own)))
                        goto out;
                q = (audit_query) { .from_id = after_id_set ? after_id : audit_head_id(d),
                                    .since = since,
                                    .until = until,
                                    .user = user,
                                    .action = action,
                                    .result = result };
                if ((reply = follow_start(d, call, &q, &f)))
                        goto out;
                /* Open: the rows come from audit_follow_pump, once
                 * committed. */
                reply = varlink_reply_new(json_pack("{s:[]}", "entries"), true);
                if (!reply) {
                        audit_follow_end(d, call->stream);
                        reply = internal_error("out of memory");
                }
                goto out;
        }
        if ((reply = page_begin_rows(&p, params, !after_id_set, after_id)))
                goto out;
        if ((reply = self_or_admin_user(call, "only root and admins may read other users' audit rows", &user, &own)))
                goto out;
        q = (audit_query) { .from_id = p.after_row,
                            .descending = p.descending,
                            .since = since,
                            .until = until,
                            .user = user,
                            .action = action,
                            .result = result,
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

/* AuditVerify's answer for v (next: the row to go on from; anchor, taken:
 * the published checkpoint it was held to). */
static json_t *verify_reply(const audit_verdict *v, int64_t next, json_t *anchor) {
        char cursor[32];
        json_t *out;

        out = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "ok", v->ok, "rows", (json_int_t) v->rows, "checkpoints",
                        (json_int_t) v->checkpoints, "firstId", (json_int_t) v->first_id, "lastId",
                        (json_int_t) v->last_id, "sealedId", (json_int_t) v->sealed_id);
        if (out && v->ok && next > 0) {
                snprintf(cursor, sizeof cursor, "a%lld", (long long) next);
                json_object_set_new(out, "next", json_string(cursor));
        }
        if (out && !v->ok) {
                json_object_set_new(out, "badId", json_integer(v->bad_id));
                json_object_set_new(out, "kind", json_string(v->kind));
                json_object_set_new(out, "reason", json_string(v->reason));
        }
        if (out && v->restarted)
                json_object_set_new(out, "restarted", json_true());
        if (out && anchor)
                json_object_set_new(out, "published", anchor);
        else
                json_decref(anchor);
        return out ? varlink_reply_new(out, false) : internal_error("out of memory");
}

static json_t *published_error(int r, const char *error) {
        if (r == -ENOTCONN)
                return error_reply("io.enrich.FleetOff", json_pack("{s:s}", "reason", error ? error : "?"));
        if (r == -EXDEV)
                return invalid_parameter("fleetHost", error ? error : "not this host");
        if (r == -ENOENT)
                return error_reply("io.enrich.NoSuchCheckpoint", json_pack("{s:s}", "reason", error ? error : "?"));
        return error_reply("io.enrich.FleetUnavailable", json_pack("{s:s}", "reason", error ? error : "?"));
}

/* audit verify --fleet HOST, waiting for etcd (fleet.c's writer thread):
 * the verdict so far and whom to answer. */
typedef struct verify_later {
        uint64_t call;
        audit_verdict v;
} verify_later;

/* The end of a trail that verifies is held to the checkpoint this host
 * published to etcd, which a rewrite of the database cannot take back.
 * Main thread, once etcd answered. */
static void published_read(enrichd *d, int r, const char *error, const audit_anchor *published, void *userdata) {
        verify_later *l = userdata;
        json_t *reply;
        bool compared = false;

        if (r < 0)
                reply = published_error(r, error);
        else if (audit_check_anchor(d, published, &l->v, &compared) < 0)
                reply = database_error(d, "io.enrich.AuditVerify");
        else
                reply = verify_reply(&l->v, 0,
                                     json_pack("{s:I, s:s, s:I, s:b}", "row", (json_int_t) published->row_id, "head",
                                               published->head, "time", (json_int_t) published->time, "compared",
                                               compared));
        if (!reply)
                reply = internal_error("out of memory");
        if (!reply || d->reply_later(d->reply_later_userdata, l->call, reply) < 0)
                log_info("The caller of audit verify --fleet left before its answer");
        json_decref(reply);
        free(l);
}

json_t *method_audit_verify(enrichd *d, const method_call *call, json_t *params) {
        const char *after = NULL, *host = NULL;
        audit_verdict v;
        int64_t after_id = 0, next = 0;
        bool descending = false;
        char cursor[32], *error = NULL;
        verify_later *l = NULL;
        json_t *reply;
        int r;

        if ((reply = get_string(params, "after", false, sizeof cursor, &after)) ||
            (reply = get_string(params, "fleetHost", false, 64, &host)))
                return reply;
        if (after && (page_parse_row_cursor(after, &descending, &after_id) < 0 || descending || after_id == 0))
                return invalid_parameter("after", "not a cursor from a previous reply's next");
        if (audit_verify(d, after_id, &v, &next) < 0)
                return database_error(d, "io.enrich.AuditVerify");
        if (!host || !v.ok || next > 0)
                return verify_reply(&v, next, NULL);
        /* etcd is asked off the main loop; the answer comes later. */
        if (!call->stream || !d->reply_later)
                return internal_error("this call cannot be answered later");
        l = calloc(1, sizeof *l);
        if (!l)
                return internal_error("out of memory");
        *l = (verify_later) { .call = call->stream, .v = v };
        r = fleet_read_checkpoint(d, host, published_read, l, &error);
        if (r < 0) {
                free(l);
                reply = r == -ENOMEM && !error ? internal_error("out of memory") : published_error(r, error);
        } else
                reply = json_null();
        free(error);
        return reply;
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
