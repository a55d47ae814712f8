/* claims.c: libenrich's public API: find, read and verify the caller's
 * claims token as docs/contract.md's verifier rules say, and answer
 * questions about it. Everything that fails ends in "no claims" for the
 * caller: least privilege. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "enrich.h"
#include "host.h"
#include "jws.h"
#include "keyring.h"
#include "util.h"
#include "varlink.h"

/* Immutable once made, but for json, which is set once: so the cache
 * hands the same object to every load of the same token, by reference
 * count (enrich_claims_free). */
struct enrich_claims {
        uint64_t refs;          /* 64 bits: a program leaking loads never wraps it */
        json_t *payload;
        const char *scope;      /* payload's "scope" string, or NULL */
        char *json;             /* serialised on first use, by enrich_claims_json() */
        size_t token_len;
        char token[];           /* the compact JWS, NUL-terminated */
};

static const char *const messages[_ENRICH_E_MAX] = {
        [ENRICH_OK] = "Success",
        [ENRICH_E_NO_CLAIMS] = "No claims in this session keyring",
        [ENRICH_E_EXPIRED] = "Claims have expired",
        [ENRICH_E_REVOKED] = "Claims have been revoked",
        [ENRICH_E_BAD_SIGNATURE] = "Claims signature does not verify",
        [ENRICH_E_UNKNOWN_KEY] = "Claims are signed by a key not in the JWKS",
        [ENRICH_E_WRONG_HOST] = "Claims were issued for another host",
        [ENRICH_E_WRONG_USER] = "Claims belong to another user",
        [ENRICH_E_WRONG_SESSION] = "Claims belong to another login session",
        [ENRICH_E_UNREACHABLE] = "The enrich daemon is unreachable",
        [ENRICH_E_MALFORMED] = "Claims token is malformed",
        [ENRICH_E_NOT_YET_VALID] = "Claims are not valid yet",
        [ENRICH_E_NO_JWKS] = "Public keys (JWKS) cannot be read",
        [ENRICH_E_NOMEM] = "Out of memory",
        [ENRICH_E_SYSTEM] = "System error",
        [ENRICH_E_INVALID] = "Invalid argument",
};

const char *enrich_strerror(int error) {
        if (error < 0 || error >= _ENRICH_E_MAX || !messages[error])
                return "Unknown error";
        return messages[error];
}

static enrich_claims *claims_ref(enrich_claims *claims) {
        __atomic_add_fetch(&claims->refs, 1, __ATOMIC_RELAXED);
        return claims;
}

