/* methods.c: the daemon's varlink methods. Parameters are checked strictly
 * (types, lengths, unknown names) before anything else happens; who may call
 * what follows docs/contract.md ("Who may call what"), decided from
 * SO_PEERCRED alone. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "account_methods.h"
#include "audit.h"
#include "audit_methods.h"
#include "grants.h"
#include "host.h"
#include "identity.h"
#include "issue.h"
#include "keys.h"
#include "live.h"
#include "tokens.h"
#include "method_helpers.h"
#include "log.h"
#include "methods.h"
#include "paging.h"
#include "offboard.h"
#include "policy.h"
#include "util.h"
#include "varlink.h"
#include "varlink_service.h"

#define MAX_NAME_LENGTH   256
#define MAX_AMR           16
#define MAX_AMR_LENGTH    32

/* ---- replies ---------------------------------------------------------- */

json_t *error_reply(const char *error, json_t *params) {
        return varlink_error_new(error, params);
}

json_t *permission_denied(const struct ucred *peer, const char *method, const char *reason) {
        char uid[32], pid[32];

        snprintf(uid, sizeof uid, "%u", (unsigned) peer->uid);
        snprintf(pid, sizeof pid, "%d", (int) peer->pid);
        log_struct(LOG_NOTICE, LOG_MSGID_DENIED,
                   (const char *[]) { "ENRICH_METHOD", method, "ENRICH_PEER_UID", uid,
                                      "ENRICH_PEER_PID", pid, NULL },
                   "Denied %s to uid %s (pid %s): %s", method, uid, pid, reason);
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

static json_t *no_such_session(const char *sid) {
        return error_reply("io.enrich.NoSuchSession", json_pack("{s:s}", "sid", sid));
}

/* ---- parameters ------------------------------------------------------- */

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

/* A string of 1..max bytes without control characters. Optional ones may be
 * absent or null (*ret stays NULL). Borrowed from params. */
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
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return invalid_parameter(key, "contains control characters");
        *ret = s;
        return NULL;
}

/* An integer in [min, max]; optional ones absent or null give *ret_set false. */
json_t *get_int(json_t *params, const char *key, bool required, json_int_t min, json_int_t max,
                json_int_t *ret, bool *ret_set) {
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
static json_t *get_amr(json_t *params, const char ***ret) {
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
                if (!s || !*s || strlen(s) > MAX_AMR_LENGTH || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(s)) {
                        free(list);
                        return invalid_parameter("amr", "entries must be short lowercase method names");
                }
                list[i] = s;
        }
        *ret = list;
        return NULL;
}

/* ---- identities ------------------------------------------------------- */

static bool peer_is_admin(const enrichd *d, uid_t uid) {
        return identity_is_admin(d->config->admin_group, uid);
}

json_t *admin_only(const enrichd *d, const struct ucred *peer, const char *method) {
        if (peer_is_admin(d, peer->uid))
                return NULL;
        return permission_denied(peer, method, "only root and members of admin_group may do this");
}

json_t *no_such_user(const char *user) {
        return error_reply("io.enrich.NoSuchUser", json_pack("{s:s}", "user", user));
}

static char *amr_json_text(const char *const *amr) {
        json_t *a = amr ? strv_to_json((char *const *) amr) : NULL;
        char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;

        json_decref(a);
        return text;
}

/* ---- io.enrich.Enrich ------------------------------------------------- */

typedef struct enrich_request {
        const char *user, *service, *tty, *rhost, *ruser, *token_id;
        json_int_t pid, asid;
        bool has_asid;
        const char **amr;
} enrich_request;

static json_t *parse_enrich(json_t *params, enrich_request *req) {
        static const char *const known[] = { "user", "service", "tty", "rhost", "ruser", "pid",
                                             "asid", "amr", "tokenId", NULL };
        json_t *e;
        bool set;

        if ((e = check_known(params, known)) ||
            (e = get_string(params, "user", true, MAX_NAME_LENGTH, &req->user)) ||
            (e = get_string(params, "service", true, MAX_NAME_LENGTH, &req->service)) ||
            (e = get_string(params, "tty", false, MAX_NAME_LENGTH, &req->tty)) ||
            (e = get_string(params, "rhost", false, MAX_NAME_LENGTH, &req->rhost)) ||
            (e = get_string(params, "ruser", false, MAX_NAME_LENGTH, &req->ruser)) ||
            (e = get_string(params, "tokenId", false, MAX_NAME_LENGTH, &req->token_id)) ||
            (e = get_int(params, "pid", true, 0, INT32_MAX, &req->pid, &set)) ||
            (e = get_int(params, "asid", false, 0, (json_int_t) HOST_AUDIT_SESSION_UNSET - 1,
                         &req->asid, &req->has_asid)) ||
            (e = get_amr(params, &req->amr)))
                return e;
        return NULL;
}

