/* identity.h: users and groups through NSS, resolved fresh at every call,
 * so a user removed from a group loses it at the next evaluation, and an
 * admin removed from admin_group loses admin at once. Group lists are never
 * cached; a user's passwd entry comes from passwd_cache.h where that gives
 * exactly NSS's answer (the file checked at every lookup). */
#pragma once
#include <pwd.h>
#include <stdbool.h>
#include <sys/types.h>
#include "identities.h"

/* At most this many Unix groups of one user are considered. */
#define IDENTITY_MAX_UNIX_GROUPS 4096

/* getpwnam_r (name) or getpwuid_r (uid when name is NULL) into pw, whose
 * strings live in *ret_buf (caller frees). -ENOENT when there is none. */
int identity_lookup_user(const char *name, uid_t uid, struct passwd *pw, char **ret_buf);
/* The entry NSS gives for name: its pw_name (malloc'd, maybe spelled
 * otherwise than name: ALICE, alice@corp) and uid. -ENOENT when NSS knows
 * no such user, another -errno when it could not answer. */
int identity_resolve(const char *name, char **ret_canonical, uid_t *ret_uid);
/* The user name of uid, or its number as text when it has none. malloc'd. */
int identity_user_name(uid_t uid, char **ret);
/* Names of user's Unix groups (primary included; gids without a name left
 * out), NULL-terminated, from getgrouplist. */
int identity_unix_groups(const char *user, gid_t primary, char ***ret);
/* uid 0, or a member of admin_group (getgrouplist, now). */
bool identity_is_admin(const char *admin_group, uid_t uid);
/* The identity user stands for (identities.h): the name as presented, the
 * pw_name NSS gives for it and its uid, or the name alone when NSS does not
 * know it. *canonical is malloc'd or NULL; the key points into it. */
identity_key identity_key_of(const char *user, char **canonical);
