/* account_methods.c: service-account tokens and disabled identities over
 * varlink. Token secrets never reach the daemon (the callers send the
 * verifier, svctoken.h), and the verifier itself is wiped from the parsed
 * request once it is hashed. A wrong secret for a known token id is counted
 * against that id and the attempt's source (delay, then a lock of the id
 * for that source that ends by itself); attempts that name no token are
 * delayed per source (throttle.c) and lock nothing.
 * The module is told the delay, so it can hold the login back with
 * pam_fail_delay without the daemon blocking its loop. */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "account_methods.h"
#include "audit.h"
#include "clock.h"
#include "host.h"
#include "identities.h"
#include "identity.h"
#include "fleet_methods.h"
#include "live.h"
#include "log.h"
#include "method_support.h"
#include "paging.h"
#include "offboard.h"
#include "sessions.h"
#include "throttle.h"
#include "tokens.h"
#include "util.h"
#include "varlink.h"

/* Wipes a verifier inside the parsed request: jansson keeps its own copy of
 * every string, which the server frees without wiping. */
static void wipe_param(json_t *params, const char *key) {
        json_t *v = json_object_get(params, key);

        if (json_is_string(v))
                OPENSSL_cleanse((char *) json_string_value(v), json_string_length(v));
}

static json_t *get_verifier(json_t *params, const char **ret) {
        json_t *e = get_string(params, "verifier", true, SVCTOKEN_VERIFIER_LENGTH, ret);

        if (e)
                return e;
        if (!svctoken_valid_verifier(*ret))
                return invalid_parameter("verifier", "must be 43 base64url characters (SHA-256 of the secret)");
        return NULL;
}

static json_t *get_token_id(json_t *params, const char *key, const char **ret) {
        json_t *e = get_string(params, key, true, SVCTOKEN_ID_LENGTH, ret);

        if (e)
                return e;
        if (!svctoken_valid_id(*ret))
                return invalid_parameter(key, "must be 16 lowercase hex digits");
        return NULL;
}

static bool scope_ok(const enrichd *d, const char *s) {
        return valid_scope(s);
}

static json_t *no_such_token(const char *id) {
        return error_reply("io.enrich.NoSuchToken", json_pack("{s:s}", "id", id));
}

static json_t *scopes_json(const char *scopes) {
        json_t *a = json_array();
        const char *p = scopes ? scopes : "";

        while (a && *p) {
                size_t n = strcspn(p, " ");
                if (n > 0 && json_array_append_new(a, json_stringn(p, n)) < 0) {
                        json_decref(a);
                        return NULL;
                }
                p += n;
                p += *p == ' ';
        }
        return a;
}

static const char *token_state(const token_record *t, int64_t now) {
        if (t->revoked)
                return "revoked";
        if (t->expires <= now)
                return "expired";
        return "active";
}

/* An io.enrich.TokenRecord. NULL when out of memory. */
static json_t *token_record_to_json(const token_record *t, int64_t now) {
        int64_t used = t->last_used ? t->last_used : t->created;
        json_t *o = json_pack("{s:s, s:s, s:I, s:o, s:I, s:s, s:I, s:s, s:b}", "id", t->id, "user", t->user, "uid",
                              (json_int_t) t->uid, "scopes", scopes_json(t->scopes), "created", (json_int_t) t->created,
                              "createdBy", t->created_by, "expires", (json_int_t) t->expires, "state",
                              token_state(t, now), "stale",
                              !t->revoked && t->expires > now && now - used >= TOKENS_STALE_SECONDS);

        if (!o)
                return NULL;
        if (t->description)
                json_object_set_new(o, "description", json_string(t->description));
        if (t->last_used)
                json_object_set_new(o, "lastUsed", json_integer(t->last_used));
        if (t->revoked)
                json_object_set_new(o, "revoked", json_integer(t->revoked));
        if (t->revoked_by)
                json_object_set_new(o, "revokedBy", json_string(t->revoked_by));
        if (t->rotated)
                json_object_set_new(o, "rotated", json_integer(t->rotated));
        if (t->previous_until > now)
                json_object_set_new(o, "graceUntil", json_integer(t->previous_until));
        return o;
}

static json_t *token_reply(enrichd *d, const char *method, const char *id, int64_t now) {
        token_record t = { 0 };
        json_t *record;

        if (tokens_get(d->db, id, &t) < 0)
                return database_error(d, method);
        record = token_record_to_json(&t, now);
        token_record_clear(&t);
        return record ? varlink_reply_new(json_pack("{s:o}", "token", record), false) : internal_error("out of memory");
}