static char *join_rules(char *const *rules) {
        size_t len = 1;
        char *s;

        for (size_t i = 0; rules && rules[i]; i++)
                len += strlen(rules[i]) + 1;
        s = calloc(1, len);
        for (size_t i = 0; s && rules && rules[i]; i++) {
                if (i > 0)
                        strcat(s, ",");
                strcat(s, rules[i]);
        }
        return s;
}

/* The audit row of an issued token: its claims and the rules and grants
 * behind them. */
static void audit_enrich_issued(enrichd *d, const struct ucred *peer, const enrich_request *req,
                                const evaluation *ev, const char *claims_text) {
        json_t *details = audit_claims_summary(claims_text);

        if (details)
                json_object_update_new(details, json_pack("{s:s, s:s*, s:s*, s:s*, s:o, s:o, s:s*, s:I}",
                                                          "service", req->service, "tty", req->tty,
                                                          "rhost", req->rhost, "ruser", req->ruser,
                                                          "rules", strv_to_json(ev->result->matched_rules),
                                                          "grants", strv_to_json(ev->result->used_grants),
                                                          "tokenId", req->token_id, "pid", (json_int_t) req->pid));
        (void) audit_record(d, peer, req->user, AUDIT_ENRICH_ISSUED, AUDIT_OK, details);
}

/* Every enriched login gets a token, even one that policy gives nothing:
 * identity, amr and sid still travel, and the key exists to be refreshed
 * when a grant arrives. */
static json_t *method_enrich(enrichd *d, const struct ucred *peer, json_t *params) {
        enrich_request req = { 0 };
        evaluation ev = { 0 };
        login_context ctx;
        char *sid = NULL, *token = NULL, *claims_text = NULL, *rules = NULL, *grants = NULL, *amr = NULL;
        json_t *reply = NULL;
        int64_t now, expires = 0;
        int r;

        if (peer->uid != 0) {
                reply = permission_denied(peer, "io.enrich.Enrich", "only root may ask for enrichment");
                goto out;
        }
        reply = parse_enrich(params, &req);
        if (reply)
                goto out;
        /* Disabled users and token logins (issue 5): may rewrite req.amr. */
        reply = account_check_enrich(d, req.user, req.token_id, time(NULL), &req.amr);
        if (reply) {
                (void) audit_record_refusal(d, peer, req.user, AUDIT_ENRICH_REFUSED, AUDIT_DENIED, "io.enrich.Enrich",
                                            json_pack("{s:s, s:s*, s:s*, s:s*}", "service", req.service,
                                                      "rhost", req.rhost, "tokenId", req.token_id, "error",
                                                      json_string_value(json_object_get(reply, "error"))));
                goto out;
        }
        if (live_count(d->live) >= LIVE_MAX_SESSIONS) {
                log_error("Refusing enrichment of %s: %d live sessions, the maximum", req.user, LIVE_MAX_SESSIONS);
                reply = internal_error("too many live sessions");
                goto out;
        }
        ctx = (login_context) { .user = req.user, .service = req.service, .tty = req.tty,
                                .rhost = req.rhost, .ruser = req.ruser, .amr = (char *const *) req.amr,
                                .asid = req.has_asid ? req.asid : -1 };
        now = time(NULL);
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
                log_error("Failed to evaluate policy for %s: %s", req.user, strerror(-r));
                reply = internal_error("failed to evaluate policy");
                goto out;
        }
        if (issue_random_id(&sid) < 0) {
                reply = internal_error("failed to generate random ids");
                goto out;
        }
        issue_log_conflict(&ctx, &ev, sid);
        /* Before signing: the token's scope limit is read back by sid. */
        if (req.token_id && tokens_bind_session(d->db, sid, req.token_id) < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        r = issue_sign(d, &ctx, &ev, sid, now, &token, &claims_text, &expires);
        if (r < 0) {
                log_error("Failed to sign claims for %s: %s", req.user, strerror(-r));
                reply = internal_error("failed to sign the token");
                goto out;
        }
        amr = amr_json_text(req.amr);
        db_session row = {
                .sid = sid, .user = req.user, .uid = ev.uid, .service = req.service,
                .tty = req.tty, .rhost = req.rhost, .ruser = req.ruser, .pid = req.pid,
                .asid = req.has_asid ? req.asid : -1, .created = now, .expires = expires,
                .claims = claims_text, .amr = amr, .pid_start = live_pid_start((pid_t) req.pid),
                .token_issued = now,
        };
        r = db_session_insert(d->db, &row);
        if (r < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        r = live_add(d, &row);
        if (r < 0) {
                /* Not refreshable means not revocable: refuse rather than hand
                 * out a token nobody could take back early. */
                (void) db_session_end(d->db, sid, now, "could not be tracked");
                log_error("Failed to track session %s: %s", sid, strerror(-r));
                reply = internal_error("failed to track the session");
                goto out;
        }
        rules = join_rules(ev.result->matched_rules);
        grants = join_rules(ev.result->used_grants);
        audit_enrich_issued(d, peer, &req, &ev, claims_text);
        log_struct(LOG_INFO, LOG_MSGID_SESSION_NEW,
                   (const char *[]) { "ENRICH_SID", sid, "ENRICH_USER", req.user,
                                      "ENRICH_SERVICE", req.service, "ENRICH_RHOST", req.rhost,
                                      "ENRICH_RULES", rules, "ENRICH_GRANT", grants && *grants ? grants : NULL,
                                      "ENRICH_POLICY_VERSION", d->policy_version, NULL },
                   "Issued claims for %s (service %s, session %s, rules: %s, grants: %s, ttl %us)",
                   req.user, req.service, sid, rules && *rules ? rules : "none",
                   grants && *grants ? grants : "none", ev.result->ttl);
        /* keyGroup: the module gives this group write/setattr on the key so
         * the daemon can refresh and revoke it. Under socket activation the
         * module cannot learn it from SO_PEERCRED (that is PID 1's). */
        reply = varlink_reply_new(json_pack("{s:s, s:s, s:I, s:I, s:I}", "sid", sid, "token", token,
                                            "expires", (json_int_t) expires,
                                            "ttl", (json_int_t) (expires - now),
                                            "keyGroup", (json_int_t) getegid()), false);
out:
        free(req.amr);
        evaluation_clear(&ev);
        free(sid);
        free(token);
        free(claims_text);
        free(rules);
        free(grants);
        free(amr);
        return reply;
}

/* ---- sessions ---------------------------------------------------------- */

static json_t *method_attach_key(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "sid", "keySerial", NULL };
        const char *sid;
        json_int_t serial;
        bool set;
        json_t *e;
        int r;

        if (peer->uid != 0)
                return permission_denied(peer, "io.enrich.AttachKey", "only root may attach keys");
        if ((e = check_known(params, known)) ||
            (e = get_string(params, "sid", true, MAX_NAME_LENGTH, &sid)) ||
            (e = get_int(params, "keySerial", true, 1, INT32_MAX, &serial, &set)))
                return e;
        r = db_session_attach_key(d->db, sid, serial);
        if (r == -ENOENT)
                return no_such_session(sid);
        if (r < 0)
                return database_error(d, "io.enrich.AttachKey");
        (void) live_attach_key(d, sid, (key_serial_t) serial);
        return varlink_reply_new(NULL, false);
}

