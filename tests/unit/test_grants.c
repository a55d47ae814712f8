/* test_grants.c: the grants table on a real temporary sqlite file: adding,
 * active-at-time lookups, revocation, expiry, the generation counter and the
 * pv it feeds, migrations from a version-1 database, and that the active
 * lookup uses its index. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "db.h"
#include "sessions.h"
#include "grants.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-grants-XXXXXX";

static int add(db *d, const char *user, const char *scope, int64_t created, int64_t expires, char **ret_id) {
        char *scopes[] = { (char *) scope, NULL };
        char *id = NULL;
        int r = grants_new_id(&id);

        if (r < 0)
                return r;
        r = grants_add(d, &(grant) { .id = id,
                                     .user = (char *) user,
                                     .uid = 1000,
                                     .scopes = scopes,
                                     .reason = (char *) "test",
                                     .granted_by = (char *) "root",
                                     .created = created,
                                     .expires = expires });
        if (r == 0 && ret_id)
                *ret_id = id;
        else
                free(id);
        return r;
}

/* Collects the ids and created times of a listing, in order. */
typedef struct listed {
        char ids[8][64];
        int64_t created[8];
        size_t n;
} listed;

static int list_row(void *userdata, const grant *g) {
        listed *l = userdata;

        if (l->n >= 8)
                return 1;
        snprintf(l->ids[l->n], sizeof l->ids[l->n], "%s", g->id);
        l->created[l->n++] = g->created;
        return 0;
}

/* Work one active-listing page does: sqlite VM instructions (counted by
 * the progress handler, so the figure is exact, not a timing) for the
 * first page of the plain listing and of one user's. */
static int count_step(void *userdata) {
        (*(uint64_t *) userdata)++;
        return 0;
}