static void log_token(int priority, const char *message_id, const char *id, const char *user, const char *by,
                      const char *format, ...) __attribute__((format(printf, 6, 7)));
static void log_token(int priority, const char *message_id, const char *id, const char *user, const char *by,
                      const char *format, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        log_struct(priority, message_id,
                   (const char *[]) { "ENRICH_TOKEN", id, "ENRICH_USER", user, "ENRICH_BY", by, NULL }, "%s", message);
}

/* ---- io.enrich.Authenticate -------------------------------------------- */

static json_t *auth_failed(const char *reason, int64_t delay_ms, bool locked) {
        return error_reply("io.enrich.AuthenticationFailed", json_pack("{s:s, s:I, s:b}", "reason", reason, "delayMs",
                                                                       (json_int_t) delay_ms, "locked", locked));
}

/* Where an attempt comes from, for token locks and for the delays of
 * attempts that name no token: the remote host, else the remote user (su,
 * sudo), else the service of a local login. */
static void attempt_source(const char *service, const char *rhost, const char *ruser, char *buf, size_t size) {
        if (rhost)
                snprintf(buf, size, "rhost:%s", rhost);
        else if (ruser)
                snprintf(buf, size, "ruser:%s", ruser);
        else
                snprintf(buf, size, "service:%s", service ? service : "");
}

/* The delay for a failure that named no token (unknown user or token id),
 * growing with the failures from the same source. Never a lock: nobody's
 * token is at stake, and the source may be shared with honest logins. */
static int64_t source_delay_ms(enrichd *d, const char *source) {
        unsigned n = throttle_fail(d->token_sources, source, clock_wall_ms());

        return tokens_failure_delay_ms(n, TOKENS_SOURCE_DELAY_MAX_MS);
}