static json_t *method_end_session(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "sid", NULL };
        char uid[32];
        const char *sid;
        json_t *e;
        int r;

        if (!peer_is_admin(d, peer->uid))
                return permission_denied(peer, "io.enrich.EndSession", "only root and admins may end sessions");
        if ((e = check_known(params, known)) ||
            (e = get_string(params, "sid", true, MAX_NAME_LENGTH, &sid)))
                return e;
        r = db_session_end(d->db, sid, time(NULL), "closed");
        if (r == -ENOENT)
                return no_such_session(sid);
        if (r < 0)
                return database_error(d, "io.enrich.EndSession");
        (void) live_forget(d, sid);
        (void) audit_recordf(d, peer, NULL, AUDIT_SESSION_ENDED, AUDIT_OK, "{s:s, s:s}", "sid", sid, "reason", "closed");
        snprintf(uid, sizeof uid, "%u", (unsigned) peer->uid);
        log_struct(LOG_INFO, LOG_MSGID_SESSION_END,
                   (const char *[]) { "ENRICH_SID", sid, "ENRICH_PEER_UID", uid, NULL },
                   "Session %s ended by uid %s", sid, uid);
        return varlink_reply_new(NULL, false);
}

/* Storage's row callback: the session into the page. */
static int add_session_row(void *userdata, json_t *session) {
        return page_add(userdata, session, json_integer_value(json_object_get(session, "created")),
                        json_string_value(json_object_get(session, "sid")));
}

static json_t *method_list_sessions(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", "limit", "after", NULL };
        const char *user;
        page p = { 0 };
        json_t *reply;
        int r;

        if ((reply = check_known(params, known)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) ||
            (reply = page_begin(&p, params)))
                goto out;
        /* Anyone else sees only sessions of its own uid, whatever it asks for. */
        r = db_session_list(d->db, peer_is_admin(d, peer->uid) ? (uid_t) -1 : peer->uid, user,
                            page_after(&p), page_fetch(&p), add_session_row, &p);
        if (r < 0) {
                reply = r == -EIO ? database_error(d, "io.enrich.ListSessions") : internal_error(strerror(-r));
                goto out;
        }
        reply = page_reply(&p, "sessions");
        reply = reply ? varlink_reply_new(reply, false) : internal_error("out of memory");
out:
        page_done(&p);
        return reply;
}

