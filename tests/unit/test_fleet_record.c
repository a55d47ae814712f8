/* test_fleet_record.c: the checks every host runs on a fleet record before
 * storing it (daemon/fleet_record.c): only an issuer's signature of typ
 * enrich-fleet+jwt passes, a grant's fields are decoded and bounded, an
 * enrolment names its own host and keys whose kid is their thumbprint,
 * and an endorsement counts only signed by an enrolled key, for its host,
 * not older than the enrolment. */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>

#include "fleet.h"
#include "fleet_record.h"
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

static json_t *grant_payload(void) {
        return json_pack("{s:s, s:s, s:[s], s:[s, s], s:[s], s:s, s:s, s:i, s:i}", "id", "g1", "user", "alice",
                         "groups", "jit", "scopes", "db:read", "db:write", "hosts", "web", "reason", "ticket 7",
                         "grantedBy", "admin", "created", 1000, "expires", 2000);
}

/* The result of fleet_record_grant on payload with key set to value
 * (NULL: deleted). */
static int decode_with(const char *key, json_t *value) {
        json_t *p = grant_payload();
        fleet_grant_record g = { 0 };
        int r;

        if (value)
                json_object_set_new(p, key, value);
        else
                json_object_del(p, key);
        r = fleet_record_grant(p, "g1", &g);
        fleet_grant_record_clear(&g);
        json_decref(p);
        return r;
}

/* The public x of key (malloc'd). */
static char *x_of(EVP_PKEY *key, const char *kid) {
        json_t *jwk = NULL;
        char *x = NULL;

        if (jwk_from_key(key, kid, &jwk) == 0)
                x = strdup(json_string_value(json_object_get(jwk, "x")));
        json_decref(jwk);
        return x;
}

/* The enrolment and endorsement checks: enrolled is enrolled's key (kid
 * enrolled_kid), next the key a rotation made, stranger no one's. */
