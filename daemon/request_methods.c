/* request_methods.c: access requests (Request, ListRequests,
 * ApproveRequest, DenyRequest): any user asks for groups or scopes for
 * itself, admins other than the requester decide, an approval becomes a
 * grant through grant_commit, as `enrichctl grant` does. Every caller who
 * is not an admin is an attacker here: what one user can make the daemon
 * store is bounded by requests.max_pending, and refusals go through the
 * dispatcher's aggregated audit (PermissionDenied). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "grant_methods.h"
#include "grants.h"
#include "identities.h"
#include "identity.h"
#include "log.h"
#include "method_support.h"
#include "paging.h"
#include "request_methods.h"
#include "requests.h"
#include "varlink.h"

/* The state a reader sees: a pending request past its time is expired,
 * whether or not the expiry pass has marked it yet. */
static const char *visible_state(const access_request *r, int64_t now) {
        return strcmp(r->state, REQUEST_PENDING) == 0 && r->expires <= now ? REQUEST_EXPIRED : r->state;
}

/* Whether policy asks two approvers for what r names (requests.
 * two_approver_groups and two_approver_scopes, as configured now). */
static int approvals_needed(const config *c, char *const *groups, char *const *scopes) {
        for (size_t i = 0; groups && groups[i]; i++)
                if (strv_contains(c->request_two_approver_groups, groups[i]))
                        return 2;
        for (size_t i = 0; scopes && scopes[i]; i++)
                if (strv_contains(c->request_two_approver_scopes, scopes[i]))
                        return 2;
        return 1;
}

/* A group a user may ask for: one enrichd knows, a userdb group of the
 * config or a group some rule grants. Unlike an admin's grant, a request
 * is typed by anyone, so a typo or an invented group ("wheel") is refused
 * here rather than put before an admin. */
static bool request_group_ok(const enrichd *d, const char *s) {
        const config *c = d->config;

        for (size_t i = 0; i < c->n_groups; i++)
                if (strcmp(c->groups[i].name, s) == 0)
                        return true;
        for (size_t i = 0; i < c->n_rules; i++)
                if (strv_contains(c->rules[i].grant_groups, s))
                        return true;
        return strv_contains(c->request_two_approver_groups, s);
}

/* An io.enrich.RequestRecord. NULL when out of memory. */
static json_t *request_to_json(const access_request *r, int64_t now) {
        json_t *approvers = json_array();
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:I, s:s, s:I, s:I, s:s, s:i}", "id", r->id, "user", r->user,
                              "groups", strv_to_json(r->groups), "scopes", strv_to_json(r->scopes), "ttl",
                              (json_int_t) r->ttl, "reason", r->reason, "created", (json_int_t) r->created, "expires",
                              (json_int_t) r->expires, "state", visible_state(r, now), "approvalsNeeded",
                              r->approvals_needed);

        if (!o || !approvers)
                goto fail;
        if (r->first_approver && json_array_append_new(approvers, json_string(r->first_approver)) < 0)
                goto fail;
        if (r->decided_by && strcmp(r->state, REQUEST_APPROVED) == 0 &&
            json_array_append_new(approvers, json_string(r->decided_by)) < 0)
                goto fail;
        if (json_object_set_new(o, "approvedBy", approvers) < 0) {
                approvers = NULL;
                goto fail;
        }
        approvers = NULL;
        if ((r->decided_by && json_object_set_new(o, "decidedBy", json_string(r->decided_by)) < 0) ||
            (r->decided && json_object_set_new(o, "decided", json_integer(r->decided)) < 0) ||
            (r->decision_reason && json_object_set_new(o, "decisionReason", json_string(r->decision_reason)) < 0) ||
            (r->grant_id && json_object_set_new(o, "grant", json_string(r->grant_id)) < 0))
                goto fail;
        return o;
fail:
        json_decref(approvers);
        json_decref(o);
        return NULL;
}

static json_t *no_such_request(const char *id) {
        return error_reply("io.enrich.NoSuchRequest", json_pack("{s:s}", "id", id));
}

/* The request as the reply's "request", read back from storage. */
static json_t *request_reply(enrichd *d, const char *method, const char *id, json_t *grant_record) {
        access_request r = { 0 };
        json_t *record, *reply;

        if (requests_get(d->db, id, &r) < 0) {
                json_decref(grant_record);
                return database_error(d, method);
        }
        record = request_to_json(&r, clock_now());
        access_request_clear(&r);
        if (!record) {
                json_decref(grant_record);
                return internal_error("out of memory");
        }
        reply = grant_record ? json_pack("{s:o, s:o}", "request", record, "grant", grant_record)
                             : json_pack("{s:o}", "request", record);
        return reply ? varlink_reply_new(reply, false) : internal_error("out of memory");
}

