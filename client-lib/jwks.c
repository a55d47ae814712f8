/* jwks.c: Ed25519 public key sets (RFC 7517, RFC 8037) and RFC 7638 key ids.
 * The JWKS is the only way verifiers learn the daemon's public keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "jwks.h"
#include "util.h"

/* A JWKS larger than this is not ours. Key rotation keeps a handful. */
#define JWKS_MAX_BYTES (256 * 1024)

struct jwk_entry {
        char *kid;
        EVP_PKEY *key;
};

struct jwks {
        struct jwk_entry *keys;
        size_t n;
};

void jwks_free(jwks *set) {
        if (!set)
                return;
        for (size_t i = 0; i < set->n; i++) {
                free(set->keys[i].kid);
                EVP_PKEY_free(set->keys[i].key);
        }
        free(set->keys);
        free(set);
}

/* Returns 1 and a new key for an OKP/Ed25519 JWK, 0 to skip a key of
 * another type, -EBADMSG for a broken Ed25519 entry. */
static int parse_one(json_t *jwk, EVP_PKEY **ret, const char **ret_kid) {
        const char *kty, *crv, *x, *kid, *alg;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        EVP_PKEY *key = NULL;
        int r;

        if (!json_is_object(jwk))
                return -EBADMSG;
        kty = json_string_value(json_object_get(jwk, "kty"));
        crv = json_string_value(json_object_get(jwk, "crv"));
        if (!streq_ptr(kty, "OKP") || !streq_ptr(crv, "Ed25519"))
                return 0;
        alg = json_string_value(json_object_get(jwk, "alg"));
        if (alg && strcmp(alg, "EdDSA") != 0)
                return 0;
        x = json_string_value(json_object_get(jwk, "x"));
        kid = json_string_value(json_object_get(jwk, "kid"));
        if (!x || !kid || !*kid)
                return -EBADMSG;
        r = b64url_decode(x, strlen(x), &raw, &raw_len);
        if (r < 0 || raw_len != 32) {
                r = -EBADMSG;
                goto out;
        }
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, raw_len);
        if (!key) {
                r = -EBADMSG;
                goto out;
        }
        *ret = key;
        key = NULL;
        *ret_kid = kid;
        r = 1;
out:
        free(raw);
        EVP_PKEY_free(key);
        return r;
}

int jwks_parse(json_t *document, jwks **ret) {
        jwks *set = NULL;
        json_t *keys, *jwk;
        size_t i;
        int r;

        keys = json_object_get(document, "keys");
        if (!json_is_array(keys) || json_array_size(keys) > JWKS_MAX_KEYS)
                return -EBADMSG;
        set = calloc(1, sizeof(*set));
        if (!set)
                return -ENOMEM;
        set->keys = calloc(json_array_size(keys) + 1, sizeof(*set->keys));
        if (!set->keys) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(keys, i, jwk) {
                EVP_PKEY *key = NULL;
                const char *kid = NULL;

                r = parse_one(jwk, &key, &kid);
                if (r < 0)
                        goto out;
                if (r == 0)
                        continue;
                set->keys[set->n].kid = strdup(kid);
                set->keys[set->n].key = key;
                if (!set->keys[set->n].kid) {
                        EVP_PKEY_free(key);
                        r = -ENOMEM;
                        goto out;
                }
                set->n++;
        }
        *ret = set;
        set = NULL;
        r = 0;
out:
        jwks_free(set);
        return r;
}

int jwks_load_fd(int fd, jwks **ret) {
        _cleanup_free_ char *text = NULL;
        json_t *doc;
        int r;

        r = read_fd_bounded(fd, JWKS_MAX_BYTES, &text, NULL);
        if (r < 0)
                return r == -EFBIG ? -EBADMSG : r;
        doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (!doc)
                return -EBADMSG;
        r = jwks_parse(doc, ret);
        json_decref(doc);
        return r;
}

int jwks_load_file(const char *path, jwks **ret) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), r;

        if (fd < 0)
                return -errno;
        r = jwks_load_fd(fd, ret);
        close(fd);
        return r;
}

EVP_PKEY *jwks_find(const jwks *set, const char *kid) {
        if (!set || !kid)
                return NULL;
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->keys[i].kid, kid) == 0)
                        return set->keys[i].key;
        return NULL;
}

size_t jwks_count(const jwks *set) {
        return set ? set->n : 0;
}

static int public_x(EVP_PKEY *key, char **ret) {
        uint8_t raw[32];
        size_t len = sizeof(raw);

        if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519)
                return -EINVAL;
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof(raw))
                return -EINVAL;
        return b64url_encode(raw, len, ret);
}

int jwk_from_key(EVP_PKEY *key, const char *kid, json_t **ret) {
        _cleanup_free_ char *x = NULL;
        json_t *jwk;
        int r;

        r = public_x(key, &x);
        if (r < 0)
                return r;
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x, "kid", kid, "alg",
                        "EdDSA", "use", "sig");
        if (!jwk)
                return -ENOMEM;
        *ret = jwk;
        return 0;
}

int jwk_thumbprint(EVP_PKEY *key, char **ret) {
        _cleanup_free_ char *x = NULL;
        int r;

        r = public_x(key, &x);
        if (r < 0)
                return r;
        return jwk_thumbprint_x(x, ret);
}

int jwk_thumbprint_x(const char *x, char **ret) {
        _cleanup_free_ uint8_t *raw = NULL;
        size_t raw_len = 0;
        char canonical[128];
        uint8_t digest[SHA256_DIGEST_LENGTH];
        int n;

        if (!x || b64url_decode(x, strlen(x), &raw, &raw_len) < 0 || raw_len != 32)
                return -EINVAL;
        /* RFC 7638: required members only, sorted, no whitespace. */
        n = snprintf(canonical, sizeof(canonical), "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
        if (n < 0 || (size_t) n >= sizeof(canonical))
                return -EINVAL;
        if (!EVP_Digest(canonical, (size_t) n, digest, NULL, EVP_sha256(), NULL))
                return -EIO;
        return b64url_encode(digest, sizeof(digest), ret);
}
