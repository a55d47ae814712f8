/* fleet_methods.c: the fleet writes behind `enrichctl grant|disable|enable
 * --fleet` and `enrichctl revoke` of a fleet grant (fleet_methods.h). The
 * daemon signs (fleet.c); etcd carries the record to every host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "fleet.h"
#include "fleet_methods.h"
#include "grants.h"
#include "log.h"
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

json_t *fleet_method_grant(enrichd *d, const method_call *call, json_t *params, const char *user, const char **groups,
                           const char **scopes, const char *tenant, const char *reason, int64_t ttl) {
        const char **hosts = NULL;
        char *id = NULL, *by = NULL, *error = NULL;
        json_t *reply = NULL;
        bool fleet_call = false;
        int64_t now;
        int r;

        if ((reply = get_fleet_flag(params, &fleet_call)) || !fleet_call)
                goto out;
        if ((reply = get_value_list(d, params, "hosts", valid_label, "a host label", &hosts)))
                goto out;
        if (grants_new_id(&id) < 0 || !(by = peer_name(call->peer))) {
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
                .granted_by = by,
                .created = now,
                .expires = now + ttl,
        };
        r = fleet_put_grant(d, &g, (char *const *) hosts, &error);
        if (r < 0) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_USER", user, NULL },
                           "Fleet grant to %s by %s failed: %s", user, by, error ? error : strerror(-r));
                reply = fleet_error(r, error);
                goto out;
        }
        log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_GRANT", id, "ENRICH_USER", user, NULL },
                   "Fleet grant %s to %s by %s for %llds written to etcd", id, user, by, (long long) ttl);
        reply = varlink_reply_new(json_pack("{s:{s:s, s:s, s:o, s:o, s:s*, s:s, s:s, s:I, s:I, s:I, s:b, s:o}}",
                                            "grant", "id", id, "user", user, "groups",
                                            strv_to_json((char *const *) groups), "scopes",
                                            strv_to_json((char *const *) scopes), "tenant", tenant, "reason", reason,
                                            "grantedBy", by, "grantedByUid", (json_int_t) call->peer->uid, "created",
                                            (json_int_t) now, "expires", (json_int_t) (now + ttl), "fleet", true,
                                            "hosts", strv_to_json((char *const *) hosts)),
                                  false);
out:
        free(hosts);
        free(id);
        free(by);
        free(error);
        return reply;
}

/* The fleet side of revoking a grant or token (what the kind's functions
 * say): a fleet record held here is deleted in etcd first (then NULL:
 * the local revocation follows); one not held here is looked for in etcd
 * and answered for with reply when it was there. */
typedef struct fleet_kind {
        const char *method, *noun, *field;
        int (*is_fleet)(enrichd *d, const char *id, bool *ret);
        int (*delete)(enrichd *d, const char *id, bool *ret_existed, char **ret_error);
        json_t *(*reply)(void);
} fleet_kind;

static json_t *revoke_in_fleet(enrichd *d, const char *id, bool known, const fleet_kind *k) {
        char *error = NULL;
        json_t *reply = NULL;
        bool is_fleet = false, existed = false;
        int r;

        if (!d->fleet)
                return NULL;
        if (known && k->is_fleet(d, id, &is_fleet) < 0)
                return database_error(d, k->method);
        if (known && !is_fleet)
                return NULL;
        r = k->delete (d, id, &existed, &error);
        if (r < 0)
                reply = fleet_error(r, error);
        else if (!known && existed) {
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { k->field, id, NULL },
                           "Fleet %s %s (not held on this host) deleted from etcd", k->noun, id);
                reply = varlink_reply_new(k->reply(), false);
        }
        free(error);
        return reply;
}

static json_t *grant_revoked_reply(void) {
        return json_pack("{s:i, s:i}", "sessionsUpdated", 0, "sessionsRevoked", 0);
}

static json_t *token_revoked_reply(void) {
        return json_pack("{s:i}", "sessionsRevoked", 0);
}

json_t *fleet_method_revoke_grant(enrichd *d, const char *id, bool known) {
        /* A grant this host does not hold may still be a fleet grant for
         * other hosts' labels: etcd decides. */
        return revoke_in_fleet(d, id, known,
                               &(fleet_kind) { "io.enrich.RevokeGrant", "grant", "ENRICH_GRANT", fleet_is_fleet_grant,
                                               fleet_delete_grant, grant_revoked_reply });
}