void requests_expire_due(enrichd *d) {
        access_request *due = NULL;
        size_t n = 0;
        int64_t now = clock_now();

        if (requests_due(d->db, now, &due, &n) < 0) {
                log_error("Failed to read expired requests: %s", db_last_error(d->db));
                return;
        }
        for (size_t i = 0; i < n; i++) {
                access_request *r = &due[i];

                if (requests_decide(d->db, r->id, REQUEST_EXPIRED, NULL, 0, now, NULL, NULL) == 0) {
                        (void) audit_recordf(d, NULL, r->user, AUDIT_REQUEST_EXPIRED, AUDIT_OK, "{s:s, s:I, s:I}",
                                             "requestId", r->id, "created", (json_int_t) r->created, "expires",
                                             (json_int_t) r->expires);
                        log_struct(LOG_NOTICE, LOG_MSGID_REQUEST, (const char *[]) { "ENRICH_USER", r->user, NULL },
                                   "Access request %s of %s expired undecided", r->id, r->user);
                } else
                        log_error("Failed to expire request %s: %s", r->id, db_last_error(d->db));
                access_request_clear(r);
        }
        free(due);
}

json_t *method_request(enrichd *d, const method_call *call, json_t *params) {
        const char *reason, **groups = NULL, **scopes = NULL;
        char *user = NULL, *id = NULL, limit[160];
        json_int_t ttl;
        int64_t now, pending = 0;
        json_t *reply = NULL;
        bool set;
        int k = 0;

        if ((reply = get_string(params, "reason", true, REQUESTS_MAX_REASON, &reason)) ||
            (reply = get_int(params, "ttl", true, 1, INT32_MAX, &ttl, &set)) ||
            (reply = get_value_list(d, params, "groups", request_group_ok,
                                    "a group enrichd knows (a userdb group or one a rule grants)", &groups)) ||
            (reply = get_value_list(d, params, "scopes", grant_scope_ok, "a scope (printable, no spaces or quotes)",
                                    &scopes)))
                goto out;
        if (!groups && !scopes) {
                reply = invalid_parameter("groups", "a request needs at least one of groups, scopes");
                goto out;
        }
        if (strv_length((char *const *) groups) > REQUESTS_MAX_VALUES ||
            strv_length((char *const *) scopes) > REQUESTS_MAX_VALUES) {
                snprintf(limit, sizeof limit, "a request names at most %d groups and %d scopes", REQUESTS_MAX_VALUES,
                         REQUESTS_MAX_VALUES);
                reply = invalid_parameter(groups && strv_length((char *const *) groups) > REQUESTS_MAX_VALUES
                                                  ? "groups"
                                                  : "scopes",
                                          limit);
                goto out;
        }
        /* For itself only: the name is the peer's, never a parameter. */
        if (!(user = peer_name(call->peer))) {
                reply = internal_error("the caller's uid has no user name");
                goto out;
        }
        /* An offboarded user asks for nothing (its logins are refused
         * anyway); not a refusal row either: it costs no audit. */
        if (identities_is_disabled(d->db, &(identity_key) { .name = user, .uid = call->peer->uid }, &k)) {
                reply = k < 0 ? database_error(d, "io.enrich.Request")
                              : error_reply("io.enrich.AccountDisabled", json_pack("{s:s}", "user", user));
                goto out;
        }
        requests_expire_due(d);
        if (requests_count_pending(d->db, user, &pending) < 0) {
                reply = database_error(d, "io.enrich.Request");
                goto out;
        }
        if (d->config->request_max_pending == 0) {
                reply = permission_denied(call->peer, call->method,
                                          "access requests are turned off here (requests.max_pending = 0)");
                goto out;
        }
        if (pending >= (int64_t) d->config->request_max_pending) {
                /* A refusal, so the dispatcher audits it, aggregated: a
                 * user looping on this costs no rows beyond the bound. */
                snprintf(limit, sizeof limit,
                         "you have %lld pending requests, the most requests.max_pending allows (%u); "
                         "wait for a decision or for them to expire",
                         (long long) pending, d->config->request_max_pending);
                reply = permission_denied(call->peer, call->method, limit);
                goto out;
        }
        if (ttl > (json_int_t) d->config->max_ttl)
                ttl = d->config->max_ttl;
        if (requests_new_id(&id) < 0) {
                reply = internal_error("out of memory");
                goto out;
        }
        now = clock_now();
        access_request r = {
                .id = id,
                .user = user,
                .uid = call->peer->uid,
                .groups = (char **) groups,
                .scopes = (char **) scopes,
                .ttl = ttl,
                .reason = (char *) reason,
                .created = now,
                .expires = now + d->config->request_timeout,
                .approvals_needed = approvals_needed(d->config, (char *const *) groups, (char *const *) scopes),
        };
        if (requests_add(d->db, &r) < 0) {
                reply = database_error(d, "io.enrich.Request");
                goto out;
        }
        (void) audit_recordf(d, call->peer, user, AUDIT_REQUEST_CREATED, AUDIT_OK,
                             "{s:s, s:o, s:o, s:s, s:I, s:I, s:i}", "requestId", id, "groups",
                             strv_to_json((char *const *) groups), "scopes", strv_to_json((char *const *) scopes),
                             "reason", reason, "ttl", (json_int_t) ttl, "expires", (json_int_t) r.expires,
                             "approvalsNeeded", r.approvals_needed);
        log_decision(LOG_MSGID_REQUEST, call->peer, NULL, user, NULL,
                     "Access request %s by %s for %llds (reason: %s): %zu groups, %zu scopes, %d approvals needed", id,
                     user, (long long) ttl, reason, strv_length((char *const *) groups),
                     strv_length((char *const *) scopes), r.approvals_needed);
        reply = request_reply(d, "io.enrich.Request", id, NULL);
out:
        free(groups);
        free(scopes);
        free(user);
        free(id);
        return reply;
}

