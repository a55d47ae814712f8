/* test_policy.c: the policy evaluator through real configs: every match
 * condition alone and combined, exclusions, CIDRs and host names, time
 * windows and zones through an injected clock, logins versus userdb lookups,
 * grants, tenant conflicts, ttl clamping and the reasons explain shows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "issue.h"
#include "policy.h"
#include "../tap.h"

/* 2024-01-16 00:00:00 UTC, a Tuesday. */
#define TUESDAY_UTC                  1705363200
#define AT(day_offset, hour, minute) ((time_t) TUESDAY_UTC + (day_offset) *86400 + (hour) *3600 + (minute) *60)

static char dir[] = "/tmp/enrich-test-policy-XXXXXX";
static char path[512], group_file[512];

static config *load(const char *text) {
        config *c = NULL;
        char *error = NULL;
        FILE *f = fopen(path, "w");

        if (!f) {
                perror(path);
                exit(2);
        }
        fputs(text, f);
        fclose(f);
        if (config_load_with(path, group_file, &c, &error) < 0) {
                printf("# config did not load: %s\n", error ? error : "?");
                free(error);
                return NULL;
        }
        return c;
}

static char *groups_ops[] = { "alice", "ops", NULL };
static char *amr_pop[] = { "pop", NULL };

/* A login that every condition of the tests below is written around. */
static policy_input base_input(void) {
        return (policy_input) {
                .user = "alice",
                .uid = 1000,
                .service = "sshd",
                .unix_groups = groups_ops,
                .tty = "pts/0",
                .rhost = "10.1.2.3",
                .amr = amr_pop,
                .now = AT(0, 12, 0),
                .session_context = true,
                .want_reasons = true,
        };
}

static policy_result *evaluate(const config *c, const policy_input *in) {
        policy_result *res = NULL;
        int r;

        if (!c)
                return NULL;
        r = policy_evaluate(c, in, &res);
        if (r < 0) {
                printf("# policy_evaluate: %s\n", strerror(-r));
                return NULL;
        }
        return res;
}

static const policy_rule_result *rule_result(const policy_result *res, const char *name) {
        for (size_t i = 0; res && i < res->n_rules; i++)
                if (strcmp(res->rules[i].rule, name) == 0)
                        return &res->rules[i];
        return NULL;
}

/* Whether rule name applies to in (its reason is printed when not). */
static bool applies(const config *c, const policy_input *in, const char *name) {
        policy_result *res = evaluate(c, in);
        const policy_rule_result *rr = rule_result(res, name);
        bool matched = rr && rr->matched;

        policy_result_free(res);
        return matched;
}

static bool refused_because(const config *c, const policy_input *in, const char *name, const char *want) {
        policy_result *res = evaluate(c, in);
        const policy_rule_result *rr = rule_result(res, name);
        bool ok = rr && !rr->matched && rr->reason && strstr(rr->reason, want);

        if (!ok)
                printf("# %s: got %s, wanted a refusal containing '%s'\n", name,
                       !rr           ? "no such rule"
                       : rr->matched ? "a match"
                       : rr->reason  ? rr->reason
                                     : "(null)",
                       want);
        policy_result_free(res);
        return ok;
}

static void test_users_and_groups(void) {
        char *groups_contractors[] = { "alice", "contractors", NULL };
        char *groups_none[] = { "bob", NULL };
        policy_input in = base_input();
        config *c;

        c = load(
                "rules = (\n"
                "  { name = \"users\"; match = { users = [\"alice\", \"carol\"]; }; grant = { scopes = [\"u\"]; }; },\n"
                "  { name = \"groups\"; match = { unix_groups = [\"ops\", \"wheel\"]; }; grant = { scopes = [\"g\"]; }; },\n"
                "  { name = \"not-users\"; match = { not_users = [\"alice\"]; }; grant = { scopes = [\"n\"]; }; },\n"
                "  { name = \"not-groups\"; match = { not_unix_groups = [\"contractors\"]; }; grant = { scopes = [\"x\"]; }; },\n"
                "  { name = \"ops-not-carol\"; match = { unix_groups = [\"ops\"]; not_users = [\"carol\"]; };\n"
                "    grant = { scopes = [\"y\"]; }; },\n"
                "  { name = \"staff-not-contractors\"; match = { unix_groups = [\"staff\"]; not_unix_groups = [\"contractors\"]; };\n"
                "    grant = { scopes = [\"z\"]; }; }\n"
                ");\n");
        CHECK(c != NULL, "users/groups config loads");
        if (!c)
                return;
        CHECK(applies(c, &in, "users"), "users: a listed user matches");
        in.user = "bob";
        CHECK(refused_because(c, &in, "users", "user bob is not in [alice, carol]"),
              "users: another user is refused with the list");
        in = base_input();
        CHECK(applies(c, &in, "groups"), "unix_groups: a member of one listed group matches");
        in.unix_groups = groups_none;
        CHECK(refused_because(c, &in, "groups", "user alice is in none of the unix groups [ops, wheel]"),
              "unix_groups: a non-member is refused");
        in.unix_groups = NULL;
        CHECK(!applies(c, &in, "groups"), "unix_groups: no groups at all is refused");

        in = base_input();
        CHECK(refused_because(c, &in, "not-users", "user alice is excluded by not_users"),
              "not_users: a listed user is excluded");
        in.user = "bob";
        CHECK(applies(c, &in, "not-users"), "not_users: anyone else matches");

        in = base_input();
        CHECK(applies(c, &in, "not-groups"), "not_unix_groups: a non-member matches");
        in.unix_groups = groups_contractors;
        CHECK(refused_because(c, &in, "not-groups",
                              "user alice is excluded by not_unix_groups (member of contractors)"),
              "not_unix_groups: a member is excluded");

        in = base_input();
        CHECK(applies(c, &in, "ops-not-carol"), "unix_groups + not_users: an ops member matches");
        in.user = "carol";
        CHECK(refused_because(c, &in, "ops-not-carol", "excluded by not_users"),
              "unix_groups + not_users: the excluded ops member is refused");
        {
                char *staff_contractor[] = { "dave", "staff", "contractors", NULL };
                char *staff[] = { "dave", "staff", NULL };
                in = base_input();
                in.user = "dave";
                in.unix_groups = staff;
                CHECK(applies(c, &in, "staff-not-contractors"), "unix_groups + not_unix_groups: staff matches");
                in.unix_groups = staff_contractor;
                CHECK(refused_because(c, &in, "staff-not-contractors", "excluded by not_unix_groups"),
                      "unix_groups + not_unix_groups: staff who are contractors are excluded");
        }
        config_free(c);
}

