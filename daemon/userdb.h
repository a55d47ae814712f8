/* userdb.h: the io.systemd.UserDatabase service on the userdb socket
 * (https://systemd.io/USER_GROUP_API), through which nss-systemd, userdbctl
 * and so `getent`, `id` and initgroups() see the config's time-bound groups.
 * Every answer comes from memory, on a thread of its own, never from sqlite
 * or the network, because every `ls -l` on the host may ask. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"

/* The service name is the basename of the socket path: userdb clients pass
 * the socket's name as the "service" parameter. */
typedef struct userdb userdb;

/* The state is borrowed from d, which must outlive *ret. */
int userdb_new(enrichd *d, const char *socket_path, userdb **ret);
void userdb_free(userdb *u);
const char *userdb_service(const userdb *u);

/* Main thread: rebuilds the snapshot the userdb thread answers from when
 * the grants generation (grant, revoke, expiry), the config, /etc/passwd or
 * /etc/group, or (for rules on hours/days) the minute changed since the
 * last build. It makes no NSS lookup (a login must not wait on a
 * directory): rules on unix groups use the Unix groups cached by earlier
 * lookups, stale or not, and users never looked up are left for the tick.
 * Call it after main-socket calls and reloads. Keeps the old snapshot (and
 * logs) when the database fails. */
void userdb_sync(userdb *u);
/* Main thread, from the tick and at startup: as userdb_sync, and, for
 * rules on unix groups, also rebuilds (at most once a second) when cached
 * Unix groups aged out or some users are still to be looked up, looking
 * them up through NSS for at most about 15 ms per build. */
void userdb_tick(userdb *u);
/* Tests: replaces the NSS lookup of a user's Unix group names (*ret: a new
 * NULL-terminated list; an unknown user has none). NULL: the real one. */
void userdb_set_nss_lookup(userdb *u, int (*lookup)(const char *user, char ***ret));

/* userdb thread: answers one call on the userdb socket from the current
 * snapshot. Returns a new reply object, or an array of replies for a
 * "more" stream; NULL only when out of memory. */
json_t *userdb_call(userdb *u, const struct ucred *peer, const char *method, json_t *parameters, bool more);
