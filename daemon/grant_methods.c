/* grant_methods.c: the io.enrich methods of just-in-time grants (Grant,
 * ListGrants, RevokeGrant, RevokeUser) and Explain, which shows what
 * policy and grants give a login. Who may call each stands in dispatch.c. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "clock.h"
#include "fleet.h"
#include "fleet_methods.h"
#include "grant_apply.h"
#include "grant_methods.h"
#include "grants.h"
#include "identity.h"
#include "issue.h"
#include "live.h"
#include "log.h"
#include "method_support.h"
#include "names.h"
#include "paging.h"
#include "policy.h"
#include "util.h"
#include "varlink.h"

/* A Unix group name as useradd would accept it, give or take: letters,
 * digits, '_', '-', '.', not starting with '-' or a digit-only name. */
static bool plausible_group_name(const char *s) {
        bool digits_only = true;

        if (!*s || *s == '-' || *s == '.' || strlen(s) > 32)
                return false;
        for (const char *p = s; *p; p++) {
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                      *p == '-' || *p == '.' || (*p == '$' && p[1] == '\0')))
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

static bool grant_group_ok(const enrichd *d, const char *s) {
        return configured_group(d->config, s) || plausible_group_name(s);
}

bool grant_scope_ok(const enrichd *d, const char *s) {
        return valid_scope(s);
}

/* Whether policy knows group: a userdb group of the config or a group
 * some rule grants. */
static bool known_group(const config *c, const char *group) {
        if (configured_group(c, group))
                return true;
        for (size_t i = 0; i < c->n_rules; i++)
                if (strv_contains(c->rules[i].grant_groups, group))
                        return true;
        return false;
}

/* A group nothing serves would be granted and never seen (not through
 * userdb, not in any rule): refused unless force, naming the groups that
 * are known and the close match. NULL when every group is known. */
static json_t *check_known_groups(const config *c, const char *const *groups, bool force) {
        const char **known = NULL, *close;
        size_t n = 0;
        json_t *list = NULL, *reply = NULL;
        char reason[512];

        for (size_t i = 0; !force && groups && groups[i] && !reply; i++) {
                if (known_group(c, groups[i]))
                        continue;
                if (!known) {
                        known = calloc(c->n_groups + 1, sizeof(*known));
                        list = json_array();
                        if (!known || !list) {
                                reply = internal_error("out of memory");
                                break;
                        }
                        for (size_t g = 0; g < c->n_groups; g++)
                                known[n++] = c->groups[g].name;
                        for (size_t g = 0; g < c->n_groups; g++)
                                json_array_append_new(list, json_string(c->groups[g].name));
                        for (size_t r = 0; r < c->n_rules; r++)
                                for (char **q = c->rules[r].grant_groups; q && *q; q++)
                                        json_array_append_new(list, json_string(*q));
                }
                close = names_suggest(groups[i], known, n);
                for (size_t r = 0; !close && r < c->n_rules; r++)
                        close = c->rules[r].grant_groups
                                        ? names_suggest(groups[i], (const char *const *) c->rules[r].grant_groups, 0)
                                        : NULL;
                snprintf(reason, sizeof reason,
                         "unknown group \"%s\": no userdb group of the config and no "
                         "rule gives it, so it would show nowhere%s%s%s",
                         groups[i], close ? "; did you mean \"" : "", close ? close : "", close ? "\"?" : "");
                reply = error_reply("io.enrich.UnknownGroup",
                                    json_pack("{s:s, s:s, s:O, s:s*}", "group", groups[i], "reason", reason, "known",
                                              list, "suggestion", close));
        }
        free(known);
        json_decref(list);
        return reply;
}

/* An io.enrich.GrantRecord. NULL when out of memory. */
static json_t *grant_to_json(const grant *g) {
        json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:I, s:I, s:I}", "id", g->id, "user", g->user, "groups",
                              strv_to_json(g->groups), "scopes", strv_to_json(g->scopes), "reason", g->reason,
                              "grantedBy", g->granted_by, "grantedByUid", (json_int_t) g->granted_by_uid, "created",
                              (json_int_t) g->created, "expires", (json_int_t) g->expires);
        if (!o)
                return NULL;
        if ((g->tenant && json_object_set_new(o, "tenant", json_string(g->tenant)) < 0) ||
            (g->revoked && json_object_set_new(o, "revoked", json_integer(g->revoked)) < 0) ||
            (g->revoked_by && json_object_set_new(o, "revokedBy", json_string(g->revoked_by)) < 0) ||
            (g->request_id && json_object_set_new(o, "request", json_string(g->request_id)) < 0)) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* grant_to_json, with where the grant came from: fleet true and issuer
 * (the issuing host) for a fleet grant. NULL when out of memory, or on a
 * database failure (*ret_error -EIO). */
