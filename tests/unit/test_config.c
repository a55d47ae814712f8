/* test_config.c: enrichd's config parser: values and defaults of a valid
 * file, a file:line error for every kind of mistake (all of them reported,
 * not only the first), and the basics of policy evaluation on a loaded file.
 * The policy language itself is tested in test_policy.c. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "policy.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-config-XXXXXX";
static char path[512], group_file[512];

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
        if (config_load_with(path, group_file, &c, &error) == 0) {
                config_free(c);
                return NULL;
        }
        return error ? error : strdup("(no message)");
}

/* One line of the error message names the file and line and contains want. */
static bool has_error_line(const char *error, int line, const char *want) {
        char prefix[600];
        size_t n;

        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
        n = strlen(prefix);
        for (const char *p = error; p && *p;) {
                const char *end = strchrnul(p, '\n');
                if ((size_t) (end - p) >= n && strncmp(p, prefix, n) == 0) {
                        char *copy = strndup(p, (size_t) (end - p));
                        bool found = copy && strstr(copy, want);
                        free(copy);
                        if (found)
                                return true;
                }
                p = *end ? end + 1 : end;
        }
        return false;
}

static size_t count_lines(const char *s) {
        size_t n = s && *s ? 1 : 0;
        for (; s && *s; s++)
                n += *s == '\n';
        return n;
}

