/* test_audit_plan.c: every AuditList statement (audit_list_sql, each filter
 * combination and direction), the since lookup and retention's steps read
 * the audit table through an index or the rowid: EXPLAIN QUERY PLAN shows
 * no full scan and no temporary B-tree for ORDER BY, on a real migrated
 * sqlite file, with rows in it and after ANALYZE, so a page costs its
 * rows, not the table. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "audit.h"
#include "db.h"
#include "../plan.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-audit-plan-XXXXXX";

/* The equalities a search must be on (an index's "subject=?", not a
 * rowid range filtered row by row); NULL: none. */
typedef struct searched_on {
        const char *eq1, *eq2;
} searched_on;

/* A step that is a search (no full scan, no temporary B-tree for ORDER
 * BY) on each of the equalities named. */
static plan_step by_search(const char *detail, const void *arg) {
        const searched_on *on = arg;

        if (strncmp(detail, "SCAN", 4) == 0 || strstr(detail, "TEMP B-TREE") || (on->eq1 && !strstr(detail, on->eq1)) ||
            (on->eq2 && !strstr(detail, on->eq2)))
                return PLAN_STEP_BAD;
        return PLAN_STEP_OK;
}

/* Retention's steps: each table is sought, by its rowid or for its
 * smallest id, never scanned (the one constant row of EXISTS aside). */
static plan_step by_seek(const char *detail, const void *arg) {
        if (strncmp(detail, "SCALAR SUBQUERY", 15) == 0 || strcmp(detail, "SCAN CONSTANT ROW") == 0)
                return PLAN_STEP_SKIP;
        if (strcmp(detail, "SEARCH audit") == 0 || strstr(detail, "USING INTEGER PRIMARY KEY (rowid"))
                return PLAN_STEP_OK;
        return PLAN_STEP_BAD;
}

static bool searches_only(db *d, const char *sql, const char *eq1, const char *eq2) {
        return plan_holds(d, sql, by_search, &(searched_on) { eq1, eq2 });
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
        CHECK(plan_holds(d, audit_prune_next_sql, by_seek, NULL), "audit-plan-prune-next-checkpoint");
        CHECK(plan_holds(d, audit_prune_recent_sql, by_seek, NULL), "audit-plan-prune-only-the-interval");
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
