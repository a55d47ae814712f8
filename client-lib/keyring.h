/* keyring.h: the claims key in the kernel session keyring (docs/contract.md,
 * "The keyring key"): finding and reading it for verifiers, creating it
 * atomically for the PAM module, updating and revoking it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <keyutils.h>

#define ENRICH_KEY_TYPE        "user"
#define ENRICH_KEY_DESCRIPTION "enrich:claims"
/* The payload of a claims key the module made and the daemon has not yet
 * written (docs/contract.md, "The keyring key"): no JWS (it has no dot), so
 * no verifier accepts it, and libenrich reads it as "no claims". A user key
 * needs at least one byte. */
#define ENRICH_KEY_PLACEHOLDER "enrich:pending"
/* possessor: view read search; owner: all; group: view read write search
 * setattr; other: none. */
#define ENRICH_KEY_PERM \
        (KEY_POS_VIEW | KEY_POS_READ | KEY_POS_SEARCH | KEY_USR_ALL | KEY_GRP_VIEW | KEY_GRP_READ | KEY_GRP_WRITE | \
         KEY_GRP_SEARCH | KEY_GRP_SETATTR)

/* Serial of the claims key linked directly in the session keyring, owned by
 * uid 0 with ENRICH_KEY_PERM (a key of that name the user made is ignored).
 * -ENOKEY when there is none, -EKEYREVOKED / -EKEYEXPIRED when the only
 * candidate is revoked or expired. */
int keyring_find_claims(key_serial_t *ret);
/* Reads the payload of key. -EKEYREVOKED, -EKEYEXPIRED, -ENOKEY, -EACCES.
 * *ret is a malloc'd NUL-terminated string. */
int keyring_read(key_serial_t key, char **ret);
/* A buffer that holds any claims token (well under a page). */
#define KEYRING_READ_GUESS 4096
/* The same without an allocation when the payload fits buffer (size bytes,
 * usually on the caller's stack): one keyctl call. Returns the payload's
 * length and points *ret at it, NUL-terminated, in buffer or in *ret_heap,
 * a malloc'd copy for a payload that did not fit (else NULL), which the
 * caller frees. Errors as keyring_read(). */
long keyring_read_buffer(key_serial_t key, char *buffer, size_t size, char **ret_heap, const char **ret);

/* The login's session keyring (docs/contract.md, "The session keyring"):
 * owned by root, so that the user can neither setperm nor chown it. Possessor: view
 * read write search, so the login's processes use it like any session
 * keyring, but no link (linked into the user keyring @u, it would be
 * possessed by every login of the user that searches @u) and no setattr.
 * Owner (root): view read write setattr, but no search, so that nobody, not
 * even root, joins it by name. Group, other: none. */
#define ENRICH_SESSION_KEYRING_PERM \
        (KEY_POS_VIEW | KEY_POS_READ | KEY_POS_WRITE | KEY_POS_SEARCH | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_WRITE | \
         KEY_USR_SETATTR)

/* Joins a session keyring of the module's own for the login being opened:
 * a fresh anonymous keyring, owned by uid 0 with ENRICH_SESSION_KEYRING_PERM.
 * Always, for the keyring the application runs in may be the user-session
 * keyring shared by all of a user's logins, the invoking login's (sudo), a
 * service's private keyring shared by all its processes (systemd gives
 * sshd one), or one pam_keyinit made, which the user owns and so could make
 * joinable; in none of those may the claims live. Must run as root. */
int keyring_join_new_session(key_serial_t *ret);

/* Sets up the session keyring for a login of uid with
 * keyring_join_new_session(). When pam_keyinit force has just made the
 * keyring the application runs in (owned by uid, holding only uid's user
 * keyring), the new keyring takes its place: the user keyring is linked
 * into it, as pam_keyinit does, and pam_keyinit's keyring is kept in the
 * calling thread's keyring, where pam_keyinit's own close can still revoke
 * it, and *ret_keyinit names it (else 0). *ret_joined is the new keyring. */
