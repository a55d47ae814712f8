/* json_plain.c: JSON in a plain subset (printable ASCII strings without
 * escapes, integers, true, false, null, objects and arrays), parsed and
 * written here, and anything else by jansson, which so decides every
 * answer outside the subset. jansson's parser spent about 200
 * instructions a byte on a claims payload (69 k for 330 bytes, five times
 * the cost of building the same object), and its writer a third of a
 * userdb call: both were most of what their callers did. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_plain.h"

/* Deeper nesting goes to jansson (which allows 2048 levels). */
#define FAST_MAX_DEPTH 16

typedef struct cursor {
        const char *at, *end;
} cursor;

static void skip_space(cursor *c) {
        while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r'))
                c->at++;
}

/* A string of printable ASCII without escapes, after its opening quote:
 * *ret points into the text, *ret_len bytes. False for anything else (an
 * escape, a control character, a byte of a multibyte character, no end):
 * those are jansson's to judge. */
static bool plain_string(cursor *c, const char **ret, size_t *ret_len) {
        const char *start = c->at;

        for (; c->at < c->end; c->at++) {
                unsigned char ch = (unsigned char) *c->at;

                if (ch == '"') {
                        *ret = start;
                        *ret_len = (size_t) (c->at - start);
                        c->at++;
                        return true;
                }
                if (ch < 0x20 || ch >= 0x7f || ch == '\\')
                        return false;
        }
        return false;
}

/* An integer as JSON writes it (no leading zeros, no fraction or
 * exponent) that fits json_int_t; false for anything else, reals included. */
static bool plain_integer(cursor *c, json_int_t *ret) {
        bool negative = false;
        uint64_t value = 0, limit;

        if (c->at < c->end && *c->at == '-') {
                negative = true;
                c->at++;
        }
        if (c->at >= c->end || *c->at < '0' || *c->at > '9')
                return false;
        if (*c->at == '0' && c->at + 1 < c->end && c->at[1] >= '0' && c->at[1] <= '9')
                return false;
        limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
        for (; c->at < c->end && *c->at >= '0' && *c->at <= '9'; c->at++) {
                unsigned digit = (unsigned) (*c->at - '0');

                if (value > (limit - digit) / 10)
                        return false;
                value = value * 10 + digit;
        }
        if (c->at < c->end && (*c->at == '.' || *c->at == 'e' || *c->at == 'E'))
                return false;
        *ret = negative ? (json_int_t) (0 - value) : (json_int_t) value;
        return true;
}

static bool literal(cursor *c, const char *word) {
        size_t n = strlen(word);

        if ((size_t) (c->end - c->at) < n || memcmp(c->at, word, n) != 0)
                return false;
        c->at += n;
        return true;
}

static json_t *fast_value(cursor *c, unsigned depth);

/* After '[' or '{'. */
static json_t *fast_array(cursor *c, unsigned depth) {
        json_t *array = json_array(), *item;

        if (!array)
                return NULL;
        skip_space(c);
        if (c->at < c->end && *c->at == ']') {
                c->at++;
                return array;
        }
        for (;;) {
                item = fast_value(c, depth);
                if (!item || json_array_append_new(array, item) < 0)
                        break;
                skip_space(c);
                if (c->at < c->end && *c->at == ',') {
                        c->at++;
                        continue;
                }
                if (c->at < c->end && *c->at == ']') {
                        c->at++;
                        return array;
                }
                break;
        }
        json_decref(array);
        return NULL;
}

static json_t *fast_object(cursor *c, unsigned depth) {
        json_t *object = json_object(), *value;
        const char *key;
        size_t key_len;

        if (!object)
                return NULL;
        skip_space(c);
        if (c->at < c->end && *c->at == '}') {
                c->at++;
                return object;
        }
        for (;;) {
                if (c->at >= c->end || *c->at != '"')
                        break;
                c->at++;
                /* A duplicate key is jansson's to refuse. */
                if (!plain_string(c, &key, &key_len) || json_object_getn(object, key, key_len))
                        break;
                skip_space(c);
                if (c->at >= c->end || *c->at != ':')
                        break;
                c->at++;
                value = fast_value(c, depth);
                if (!value || json_object_setn_new_nocheck(object, key, key_len, value) < 0)
                        break;
                skip_space(c);
                if (c->at < c->end && *c->at == ',') {
                        c->at++;
                        skip_space(c);
                        continue;
                }
                if (c->at < c->end && *c->at == '}') {
                        c->at++;
                        return object;
                }
                break;
        }
        json_decref(object);
        return NULL;
}

/* One value of the subset, or NULL (outside it, malformed, or out of
 * memory: the caller asks jansson in every case). */
