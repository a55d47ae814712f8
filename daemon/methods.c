/* methods.c: the daemon's varlink methods. Parameters are checked strictly
 * (types, lengths, unknown names) before anything else happens; who may call
 * what follows DESIGN.md's table, decided from SO_PEERCRED alone. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "b64url.h"
#include "host.h"
#include "log.h"
#include "methods.h"
#include "policy.h"
#include "util.h"
#include "varlink.h"

#define MAX_NAME_LENGTH   256
#define MAX_AMR           16
#define MAX_AMR_LENGTH    32
#define MAX_UNIX_GROUPS   4096
#define RANDOM_ID_BYTES   16

static const char varlink_service_description[] =
        "interface org.varlink.service\n"
        "method GetInfo() -> (vendor: string, product: string, version: string, url: string, "
        "interfaces: []string)\n"
        "method GetInterfaceDescription(interface: string) -> (description: string)\n"
        "error InterfaceNotFound (interface: string)\n"
        "error MethodNotFound (method: string)\n"
        "error MethodNotImplemented (method: string)\n"
        "error InvalidParameter (parameter: string)\n";

/* ---- replies ---------------------------------------------------------- */

static json_t *error_reply(const char *error, json_t *params) {
        return varlink_error_new(error, params);
}

static json_t *permission_denied(const struct ucred *peer, const char *method, const char *reason) {
        char uid[32], pid[32];

        snprintf(uid, sizeof uid, "%u", (unsigned) peer->uid);
        snprintf(pid, sizeof pid, "%d", (int) peer->pid);
        log_struct(LOG_NOTICE, LOG_MSGID_DENIED,
                   (const char *[]) { "ENRICH_METHOD", method, "ENRICH_PEER_UID", uid,
                                      "ENRICH_PEER_PID", pid, NULL },
                   "Denied %s to uid %s (pid %s): %s", method, uid, pid, reason);
        return error_reply("io.enrich.PermissionDenied", json_pack("{s:s}", "reason", reason));
}

static json_t *invalid_parameter(const char *parameter, const char *reason) {
        return error_reply("io.enrich.InvalidParameter",
                           json_pack("{s:s, s:s}", "parameter", parameter, "reason", reason));
}

static json_t *internal_error(const char *reason) {
        return error_reply("io.enrich.InternalError", json_pack("{s:s}", "reason", reason));
}

/* Logs the database failure and answers with it: the admin reads the
 * journal, the caller learns that it was not its fault. */
static json_t *database_error(const enrichd *d, const char *method) {
        log_struct(LOG_ERR, LOG_MSGID_DATABASE, (const char *[]) { "ENRICH_METHOD", method, NULL },
                   "Database error in %s: %s", method, db_last_error(d->db));
        return internal_error(db_last_error(d->db));
}

static json_t *no_such_session(const char *sid) {
        return error_reply("io.enrich.NoSuchSession", json_pack("{s:s}", "sid", sid));
}

/* ---- parameters ------------------------------------------------------- */