/* Storage's row callback: the request into the page. */
static int add_request_row(void *userdata, const access_request *r) {
        json_t *row = request_to_json(r, clock_now());

        return row ? page_add(userdata, row, r->created, r->id) : -ENOMEM;
}

json_t *method_list_requests(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        char *own = NULL;
        page p = { 0 };
        json_t *reply = NULL;
        int r;

        if ((reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) || (reply = page_begin(&p, params)))
                goto out;
        if ((reply = self_or_admin_user(call, "only root and admins may list other users' requests", &user, &own)))
                goto out;
        r = requests_list(d->db, user, page_after(&p), page_fetch(&p), add_request_row, &p);
        reply = listing_reply(d, &p, r, "io.enrich.ListRequests", "requests");
out:
        page_done(&p);
        free(own);
        return reply;
}

/* What ApproveRequest and DenyRequest check first: the request exists, is
 * pending, and the caller is not its requester. NULL, with *r loaded and
 * *ret_by the caller's name (malloc'd), or the reply to send. */
static json_t *load_for_decision(enrichd *d, const method_call *call, const char *id, access_request *r,
                                 char **ret_by) {
        char *by = NULL, detail[200];
        int k;

        requests_expire_due(d);
        k = requests_get(d->db, id, r);
        if (k == -ENOENT)
                return no_such_request(id);
        if (k < 0)
                return database_error(d, call->method);
        if (strcmp(visible_state(r, clock_now()), REQUEST_PENDING) != 0) {
                json_t *reply = error_reply("io.enrich.RequestNotPending",
                                            json_pack("{s:s, s:s}", "id", id, "state", visible_state(r, clock_now())));
                access_request_clear(r);
                return reply;
        }
        if (!(by = peer_name(call->peer))) {
                access_request_clear(r);
                return internal_error("the caller's uid has no user name");
        }
        /* By uid and by name: an alias of the requester is the requester. */
        if (call->peer->uid == r->uid || strcmp(by, r->user) == 0) {
                snprintf(detail, sizeof detail, "you may not decide your own request %s: another admin must", id);
                access_request_clear(r);
                free(by);
                return permission_denied(call->peer, call->method, detail);
        }
        *ret_by = by;
        return NULL;
}