int keyring_prepare_session(uid_t uid, key_serial_t *ret_joined, key_serial_t *ret_keyinit);

/* keyring_prepare_session() before the login's uid is known (uid
 * KEYRING_ANY_UID), so that the PAM module does it while the daemon works
 * on its Enrich: pam_keyinit's keyring is then recognised whoever owns it,
 * and keyring_confirm_keyinit() gives it up, once the uid is known, if its
 * owner is not the login's user. With a real uid the same as
 * keyring_prepare_session(). */
#define KEYRING_ANY_UID ((uid_t) -1)
typedef struct keyring_session {
        key_serial_t joined;            /* the new session keyring, joined */
        key_serial_t keyinit;           /* pam_keyinit's, kept in the thread keyring, or 0 */
        uid_t keyinit_owner;            /* its owner, or KEYRING_ANY_UID */
        key_serial_t user_keyring;      /* the user keyring linked into joined, or 0 */
} keyring_session;
int keyring_prepare_session_for(uid_t uid, keyring_session *ret);
/* Keeps pam_keyinit's keyring in k when uid owns it, else gives it up
 * (and unlinks the user keyring linked for it); uid KEYRING_ANY_UID, the
 * login's uid unknown, always gives it up. */
void keyring_confirm_keyinit(keyring_session *k, uid_t uid);

/* For close_session, which ends the login's keyring as pam_keyinit ended
 * the keyring it replaced (keyinit, from keyring_prepare_session): true
 * while that one still lives (pam_keyinit force without revoke, so the
 * login's keyring should outlive the close as well); false when pam_keyinit
 * revoked it, or when that cannot be told (keyinit 0, or a close in
 * another thread, whose thread keyring does not hold it). Drops the thread
 * keyring's link to keyinit. */
bool keyring_release_keyinit(key_serial_t keyinit);

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

/* The module's half of an open: creates the claims key in the calling
 * thread's keyring, where no other process can see it, holding
 * ENRICH_KEY_PLACEHOLDER, owned by uid 0, group gid, ENRICH_KEY_PERM, and
 * expiring after timeout_seconds, so that a key whose open fails dies by
 * itself even if nobody revokes it. The daemon then checks it
 * (keyring_check_pending) and writes the token into it; the module
 * publishes it with keyring_publish_claims. On failure nothing is left. */
int keyring_create_pending(gid_t group, unsigned timeout_seconds, key_serial_t *ret);

/* Whether key is still a claims key: type and description of the claims
 * key, owner uid 0, group gid, ENRICH_KEY_PERM. 0 when it is; -EPERM with
 * *ret_reason (a constant) when not; -ENOKEY, -EKEYREVOKED, -EKEYEXPIRED,
 * -EACCES when it cannot be looked at. A serial the daemon keeps may name
 * another key once the kernel reuses it: checked before each write. */
int keyring_check_claims(key_serial_t key, gid_t group, const char **ret_reason);

/* The daemon's check of a key the module made for it: type and
 * description of the claims key, owner uid 0, group gid, ENRICH_KEY_PERM,
 * payload ENRICH_KEY_PLACEHOLDER (so a live claims key is never
 * overwritten). -ENOKEY, -EKEYREVOKED, -EKEYEXPIRED, -EACCES when it cannot
 * be looked at; -EPERM when it is not such a key, with *ret_reason (a
 * constant) saying which property is wrong. */
int keyring_check_pending(key_serial_t key, gid_t group, const char **ret_reason);

/* Links key (made by keyring_create_pending and written by the daemon)
 * into the session keyring, replacing an older claims key, and drops it
 * from the thread keyring. On failure the key is left where it was; the
 * caller revokes it. */
int keyring_publish_claims(key_serial_t key);

/* Revokes a key made by keyring_create_pending that was never published,
 * and drops it from the thread keyring. */
void keyring_discard_pending(key_serial_t key);

/* Updates the payload in place (same serial) and moves the timeout to end
 * at expires. */
int keyring_update_claims(key_serial_t key, const char *token, int64_t expires);
int keyring_revoke(key_serial_t key);
