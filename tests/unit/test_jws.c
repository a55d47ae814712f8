/* test_jws.c: JWS sign/verify round trip with Ed25519, detection of every
 * kind of tampering, the RFC 8037 vectors, and JWKS parsing. */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "jwks.h"
#include "jws.h"
#include "tap.h"

static EVP_PKEY *new_key(void) {
        EVP_PKEY *key = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

        if (ctx && EVP_PKEY_keygen_init(ctx) == 1)
                EVP_PKEY_keygen(ctx, &key);
        EVP_PKEY_CTX_free(ctx);
        return key;
}

static jwks *jwks_of(EVP_PKEY *key, const char *kid) {
        json_t *jwk = NULL, *doc;
        jwks *set = NULL;

        if (jwk_from_key(key, kid, &jwk) < 0)
                return NULL;
        doc = json_pack("{s:[o]}", "keys", jwk);
        jwks_parse(doc, &set);
        json_decref(doc);
        return set;
}

/* Replaces part `index` (0 header, 1 payload, 2 signature) of token. */
static char *replace_part(const char *token, int index, const char *part) {
        char *copy = strdup(token), *parts[3], *out = NULL, *save = NULL;

        parts[0] = strtok_r(copy, ".", &save);
        parts[1] = strtok_r(NULL, ".", &save);
        parts[2] = strtok_r(NULL, ".", &save);
        parts[index] = (char *) part;
        if (asprintf(&out, "%s.%s.%s", parts[0], parts[1], parts[2]) < 0)
                out = NULL;
        free(copy);
        return out;
}

static char *b64json(const char *json) {
        char *out = NULL;
        b64url_encode(json, strlen(json), &out);
        return out;
}

