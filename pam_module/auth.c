/* auth.c: pam_sm_authenticate and pam_sm_acct_mgmt's conversations with
 * enrichd. The token's secret never leaves this process: it is parsed in
 * place inside PAM's own copy of the authentication token, only its verifier
 * (SHA-256) is sent, and PAM_AUTHTOK is cleared (libpam wipes the old value)
 * once the token has been decided on. The account hook falls back on the
 * daemon's list of disabled identities when the daemon cannot answer. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "auth.h"
#include "client.h"
#include "disabled_list.h"
#include "host.h"
#include "svctoken.h"
#include "util.h"
#include "varlink.h"

/* No wait the daemon asks for is longer than this (a sane daemon asks for
 * at most 30 s). */
#define MAX_FAIL_DELAY_MS 60000

static void evidence_cleanup(pam_handle_t *pamh, void *data, int error_status) {
        free(data);
}

static const char *pam_item_string(pam_handle_t *pamh, int item) {
        const void *v = NULL;

        if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || !v || !*(const char *) v)
                return NULL;
        return v;
}

/* service and rhost of the login, when known, into params. */
static void add_login_context(pam_handle_t *pamh, json_t *params) {
        if (pam_item_string(pamh, PAM_SERVICE))
                json_object_set_new(params, "service", json_string(pam_item_string(pamh, PAM_SERVICE)));
        if (pam_item_string(pamh, PAM_RHOST))
                json_object_set_new(params, "rhost", json_string(pam_item_string(pamh, PAM_RHOST)));
}

/* The login's authentication token, borrowed from PAM: the item, or with
 * `prompt` the conversation's answer (pam_get_authtok also stores it as the
 * item, so modules after us see the password when it is not a token). */
static const char *get_authtok(pam_handle_t *pamh, const enrich_args *args) {
        const char *token = NULL;

        if (!args->prompt)
                return pam_item_string(pamh, PAM_AUTHTOK);
        if (pam_get_authtok(pamh, PAM_AUTHTOK, &token, NULL) != PAM_SUCCESS)
                return NULL;
        return token && *token ? token : NULL;
}

/* One Authenticate call; reads the error's delayMs into *ret_delay_ms. */
static int call_authenticate(pam_handle_t *pamh, const enrich_args *args, const char *user, const char *id,
                             const char *verifier, int64_t *ret_delay_ms) {
        int64_t deadline = host_now_ms() + args->timeout_ms;
        varlink_client *c = NULL;
        json_t *params = NULL, *reply = NULL;
        char *error = NULL;
        int r;

        params = json_pack("{s:s, s:s, s:s}", "user", user, "tokenId", id, "verifier", verifier);
        if (!params)
                return -ENOMEM;
        add_login_context(pamh, params);
        /* Where a failure comes from when there is no rhost (su, sudo):
         * attempts that name no token are delayed per source. */
        if (pam_item_string(pamh, PAM_RUSER))
                json_object_set_new(params, "ruser", json_string(pam_item_string(pamh, PAM_RUSER)));
        r = daemon_connect(pamh, args, deadline, &c);
        if (r < 0)
                goto out;
        r = varlink_client_call(c, "io.enrich.Authenticate", params, host_remaining_ms(deadline), &reply, &error);
        if (r == -EREMOTEIO && streq_ptr(error, "io.enrich.AuthenticationFailed")) {
                json_t *delay = json_object_get(reply, "delayMs");
                const char *reason = json_string_value(json_object_get(reply, "reason"));

                *ret_delay_ms = json_is_integer(delay) ? json_integer_value(delay) : 0;
                pam_syslog(pamh, LOG_NOTICE, "Token %s refused for %s: %s%s", id, user,
                           reason ? reason : "no reason given",
                           json_is_true(json_object_get(reply, "locked")) ? " (locked)" : "");
                r = -EACCES;
        } else if (r == -EREMOTEIO) {
                pam_syslog(pamh, LOG_ERR, "enrichd answered Authenticate with %s", error ? error : "an error");
                r = -EPROTO;
        } else if (r < 0)
                pam_syslog(pamh, LOG_ERR, "Failed to call Authenticate: %s", strerror(-r));
out:
        /* The verifier is in params; wipe it before jansson frees it. */
        if (json_object_get(params, "verifier"))
                OPENSSL_cleanse((char *) json_string_value(json_object_get(params, "verifier")),
                                SVCTOKEN_VERIFIER_LENGTH);
        json_decref(params);
        json_decref(reply);
        free(error);
        varlink_client_free(c);
        return r;
}

