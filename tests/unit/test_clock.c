/* test_clock.c: the live-session scheduler under a scripted clock. This
 * binary links its own clock_wall_ms and clock_monotonic_ms in place of the
 * daemon's weak ones (daemon/clock.c), then steps the wall clock a day
 * forwards and backwards and checks that every token is issued from the
 * current reading (exp = iat + ttl, never more than max_ttl), that refreshes
 * keep to their monotonic schedule, and that a step neither revokes a
 * session that policy still grants nor lets an expired grant live on. Real
 * sqlite, real signing key, real kernel keys (in this process's keyring). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <jansson.h>
#include <keyutils.h>
#include <sqlite3.h>
#include "b64url.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "sessions.h"
#include "enrichd.h"
#include "grants.h"
#include "host.h"
#include "issue.h"
#include "keyring.h"
#include "live.h"
#include "signer.h"
#include "../tap.h"

#define DAY     86400
#define TTL     600         /* claims_ttl below; refresh is due after 400 s */
#define MAX_TTL 3600

static int64_t fake_wall_ms, fake_mono_ms;
/* The end of the grant of jit:x: no token carrying it outlives it. */
static int64_t grant_end;

int64_t clock_wall_ms(void) {
        return fake_wall_ms;
}

int64_t clock_monotonic_ms(void) {
        return fake_mono_ms;
}

/* Time passes: both clocks move. */
static void elapse(int64_t seconds) {
        fake_wall_ms += seconds * 1000;
        fake_mono_ms += seconds * 1000;
}

/* The wall clock steps (settimeofday, a VM resumed); a second passes. */
static void step_wall(int64_t seconds) {
        fake_wall_ms += seconds * 1000;
        elapse(1);
}

static char dir[] = "/tmp/ef8-test-clock-XXXXXX";

typedef struct row {
        int64_t issued, expires, ended;
        int64_t iat, nbf, exp;
        bool has_jit;
} row;

