/* test_b64url.c: base64url against RFC 4648 and RFC 7515 vectors, and
 * refusal of everything that is not canonical unpadded base64url. */
#include <errno.h>
#include <string.h>

#include "b64url.h"
#include "tap.h"

static int roundtrip(const char *raw, size_t len, const char *expect) {
        char *enc = NULL;
        uint8_t *dec = NULL;
        size_t dec_len = 0;
        int ok;

        ok = b64url_encode(raw, len, &enc) == 0 && strcmp(enc, expect) == 0 &&
             b64url_decode(enc, strlen(enc), &dec, &dec_len) == 0 && dec_len == len && memcmp(dec, raw, len) == 0;
        free(enc);
        free(dec);
        return ok;
}

/* Every string of 2 to 4 characters over the alphabet and a few that are
 * not in it: decoding succeeds exactly when re-encoding gives the string
 * back (canonical), and then gives back the bytes encoded. */
static int decodes_exactly_canonical(void) {
        static const char chars[] = "AQgw_-9+/= .";
        const size_t n_chars = sizeof(chars) - 1;
        char text[5];

        for (size_t len = 2; len <= 4; len++) {
                size_t total = 1;

                for (size_t k = 0; k < len; k++)
                        total *= n_chars;
                for (size_t i = 0; i < total; i++) {
                        uint8_t *dec = NULL;
                        char *enc = NULL;
                        size_t dec_len = 0, v = i;
                        int r, canonical;

                        for (size_t k = 0; k < len; k++, v /= n_chars)
                                text[k] = chars[v % n_chars];
                        text[len] = '\0';
                        r = b64url_decode(text, len, &dec, &dec_len);
                        canonical = r == 0 && b64url_encode(dec, dec_len, &enc) == 0 && strcmp(enc, text) == 0;
                        free(dec);
                        free(enc);
                        if ((r == 0) != canonical || (r != 0 && r != -EINVAL) || (r == 0 && dec_len != len * 3 / 4)) {
                                printf("# \"%s\": decode %d, canonical %d\n", text, r, canonical);
                                return 0;
                        }
                }
        }
        return 1;
}

static int rejects(const char *text) {
        uint8_t *dec = NULL;
        size_t len = 0;
        int r = b64url_decode(text, strlen(text), &dec, &len);

        free(dec);
        return r == -EINVAL;
}

int main(void) {
        static const struct {
                const char *raw, *enc;
        } rfc4648[] = {
                { "", "" },           { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
                { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        };
        static const uint8_t rfc7515[] = { 3, 236, 255, 224, 193 };
        static const uint8_t url_alphabet[] = { 0xfb, 0xff, 0xbf };
        char name[64];

        for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
                snprintf(name, sizeof(name), "b64url RFC 4648 vector \"%s\"", rfc4648[i].raw);
                CHECK(roundtrip(rfc4648[i].raw, strlen(rfc4648[i].raw), rfc4648[i].enc), name);
        }
        CHECK(roundtrip((const char *) rfc7515, sizeof(rfc7515), "A-z_4ME"), "b64url RFC 7515 appendix C vector");
        CHECK(roundtrip((const char *) url_alphabet, sizeof(url_alphabet), "-_-_"),
              "b64url uses - and _ instead of + and /");
        CHECK(rejects("Zg=="), "b64url rejects padding");
        CHECK(rejects("Z"), "b64url rejects impossible length");
        CHECK(rejects("Zh"), "b64url rejects non-canonical trailing bits");
        CHECK(rejects("Zm+v"), "b64url rejects the standard alphabet");
        CHECK(rejects("Zm9v!A"), "b64url rejects characters outside the alphabet");
        CHECK(rejects(" Zm9v"), "b64url rejects whitespace");
        CHECK(rejects("Zm9v\n"), "b64url rejects a trailing newline");
        CHECK(decodes_exactly_canonical(), "b64url decodes exactly the canonical strings of 2 to 4 characters");
        {
                int leading_dash = 0, bad_length = 0;

                for (int i = 0; i < 4096; i++) {
                        char *id = NULL;
                        if (b64url_random_id(16, &id) < 0 || strlen(id) != 22)
                                bad_length++;
                        else if (id[0] == '-')
                                leading_dash++;
                        free(id);
                }
                CHECK(bad_length == 0, "b64url random ids are 22 characters for 16 bytes");
                CHECK(leading_dash == 0, "b64url random ids never start with '-' (not taken for an option)");
        }
        TAP_EXIT();
}
