/* jws.h: compact JWS (RFC 7515) signed with Ed25519 through OpenSSL EVP.
 * The algorithm is pinned to EdDSA: no other "alg" is ever accepted. */
#pragma once
#include <jansson.h>
#include <openssl/evp.h>
#include "jwks.h"

/* Largest token we sign or accept. */
#define JWS_MAX_TOKEN (16 * 1024)

/* Signs payload with header {"alg":"EdDSA","typ":typ,"kid":kid}.
 * *ret is a malloc'd NUL-terminated compact token. */
int jws_sign(EVP_PKEY *key, const char *kid, const char *typ, json_t *payload, char **ret);
/* The same for a payload already serialized (a JSON object's text, signed
 * byte for byte as given), so a caller that also stores the text encodes
 * it once. */
int jws_sign_text(EVP_PKEY *key, const char *kid, const char *typ, const char *payload, char **ret);

/* Verifies token against keys. On success *ret_header / *ret_payload (each
 * optional) are new references. Errors:
 *   -EBADMSG      not three base64url parts of JSON objects, or too long
 *   -EPROTO       alg is not EdDSA
 *   -ENOKEY       kid missing or not in keys
 *   -EKEYREJECTED signature does not verify */
int jws_verify(const char *token, const jwks *keys, json_t **ret_header, json_t **ret_payload);

/* A verifier for one key, for jws_verify_with(): the EVP context is set up
 * once and copied for each signature. Used by one thread at a time. */
typedef struct jws_verifier jws_verifier;
int jws_verifier_new(EVP_PKEY *key, jws_verifier **ret);
void jws_verifier_free(jws_verifier *v);
/* jws_verify for a token whose header the caller has already checked: its
 * header segment is byte for byte that of a token jws_verify accepted with
 * the verifier's key (every token one key signs has the same header text),
 * so only the payload is decoded and the signature checked. Same errors. */
int jws_verify_with(const char *token, jws_verifier *v, json_t **ret_payload);

/* Decodes header and payload without verifying (for display of a token that
 * failed to verify). Same -EBADMSG rules. */
int jws_decode_unverified(const char *token, json_t **ret_header, json_t **ret_payload);
