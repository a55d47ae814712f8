/* test_claims_cache.c: libenrich's verification cache may only save work,
 * never an answer: right after warm loads of one key, a refreshed payload,
 * a forged one, a rewritten JWKS (renamed over, in place, through a
 * retargeted symbolic link, or a relative path after chdir), a revoked and
 * an expired key each show on the very next enrich_claims_load_jwks(), and
 * what a load returns (claims, JSON text, token) is always the payload in
 * the key now. Claims objects a hit shares outlive the cache's copy and
 * stay whole under threads; the JWKS descriptor the cache keeps is never
 * closed once the program reused its number. Runs as root in a session
 * keyring of its own (the claims key is root's), with its own signing key
 * and JWKS in a temporary folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <keyutils.h>
#include <openssl/evp.h>

#include "enrich.h"
#include "host.h"
#include "jwks.h"
#include "jws.h"
#include "keyring.h"
#include "util.h"
#include "tap.h"

static EVP_PKEY *signing_key, *other_key;
static char kid[64], other_kid[64], *machine;

static EVP_PKEY *new_key(char *kid_out) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        char *thumbprint = NULL;

        if (!key || jwk_thumbprint(key, &thumbprint) < 0)
                abort();
        snprintf(kid_out, 64, "%s", thumbprint);
        free(thumbprint);
        return key;
}

/* Writes a JWKS holding key's public half to path: atomically (a new file
 * renamed over the old one, as the daemon does), or in place (the same
 * file truncated and written). */
static int write_jwks_how(const char *path, EVP_PKEY *key, const char *key_id, bool in_place) {
        json_t *jwk = NULL, *doc;
        char *text;
        int r = -1;

        if (jwk_from_key(key, key_id, &jwk) < 0)
                return -1;
        doc = json_pack("{s:[o]}", "keys", jwk);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (text && !in_place)
                r = write_file_atomic(path, text, strlen(text), 0644);
        else if (text) {
                int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
                r = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -1;
                if (fd >= 0)
                        close(fd);
        }
        free(text);
        json_decref(doc);
        return r;
}

static int write_jwks(const char *path, EVP_PKEY *key, const char *key_id) {
        return write_jwks_how(path, key, key_id, false);
}

/* A claims token for the caller, good for ttl seconds, with scope, and
 * typ in its header. */
static char *token_with(EVP_PKEY *key, const char *key_id, const char *scope, long ttl, const char *typ) {
        time_t now = time(NULL);
        json_t *payload = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:[s], s:[]}", "sub", "root", "uid",
                                    (json_int_t) getuid(), "aud", machine, "iss", "test", "iat", (json_int_t) now - 1,
                                    "nbf", (json_int_t) now - 1, "exp", (json_int_t) (now + ttl), "sid", "test-session",
                                    "scope", scope, "amr", "pwd", "groups");
        char *token = NULL;

        if (!payload || jws_sign(key, key_id, typ, payload, &token) < 0)
                abort();
        json_decref(payload);
        return token;
}

static char *token_for(EVP_PKEY *key, const char *key_id, const char *scope, long ttl) {
        return token_with(key, key_id, scope, ttl, "enrich+jwt");
}

static char *token_with_typ(EVP_PKEY *key, const char *key_id, const char *scope, const char *typ) {
        return token_with(key, key_id, scope, 3600, typ);
}

/* Loads and checks that the claims are those of expect_token and say
 * expect_scope, through every accessor that could show a stale answer. */
static int loads_as(const char *jwks_path, const char *expect_token, const char *expect_scope) {
        enrich_claims *claims = NULL;
        json_t *json = NULL;
        int e = enrich_claims_load_jwks(jwks_path, &claims), ok;

        if (e == ENRICH_OK)
                json = json_loads(enrich_claims_json(claims), 0, NULL);
        ok = e == ENRICH_OK && streq_ptr(enrich_claims_token(claims), expect_token) &&
             streq_ptr(enrich_claims_scope(claims), expect_scope) && enrich_claims_has_scope(claims, expect_scope) &&
             streq_ptr(json_string_value(json_object_get(json, "scope")), expect_scope) &&
             streq_ptr(enrich_claims_json(claims), enrich_claims_json(claims));
        if (!ok)
                printf("# load: %s, scope %s, expected %s\n", enrich_strerror(e),
                       claims ? enrich_claims_scope(claims) : "-", expect_scope);
        json_decref(json);
        enrich_claims_free(claims);
        return ok;
}