static void enrolment_checks(EVP_PKEY *enrolled, const char *enrolled_kid, EVP_PKEY *next, EVP_PKEY *stranger) {
        char *next_kid = NULL, *stranger_kid = NULL, *ex = x_of(enrolled, enrolled_kid), *nx, *sx, *token = NULL,
             *by = NULL;
        json_t *enrolment, *keys = NULL, *endorsement, *got = NULL, *doc;
        jwks *set = NULL;
        const char *why = NULL;
        int64_t at = 0, since = 0;

        jwk_thumbprint(next, &next_kid);
        jwk_thumbprint(stranger, &stranger_kid);
        nx = x_of(next, next_kid);
        sx = x_of(stranger, stranger_kid);
        enrolment = json_pack("{s:s, s:[{s:s, s:s}], s:i}", "hostId", "web-01", "keys", "kid", enrolled_kid, "x", ex,
                              "at", 1000);
        CHECK(fleet_record_enrolment(enrolment, "web-01", &keys, &at, &since, &why) == 0 && at == 1000 &&
                      since == 1000 && json_object_size(keys) == 1 &&
                      strcmp(json_string_value(json_object_get(keys, enrolled_kid)) ?: "", ex) == 0,
              "fleet enrolment decodes its keys (kid -> x) and time");
        json_decref(keys);
        keys = NULL;
        CHECK(fleet_record_enrolment(enrolment, "web-02", &keys, &at, &since, &why) == -EINVAL && !keys &&
                      strstr(why, "another host id"),
              "fleet enrolment under another host's key is refused");
        json_object_set_new(enrolment, "endorsedSince", json_integer(500));
        CHECK(fleet_record_enrolment(enrolment, "web-01", &keys, &at, &since, &why) == 0 && since == 500,
              "fleet enrolment renewed keeps when its endorsements count from");
        json_decref(keys);
        keys = NULL;
        json_object_set_new(enrolment, "endorsedSince", json_integer(1001));
        CHECK(fleet_record_enrolment(enrolment, "web-01", &keys, &at, &since, &why) == -EINVAL && !keys,
              "fleet enrolment whose endorsements count from after it is refused");
        json_object_del(enrolment, "endorsedSince");
        json_object_set_new(json_array_get(json_object_get(enrolment, "keys"), 0), "x", json_string(sx));
        CHECK(fleet_record_enrolment(enrolment, "web-01", &keys, &at, &since, &why) == -EINVAL && !keys &&
                      strstr(why, "thumbprint"),
              "fleet enrolment whose kid is not its x's thumbprint is refused");
        json_object_set_new(enrolment, "keys", json_array());
        CHECK(fleet_record_enrolment(enrolment, "web-01", &keys, &at, &since, &why) == -EINVAL && !keys,
              "fleet enrolment without keys is refused");
        json_decref(enrolment);
        enrolment = json_pack("{s:s, s:[{s:s, s:s}]}", "hostId", "web-01", "keys", "kid", enrolled_kid, "x", ex);
        CHECK(fleet_record_enrolment(enrolment, "web-01", &keys, &at, &since, &why) == -EINVAL && !keys,
              "fleet enrolment without its time is refused");
        json_decref(enrolment);

        doc = json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "keys", "kty", "OKP", "crv", "Ed25519", "x", ex, "kid",
                        enrolled_kid);
        jwks_parse(doc, &set);
        json_decref(doc);
        endorsement = json_pack("{s:s, s:s, s:s, s:i}", "hostId", "web-01", "kid", next_kid, "x", nx, "at", 2000);
        CHECK(jws_sign(enrolled, enrolled_kid, FLEET_ENDORSEMENT_TYPE, endorsement, &token) == 0 &&
                      fleet_endorsement_verify(set, token, "web-01", 1000, &got, &by, &why) == 0 &&
                      strcmp(json_string_value(json_object_get(got, "kid")), next_kid) == 0 && by &&
                      strcmp(by, enrolled_kid) == 0,
              "fleet endorsement by an enrolled key verifies, naming its signer");
        json_decref(got);
        got = NULL;
        free(by);
        by = NULL;
        CHECK(fleet_endorsement_verify(set, token, "web-02", 1000, &got, &by, &why) == -EINVAL && !got &&
                      strstr(why, "another host id"),
              "fleet endorsement for another host is refused");
        CHECK(fleet_endorsement_verify(set, token, "web-01", 3000, &got, &by, &why) == -ESTALE && !got &&
                      strstr(why, "older than"),
              "fleet endorsement older than the enrolment is refused");
        free(token);
        token = NULL;
        CHECK(jws_sign(next, next_kid, FLEET_ENDORSEMENT_TYPE, endorsement, &token) == 0 &&
                      fleet_endorsement_verify(set, token, "web-01", 1000, &got, &by, &why) == -ENOKEY && !got,
              "fleet endorsement by a key not enrolled vouches for nothing");
        free(token);
        token = NULL;
        CHECK(jws_sign(stranger, enrolled_kid, FLEET_ENDORSEMENT_TYPE, endorsement, &token) == 0 &&
                      fleet_endorsement_verify(set, token, "web-01", 1000, &got, &by, &why) == -EKEYREJECTED && !got,
              "fleet endorsement forged under the enrolled kid is refused");
        free(token);
        token = NULL;
        CHECK(jws_sign(enrolled, enrolled_kid, FLEET_RECORD_TYPE, endorsement, &token) == 0 &&
                      fleet_endorsement_verify(set, token, "web-01", 1000, &got, &by, &why) == -EPROTO && !got,
              "fleet endorsement of another typ (a fleet record) is refused");
        free(token);
        token = NULL;
        json_object_set_new(endorsement, "x", json_string(sx));
        CHECK(jws_sign(enrolled, enrolled_kid, FLEET_ENDORSEMENT_TYPE, endorsement, &token) == 0 &&
                      fleet_endorsement_verify(set, token, "web-01", 1000, &got, &by, &why) == -EINVAL && !got &&
                      strstr(why, "thumbprint"),
              "fleet endorsement whose kid is not its x's thumbprint is refused");
        CHECK(fleet_endorsement_verify(set, "not.a.jws", "web-01", 1000, &got, &by, &why) == -EBADMSG && !got,
              "fleet endorsement that is no JWS is refused");
        free(token);
        json_decref(endorsement);
        jwks_free(set);
        free(ex);
        free(nx);
        free(sx);
        free(next_kid);
        free(stranger_kid);
}

