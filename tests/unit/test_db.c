/* test_db.c: db.c's one way of running statements, on a real temporary
 * sqlite file: values bound from a table (NULL text, bounded text, blobs,
 * values past the last parameter left out), the row walks and how they
 * stop, the integer and list readers, and transactions that commit or roll
 * back as a whole; and that a steady stream of commits with pauses (logins)
 * keeps restarting the WAL, never leaving its checkpoint to the committing
 * thread. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "config.h"
#include "db.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-db-XXXXXX";

#define INSERT "INSERT INTO t (name, n, data) VALUES (?1, ?2, ?3)"

/* Counts rows; stops (1) at the row whose n is the limit in *userdata. */
typedef struct walk {
        int64_t stop_at;
        int fail_with;
        int seen;
} walk;

static int walk_row(void *userdata, sqlite3_stmt *st) {
        walk *w = userdata;

        w->seen++;
        if (w->fail_with && sqlite3_column_int64(st, 1) == w->stop_at)
                return w->fail_with;
        return sqlite3_column_int64(st, 1) == w->stop_at ? 1 : 0;
}

static int count_rows(db *d) {
        int64_t n = -1;

        return db_query_int64(d, "SELECT count(*) FROM t", "count", &n, DB_NO_ARGS) < 0 ? -1 : (int) n;
}

/* Two inserts, then fails with *userdata when it is not 0. */
static int two_inserts(db *d, void *userdata) {
        int r;

        r = db_run(d, DB_WRITE_IN_TRANSACTION, INSERT, "insert", NULL, DB_ARGS(DB_TEXT("tx1"), DB_INT(101)));
        if (r == 0)
                r = db_run(d, DB_WRITE_IN_TRANSACTION, INSERT, "insert", NULL, DB_ARGS(DB_TEXT("tx2"), DB_INT(102)));
        return r < 0 ? r : *(int *) userdata;
}