json_t *method_authenticate(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *id, *verifier = NULL, *service, *rhost, *ruser;
        token_auth_result result = { 0 };
        token_lock_policy policy;
        struct passwd pw;
        char *pwbuf = NULL, failures[16], delay[32], lock[32], source[2 * MAX_NAME_LENGTH];
        char detail[2 * MAX_NAME_LENGTH + 128];
        json_t *reply = NULL, *record, *details;
        int64_t now_ms;
        int r;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_token_id(params, "tokenId", &id)) || (reply = get_verifier(params, &verifier)) ||
            (reply = get_string(params, "service", false, MAX_NAME_LENGTH, &service)) ||
            (reply = get_string(params, "rhost", false, MAX_NAME_LENGTH, &rhost)) ||
            (reply = get_string(params, "ruser", false, MAX_NAME_LENGTH, &ruser)))
                goto out;
        attempt_source(service, rhost, ruser, source, sizeof source);
        if (identity_lookup_user(user, 0, &pw, &pwbuf) < 0) {
                /* Not counted (no row per invented name), but not fast either. */
                log_struct(LOG_NOTICE, LOG_MSGID_TOKEN_AUTH_FAILED,
                           (const char *[]) { "ENRICH_USER", user, "ENRICH_TOKEN", id, "ENRICH_SERVICE", service,
                                              "ENRICH_RHOST", rhost, "ENRICH_REASON", "no such user", NULL },
                           "Token authentication of %s with token %s failed: no such user", user, id);
                /* No subject: invented names must not each start a window. */
                (void) audit_record_refusal(d, call->peer, NULL, AUDIT_TOKEN_REJECTED, AUDIT_REJECTED,
                                            "io.enrich.Authenticate",
                                            json_pack("{s:s, s:s, s:s, s:s*, s:s*}", "user", user, "tokenId", id,
                                                      "reason", "no such user", "service", service, "rhost", rhost));
                reply = auth_failed("no such user", source_delay_ms(d, source), false);
                goto out;
        }
        if (identities_is_disabled(d->db, &(identity_key) { .name = user, .canonical = pw.pw_name, .uid = pw.pw_uid },
                                   &r)) {
                log_struct(LOG_NOTICE, LOG_MSGID_TOKEN_AUTH_FAILED,
                           (const char *[]) { "ENRICH_USER", user, "ENRICH_TOKEN", id, "ENRICH_SERVICE", service,
                                              "ENRICH_RHOST", rhost, "ENRICH_REASON", "account disabled", NULL },
                           "Token authentication of %s with token %s failed: account disabled%s", user, id,
                           r < 0 ? " (database error, refusing)" : "");
                (void) audit_record_refusal(d, call->peer, user, AUDIT_TOKEN_REJECTED, AUDIT_REJECTED,
                                            "io.enrich.Authenticate",
                                            json_pack("{s:s, s:s, s:s*, s:s*}", "tokenId", id, "reason",
                                                      "account disabled", "service", service, "rhost", rhost));
                reply = auth_failed("account disabled", TOKENS_DELAY_BASE_MS, false);
                goto out;
        }
        policy = (token_lock_policy) { .max_failures = d->config->token_max_failures,
                                       .lock_ms = (int64_t) d->config->token_lock_seconds * 1000,
                                       .lock_max_ms = (int64_t) d->config->token_lock_max_seconds * 1000 };
        now_ms = clock_wall_ms();
        r = tokens_authenticate(d->db, d->config->state_dir, &policy, user, id, verifier, source, now_ms, &result);
        if (r < 0) {
                reply = database_error(d, "io.enrich.Authenticate");
                goto out;
        }
        if (result.unknown_id)
                result.delay_ms = source_delay_ms(d, source);
        snprintf(failures, sizeof failures, "%u", result.failures);
        snprintf(delay, sizeof delay, "%lld", (long long) result.delay_ms);
        snprintf(lock, sizeof lock, "%lld",
                 (long long) (result.locked_until_ms > now_ms ? (result.locked_until_ms - now_ms + 999) / 1000 : 0));
        if (result.outcome == TOKEN_AUTH_OK) {
                log_struct(LOG_INFO, LOG_MSGID_TOKEN_AUTH_OK,
                           (const char *[]) { "ENRICH_USER", user, "ENRICH_TOKEN", id, "ENRICH_SERVICE", service,
                                              "ENRICH_RHOST", rhost, NULL },
                           "Token %s authenticated %s (service %s%s%s)", id, user, service ? service : "?",
                           rhost ? ", from " : "", rhost ? rhost : "");
                (void) audit_recordf(d, call->peer, user, AUDIT_TOKEN_USED, AUDIT_OK, "{s:s, s:s*, s:s*, s:s*}",
                                     "tokenId", id, "service", service, "rhost", rhost, "scopes", result.token.scopes);
                record = token_record_to_json(&result.token, clock_now());
                reply = record ? varlink_reply_new(json_pack("{s:s, s:s, s:O, s:I}", "tokenId", id, "user", user,
                                                             "scopes", json_object_get(record, "scopes"), "expires",
                                                             (json_int_t) result.token.expires),
                                                   false)
                               : internal_error("out of memory");
                json_decref(record);
                goto out;
        }
        if (result.unknown_id)
                snprintf(detail, sizeof detail, "nothing counted; source %s waits %s ms", source, delay);
        else if (result.outcome == TOKEN_AUTH_LOCKED)
                snprintf(detail, sizeof detail, "for %s s more, for source %s", lock, source);
        else if (result.outcome == TOKEN_AUTH_TOO_SOON)
                snprintf(detail, sizeof detail, "not checked; next check from %s in %s ms", source, delay);
        else if (!result.counted)
                snprintf(detail, sizeof detail, "the secret was right: not counted");
        else
                snprintf(detail, sizeof detail,
                         "%u wrong secrets in a row from %s, next check in %s ms;"
                         " token %s: %u wrong secrets from %u sources",
                         result.failures, source, delay, id, result.id_failures, result.id_sources);
        log_struct(LOG_WARNING, LOG_MSGID_TOKEN_AUTH_FAILED,
                   (const char *[]) { "ENRICH_USER", user, "ENRICH_TOKEN", id, "ENRICH_SERVICE", service,
                                      "ENRICH_RHOST", rhost, "ENRICH_SOURCE", source, "ENRICH_REASON", result.reason,
                                      "ENRICH_FAILURES", failures, "ENRICH_DELAY_MS", delay, NULL },
                   "Token authentication of %s with token %s failed: %s (%s)", user, id, result.reason, detail);
        if (result.locked_now)
                log_struct(LOG_WARNING, LOG_MSGID_TOKEN_LOCKED,
                           (const char *[]) { "ENRICH_USER", result.owner, "ENRICH_TOKEN", id, "ENRICH_SOURCE", source,
                                              "ENRICH_FAILURES", failures, "ENRICH_LOCK_SECONDS", lock, NULL },
                           "Token %s of %s locked for %s s after %u wrong secrets in a row from %s "
                           "(other sources are not locked; token %s: %u wrong secrets from %u sources); "
                           "`enrichctl token unlock %s` unlocks it early",
                           id, result.owner, lock, result.failures, source, id, result.id_failures, result.id_sources,
                           result.owner);
        /* Aggregated like any refusal, but the attempt that locks a token
         * always gets its own row. */
        details = json_pack("{s:s, s:s*, s:s*, s:s*, s:s*, s:s, s:i, s:i, s:i, s:I, s:b}", "tokenId", id, "reason",
                            result.reason, "service", service, "rhost", rhost, "ruser", ruser, "source", source,
                            "failures", (int) result.failures, "idFailures", (int) result.id_failures, "idSources",
                            (int) result.id_sources, "delayMs", (json_int_t) result.delay_ms, "lockedNow",
                            result.locked_now);
        if (result.locked_now)
                (void) audit_record(d, call->peer, user, AUDIT_TOKEN_REJECTED, AUDIT_REJECTED, details);
        else
                (void) audit_record_refusal(d, call->peer, user, AUDIT_TOKEN_REJECTED, AUDIT_REJECTED,
                                            "io.enrich.Authenticate", details);
        reply = auth_failed(result.reason, result.delay_ms, result.outcome == TOKEN_AUTH_LOCKED || result.locked_now);
