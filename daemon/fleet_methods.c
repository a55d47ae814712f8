/* fleet_methods.c: the fleet writes behind `enrichctl grant|disable|enable
 * --fleet` and `enrichctl revoke` of a fleet grant (fleet_methods.h). The
 * daemon signs (fleet.c); etcd carries the record to every host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "clock.h"
#include "fleet.h"
#include "fleet_methods.h"
#include "grants.h"
#include "identity.h"
#include "jwks.h"
#include "log.h"
#include "paging.h"
#include "util.h"
#include "varlink.h"

/* A label as the config allows them. */
static bool valid_label(const enrichd *d, const char *s) {
        return fleet_name_valid(s);
}

static json_t *get_fleet_flag(json_t *params, bool *ret) {
        json_t *v = json_object_get(params, "fleet");

        if (v && !json_is_null(v) && !json_is_boolean(v))
                return invalid_parameter("fleet", "must be a boolean");
        *ret = json_is_true(v);
        return NULL;
}

static json_t *fleet_error(int r, const char *message) {
        const char *name = r == -ENOKEY                  ? "io.enrich.FleetNotIssuer"
                           : r == -EACCES || r == -EPERM ? "io.enrich.FleetPermissionDenied"
                           : r == -ENOTCONN              ? "io.enrich.FleetOff"
                                                         : "io.enrich.FleetUnavailable";

        return error_reply(name, json_pack("{s:s}", "reason", message ? message : "unknown error"));
}

/* A call answered once its fleet write is done (fleet.h's done, on the
 * main thread): what the answer needs, owned here. */
typedef struct pending {
        enrichd *d;
        uint64_t call;
        struct ucred peer;
        json_t *params;    /* a copy, for then */
        fleet_then then;   /* NULL: reply is the answer */
        json_t *reply;     /* the answer when the write succeeded and then is NULL */
        bool known;        /* a revocation: this host held the record */
        const char *noun;  /* "grant", "token", "disable", "enable" */
        const char *field; /* the journal field of id */
        char *id, *user, *by;
        /* a token rotation: the new verifier's digest, when, the grace */
        char *digest;
        int64_t rotated, grace;
} pending;

static void pending_free(pending *p) {
        if (!p)
                return;
        json_decref(p->params);
        json_decref(p->reply);
        free(p->id);
        free(p->user);
        free(p->by);
        free(p->digest);
        free(p);
}

/* A pending answer for call, or NULL (out of memory, or no way to answer
 * later: then the caller answers at once with an error). */
static pending *pending_new(enrichd *d, const method_call *call, json_t *params, const char *noun, const char *field,
                            const char *id, const char *user) {
        pending *p;

        if (!call->stream || !d->reply_later)
                return NULL;
        p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        *p = (pending) { .d = d, .call = call->stream, .peer = *call->peer, .noun = noun, .field = field };
        p->by = peer_name(call->peer);
        if (!p->by || (params && !(p->params = json_deep_copy(params))) || (id && !(p->id = strdup(id))) ||
            (user && !(p->user = strdup(user)))) {
                pending_free(p);
                return NULL;
        }
        return p;
}

/* Sends reply (taken) to p's caller and frees p. */
static void pending_answer(pending *p, json_t *reply) {
        int r;

        if (!reply)
                reply = internal_error("out of memory");
        r = reply ? p->d->reply_later(p->d->reply_later_userdata, p->call, reply) : -ENOMEM;
        if (r < 0)
                log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { p->field, p->id ? p->id : p->user, NULL },
                           "The caller of the fleet %s%s%s left before its answer", p->noun, p->id ? " " : "",
                           p->id ? p->id : "");
        json_decref(reply);
        pending_free(p);
}

/* Queued: the answer comes later. Not queued: the error now. */
static json_t *queued_or_error(pending *p, int r, const char *error, const char *user) {
        if (r == 0)
                return json_null();
        log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_USER", user, NULL },
                   "Fleet %s for %s by %s failed: %s", p->noun, user, p->by, error ? error : strerror(-r));
        pending_free(p);
        return fleet_error(r, error);
}

