/* keyring.c: the claims key in the kernel session keyring.
 * Verifiers find and read it; the PAM module creates it atomically with the
 * ownership and permissions of docs/contract.md; the daemon updates and revokes it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyring.h"

/* The first read of a payload is this big: a claims token fits, so one
 * keyctl call reads it. */

/* Whether a keyctl description "type;uid;gid;perm;description", as the
 * kernel writes it ("%s;%d;%d;%08x;%s"), is of the claims key. Parsed by
 * hand: this runs for every key of the session keyring on every load, and
 * sscanf (then strtoul) was most of a warm load's instructions. */
static bool is_claims_key(const char *text) {
        static const char prefix[] = ENRICH_KEY_TYPE ";0;", hex[] = "0123456789abcdef";

        /* Only a key the module made counts: owned by root with exactly our
         * permissions. The user possesses the session keyring and could add
         * a key of this name themselves, or re-add a payload saved before a
         * revocation; such a key is owned by the user and ignored. */
        if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
                return false;
        text += sizeof(prefix) - 1;
        if (*text == '-')       /* gid, as %d */
                text++;
        text += strspn(text, "0123456789");
        if (*text++ != ';')
                return false;
        /* The permissions as %08x: exactly ENRICH_KEY_PERM's eight digits. */
        for (int shift = 28; shift >= 0; shift -= 4)
                if (*text++ != hex[(ENRICH_KEY_PERM >> shift) & 0xf])
                        return false;
        return *text == ';' && strcmp(text + 1, ENRICH_KEY_DESCRIPTION) == 0;
}

/* Reads key's payload with as few keyctl calls as it takes: one when it
 * fits size bytes of buffer (on the stack of the caller, or *heap when
 * not NULL), else it grows *heap to fit and reads again. Returns the
 * payload's length and sets *ret to where it is (buffer or *heap, which
 * the caller frees). */
static long read_into(key_serial_t key, char *buffer, size_t size, char **heap, char **ret) {
        char *at = buffer;

        for (;;) {
                long n = keyctl_read(key, at, size);
                char *bigger;

                if (n < 0)
                        return -errno;
                if ((size_t) n < size) {
                        at[n] = '\0';
                        *ret = at;
                        return n;
                }
                /* Too small (or exactly full, with no room for the NUL): the
                 * key may also have grown between the two reads. */
                size = (size_t) n + 1;
                bigger = realloc(*heap, size);
                if (!bigger)
                        return -ENOMEM;
                *heap = at = bigger;
        }
}

/* Whether link is the claims key; notes in *dead a revoked or expired key,
 * which can no longer be described. */
static bool link_is_claims_key(key_serial_t link, int *dead) {
        char text[256];
        long n = keyctl_describe(link, text, sizeof(text));

        if (n < 0) {
                if (errno == EKEYREVOKED)
                        *dead = -EKEYREVOKED;
                else if (errno == EKEYEXPIRED && *dead == 0)
                        *dead = -EKEYEXPIRED;
                return false;
        }
        /* A description longer than text is not the claims key's. */
        return n <= (long) sizeof(text) && is_claims_key(text);
}

/* The key found last time, described first next time: a login's session
 * keyring also holds the user keyring (pam_keyinit links it first), and a
 * description is the dearest call of a load. The answer is the same in any
 * order, since a keyring links at most one key of a type and description. */
static key_serial_t last_found;

int keyring_find_claims(key_serial_t *ret) {
        key_serial_t stack_links[64], *links, found = 0, last = __atomic_load_n(&last_found, __ATOMIC_RELAXED);
        char *heap = NULL, *at = NULL;
        size_t n_links, first = SIZE_MAX;
        long size;
        int dead = 0, r;

        /* Only keys linked directly in the session keyring: a search would
         * also descend into keyrings the user linked there (another login's
         * session keyring through @us, for one). */
        size = read_into(KEY_SPEC_SESSION_KEYRING, (char *) stack_links, sizeof(stack_links), &heap, &at);
        if (size < 0) {
                free(heap);
                return size == -ENOKEY || size == -ENOENT ? -ENOKEY : (int) size;
        }
        links = (key_serial_t *) (void *) at;
        n_links = (size_t) size / sizeof(key_serial_t);
        for (size_t i = 0; i < n_links && last != 0; i++)
                if (links[i] == last) {
                        first = i;
                        if (link_is_claims_key(links[i], &dead))
                                found = links[i];
                        break;
                }
        for (size_t i = 0; i < n_links && !found; i++)
                if (i != first && link_is_claims_key(links[i], &dead))
                        found = links[i];
        free(heap);
        if (found) {
                __atomic_store_n(&last_found, found, __ATOMIC_RELAXED);
                *ret = found;
                r = 0;
        } else
                r = dead ? dead : -ENOKEY;
        return r;
}

