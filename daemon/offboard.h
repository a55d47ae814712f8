/* offboard.h: the list of disabled identities beside the main socket
 * (client-lib/disabled_list.h), kept in step with the disabled_identities
 * table so the PAM account hook refuses a disabled user even when the
 * daemon is down, hung or flooded. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>
#include "enrichd.h"

#define LOG_MSGID_DISABLED_LIST "4826f5dcfe7e468f86d140038ab6b0e8"
/* How often a failed write is retried. */
#define OFFBOARD_RETRY_MS 5000

/* Sets d->disabled_list from the socket path. Called once at start-up: a
 * reload that changes socket= moves the list only with a restart, like the
 * socket itself. */
int offboard_setup(enrichd *d);
/* Rewrites the list from the database, atomically. On failure the error is
 * logged (once per run of failures), the list marked stale and the write
 * retried by offboard_tick every OFFBOARD_RETRY_MS. */
int offboard_publish(enrichd *d);
/* Retries a failed offboard_publish. */
void offboard_tick(enrichd *d);

/* Disabling and enabling an identity: the one path of the Disable and
 * Enable methods and of fleet records (fleet.c). Disable records the
 * identity, disabled since at, (its name, NSS name and uid), revokes its tokens and live
 * sessions, rewrites the list, audits (peer NULL: enrichd) and logs.
 * Returns 0 or the database's -errno (db_last_error says why). */
typedef struct offboard_counts {
        int tokens;
        int sessions;
        bool was;               /* it already was disabled */
} offboard_counts;

int offboard_disable(enrichd *d, const struct ucred *peer, const char *user, const char *why, const char *by,
                     int64_t at, offboard_counts *ret);
int offboard_enable(enrichd *d, const struct ucred *peer, const char *user, const char *by, bool *ret_was);