/* A grant or token put: the answer was made before the write. */
static void put_done(enrichd *d, int r, const char *error, bool existed, void *userdata) {
        pending *p = userdata;
        json_t *reply;

        if (r < 0) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET,
                           (const char *[]) { p->field, p->id, "ENRICH_USER", p->user, NULL },
                           "Fleet %s %s for %s by %s failed: %s", p->noun, p->id, p->user, p->by,
                           error ? error : strerror(-r));
                pending_answer(p, fleet_error(r, error));
                return;
        }
        log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { p->field, p->id, "ENRICH_USER", p->user, NULL },
                   "Fleet %s %s for %s by %s written to etcd", p->noun, p->id, p->user, p->by);
        reply = p->reply;
        p->reply = NULL;
        pending_answer(p, reply);
}

json_t *fleet_method_grant(enrichd *d, const method_call *call, json_t *params, const char *user, const char **groups,
                           const char **scopes, const char *tenant, const char *reason, int64_t ttl) {
        const char **hosts = NULL;
        char *id = NULL, *error = NULL;
        json_t *reply = NULL;
        pending *p = NULL;
        bool fleet_call = false;
        int64_t now;
        int r;

        if ((reply = get_fleet_flag(params, &fleet_call)) || !fleet_call)
                goto out;
        if ((reply = get_value_list(d, params, "hosts", valid_label, "a host label", &hosts)))
                goto out;
        if (grants_new_id(&id) < 0 || !(p = pending_new(d, call, NULL, "grant", "ENRICH_GRANT", id, user))) {
                reply = internal_error("out of memory");
                goto out;
        }
        now = clock_now();
        grant g = {
                .id = id,
                .user = (char *) user,
                .groups = (char **) groups,
                .scopes = (char **) scopes,
                .tenant = (char *) tenant,
                .reason = (char *) reason,
                .granted_by = p->by,
                .created = now,
                .expires = now + ttl,
        };
        p->reply = varlink_reply_new(
                json_pack("{s:{s:s, s:s, s:o, s:o, s:s*, s:s, s:s, s:I, s:I, s:I, s:b, s:o, s:s*}}", "grant", "id", id,
                          "user", user, "groups", strv_to_json((char *const *) groups), "scopes",
                          strv_to_json((char *const *) scopes), "tenant", tenant, "reason", reason, "grantedBy", p->by,
                          "grantedByUid", (json_int_t) call->peer->uid, "created", (json_int_t) now, "expires",
                          (json_int_t) (now + ttl), "fleet", true, "hosts", strv_to_json((char *const *) hosts),
                          "issuer", fleet_host_id(d)),
                false);
        if (!p->reply) {
                pending_free(p);
                reply = internal_error("out of memory");
                goto out;
        }
        r = fleet_put_grant(d, &g, (char *const *) hosts, put_done, p, &error);
        reply = queued_or_error(p, r, error, user);
out:
        free(hosts);
        free(id);
        free(error);
        return reply;
}

/* A revocation's deletion in etcd is done: a record this host holds is
 * revoked here now (then); one it does not hold is answered for when etcd
 * had it, else as unknown (then, which finds no such record). */
static void revoke_done(enrichd *d, int r, const char *error, bool existed, void *userdata) {
        pending *p = userdata;
        json_t *reply;

        if (r < 0) {
                pending_answer(p, fleet_error(r, error));
                return;
        }
        if (!p->known && existed) {
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { p->field, p->id, NULL },
                           "Fleet %s %s (not held on this host) deleted from etcd", p->noun, p->id);
                reply = p->reply;
                p->reply = NULL;
        } else
                reply = p->then(d, &p->peer, p->params);
        pending_answer(p, reply);
}

/* The fleet side of revoking a grant or token: a fleet record held here
 * is revoked in etcd first (a signed revocation, then its key deleted:
 * fleet_revoke_grant), then revoked here (then); one not held here is
 * looked for in etcd. */
