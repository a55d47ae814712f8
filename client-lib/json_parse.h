/* json_parse.h: parsing a JSON object (a JWS header or payload) fast. */
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
