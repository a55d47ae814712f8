/* test_claims_cache.c: libenrich's verification cache may only save work,
 * never an answer: right after warm loads of one key, a refreshed payload,
 * a forged one, a rewritten JWKS, a revoked and an expired key each show on
 * the very next enrich_claims_load_jwks(), and what a load returns (claims,
 * JSON text, token) is always the payload in the key now. Runs as root in
 * a session keyring of its own (the claims key is root's), with its own
 * signing key and JWKS in a temporary folder. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* Writes a JWKS holding key's public half to path, atomically. */
static int write_jwks(const char *path, EVP_PKEY *key, const char *key_id) {
        json_t *jwk = NULL, *doc;
        char *text;
        int r;

        if (jwk_from_key(key, key_id, &jwk) < 0)
                return -1;
        doc = json_pack("{s:[o]}", "keys", jwk);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        r = text ? write_file_atomic(path, text, strlen(text), 0644) : -1;
        free(text);
        json_decref(doc);
        return r;
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

        /* Revoked: the very next call says so. */
        CHECK(keyring_revoke(key) == 0 && load_fails(jwks_path, ENRICH_E_REVOKED), "claims-cache-revoked-next-call");

        /* A second key with the payload the cache knows from the first: it is
         * read from the new key (a new serial), and it expires with its key. */
        short_lived = token_for(signing_key, kid, "cache:short", 2);
        CHECK(keyring_install_claims(short_lived, 0, time(NULL) + 2, &second) == 0 &&
                      warm(jwks_path, short_lived, "cache:short", 2),
              "claims-cache-second-key");
        sleep(3);
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
