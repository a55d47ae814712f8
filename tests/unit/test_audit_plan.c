/* test_audit_plan.c: every AuditList statement (audit_list_sql, each filter
 * combination and direction) and the since lookup read the audit table
 * through an index or the rowid: EXPLAIN QUERY PLAN shows no full scan and
 * no temporary B-tree for ORDER BY, on a real migrated sqlite file, with
 * rows in it and after ANALYZE, so a page costs its rows, not the table. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "audit.h"
#include "db.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-audit-plan-XXXXXX";

/* Whether the plan of sql reads only by search, and its search is on each
 * of the equalities named (an index's "subject=?", not a rowid range
 * filtered row by row): prints the plan on failure. */
static bool searches_only(db *d, const char *sql, const char *eq1, const char *eq2) {
        char explain[2048];
        sqlite3_stmt *st = NULL;
        bool ok = true, any = false;

        snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
        if (sqlite3_prepare_v2(db_handle(d), explain, -1, &st, NULL) != SQLITE_OK) {
                printf("# %s: %s\n", sql, sqlite3_errmsg(db_handle(d)));
                return false;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *detail = (const char *) sqlite3_column_text(st, 3);

                any = true;
                if (!detail || strncmp(detail, "SCAN", 4) == 0 || strstr(detail, "TEMP B-TREE") ||
                    (eq1 && !strstr(detail, eq1)) || (eq2 && !strstr(detail, eq2)))
                        ok = false;
        }
        sqlite3_reset(st);
        if (!ok || !any) {
                printf("# %s\n", sql);
                while (sqlite3_step(st) == SQLITE_ROW)
                        printf("#   %s\n", (const char *) sqlite3_column_text(st, 3));
        }
        sqlite3_finalize(st);
        return ok && any;
}

int main(void) {
        char path[512], name[128], *error = NULL;
        db *d = NULL;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrich.db", dir);
        CHECK(db_open(path, &d, &error) == 0, "audit-plan-db-opens");
        if (!d) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }
        /* Rows with few subjects and actions, and statistics about them:
         * the planner must still pick the index, whatever it knows. */
        CHECK(sqlite3_exec(db_handle(d),
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                           " INSERT INTO audit SELECT i, 1000 + i, 0, 'root', 'u' || (i % 3),"
                           " 'a' || (i % 2), 'ok', '{}', '', '' FROM n; ANALYZE;",
                           NULL, NULL, NULL) == SQLITE_OK,
              "audit-plan-rows-inserted");
        for (int i = 0; i < 16; i++) {
                bool user = i & 1, action = i & 2, since = i & 4, descending = i & 8;

                snprintf(name, sizeof name, "audit-plan-search%s%s%s-%s", user ? "-user" : "", action ? "-action" : "",
                         since ? "-since" : "", descending ? "newest" : "oldest");
                CHECK(searches_only(d, audit_list_sql(user, action, since, descending), user ? "subject=?" : NULL,
                                    action ? "action=?" : NULL),
                      name);
        }
        CHECK(searches_only(d, audit_since_sql, "time>?", NULL), "audit-plan-since-lookup");
        CHECK(searches_only(d, audit_until_sql, "time>?", NULL), "audit-plan-until-lookup");
        db_close(d);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-wal", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-shm", dir);
        unlink(path);
        rmdir(dir);
        free(error);
        TAP_EXIT();
}