static void test_login_conditions(void) {
        char *amr_pwd[] = { "pwd", NULL };
        char *amr_both[] = { "pwd", "pop", NULL };
        policy_input in = base_input();
        config *c = load(
                "rules = (\n"
                "  { name = \"services\"; match = { services = [\"sshd\"]; }; grant = { scopes = [\"s\"]; }; },\n"
                "  { name = \"ttys\"; match = { ttys = [\"pts/0\", \"tty1\"]; }; grant = { scopes = [\"t\"]; }; },\n"
                "  { name = \"amr\"; match = { amr = [\"pop\", \"swk\"]; }; grant = { scopes = [\"a\"]; }; },\n"
                "  { name = \"users-only\"; match = { users = [\"alice\"]; }; grant = { scopes = [\"o\"]; }; },\n"
                "  { name = \"hours-only\"; match = { hours = \"07:00-19:00\"; }; grant = { scopes = [\"h\"]; }; }\n"
                ");\ntimezone = \"UTC\";\n");
        CHECK(c != NULL, "login conditions config loads");
        if (!c)
                return;
        CHECK(applies(c, &in, "services"), "services: the listed service matches");
        in.service = "sudo";
        CHECK(refused_because(c, &in, "services", "service \"sudo\" is not in [sshd]"),
              "services: another service is refused with the exact reason");
        in.service = NULL;
        CHECK(refused_because(c, &in, "services", "no service"), "services: no service is refused");

        in = base_input();
        CHECK(applies(c, &in, "ttys"), "ttys: a listed tty matches");
        in.tty = "pts/1";
        CHECK(refused_because(c, &in, "ttys", "tty \"pts/1\" is not in [pts/0, tty1]"), "ttys: another tty is refused");
        in.tty = NULL;
        CHECK(refused_because(c, &in, "ttys", "no tty"), "ttys: no tty is refused");

        in = base_input();
        CHECK(applies(c, &in, "amr"), "amr: a listed method matches");
        in.amr = amr_both;
        CHECK(applies(c, &in, "amr"), "amr: one listed method among several matches");
        in.amr = amr_pwd;
        CHECK(refused_because(c, &in, "amr", "amr [pwd] has none of [pop, swk]"), "amr: other methods are refused");
        in.amr = NULL;
        CHECK(refused_because(c, &in, "amr", "no amr"), "amr: no methods are refused");

        /* userdb asks "is this user a member now?" without a login. */
        in = base_input();
        in.session_context = false;
        in.service = NULL;
        CHECK(refused_because(c, &in, "services", "needs a login"), "without a login, a services rule does not match");
        CHECK(refused_because(c, &in, "ttys", "needs a login"), "without a login, a ttys rule does not match");
        CHECK(refused_because(c, &in, "amr", "needs a login"), "without a login, an amr rule does not match");
        CHECK(applies(c, &in, "users-only"), "without a login, a users rule still matches");
        CHECK(applies(c, &in, "hours-only"), "without a login, an hours rule is still evaluated");
        in.service = "sshd";
        CHECK(refused_because(c, &in, "services", "needs a login"),
              "without a login, a services rule does not match even with a service set");
        config_free(c);
}

