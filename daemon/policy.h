/* policy.h: evaluates the config's rules for one login and says which claims
 * it gets, and from which rule each came (for the token and for `enrichctl
 * explain`). Pure computation: no I/O, no logging. */
#pragma once
#include <stddef.h>
#include <sys/types.h>
#include "config.h"

/* What is known about the login when its claims are computed. Strings are
 * borrowed; optional ones may be NULL. */
typedef struct policy_input {
        const char *user;
        uid_t uid;
        const char *service;
        char *const *unix_groups;   /* names of the user's Unix groups, NULL-terminated */
        const char *tty;
        const char *rhost;
        char *const *amr;
} policy_input;

typedef enum policy_claim_kind {
        POLICY_CLAIM_GROUP,
        POLICY_CLAIM_SCOPE,
        POLICY_CLAIM_TENANT,
        POLICY_CLAIM_TTL,
} policy_claim_kind;

/* One claim value and the rule that gave it. A value given by several rules
 * is recorded once per rule. */
typedef struct policy_source {
        policy_claim_kind kind;
        char *value;                /* group, scope or tenant; NULL for TTL */
        unsigned ttl;               /* for POLICY_CLAIM_TTL */
        const char *rule;           /* borrowed from the config */
} policy_source;

typedef struct policy_result {
        char **groups;              /* deduplicated, in rule order */
        char **scopes;              /* deduplicated, in rule order */
        char *tenant;               /* first matching rule that sets one wins */
        unsigned ttl;               /* min(claims_ttl, max_ttl, every matched rule's ttl) */
        char **matched_rules;       /* names, in config order */
        policy_source *sources;
        size_t n_sources;
} policy_result;

/* Evaluates c's rules for in. *ret is new (free with policy_result_free);
 * the result borrows rule names from c, so free it before c. */
int policy_evaluate(const config *c, const policy_input *in, policy_result **ret);
void policy_result_free(policy_result *r);

/* The scopes joined with single spaces (the "scope" claim). malloc'd. */
int policy_scope_string(const policy_result *r, char **ret);
/* Human-readable name of a claim kind ("group", "scope", ...). */
const char *policy_claim_kind_name(policy_claim_kind kind);