int main(void) {
        static const unsigned char blob[4] = { 1, 0, 2, 3 };
        char path[512], *error = NULL, **names = NULL, *text = NULL;
        db *d = NULL;
        sqlite3_stmt *st = NULL;
        walk w = { 0 };
        int64_t value = -1;
        int changes = -1, outcome;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrich.db", dir);
        CHECK(db_open(path, &d, &error) == 0, "db-opens");
        if (!d) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }
        CHECK(sqlite3_exec(db_handle(d), "CREATE TABLE t (name TEXT, n INTEGER, data BLOB)", NULL, NULL, NULL) ==
                      SQLITE_OK,
              "db-test-table");

        /* Values: text, NULL text, an integer or NULL, a blob, a text cut
         * at its bound; a value past the statement's last parameter is
         * left out rather than failing the statement. */
        CHECK(db_run(d, DB_WRITE_DURABLE, INSERT, "insert", &changes,
                     DB_ARGS(DB_TEXT("a"), DB_INT(1), DB_BLOB(blob, sizeof blob), DB_TEXT("past the end"))) == 0 &&
                      changes == 1,
              "db-run-binds-and-counts");
        CHECK(db_run(d, DB_WRITE_NORMAL, INSERT, "insert", NULL,
                     DB_ARGS(DB_TEXT(NULL), DB_INT_OR_NULL(false, 7), DB_TEXT_BOUNDED("bounded", 3))) == 0,
              "db-run-null-and-bounded");
        CHECK(db_statement(d, "SELECT length(data), hex(data) FROM t WHERE name = ?1", "read", &st,
                           DB_ARGS(DB_TEXT("a"))) == 0 &&
                      sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 4 &&
                      strcmp(db_column_text(st, 1), "01000203") == 0,
              "db-blob-bound-whole");
        db_release(d, st);
        CHECK(db_query_int64(d, "SELECT count(*) FROM t WHERE name IS NULL AND n IS NULL AND data = 'bou'", "read",
                             &value, DB_NO_ARGS) == 0 &&
                      value == 1,
              "db-null-text-null-int-bounded-text");

        /* A statement that does not prepare says what failed. */
        CHECK(db_run(d, DB_WRITE_DURABLE, "INSERT INTO nowhere VALUES (1)", "Failed to test", NULL, DB_NO_ARGS) ==
                              -EIO &&
                      strncmp(db_last_error(d), "Failed to test: ", 16) == 0,
              "db-run-failure-names-what");

        for (int i = 2; i <= 5; i++)
                (void) db_run(d, DB_WRITE_DURABLE, INSERT, "insert", NULL,
                              DB_ARGS(DB_TEXT(i == 4 ? NULL : "row"), DB_INT(i)));
        /* Walks: every row; a positive return stops with success; a
         * negative one is the walk's answer. */
        w = (walk) { .stop_at = -1 };
        CHECK(db_query_each(d, "SELECT name, n FROM t WHERE n IS NOT NULL ORDER BY n", "walk", walk_row, &w,
                            DB_NO_ARGS) == 0 &&
                      w.seen == 5,
              "db-each-every-row");
        w = (walk) { .stop_at = 3 };
        CHECK(db_query_each(d, "SELECT name, n FROM t WHERE n IS NOT NULL ORDER BY n", "walk", walk_row, &w,
                            DB_NO_ARGS) == 0 &&
                      w.seen == 3,
              "db-each-stops-on-positive");
        w = (walk) { .stop_at = 2, .fail_with = -ENOMEM };
        CHECK(db_query_each(d, "SELECT name, n FROM t WHERE n IS NOT NULL ORDER BY n", "walk", walk_row, &w,
                            DB_NO_ARGS) == -ENOMEM &&
                      w.seen == 2,
              "db-each-fails-with-callback");
        w = (walk) { .stop_at = -1 };
        CHECK(db_query_each(d, "SELECT name, n FROM t WHERE n > 100", "walk", walk_row, &w, DB_NO_ARGS) == 0 &&
                      w.seen == 0,
              "db-each-no-row-is-fine");
        w = (walk) { .stop_at = -1 };
        CHECK(db_query_row(d, "SELECT name, n FROM t WHERE n > 100", "walk", walk_row, &w, DB_NO_ARGS) == -ENOENT &&
                      w.seen == 0,
              "db-row-none-is-enoent");
        w = (walk) { .stop_at = -1 };
        CHECK(db_query_row(d, "SELECT name, n FROM t WHERE n >= ?1 ORDER BY n", "walk", walk_row, &w,
                           DB_ARGS(DB_INT(2))) == 0 &&
                      w.seen == 1,
              "db-row-reads-one");
        value = -1;
        CHECK(db_query_int64(d, "SELECT min(n) FROM t WHERE n > 100", "min", &value, DB_NO_ARGS) == 0 && value == 0,
              "db-int64-null-reads-0");

        /* Lists: column 0 of every row, NULLs left out; NULL for none. */
        CHECK(db_query_strv(d, "SELECT name FROM t WHERE n >= 2 ORDER BY n", "names", &names, DB_NO_ARGS) == 0 &&
                      names && strv_length(names) == 3 && strcmp(names[0], "row") == 0 && !names[3],
              "db-strv-skips-null");
        strv_free(names);
        names = (char **) 1;
        CHECK(db_query_strv(d, "SELECT name FROM t WHERE n > 100", "names", &names, DB_NO_ARGS) == 0 && !names,
              "db-strv-none-is-null");

        /* Transactions: both inserts or neither; a positive return comes
         * back after the commit. */
        outcome = -EINVAL;
        CHECK(db_transaction(d, true, two_inserts, &outcome) == -EINVAL && count_rows(d) == 6,
              "db-transaction-rolls-back");
        outcome = 0;
        CHECK(db_transaction(d, false, two_inserts, &outcome) == 0 && count_rows(d) == 8, "db-transaction-commits");
        outcome = 2;
        CHECK(db_transaction(d, true, two_inserts, &outcome) == 2 && count_rows(d) == 10,
              "db-transaction-returns-positive");

        /* Columns: NULL text, fallback integers, copies. */
        CHECK(db_statement(d, "SELECT name, n FROM t WHERE n = 4", "read", &st, DB_NO_ARGS) == 0 &&
                      sqlite3_step(st) == SQLITE_ROW && !db_column_text(st, 0) && db_column_dup(st, 0, &text) == 0 &&
                      !text && db_column_int64_or(st, 1, -1) == 4,
              "db-columns-null");
        db_release(d, st);
        CHECK(db_statement(d, "SELECT name, n FROM t WHERE name IS NULL AND n IS NULL", "read", &st, DB_NO_ARGS) == 0 &&
                      sqlite3_step(st) == SQLITE_ROW && db_column_int64_or(st, 1, -1) == -1,
              "db-column-int-fallback");
        db_release(d, st);
        CHECK(db_statement(d, "SELECT name FROM t WHERE n = 5", "read", &st, DB_NO_ARGS) == 0 &&
                      sqlite3_step(st) == SQLITE_ROW && db_column_dup(st, 0, &text) == 0 && text &&
                      strcmp(text, "row") == 0,
              "db-column-dup");
        db_release(d, st);
        free(text);

        /* The WAL under commits of a few pages each, 3 ms apart: the
         * checkpointer thread's checkpoint of 1,000 pages takes longer, so
         * commits always come while it runs and it never leaves the WAL
         * fully copied; its catch-up (the newest DB_CATCH_UP_FRAMES) does,
         * so the WAL starts over every DB_CHECKPOINT_PAGES or so and never
         * reaches the bound at which the committing thread checkpoints it
         * itself (a stall of milliseconds). 2,000 commits of 4+ pages pass
         * that bound (8,000 pages) unless it restarts. */
        {
                static unsigned char big[13000];
                uint64_t restarts = 0, main_checkpoints = 0, catch_ups = 0;
                bool all = true;

                memset(big, 7, sizeof big);
                all = sqlite3_exec(db_handle(d), "CREATE TABLE w (data BLOB)", NULL, NULL, NULL) == SQLITE_OK;
                for (int i = 0; all && i < 2000; i++) {
                        struct timespec pause = { 0, 3000000 };

                        all = db_run(d, DB_WRITE_NORMAL, "INSERT INTO w (data) VALUES (?1)", "insert", NULL,
                                     DB_ARGS(DB_BLOB(big, sizeof big))) == 0;
                        nanosleep(&pause, NULL);
                }
                db_wal_stats(d, &restarts, &main_checkpoints, &catch_ups);
                printf("# WAL restarts %llu, checkpoints at its bound %llu, catch-ups %llu\n",
                       (unsigned long long) restarts, (unsigned long long) main_checkpoints,
                       (unsigned long long) catch_ups);
                CHECK(all && restarts >= 1 && main_checkpoints == 0, "db-wal-restarts-without-main-checkpoint");
        }

        db_close(d);
        free(error);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-wal", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-shm", dir);
        unlink(path);
        rmdir(dir);
        TAP_EXIT();
}
