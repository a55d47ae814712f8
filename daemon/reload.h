/* reload.h: reloading the configuration. */
#pragma once
#include "enrichd.h"

/* Reloads the config from its path (SIGHUP and io.enrich.Reload). When the
 * new file loads, it replaces the running one and every live session is
 * re-evaluated at once; when it does not, the running config stays, the
 * errors are logged and *ret_error (optional, malloc'd) says why. */
int reload_config(enrichd *d, char **ret_error);