static void test_rhosts(void) {
        policy_input in = base_input();
        config *c = load(
                "rules = (\n"
                "  { name = \"net\"; match = { rhosts = [\"10.0.0.0/8\", \"::1\", \"2001:db8::/32\", \"192.0.2.1\",\n"
                "                                      \"DB.Example.com\", \"172.16.0.0/12\"]; };\n"
                "    grant = { scopes = [\"r\"]; }; },\n"
                "  { name = \"half\"; match = { rhosts = [\"10.0.0.0/9\"]; }; grant = { scopes = [\"h\"]; }; },\n"
                "  { name = \"mapped\"; match = { rhosts = [\"::ffff:10.0.0.0/104\"]; }; grant = { scopes = [\"m\"]; }; },\n"
                "  { name = \"any-v4\"; match = { rhosts = [\"0.0.0.0/0\"]; }; grant = { scopes = [\"a\"]; }; }\n"
                ");\n");
        static const struct {
                const char *rhost;
                bool matches;
        } cases[] = {
                { "10.1.2.3", true },
                { "10.255.255.255", true },
                { "11.0.0.1", false },
                { "9.255.255.255", false },
                { "172.31.255.255", true },
                { "172.32.0.0", false },
                { "192.0.2.1", true },
                { "192.0.2.2", false },
                { "::1", true },
                { "::2", false },
                { "[::1]", true },
                { "2001:db8::1", true },
                { "2001:db8:ffff:1::5", true },
                { "2001:db9::1", false },
                { "::ffff:10.1.2.3", true },
                { "::ffff:11.1.2.3", false },
                { "db.example.com", true },
                { "DB.EXAMPLE.COM", true },
                { "db.example.com.", true },
                { "db.example.co", false },
                { "xdb.example.com", false },
                { "10.example.com", false },
                { "10.0.0.1.evil.example", false },
        };
        char name[128];

        CHECK(c != NULL, "rhosts config loads");
        if (!c)
                return;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                in.rhost = cases[i].rhost;
                snprintf(name, sizeof name, "rhosts: %s %s", cases[i].rhost,
                         cases[i].matches ? "matches" : "does not match");
                CHECK(applies(c, &in, "net") == cases[i].matches, name);
        }
        in.rhost = "192.0.2.7";
        CHECK(refused_because(
                      c, &in, "net",
                      "rhost 192.0.2.7 is not in [10.0.0.0/8, ::1, 2001:db8::/32, 192.0.2.1, DB.Example.com, 172.16.0.0/12]"),
              "rhosts: the reason names the address and the list");
        in.rhost = NULL;
        CHECK(refused_because(c, &in, "net", "no rhost"), "rhosts: a local login (no rhost) does not match");
        in.rhost = "";
        CHECK(refused_because(c, &in, "net", "no rhost"), "rhosts: an empty rhost does not match");

        in.rhost = "10.127.255.255";
        CHECK(applies(c, &in, "half"), "rhosts: /9 includes its last address");
        in.rhost = "10.128.0.0";
        CHECK(!applies(c, &in, "half"), "rhosts: /9 excludes the next address");

        in.rhost = "10.2.3.4";
        CHECK(applies(c, &in, "mapped"), "rhosts: a v4-mapped v6 network matches a v4 login");
        in.rhost = "::ffff:10.2.3.4";
        CHECK(applies(c, &in, "mapped"), "rhosts: a v4-mapped v6 network matches a v4-mapped login");
        in.rhost = "11.2.3.4";
        CHECK(!applies(c, &in, "mapped"), "rhosts: a v4-mapped v6 network excludes other v4");

        in.rhost = "203.0.113.9";
        CHECK(applies(c, &in, "any-v4"), "rhosts: 0.0.0.0/0 matches any v4");
        in.rhost = "2001:db8::1";
        CHECK(!applies(c, &in, "any-v4"), "rhosts: 0.0.0.0/0 does not match v6");
        in.rhost = "localhost";
        CHECK(!applies(c, &in, "any-v4"), "rhosts: a CIDR never matches a host name (no DNS)");

        in.rhost = "evil\nhost\x1b[31m";
        {
                policy_result *res = evaluate(c, &in);
                const policy_rule_result *rr = rule_result(res, "net");
                CHECK(rr && rr->reason && !strchr(rr->reason, '\n') && !strchr(rr->reason, '\x1b'),
                      "rhosts: control characters of an rhost do not reach the reason");
                policy_result_free(res);
        }
        config_free(c);
}

