/* key_methods.h: the io.enrich methods of signing keys (key_methods.c),
 * called only through the dispatch table. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

json_t *method_list_keys(enrichd *d, const method_call *call, json_t *params);
json_t *method_rotate_key(enrichd *d, const method_call *call, json_t *params);
