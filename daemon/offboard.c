/* offboard.c: writes the list of disabled identities that lets the PAM
 * account hook refuse a disabled user without the daemon (offboard.h). The
 * whole list is rewritten on every change (start-up, reload, Disable,
 * Enable), with a copy in the state directory that outlives a reboot: a
 * temporary file, fsync, rename, fsync of the directory, so a
 * reader sees the old list or the new one, never a mix, and a crash never
 * brings back an older one. Mode 0600: the module runs as root. */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "disabled_list.h"
#include "host.h"
#include "identities.h"
#include "identity.h"
#include "live.h"
#include "log.h"
#include "offboard.h"
#include "paths.h"
#include "tokens.h"
#include "util.h"

/* Rows disabled before uids were recorded (migration 11), or while NSS
 * did not know the user, get the uid NSS gives now, so an alias of it is
 * refused too. One NSS lookup per such row, at start-up only; a user NSS
 * still does not know stays disabled by name. */
static void fill_uids(enrichd *d) {
        char **names = NULL;
        size_t filled = 0;

        if (identities_without_uid(d->db, &names) < 0) {
                log_error("Failed to list the disabled identities without uid: %s", db_last_error(d->db));
                return;
        }
        for (size_t i = 0; names[i]; i++) {
                char *canonical = NULL;
                uid_t uid;

                if (identity_resolve(names[i], &canonical, &uid) < 0)
                        continue;
                if (identities_set_uid(d->db, names[i], uid) < 0)
                        log_error("Failed to record uid %u of disabled identity %s: %s", (unsigned) uid, names[i],
                                  db_last_error(d->db));
                else
                        filled++;
                free(canonical);
        }
        if (filled > 0)
                log_info("Recorded the uid of %zu disabled identities", filled);
        strv_free(names);
}

int offboard_setup(enrichd *d) {
        int r = disabled_list_path(d->config->socket, &d->disabled_list);

        if (r < 0)
                log_error_errno(r, "Cannot place the list of disabled identities beside socket %s", d->config->socket);
        fill_uids(d);
        return r;
}

static int write_state_copy(enrichd *d, const char *text, size_t len) {
        char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", d->config->state_dir, DISABLED_LIST_NAME) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, text, len, 0600);
        free(path);
        return r;
}

int offboard_publish(enrichd *d) {
        json_t *set = NULL, *value;
        const char **names = NULL, *name;
        char *text = NULL;
        uid_t *uids = NULL;
        size_t n = 0, n_uids = 0, len = 0, skipped = 0;
        char count[32];
        bool database = false;
        int r;

        if (!d->disabled_list)
                return -EINVAL;
        r = identities_disabled_set(d->db, &set);
        if (r == 0)
                r = identities_disabled_uids(d->db, &uids, &n_uids);
        if (r < 0) {
                database = r == -EIO;
                goto out;
        }
        names = calloc(json_object_size(set) + 1, sizeof *names);
        if (!names) {
                r = -ENOMEM;
                goto out;
        }
        json_object_foreach(set, name, value)
                names[n++] = name;
        r = disabled_list_format(names, n, uids, n_uids, &text, &len, &skipped);
        if (r < 0)
                goto out;
        if (skipped > 0)
                log_warning("%zu disabled identities have names that cannot be listed in %s (control "
                            "characters, ':' or longer than %d bytes); the account hook cannot refuse them "
                            "by name without the daemon",
                            skipped, d->disabled_list, DISABLED_LIST_MAX_NAME);
        /* The list the module reads first, whatever becomes of the copy
         * in the state directory: that one survives a reboot, and tmpfiles
         * puts it back in /run before the daemon runs (enrich.tmpfiles),
         * so a daemon that hangs at its first start after boot does not
         * let disabled users in. A failure of either is retried. */
        r = mkdir_parent(d->disabled_list, 0755);
        if (r == 0)
                r = write_file_atomic(d->disabled_list, text, len, 0600);
        if (r == 0)
                r = write_state_copy(d, text, len);
out:
        if (r < 0) {
                /* Said once per run of failures, not at every retry. */
                log_struct(d->disabled_list_stale ? LOG_DEBUG : LOG_ERR, LOG_MSGID_DISABLED_LIST,
                           (const char *[]) { "ENRICH_PATH", d->disabled_list, NULL },
                           "Failed to write the list of disabled identities %s: %s; logins of disabled "
                           "users are refused only while the daemon answers (retrying every %d s)",
                           d->disabled_list, database ? db_last_error(d->db) : strerror(-r), OFFBOARD_RETRY_MS / 1000);
                d->disabled_list_stale = true;
                d->disabled_list_retry_ms = host_now_ms() + OFFBOARD_RETRY_MS;
        } else {
                if (d->disabled_list_stale)
                        log_struct(LOG_NOTICE, LOG_MSGID_DISABLED_LIST,
                                   (const char *[]) { "ENRICH_PATH", d->disabled_list, NULL },
                                   "Wrote the list of disabled identities %s", d->disabled_list);
                d->disabled_list_stale = false;
                snprintf(count, sizeof count, "%zu", n - skipped);
                log_struct(LOG_DEBUG, LOG_MSGID_DISABLED_LIST,
                           (const char *[]) { "ENRICH_PATH", d->disabled_list, "ENRICH_COUNT", count, NULL },
                           "Listed %s disabled identities in %s", count, d->disabled_list);
        }
        free(text);
        free(names);
        free(uids);
        json_decref(set);
        return r;
}

