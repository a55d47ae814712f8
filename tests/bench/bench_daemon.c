/* bench_daemon: measurements that talk to a running enrichd (as root) or to
 * OpenSSL directly, one per subcommand, each printing one JSON object:
 *
 *   sign   --ms T                      raw Ed25519 signs/s on one core (EVP)
 *   verify --ms T                      raw Ed25519 verify cost (EVP)
 *   enrich --socket S --user U --service SVC --clients N --ms T [--max-calls M]
 *          [--daemon-pid P]
 *          Enrich calls/s from N concurrent connections (threads), latency
 *          median/p99, the generator's own CPU and the daemon's; every
 *          session it made is ended afterwards (EndSession), outside the
 *          timed window
 *   sessions --socket S --user U --service SVC --count N --daemon-pid P
 *          N live sessions (Enrich + AttachKey of a key of ours), the
 *          daemon's RSS before and after, then one Refresh of all of them:
 *          wall time and the daemon's CPU seconds (/proc/P/stat)
 *   claims --socket S --jwks J --service SVC --scope X --ms T
 *          enrich_claims_load_jwks() + has_scope, cold (the key's payload
 *          changes before every call) and warm, next to a raw verify
 *   userdb --socket S --service NAME --ms T
 *          io.systemd.UserDatabase.GetMemberships latency
 *   userdb-floor --socket S --service NAME --user U --group G --gid N
 *          serves io.systemd.UserDatabase on S (bound here) with canned
 *          answers (U is a member of G, gid N; nothing else exists), with
 *          no work at all per call: the floor for `id` through nss-systemd,
 *          which any userdb service pays. Prints {"ready":true} once
 *          listening; stops when stdin closes
 *   enrich-floor --socket S --user U
 *          serves io.enrich.Enrich on S (bound here) as cheaply as a
 *          daemon can: a token of a real one's size written into the key
 *          the module made (keyctl_update, keyctl_set_timeout) and a canned
 *          reply; EndSession (oneway) read and dropped. No policy, no
 *          signature, no storage: the floor of a login through pam_enrich.
 *          Prints {"ready":true} once listening; stops when stdin closes
 *   auditlist --socket S --params JSON --ms T
 *          io.enrich.AuditList latency with those parameters (as root)
 *   flood --socket S --clients N --flood-uid U --flood-gid G --ms T
 *          root io.enrich.Status latency (a new connection per call, as
 *          enrichctl makes) for T ms while a child, as U:G, floods the
 *          daemon from N connections (0: no flood, the baseline): each
 *          writes 1,250 io.enrich.Grant calls (refused) in one 60 KB write,
 *          reads the replies and writes again, until T ms have passed; it
 *          also stops when stdin closes
 *
 * Exit status 1 when the measurement could not be made, 2 on usage errors. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "enrich.h"
#include "host.h"
#include "jwks.h"
#include "jws.h"
#include "keyring.h"
#include "util.h"
#include "varlink.h"
#include "bench.h"

#define CALL_TIMEOUT_MS 10000
#define MAX_CLIENTS     256
#define MAX_SAMPLES     2000000

struct options {
        const char *socket, *user, *service, *jwks, *scope, *params, *group;
        long gid, uid;
        long clients, ms, max_calls, count;
        pid_t daemon_pid;
        uid_t flood_uid;
        gid_t flood_gid;
};

static double cpu_seconds_self(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* VmRSS of pid in KiB. */
static long rss_kib_of(pid_t pid) {
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* ---- raw Ed25519 ------------------------------------------------------ */

/* A message the size of a typical claims token's signing input. */
static void sample_message(unsigned char *m, size_t n) {
        for (size_t i = 0; i < n; i++)
                m[i] = (unsigned char) ('A' + i % 26);
}

static int raw_sign(long ms, int verify) {
        EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        EVP_PKEY *key = NULL;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char msg[560], sig[64];
        size_t siglen = sizeof sig;
        long ops = 0;
        double t0, end, cpu0;
        int r = 1;

        sample_message(msg, sizeof msg);
        if (!kctx || !md || EVP_PKEY_keygen_init(kctx) <= 0 || EVP_PKEY_keygen(kctx, &key) <= 0)
                goto out;
        if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) <= 0 ||
            EVP_DigestSign(md, sig, &siglen, msg, sizeof msg) <= 0)
                goto out;
        t0 = bench_now_us();
        end = t0 + (double) ms * 1000;
        cpu0 = cpu_seconds_self();
        do {
                for (int i = 0; i < 50; i++) {
                        int ok;
                        if (verify)
                                ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) > 0 &&
                                     EVP_DigestVerify(md, sig, siglen, msg, sizeof msg) == 1;
                        else {
                                siglen = sizeof sig;
                                ok = EVP_DigestSignInit(md, NULL, NULL, NULL, key) > 0 &&
                                     EVP_DigestSign(md, sig, &siglen, msg, sizeof msg) > 0;
                        }
                        if (!ok)
                                goto out;
                        ops++;
                }
        } while (bench_now_us() < end);
        {
                double wall = (bench_now_us() - t0) / 1e6, cpu = cpu_seconds_self() - cpu0;
                /* Per CPU second: the core is shared, so wall time would
                 * charge us for other processes' work. */
                printf("{\"ops\":%ld,\"wall_s\":%.3f,\"cpu_s\":%.3f,\"per_s\":%.0f,\"us_per_op\":%.2f}\n", ops, wall,
                       cpu, (double) ops / cpu, cpu * 1e6 / (double) ops);
        }
        r = 0;