void enrich_claims_free(enrich_claims *claims) {
        if (!claims || __atomic_sub_fetch(&claims->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        json_decref(claims->payload);
        free(claims->json);
        free(claims);
}

static int from_keyring_errno(int r) {
        switch (r) {
        case -EKEYREVOKED: return ENRICH_E_REVOKED;
        case -EKEYEXPIRED: return ENRICH_E_EXPIRED;
        case -ENOMEM: return ENRICH_E_NOMEM;
        /* -ENOKEY, -EACCES: nothing this caller may read */
        default: return ENRICH_E_NO_CLAIMS;
        }
}

static bool get_int(json_t *payload, const char *name, json_int_t *ret) {
        json_t *v = json_object_get(payload, name);

        if (!json_is_integer(v))
                return false;
        *ret = json_integer_value(v);
        return true;
}

/* The claims check_caller() looks at, taken from the payload once. */
typedef struct caller_claims {
        json_int_t nbf, exp, uid, asid;
        bool has_asid;
} caller_claims;

static caller_claims caller_claims_of(json_t *payload) {
        caller_claims c = { .nbf = 0, .exp = 0, .uid = -1 };

        (void) get_int(payload, "nbf", &c.nbf);
        (void) get_int(payload, "exp", &c.exp);
        (void) get_int(payload, "uid", &c.uid);
        c.has_asid = get_int(payload, "asid", &c.asid);
        return c;
}

/* The checks that can change between two calls for one token (time, the
 * calling user, the calling login), so the cache repeats them every time.
 * The payload's types were checked by check_binding() first. */
static int check_caller(const caller_claims *c) {
        json_int_t nbf = c->nbf, exp = c->exp, uid = c->uid, asid = c->asid;
        time_t now = time(NULL);
        uint32_t own_asid;

        if (exp <= now)
                return ENRICH_E_EXPIRED;
        if (nbf > now)
                return ENRICH_E_NOT_YET_VALID;
        if (uid != (json_int_t) getuid())
                return ENRICH_E_WRONG_USER;
        /* A token bound to a login's audit session is good only inside that
         * session: a caller with no audit session is not in it either. */
        if (c->has_asid && (host_audit_session(0, &own_asid) < 0 || (json_int_t) own_asid != asid))
                return ENRICH_E_WRONG_SESSION;
        return ENRICH_OK;
}

/* This host's machine id, read once per process: it does not change while
 * the system runs (machine-id(5)), and reading the file again was three
 * system calls on every token verified. Published with an atomic swap, so
 * no caller waits for another; freed when the library is unloaded. */
static char *machine_id_cached;

static int machine_id(const char **ret) {
        char *id = __atomic_load_n(&machine_id_cached, __ATOMIC_ACQUIRE), *expected = NULL;
        int r;

        if (!id) {
                r = host_machine_id(&id);
                if (r < 0)
                        return r;
                if (!__atomic_compare_exchange_n(&machine_id_cached, &expected, id, false, __ATOMIC_ACQ_REL,
                                                 __ATOMIC_ACQUIRE)) {
                        free(id);
                        id = expected;
                }
        }
        *ret = id;
        return 0;
}

/* Checks the claims that bind a token to this host, user and login. */
static int check_binding(json_t *payload) {
        const char *machine_id_text = NULL;
        caller_claims caller;
        json_int_t value;
        int e;

        if (!json_is_string(json_object_get(payload, "sub")) || !json_is_string(json_object_get(payload, "sid")) ||
            !get_int(payload, "uid", &value) || !get_int(payload, "iat", &value) || !get_int(payload, "nbf", &value) ||
            !get_int(payload, "exp", &value) || (json_object_get(payload, "asid") && !get_int(payload, "asid", &value)))
                return ENRICH_E_MALFORMED;
        caller = caller_claims_of(payload);
        e = check_caller(&caller);
        if (e != ENRICH_OK)
                return e;
        if (machine_id(&machine_id_text) < 0)
                return ENRICH_E_SYSTEM;
        if (!streq_ptr(json_string_value(json_object_get(payload, "aud")), machine_id_text))
                return ENRICH_E_WRONG_HOST;
        return ENRICH_OK;
}

static const char *resolve_jwks_path(const char *jwks_path) {
        if (!jwks_path)
                jwks_path = secure_getenv("ENRICH_JWKS");
        if (!jwks_path || !*jwks_path)
                jwks_path = ENRICH_DEFAULT_JWKS;
        return jwks_path;
}

static int from_jws_errno(int r) {
        switch (r) {
        case 0: return ENRICH_OK;
        case -ENOKEY: return ENRICH_E_UNKNOWN_KEY;
        case -EKEYREJECTED: return ENRICH_E_BAD_SIGNATURE;
        case -ENOMEM: return ENRICH_E_NOMEM;
        default: return ENRICH_E_MALFORMED;
        }
}

/* Verifies token against keys (signature, typ) and binds it to this host,
 * user and login. On success *ret_payload is a new reference, and
 * *ret_key (optional) the key of keys that signed it. */
static int verify_with(const char *token, const jwks *keys, json_t **ret_payload, EVP_PKEY **ret_key) {
        json_t *header = NULL, *payload = NULL;
        int e;

        e = from_jws_errno(jws_verify(token, keys, &header, &payload));
        if (e != ENRICH_OK)
                goto out;
        if (!streq_ptr(json_string_value(json_object_get(header, "typ")), "enrich+jwt")) {
                e = ENRICH_E_MALFORMED;
                goto out;
        }
        e = check_binding(payload);
        if (e != ENRICH_OK)
                goto out;
        if (ret_key)
                *ret_key = jwks_find(keys, json_string_value(json_object_get(header, "kid")));
        *ret_payload = payload;
        payload = NULL;
out:
        json_decref(header);
        json_decref(payload);
        return e;
}

/* A claims object around a verified payload (a reference is taken:
 * payloads are never modified once verified) and a copy of token, of len
 * bytes: one allocation. */
static int claims_new(json_t *payload, const char *token, size_t len, enrich_claims **ret) {
        enrich_claims *claims = malloc(sizeof(*claims) + len + 1);

        if (!claims)
                return ENRICH_E_NOMEM;
        *claims = (enrich_claims) {
                .refs = 1,
                .payload = json_incref(payload),
                .scope = json_string_value(json_object_get(payload, "scope")),
                .token_len = len,
        };
        memcpy(claims->token, token, len);
        claims->token[len] = '\0';
        *ret = claims;
        return ENRICH_OK;
}

/* Verifies token (len bytes, NUL-terminated) against the JWKS file at
 * jwks_path, without the cache. */
static int verify_uncached(const char *token, size_t len, const char *jwks_path, enrich_claims **ret) {
        jwks *keys = NULL;
        json_t *payload = NULL;
        int r, e;

        r = jwks_load_file(jwks_path, &keys);
        if (r < 0) {
                e = r == -ENOMEM ? ENRICH_E_NOMEM : ENRICH_E_NO_JWKS;
                goto out;
        }
        e = verify_with(token, keys, &payload, NULL);
        if (e == ENRICH_OK)
                e = claims_new(payload, token, len, ret);
out:
        json_decref(payload);
        jwks_free(keys);
        return e;
}

int enrich_claims_verify(const char *token, const char *jwks_path, enrich_claims **ret) {
        if (!token || !ret)
                return ENRICH_E_INVALID;
        return verify_uncached(token, strlen(token), resolve_jwks_path(jwks_path), ret);
}

/* ---- the warm-verification cache --------------------------------------
 *
 * A process that asks for its claims on every request (a web app, a sudo
 * plugin) should not pay an Ed25519 verify each time for the same token.
 * enrich_claims_load*() therefore remembers, per calling process, the last
 * few tokens it verified: keyed by the key's serial, the exact payload read
 * from the key, and the JWKS file (path, device, inode, link count, size,
 * mtime). A hit skips only what cannot change while all of those stay the
 * same: the signature check and the parsing. Everything that can change
 * between calls is done again on every call:
 *   - the key is searched and read again: a revoked or expired key fails
 *     the read, a refreshed one has a new payload (a miss);
 *   - the JWKS is looked at again (jwks_unchanged()): a rotation or any
 *     rewrite is a miss (it is identified before it is read, so a change
 *     racing the read can only cause a miss later, never a stale hit);
 *   - exp, nbf, uid (getuid()) and asid (/proc/self/sessionid) are checked
 *     again, since time passes and a process may change uid or session.
 * Only the aud check against /etc/machine-id is remembered with the entry:
 * the machine id does not change while the system runs (machine-id(5)),
 * and is read once per process (machine_id()).
 *
 * A hit allocates and copies nothing: the claims object the entry made
 * when it verified the token is handed out again by reference count (it
 * never changes, and its JSON text, made only when enrich_claims_json()
 * asks for it, is made once for all its holders).
 *
 * The parsed JWKS is cached the same way, so a token not seen before costs
 * one verify and not also a JWKS parse.
 *
 * Thread safety: the cache is process-wide and protected by one mutex,
 * taken with trylock only. A thread that finds it busy (or a child forked
 * while another thread held it) verifies without the cache, so no caller
 * ever waits for another and every libenrich function stays safe to call
 * from any thread. Claims objects are shared by atomic reference counts
 * and never modified but for their JSON text, set once by a swap. The
 * memory is bounded (CACHE_SLOTS tokens of at most JWS_MAX_TOKEN bytes and
 * one JWKS, and one file descriptor) and freed when the library is
 * unloaded. The PAM module does not link this file and has no such state. */
#define CACHE_SLOTS 4

typedef struct cache_slot {
        key_serial_t key;       /* 0: empty */
        enrich_claims *claims;  /* what the key's payload verified as */
        caller_claims caller;   /* from its payload, checked again on every hit */
} cache_slot;

static struct {
        pthread_mutex_t lock;
        char *jwks_path;        /* what every slot and keys were verified with */
        int jwks_fd;            /* that file, kept open (jwks_unchanged()), or -1 */
        file_version jwks_id;
        jwks *keys;
        /* The header segment of the last token that verified with keys, and
         * a verifier for the key (of keys) that signed it: cache_verify(). */
        char *header;
        size_t header_len;
        jws_verifier *header_verifier;
        cache_slot slots[CACHE_SLOTS];
        unsigned next;          /* slot replaced next, round robin */
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER, .jwks_fd = -1 };

/* Opens the JWKS at path for reading. *ret_kept says whether the cache
 * may keep it open and fstat() it on later calls instead of stat()ing the
 * path (the stat was a fifth of a warm load, and a path lookup costs three
 * times an fstat): only when the path is absolute and reached the file
 * without any symbolic link, that is when it is the very name the kernel
 * gives the open file (/proc/self/fd). Then every way the daemon and an
 * admin replace a JWKS shows on the open file: a rewrite in place changes
 * its size or mtime, a rename over it or a removal drops its link count
 * (to 0), and a symbolic link retargeted, or a relative path after
 * chdir(), cannot be involved. What it does not see is a directory of the
 * path itself renamed with the file still in it, or a mount over the path:
 * jwks_unchanged(). */
static int jwks_open(const char *path, bool *ret_kept) {
        char fd_path[64], name[PATH_MAX];
        ssize_t n = -1;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* Else (a symbolic link, a relative or unusual path such as
         * "/run//x", no /proc): stat()ed by path on every call. */
        if (path[0] == '/') {
                snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
                n = readlink(fd_path, name, sizeof(name));
        }
        *ret_kept = n > 0 && (size_t) n == strlen(path) && memcmp(name, path, (size_t) n) == 0;
        return fd;
}

/* With the lock held: whether the JWKS of the cache is still the file at
 * its path, unchanged. One fstat() of the file kept open when jwks_open()
 * allowed it, else one stat() of the path. A link count of 0 is a file
 * renamed over or removed; a link count that changed otherwise is a miss
 * too (a hard link the admin made, or one of two removed), which is only
 * a reload; so is a changed ctime, which also catches a link count
 * brought back by a hard link after a rename over the file. A descriptor
 * the program closed behind our back fails or (its number reused) names
 * another file: a miss. A directory of the path
 * renamed with the JWKS in it (mv /run/enrich elsewhere), or a mount over
 * the path, are the replacements a kept file does not show: the daemon
 * never does either (it rewrites its JWKS with a rename in place), and
 * tokens verified before still verify against the keys moved away. */
static bool jwks_unchanged(void) {
        struct stat st;
        file_version id;

        if ((cache.jwks_fd >= 0 ? fstat(cache.jwks_fd, &st) : stat(cache.jwks_path, &st)) < 0)
                return false;
        id = file_version_of(&st);
        return id.nlink > 0 && file_version_equal(&id, &cache.jwks_id);
}

/* Closes the kept JWKS, unless the program has closed it and reused its
 * number (a daemon closing every descriptor after fork does), which is not
 * ours to close any more: the kept one is an O_PATH descriptor of that
 * file, which a program reading the JWKS itself, or another thread of
 * this library verifying without the cache, never holds. */
static void jwks_fd_close(void) {
        struct stat st;
        int flags;

        if (cache.jwks_fd >= 0 && (flags = fcntl(cache.jwks_fd, F_GETFL)) >= 0 && (flags & O_PATH) &&
            fstat(cache.jwks_fd, &st) == 0 && st.st_dev == cache.jwks_id.dev && st.st_ino == cache.jwks_id.ino)
                (void) close(cache.jwks_fd);
        cache.jwks_fd = -1;
}

/* An O_PATH descriptor of the file open as fd: enough for fstat(), and
 * told apart from any descriptor the program opens to read (jwks_fd_close).
 * -1 when none could be made (the path is then stat()ed on every call). */
static int jwks_keep(int fd) {
        char fd_path[64];

        snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
        return open(fd_path, O_PATH | O_CLOEXEC);
}

static void slot_clear(cache_slot *slot) {
        enrich_claims_free(slot->claims);
        *slot = (cache_slot) { 0 };
}

/* Forgets everything; called with the lock held. Claims objects handed
 * out stay valid: each holder has a reference of its own. */
static void cache_reset(void) {
        for (size_t i = 0; i < CACHE_SLOTS; i++)
                slot_clear(&cache.slots[i]);
        free(cache.header);
        cache.header = NULL;
        cache.header_len = 0;
        jws_verifier_free(cache.header_verifier);
        cache.header_verifier = NULL;
        jwks_free(cache.keys);
        cache.keys = NULL;
        jwks_fd_close();
        free(cache.jwks_path);
        cache.jwks_path = NULL;
}

__attribute__((destructor)) static void cache_unload(void) {
        free(__atomic_exchange_n(&machine_id_cached, NULL, __ATOMIC_ACQ_REL));
        if (pthread_mutex_trylock(&cache.lock) != 0)
                return;
        cache_reset();
        pthread_mutex_unlock(&cache.lock);
}

/* With the lock held: makes the cache describe the JWKS at path as it is
 * now, loading it unless it already does. */
static int cache_use_jwks(const char *path) {
        struct stat st;
        jwks *keys = NULL;
        bool kept = false;
        int fd = -1, r;

        if (cache.keys && streq_ptr(cache.jwks_path, path) && jwks_unchanged())
                return 0;
        cache_reset();
        fd = jwks_open(path, &kept);
        if (fd < 0)
                return fd;
        /* Identified before it is read: a change racing the read shows as
         * a change next time. */
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        r = jwks_load_fd(fd, &keys);
        if (r < 0)
                goto out;
        cache.jwks_path = strdup(path);
        if (!cache.jwks_path) {
                r = -ENOMEM;
                goto out;
        }
        cache.keys = keys;
        keys = NULL;
        cache.jwks_id = file_version_of(&st);
        if (kept)
                cache.jwks_fd = jwks_keep(fd);
        r = 0;
out:
        jwks_free(keys);
        if (fd >= 0)
                (void) close(fd);
        return r;
}

/* With the lock held: the slot that verified exactly this payload of key. */
static cache_slot *cache_find(key_serial_t key, const char *token, size_t len) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
                cache_slot *slot = &cache.slots[i];
                if (slot->key == key && slot->claims->token_len == len && memcmp(slot->claims->token, token, len) == 0)
                        return slot;
        }
        return NULL;
}

