/* svctoken.c: service-account token format, secret generation and the
 * verifier that stands in for the secret on the wire (see svctoken.h). */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64url.h"
#include "svctoken.h"
#include "util.h"

/* Domain separation: a verifier is never the hash of anything else. */
static const char verifier_domain[] = "enrich-token-v1:";

static const char base64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool svctoken_valid_id(const char *id) {
        return id && strlen(id) == SVCTOKEN_ID_LENGTH && strspn(id, "0123456789abcdef") == SVCTOKEN_ID_LENGTH;
}

bool svctoken_valid_verifier(const char *verifier) {
        return verifier && strlen(verifier) == SVCTOKEN_VERIFIER_LENGTH &&
               strspn(verifier, base64url_alphabet) == SVCTOKEN_VERIFIER_LENGTH;
}

/* Copies a malloc'd base64url text of exactly length characters into out,
 * then wipes and frees it. */
static int take_text(char *text, size_t length, char *out) {
        int r = 0;

        if (strlen(text) != length)
                r = -EINVAL;
        else
                memcpy(out, text, length + 1);
        free_secret(text, strlen(text));
        return r;
}

int svctoken_verifier(const char *secret, size_t len, char verifier[SVCTOKEN_VERIFIER_LENGTH + 1]) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digest_len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        char *text = NULL;
        int r = -EIO;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, verifier_domain, sizeof verifier_domain - 1) != 1 ||
            EVP_DigestUpdate(ctx, secret, len) != 1 || EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1)
                goto out;
        r = b64url_encode(digest, digest_len, &text);
        if (r < 0)
                goto out;
        r = take_text(text, SVCTOKEN_VERIFIER_LENGTH, verifier);
out:
        OPENSSL_cleanse(digest, sizeof digest);
        EVP_MD_CTX_free(ctx);
        return r;
}

int svctoken_parse(const char *text, char id[SVCTOKEN_ID_LENGTH + 1], char verifier[SVCTOKEN_VERIFIER_LENGTH + 1]) {
        const char *secret;
        char candidate[SVCTOKEN_ID_LENGTH + 1];

        if (!text || strlen(text) != SVCTOKEN_LENGTH || strncmp(text, SVCTOKEN_PREFIX, 4) != 0)
                return -EINVAL;
        memcpy(candidate, text + 4, SVCTOKEN_ID_LENGTH);
        candidate[SVCTOKEN_ID_LENGTH] = '\0';
        secret = text + 4 + SVCTOKEN_ID_LENGTH + 1;
        if (!svctoken_valid_id(candidate) || text[4 + SVCTOKEN_ID_LENGTH] != '_' ||
            strspn(secret, base64url_alphabet) != SVCTOKEN_SECRET_LENGTH)
                return -EINVAL;
        memcpy(id, candidate, sizeof candidate);
        return svctoken_verifier(secret, SVCTOKEN_SECRET_LENGTH, verifier);
}

int svctoken_new_secret(char secret[SVCTOKEN_SECRET_LENGTH + 1]) {
        unsigned char bytes[SVCTOKEN_SECRET_BYTES];
        char *text = NULL;
        int r = -EIO;

        if (RAND_bytes(bytes, sizeof bytes) != 1)
                goto out;
        r = b64url_encode(bytes, sizeof bytes, &text);
        if (r < 0)
                goto out;
        r = take_text(text, SVCTOKEN_SECRET_LENGTH, secret);
out:
        OPENSSL_cleanse(bytes, sizeof bytes);
        return r;
}

int svctoken_format(const char *id, const char *secret, char token[SVCTOKEN_LENGTH + 1]) {
        if (!svctoken_valid_id(id) || !secret || strlen(secret) != SVCTOKEN_SECRET_LENGTH ||
            strspn(secret, base64url_alphabet) != SVCTOKEN_SECRET_LENGTH)
                return -EINVAL;
        memcpy(token, SVCTOKEN_PREFIX, 4);
        memcpy(token + 4, id, SVCTOKEN_ID_LENGTH);
        token[4 + SVCTOKEN_ID_LENGTH] = '_';
        memcpy(token + 4 + SVCTOKEN_ID_LENGTH + 1, secret, SVCTOKEN_SECRET_LENGTH + 1);
        return 0;
}
