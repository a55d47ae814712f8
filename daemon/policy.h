/* policy.h: evaluates the config's rules for one login and says which claims
 * it gets, and from which rule each came (for the token and for `enrichctl
 * explain`). No logging and no DNS; the only I/O is the C library reading
 * the time zone file when a rule names hours or days. */
#pragma once
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>
#include "config.h"

/* An active just-in-time grant (from sqlite), as the evaluator sees it.
 * Strings are borrowed. */
typedef struct policy_grant {
        const char *id;
        char *const *groups;        /* NULL-terminated, may be NULL */
        char *const *scopes;        /* NULL-terminated, may be NULL */
        const char *tenant;         /* NULL: none */
        time_t expires;             /* already clamped to max_ttl when granted */
} policy_grant;

/* What is known about the login when its claims are computed. Strings are
 * borrowed; optional ones may be NULL.
 *
 * When session_context is false (userdb: "is this user a member now?"),
 * rules that need a login to be evaluated (they name services, ttys,
 * rhosts or amr) do not match. */
/* user is required; service may be NULL outside a login. now == 0 means
 * time(NULL). */
typedef struct policy_input {
        const char *user;
        uid_t uid;
        const char *service;
        char *const *unix_groups;   /* names of the user's Unix groups, NULL-terminated,
                                     * resolved through NSS at each evaluation */
        const char *tty;
        const char *rhost;          /* an address (v4/v6) or a host name */
        char *const *amr;
        time_t now;                 /* injected so tests control hours/days */
        bool session_context;
        const policy_grant *grants; /* the user's active grants (expires > now) */
        size_t n_grants;
        bool want_reasons;          /* fill policy_rule_result.reason (explain);
                                     * false leaves every reason NULL */
} policy_input;

typedef enum policy_claim_kind {
        POLICY_CLAIM_GROUP,
        POLICY_CLAIM_SCOPE,
        POLICY_CLAIM_TENANT,
        POLICY_CLAIM_TTL,
} policy_claim_kind;

/* One claim value and the rule or grant that gave it. A value given by
 * several rules or grants is recorded once per giver. Exactly one of rule
 * and grant is set. */
typedef struct policy_source {
        policy_claim_kind kind;
        char *value;                /* group, scope or tenant; NULL for TTL */
        unsigned ttl;               /* for POLICY_CLAIM_TTL */
        const char *rule;           /* borrowed from the config */
        char *grant;                /* grant id, owned */
} policy_source;

/* Why each rule did or did not apply, in config order, for explain. */
typedef struct policy_rule_result {
        const char *rule;           /* borrowed from the config */
        int line;
        bool matched;
        char *reason;               /* owned; why it did not match, e.g.
                                     * "service sshd is not in [login, su]";
                                     * NULL when matched, and always NULL
                                     * unless policy_input.want_reasons */
} policy_rule_result;

typedef struct policy_result {
        char **groups;              /* deduplicated, in rule order */
        char **scopes;              /* deduplicated, in rule order */
        char *tenant;               /* NULL when none, or when two sources give
                                     * different tenants (see tenant_conflict) */
        char *tenant_conflict;      /* owned message naming both sources and
                                     * tenants, or NULL */
        unsigned ttl;               /* token lifetime: min(claims_ttl, max_ttl,
                                     * every matched rule's ttl) */
        time_t grants_end;          /* the earliest expiry of the grants that
                                     * gave anything (0: none): no token
                                     * carrying their claims may outlive it */
        char **matched_rules;       /* names, in config order */
        char **used_grants;         /* ids of the grants that gave anything */
        policy_source *sources;
        size_t n_sources;
        policy_rule_result *rules;  /* one per config rule, config order */
        size_t n_rules;
} policy_result;

/* True when r gives no group, no scope and no tenant. */
bool policy_result_empty(const policy_result *r);

/* Evaluates c's rules for in. *ret is new (free with policy_result_free);
 * the result borrows rule names from c, so free it before c. */
int policy_evaluate(const config *c, const policy_input *in, policy_result **ret);
void policy_result_free(policy_result *r);

/* The scopes joined with single spaces (the "scope" claim). malloc'd. */
int policy_scope_string(const policy_result *r, char **ret);
/* Human-readable name of a claim kind ("group", "scope", ...). */
const char *policy_claim_kind_name(policy_claim_kind kind);