static int load_fails(const char *jwks_path, int expect) {
        enrich_claims *claims = NULL;
        int e = enrich_claims_load_jwks(jwks_path, &claims);

        enrich_claims_free(claims);
        if (e != expect)
                printf("# load: %s, expected %s\n", enrich_strerror(e), enrich_strerror(expect));
        return e == expect && !claims;
}

/* n warm loads in a row, all right. */
static int warm(const char *jwks_path, const char *token, const char *scope, int n) {
        for (int i = 0; i < n; i++)
                if (!loads_as(jwks_path, token, scope))
                        return 0;
        return 1;
}

/* The descriptor this process holds open on the file path names, or -1. */
static int fd_open_on(const char *path) {
        char target[PATH_MAX], link[300], *real = realpath(path, NULL);
        struct dirent *entry;
        DIR *dir = opendir("/proc/self/fd");
        int found = -1;

        while (real && dir && (entry = readdir(dir))) {
                ssize_t n;
                snprintf(link, sizeof link, "/proc/self/fd/%s", entry->d_name);
                n = readlink(link, target, sizeof target - 1);
                if (n > 0 && (target[n] = '\0', strcmp(target, real) == 0))
                        found = atoi(entry->d_name);
        }
        if (dir)
                closedir(dir);
        free(real);
        return found;
}

/* Whether this process can see the names of its descriptors, which the
 * cache needs to keep the JWKS open. */
static bool have_proc_fd(void) {
        return access("/proc/self/fd", F_OK) == 0;
}

/* A warm load hands out the claims object made when the token was
 * verified, shared by reference count: each holder's copy outlives the
 * cache's (a refresh, eviction from the slots, a new JWKS). */
static int hit_shares_claims(const char *jwks_path, key_serial_t key, const char *a, const char *b) {
        enrich_claims *first = NULL, *second = NULL;
        const char *json;
        int ok;

        if (keyring_update_claims(key, a, time(NULL) + 3600) < 0 || enrich_claims_load_jwks(jwks_path, &first) != 0 ||
            enrich_claims_load_jwks(jwks_path, &second) != 0)
                return 0;
        json = enrich_claims_json(first);
        ok = enrich_claims_token(first) == enrich_claims_token(second) && json == enrich_claims_json(second);
        if (!ok)
                printf("# two warm loads of one token made two objects\n");
        enrich_claims_free(second);
        /* Evicts a's slot (five other payloads: b, and four of b's kind),
         * then replaces the JWKS: the cache lets go of everything. */
        for (int i = 0; i < 5 && ok; i++) {
                char *other = i == 0 ? strdup(b) : token_for(signing_key, kid, "cache:b", 3600 + i);
                ok = other && keyring_update_claims(key, other, time(NULL) + 3600) == 0 &&
                     warm(jwks_path, other, "cache:b", 1);
                free(other);
        }
        ok = ok && write_jwks(jwks_path, signing_key, kid) == 0 &&
             keyring_update_claims(key, b, time(NULL) + 3600) == 0 && warm(jwks_path, b, "cache:b", 1);
        ok = ok && streq_ptr(enrich_claims_token(first), a) && enrich_claims_has_scope(first, "cache:a") &&
             streq_ptr(enrich_claims_json(first), json) && strstr(json, "\"scope\":\"cache:a\"");
        enrich_claims_free(first);
        return ok;
}

/* The cache keeps the JWKS open only for an absolute path without
 * symbolic links, and notices a rewrite in place and a descriptor the
 * program closed (and reused) behind its back, without closing what is
 * not its own. */
