/* test_audit_worker.c: automatic audit checkpoints (audit_checkpoint_rows)
 * are made by the tick and the worker thread, never in the middle of the
 * call that wrote the row reaching the threshold (that call's login waited
 * for a verify of the whole trail since the last checkpoint and three
 * fsyncs). What they sign keeps its meaning: the checkpoint seals the
 * newest row, rows written while the worker verified included, the trail
 * verifies with it, AUDIT_HEAD_FILE names it; a trail that does not verify
 * gets no checkpoint; a checkpoint asked for while the worker is busy
 * waits for it. On a real temporary sqlite file. */
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "audit.h"
#include "config.h"
#include "db.h"
#include "keys.h"
#include "log.h"
#include "signer.h"
#include "../audit_env.h"
#include "../state.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-audit-worker-XXXXXX";

static int write_rows(enrichd *e, int n) {
        for (int i = 0; i < n; i++)
                if (audit_recordf(e, NULL, "alice", "test.row", "ok", "{s:i}", "i", i) < 0)
                        return -1;
        return 0;
}

/* Ticks (as the event loop does, faster) until the trail holds want
 * checkpoints, for at most ms; the count it reached. */
static int64_t tick_until(enrichd *e, int64_t want, int ms) {
        int64_t n = test_query(e, "SELECT count(*) FROM audit_checkpoints");

        for (int i = 0; i < ms && n < want; i++) {
                struct timespec pause = { 0, 1000000 };

                audit_tick(e);
                nanosleep(&pause, NULL);
                n = test_query(e, "SELECT count(*) FROM audit_checkpoints");
        }
        return n;
}

static int64_t head_row(void);

/* Ticks until AUDIT_HEAD_FILE names row (the worker writes it after the
 * checkpoint row is in), for at most ms; whether it does. */
static bool settled(enrichd *e, int64_t row, int ms) {
        for (int i = 0; i < ms && head_row() != row; i++) {
                struct timespec pause = { 0, 1000000 };

                audit_tick(e);
                nanosleep(&pause, NULL);
        }
        return head_row() == row;
}

/* The row AUDIT_HEAD_FILE names, or -1. */
static int64_t head_row(void) {
        char path[512], line[256];
        long long row = -1;
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, AUDIT_HEAD_FILE);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "row %lld", &row) == 1)
                        break;
        fclose(f);
        return row;
}