/* With the lock held: remembers claims verified from key's payload. */
static void cache_store(key_serial_t key, enrich_claims *claims) {
        cache_slot *slot = &cache.slots[cache.next++ % CACHE_SLOTS];

        slot_clear(slot);
        slot->key = key;
        slot->claims = claims_ref(claims);
        slot->caller = caller_claims_of(claims->payload);
}

/* With the lock held: verifies a token no slot holds against cache.keys.
 * Every token one signing key issues has the same header text, so a token
 * whose header segment is byte for byte the last one that verified with
 * these keys skips decoding and checking it again (alg, crit, kid, typ:
 * the same bytes give the same answers) and is verified with the key that
 * header named; its payload and signature are checked in full as ever.
 * The remembered header goes with the keys (cache_reset). */
static int cache_verify(const char *token, json_t **ret_payload) {
        const char *dot = strchr(token, '.');
        size_t header_len = dot ? (size_t) (dot - token) : 0;
        jws_verifier *verifier = NULL;
        EVP_PKEY *key = NULL;
        json_t *payload = NULL;
        char *header = NULL;
        int e;

        if (cache.header && header_len == cache.header_len && memcmp(token, cache.header, header_len) == 0) {
                e = from_jws_errno(jws_verify_with(token, cache.header_verifier, &payload));
                if (e == ENRICH_OK)
                        e = check_binding(payload);
                if (e == ENRICH_OK) {
                        *ret_payload = payload;
                        payload = NULL;
                }
                json_decref(payload);
                return e;
        }
        e = verify_with(token, cache.keys, ret_payload, &key);
        /* Remembering is an optimisation: a failure to is not an error. */
        if (e == ENRICH_OK && key && (header = strndup(token, header_len)) && jws_verifier_new(key, &verifier) == 0) {
                free(cache.header);
                jws_verifier_free(cache.header_verifier);
                cache.header = header;
                cache.header_len = header_len;
                cache.header_verifier = verifier;
                header = NULL;
        }
        free(header);
        return e;
}