static void test_time(void) {
        policy_input in = base_input();
        config *c = load(
                "timezone = \"UTC\";\n"
                "rules = (\n"
                "  { name = \"day\"; match = { hours = \"07:00-19:00\"; }; grant = { scopes = [\"d\"]; }; },\n"
                "  { name = \"night\"; match = { hours = \"22:00-06:00\"; }; grant = { scopes = [\"n\"]; }; },\n"
                "  { name = \"evening\"; match = { hours = \"18:00-24:00\"; }; grant = { scopes = [\"e\"]; }; },\n"
                "  { name = \"mon-fri\"; match = { days = [\"Mon\", \"Fri\"]; }; grant = { scopes = [\"w\"]; }; },\n"
                "  { name = \"sunday\"; match = { days = [\"sunday\"]; }; grant = { scopes = [\"s\"]; }; },\n"
                "  { name = \"workday\"; match = { days = [\"Mon\",\"Tue\",\"Wed\",\"Thu\",\"Fri\"]; hours = \"07:00-19:00\"; };\n"
                "    grant = { scopes = [\"wd\"]; }; }\n"
                ");\n");
        static const struct {
                const char *rule;
                int hour, minute;
                bool matches;
        } cases[] = {
                { "day", 6, 59, false },     { "day", 7, 0, true },        { "day", 12, 0, true },
                { "day", 18, 59, true },     { "day", 19, 0, false },      { "day", 0, 0, false },
                { "night", 21, 59, false },  { "night", 22, 0, true },     { "night", 23, 59, true },
                { "night", 0, 0, true },     { "night", 5, 59, true },     { "night", 6, 0, false },
                { "night", 12, 0, false },   { "evening", 17, 59, false }, { "evening", 18, 0, true },
                { "evening", 23, 59, true }, { "evening", 0, 0, false },
        };
        char name[128];

        CHECK(c != NULL, "time config loads");
        if (!c)
                return;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                in.now = AT(0, cases[i].hour, cases[i].minute);
                snprintf(name, sizeof name, "hours: %s at %02d:%02d %s", cases[i].rule, cases[i].hour, cases[i].minute,
                         cases[i].matches ? "matches" : "does not match");
                CHECK(applies(c, &in, cases[i].rule) == cases[i].matches, name);
        }
        in.now = AT(0, 19, 0);
        CHECK(refused_because(c, &in, "day", "at 19:00 Tue (UTC), outside hours 07:00-19:00"),
              "hours: the reason gives the time, day, zone and window");

        in.now = AT(0, 12, 0);      /* Tuesday */
        CHECK(refused_because(c, &in, "mon-fri", "at 12:00 Tue (UTC), Tue is not in [Mon, Fri]"),
              "days: another day is refused with the reason");
        in.now = AT(-1, 12, 0);     /* Monday */
        CHECK(applies(c, &in, "mon-fri"), "days: a listed day matches");
        in.now = AT(3, 23, 59);     /* Friday, last minute */
        CHECK(applies(c, &in, "mon-fri"), "days: the last minute of a listed day matches");
        in.now = AT(4, 0, 0);       /* Saturday, first minute */
        CHECK(!applies(c, &in, "mon-fri"), "days: the first minute of the next day does not");
        in.now = AT(-2, 8, 0);      /* Sunday */
        CHECK(applies(c, &in, "sunday"), "days: full day names, any case, work (Sunday)");
        CHECK(refused_because(c, &in, "workday", "Sun is not in [Mon, Tue, Wed, Thu, Fri]"),
              "days + hours: a weekend morning is refused by days");
        in.now = AT(0, 20, 0);
        CHECK(refused_because(c, &in, "workday", "outside hours"),
              "days + hours: a weekday evening is refused by hours");
        in.now = AT(0, 8, 0);
        CHECK(applies(c, &in, "workday"), "days + hours: a weekday morning matches");
        config_free(c);
}

static void test_time_zones(void) {
        policy_input in = base_input();
        const char *old_tz = getenv("TZ");
        char *saved = old_tz ? strdup(old_tz) : NULL;
        config *utc, *tokyo, *berlin, *local;
        struct tm tm;
        time_t probe = AT(0, 12, 0);

        utc = load(
                "timezone = \"UTC\";\nrules = ( { name = \"day\"; match = { hours = \"07:00-19:00\"; days = [\"Tue\"]; };\n"
                "  grant = { scopes = [\"d\"]; }; } );\n");
        tokyo = load(
                "timezone = \"Asia/Tokyo\";\nrules = ( { name = \"day\"; match = { hours = \"07:00-19:00\"; days = [\"Tue\"]; };\n"
                "  grant = { scopes = [\"d\"]; }; } );\n");
        berlin = load(
                "timezone = \"Europe/Berlin\";\nrules = ( { name = \"day\"; match = { hours = \"07:00-19:00\"; };\n"
                "  grant = { scopes = [\"d\"]; }; } );\n");
        local = load("rules = ( { name = \"day\"; match = { hours = \"07:00-19:00\"; };\n"
                     "  grant = { scopes = [\"d\"]; }; } );\n");
        CHECK(utc && tokyo && berlin && local, "time zone configs load");
        if (!utc || !tokyo || !berlin || !local)
                goto out;
        CHECK(utc->timezone && strcmp(utc->timezone, "UTC") == 0 && !local->timezone,
              "timezone is read, unset by default");

        /* 03:00 UTC Tuesday is 12:00 Tuesday in Tokyo. */
        in.now = AT(0, 3, 0);
        CHECK(!applies(utc, &in, "day") && applies(tokyo, &in, "day"),
              "time zone: the same instant is outside hours in UTC and inside in Tokyo");
        /* 20:00 UTC Tuesday is 05:00 Wednesday in Tokyo. */
        in.now = AT(0, 16, 0);
        CHECK(applies(utc, &in, "day"), "time zone: 16:00 Tuesday UTC matches in UTC");
        in.now = AT(0, 16, 0);
        CHECK(refused_because(tokyo, &in, "day", "at 01:00 Wed (Asia/Tokyo), Wed is not in [Tue]"),
              "time zone: the same instant is already Wednesday in Tokyo");
        in.now = AT(0, 19, 15);
        CHECK(refused_because(berlin, &in, "day", "at 20:15 Tue (Europe/Berlin), outside hours 07:00-19:00"),
              "time zone: Berlin's reason, as in the documentation");
        in.now = AT(0, 18, 30);     /* 19:30 in Berlin */
        CHECK(applies(utc, &in, "day") && !applies(berlin, &in, "day"),
              "time zone: 18:30 UTC is inside hours in UTC, outside in Berlin");

        /* Without a zone the process's local time counts; the evaluator puts
         * TZ back as it found it. */
        setenv("TZ", "America/New_York", 1);
        tzset();
        in.now = AT(0, 12, 0);      /* 07:00 in New York */
        CHECK(applies(local, &in, "day"), "no timezone: the process's local time (07:00 New York) is used");
        in.now = AT(0, 11, 59);     /* 06:59 in New York */
        CHECK(refused_because(local, &in, "day", "at 06:59 Tue (local time)"),
              "no timezone: the reason says local time");
        applies(tokyo, &in, "day");
        CHECK(getenv("TZ") && strcmp(getenv("TZ"), "America/New_York") == 0,
              "TZ is restored after evaluating in a zone");
        CHECK(localtime_r(&probe, &tm) && tm.tm_hour == 7, "local time is New York's again after evaluating in a zone");
        unsetenv("TZ");
        tzset();
        applies(tokyo, &in, "day");
        CHECK(getenv("TZ") == NULL, "an unset TZ stays unset");
out:
        if (saved)
                setenv("TZ", saved, 1);
        else
                unsetenv("TZ");
        tzset();
        free(saved);
        config_free(utc);
        config_free(tokyo);
        config_free(berlin);
        config_free(local);
}

