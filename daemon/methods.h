/* methods.h: the io.enrich and org.varlink.service methods. Every call is
 * authorized from the peer's SO_PEERCRED credentials taken at accept time,
 * never from anything in its parameters. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"

/* Answers one call. Returns a new reply object; NULL only when out of memory. */
json_t *methods_call(enrichd *d, const struct ucred *peer, const char *method,
                     json_t *parameters, bool more);

/* Reloads the config from its path (SIGHUP and io.enrich.Reload). When the
 * new file loads, it replaces the running one and every live session is
 * re-evaluated at once; when it does not, the running config stays, the
 * errors are logged and *ret_error (optional, malloc'd) says why. */
int methods_reload(enrichd *d, char **ret_error);
