/* test_json_plain.c: parse_json_object, the fast parser of JWS parts and
 * varlink messages, answers as jansson does (json_loadb with duplicates
 * refused, an object or nothing) on inputs inside its subset, at its edges
 * and outside it, where jansson itself decides; dump_plain_json writes
 * byte for byte what json_dumps(JSON_COMPACT) writes, or leaves it to
 * jansson. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "json_plain.h"
#include "tap.h"

static const char *const inputs[] = {
        /* the subset */
        "{}",
        " { } ",
        "{\"a\":1}",
        "{\"a\":-1,\"b\":0,\"c\":-0}",
        "{\"a\":true,\"b\":false,\"c\":null}",
        "{\"a\":[],\"b\":[1,[2,[3]]],\"c\":{\"d\":{}}}",
        "{\"k\":\"v w/x:y\"}",
        "{\"\":\"\"}",
        "{\"max\":9223372036854775807,\"min\":-9223372036854775808}",
        "\t{\n\"a\" :\r[ 1 , 2 ]\n}\n",
        "{\"iss\":\"enrichd@host\",\"uid\":0,\"amr\":[\"pwd\"],\"groups\":[],\"scope\":\"a:read b:write\"}",
        /* what jansson must judge: accepted */
        "{\"r\":1.5}",
        "{\"r\":1e3}",
        "{\"r\":-0.0}",
        "{\"s\":\"\\\"quoted\\\"\"}",
        "{\"s\":\"\\u00e9\"}",
        "{\"s\":\"caf\xc3\xa9\"}",
        "{\"s\":\"\\ud83d\\ude00\"}",
        "{\"s\":\"a\\/b\\n\"}",
        "{\"deep\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
        /* refused */
        "",
        " ",
        "[]",
        "[1]",
        "1",
        "\"s\"",
        "null",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":01}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775809}",
        "{\"a\":tru}",
        "{\"a\":truex}",
        "{\"a\":nul}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{a:1}",
        "{'a':1}",
        "{\"a\":1,\"a\":2}",
        "{\"o\":{\"x\":1,\"x\":1}}",
        "{\"s\":\"a\tb\"}",
        "{\"s\":\"\\u0000\"}",
        "{\"s\":\"\\x\"}",
        "{\"s\":\"\xff\"}",
        "{\"s\":\"\xc3\"}",
        "{\"s\":\"abc}",
        "{\"a\":1",
        "{\"a\":[1",
};

typedef struct output {
        char buf[4096];
        size_t len;
} output;

static int collect(const char *chunk, size_t size, void *userdata) {
        output *t = userdata;

        if (t->len + size >= sizeof(t->buf))
                return -1;
        memcpy(t->buf + t->len, chunk, size);
        t->len += size;
        return 0;
}

/* dump_plain_json writes what jansson writes, or declines (-EAGAIN). */
static int writes_as_jansson(const json_t *value, bool expect_plain) {
        output t = { .len = 0 };
        char *reference = json_dumps(value, JSON_COMPACT);
        int r = dump_plain_json(value, collect, &t), ok;

        if (r == 0)
                ok = reference && t.len == strlen(reference) && memcmp(t.buf, reference, t.len) == 0;
        else
                ok = r == -EAGAIN && !expect_plain;
        if (!ok)
                printf("# dump_plain_json (%d) %.*s, jansson %s\n", r, (int) t.len, t.buf, reference ? reference : "-");
        free(reference);
        return ok;
}

static int agrees(const char *text, size_t len) {
        json_t *fast = parse_json_object(text, len);
        json_t *reference = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        int ok;

        if (!json_is_object(reference)) {
                json_decref(reference);
                reference = NULL;
        }
        ok = !fast == !reference && (!fast || json_equal(fast, reference));
        if (!ok)
                printf("# parse_json_object and jansson disagree on %.*s\n", (int) len, text);
        /* What jansson parsed, written back. */
        if (reference && !writes_as_jansson(reference, false))
                ok = 0;
        json_decref(fast);
        json_decref(reference);
        return ok;
}

int main(void) {
        int ok = 1;

        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
                ok &= agrees(inputs[i], strlen(inputs[i]));
        CHECK(ok, "json-parse-agrees-with-jansson");
        /* A NUL inside the text is no character of JSON. */
        CHECK(agrees("{\"a\":1}\0", 8) && agrees("{\"a\0\":1}", 8), "json-parse-nul-refused");
        /* Only up to len. */
        CHECK(agrees("{\"a\":1}trailing", 7), "json-parse-stops-at-len");
        {
                static const char payload[] = "{\"uid\":0,\"scope\":\"a b\",\"amr\":[\"pwd\"]}";
                json_t *o = parse_json_object(payload, strlen(payload));
                CHECK(json_is_object(o) && json_integer_value(json_object_get(o, "uid")) == 0 &&
                              json_is_integer(json_object_get(o, "uid")) &&
                              strcmp(json_string_value(json_object_get(o, "scope")), "a b") == 0 &&
                              json_array_size(json_object_get(o, "amr")) == 1 && json_object_size(o) == 3,
                      "json-parse-payload-values");
                json_decref(o);
        }
        {
                json_t *reply = json_pack("{s:{s:{s:s, s:I, s:s, s:s, s:[s]}, s:b}, s:b, s:n}", "parameters", "record",
                                          "groupName", "jit", "gid", (json_int_t) 61990, "service", "io.enrich.Groups",
                                          "disposition", "regular", "members", "alice", "incomplete", 0, "continues", 1,
                                          "none");
                json_t *keyed = json_object(), *real = json_pack("{s:f}", "r", 1.5);
                json_t *escaped = json_pack("{s:s}", "s", "tab\there"), *utf8 = json_pack("{s:s}", "s", "caf\xc3\xa9");
                json_t *negative = json_pack("{s:I, s:[]}", "n", (json_int_t) INT64_MIN, "e");

                json_object_setn_new(keyed, "a\0b", 3, json_true());
                CHECK(writes_as_jansson(reply, true) && writes_as_jansson(negative, true),
                      "json-dump-plain-as-jansson");
                CHECK(writes_as_jansson(real, false) && writes_as_jansson(escaped, false) &&
                              writes_as_jansson(utf8, false) && writes_as_jansson(keyed, false),
                      "json-dump-leaves-the-rest-to-jansson");
                json_decref(reply);
                json_decref(keyed);
                json_decref(real);
                json_decref(escaped);
                json_decref(utf8);
                json_decref(negative);
        }
        TAP_EXIT();
}
