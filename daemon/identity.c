/* identity.c: NSS lookups for the daemon. Buffers grow on ERANGE up to a
 * bound, so a huge group or passwd entry fails cleanly instead of
 * truncating. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "identity.h"
#include "passwd_cache.h"

#define MAX_NSS_BUFFER (1024 * 1024)

int identity_lookup_user(const char *name, uid_t uid, struct passwd *pw, char **ret_buf) {
        long size = sysconf(_SC_GETPW_R_SIZE_MAX);
        struct passwd *found = NULL;
        char *buf = NULL;
        int r;

        /* A name /etc/passwd has, where NSS's answer would be the file's
         * (passwd_cache.h): without opening and parsing it again. */
        if (name && passwd_cache_lookup(name, pw, ret_buf) == 0)
                return 0;
        if (size <= 0)
                size = 16384;
        for (;;) {
                char *grown = realloc(buf, (size_t) size);
                if (!grown) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = grown;
                r = name ? getpwnam_r(name, pw, buf, (size_t) size, &found)
                         : getpwuid_r(uid, pw, buf, (size_t) size, &found);
                if (r != ERANGE || size > MAX_NSS_BUFFER)
                        break;
                size *= 2;
        }
        if (r != 0 || !found) {
                free(buf);
                return r ? -r : -ENOENT;
        }
        *ret_buf = buf;
        return 0;
}

int identity_resolve(const char *name, char **ret_canonical, uid_t *ret_uid) {
        struct passwd pw;
        char *buf = NULL, *canonical;
        int r = identity_lookup_user(name, 0, &pw, &buf);

        if (r < 0)
                return r;
        canonical = strdup(pw.pw_name);
        if (canonical) {
                *ret_canonical = canonical;
                *ret_uid = pw.pw_uid;
        }
        free(buf);
        return canonical ? 0 : -ENOMEM;
}

int identity_user_name(uid_t uid, char **ret) {
        struct passwd pw;
        char *buf = NULL;

        if (identity_lookup_user(NULL, uid, &pw, &buf) == 0)
                *ret = strdup(pw.pw_name);
        else if (asprintf(ret, "%u", (unsigned) uid) < 0)
                *ret = NULL;
        free(buf);
        return *ret ? 0 : -ENOMEM;
}

/* The gids of user (primary included), at most IDENTITY_MAX_UNIX_GROUPS. */
static int user_gids(const char *user, gid_t primary, gid_t **ret, int *ret_n) {
        int n = 64;
        gid_t *gids = NULL;

        for (;;) {
                gid_t *grown = realloc(gids, (size_t) n * sizeof(gid_t));
                int count = n;
                if (!grown) {
                        free(gids);
                        return -ENOMEM;
                }
                gids = grown;
                if (getgrouplist(user, primary, gids, &count) >= 0) {
                        *ret = gids;
                        *ret_n = count;
                        return 0;
                }
                if (count <= n)
                        count = n * 2;
                if (count > IDENTITY_MAX_UNIX_GROUPS) {
                        free(gids);
                        return -E2BIG;
                }
                n = count;
        }
}

static int group_name(gid_t gid, char **ret) {
        struct group gr, *found = NULL;
        char buf[16384];

        if (getgrgid_r(gid, &gr, buf, sizeof buf, &found) != 0 || !found)
                return -ENOENT;
        *ret = strdup(gr.gr_name);
        return *ret ? 0 : -ENOMEM;
}

int identity_unix_groups(const char *user, gid_t primary, char ***ret) {
        gid_t *gids = NULL;
        char **names = NULL;
        int n = 0, count = 0, r;

        r = user_gids(user, primary, &gids, &n);
        if (r < 0)
                goto out;
        names = calloc((size_t) n + 1, sizeof(char *));
        if (!names) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                char *name = NULL;
                if (group_name(gids[i], &name) < 0)
                        continue;
                if (strv_contains(names, name)) {
                        free(name);
                        continue;
                }
                names[count++] = name;
        }
        *ret = names;
        names = NULL;
        r = 0;
out:
        strv_free(names);
        free(gids);
        return r;
}

bool identity_is_admin(const char *admin_group, uid_t uid) {
        struct passwd pw;
        struct group gr, *found = NULL;
        char grbuf[16384];
        char *pwbuf = NULL;
        gid_t *gids = NULL;
        int n = 0;
        bool admin = false;

        if (uid == 0)
                return true;
        if (!admin_group || getgrnam_r(admin_group, &gr, grbuf, sizeof grbuf, &found) != 0 || !found)
                return false;
        if (identity_lookup_user(NULL, uid, &pw, &pwbuf) < 0)
                return false;
        if (user_gids(pw.pw_name, pw.pw_gid, &gids, &n) == 0)
                for (int i = 0; i < n; i++)
                        if (gids[i] == gr.gr_gid)
                                admin = true;
        free(gids);
        free(pwbuf);
        return admin;
}

/* The identity user stands for (identities.h): the name as presented, the
 * pw_name NSS gives for it and its uid, or the name alone when NSS does not
 * know it. *canonical is malloc'd or NULL; the key points into it. */
identity_key identity_key_of(const char *user, char **canonical) {
        identity_key key = { .name = user, .uid = -1 };
        uid_t uid;

        *canonical = NULL;
        if (identity_resolve(user, canonical, &uid) == 0) {
                key.canonical = *canonical;
                key.uid = uid;
        }
        return key;
}
