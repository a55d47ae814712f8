/* test_session_plan.c: every index of the sessions table is read by some
 * statement, since each costs every Enrich a write: on a real migrated
 * sqlite file with rows in it and after ANALYZE, the refresh walk and the
 * count of live sessions read the open-session partial index (not the
 * table, not an index of every session ever), and the table's indexes are
 * exactly its sid key and the three the listings page through (INDEXED BY
 * in sessions_list). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "db.h"
#include "sessions.h"
#include "util.h"
#include "../plan.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-session-plan-XXXXXX";

/* A step that reads through an index whose name starts with the prefix
 * (arg); the temporary B-tree ordering ties of created by rowid, within
 * the page, is skipped. */
static plan_step by_index(const char *detail, const void *arg) {
        const char *prefix = arg, *index = strstr(detail, " INDEX ");

        if (strstr(detail, "TEMP B-TREE"))
                return PLAN_STEP_SKIP;
        return index && strncmp(index + strlen(" INDEX "), prefix, strlen(prefix)) == 0 ? PLAN_STEP_OK : PLAN_STEP_BAD;
}

static bool reads_by(db *d, const char *sql, const char *index_prefix) {
        return plan_holds(d, sql, by_index, index_prefix);
}

int main(void) {
        char path[512], *error = NULL, *names = NULL;
        sqlite3_stmt *st = NULL;
        db *d = NULL;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrich.db", dir);
        CHECK(db_open(path, &d, &error) == 0, "session-plan-db-opens");
        if (!d) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }
        /* Mostly ended sessions, as on a host that has run a while. */
        CHECK(sqlite3_exec(db_handle(d),
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                           " INSERT INTO sessions (sid, user, uid, service, pid, created, expires, claims, ended)"
                           " SELECT 's' || i, 'u' || (i % 3), 1000 + i % 3, 'svc', i, 1000 + i, 5000 + i, '{}',"
                           " CASE WHEN i % 10 = 0 THEN NULL ELSE 2000 + i END FROM n; ANALYZE;",
                           NULL, NULL, NULL) == SQLITE_OK,
              "session-plan-rows-inserted");
        if (sqlite3_errcode(db_handle(d)) != SQLITE_OK)
                printf("# %s\n", sqlite3_errmsg(db_handle(d)));
        CHECK(reads_by(d, sessions_active_sql, "sessions_open_"), "session-plan-refresh-walk-reads-open-index");
        CHECK(reads_by(d, sessions_count_sql, "sessions_open_"), "session-plan-count-reads-open-index");

        if (sqlite3_prepare_v2(db_handle(d),
                               "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master"
                               " WHERE type = 'index' AND tbl_name = 'sessions' ORDER BY name)",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                names = strdup((const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        CHECK(names && streq_ptr(names, "sessions_open_page sessions_open_uid_page sessions_open_user_page"
                                        " sqlite_autoindex_sessions_1"),
              "session-plan-only-read-indexes");
        if (names)
                printf("# sessions indexes: %s\n", names);
        free(names);
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