static json_t *method_status(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { NULL };
        int64_t sessions = 0;
        json_t *e;

        if ((e = check_known(params, known)))
                return e;
        if (db_session_count_active(d->db, &sessions) < 0)
                return database_error(d, "io.enrich.Status");
        return varlink_reply_new(json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}",
                                           "version", ENRICH_VERSION,
                                           "issuer", d->config->issuer,
                                           "kid", signer_kid(d->signer),
                                           "policyVersion", d->policy_version,
                                           "sessions", (json_int_t) sessions,
                                           "uptime", (json_int_t) ((host_now_ms() - d->started_ms) / 1000)),
                                 false);
}

/* ---- grants ------------------------------------------------------------ */

/* Fields every admin decision carries in the journal. */
static void log_decision(const char *message_id, const struct ucred *peer, const char *grant_id,
                         const char *user, const char *sid, const char *format, ...)
        __attribute__((format(printf, 6, 7)));
static void log_decision(const char *message_id, const struct ucred *peer, const char *grant_id,
                         const char *user, const char *sid, const char *format, ...) {
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

/* A Unix group name as useradd would accept it, give or take: letters,
 * digits, '_', '-', '.', not starting with '-' or a digit-only name. */
static bool plausible_group_name(const char *s) {
        bool digits_only = true;

        if (!*s || *s == '-' || *s == '.' || strlen(s) > 32)
                return false;
        for (const char *p = s; *p; p++) {
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_' || *p == '-' || *p == '.' || (*p == '$' && p[1] == '\0')))
                        return false;
                if (*p < '0' || *p > '9')
                        digits_only = false;
        }
        return !digits_only;
}

static bool configured_group(const config *c, const char *name) {
        for (size_t i = 0; i < c->n_groups; i++)
                if (strcmp(c->groups[i].name, name) == 0)
                        return true;
        return false;
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
                       bool (*valid)(const enrichd *d, const char *s), const char *what,
                       const char ***ret) {
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
                if (!s || strlen(s) != json_string_length(e) || strlen(s) > GRANTS_MAX_VALUE_LENGTH ||
                    !valid(d, s)) {
                        free(list);
                        snprintf(reason, sizeof reason, "entry %zu is not %s (at most %d characters)",
                                 i + 1, what, GRANTS_MAX_VALUE_LENGTH);
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

static bool grant_group_ok(const enrichd *d, const char *s) {
        return configured_group(d->config, s) || plausible_group_name(s);
}

static bool grant_scope_ok(const enrichd *d, const char *s) {
        return valid_scope(s);
}

/* The grantor's name for the record: the peer's user name (or uid). */
char *peer_name(const struct ucred *peer) {
        char *name = NULL;
        return identity_user_name(peer->uid, &name) == 0 ? name : NULL;
}

static json_t *method_grant(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", "groups", "scopes", "tenant", "ttl", "reason", NULL };
        const char *user, *tenant, *reason, **groups = NULL, **scopes = NULL;
        struct passwd pw;
        char *pwbuf = NULL, *id = NULL, *by = NULL;
        json_int_t ttl;
        int64_t now, active = 0;
        live_counts counts = { 0 };
        json_t *reply = NULL, *record;
        bool set;
        int r;

        if ((reply = admin_only(d, peer, "io.enrich.Grant")) ||
            (reply = check_known(params, known)) ||
            (reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "tenant", false, GRANTS_MAX_VALUE_LENGTH, &tenant)) ||
            (reply = get_string(params, "reason", true, GRANTS_MAX_REASON, &reason)) ||
            (reply = get_int(params, "ttl", true, 1, INT32_MAX, &ttl, &set)) ||
            (reply = get_value_list(d, params, "groups", grant_group_ok, "a group name", &groups)) ||
            (reply = get_value_list(d, params, "scopes", grant_scope_ok,
                                    "a scope (printable, no spaces or quotes)", &scopes)))
                goto out;
        if (!groups && !scopes && !tenant) {
                reply = invalid_parameter("groups", "a grant needs at least one of groups, scopes, tenant");
                goto out;
        }
        if (tenant && !valid_scope(tenant)) {
                reply = invalid_parameter("tenant", "must be printable, without spaces or quotes");
                goto out;
        }
        r = identity_lookup_user(user, 0, &pw, &pwbuf);
        if (r == -ENOENT) {
                reply = no_such_user(user);
                goto out;
        }
        if (r < 0) {
                reply = internal_error("failed to look up the user");
                goto out;
        }
        now = time(NULL);
        if (grants_count_active(d->db, user, now, &active) < 0) {
                reply = database_error(d, "io.enrich.Grant");
                goto out;
        }
        if (active >= GRANTS_MAX_ACTIVE) {
                reply = invalid_parameter("user", "the user has too many active grants (1024)");
                goto out;
        }
        /* Clamped, not refused: the admin asked for as long as allowed. */
        if (ttl > (json_int_t) d->config->max_ttl)
                ttl = d->config->max_ttl;
        if (grants_new_id(&id) < 0 || !(by = peer_name(peer))) {
                reply = internal_error("out of memory");
                goto out;
        }
        grant g = {
                .id = id, .user = (char *) user, .uid = pw.pw_uid, .groups = (char **) groups,
                .scopes = (char **) scopes, .tenant = (char *) tenant, .reason = (char *) reason,
                .granted_by = by, .granted_by_uid = peer->uid, .created = now, .expires = now + ttl,
        };
        if (grants_add(d->db, &g) < 0) {
                reply = database_error(d, "io.enrich.Grant");
                goto out;
        }
        (void) audit_recordf(d, peer, user, AUDIT_GRANT_CREATED, AUDIT_OK, "{s:s, s:o, s:o, s:s*, s:s, s:I, s:I}",
                             "grantId", id, "groups", strv_to_json((char *const *) groups),
                             "scopes", strv_to_json((char *const *) scopes), "tenant", tenant, "reason", reason,
                             "ttl", (json_int_t) ttl, "expires", (json_int_t) (now + ttl));
        if (issue_update_policy_version(d) < 0)
                log_error("Failed to update the policy version: %s", db_last_error(d->db));
        /* The new claims appear in the user's open sessions now, not at the
         * next login. */
        live_reissue(d, user, "grant added", &counts);
        log_decision(LOG_MSGID_GRANT_NEW, peer, id, user, NULL,
                     "Grant %s to %s by %s for %llds (reason: %s): %zu groups, %zu scopes%s%s; "
                     "%d sessions re-issued, %d revoked",
                     id, user, by, (long long) ttl, reason, strv_length((char *const *) groups),
                     strv_length((char *const *) scopes), tenant ? ", tenant " : "", tenant ? tenant : "",
                     counts.updated, counts.revoked);
        /* What was stored, read back, so the reply is exactly the record. */
        grant stored = { 0 };
        if (grants_get(d->db, id, &stored) < 0) {
                reply = database_error(d, "io.enrich.Grant");
                goto out;
        }
        record = grant_to_json(&stored);
        grant_clear(&stored);
        reply = record ? varlink_reply_new(json_pack("{s:o}", "grant", record), false)
                       : internal_error("out of memory");
out:
        free(groups);
        free(scopes);
        free(pwbuf);
        free(id);
        free(by);
        return reply;
}

static json_t *grant_list_json(const grant_list *l) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < l->n; i++) {
                json_t *g = grant_to_json(&l->items[i]);
                if (!g || json_array_append_new(a, g) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* Storage's row callback: the grant into the page. */
static int add_grant_row(void *userdata, const grant *g) {
        json_t *row = grant_to_json(g);

        return row ? page_add(userdata, row, g->created, g->id) : -ENOMEM;
}

static json_t *method_list_grants(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", "all", "limit", "after", NULL };
        const char *user;
        char *own = NULL;
        page p = { 0 };
        json_t *reply = NULL, *all;
        int r;

        if ((reply = check_known(params, known)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) ||
            (reply = page_begin(&p, params)))
                goto out;
        all = json_object_get(params, "all");
        if (all && !json_is_null(all) && !json_is_boolean(all)) {
                reply = invalid_parameter("all", "must be a boolean");
                goto out;
        }
        if (!peer_is_admin(d, peer->uid)) {
                own = peer_name(peer);
                if (!own) {
                        reply = internal_error("out of memory");
                        goto out;
                }
                if (user && strcmp(user, own) != 0) {
                        reply = permission_denied(peer, "io.enrich.ListGrants",
                                                  "only root and admins may list other users' grants");
                        goto out;
                }
                user = own;
        }
        r = grants_list(d->db, user, json_is_true(all), time(NULL), page_after(&p), page_fetch(&p),
                        add_grant_row, &p);
        if (r < 0) {
                reply = r == -EIO ? database_error(d, "io.enrich.ListGrants") : internal_error(strerror(-r));
                goto out;
        }
        reply = page_reply(&p, "grants");
        reply = reply ? varlink_reply_new(reply, false) : internal_error("out of memory");
out:
        page_done(&p);
        free(own);
        return reply;
}

static json_t *method_revoke_grant(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "id", NULL };
        const char *id;
        char *by = NULL;
        grant g = { 0 };
        live_counts counts = { 0 };
        json_t *reply = NULL;
        bool changed = false;
        int r;

        if ((reply = admin_only(d, peer, "io.enrich.RevokeGrant")) ||
            (reply = check_known(params, known)) ||
            (reply = get_string(params, "id", true, MAX_NAME_LENGTH, &id)))
                goto out;
        r = grants_get(d->db, id, &g);
        if (r == -ENOENT) {
                reply = error_reply("io.enrich.NoSuchGrant", json_pack("{s:s}", "id", id));
                goto out;
        }
        if (r < 0 || !(by = peer_name(peer)) || (r = grants_revoke(d->db, id, by, time(NULL), &changed)) < 0) {
                reply = r == -ENOENT ? error_reply("io.enrich.NoSuchGrant", json_pack("{s:s}", "id", id))
                                     : database_error(d, "io.enrich.RevokeGrant");
                goto out;
        }
        if (issue_update_policy_version(d) < 0)
                log_error("Failed to update the policy version: %s", db_last_error(d->db));
        /* Before replying: when the admin's command returns, no live key
         * carries the grant any more. */
        live_reissue(d, g.user, "grant revoked", &counts);
        (void) audit_recordf(d, peer, g.user, AUDIT_GRANT_REVOKED, AUDIT_OK, "{s:s, s:b, s:i, s:i}", "grantId", id,
                             "wasActive", changed, "sessionsUpdated", counts.updated, "sessionsRevoked", counts.revoked);
        log_decision(LOG_MSGID_GRANT_REVOKED, peer, id, g.user, NULL,
                     "Grant %s of %s revoked by %s%s: %d sessions re-issued, %d revoked", id, g.user, by,
                     changed ? "" : " (it was no longer active)", counts.updated, counts.revoked);
        reply = varlink_reply_new(json_pack("{s:i, s:i}", "sessionsUpdated", counts.updated,
                                            "sessionsRevoked", counts.revoked), false);
out:
        grant_clear(&g);
        free(by);
        return reply;
}

static json_t *method_revoke_session(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "sid", NULL };
        const char *sid;
        char *by = NULL, reason[300];
        json_t *reply = NULL;
        int r;

        if ((reply = admin_only(d, peer, "io.enrich.RevokeSession")) ||
            (reply = check_known(params, known)) ||
            (reply = get_string(params, "sid", true, MAX_NAME_LENGTH, &sid)))
                goto out;
        by = peer_name(peer);
        snprintf(reason, sizeof reason, "revoked by %s", by ? by : "an admin");
        r = live_revoke(d, sid, reason);
        if (r == -ENOENT) {
                /* Not live (its key is gone already): close the row all the same. */
                r = db_session_end(d->db, sid, time(NULL), reason);
                if (r == -ENOENT) {
                        reply = no_such_session(sid);
                        goto out;
                }
                if (r < 0) {
                        reply = database_error(d, "io.enrich.RevokeSession");
                        goto out;
                }
                (void) audit_recordf(d, peer, NULL, AUDIT_SESSION_REVOKED, AUDIT_OK, "{s:s, s:s, s:b}",
                                     "sid", sid, "reason", reason, "live", 0);
        }
        log_decision(LOG_MSGID_SESSION_REVOKED, peer, NULL, NULL, sid, "Session %s %s", sid, reason);
        reply = varlink_reply_new(NULL, false);
out:
        free(by);
        return reply;
}

static json_t *method_revoke_user(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", NULL };
        const char *user;
        char *by = NULL, reason[300];
        struct passwd pw;
        char *pwbuf = NULL;
        json_t *reply = NULL;
        int grants = 0, sessions = 0;
        bool exists;

        if ((reply = admin_only(d, peer, "io.enrich.RevokeUser")) ||
            (reply = check_known(params, known)) ||
            (reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)))
                goto out;
        /* Offboarding may come after the account is deleted: an unknown
         * user is fine as long as there was something to revoke. */
        exists = identity_lookup_user(user, 0, &pw, &pwbuf) == 0;
        by = peer_name(peer);
        snprintf(reason, sizeof reason, "user revoked by %s", by ? by : "an admin");
        if (grants_revoke_user(d->db, user, by ? by : "admin", time(NULL), &grants) < 0) {
                reply = database_error(d, "io.enrich.RevokeUser");
                goto out;
        }
        if (issue_update_policy_version(d) < 0)
                log_error("Failed to update the policy version: %s", db_last_error(d->db));
        live_revoke_user(d, user, reason, &sessions);
        if (!exists && grants == 0 && sessions == 0) {
                reply = no_such_user(user);
                goto out;
        }
        (void) audit_recordf(d, peer, user, AUDIT_GRANT_REVOKED, AUDIT_OK, "{s:s, s:i, s:i}", "scope", "all of the user",
                             "grantsRevoked", grants, "sessionsRevoked", sessions);
        log_decision(LOG_MSGID_GRANT_REVOKED, peer, NULL, user, NULL,
                     "All of %s revoked by %s: %d grants, %d sessions", user, by ? by : "an admin",
                     grants, sessions);
        reply = varlink_reply_new(json_pack("{s:i, s:i}", "grantsRevoked", grants, "sessionsRevoked", sessions),
                                  false);
out:
        free(pwbuf);
        free(by);
        return reply;
}