static json_t *revoke_in_fleet(enrichd *d, const method_call *call, json_t *params, const char *id, bool known,
                               fleet_then then, const char *method, const char *noun, const char *field,
                               int (*is_fleet)(enrichd *d, const char *id, bool *ret),
                               int (*revoke)(enrichd *d, const char *id, const char *by, fleet_write_done done,
                                             void *userdata, char **ret_error),
                               json_t *not_held_reply) {
        char *error = NULL;
        json_t *reply = NULL;
        pending *p = NULL;
        bool fleet_record = false;
        int r;

        if (!d->fleet)
                goto out;
        if (known && is_fleet(d, id, &fleet_record) < 0) {
                reply = database_error(d, method);
                goto out;
        }
        if (known && !fleet_record)
                goto out;
        if (!not_held_reply || !(p = pending_new(d, call, params, noun, field, id, NULL))) {
                reply = internal_error("out of memory");
                goto out;
        }
        p->then = then;
        p->known = known;
        p->reply = not_held_reply;
        not_held_reply = NULL;
        r = revoke(d, id, p->by, revoke_done, p, &error);
        if (r < 0) {
                pending_free(p);
                reply = fleet_error(r, error);
        } else
                reply = json_null();
out:
        json_decref(not_held_reply);
        free(error);
        return reply;
}

json_t *fleet_method_revoke_grant(enrichd *d, const method_call *call, json_t *params, const char *id, bool known,
                                  fleet_then then) {
        /* A grant this host does not hold may still be a fleet grant for
         * other hosts' labels: etcd decides. */
        return revoke_in_fleet(d, call, params, id, known, then, "io.enrich.RevokeGrant", "grant", "ENRICH_GRANT",
                               fleet_is_fleet_grant, fleet_revoke_grant,
                               d->fleet ? varlink_reply_new(json_pack("{s:i, s:i, s:b}", "sessionsUpdated", 0,
                                                                      "sessionsRevoked", 0, "changed", true),
                                                            false)
                                        : NULL);
}

json_t *fleet_method_token_issue(enrichd *d, const method_call *call, json_t *params, const token_record *t,
                                 const char *verifier, json_t *(*record_json)(const token_record *t, int64_t now)) {
        char *digest = NULL, *error = NULL;
        json_t *reply = NULL, *record = NULL;
        pending *p = NULL;
        bool fleet_call = false;
        int r;

        if ((reply = get_fleet_flag(params, &fleet_call)) || !fleet_call)
                goto out;
        if (tokens_verifier_digest(verifier, &digest) < 0 ||
            !(p = pending_new(d, call, NULL, "token", "ENRICH_TOKEN", t->id, t->user))) {
                reply = internal_error("out of memory");
                goto out;
        }
        record = record_json(t, clock_now());
        if (!record || json_object_set_new(record, "fleet", json_true()) < 0 ||
            !(p->reply = varlink_reply_new(json_pack("{s:O}", "token", record), false))) {
                pending_free(p);
                reply = internal_error("out of memory");
                goto out;
        }
        r = fleet_put_token(d, t, digest, put_done, p, &error);
        reply = queued_or_error(p, r, error, t->user);
out:
        json_decref(record);
        free(digest);
        free(error);
        return reply;
}

/* A fleet token's rotation is in etcd: rotated here now, as the record
 * says (the watch then finds it done), then answered. */
static void rotate_done(enrichd *d, int r, const char *error, bool existed, void *userdata) {
        pending *p = userdata;
        token_record t = { 0 };

        /* The watch may have brought the record first: then it is done. */
        if (r == 0 && tokens_get(d->db, p->id, &t) == 0 && t.rotated >= p->rotated) {
                token_record_clear(&t);
                put_done(d, r, error, existed, p);
                return;
        }
        token_record_clear(&t);
        if (r == 0) {
                r = tokens_rotate_fleet(d->db, d->config->state_dir, p->id, p->digest, p->rotated, p->grace);
                if (r == -EKEYREVOKED) {
                        pending_answer(p, error_reply("io.enrich.TokenRevoked", json_pack("{s:s}", "id", p->id)));
                        return;
                }
                if (r < 0) {
                        pending_answer(p, database_error(d, "io.enrich.TokenRotate"));
                        return;
                }
                (void) audit_recordf(d, &p->peer, p->user, AUDIT_TOKEN_ROTATED, AUDIT_OK, "{s:s, s:b, s:I}", "tokenId",
                                     p->id, "fleet", true, "grace", (json_int_t) p->grace);
        }
        put_done(d, r, error, existed, p);
}

