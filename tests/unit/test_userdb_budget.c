/* test_userdb_budget.c: the userdb snapshot's NSS lookups (daemon/userdb.c),
 * with an injected slow lookup: a build after a call (userdb_sync, as after
 * a login) looks up nobody; a build from the tick stops looking up after
 * its time budget; a user not yet looked up still gets what rules without
 * Unix groups give, and nothing from rules on unix_groups or
 * not_unix_groups; once looked up, it gets those too. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "clock.h"
#include "config.h"
#include "db.h"
#include "enrichd.h"
#include "grants.h"
#include "userdb.h"
#include "util.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-userdb-XXXXXX";
static unsigned lookups;
static unsigned delay_ms;

static int lookup(const char *user, char ***ret) {
        char **names = calloc(2, sizeof(char *));
        struct timespec ts = { .tv_sec = delay_ms / 1000, .tv_nsec = (long) (delay_ms % 1000) * 1000000L };

        lookups++;
        if (delay_ms)
                nanosleep(&ts, NULL);
        if (!names || !(names[0] = strdup("unit-dir"))) {
                free(names);
                return -ENOMEM;
        }
        *ret = names;
        return 0;
}

/* Whether GetMemberships for user lists group. */
static bool member(userdb *u, const char *user, const char *group) {
        struct ucred peer = { .pid = getpid(), .uid = 0, .gid = 0 };
        json_t *params = json_pack("{s:s, s:s}", "userName", user, "service", "io.enrich.Groups");
        json_t *reply = userdb_call(u, &peer, "io.systemd.UserDatabase.GetMemberships", params, true);
        json_t *item;
        size_t i;
        bool found = false;

        if (json_is_object(reply))
                reply = json_pack("[o]", reply);
        json_array_foreach(reply, i, item) {
                const char *g = json_string_value(json_object_get(json_object_get(item, "parameters"), "groupName"));
                if (g && strcmp(g, group) == 0)
                        found = true;
        }
        json_decref(reply);
        json_decref(params);
        return found;
}

int main(void) {
        char conf[512], groups[512], dbpath[512], *error = NULL;
        enrichd d = { 0 };
        userdb *u = NULL;
        FILE *f;
        int64_t start;

        if (!mkdtemp(dir))
                return 1;
        snprintf(conf, sizeof conf, "%s/enrichd.conf", dir);
        snprintf(groups, sizeof groups, "%s/group", dir);
        snprintf(dbpath, sizeof dbpath, "%s/enrich.db", dir);
        f = fopen(groups, "w");
        fclose(f);
        f = fopen(conf, "w");
        fprintf(f,
                "socket = \"%s/io.enrich\";\nstate_dir = \"%s\";\nissuer = \"unit\";\n"
                "groups = ( { name = \"g-plain\"; gid = 61901; }, { name = \"g-unix\"; gid = 61902; },\n"
                "           { name = \"g-notdir\"; gid = 61903; } );\n"
                "rules = (\n"
                "  { name = \"plain\"; match = { users = [\"unit-alice\"]; }; grant = { groups = [\"g-plain\"]; }; },\n"
                "  { name = \"unix\"; match = { users = [\"unit-alice\"]; unix_groups = [\"unit-dir\"]; };\n"
                "    grant = { groups = [\"g-unix\"]; }; },\n"
                "  { name = \"notdir\"; match = { users = [\"unit-bob\"]; not_unix_groups = [\"unit-dir\"]; };\n"
                "    grant = { groups = [\"g-notdir\"]; }; }\n"
                ");\n",
                dir, dir);
        fclose(f);
        CHECK(config_load_with(conf, groups, &d.config, &error) == 0, "config-loads");
        if (error)
                printf("# %s\n", error);
        CHECK(db_open(dbpath, &d.db, &error) == 0 && grants_generation(d.db, &d.grants_generation) == 0, "db-opens");
        CHECK(d.config && d.db && userdb_new(&d, "/run/unit/io.enrich.Groups", &u) == 0, "userdb-new");
        if (!u)
                goto out;
        userdb_set_nss_lookup(u, lookup);

        /* After a call (a login): no lookup at all, however slow NSS is. */
        delay_ms = 10;
        userdb_sync(u);
        CHECK(lookups == 0, "sync-after-call-looks-up-nobody");
        CHECK(member(u, "unit-alice", "g-plain"), "unresolved-gets-rules-without-unix-groups");
        CHECK(!member(u, "unit-alice", "g-unix"), "unresolved-unix-groups-rule-fails-closed");
        CHECK(!member(u, "unit-bob", "g-notdir"), "unresolved-not-unix-groups-rule-fails-closed");

        /* From the tick: 10 ms per lookup, the budget (15 ms from the first)
         * allows two, never the ~30 candidates. */
        start = clock_monotonic_ms();
        userdb_tick(u);
        printf("# tick build: %u lookups in %lld ms\n", lookups, (long long) (clock_monotonic_ms() - start));
        CHECK(lookups >= 1 && lookups <= 2, "tick-lookups-stop-at-budget");
        CHECK(clock_monotonic_ms() - start < 200, "tick-build-bounded-in-time");

        /* A second tick right away builds nothing more for NSS (at most one
         * such build a second). */
        lookups = 0;
        userdb_tick(u);
        CHECK(lookups == 0, "tick-retries-at-most-once-a-second");

        /* NSS fast again: within a couple of ticks everyone is resolved. */
        delay_ms = 0;
        for (int i = 0; i < 3 && !member(u, "unit-alice", "g-unix"); i++) {
                usleep(1100 * 1000);
                userdb_tick(u);
        }
        CHECK(member(u, "unit-alice", "g-unix") && member(u, "unit-alice", "g-plain"),
              "resolved-gets-unix-groups-rule");
        CHECK(!member(u, "unit-bob", "g-notdir"), "resolved-not-unix-groups-excludes");
out:
        userdb_free(u);
        db_close(d.db);
        config_free(d.config);
        free(error);
        snprintf(conf, sizeof conf, "rm -rf %s", dir);
        if (system(conf) != 0)
                printf("# could not remove %s\n", dir);
        TAP_EXIT();
}
