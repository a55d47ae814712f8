/* plan.h: the unit tests that hold statements to their indexes read
 * EXPLAIN QUERY PLAN through plan_holds. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include <sqlite3.h>
#include "db.h"

typedef enum plan_step { PLAN_STEP_OK, PLAN_STEP_BAD, PLAN_STEP_SKIP } plan_step;

/* Whether sql has a plan of at least one step and judge finds every step
 * (its detail text, never NULL) good, skipped steps aside; prints the plan
 * on failure. */
static inline bool plan_holds(db *d, const char *sql, plan_step (*judge)(const char *detail, const void *arg),
                              const void *arg) {
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
                plan_step verdict = detail ? judge(detail, arg) : PLAN_STEP_BAD;

                if (verdict == PLAN_STEP_SKIP)
                        continue;
                any = true;
                ok = ok && verdict == PLAN_STEP_OK;
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
