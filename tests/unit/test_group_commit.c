/* test_group_commit.c: the batch of db.c on a real temporary sqlite file:
 * its writes are invisible to other connections until db_batch_commit, a
 * savepoint rolled back inside it undoes only its own rows, a durable write
 * commits the open batch first, and a batch sqlite rolled back behind our
 * back is reported by db_batch_commit instead of passing for stored, and
 * the rest of that turn writes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "db.h"
#include "grants.h"
#include "sessions.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-group-commit-XXXXXX";

static int insert(db *d, const char *sid) {
        return sessions_insert(d, &(session_row) { .sid = sid,
                                                   .user = "alice",
                                                   .uid = 1000,
                                                   .service = "svc",
                                                   .pid = 1,
                                                   .asid = -1,
                                                   .created = 100,
                                                   .expires = 200,
                                                   .claims = "{}",
                                                   .amr = "[]",
                                                   .token_issued = 100 });
}

/* Sessions another connection sees: only what is committed. */
static int committed(sqlite3 *peek, const char *sid) {
        sqlite3_stmt *st = NULL;
        int n = -1;

        if (sqlite3_prepare_v2(peek, "SELECT count(*) FROM sessions WHERE sid = ?", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return n;
}

int main(void) {
        char path[512], *error = NULL, *gid = NULL;
        char *scopes[] = { (char *) "a:1", NULL };
        db *d = NULL;
        sqlite3 *peek = NULL;
        uint64_t before;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrich.db", dir);
        CHECK(db_open(path, &d, &error) == 0 && sqlite3_open(path, &peek) == SQLITE_OK, "batch-db-opens");
        if (!d || !peek) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }

        db_batch_allow(d);
        before = db_batch_writes(d);
        CHECK(insert(d, "s1") == 0 && db_batch_writes(d) != before, "batch-write-counted");
        CHECK(committed(peek, "s1") == 0, "batch-invisible-before-commit");
        CHECK(db_begin(d) == 0 && insert(d, "s2") == 0, "batch-savepoint-write");
        db_rollback(d);
        CHECK(db_batch_commit(d) == 0, "batch-commits");
        CHECK(committed(peek, "s1") == 1 && committed(peek, "s2") == 0, "batch-savepoint-rollback-only-its-own");

        db_batch_allow(d);
        CHECK(insert(d, "s3") == 0 && grants_new_id(&gid) == 0 &&
                      grants_add(d, &(grant) { .id = gid,
                                               .user = (char *) "alice",
                                               .uid = 1000,
                                               .scopes = scopes,
                                               .reason = (char *) "test",
                                               .granted_by = (char *) "root",
                                               .created = 100,
                                               .expires = 200 }) == 0,
              "batch-durable-write");
        CHECK(committed(peek, "s3") == 1, "batch-durable-write-commits-batch-first");
        CHECK(insert(d, "s4") == 0 && db_batch_commit(d) == 0 && committed(peek, "s4") == 1,
              "batch-reopens-after-durable-write");

        /* sqlite rolls a transaction back by itself on some errors (disk
         * full, I/O): the rows are gone, and the commit must say so. */
        db_batch_allow(d);
        CHECK(insert(d, "s5") == 0, "batch-write-before-loss");
        sqlite3_exec(db_handle(d), "ROLLBACK", NULL, NULL, NULL);
        CHECK(insert(d, "s6") < 0, "batch-write-after-loss-refused");
        CHECK(db_batch_commit(d) < 0, "batch-lost-reported");
        CHECK(committed(peek, "s5") == 0 && committed(peek, "s6") == 0, "batch-lost-turn-writes-nothing");
        CHECK(db_batch_commit(d) == 0, "batch-failure-reported-once");

        sqlite3_close(peek);
        db_close(d);
        free(gid);
        free(error);
        for (const char *suffix = ""; suffix; suffix = *suffix ? NULL : "-wal") {
                snprintf(path, sizeof path, "%s/enrich.db%s", dir, suffix);
                unlink(path);
        }
        snprintf(path, sizeof path, "%s/enrich.db-shm", dir);
        unlink(path);
        rmdir(dir);
        TAP_EXIT();
}