out:
        if (r)
                fprintf(stderr, "bench_daemon: EVP Ed25519 failed\n");
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(key);
        EVP_PKEY_CTX_free(kctx);
        return r;
}

/* ---- Enrich ----------------------------------------------------------- */

static json_t *enrich_params(const struct options *o) {
        uint32_t asid;
        json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:[s]}", "user", o->user, "service", o->service, "tty", "pts/eu9",
                              "pid", (json_int_t) getpid(), "amr", "pwd");

        if (p && host_audit_session(0, &asid) == 0)
                json_object_set_new(p, "asid", json_integer(asid));
        return p;
}

/* One Enrich call on c; *ret_sid (and *ret_token) malloc'd. */
static int call_enrich(varlink_client *c, json_t *params, char **ret_sid, char **ret_token) {
        json_t *reply = NULL;
        const char *sid, *token;
        char *error = NULL;
        int r;

        r = varlink_client_call(c, "io.enrich.Enrich", params, CALL_TIMEOUT_MS, &reply, &error);
        if (r < 0) {
                if (error)
                        fprintf(stderr, "bench_daemon: Enrich: %s\n", error);
                goto out;
        }
        sid = json_string_value(json_object_get(reply, "sid"));
        token = json_string_value(json_object_get(reply, "token"));
        if (!sid || !token) {
                r = -EBADMSG;
                goto out;
        }
        *ret_sid = strdup(sid);
        if (ret_token)
                *ret_token = strdup(token);
        r = *ret_sid && (!ret_token || *ret_token) ? 0 : -ENOMEM;
out:
        free(error);
        json_decref(reply);
        return r;
}

static int call_simple(varlink_client *c, const char *method, json_t *params) {
        json_t *reply = NULL;
        int r = varlink_client_call(c, method, params, CALL_TIMEOUT_MS, &reply, NULL);

        json_decref(reply);
        return r;
}

static void end_sessions(varlink_client *c, char **sids, size_t n) {
        for (size_t i = 0; i < n; i++) {
                json_t *p = json_pack("{s:s}", "sid", sids[i]);
                (void) call_simple(c, "io.enrich.EndSession", p);
                json_decref(p);
        }
}

struct worker {
        pthread_t thread;
        const struct options *o;
        double deadline;
        long max_calls;
        char **sids;
        double *samples;
        size_t n;
        double finished;        /* when the last timed call returned */
        varlink_client *client;
        int error;
};

static void *worker_run(void *arg) {
        struct worker *w = arg;
        varlink_client *c = NULL;
        json_t *params = enrich_params(w->o);
        int r;

        r = varlink_client_connect(w->o->socket, CALL_TIMEOUT_MS, NULL, 0, &c);
        if (r < 0 || !params) {
                w->error = r < 0 ? r : -ENOMEM;
                goto out;
        }
        while ((long) w->n < w->max_calls && bench_now_us() < w->deadline) {
                double t0 = bench_now_us();
                r = call_enrich(c, params, &w->sids[w->n], NULL);
                if (r < 0) {
                        w->error = r;
                        break;
                }
                w->samples[w->n++] = bench_now_us() - t0;
        }
        w->finished = bench_now_us();
out:
        w->client = c;  /* run_enrich() ends the sessions after the window */
        json_decref(params);
        return NULL;
}

static int run_enrich(const struct options *o) {
        struct worker *w = calloc((size_t) o->clients, sizeof *w);
        long per = o->max_calls / o->clients + 1, total = 0, refused = 0;
        double *all = NULL, t0, wall, cpu0, cpu, daemon_cpu0, daemon_cpu;
        int first_error = 0, r = 1;
        bench_stats st;

        if (!w)
                return 1;
        t0 = bench_now_us();
        cpu0 = cpu_seconds_self();
        daemon_cpu0 = o->daemon_pid > 0 ? bench_cpu_seconds_of(o->daemon_pid) : 0;
        for (long i = 0; i < o->clients; i++) {
                w[i].o = o;
                w[i].deadline = t0 + (double) o->ms * 1000;
                w[i].max_calls = per;
                w[i].sids = calloc((size_t) per, sizeof(char *));
                w[i].samples = calloc((size_t) per, sizeof(double));
                if (!w[i].sids || !w[i].samples || pthread_create(&w[i].thread, NULL, worker_run, &w[i]) != 0) {
                        fprintf(stderr, "bench_daemon: cannot start client %ld\n", i);
                        return 1;
                }
        }
        /* The window runs from the start to the return of the last timed
         * call; the EndSession calls come after it and after the CPU
         * figures are taken. */
        for (long i = 0; i < o->clients; i++)
                pthread_join(w[i].thread, NULL);
        daemon_cpu = o->daemon_pid > 0 ? bench_cpu_seconds_of(o->daemon_pid) - daemon_cpu0 : 0;
        cpu = cpu_seconds_self() - cpu0;
        for (long i = 0; i < o->clients; i++) {
                if (w[i].client)
                        end_sessions(w[i].client, w[i].sids, w[i].n);
                varlink_client_free(w[i].client);
                w[i].client = NULL;
        }
        wall = 0;
        all = calloc((size_t) (per * o->clients), sizeof(double));
        if (!all)
                goto out;
        for (long i = 0; i < o->clients; i++) {
                memcpy(all + total, w[i].samples, w[i].n * sizeof(double));
                total += (long) w[i].n;
                if (w[i].error && !first_error)
                        first_error = w[i].error;
                if (w[i].error)
                        refused++;
                if ((w[i].finished - t0) / 1e6 > wall)
                        wall = (w[i].finished - t0) / 1e6;
        }
        bench_stats_compute(all, (size_t) total, &st);
        printf("{\"clients\":%ld,\"calls\":%ld,\"wall_s\":%.3f,\"per_s\":%.1f,\"median_us\":%.1f,"
               "\"p99_us\":%.1f,\"generator_cpu_s\":%.3f,\"daemon_cpu_s\":%.3f,\"clients_failed\":%ld,"
               "\"first_error\":%d}\n",
               o->clients, total, wall, (double) total / wall, st.median, st.p99, cpu, daemon_cpu, refused,
               first_error);
        r = total > 0 ? 0 : 1;
out:
        for (long i = 0; i < o->clients; i++) {
                for (size_t k = 0; k < w[i].n; k++)
                        free(w[i].sids[k]);
                free(w[i].sids);
                free(w[i].samples);
        }
        free(w);
        free(all);
        return r;
}

