/* test_keyring.c: the claims key expires when its token does, by the real
 * kernel's clock. The kernel expires a key at its coarse seconds plus the
 * timeout, and the coarse clock lags the precise one by up to a tick, so a
 * timeout computed from time() right after a second boundary used to end
 * the key a second before the token's exp (seen as a refresh that found
 * its key already expired). Each check installs or updates a key just
 * after a second boundary, where that went wrong, and watches the key
 * around its expiry. Runs in a session keyring of its own.
 * Then the one-round-trip open's key (as root): made in the thread keyring
 * with the placeholder, checked by the daemon's rule, written, published;
 * libenrich reads a placeholder as no claims. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <keyutils.h>

#include "enrich.h"
#include "keyring.h"
#include "tap.h"

static int readable(key_serial_t key) {
        char buf[8];

        return keyctl_read(key, buf, sizeof buf) >= 0;
}

/* The pending key's life, as root (keyctl_chown to uid 0). */
static void check_pending_key(void) {
        key_serial_t key = -1, found = -1, placeholder;
        const char *reason = NULL;
        enrich_claims *claims = NULL;
        int r;

        r = keyring_create_pending(getegid(), 5, &key);
        CHECK(r == 0, "pending-key-created");
        CHECK(keyring_find_claims(&found) == -ENOKEY, "pending-key-not-in-session-keyring");
        CHECK(keyring_check_pending(key, getegid(), &reason) == 0, "pending-key-passes-check");
        reason = NULL;
        CHECK(keyring_check_pending(key, getegid() + 1, &reason) == -EPERM && reason,
              "pending-key-other-group-refused");
        r = keyring_update_claims(key, "a.b.c", time(NULL) + 10);
        reason = NULL;
        CHECK(r == 0 && keyring_check_pending(key, getegid(), &reason) == -EPERM && reason,
              "written-key-refused-as-pending");
        CHECK(keyring_publish_claims(key) == 0 && keyring_find_claims(&found) == 0 && found == key,
              "pending-key-published");
        keyring_discard_pending(key);
        CHECK(!readable(key) && errno == EKEYREVOKED, "pending-key-discarded");

        r = keyring_create_pending(getegid(), 5, &key);
        reason = NULL;
        CHECK(r == 0 && keyctl_setperm(key, ENRICH_KEY_PERM | KEY_OTH_VIEW) == 0 &&
                      keyring_check_pending(key, getegid(), &reason) == -EPERM && reason,
              "pending-key-other-permissions-refused");
        keyring_discard_pending(key);

        /* libenrich counts a key of the claims key's name only with exactly
         * its permissions (as the kernel formats them, %08x): one bit more
         * or less, in any of the four groups, and it is not the claims key. */
        {
                static const key_perm_t others[] = { ENRICH_KEY_PERM | KEY_OTH_VIEW, ENRICH_KEY_PERM | KEY_POS_WRITE,
                                                     ENRICH_KEY_PERM & ~KEY_GRP_SETATTR,
                                                     ENRICH_KEY_PERM & ~KEY_USR_WRITE };
                bool ignored = true;

                for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                        r = keyring_create_pending(getegid(), 5, &key);
                        if (r < 0 || keyctl_setperm(key, others[i]) < 0 || keyring_publish_claims(key) < 0 ||
                            others[i] == ENRICH_KEY_PERM)
                                ignored = false;
                        else if (keyring_find_claims(&found) == 0)
                                ignored = false;
                        keyring_discard_pending(key);
                        (void) keyctl_unlink(key, KEY_SPEC_SESSION_KEYRING);
                }
                CHECK(ignored, "claims-key-other-permissions-ignored");
                r = keyring_create_pending(getegid(), 5, &key);
                CHECK(r == 0 && keyring_publish_claims(key) == 0 && keyring_find_claims(&found) == 0 && found == key,
                      "claims-key-exact-permissions-found");
                keyring_discard_pending(key);
                (void) keyctl_unlink(key, KEY_SPEC_SESSION_KEYRING);
        }

        /* A placeholder that reached the session keyring holds no claims. */
        r = keyring_create_pending(getegid(), 5, &placeholder);
        CHECK(r == 0 && keyring_publish_claims(placeholder) == 0 && enrich_claims_load(&claims) == ENRICH_E_NO_CLAIMS,
              "placeholder-is-no-claims");
        enrich_claims_free(claims);
        keyring_discard_pending(placeholder);
}

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

/* Alive 500 ms before expires (Unix seconds), gone 100 ms after. Half a
 * second before, not less: the read must come before the end, and a
 * loaded machine may wake this process late (an end a second early is
 * caught all the same). Coming late to the second read only makes the
 * key more expired. */
static int expires_at(key_serial_t key, int64_t expires) {
        int alive, dead;

        sleep_until_ms(expires * 1000 - 500);
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

        if (geteuid() == 0)
                check_pending_key();
        else
                SKIP("pending-key", "needs root (the key is chowned to uid 0)");

        second = time(NULL);
        CHECK(keyring_timeout_until(second - 1, &timeout) == -EKEYEXPIRED, "keyring-timeout-past-refused");
        CHECK(keyring_timeout_until(second + 100, &timeout) == 0 && timeout >= 100 && timeout <= 101,
              "keyring-timeout-counts-to-expiry");
        CHECK(keyring_install_claims("x.y.z", 0, second - 1, &key) == -EKEYEXPIRED, "keyring-install-expired-refused");

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
        CHECK(keyring_update_claims(key, "g.h.i", time(NULL) - 1) == -EKEYEXPIRED, "keyring-update-expired-refused");
        TAP_EXIT();
}
