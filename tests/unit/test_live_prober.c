/* test_live_prober.c: the liveness checks of live sessions (a /proc read
 * each, about 12 us) run on the prober thread, not in the tick: with 600
 * live sessions of real processes a tick stays well under a millisecond
 * (reading LIVE_LIVENESS_BUDGET of them in the tick took 6 ms or more,
 * every 250 ms, a stall for every login that came meanwhile). Dead
 * sessions are still noticed: a process that exits (or is reaped) has its
 * session ended within a couple of ticks, and the live ones stay. On a
 * real temporary sqlite file, with real child processes. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "live.h"
#include "log.h"
#include "sessions.h"
#include "../state.h"
#include "../tap.h"

#define CHILDREN 600

static char dir[] = "/tmp/enrich-test-live-prober-XXXXXX";

static int add(enrichd *d, unsigned n, pid_t pid) {
        char sid[32];
        int64_t now = clock_now();
        session_row row = { .sid = sid,
                            .user = "u",
                            .service = "s",
                            .pid = pid,
                            .pid_start = live_pid_start(pid),
                            .key_serial = 1,
                            .token_issued = now,
                            .expires = now + 3600 };

        snprintf(sid, sizeof sid, "P8AgQkO%015u", n);
        return live_add(d, &row, NULL, false);
}

/* Ticks every 5 ms until want sessions are left, for at most ms. */
static size_t tick_until(enrichd *d, size_t want, int ms) {
        for (int i = 0; i < ms / 5 && live_count(d->live) != want; i++) {
                struct timespec pause = { 0, 5000000 };

                live_tick(d);
                nanosleep(&pause, NULL);
        }
        return live_count(d->live);
}

int main(void) {
        char path[512], *error = NULL;
        config cfg = { .audit_refusal_window = 600,
                       .audit_checkpoint_rows = 1000000,
                       .audit_checkpoint_seconds = 86400 };
        enrichd e = { .config = &cfg };
        int status;
        pid_t pids[CHILDREN + 1];
        int64_t fastest = INT64_MAX;
        uint64_t reads;
        bool added = true;

        if ((status = test_state_dir(dir, &cfg, path, sizeof path)) != 0)
                return status;
        CHECK(db_open(path, &e.db, &error) == 0 && audit_open(&e, &e.audit) == 0 && live_new(&e.live) == 0,
              "prober-open");
        if (!e.live) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }
        for (int i = 0; i <= CHILDREN; i++) {
                pids[i] = fork();
                if (pids[i] == 0) {
                        pause();
                        _exit(0);
                }
                added = added && pids[i] > 0 && add(&e, (unsigned) i, pids[i]) == 0;
        }
        CHECK(added && live_count(e.live) == CHILDREN + 1, "prober-sessions-added");

        /* The last one's process goes (reaped: /proc has no trace of it). */
        kill(pids[CHILDREN], SIGKILL);
        waitpid(pids[CHILDREN], NULL, 0);

        /* Ticks: each hands the prober its work and returns, without a
         * read of /proc on this thread (the old tick made one per session
         * of its budget); how long they take is only shown. */
        reads = live_pid_reads();
        for (int i = 0; i < 10; i++) {
                struct timespec pause = { 0, 20000000 };
                int64_t t0 = clock_monotonic_us(), t;

                live_tick(&e);
                t = clock_monotonic_us() - t0;
                if (t < fastest)
                        fastest = t;
                nanosleep(&pause, NULL);
        }
        printf("# fastest of ten ticks with %d live sessions: %lld us\n", CHILDREN, (long long) fastest);
        CHECK(live_pid_reads() == reads, "prober-tick-reads-no-proc");
        CHECK(tick_until(&e, CHILDREN, 3000) == CHILDREN, "prober-dead-session-ended");

        /* Everyone goes: every session ends. */
        for (int i = 0; i < CHILDREN; i++)
                kill(pids[i], SIGKILL);
        for (int i = 0; i < CHILDREN; i++)
                waitpid(pids[i], NULL, 0);
        CHECK(tick_until(&e, 0, 10000) == 0, "prober-all-ended");

        live_free(e.live);
        audit_free(e.audit);
        db_close(e.db);
        free(error);
        test_state_remove(dir);
        TAP_EXIT();
}