/* ---- live sessions: RSS and a refresh cycle --------------------------- */

static int run_sessions(const struct options *o) {
        varlink_client *c = NULL;
        json_t *params = enrich_params(o), *reply = NULL;
        char **sids = calloc((size_t) o->count, sizeof(char *)), *token = NULL, desc[64];
        long rss0, rss1, made = 0, updated = -1;
        key_serial_t keyring;
        double t0, cpu0, wall, cpu;
        int r = 1;

        rss0 = rss_kib_of(o->daemon_pid);
        keyring = add_key("keyring", "eu9-bench-sessions", NULL, 0, KEY_SPEC_PROCESS_KEYRING);
        if (!sids || !params || keyring < 0 || varlink_client_connect(o->socket, CALL_TIMEOUT_MS, NULL, 0, &c) < 0) {
                fprintf(stderr, "bench_daemon: setup failed: %m\n");
                goto out;
        }
        for (; made < o->count; made++) {
                json_t *attach;
                key_serial_t key;

                if (call_enrich(c, params, &sids[made], &token) < 0)
                        goto out;
                snprintf(desc, sizeof desc, "eu9:%ld", made);
                /* A claims key as the module makes it (the daemon refreshes
                 * only such a key), each in a keyring of its own since they
                 * share one description; the permissions let the daemon (not
                 * a possessor) update it in place. */
                key = add_key("keyring", desc, NULL, 0, keyring);
                if (key >= 0)
                        key = add_key(ENRICH_KEY_TYPE, ENRICH_KEY_DESCRIPTION, token, strlen(token), key);
                free(token);
                token = NULL;
                if (key < 0 || keyctl_setperm(key, ENRICH_KEY_PERM) < 0) {
                        fprintf(stderr, "bench_daemon: add_key #%ld: %m\n", made);
                        made++;
                        goto out;
                }
                attach = json_pack("{s:s, s:i}", "sid", sids[made], "keySerial", (int) key);
                r = call_simple(c, "io.enrich.AttachKey", attach);
                json_decref(attach);
                if (r < 0) {
                        made++;
                        r = 1;
                        goto out;
                }
        }
        rss1 = rss_kib_of(o->daemon_pid);
        cpu0 = bench_cpu_seconds_of(o->daemon_pid);
        t0 = bench_now_us();
        r = varlink_client_call(c, "io.enrich.Refresh", NULL, 600000, &reply, NULL);
        wall = (bench_now_us() - t0) / 1e6;
        cpu = bench_cpu_seconds_of(o->daemon_pid) - cpu0;
        if (r < 0) {
                fprintf(stderr, "bench_daemon: Refresh failed: %s\n", strerror(-r));
                r = 1;
                goto out;
        }
        updated = json_integer_value(json_object_get(reply, "sessionsUpdated"));
        printf("{\"sessions\":%ld,\"rss_before_kib\":%ld,\"rss_kib\":%ld,\"refresh_wall_s\":%.3f,"
               "\"refresh_cpu_s\":%.3f,\"refreshed\":%ld,\"revoked\":%lld}\n",
               made, rss0, rss1, wall, cpu, updated,
               (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
        r = updated == made ? 0 : 1;
out:
        if (c)
                end_sessions(c, sids, (size_t) made);
        if (keyring > 0)
                (void) keyctl_invalidate(keyring);
        for (long i = 0; sids && i < made; i++)
                free(sids[i]);
        free(sids);
        free(token);
        json_decref(reply);
        json_decref(params);
        varlink_client_free(c);
        return r;
}

/* ---- libenrich: cold and warm verification ----------------------------- */

/* One raw EVP verify of token's signature with the key its kid names. */
static int raw_verify_token(const char *token, const jwks *keys, long ms, double *ret_us) {
        const char *dot2 = strrchr(token, '.');
        json_t *header = NULL;
        unsigned char *sig = NULL;
        size_t siglen = 0;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_PKEY *key;
        long ops = 0;
        double t0, cpu0;
        int r = -EINVAL;

        if (!md || !dot2 || jws_decode_unverified(token, &header, NULL) < 0)
                goto out;
        key = jwks_find(keys, json_string_value(json_object_get(header, "kid")));
        if (!key || b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &siglen) < 0)
                goto out;
        t0 = bench_now_us();
        cpu0 = cpu_seconds_self();
        do {
                for (int i = 0; i < 20; i++, ops++)
                        if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) <= 0 ||
                            EVP_DigestVerify(md, sig, siglen, (const unsigned char *) token, (size_t) (dot2 - token)) !=
                                    1)
                                goto out;
        } while (bench_now_us() < t0 + (double) ms * 1000);
        *ret_us = (cpu_seconds_self() - cpu0) * 1e6 / (double) ops;
        r = 0;
