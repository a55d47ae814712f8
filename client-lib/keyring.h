/* keyring.h: the claims key in the kernel session keyring (DESIGN.md,
 * "The keyring key"): finding and reading it for verifiers, creating it
 * atomically for the PAM module, updating and revoking it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <keyutils.h>

#define ENRICH_KEY_TYPE "user"
#define ENRICH_KEY_DESCRIPTION "enrich:claims"
/* possessor: view read search; owner: all; group: view read write search
 * setattr; other: none. */
#define ENRICH_KEY_PERM (KEY_POS_VIEW | KEY_POS_READ | KEY_POS_SEARCH | \
                         KEY_USR_ALL | \
                         KEY_GRP_VIEW | KEY_GRP_READ | KEY_GRP_WRITE | \
                         KEY_GRP_SEARCH | KEY_GRP_SETATTR)

/* Serial of the claims key linked directly in the session keyring, owned by
 * uid 0 with ENRICH_KEY_PERM (a key of that name the user made is ignored).
 * -ENOKEY when there is none, -EKEYREVOKED / -EKEYEXPIRED when the only
 * candidate is revoked or expired. */
int keyring_find_claims(key_serial_t *ret);
/* Reads the payload of key. -EKEYREVOKED, -EKEYEXPIRED, -ENOKEY, -EACCES.
 * *ret is a malloc'd NUL-terminated string. */
int keyring_read(key_serial_t key, char **ret);

/* Joins a fresh anonymous session keyring for the login being opened (as
 * pam_keyinit force does). Always: the keyring the application runs in may
 * be the user-session keyring shared by all of a user's logins, the invoking
 * login's (sudo), or a service's private keyring shared by all its processes
 * (systemd gives sshd one), and in none of those may the claims live. */
int keyring_join_new_session(void);

/* Sets up the session keyring for a login of uid: keeps it when pam_keyinit
 * force has just made it for this login (owned by uid, empty, not @us);
 * otherwise joins a fresh one, for the reasons above. *ret_joined is the
 * keyring this call joined, which the caller revokes when the login ends
 * (as pam_keyinit revoke would), or 0 when it kept pam_keyinit's. */
int keyring_prepare_session(uid_t uid, key_serial_t *ret_joined);

/* The timeout that makes the kernel expire a key at the Unix time expires
 * (the token's exp), or -EKEYEXPIRED when that has passed. The kernel
 * expires keys at its coarse seconds plus the timeout, and its coarse clock
 * lags the precise one by up to a tick: a timeout computed from time()
 * just after a second boundary would expire the key a second early. */
int keyring_timeout_until(int64_t expires, unsigned *ret);

/* Creates the claims key atomically: add_key into the thread keyring, set
 * owner 0, group gid, ENRICH_KEY_PERM and a timeout ending at expires (Unix
 * seconds, the token's exp) there, then link into the session keyring
 * (replacing an older claims key) and unlink from the thread keyring. On
 * any failure the new key is revoked. */
int keyring_install_claims(const char *token, gid_t group, int64_t expires, key_serial_t *ret);

/* Updates the payload in place (same serial) and moves the timeout to end
 * at expires. */
int keyring_update_claims(key_serial_t key, const char *token, int64_t expires);
int keyring_revoke(key_serial_t key);