out:
        wipe_param(params, "verifier");
        token_auth_result_clear(&result);
        free(pwbuf);
        return reply;
}

/* ---- token administration ------------------------------------------------ */

json_t *method_token_issue(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *verifier = NULL, *description, **scopes = NULL;
        json_int_t ttl;
        struct passwd pw;
        char *pwbuf = NULL, *by = NULL, *scope_text = NULL;
        int64_t now = clock_now(), active = 0;
        token_record t = { 0 };
        json_t *reply = NULL;
        size_t len = 1;
        bool set;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_int(params, "ttl", true, 1, TOKENS_MAX_TTL, &ttl, &set)) ||
            (reply = get_verifier(params, &verifier)) ||
            (reply = get_string(params, "description", false, TOKENS_MAX_DESCRIPTION, &description)) ||
            (reply = get_value_list(d, params, "scopes", scope_ok, "a scope (printable, no spaces or quotes)",
                                    &scopes)))
                goto out;
        if (identity_lookup_user(user, 0, &pw, &pwbuf) < 0) {
                reply = no_such_user(user);
                goto out;
        }
        if (tokens_count_active(d->db, user, now, &active) < 0) {
                reply = database_error(d, "io.enrich.TokenIssue");
                goto out;
        }
        if (active >= TOKENS_MAX_ACTIVE) {
                reply = invalid_parameter("user", "the user has too many live tokens (100)");
                goto out;
        }
        for (size_t i = 0; scopes && scopes[i]; i++)
                len += strlen(scopes[i]) + 1;
        scope_text = calloc(1, len);
        by = peer_name(call->peer);
        if (!scope_text || !by || tokens_new_id(t.id) < 0) {
                reply = internal_error("out of memory");
                goto out;
        }
        for (size_t i = 0; scopes && scopes[i]; i++) {
                if (i > 0)
                        strcat(scope_text, " ");
                strcat(scope_text, scopes[i]);
        }
        t.user = (char *) user;
        t.uid = pw.pw_uid;
        t.scopes = scope_text;
        t.description = (char *) description;
        t.created = now;
        t.created_by = by;
        t.expires = now + ttl;
        /* Fleet mode: signed into etcd; every host, this one too, adds it
         * when its watch sees it. */
        if ((reply = fleet_method_token_issue(d, call, params, &t, verifier, token_record_to_json)))
                goto out;
        if (tokens_add(d->db, d->config->state_dir, &t, verifier) < 0) {
                reply = database_error(d, "io.enrich.TokenIssue");
                goto out;
        }
        (void) audit_recordf(d, call->peer, user, AUDIT_TOKEN_ISSUED, AUDIT_OK, "{s:s, s:s, s:s*, s:I, s:I}", "tokenId",
                             t.id, "scopes", scope_text, "description", description, "ttl", (json_int_t) ttl, "expires",
                             (json_int_t) t.expires);
        log_token(LOG_NOTICE, LOG_MSGID_TOKEN_ISSUED, t.id, user, by,
                  "Token %s issued to %s by %s for %llds (scopes: %s%s%s)", t.id, user, by, (long long) ttl,
                  *scope_text ? scope_text : "none", description ? "; " : "", description ? description : "");
        reply = token_reply(d, "io.enrich.TokenIssue", t.id, now);
