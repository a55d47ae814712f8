/* grant_commands.c: enrichctl commands that change or explain policy at run
 * time through enrichd: grant, grants, revoke, explain, refresh, reload.
 * The daemon authorizes each call from SO_PEERCRED; these only shape the
 * request and the output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "enrichctl.h"
#include "util.h"

/* A JSON array of the strings in list, or NULL on allocation failure. */
static json_t *string_array(const char *const *list, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_string(list[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

/* A grant's state, in the one relative style (ctl_format_relative):
 * "active, ends in 9m", "revoked 3m ago", "expired 2h ago". */
static const char *grant_state(const json_t *grant, time_t now, char *buf, size_t size) {
        time_t expires = (time_t) json_integer_value(json_object_get(grant, "expires"));
        json_t *revoked = json_object_get(grant, "revoked");
        char when[32];

        if (json_is_integer(revoked) && json_integer_value(revoked) > 0)
                snprintf(buf, size, "revoked %s",
                         ctl_format_relative((time_t) json_integer_value(revoked), now, when, sizeof when));
        else if (expires <= now)
                snprintf(buf, size, "expired %s", ctl_format_relative(expires, now, when, sizeof when));
        else
                snprintf(buf, size, "active, ends %s", ctl_format_relative(expires, now, when, sizeof when));
        return buf;
}

/* When a grant ends: absolute and relative while it is active; once it
 * has ended (revoked or expired), the absolute time it would have run to,
 * without an "(in 9m)" that would read as still running. */
static const char *grant_expires(const json_t *grant, time_t now, char *buf, size_t size) {
        time_t expires = (time_t) json_integer_value(json_object_get(grant, "expires"));
        json_t *revoked = json_object_get(grant, "revoked");

        if ((json_is_integer(revoked) && json_integer_value(revoked) > 0) || expires <= now)
                return ctl_format_absolute(expires, buf, size);
        return ctl_format_time(expires, buf, size);
}

int cmd_grant(const ctl_options *o) {
        json_t *params = NULL, *reply = NULL, *grant, *clamped;
        unsigned long long ttl;
        char expires[64];
        int r, code;

        r = duration_parse(o->ttl, &ttl);
        if (r < 0)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.InvalidValue", duration_strerror(r),
                                "--ttl %s is not a duration", o->ttl);
        if (!*o->reason || strspn(o->reason, " \t") == strlen(o->reason))
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.InvalidValue", "e.g. --reason \"INC-1234\"",
                                "--reason must say why (a ticket, an incident)");
        if (o->n_groups + o->n_scopes == 0 && !o->tenant)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.Usage", "see 'enrichctl grant --help'",
                                "grant needs at least one --group, --scope or --tenant");
        params = json_pack("{s:s, s:I, s:s}", "user", o->args[0], "ttl", (json_int_t) ttl, "reason", o->reason);
        if (!params)
                return ctl_oom();
        if ((o->n_groups && json_object_set_new(params, "groups", string_array(o->groups, o->n_groups)) < 0) ||
            (o->n_scopes && json_object_set_new(params, "scopes", string_array(o->scopes, o->n_scopes)) < 0) ||
            (o->tenant && json_object_set_new(params, "tenant", json_string(o->tenant)) < 0) ||
            (o->fleet && json_object_set_new(params, "fleet", json_true()) < 0) ||
            (o->n_hosts && json_object_set_new(params, "hosts", string_array(o->hosts, o->n_hosts)) < 0)) {
                json_decref(params);
                return ctl_oom();
        }
        if (o->force && json_object_set_new(params, "force", json_true()) < 0) {
                json_decref(params);
                return ctl_oom();
        }
        code = ctl_call(o, "io.enrich.Grant", params, &reply);
        json_decref(params);
        if (code != CTL_EXIT_OK)
                return code;
        grant = json_object_get(reply, "grant");
        clamped = json_object_get(reply, "clampedFrom");
        /* An older daemon does not say; the record shows it. */
        if (!clamped && (long long) json_integer_value(json_object_get(grant, "expires")) -
                                        (long long) json_integer_value(json_object_get(grant, "created")) <
                                (long long) ttl)
                clamped = json_integer((json_int_t) ttl);
        else
                json_incref(clamped);
        if (o->json) {
                json_t *out = json_deep_copy(grant);

                /* The record, plus what was asked when max_ttl cut it, so a
                 * script sees the clamp without reading stderr. */
                if (out && clamped)
                        json_object_set_new(out, "clampedFrom", json_incref(clamped));
                if (out)
                        ctl_print_json(out);
                json_decref(out);
                if (clamped)
                        fprintf(stderr, "enrichctl: --ttl %s is longer than max_ttl; clamped\n", o->ttl);
        } else {
                /* The id alone on stdout, so `ID=$(enrichctl grant ...)` works;
                 * the rest for the human on stderr. */
                printf("%s\n", ctl_str_or_dash(grant, "id"));
                fflush(stdout);
                fprintf(stderr, "granted to %s%s until %s\n", ctl_str_or_dash(grant, "user"),
                        json_is_true(json_object_get(grant, "fleet")) ? " across the fleet" : "",
                        ctl_format_time(json_integer_value(json_object_get(grant, "expires")), expires,
                                        sizeof(expires)));
                if (clamped)
                        fprintf(stderr,
                                "note: --ttl %s is longer than max_ttl; the grant ends at max_ttl "
                                "instead\n",
                                o->ttl);
        }
        json_decref(clamped);
        json_decref(reply);
        return CTL_EXIT_OK;
}