int auth_authenticate(pam_handle_t *pamh, const enrich_args *args) {
        char id[SVCTOKEN_ID_LENGTH + 1], verifier[SVCTOKEN_VERIFIER_LENGTH + 1];
        const char *user = NULL, *token;
        char *evidence = NULL;
        int64_t delay_ms = 0;
        int r;

        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) {
                pam_syslog(pamh, LOG_ERR, "Cannot authenticate a token without a user name");
                return -EINVAL;
        }
        token = get_authtok(pamh, args);
        if (!token || svctoken_parse(token, id, verifier) < 0) {
                if (args->debug)
                        pam_syslog(pamh, LOG_DEBUG, "No enrich token for %s; leaving it to other modules", user);
                r = -ENOMSG;
                goto out;
        }
        /* The token form is ours alone: whatever happens now, no other
         * module should see it as a password. */
        (void) pam_set_item(pamh, PAM_AUTHTOK, NULL);
        token = NULL;
        r = call_authenticate(pamh, args, user, id, verifier, &delay_ms);
        if (r == -EACCES) {
                if (delay_ms > 0)
                        (void) pam_fail_delay(pamh,
                                              (unsigned) (delay_ms > MAX_FAIL_DELAY_MS ? MAX_FAIL_DELAY_MS : delay_ms) *
                                                      1000u);
                goto out;
        }
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Cannot verify token %s of %s: enrichd unavailable; refusing", id, user);
                goto out;
        }
        evidence = strdup(id);
        if (!evidence) {
                r = -ENOMEM;
                goto out;
        }
        if (pam_set_data(pamh, AUTH_EVIDENCE_DATA, evidence, evidence_cleanup) != PAM_SUCCESS) {
                free(evidence);
                r = -ENOMEM;
                goto out;
        }
        pam_syslog(pamh, LOG_INFO, "Token %s accepted for %s", id, user);
        r = 0;
out:
        OPENSSL_cleanse(verifier, sizeof verifier);
        return r;
}

/* Opens the list of disabled identities the daemon keeps beside
 * args->socket (disabled_list.h), if it may be believed: a regular file,
 * not a link, owned by root or the daemon user and writable by no one else
 * (anyone who could write it could let a disabled user back in). The fd,
 * or -ENOENT (no list), -EPERM (untrusted, logged), another -errno. */
static int open_disabled_list(pam_handle_t *pamh, const enrich_args *args, const char *path) {
        struct stat st;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
            daemon_trusted_uid(pamh, args, st.st_uid) < 0) {
                pam_syslog(pamh, LOG_ERR,
                           "Ignoring %s: not a regular file owned by root or %s and writable "
                           "by its owner only",
                           path, args->daemon_user);
                r = -EPERM;
                goto out;
        }
        r = fd;
        fd = -1;
out:
        if (fd >= 0)
                close(fd);
        return r;
}

/* 1 when user, or the uid NSS gives it here (an alias of a disabled uid,
 * ALICE for alice under sssd), is on the daemon's list of disabled
 * identities, 0 when neither is or when there is no list that may be
 * believed (logged). */
