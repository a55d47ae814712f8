/* dispatch.c: the method table of the main socket. Each row says who may
 * call the method (its access class), which parameter names it takes, and
 * which handler answers it. The access rule is checked here, once, before
 * the handler runs, so a handler never sees a call it may not serve; every
 * refusal is audited here too. docs/contract.md ("Who may call what")
 * says the same in prose.
 *
 *   ACCESS_ANYONE         any local user
 *   ACCESS_ROOT           uid 0 only (the PAM module's calls)
 *   ACCESS_ADMIN          root or a member of admin_group
 *   ACCESS_SELF_OR_ADMIN  anyone; the handler keeps a caller who is not an
 *                         admin to its own rows (method_support.c:
 *                         self_or_admin_user, self_or_admin_uid) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "account_methods.h"
#include "audit.h"
#include "audit_methods.h"
#include "config_methods.h"
#include "dispatch.h"
#include "fleet_methods.h"
#include "grant_methods.h"
#include "identity.h"
#include "key_methods.h"
#include "method_support.h"
#include "request_methods.h"
#include "session_methods.h"
#include "util.h"
#include "varlink.h"
#include "varlink_service.h"

typedef enum access_class {
        ACCESS_ANYONE,
        ACCESS_ROOT,
        ACCESS_ADMIN,
        ACCESS_SELF_OR_ADMIN,
} access_class;

typedef json_t *(*method_handler)(enrichd *d, const method_call *call, json_t *params);

typedef struct method {
        const char *name;
        access_class access;
        const char *const *params;      /* the parameter names it takes; NULL: none */
        method_handler handler;
} method;

/* The parameter names each method takes; the handler checks their values. */
#define PARAMS(name, ...) static const char *const name[] = { __VA_ARGS__, NULL }
PARAMS(enrich_params, "user", "service", "tty", "rhost", "ruser", "pid", "asid", "amr", "tokenId", "keySerial");
PARAMS(attach_params, "sid", "keySerial");
PARAMS(sid_params, "sid");
PARAMS(user_params, "user");
PARAMS(id_params, "id");
PARAMS(list_params, "user", "limit", "after");
PARAMS(page_params, "limit", "after");
PARAMS(grant_params, "user", "groups", "scopes", "tenant", "ttl", "reason", "force", "fleet", "hosts");
PARAMS(list_grants_params, "user", "all", "limit", "after");
PARAMS(explain_params, "user", "service", "tty", "rhost", "amr");
PARAMS(authenticate_params, "user", "tokenId", "verifier", "service", "rhost", "ruser");
PARAMS(token_issue_params, "user", "ttl", "verifier", "scopes", "description", "fleet");
PARAMS(token_rotate_params, "id", "verifier", "grace");
PARAMS(disable_params, "user", "reason", "fleet");
PARAMS(enable_params, "user", "fleet");
PARAMS(check_account_params, "user", "service", "rhost");
PARAMS(audit_list_params, "since", "until", "afterId", "after", "user", "action", "result", "limit", "follow");
PARAMS(audit_verify_params, "after", "fleetHost");
PARAMS(rotate_key_params, "compromised");
PARAMS(fleet_enroll_params, "hostId", "kids");
PARAMS(request_params, "groups", "scopes", "ttl", "reason");
PARAMS(deny_params, "id", "reason");

/* One row a method, in columns: clang-format would close them up. */
/* clang-format off */
static const method methods[] = {
        { "io.enrich.Enrich",          ACCESS_ROOT,          enrich_params,        method_enrich },
        { "io.enrich.AttachKey",       ACCESS_ROOT,          attach_params,        method_attach_key },
        { "io.enrich.EndSession",      ACCESS_ADMIN,         sid_params,           method_end_session },
        { "io.enrich.Status",          ACCESS_ANYONE,        NULL,                 method_status },
        { "io.enrich.ListSessions",    ACCESS_SELF_OR_ADMIN, list_params,          method_list_sessions },
        { "io.enrich.Grant",           ACCESS_ADMIN,         grant_params,         method_grant },
        { "io.enrich.ListGrants",      ACCESS_SELF_OR_ADMIN, list_grants_params,   method_list_grants },
        { "io.enrich.RevokeGrant",     ACCESS_ADMIN,         id_params,            method_revoke_grant },
        { "io.enrich.RevokeSession",   ACCESS_ADMIN,         sid_params,           method_revoke_session },
        { "io.enrich.RevokeUser",      ACCESS_ADMIN,         user_params,          method_revoke_user },
        { "io.enrich.Explain",         ACCESS_ADMIN,         explain_params,       method_explain },
        { "io.enrich.Refresh",         ACCESS_ADMIN,         user_params,          method_refresh },
        { "io.enrich.Reload",          ACCESS_ADMIN,         NULL,                 method_reload },
        { "io.enrich.Authenticate",    ACCESS_ROOT,          authenticate_params,  method_authenticate },
        { "io.enrich.TokenIssue",      ACCESS_ADMIN,         token_issue_params,   method_token_issue },
        { "io.enrich.TokenList",       ACCESS_ADMIN,         list_params,          method_token_list },
        { "io.enrich.TokenRevoke",     ACCESS_ADMIN,         id_params,            method_token_revoke },
        { "io.enrich.TokenRotate",     ACCESS_ADMIN,         token_rotate_params,  method_token_rotate },
        { "io.enrich.TokenUnlock",     ACCESS_ADMIN,         user_params,          method_token_unlock },
        { "io.enrich.Disable",         ACCESS_ADMIN,         disable_params,       method_disable },
        { "io.enrich.Enable",          ACCESS_ADMIN,         enable_params,        method_enable },
        { "io.enrich.CheckAccount",    ACCESS_ROOT,          check_account_params, method_check_account },
        { "io.enrich.AuditList",       ACCESS_SELF_OR_ADMIN, audit_list_params,    method_audit_list },
        { "io.enrich.AuditVerify",     ACCESS_ADMIN,         audit_verify_params,  method_audit_verify },
        { "io.enrich.AuditCheckpoint", ACCESS_ADMIN,         NULL,                 method_audit_checkpoint },
        { "io.enrich.ListKeys",        ACCESS_ANYONE,        page_params,          method_list_keys },
        { "io.enrich.RotateKey",       ACCESS_ADMIN,         rotate_key_params,    method_rotate_key },
        { "io.enrich.FleetStatus",     ACCESS_ADMIN,         NULL,                 method_fleet_status },
        { "io.enrich.FleetCheck",      ACCESS_ADMIN,         NULL,                 method_fleet_check },
        { "io.enrich.FleetHosts",      ACCESS_ADMIN,         page_params,          method_fleet_hosts },
        { "io.enrich.FleetJwks",       ACCESS_ANYONE,        page_params,          method_fleet_jwks },
        { "io.enrich.FleetEnroll",     ACCESS_ADMIN,         fleet_enroll_params,  method_fleet_enroll },
        { "io.enrich.Request",         ACCESS_ANYONE,        request_params,       method_request },
        { "io.enrich.ListRequests",    ACCESS_SELF_OR_ADMIN, list_params,          method_list_requests },
        { "io.enrich.ApproveRequest",  ACCESS_ADMIN,         id_params,            method_approve_request },
        { "io.enrich.DenyRequest",     ACCESS_ADMIN,         deny_params,          method_deny_request },
};
/* clang-format on */

