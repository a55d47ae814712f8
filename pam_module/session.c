/* session.c: the daemon conversation of one login. open, one round trip
 * under one deadline: make the claims key (placeholder, final owner and
 * permissions) in the thread keyring -> Enrich with its serial, the daemon
 * writes the token into it -> publish it in the session keyring. close:
 * revoke the key, then EndSession as a oneway call, not waited for.
 * Everything here returns 0 or a negative errno and logs the step that
 * failed; pam_enrich.c turns that into a PAM code for the hook that is
 * running. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "host.h"
#include "jws.h"
#include "auth.h"
#include "client.h"
#include "keyring.h"
#include "session.h"
#include "util.h"
#include "varlink.h"

/* PAM data name under which open_session leaves what close_session needs. */
#define SESSION_DATA "pam_enrich_session"

typedef struct session_data {
        char *sid;
        key_serial_t serial;
        key_serial_t joined_keyring;    /* the login's keyring, the module's own */
        key_serial_t keyinit_keyring;   /* pam_keyinit's, which it replaced, or 0 */
} session_data;

static void session_data_free(session_data *d) {
        if (!d)
                return;
        free(d->sid);
        free(d);
}

static void session_data_cleanup(pam_handle_t *pamh, void *data, int error_status) {
        session_data *d = data;

        /* pam_end without close_session: pam_keyinit's keyring would stay
         * in the thread keyring, costing the user a key, for as long as the
         * thread lives (harmless in a forked child, which has none). */
        if (d && d->keyinit_keyring > 0)
                (void) keyring_release_keyinit(d->keyinit_keyring);
        session_data_free(d);
}

/* Sends one call within what is left of deadline; daemon_receive() takes
 * its reply, so that the caller can work while the daemon does. */
static int daemon_send(pam_handle_t *pamh, varlink_client *c, const char *method, json_t *params, int64_t deadline) {
        int timeout = host_remaining_ms(deadline), r;

        if (timeout == 0) {
                pam_syslog(pamh, LOG_ERR, "No time left to call %s", method);
                return -ETIMEDOUT;
        }
        r = varlink_client_send(c, method, params, false, timeout);
        if (r < 0)
                pam_syslog(pamh, LOG_ERR, "Failed to call %s: %s", method, strerror(-r));
        return r;
}

/* The reply to the call daemon_send() sent, within what is left of
 * deadline. On success *ret (optional) is the reply parameters, a new
 * reference. On an error reply (-EREMOTEIO) with ret_error given,
 * *ret_error is its name (malloc'd) and *ret its parameters, and the
 * caller says what went wrong; otherwise it is logged here. */
static int daemon_receive(pam_handle_t *pamh, const enrich_args *args, varlink_client *c, const char *method,
                          int64_t deadline, json_t **ret, char **ret_error) {
        json_t *reply = NULL;
        char *error = NULL;
        int timeout = host_remaining_ms(deadline), r;

        if (timeout == 0) {
                pam_syslog(pamh, LOG_ERR, "No time left to wait for %s", method);
                return -ETIMEDOUT;
        }
        r = varlink_client_next(c, timeout, &reply, &error, NULL);
        if (r == -EREMOTEIO && ret_error) {
                *ret_error = error;
                error = NULL;
                *ret = reply;
                reply = NULL;
                goto out;
        }
        if (r == -EREMOTEIO) {
                char *detail = (args->debug && reply) ? json_dumps(reply, JSON_COMPACT) : NULL;

                pam_syslog(pamh, LOG_ERR, "enrichd answered %s with %s%s%s", method, error ? error : "an error",
                           detail ? " " : "", detail ? detail : "");
                free(detail);
                goto out;
        }
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Failed to call %s: %s", method, strerror(-r));
                goto out;
        }
        if (ret) {
                *ret = reply;
                reply = NULL;
        }
out:
        json_decref(reply);
        free(error);
        return r;
}

static int amr_append(json_t *amr, const char *method) {
        size_t i;
        json_t *v;

        json_array_foreach(amr, i, v)
                if (streq_ptr(json_string_value(v), method))
                        return 0;
        return json_array_append_new(amr, json_string(method)) < 0 ? -ENOMEM : 0;
}