void offboard_tick(enrichd *d) {
        if (d->disabled_list_stale && host_now_ms() >= d->disabled_list_retry_ms)
                (void) offboard_publish(d);
}

int offboard_disable(enrichd *d, const struct ucred *peer, const char *user, const char *why, const char *by,
                     int64_t at, offboard_counts *ret) {
        char *canonical = NULL, reason[300];
        int64_t now = clock_now();
        int tokens = 0, sessions = 0, more = 0, r;
        identity_key key;
        bool was = false;

        /* Disabled first, so nothing new starts while the rest is revoked:
         * its pw_name and uid, so aliases and other spellings are refused
         * too. An unknown user may be disabled too (offboarding a deleted
         * one), by name alone. */
        key = identity_key_of(user, &canonical);
        if ((r = identities_disable(d->db, &key, why, by, at, &was)) < 0 ||
            (r = tokens_revoke_user(d->db, user, by, now, &tokens)) < 0 ||
            (key.canonical && strcmp(key.canonical, user) != 0 &&
             (r = tokens_revoke_user(d->db, key.canonical, by, now, &more)) < 0))
                goto out;
        d->identities_generation++;
        (void) offboard_publish(d);
        tokens += more;
        snprintf(reason, sizeof reason, "user disabled by %s", by);
        live_revoke_user(d, user, reason, &sessions);
        if (key.uid >= 0) {
                live_revoke_uid(d, (uid_t) key.uid, reason, &more);
                sessions += more;
        }
        (void) audit_recordf(d, peer, user, AUDIT_IDENTITY_DISABLED, AUDIT_OK, "{s:s, s:b, s:i, s:i, s:s*, s:o*}",
                             "reason", why, "wasDisabled", was, "tokensRevoked", tokens, "sessionsRevoked", sessions,
                             "name", key.canonical, "uid", key.uid >= 0 ? json_integer(key.uid) : NULL);
        log_struct(LOG_NOTICE, LOG_MSGID_IDENTITY_DISABLED,
                   (const char *[]) { "ENRICH_USER", user, "ENRICH_BY", by, "ENRICH_REASON", why, NULL },
                   "%s disabled by %s (reason: %s)%s%s: %d tokens and %d sessions revoked", user, by, why,
                   was ? " again" : "", key.uid >= 0 ? "" : " by name only (unknown to NSS)", tokens, sessions);
        if (ret)
                *ret = (offboard_counts) { .tokens = tokens, .sessions = sessions, .was = was };
        r = 0;
out:
        free(canonical);
        return r;
}

int offboard_enable(enrichd *d, const struct ucred *peer, const char *user, const char *by, bool *ret_was) {
        char *canonical = NULL;
        identity_key key;
        bool was = false;
        int r;

        /* Every row of the identity: its names and its uid. */
        key = identity_key_of(user, &canonical);
        r = identities_enable(d->db, &key, &was);
        free(canonical);
        if (r < 0)
                return r;
        d->identities_generation++;
        (void) offboard_publish(d);
        (void) audit_recordf(d, peer, user, AUDIT_IDENTITY_ENABLED, AUDIT_OK, "{s:b}", "wasDisabled", was);
        log_struct(LOG_NOTICE, LOG_MSGID_IDENTITY_ENABLED,
                   (const char *[]) { "ENRICH_USER", user, "ENRICH_BY", by, NULL }, "%s enabled by %s%s", user, by,
                   was ? "" : " (it was not disabled)");
        if (ret_was)
                *ret_was = was;
        return 0;
}