long keyring_read_buffer(key_serial_t key, char *buffer, size_t size, char **ret_heap, const char **ret) {
        char *heap = NULL, *at = NULL;
        long n;

        n = read_into(key, buffer, size, &heap, &at);
        if (n < 0) {
                free(heap);
                return n;
        }
        *ret_heap = heap;
        *ret = at;
        return n;
}

int keyring_read(key_serial_t key, char **ret) {
        /* Read on the stack and copied at its size: a claims token is
         * well under a page, and malloc(KEYRING_READ_GUESS) cost a warm
         * load more than all of its own checks. */
        char buffer[KEYRING_READ_GUESS], *heap = NULL, *copy;
        const char *at = NULL;
        long n;

        n = keyring_read_buffer(key, buffer, sizeof(buffer), &heap, &at);
        if (n < 0)
                return (int) n;
        if (heap) {     /* grown: already its own allocation */
                *ret = heap;
                return 0;
        }
        copy = strndup(at, (size_t) n);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int keyring_join_new_session(key_serial_t *ret) {
        key_serial_t session;

        /* Anonymous: a join by name would join an existing keyring of that
         * name that we may search, and a name is all a user could pick. The
         * kernel makes it with our real uid and the default permissions,
         * which give the possessor setattr: both are set before any other
         * process can possess it (it is ours alone until we fork). If they
         * cannot be, the keyring is left as it is, not revoked: the caller
         * puts no claims in it, and a login that goes on without claims
         * should not run in a revoked keyring. */
        session = keyctl_join_session_keyring(NULL);
        if (session < 0)
                return -errno;
        if (keyctl_chown(session, 0, 0) < 0 || keyctl_setperm(session, ENRICH_SESSION_KEYRING_PERM) < 0)
                return -errno;
        *ret = session;
        return 0;
}

/* True when key is the user keyring of uid, which pam_keyinit links into
 * the session keyring it makes. One keyctl call: a description that does
 * not fit text is not the user keyring's. */
static bool is_user_keyring_of(key_serial_t key, uid_t uid) {
        char text[128], expected[64];
        const char *description;
        unsigned long owner;
        long n;

        n = keyctl_describe(key, text, sizeof(text));
        if (n <= 0 || (size_t) n > sizeof(text))
                return false;
        text[sizeof(text) - 1] = '\0';
        description = strrchr(text, ';');
        snprintf(expected, sizeof(expected), "_uid.%lu", (unsigned long) uid);
        return sscanf(text, "keyring;%lu;", &owner) == 1 && owner == uid && description &&
               strcmp(description + 1, expected) == 0;
}

/* The session keyring when pam_keyinit force just made it for this login
 * (else 0), and then the user keyring linked in it in *ret_user_keyring
 * (0 if none): not the
 * user-session keyring, owned by the login's user (pam_keyinit creates it
 * with the user's credentials) with the kernel's permissions for a new
 * session keyring (not this module's: su to root from a login whose keyring
 * the user emptied), and holding nothing but a link to that user's
 * keyring. systemd's private keyring for a service never qualifies
 * (it holds invocation_id), nor does the invoking login's under sudo (owned
 * by root, and holding its claims key). A user could make such a keyring
 * themselves and run su in it: then it only decides whether the login's
 * keyring is revoked at close, and the claims key is revoked either way. */
static key_serial_t keyinit_session_for(uid_t uid, key_serial_t *ret_user_keyring, uid_t *ret_owner) {
        key_serial_t session, links[8], user_keyring = 0;
        char text[128];
        const char *description;
        unsigned long owner, perm;
        long n;
        bool fresh;

        /* Each step one keyctl call into a buffer on the stack: a keyring
         * whose description or link list does not fit is not pam_keyinit's
         * (which holds one link). Not the user-session keyring, shared by
         * all logins of a user: that one has its own name and other
         * permissions (the kernel's for user keyrings). */
        session = keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0);
        if (session < 0)
                return 0;
        n = keyctl_describe(session, text, sizeof(text));
        if (n <= 0 || (size_t) n > sizeof(text))
                return 0;
        text[sizeof(text) - 1] = '\0';
        description = strrchr(text, ';');
        fresh = sscanf(text, "keyring;%lu;%*u;%lx;", &owner, &perm) == 2 && owner < (unsigned long) KEYRING_ANY_UID &&
                (uid == KEYRING_ANY_UID || owner == uid) && perm == (KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ) &&
                description && strncmp(description + 1, "_uid_ses.", strlen("_uid_ses.")) != 0;
        if (!fresh)
                return 0;
        n = keyctl_read(session, (char *) links, sizeof(links));
        if (n < 0 || (size_t) n > sizeof(links))
                return 0;
        for (size_t i = 0; i < (size_t) n / sizeof(key_serial_t) && fresh; i++) {
                fresh = is_user_keyring_of(links[i], (uid_t) owner);
                user_keyring = links[i];
        }
        if (!fresh)
                return 0;
        *ret_user_keyring = user_keyring;
        *ret_owner = (uid_t) owner;
        return session;
}