/* ---- explain, refresh, reload -------------------------------------------- */

static json_t *rule_results_json(const policy_result *res) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < res->n_rules; i++) {
                const policy_rule_result *rr = &res->rules[i];
                json_t *o = json_pack("{s:s, s:i, s:b}", "name", rr->rule ? rr->rule : "",
                                      "line", rr->line, "matched", rr->matched);
                if (o && rr->reason)
                        json_object_set_new(o, "reason", json_string(rr->reason));
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *sources_json(const policy_result *res) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < res->n_sources; i++) {
                const policy_source *src = &res->sources[i];
                char ttl[32];
                json_t *o;

                snprintf(ttl, sizeof ttl, "%u", src->ttl);
                o = json_pack("{s:s, s:s}", "claim", policy_claim_kind_name(src->kind),
                              "value", src->kind == POLICY_CLAIM_TTL || !src->value ? ttl : src->value);
                if (o && src->rule)
                        json_object_set_new(o, "rule", json_string(src->rule));
                if (o && src->grant)
                        json_object_set_new(o, "grant", json_string(src->grant));
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *method_explain(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", "service", "tty", "rhost", "amr", NULL };
        const char *user, *service, *tty, *rhost, **amr = NULL;
        evaluation ev = { 0 };
        json_t *reply = NULL, *out_params = NULL, *grants = NULL;
        int r;

        if ((reply = admin_only(d, peer, "io.enrich.Explain")) ||
            (reply = check_known(params, known)) ||
            (reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "service", true, MAX_NAME_LENGTH, &service)) ||
            (reply = get_string(params, "tty", false, MAX_NAME_LENGTH, &tty)) ||
            (reply = get_string(params, "rhost", false, MAX_NAME_LENGTH, &rhost)) ||
            (reply = get_amr(params, &amr)))
                goto out;
        r = issue_evaluate(d, &(login_context) { .user = user, .service = service, .tty = tty, .rhost = rhost,
                                                 .amr = (char *const *) amr, .asid = -1,
                                                 .want_reasons = true },
                           time(NULL), true, &ev);
        if (r == -ENOENT) {
                reply = no_such_user(user);
                goto out;
        }
        if (r == -EIO) {
                reply = database_error(d, "io.enrich.Explain");
                goto out;
        }
        if (r < 0) {
                reply = internal_error("failed to evaluate policy");
                goto out;
        }
        grants = grant_list_json(&ev.grants);
        out_params = json_pack("{s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:O, s:o}",
                               "user", user, "uid", (json_int_t) ev.uid,
                               "unixGroups", strv_to_json(ev.unix_groups),
                               "groups", strv_to_json(ev.result->groups),
                               "scopes", strv_to_json(ev.result->scopes),
                               "ttl", (json_int_t) ev.result->ttl,
                               "rules", rule_results_json(ev.result),
                               "grants", grants,
                               "sources", sources_json(ev.result));
        if (!out_params) {
                reply = internal_error("out of memory");
                goto out;
        }
        if (ev.result->tenant)
                json_object_set_new(out_params, "tenant", json_string(ev.result->tenant));
        if (ev.result->tenant_conflict)
                json_object_set_new(out_params, "tenantConflict", json_string(ev.result->tenant_conflict));
        reply = varlink_reply_new(out_params, false);
out:
        json_decref(grants);
        evaluation_clear(&ev);
        free(amr);
        return reply;
}

