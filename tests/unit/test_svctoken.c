/* test_svctoken.c: the service-account token format shared by enrichctl and
 * the PAM module: what counts as a token (and what is a password), the
 * verifier, and fresh secrets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "svctoken.h"
#include "tap.h"

int main(void)
{
        char secret[SVCTOKEN_SECRET_LENGTH + 1], other[SVCTOKEN_SECRET_LENGTH + 1];
        char token[SVCTOKEN_LENGTH + 1], id[SVCTOKEN_ID_LENGTH + 1];
        char v1[SVCTOKEN_VERIFIER_LENGTH + 1], v2[SVCTOKEN_VERIFIER_LENGTH + 1];

        CHECK(svctoken_new_secret(secret) == 0 && strlen(secret) == SVCTOKEN_SECRET_LENGTH, "svctoken-secret-length");
        CHECK(svctoken_new_secret(other) == 0 && strcmp(secret, other) != 0, "svctoken-secrets-differ");
        CHECK(svctoken_format("0123456789abcdef", secret, token) == 0 && strncmp(token, "enr_0123456789abcdef_", 21) == 0,
              "svctoken-format");
        CHECK(svctoken_parse(token, id, v1) == 0 && strcmp(id, "0123456789abcdef") == 0, "svctoken-parse");
        CHECK(svctoken_verifier(secret, strlen(secret), v2) == 0 && strcmp(v1, v2) == 0 &&
              svctoken_valid_verifier(v1), "svctoken-verifier-matches");
        CHECK(strstr(v1, secret) == NULL && strcmp(v1, secret) != 0, "svctoken-verifier-is-not-the-secret");
        CHECK(svctoken_verifier(other, strlen(other), v2) == 0 && strcmp(v1, v2) != 0, "svctoken-verifier-differs");
        /* Passwords, and anything near the form, are someone else's. */
        CHECK(svctoken_parse("hunter2", id, v1) == -EINVAL, "svctoken-password-not-token");
        CHECK(svctoken_parse("", id, v1) == -EINVAL, "svctoken-empty-not-token");
        token[4] = 'G';
        CHECK(svctoken_parse(token, id, v1) == -EINVAL, "svctoken-bad-id-not-token");
        token[4] = '0';
        token[SVCTOKEN_LENGTH - 1] = '!';
        CHECK(svctoken_parse(token, id, v1) == -EINVAL, "svctoken-bad-secret-not-token");
        token[SVCTOKEN_LENGTH - 1] = '\0';
        CHECK(svctoken_parse(token, id, v1) == -EINVAL, "svctoken-short-not-token");
        CHECK(svctoken_format("0123456789ABCDEF", secret, token) == -EINVAL, "svctoken-format-refuses-bad-id");
        TAP_EXIT();
}
