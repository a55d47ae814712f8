/* session_methods.c: the io.enrich methods of login sessions: Enrich and
 * AttachKey (the PAM module's, as root), EndSession, ListSessions, Status,
 * RevokeSession and Refresh. Who may call each stands in dispatch.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "account_methods.h"
#include "audit.h"
#include "clock.h"
#include "host.h"
#include "identity.h"
#include "issue.h"
#include "keyring.h"
#include "live.h"
#include "log.h"
#include "method_support.h"
#include "paging.h"
#include "session_methods.h"
#include "sessions.h"
#include "tokens.h"
#include "util.h"
#include "varlink.h"
#include "varlink_service.h"

static json_t *no_such_session(const char *sid) {
        return error_reply("io.enrich.NoSuchSession", json_pack("{s:s}", "sid", sid));
}

static char *amr_json_text(const char *const *amr) {
        json_t *a = amr ? strv_to_json((char *const *) amr) : NULL;
        char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;

        json_decref(a);
        return text;
}

typedef struct enrich_request {
        const char *user, *service, *tty, *rhost, *ruser, *token_id;
        json_int_t pid, asid;
        bool has_asid;
        const char **amr;
} enrich_request;

static json_t *parse_enrich(json_t *params, enrich_request *req) {
        json_t *e;
        bool set;

        if ((e = get_string(params, "user", true, MAX_NAME_LENGTH, &req->user)) ||
            (e = get_string(params, "service", true, MAX_NAME_LENGTH, &req->service)) ||
            (e = get_string(params, "tty", false, MAX_NAME_LENGTH, &req->tty)) ||
            (e = get_string(params, "rhost", false, MAX_NAME_LENGTH, &req->rhost)) ||
            (e = get_string(params, "ruser", false, MAX_NAME_LENGTH, &req->ruser)) ||
            (e = get_string(params, "tokenId", false, MAX_NAME_LENGTH, &req->token_id)) ||
            (e = get_int(params, "pid", true, 0, INT32_MAX, &req->pid, &set)) ||
            (e = get_int(params, "asid", false, 0, (json_int_t) HOST_AUDIT_SESSION_UNSET - 1, &req->asid,
                         &req->has_asid)) ||
            (e = get_amr(params, &req->amr)))
                return e;
        return NULL;
}

/* The audit row of an issued token: its claims and the rules and grants
 * behind them. */
static void audit_enrich_issued(enrichd *d, const struct ucred *peer, const enrich_request *req, const evaluation *ev,
                                json_t *claims) {
        json_t *details = audit_claims_summary(claims);

        if (details)
                json_object_update_new(details, json_pack("{s:s, s:s*, s:s*, s:s*, s:o, s:o, s:s*, s:I}", "service",
                                                          req->service, "tty", req->tty, "rhost", req->rhost, "ruser",
                                                          req->ruser, "rules", strv_to_json(ev->result->matched_rules),
                                                          "grants", strv_to_json(ev->result->used_grants), "tokenId",
                                                          req->token_id, "pid", (json_int_t) req->pid));
        (void) audit_record(d, peer, req->user, AUDIT_ENRICH_ISSUED, AUDIT_OK, details);
}

/* The daemon's group, asked of the kernel once (it never changes once the
 * socket serves calls): two getegid() calls per Enrich otherwise. */
static gid_t daemon_gid(void) {
        static gid_t gid = (gid_t) -1;

        if (gid == (gid_t) -1)
                gid = getegid();
        return gid;
}

/* The module's open in one round trip (docs/contract.md, "The keyring
 * key"): with keySerial, the module has made the claims key already, in
 * its thread keyring, with the placeholder payload, owner 0, this daemon's
 * group and the claims key's permissions; the token goes into it here, not
 * into the reply. A key that is not exactly that is refused, so a token
 * never lands in a key the daemon could not refresh or revoke later, nor
 * over another login's claims. Returns NULL with *ret_serial the key
 * written (0 without keySerial), or an error reply. */
