/* svctoken.h: the service-account token format "enr_<id>_<secret>", shared
 * by enrichctl (which makes tokens) and the PAM module (which presents them).
 * The secret exists only there: what travels to enrichd is its verifier,
 * SHA-256 of the secret, from which no usable token can be rebuilt. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define SVCTOKEN_PREFIX          "enr_"
#define SVCTOKEN_ID_LENGTH       16     /* lowercase hex digits */
#define SVCTOKEN_SECRET_BYTES    32     /* 256 bits from the OpenSSL RNG */
#define SVCTOKEN_SECRET_LENGTH   43     /* base64url of SVCTOKEN_SECRET_BYTES */
#define SVCTOKEN_VERIFIER_LENGTH 43     /* base64url of a SHA-256 digest */
#define SVCTOKEN_LENGTH          (4 + SVCTOKEN_ID_LENGTH + 1 + SVCTOKEN_SECRET_LENGTH)

/* A token id: exactly SVCTOKEN_ID_LENGTH lowercase hex digits. */
bool svctoken_valid_id(const char *id);
/* A verifier as svctoken_verifier() writes it: 43 base64url characters. */
bool svctoken_valid_verifier(const char *verifier);

/* Splits text when it has the token form exactly, writing the id and the
 * secret's verifier; the secret itself is never copied. -EINVAL when text
 * is not a token (a password, say): the caller lets others handle it. */
int svctoken_parse(const char *text, char id[SVCTOKEN_ID_LENGTH + 1], char verifier[SVCTOKEN_VERIFIER_LENGTH + 1]);

/* A new random secret (RAND_bytes, base64url) into secret; wipe it with
 * explicit_bzero when done. 0 or -EIO. */
int svctoken_new_secret(char secret[SVCTOKEN_SECRET_LENGTH + 1]);

/* The verifier of a secret of len bytes: base64url(SHA-256(domain || secret)). */
int svctoken_verifier(const char *secret, size_t len, char verifier[SVCTOKEN_VERIFIER_LENGTH + 1]);

/* Writes "enr_<id>_<secret>" into token. -EINVAL on a malformed part. */
int svctoken_format(const char *id, const char *secret, char token[SVCTOKEN_LENGTH + 1]);