out:
        EVP_MD_CTX_free(md);
        free(sig);
        json_decref(header);
        return r;
}

/* Distinct tokens the cold measurement cycles through: more than
 * libenrich's cache holds, so every call meets a token it has not got. */
#define COLD_TOKENS 16

/* Times load + has_scope; cold: the key's payload changes to the next of
 * COLD_TOKENS before each call (untimed), so no call can hit the cache. */
static int time_loads(const struct options *o, key_serial_t key, char *const tokens[COLD_TOKENS], bool cold,
                      bench_stats *ret) {
        long cap = 200000, n = 0;
        double *samples = calloc((size_t) cap, sizeof(double)), end;
        int r = 0;

        if (!samples)
                return -ENOMEM;
        end = bench_now_us() + (double) o->ms * 1000;
        while (n < cap && bench_now_us() < end) {
                enrich_claims *claims = NULL;
                double t0;
                int e, has;

                if (cold && keyctl_update(key, tokens[n % COLD_TOKENS], strlen(tokens[n % COLD_TOKENS])) < 0) {
                        r = -errno;
                        break;
                }
                t0 = bench_now_us();
                e = enrich_claims_load_jwks(o->jwks, &claims);
                has = e == ENRICH_OK && enrich_claims_has_scope(claims, o->scope);
                enrich_claims_free(claims);
                samples[n++] = bench_now_us() - t0;
                if (!has) {
                        fprintf(stderr, "bench_daemon: claims load failed: %s\n", enrich_strerror(e));
                        r = -EINVAL;
                        break;
                }
        }
        bench_stats_compute(samples, (size_t) n, ret);
        free(samples);
        return r;
}

/* The cache may only save work, never a check: after warm loads, every
 * change that must fail a load has to fail the very next one. Uses a copy
 * of the JWKS, and ends with the key revoked. */
static int check_cache_safety(const struct options *o, key_serial_t key, const char *token) {
        char copy[4096], *original = NULL;
        enrich_claims *claims = NULL;
        const char *failed = NULL;
        size_t len = 0;
        int e;

        snprintf(copy, sizeof copy, "%s.eu9-copy", o->jwks);
        if (read_file_bounded(o->jwks, 65536, &original, &len) < 0 || write_file_atomic(copy, original, len, 0644) < 0)
                goto fail_setup;
#define LOAD() (enrich_claims_free(claims), claims = NULL, enrich_claims_load_jwks(copy, &claims))
        if (keyctl_update(key, token, strlen(token)) < 0 || LOAD() != ENRICH_OK || LOAD() != ENRICH_OK) {
                failed = "warm load";
                goto out;
        }
        /* A rotated JWKS without the token's key: same size is not enough
         * to hide it (inode and mtime change with the atomic rewrite). */
        if (write_file_atomic(copy, "{\"keys\":[]}", 11, 0644) < 0)
                goto fail_setup;
        if ((e = LOAD()) != ENRICH_E_UNKNOWN_KEY) {
                failed = "JWKS change not noticed";
                goto out;
        }
        if (write_file_atomic(copy, original, len, 0644) < 0)
                goto fail_setup;
        if (LOAD() != ENRICH_OK) {
                failed = "load after JWKS restore";
                goto out;
        }
        /* The payload is changed in place (a refresh): the new one is
         * verified, and a forged one fails although the old one is cached. */
        {
                char forged[JWS_MAX_TOKEN];
                size_t n = strlen(token);
                snprintf(forged, sizeof forged, "%s", token);
                forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
                if (keyctl_update(key, forged, n) < 0 || (e = LOAD()) != ENRICH_E_BAD_SIGNATURE) {
                        failed = "forged payload accepted";
                        goto out;
                }
                if (keyctl_update(key, token, n) < 0 || LOAD() != ENRICH_OK) {
                        failed = "load after restoring the payload";
                        goto out;
                }
        }
        if (keyring_revoke(key) < 0)
                goto fail_setup;
        if ((e = LOAD()) != ENRICH_E_REVOKED) {
                failed = "revoked key still loads";
                goto out;
        }
        /* A fresh key expiring in one to two seconds: loads warm, then
         * expires. */
        if (keyring_install_claims(token, 0, time(NULL) + 2, &key) < 0)
                goto fail_setup;
        if (LOAD() != ENRICH_OK || LOAD() != ENRICH_OK) {
                failed = "load from a second key";
                goto out;
        }
        sleep(3);
        if ((e = LOAD()) != ENRICH_E_EXPIRED && e != ENRICH_E_NO_CLAIMS) {
                failed = "expired key still loads";
                goto out;
        }
        (void) keyring_revoke(key);
#undef LOAD
        goto out;
fail_setup:
        failed = "setup";
out:
        if (failed)
                fprintf(stderr, "bench_daemon: cache safety: %s (%s)\n", failed, strerror(errno));
        enrich_claims_free(claims);
        unlink(copy);
        free(original);
        return failed ? -1 : 0;
}