static json_t *deliver_to_key(json_t *params, const char *user, const char *token, int64_t expires,
                              int64_t *ret_serial) {
        const char *reason = NULL;
        json_int_t serial;
        bool set = false;
        json_t *e;
        int r;

        if ((e = get_int(params, "keySerial", false, 1, INT32_MAX, &serial, &set)) || !set) {
                *ret_serial = 0;
                return e;
        }
        r = keyring_check_pending((key_serial_t) serial, daemon_gid(), &reason);
        if (r == 0)
                r = keyring_update_claims((key_serial_t) serial, token, expires);
        if (r < 0) {
                if (!reason)
                        reason = strerror(-r);
                log_error("Refusing key %lld for the claims of %s: %s", (long long) serial, user, reason);
                return error_reply("io.enrich.KeyRejected", json_pack("{s:I, s:s, s:I}", "keySerial", serial, "reason",
                                                                      reason, "keyGroup", (json_int_t) daemon_gid()));
        }
        *ret_serial = serial;
        return NULL;
}

/* Every enriched login gets a token, even one that policy gives nothing:
 * identity, amr and sid still travel, and the key exists to be refreshed
 * when a grant arrives. */
json_t *method_enrich(enrichd *d, const method_call *call, json_t *params) {
        enrich_request req = { 0 };
        evaluation ev = { 0 };
        login_context ctx;
        char *sid = NULL, *token = NULL, *claims_text = NULL, *amr = NULL;
        char *pwbuf = NULL;
        struct passwd pw;
        json_t *reply = NULL, *claims = NULL;
        int64_t now, expires = 0, key_serial = 0;
        bool found, writing = false;
        int r;

        reply = parse_enrich(params, &req);
        if (reply)
                goto out;
        /* One reading of the clock and one of NSS for the whole call: iat,
         * nbf and the row's times agree, and the disabled check and policy
         * see the same entry. */
        now = clock_now();
        found = identity_lookup_user(req.user, 0, &pw, &pwbuf) == 0;
        /* Disabled users and token logins (issue 5): may rewrite req.amr. */
        reply = account_check_enrich(d, req.user, found ? &pw : NULL, req.token_id, now, &req.amr);
        if (reply) {
                (void) audit_record_refusal(d, call->peer, req.user, AUDIT_ENRICH_REFUSED, AUDIT_DENIED,
                                            "io.enrich.Enrich",
                                            json_pack("{s:s, s:s*, s:s*, s:s*}", "service", req.service, "rhost",
                                                      req.rhost, "tokenId", req.token_id, "error",
                                                      json_string_value(json_object_get(reply, "error"))));
                goto out;
        }
        if (live_count(d->live) >= LIVE_MAX_SESSIONS) {
                log_error("Refusing enrichment of %s: %d live sessions, the maximum", req.user, LIVE_MAX_SESSIONS);
                reply = internal_error("too many live sessions");
                goto out;
        }
        ctx = (login_context) { .user = req.user,
                                .service = req.service,
                                .tty = req.tty,
                                .rhost = req.rhost,
                                .ruser = req.ruser,
                                .amr = (char *const *) req.amr,
                                .asid = req.has_asid ? req.asid : -1,
                                .pw = found ? &pw : NULL };
        r = issue_evaluate(d, &ctx, now, true, &ev);
        if (r == -ENOENT) {
                reply = no_such_user(req.user);
                goto out;
        }
        if (r == -EIO) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to evaluate policy for %s", req.user);
                reply = internal_error("failed to evaluate policy");
                goto out;
        }
        if (issue_random_id(&sid) < 0) {
                reply = internal_error("failed to generate random ids");
                goto out;
        }
        issue_log_conflict(&ctx, &ev, sid);
        /* The session's rows (token binding, session, audit) are written
         * together, in the turn's batch (db.h): a failure below leaves none
         * of them behind. */
        if (db_begin(d->db) < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        writing = true;
        /* Before signing: the token's scope limit is read back by sid. */
        if (req.token_id && tokens_bind_session(d->db, sid, req.token_id) < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        r = issue_sign(d, &ctx, &ev, sid, now, &token, &claims_text, &claims, &expires);
        if (r < 0) {
                log_error_errno(r, "Failed to sign claims for %s", req.user);
                reply = internal_error("failed to sign the token");
                goto out;
        }
        /* The token is signed and nothing is written yet but its binding:
         * it reaches the login's key before its row exists. */
        reply = deliver_to_key(params, req.user, token, expires, &key_serial);
        if (reply)
                goto out;
        amr = amr_json_text(req.amr);
        session_row row = {
                .sid = sid,
                .user = req.user,
                .uid = ev.uid,
                .service = req.service,
                .tty = req.tty,
                .rhost = req.rhost,
                .ruser = req.ruser,
                .pid = req.pid,
                .asid = req.has_asid ? req.asid : -1,
                .created = now,
                .expires = expires,
                .claims = claims_text,
                .amr = amr,
                .pid_start = live_pid_start((pid_t) req.pid),
                .token_issued = now,
                .key_serial = key_serial,
        };
        r = sessions_insert(d->db, &row);
        if (r < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        r = live_add(d, &row, (char *const *) req.amr, issue_ends_early(d, &ev, now, expires));
        if (r < 0) {
                /* Not refreshable means not revocable: refuse rather than hand
                 * out a token nobody could take back early (and keep no row). */
                log_error_errno(r, "Failed to track session %s", sid);
                reply = internal_error("failed to track the session");
                goto out;
        }
        audit_enrich_issued(d, call->peer, &req, &ev, claims);
        r = db_commit(d->db);
        writing = false;
        if (r < 0) {
                (void) live_forget(d, sid);
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        /* Its row commits with the turn's batch; if that is lost, so is
         * the live session. */
        (void) live_track_unsaved(d, sid);
        /* No journal line of its own: the audit row's (enrich.issued, with
         * sid, jti, rules and grants) is the one per issuance. */
        /* keyGroup: for callers without keySerial, which give this group
         * write/setattr on the key they make so the daemon can refresh and
         * revoke it. The token is in the key already when keySerial was
         * given. uid: what the module would otherwise look up again. */
        reply = varlink_reply_new(json_pack("{s:s, s:s*, s:I, s:I, s:I, s:I}", "sid", sid, "token",
                                            key_serial ? NULL : token, "expires", (json_int_t) expires, "ttl",
                                            (json_int_t) (expires - now), "keyGroup", (json_int_t) daemon_gid(), "uid",
                                            (json_int_t) ev.uid),
                                  false);
out:
        if (writing)
                db_rollback(d->db);
        free(req.amr);
        free(pwbuf);
        evaluation_clear(&ev);
        free(sid);
        free(token);
        free(claims_text);
        json_decref(claims);
        free(amr);
        return reply;
}

json_t *method_attach_key(enrichd *d, const method_call *call, json_t *params) {
        const char *sid;
        json_int_t serial;
        bool set;
        json_t *e;
        int r;

        if ((e = get_string(params, "sid", true, MAX_NAME_LENGTH, &sid)) ||
            (e = get_int(params, "keySerial", true, 1, INT32_MAX, &serial, &set)))
                return e;
        r = sessions_attach_key(d->db, sid, serial);
        if (r == -ENOENT)
                return no_such_session(sid);
        if (r < 0)
                return database_error(d, "io.enrich.AttachKey");
        (void) live_attach_key(d, sid, (key_serial_t) serial);
        return varlink_reply_new(NULL, false);
}

/* Its journal line is the audit row's (session.ended, actor and sid). */
json_t *method_end_session(enrichd *d, const method_call *call, json_t *params) {
        const char *sid;
        json_t *e;
        int r;

        if ((e = get_string(params, "sid", true, MAX_NAME_LENGTH, &sid)))
                return e;
        r = sessions_end(d->db, sid, clock_now(), "closed");
        if (r == -ENOENT)
                return no_such_session(sid);
        if (r < 0)
                return database_error(d, "io.enrich.EndSession");
        (void) live_forget(d, sid);
        (void) audit_recordf(d, call->peer, NULL, AUDIT_SESSION_ENDED, AUDIT_OK, "{s:s, s:s}", "sid", sid, "reason",
                             "closed");
        return varlink_reply_new(NULL, false);
}

/* groups, scopes and tenant as the Session type has them, from the
 * stored claims payload. */
static int add_claims_fields(json_t *obj, const char *claims_text) {
        json_t *claims, *groups, *scope, *tenant, *scopes;
        int r = 0;

        claims = json_loads(claims_text ? claims_text : "{}", 0, NULL);
        groups = json_object_get(claims, "groups");
        scope = json_object_get(claims, "scope");
        tenant = json_object_get(claims, "tenant");
        scopes = json_array();
        if (!scopes) {
                r = -ENOMEM;
                goto out;
        }
        if (json_is_string(scope)) {
                char *copy = strdup(json_string_value(scope)), *save = NULL;
                if (!copy) {
                        json_decref(scopes);
                        r = -ENOMEM;
                        goto out;
                }
                for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
                        json_array_append_new(scopes, json_string(t));
                free(copy);
        }
        json_object_set_new(obj, "groups", json_is_array(groups) ? json_incref(groups) : json_array());
        json_object_set_new(obj, "scopes", scopes);
        if (json_is_string(tenant))
                json_object_set(obj, "tenant", tenant);
out:
        json_decref(claims);
        return r;
}

/* The io.enrich.Session of a row; NULL when out of memory. */
static json_t *session_to_json(const session_row *s) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I}", "sid", s->sid, "user", s->user, "uid",
                              (json_int_t) s->uid, "service", s->service, "pid", (json_int_t) s->pid, "created",
                              (json_int_t) s->created, "expires", (json_int_t) s->expires);

        if (o && s->tty)
                json_object_set_new(o, "tty", json_string(s->tty));
        if (o && s->rhost)
                json_object_set_new(o, "rhost", json_string(s->rhost));
        if (o && s->ruser)
                json_object_set_new(o, "ruser", json_string(s->ruser));
        if (o && s->asid >= 0)
                json_object_set_new(o, "asid", json_integer(s->asid));
        if (o && s->key_serial > 0)
                json_object_set_new(o, "keySerial", json_integer(s->key_serial));
        if (o && add_claims_fields(o, s->claims) < 0) {
                json_decref(o);
                o = NULL;
        }
        return o;
}