static json_t *grant_to_json_origin(enrichd *d, const grant *g, int *ret_error) {
        json_t *o = grant_to_json(g);
        char *issuer = NULL;
        bool fleet_grant = false;
        int r;

        *ret_error = -ENOMEM;
        if (!o)
                return NULL;
        r = fleet_grant_origin(d, g->id, &fleet_grant, &issuer);
        if (r < 0) {
                *ret_error = r;
                json_decref(o);
                return NULL;
        }
        if (fleet_grant && (json_object_set_new(o, "fleet", json_true()) < 0 ||
                            (issuer && json_object_set_new(o, "issuer", json_string(issuer)) < 0))) {
                json_decref(o);
                o = NULL;
        }
        free(issuer);
        return o;
}

json_t *grant_commit(enrichd *d, const struct ucred *peer, const char *method, const grant *g, json_t **ret_record) {
        live_counts counts = { 0 };
        grant stored = { 0 };
        json_t *record;
        int64_t ttl = g->expires - g->created;

        /* The new claims appear in the user's open sessions now, not at the
         * next login. */
        if (grant_apply_add(d, g, "grant added", &counts) < 0)
                return database_error(d, method);
        (void) audit_recordf(d, peer, g->user, AUDIT_GRANT_CREATED, AUDIT_OK,
                             "{s:s, s:o, s:o, s:s*, s:s, s:I, s:I, s:s*}", "grantId", g->id, "groups",
                             strv_to_json(g->groups), "scopes", strv_to_json(g->scopes), "tenant", g->tenant, "reason",
                             g->reason, "ttl", (json_int_t) ttl, "expires", (json_int_t) g->expires, "requestId",
                             g->request_id);
        log_decision(LOG_MSGID_GRANT_NEW, peer, g->id, g->user, NULL,
                     "Grant %s to %s by %s for %llds (reason: %s%s%s): %zu groups, %zu scopes%s%s; "
                     "%d sessions re-issued, %d revoked",
                     g->id, g->user, g->granted_by, (long long) ttl, g->reason, g->request_id ? ", request " : "",
                     g->request_id ? g->request_id : "", strv_length(g->groups), strv_length(g->scopes),
                     g->tenant ? ", tenant " : "", g->tenant ? g->tenant : "", counts.updated, counts.revoked);
        /* What was stored, read back, so the reply is exactly the record. */
        if (grants_get(d->db, g->id, &stored) < 0)
                return database_error(d, method);
        record = grant_to_json(&stored);
        grant_clear(&stored);
        if (!record)
                return internal_error("out of memory");
        *ret_record = record;
        return NULL;
}

json_t *method_grant(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *tenant, *reason, **groups = NULL, **scopes = NULL;
        struct passwd pw;
        char *pwbuf = NULL, *id = NULL, *by = NULL;
        json_int_t ttl, requested_ttl;
        int64_t now, active = 0;
        json_t *reply = NULL, *record = NULL;
        bool set;
        json_t *force = json_object_get(params, "force");
        int r;

        if (force && !json_is_null(force) && !json_is_boolean(force)) {
                reply = invalid_parameter("force", "must be a boolean");
                goto out;
        }
        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "tenant", false, GRANTS_MAX_VALUE_LENGTH, &tenant)) ||
            (reply = get_string(params, "reason", true, GRANTS_MAX_REASON, &reason)) ||
            (reply = get_int(params, "ttl", true, 1, INT32_MAX, &ttl, &set)) ||
            (reply = get_value_list(d, params, "groups", grant_group_ok, "a group name", &groups)) ||
            (reply = get_value_list(d, params, "scopes", grant_scope_ok, "a scope (printable, no spaces or quotes)",
                                    &scopes)) ||
            (reply = check_known_groups(d->config, groups, json_is_true(force))))
                goto out;
        if (!groups && !scopes && !tenant) {
                reply = invalid_parameter("groups", "a grant needs at least one of groups, scopes, tenant");
                goto out;
        }
        if (tenant && !valid_scope(tenant)) {
                reply = invalid_parameter("tenant", "must be printable, without spaces or quotes");
                goto out;
        }
        /* Fleet mode: signed and written to etcd; every host, this one
         * too, applies it when its watch sees it. */
        if ((reply = fleet_method_grant(d, call, params, user, groups, scopes, tenant, reason,
                                        ttl > (json_int_t) d->config->max_ttl ? d->config->max_ttl : ttl)))
                goto out;
        r = identity_lookup_user(user, 0, &pw, &pwbuf);
        if (r == -ENOENT) {
                reply = no_such_user(user);
                goto out;
        }
        if (r < 0) {
                reply = internal_error("failed to look up the user");
                goto out;
        }
        now = clock_now();
        if (grants_count_active(d->db, user, now, &active) < 0) {
                reply = database_error(d, "io.enrich.Grant");
                goto out;
        }
        if (active >= GRANTS_MAX_ACTIVE) {
                reply = invalid_parameter("user", "the user has too many active grants (1024)");
                goto out;
        }
        /* Clamped, not refused: the admin asked for as long as allowed. */
        requested_ttl = ttl;
        if (ttl > (json_int_t) d->config->max_ttl)
                ttl = d->config->max_ttl;
        if (grants_new_id(&id) < 0 || !(by = peer_name(call->peer))) {
                reply = internal_error("out of memory");
                goto out;
        }
        grant g = {
                .id = id,
                .user = (char *) user,
                .uid = pw.pw_uid,
                .groups = (char **) groups,
                .scopes = (char **) scopes,
                .tenant = (char *) tenant,
                .reason = (char *) reason,
                .granted_by = by,
                .granted_by_uid = call->peer->uid,
                .created = now,
                .expires = now + ttl,
        };
        reply = grant_commit(d, call->peer, "io.enrich.Grant", &g, &record);
        /* clampedFrom: what was asked, when max_ttl cut it. */
        if (!reply)
                reply = varlink_reply_new(json_pack("{s:o, s:o*}", "grant", record, "clampedFrom",
                                                    requested_ttl > ttl ? json_integer(requested_ttl) : NULL),
                                          false);