static int run_claims(const struct options *o) {
        struct options root = *o;
        varlink_client *c = NULL;
        json_t *params = NULL;
        char *sids[COLD_TOKENS] = { NULL }, *tokens[COLD_TOKENS] = { NULL };
        jwks *keys = NULL;
        key_serial_t key = -1, ring;
        bench_stats cold, warm;
        double raw_us = 0, first_us;
        enrich_claims *claims = NULL;
        int r = 1;

        root.user = "root";    /* the token must be for the caller's uid */
        params = enrich_params(&root);
        if (!params || varlink_client_connect(o->socket, CALL_TIMEOUT_MS, NULL, 0, &c) < 0)
                goto no_tokens;
        for (size_t i = 0; i < COLD_TOKENS; i++)
                if (call_enrich(c, params, &sids[i], &tokens[i]) < 0)
                        goto no_tokens;
        if (keyring_join_new_session(&ring) < 0 || keyring_install_claims(tokens[0], 0, time(NULL) + 3600, &key) < 0) {
                fprintf(stderr, "bench_daemon: cannot install a claims key: %m\n");
                goto out;
        }
        if (jwks_load_file(o->jwks, &keys) < 0 || raw_verify_token(tokens[0], keys, o->ms, &raw_us) < 0) {
                fprintf(stderr, "bench_daemon: raw verify failed\n");
                goto out;
        }
        /* The very first load in this process: nothing cached, OpenSSL's
         * lazily built tables included. */
        first_us = bench_now_us();
        if (enrich_claims_load_jwks(o->jwks, &claims) != ENRICH_OK)
                goto out;
        first_us = bench_now_us() - first_us;
        if (time_loads(o, key, tokens, true, &cold) < 0 || time_loads(o, key, tokens, false, &warm) < 0)
                goto out;
        if (check_cache_safety(o, key, tokens[0]) < 0)
                goto out;
        printf("{\"cache_safety\":\"ok\",\"raw_verify_us\":%.2f,\"first_us\":%.1f,\"cold_median_us\":%.2f,\"cold_p99_us\":%.2f,"
               "\"warm_median_us\":%.2f,\"warm_p99_us\":%.2f}\n",
               raw_us, first_us, cold.median, cold.p99, warm.median, warm.p99);
        r = 0;
        goto out;
no_tokens:
        fprintf(stderr, "bench_daemon: cannot get tokens from %s\n", o->socket);
out:
        if (key > 0)
                (void) keyring_revoke(key);
        for (size_t i = 0; i < COLD_TOKENS && sids[i]; i++) {
                if (c)
                        end_sessions(c, &sids[i], 1);
                free(sids[i]);
                free(tokens[i]);
        }
        enrich_claims_free(claims);
        jwks_free(keys);
        json_decref(params);
        varlink_client_free(c);
        return r;
}

/* ---- userdb ------------------------------------------------------------ */

static int run_userdb(const struct options *o) {
        long cap = 200000, n = 0, records = 0;
        double *samples = calloc((size_t) cap, sizeof(double)), end;
        json_t *params = json_pack("{s:s}", "service", o->service);
        varlink_client *c = NULL;
        bench_stats st;
        int r = 1;

        if (!samples || !params || varlink_client_connect(o->socket, CALL_TIMEOUT_MS, NULL, 0, &c) < 0) {
                fprintf(stderr, "bench_daemon: cannot connect to %s\n", o->socket);
                goto out;
        }
        end = bench_now_us() + (double) o->ms * 1000;
        while (n < cap && bench_now_us() < end) {
                double t0 = bench_now_us();
                bool more = true;

                if (varlink_client_send(c, "io.systemd.UserDatabase.GetMemberships", params, true, CALL_TIMEOUT_MS) < 0)
                        goto out;
                while (more) {
                        json_t *reply = NULL;
                        char *error = NULL;
                        int k = varlink_client_next(c, CALL_TIMEOUT_MS, &reply, &error, &more);

                        json_decref(reply);
                        /* NoRecordFound is a complete (empty) answer. */
                        if (k < 0 && !(error && strstr(error, "NoRecordFound"))) {
                                fprintf(stderr, "bench_daemon: GetMemberships: %s\n", error ? error : strerror(-k));
                                free(error);
                                goto out;
                        }
                        free(error);
                        if (k < 0)
                                break;
                        records++;
                }
                samples[n++] = bench_now_us() - t0;
        }
        bench_stats_compute(samples, (size_t) n, &st);
        printf("{\"calls\":%ld,\"records\":%ld,\"median_us\":%.1f,\"p99_us\":%.1f}\n", n, records, st.median, st.p99);
        r = 0;
out:
        free(samples);
        json_decref(params);
        varlink_client_free(c);
        return r;
}

/* The canned answer to one call (a NUL-terminated Varlink message): a
 * membership or group record when the call names the member or the group
 * (or nothing), NoRecordFound otherwise. Matched on the text, without
 * parsing it: this server is the floor, it must cost next to nothing. */