json_t *fleet_method_token_rotate(enrichd *d, const method_call *call, const char *id, const char *verifier,
                                  int64_t grace, json_t *(*record_json)(const token_record *t, int64_t now)) {
        token_record t = { 0 };
        char *digest = NULL, *error = NULL;
        json_t *reply = NULL, *record = NULL;
        pending *p = NULL;
        bool fleet_token = false;
        int64_t now = clock_now();
        int r;

        if (!d->fleet)
                return NULL;
        if (fleet_is_fleet_token(d, id, &fleet_token) < 0)
                return database_error(d, "io.enrich.TokenRotate");
        /* A token that is no fleet one, unknown, revoked or expired: the
         * local rotation answers (or says why not). */
        if (!fleet_token || tokens_get(d->db, id, &t) < 0 || t.revoked || t.expires <= now)
                goto out;
        /* This host holds it as the fleet gave it ("fleet:BY"): the record
         * says who made it as the issuer wrote it first. */
        if (strncmp(t.created_by, "fleet:", 6) == 0)
                memmove(t.created_by, t.created_by + 6, strlen(t.created_by + 6) + 1);
        /* Rotations of one token are ordered by their time, in seconds:
         * never the same second as the one before. */
        t.rotated = now > t.rotated ? now : t.rotated + 1;
        t.previous_until = grace > 0 ? t.rotated + grace : 0;
        if (tokens_verifier_digest(verifier, &digest) < 0 ||
            !(p = pending_new(d, call, NULL, "token rotation", "ENRICH_TOKEN", id, t.user)) ||
            !(p->digest = strdup(digest)) || !(record = record_json(&t, now)) ||
            json_object_set_new(record, "fleet", json_true()) < 0 ||
            !(p->reply = varlink_reply_new(json_pack("{s:O}", "token", record), false))) {
                pending_free(p);
                reply = internal_error("out of memory");
                goto out;
        }
        p->rotated = t.rotated;
        p->grace = grace;
        /* This host rotates it once etcd has the record (so a rotation
         * right after this one is ordered after it); every other host when
         * its watch sees the record. */
        r = fleet_put_token(d, &t, digest, rotate_done, p, &error);
        reply = queued_or_error(p, r, error, t.user);
out:
        token_record_clear(&t);
        json_decref(record);
        free(digest);
        free(error);
        return reply;
}

json_t *fleet_method_token_revoke(enrichd *d, const method_call *call, json_t *params, const char *id, bool known,
                                  fleet_then then) {
        return revoke_in_fleet(
                d, call, params, id, known, then, "io.enrich.TokenRevoke", "token", "ENRICH_TOKEN",
                fleet_is_fleet_token, fleet_revoke_token,
                d->fleet ? varlink_reply_new(json_pack("{s:i, s:b}", "sessionsRevoked", 0, "changed", true), false)
                         : NULL);
}

/* The identity record is in etcd: this host applies it now (then), as
 * the others will when they see it. */
static void identity_done(enrichd *d, int r, const char *error, bool existed, void *userdata) {
        pending *p = userdata;

        if (r < 0) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_USER", p->user, NULL },
                           "Fleet %s of %s by %s failed: %s", p->noun, p->user, p->by, error ? error : strerror(-r));
                pending_answer(p, fleet_error(r, error));
                return;
        }
        pending_answer(p, p->then(d, &p->peer, p->params));
}