out:
        free(groups);
        free(scopes);
        free(pwbuf);
        free(id);
        free(by);
        return reply;
}

static json_t *grant_list_json(enrichd *d, const grant_list *l) {
        json_t *a = json_array();
        int error;

        for (size_t i = 0; a && i < l->n; i++) {
                json_t *g = grant_to_json_origin(d, &l->items[i], &error);
                if (!g || json_array_append_new(a, g) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

typedef struct grant_page {
        enrichd *d;
        page *page;
} grant_page;

/* Storage's row callback: the grant, with its origin, into the page. */
static int add_grant_row(void *userdata, const grant *g) {
        grant_page *gp = userdata;
        int error = 0;
        json_t *row = grant_to_json_origin(gp->d, g, &error);

        return row ? page_add(gp->page, row, g->created, g->id) : error;
}

json_t *method_list_grants(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        char *own = NULL;
        page p = { 0 };
        json_t *reply = NULL, *all;
        int r;

        if ((reply = get_string(params, "user", false, MAX_NAME_LENGTH, &user)) || (reply = page_begin(&p, params)))
                goto out;
        all = json_object_get(params, "all");
        if (all && !json_is_null(all) && !json_is_boolean(all)) {
                reply = invalid_parameter("all", "must be a boolean");
                goto out;
        }
        if ((reply = self_or_admin_user(call, "only root and admins may list other users' grants", &user, &own)))
                goto out;
        r = grants_list(d->db, user, json_is_true(all), clock_now(), page_after(&p), page_fetch(&p), add_grant_row,
                        &(grant_page) { .d = d, .page = &p });
        reply = listing_reply(d, &p, r, "io.enrich.ListGrants", "grants");
out:
        page_done(&p);
        free(own);
        return reply;
}

/* RevokeGrant on this host, after the fleet's part if any (fleet_then):
 * params' id was checked by method_revoke_grant. */
static json_t *revoke_grant_here(enrichd *d, const struct ucred *peer, json_t *params) {
        const char *id = json_string_value(json_object_get(params, "id"));
        char *by = NULL;
        grant g = { 0 };
        live_counts counts = { 0 };
        json_t *reply = NULL;
        bool changed = false;
        int r;

        r = grants_get(d->db, id, &g);
        if (r == -ENOENT) {
                reply = error_reply("io.enrich.NoSuchGrant", json_pack("{s:s}", "id", id));
                goto out;
        }
        /* Re-issued before replying: when the admin's command returns, no
         * live key carries the grant any more. */
        if (r < 0 || !(by = peer_name(peer)) ||
            (r = grant_apply_revoke(d, id, by, "grant revoked", NULL, &changed, &counts)) < 0) {
                reply = r == -ENOENT ? error_reply("io.enrich.NoSuchGrant", json_pack("{s:s}", "id", id))
                                     : database_error(d, "io.enrich.RevokeGrant");
                goto out;
        }
        (void) audit_recordf(d, peer, g.user, AUDIT_GRANT_REVOKED, AUDIT_OK, "{s:s, s:b, s:i, s:i}", "grantId", id,
                             "wasActive", changed, "sessionsUpdated", counts.updated, "sessionsRevoked",
                             counts.revoked);
        log_decision(LOG_MSGID_GRANT_REVOKED, peer, id, g.user, NULL,
                     "Grant %s of %s revoked by %s%s: %d sessions re-issued, %d revoked", id, g.user, by,
                     changed ? "" : " (it was no longer active)", counts.updated, counts.revoked);
        /* changed: false when it had been revoked before, so the client can
         * say "already revoked" rather than claim it did something. */
        reply = varlink_reply_new(json_pack("{s:i, s:i, s:b}", "sessionsUpdated", counts.updated, "sessionsRevoked",
                                            counts.revoked, "changed", changed),
                                  false);
out:
        grant_clear(&g);
        free(by);
        return reply;
}

json_t *method_revoke_grant(enrichd *d, const method_call *call, json_t *params) {
        const char *id;
        grant g = { 0 };
        json_t *reply = NULL;
        int r;

        if ((reply = get_string(params, "id", true, MAX_NAME_LENGTH, &id)))
                return reply;
        r = grants_get(d->db, id, &g);
        grant_clear(&g);
        /* A fleet grant goes from etcd first, so no host keeps it; the
         * revocation here follows once etcd answered. */
        if ((r == 0 || r == -ENOENT) &&
            (reply = fleet_method_revoke_grant(d, call, params, id, r == 0, revoke_grant_here)))
                return reply;
        return revoke_grant_here(d, call->peer, params);
}

json_t *method_revoke_user(enrichd *d, const method_call *call, json_t *params) {
        const char *user;
        char *by = NULL, reason[300];
        struct passwd pw;
        char *pwbuf = NULL;
        json_t *reply = NULL;
        int grants = 0, sessions = 0;
        bool exists;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)))
                goto out;
        /* Offboarding may come after the account is deleted: an unknown
         * user is fine as long as there was something to revoke. */
        exists = identity_lookup_user(user, 0, &pw, &pwbuf) == 0;
        by = peer_name(call->peer);
        snprintf(reason, sizeof reason, "user revoked by %s", by ? by : "an admin");
        if (grants_revoke_user(d->db, user, by ? by : "admin", clock_now(), &grants) < 0) {
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
        (void) audit_recordf(d, call->peer, user, AUDIT_GRANT_REVOKED, AUDIT_OK, "{s:s, s:i, s:i}", "scope",
                             "all of the user", "grantsRevoked", grants, "sessionsRevoked", sessions);
        log_decision(LOG_MSGID_GRANT_REVOKED, call->peer, NULL, user, NULL,
                     "All of %s revoked by %s: %d grants, %d sessions", user, by ? by : "an admin", grants, sessions);
        reply = varlink_reply_new(json_pack("{s:i, s:i}", "grantsRevoked", grants, "sessionsRevoked", sessions), false);
out:
        free(pwbuf);
        free(by);
        return reply;
}

static json_t *rule_results_json(const policy_result *res) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < res->n_rules; i++) {
                const policy_rule_result *rr = &res->rules[i];
                json_t *o = json_pack("{s:s, s:i, s:b}", "name", rr->rule ? rr->rule : "", "line", rr->line, "matched",
                                      rr->matched);
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
                o = json_pack("{s:s, s:s}", "claim", policy_claim_kind_name(src->kind), "value",
                              src->kind == POLICY_CLAIM_TTL || !src->value ? ttl : src->value);
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

json_t *method_explain(enrichd *d, const method_call *call, json_t *params) {
        const char *user, *service, *tty, *rhost, **amr = NULL;
        evaluation ev = { 0 };
        json_t *reply = NULL, *out_params = NULL, *grants = NULL;
        int r;

        if ((reply = get_string(params, "user", true, MAX_NAME_LENGTH, &user)) ||
            (reply = get_string(params, "service", true, MAX_NAME_LENGTH, &service)) ||
            (reply = get_string(params, "tty", false, MAX_NAME_LENGTH, &tty)) ||
            (reply = get_string(params, "rhost", false, MAX_NAME_LENGTH, &rhost)) || (reply = get_amr(params, &amr)) ||
            (reply = check_known_amr(amr)))
                goto out;
        r = issue_evaluate(d,
                           &(login_context) { .user = user,
                                              .service = service,
                                              .tty = tty,
                                              .rhost = rhost,
                                              .amr = (char *const *) amr,
                                              .asid = -1,
                                              .want_reasons = true },
                           clock_now(), true, &ev);
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
        grants = grant_list_json(d, &ev.grants);
        out_params = json_pack("{s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:O, s:o}", "user", user, "uid",
                               (json_int_t) ev.uid, "unixGroups", strv_to_json(ev.unix_groups), "groups",
                               strv_to_json(ev.result->groups), "scopes", strv_to_json(ev.result->scopes), "ttl",
                               (json_int_t) ev.result->ttl, "rules", rule_results_json(ev.result), "grants", grants,
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