int keyring_prepare_session_for(uid_t uid, keyring_session *ret) {
        key_serial_t keyinit, user_keyring = 0, session;
        uid_t owner = KEYRING_ANY_UID;
        int r;

        /* pam_keyinit's keyring stays possessed through the thread keyring
         * (which no child inherits), so that pam_keyinit, revoking it at
         * close with the user's credentials, still may; close_session then
         * sees what pam_keyinit did. If it cannot be kept, the login is
         * treated as one without pam_keyinit. */
        keyinit = keyinit_session_for(uid, &user_keyring, &owner);
        if (keyinit > 0 && keyctl_link(keyinit, KEY_SPEC_THREAD_KEYRING) < 0)
                keyinit = user_keyring = 0;
        r = keyring_join_new_session(&session);
        if (r < 0) {
                if (keyinit > 0)
                        (void) keyctl_unlink(keyinit, KEY_SPEC_THREAD_KEYRING);
                return r;
        }
        /* As pam_keyinit does, so that the user's keys in @u are found from
         * the session (request_key searches the session keyring). Only a
         * convenience: the login goes on without it. */
        if (user_keyring > 0 && keyctl_link(user_keyring, session) < 0)
                user_keyring = 0;
        *ret = (keyring_session) {
                .joined = session,
                .keyinit = keyinit,
                .keyinit_owner = keyinit > 0 ? owner : KEYRING_ANY_UID,
                .user_keyring = user_keyring,
        };
        return 0;
}

int keyring_prepare_session(uid_t uid, key_serial_t *ret_joined, key_serial_t *ret_keyinit) {
        keyring_session k;
        int r;

        r = keyring_prepare_session_for(uid, &k);
        if (r < 0)
                return r;
        *ret_joined = k.joined;
        *ret_keyinit = k.keyinit;
        return 0;
}

void keyring_confirm_keyinit(keyring_session *k, uid_t uid) {
        if (k->keyinit <= 0 || (uid != KEYRING_ANY_UID && k->keyinit_owner == uid))
                return;
        /* pam_keyinit's keyring, or one like it, of someone else: not this
         * login's to follow, nor that user's keys to reach. */
        if (k->user_keyring > 0)
                (void) keyctl_unlink(k->user_keyring, k->joined);
        (void) keyctl_unlink(k->keyinit, KEY_SPEC_THREAD_KEYRING);
        k->keyinit = k->user_keyring = 0;
        k->keyinit_owner = KEYRING_ANY_UID;
}

bool keyring_release_keyinit(key_serial_t keyinit) {
        bool lives;

        if (keyinit <= 0)
                return false;
        lives = keyctl_describe(keyinit, NULL, 0) >= 0;
        (void) keyctl_unlink(keyinit, KEY_SPEC_THREAD_KEYRING);
        return lives;
}

int keyring_timeout_until(int64_t expires, unsigned *ret) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
                return -errno;
        if (expires <= (int64_t) ts.tv_sec)
                return -EKEYEXPIRED;
        *ret = expires - ts.tv_sec > UINT_MAX ? UINT_MAX : (unsigned) (expires - ts.tv_sec);
        return 0;
}

int keyring_install_claims(const char *token, gid_t group, int64_t expires, key_serial_t *ret) {
        key_serial_t key, session;
        unsigned timeout_seconds;
        int r;

        if (!token)
                return -EINVAL;
        if ((r = keyring_timeout_until(expires, &timeout_seconds)) < 0)
                return r;
        session = keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0);
        if (session < 0)
                return -errno;
        /* Built in the thread keyring, where nobody else can see it, so that
         * it appears in the session keyring only once it is complete. Not
         * the process keyring: threads share that, and add_key of the same
         * description there would update another login's key in place. */
        key = add_key(ENRICH_KEY_TYPE, ENRICH_KEY_DESCRIPTION, token, strlen(token), KEY_SPEC_THREAD_KEYRING);
        if (key < 0)
                return -errno;
        if (keyctl_chown(key, 0, group) < 0 || keyctl_set_timeout(key, timeout_seconds) < 0 ||
            keyctl_setperm(key, ENRICH_KEY_PERM) < 0 || keyctl_link(key, session) < 0) {
                r = -errno;
                goto fail;
        }
        if (keyctl_unlink(key, KEY_SPEC_THREAD_KEYRING) < 0) {
                r = -errno;
                keyctl_unlink(key, session);
                goto fail;
        }
        *ret = key;
        return 0;