enum { G_ID, G_USER, G_GROUPS, G_SCOPES, G_TENANT, G_EXPIRES, G_STATE, G_REASON, G_BY, G_ORIGIN, G_COLUMNS };

/* "local", "fleet" or "fleet:ISSUER" (the issuing host). */
static char *grant_origin(json_t *g) {
        const char *issuer = json_string_value(json_object_get(g, "issuer"));
        char *s = NULL;

        if (!json_is_true(json_object_get(g, "fleet")))
                return strdup("local");
        if (!issuer)
                return strdup("fleet");
        return asprintf(&s, "fleet:%s", issuer) < 0 ? NULL : s;
}

static void grant_row(json_t *g, char **row) {
        char buf[64];

        row[G_ID] = strdup(ctl_str_or_dash(g, "id"));
        row[G_USER] = strdup(ctl_str_or_dash(g, "user"));
        row[G_GROUPS] = ctl_join(json_object_get(g, "groups"), ",");
        row[G_SCOPES] = ctl_join(json_object_get(g, "scopes"), ",");
        row[G_TENANT] = strdup(ctl_str_or_dash(g, "tenant"));
        row[G_EXPIRES] = strdup(grant_expires(g, time(NULL), buf, sizeof(buf)));
        row[G_STATE] = strdup(grant_state(g, time(NULL), buf, sizeof(buf)));
        row[G_REASON] = strdup(ctl_str_or_dash(g, "reason"));
        row[G_BY] = strdup(ctl_str_or_dash(g, "grantedBy"));
        row[G_ORIGIN] = grant_origin(g);
}

int cmd_grants(const ctl_options *o) {
        static const char *const headers[G_COLUMNS] = { "ID",      "USER",  "GROUPS", "SCOPES",     "TENANT",
                                                        "EXPIRES", "STATE", "REASON", "GRANTED BY", "ORIGIN" };
        const ctl_listing grants = { "io.enrich.ListGrants",
                                     "grants",
                                     o->all ? "No grants." : "No active grants.",
                                     headers,
                                     G_COLUMNS,
                                     grant_row };
        json_t *params = NULL;
        int code;

        params = json_object();
        if (!params || (o->user && json_object_set_new(params, "user", json_string(o->user)) < 0) ||
            (o->all && json_object_set_new(params, "all", json_true()) < 0)) {
                json_decref(params);
                return ctl_oom();
        }
        code = ctl_list(o, &grants, params);
        json_decref(params);
        return code;
}