out:
        wipe_param(params, "verifier");
        free(scopes);
        free(scope_text);
        free(pwbuf);
        free(by);
        return reply;
}

typedef struct token_page {
        page *page;
        int64_t now;
} token_page;

/* Storage's row callback: the token into the page. */
static int add_token_row(void *userdata, const token_record *t) {
        token_page *tp = userdata;
        json_t *row = token_record_to_json(t, tp->now);

        return row ? page_add(tp->page, row, t->created, t->id) : -ENOMEM;
}

json_t *method_token_list(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        page p = { 0 };
        json_t *reply;
        int r;

        if ((reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) || (reply = page_begin(&p, params)))
                goto out;
        r = tokens_list(d->db, user, page_after(&p), page_fetch(&p), add_token_row,
                        &(token_page) { .page = &p, .now = clock_now() });
        reply = listing_reply(d, &p, r, "io.enrich.TokenList", "tokens");
out:
        page_done(&p);
        return reply;
}

/* TokenRevoke on this host, after the fleet's part if any (fleet_then):
 * params' id was checked by method_token_revoke. */
static json_t *revoke_token_here(enrichd *d, const struct ucred *peer, json_t *params) {
        const char *id = json_string_value(json_object_get(params, "id"));
        char *by = NULL, reason[300];
        token_record t = { 0 };
        json_t *reply = NULL;
        bool changed = false;
        int r, sessions;

        by = peer_name(peer);
        r = tokens_get(d->db, id, &t);
        if (r == 0)
                r = tokens_revoke(d->db, id, by ? by : "admin", clock_now(), &changed);
        if (r == -ENOENT) {
                reply = no_such_token(id);
                goto out;
        }
        if (r < 0) {
                reply = database_error(d, "io.enrich.TokenRevoke");
                goto out;
        }
        snprintf(reason, sizeof reason, "token %s revoked by %s", id, by ? by : "an admin");
        sessions = live_revoke_token_sessions(d, id, reason);
        (void) audit_recordf(d, peer, t.user, AUDIT_TOKEN_REVOKED, AUDIT_OK, "{s:s, s:b, s:i}", "tokenId", id,
                             "wasActive", changed, "sessionsRevoked", sessions);
        log_token(LOG_NOTICE, LOG_MSGID_TOKEN_REVOKED, id, t.user, by,
                  "Token %s of %s revoked by %s%s; %d sessions revoked", id, t.user, by ? by : "an admin",
                  changed ? "" : " (it already was)", sessions);
        reply = varlink_reply_new(json_pack("{s:i, s:b}", "sessionsRevoked", sessions, "changed", changed), false);
out:
        token_record_clear(&t);
        free(by);
        return reply;
}

json_t *method_token_revoke(enrichd *d, const method_call *call, json_t *params) {
        const char *id;
        token_record t = { 0 };
        json_t *reply = NULL;
        int r;

        if ((reply = get_token_id(params, "id", &id)))
                return reply;
        r = tokens_get(d->db, id, &t);
        token_record_clear(&t);
        /* A fleet token goes from etcd first, so no host keeps it; the
         * revocation here follows once etcd answered. */
        if ((r == 0 || r == -ENOENT) &&
            (reply = fleet_method_token_revoke(d, call, params, id, r == 0, revoke_token_here)))
                return reply;
        return revoke_token_here(d, call->peer, params);
}