/* Whether peer may call m; *ret_admin: whether it is an admin, looked up
 * (NSS) only for the classes that need it. */
static bool allowed(const enrichd *d, const method *m, const struct ucred *peer, bool *ret_admin) {
        switch (m->access) {
        case ACCESS_ADMIN:
        case ACCESS_SELF_OR_ADMIN:
                *ret_admin = identity_is_admin(d->config->admin_group, peer->uid);
                return m->access == ACCESS_SELF_OR_ADMIN || *ret_admin;
        case ACCESS_ROOT: *ret_admin = peer->uid == 0; return *ret_admin;
        case ACCESS_ANYONE:
        default: *ret_admin = peer->uid == 0; return m->access == ACCESS_ANYONE;
        }
}

static const char *refusal_reason(access_class access) {
        return access == ACCESS_ROOT ? "only root may do this" : "only root and members of admin_group may do this";
}

/* Records a permission.denied row when reply (borrowed) is
 * io.enrich.PermissionDenied: every refusal of every method, whether the
 * table's rule or a handler's self-or-admin rule made it, in one place. */
static void audit_refusal(enrichd *d, const struct ucred *peer, const char *method_name, const json_t *reply) {
        const char *error = json_string_value(json_object_get(reply, "error"));
        const char *reason = json_string_value(json_object_get(json_object_get(reply, "parameters"), "reason"));
        char *name = NULL;

        if (!error || strcmp(error, "io.enrich.PermissionDenied") != 0)
                return;
        name = peer_name(peer);
        (void) audit_record_refusal(d, peer, name, AUDIT_PERMISSION_DENIED, AUDIT_DENIED, method_name,
                                    json_pack("{s:s, s:s, s:I}", "method", method_name, "reason", reason ? reason : "",
                                              "pid", (json_int_t) peer->pid));
        free(name);
}

/* A refusal names the admin group by its configured name, so the caller
 * can say which group to join. */
static void name_admin_group(const enrichd *d, json_t *reply) {
        json_t *params = json_object_get(reply, "parameters");

        if (!streq_ptr(json_string_value(json_object_get(reply, "error")), "io.enrich.PermissionDenied") ||
            !json_is_object(params) || !d->config->admin_group)
                return;
        (void) json_object_set_new(params, "adminGroup", json_string(d->config->admin_group));
}

json_t *dispatch_call(enrichd *d, const struct ucred *peer, const char *method_name, json_t *parameters, bool more) {
        return dispatch_call_stream(d, peer, method_name, parameters, more, 0);
}

json_t *dispatch_call_stream(enrichd *d, const struct ucred *peer, const char *method_name, json_t *parameters,
                             bool more, uint64_t stream) {
        static const char *const no_params[] = { NULL };
        const varlink_interface interfaces[] = { { "io.enrich", interface_description() } };
        const method *m = NULL;
        method_call call = { .method = method_name, .peer = peer, .more = more, .stream = stream };
        json_t *reply = NULL;

        if (varlink_service_call(interfaces, ARRAY_SIZE(interfaces), method_name, parameters, &reply))
                return reply;
        for (size_t i = 0; !m && i < ARRAY_SIZE(methods); i++)
                if (strcmp(method_name, methods[i].name) == 0)
                        m = &methods[i];
        if (!m)
                return error_reply("org.varlink.service.MethodNotFound", json_pack("{s:s}", "method", method_name));
        if (!allowed(d, m, peer, &call.admin))
                reply = permission_denied(peer, method_name, refusal_reason(m->access));
        else if (!(reply = check_known(parameters, m->params ? m->params : no_params)))
                /* Only AuditList streams; any other "more" call gets its
                 * single reply, which without "continues" ends the stream. */
                reply = m->handler(d, &call, parameters);
        audit_refusal(d, peer, method_name, reply);
        name_admin_group(d, reply);
        return reply;
}
