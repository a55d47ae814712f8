/* request_commands.c: enrichctl's access-request workflow through enrichd:
 * request (any user, for itself), requests (admins see all, a user its
 * own), approve and deny (admins other than the requester). The daemon
 * decides who may do what; these shape the call and the output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "enrichctl.h"

/* Appends the n strings of list to params as key (none: nothing). -1 when
 * out of memory. */
static int set_strings(json_t *params, const char *key, const char *const *list, size_t n) {
        json_t *a;

        if (n == 0)
                return 0;
        a = json_array();
        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_string(list[i])) < 0) {
                        json_decref(a);
                        a = NULL;
                }
        return a ? json_object_set_new(params, key, a) : -1;
}

/* "pending (1/2 approvals)", "approved", ... for a RequestRecord. */
static const char *state_text(const json_t *r, char *buf, size_t size) {
        const char *state = ctl_str_or_dash(r, "state");
        json_int_t needed = json_integer_value(json_object_get(r, "approvalsNeeded"));

        if (strcmp(state, "pending") == 0 && needed > 1)
                snprintf(buf, size, "pending (%zu/%lld approvals)", json_array_size(json_object_get(r, "approvedBy")),
                         (long long) needed);
        else
                snprintf(buf, size, "%s", state);
        return buf;
}

/* The human summary of a decision or a new request, on stderr; the id alone
 * on stdout, so `ID=$(enrichctl request ...)` works. */
static void say_request(const ctl_options *o, const json_t *reply) {
        const json_t *r = json_object_get(reply, "request"), *grant = json_object_get(reply, "grant");
        char state[64], when[64];

        printf("%s\n", ctl_str_or_dash(r, "id"));
        fflush(stdout);
        fprintf(stderr, "request %s of %s: %s", ctl_str_or_dash(r, "id"), ctl_str_or_dash(r, "user"),
                state_text(r, state, sizeof state));
        if (strcmp(ctl_str_or_dash(r, "state"), "pending") == 0)
                fprintf(stderr, ", decide by %s",
                        ctl_format_time(json_integer_value(json_object_get(r, "expires")), when, sizeof when));
        if (grant)
                fprintf(stderr, "; grant %s until %s", ctl_str_or_dash(grant, "id"),
                        ctl_format_time(json_integer_value(json_object_get(grant, "expires")), when, sizeof when));
        fputc('\n', stderr);
}

int cmd_request(const ctl_options *o) {
        json_t *params;
        unsigned long long ttl;
        int r;

        r = duration_parse(o->ttl, &ttl);
        if (r < 0) {
                fprintf(stderr, "enrichctl: --ttl %s: %s\n", o->ttl, duration_strerror(r));
                return CTL_EXIT_ERROR;
        }
        if (!*o->reason || strspn(o->reason, " \t") == strlen(o->reason)) {
                fprintf(stderr, "enrichctl: --reason must say why (a ticket, an incident)\n");
                return CTL_EXIT_ERROR;
        }
        if (o->n_groups + o->n_scopes == 0) {
                fprintf(stderr, "enrichctl: request needs at least one --group or --scope\n");
                return CTL_EXIT_ERROR;
        }
        params = json_pack("{s:I, s:s}", "ttl", (json_int_t) ttl, "reason", o->reason);
        if (params && (set_strings(params, "groups", o->groups, o->n_groups) < 0 ||
                       set_strings(params, "scopes", o->scopes, o->n_scopes) < 0)) {
                json_decref(params);
                params = NULL;
        }
        return ctl_say(o, "io.enrich.Request", params, say_request);
}

enum { R_ID, R_USER, R_GROUPS, R_SCOPES, R_TTL, R_STATE, R_CREATED, R_REASON, R_DECIDED_BY, R_COLUMNS };

static void request_row(json_t *r, char **row) {
        char buf[64];
        json_t *approvers = json_object_get(r, "approvedBy");

        row[R_ID] = strdup(ctl_str_or_dash(r, "id"));
        row[R_USER] = strdup(ctl_str_or_dash(r, "user"));
        row[R_GROUPS] = ctl_join(json_object_get(r, "groups"), ",");
        row[R_SCOPES] = ctl_join(json_object_get(r, "scopes"), ",");
        row[R_TTL] = strdup(ctl_format_duration(json_integer_value(json_object_get(r, "ttl")), buf, sizeof buf));
        row[R_STATE] = strdup(state_text(r, buf, sizeof buf));
        row[R_CREATED] = strdup(ctl_format_time(json_integer_value(json_object_get(r, "created")), buf, sizeof buf));
        row[R_REASON] = strdup(ctl_str_or_dash(r, "reason"));
        row[R_DECIDED_BY] = json_array_size(approvers) > 0 && !json_object_get(r, "decisionReason")
                                    ? ctl_join(approvers, ",")
                                    : strdup(ctl_str_or_dash(r, "decidedBy"));
}

int cmd_requests(const ctl_options *o) {
        static const char *const headers[R_COLUMNS] = { "ID",    "USER",    "GROUPS", "SCOPES",    "TTL",
                                                        "STATE", "CREATED", "REASON", "DECIDED BY" };
        const ctl_listing requests = {
                "io.enrich.ListRequests", "requests", "No access requests.", headers, R_COLUMNS, request_row
        };

        return ctl_list_of_user(o, &requests, o->user);
}

int cmd_approve(const ctl_options *o) {
        return ctl_say(o, "io.enrich.ApproveRequest", json_pack("{s:s}", "id", o->args[0]), say_request);
}

int cmd_deny(const ctl_options *o) {
        if (!*o->reason || strspn(o->reason, " \t") == strlen(o->reason)) {
                fprintf(stderr, "enrichctl: --reason must say why the request is denied\n");
                return CTL_EXIT_ERROR;
        }
        return ctl_say(o, "io.enrich.DenyRequest", json_pack("{s:s, s:s}", "id", o->args[0], "reason", o->reason),
                       say_request);
}
