/* fuzz_jws.c: JWS and JWKS parsing and verification, and libenrich's claim
 * checks. The input is "JWKS\nTOKEN" (either part may be junk): TOKEN is
 * verified against a fixed key set and against the parsed JWKS, the whole
 * input is also tried as one token and as one JWKS document, and when it
 * is a JSON object it is signed with the fixed key and handed to
 * enrich_claims_verify, so the claim checks behind a good signature are
 * fuzzed too. The fixed key comes from a constant seed, which lets the
 * committed corpus hold tokens whose signatures verify. The input as JSON
 * text is also parsed by parse_json_object (JWS parts' fast parser) and by
 * jansson, which must agree, and written back by dump_plain_json, which
 * must write jansson's bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "enrich.h"
#include "fuzz.h"
#include "json_plain.h"
#include "jwks.h"
#include "jws.h"

static const unsigned char key_seed[32] = "enrich-fuzz-fixed-ed25519-seed!";
static EVP_PKEY *key;
static char *kid;
static jwks *keys;
static char jwks_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        json_t *jwk = NULL, *doc;
        char *text;

        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key_seed, sizeof key_seed);
        if (!key || jwk_thumbprint(key, &kid) < 0 || jwk_from_key(key, kid, &jwk) < 0)
                abort();
        doc = json_pack("{s:[o]}", "keys", jwk);
        if (!doc || jwks_parse(doc, &keys) < 0)
                abort();
        text = json_dumps(doc, JSON_COMPACT);
        if (!text)
                abort();
        snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", fuzz_tmpdir());
        fuzz_write_file(jwks_path, text, strlen(text));
        free(text);
        json_decref(doc);
        return 0;
}

/* Verification either fails or hands out both parts. */
static void verify(const char *token, const jwks *set) {
        json_t *header = NULL, *payload = NULL;
        int r = jws_verify(token, set, &header, &payload);

        if (r == 0 && (!json_is_object(header) || !json_is_object(payload)))
                abort();
        if (r == 0 && strcmp(json_string_value(json_object_get(header, "alg")) ?: "", "EdDSA") != 0)
                abort(); /* the algorithm is pinned */
        json_decref(header);
        json_decref(payload);
}

static void parse_jwks(const char *text, size_t len, const char *token) {
        json_t *doc = json_loadb(text, len, 0, NULL);
        jwks *set = NULL;

        if (doc && jwks_parse(doc, &set) == 0) {
                (void) jwks_count(set);
                (void) jwks_find(set, kid);
                if (token)
                        verify(token, set);
        }
        jwks_free(set);
        json_decref(doc);
}

static void sign_and_check(const uint8_t *data, size_t size) {
        json_t *payload = json_loadb((const char *) data, size, 0, NULL);
        enrich_claims *claims = NULL;
        char *token = NULL;

        if (json_is_object(payload) && jws_sign(key, kid, "enrich+jwt", payload, &token) == 0) {
                verify(token, keys);
                if (enrich_claims_verify(token, jwks_path, &claims) == ENRICH_OK) {
                        (void) enrich_claims_has_scope(claims, "s:read");
                        (void) enrich_claims_in_group(claims, "g");
                        for (size_t i = 0; i < enrich_claims_amr_count(claims); i++)
                                (void) enrich_claims_amr(claims, i);
                        for (size_t i = 0; i < enrich_claims_group_count(claims); i++)
                                (void) enrich_claims_group(claims, i);
                        (void) enrich_claims_subject(claims);
                        (void) enrich_claims_tenant(claims);
                        (void) enrich_claims_expiry(claims);
                }
                enrich_claims_free(claims);
        }
        free(token);
        json_decref(payload);
}

typedef struct dumped {
        char *text;
        size_t len;
} dumped;

static int append(const char *chunk, size_t size, void *userdata) {
        dumped *d = userdata;
        char *grown = realloc(d->text, d->len + size + 1);

        if (!grown)
                return -1;
        memcpy(grown + d->len, chunk, size);
        d->text = grown;
        d->len += size;
        return 0;
}

/* dump_plain_json writes jansson's bytes, or leaves the value to it. */
static void dump_as_jansson(const json_t *value) {
        dumped d = { NULL, 0 };
        char *reference = json_dumps(value, JSON_COMPACT);
        int r = dump_plain_json(value, append, &d);

        if (r == 0 && (!reference || d.len != strlen(reference) || memcmp(d.text, reference, d.len) != 0))
                abort();
        if (r < 0 && r != -EAGAIN && r != -ENOBUFS)
                abort();
        free(d.text);
        free(reference);
}

/* The fast parser of JWS parts gives jansson's answer (with duplicates
 * refused) on every input: the same object, or none. */
static void parse_as_jansson(const uint8_t *data, size_t size) {
        json_t *fast = parse_json_object((const char *) data, size);
        json_t *reference = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);

        if (!json_is_object(reference)) {
                json_decref(reference);
                reference = NULL;
        }
        if (!fast != !reference || (fast && !json_equal(fast, reference)))
                abort();
        if (reference)
                dump_as_jansson(reference);
        json_decref(fast);
        json_decref(reference);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *whole = fuzz_strndup(data, size), *newline;
        json_t *header = NULL, *payload = NULL;
        enrich_claims *claims = NULL;

        verify(whole, keys);
        (void) jws_decode_unverified(whole, &header, &payload);
        json_decref(header);
        json_decref(payload);
        if (enrich_claims_verify(whole, jwks_path, &claims) == ENRICH_OK)
                (void) enrich_claims_scope(claims);
        enrich_claims_free(claims);
        parse_jwks((const char *) data, size, NULL);
        newline = memchr(whole, '\n', strlen(whole));
        if (newline)
                parse_jwks(whole, (size_t) (newline - whole), newline + 1);
        sign_and_check(data, size);
        parse_as_jansson(data, size);
        free(whole);
        return 0;
}
