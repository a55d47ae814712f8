/* config_methods.c: io.enrich.Reload, the configuration reloaded over
 * Varlink (reload.c does the work, for SIGHUP too) and audited. */
#include <stdlib.h>
#include "audit.h"
#include "config_methods.h"
#include "method_support.h"
#include "reload.h"
#include "varlink.h"

json_t *method_reload(enrichd *d, const method_call *call, json_t *params) {
        char *error = NULL;
        json_t *reply;

        if (reload_config(d, &error) < 0) {
                (void) audit_recordf(d, call->peer, NULL, AUDIT_CONFIG_REJECTED, AUDIT_FAILED, "{s:s, s:s, s:s}",
                                     "config", d->config->path, "trigger", "io.enrich.Reload", "reason",
                                     error ? error : "unknown");
                reply = error_reply("io.enrich.InvalidConfig", json_pack("{s:s}", "reason", error ? error : "unknown"));
        } else {
                (void) audit_recordf(d, call->peer, NULL, AUDIT_CONFIG_RELOADED, AUDIT_OK, "{s:s, s:s, s:s}", "config",
                                     d->config->path, "trigger", "io.enrich.Reload", "policyVersion",
                                     d->policy_version);
                reply = varlink_reply_new(json_pack("{s:s}", "policyVersion", d->policy_version), false);
        }
        free(error);
        return reply;
}
