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
#include "sign_worker.h"
#include "signer.h"
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

/* An Enrich call between its two halves: read, checked and evaluated, its
 * claims built; then, once the token is signed, delivered and written. */
typedef struct enrich_call {
        struct enrich_call *next;       /* in d->pending_enrich */
        const enrichd *d;
        json_t *params;                 /* the call's; req's strings point into it */
        json_t *reply;                  /* deferred: the reply the server holds */
        struct ucred peer;
        enrich_request req;
        login_context ctx;              /* its strings point into req; no pw */
        evaluation ev;
        char *sid, *claims_text;
        char *audit_details;            /* enrich_audit_details, when made by the signer */
        json_t *claims;
        int64_t now, expires;
        sign_job *job;                  /* deferred: its signature */
} enrich_call;

/* The details of an issued token's audit row (audit_record_text): its
 * claims and the rules and grants behind them. Made where the token is
 * signed (sign_worker.h), from the claims and what the call leaves alone
 * until then: its request and evaluation. */
static char *enrich_audit_details(json_t *claims, void *userdata) {
        const enrich_call *c = userdata;
        const enrich_request *req = &c->req;
        json_t *details = audit_claims_summary(claims);
        char *text = NULL;

        if (details &&
            json_object_update_new(details, json_pack("{s:s, s:s*, s:s*, s:s*, s:o, s:o, s:s*, s:I}", "service",
                                                      req->service, "tty", req->tty, "rhost", req->rhost, "ruser",
                                                      req->ruser, "rules", strv_to_json(c->ev.result->matched_rules),
                                                      "grants", strv_to_json(c->ev.result->used_grants), "tokenId",
                                                      req->token_id, "pid", (json_int_t) req->pid)) == 0)
                text = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(details);
        return text;
}

/* A deferred call's claims, built where they are signed (sign_worker.h)
 * from what the call leaves alone until then. */
static json_t *enrich_build_claims(void *userdata) {
        const enrich_call *c = userdata;

        return issue_new_claims(c->d, &c->ctx, &c->ev, c->sid, c->now, c->expires);
}

static void enrich_call_free(enrich_call *c) {
        if (!c)
                return;
        json_decref(c->params);
        json_decref(c->reply);
        free(c->req.amr);
        evaluation_clear(&c->ev);
        free(c->sid);
        free(c->claims_text);
        free(c->audit_details);
        json_decref(c->claims);
        free(c);
}

/* The first half, up to the claims to sign and their text, or, for a call
 * whose claims are built and signed on the signer thread, up to their exp:
 * NULL, or the error reply. */
static json_t *enrich_prepare(enrichd *d, const method_call *call, enrich_call *c) {
        login_context ctx;
        char *pwbuf = NULL;
        struct passwd pw;
        json_t *reply = NULL;
        bool found, defer;
        int r;

        reply = parse_enrich(c->params, &c->req);
        if (reply)
                goto out;
        /* One reading of the clock and one of NSS for the whole call: iat,
         * nbf and the row's times agree, and the disabled check and policy
         * see the same entry. */
        c->now = clock_now();
        found = identity_lookup_user(c->req.user, 0, &pw, &pwbuf) == 0;
        /* Disabled users and token logins (issue 5): may rewrite req.amr. */
        reply = account_check_enrich(d, c->req.user, found ? &pw : NULL, c->req.token_id, c->now, &c->req.amr);
        if (reply) {
                /* Its audit row after those of the calls before it. */
                session_enrich_finish(d);
                (void) audit_record_refusal(d, call->peer, c->req.user, AUDIT_ENRICH_REFUSED, AUDIT_DENIED,
                                            "io.enrich.Enrich",
                                            json_pack("{s:s, s:s*, s:s*, s:s*}", "service", c->req.service, "rhost",
                                                      c->req.rhost, "tokenId", c->req.token_id, "error",
                                                      json_string_value(json_object_get(reply, "error"))));
                goto out;
        }
        if (live_count(d->live) + d->n_pending_enrich >= LIVE_MAX_SESSIONS) {
                log_error("Refusing enrichment of %s: %d live sessions, the maximum", c->req.user, LIVE_MAX_SESSIONS);
                reply = internal_error("too many live sessions");
                goto out;
        }
        ctx = (login_context) { .user = c->req.user,
                                .service = c->req.service,
                                .tty = c->req.tty,
                                .rhost = c->req.rhost,
                                .ruser = c->req.ruser,
                                .amr = (char *const *) c->req.amr,
                                .asid = c->req.has_asid ? c->req.asid : -1,
                                .pw = found ? &pw : NULL,
                                .new_without_token = !c->req.token_id };
        r = issue_evaluate(d, &ctx, c->now, true, &c->ev);
        if (r == -ENOENT) {
                reply = no_such_user(c->req.user);
                goto out;
        }
        if (r == -EIO) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to evaluate policy for %s", c->req.user);
                reply = internal_error("failed to evaluate policy");
                goto out;
        }
        if (issue_session_id(clock_wall_ms(), &c->sid) < 0) {
                reply = internal_error("failed to generate random ids");
                goto out;
        }
        defer = d->sign_worker && !c->req.token_id;
        issue_log_conflict(&ctx, &c->ev, c->sid);
        /* A token login's scope limit is read back by sid (issue_claims):
         * its binding row comes first, and such calls are never deferred. */
        if (c->req.token_id) {
                if (db_begin(d->db) < 0 || tokens_bind_session(d->db, c->sid, c->req.token_id) < 0) {
                        db_rollback(d->db);
                        reply = database_error(d, "io.enrich.Enrich");
                        goto out;
                }
        }
        c->ctx = ctx;
        c->ctx.pw = NULL;
        c->d = d;
        /* A deferred call's claims are built and written where they are
         * signed; its exp is known here already. */
        if (defer) {
                c->expires = issue_new_expiry(d, &c->ev, c->now);
                goto out;
        }
        r = issue_claims(d, &ctx, &c->ev, c->sid, c->now, &c->claims_text, &c->claims, &c->expires);
        if (r < 0) {
                if (c->req.token_id)
                        db_rollback(d->db);
                log_error_errno(r, "Failed to sign claims for %s", c->req.user);
                reply = internal_error("failed to sign the token");
                goto out;
        }