/* The session's row and the claims it records. */
static int read_row(enrichd *d, const char *sid, row *ret) {
        sqlite3_stmt *st = NULL;
        json_t *claims = NULL, *scope;
        int r = -ENOENT;

        if (sqlite3_prepare_v2(db_handle(d->db),
                               "SELECT token_issued, expires, ended, claims FROM sessions "
                               "WHERE sid = ?",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
                *ret = (row) { .issued = sqlite3_column_int64(st, 0),
                               .expires = sqlite3_column_int64(st, 1),
                               .ended = sqlite3_column_int64(st, 2) };
                claims = json_loads((const char *) sqlite3_column_text(st, 3), 0, NULL);
                ret->iat = json_integer_value(json_object_get(claims, "iat"));
                ret->nbf = json_integer_value(json_object_get(claims, "nbf"));
                ret->exp = json_integer_value(json_object_get(claims, "exp"));
                scope = json_object_get(claims, "scope");
                ret->has_jit = json_is_string(scope) && strstr(json_string_value(scope), "jit:x");
                r = 0;
        }
        json_decref(claims);
        sqlite3_finalize(st);
        return r;
}

/* exp of the token in the kernel key (its payload, decoded unverified). */
static int64_t key_exp(key_serial_t key) {
        char *token = NULL, *dot, *end;
        uint8_t *payload = NULL;
        size_t len = 0;
        json_t *claims = NULL;
        int64_t exp = -1;

        if (keyring_read(key, &token) < 0)
                return -1;
        dot = strchr(token, '.');
        end = dot ? strchr(dot + 1, '.') : NULL;
        if (end && b64url_decode(dot + 1, (size_t) (end - dot - 1), &payload, &len) == 0 &&
            (claims = json_loadb((const char *) payload, len, 0, NULL)))
                exp = json_integer_value(json_object_get(claims, "exp"));
        json_decref(claims);
        free(payload);
        free(token);
        return exp;
}

/* A login of root through service ef8-svc, as Enrich records it; with
 * with_key, AttachKey names a fresh key of this process. */
static int open_session(enrichd *d, bool with_key, char **ret_sid, key_serial_t *ret_key) {
        login_context ctx = { .user = "root", .service = "ef8-svc", .asid = -1 };
        evaluation e = { 0 };
        char *sid = NULL, *token = NULL, *claims = NULL;
        int64_t now = clock_now(), expires = 0;
        key_serial_t key = 0;
        int r;

        r = issue_evaluate(d, &ctx, now, true, &e);
        if (r == 0)
                r = issue_random_id(&sid);
        if (r == 0)
                r = issue_sign(d, &ctx, &e, sid, now, &token, &claims, NULL, &expires);
        if (r < 0)
                goto out;
        r = sessions_insert(d->db, &(session_row) { .sid = sid,
                                                    .user = "root",
                                                    .uid = 0,
                                                    .service = "ef8-svc",
                                                    .pid = getpid(),
                                                    .asid = -1,
                                                    .created = now,
                                                    .expires = expires,
                                                    .claims = claims,
                                                    .pid_start = live_pid_start(getpid()),
                                                    .token_issued = now });
        if (r == 0)
                r = live_add(d,
                             &(session_row) { .sid = sid,
                                              .user = "root",
                                              .uid = 0,
                                              .service = "ef8-svc",
                                              .pid = getpid(),
                                              .asid = -1,
                                              .created = now,
                                              .expires = expires,
                                              .pid_start = live_pid_start(getpid()),
                                              .token_issued = now },
                             NULL, false);
        if (r == 0 && with_key) {
                /* As the module makes it: the daemon refreshes only a key
                 * that is still the claims key (keyring_check_claims). */
                key = add_key("user", "enrich:claims", token, strlen(token), KEY_SPEC_PROCESS_KEYRING);
                if (key < 0 || keyctl_setperm(key, ENRICH_KEY_PERM) < 0)
                        r = -errno;
                if (r == 0)
                        r = sessions_attach_key(d->db, sid, key);
                if (r == 0)
                        r = live_attach_key(d, sid, key);
        }
        if (r < 0)
                goto out;
        *ret_sid = sid;
        sid = NULL;
        *ret_key = key;
out:
        evaluation_clear(&e);
        free(sid);
        free(token);
        free(claims);
        return r;
}

static int write_config(const char *path) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        fprintf(f,
                "socket = \"%s/io.enrich\";\nuserdb_socket = \"%s/io.enrich.Groups\";\n"
                "jwks = \"%s/jwks.json\";\nstate_dir = \"%s/state\";\nissuer = \"enrichd@ef8\";\n"
                "claims_ttl = %d;\nmax_ttl = %d;\n"
                "rules = ( { name = \"ef8\"; match = { services = [\"ef8-svc\"]; };\n"
                "            grant = { scopes = [\"s:read\"]; }; } );\n",
                dir, dir, dir, dir, TTL, MAX_TTL);
        return fclose(f) == 0 ? 0 : -errno;
}

/* The token now recorded for sid was issued at the current clock reading
 * and lives exactly ttl, or until the end of the grant it carries; the key
 * holds the same token. */
static bool fresh_token(enrichd *d, const char *sid, key_serial_t key) {
        row w;
        int64_t exp;

        if (read_row(d, sid, &w) < 0)
                return false;
        exp = w.has_jit && grant_end < w.iat + TTL ? grant_end : w.iat + TTL;
        return w.ended == 0 && w.issued == clock_now() && w.iat == w.issued && w.nbf == w.iat && w.exp == exp &&
               w.expires == w.exp && key_exp(key) == w.exp;
}

static bool issued_at(enrichd *d, const char *sid, int64_t t) {
        row w;

        return read_row(d, sid, &w) == 0 && w.ended == 0 && w.issued == t;
}

