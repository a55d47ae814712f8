/* test_throttle.c: the per-source failure counters that delay token
 * attempts naming no token (daemon/throttle.c): counts per source, sources
 * apart, a quiet source starts again, and a flood of sources evicts the
 * least recently seen one, never growing the table. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "throttle.h"

int main(void) {
        throttle *t = NULL;
        char key[64];
        unsigned n = 0;
        bool kept;

        CHECK(throttle_new(&t) == 0, "throttle-new");
        CHECK(throttle_fail(t, "rhost:a", 1000) == 1 && throttle_fail(t, "rhost:a", 2000) == 2 &&
                      throttle_fail(t, "rhost:a", 3000) == 3,
              "counts-per-source");
        CHECK(throttle_fail(t, "rhost:b", 3000) == 1, "sources-apart");
        CHECK(throttle_fail(t, "rhost:a", 3000 + THROTTLE_FORGET_MS) == 1, "quiet-source-starts-again");

        /* a is the most recent; b the oldest, so the first to go when
         * THROTTLE_SOURCES - 1 new sources arrive after it. */
        (void) throttle_fail(t, "rhost:b", 5000);
        (void) throttle_fail(t, "rhost:a", 6000);
        for (int i = 0; i < THROTTLE_SOURCES - 1; i++) {
                snprintf(key, sizeof key, "rhost:flood-%d", i);
                (void) throttle_fail(t, key, 7000 + i);
        }
        kept = throttle_fail(t, "rhost:a", 9000) == 3;
        CHECK(kept, "recent-source-kept-under-flood");
        CHECK(throttle_fail(t, "rhost:b", 9000) == 1, "oldest-source-evicted");
        for (int i = 0; i < 2000; i++)
                n = throttle_fail(t, "rhost:a", 10000 + i);
        CHECK(n == 1000, "count-saturates");
        CHECK(throttle_fail(NULL, "rhost:a", 1) == 1 && throttle_fail(t, NULL, 1) == 1, "null-safe");
        throttle_free(t);
        throttle_free(NULL);
        TAP_EXIT();
}