/* Disable or enable with fleet=true: the signed identity record into etcd. */
static json_t *put_identity(enrichd *d, const method_call *call, json_t *params, const char *user, bool disabled,
                            const char *reason, const char *by, int64_t at, fleet_then then) {
        char *error = NULL;
        json_t *reply = NULL;
        pending *p;
        bool fleet_call = false;
        int r;

        if ((reply = get_fleet_flag(params, &fleet_call)) || !fleet_call)
                return reply;
        p = pending_new(d, call, params, disabled ? "disable" : "enable", "ENRICH_USER", NULL, user);
        if (!p)
                return internal_error("out of memory");
        p->then = then;
        r = fleet_put_identity(d, user, disabled, reason, by, at, identity_done, p, &error);
        reply = queued_or_error(p, r, error, user);
        free(error);
        return reply;
}

json_t *fleet_method_disable(enrichd *d, const method_call *call, json_t *params, const char *user, const char *reason,
                             const char *by, int64_t at, fleet_then then) {
        return put_identity(d, call, params, user, true, reason, by, at, then);
}

json_t *fleet_method_enable(enrichd *d, const method_call *call, json_t *params, const char *user, const char *by,
                            int64_t at, fleet_then then) {
        return put_identity(d, call, params, user, false, NULL, by, at, then);
}

/* FleetStatus, FleetHosts, FleetJwks: from the daemon's memory, never
 * from etcd, so they answer at once even when etcd does not. */
json_t *method_fleet_status(enrichd *d, const method_call *call, json_t *params) {
        json_t *status = NULL;

        if (fleet_status(d, &status) < 0)
                return database_error(d, "io.enrich.FleetStatus");
        return varlink_reply_new(status, false);
}

/* A host's row of FleetHosts, offered to the page; its key is (0, id). */
static int add_host_row(const char *id, json_t *record, void *userdata) {
        json_t *row = json_pack("{s:s, s:O*, s:O*, s:O*, s:O*}", "hostId", id, "hostname",
                                json_object_get(record, "hostname"), "version", json_object_get(record, "version"),
                                "labels", json_object_get(record, "labels"), "since", json_object_get(record, "since"));

        return row ? page_add(userdata, row, 0, id) : -ENOMEM;
}

/* Pages of hosts and of their keys are ordered by host id: the cursor's
 * id is the last host's (a host id is at most 64 characters of a cursor
 * id's), its time part unused. */
static const char *after_host(const page *p) {
        return page_after(p) ? page_after(p)->id : NULL;
}

json_t *method_fleet_hosts(enrichd *d, const method_call *call, json_t *params) {
        page p = { 0 };
        json_t *reply;
        int r;

        if ((reply = page_begin(&p, params)))
                goto out;
        r = fleet_hosts_walk(d, after_host(&p), page_fetch(&p), add_host_row, &p);
        reply = listing_reply(d, &p, r, "io.enrich.FleetHosts", "hosts");
out:
        page_done(&p);
        return reply;
}

/* A page of FleetJwks: a row per host, {keys, leftOut, leftOutCount},
 * merged into one JWKS when answered. Left-out keys are named for admins
 * only, FLEET_MAX_LEFT_OUT per page at most; all are counted. */
typedef struct jwks_page {
        enrichd *d;
        page *page;
        bool admin;
        size_t named;
} jwks_page;

/* One host's row at its bounds, as page_add counts it, fits a page alone
 * (so a page that takes its first host never passes the message limit):
 * JWKS_MAX_KEYS keys of base64url kid and x with their fixed members, and
 * the left-out keys named, each a host id, a kid of which each byte may
 * be escaped as two, and a reason of at most 64 bytes. */
_Static_assert(JWKS_MAX_KEYS *(FLEET_MAX_KID + FLEET_MAX_X + 96) +
                               FLEET_MAX_LEFT_OUT * (64 + 2 * FLEET_MAX_KID + 64 + 48) + 256 <
                       PAGE_MAX_BYTES,
               "one host's keys fit one FleetJwks page");