static void test_combination(void) {
        char *amr_pwd[] = { "pwd", NULL };
        char *groups_none[] = { "alice", NULL };
        config *c = load(
                "timezone = \"UTC\";\n"
                "rules = (\n"
                "  { name = \"ops-over-ssh\";\n"
                "    match = { users = [\"alice\"]; unix_groups = [\"ops\"]; services = [\"sshd\"]; ttys = [\"pts/0\"];\n"
                "              rhosts = [\"10.0.0.0/8\", \"::1\"]; hours = \"07:00-19:00\";\n"
                "              days = [\"Mon\",\"Tue\",\"Wed\",\"Thu\",\"Fri\"]; amr = [\"pop\"]; not_users = [\"mallory\"];\n"
                "              not_unix_groups = [\"contractors\"]; };\n"
                "    grant = { groups = [\"ops-readonly\"]; scopes = [\"logs:read\"]; tenant = \"acme\"; ttl = 3600; }; }\n"
                ");\n");
        struct {
                const char *what;
                policy_input in;
                const char *reason;
        } cases[12];
        size_t n = 0;
        char name[160];

        CHECK(c != NULL, "combination config loads");
        if (!c)
                return;
        {
                policy_input in = base_input();
                in.rhost = "::1";
                in.now = AT(0, 9, 30);
                CHECK(applies(c, &in, "ops-over-ssh"), "combination: a login meeting every condition matches");
        }
#define VARIANT(description, field, value, why) \
        do { \
                cases[n].what = description; \
                cases[n].in = base_input(); \
                cases[n].in.field = value; \
                cases[n].reason = why; \
                n++; \
        } while (0)
        VARIANT("user", user, "bob", "user bob is not in [alice]");
        VARIANT("unix group", unix_groups, groups_none, "none of the unix groups [ops]");
        VARIANT("service", service, "login", "service \"login\" is not in [sshd]");
        VARIANT("tty", tty, "tty3", "tty \"tty3\" is not in [pts/0]");
        VARIANT("rhost", rhost, "192.0.2.7", "rhost 192.0.2.7 is not in [10.0.0.0/8, ::1]");
        VARIANT("amr", amr, amr_pwd, "amr [pwd] has none of [pop]");
        VARIANT("hours", now, AT(0, 19, 30), "outside hours 07:00-19:00");
        VARIANT("days", now, AT(4, 9, 0), "Sat is not in [Mon, Tue, Wed, Thu, Fri]");
        VARIANT("session context", session_context, false, "needs a login");
#undef VARIANT
        for (size_t i = 0; i < n; i++) {
                snprintf(name, sizeof name, "combination: a wrong %s alone stops the rule and is named", cases[i].what);
                CHECK(refused_because(c, &cases[i].in, "ops-over-ssh", cases[i].reason), name);
        }
        {
                char *contractor[] = { "alice", "ops", "contractors", NULL };
                policy_input in = base_input();
                in.unix_groups = contractor;
                CHECK(refused_because(c, &in, "ops-over-ssh", "excluded by not_unix_groups"),
                      "combination: an exclusion stops an otherwise matching login");
        }
        {
                /* Several conditions fail: the first in evaluation order is named. */
                policy_input in = base_input();
                in.service = "login";
                in.rhost = "192.0.2.7";
                CHECK(refused_because(c, &in, "ops-over-ssh", "service \"login\""),
                      "combination: the first failing condition is the one named");
        }
        config_free(c);
}