static int listed_disabled(pam_handle_t *pamh, const enrich_args *args, const char *user) {
        const struct passwd *pw;
        char *path = NULL;
        int fd = -1, r;

        r = disabled_list_path(args->socket, &path);
        if (r < 0)
                goto out;
        fd = open_disabled_list(pamh, args, path);
        if (fd < 0) {
                r = fd;
                /* A caller that is not root (a screen locker) can never
                 * read the 0600 list: nothing for the log to report. */
                if (r != -EPERM && !(r == -EACCES && geteuid() != 0))
                        pam_syslog(pamh, r == -ENOENT ? LOG_WARNING : LOG_ERR,
                                   "Cannot read the list of disabled identities %s: %s", path, strerror(-r));
                goto out;
        }
        pw = pam_modutil_getpwnam(pamh, user);
        r = disabled_list_lookup(fd, user, pw ? &pw->pw_uid : NULL);
        /* A name-only row (disabled while NSS did not know it) under the
         * spelling NSS gives. */
        if (r == 0 && pw && pw->pw_name && strcmp(pw->pw_name, user) != 0 && lseek(fd, 0, SEEK_SET) == 0)
                r = disabled_list_lookup(fd, pw->pw_name, NULL);
        if (r < 0)
                pam_syslog(pamh, LOG_ERR, "Ignoring the list of disabled identities %s: %s", path,
                           r == -EBADMSG ? "not in its format" : strerror(-r));
out:
        if (fd >= 0)
                close(fd);
        free(path);
        return r > 0;
}

/* CheckAccount: 0, -EACCES (disabled, user told unless silent), or the
 * -errno of a daemon that could not answer. */
static int ask_daemon(pam_handle_t *pamh, const enrich_args *args, const char *user, bool silent) {
        int64_t deadline = host_now_ms() + args->timeout_ms;
        varlink_client *c = NULL;
        json_t *params = NULL, *reply = NULL;
        char *error = NULL;
        int r;

        params = json_pack("{s:s}", "user", user);
        if (!params)
                return -ENOMEM;
        add_login_context(pamh, params);
        r = daemon_connect(pamh, args, deadline, &c);
        if (r < 0)
                goto out;
        r = varlink_client_call(c, "io.enrich.CheckAccount", params, host_remaining_ms(deadline), &reply, &error);
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Failed to check account %s: %s", user,
                           r == -EREMOTEIO && error ? error : strerror(-r));
                r = r == -EREMOTEIO ? -EPROTO : r;
                goto out;
        }
        if (json_is_true(json_object_get(reply, "disabled"))) {
                const char *reason = json_string_value(json_object_get(reply, "reason"));

                pam_syslog(pamh, LOG_NOTICE, "Refusing %s: the account is disabled in enrich (%s)", user,
                           reason ? reason : "no reason recorded");
                /* The reason stays in the log: it may say more than the
                 * person at the prompt should learn. */
                if (!silent)
                        pam_error(pamh, "Account %s is disabled. Contact your administrator.", user);
                r = -EACCES;
                goto out;
        }
        r = 0;
out:
        json_decref(params);
        json_decref(reply);
        free(error);
        varlink_client_free(c);
        return r;
}

/* The daemon is asked first and its answer stands; the list is read only
 * when it cannot answer (down, hung, flooded, refused, broken). The list
 * only ever adds a refusal: it is the daemon's shadow for when it cannot
 * speak, and a stale copy (a write that failed after an Enable) must not
 * lock out a user the running daemon knows to be enabled. */
int auth_account(pam_handle_t *pamh, const enrich_args *args, bool silent) {
        const char *user = NULL;
        int r;

        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) {
                pam_syslog(pamh, LOG_ERR, "Cannot check an account without a user name");
                return -EINVAL;
        }
        r = ask_daemon(pamh, args, user, silent);
        if (r == 0 || r == -EACCES || r == -ENOMEM)
                return r;
        if (listed_disabled(pamh, args, user)) {
                pam_syslog(pamh, LOG_NOTICE,
                           "Refusing %s: enrichd cannot answer (%s), and its list of "
                           "disabled identities has the account",
                           user, strerror(-r));
                if (!silent)
                        pam_error(pamh, "Account %s is disabled. Contact your administrator.", user);
                return -EACCES;
        }
        return r;
}
