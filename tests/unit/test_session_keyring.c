/* test_session_keyring.c: the login's session keyring as the module sets it
 * up, on the real kernel: always a new one, root's, with permissions that
 * let the session use it but not share it; one pam_keyinit force has just
 * made is replaced and followed (revoked at close only if pam_keyinit
 * revoked its own). pam_keyinit's keyring is made here as pam_keyinit
 * makes it: joined with the user's real uid, the user keyring linked in.
 * Needs root; a uid nobody uses stands in for the user. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <keyutils.h>

#include "keyring.h"
#include "tap.h"

#define TEST_UID 4242420

static int describe(key_serial_t key, unsigned long *owner, unsigned long *perm) {
        char *text = NULL;
        int ok;

        if (keyctl_describe_alloc(key, &text) < 0)
                return 0;
        ok = sscanf(text, "keyring;%lu;%*u;%lx;", owner, perm) == 2;
        free(text);
        return ok;
}

static int links(key_serial_t keyring, key_serial_t key) {
        key_serial_t *list = NULL;
        void *buffer = NULL;
        long size = keyctl_read_alloc(keyring, &buffer);
        int found = 0;

        list = buffer;
        for (long i = 0; size > 0 && i < size / (long) sizeof(key_serial_t); i++)
                found |= list[i] == key;
        free(buffer);
        return found;
}

/* What pam_keyinit force does for uid: join a new keyring with the user's
 * real uid (so the user owns it) and link the user's keyring into it. */
static key_serial_t keyinit_for(uid_t uid, key_serial_t *ret_user_keyring) {
        key_serial_t session = -1, user_keyring = -1;

        if (setreuid(uid, -1) < 0)
                return -1;
        session = keyctl_join_session_keyring(NULL);
        if (session >= 0 && keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) == 0)
                user_keyring = keyctl_get_keyring_ID(KEY_SPEC_USER_KEYRING, 0);
        if (setreuid(0, -1) < 0)
                abort();        /* the rest would run with the wrong uid */
        *ret_user_keyring = user_keyring;
        return user_keyring > 0 ? session : -1;
}

/* pam_keyinit revoke at close: as the user, through possession. */
static int revoke_as(uid_t uid, key_serial_t key) {
        int r;

        if (setresuid(-1, uid, 0) < 0)
                return -errno;
        r = keyctl_revoke(key) < 0 ? -errno : 0;
        if (setresuid(-1, 0, 0) < 0)
                abort();
        return r;
}

int main(void) {
        key_serial_t ring = -1, joined = -1, keyinit = -1, user_keyring = -1, pam_ring;
        unsigned long owner = 1, perm = 0;
        int r;

        if (geteuid() != 0) {
                SKIP("session-keyring", "needs root (chowns keyrings to uid 0)");
                TAP_EXIT();
        }

        r = keyring_join_new_session(&ring);
        CHECK(r == 0 && ring == keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0), "session-keyring-joined");
        CHECK(describe(ring, &owner, &perm) && owner == 0 && perm == ENRICH_SESSION_KEYRING_PERM && perm == 0x0f270000,
              "session-keyring-root-owned-no-link-no-setattr");

        /* In a keyring that is not pam_keyinit's (ours, root's): a new one,
         * and nothing to follow at close. */
        r = keyring_prepare_session(TEST_UID, &joined, &keyinit);
        CHECK(r == 0 && joined != ring && keyinit == 0 && !keyring_release_keyinit(keyinit),
              "session-keyring-new-without-pam-keyinit");

        /* pam_keyinit force made one: replaced, the user keyring linked in,
         * pam_keyinit's kept reachable for its revoke. */
        pam_ring = keyinit_for(TEST_UID, &user_keyring);
        if (pam_ring < 0) {
                SKIP("session-keyring-replaces-pam-keyinit", "cannot make a keyring as pam_keyinit does");
                TAP_EXIT();
        }
        CHECK(describe(pam_ring, &owner, &perm) && owner == TEST_UID, "session-keyring-pam-keyinit-made");
        r = keyring_prepare_session(TEST_UID, &joined, &keyinit);
        CHECK(r == 0 && keyinit == pam_ring && joined != pam_ring &&
                      joined == keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0) && describe(joined, &owner, &perm) &&
                      owner == 0 && perm == ENRICH_SESSION_KEYRING_PERM,
              "session-keyring-replaces-pam-keyinit");
        CHECK(links(joined, user_keyring), "session-keyring-links-user-keyring");
        CHECK(revoke_as(TEST_UID, pam_ring) == 0, "session-keyring-pam-keyinit-can-still-revoke");
        CHECK(!keyring_release_keyinit(keyinit), "session-keyring-follows-revoke");
        CHECK(!links(KEY_SPEC_THREAD_KEYRING, pam_ring), "session-keyring-releases-pam-keyinit");

        /* pam_keyinit force without revoke: the login's keyring lives on. */
        pam_ring = keyinit_for(TEST_UID, &user_keyring);
        r = keyring_prepare_session(TEST_UID, &joined, &keyinit);
        CHECK(r == 0 && keyinit == pam_ring && keyring_release_keyinit(keyinit), "session-keyring-follows-no-revoke");
        CHECK(!links(KEY_SPEC_THREAD_KEYRING, pam_ring), "session-keyring-releases-kept-pam-keyinit");

        /* Set up while the daemon works, before the uid is known: pam_keyinit's
         * keyring recognised by its owner, and kept once the uid agrees. */
        {
                keyring_session k;

                pam_ring = keyinit_for(TEST_UID, &user_keyring);
                r = keyring_prepare_session_for(KEYRING_ANY_UID, &k);
                CHECK(r == 0 && k.keyinit == pam_ring && k.keyinit_owner == TEST_UID &&
                              k.user_keyring == user_keyring &&
                              k.joined == keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0) &&
                              links(k.joined, user_keyring),
                      "session-keyring-any-uid-finds-pam-keyinit");
                keyring_confirm_keyinit(&k, TEST_UID);
                CHECK(k.keyinit == pam_ring && links(KEY_SPEC_THREAD_KEYRING, pam_ring) &&
                              links(k.joined, user_keyring),
                      "session-keyring-confirmed-for-its-owner");
                (void) keyring_release_keyinit(k.keyinit);

                /* ... and given up, with the user keyring it linked, when
                 * the login turns out to be another user's. */
                pam_ring = keyinit_for(TEST_UID, &user_keyring);
                r = keyring_prepare_session_for(KEYRING_ANY_UID, &k);
                keyring_confirm_keyinit(&k, TEST_UID + 1);
                CHECK(r == 0 && k.keyinit == 0 && k.user_keyring == 0 && !links(KEY_SPEC_THREAD_KEYRING, pam_ring) &&
                              !links(k.joined, user_keyring),
                      "session-keyring-other-owner-given-up");
        }
        TAP_EXIT();
}