static int add_host_keys(const char *id, json_t *record, void *userdata) {
        jwks_page *j = userdata;
        json_t *keys = NULL, *left_out = NULL, *row;
        size_t count, room;
        int r;

        r = fleet_host_jwks(j->d, id, record, &keys, &left_out);
        if (r < 0)
                return r;
        count = json_array_size(left_out);
        room = j->admin ? FLEET_MAX_LEFT_OUT - j->named : 0;
        while (json_array_size(left_out) > room)
                json_array_remove(left_out, json_array_size(left_out) - 1);
        row = json_pack("{s:o, s:O, s:I}", "keys", keys, "leftOut", left_out, "leftOutCount", (json_int_t) count);
        count = json_array_size(left_out);
        json_decref(left_out);
        if (!row)
                return -ENOMEM;
        r = page_add(j->page, row, 0, id);
        if (r == 0)
                j->named += count;
        return r;
}

/* The reply of a FleetJwks page: its hosts' keys as one JWKS (a kid once:
 * two hosts may list one key), the left-out ones and their count, and
 * next from the page. */
static json_t *jwks_reply(page *p) {
        json_t *listing = page_reply(p, "hosts"), *keys = json_array(), *left_out = json_array(), *seen = json_object(),
               *row, *k, *reply = NULL;
        json_int_t count = 0;
        size_t i, j;

        if (!listing || !keys || !left_out || !seen)
                goto out;
        json_array_foreach(json_object_get(listing, "hosts"), i, row) {
                json_array_foreach(json_object_get(row, "keys"), j, k) {
                        const char *kid = json_string_value(json_object_get(k, "kid"));
                        if (json_object_get(seen, kid))
                                continue;
                        if (json_object_set(seen, kid, json_true()) < 0 || json_array_append(keys, k) < 0)
                                goto out;
                }
                if (json_array_extend(left_out, json_object_get(row, "leftOut")) < 0)
                        goto out;
                count += json_integer_value(json_object_get(row, "leftOutCount"));
        }
        reply = json_pack("{s:{s:O}, s:O, s:I, s:O*}", "jwks", "keys", keys, "leftOut", left_out, "leftOutCount", count,
                          "next", json_object_get(listing, "next"));
out:
        json_decref(listing);
        json_decref(keys);
        json_decref(left_out);
        json_decref(seen);
        return reply ? varlink_reply_new(reply, false) : internal_error("out of memory");
}

json_t *method_fleet_jwks(enrichd *d, const method_call *call, json_t *params) {
        page p = { 0 };
        /* Which hosts publish keys no issuer vouched for is for admins,
         * as fleet hosts is; anyone else learns how many. */
        jwks_page j = { .d = d,
                        .page = &p,
                        .admin = call->admin || identity_is_admin(d->config->admin_group, call->peer->uid) };
        json_t *reply;
        int r;

        if ((reply = page_begin(&p, params)))
                goto out;
        r = fleet_hosts_walk(d, after_host(&p), page_fetch(&p), add_host_keys, &j);
        reply = r < 0 ? internal_error(strerror(-r)) : jwks_reply(&p);
out:
        page_done(&p);
        return reply;
}

/* An enrolment is in etcd, or failed to get there (p->id the host,
 * p->user its keys, comma-separated). */
static void enroll_done(enrichd *d, int r, const char *error, bool existed, void *userdata) {
        pending *p = userdata;
        json_t *reply;

        if (r < 0) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", p->id, NULL },
                           "Fleet enrolment of host %s with key(s) %s by %s failed: %s", p->id, p->user, p->by,
                           error ? error : strerror(-r));
                pending_answer(p, fleet_error(r, error));
                return;
        }
        log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", p->id, NULL },
                   "Fleet enrolment of host %s with key(s) %s by %s written to etcd", p->id, p->user, p->by);
        (void) audit_recordf(d, &p->peer, NULL, AUDIT_FLEET_ENROLLED, AUDIT_OK, "{s:s, s:O}", "hostId", p->id, "kids",
                             json_object_get(json_object_get(p->reply, "parameters"), "kids"));
        reply = p->reply;
        p->reply = NULL;
        pending_answer(p, reply);
}

