/* test_config.c: enrichd's config parser and policy evaluation: values and
 * defaults of a valid file, file:line errors for broken ones, and which
 * rules match which logins with which lifetimes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "policy.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-config-XXXXXX";
static char path[512];

static void write_config(const char *text) {
        FILE *f = fopen(path, "w");
        if (!f) {
                perror(path);
                exit(2);
        }
        fputs(text, f);
        fclose(f);
}

/* Loads text; returns the error message (caller frees) or NULL on success. */
static char *load_error(const char *text) {
        config *c = NULL;
        char *error = NULL;

        write_config(text);
        if (config_load(path, &c, &error) == 0) {
                config_free(c);
                return NULL;
        }
        return error ? error : strdup("(no message)");
}

/* The error names the file and line and contains want. */
static int error_is(const char *text, int line, const char *want) {
        char *error = load_error(text);
        char prefix[600];
        int ok;

        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
        ok = error && strncmp(error, prefix, strlen(prefix)) == 0 && strstr(error, want);
        if (!ok)
                printf("# got: %s (wanted %s... %s)\n", error ? error : "success", prefix, want);
        free(error);
        return ok;
}

static const char valid[] =
        "socket = \"/tmp/t/io.enrich\";\n"
        "state_dir = \"/tmp/t/state\";\n"
        "max_ttl = 1800;\n"
        "groups = ( { name = \"jit-deploy\"; gid = 61001; } );\n"
        "rules = (\n"
        "  { name = \"ops-over-ssh\";\n"                                      /* line 6 */
        "    match = { services = [\"sshd\"]; unix_groups = [\"ops\"]; };\n"
        "    grant = { groups = [\"ops-readonly\"]; scopes = [\"logs:read\"]; tenant = \"acme\"; ttl = 3600; };\n"
        "  },\n"
        "  { name = \"alice\";\n"
        "    match = { users = [\"alice\"]; };\n"
        "    grant = { scopes = [\"logs:read\", \"deploy:staging\"]; ttl = 600; };\n"
        "  },\n"
        "  { name = \"everyone\";\n"
        "    grant = { groups = [\"staff\"]; };\n"
        "  }\n"
        ");\n";

static void test_valid(void) {
        config *c = NULL;
        char *error = NULL;
        char host[256] = "", issuer[300];
        int r;

        write_config(valid);
        r = config_load(path, &c, &error);
        CHECK(r == 0, "valid config parses");
        if (r < 0) {
                printf("# %s\n", error);
                free(error);
                return;
        }
        CHECK(strcmp(c->socket, "/tmp/t/io.enrich") == 0, "socket is read");
        CHECK(strcmp(c->state_dir, "/tmp/t/state") == 0, "state_dir is read");
        CHECK(strcmp(c->jwks, CONFIG_DEFAULT_JWKS) == 0, "jwks defaults");
        CHECK(strcmp(c->userdb_socket, CONFIG_DEFAULT_USERDB_SOCKET) == 0, "userdb_socket defaults");
        CHECK(c->claims_ttl == 900, "claims_ttl defaults to 900");
        CHECK(c->max_ttl == 1800, "max_ttl is read");
        CHECK(strcmp(c->admin_group, "enrich-admin") == 0, "admin_group defaults to enrich-admin");
        gethostname(host, sizeof host - 1);
        snprintf(issuer, sizeof issuer, "enrichd@%s", host);
        CHECK(strcmp(c->issuer, issuer) == 0, "issuer defaults to enrichd@hostname");
        CHECK(c->n_groups == 1 && strcmp(c->groups[0].name, "jit-deploy") == 0 && c->groups[0].gid == 61001,
              "groups are read");
        CHECK(c->n_rules == 3, "three rules");
        CHECK(strcmp(c->rules[0].name, "ops-over-ssh") == 0 && c->rules[0].line == 6, "rule name and line");
        CHECK(strv_contains(c->rules[0].match_services, "sshd") && strv_contains(c->rules[0].match_unix_groups, "ops") &&
              !c->rules[0].match_users, "rule match lists");
        CHECK(c->rules[0].grant_ttl == 3600 && strcmp(c->rules[0].grant_tenant, "acme") == 0, "rule grant ttl and tenant");
        CHECK(strlen(c->content_hash) == 16, "policy version hash is set");
        config_free(c);

        /* The policy version follows the content. */
        {
                config *a = NULL, *b = NULL;
                write_config(valid);
                config_load(path, &a, NULL);
                write_config("claims_ttl = 60;\n");
                config_load(path, &b, NULL);
                CHECK(a && b && strcmp(a->content_hash, b->content_hash) != 0, "policy version changes with the file");
                CHECK(b && b->n_rules == 0 && b->claims_ttl == 60, "a config without rules is valid");
                config_free(a);
                config_free(b);
        }
}

