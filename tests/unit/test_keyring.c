/* test_keyring.c: the claims key expires when its token does, by the real
 * kernel's clock. The kernel expires a key at its coarse seconds plus the
 * timeout, and the coarse clock lags the precise one by up to a tick, so a
 * timeout computed from time() right after a second boundary used to end
 * the key a second before the token's exp (seen as a refresh that found
 * its key already expired). Each check installs or updates a key just
 * after a second boundary, where that went wrong, and watches the key
 * around its expiry. Runs in a session keyring of its own. */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <keyutils.h>

#include "keyring.h"
#include "tap.h"

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until the precise clock is just past a second boundary (within a
 * millisecond, before the coarse clock has caught up) and returns that
 * second. */
static int64_t just_past_second(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        ts.tv_nsec = 200 * 1000;
        clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
        return ts.tv_sec;
}

static void sleep_until_ms(int64_t when) {
        struct timespec ts = { .tv_sec = when / 1000, .tv_nsec = (when % 1000) * 1000000 };

        clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
}

static int readable(key_serial_t key) {
        char buf[8];

        return keyctl_read(key, buf, sizeof buf) >= 0;
}

/* Alive 100 ms before expires (Unix seconds), gone 100 ms after. */
static int expires_at(key_serial_t key, int64_t expires) {
        int alive, dead;

        sleep_until_ms(expires * 1000 - 100);
        alive = readable(key);
        sleep_until_ms(expires * 1000 + 100);
        dead = !readable(key) && errno == EKEYEXPIRED;
        if (!alive || !dead)
                printf("# key %d at %lld s: alive before %d, expired after %d (now %lld ms)\n", (int) key,
                       (long long) expires, alive, dead, (long long) now_ms());
        return alive && dead;
}

int main(void) {
        key_serial_t key = -1;
        unsigned timeout = 0;
        int64_t second, expires;
        int r;

        if (keyctl_join_session_keyring(NULL) < 0) {
                SKIP("keyring-expiry", "no session keyring can be joined here");
                TAP_EXIT();
        }

        second = time(NULL);
        CHECK(keyring_timeout_until(second - 1, &timeout) == -EKEYEXPIRED, "keyring-timeout-past-refused");
        CHECK(keyring_timeout_until(second + 100, &timeout) == 0 && timeout >= 100 && timeout <= 101,
              "keyring-timeout-counts-to-expiry");
        CHECK(keyring_install_claims("x.y.z", 0, second - 1, &key) == -EKEYEXPIRED,
              "keyring-install-expired-refused");

        second = just_past_second();
        expires = second + 2;
        r = keyring_install_claims("a.b.c", 0, expires, &key);
        CHECK(r == 0 && expires_at(key, expires), "keyring-install-expires-with-token");

        second = just_past_second();
        r = keyring_install_claims("a.b.c", 0, second + 2, &key);
        expires = second + 2;
        if (r == 0) {
                /* A refresh one second in, just past that second's
                 * boundary, moves the end a second on. */
                expires = just_past_second() + 2;
                r = keyring_update_claims(key, "d.e.f", expires);
        }
        CHECK(r == 0 && expires_at(key, expires), "keyring-update-moves-expiry-with-token");
        CHECK(keyring_update_claims(key, "g.h.i", time(NULL) - 1) == -EKEYEXPIRED,
              "keyring-update-expired-refused");
        TAP_EXIT();
}