static const char *pam_item_string(pam_handle_t *pamh, int item) {
        const void *v = NULL;

        if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || !v || !*(const char *) v)
                return NULL;
        return v;
}

/* The authentication methods this login used, as far as the module can know
 * them honestly; *ret is NULL when it cannot say anything.
 *
 * - sshd with ExposeAuthInfo puts one line per successful method into
 *   SSH_AUTH_INFO_0 ("publickey ssh-ed25519 AAAA...", "password",
 *   "keyboard-interactive"): publickey is proof of possession of a key
 *   ("pop"), the others are passwords ("pwd"). Only sshd sets it: for any
 *   other service the variable could come from a user's environment file
 *   (pam_env user_readenv) and is ignored. Under sshd, pam_enrich must come
 *   before any pam_env line that reads user files (docs/admin-guide.md).
 * - Otherwise, if an authentication token (a password) was collected in this
 *   very PAM transaction, a password was part of the authentication the
 *   application completed before opening the session: "pwd". sudo with a
 *   cached timestamp, su from root, cron and systemd never collect one, so
 *   they get nothing rather than a guess. */
static int collect_amr(pam_handle_t *pamh, json_t **ret) {
        json_t *amr = json_array();
        const char *service = pam_item_string(pamh, PAM_SERVICE);
        const char *info = streq_ptr(service, "sshd") ? pam_getenv(pamh, "SSH_AUTH_INFO_0") : NULL;
        const void *authtok = NULL;
        int r = 0;

        if (!amr)
                return -ENOMEM;
        if (info) {
                const char *line = info;

                while (*line && r == 0) {
                        size_t len = strcspn(line, " \n");

                        if (len == 9 && strncmp(line, "publickey", len) == 0)
                                r = amr_append(amr, "pop");
                        else if ((len == 8 && strncmp(line, "password", len) == 0) ||
                                 (len == 20 && strncmp(line, "keyboard-interactive", len) == 0))
                                r = amr_append(amr, "pwd");
                        line += strcspn(line, "\n");
                        line += *line == '\n';
                }
        } else if (pam_get_item(pamh, PAM_AUTHTOK, &authtok) == PAM_SUCCESS && authtok && *(const char *) authtok) {
                r = amr_append(amr, "pwd");
        }
        if (r < 0)
                goto out;
        if (json_array_size(amr) > 0) {
                *ret = amr;
                amr = NULL;
        } else
                *ret = NULL;
out:
        json_decref(amr);
        return r;
}

/* Sets key to a string, or leaves it out when value is NULL or not UTF-8
 * (a remote host name is not ours to vouch for; the login goes on without
 * it rather than failing). */