static json_t *fast_value(cursor *c, unsigned depth) {
        const char *text;
        size_t len;
        json_int_t number;

        skip_space(c);
        if (c->at >= c->end)
                return NULL;
        switch (*c->at) {
        case '{':
                if (depth >= FAST_MAX_DEPTH)
                        return NULL;
                c->at++;
                return fast_object(c, depth + 1);
        case '[':
                if (depth >= FAST_MAX_DEPTH)
                        return NULL;
                c->at++;
                return fast_array(c, depth + 1);
        case '"': c->at++; return plain_string(c, &text, &len) ? json_stringn_nocheck(text, len) : NULL;
        case 't': return literal(c, "true") ? json_true() : NULL;
        case 'f': return literal(c, "false") ? json_false() : NULL;
        case 'n': return literal(c, "null") ? json_null() : NULL;
        default: return plain_integer(c, &number) ? json_integer(number) : NULL;
        }
}

json_t *parse_json_object(const char *text, size_t len) {
        cursor c = { .at = text, .end = text + len };
        json_t *object = NULL;

        skip_space(&c);
        if (c.at < c.end && *c.at == '{') {
                c.at++;
                object = fast_object(&c, 1);
                skip_space(&c);
                if (object && c.at == c.end)
                        return object;
                json_decref(object);
        }
        /* Outside the subset (or not JSON at all): jansson decides, with
         * the same flags as before the fast path existed. */
        object = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(object)) {
                json_decref(object);
                return NULL;
        }
        return object;
}

/* Whether jansson writes len bytes of text as they are, between quotes:
 * printable ASCII but the quote and the backslash. */
static bool plain_text(const char *text, size_t len) {
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) text[i];

                if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
                        return false;
        }
        return true;
}

static int emit_quoted(const char *text, size_t len, json_emit emit, void *userdata) {
        if (!plain_text(text, len))
                return -EAGAIN;
        return emit("\"", 1, userdata) < 0 || emit(text, len, userdata) < 0 || emit("\"", 1, userdata) < 0 ? -ENOBUFS
                                                                                                           : 0;
}

static int emit_value(const json_t *value, unsigned depth, json_emit emit, void *userdata) {
        json_t *item;
        size_t i;
        bool first = true;
        int r;

        /* Deep (or cyclic) values are jansson's, which refuses cycles. */
        if (depth > FAST_MAX_DEPTH)
                return -EAGAIN;
        switch (json_typeof(value)) {
        case JSON_OBJECT:
                if (emit("{", 1, userdata) < 0)
                        return -ENOBUFS;
                for (void *it = json_object_iter((json_t *) value); it;
                     it = json_object_iter_next((json_t *) value, it)) {
                        if (!first && emit(",", 1, userdata) < 0)
                                return -ENOBUFS;
                        first = false;
                        /* By its length: a key may hold a NUL. */
                        r = emit_quoted(json_object_iter_key(it), json_object_iter_key_len(it), emit, userdata);
                        if (r < 0)
                                return r;
                        if (emit(":", 1, userdata) < 0)
                                return -ENOBUFS;
                        r = emit_value(json_object_iter_value(it), depth + 1, emit, userdata);
                        if (r < 0)
                                return r;
                }
                return emit("}", 1, userdata) < 0 ? -ENOBUFS : 0;
        case JSON_ARRAY:
                if (emit("[", 1, userdata) < 0)
                        return -ENOBUFS;
                json_array_foreach((json_t *) value, i, item) {
                        if (i > 0 && emit(",", 1, userdata) < 0)
                                return -ENOBUFS;
                        r = emit_value(item, depth + 1, emit, userdata);
                        if (r < 0)
                                return r;
                }
                return emit("]", 1, userdata) < 0 ? -ENOBUFS : 0;
        case JSON_STRING: return emit_quoted(json_string_value(value), json_string_length(value), emit, userdata);
        case JSON_INTEGER: {
                char number[32];
                int n = snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT, json_integer_value(value));

                return emit(number, (size_t) n, userdata) < 0 ? -ENOBUFS : 0;
        }
        case JSON_TRUE: return emit("true", 4, userdata) < 0 ? -ENOBUFS : 0;
        case JSON_FALSE: return emit("false", 5, userdata) < 0 ? -ENOBUFS : 0;
        case JSON_NULL: return emit("null", 4, userdata) < 0 ? -ENOBUFS : 0;
        default: /* reals: jansson's format */ return -EAGAIN;
        }
}

int dump_plain_json(const json_t *value, json_emit emit, void *userdata) {
        if (!json_is_object(value) && !json_is_array(value))
                return -EAGAIN;
        return emit_value(value, 1, emit, userdata);
}