/* The load fails, and one line of the error is FILE:LINE: ...want... */
static int error_is(const char *text, int line, const char *want) {
        char *error = load_error(text);
        char prefix[600];
        int ok;

        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
        ok = error && has_error_line(error, line, want);
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
        r = config_load_with(path, group_file, &c, &error);
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
        CHECK(c->token_max_failures == 5 && c->token_lock_seconds == 60 && c->token_lock_max_seconds == 3600,
              "token lock settings default to 5 failures, 60 s, at most 3600 s");
        CHECK(c->max_ttl == 1800, "max_ttl is read");
        CHECK(c->request_timeout == 86400 && c->request_max_pending == 5 && !c->request_two_approver_groups &&
                      !c->request_two_approver_scopes,
              "requests default to a 24 h timeout, 5 pending, one approver");
        CHECK(strcmp(c->admin_group, "enrich-admin") == 0, "admin_group defaults to enrich-admin");
        gethostname(host, sizeof host - 1);
        snprintf(issuer, sizeof issuer, "enrichd@%s", host);
        CHECK(strcmp(c->issuer, issuer) == 0, "issuer defaults to enrichd@hostname");
        CHECK(c->n_groups == 1 && strcmp(c->groups[0].name, "jit-deploy") == 0 && c->groups[0].gid == 61001,
              "groups are read");
        CHECK(c->n_rules == 3, "three rules");
        CHECK(strcmp(c->rules[0].name, "ops-over-ssh") == 0 && c->rules[0].line == 6, "rule name and line");
        CHECK(strv_contains(c->rules[0].match_services, "sshd") &&
                      strv_contains(c->rules[0].match_unix_groups, "ops") && !c->rules[0].match_users,
              "rule match lists");
        CHECK(c->rules[0].grant_ttl == 1800 && strcmp(c->rules[0].grant_tenant, "acme") == 0,
              "rule grant tenant, and ttl clamped to max_ttl");
        CHECK(strlen(c->content_hash) == 16, "policy version hash is set");
        CHECK(!c->timezone && c->gid_min == 61000 && c->gid_max == 61999, "timezone and gid range defaults");
        config_free(c);
        c = NULL;

        write_config(
                "timezone = \"Europe/Berlin\";\ngid_min = 70000;\ngid_max = 70100;\nclaims_ttl = 3;\nmax_ttl = 60;\n"
                "groups = ( { name = \"jit-a\"; gid = 70000; description = \"Deployers\"; },\n"
                "           { name = \"jit-b\"; gid = 70100; } );\n"
                "rules = ( { name = \"all\";\n"
                "  match = { rhosts = [\"10.0.0.0/8\", \"2001:DB8::/32\", \"::ffff:192.0.2.0/120\", \"Bastion.Example.com.\", \"::1\"];\n"
                "            hours = \"22:00-06:00\"; days = [\"Mon\", \"sat\", \"Sunday\"]; ttys = [\"tty1\"]; amr = [\"pop\"];\n"
                "            not_users = [\"mallory\"]; not_unix_groups = [\"contractors\"]; };\n"
                "  grant = { scopes = [\"x\"]; ttl = 3600; }; } );\n");
        r = config_load_with(path, group_file, &c, &error);
        CHECK(r == 0, "a config using every setting parses");
        if (r < 0) {
                printf("# %s\n", error);
                free(error);
                return;
        }
        CHECK(strcmp(c->timezone, "Europe/Berlin") == 0, "timezone is read");
        CHECK(c->gid_min == 70000 && c->gid_max == 70100 && c->groups[1].gid == 70100,
              "gid range is read and inclusive");
        CHECK(c->claims_ttl == 3 && c->max_ttl == 60, "a claims_ttl of 3 is allowed");
        CHECK(c->groups[0].description && strcmp(c->groups[0].description, "Deployers") == 0 &&
                      !c->groups[1].description,
              "group description is optional");
        {
                const config_rule *rule = &c->rules[0];
                CHECK(rule->n_rhosts == 5 && rule->rhosts[0].family == AF_INET && rule->rhosts[0].prefix == 8 &&
                              rule->rhosts[1].family == AF_INET6 && rule->rhosts[1].prefix == 32 &&
                              rule->rhosts[2].family == AF_INET && rule->rhosts[2].prefix == 24 &&
                              rule->rhosts[2].address[0] == 192 && rule->rhosts[2].address[3] == 0 &&
                              rule->rhosts[4].family == AF_INET6 && rule->rhosts[4].prefix == 128,
                      "rhosts are parsed at load: v4, v6, v4-mapped as v4, bare address as /128");
                CHECK(rule->rhosts[3].family == AF_UNSPEC && strcmp(rule->rhosts[3].name, "bastion.example.com") == 0,
                      "host names are stored lowercase without the trailing dot");
                CHECK(strv_length(rule->match_rhosts) == 5 && strcmp(rule->match_rhosts[1], "2001:DB8::/32") == 0,
                      "rhosts keep their spelling for messages");
                CHECK(rule->hours_start == 22 * 60 && rule->hours_end == 6 * 60, "hours are parsed at load");
                CHECK(rule->match_days == ((1u << 1) | (1u << 6) | (1u << 0)),
                      "days are parsed, any case, short or long");
                CHECK(strv_contains(rule->match_ttys, "tty1") && strv_contains(rule->match_amr, "pop") &&
                              strv_contains(rule->match_not_users, "mallory") &&
                              strv_contains(rule->match_not_unix_groups, "contractors"),
                      "ttys, amr and exclusions are read");
                CHECK(rule->grant_ttl == 60, "a rule's ttl is clamped to max_ttl");
                CHECK(config_rule_needs_login(rule), "a rule naming ttys needs a login");
        }
        config_free(c);

        /* The policy version follows the content. */
        {
                config *a = NULL, *b = NULL;
                write_config(valid);
                config_load_with(path, group_file, &a, NULL);
                write_config("claims_ttl = 60;\n");
                config_load_with(path, group_file, &b, NULL);
                CHECK(a && b && strcmp(a->content_hash, b->content_hash) != 0, "policy version changes with the file");
                CHECK(b && b->n_rules == 0 && b->claims_ttl == 60, "a config without rules is valid");
                config_free(a);
                config_free(b);
        }
}

/* A rule around one match setting, on line 3. */
#define MATCH(setting) \
        "rules = (\n { name = \"r\";\n   match = { " setting " };\n   grant = { scopes = [\"a\"]; }; }\n);\n"