int main(void) {
        EVP_PKEY *issuer = new_key(), *stranger = new_key();
        char *kid = NULL, *stranger_kid = NULL, *token = NULL, *got_kid = NULL;
        json_t *issuer_jwk = NULL, *doc, *payload = grant_payload(), *got = NULL, *scopes;
        jwks *issuers = NULL;
        fleet_grant_record g = { 0 };
        const char *why = NULL;

        CHECK(issuer && stranger && jwk_thumbprint(issuer, &kid) == 0 && jwk_thumbprint(stranger, &stranger_kid) == 0 &&
                      jwk_from_key(issuer, kid, &issuer_jwk) == 0,
              "fleet record keys");
        doc = json_pack("{s:[o]}", "keys", issuer_jwk);
        CHECK(jwks_parse(doc, &issuers) == 0, "fleet record issuers parse");
        json_decref(doc);

        CHECK(jws_sign(issuer, kid, FLEET_RECORD_TYPE, payload, &token) == 0 &&
                      fleet_record_verify(issuers, token, &got, &got_kid, &why) == 0 && json_equal(got, payload) &&
                      got_kid && strcmp(got_kid, kid) == 0,
              "fleet record signed by an issuer verifies, payload intact, its kid given");
        free(got_kid);
        CHECK(fleet_record_grant(got, "g1", &g) == 0 && strcmp(g.user, "alice") == 0 && g.expires == 2000 &&
                      g.created == 1000 && strv_length(g.scopes) == 2 && strcmp(g.scopes[1], "db:write") == 0 &&
                      strv_length(g.groups) == 1 && strv_length(g.hosts) == 1 && strcmp(g.hosts[0], "web") == 0 &&
                      !g.tenant,
              "fleet grant record decodes every field");
        fleet_grant_record_clear(&g);
        fleet_grant_record_clear(&g);
        fleet_grant_record_clear(NULL);
        json_decref(got);
        got = NULL;
        free(token);
        token = NULL;

        CHECK(jws_sign(issuer, kid, "enrich+jwt", payload, &token) == 0 &&
                      fleet_record_verify(issuers, token, &got, NULL, &why) == -EPROTO && !got && strstr(why, "typ"),
              "fleet record of another typ (a claims token) is refused");
        json_decref(got);
        got = NULL;
        free(token);
        token = NULL;
        CHECK(jws_sign(stranger, stranger_kid, FLEET_RECORD_TYPE, payload, &token) == 0 &&
                      fleet_record_verify(issuers, token, &got, NULL, &why) == -ENOKEY && !got,
              "fleet record signed by a key that is no issuer is refused");
        json_decref(got);
        got = NULL;
        free(token);
        token = NULL;
        CHECK(jws_sign(stranger, kid, FLEET_RECORD_TYPE, payload, &token) == 0 &&
                      fleet_record_verify(issuers, token, &got, NULL, &why) == -EKEYREJECTED && !got,
              "fleet record signed by another key under the issuer's kid is refused");
        json_decref(got);
        got = NULL;
        CHECK(fleet_record_verify(issuers, "{\"id\":\"g1\"}", &got, NULL, &why) == -EBADMSG && !got,
              "fleet record in plain JSON is refused");
        json_decref(got);

        CHECK(fleet_record_grant(payload, "g2", &g) == -EINVAL, "fleet grant under another id's key is refused");
        CHECK(decode_with("user", NULL) == -EINVAL, "fleet grant without user is refused");
        CHECK(decode_with("grantedBy", NULL) == -EINVAL, "fleet grant without grantedBy is refused");
        CHECK(decode_with("expires", json_integer(0)) == -EINVAL, "fleet grant without expiry is refused");
        CHECK(decode_with("scopes", json_string("db:read")) == -EINVAL,
              "fleet grant whose scopes are no list is refused");
        CHECK(decode_with("hosts", json_pack("[i]", 7)) == -EINVAL,
              "fleet grant with a label that is no string is refused");
        scopes = json_array();
        for (int i = 0; i <= GRANTS_MAX_VALUES; i++)
                json_array_append_new(scopes, json_sprintf("s:%d", i));
        CHECK(decode_with("scopes", scopes) == -EINVAL, "fleet grant with too many scopes is refused");
        CHECK(decode_with("groups", NULL) == 0, "fleet grant without groups has none");

        /* A revocation: its id and kind as its key says; a grant record
         * moved under revoked/ is none. */
        {
                fleet_revocation_record v = { 0 };
                json_t *rev = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s}", "id", "g1", "kind", "grant", "revoked",
                                        (json_int_t) 1000, "revokedBy", "root", "expires", (json_int_t) 2000, "issuer",
                                        "host-a");
                CHECK(fleet_record_revocation(rev, "grant", "g1", &v) == 0 && v.expires == 2000 && v.revoked == 1000 &&
                              strcmp(v.revoked_by, "root") == 0 && strcmp(v.issuer, "host-a") == 0,
                      "fleet revocation decodes");
                CHECK(fleet_record_revocation(rev, "grant", "g2", &v) == -EINVAL,
                      "fleet revocation under another id's key is refused");
                CHECK(fleet_record_revocation(rev, "token", "g1", &v) == -EINVAL,
                      "fleet revocation of a grant under revoked/tokens/ is refused");
                CHECK(fleet_record_revocation(payload, "grant", "g1", &v) == -EINVAL,
                      "a grant record under revoked/grants/ is no revocation");
                json_object_set_new(rev, "revokedBy", json_string("root\x1b[2J"));
                CHECK(fleet_record_revocation(rev, "grant", "g1", &v) == -EINVAL,
                      "fleet revocation whose author holds control characters is refused");
                json_object_set_new(rev, "revokedBy", json_string("root"));
                json_object_set_new(rev, "expires", json_integer(0));
                CHECK(fleet_record_revocation(rev, "grant", "g1", &v) == -EINVAL,
                      "fleet revocation without expiry is refused");
                json_decref(rev);
        }
        {
                EVP_PKEY *next = new_key();
                enrolment_checks(issuer, kid, next, stranger);
                EVP_PKEY_free(next);
        }

        free(token);
        free(kid);
        free(stranger_kid);
        json_decref(payload);
        jwks_free(issuers);
        EVP_PKEY_free(issuer);
        EVP_PKEY_free(stranger);
        TAP_EXIT();
}