int cmd_revoke(const ctl_options *o) {
        json_t *params = NULL, *reply = NULL;
        const char *method;
        int targets = (o->n_args > 0) + (o->session != NULL) + (o->user != NULL), code;

        if (targets != 1)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.Usage", "see 'enrichctl revoke --help'",
                                "revoke takes exactly one of GRANT_ID, --session SID, --user USER");
        if (o->n_args > 0) {
                method = "io.enrich.RevokeGrant";
                params = json_pack("{s:s}", "id", o->args[0]);
        } else if (o->session) {
                method = "io.enrich.RevokeSession";
                params = json_pack("{s:s}", "sid", o->session);
        } else {
                method = "io.enrich.RevokeUser";
                params = json_pack("{s:s}", "user", o->user);
        }
        if (!params)
                return ctl_oom();
        code = ctl_call(o, method, params, &reply);
        json_decref(params);
        if (code != CTL_EXIT_OK)
                return code;
        if (o->json) {
                json_t *out = json_deep_copy(reply);

                /* Say what was revoked, even where the reply is empty. */
                if (out) {
                        json_object_set_new(out, "revoked",
                                            json_string(o->n_args    ? "grant"
                                                        : o->session ? "session"
                                                                     : "user"));
                        json_object_set_new(out, "target",
                                            json_string(o->n_args    ? o->args[0]
                                                        : o->session ? o->session
                                                                     : o->user));
                        ctl_print_json(out);
                }
                json_decref(out);
        } else if (o->n_args > 0 && json_is_false(json_object_get(reply, "changed"))) {
                printf("grant %s already revoked; nothing changed\n", o->args[0]);
        } else if (o->n_args > 0) {
                printf("revoked grant %s: %lld live session(s) re-issued without it, %lld revoked\n", o->args[0],
                       (long long) json_integer_value(json_object_get(reply, "sessionsUpdated")),
                       (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
        } else if (o->session) {
                printf("revoked session %s: its claims key is revoked and the session ended\n", o->session);
        } else {
                printf("revoked everything of %s: %lld grant(s), %lld live session(s)\n", o->user,
                       (long long) json_integer_value(json_object_get(reply, "grantsRevoked")),
                       (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
        }
        json_decref(reply);
        return CTL_EXIT_OK;
}

/* "rule NAME" or "grant ID" for a ClaimSource. */
static const char *source_name(const json_t *source, char *buf, size_t size) {
        const char *rule = json_string_value(json_object_get(source, "rule"));
        const char *grant = json_string_value(json_object_get(source, "grant"));

        if (rule)
                snprintf(buf, size, "rule %s", rule);
        else if (grant)
                snprintf(buf, size, "grant %s", grant);
        else
                snprintf(buf, size, "defaults (claims_ttl / max_ttl)");
        return buf;
}

/* Prints every source of one claim kind: "  LABEL  VALUE  from SOURCE". */
static void print_sources(const json_t *sources, const char *claim, const char *label) {
        json_t *s;
        size_t i;
        bool any = false;
        char from[160];

        json_array_foreach(sources, i, s) {
                if (!streq_ptr(json_string_value(json_object_get(s, "claim")), claim))
                        continue;
                printf("  %-8s %-24s from %s\n", any ? "" : label, ctl_str_or_dash(s, "value"),
                       source_name(s, from, sizeof(from)));
                any = true;
        }
        if (!any)
                printf("  %-8s -\n", label);
}

static void print_explain(const ctl_options *o, const json_t *r) {
        const json_t *rules = json_object_get(r, "rules"), *grants = json_object_get(r, "grants");
        const json_t *sources = json_object_get(r, "sources"), *item;
        const char *conflict = json_string_value(json_object_get(r, "tenantConflict"));
        char *unix_groups = ctl_join(json_object_get(r, "unixGroups"), ", ");
        char buf[64], left[64];
        size_t i, matched = 0, width = 4;
        long long ttl;
        bool empty = json_array_size(json_object_get(r, "groups")) == 0 &&
                     json_array_size(json_object_get(r, "scopes")) == 0 &&
                     !json_string_value(json_object_get(r, "tenant"));

        printf("Login of %s (uid %lld) through service %s", ctl_str_or_dash(r, "user"),
               (long long) json_integer_value(json_object_get(r, "uid")), o->service);
        if (o->tty)
                printf(", tty %s", o->tty);
        if (o->rhost)
                printf(", from %s", o->rhost);
        if (o->n_amr) {
                printf(", amr");
                for (size_t a = 0; a < o->n_amr; a++)
                        printf("%s%s", a ? "," : " ", o->amr[a]);
        }
        printf(", now\n  unix groups: %s\n\n", unix_groups ? unix_groups : "?");
        free(unix_groups);

        if (empty)
                printf("Claims: none (no rule matched and no active grant gives anything)\n");
        else
                printf("Claims:\n");
        print_sources(sources, "group", "groups");
        print_sources(sources, "scope", "scopes");
        if (conflict)
                printf("  %-8s - (refused: tenant conflict, see below)\n", "tenant");
        else
                print_sources(sources, "tenant", "tenant");
        /* A rule's ttl is only the token's lifetime when it is the shortest
         * limit; name the rule that set it, else claims_ttl / max_ttl. */
        ttl = json_integer_value(json_object_get(r, "ttl"));
        printf("  %-8s %-24s", "ttl", ctl_format_duration(ttl, buf, sizeof(buf)));
        json_array_foreach(sources, i, item) {
                char from[160];

                if (!streq_ptr(json_string_value(json_object_get(item, "claim")), "ttl") ||
                    strtoll(ctl_str_or_dash(item, "value"), NULL, 10) != ttl)
                        continue;
                printf(" %s %s", matched++ ? "," : "from", source_name(item, from, sizeof(from)));
        }
        if (matched == 0)
                printf(" from claims_ttl / max_ttl");
        putchar('\n');

        json_array_foreach(rules, i, item)
                if (strlen(ctl_str_or_dash(item, "name")) > width)
                        width = strlen(ctl_str_or_dash(item, "name"));
        printf("\nRules, in config order:\n");
        if (json_array_size(rules) == 0)
                printf("  (the config has no rules)\n");
        json_array_foreach(rules, i, item) {
                bool yes = json_is_true(json_object_get(item, "matched"));

                snprintf(buf, sizeof(buf), "line %lld", (long long) json_integer_value(json_object_get(item, "line")));
                if (yes)
                        printf("  %-8s %-*s  %s\n", "match", (int) width, ctl_str_or_dash(item, "name"), buf);
                else
                        printf("  %-8s %-*s  %-10s %s\n", "no match", (int) width, ctl_str_or_dash(item, "name"), buf,
                               ctl_str_or_dash(item, "reason"));
        }

        printf("\nActive grants of %s:\n", ctl_str_or_dash(r, "user"));
        if (json_array_size(grants) == 0)
                printf("  none\n");
        json_array_foreach(grants, i, item) {
                char *groups = ctl_join(json_object_get(item, "groups"), ",");
                char *scopes = ctl_join(json_object_get(item, "scopes"), ",");

                printf("  %s  groups %s  scopes %s  tenant %s  %s  by %s: %s\n", ctl_str_or_dash(item, "id"),
                       groups ? groups : "?", scopes ? scopes : "?", ctl_str_or_dash(item, "tenant"),
                       grant_state(item, time(NULL), left, sizeof(left)), ctl_str_or_dash(item, "grantedBy"),
                       ctl_str_or_dash(item, "reason"));
                free(groups);
                free(scopes);
        }
        if (conflict)
                printf("\nTenant conflict: %s\n", conflict);
}

int cmd_explain(const ctl_options *o) {
        json_t *params = json_pack("{s:s, s:s}", "user", o->args[0], "service", o->service);

        if (params && ((o->tty && json_object_set_new(params, "tty", json_string(o->tty)) < 0) ||
                       (o->rhost && json_object_set_new(params, "rhost", json_string(o->rhost)) < 0) ||
                       (o->n_amr && json_object_set_new(params, "amr", string_array(o->amr, o->n_amr)) < 0))) {
                json_decref(params);
                params = NULL;
        }
        return ctl_say(o, "io.enrich.Explain", params, print_explain);
}

static void say_refreshed(const ctl_options *o, const json_t *reply) {
        printf("refreshed %s%s: %lld live session(s) re-issued, %lld revoked\n",
               o->user ? "the sessions of " : "all sessions", o->user ? o->user : "",
               (long long) json_integer_value(json_object_get(reply, "sessionsUpdated")),
               (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
}

int cmd_refresh(const ctl_options *o) {
        return ctl_say(o, "io.enrich.Refresh", o->user ? json_pack("{s:s}", "user", o->user) : json_object(),
                       say_refreshed);
}

static void say_reloaded(const ctl_options *o, const json_t *reply) {
        printf("reloaded; policy version %s\n", ctl_str_or_dash(reply, "policyVersion"));
}

int cmd_reload(const ctl_options *o) {
        return ctl_say(o, "io.enrich.Reload", json_object(), say_reloaded);
}
