/* b64url.c: base64url without padding (RFC 4648 section 5).
 * OpenSSL's EVP_EncodeBlock encodes (this file translates the alphabet and
 * drops the padding); decoding is a table lookup of its own. */
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

/* One more than the value of each base64url character; 0 for anything
 * else (including '+', '/', '=' and whitespace, which are not in the url
 * alphabet). */
static const uint8_t decode_table[256] = {
        ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
        ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
        ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
        ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
        ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
        ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
        ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

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
                uint8_t v = decode_table[in[i]];

                if (v == 0)
                        break;
                acc = (acc << 6) | (uint32_t) (v - 1);
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