static json_t *method_refresh(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", NULL };
        const char *user;
        char *by = NULL;
        live_counts counts = { 0 };
        json_t *reply;

        if ((reply = admin_only(d, peer, "io.enrich.Refresh")) ||
            (reply = check_known(params, known)) ||
            (reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)))
                return reply;
        live_reissue(d, user, "refresh requested", &counts);
        by = peer_name(peer);
        log_decision(LOG_MSGID_SESSION_REFRESH, peer, NULL, user, NULL,
                     "Refresh of %s requested by %s: %d sessions re-issued, %d revoked",
                     user ? user : "all sessions", by ? by : "an admin", counts.updated, counts.revoked);
        free(by);
        return varlink_reply_new(json_pack("{s:i, s:i}", "sessionsUpdated", counts.updated,
                                           "sessionsRevoked", counts.revoked), false);
}

int methods_reload(enrichd *d, char **ret_error) {
        config *fresh = NULL;
        char *error = NULL, old_version[sizeof d->policy_version];
        live_counts counts = { 0 };
        int r;

        r = config_load(d->config->path, &fresh, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_CONFIG, (const char *[]) { "ENRICH_CONFIG", d->config->path, NULL },
                           "Reload failed, keeping the running configuration: %s", error ? error : strerror(-r));
                if (ret_error) {
                        *ret_error = error ? error : strdup(strerror(-r));
                        error = NULL;
                }
                goto out;
        }
        if (strcmp(fresh->socket, d->config->socket) || strcmp(fresh->state_dir, d->config->state_dir) ||
            strcmp(fresh->jwks, d->config->jwks) || strcmp(fresh->userdb_socket, d->config->userdb_socket))
                log_warning("Changed paths (socket, userdb_socket, jwks, state_dir) take effect on restart only");
        memcpy(old_version, d->policy_version, sizeof old_version);
        config_free(d->config);
        d->config = fresh;
        fresh = NULL;
        if (issue_update_policy_version(d) < 0)
                log_error("Failed to update the policy version: %s", db_last_error(d->db));
        /* Also rewritten here, so a reload repairs a list someone removed. */
        (void) offboard_publish(d);
        /* A removed rule must leave open sessions now, not at their next
         * refresh. */
        live_reissue(d, NULL, "configuration reloaded", &counts);
        log_struct(LOG_INFO, LOG_MSGID_CONFIG, (const char *[]) { "ENRICH_CONFIG", d->config->path,
                                                                  "ENRICH_POLICY_VERSION", d->policy_version, NULL },
                   "Configuration reloaded from %s (policy version %s -> %s, %zu rules): "
                   "%d sessions re-issued, %d revoked", d->config->path, old_version, d->policy_version,
                   d->config->n_rules, counts.updated, counts.revoked);
        r = 0;
