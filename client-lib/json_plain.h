/* json_plain.h: JSON objects parsed and written fast in a plain subset. */
#pragma once
#include <stddef.h>
#include <jansson.h>

/* Parses len bytes of text as one JSON object, as
 * json_loadb(text, len, JSON_REJECT_DUPLICATES) does and with the same
 * result: a new object, or NULL when the text is not one JSON object
 * (malformed, a duplicate key, another type) or memory ran out. Text in a
 * plain subset (printable ASCII strings without escapes, integers, true,
 * false, null, nesting up to 16 levels, no duplicate key) is parsed here;
 * anything else, valid or not, by jansson. */
json_t *parse_json_object(const char *text, size_t len);

/* Receives size bytes of output; negative to stop. As jansson's
 * json_dump_callback_t. */
typedef int (*json_emit)(const char *buffer, size_t size, void *userdata);

/* Writes an object or array as json_dump_callback(value, emit, userdata,
 * JSON_COMPACT) does, byte for byte, when every string and key in it is
 * printable ASCII without a quote or backslash and it holds no real:
 * then 0. -EAGAIN when it is not plain (some output may have been emitted:
 * the caller discards it and asks jansson); -ENOBUFS when emit refused. */
int dump_plain_json(const json_t *value, json_emit emit, void *userdata);
