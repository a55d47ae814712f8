/* b64url.c: base64url without padding (RFC 4648 section 5).
 * OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the work; this file only
 * translates the alphabet and the padding, which JWS leaves out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64url.h"

int b64url_encode(const void *data, size_t len, char **ret) {
        char *out;
        size_t n;

        if (len > (size_t) INT32_MAX / 2)
                return -EINVAL;
        out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return -ENOMEM;
        n = (size_t) EVP_EncodeBlock((unsigned char *) out, data, (int) len);
        while (n > 0 && out[n - 1] == '=')
                n--;
        out[n] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (out[i] == '+')
                        out[i] = '-';
                else if (out[i] == '/')
                        out[i] = '_';
        }
        *ret = out;
        return 0;
}

int b64url_decode(const char *text, size_t len, uint8_t **ret, size_t *ret_len) {
        char *std = NULL;
        uint8_t *out = NULL;
        size_t padded, pad;
        int n, r;

        if (len % 4 == 1 || len > (size_t) INT32_MAX / 2)
                return -EINVAL;
        pad = (4 - len % 4) % 4;
        padded = len + pad;
        std = malloc(padded + 1);
        out = malloc(padded / 4 * 3 + 1);
        if (!std || !out) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < len; i++) {
                char c = text[i];
                if (c == '-')
                        c = '+';
                else if (c == '_')
                        c = '/';
                else if (c == '+' || c == '/' || c == '=')
                        c = '!'; /* not in the url alphabet: make it fail */
                std[i] = c;
        }
        memset(std + len, '=', pad);
        std[padded] = '\0';
        n = EVP_DecodeBlock(out, (unsigned char *) std, (int) padded);
        if (n < 0 || (size_t) n < pad) {
                r = -EINVAL;
                goto out;
        }
        /* EVP_DecodeBlock trims leading/trailing whitespace silently; insist
         * on the exact length so such input is refused. */
        if ((size_t) n != padded / 4 * 3) {
                r = -EINVAL;
                goto out;
        }
        n -= (int) pad;
        /* Non-canonical trailing bits (e.g. "QR" for "QQ") are refused too. */
        if (pad > 0) {
                char *check = NULL;
                r = b64url_encode(out, (size_t) n, &check);
                if (r < 0)
                        goto out;
                r = strncmp(check, text, len) == 0 && strlen(check) == len ? 0 : -EINVAL;
                free(check);
                if (r < 0)
                        goto out;
        }
        out[n] = '\0';
        *ret = out;
        out = NULL;
        *ret_len = (size_t) n;
        r = 0;
out:
        free(std);
        free(out);
        return r;
}

int b64url_random_id(size_t bytes, char **ret) {
        unsigned char buf[64];
        char *id = NULL;
        int r;

        if (bytes == 0 || bytes > sizeof(buf))
                return -EINVAL;
        do {
                free(id);
                id = NULL;
                if (RAND_bytes(buf, (int) bytes) != 1)
                        return -EIO;
                r = b64url_encode(buf, bytes, &id);
                if (r < 0)
                        return r;
        } while (id[0] == '-');
        *ret = id;
        return 0;
}