static int set_optional_string(pam_handle_t *pamh, json_t *obj, const char *key, const char *value) {
        json_t *v;

        if (!value)
                return 0;
        v = json_string(value);
        if (!v) {
                pam_syslog(pamh, LOG_WARNING, "Leaving out %s: not valid UTF-8", key);
                return 0;
        }
        return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

static int build_enrich_params(pam_handle_t *pamh, const enrich_args *args, json_t **ret) {
        json_t *params = NULL, *amr = NULL;
        const char *user = pam_item_string(pamh, PAM_USER);
        const char *service = pam_item_string(pamh, PAM_SERVICE);
        const void *evidence = NULL;
        uint32_t asid;
        int r;

        if (!user || !service) {
                pam_syslog(pamh, LOG_ERR, "Cannot ask for claims without %s", user ? "PAM_SERVICE" : "PAM_USER");
                return -EINVAL;
        }
        r = collect_amr(pamh, &amr);
        if (r < 0)
                goto out;
        /* A token login (auth.c left its id) is "tok", not "pwd"; a unit's
         * stack (amr=svc) says so. The daemon checks the token id itself. */
        if (pam_get_data(pamh, AUTH_EVIDENCE_DATA, &evidence) != PAM_SUCCESS)
                evidence = NULL;
        if (evidence || args->amr_svc) {
                json_decref(amr);
                amr = json_array();
                if (!amr || (args->amr_svc && amr_append(amr, "svc") < 0) || (evidence && amr_append(amr, "tok") < 0)) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        params = json_pack("{s:s, s:s, s:I}", "user", user, "service", service, "pid", (json_int_t) getpid());
        if (!params) {
                r = -ENOMEM;
                goto out;
        }
        if ((r = set_optional_string(pamh, params, "tty", pam_item_string(pamh, PAM_TTY))) < 0 ||
            (r = set_optional_string(pamh, params, "rhost", pam_item_string(pamh, PAM_RHOST))) < 0 ||
            (r = set_optional_string(pamh, params, "ruser", pam_item_string(pamh, PAM_RUSER))) < 0 ||
            (r = set_optional_string(pamh, params, "tokenId", evidence)) < 0)
                goto out;
        if (host_audit_session(0, &asid) == 0 && asid != HOST_AUDIT_SESSION_UNSET &&
            json_object_set_new(params, "asid", json_integer(asid)) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (amr) {
                if (json_object_set_new(params, "amr", amr) < 0) {
                        amr = NULL;
                        r = -ENOMEM;
                        goto out;
                }
                amr = NULL;
        }
        if (args->debug) {
                char *dump = json_dumps(params, JSON_COMPACT);

                pam_syslog(pamh, LOG_DEBUG, "Enrich %s", dump ? dump : "(?)");
                free(dump);
        }
        *ret = params;
        params = NULL;
        r = 0;
out:
        json_decref(amr);
        json_decref(params);
        return r;
}

/* Checks the Enrich reply and returns what the open needs from it; *ret_sid
 * is borrowed from reply. */
static int parse_enrich_reply(pam_handle_t *pamh, json_t *reply, const char **ret_sid, json_int_t *ret_ttl,
                              uid_t *ret_uid) {
        const char *sid = json_string_value(json_object_get(reply, "sid"));
        json_t *ttl = json_object_get(reply, "ttl"), *uid = json_object_get(reply, "uid");

        if (!sid || !*sid || !json_is_integer(ttl) || !json_is_integer(uid) || json_integer_value(uid) < 0 ||
            json_integer_value(uid) >= (json_int_t) UINT32_MAX) {
                pam_syslog(pamh, LOG_ERR, "enrichd sent a malformed Enrich reply");
                return -EBADMSG;
        }
        *ret_sid = sid;
        *ret_ttl = json_integer_value(ttl);
        *ret_uid = (uid_t) json_integer_value(uid);
        return 0;
}

/* Best effort, not waited for: tells the daemon to forget sid. A oneway
 * call, sent within what is left of deadline; the daemon serves it even
 * once this side has closed the connection. */
static int end_session(pam_handle_t *pamh, varlink_client *c, const char *sid, int64_t deadline) {
        json_t *params = json_pack("{s:s}", "sid", sid);
        int timeout = host_remaining_ms(deadline), r;

        if (!params)
                return -ENOMEM;
        r = timeout > 0 ? varlink_client_send_oneway(c, "io.enrich.EndSession", params, timeout) : -ETIMEDOUT;
        if (r < 0)
                pam_syslog(pamh, LOG_ERR, "Failed to send EndSession for session %s: %s", sid, strerror(-r));
        json_decref(params);
        return r;
}

/* Seconds the placeholder key lives if the open fails and nobody revokes
 * it: past what is left of deadline (the kernel counts whole seconds of a
 * coarse clock, hence the extra one), and not much longer. */
static unsigned pending_timeout(int64_t deadline) {
        return (unsigned) (host_remaining_ms(deadline) + 999) / 1000 + 1;
}

/* Makes the claims key (see session_open) and calls Enrich with its
 * serial. While the daemon works on it, sets up the login's session
 * keyring (keyring_prepare_session_for, before the login's uid is known):
 * its result, once, in *keyrings and *keyrings_result (0 or -errno). The key's group is the socket's, which must be the daemon's;
 * when it is not (an enrichd.socket without SocketGroup=, or one from
 * before it, still listening), the daemon refuses the key and says which
 * group it wants, and this tries once more with that group: the login
 * still gets its claims, at the price of a second round trip and a
 * warning. On success *ret_serial is the key, now holding the token, and
 * *ret_reply the reply's parameters; on failure no key is left. */
static int enrich_into_key(pam_handle_t *pamh, const enrich_args *args, varlink_client *c, json_t *params, gid_t group,
                           int64_t deadline, keyring_session *keyrings, int *keyrings_result, bool *keyrings_done,
                           key_serial_t *ret_serial, json_t **ret_reply) {
        key_serial_t serial = -1;
        json_t *reply = NULL;
        char *error = NULL;
        int r;

        for (int attempt = 0;; attempt++) {
                json_t *wanted;

                r = keyring_create_pending(group, pending_timeout(deadline), &serial);
                if (r < 0) {
                        serial = -1;
                        pam_syslog(pamh, LOG_ERR, "Failed to create the claims key: %s", strerror(-r));
                        goto out;
                }
                if (json_object_set_new(params, "keySerial", json_integer(serial)) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                r = daemon_send(pamh, c, "io.enrich.Enrich", params, deadline);
                if (r < 0)
                        break;
                if (!*keyrings_done) {
                        *keyrings_result = keyring_prepare_session_for(KEYRING_ANY_UID, keyrings);
                        *keyrings_done = true;
                }
                r = daemon_receive(pamh, args, c, "io.enrich.Enrich", deadline, &reply, &error);
                if (r != -EREMOTEIO)
                        break;
                wanted = json_object_get(reply, "keyGroup");
                if (attempt == 0 && streq_ptr(error, "io.enrich.KeyRejected") && json_is_integer(wanted) &&
                    json_integer_value(wanted) >= 0 && json_integer_value(wanted) < (json_int_t) UINT32_MAX &&
                    (gid_t) json_integer_value(wanted) != group) {
                        pam_syslog(pamh, LOG_WARNING,
                                   "The group of enrichd's socket %s (%u) is not enrichd's (%u): set "
                                   "SocketGroup= in enrichd.socket; asking again with enrichd's group",
                                   args->socket, (unsigned) group, (unsigned) json_integer_value(wanted));
                        group = (gid_t) json_integer_value(wanted);
                        keyring_discard_pending(serial);
                        serial = -1;
                        json_decref(reply);
                        reply = NULL;
                        free(error);
                        error = NULL;
                        continue;
                }
                pam_syslog(pamh, LOG_ERR, "enrichd answered io.enrich.Enrich with %s%s%s", error ? error : "an error",
                           json_is_string(json_object_get(reply, "reason")) ? ": " : "",
                           json_is_string(json_object_get(reply, "reason"))
                                   ? json_string_value(json_object_get(reply, "reason"))
                                   : "");
                break;
        }
        if (r < 0)
                goto out;
        *ret_serial = serial;
        serial = -1;
        *ret_reply = reply;
        reply = NULL;
out:
        if (serial != -1)
                keyring_discard_pending(serial);
        json_decref(reply);
        free(error);
        return r;
}

int session_open(pam_handle_t *pamh, const enrich_args *args) {
        int64_t deadline = host_now_ms() + args->timeout_ms;
        varlink_client *c = NULL;
        json_t *params = NULL, *reply = NULL;
        session_data *data = NULL;
        const char *sid = NULL;
        json_int_t ttl;
        key_serial_t serial = -1;
        keyring_session keyrings = {};
        gid_t group;
        uid_t user_uid;
        bool data_set = false, keyrings_done = false, keyrings_confirmed = false;
        int r, keyrings_result = 0;

        r = build_enrich_params(pamh, args, &params);
        if (r < 0)
                goto out;
        r = daemon_connect(pamh, args, deadline, &c);
        if (r < 0)
                goto out;
        r = daemon_socket_group(pamh, args, &group);
        if (r < 0)
                goto out;
        /* The key first, with everything but the token, where only this
         * thread sees it: the daemon writes the token into it, so the open
         * costs one round trip. Until the daemon has answered it is in no
         * session keyring; if the daemon dies or hangs, it is revoked
         * (here or below) or dies of its timeout. */
        r = enrich_into_key(pamh, args, c, params, group, deadline, &keyrings, &keyrings_result, &keyrings_done,
                            &serial, &reply);
        if (r < 0)
                goto out;
        r = parse_enrich_reply(pamh, reply, &sid, &ttl, &user_uid);
        if (r < 0)
                goto out;

        r = keyrings_result;
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Failed to set up a session keyring: %s", strerror(-r));
                goto out;
        }
        keyring_confirm_keyinit(&keyrings, user_uid);
        keyrings_confirmed = true;
        r = keyring_publish_claims(serial);
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Failed to link the claims key into the session keyring: %s", strerror(-r));
                goto out;
        }

        data = calloc(1, sizeof(*data));
        if (!data || !(data->sid = strdup(sid))) {
                r = -ENOMEM;
                goto out;
        }
        data->serial = serial;
        data->joined_keyring = keyrings.joined;
        data->keyinit_keyring = keyrings.keyinit;
        if (pam_set_data(pamh, SESSION_DATA, data, session_data_cleanup) != PAM_SUCCESS) {
                pam_syslog(pamh, LOG_ERR, "Failed to remember session %s for close_session", sid);
                r = -ENOMEM;
                goto out;
        }
        data = NULL;
        data_set = true;

        if (args->debug)
                pam_syslog(pamh, LOG_DEBUG, "Session %s: claims key %d installed in %s, expires in %lld s", sid,
                           (int) serial,
                           keyrings.keyinit ? "a session keyring replacing pam_keyinit's" : "a fresh session keyring",
                           (long long) ttl);
        r = 0;
out:
        if (r < 0 && !data_set) {
                session_data *joined = NULL;

                /* A key the daemon does not know about could be neither
                 * refreshed nor revoked by it: never leave one behind. */
                if (serial != -1)
                        keyring_discard_pending(serial);
                /* The keyring the login now runs in stays: it holds nothing
                 * of ours, the user cannot share it, and a login that goes
                 * on without claims (optional, fail=open) should not be
                 * left in a revoked keyring. When it is the module's own
                 * (the daemon failed after the module joined it, while the
                 * daemon worked), close_session ends it as it would with
                 * claims: the data names no key and no session. A keyring
                 * taken for pam_keyinit's before the daemon named the
                 * login's uid may be someone else's (root's, in a root
                 * shell): without that uid it is given up, with the user
                 * keyring it linked, rather than followed. */
                if (keyrings_done && keyrings_result == 0 && !keyrings_confirmed)
                        keyring_confirm_keyinit(&keyrings, KEYRING_ANY_UID);
                if (keyrings_done && keyrings_result == 0 && (joined = calloc(1, sizeof(*joined)))) {
                        joined->serial = -1;
                        joined->joined_keyring = keyrings.joined;
                        joined->keyinit_keyring = keyrings.keyinit;
                        if (pam_set_data(pamh, SESSION_DATA, joined, session_data_cleanup) != PAM_SUCCESS) {
                                session_data_free(joined);
                                joined = NULL;
                        }
                }
                if (!joined)
                        (void) keyring_release_keyinit(keyrings.keyinit);
                if (c && sid)
                        (void) end_session(pamh, c, sid, deadline);
        }
        session_data_free(data);
        json_decref(reply);
        json_decref(params);
        varlink_client_free(c);
        return r;
}

/* Finds the claims key of this login when open_session ran in another
 * process (sshd may open and close in different ones). Only a key whose
 * token names this login's user and service is taken: anything else
 * belongs to an enclosing login (say, sudo run without pam_keyinit) and is
 * left alone. Returns 0 with *ret_serial = -1 when there is nothing to do. */
static int find_session_key(pam_handle_t *pamh, const enrich_args *args, key_serial_t *ret_serial) {
        key_serial_t serial;
        char *token = NULL;
        json_t *payload = NULL;
        const char *sub, *svc;
        int r;

        *ret_serial = -1;
        r = keyring_find_claims(&serial);
        if (r == -ENOKEY || r == -ENOENT || r == -EKEYREVOKED || r == -EKEYEXPIRED) {
                /* None, or only a dead one the kernel will collect. */
                if (args->debug)
                        pam_syslog(pamh, LOG_DEBUG, "No live claims key in the session keyring");
                r = 0;
                goto out;
        }
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Failed to look for the claims key: %s", strerror(-r));
                goto out;
        }
        r = keyring_read(serial, &token);
        if (r == -EKEYREVOKED || r == -EKEYEXPIRED) {
                /* Already dead: nothing to revoke, and no sid to end. */
                r = 0;
                goto out;
        }
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Failed to read claims key %d: %s", (int) serial, strerror(-r));
                goto out;
        }
        /* A key made for an open that never completed: revoke it, it
         * holds nothing and no sid. */
        if (streq_ptr(token, ENRICH_KEY_PLACEHOLDER)) {
                *ret_serial = serial;
                r = 0;
                goto out;
        }
        r = jws_decode_unverified(token, NULL, &payload);
        if (r < 0) {
                pam_syslog(pamh, LOG_ERR, "Claims key %d holds no readable token", (int) serial);
                goto out;
        }
        sub = json_string_value(json_object_get(payload, "sub"));
        svc = json_string_value(json_object_get(payload, "svc"));
        if ((sub && !streq_ptr(sub, pam_item_string(pamh, PAM_USER))) ||
            (svc && !streq_ptr(svc, pam_item_string(pamh, PAM_SERVICE)))) {
                if (args->debug)
                        pam_syslog(pamh, LOG_DEBUG, "Claims key %d belongs to another login (%s/%s), leaving it",
                                   (int) serial, sub ? sub : "?", svc ? svc : "?");
                r = 0;
                goto out;
        }
        *ret_serial = serial;
        r = 0;
out:
        json_decref(payload);
        free(token);
        return r;
}