fail:
        keyctl_revoke(key);
        keyctl_unlink(key, KEY_SPEC_THREAD_KEYRING);
        return r;
}

int keyring_create_pending(gid_t group, unsigned timeout_seconds, key_serial_t *ret) {
        key_serial_t key;
        int r;

        /* The thread keyring, not the process keyring: threads share that,
         * and add_key of the same description there would update another
         * login's key in place. */
        key = add_key(ENRICH_KEY_TYPE, ENRICH_KEY_DESCRIPTION, ENRICH_KEY_PLACEHOLDER, strlen(ENRICH_KEY_PLACEHOLDER),
                      KEY_SPEC_THREAD_KEYRING);
        if (key < 0)
                return -errno;
        if (keyctl_chown(key, 0, group) < 0 || keyctl_set_timeout(key, timeout_seconds) < 0 ||
            keyctl_setperm(key, ENRICH_KEY_PERM) < 0) {
                r = -errno;
                keyctl_revoke(key);
                keyctl_unlink(key, KEY_SPEC_THREAD_KEYRING);
                return r;
        }
        *ret = key;
        return 0;
}

int keyring_check_claims(key_serial_t key, gid_t group, const char **ret_reason) {
        char type[16], description[64];
        /* Room for any claims key's "type;uid;gid;perm;description": one
         * call, not describe_alloc's two; a longer one is not ours. */
        char text[128];
        unsigned long uid, gid, perm;
        const char *reason = NULL;
        long n;
        int fields = 0;

        n = keyctl_describe(key, text, sizeof(text));
        if (n < 0)
                return -errno;
        if ((size_t) n <= sizeof(text))
                fields = sscanf(text, "%15[^;];%lu;%lu;%lx;%63[^\n]", type, &uid, &gid, &perm, description);
        if (fields != 5 || strcmp(type, ENRICH_KEY_TYPE) != 0 || strcmp(description, ENRICH_KEY_DESCRIPTION) != 0)
                reason = "not a user key named " ENRICH_KEY_DESCRIPTION;
        else if (uid != 0)
                reason = "not owned by uid 0";
        else if (gid != group)
                reason = "its group is not the daemon's";
        else if (perm != ENRICH_KEY_PERM)
                reason = "its permissions are not the claims key's";
        if (reason) {
                *ret_reason = reason;
                return -EPERM;
        }
        return 0;
}

int keyring_check_pending(key_serial_t key, gid_t group, const char **ret_reason) {
        char payload[sizeof(ENRICH_KEY_PLACEHOLDER)];
        long n;
        int r;

        r = keyring_check_claims(key, group, ret_reason);
        if (r < 0)
                return r;
        /* Read one byte more than the placeholder: a longer payload (a
         * token) shows as a different length. */
        n = keyctl_read(key, payload, sizeof(payload));
        if (n < 0)
                return -errno;
        if ((size_t) n != strlen(ENRICH_KEY_PLACEHOLDER) || memcmp(payload, ENRICH_KEY_PLACEHOLDER, (size_t) n) != 0) {
                *ret_reason = "it already holds claims";
                return -EPERM;
        }
        return 0;
}

int keyring_publish_claims(key_serial_t key) {
        int r;

        /* One call where the kernel has KEYCTL_MOVE (5.1): the key leaves
         * the thread keyring and appears in the session keyring at once,
         * displacing a key of the same name as a link would. */
        if (keyctl_move(key, KEY_SPEC_THREAD_KEYRING, KEY_SPEC_SESSION_KEYRING, 0) == 0)
                return 0;
        if (errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL)
                return -errno;
        if (keyctl_link(key, KEY_SPEC_SESSION_KEYRING) < 0)
                return -errno;
        if (keyctl_unlink(key, KEY_SPEC_THREAD_KEYRING) < 0) {
                r = -errno;
                (void) keyctl_unlink(key, KEY_SPEC_SESSION_KEYRING);
                return r;
        }
        return 0;
}

void keyring_discard_pending(key_serial_t key) {
        (void) keyctl_revoke(key);
        (void) keyctl_unlink(key, KEY_SPEC_THREAD_KEYRING);
}

int keyring_update_claims(key_serial_t key, const char *token, int64_t expires) {
        unsigned timeout_seconds;
        int r;

        if (!token)
                return -EINVAL;
        if ((r = keyring_timeout_until(expires, &timeout_seconds)) < 0)
                return r;
        if (keyctl_update(key, token, strlen(token)) < 0)
                return -errno;
        if (keyctl_set_timeout(key, timeout_seconds) < 0)
                return -errno;
        return 0;
}

int keyring_revoke(key_serial_t key) {
        if (keyctl_revoke(key) < 0)
                return -errno;
        return 0;
}
