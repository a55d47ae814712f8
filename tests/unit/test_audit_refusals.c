/* test_audit_refusals.c: refusal aggregation (audit_record_refusal) on a
 * real temporary sqlite file: however many callers and methods, and in
 * whatever order, a window costs a bounded number of rows; a caller past its
 * share of slots is summarised per method; once the table is full, new keys
 * share a "many callers" summary per action; and the rows' counts add up to
 * the refusals made. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "audit.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "../state.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-audit-refusals-XXXXXX";

static int64_t query(db *d, const char *sql) {
        sqlite3_stmt *st = NULL;
        int64_t v = -1;

        if (sqlite3_prepare_v2(db_handle(d), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        else
                printf("# %s: %s\n", sql, sqlite3_errmsg(db_handle(d)));
        sqlite3_finalize(st);
        return v;
}

/* rounds times, each of n_uids callers (uids from first_uid, which need not
 * exist) refused each of n_methods methods in turn: a cyclic pattern, the
 * worst for a table that evicts. Returns the refusals made. */
static int64_t flood(enrichd *e, unsigned first_uid, int n_uids, int n_methods, int rounds) {
        char method[64];
        int64_t n = 0;

        for (int r = 0; r < rounds; r++)
                for (int u = 0; u < n_uids; u++)
                        for (int m = 0; m < n_methods; m++) {
                                struct ucred peer = { .pid = 1, .uid = first_uid + (unsigned) u, .gid = 0 };

                                snprintf(method, sizeof method, "io.enrich.Method%d", m);
                                if (audit_record_refusal(e, &peer, NULL, AUDIT_PERMISSION_DENIED, AUDIT_DENIED, method,
                                                         json_pack("{s:s}", "method", method)) == 0)
                                        n++;
                        }
        return n;
}

int main(void) {
        char path[512], sql[512], *error = NULL;
        config cfg = { .audit_refusal_window = 600, .audit_checkpoint_rows = 1000000 };
        enrichd e = { .config = &cfg };
        int status;
        int64_t made, rows;

        if ((status = test_state_dir(dir, &cfg, path, sizeof path)) != 0)
                return status;
        CHECK(db_open(path, &e.db, &error) == 0 && audit_open(&e, &e.audit) == 0, "refusals-open");
        if (!e.audit) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }

        /* One caller, 40 methods, 10 rounds: its own slots (a row at once
         * and a summary each), then one overflow slot (a row for each of
         * the first methods it names, and a summary). */
        made = flood(&e, 70000, 1, 40, 10);
        audit_flush_refusals(&e, true);
        rows = query(e.db, "SELECT count(*) FROM audit WHERE actor_uid = 70000");
        printf("# one caller: %lld refusals, %lld rows\n", (long long) made, (long long) rows);
        CHECK(rows <= 2 * AUDIT_REFUSAL_PER_UID + AUDIT_REFUSAL_NAMES + 1, "refusals-one-caller-bounded");
        CHECK(query(e.db, "SELECT sum(coalesce(json_extract(details, '$.count'), 1)) FROM audit"
                          " WHERE actor_uid = 70000") == made,
              "refusals-one-caller-counts-add-up");
        CHECK(query(e.db,
                    "SELECT count(*) FROM audit WHERE actor_uid = 70000 AND json_extract(details, '$.method') = '*'"
                    " AND json_extract(details, '$.count') = (SELECT sum(value) FROM json_each(details, '$.methods'))"
                    " + coalesce(json_extract(details, '$.otherMethods'), 0)") == 1,
              "refusals-one-caller-overflow-per-method");
        CHECK(query(e.db, "SELECT max((SELECT count(*) FROM json_each(details, '$.methods'))) FROM audit"
                          " WHERE actor_uid = 70000") <= AUDIT_REFUSAL_NAMES,
              "refusals-one-caller-names-bounded");

        /* 200 callers, 8 methods each (within their share), 5 rounds:
         * 1,600 keys, more than the table holds. */
        made = flood(&e, 80000, 200, 8, 5);
        audit_flush_refusals(&e, true);
        rows = query(e.db, "SELECT count(*) FROM audit WHERE actor_uid BETWEEN 80000 AND 80199 OR actor_uid IS NULL");
        printf("# 200 callers: %lld refusals, %lld rows\n", (long long) made, (long long) rows);
        CHECK(rows <= 2 * AUDIT_REFUSAL_SLOTS + AUDIT_REFUSAL_NAMES + 1, "refusals-many-callers-bounded");
        CHECK(query(e.db, "SELECT sum(coalesce(json_extract(details, '$.count'), 1)) FROM audit"
                          " WHERE actor_uid BETWEEN 80000 AND 80199 OR actor_uid IS NULL") == made,
              "refusals-many-callers-counts-add-up");
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM audit WHERE actor_uid IS NULL AND actor_name = 'enrichd'"
                 " AND json_extract(details, '$.actor') = 'many callers'"
                 " AND json_extract(details, '$.count') = (SELECT sum(value) FROM json_each(details, '$.callers'))"
                 " + coalesce(json_extract(details, '$.otherCallers'), 0)");
        CHECK(query(e.db, sql) == 1, "refusals-many-callers-summary");

        audit_free(e.audit);
        db_close(e.db);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-wal", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-shm", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s", dir, AUDIT_HEAD_FILE);
        unlink(path);
        rmdir(dir);
        free(error);
        TAP_EXIT();
}
