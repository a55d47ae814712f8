/* jws.c: compact JWS (RFC 7515) with Ed25519 (RFC 8037) through OpenSSL EVP.
 * The algorithm is pinned: a header naming anything but EdDSA is refused
 * before any key is looked at, so "alg":"none" and HMAC confusion can't work. */
#include <errno.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "json_plain.h"
#include "jws.h"
#include "util.h"

static int encode_json(json_t *obj, char **ret) {
        _cleanup_free_ char *text = NULL;

        text = json_dumps(obj, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        return b64url_encode(text, strlen(text), ret);
}

int jws_sign(EVP_PKEY *key, const char *kid, const char *typ, json_t *payload, char **ret) {
        _cleanup_free_ char *text = NULL;

        if (!json_is_object(payload))
                return -EINVAL;
        text = json_dumps(payload, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        return jws_sign_text(key, kid, typ, text, ret);
}

int jws_sign_text(EVP_PKEY *key, const char *kid, const char *typ, const char *payload, char **ret) {
        _cleanup_free_ char *h64 = NULL, *p64 = NULL, *s64 = NULL, *input = NULL;
        json_t *header = NULL;
        EVP_MD_CTX *ctx = NULL;
        uint8_t sig[64];
        size_t sig_len = sizeof(sig);
        char *token;
        int r;

        if (!key || !kid || !typ || !payload)
                return -EINVAL;
        header = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", typ, "kid", kid);
        if (!header) {
                r = -ENOMEM;
                goto out;
        }
        r = encode_json(header, &h64);
        if (r < 0)
                goto out;
        r = b64url_encode(payload, strlen(payload), &p64);
        if (r < 0)
                goto out;
        if (asprintf(&input, "%s.%s", h64, p64) < 0) {
                input = NULL;
                r = -ENOMEM;
                goto out;
        }
        ctx = EVP_MD_CTX_new();
        if (!ctx) {
                r = -ENOMEM;
                goto out;
        }
        if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *) input, strlen(input)) != 1) {
                r = -EIO;
                goto out;
        }
        r = b64url_encode(sig, sig_len, &s64);
        if (r < 0)
                goto out;
        if (strlen(input) + 1 + strlen(s64) > JWS_MAX_TOKEN) {
                r = -EMSGSIZE;
                goto out;
        }
        if (asprintf(&token, "%s.%s", input, s64) < 0) {
                r = -ENOMEM;
                goto out;
        }
        *ret = token;
        r = 0;
out:
        EVP_MD_CTX_free(ctx);
        json_decref(header);
        return r;
}

static int decode_part(const char *text, size_t len, json_t **ret) {
        _cleanup_free_ uint8_t *raw = NULL;
        size_t raw_len = 0;
        json_t *obj;

        if (b64url_decode(text, len, &raw, &raw_len) < 0)
                return -EBADMSG;
        obj = parse_json_object((const char *) raw, raw_len);
        if (!obj)
                return -EBADMSG;
        *ret = obj;
        return 0;
}

/* Splits a token into its three parts; dot1/dot2 point at the separators. */
static int split(const char *token, const char **dot1, const char **dot2) {
        size_t len;

        if (!token)
                return -EBADMSG;
        len = strlen(token);
        if (len == 0 || len > JWS_MAX_TOKEN)
                return -EBADMSG;
        *dot1 = strchr(token, '.');
        if (!*dot1)
                return -EBADMSG;
        *dot2 = strchr(*dot1 + 1, '.');
        if (!*dot2 || strchr(*dot2 + 1, '.'))
                return -EBADMSG;
        return 0;
}

int jws_decode_unverified(const char *token, json_t **ret_header, json_t **ret_payload) {
        const char *dot1, *dot2;
        json_t *header = NULL, *payload = NULL;
        int r;

        r = split(token, &dot1, &dot2);
        if (r < 0)
                return r;
        r = decode_part(token, (size_t) (dot1 - token), &header);
        if (r < 0)
                goto out;
        r = decode_part(dot1 + 1, (size_t) (dot2 - dot1 - 1), &payload);
        if (r < 0)
                goto out;
        if (ret_header) {
                *ret_header = header;
                header = NULL;
        }
        if (ret_payload) {
                *ret_payload = payload;
                payload = NULL;
        }
out:
        json_decref(header);
        json_decref(payload);
        return r;
}

