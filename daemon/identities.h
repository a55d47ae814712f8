/* identities.h: disabled identities (sqlite table "disabled_identities",
 * migrations 4 and 11). A disabled user is refused by the PAM account hook
 * (CheckAccount), gets no claims (Enrich) and cannot authenticate with a
 * token, until an admin enables it again.
 *
 * A row holds the name as NSS spells it (pw_name) and, when NSS knew the
 * user, its uid: an identity is the uid as much as the name, so an alias
 * with the same uid (useradd -o) or another spelling of the name that NSS
 * maps to the same entry (ALICE, alice@corp under sssd or winbind) is the
 * same identity. A user NSS does not know (offboarding one already deleted
 * from the directory) is disabled by name alone, uid NULL. Storage only:
 * the callers resolve names through NSS (identity.h). */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "db.h"

#define IDENTITIES_MAX_REASON 1024

#define LOG_MSGID_IDENTITY_DISABLED "3e8d7c6b5a4f4e3d8c2b1a0f9e8d7c05"
#define LOG_MSGID_IDENTITY_ENABLED  "6a5b4c3d2e1f40a9b8c7d6e5f4a3b206"
#define LOG_MSGID_ACCOUNT_REFUSED   "9c8b7a6f5e4d4c3b8a291807f6e5d407"

/* Who is asked about: the name as presented, the name NSS gave for it
 * (NULL when NSS does not know it, or the same), and its uid (-1 when
 * unknown). A row matches when its name is either name or its uid is uid. */
typedef struct identity_key {
        const char *name;
        const char *canonical;
        int64_t uid;
} identity_key;

typedef struct identity_state {
        bool disabled;
        char *user;             /* when disabled: the row that matched */
        int64_t uid;            /* its uid, -1 when disabled by name only */
        char *reason;
        char *disabled_by;
        int64_t since;
} identity_state;

void identity_state_clear(identity_state *s);

/* Disables user (its pw_name, or the name given when NSS does not know it)
 * with uid (-1: unknown), replacing an earlier reason; *ret_was tells
 * whether the identity (any row matching key) already was disabled. */
int identities_disable(db *d, const identity_key *key, const char *reason, const char *by, int64_t now, bool *ret_was);
/* Removes every row matching key; *ret_was false when there was none. */
int identities_enable(db *d, const identity_key *key, bool *ret_was);
/* The first row matching key, or s.disabled false. */
int identities_get(db *d, const identity_key *key, identity_state *ret);
/* True when key is disabled; on a database failure also true (refuse
 * rather than let a disabled user in), with *ret_error set. */
bool identities_is_disabled(db *d, const identity_key *key, int *ret_error);
/* Every disabled user name, as a JSON object used as a set ({"alice": null}),
 * a new reference. */
int identities_disabled_set(db *d, json_t **ret);
/* Every uid that is disabled, distinct and ascending: *ret malloc'd (NULL
 * when there is none), *ret_n of them. */
int identities_disabled_uids(db *d, uid_t **ret, size_t *ret_n);
/* The names disabled without a uid, NULL-terminated (strv). */
int identities_without_uid(db *d, char ***ret);
/* Records uid for the row of user, when it has none yet. */
int identities_set_uid(db *d, const char *user, uid_t uid);