int main(void) {
        EVP_PKEY *key = new_key(), *other = new_key();
        jwks *set = NULL, *other_set = NULL, *rfc_set = NULL;
        json_t *payload = json_pack("{s:s, s:i}", "sub", "alice", "uid", 1000);
        json_t *got = NULL, *header = NULL;
        char *token = NULL, *kid = NULL, *bad = NULL, *part = NULL;
        char *dot;

        CHECK(key && other, "jws generates Ed25519 keys");
        CHECK(jwk_thumbprint(key, &kid) == 0 && strlen(kid) == 43, "jwk thumbprint is 43 base64url characters");
        set = jwks_of(key, kid);
        other_set = jwks_of(other, kid);
        CHECK(set && jwks_count(set) == 1 && jwks_find(set, kid), "jwks parses its own JWK");

        CHECK(jws_sign(key, kid, "enrich+jwt", payload, &token) == 0, "jws signs");
        CHECK(jws_verify(token, set, &header, &got) == 0, "jws round trip verifies");
        CHECK(got && json_equal(got, payload), "jws round trip keeps the payload");
        CHECK(header && strcmp(json_string_value(json_object_get(header, "alg")), "EdDSA") == 0 &&
                      strcmp(json_string_value(json_object_get(header, "typ")), "enrich+jwt") == 0 &&
                      strcmp(json_string_value(json_object_get(header, "kid")), kid) == 0,
              "jws header carries alg, typ and kid");
        json_decref(got);
        got = NULL;

        CHECK(jws_verify(token, other_set, NULL, NULL) == -EKEYREJECTED, "jws rejects a signature by another key");

        part = b64json("{\"sub\":\"mallory\",\"uid\":0}");
        bad = replace_part(token, 1, part);
        CHECK(jws_verify(bad, set, NULL, NULL) == -EKEYREJECTED, "jws detects a tampered payload");
        free(bad);
        free(part);

        bad = strdup(token);
        dot = strrchr(bad, '.');
        dot[5] = dot[5] == 'A' ? 'B' : 'A';
        CHECK(jws_verify(bad, set, NULL, NULL) == -EKEYREJECTED, "jws detects a tampered signature");
        free(bad);

        {
                char *h = NULL, json[200];
                snprintf(json, sizeof(json), "{\"alg\":\"EdDSA\",\"typ\":\"enrich+jwt\",\"kid\":\"%s\",\"x\":1}", kid);
                h = b64json(json);
                bad = replace_part(token, 0, h);
                CHECK(jws_verify(bad, set, NULL, NULL) == -EKEYREJECTED, "jws detects a tampered header");
                free(bad);
                free(h);
                snprintf(json, sizeof(json), "{\"alg\":\"none\",\"kid\":\"%s\"}", kid);
                h = b64json(json);
                bad = replace_part(token, 0, h);
                CHECK(jws_verify(bad, set, NULL, NULL) == -EPROTO, "jws refuses alg none");
                free(bad);
                free(h);
                snprintf(json, sizeof(json), "{\"alg\":\"HS256\",\"kid\":\"%s\"}", kid);
                h = b64json(json);
                bad = replace_part(token, 0, h);
                CHECK(jws_verify(bad, set, NULL, NULL) == -EPROTO, "jws refuses HS256");
                free(bad);
                free(h);
                h = b64json("{\"alg\":\"EdDSA\",\"kid\":\"nope\"}");
                bad = replace_part(token, 0, h);
                CHECK(jws_verify(bad, set, NULL, NULL) == -ENOKEY, "jws reports an unknown kid");
                free(bad);
                free(h);
        }
        CHECK(jws_verify("abc", set, NULL, NULL) == -EBADMSG, "jws rejects a token without dots");
        CHECK(jws_verify("a.b.c.d", set, NULL, NULL) == -EBADMSG, "jws rejects four parts");
        CHECK(jws_verify("", set, NULL, NULL) == -EBADMSG, "jws rejects an empty token");
        part = b64json("[1,2]");
        bad = replace_part(token, 1, part);
        CHECK(jws_verify(bad, set, NULL, NULL) == -EBADMSG, "jws rejects a payload that is not an object");
        free(bad);
        free(part);

        /* RFC 8037 appendix A: the JWK thumbprint and the EdDSA signature. */
        {
                json_t *doc = json_loads("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                                         "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"kid\":\"rfc\"}]}",
                                         0, NULL);
                static const char input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
                static const char sig64[] =
                        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
                uint8_t *sig = NULL;
                size_t sig_len = 0;
                char *tp = NULL;
                EVP_MD_CTX *ctx = EVP_MD_CTX_new();
                EVP_PKEY *pub;

                CHECK(jwks_parse(doc, &rfc_set) == 0, "jwks parses the RFC 8037 key");
                pub = jwks_find(rfc_set, "rfc");
                CHECK(pub && jwk_thumbprint(pub, &tp) == 0 &&
                              strcmp(tp, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k") == 0,
                      "jwk thumbprint matches RFC 8037 A.3");
                CHECK(pub && b64url_decode(sig64, strlen(sig64), &sig, &sig_len) == 0 &&
                              EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1 &&
                              EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *) input, strlen(input)) == 1,
                      "RFC 8037 A.4 signature verifies with the parsed key");
                free(sig);
                free(tp);
                EVP_MD_CTX_free(ctx);
                json_decref(doc);
        }
        {
                json_t *doc = json_loads(
                        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\",\"kid\":\"k\"}]}", 0, NULL);
                jwks *s = NULL;
                CHECK(jwks_parse(doc, &s) == -EBADMSG, "jwks rejects a short Ed25519 key");
                json_decref(doc);
                doc = json_loads("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"kid\":\"r\"}]}", 0, NULL);
                CHECK(jwks_parse(doc, &s) == 0 && jwks_count(s) == 0, "jwks skips keys of other types");
                jwks_free(s);
                json_decref(doc);
                doc = json_loads("{\"nokeys\":[]}", 0, NULL);
                s = NULL;
                CHECK(jwks_parse(doc, &s) == -EBADMSG && !s, "jwks rejects a document without keys");
                json_decref(doc);
        }

        json_decref(header);
        json_decref(payload);
        free(token);
        free(kid);
        jwks_free(set);
        jwks_free(other_set);
        jwks_free(rfc_set);
        EVP_PKEY_free(key);
        EVP_PKEY_free(other);
        TAP_EXIT();
}