json_t *method_token_rotate(enrichd *d, const method_call *call, json_t *params) {
        const char *id, *verifier = NULL;
        json_int_t grace = 0;
        char *by = NULL;
        token_record t = { 0 };
        int64_t now = clock_now();
        json_t *reply = NULL;
        bool set;
        int r;

        if ((reply = get_token_id(params, "id", &id)) || (reply = get_verifier(params, &verifier)) ||
            (reply = get_int(params, "grace", false, 0, TOKENS_MAX_TTL, &grace, &set)))
                goto out;
        /* A fleet token: rotated through etcd, on every host. */
        if ((reply = fleet_method_token_rotate(d, call, id, verifier, grace, token_record_to_json)))
                goto out;
        r = tokens_rotate(d->db, d->config->state_dir, id, verifier, now, grace);
        if (r == -ENOENT) {
                reply = no_such_token(id);
                goto out;
        }
        if (r == -EKEYREVOKED) {
                reply = error_reply("io.enrich.TokenRevoked", json_pack("{s:s}", "id", id));
                goto out;
        }
        if (r < 0) {
                reply = database_error(d, "io.enrich.TokenRotate");
                goto out;
        }
        by = peer_name(call->peer);
        (void) tokens_get(d->db, id, &t);
        (void) audit_recordf(d, call->peer, t.user, AUDIT_TOKEN_ROTATED, AUDIT_OK, "{s:s, s:I}", "tokenId", id, "grace",
                             (json_int_t) grace);
        log_token(LOG_NOTICE, LOG_MSGID_TOKEN_ISSUED, id, t.user, by,
                  "Token %s of %s rotated by %s; the old secret works for %llds more", id, t.user ? t.user : "?",
                  by ? by : "an admin", (long long) grace);
        reply = token_reply(d, "io.enrich.TokenRotate", id, now);
out:
        wipe_param(params, "verifier");
        token_record_clear(&t);
        free(by);
        return reply;
}

json_t *method_token_unlock(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        char *by = NULL;
        json_t *reply;
        bool was = false;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)))
                return reply;
        if (tokens_unlock(d->db, user, clock_wall_ms(), &was) < 0)
                return database_error(d, "io.enrich.TokenUnlock");
        by = peer_name(call->peer);
        (void) audit_recordf(d, call->peer, user, AUDIT_TOKEN_UNLOCKED, AUDIT_OK, "{s:b}", "wasLocked", was);
        log_token(LOG_NOTICE, LOG_MSGID_TOKEN_LOCKED, NULL, user, by, "Token logins of %s unlocked by %s%s", user,
                  by ? by : "an admin", was ? "" : " (it was not locked)");
        free(by);
        return varlink_reply_new(json_pack("{s:b}", "wasLocked", was), false);
}

/* ---- disabled identities ------------------------------------------------- */

/* Disable on this host, after the fleet's write if any (fleet_then):
 * params' user and reason were checked by method_disable. */
static json_t *disable_here(enrichd *d, const struct ucred *peer, json_t *params) {
        const char *user = json_string_value(json_object_get(params, "user"));
        const char *why = json_string_value(json_object_get(params, "reason"));
        char *by = peer_name(peer);
        offboard_counts counts = { 0 };
        json_t *reply;

        if (!by)
                return internal_error("out of memory");
        if (offboard_disable(d, peer, user, why, by, clock_now(), &counts) < 0)
                reply = database_error(d, "io.enrich.Disable");
        else
                reply = varlink_reply_new(json_pack("{s:i, s:i, s:b, s:b}", "tokensRevoked", counts.tokens,
                                                    "sessionsRevoked", counts.sessions, "wasDisabled", counts.was,
                                                    "changed", !counts.was),
                                          false);
        free(by);
        return reply;
}

json_t *method_disable(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *why;
        char *by = NULL;
        json_t *reply = NULL;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "reason", true, IDENTITIES_MAX_REASON, &why)))
                return reply;
        by = peer_name(call->peer);
        if (!by)
                return internal_error("out of memory");
        reply = fleet_method_disable(d, call, params, user, why, by, clock_now(), disable_here);
        free(by);
        return reply ? reply : disable_here(d, call->peer, params);
}

/* Enable on this host, after the fleet's write if any (fleet_then). */
static json_t *enable_here(enrichd *d, const struct ucred *peer, json_t *params) {
        const char *user = json_string_value(json_object_get(params, "user"));
        char *by = peer_name(peer);
        json_t *reply;
        bool was = false;

        if (offboard_enable(d, peer, user, by ? by : "an admin", &was) < 0)
                reply = database_error(d, "io.enrich.Enable");
        else
                reply = varlink_reply_new(json_pack("{s:b, s:b}", "wasDisabled", was, "changed", was), false);
        free(by);
        return reply;
}

json_t *method_enable(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        char *by = NULL;
        json_t *reply;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)))
                return reply;
        by = peer_name(call->peer);
        reply = fleet_method_enable(d, call, params, user, by ? by : "an admin", clock_now(), enable_here);
        free(by);
        return reply ? reply : enable_here(d, call->peer, params);
}

