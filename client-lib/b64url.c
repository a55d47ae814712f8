/* b64url.c: base64url without padding (RFC 4648 section 5).
 * OpenSSL's EVP_EncodeBlock encodes (this file translates the alphabet and
 * drops the padding); decoding is a loop of its own. */
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

/* The value of a base64url character; -1 for anything else (including
 * '+', '/', '=' and whitespace, which are not in the url alphabet). */
static int value_of(uint8_t c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* Decoded in one pass with no copy of the input: this runs three times per
 * token verified, on the path every libenrich caller waits for. */
int b64url_decode(const char *text, size_t len, uint8_t **ret, size_t *ret_len) {
        const uint8_t *in = (const uint8_t *) text;
        uint8_t *out;
        size_t n = 0, i = 0;
        uint32_t acc = 0;
        unsigned bits = 0;

        if (len % 4 == 1 || len > (size_t) INT32_MAX / 2)
                return -EINVAL;
        out = malloc(len / 4 * 3 + 3);
        if (!out)
                return -ENOMEM;
        for (; i < len; i++) {
                int v = value_of(in[i]);

                if (v < 0)
                        break;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t) (acc >> bits);
                }
        }
        /* A character outside the alphabet, or non-canonical trailing bits
         * (e.g. "QR" for "QQ"): the bits left over must all be zero. */
        if (i < len || (acc & ((1u << bits) - 1)) != 0) {
                free(out);
                return -EINVAL;
        }
        out[n] = '\0';
        *ret = out;
        *ret_len = n;
        return 0;
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