static bool has_source(const policy_result *res, policy_claim_kind kind, const char *value, const char *rule,
                       const char *grant_id) {
        for (size_t i = 0; res && i < res->n_sources; i++) {
                const policy_source *s = &res->sources[i];
                if (s->kind == kind && (!value || (s->value && strcmp(s->value, value) == 0)) &&
                    (rule ? s->rule && strcmp(s->rule, rule) == 0 : !s->rule) &&
                    (grant_id ? s->grant && strcmp(s->grant, grant_id) == 0 : !s->grant))
                        return true;
        }
        return false;
}

static void test_grants(void) {
        char *g1_groups[] = { "g1", "g2", NULL };
        char *g1_scopes[] = { "deploy:prod", NULL };
        char *old_groups[] = { "g3", NULL };
        char *rule_scope[] = { "base", NULL };
        policy_grant grants[] = {
                { .id = "grant-1", .groups = g1_groups, .scopes = g1_scopes, .expires = AT(0, 13, 0) },
                { .id = "grant-expired", .groups = old_groups, .tenant = "globex", .expires = AT(0, 12, 0) },
                { .id = "grant-empty", .expires = AT(0, 12, 30) },
                { .id = "grant-2", .scopes = rule_scope, .expires = AT(1, 0, 0) },
        };
        policy_input in = base_input();
        policy_result *res;
        config *c = load("rules = ( { name = \"base\"; grant = { groups = [\"g1\"]; scopes = [\"base\"]; }; } );\n");

        CHECK(c != NULL, "grants config loads");
        if (!c)
                return;
        in.grants = grants;
        in.n_grants = sizeof grants / sizeof grants[0];
        res = evaluate(c, &in);
        CHECK(res && strv_length(res->groups) == 2 && strcmp(res->groups[0], "g1") == 0 &&
                      strcmp(res->groups[1], "g2") == 0,
              "grants: groups merge with the rule's, deduplicated, rules first");
        CHECK(res && strv_length(res->scopes) == 2 && strv_contains(res->scopes, "deploy:prod"),
              "grants: scopes merge");
        CHECK(res && !strv_contains(res->groups, "g3") && !res->tenant && !res->tenant_conflict,
              "grants: an expired grant (expires == now) gives nothing");
        CHECK(res && strv_length(res->used_grants) == 2 && strv_contains(res->used_grants, "grant-1") &&
                      strv_contains(res->used_grants, "grant-2"),
              "grants: used_grants lists the grants that gave something");
        CHECK(has_source(res, POLICY_CLAIM_GROUP, "g1", "base", NULL) &&
                      has_source(res, POLICY_CLAIM_GROUP, "g1", NULL, "grant-1"),
              "grants: a claim given by a rule and a grant has both sources");
        CHECK(has_source(res, POLICY_CLAIM_GROUP, "g2", NULL, "grant-1") &&
                      has_source(res, POLICY_CLAIM_SCOPE, "deploy:prod", NULL, "grant-1"),
              "grants: sources name the grant id");
        CHECK(res && res->ttl == 900, "grants: grants do not shorten the token's ttl");
        CHECK(res && res->grants_end == AT(0, 13, 0),
              "grants: grants_end is the earliest end of the grants that gave something");
        policy_result_free(res);

        /* A grant alone, for a user no rule matches. */
        policy_result_free(NULL);
        {
                config *none = load(
                        "rules = ( { name = \"bob\"; match = { users = [\"bob\"]; }; grant = { scopes = [\"b\"]; }; } );\n");
                res = evaluate(none, &in);
                CHECK(res && strv_length(res->matched_rules) == 0 && strv_contains(res->groups, "g2") &&
                              !policy_result_empty(res),
                      "grants: a grant gives claims without any rule");
                policy_result_free(res);
                in.now = AT(2, 0, 0);
                res = evaluate(none, &in);
                CHECK(res && policy_result_empty(res) && !res->used_grants && res->grants_end == 0,
                      "grants: once every grant expired, the result is empty");
                policy_result_free(res);
                config_free(none);
        }
        config_free(c);
}

/* The issue path's exp: claims never outlive what grants them. */
static void test_issue_expiry(void) {
        CHECK(issue_expiry(1000, 600, 3600, 0, 0) == 1600, "expiry: now + ttl without grants or token");
        CHECK(issue_expiry(1000, 7200, 3600, 0, 0) == 4600, "expiry: clamped to max_ttl");
        CHECK(issue_expiry(1000, 0, 3600, 0, 0) == 1001, "expiry: at least a second");
        CHECK(issue_expiry(1000, 600, 3600, 1005, 0) == 1005, "expiry: cut at the end of a grant");
        CHECK(issue_expiry(1000, 600, 3600, 1300, 1100) == 1100,
              "expiry: cut at the end of the service-account token when it comes first");
        CHECK(issue_expiry(1000, 600, 3600, 1100, 1300) == 1100,
              "expiry: cut at the end of a grant when it comes first");
        CHECK(issue_expiry(1000, 600, 3600, 5000, 9000) == 1600, "expiry: later ends change nothing");
}