out:
        free(pwbuf);
        return reply;
}

/* The second half, with the token signed (or r < 0): the token reaches the
 * login's key, then the session's rows (token binding, session, audit) are
 * written together, in the turn's batch (db.h), so a failure leaves none of
 * them behind. A token login's transaction is open already (enrich_prepare).
 * Returns the reply. */
static json_t *enrich_complete(enrichd *d, enrich_call *c, int r, const char *token, int64_t pid_start) {
        json_t *reply = NULL;
        int64_t key_serial = 0;
        char *amr = NULL;
        bool writing = c->req.token_id != NULL;

        if (!writing) {
                if (db_begin(d->db) < 0) {
                        reply = database_error(d, "io.enrich.Enrich");
                        goto out;
                }
                writing = true;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to sign claims for %s", c->req.user);
                reply = internal_error("failed to sign the token");
                goto out;
        }
        /* The token is signed and nothing is written yet but its binding:
         * it reaches the login's key before its row exists. */
        reply = deliver_to_key(c->params, c->req.user, token, c->expires, &key_serial);
        if (reply)
                goto out;
        amr = amr_json_text(c->req.amr);
        session_row row = {
                .sid = c->sid,
                .user = c->req.user,
                .uid = c->ev.uid,
                .service = c->req.service,
                .tty = c->req.tty,
                .rhost = c->req.rhost,
                .ruser = c->req.ruser,
                .pid = c->req.pid,
                .asid = c->req.has_asid ? c->req.asid : -1,
                .created = c->now,
                .expires = c->expires,
                .claims = c->claims_text,
                .amr = amr,
                .pid_start = pid_start,
                .token_issued = c->now,
                .key_serial = key_serial,
        };
        r = sessions_insert(d->db, &row);
        if (r < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        r = live_add(d, &row, (char *const *) c->req.amr, issue_ends_early(d, &c->ev, c->now, c->expires));
        if (r < 0) {
                /* Not refreshable means not revocable: refuse rather than hand
                 * out a token nobody could take back early (and keep no row). */
                log_error_errno(r, "Failed to track session %s", c->sid);
                reply = internal_error("failed to track the session");
                goto out;
        }
        if (!c->audit_details)
                c->audit_details = enrich_audit_details(c->claims, c);
        (void) audit_record_text(d, &c->peer, c->req.user, AUDIT_ENRICH_ISSUED, AUDIT_OK, c->audit_details, c->sid,
                                 json_string_value(json_object_get(c->claims, "jti")));
        r = db_commit(d->db);
        writing = false;
        if (r < 0) {
                (void) live_forget(d, c->sid);
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        /* Its row commits with the turn's batch; if that is lost, so is
         * the live session. No journal line of its own: the audit row's
         * (enrich.issued, with sid, jti, rules and grants) is the one per
         * issuance. */
        (void) live_track_unsaved(d, c->sid);
        /* keyGroup: for callers without keySerial, which give this group
         * write/setattr on the key they make so the daemon can refresh and
         * revoke it. The token is in the key already when keySerial was
         * given. uid: what the module would otherwise look up again. */
        reply = varlink_reply_new(json_pack("{s:s, s:s*, s:I, s:I, s:I, s:I}", "sid", c->sid, "token",
                                            key_serial ? NULL : token, "expires", (json_int_t) c->expires, "ttl",
                                            (json_int_t) (c->expires - c->now), "keyGroup", (json_int_t) daemon_gid(),
                                            "uid", (json_int_t) c->ev.uid),
                                  false);
out:
        if (writing)
                db_rollback(d->db);
        free(amr);
        return reply;
}

/* Finishes the oldest pending calls until at most keep are left. */
static void finish_pending(enrichd *d, size_t keep) {
        while (d->pending_enrich && d->n_pending_enrich > keep) {
                enrich_call *c = d->pending_enrich;
                char *token = NULL;
                int64_t pid_start;
                json_t *reply;
                int r;

                d->pending_enrich = c->next;
                if (!d->pending_enrich)
                        d->pending_enrich_last = NULL;
                d->n_pending_enrich--;
                r = sign_job_collect(d->sign_worker, c->job, &token, &c->claims_text, &c->claims, &pid_start,
                                     &c->audit_details);
                reply = enrich_complete(d, c, r, token, pid_start);
                /* The server holds c->reply (an empty success): it becomes
                 * this one, success or error, in place. */
                json_object_clear(c->reply);
                if (!reply || json_object_update(c->reply, reply) < 0)
                        (void) json_object_set_new(c->reply, "error", json_string("io.enrich.InternalError"));
                json_decref(reply);
                free(token);
                enrich_call_free(c);
        }
}

void session_enrich_finish(enrichd *d) {
        finish_pending(d, 0);
}

size_t session_enrich_pending(const enrichd *d) {
        return d->n_pending_enrich;
}

/* Every enriched login gets a token, even one that policy gives nothing:
 * identity, amr and sid still travel, and the key exists to be refreshed
 * when a grant arrives. With the signer thread running (main.c), a call
 * without tokenId is answered at the end of its turn: its claims go to be
 * signed, and session_enrich_finish() does the rest before the turn's
 * commit, in call order. */
json_t *method_enrich(enrichd *d, const method_call *call, json_t *params) {
        enrich_call *c = calloc(1, sizeof *c);
        char *token = NULL;
        int64_t pid_start;
        json_t *reply = NULL;
        int r;

        if (!c)
                return internal_error("out of memory");
        c->params = json_incref(params);
        c->peer = *call->peer;
        /* A token login is never deferred, and its checks may write
         * (failure counts, audit rows): after the calls before it. */
        if (json_object_get(params, "tokenId"))
                session_enrich_finish(d);
        reply = enrich_prepare(d, call, c);
        if (reply)
                goto out;
        if (!c->claims_text && sign_worker_submit(d->sign_worker, d->signer, enrich_build_claims, (pid_t) c->req.pid,
                                                  enrich_audit_details, c, &c->job) == 0) {
                c->reply = varlink_reply_new(NULL, false);
                if (!c->reply) {
                        /* Collected here, so no job outlives the call. */
                        r = sign_job_collect(d->sign_worker, c->job, &token, &c->claims_text, &c->claims, &pid_start,
                                             &c->audit_details);
                        reply = enrich_complete(d, c, r, token, pid_start);
                        goto out;
                }
                reply = json_incref(c->reply);
                if (d->pending_enrich_last)
                        d->pending_enrich_last->next = c;
                else
                        d->pending_enrich = c;
                d->pending_enrich_last = c;
                d->n_pending_enrich++;
                /* The turn's budget (server.h) counts the calls' first
                 * halves only: the second halves wait for its end, at
                 * most SESSION_ENRICH_MAX_PENDING of them. */
                finish_pending(d, SESSION_ENRICH_MAX_PENDING);
                return reply;
        }
        /* Signed here: a token login (its binding's transaction is open),
         * no signer thread, or a queue that would not take the job (its
         * claims' text is written here then). */
        session_enrich_finish(d);
        if (!c->claims)
                c->claims = enrich_build_claims(c);
        if (!c->claims_text && c->claims)
                c->claims_text = json_dumps(c->claims, JSON_COMPACT);
        r = c->claims_text ? signer_sign(d->signer, c->claims_text, &token) : -ENOMEM;
        reply = enrich_complete(d, c, r, token, live_pid_start((pid_t) c->req.pid));
out:
        free(token);
        enrich_call_free(c);
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
