/* config_methods.h: io.enrich.Reload (config_methods.c), called only
 * through the dispatch table. */
#pragma once
#include <jansson.h>
#include "enrichd.h"
#include "method_support.h"

json_t *method_reload(enrichd *d, const method_call *call, json_t *params);