static uint64_t page_cost(db *d, int64_t now, double *ret_ms) {
        uint64_t steps = 0;
        listed a = { 0 }, b = { 0 };
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        sqlite3_progress_handler(db_handle(d), 1, count_step, &steps);
        if (grants_list(d, NULL, false, now, NULL, 3, list_row, &a) < 0 ||
            grants_list(d, "carol", false, now, NULL, 3, list_row, &b) < 0 || a.n != 1 || b.n != 1)
                steps = UINT64_MAX;
        sqlite3_progress_handler(db_handle(d), 0, NULL, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        *ret_ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
        return steps;
}

/* n grants of carol, expired by 200000, created after her active grant. */
static int add_expired(db *d, int first, int n) {
        char sql[768];

        snprintf(sql, sizeof sql,
                 "BEGIN; WITH RECURSIVE k(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
                 " INSERT INTO grants (id, user, uid, scopes, reason, granted_by, granted_by_uid, created, expires)"
                 " SELECT 'expired-' || i, 'carol', 1001, '[\"c\"]', 'test', 'root', 0, 1000 + i, 2000 + i FROM k;"
                 " COMMIT;",
                 first, first + n - 1);
        return sqlite3_exec(db_handle(d), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static int64_t generation(db *d) {
        int64_t g = -1;
        grants_generation(d, &g);
        return g;
}

int main(void) {
        char path[512], legacy[512], pv1[17], pv2[17], pv3[17], *id1 = NULL, *id2 = NULL, *error = NULL;
        char **users = NULL;
        db *d = NULL, *old = NULL;
        grant_list l = { 0 };
        grant g = { 0 };
        int64_t g0, next = -1, count = -1;
        bool changed = false;
        int version = 0, revoked = -1;
        sqlite3 *raw = NULL;
        sqlite3_stmt *st = NULL;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrich.db", dir);
        CHECK(db_open(path, &d, &error) == 0, "grants-db-opens");
        if (!d) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }
        CHECK(db_schema_version(d, &version) == 0 && version >= 3, "grants-schema-version-3");

        g0 = generation(d);
        CHECK(add(d, "alice", "a:1", 100, 200, &id1) == 0, "grants-add");
        CHECK(add(d, "alice", "a:2", 110, 300, &id2) == 0, "grants-add-second");
        CHECK(add(d, "bob", "b:1", 100, 150, NULL) == 0, "grants-add-other-user");
        CHECK(generation(d) == g0 + 3, "grants-generation-bumps-on-add");

        CHECK(grants_active(d, "alice", 150, &l) == 0 && l.n == 2 && strcmp(l.items[0].scopes[0], "a:1") == 0 &&
                      strcmp(l.items[0].reason, "test") == 0,
              "grants-active-of-user-oldest-first");
        grant_list_clear(&l);
        CHECK(grants_active(d, "alice", 200, &l) == 0 && l.n == 1 && strcmp(l.items[0].id, id2) == 0,
              "grants-expired-at-expiry-time");
        grant_list_clear(&l);
        CHECK(grants_count_active(d, "alice", 150, &count) == 0 && count == 2, "grants-count-active");

        CHECK(grants_next_expiry(d, 0, &next) == 0 && next == 150, "grants-next-expiry");
        CHECK(grants_next_expiry(d, 150, &next) == 0 && next == 200, "grants-next-expiry-after");
        g0 = generation(d);
        CHECK(grants_expired_users(d, 0, 160, &users) == 0 && users && strcmp(users[0], "bob") == 0 && !users[1],
              "grants-expired-users");
        CHECK(generation(d) == g0 + 1, "grants-generation-bumps-on-expiry");
        strv_free(users);
        users = NULL;
        g0 = generation(d);
        CHECK(grants_expired_users(d, 160, 170, &users) == 0 && !users && generation(d) == g0,
              "grants-no-expiry-no-bump");

        CHECK(grants_revoke(d, id1, "admin", 120, &changed) == 0 && changed, "grants-revoke");
        CHECK(generation(d) == g0 + 1, "grants-generation-bumps-on-revoke");
        CHECK(grants_get(d, id1, &g) == 0 && g.revoked == 120 && strcmp(g.revoked_by, "admin") == 0,
              "grants-revoked-record");
        grant_clear(&g);
        CHECK(grants_revoke(d, id1, "admin", 121, &changed) == 0 && !changed && generation(d) == g0 + 1,
              "grants-revoke-twice-no-bump");
        CHECK(grants_revoke(d, "no-such-id", "admin", 121, &changed) == -ENOENT, "grants-revoke-unknown");
        CHECK(grants_active(d, "alice", 150, &l) == 0 && l.n == 1, "grants-revoked-not-active");
        grant_list_clear(&l);
        listed page1 = { 0 }, page2 = { 0 }, page3 = { 0 };
        CHECK(grants_list(d, "alice", false, 150, NULL, 10, list_row, &page1) == 0 && page1.n == 1,
              "grants-list-active");
        page1 = (listed) { 0 };
        CHECK(grants_list(d, NULL, true, 150, NULL, 10, list_row, &page1) == 0 && page1.n == 3 &&
                      strcmp(page1.ids[0], id2) == 0,
              "grants-list-all-newest-first");
        /* Two rows, then the rest from the cursor of the second: every row
         * once, in the same order. */
        CHECK(grants_list(d, NULL, true, 150, NULL, 2, list_row, &page2) == 0 && page2.n == 2 &&
                      grants_list(d, NULL, true, 150, &(db_cursor) { page2.created[1], page2.ids[1] }, 10, list_row,
                                  &page3) == 0 &&
                      page3.n == 1 && strcmp(page2.ids[0], page1.ids[0]) == 0 &&
                      strcmp(page2.ids[1], page1.ids[1]) == 0 && strcmp(page3.ids[0], page1.ids[2]) == 0,
              "grants-list-pages-from-cursor");
        CHECK(grants_revoke_user(d, "alice", "admin", 150, &revoked) == 0 && revoked == 1, "grants-revoke-user");

        CHECK(grants_policy_version("0123456789abcdef", 1, pv1) == 0 &&
                      grants_policy_version("0123456789abcdef", 2, pv2) == 0 &&
                      grants_policy_version("fedcba9876543210", 1, pv3) == 0 && strlen(pv1) == 16 &&
                      strcmp(pv1, pv2) != 0 && strcmp(pv1, pv3) != 0,
              "grants-pv-changes-with-config-and-generation");

        /* The active lookup is an index search, not a scan of the table. */
        CHECK(sqlite3_prepare_v2(db_handle(d),
                                 "EXPLAIN QUERY PLAN SELECT id FROM grants INDEXED BY grants_active_user"
                                 " WHERE user = 'alice' AND revoked IS NULL AND expires > 5",
                                 -1, &st, NULL) == SQLITE_OK &&
                      sqlite3_step(st) == SQLITE_ROW &&
                      strstr((const char *) sqlite3_column_text(st, 3), "USING INDEX grants_active_user"),
              "grants-active-uses-index");
        sqlite3_finalize(st);
        /* Each listing shape seeks its index from the cursor and needs no
         * sort: a page costs its own rows, wherever it starts. */
        static const char *const shapes[] = {
                "grants INDEXED BY grants_user_page WHERE user = 'a' AND",
                "grants INDEXED BY grants_active_user_page WHERE user = 'a' AND revoked IS NULL AND ended IS NULL"
                " AND expires > 5 AND",
                "grants INDEXED BY grants_page WHERE",
                "grants INDEXED BY grants_active_page WHERE revoked IS NULL AND ended IS NULL AND expires > 5 AND",
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                char sql[512], plan[1024] = "";
                bool seeks, sorts;
                int step;

                snprintf(sql, sizeof sql,
                         "EXPLAIN QUERY PLAN SELECT id FROM %s (created, id) < (7, 'x')"
                         " ORDER BY created DESC, id DESC LIMIT 3",
                         shapes[i]);
                if (sqlite3_prepare_v2(db_handle(d), sql, -1, &st, NULL) == SQLITE_OK)
                        while ((step = sqlite3_step(st)) == SQLITE_ROW)
                                strncat(plan, (const char *) sqlite3_column_text(st, 3),
                                        sizeof plan - strlen(plan) - 2);
                sqlite3_finalize(st);
                seeks = strstr(plan, "(created,id)<(?,?)") || strstr(plan, "created<?");
                sorts = strstr(plan, "TEMP B-TREE");
                if (!seeks || sorts)
                        printf("# plan of %s: %s\n", shapes[i], plan);
                CHECK(seeks && !sorts, "grants-page-seeks-its-index-without-sorting");
        }

        /* The active listings cost their own rows, not the expired grants
         * piled up before them: the daemon marks a grant ended when it
         * processes its expiry, and ended grants leave the partial indexes
         * the listings walk. Ten expired grants, then 100000 more, all
         * newer than carol's one active grant and all revoked by nobody:
         * the first page costs about the same. */
        uint64_t cost_few, cost_many;
        double ms_few, ms_many;
        CHECK(add(d, "carol", "c:active", 1000, 1000000000, NULL) == 0 && add_expired(d, 1, 10) == 0 &&
                      grants_end_expired(d, 200000) == 0,
              "grants-ended-few");
        cost_few = page_cost(d, 200000, &ms_few);
        CHECK(add_expired(d, 11, 100000) == 0 && grants_end_expired(d, 200000) == 0, "grants-ended-many");
        cost_many = page_cost(d, 200000, &ms_many);
        printf("# active page: %llu VM steps (%.3f ms) with 10 expired grants, %llu (%.3f ms) with 100010:"
               " ratio %.2f\n",
               (unsigned long long) cost_few, ms_few, (unsigned long long) cost_many, ms_many,
               (double) cost_many / (double) cost_few);
        CHECK(cost_few != UINT64_MAX && cost_many != UINT64_MAX && cost_many < 2 * cost_few,
              "grants-active-page-costs-its-rows-not-the-expired-history");
        /* Between an expiry and its processing the grant is not listed;
         * after a wall clock stepped back it is listed again. */
        listed later = { 0 }, back = { 0 };
        CHECK(grants_list(d, "carol", false, 1000000000, NULL, 3, list_row, &later) == 0 && later.n == 0,
              "grants-expired-unprocessed-not-listed");
        CHECK(grants_end_expired(d, 2005) == 0 && grants_list(d, "carol", false, 2005, NULL, 3, list_row, &back) == 0 &&
                      back.n == 3,
              "grants-clock-back-lists-again");
        CHECK(grants_end_expired(d, 200000) == 0, "grants-ended-again");
        /* Each active-listing index holds only grants not ended. */
        static const char *const partial[] = { "grants_active_page", "grants_active_user_page" };
        for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
                const char *sql = NULL;

                if (sqlite3_prepare_v2(db_handle(d), "SELECT sql FROM sqlite_master WHERE name = ?", -1, &st, NULL) ==
                    SQLITE_OK) {
                        sqlite3_bind_text(st, 1, partial[i], -1, SQLITE_STATIC);
                        if (sqlite3_step(st) == SQLITE_ROW)
                                sql = (const char *) sqlite3_column_text(st, 0);
                }
                CHECK(sql && strstr(sql, "revoked IS NULL AND ended IS NULL"), "grants-active-index-skips-ended");
                sqlite3_finalize(st);
        }
        db_close(d);

        /* A database left by the foundation release (schema 1) migrates. */
        snprintf(legacy, sizeof legacy, "%s/legacy.db", dir);
        sqlite3_open(legacy, &raw);
        sqlite3_exec(raw,
                     "CREATE TABLE sessions (sid TEXT PRIMARY KEY NOT NULL, user TEXT NOT NULL,"
                     " uid INTEGER NOT NULL, service TEXT NOT NULL, tty TEXT, rhost TEXT, ruser TEXT,"
                     " pid INTEGER NOT NULL, asid INTEGER, key_serial INTEGER, created INTEGER NOT NULL,"
                     " expires INTEGER NOT NULL, ended INTEGER, claims TEXT NOT NULL);"
                     "INSERT INTO sessions VALUES ('s1','alice',1000,'sshd',NULL,NULL,NULL,1,NULL,5,10,20,NULL,'{}');"
                     "PRAGMA user_version = 1;",
                     NULL, NULL, NULL);
        sqlite3_close(raw);
        free(error);
        error = NULL;
        int r = db_open(legacy, &old, &error);
        if (r < 0)
                printf("# db_open of the legacy database: %s\n", error ? error : strerror(-r));
        CHECK(r == 0 && db_schema_version(old, &version) == 0 && version >= 3, "grants-migrates-from-v1");
        int64_t active = -1;
        CHECK(old && sessions_count_active(old, &active) == 0 && active == 1, "grants-migration-keeps-sessions");
        db_close(old);

        free(id1);
        free(id2);
        free(error);
        unlink(legacy);
        unlink(path);
        {
                char f[600];
                snprintf(f, sizeof f, "%s-wal", path);
                unlink(f);
                snprintf(f, sizeof f, "%s-shm", path);
                unlink(f);
                snprintf(f, sizeof f, "%s-wal", legacy);
                unlink(f);
                snprintf(f, sizeof f, "%s-shm", legacy);
                unlink(f);
        }
        rmdir(dir);
        TAP_EXIT();
}