static int kept_jwks_checks(const char *dir, key_serial_t key, const char *b) {
        char path[256], real_path[256], temp[256], link_dir[128], real_dir[128], relative_dir[128], other_dir[128];
        int fd, null_fd = -1, ok = 1;
        struct stat before, after;

        snprintf(path, sizeof path, "%s/jwks.json", dir);
        if (keyring_update_claims(key, b, time(NULL) + 3600) < 0 || write_jwks(path, signing_key, kid) < 0)
                return 0;

        /* Kept open where /proc shows what a descriptor names (else the
         * path is stat()ed on every call). */
        if (!have_proc_fd()) {
                SKIP("claims-cache-jwks-kept-open", "no /proc/self/fd here: the JWKS is stat()ed by path");
                SKIP("claims-cache-jwks-descriptor-reused-not-closed", "no /proc/self/fd here");
        } else {
                CHECK(warm(path, b, "cache:b", 2) && fd_open_on(path) >= 0, "claims-cache-jwks-kept-open");

                /* Closed behind the cache's back, its number reused by the
                 * program: the next load is right, and the program's
                 * descriptor stays open. */
                fd = fd_open_on(path);
                null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                ok = fd >= 0 && null_fd >= 0 && fstat(null_fd, &before) == 0 && dup2(null_fd, fd) == fd &&
                     warm(path, b, "cache:b", 2) && write_jwks(path, other_key, other_kid) == 0 &&
                     load_fails(path, ENRICH_E_UNKNOWN_KEY) && fstat(fd, &after) == 0 &&
                     after.st_rdev == before.st_rdev && after.st_ino == before.st_ino;
                CHECK(ok, "claims-cache-jwks-descriptor-reused-not-closed");
                if (fd >= 0 && null_fd >= 0)
                        close(fd);
                if (null_fd >= 0)
                        close(null_fd);

                /* The program closes the kept descriptor and opens the
                 * JWKS itself under the same number: a new JWKS makes the
                 * cache let go of its own, never of the program's, which
                 * still reads its file. */
                {
                        char byte;
                        int mine = -1;

                        fd = write_jwks(path, signing_key, kid) == 0 && warm(path, b, "cache:b", 2) ? fd_open_on(path)
                                                                                                    : -1;
                        ok = fd >= 0 && close(fd) == 0 && (mine = open(path, O_RDONLY | O_CLOEXEC)) >= 0 &&
                             (mine == fd || (dup2(mine, fd) == fd && close(mine) == 0 && (mine = fd) >= 0)) &&
                             fstat(mine, &before) == 0 && write_jwks(path, other_key, other_kid) == 0 &&
                             load_fails(path, ENRICH_E_UNKNOWN_KEY) && fstat(mine, &after) == 0 &&
                             after.st_ino == before.st_ino && pread(mine, &byte, 1, 0) == 1 && byte == '{';
                        if (!ok)
                                printf("# kept %d, the program's %d\n", fd, mine);
                        CHECK(ok, "claims-cache-jwks-program-descriptor-same-number-not-closed");
                        if (mine >= 0)
                                close(mine);
                }

                /* A rename over the JWKS drops the old file's link count; a
                 * hard link made afterwards brings it back, size and mtime
                 * unchanged: the removed key still fails the next load. */
                {
                        char spare[300], spare2[300];

                        snprintf(spare, sizeof spare, "%s.spare", path);
                        snprintf(spare2, sizeof spare2, "%s.spare2", path);
                        ok = write_jwks(path, signing_key, kid) == 0 && link(path, spare) == 0 &&
                             warm(path, b, "cache:b", 2) && usleep(20000) == 0 &&
                             write_jwks(path, other_key, other_kid) == 0 && link(spare, spare2) == 0 &&
                             load_fails(path, ENRICH_E_UNKNOWN_KEY);
                        CHECK(ok, "claims-cache-jwks-link-count-restored-next-call");
                        unlink(spare);
                        unlink(spare2);
                }
        }
        CHECK(write_jwks(path, signing_key, kid) == 0 && warm(path, b, "cache:b", 2), "claims-cache-jwks-after-reuse");

        /* A rewrite in place: same size, same file, another key. */
        CHECK(write_jwks_how(path, other_key, other_kid, true) == 0 && load_fails(path, ENRICH_E_UNKNOWN_KEY) &&
                      write_jwks_how(path, signing_key, kid, true) == 0 && warm(path, b, "cache:b", 2),
              "claims-cache-jwks-rewritten-in-place-next-call");

        /* Through a symbolic link to a directory ("current" -> "v1", as
         * releases are laid out): retargeting it is noticed at once. */
        snprintf(real_dir, sizeof real_dir, "%s/v1", dir);
        snprintf(other_dir, sizeof other_dir, "%s/v2", dir);
        snprintf(link_dir, sizeof link_dir, "%s/current", dir);
        snprintf(temp, sizeof temp, "%s/current.new", dir);
        snprintf(real_path, sizeof real_path, "%s/jwks.json", real_dir);
        ok = mkdir(real_dir, 0755) == 0 && mkdir(other_dir, 0755) == 0 &&
             write_jwks(real_path, signing_key, kid) == 0 && symlink("v1", link_dir) == 0;
        snprintf(real_path, sizeof real_path, "%s/jwks.json", other_dir);
        snprintf(path, sizeof path, "%s/jwks.json", link_dir);
        ok = ok && write_jwks(real_path, other_key, other_kid) == 0 && warm(path, b, "cache:b", 2) &&
             symlink("v2", temp) == 0 && rename(temp, link_dir) == 0 && load_fails(path, ENRICH_E_UNKNOWN_KEY);
        CHECK(ok, "claims-cache-jwks-symlink-retargeted-next-call");
        unlink(link_dir);
        unlink(real_path);
        rmdir(other_dir);
        snprintf(real_path, sizeof real_path, "%s/jwks.json", real_dir);
        unlink(real_path);
        rmdir(real_dir);

        /* A relative path: resolved again after a chdir(). */
        snprintf(relative_dir, sizeof relative_dir, "%s/r1", dir);
        snprintf(other_dir, sizeof other_dir, "%s/r2", dir);
        snprintf(path, sizeof path, "%s/jwks.json", relative_dir);
        snprintf(real_path, sizeof real_path, "%s/jwks.json", other_dir);
        ok = mkdir(relative_dir, 0755) == 0 && mkdir(other_dir, 0755) == 0 && write_jwks(path, signing_key, kid) == 0 &&
             write_jwks(real_path, other_key, other_kid) == 0 && chdir(relative_dir) == 0 &&
             warm("jwks.json", b, "cache:b", 2) && chdir(other_dir) == 0 &&
             load_fails("jwks.json", ENRICH_E_UNKNOWN_KEY);
        CHECK(ok, "claims-cache-jwks-relative-path-after-chdir");
        if (chdir("/") < 0)
                ok = 0;
        unlink(path);
        unlink(real_path);
        rmdir(relative_dir);
        rmdir(other_dir);
        return ok;
}

