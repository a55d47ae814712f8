/* test_audit_bad_trail.c: a trail that does not verify is not verified
 * again on every tick. Each automatic attempt at a checkpoint verifies,
 * on the thread that answers calls, every row since the newest checkpoint,
 * and those rows only grow while none can be signed: a tampered trail
 * (or a damaged disk) used to cost that on every tick, and a journal error
 * each time. Now a failed attempt waits 60 s before the next, doubling up
 * to an hour; a good checkpoint (the trail repaired) resets the wait.
 * This binary links its own clock_wall_ms in place of the daemon's weak
 * one (daemon/clock.c), to move time on. Real sqlite, a real signing key,
 * the real checkpoint worker. */
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "../audit_env.h"
#include "../state.h"
#include "../tap.h"

#define ROWS 5 /* audit_checkpoint_rows */

static char dir[] = "/tmp/enrich-test-audit-bad-trail-XXXXXX";
static char log_path[600];
static int64_t fake_wall_ms;

int64_t clock_wall_ms(void) {
        return fake_wall_ms;
}

/* How many times the daemon's log (its stderr, here a file) refused to
 * sign a checkpoint so far. */
static int refusals(void) {
        char line[4096];
        int n = 0;
        FILE *f = fopen(log_path, "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (strstr(line, "refusing to sign a checkpoint"))
                        n++;
        fclose(f);
        return n;
}

/* Ticks (as the event loop does, faster) for ms, or until the log holds
 * want refusals or the trail want_checkpoints checkpoints; the refusals. */
static int tick(enrichd *e, int ms, int want, int64_t want_checkpoints) {
        int n = refusals();

        for (int i = 0;
             i < ms && n < want && test_query(e, "SELECT count(*) FROM audit_checkpoints") < want_checkpoints; i++) {
                struct timespec pause = { 0, 1000000 };

                audit_tick(e);
                nanosleep(&pause, NULL);
                n = refusals();
        }
        return n;
}

static int write_rows(enrichd *e, int n) {
        for (int i = 0; i < n; i++)
                if (audit_recordf(e, NULL, "alice", "test.row", "ok", "{s:i}", "i", i) < 0)
                        return -1;
        return 0;
}

static int tamper(enrichd *e, const char *details) {
        char sql[256];

        snprintf(sql, sizeof sql, "UPDATE audit SET details = '%s' WHERE id = (SELECT max(id) - 2 FROM audit)",
                 details);
        return sqlite3_exec(db_handle(e->db), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int main(void) {
        char path[512], jwks[512];
        config cfg = { .audit_refusal_window = 600, .audit_checkpoint_rows = ROWS, .audit_checkpoint_seconds = 86400 };
        enrichd e = { .config = &cfg };
        int status, fd;
        int64_t checkpoints;

        fake_wall_ms = (int64_t) time(NULL) * 1000;
        if ((status = test_state_dir(dir, &cfg, path, sizeof path)) != 0)
                return status;
        snprintf(log_path, sizeof log_path, "%s/stderr.log", dir);
        fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                return 1;
        close(fd);
        log_setup(true);
        CHECK(test_audit_open(dir, path, jwks, sizeof jwks, &e) == 0, "bad-trail-open");
        if (!e.audit)
                return 1;
        CHECK(write_rows(&e, ROWS) == 0 && tick(&e, 5000, 1, 1) == 0 &&
                      test_query(&e, "SELECT count(*) FROM audit_checkpoints") == 1,
              "bad-trail-first-checkpoint");

        /* A row changed behind the daemon's back: one refusal, then none
         * however often the tick comes, until 60 s have passed. */
        CHECK(write_rows(&e, ROWS) == 0 && tamper(&e, "{\"i\":99}") == 0 && tick(&e, 5000, 1, 2) == 1,
              "bad-trail-refused");
        CHECK(tick(&e, 400, 2, 2) == 1, "bad-trail-not-again-at-once");
        fake_wall_ms += 59 * 1000;
        CHECK(tick(&e, 300, 2, 2) == 1, "bad-trail-not-again-within-60s");
        fake_wall_ms += 1000;
        CHECK(tick(&e, 5000, 2, 2) == 2, "bad-trail-again-after-60s");
        /* then 120 s */
        fake_wall_ms += 119 * 1000;
        CHECK(tick(&e, 300, 3, 2) == 2, "bad-trail-backoff-doubles");
        fake_wall_ms += 1000;
        CHECK(tick(&e, 5000, 3, 2) == 3, "bad-trail-again-after-120s");

        /* Repaired: the next attempt signs, and the wait starts again at
         * 60 s for the next damage. */
        CHECK(tamper(&e, "{\"i\":2}") == 0, "bad-trail-repaired");
        fake_wall_ms += 240 * 1000;
        checkpoints = test_query(&e, "SELECT count(*) FROM audit_checkpoints");
        CHECK(tick(&e, 5000, 4, checkpoints + 1) == 3 &&
                      test_query(&e, "SELECT count(*) FROM audit_checkpoints") == checkpoints + 1,
              "bad-trail-checkpoint-once-repaired");
        CHECK(write_rows(&e, ROWS) == 0 && tamper(&e, "{\"i\":98}") == 0 && tick(&e, 5000, 4, INT64_MAX) == 4 &&
                      tick(&e, 300, 5, INT64_MAX) == 4,
              "bad-trail-refused-again");
        fake_wall_ms += 60 * 1000;
        CHECK(tick(&e, 5000, 5, INT64_MAX) == 5, "bad-trail-backoff-reset");

        test_audit_close(&e);
        test_state_remove(dir);
        TAP_EXIT();
}