/* Returns an error reply when params has a member not in allowed. */
static json_t *check_known(json_t *params, const char *const *allowed) {
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
static json_t *get_string(json_t *params, const char *key, bool required, size_t max, const char **ret) {
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
static json_t *get_int(json_t *params, const char *key, bool required, json_int_t min, json_int_t max,
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

static int lookup_user(const char *name, uid_t uid, bool by_name, struct passwd *pw, char **ret_buf) {
        long size = sysconf(_SC_GETPW_R_SIZE_MAX);
        struct passwd *found = NULL;
        char *buf = NULL;
        int r;

        if (size <= 0)
                size = 16384;
        for (;;) {
                char *grown = realloc(buf, (size_t) size);
                if (!grown) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = grown;
                r = by_name ? getpwnam_r(name, pw, buf, (size_t) size, &found)
                            : getpwuid_r(uid, pw, buf, (size_t) size, &found);
                if (r != ERANGE || size > 1024 * 1024)
                        break;
                size *= 2;
        }
        if (r != 0 || !found) {
                free(buf);
                return r ? -r : -ENOENT;
        }
        *ret_buf = buf;
        return 0;
}

/* The gids of user (primary included), at most MAX_UNIX_GROUPS. */
static int user_gids(const char *user, gid_t primary, gid_t **ret, int *ret_n) {
        int n = 64;
        gid_t *gids = NULL;

        for (;;) {
                gid_t *grown = realloc(gids, (size_t) n * sizeof(gid_t));
                int count = n;
                if (!grown) {
                        free(gids);
                        return -ENOMEM;
                }
                gids = grown;
                if (getgrouplist(user, primary, gids, &count) >= 0) {
                        *ret = gids;
                        *ret_n = count;
                        return 0;
                }
                if (count <= n)
                        count = n * 2;
                if (count > MAX_UNIX_GROUPS) {
                        free(gids);
                        return -E2BIG;
                }
                n = count;
        }
}

static int group_name(gid_t gid, char **ret) {
        struct group gr, *found = NULL;
        char buf[16384];

        if (getgrgid_r(gid, &gr, buf, sizeof buf, &found) != 0 || !found)
                return -ENOENT;
        *ret = strdup(gr.gr_name);
        return *ret ? 0 : -ENOMEM;
}

/* Names of user's Unix groups (NULL-terminated). Gids without a name are
 * left out: rules match names. */
static int user_group_names(const char *user, gid_t primary, char ***ret) {
        gid_t *gids = NULL;
        char **names = NULL;
        int n = 0, count = 0, r;

        r = user_gids(user, primary, &gids, &n);
        if (r < 0)
                goto out;
        names = calloc((size_t) n + 1, sizeof(char *));
        if (!names) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                char *name = NULL;
                if (group_name(gids[i], &name) < 0)
                        continue;
                if (strv_contains(names, name)) {
                        free(name);
                        continue;
                }
                names[count++] = name;
        }
        *ret = names;
        names = NULL;
        r = 0;
out:
        strv_free(names);
        free(gids);
        return r;
}

/* uid 0, or a member of the configured admin group. */
static bool peer_is_admin(const enrichd *d, uid_t uid) {
        struct passwd pw;
        struct group gr, *found = NULL;
        char grbuf[16384];
        char *pwbuf = NULL;
        gid_t *gids = NULL;
        int n = 0;
        bool admin = false;

        if (uid == 0)
                return true;
        if (getgrnam_r(d->config->admin_group, &gr, grbuf, sizeof grbuf, &found) != 0 || !found)
                return false;
        if (lookup_user(NULL, uid, false, &pw, &pwbuf) < 0)
                return false;
        if (user_gids(pw.pw_name, pw.pw_gid, &gids, &n) == 0)
                for (int i = 0; i < n; i++)
                        if (gids[i] == gr.gr_gid)
                                admin = true;
        free(gids);
        free(pwbuf);
        return admin;
}

static int random_id(char **ret) {
        unsigned char bytes[RANDOM_ID_BYTES];

        if (RAND_bytes(bytes, sizeof bytes) != 1)
                return -EIO;
        return b64url_encode(bytes, sizeof bytes, ret);
}

static json_t *strv_to_json(char *const *list) {
        json_t *a = json_array();
        for (size_t i = 0; a && list && list[i]; i++)
                json_array_append_new(a, json_string(list[i]));
        return a;
}

static bool is_switch_user_service(const char *service) {
        static const char *const services[] = { "sudo", "sudo-i", "su", "su-l" };
        for (size_t i = 0; i < ARRAY_SIZE(services); i++)
                if (strcmp(service, services[i]) == 0)
                        return true;
        return false;
}

/* ---- io.enrich.Enrich ------------------------------------------------- */

typedef struct enrich_request {
        const char *user, *service, *tty, *rhost, *ruser;
        json_int_t pid, asid;
        bool has_asid;
        const char **amr;
} enrich_request;

static json_t *parse_enrich(json_t *params, enrich_request *req) {
        static const char *const known[] = { "user", "service", "tty", "rhost", "ruser", "pid",
                                             "asid", "amr", NULL };
        json_t *e;
        bool set;

        if ((e = check_known(params, known)) ||
            (e = get_string(params, "user", true, MAX_NAME_LENGTH, &req->user)) ||
            (e = get_string(params, "service", true, MAX_NAME_LENGTH, &req->service)) ||
            (e = get_string(params, "tty", false, MAX_NAME_LENGTH, &req->tty)) ||
            (e = get_string(params, "rhost", false, MAX_NAME_LENGTH, &req->rhost)) ||
            (e = get_string(params, "ruser", false, MAX_NAME_LENGTH, &req->ruser)) ||
            (e = get_int(params, "pid", true, 0, INT32_MAX, &req->pid, &set)) ||
            (e = get_int(params, "asid", false, 0, (json_int_t) HOST_AUDIT_SESSION_UNSET - 1,
                         &req->asid, &req->has_asid)) ||
            (e = get_amr(params, &req->amr)))
                return e;
        return NULL;
}

/* The claims payload exactly as DESIGN.md's table has it. */
static json_t *build_claims(const enrichd *d, const enrich_request *req, uid_t uid,
                            const policy_result *policy, const char *sid, const char *jti,
                            int64_t now, int64_t expires) {
        json_t *claims = NULL, *amr = NULL;
        char *scope = NULL;

        if (policy_scope_string(policy, &scope) < 0)
                return NULL;
        amr = json_array();
        for (size_t i = 0; amr && req->amr && req->amr[i]; i++)
                json_array_append_new(amr, json_string(req->amr[i]));
        claims = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:s}",
                           "iss", d->config->issuer,
                           "sub", req->user,
                           "uid", (json_int_t) uid,
                           "aud", d->machine_id,
                           "iat", (json_int_t) now,
                           "nbf", (json_int_t) now,
                           "exp", (json_int_t) expires,
                           "jti", jti,
                           "sid", sid,
                           "svc", req->service,
                           "amr", amr,
                           "groups", strv_to_json(policy->groups),
                           "scope", scope,
                           "pv", d->config->content_hash);
        amr = NULL;   /* stolen by json_pack, even on failure */
        if (!claims)
                goto out;
        if (req->has_asid)
                json_object_set_new(claims, "asid", json_integer(req->asid));
        if (req->tty)
                json_object_set_new(claims, "tty", json_string(req->tty));
        if (req->rhost)
                json_object_set_new(claims, "rhost", json_string(req->rhost));
        if (policy->tenant)
                json_object_set_new(claims, "tenant", json_string(policy->tenant));
        /* RFC 8693 actor: who switched into this identity. */
        if (req->ruser && is_switch_user_service(req->service) && strcmp(req->ruser, req->user) != 0)
                json_object_set_new(claims, "act", json_pack("{s:s}", "sub", req->ruser));
out:
        free(scope);
        return claims;
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

static json_t *method_enrich(enrichd *d, const struct ucred *peer, json_t *params) {
        enrich_request req = { 0 };
        struct passwd pw;
        char *pwbuf = NULL, **unix_groups = NULL, *sid = NULL, *jti = NULL, *token = NULL;
        char *claims_text = NULL, *rules = NULL;
        policy_result *policy = NULL;
        json_t *claims = NULL, *reply = NULL;
        int64_t now, expires;
        int r;

        if (peer->uid != 0) {
                reply = permission_denied(peer, "io.enrich.Enrich", "only root may ask for enrichment");
                goto out;
        }
        reply = parse_enrich(params, &req);
        if (reply)
                goto out;
        r = lookup_user(req.user, 0, true, &pw, &pwbuf);
        if (r == -ENOENT) {
                reply = error_reply("io.enrich.NoSuchUser", json_pack("{s:s}", "user", req.user));
                goto out;
        }
        if (r < 0 || (r = user_group_names(req.user, pw.pw_gid, &unix_groups)) < 0) {
                log_error("Failed to look up user %s: %s", req.user, strerror(-r));
                reply = internal_error("failed to look up the user");
                goto out;
        }
        r = policy_evaluate(d->config, &(policy_input) {
                        .user = req.user, .uid = pw.pw_uid, .service = req.service,
                        .unix_groups = unix_groups, .tty = req.tty, .rhost = req.rhost,
                        .amr = (char *const *) req.amr }, &policy);
        if (r < 0) {
                reply = internal_error("failed to evaluate policy");
                goto out;
        }
        if (random_id(&sid) < 0 || random_id(&jti) < 0) {
                reply = internal_error("failed to generate random ids");
                goto out;
        }
        now = time(NULL);
        expires = now + policy->ttl;
        claims = build_claims(d, &req, pw.pw_uid, policy, sid, jti, now, expires);
        if (!claims || !(claims_text = json_dumps(claims, JSON_COMPACT))) {
                reply = internal_error("out of memory");
                goto out;
        }
        r = signer_sign(d->signer, claims, &token);
        if (r < 0) {
                log_error("Failed to sign claims for %s: %s", req.user, strerror(-r));
                reply = internal_error("failed to sign the token");
                goto out;
        }
        r = db_session_insert(d->db, &(db_session) {
                        .sid = sid, .user = req.user, .uid = pw.pw_uid, .service = req.service,
                        .tty = req.tty, .rhost = req.rhost, .ruser = req.ruser, .pid = req.pid,
                        .asid = req.has_asid ? req.asid : -1, .created = now, .expires = expires,
                        .claims = claims_text });
        if (r < 0) {
                reply = database_error(d, "io.enrich.Enrich");
                goto out;
        }
        rules = join_rules(policy->matched_rules);
        log_struct(LOG_INFO, LOG_MSGID_SESSION_NEW,
                   (const char *[]) { "ENRICH_SID", sid, "ENRICH_USER", req.user,
                                      "ENRICH_SERVICE", req.service, "ENRICH_RHOST", req.rhost,
                                      "ENRICH_RULES", rules, "ENRICH_JTI", jti, NULL },
                   "Issued claims for %s (service %s, session %s, rules: %s, ttl %us)",
                   req.user, req.service, sid, rules && *rules ? rules : "none", policy->ttl);
        reply = varlink_reply_new(json_pack("{s:s, s:s, s:I, s:I}", "sid", sid, "token", token,
                                            "expires", (json_int_t) expires,
                                            "ttl", (json_int_t) policy->ttl), false);
out:
        free(req.amr);
        free(pwbuf);
        strv_free(unix_groups);
        policy_result_free(policy);
        free(sid);
        free(jti);
        free(token);
        free(claims_text);
        free(rules);
        json_decref(claims);
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
        r = db_session_end(d->db, sid, time(NULL));
        if (r == -ENOENT)
                return no_such_session(sid);
        if (r < 0)
                return database_error(d, "io.enrich.EndSession");
        snprintf(uid, sizeof uid, "%u", (unsigned) peer->uid);
        log_struct(LOG_INFO, LOG_MSGID_SESSION_END,
                   (const char *[]) { "ENRICH_SID", sid, "ENRICH_PEER_UID", uid, NULL },
                   "Session %s ended by uid %s", sid, uid);
        return varlink_reply_new(NULL, false);
}

static json_t *method_list_sessions(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "user", NULL };
        const char *user;
        json_t *e, *list = NULL;
        int r;

        if ((e = check_known(params, known)) ||
            (e = get_string(params, "user", false, MAX_NAME_LENGTH, &user)))
                return e;
        /* Anyone else sees only sessions of its own uid, whatever it asks for. */
        r = db_session_list(d->db, peer_is_admin(d, peer->uid) ? (uid_t) -1 : peer->uid, user, &list);
        if (r < 0)
                return r == -EIO ? database_error(d, "io.enrich.ListSessions") : internal_error("out of memory");
        return varlink_reply_new(json_pack("{s:o}", "sessions", list), false);
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
                                           "policyVersion", d->config->content_hash,
                                           "sessions", (json_int_t) sessions,
                                           "uptime", (json_int_t) ((host_now_ms() - d->started_ms) / 1000)),
                                 false);
}

