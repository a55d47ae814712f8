/* client.h: the module's connection to enrichd, shared by the session,
 * authentication and account hooks. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <security/pam_modules.h>
#include "args.h"
#include "varlink.h"

/* Connects to args->socket within what is left of deadline, trusting only a
 * peer that is root or args->daemon_user. Failures are logged. */
int daemon_connect(pam_handle_t *pamh, const enrich_args *args, int64_t deadline, varlink_client **ret);
/* 0 when something owned or served by uid may be believed: root always,
 * without asking NSS (which may itself ask enrichd's userdb socket, the very
 * daemon that may be hung); otherwise only args->daemon_user (-EPERM). */
int daemon_trusted_uid(pam_handle_t *pamh, const enrich_args *args, uid_t uid);
/* The group the claims key must have so that the daemon can refresh and
 * revoke it: the group of the socket at args->socket, which is the daemon's
 * own when it binds the socket itself and SocketGroup= of enrichd.socket
 * under socket activation. The daemon checks it against its own gid and
 * refuses a key with any other (docs/contract.md, "The keyring key").
 * Failures are logged. */
int daemon_socket_group(pam_handle_t *pamh, const enrich_args *args, gid_t *ret);