/* has_scope: one of the space-separated words, nothing less. */
static int scope_words(const char *jwks_path, key_serial_t key) {
        char *token = token_for(signing_key, kid, " x:a  x:b x:a:c  x", 3600);
        enrich_claims *claims = NULL;
        int ok;

        ok = keyring_update_claims(key, token, time(NULL) + 3600) == 0 &&
             enrich_claims_load_jwks(jwks_path, &claims) == ENRICH_OK;
        ok = ok && streq_ptr(enrich_claims_scope(claims), " x:a  x:b x:a:c  x") &&
             enrich_claims_has_scope(claims, "x:a") && enrich_claims_has_scope(claims, "x:b") &&
             enrich_claims_has_scope(claims, "x:a:c") && enrich_claims_has_scope(claims, "x") &&
             !enrich_claims_has_scope(claims, "x:") && !enrich_claims_has_scope(claims, "a") &&
             !enrich_claims_has_scope(claims, ":a") && !enrich_claims_has_scope(claims, "x:c") &&
             !enrich_claims_has_scope(claims, "") && !enrich_claims_has_scope(claims, "x:a x:b") &&
             !enrich_claims_has_scope(claims, NULL) && !enrich_claims_has_scope(NULL, "x:a");
        enrich_claims_free(claims);
        free(token);
        return ok;
}

/* Threads loading at once while the payload changes under them: every
 * object a thread gets is whole (its token and its scope agree), and the
 * shared objects' reference counts hold (a miscount frees one in use). */
struct loader {
        const char *jwks_path, *a, *b;
        int bad;
};

static void *load_many(void *arg) {
        struct loader *l = arg;
        enrich_claims *held = NULL;

        for (int i = 0; i < 3000; i++) {
                enrich_claims *claims = NULL;
                const char *token;

                if (enrich_claims_load_jwks(l->jwks_path, &claims) != ENRICH_OK)
                        continue;       /* a busy cache is fine, a wrong answer is not */
                token = enrich_claims_token(claims);
                if (!(streq_ptr(token, l->a) && enrich_claims_has_scope(claims, "cache:a")) &&
                    !(streq_ptr(token, l->b) && enrich_claims_has_scope(claims, "cache:b")))
                        l->bad++;
                if (!enrich_claims_json(claims))
                        l->bad++;
                enrich_claims_free(held);
                held = claims;
        }
        enrich_claims_free(held);
        return NULL;
}

static int threads_share(const char *jwks_path, key_serial_t key, const char *a, const char *b) {
        struct loader loaders[4];
        pthread_t threads[4];
        int ok = 1;

        for (int i = 0; i < 4; i++) {
                loaders[i] = (struct loader) { .jwks_path = jwks_path, .a = a, .b = b };
                if (pthread_create(&threads[i], NULL, load_many, &loaders[i]) != 0)
                        abort();
        }
        for (int i = 0; i < 400; i++)
                if (keyring_update_claims(key, i % 2 ? a : b, time(NULL) + 3600) < 0)
                        ok = 0;
        for (int i = 0; i < 4; i++) {
                pthread_join(threads[i], NULL);
                ok = ok && loaders[i].bad == 0;
        }
        return ok;
}