/* Verifies token (len bytes, NUL-terminated), read from key, through the
 * cache. Returns -EBUSY when the cache is in use (or the JWKS cannot be
 * loaded into it): the caller then verifies without it. */
static int cached_verify(key_serial_t key, const char *token, size_t len, const char *jwks_path, enrich_claims **ret) {
        enrich_claims *claims = NULL;
        json_t *payload = NULL;
        cache_slot *slot;
        int e;

        if (pthread_mutex_trylock(&cache.lock) != 0)
                return -EBUSY;
        if (cache_use_jwks(jwks_path) < 0) {
                pthread_mutex_unlock(&cache.lock);
                return -EBUSY;
        }
        slot = cache_find(key, token, len);
        if (slot) {
                e = check_caller(&slot->caller);
                if (e == ENRICH_OK)
                        claims = claims_ref(slot->claims);
        } else {
                e = cache_verify(token, &payload);
                if (e == ENRICH_OK)
                        e = claims_new(payload, token, len, &claims);
                if (e == ENRICH_OK)
                        cache_store(key, claims);
        }
        pthread_mutex_unlock(&cache.lock);
        if (e == ENRICH_OK)
                *ret = claims;
        json_decref(payload);
        return e;
}

int enrich_claims_load_jwks(const char *jwks_path, enrich_claims **ret) {
        /* A claims token is well under a page: read on the stack, and
         * copied only when it is not the token the cache already holds. */
        char buffer[KEYRING_READ_GUESS], *heap = NULL;
        const char *token = NULL;
        key_serial_t key;
        long len;
        int r;

        if (!ret)
                return ENRICH_E_INVALID;
        r = keyring_find_claims(&key);
        if (r < 0)
                return from_keyring_errno(r);
        len = keyring_read_buffer(key, buffer, sizeof(buffer), &heap, &token);
        if (len < 0) {
                r = from_keyring_errno((int) len);
                goto out;
        }
        /* A key the daemon has not written yet holds no claims. */
        if (strcmp(token, ENRICH_KEY_PLACEHOLDER) == 0) {
                r = ENRICH_E_NO_CLAIMS;
                goto out;
        }
        /* Verified as a C string: a payload with a NUL in it is not one. */
        if (strlen(token) != (size_t) len) {
                r = ENRICH_E_MALFORMED;
                goto out;
        }
        jwks_path = resolve_jwks_path(jwks_path);
        r = cached_verify(key, token, (size_t) len, jwks_path, ret);
        if (r == -EBUSY)
                r = verify_uncached(token, (size_t) len, jwks_path, ret);
out:
        free(heap);
        return r;
}