static int floor_reply(const struct options *o, const char *call, char *out, size_t size) {
        char user_param[256], group_param[256], gid_param[64];
        bool by_user, by_group, by_gid, names_one;

        snprintf(user_param, sizeof user_param, "\"userName\":\"%s\"", o->user);
        snprintf(group_param, sizeof group_param, "\"groupName\":\"%s\"", o->group);
        snprintf(gid_param, sizeof gid_param, "\"gid\":%ld", o->gid);
        by_user = strstr(call, user_param);
        by_group = strstr(call, group_param);
        by_gid = strstr(call, gid_param);
        names_one = strstr(call, "\"userName\"") || strstr(call, "\"groupName\"") || strstr(call, "\"gid\"");
        if (strstr(call, "UserDatabase.GetMemberships") && (by_user || by_group || !names_one))
                return snprintf(out, size, "{\"parameters\":{\"userName\":\"%s\",\"groupName\":\"%s\"}}", o->user,
                                o->group);
        if (strstr(call, "UserDatabase.GetGroupRecord") && (by_group || by_gid || !names_one))
                return snprintf(out, size,
                                "{\"parameters\":{\"record\":{\"groupName\":\"%s\",\"gid\":%ld,\"service\":\"%s\","
                                "\"disposition\":\"regular\",\"members\":[\"%s\"]},\"incomplete\":false}}",
                                o->group, o->gid, o->service, o->user);
        return snprintf(out, size, "{\"error\":\"io.systemd.UserDatabase.NoRecordFound\",\"parameters\":{}}");
}

/* The canned answer to one call of pam_enrich: the token into the key
 * (keySerial) and the reply fields the module reads; 0 (no reply) for a
 * oneway call. */
static int enrich_floor_reply(const struct options *o, const char *call, char *out, size_t size) {
        static char token[655]; /* a real token's size: 654 characters */
        const char *serial = strstr(call, "\"keySerial\":");

        if (strstr(call, "\"oneway\":true"))
                return 0;
        if (!token[0])
                memset(token, 'e', sizeof token - 1);
        if (!strstr(call, "\"io.enrich.Enrich\"") || !serial ||
            keyctl_update((key_serial_t) strtol(serial + 12, NULL, 10), token, sizeof token - 1) < 0 ||
            keyctl_set_timeout((key_serial_t) strtol(serial + 12, NULL, 10), 600) < 0)
                return snprintf(out, size, "{\"error\":\"io.enrich.InternalError\",\"parameters\":{}}");
        return snprintf(out, size,
                        "{\"parameters\":{\"sid\":\"bench-floor\",\"expires\":%lld,\"ttl\":600,\"keyGroup\":0,"
                        "\"uid\":%ld}}",
                        (long long) time(NULL) + 600, o->uid);
}

typedef int floor_reply_fn(const struct options *o, const char *call, char *out, size_t size);

/* Answers every call on one connection until the peer closes it. */
static void floor_serve(const struct options *o, floor_reply_fn *reply_to, int fd) {
        char buffer[8192], reply[1024];
        size_t used = 0;
        struct timeval timeout = { .tv_sec = 1 };

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        for (;;) {
                ssize_t n = read(fd, buffer + used, sizeof buffer - 1 - used);
                char *end;

                if (n <= 0)
                        return;
                used += (size_t) n;
                while ((end = memchr(buffer, '\0', used))) {
                        int len = reply_to(o, buffer, reply, sizeof reply);

                        if (len < 0 || (size_t) len >= sizeof reply ||
                            (len > 0 && write(fd, reply, (size_t) len + 1) < 0))
                                return;
                        used -= (size_t) (end + 1 - buffer);
                        memmove(buffer, end + 1, used);
                }
                if (used == sizeof buffer - 1)
                        return;
        }
}

/* Serves the canned server's socket, one connection at a time. */
static int run_floor(const struct options *o, floor_reply_fn *reply_to) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (listener < 0 || strlen(o->socket) >= sizeof sa.sun_path)
                return 1;
        strcpy(sa.sun_path, o->socket);
        (void) unlink(o->socket);
        if (bind(listener, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(listener, 128) < 0 ||
            chmod(o->socket, 0666) < 0) {
                fprintf(stderr, "bench_daemon: cannot listen on %s: %m\n", o->socket);
                return 1;
        }
        printf("{\"ready\":true}\n");
        fflush(stdout);
        for (;;) {
                struct pollfd fds[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
                                         { .fd = listener, .events = POLLIN } };
                int fd;

                if (poll(fds, 2, -1) < 0 && errno != EINTR)
                        break;
                if (fds[0].revents)
                        break;  /* stdin closed: the bench is done with us */
                if (!(fds[1].revents & POLLIN))
                        continue;
                fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                floor_serve(o, reply_to, fd);
                close(fd);
        }
        close(listener);
        (void) unlink(o->socket);
        return 0;
}

/* ---- audit listing ------------------------------------------------------ */