json_t *fleet_method_token_issue(enrichd *d, json_t *params, const token_record *t, const char *verifier,
                                 json_t *(*record_json)(const token_record *t, int64_t now)) {
        char *digest = NULL, *error = NULL;
        json_t *reply = NULL, *record = NULL;
        bool fleet_call = false;
        int r;

        if ((reply = get_fleet_flag(params, &fleet_call)) || !fleet_call)
                goto out;
        if (tokens_verifier_digest(verifier, &digest) < 0) {
                reply = internal_error("out of memory");
                goto out;
        }
        r = fleet_put_token(d, t, digest, &error);
        if (r < 0) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_USER", t->user, NULL },
                           "Fleet token for %s by %s failed: %s", t->user, t->created_by, error ? error : strerror(-r));
                reply = fleet_error(r, error);
                goto out;
        }
        log_struct(LOG_NOTICE, LOG_MSGID_FLEET,
                   (const char *[]) { "ENRICH_TOKEN", t->id, "ENRICH_USER", t->user, NULL },
                   "Fleet token %s for %s by %s until %lld written to etcd", t->id, t->user, t->created_by,
                   (long long) t->expires);
        record = record_json(t, clock_now());
        if (!record || json_object_set_new(record, "fleet", json_true()) < 0) {
                reply = internal_error("out of memory");
                goto out;
        }
        reply = varlink_reply_new(json_pack("{s:O}", "token", record), false);
out:
        json_decref(record);
        free(digest);
        free(error);
        return reply;
}

json_t *fleet_method_token_revoke(enrichd *d, const char *id, bool known) {
        return revoke_in_fleet(d, id, known,
                               &(fleet_kind) { "io.enrich.TokenRevoke", "token", "ENRICH_TOKEN", fleet_is_fleet_token,
                                               fleet_delete_token, token_revoked_reply });
}

/* Disable or enable with fleet=true: the signed identity record into etcd. */
static json_t *put_identity(enrichd *d, json_t *params, const char *user, bool disabled, const char *reason,
                            const char *by, int64_t at) {
        char *error = NULL;
        json_t *reply = NULL;
        bool fleet_call = false;
        int r;

        if ((reply = get_fleet_flag(params, &fleet_call)) || !fleet_call)
                return reply;
        r = fleet_put_identity(d, user, disabled, reason, by, at, &error);
        if (r < 0)
                reply = fleet_error(r, error);
        free(error);
        return reply;
}

json_t *fleet_method_disable(enrichd *d, json_t *params, const char *user, const char *reason, const char *by,
                             int64_t at) {
        return put_identity(d, params, user, true, reason, by, at);
}

json_t *fleet_method_enable(enrichd *d, json_t *params, const char *user, const char *by, int64_t at) {
        return put_identity(d, params, user, false, NULL, by, at);
}

/* FleetStatus, FleetHosts, FleetJwks: from the daemon's memory, never
 * from etcd, so they answer at once even when etcd does not. */
json_t *method_fleet_status(enrichd *d, const method_call *call, json_t *params) {
        json_t *status = NULL;

        if (fleet_status(d, &status) < 0)
                return database_error(d, "io.enrich.FleetStatus");
        return varlink_reply_new(status, false);
}

json_t *method_fleet_hosts(enrichd *d, const method_call *call, json_t *params) {
        json_t *hosts = NULL;

        if (fleet_hosts(d, &hosts) < 0)
                return internal_error("out of memory");
        return varlink_reply_new(json_pack("{s:o}", "hosts", hosts), false);
}

json_t *method_fleet_jwks(enrichd *d, const method_call *call, json_t *params) {
        json_t *jwks = NULL;

        if (fleet_jwks(d, &jwks) < 0)
                return internal_error("out of memory");
        return varlink_reply_new(json_pack("{s:o}", "jwks", jwks), false);
}

/* FleetCheck: unlike the three above, asks etcd now (doctor). */
json_t *method_fleet_check(enrichd *d, const method_call *call, json_t *params) {
        json_t *check = NULL;

        if (fleet_check(d, &check) < 0)
                return internal_error("out of memory");
        return varlink_reply_new(check, false);
}