int enrich_claims_load(enrich_claims **ret) {
        return enrich_claims_load_jwks(NULL, ret);
}

static const char *get_string(const enrich_claims *claims, const char *name) {
        return claims ? json_string_value(json_object_get(claims->payload, name)) : NULL;
}

static json_t *get_array(const enrich_claims *claims, const char *name) {
        json_t *v = claims ? json_object_get(claims->payload, name) : NULL;
        return json_is_array(v) ? v : NULL;
}

static json_int_t get_int_or(const enrich_claims *claims, const char *name, json_int_t fallback) {
        json_int_t v;
        return claims && get_int(claims->payload, name, &v) ? v : fallback;
}

/* scope is one of the space-separated words of the scope claim: an
 * occurrence with a space or an end of the claim on either side. */
int enrich_claims_has_scope(const enrich_claims *claims, const char *scope) {
        const char *scopes = claims ? claims->scope : NULL, *p;
        size_t len;

        if (!scopes || !scope || !*scope || strchr(scope, ' '))
                return 0;
        len = strlen(scope);
        for (p = scopes; (p = strstr(p, scope)); p++)
                if ((p == scopes || p[-1] == ' ') && (p[len] == '\0' || p[len] == ' '))
                        return 1;
        return 0;
}

int enrich_claims_in_group(const enrich_claims *claims, const char *group) {
        json_t *groups = get_array(claims, "groups"), *g;
        size_t i;

        if (!groups || !group)
                return 0;
        json_array_foreach(groups, i, g)
                if (streq_ptr(json_string_value(g), group))
                        return 1;
        return 0;
}