static void test_errors(void) {
        char *error;

        CHECK(error_is("socket = \"/x\";\n\nclaims_ttl = = 900;\n", 3, "syntax error"),
              "syntax error names file and line");
        CHECK(error_is("\n\nclaims_ttl = \"900\";\n", 3, "'claims_ttl' must be an integer"),
              "wrong type is refused with its line");
        CHECK(error_is("socket = \"/x\";\nsockett = \"/y\";\n", 2, "unknown setting 'sockett'"),
              "unknown setting is refused with its line");
        CHECK(error_is("\nmax_ttl = -1;\n", 2, "must not be negative"), "negative max_ttl is refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { scopes = [\"a\"];\n   ttl = -60; }; }\n);\n", 4,
                       "must not be negative"), "negative rule ttl is refused with its line");
        CHECK(error_is("rules = (\n { name = \"r\";\n   match = { users = [\"bob\"]; }; }\n);\n", 2,
                       "has no 'grant'"), "rule without grant is refused with its line");
        CHECK(error_is("rules = (\n { name = \"r\";\n   match = { user = [\"bob\"]; };\n   grant = { scopes = [\"a\"]; }; }\n);\n",
                       3, "unknown match key 'user'"), "unknown match key is refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   match = { hours = \"07:00-19:00\"; };\n   grant = { scopes = [\"a\"]; }; }\n);\n",
                       3, "not supported yet"), "match keys of the next issue are refused, not ignored");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { scopes = [\"a\"]; expires = 5; }; }\n);\n",
                       3, "unknown grant key 'expires'"), "unknown grant key is refused");
        CHECK(error_is("rules = (\n { name = \"r\"; grant = { ttl = 5; }; },\n { name = \"r\"; grant = { ttl = 6; }; }\n);\n",
                       3, "duplicate rule name"), "duplicate rule names are refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   match = { users = \"bob\"; };\n   grant = { ttl = 5; }; }\n);\n",
                       3, "must be a list of strings"), "a string where a list belongs is refused");
        CHECK(error_is("state_dir = \"relative\";\n", 1, "absolute path"), "relative paths are refused");
        CHECK(error_is("groups = ( { name = \"g\"; } );\n", 1, "has no 'gid'"), "group without gid is refused");

        error = NULL;
        {
                config *c = NULL;
                CHECK(config_load("/nonexistent/enrichd.conf", &c, &error) == -ENOENT && error &&
                      strstr(error, "/nonexistent/enrichd.conf") && strstr(error, "No such file"),
                      "a missing file is reported with its path");
        }
        free(error);
}

static policy_result *evaluate(const config *c, const char *user, const char *service, char **groups) {
        policy_result *res = NULL;
        policy_input in = { .user = user, .uid = 1000, .service = service, .unix_groups = groups };
        if (policy_evaluate(c, &in, &res) < 0)
                return NULL;
        return res;
}

static void test_policy(void) {
        char *ops[] = { "alice", "ops", NULL };
        char *none[] = { "bob", NULL };
        config *c = NULL;
        policy_result *res;
        bool found_source = false;

        write_config(valid);
        if (config_load(path, &c, NULL) < 0) {
                CHECK(0, "policy config loads");
                return;
        }
        /* ops member over ssh: ops rule + everyone; ttl = min(900, 1800, 3600). */
        res = evaluate(c, "carol", "sshd", ops);
        CHECK(res && strv_length(res->groups) == 2 && strv_contains(res->groups, "ops-readonly") &&
              strv_contains(res->groups, "staff"), "unix_groups + services rule grants its groups");
        CHECK(res && res->tenant && strcmp(res->tenant, "acme") == 0, "tenant from the matching rule");
        CHECK(res && res->ttl == 900, "ttl is claims_ttl when rules allow longer");
        for (size_t i = 0; res && i < res->n_sources; i++)
                if (res->sources[i].kind == POLICY_CLAIM_GROUP && strcmp(res->sources[i].value, "ops-readonly") == 0 &&
                    strcmp(res->sources[i].rule, "ops-over-ssh") == 0)
                        found_source = true;
        CHECK(found_source, "each claim records the rule that gave it");
        policy_result_free(res);

        /* Same user over another service: no ops rule. */
        res = evaluate(c, "carol", "login", ops);
        CHECK(res && !strv_contains(res->groups, "ops-readonly") && !res->tenant,
              "services match restricts the rule");
        policy_result_free(res);

        /* Not in ops: no ops rule. */
        res = evaluate(c, "bob", "sshd", none);
        CHECK(res && !strv_contains(res->groups, "ops-readonly"), "unix_groups match restricts the rule");
        CHECK(res && strv_length(res->matched_rules) == 1, "only the catch-all rule matches");
        policy_result_free(res);

        /* alice: users match, scopes deduplicated, shortest ttl wins. */
        res = evaluate(c, "alice", "sshd", ops);
        {
                char *scope = NULL;
                CHECK(res && policy_scope_string(res, &scope) == 0 && strcmp(scope, "logs:read deploy:staging") == 0,
                      "scopes are deduplicated and space-separated");
                free(scope);
        }
        CHECK(res && res->ttl == 600, "a rule's shorter ttl wins");
        policy_result_free(res);
        config_free(c);

        /* max_ttl clamps whatever claims_ttl and rules say. */
        write_config("claims_ttl = 7200;\nmax_ttl = 300;\n"
                     "rules = ( { name = \"long\"; grant = { scopes = [\"x\"]; ttl = 86400; }; } );\n");
        c = NULL;
        if (config_load(path, &c, NULL) == 0) {
                res = evaluate(c, "bob", "sshd", none);
                CHECK(res && res->ttl == 300, "ttl is clamped by max_ttl");
                policy_result_free(res);
        } else
                CHECK(0, "clamp config loads");
        config_free(c);
}

int main(void) {
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrichd.conf", dir);
        test_valid();
        test_errors();
        test_policy();
        unlink(path);
        rmdir(dir);
        TAP_EXIT();
}
