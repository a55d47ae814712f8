/* keyring.c: the claims key in the kernel session keyring.
 * Verifiers find and read it; the PAM module creates it atomically with the
 * ownership and permissions of DESIGN.md; the daemon updates and revokes it. */
#include <errno.h>
#include <string.h>

#include "keyring.h"

int keyring_find_claims(key_serial_t *ret)
{
        key_serial_t key;

        /* The search reports -EKEYREVOKED / -EKEYEXPIRED when the only match
         * is revoked or expired, which verifiers turn into distinct errors. */
        key = keyctl_search(KEY_SPEC_SESSION_KEYRING, ENRICH_KEY_TYPE,
                            ENRICH_KEY_DESCRIPTION, 0);
        if (key < 0)
                return errno == ENOENT ? -ENOKEY : -errno;
        *ret = key;
        return 0;
}

int keyring_read(key_serial_t key, char **ret)
{
        void *payload = NULL;
        long n;

        n = keyctl_read_alloc(key, &payload);
        if (n < 0)
                return -errno;
        *ret = payload; /* keyctl_read_alloc NUL-terminates */
        return 0;
}

int keyring_join_new_session(void)
{
        if (keyctl_join_session_keyring(NULL) < 0)
                return -errno;
        return 0;
}

int keyring_install_claims(const char *token, gid_t group, unsigned timeout_seconds,
                           key_serial_t *ret)
{
        key_serial_t key, session;
        int r;

        if (!token || timeout_seconds == 0)
                return -EINVAL;
        session = keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0);
        if (session < 0)
                return -errno;
        /* Built in the process keyring, where nobody else can see it, so that
         * it appears in the session keyring only once it is complete. */
        key = add_key(ENRICH_KEY_TYPE, ENRICH_KEY_DESCRIPTION, token, strlen(token),
                      KEY_SPEC_PROCESS_KEYRING);
        if (key < 0)
                return -errno;
        if (keyctl_chown(key, 0, group) < 0 ||
            keyctl_set_timeout(key, timeout_seconds) < 0 ||
            keyctl_setperm(key, ENRICH_KEY_PERM) < 0 ||
            keyctl_link(key, session) < 0) {
                r = -errno;
                goto fail;
        }
        if (keyctl_unlink(key, KEY_SPEC_PROCESS_KEYRING) < 0) {
                r = -errno;
                keyctl_unlink(key, session);
                goto fail;
        }
        *ret = key;
        return 0;
fail:
        keyctl_revoke(key);
        keyctl_unlink(key, KEY_SPEC_PROCESS_KEYRING);
        return r;
}

int keyring_update_claims(key_serial_t key, const char *token, unsigned timeout_seconds)
{
        if (!token || timeout_seconds == 0)
                return -EINVAL;
        if (keyctl_update(key, token, strlen(token)) < 0)
                return -errno;
        if (keyctl_set_timeout(key, timeout_seconds) < 0)
                return -errno;
        return 0;
}

int keyring_revoke(key_serial_t key)
{
        if (keyctl_revoke(key) < 0)
                return -errno;
        return 0;
}