static void test_tenants(void) {
        char *scope[] = { "x", NULL };
        policy_grant acme = { .id = "g-acme", .tenant = "acme", .expires = AT(1, 0, 0) };
        policy_grant globex = { .id = "g-globex", .tenant = "globex", .scopes = scope, .expires = AT(1, 0, 0) };
        policy_input in = base_input();
        policy_result *res;
        config *c = load(
                "rules = (\n"
                "  { name = \"acme-1\"; grant = { tenant = \"acme\"; scopes = [\"a\"]; }; },\n"
                "  { name = \"acme-2\"; match = { users = [\"alice\"]; }; grant = { tenant = \"acme\"; }; },\n"
                "  { name = \"initech\"; match = { users = [\"carol\"]; }; grant = { tenant = \"initech\"; }; }\n"
                ");\n");

        CHECK(c != NULL, "tenant config loads");
        if (!c)
                return;
        res = evaluate(c, &in);
        CHECK(res && res->tenant && strcmp(res->tenant, "acme") == 0 && !res->tenant_conflict,
              "tenant: the same tenant from two rules is fine");
        CHECK(has_source(res, POLICY_CLAIM_TENANT, "acme", "acme-1", NULL) &&
                      has_source(res, POLICY_CLAIM_TENANT, "acme", "acme-2", NULL),
              "tenant: both rules are sources");
        policy_result_free(res);

        in.user = "carol";
        res = evaluate(c, &in);
        CHECK(res && !res->tenant && res->tenant_conflict &&
                      strstr(res->tenant_conflict, "rule \"acme-1\" gives \"acme\"") &&
                      strstr(res->tenant_conflict, "rule \"initech\" gives \"initech\""),
              "tenant: two rules with different tenants give no tenant and name both");
        CHECK(res && strv_contains(res->scopes, "a"), "tenant: a conflict does not drop the other claims");
        if (res && res->tenant_conflict)
                printf("#   %s\n", res->tenant_conflict);
        policy_result_free(res);

        in = base_input();
        in.grants = &globex;
        in.n_grants = 1;
        res = evaluate(c, &in);
        CHECK(res && !res->tenant && res->tenant_conflict &&
                      strstr(res->tenant_conflict, "grant \"g-globex\" gives \"globex\"") &&
                      strstr(res->tenant_conflict, "rule \"acme-1\""),
              "tenant: a rule and a grant with different tenants conflict");
        policy_result_free(res);

        in.grants = &acme;
        res = evaluate(c, &in);
        CHECK(res && res->tenant && strcmp(res->tenant, "acme") == 0 && !res->tenant_conflict &&
                      strv_contains(res->used_grants, "g-acme"),
              "tenant: a grant agreeing with the rules is fine");
        policy_result_free(res);
        config_free(c);

        c = load(
                "rules = ( { name = \"t1\"; grant = { tenant = \"one\"; }; }, { name = \"t2\"; grant = { tenant = \"two\"; }; } );\n");
        in = base_input();
        res = evaluate(c, &in);
        CHECK(res && res->tenant_conflict && policy_result_empty(res),
              "tenant: a result whose only claim was a conflicting tenant is empty");
        policy_result_free(res);
        config_free(c);
}

static void test_ttl(void) {
        policy_input in = base_input();
        policy_result *res;
        config *c;

        c = load(
                "claims_ttl = 3;\nmax_ttl = 10;\nrules = ( { name = \"long\"; grant = { scopes = [\"x\"]; ttl = 100; }; } );\n");
        CHECK(c && c->rules[0].grant_ttl == 10, "ttl: a rule's ttl is clamped to max_ttl at load");
        res = evaluate(c, &in);
        CHECK(res && res->ttl == 3, "ttl: claims_ttl (3) wins over longer rule ttls");
        CHECK(has_source(res, POLICY_CLAIM_TTL, NULL, "long", NULL), "ttl: the rule's ttl is a source");
        policy_result_free(res);
        config_free(c);

        c = load(
                "claims_ttl = 600;\nmax_ttl = 3600;\nrules = (\n"
                " { name = \"short\"; grant = { scopes = [\"x\"]; ttl = 60; }; },\n"
                " { name = \"shorter-unmatched\"; match = { users = [\"bob\"]; }; grant = { scopes = [\"y\"]; ttl = 5; }; },\n"
                " { name = \"long\"; grant = { scopes = [\"z\"]; ttl = 7200; }; }\n);\n");
        res = evaluate(c, &in);
        CHECK(res && res->ttl == 60, "ttl: the shortest matched rule's ttl wins; unmatched rules do not count");
        policy_result_free(res);
        config_free(c);

        c = load("claims_ttl = 300;\nmax_ttl = 300;\nrules = ( { name = \"r\"; grant = { scopes = [\"x\"]; }; } );\n");
        res = evaluate(c, &in);
        CHECK(res && res->ttl == 300, "ttl: claims_ttl when no rule sets one");
        policy_result_free(res);
        config_free(c);
}