const char *enrich_claims_subject(const enrich_claims *claims) {
        return get_string(claims, "sub");
}
const char *enrich_claims_tenant(const enrich_claims *claims) {
        return get_string(claims, "tenant");
}
const char *enrich_claims_session_id(const enrich_claims *claims) {
        return get_string(claims, "sid");
}
const char *enrich_claims_issuer(const enrich_claims *claims) {
        return get_string(claims, "iss");
}
const char *enrich_claims_scope(const enrich_claims *claims) {
        return claims ? claims->scope : NULL;
}
uid_t enrich_claims_uid(const enrich_claims *claims) {
        return (uid_t) get_int_or(claims, "uid", -1);
}
time_t enrich_claims_expiry(const enrich_claims *claims) {
        return (time_t) get_int_or(claims, "exp", 0);
}
time_t enrich_claims_issued_at(const enrich_claims *claims) {
        return (time_t) get_int_or(claims, "iat", 0);
}
const char *enrich_claims_token(const enrich_claims *claims) {
        return claims ? claims->token : NULL;
}

/* Serialised on the first call only: most callers never ask, and it cost
 * as much as parsing the payload. Two threads asking at once may both
 * serialise; one text wins the swap and the other is freed. */
const char *enrich_claims_json(const enrich_claims *claims) {
        enrich_claims *mutable = (enrich_claims *) claims;
        char *json, *expected = NULL;

        if (!claims)
                return NULL;
        json = __atomic_load_n(&mutable->json, __ATOMIC_ACQUIRE);
        if (json)
                return json;
        json = json_dumps(claims->payload, JSON_COMPACT | JSON_SORT_KEYS);
        if (!json)
                return NULL;
        if (!__atomic_compare_exchange_n(&mutable->json, &expected, json, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                free(json);
                return expected;
        }
        return json;
}

size_t enrich_claims_amr_count(const enrich_claims *claims) {
        return json_array_size(get_array(claims, "amr"));
}

const char *enrich_claims_amr(const enrich_claims *claims, size_t index) {
        return json_string_value(json_array_get(get_array(claims, "amr"), index));
}

size_t enrich_claims_group_count(const enrich_claims *claims) {
        return json_array_size(get_array(claims, "groups"));
}

const char *enrich_claims_group(const enrich_claims *claims, size_t index) {
        return json_string_value(json_array_get(get_array(claims, "groups"), index));
}

int enrich_ping(const char *socket_path, int timeout_ms) {
        varlink_client *c = NULL;
        json_t *reply = NULL;
        int r;

        if (!socket_path)
                socket_path = secure_getenv("ENRICH_SOCKET");
        if (!socket_path || !*socket_path)
                socket_path = ENRICH_DEFAULT_SOCKET;
        r = varlink_client_connect(socket_path, timeout_ms, NULL, 0, &c);
        if (r == 0)
                r = varlink_client_call(c, "io.enrich.Status", NULL, timeout_ms, &reply, NULL);
        json_decref(reply);
        varlink_client_free(c);
        return r == 0 ? ENRICH_OK : ENRICH_E_UNREACHABLE;
}