/* ---- org.varlink.service ---------------------------------------------- */

static json_t *method_get_info(enrichd *d, const struct ucred *peer, json_t *params) {
        return varlink_reply_new(json_pack("{s:s, s:s, s:s, s:s, s:[s, s]}",
                                           "vendor", ENRICH_VENDOR, "product", "enrichd",
                                           "version", ENRICH_VERSION, "url", ENRICH_URL,
                                           "interfaces", "org.varlink.service", "io.enrich"),
                                 false);
}

static json_t *method_get_interface_description(enrichd *d, const struct ucred *peer, json_t *params) {
        json_t *v = json_object_get(params, "interface");
        const char *name = json_string_value(v);

        if (!name)
                return error_reply("org.varlink.service.InvalidParameter",
                                   json_pack("{s:s}", "parameter", "interface"));
        if (strcmp(name, "io.enrich") == 0)
                return varlink_reply_new(json_pack("{s:s}", "description", interface_description()), false);
        if (strcmp(name, "org.varlink.service") == 0)
                return varlink_reply_new(json_pack("{s:s}", "description", varlink_service_description), false);
        return error_reply("org.varlink.service.InterfaceNotFound", json_pack("{s:s}", "interface", name));
}

typedef json_t *(*method_fn)(enrichd *d, const struct ucred *peer, json_t *params);

static const struct {
        const char *name;
        method_fn fn;
} method_table[] = {
        { "org.varlink.service.GetInfo", method_get_info },
        { "org.varlink.service.GetInterfaceDescription", method_get_interface_description },
        { "io.enrich.Enrich", method_enrich },
        { "io.enrich.AttachKey", method_attach_key },
        { "io.enrich.EndSession", method_end_session },
        { "io.enrich.Status", method_status },
        { "io.enrich.ListSessions", method_list_sessions },
};

json_t *methods_call(enrichd *d, const struct ucred *peer, const char *method,
                     json_t *parameters, bool more) {
        /* No method streams yet: a "more" call gets its single reply, which
         * without "continues" ends the stream. */
        for (size_t i = 0; i < ARRAY_SIZE(method_table); i++)
                if (strcmp(method, method_table[i].name) == 0)
                        return method_table[i].fn(d, peer, parameters);
        return error_reply("org.varlink.service.MethodNotFound", json_pack("{s:s}", "method", method));
}