static void test_result_shape(void) {
        policy_input in = base_input();
        policy_result *res;
        char *scope = NULL;
        config *c = load(
                "rules = (\n"
                "  { name = \"a\"; match = { users = [\"alice\"]; }; grant = { scopes = [\"s1\", \"s2\"]; }; },\n"
                "  { name = \"b\"; match = { users = [\"bob\"]; }; grant = { scopes = [\"s3\"]; }; },\n"
                "  { name = \"c\"; grant = { scopes = [\"s2\", \"s4\"]; }; }\n"
                ");\n");

        res = evaluate(c, &in);
        CHECK(res && res->n_rules == 3 && strcmp(res->rules[1].rule, "b") == 0 && res->rules[1].line == 3,
              "result: one rule result per config rule, in order, with lines");
        CHECK(res && res->rules[0].matched && !res->rules[0].reason && !res->rules[1].matched && res->rules[1].reason,
              "result: a reason exactly for the rules that did not match");
        CHECK(res && strv_length(res->matched_rules) == 2 && strcmp(res->matched_rules[1], "c") == 0,
              "result: matched_rules in config order");
        CHECK(res && policy_scope_string(res, &scope) == 0 && strcmp(scope, "s1 s2 s4") == 0,
              "result: scopes deduplicated, in rule order, space-separated");
        free(scope);
        scope = NULL;
        policy_result_free(res);

        /* Only explain asks for reasons; without them the outcome is the same. */
        in.want_reasons = false;
        res = evaluate(c, &in);
        CHECK(res && res->n_rules == 3 && res->rules[0].matched && !res->rules[1].matched && res->rules[2].matched &&
                      !res->rules[0].reason && !res->rules[1].reason && !res->rules[2].reason &&
                      policy_scope_string(res, &scope) == 0 && strcmp(scope, "s1 s2 s4") == 0,
              "result: without want_reasons, the same matches and claims and no reasons");
        free(scope);
        policy_result_free(res);
        in.want_reasons = true;

        in.user = "zed";
        config_free(c);
        c = load("rules = ( { name = \"a\"; match = { users = [\"alice\"]; }; grant = { scopes = [\"s1\"]; }; } );\n");
        res = evaluate(c, &in);
        CHECK(res && policy_result_empty(res) && !res->matched_rules, "result: nothing matching gives an empty result");
        policy_result_free(res);
        CHECK(policy_evaluate(c, &(policy_input) { .user = NULL }, &res) == -EINVAL,
              "result: a missing user is refused");
        config_free(c);
}

/* 1,000 rules that each name every kind of condition load and evaluate.
 * How the cost grows is measured by `make bench`, not by a timed test. */
static void test_scale(void) {
        FILE *f;
        char *text = NULL;
        size_t size = 0;
        config *small = NULL, *large = NULL;

        for (int n = 10; n <= 1000; n *= 100) {
                f = open_memstream(&text, &size);
                fprintf(f, "timezone = \"Europe/Berlin\";\nrules = (\n");
                for (int i = 0; i < n; i++)
                        fprintf(f,
                                "%s{ name = \"r%d\"; match = { users = [\"u%d\", \"alice\"]; services = [\"sshd\"];\n"
                                "  rhosts = [\"10.%d.0.0/16\", \"2001:db8:%x::/48\", \"h%d.example.com\"];\n"
                                "  hours = \"07:00-19:00\"; days = [\"Tue\"]; amr = [\"pop\"]; };\n"
                                "  grant = { scopes = [\"s%d\"]; groups = [\"g%d\"]; }; }\n",
                                i ? "," : "", i, i, i % 256, i, i, i, i);
                fprintf(f, ");\n");
                fclose(f);
                if (n == 10)
                        small = load(text);
                else
                        large = load(text);
                free(text);
                text = NULL;
        }
        CHECK(small && large && large->n_rules == 1000, "scale: 1,000 rules load");
        if (large) {
                policy_input in = base_input();
                policy_result *res = evaluate(large, &in);
                CHECK(res && strv_length(res->matched_rules) == 4 && /* 10.1.0.0/16: r1 r257 r513 r769 */
                              strcmp(res->matched_rules[0], "r1") == 0 && res->n_rules == 1000,
                      "scale: 1,000 rules are all evaluated, with a reason each");
                policy_result_free(res);
        }
        config_free(small);
        config_free(large);
}

int main(void) {
        FILE *f;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrichd.conf", dir);
        snprintf(group_file, sizeof group_file, "%s/group", dir);
        f = fopen(group_file, "w");
        if (!f)
                return 2;
        fputs("root:x:0:\n", f);
        fclose(f);

        test_users_and_groups();
        test_login_conditions();
        test_rhosts();
        test_time();
        test_time_zones();
        test_combination();
        test_grants();
        test_issue_expiry();
        test_tenants();
        test_ttl();
        test_result_shape();
        test_scale();

        unlink(path);
        unlink(group_file);
        rmdir(dir);
        TAP_EXIT();
}