int session_close(pam_handle_t *pamh, const enrich_args *args) {
        int64_t deadline = host_now_ms() + args->timeout_ms;
        const void *stored = NULL;
        session_data *data = NULL;
        key_serial_t serial = -1;
        const char *sid = NULL;
        varlink_client *c = NULL;
        int r, key_result = 0;

        if (pam_get_data(pamh, SESSION_DATA, &stored) == PAM_SUCCESS) {
                if (!stored) {
                        /* Closed once already in this transaction. */
                        r = 0;
                        goto out;
                }
                data = (session_data *) stored;
                serial = data->serial;
                sid = data->sid;
        } else {
                /* Only revoke: the sid inside the key is not ours to end
                 * sessions with as root. The daemon ends the session itself
                 * when its next refresh finds the key revoked. */
                r = find_session_key(pamh, args, &serial);
                if (r < 0)
                        key_result = r;
        }

        if (serial != -1) {
                r = keyring_revoke(serial);
                if (r == -EKEYREVOKED || r == -EKEYEXPIRED || r == -ENOKEY)
                        r = 0;
                if (r < 0) {
                        pam_syslog(pamh, LOG_ERR, "Failed to revoke claims key %d: %s", (int) serial, strerror(-r));
                        key_result = r;
                } else if (args->debug)
                        pam_syslog(pamh, LOG_DEBUG, "Claims key %d revoked", (int) serial);
        }

        if (sid) {
                /* The daemon learns the end so it stops refreshing; if it is
                 * unreachable the revoked key already ends the claims, and
                 * the daemon drops the session when its refresh fails.
                 * Not waited for: the key is revoked already. */
                if (daemon_connect(pamh, args, deadline, &c) == 0 && end_session(pamh, c, sid, deadline) == 0 &&
                    args->debug)
                        pam_syslog(pamh, LOG_DEBUG, "Session %s: EndSession sent", sid);
        }

        /* The keyring this module joined at open ends with the login, as
         * pam_keyinit revoke does for its own: processes that outlive the
         * login (nohup, tmux) keep nothing of it. Where it replaced the
         * keyring of a pam_keyinit earlier in the stack (whose close has run
         * by now), it does what that one did: with pam_keyinit force but
         * no revoke it lives on for them, and only the claims key, revoked
         * above, is gone. */
        if (data && data->joined_keyring > 0) {
                bool keyinit_lives = keyring_release_keyinit(data->keyinit_keyring);

                data->keyinit_keyring = 0;
                if (keyinit_lives) {
                        if (args->debug)
                                pam_syslog(pamh, LOG_DEBUG,
                                           "Session keyring %d outlives the session, as pam_keyinit's did",
                                           (int) data->joined_keyring);
                } else {
                        r = keyring_revoke(data->joined_keyring);
                        if (r < 0 && r != -EKEYREVOKED && r != -ENOKEY)
                                pam_syslog(pamh, LOG_WARNING, "Failed to revoke session keyring %d: %s",
                                           (int) data->joined_keyring, strerror(-r));
                }
        }

        /* Forget the data (frees it) so a second close does not repeat. */
        if (data)
                (void) pam_set_data(pamh, SESSION_DATA, NULL, NULL);
        r = key_result;
out:
        varlink_client_free(c);
        return r;
}