/* Storage's row callback: the session into the page. */
static int add_session_row(void *userdata, const session_row *s) {
        json_t *row = session_to_json(s);

        return row ? page_add(userdata, row, s->created, s->sid) : -ENOMEM;
}

json_t *method_list_sessions(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        page p = { 0 };
        json_t *reply;
        int r;

        if ((reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) || (reply = page_begin(&p, params)))
                goto out;
        /* Anyone but an admin sees only sessions of its own uid, whatever
         * it asks for. */
        r = sessions_list(d->db, self_or_admin_uid(call), user, page_after(&p), page_fetch(&p), add_session_row, &p);
        reply = listing_reply(d, &p, r, "io.enrich.ListSessions", "sessions");
out:
        page_done(&p);
        return reply;
}

json_t *method_status(enrichd *d, const method_call *call, json_t *params) {
        int64_t sessions = 0;

        if (sessions_count_active(d->db, &sessions) < 0)
                return database_error(d, "io.enrich.Status");
        return varlink_reply_new(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "version", ENRICH_VERSION, "issuer",
                                           d->config->issuer, "kid", signer_kid(d->signer), "policyVersion",
                                           d->policy_version, "sessions", (json_int_t) sessions, "uptime",
                                           (json_int_t) ((host_now_ms() - d->started_ms) / 1000)),
                                 false);
}