int main(void) {
        char path[512], jwks[512];
        config cfg = { .audit_refusal_window = 600, .audit_checkpoint_rows = 5, .audit_checkpoint_seconds = 86400 };
        enrichd e = { .config = &cfg };
        int status;
        audit_verdict v;
        int64_t next = 0, id = 0;

        if ((status = test_state_dir(dir, &cfg, path, sizeof path)) != 0)
                return status;
        CHECK(test_audit_open(dir, path, jwks, sizeof jwks, &e) == 0, "worker-open");
        if (!e.audit)
                return 1;

        /* The row that reaches the threshold returns without a checkpoint:
         * the tick makes it, sealing row 6. */
        CHECK(write_rows(&e, 5) == 0 && test_query(&e, "SELECT count(*) FROM audit_checkpoints") == 0,
              "worker-no-checkpoint-in-the-call");
        CHECK(tick_until(&e, 1, 5000) == 1 && test_query(&e, "SELECT max(row_id) FROM audit_checkpoints") == 6 &&
                      test_query(&e, "SELECT count(*) FROM audit WHERE id = 6 AND action = 'audit.checkpoint'"
                                     " AND details LIKE '%\"why\":\"rows\"%'") == 1,
              "worker-checkpoint-by-the-tick");
        /* Committed, but not yet synced by the worker: not the newest
         * checkpoint that fleet mode would publish, until it is. */
        {
                audit_anchor newest = { 0 };

                CHECK(audit_newest_checkpoint(&e, &newest) == -ENOENT, "worker-unsealed-checkpoint-not-newest");
                for (int i = 0; i < 5000 && newest.row_id != 6; i++) {
                        struct timespec pause = { 0, 1000000 };

                        audit_tick(&e);
                        nanosleep(&pause, NULL);
                        (void) audit_newest_checkpoint(&e, &newest);
                }
                CHECK(newest.row_id == 6, "worker-sealed-checkpoint-newest");
        }
        CHECK(settled(&e, 6, 5000), "worker-head-record-names-it");
        CHECK(audit_verify(&e, 0, &v, &next) == 0 && v.ok && v.sealed_id == 6 && v.checkpoints == 1,
              "worker-trail-verifies");

        /* Rows written while the worker verifies: the checkpoint seals the
         * newest row, after them. */
        CHECK(write_rows(&e, 5) == 0, "worker-more-rows");
        audit_tick(&e);
        CHECK(write_rows(&e, 3) == 0 && tick_until(&e, 2, 5000) == 2 &&
                      test_query(&e, "SELECT max(row_id) FROM audit_checkpoints") == 15 && settled(&e, 15, 5000),
              "worker-seals-the-newest-row");
        CHECK(audit_verify(&e, 0, &v, &next) == 0 && v.ok && v.sealed_id == 15, "worker-trail-verifies-again");

        /* Asked for while the worker is busy: waits for it, then makes its
         * own. */
        CHECK(write_rows(&e, 5) == 0, "worker-rows-for-a-busy-worker");
        audit_tick(&e);
        CHECK(audit_checkpoint(&e, NULL, "requested", &id, NULL) == 0 && id == 21 && head_row() == 21,
              "worker-drained-before-a-requested-checkpoint");
        CHECK(audit_verify(&e, 0, &v, &next) == 0 && v.ok && v.sealed_id == id, "worker-trail-verifies-at-the-end");

        /* Rows hashed on this thread while the worker hashes 3,000 (each
         * thread its own hashing state): every checkpoint made verifies. */
        next = test_query(&e, "SELECT count(*) FROM audit_checkpoints");
        CHECK(write_rows(&e, 3000) == 0, "worker-long-trail");
        audit_tick(&e);
        CHECK(write_rows(&e, 300) == 0 && tick_until(&e, next + 1, 10000) == next + 1 &&
                      settled(&e, test_query(&e, "SELECT max(row_id) FROM audit_checkpoints"), 5000),
              "worker-checkpoint-while-rows-are-written");
        CHECK(audit_verify(&e, 0, &v, &id) == 0 && v.ok &&
                      v.sealed_id == test_query(&e, "SELECT max(row_id) FROM audit_checkpoints"),
              "worker-long-trail-verifies");

        /* A row the worker has verified, changed by another writer before
         * the main thread signs: the main thread verifies everything again
         * and signs nothing; put back, the next checkpoint is made. */
        {
                sqlite3 *outside = NULL;
                char *old = NULL, *change, *undo;
                int64_t made = test_query(&e, "SELECT count(*) FROM audit_checkpoints");
                struct timespec pause = { 0, 300000000 };
                bool changed;

                for (int i = 0; i < 5000 && audit_checkpoint_under_way(&e); i++) {
                        struct timespec tick = { 0, 1000000 };

                        audit_tick(&e);
                        nanosleep(&tick, NULL);
                }
                CHECK(!audit_checkpoint_under_way(&e) && write_rows(&e, 5) == 0 &&
                              sqlite3_open(path, &outside) == SQLITE_OK,
                      "worker-outside-writer");
                old = sqlite3_mprintf("%lld", (long long) test_query(&e, "SELECT max(id) - 2 FROM audit"));
                /* The job begins; the worker verifies the rows meanwhile. */
                audit_tick(&e);
                nanosleep(&pause, NULL);
                change = sqlite3_mprintf("UPDATE audit SET details = '{\"i\":98}' WHERE id = %s", old);
                undo = sqlite3_mprintf("UPDATE audit SET details = '{\"i\":2}' WHERE id = %s", old);
                changed = sqlite3_exec(outside, change, NULL, NULL, NULL) == SQLITE_OK;
                CHECK(changed && tick_until(&e, made + 1, 600) == made, "worker-verified-rows-changed-not-signed");
                CHECK(sqlite3_exec(outside, undo, NULL, NULL, NULL) == SQLITE_OK && write_rows(&e, 5) == 0 &&
                              tick_until(&e, made + 1, 5000) == made + 1,
                      "worker-trail-put-back-checkpointed");
                sqlite3_free(change);
                sqlite3_free(undo);
                sqlite3_free(old);
                sqlite3_close(outside);
        }

        /* A row changed behind the daemon's back: no checkpoint signs it. */
        next = test_query(&e, "SELECT count(*) FROM audit_checkpoints");
        CHECK(write_rows(&e, 5) == 0 && sqlite3_exec(db_handle(e.db),
                                                     "UPDATE audit SET details = '{\"i\":99}'"
                                                     " WHERE id = (SELECT max(id) - 2 FROM audit)",
                                                     NULL, NULL, NULL) == SQLITE_OK,
              "worker-tampered");
        CHECK(tick_until(&e, next + 1, 600) == next, "worker-refuses-a-tampered-trail");

        test_audit_close(&e);
        test_state_remove(dir);
        TAP_EXIT();
}
