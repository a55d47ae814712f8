/* test_audit_retention.c: audit_retention_days deletes old rows a
 * checkpoint interval at a time, one step per tick, never all at once on
 * the thread that answers calls (about 3.6 us a row: a year of trail
 * turned to retention at once held every login up for seconds). After
 * every step the first row left is a checkpoint's, so the trail verifies
 * all along; the run stops at the newest checkpoint that only old rows
 * precede, and recent rows stay. This binary links its own clock_wall_ms
 * in place of the daemon's weak one (daemon/clock.c), to age the rows.
 * Real sqlite, a real signing key, the real checkpoint worker. */
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "keys.h"
#include "signer.h"
#include "../audit_env.h"
#include "../state.h"
#include "../tap.h"

#define DAY       86400
#define INTERVAL  5     /* audit_checkpoint_rows */
#define INTERVALS 6

static char dir[] = "/tmp/enrich-test-audit-retention-XXXXXX";
static int64_t fake_wall_ms;

int64_t clock_wall_ms(void) {
        return fake_wall_ms;
}

/* INTERVAL rows, then ticks until the worker has checkpointed them. */
static bool interval(enrichd *e) {
        int64_t want = test_query(e, "SELECT count(*) FROM audit_checkpoints") + 1;

        for (int i = 0; i < INTERVAL; i++)
                if (audit_recordf(e, NULL, "alice", "test.row", "ok", "{s:i}", "i", i) < 0)
                        return false;
        for (int i = 0; i < 5000 && (test_query(e, "SELECT count(*) FROM audit_checkpoints") < want ||
                                     audit_checkpoint_under_way(e));
             i++) {
                struct timespec pause = { 0, 1000000 };

                audit_tick(e);
                nanosleep(&pause, NULL);
        }
        return test_query(e, "SELECT count(*) FROM audit_checkpoints") == want && !audit_checkpoint_under_way(e);
}

static bool verifies(enrichd *e) {
        audit_verdict v;
        int64_t next = 0;

        return audit_verify(e, 0, &v, &next) == 0 && v.ok && next == 0;
}

int main(void) {
        char path[512], jwks[512];
        config cfg = { .audit_refusal_window = 600,
                       .audit_checkpoint_rows = INTERVAL,
                       .audit_checkpoint_seconds = 86400 };
        enrichd e = { .config = &cfg };
        int64_t anchor = 0, first, firsts[INTERVALS + 2], id = 0;
        int status, steps = 0;
        bool built = true, each_anchored = true, each_verifies = true, each_one_interval = true;

        fake_wall_ms = (int64_t) time(NULL) * 1000;
        if ((status = test_state_dir(dir, &cfg, path, sizeof path)) != 0)
                return status;
        CHECK(test_audit_open(dir, path, jwks, sizeof jwks, &e) == 0, "retention-open");
        if (!e.audit)
                return 1;

        /* INTERVALS checkpointed intervals, ten days ago; then recent rows
         * and a checkpoint, which makes a run due. */
        for (int i = 0; i < INTERVALS && built; i++)
                built = interval(&e);
        anchor = test_query(&e, "SELECT max(row_id) FROM audit_checkpoints");
        CHECK(built && anchor > INTERVALS * INTERVAL && verifies(&e), "retention-old-trail-built");
        fake_wall_ms += 10 * DAY * 1000LL;
        cfg.audit_retention_days = 1;
        CHECK(audit_recordf(&e, NULL, "alice", "test.recent", "ok", "{}") == 0 &&
                      audit_checkpoint(&e, NULL, "requested", &id, NULL) == 0 && id > anchor,
              "retention-recent-rows");
        /* Nothing yet: the checkpoint left the run to the tick. */
        CHECK(test_query(&e, "SELECT min(id) FROM audit") == 1, "retention-not-in-the-checkpoint");

        /* One interval per tick, each time up to a checkpoint's row. */
        first = 1;
        while (steps < INTERVALS + 2) {
                int64_t before = first;

                audit_tick(&e);
                first = test_query(&e, "SELECT min(id) FROM audit");
                if (first == before)
                        break;
                firsts[steps++] = first;
                if (test_query(&e,
                               "SELECT count(*) FROM audit_checkpoints WHERE row_id = (SELECT min(id) FROM audit)") !=
                    1)
                        each_anchored = false;
                if (!verifies(&e))
                        each_verifies = false;
                if (first - before > INTERVAL + 1)
                        each_one_interval = false;
        }
        printf("# first row after each tick:");
        for (int i = 0; i < steps; i++)
                printf(" %lld", (long long) firsts[i]);
        printf("\n");
        CHECK(steps == INTERVALS && each_one_interval, "retention-one-interval-per-tick");
        CHECK(each_anchored, "retention-first-row-always-a-checkpoint");
        CHECK(each_verifies, "retention-verifies-after-every-step");
        CHECK(first == anchor && test_query(&e, "SELECT count(*) FROM audit WHERE action = 'test.recent'") == 1 &&
                      test_query(&e, "SELECT count(*) FROM audit_checkpoints WHERE row_id >= " /* anchor, id */
                                     "(SELECT min(id) FROM audit)") == 2,
              "retention-stops-at-the-anchor");
        audit_tick(&e);
        CHECK(test_query(&e, "SELECT min(id) FROM audit") == anchor && verifies(&e), "retention-run-over");

        /* Another checkpoint, with nothing old left but the anchor: the
         * run finds nothing to do. */
        CHECK(audit_checkpoint(&e, NULL, "requested", &id, NULL) == 0, "retention-later-checkpoint");
        audit_tick(&e);
        CHECK(test_query(&e, "SELECT min(id) FROM audit") == anchor && verifies(&e), "retention-nothing-more");

        test_audit_close(&e);
        test_state_remove(dir);
        TAP_EXIT();
}