int main(void) {
        char path[1024], state[512], *error = NULL, *sid = NULL, *idle = NULL, *gid = NULL;
        char *scopes[] = { (char *) "jit:x", NULL };
        enrichd d = { 0 };
        key_serial_t key = 0, no_key = 0;
        int64_t t0, t_refresh, grant_expiry;
        row w;

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        /* Whole seconds, so that clock_now() * 1000 == the wall reading. */
        fake_wall_ms = (int64_t) time(NULL) * 1000;
        fake_mono_ms = 5000000;
        snprintf(path, sizeof path, "%s/enrichd.conf", dir);
        snprintf(state, sizeof state, "%s/state", dir);
        if (write_config(path) < 0 || mkdir(state, 0700) < 0 || config_load(path, &d.config, &error) < 0 ||
            host_machine_id(&d.machine_id) < 0 || signer_open(state, &d.signer, &error) < 0) {
                printf("not ok clock-setup (%s)\n", error ? error : strerror(errno));
                return 1;
        }
        snprintf(path, sizeof path, "%s/enrich.db", state);
        if (db_open(path, &d.db, &error) < 0 || live_new(&d.live) < 0) {
                printf("not ok clock-setup (%s)\n", error ? error : "live_new");
                return 1;
        }
        d.grants_checked = clock_now();
        CHECK(issue_update_policy_version(&d) == 0, "clock-setup");

        /* A grant of jit:x for 1000 s, and two logins: one with a key, one
         * whose module never attached one. */
        t0 = clock_now();
        grant_expiry = t0 + 1000;
        grant_end = grant_expiry;
        CHECK(grants_new_id(&gid) == 0 &&
                      grants_add(d.db, &(grant) { .id = gid,
                                                  .user = (char *) "root",
                                                  .uid = 0,
                                                  .scopes = scopes,
                                                  .reason = (char *) "ef8",
                                                  .granted_by = (char *) "root",
                                                  .created = t0,
                                                  .expires = grant_expiry }) == 0 &&
                      issue_update_policy_version(&d) == 0,
              "clock-grant-added");
        CHECK(open_session(&d, true, &sid, &key) == 0 && open_session(&d, false, &idle, &no_key) == 0,
              "clock-sessions-open");
        if (!sid || !idle) {
                printf("# %s\n", error ? error : "");
                TAP_EXIT();
        }
        CHECK(fresh_token(&d, sid, key) && read_row(&d, sid, &w) == 0 && w.has_jit, "clock-first-token");

        /* The routine schedule: nothing before two thirds of the life,
         * a fresh token after. */
        elapse(399);
        live_tick(&d);
        CHECK(issued_at(&d, sid, t0), "clock-no-refresh-before-two-thirds");
        elapse(2);
        live_tick(&d);
        CHECK(fresh_token(&d, sid, key), "clock-refresh-at-two-thirds");
        CHECK(read_row(&d, sid, &w) == 0 && w.has_jit && w.exp == grant_expiry, "clock-refresh-ends-with-the-grant");

        /* Within the tolerance (a second or so of NTP step) nothing happens. */
        t_refresh = clock_now();
        step_wall(1);
        live_tick(&d);
        CHECK(issued_at(&d, sid, t_refresh), "clock-small-step-ignored");

        /* A day forwards: the grant (1000 s) is over, the rule still grants.
         * The session stays, with a token issued from the new time without
         * the grant's scope; the unattached login is not ended early (its
         * wait is monotonic). */
        step_wall(DAY);
        live_tick(&d);
        CHECK(fresh_token(&d, sid, key), "clock-forward-step-reissues-from-new-time");
        CHECK(read_row(&d, sid, &w) == 0 && !w.has_jit, "clock-forward-step-expires-passed-grant");
        CHECK(read_row(&d, idle, &w) == 0 && w.ended == 0, "clock-forward-step-keeps-unattached-login");
        CHECK(key_exp(key) - clock_now() <= MAX_TTL && key_exp(key) > clock_now(), "clock-forward-step-key-valid-now");

        /* A day backwards, to before the grant's expiry: the old token's iat
         * and nbf would lie a day in the future (not yet valid anywhere), so
         * it is re-issued at once, at the new time. The grant counts again
         * by the wall clock, and expires again at its time. */
        step_wall(-DAY - 200);
        live_tick(&d);
        CHECK(fresh_token(&d, sid, key), "clock-backward-step-reissues-from-new-time");
        CHECK(read_row(&d, sid, &w) == 0 && w.nbf <= clock_now(), "clock-backward-step-token-valid-now");
        CHECK(d.next_grant_expiry == grant_expiry, "clock-backward-step-reschedules-grant-expiry");

        /* Refreshes keep coming on the monotonic schedule: the wall-clock
         * schedule would have waited a day. */
        elapse(401);
        live_tick(&d);
        CHECK(fresh_token(&d, sid, key), "clock-refresh-continues-after-backward-step");
        while (clock_now() <= grant_expiry) {
                elapse(50);
                live_tick(&d);
        }
        CHECK(read_row(&d, sid, &w) == 0 && w.ended == 0 && !w.has_jit && w.issued > grant_expiry - 50 &&
                      w.exp - w.iat == TTL,
              "clock-grant-expires-again-after-backward-step");

        /* The unattached login ends once its token's life has passed on the
         * monotonic clock (600 s after it opened, whatever the wall said). */
        CHECK(read_row(&d, idle, &w) == 0 && w.ended != 0, "clock-unattached-login-ends-on-monotonic-time");

        /* A token that a grant's end cuts short is refreshed
         * LIVE_END_LEAD_MS (1.5 s) before that end, not at two thirds of
         * its life, and the refresh leaves the grant out while the key
         * still lives. */
        {
                int64_t t_short = clock_now();
                char *short_id = NULL;

                grant_end = t_short + 6;
                CHECK(grants_new_id(&short_id) == 0 &&
                              grants_add(d.db, &(grant) { .id = short_id,
                                                          .user = (char *) "root",
                                                          .uid = 0,
                                                          .scopes = scopes,
                                                          .reason = (char *) "short",
                                                          .granted_by = (char *) "root",
                                                          .created = t_short,
                                                          .expires = grant_end }) == 0 &&
                              issue_update_policy_version(&d) == 0 && live_reissue(&d, "root", "grant", NULL) == 0,
                      "clock-short-grant-added");
                CHECK(read_row(&d, sid, &w) == 0 && w.has_jit && w.exp == grant_end && key_exp(key) == grant_end,
                      "clock-token-ends-with-short-grant");
                elapse(4);
                live_tick(&d);
                CHECK(issued_at(&d, sid, t_short), "clock-no-refresh-at-two-thirds-before-grant-end");
                fake_wall_ms += 600;
                fake_mono_ms += 600;
                live_tick(&d);
                CHECK(read_row(&d, sid, &w) == 0 && w.ended == 0 && !w.has_jit && w.issued == t_short + 4 &&
                              w.exp == w.iat + TTL && key_exp(key) == w.exp,
                      "clock-grant-dropped-just-before-its-end");
                free(short_id);
        }

        /* However the evaluation ends up, no token outlives max_ttl. */
        {
                login_context ctx = { .user = "root", .service = "ef8-svc", .asid = -1 };
                evaluation e = { 0 };
                char *token = NULL, *claims = NULL;
                int64_t expires = 0, now = clock_now();

                if (issue_evaluate(&d, &ctx, now, true, &e) == 0) {
                        e.result->ttl = 10 * DAY;
                        CHECK(issue_sign(&d, &ctx, &e, sid, now, &token, &claims, NULL, &expires) == 0 &&
                                      expires == now + MAX_TTL,
                              "clock-ttl-clamped-to-max-ttl");
                } else
                        CHECK(false, "clock-ttl-clamped-to-max-ttl");
                evaluation_clear(&e);
                free(token);
                free(claims);
        }

        /* Every step took place while the session's process lived: none
         * was revoked. */
        CHECK(read_row(&d, sid, &w) == 0 && w.ended == 0 && key_exp(key) > 0, "clock-session-never-revoked");

        if (key > 0)
                keyctl_revoke(key);
        live_free(d.live);
        db_close(d.db);
        signer_free(d.signer);
        config_free(d.config);
        free(d.machine_id);
        free(sid);
        free(idle);
        free(gid);
        free(error);
        {
                char cmd[600];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        printf("# could not remove %s\n", dir);
        }
        TAP_EXIT();
}
