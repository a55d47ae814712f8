/* verify_token.c: verifies one token with libenrich's enrich_claims_verify,
 * for the abuse suite's forged tokens. Reads the token from stdin, prints
 * the result's error name and message ("ENRICH_E_EXPIRED: Claims have
 * expired", "ENRICH_OK: Success") and exits 0 only when it verifies.
 * usage: verify_token JWKS < TOKEN */
#include <stdio.h>
#include <string.h>
#include "enrich.h"

static const char *const names[_ENRICH_E_MAX] = {
        [ENRICH_OK] = "ENRICH_OK",
        [ENRICH_E_NO_CLAIMS] = "ENRICH_E_NO_CLAIMS",
        [ENRICH_E_EXPIRED] = "ENRICH_E_EXPIRED",
        [ENRICH_E_REVOKED] = "ENRICH_E_REVOKED",
        [ENRICH_E_BAD_SIGNATURE] = "ENRICH_E_BAD_SIGNATURE",
        [ENRICH_E_UNKNOWN_KEY] = "ENRICH_E_UNKNOWN_KEY",
        [ENRICH_E_WRONG_HOST] = "ENRICH_E_WRONG_HOST",
        [ENRICH_E_WRONG_USER] = "ENRICH_E_WRONG_USER",
        [ENRICH_E_WRONG_SESSION] = "ENRICH_E_WRONG_SESSION",
        [ENRICH_E_UNREACHABLE] = "ENRICH_E_UNREACHABLE",
        [ENRICH_E_MALFORMED] = "ENRICH_E_MALFORMED",
        [ENRICH_E_NOT_YET_VALID] = "ENRICH_E_NOT_YET_VALID",
        [ENRICH_E_NO_JWKS] = "ENRICH_E_NO_JWKS",
        [ENRICH_E_NOMEM] = "ENRICH_E_NOMEM",
        [ENRICH_E_SYSTEM] = "ENRICH_E_SYSTEM",
        [ENRICH_E_INVALID] = "ENRICH_E_INVALID",
};

int main(int argc, char **argv) {
        static char token[64 * 1024];
        enrich_claims *claims = NULL;
        size_t n;
        int e;

        if (argc != 2) {
                fprintf(stderr, "usage: verify_token JWKS < TOKEN\n");
                return 2;
        }
        n = fread(token, 1, sizeof token - 1, stdin);
        token[n] = 0;
        token[strcspn(token, "\n")] = 0;
        e = enrich_claims_verify(token, argv[1], &claims);
        printf("%s: %s\n", e >= 0 && e < _ENRICH_E_MAX && names[e] ? names[e] : "unknown", enrich_strerror(e));
        enrich_claims_free(claims);
        return e == ENRICH_OK ? 0 : 1;
}
