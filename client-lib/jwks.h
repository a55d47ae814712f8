/* jwks.h: Ed25519 public key sets (RFC 7517 / RFC 8037) and key ids. */
#pragma once
#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

typedef struct jwks jwks;

/* A set with more keys than this is refused as malformed. */
#define JWKS_MAX_KEYS 64

/* Parses {"keys":[...]}; keys that are not OKP/Ed25519 are skipped.
 * -EBADMSG when the document is malformed. */
int jwks_parse(json_t *document, jwks **ret);
/* Reads and parses a JWKS file. -ENOENT, -EACCES, -EBADMSG, ... */
int jwks_load_file(const char *path, jwks **ret);
/* The same from an open file, from its current offset. */
int jwks_load_fd(int fd, jwks **ret);
/* Borrowed key for kid, or NULL. */
EVP_PKEY *jwks_find(const jwks *set, const char *kid);
size_t jwks_count(const jwks *set);
void jwks_free(jwks *set);

/* The public JWK object for an Ed25519 key ({"kty":"OKP",...,"kid":kid}). */
int jwk_from_key(EVP_PKEY *key, const char *kid, json_t **ret);
/* RFC 7638 thumbprint of the public key, base64url: used as kid. */
int jwk_thumbprint(EVP_PKEY *key, char **ret);
/* The same from the JWK's "x" (base64url of the 32-byte public key):
 * -EINVAL when x is not one. */
int jwk_thumbprint_x(const char *x, char **ret);