int main(void) {
        char dir[] = "/tmp/enrich-cache-test.XXXXXX", jwks_path[128];
        char *a = NULL, *b = NULL, *forged = NULL, *short_lived = NULL, *other_typ = NULL;
        key_serial_t key = -1, second = -1;

        if (getuid() != 0) {
                SKIP("claims-cache", "needs root: the claims key is owned by uid 0");
                TAP_EXIT();
        }
        if (keyctl_join_session_keyring(NULL) < 0) {
                SKIP("claims-cache", "no session keyring can be joined here");
                TAP_EXIT();
        }
        if (!mkdtemp(dir) || host_machine_id(&machine) < 0)
                abort();
        snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
        signing_key = new_key(kid);
        other_key = new_key(other_kid);
        a = token_for(signing_key, kid, "cache:a", 3600);
        b = token_for(signing_key, kid, "cache:b", 3600);
        other_typ = token_with_typ(signing_key, kid, "cache:c", "other+jwt");
        forged = strdup(b);
        forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';

        /* Another key linked first, as pam_keyinit links the user keyring. */
        CHECK(add_key("user", "enrich:decoy", "x", 1, KEY_SPEC_SESSION_KEYRING) > 0 &&
                      write_jwks(jwks_path, signing_key, kid) == 0 &&
                      keyring_install_claims(a, 0, time(NULL) + 3600, &key) == 0,
              "claims-cache-setup");
        CHECK(warm(jwks_path, a, "cache:a", 3), "claims-cache-warm-loads");

        /* A new claims key takes the old one's place in the keyring (a new
         * serial, the old one unlinked): the next load reads the new one. */
        {
                key_serial_t replaced = key;

                CHECK(keyring_install_claims(b, 0, time(NULL) + 3600, &key) == 0 && key != replaced &&
                              loads_as(jwks_path, b, "cache:b") && keyring_revoke(replaced) == 0 &&
                              warm(jwks_path, b, "cache:b", 2),
                      "claims-cache-replaced-key-next-call");
                CHECK(keyring_update_claims(key, a, time(NULL) + 3600) == 0 && loads_as(jwks_path, a, "cache:a"),
                      "claims-cache-replaced-key-back-to-a");
        }

        /* A refresh rewrites the payload in place, same serial: the new one
         * counts at once, every accessor included. */
        CHECK(keyring_update_claims(key, b, time(NULL) + 3600) == 0 && loads_as(jwks_path, b, "cache:b"),
              "claims-cache-refreshed-payload-next-call");
        CHECK(warm(jwks_path, b, "cache:b", 2) && keyring_update_claims(key, a, time(NULL) + 3600) == 0 &&
                      loads_as(jwks_path, a, "cache:a"),
              "claims-cache-back-to-earlier-payload");

        /* A forged payload fails although a valid one of the same key is
         * cached, and does not evict the valid one's answer. */
        CHECK(warm(jwks_path, b, "cache:b", 0) && keyring_update_claims(key, b, time(NULL) + 3600) == 0 &&
                      loads_as(jwks_path, b, "cache:b") && keyring_update_claims(key, forged, time(NULL) + 3600) == 0 &&
                      load_fails(jwks_path, ENRICH_E_BAD_SIGNATURE),
              "claims-cache-forged-payload-next-call");
        CHECK(keyring_update_claims(key, b, time(NULL) + 3600) == 0 && warm(jwks_path, b, "cache:b", 2),
              "claims-cache-valid-after-forged");

        /* A rotated JWKS without the token's key: unknown at once; back: good. */
        CHECK(write_jwks(jwks_path, other_key, other_kid) == 0 && load_fails(jwks_path, ENRICH_E_UNKNOWN_KEY),
              "claims-cache-rewritten-jwks-next-call");
        CHECK(write_jwks(jwks_path, signing_key, kid) == 0 && warm(jwks_path, b, "cache:b", 2),
              "claims-cache-restored-jwks");

        /* The header of the last good token is remembered with the JWKS
         * it verified against: a JWKS that gives the same kid another key
         * fails the very next load (the signature, checked with the new
         * key), and a token whose header differs (another typ, signed by
         * the same key) is checked in full. */
        CHECK(warm(jwks_path, b, "cache:b", 2) && keyring_update_claims(key, a, time(NULL) + 3600) == 0 &&
                      loads_as(jwks_path, a, "cache:a") && write_jwks(jwks_path, other_key, kid) == 0 &&
                      keyring_update_claims(key, b, time(NULL) + 3600) == 0 &&
                      load_fails(jwks_path, ENRICH_E_BAD_SIGNATURE),
              "claims-cache-same-kid-new-key-next-call");
        CHECK(write_jwks(jwks_path, signing_key, kid) == 0 && loads_as(jwks_path, b, "cache:b") &&
                      keyring_update_claims(key, other_typ, time(NULL) + 3600) == 0 &&
                      load_fails(jwks_path, ENRICH_E_MALFORMED) &&
                      keyring_update_claims(key, a, time(NULL) + 3600) == 0 && loads_as(jwks_path, a, "cache:a"),
              "claims-cache-other-header-checked");
        CHECK(keyring_update_claims(key, b, time(NULL) + 3600) == 0 && warm(jwks_path, b, "cache:b", 2),
              "claims-cache-after-header-checks");

        /* A payload with a NUL in it is not a token, whatever precedes it. */
        {
                size_t n = strlen(b);
                char *with_nul = malloc(n + 5);

                memcpy(with_nul, b, n + 1);
                memcpy(with_nul + n + 1, "junk", 4);
                CHECK(warm(jwks_path, b, "cache:b", 1) && keyctl_update(key, with_nul, n + 5) == 0 &&
                              load_fails(jwks_path, ENRICH_E_MALFORMED) &&
                              keyring_update_claims(key, b, time(NULL) + 3600) == 0 && warm(jwks_path, b, "cache:b", 1),
                      "claims-cache-payload-with-nul-refused");
                free(with_nul);
        }

        CHECK(hit_shares_claims(jwks_path, key, a, b), "claims-cache-hit-shares-verified-claims");
        CHECK(scope_words(jwks_path, key), "claims-has-scope-words");
        CHECK(kept_jwks_checks(dir, key, b), "claims-cache-kept-jwks-cleanup");
        CHECK(write_jwks(jwks_path, signing_key, kid) == 0 && threads_share(jwks_path, key, a, b),
              "claims-cache-threads-share-objects");
        CHECK(keyring_update_claims(key, b, time(NULL) + 3600) == 0 && warm(jwks_path, b, "cache:b", 2),
              "claims-cache-after-kept-jwks");

        /* Revoked: the very next call says so. */
        CHECK(keyring_revoke(key) == 0 && load_fails(jwks_path, ENRICH_E_REVOKED), "claims-cache-revoked-next-call");

        /* A second key with the payload the cache knows from the first: it is
         * read from the new key (a new serial), and it expires with its key.
         * 3 s, ending at a whole second: over 2 s for the two loads that
         * must come first (with 2 s, as little as one, which a loaded
         * machine's ASan build could miss). */
        short_lived = token_for(signing_key, kid, "cache:short", 3);
        CHECK(keyring_install_claims(short_lived, 0, time(NULL) + 3, &second) == 0 &&
                      warm(jwks_path, short_lived, "cache:short", 2),
              "claims-cache-second-key");
        sleep(4);
        {
                enrich_claims *claims = NULL;
                int e = enrich_claims_load_jwks(jwks_path, &claims);

                CHECK((e == ENRICH_E_EXPIRED || e == ENRICH_E_NO_CLAIMS) && !claims, "claims-cache-expired-next-call");
                enrich_claims_free(claims);
        }

        /* Without the cache (enrich_claims_verify), the same answers. */
        {
                enrich_claims *claims = NULL;

                CHECK(enrich_claims_verify(b, jwks_path, &claims) == ENRICH_OK &&
                              streq_ptr(enrich_claims_token(claims), b) && enrich_claims_has_scope(claims, "cache:b") &&
                              strstr(enrich_claims_json(claims), "\"scope\":\"cache:b\""),
                      "claims-verify-uncached");
                enrich_claims_free(claims);
                claims = NULL;
                CHECK(enrich_claims_verify(forged, jwks_path, &claims) == ENRICH_E_BAD_SIGNATURE && !claims,
                      "claims-verify-uncached-forged");
        }

        if (second > 0)
                (void) keyring_revoke(second);
        unlink(jwks_path);
        rmdir(dir);
        free(a);
        free(b);
        free(forged);
        free(short_lived);
        free(other_typ);
        free(machine);
        EVP_PKEY_free(signing_key);
        EVP_PKEY_free(other_key);
        TAP_EXIT();
}
