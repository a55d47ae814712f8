/* client.h: the module's connection to enrichd, shared by the session,
 * authentication and account hooks. */
#pragma once
#include <stdint.h>
#include <security/pam_modules.h>
#include "args.h"
#include "varlink.h"

/* Connects to args->socket within what is left of deadline, trusting only a
 * peer that is root or args->daemon_user. Failures are logged. */
int daemon_connect(pam_handle_t *pamh, const enrich_args *args, int64_t deadline,
                   varlink_client **ret);