static void test_requests(void) {
        config *c = NULL;
        char *error = NULL;
        int r;

        write_config(
                "requests = { timeout = 120; max_pending = 0;\n"
                "  two_approver_groups = [\"jit-prod\"]; two_approver_scopes = [\"deploy:prod\", \"db:admin\"]; };\n");
        r = config_load_with(path, group_file, &c, &error);
        CHECK(r == 0 && c->request_timeout == 120 && c->request_max_pending == 0 &&
                      strv_length(c->request_two_approver_groups) == 1 &&
                      strv_contains(c->request_two_approver_groups, "jit-prod") &&
                      strv_length(c->request_two_approver_scopes) == 2 &&
                      strv_contains(c->request_two_approver_scopes, "db:admin"),
              "the requests group is read");
        if (r < 0)
                printf("# %s\n", error);
        free(error);
        config_free(c);
}

static void test_errors(void) {
        char *error;

        CHECK(error_is("socket = \"/x\";\n\nclaims_ttl = = 900;\n", 3, "syntax error"),
              "syntax error names file and line");
        CHECK(error_is("\n\nclaims_ttl = \"900\";\n", 3, "'claims_ttl' must be an integer"),
              "wrong type is refused with its line");
        CHECK(error_is("\ntimezone = 1;\n", 2, "'timezone' must be a string"), "wrong type of timezone");
        CHECK(error_is("socket = \"/x\";\nsockett = \"/y\";\n", 2, "unknown setting 'sockett'"),
              "unknown top-level setting is refused with its line");
        CHECK(error_is("\nmax_ttl = -1;\n", 2, "must not be negative"), "negative max_ttl is refused");
        CHECK(error_is("\nrequests = { max_pending = 101; };\n", 2, "'requests.max_pending' must be between 0 and 100"),
              "requests.max_pending past its bound is refused");
        CHECK(error_is("requests = {\n  timeout = 0; };\n", 2, "'requests.timeout' must be between 1 and"),
              "requests.timeout 0 is refused");
        CHECK(error_is("requests = {\n  two_approvers = [\"x\"]; };\n", 2, "unknown requests key 'two_approvers'"),
              "an unknown requests key is refused with its line");
        CHECK(error_is("\nrequests = 5;\n", 2, "'requests' must be a group"), "requests must be a group");
        CHECK(error_is("\nclaims_ttl = 0;\n", 2, "between 1 and"), "claims_ttl 0 is refused");
        CHECK(error_is("max_ttl = 600;\nclaims_ttl = 900;\n", 2, "claims_ttl (900) must not exceed max_ttl (600)"),
              "claims_ttl above max_ttl is refused");
        CHECK(error_is("\nmax_ttl = 600;\n", 2, "claims_ttl (900, the default) must not exceed max_ttl (600)"),
              "max_ttl below the default claims_ttl is refused, saying so");
        CHECK(error_is("\ntoken_lock_seconds = 0;\n", 2, "between 1 and"), "token_lock_seconds 0 is refused");
        CHECK(error_is("\ntoken_lock_max_seconds = 2592001;\n", 2, "between 1 and"),
              "token_lock_max_seconds above 30 days is refused");
        CHECK(error_is("token_lock_max_seconds = 60;\ntoken_lock_seconds = 120;\n", 2,
                       "token_lock_seconds (120) must not exceed token_lock_max_seconds (60)"),
              "token_lock_seconds above token_lock_max_seconds is refused");
        CHECK(error_is("\ntoken_lock_max_seconds = 30;\n", 2,
                       "token_lock_seconds (60, the default) must not exceed token_lock_max_seconds (30)"),
              "token_lock_max_seconds below the default lock is refused, saying so");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { scopes = [\"a\"];\n   ttl = -60; }; }\n);\n", 4,
                       "must not be negative"),
              "negative rule ttl is refused with its line");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { scopes = [\"a\"]; ttl = 0; }; }\n);\n", 3,
                       "between 1 and"),
              "rule ttl 0 is refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   match = { users = [\"bob\"]; }; }\n);\n", 2, "has no 'grant'"),
              "rule without grant is refused with its line");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { ttl = 60; }; }\n);\n", 3, "grants nothing"),
              "a grant with only a ttl gives nothing and is refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { }; }\n);\n", 3, "grants nothing"),
              "an empty grant is refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { scopes = [\"a b\"]; }; }\n);\n", 3,
                       "must not contain spaces"),
              "a scope with a space is refused");
        CHECK(error_is("rules = (\n { grant = { scopes = [\"a\"]; }; }\n);\n", 2, "has no 'name'"),
              "a rule without a name is refused");
        CHECK(error_is("rules = (\n { name = \"r\"; grant = { scopes = [\"a\"]; };\n   priority = 5; }\n);\n", 3,
                       "unknown setting 'priority' in rule 'r'"),
              "unknown rule setting is refused");
        CHECK(error_is(MATCH("user = [\"bob\"];"), 3, "unknown match key 'user'"), "unknown match key is refused");
        CHECK(error_is("rules = (\n { name = \"r\";\n   grant = { scopes = [\"a\"]; expires = 5; }; }\n);\n", 3,
                       "unknown grant key 'expires'"),
              "unknown grant key is refused");
        CHECK(error_is("groups = (\n { name = \"jit\"; gid = 61001;\n   members = [\"a\"]; }\n);\n", 3,
                       "unknown setting 'members' in groups entry"),
              "unknown groups entry setting is refused");
        CHECK(error_is(
                      "rules = (\n { name = \"r\"; grant = { scopes = [\"a\"]; }; },\n { name = \"r\"; grant = { scopes = [\"b\"]; }; }\n);\n",
                      3, "duplicate rule name 'r' (first used on line 2)"),
              "duplicate rule names are refused");
        CHECK(error_is(MATCH("users = \"bob\";"), 3, "must be a list of strings"),
              "a string where a list belongs is refused");
        CHECK(error_is(MATCH("users = (\"bob\", 5);"), 3, "must contain only strings"),
              "a number in a list of names is refused");
        CHECK(error_is(MATCH("users = [];"), 3, "is empty"), "an empty match list is refused");
        CHECK(error_is(MATCH("hours = [\"07:00-19:00\"];"), 3, "must be a string"), "hours must be a string");
        CHECK(error_is("state_dir = \"relative\";\n", 1, "absolute path"), "relative paths are refused");

        /* rhosts */
        CHECK(error_is(MATCH("rhosts = [\"10.0.0.0/33\"];"), 3, "bad prefix length in \"10.0.0.0/33\""),
              "a v4 prefix above 32 is refused");
        CHECK(error_is(MATCH("rhosts = [\"2001:db8::/129\"];"), 3, "bad prefix length"),
              "a v6 prefix above 128 is refused");
        CHECK(error_is(MATCH("rhosts = [\"10.0.0.0/\"];"), 3, "bad prefix length"), "an empty prefix is refused");
        CHECK(error_is(MATCH("rhosts = [\"10.0.0.0/x8\"];"), 3, "bad prefix length"),
              "a non-numeric prefix is refused");
        CHECK(error_is(MATCH("rhosts = [\"300.1.1.1\"];"), 3, "bad IPv4 address \"300.1.1.1\""),
              "a bad v4 address is refused");
        CHECK(error_is(MATCH("rhosts = [\"fe80::zz/64\"];"), 3, "bad IPv6 address"), "a bad v6 address is refused");
        CHECK(error_is(MATCH("rhosts = [\"10.1.0.0/8\"];"), 3, "has host bits set (did you mean 10.0.0.0/8?)"),
              "a CIDR with host bits is refused with the fix");
        CHECK(error_is(MATCH("rhosts = [\"bad host!\"];"), 3, "neither an address, a CIDR nor a host name"),
              "a malformed host name is refused");

        /* hours and days */
        CHECK(error_is(MATCH("hours = \"7-19\";"), 3, "bad time window \"7-19\""), "hours without minutes are refused");
        CHECK(error_is(MATCH("hours = \"25:00-26:00\";"), 3, "bad time window"), "hours past 24 are refused");
        CHECK(error_is(MATCH("hours = \"07:60-08:00\";"), 3, "bad time window"), "minutes past 59 are refused");
        CHECK(error_is(MATCH("hours = \"24:00-06:00\";"), 3, "bad time window"), "24:00 as a start is refused");
        CHECK(error_is(MATCH("hours = \"07:00-07:00\";"), 3, "is empty"), "an empty window is refused");
        CHECK(error_is(MATCH("hours = \"07:00\";"), 3, "bad time window"), "a time without an end is refused");
        CHECK(error_is(MATCH("days = [\"Mon\", \"Funday\"];"), 3, "unknown day \"Funday\""),
              "a bad day name is refused");
        CHECK(error_is(MATCH("days = [\"Mo\"];"), 3, "unknown day \"Mo\""), "a two-letter day is refused");

        /* time zone */
        CHECK(error_is("\ntimezone = \"Mars/Olympus_Mons\";\n", 2, "unknown time zone \"Mars/Olympus_Mons\""),
              "an unknown time zone is refused");
        CHECK(error_is("timezone = \"../../../etc/passwd\";\n", 1, "bad time zone name"),
              "a time zone with .. is refused");
        CHECK(error_is("timezone = \"/etc/localtime\";\n", 1, "bad time zone name"),
              "an absolute time zone path is refused");
        CHECK(error_is("timezone = \"Europe\";\n", 1, "unknown time zone"), "a zoneinfo directory is not a zone");

        /* groups */
        CHECK(error_is("groups = ( { name = \"g\"; } );\n", 1, "has no 'gid'"), "group without gid is refused");
        CHECK(error_is("groups = ( { gid = 61001; } );\n", 1, "has no 'name'"), "group without name is refused");
        CHECK(error_is("groups = (\n { name = \"g\"; gid = 5000; } );\n", 2,
                       "gid 5000 is outside gid_min..gid_max (61000..61999)"),
              "a gid outside the default range is refused");
        CHECK(error_is("gid_min = 62000;\ngid_max = 62010;\ngroups = (\n { name = \"g\"; gid = 62011; } );\n", 4,
                       "outside gid_min..gid_max (62000..62010)"),
              "a gid outside a configured range is refused");
        CHECK(error_is("gid_min = 62000;\ngid_max = 61000;\n", 1, "gid_min (62000) must not exceed gid_max (61000)"),
              "gid_min above gid_max is refused");
        CHECK(error_is("\ngid_min = 100;\n", 2, "'gid_min' must be between 1000"), "a system gid_min is refused");
        CHECK(error_is("groups = (\n { name = \"g\"; gid = 61001; },\n { name = \"g\"; gid = 61002; } );\n", 3,
                       "duplicate group name 'g' (first used on line 2)"),
              "duplicate group names are refused");
        CHECK(error_is("groups = (\n { name = \"a\"; gid = 61001; },\n { name = \"b\"; gid = 61001; } );\n", 3,
                       "group 'b' reuses gid 61001 of group 'a'"),
              "duplicate gids are refused");
        CHECK(error_is("groups = (\n { name = \"bad name\"; gid = 61001; } );\n", 2, "bad group name"),
              "a group name with a space is refused");
        CHECK(error_is("groups = (\n { name = \"staff\"; gid = 61001; } );\n", 2, "group 'staff' already exists in"),
              "a group name from the group file is refused");
        CHECK(error_is("groups = (\n { name = \"jit\"; gid = 61500; } );\n", 2,
                       "gid 61500 of group 'jit' is already used by group 'taken'"),
              "a gid from the group file is refused");
        {
                /* config_load itself reads the real /etc/group, which always has root. */
                config *c = NULL;
                error = NULL;
                write_config("gid_min = 1000;\ngroups = (\n { name = \"root\"; gid = 61001; } );\n");
                CHECK(config_load(path, &c, &error) == -EINVAL &&
                              has_error_line(error, 3, "already exists in /etc/group"),
                      "config_load checks /etc/group");
                config_free(c);
                free(error);
        }

        /* Every error of a file is reported, one per line, in file order. */
        error = load_error(
                "claims_ttl = \"x\";\n"                                  /* 1 */
                "colour = 1;\n"                                          /* 2 */
                "timezone = \"Nowhere/City\";\n"                         /* 3 */
                "groups = ( { name = \"g\"; } );\n"                      /* 4 */
                "rules = (\n"
                " { name = \"a\";\n"
                "   match = { rhosts = [\"10.0.0.0/99\", \"::1\", \"1.2.3.4/40\"]; hours = \"9-5\"; };\n" /* 7 */
                "   grant = { scopes = [\"s\"]; }; },\n"
                " { name = \"a\"; grant = { scopes = [\"s\"]; }; },\n"   /* 9 */
                " { name = \"b\"; match = { days = [\"Caturday\"]; }; }\n" /* 10 */
                ");\n");
        CHECK(error && has_error_line(error, 1, "must be an integer") &&
                      has_error_line(error, 2, "unknown setting 'colour'") &&
                      has_error_line(error, 3, "unknown time zone") && has_error_line(error, 4, "has no 'gid'") &&
                      has_error_line(error, 7, "10.0.0.0/99") && has_error_line(error, 7, "1.2.3.4/40") &&
                      has_error_line(error, 7, "bad time window") && has_error_line(error, 9, "duplicate rule name") &&
                      has_error_line(error, 10, "unknown day") && has_error_line(error, 10, "has no 'grant'"),
              "all errors of a file are reported, each with its line");
        CHECK(count_lines(error) == 10, "one line per error, no more");
        if (count_lines(error) != 10)
                printf("# %s\n", error ? error : "(null)");
        free(error);

        {
                /* A flood of mistakes is cut off with a note, not unbounded. */
                FILE *f;
                char *text = NULL;
                size_t size = 0;
                f = open_memstream(&text, &size);
                for (int i = 0; i < 300; i++)
                        fprintf(f, "unknown%d = 1;\n", i);
                fclose(f);
                error = load_error(text);
                CHECK(error && count_lines(error) == CONFIG_MAX_ERRORS + 1 && strstr(error, "more than"),
                      "at most CONFIG_MAX_ERRORS errors are listed");
                free(error);
                free(text);
        }

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
        policy_input in = {
                .user = user, .uid = 1000, .service = service, .unix_groups = groups, .session_context = true
        };
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
        if (config_load_with(path, group_file, &c, NULL) < 0) {
                CHECK(0, "policy config loads");
                return;
        }
        /* ops member over ssh: ops rule + everyone; ttl = min(900, 1800, 3600). */
        res = evaluate(c, "carol", "sshd", ops);
        CHECK(res && strv_length(res->groups) == 2 && strv_contains(res->groups, "ops-readonly") &&
                      strv_contains(res->groups, "staff"),
              "unix_groups + services rule grants its groups");
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
        CHECK(res && !strv_contains(res->groups, "ops-readonly") && !res->tenant, "services match restricts the rule");
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

        /* max_ttl clamps whatever rules say. */
        write_config("claims_ttl = 300;\nmax_ttl = 300;\n"
                     "rules = ( { name = \"long\"; grant = { scopes = [\"x\"]; ttl = 86400; }; } );\n");
        c = NULL;
        if (config_load_with(path, group_file, &c, NULL) == 0) {
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
        snprintf(group_file, sizeof group_file, "%s/group", dir);
        {
                FILE *f = fopen(group_file, "w");
                if (!f)
                        return 2;
                fputs("root:x:0:\nstaff:x:50:alice,bob\ntaken:x:61500:\n", f);
                fclose(f);
        }
        test_valid();
        test_requests();
        test_errors();
        test_policy();
        unlink(path);
        unlink(group_file);
        rmdir(dir);
        TAP_EXIT();
}
