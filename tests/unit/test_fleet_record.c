/* test_fleet_record.c: the checks every host runs on a fleet record before
 * storing it (daemon/fleet_record.c): only an issuer's signature of typ
 * enrich-fleet+jwt passes, and a grant's fields are decoded and bounded. */
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

        free(token);
        free(kid);
        free(stranger_kid);
        json_decref(payload);
        jwks_free(issuers);
        EVP_PKEY_free(issuer);
        EVP_PKEY_free(stranger);
        TAP_EXIT();
}