/* list's strings joined by ",", for the journal; NULL when out of memory. */
static char *join_kids(const char *const *list) {
        size_t n = 1;
        char *s;

        for (size_t i = 0; list[i]; i++)
                n += strlen(list[i]) + 1;
        s = calloc(1, n);
        for (size_t i = 0; s && list[i]; i++) {
                if (i > 0)
                        strcat(s, ",");
                strcat(s, list[i]);
        }
        return s;
}

/* A kid as enrichd makes them: base64url, 43 characters (SHA-256). */
static bool valid_kid(const enrichd *d, const char *s) {
        size_t n = strlen(s);

        return n == 43 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* FleetEnroll: an issuer vouches for a host's keys; answered once the
 * enrolment is in etcd. */
json_t *method_fleet_enroll(enrichd *d, const method_call *call, json_t *params) {
        const char *host = json_string_value(json_object_get(params, "hostId"));
        const char **kids = NULL;
        char *error = NULL, *joined = NULL;
        json_t *reply = NULL;
        pending *p = NULL;
        int r;

        if (!host || !fleet_name_valid(host))
                return invalid_parameter("hostId", "letters, digits, '-', '_' and '.' only, at most 64");
        if ((reply = get_value_list(d, params, "kids", valid_kid, "an RFC 7638 thumbprint", &kids)))
                return reply;
        if (!kids)
                return invalid_parameter("kids", "names no key: give the thumbprint of at least one");
        joined = join_kids(kids);
        p = joined ? pending_new(d, call, NULL, "enrolment", "ENRICH_FLEET_HOST", host, joined) : NULL;
        if (!p || !(p->reply = varlink_reply_new(json_pack("{s:s, s:o}", "hostId", host, "kids",
                                                           strv_to_json((char *const *) kids)),
                                                 false))) {
                pending_free(p);
                reply = internal_error("out of memory");
                goto out;
        }
        r = fleet_enrol(d, host, kids, p->by, enroll_done, p, &error);
        if (r == 0) {
                reply = json_null();
                goto out;
        }
        log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", host, NULL },
                   "Fleet enrolment of host %s with key(s) %s by %s refused: %s", host, joined, p->by,
                   error ? error : strerror(-r));
        pending_free(p);
        if (r == -ENOENT)
                reply = error_reply("io.enrich.FleetNoSuchHost", json_pack("{s:s, s:s}", "hostId", host, "reason",
                                                                           error ? error : "no presence record"));
        else if (r == -ENXIO || r == -EKEYREJECTED)
                reply = error_reply("io.enrich.FleetKeyMismatch",
                                    json_pack("{s:s, s:s}", "hostId", host, "reason", error ? error : "no such key"));
        else if (r == -EINVAL)
                reply = invalid_parameter("kids", error ? error : "too many keys");
        else
                reply = fleet_error(r, error);
out:
        free(kids);
        free(joined);
        free(error);
        return reply;
}

/* FleetCheck (doctor): unlike the three above, asks etcd, on fleet.c's
 * writer thread; answered once it has. */
static void check_done(enrichd *d, int r, const char *error, json_t *check, void *userdata) {
        pending *p = userdata;

        pending_answer(p, r < 0 ? fleet_error(r, error) : varlink_reply_new(json_incref(check), false));
}

json_t *method_fleet_check(enrichd *d, const method_call *call, json_t *params) {
        pending *p = NULL;
        char *error = NULL;
        json_t *reply;
        int r;

        if (!d->fleet)
                return varlink_reply_new(json_pack("{s:b}", "enabled", false), false);
        p = pending_new(d, call, NULL, "check", "ENRICH_FLEET_CALL", "FleetCheck", NULL);
        if (!p)
                return internal_error("out of memory");
        r = fleet_check(d, check_done, p, &error);
        if (r < 0) {
                pending_free(p);
                reply = fleet_error(r, error);
        } else
                reply = json_null();
        free(error);
        return reply;
}