json_t *method_revoke_session(enrichd *d, const method_call *call, json_t *params) {
        const char *sid;
        char *by = NULL, reason[300];
        json_t *reply = NULL;
        int r;

        if ((reply = get_string(params, "sid", true, MAX_NAME_LENGTH, &sid)))
                goto out;
        by = peer_name(call->peer);
        snprintf(reason, sizeof reason, "revoked by %s", by ? by : "an admin");
        r = live_revoke(d, sid, reason);
        if (r == -ENOENT) {
                /* Not live (its key is gone already): close the row all the same. */
                r = sessions_end(d->db, sid, clock_now(), reason);
                if (r == -ENOENT) {
                        reply = no_such_session(sid);
                        goto out;
                }
                if (r < 0) {
                        reply = database_error(d, "io.enrich.RevokeSession");
                        goto out;
                }
                (void) audit_recordf(d, call->peer, NULL, AUDIT_SESSION_REVOKED, AUDIT_OK, "{s:s, s:s, s:b}", "sid",
                                     sid, "reason", reason, "live", 0);
        }
        log_decision(LOG_MSGID_SESSION_REVOKED, call->peer, NULL, NULL, sid, "Session %s %s", sid, reason);
        reply = varlink_reply_new(NULL, false);
out:
        free(by);
        return reply;
}

json_t *method_refresh(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        char *by = NULL;
        live_counts counts = { 0 };
        json_t *reply;

        if ((reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)))
                return reply;
        live_reissue(d, user, "refresh requested", &counts);
        by = peer_name(call->peer);
        log_decision(LOG_MSGID_SESSION_REFRESH, call->peer, NULL, user, NULL,
                     "Refresh of %s requested by %s: %d sessions re-issued, %d revoked", user ? user : "all sessions",
                     by ? by : "an admin", counts.updated, counts.revoked);
        free(by);
        return varlink_reply_new(json_pack("{s:i, s:i}", "sessionsUpdated", counts.updated, "sessionsRevoked",
                                           counts.revoked),
                                 false);
}