out:
        config_free(fresh);
        free(error);
        return r;
}

static json_t *method_reload(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { NULL };
        char *error = NULL;
        json_t *reply;

        if ((reply = admin_only(d, peer, "io.enrich.Reload")) || (reply = check_known(params, known)))
                return reply;
        if (methods_reload(d, &error) < 0) {
                (void) audit_recordf(d, peer, NULL, AUDIT_CONFIG_REJECTED, AUDIT_FAILED, "{s:s, s:s, s:s}",
                                     "config", d->config->path, "trigger", "io.enrich.Reload",
                                     "reason", error ? error : "unknown");
                reply = error_reply("io.enrich.InvalidConfig", json_pack("{s:s}", "reason", error ? error : "unknown"));
        } else {
                (void) audit_recordf(d, peer, NULL, AUDIT_CONFIG_RELOADED, AUDIT_OK, "{s:s, s:s, s:s}",
                                     "config", d->config->path, "trigger", "io.enrich.Reload",
                                     "policyVersion", d->policy_version);
                reply = varlink_reply_new(json_pack("{s:s}", "policyVersion", d->policy_version), false);
        }
        free(error);
        return reply;
}

typedef json_t *(*method_fn)(enrichd *d, const struct ucred *peer, json_t *params);

static const struct {
        const char *name;
        method_fn fn;
} method_table[] = {
        { "io.enrich.Enrich", method_enrich },
        { "io.enrich.AttachKey", method_attach_key },
        { "io.enrich.EndSession", method_end_session },
        { "io.enrich.Status", method_status },
        { "io.enrich.ListSessions", method_list_sessions },
        { "io.enrich.Grant", method_grant },
        { "io.enrich.ListGrants", method_list_grants },
        { "io.enrich.RevokeGrant", method_revoke_grant },
        { "io.enrich.RevokeSession", method_revoke_session },
        { "io.enrich.RevokeUser", method_revoke_user },
        { "io.enrich.Explain", method_explain },
        { "io.enrich.Refresh", method_refresh },
        { "io.enrich.Reload", method_reload },
        { "io.enrich.Authenticate", method_authenticate },
        { "io.enrich.TokenIssue", method_token_issue },
        { "io.enrich.TokenList", method_token_list },
        { "io.enrich.TokenRevoke", method_token_revoke },
        { "io.enrich.TokenRotate", method_token_rotate },
        { "io.enrich.TokenUnlock", method_token_unlock },
        { "io.enrich.Disable", method_disable },
        { "io.enrich.Enable", method_enable },
        { "io.enrich.CheckAccount", method_check_account },
        { "io.enrich.AuditVerify", method_audit_verify },
        { "io.enrich.AuditCheckpoint", method_audit_checkpoint },
        { "io.enrich.ListKeys", method_list_keys },
        { "io.enrich.RotateKey", method_rotate_key },
};

json_t *methods_call(enrichd *d, const struct ucred *peer, const char *method,
                     json_t *parameters, bool more) {
        const varlink_interface interfaces[] = { { "io.enrich", interface_description() } };
        json_t *reply = NULL;
        bool found = false;

        if (varlink_service_call(interfaces, ARRAY_SIZE(interfaces), method, parameters, &reply))
                return reply;
        /* Only AuditList streams; any other "more" call gets its single
         * reply, which without "continues" ends the stream. */
        if (strcmp(method, "io.enrich.AuditList") == 0) {
                reply = method_audit_list(d, peer, parameters, more);
                found = true;
        }
        for (size_t i = 0; !found && i < ARRAY_SIZE(method_table); i++)
                if (strcmp(method, method_table[i].name) == 0) {
                        reply = method_table[i].fn(d, peer, parameters);
                        found = true;
                }
        if (!found)
                return error_reply("org.varlink.service.MethodNotFound", json_pack("{s:s}", "method", method));
        /* Every refusal of every method is audited, here in one place. */
        audit_refusal(d, peer, method, reply);
        return reply;
}
