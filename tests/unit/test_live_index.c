/* test_live_index.c: the live set finds a session by sid through its index,
 * whatever the order of adds and removes: a full set (LIVE_MAX_SESSIONS)
 * is filled, emptied in a shuffled order with adds in between, and every
 * lookup along the way agrees with a plain list of what should be there.
 * Forgetting the whole full set must also cost little CPU: with a scan of
 * every session per lookup it took seconds (EndSession, AttachKey and
 * revocations each paid for one). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "enrichd.h"
#include "live.h"
#include "sessions.h"
#include "../tap.h"

static char *sid_of(unsigned n) {
        char *s = NULL;

        /* Sids that share long prefixes, as time-ordered ones do. */
        if (asprintf(&s, "P8AgQkO%015u", n) < 0)
                return NULL;
        return s;
}

static int add(enrichd *d, unsigned n) {
        char *sid = sid_of(n);
        session_row row = { .sid = sid, .user = "u", .service = "s", .pid = 1, .pid_start = 1, .expires = 1 };
        int r = sid ? live_add(d, &row, NULL, false) : -ENOMEM;

        free(sid);
        return r;
}

static bool present(enrichd *d, unsigned n) {
        char *sid = sid_of(n);
        bool found = sid && live_attach_key(d, sid, 0) == 0;

        free(sid);
        return found;
}

static bool forget(enrichd *d, unsigned n) {
        char *sid = sid_of(n);
        bool found = sid && live_forget(d, sid);

        free(sid);
        return found;
}

int main(void) {
        enum { N = LIVE_MAX_SESSIONS };
        enrichd d = { 0 };
        bool *in = calloc(N + 1000, sizeof(bool));
        unsigned *order = calloc(N, sizeof(unsigned));
        bool added = true, agree = true, absent_ok = true;
        size_t count = 0;
        clock_t t0;
        double cpu;

        if (!in || !order || live_new(&d.live) < 0) {
                printf("not ok live-index-setup\n");
                return 1;
        }
        srand(13);
        for (unsigned i = 0; i < N; i++) {
                added = added && add(&d, i) == 0;
                in[i] = true;
                order[i] = i;
        }
        CHECK(added && live_count(d.live) == N, "a full live set");
        CHECK(add(&d, N) == -EUSERS, "one more is refused");
        for (unsigned i = N - 1; i > 0; i--) {
                unsigned j = (unsigned) rand() % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
        }
        /* Half forgotten in shuffled order, with a few hundred adds of new
         * sids and lookups of random ones in between. */
        t0 = clock();
        for (unsigned k = 0; k < N / 2; k++) {
                unsigned victim = order[k], probe = (unsigned) rand() % (N + 1000);

                agree = agree && forget(&d, victim) == true;
                in[victim] = false;
                absent_ok = absent_ok && !forget(&d, victim);
                if (k % 128 == 0 && (unsigned) N + k / 128 < (unsigned) N + 1000) {
                        added = added && add(&d, N + k / 128) == 0;
                        in[N + k / 128] = true;
                }
                agree = agree && present(&d, probe) == in[probe];
        }
        for (unsigned i = 0; i < N + 1000; i++) {
                agree = agree && present(&d, i) == in[i];
                count += in[i];
        }
        CHECK(added, "adds between removals");
        CHECK(agree && live_count(d.live) == count, "every lookup agrees with what was added and forgotten");
        CHECK(absent_ok, "a sid forgotten twice is not found the second time");
        for (unsigned i = 0; i < N + 1000; i++)
                if (in[i])
                        agree = agree && forget(&d, i);
        cpu = (double) (clock() - t0) / CLOCKS_PER_SEC;
        printf("# %d sessions forgotten in %.3f s of CPU\n", N + 512, cpu);
        CHECK(agree && live_count(d.live) == 0, "all forgotten");
        CHECK(cpu < 2.0, "forgetting a full set costs little CPU (no scan per lookup)");
        live_free(d.live);
        free(in);
        free(order);
        TAP_EXIT();
}
