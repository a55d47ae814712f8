/* client.c: connecting to enrichd from the module: the trusted peers
 * (root and the daemon user, also the owners a file of the daemon's may
 * have) and the deadline every hook runs under. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "client.h"
#include "host.h"

/* getpwnam_r buffers grow up to this; a passwd entry is never near it. */
#define PASSWD_BUFFER_MAX (1024 * 1024)

/* PAM data: the daemon user as found once in this transaction, so that
 * the hooks after the first (account, open, close in one handle, as sshd
 * runs them) trust the same peer without asking NSS again. */
#define TRUSTED_DATA "pam_enrich_daemon_user"

typedef struct trusted_user {
        uid_t uid;
        char name[];
} trusted_user;

static void trusted_user_cleanup(pam_handle_t *pamh, void *data, int error_status) {
        free(data);
}

static void remember_trusted(pam_handle_t *pamh, const char *name, uid_t uid) {
        size_t n = strlen(name);
        trusted_user *t = malloc(sizeof(*t) + n + 1);

        if (!t)
                return;
        t->uid = uid;
        memcpy(t->name, name, n + 1);
        if (pam_set_data(pamh, TRUSTED_DATA, t, trusted_user_cleanup) != PAM_SUCCESS)
                free(t);
}

int daemon_trusted_uid(pam_handle_t *pamh, const enrich_args *args, uid_t uid) {
        struct passwd pw, *result = NULL;
        const void *known = NULL;
        char *buf = NULL;
        size_t size;
        long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
        int r;

        if (uid == 0)
                return 0;
        if (pam_get_data(pamh, TRUSTED_DATA, &known) == PAM_SUCCESS && known) {
                const trusted_user *t = known;

                if (t->uid == uid && strcmp(t->name, args->daemon_user) == 0)
                        return 0;
        }
        size = hint > 0 ? (size_t) hint : 1024;
        for (;;) {
                char *nbuf = realloc(buf, size);

                if (!nbuf) {
                        r = -ENOMEM;
                        goto out;
                }
                buf = nbuf;
                r = getpwnam_r(args->daemon_user, &pw, buf, size, &result);
                if (r != ERANGE || size >= PASSWD_BUFFER_MAX)
                        break;
                size *= 2;
        }
        if (r != 0 && r != ENOENT && r != ESRCH) {
                pam_syslog(pamh, LOG_ERR, "Failed to look up daemon user %s: %s", args->daemon_user, strerror(r));
                r = -r;
                goto out;
        }
        r = result && result->pw_uid == uid ? 0 : -EPERM;
        if (r == 0)
                remember_trusted(pamh, args->daemon_user, uid);
out:
        free(buf);
        return r;
}

int daemon_connect(pam_handle_t *pamh, const enrich_args *args, int64_t deadline, varlink_client **ret) {
        varlink_client *c = NULL;
        int timeout = host_remaining_ms(deadline), r;

        if (timeout == 0) {
                pam_syslog(pamh, LOG_ERR, "No time left to connect to enrichd at %s", args->socket);
                return -ETIMEDOUT;
        }
        r = varlink_client_connect(args->socket, timeout, NULL, 0, &c);
        if (r == 0)
                r = daemon_trusted_uid(pamh, args, varlink_client_peer(c)->uid);
        if (r == 0) {
                *ret = c;
                c = NULL;
        } else if (r == -EPERM)
                pam_syslog(pamh, LOG_ERR, "Refusing enrichd at %s: peer is neither root nor %s", args->socket,
                           args->daemon_user);
        else if (r < 0)
                pam_syslog(pamh, LOG_ERR, "Failed to connect to enrichd at %s: %s", args->socket, strerror(-r));
        varlink_client_free(c);
        return r;
}

int daemon_socket_group(pam_handle_t *pamh, const enrich_args *args, gid_t *ret) {
        struct stat st;

        if (stat(args->socket, &st) < 0) {
                int r = -errno;

                pam_syslog(pamh, LOG_ERR, "Failed to look at enrichd's socket %s: %s", args->socket, strerror(-r));
                return r;
        }
        *ret = st.st_gid;
        return 0;
}
