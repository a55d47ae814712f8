/* identities.h: disabled identities (sqlite table "disabled_identities",
 * migration 4). A disabled user is refused by the PAM account hook
 * (CheckAccount), gets no claims (Enrich) and cannot authenticate with a
 * token, until an admin enables it again. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "db.h"

#define IDENTITIES_MAX_REASON 1024

#define LOG_MSGID_IDENTITY_DISABLED "3e8d7c6b5a4f4e3d8c2b1a0f9e8d7c05"
#define LOG_MSGID_IDENTITY_ENABLED  "6a5b4c3d2e1f40a9b8c7d6e5f4a3b206"
#define LOG_MSGID_ACCOUNT_REFUSED   "9c8b7a6f5e4d4c3b8a291807f6e5d407"

typedef struct identity_state {
        bool disabled;
        char *reason;           /* when disabled */
        char *disabled_by;
        int64_t since;
} identity_state;

void identity_state_clear(identity_state *s);

/* Disables user (replacing an earlier reason); *ret_was tells whether it
 * already was disabled. */
int identities_disable(db *d, const char *user, const char *reason, const char *by, int64_t now,
                       bool *ret_was);
/* *ret_was false when user was not disabled. */
int identities_enable(db *d, const char *user, bool *ret_was);
int identities_get(db *d, const char *user, identity_state *ret);
/* True when user is disabled; on a database failure also true (refuse
 * rather than let a disabled user in), with *ret_error set. */
bool identities_is_disabled(db *d, const char *user, int *ret_error);
/* Every disabled user name, as a JSON object used as a set ({"alice": null}),
 * a new reference. */
int identities_disabled_set(db *d, json_t **ret);
