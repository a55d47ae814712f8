/* reload.c: a new configuration taken into use (reload.h), for SIGHUP
 * and io.enrich.Reload alike. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "issue.h"
#include "live.h"
#include "log.h"
#include "offboard.h"
#include "passwd_cache.h"
#include "reload.h"

int reload_config(enrichd *d, char **ret_error) {
        config *fresh = NULL;
        char *error = NULL, old_version[sizeof d->policy_version];
        live_counts counts = { 0 };
        int r;

        r = config_load(d->config->path, &fresh, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_CONFIG, (const char *[]) { "ENRICH_CONFIG", d->config->path, NULL },
                           "Reload failed, keeping the running configuration: %s", error ? error : strerror(-r));
                if (ret_error) {
                        *ret_error = error ? error : strdup(strerror(-r));
                        error = NULL;
                }
                goto out;
        }
        if (strcmp(fresh->socket, d->config->socket) || strcmp(fresh->state_dir, d->config->state_dir) ||
            strcmp(fresh->jwks, d->config->jwks) || strcmp(fresh->userdb_socket, d->config->userdb_socket))
                log_warning("Changed paths (socket, userdb_socket, jwks, state_dir) take effect on restart only");
        /* Whatever was cached of the accounts is read again. */
        passwd_cache_drop();
        memcpy(old_version, d->policy_version, sizeof old_version);
        config_free(d->config);
        d->config = fresh;
        fresh = NULL;
        if (issue_update_policy_version(d) < 0)
                log_error("Failed to update the policy version: %s", db_last_error(d->db));
        /* Also rewritten here, so a reload repairs a list someone removed. */
        (void) offboard_publish(d);
        /* A removed rule must leave open sessions now, not at their next
         * refresh. */
        live_reissue(d, NULL, "configuration reloaded", &counts);
        log_struct(LOG_INFO, LOG_MSGID_CONFIG,
                   (const char *[]) { "ENRICH_CONFIG", d->config->path, "ENRICH_POLICY_VERSION", d->policy_version,
                                      NULL },
                   "Configuration reloaded from %s (policy version %s -> %s, %zu rules): "
                   "%d sessions re-issued, %d revoked",
                   d->config->path, old_version, d->policy_version, d->config->n_rules, counts.updated, counts.revoked);
        r = 0;
out:
        config_free(fresh);
        free(error);
        return r;
}
