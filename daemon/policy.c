/* policy.c: rule matching. Each match key is one small predicate so the match
 * language can grow (rhosts, hours, days, amr) and grants from sqlite can be
 * merged into the same result with their own sources. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "policy.h"

const char *policy_claim_kind_name(policy_claim_kind kind) {
        switch (kind) {
        case POLICY_CLAIM_GROUP: return "group";
        case POLICY_CLAIM_SCOPE: return "scope";
        case POLICY_CLAIM_TENANT: return "tenant";
        case POLICY_CLAIM_TTL: return "ttl";
        }
        return "unknown";
}

/* An unset list matches anything; a set one needs value in it. */
static bool list_matches(char *const *list, const char *value) {
        if (!list)
                return true;
        return value && strv_contains(list, value);
}

/* A set list needs at least one of values in it. */
static bool list_intersects(char *const *list, char *const *values) {
        if (!list)
                return true;
        for (size_t i = 0; values && values[i]; i++)
                if (strv_contains(list, values[i]))
                        return true;
        return false;
}

static bool rule_matches(const config_rule *rule, const policy_input *in) {
        return list_matches(rule->match_users, in->user) &&
               list_matches(rule->match_services, in->service) &&
               list_intersects(rule->match_unix_groups, in->unix_groups);
}

static int strv_append_unique(char ***list, const char *value) {
        size_t n = strv_length(*list);
        char **grown;

        if (strv_contains(*list, value))
                return 0;
        grown = realloc(*list, (n + 2) * sizeof(char *));
        if (!grown)
                return -ENOMEM;
        *list = grown;
        grown[n] = strdup(value);
        if (!grown[n])
                return -ENOMEM;
        grown[n + 1] = NULL;
        return 0;
}

static int add_source(policy_result *res, policy_claim_kind kind, const char *value,
                      unsigned ttl, const char *rule) {
        policy_source *grown;
        char *copy = NULL;

        if (value && !(copy = strdup(value)))
                return -ENOMEM;
        grown = realloc(res->sources, (res->n_sources + 1) * sizeof(policy_source));
        if (!grown) {
                free(copy);
                return -ENOMEM;
        }
        res->sources = grown;
        res->sources[res->n_sources++] = (policy_source) {
                .kind = kind, .value = copy, .ttl = ttl, .rule = rule,
        };
        return 0;
}

static int apply_rule(const config_rule *rule, policy_result *res) {
        int r;

        r = strv_append_unique(&res->matched_rules, rule->name);
        if (r < 0)
                return r;
        for (size_t i = 0; rule->grant_groups && rule->grant_groups[i]; i++) {
                r = strv_append_unique(&res->groups, rule->grant_groups[i]);
                if (r == 0)
                        r = add_source(res, POLICY_CLAIM_GROUP, rule->grant_groups[i], 0, rule->name);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; rule->grant_scopes && rule->grant_scopes[i]; i++) {
                r = strv_append_unique(&res->scopes, rule->grant_scopes[i]);
                if (r == 0)
                        r = add_source(res, POLICY_CLAIM_SCOPE, rule->grant_scopes[i], 0, rule->name);
                if (r < 0)
                        return r;
        }
        if (rule->grant_tenant && !res->tenant) {
                res->tenant = strdup(rule->grant_tenant);
                if (!res->tenant)
                        return -ENOMEM;
                r = add_source(res, POLICY_CLAIM_TENANT, rule->grant_tenant, 0, rule->name);
                if (r < 0)
                        return r;
        }
        if (rule->grant_ttl > 0) {
                if (rule->grant_ttl < res->ttl)
                        res->ttl = rule->grant_ttl;
                r = add_source(res, POLICY_CLAIM_TTL, NULL, rule->grant_ttl, rule->name);
                if (r < 0)
                        return r;
        }
        return 0;
}

int policy_evaluate(const config *c, const policy_input *in, policy_result **ret) {
        policy_result *res;
        int r = 0;

        if (!c || !in || !in->user || !in->service)
                return -EINVAL;
        res = calloc(1, sizeof *res);
        if (!res)
                return -ENOMEM;
        /* The shortest lifetime anyone asked for wins, and nothing outlives
         * max_ttl whatever a rule says. */
        res->ttl = c->claims_ttl < c->max_ttl ? c->claims_ttl : c->max_ttl;
        for (size_t i = 0; i < c->n_rules; i++) {
                if (!rule_matches(&c->rules[i], in))
                        continue;
                r = apply_rule(&c->rules[i], res);
                if (r < 0)
                        goto out;
        }
        *ret = res;
        res = NULL;
out:
        policy_result_free(res);
        return r;
}

int policy_scope_string(const policy_result *res, char **ret) {
        size_t len = 1;
        char *s, *p;

        for (size_t i = 0; res->scopes && res->scopes[i]; i++)
                len += strlen(res->scopes[i]) + 1;
        s = malloc(len);
        if (!s)
                return -ENOMEM;
        p = s;
        *p = '\0';
        for (size_t i = 0; res->scopes && res->scopes[i]; i++) {
                size_t n = strlen(res->scopes[i]);
                if (i > 0)
                        *p++ = ' ';
                memcpy(p, res->scopes[i], n);
                p += n;
                *p = '\0';
        }
        *ret = s;
        return 0;
}

void policy_result_free(policy_result *res) {
        if (!res)
                return;
        strv_free(res->groups);
        strv_free(res->scopes);
        strv_free(res->matched_rules);
        free(res->tenant);
        for (size_t i = 0; i < res->n_sources; i++)
                free(res->sources[i].value);
        free(res->sources);
        free(res);
}