/* The signature over token's signing input (up to dot2) in ctx, set up
 * for the key by EVP_DigestVerifyInit or a copy of such a context. */
static int check_signature_in(const char *token, const char *dot2, EVP_MD_CTX *ctx) {
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;

        if (b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &sig_len) < 0 || sig_len != 64)
                return -EKEYREJECTED;
        if (EVP_DigestVerify(ctx, sig, sig_len, (const uint8_t *) token, (size_t) (dot2 - token)) != 1)
                return -EKEYREJECTED;
        return 0;
}

/* The signature over token's signing input (up to dot2), by key. */
static int check_signature(const char *token, const char *dot2, EVP_PKEY *key) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int r;

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1)
                r = -EKEYREJECTED;
        else
                r = check_signature_in(token, dot2, ctx);
        EVP_MD_CTX_free(ctx);
        return r;
}

int jws_verify(const char *token, const jwks *keys, json_t **ret_header, json_t **ret_payload) {
        const char *dot1, *dot2, *alg, *kid;
        json_t *header = NULL, *payload = NULL;
        EVP_PKEY *key;
        int r;

        r = split(token, &dot1, &dot2);
        if (r < 0)
                return r;
        r = jws_decode_unverified(token, &header, &payload);
        if (r < 0)
                return r;
        alg = json_string_value(json_object_get(header, "alg"));
        if (!streq_ptr(alg, "EdDSA")) {
                r = -EPROTO;
                goto out;
        }
        /* "crit" names extensions we would have to understand: we know none. */
        if (json_object_get(header, "crit")) {
                r = -EPROTO;
                goto out;
        }
        kid = json_string_value(json_object_get(header, "kid"));
        key = jwks_find(keys, kid);
        if (!key) {
                r = -ENOKEY;
                goto out;
        }
        r = check_signature(token, dot2, key);
        if (r < 0)
                goto out;
        if (ret_header) {
                *ret_header = header;
                header = NULL;
        }
        if (ret_payload) {
                *ret_payload = payload;
                payload = NULL;
        }
out:
        json_decref(header);
        json_decref(payload);
        return r;
}

struct jws_verifier {
        EVP_MD_CTX *prepared;   /* EVP_DigestVerifyInit'ed for the key, never used itself */
        EVP_MD_CTX *work;       /* a copy of prepared for each signature */
};

void jws_verifier_free(jws_verifier *v) {
        if (!v)
                return;
        EVP_MD_CTX_free(v->prepared);
        EVP_MD_CTX_free(v->work);
        free(v);
}

int jws_verifier_new(EVP_PKEY *key, jws_verifier **ret) {
        jws_verifier *v;

        if (!key)
                return -EINVAL;
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->prepared = EVP_MD_CTX_new();
        v->work = EVP_MD_CTX_new();
        if (!v->prepared || !v->work) {
                jws_verifier_free(v);
                return -ENOMEM;
        }
        if (EVP_DigestVerifyInit(v->prepared, NULL, NULL, NULL, key) != 1) {
                jws_verifier_free(v);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int jws_verify_with(const char *token, jws_verifier *v, json_t **ret_payload) {
        const char *dot1, *dot2;
        json_t *payload = NULL;
        int r;

        if (!v)
                return -ENOKEY;
        r = split(token, &dot1, &dot2);
        if (r < 0)
                return r;
        r = decode_part(dot1 + 1, (size_t) (dot2 - dot1 - 1), &payload);
        if (r < 0)
                return r;
        /* A one-shot EVP_DigestVerify finalises its context: each
         * signature gets a fresh copy of the prepared one, which costs a
         * fraction of setting one up (EVP_DigestVerifyInit fetches the
         * algorithm from the provider every time). */
        if (EVP_MD_CTX_copy_ex(v->work, v->prepared) != 1)
                r = -ENOMEM;
        else
                r = check_signature_in(token, dot2, v->work);
        if (r == 0 && ret_payload) {
                *ret_payload = payload;
                payload = NULL;
        }
        json_decref(payload);
        return r;
}