json_t *method_check_account(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *service, *rhost;
        identity_state s = { 0 };
        char *canonical = NULL;
        identity_key key;
        json_t *reply = NULL;
        int r;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "service", false, MAX_NAME_LENGTH, &service)) ||
            (reply = get_string(params, "rhost", false, MAX_NAME_LENGTH, &rhost)))
                return reply;
        key = identity_key_of(user, &canonical);
        r = identities_get(d->db, &key, &s);
        free(canonical);
        if (r < 0)
                return database_error(d, "io.enrich.CheckAccount");
        if (s.disabled) {
                log_struct(LOG_NOTICE, LOG_MSGID_ACCOUNT_REFUSED,
                           (const char *[]) { "ENRICH_USER", user, "ENRICH_SERVICE", service, "ENRICH_RHOST", rhost,
                                              "ENRICH_REASON", s.reason, NULL },
                           "Refusing the login of disabled user %s%s%s (service %s): %s", user,
                           strcmp(s.user, user) != 0 ? ", disabled as " : "", strcmp(s.user, user) != 0 ? s.user : "",
                           service ? service : "?", s.reason);
                (void) audit_record_refusal(d, call->peer, user, AUDIT_LOGIN_REFUSED, AUDIT_DENIED,
                                            "io.enrich.CheckAccount",
                                            json_pack("{s:s, s:s*, s:s*}", "reason", s.reason, "service", service,
                                                      "rhost", rhost));
                reply = varlink_reply_new(json_pack("{s:b, s:s, s:s, s:I}", "disabled", true, "reason", s.reason,
                                                    "disabledBy", s.disabled_by, "since", (json_int_t) s.since),
                                          false);
        } else
                reply = varlink_reply_new(json_pack("{s:b}", "disabled", false), false);
        identity_state_clear(&s);
        return reply;
}

/* ---- Enrich --------------------------------------------------------------- */

json_t *account_check_enrich(enrichd *d, const char *user, const struct passwd *pw, const char *token_id, int64_t now,
                             const char ***amr) {
        const char **list = NULL;
        char *canonical = NULL;
        identity_key key;
        size_t n = 0;
        bool disabled;
        int r;

        if (pw)
                key = (identity_key) { .name = user, .canonical = pw->pw_name, .uid = (int64_t) pw->pw_uid };
        else
                key = identity_key_of(user, &canonical);
        disabled = identities_is_disabled(d->db, &key, &r);
        free(canonical);
        if (disabled) {
                if (r < 0)
                        return database_error(d, "io.enrich.Enrich");
                log_struct(LOG_NOTICE, LOG_MSGID_ACCOUNT_REFUSED, (const char *[]) { "ENRICH_USER", user, NULL },
                           "Refusing enrichment of disabled user %s", user);
                return error_reply("io.enrich.AccountDisabled", json_pack("{s:s}", "user", user));
        }
        if (token_id) {
                if (!svctoken_valid_id(token_id))
                        return invalid_parameter("tokenId", "must be 16 lowercase hex digits");
                r = tokens_check_evidence(d->db, token_id, user, now);
                if (r == -EIO)
                        return database_error(d, "io.enrich.Enrich");
                if (r < 0) {
                        const char *why = r == -ENOENT   ? "no such token of this user"
                                          : r == -ESTALE ? "token not authenticated in this login"
                                                         : "token revoked, expired or locked";
                        log_struct(LOG_WARNING, LOG_MSGID_TOKEN_AUTH_FAILED,
                                   (const char *[]) { "ENRICH_USER", user, "ENRICH_TOKEN", token_id, "ENRICH_REASON",
                                                      why, NULL },
                                   "Refusing enrichment of %s with token %s: %s", user, token_id, why);
                        return error_reply("io.enrich.AuthenticationFailed",
                                           json_pack("{s:s, s:I, s:b}", "reason", why, "delayMs", (json_int_t) 0,
                                                     "locked", false));
                }
        }
        /* "tok" only when verified here; whatever else the module saw stays. */
        list = calloc(strv_length((char *const *) *amr) + 2, sizeof(char *));
        if (!list)
                return internal_error("out of memory");
        for (size_t i = 0; *amr && (*amr)[i]; i++)
                if (strcmp((*amr)[i], "tok") != 0)
                        list[n++] = (*amr)[i];
        if (token_id)
                list[n++] = "tok";
        free(*amr);
        *amr = n > 0 ? list : NULL;
        if (n == 0)
                free(list);
        return NULL;
}