static int run_auditlist(const struct options *o) {
        long cap = 200000, n = 0;
        double *samples = calloc((size_t) cap, sizeof(double)), end;
        json_t *params = json_loads(o->params, 0, NULL);
        varlink_client *c = NULL;
        bench_stats st;
        int r = 1;

        if (!samples || !params || varlink_client_connect(o->socket, CALL_TIMEOUT_MS, NULL, 0, &c) < 0) {
                fprintf(stderr, "bench_daemon: cannot connect to %s or bad --params\n", o->socket);
                goto out;
        }
        end = bench_now_us() + (double) o->ms * 1000;
        while (n < cap && bench_now_us() < end) {
                double t0 = bench_now_us();
                json_t *reply = NULL;
                char *error = NULL;
                int k = varlink_client_call(c, "io.enrich.AuditList", params, CALL_TIMEOUT_MS, &reply, &error);

                json_decref(reply);
                if (k < 0) {
                        fprintf(stderr, "bench_daemon: AuditList: %s\n", error ? error : strerror(-k));
                        free(error);
                        goto out;
                }
                free(error);
                samples[n++] = bench_now_us() - t0;
        }
        bench_stats_compute(samples, (size_t) n, &st);
        printf("{\"calls\":%ld,\"median_us\":%.1f,\"p99_us\":%.1f}\n", n, st.median, st.p99);
        r = 0;
out:
        free(samples);
        json_decref(params);
        varlink_client_free(c);
        return r;
}

/* ---- flood: root's Status while an unprivileged uid floods ----------- */

#define FLOOD_CALLS 1250

struct flooder {
        pthread_t thread;
        const char *socket;
        double deadline;
        long *replies;          /* in memory shared with the parent */
        int error;
};

static int connect_unix(const char *path) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* One flooding connection: 1,250 refused Grant calls in one write, then
 * their replies (counted by their NUL terminators), again and again until
 * the deadline. Reads time out after 100 ms, so a stalled daemon cannot
 * keep the flood going past its deadline. */
static void *flooder_run(void *arg) {
        static const char call[] = "{\"method\":\"io.enrich.Grant\",\"parameters\":{}}";
        struct flooder *f = arg;
        char *batch = malloc(FLOOD_CALLS * sizeof call), buf[65536];
        size_t len = 0;
        struct timeval tv = { 0, 100000 };
        int fd = connect_unix(f->socket);

        if (fd < 0 || !batch) {
                f->error = fd < 0 ? fd : -ENOMEM;
                goto out;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        for (int i = 0; i < FLOOD_CALLS; i++) {
                memcpy(batch + len, call, sizeof call);   /* with its NUL */
                len += sizeof call;
        }
        while (bench_now_us() < f->deadline) {
                size_t sent = 0;
                long pending = FLOOD_CALLS;

                while (sent < len && bench_now_us() < f->deadline) {
                        ssize_t n = send(fd, batch + sent, len - sent, MSG_NOSIGNAL);
                        if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                f->error = -errno;
                                goto out;
                        }
                        if (n > 0)
                                sent += (size_t) n;
                }
                while (pending > 0 && bench_now_us() < f->deadline) {
                        ssize_t n = recv(fd, buf, sizeof buf, 0);
                        if (n == 0) {
                                f->error = -ECONNRESET;
                                goto out;
                        }
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        continue;
                                f->error = -errno;
                                goto out;
                        }
                        for (ssize_t i = 0; i < n; i++)
                                if (buf[i] == '\0') {
                                        pending--;
                                        __atomic_add_fetch(f->replies, 1, __ATOMIC_RELAXED);
                                }
                }
        }
out:
        if (fd >= 0)
                close(fd);
        free(batch);
        return NULL;
}

/* The flooding child: drops to uid:gid, runs n connections until the
 * deadline (or until killed), counting replies in counts[0] and failed
 * connections in counts[1] (shared with the parent). */
static int flood_child(const struct options *o, double deadline, long *counts) {
        struct flooder *f = calloc((size_t) o->clients, sizeof *f);

        if (!f || setgroups(0, NULL) < 0 || setgid(o->flood_gid) < 0 || setuid(o->flood_uid) < 0)
                return 1;
        for (long i = 0; i < o->clients; i++) {
                f[i].socket = o->socket;
                f[i].deadline = deadline;
                f[i].replies = &counts[0];
                if (pthread_create(&f[i].thread, NULL, flooder_run, &f[i]) != 0)
                        return 1;
        }
        for (long i = 0; i < o->clients; i++) {
                pthread_join(f[i].thread, NULL);
                if (f[i].error)
                        __atomic_add_fetch(&counts[1], 1, __ATOMIC_RELAXED);
        }
        free(f);
        return 0;
}

/* One root Status on a fresh connection; 0 or a negative errno. */
static int root_status(const char *path) {
        varlink_client *c = NULL;
        json_t *reply = NULL;
        int r = varlink_client_connect(path, CALL_TIMEOUT_MS, NULL, 0, &c);

        if (r == 0)
                r = varlink_client_call(c, "io.enrich.Status", NULL, CALL_TIMEOUT_MS, &reply, NULL);
        json_decref(reply);
        varlink_client_free(c);
        return r;
}