json_t *method_approve_request(enrichd *d, const method_call *call, json_t *params) {
        const char *id;
        char *by = NULL, *grant_id = NULL, *pwbuf = NULL;
        access_request r = { 0 };
        struct passwd pw;
        json_t *reply = NULL, *record = NULL;
        int64_t now, active = 0, ttl;
        int needed, k;

        if ((reply = get_string(params, "id", true, MAX_NAME_LENGTH, &id)) ||
            (reply = load_for_decision(d, call, id, &r, &by)))
                goto out;
        /* The stricter of the policy when it was asked and the policy now. */
        needed = approvals_needed(d->config, r.groups, r.scopes);
        if (r.approvals_needed > needed)
                needed = r.approvals_needed;
        if (needed >= 2 && !r.first_approver) {
                if (requests_approve_first(d->db, id, by, call->peer->uid) < 0) {
                        reply = database_error(d, call->method);
                        goto out;
                }
                (void) audit_recordf(d, call->peer, r.user, AUDIT_REQUEST_APPROVED, AUDIT_OK, "{s:s, s:i, s:i}",
                                     "requestId", id, "approvals", 1, "approvalsNeeded", needed);
                log_decision(LOG_MSGID_REQUEST, call->peer, NULL, r.user, NULL,
                             "Access request %s of %s approved by %s (1 of 2 approvals)", id, r.user, by);
                reply = request_reply(d, call->method, id, NULL);
                goto out;
        }
        if (needed >= 2 && (r.first_approver_uid == call->peer->uid || strcmp(r.first_approver, by) == 0)) {
                reply = permission_denied(call->peer, call->method,
                                          "you approved this request already: it needs a second, different admin");
                goto out;
        }
        k = identity_lookup_user(r.user, 0, &pw, &pwbuf);
        if (k < 0) {
                reply = k == -ENOENT ? no_such_user(r.user) : internal_error("failed to look up the user");
                goto out;
        }
        now = clock_now();
        if (grants_count_active(d->db, r.user, now, &active) < 0) {
                reply = database_error(d, call->method);
                goto out;
        }
        if (active >= GRANTS_MAX_ACTIVE) {
                reply = invalid_parameter("id", "the user has too many active grants (1024)");
                goto out;
        }
        ttl = r.ttl < (int64_t) d->config->max_ttl ? r.ttl : (int64_t) d->config->max_ttl;
        if (grants_new_id(&grant_id) < 0) {
                reply = internal_error("out of memory");
                goto out;
        }
        grant g = {
                .id = grant_id,
                .user = r.user,
                .uid = pw.pw_uid,
                .groups = r.groups,
                .scopes = r.scopes,
                .reason = r.reason,
                .granted_by = by,
                .granted_by_uid = call->peer->uid,
                .created = now,
                .expires = now + ttl,
                .request_id = (char *) id,
        };
        /* The grant first: a request is marked approved only once its
         * grant exists (the daemon runs one call at a time, so nothing
         * decides it in between). */
        if ((reply = grant_commit(d, call->peer, call->method, &g, &record)))
                goto out;
        if (requests_decide(d->db, id, REQUEST_APPROVED, by, call->peer->uid, now, NULL, grant_id) < 0) {
                reply = database_error(d, call->method);
                goto out;
        }
        (void) audit_recordf(d, call->peer, r.user, AUDIT_REQUEST_APPROVED, AUDIT_OK, "{s:s, s:s, s:i, s:i, s:s*}",
                             "requestId", id, "grantId", grant_id, "approvals", needed, "approvalsNeeded", needed,
                             "firstApprover", r.first_approver);
        log_decision(LOG_MSGID_REQUEST, call->peer, grant_id, r.user, NULL,
                     "Access request %s of %s approved by %s: grant %s", id, r.user, by, grant_id);
        reply = request_reply(d, call->method, id, record);
        record = NULL;
out:
        json_decref(record);
        access_request_clear(&r);
        free(grant_id);
        free(pwbuf);
        free(by);
        return reply;
}

json_t *method_deny_request(enrichd *d, const method_call *call, json_t *params) {
        const char *id, *reason;
        char *by = NULL;
        access_request r = { 0 };
        json_t *reply = NULL;

        if ((reply = get_string(params, "id", true, MAX_NAME_LENGTH, &id)) ||
            (reply = get_string(params, "reason", true, GRANTS_MAX_REASON, &reason)) ||
            (reply = load_for_decision(d, call, id, &r, &by)))
                goto out;
        if (requests_decide(d->db, id, REQUEST_DENIED, by, call->peer->uid, clock_now(), reason, NULL) < 0) {
                reply = database_error(d, call->method);
                goto out;
        }
        (void) audit_recordf(d, call->peer, r.user, AUDIT_REQUEST_DENIED, AUDIT_OK, "{s:s, s:s}", "requestId", id,
                             "reason", reason);
        log_decision(LOG_MSGID_REQUEST, call->peer, NULL, r.user, NULL, "Access request %s of %s denied by %s: %s", id,
                     r.user, by, reason);
        reply = request_reply(d, call->method, id, NULL);
out:
        access_request_clear(&r);
        free(by);
        return reply;
}