static int run_flood(const struct options *o) {
        long cap = 100000, n = 0, failures = 0, replies = 0, errors = 0;
        double *samples = calloc((size_t) cap, sizeof(double)), start, end, flood_s;
        struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
        long *counts = mmap(NULL, 2 * sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        int status, r = 1;
        pid_t child = -1;
        bench_stats st;

        start = bench_now_us();
        end = start + (double) o->ms * 1000;
        if (!samples || counts == MAP_FAILED)
                goto out;
        if (o->clients > 0) {
                child = fork();
                if (child < 0)
                        goto out;
                if (child == 0)
                        _exit(flood_child(o, end, counts));
                /* Let every connection write its first batch. */
                usleep(200000);
        }
        while (n < cap && bench_now_us() < end) {
                double t0 = bench_now_us();
                int k = root_status(o->socket);

                samples[n++] = bench_now_us() - t0;
                if (k < 0)
                        failures++;
                /* A caller now and then, not a second flood: 5 ms apart. */
                if (poll(&in, 1, 5) > 0) {
                        char c;
                        if (read(STDIN_FILENO, &c, 1) <= 0)
                                break;
                }
        }
        flood_s = (bench_now_us() - start) / 1e6;
        if (child > 0) {
                /* The child stops at the deadline; sooner when we stop early. */
                if (bench_now_us() < end)
                        kill(child, SIGTERM);
                waitpid(child, &status, 0);
                replies = counts[0];
                errors = counts[1];
        }
        bench_stats_compute(samples, (size_t) n, &st);
        printf("{\"clients\":%ld,\"calls\":%ld,\"failures\":%ld,\"median_us\":%.1f,\"p99_us\":%.1f,"
               "\"max_us\":%.1f,\"flood_replies\":%ld,\"flood_errors\":%ld,\"wall_s\":%.3f}\n",
               o->clients, n, failures, st.median, st.p99, n ? samples[n - 1] : 0.0, replies, errors, flood_s);
        r = n > 0 ? 0 : 1;
out:
        if (counts != MAP_FAILED)
                munmap(counts, 2 * sizeof(long));
        free(samples);
        return r;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 'S' },    { "user", required_argument, NULL, 'u' },
                { "service", required_argument, NULL, 's' },   { "jwks", required_argument, NULL, 'j' },
                { "scope", required_argument, NULL, 'x' },     { "clients", required_argument, NULL, 'c' },
                { "ms", required_argument, NULL, 'm' },        { "max-calls", required_argument, NULL, 'M' },
                { "count", required_argument, NULL, 'n' },     { "daemon-pid", required_argument, NULL, 'p' },
                { "params", required_argument, NULL, 'P' },    { "flood-uid", required_argument, NULL, 'U' },
                { "flood-gid", required_argument, NULL, 'G' }, { "group", required_argument, NULL, 'g' },
                { "gid", required_argument, NULL, 'i' },       { NULL, 0, NULL, 0 },
        };
        struct options o = { .service = "eu9-bench",
                             .user = "root",
                             .scope = "bench:read",
                             .clients = 1,
                             .ms = 1000,
                             .max_calls = 50000,
                             .count = 1000 };
        const char *mode;
        int c;

        if (argc < 2)
                goto usage;
        mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'S': o.socket = optarg; break;
                case 'u': o.user = optarg; break;
                case 's': o.service = optarg; break;
                case 'j': o.jwks = optarg; break;
                case 'x': o.scope = optarg; break;
                case 'c': o.clients = strtol(optarg, NULL, 10); break;
                case 'm': o.ms = strtol(optarg, NULL, 10); break;
                case 'M': o.max_calls = strtol(optarg, NULL, 10); break;
                case 'n': o.count = strtol(optarg, NULL, 10); break;
                case 'p': o.daemon_pid = (pid_t) strtol(optarg, NULL, 10); break;
                case 'P': o.params = optarg; break;
                case 'U': o.flood_uid = (uid_t) strtol(optarg, NULL, 10); break;
                case 'G': o.flood_gid = (gid_t) strtol(optarg, NULL, 10); break;
                case 'g': o.group = optarg; break;
                case 'i': o.gid = strtol(optarg, NULL, 10); break;
                default: goto usage;
                }
        }
        if (strcmp(mode, "flood") == 0 && o.socket && o.clients >= 0 && o.clients <= MAX_CLIENTS)
                return run_flood(&o);
        if (o.clients < 1 || o.clients > MAX_CLIENTS || o.ms < 1 || o.max_calls < 1 || o.max_calls > MAX_SAMPLES ||
            o.count < 1 || o.count > 60000)
                goto usage;
        if (strcmp(mode, "sign") == 0)
                return raw_sign(o.ms, 0);
        if (strcmp(mode, "verify") == 0)
                return raw_sign(o.ms, 1);
        if (!o.socket)
                goto usage;
        if (strcmp(mode, "enrich") == 0)
                return run_enrich(&o);
        if (strcmp(mode, "sessions") == 0 && o.daemon_pid > 0)
                return run_sessions(&o);
        if (strcmp(mode, "claims") == 0 && o.jwks)
                return run_claims(&o);
        if (strcmp(mode, "userdb") == 0)
                return run_userdb(&o);
        if (strcmp(mode, "userdb-floor") == 0 && o.group && o.gid > 0)
                return run_floor(&o, floor_reply);
        if (strcmp(mode, "enrich-floor") == 0) {
                struct passwd *pw = getpwnam(o.user);

                if (!pw)
                        goto usage;
                o.uid = (long) pw->pw_uid;
                return run_floor(&o, enrich_floor_reply);
        }
        if (strcmp(mode, "auditlist") == 0 && o.params)
                return run_auditlist(&o);
usage:
        fputs("usage: bench_daemon sign|verify|enrich|sessions|claims|userdb|userdb-floor|enrich-floor|auditlist|flood [options]; see the source\n",
              stderr);
        return 2;
}
