/* bench_fleet: the fleet section of `make bench` (run.py), against a real
 * etcd through enrichd's own etcd client (daemon/etcd.c) and fleet record
 * code (daemon/fleet_record.c). Each subcommand prints one JSON object:
 *
 *   keygen --key PEM --jwks J
 *          an issuer key (Ed25519, PEM, 0600) and its public JWKS (kid: the
 *          RFC 7638 thumbprint, as enrichd's)
 *   grant --endpoint E --prefix P --key PEM --user U --scope S --id ID
 *          puts one grant record signed with PEM at P grants/ID
 *   hosts --endpoint E --prefix P --key PEM --user U --service SVC
 *         --sockets FILE --rounds R [--timeout-ms T]
 *          one live session of U on each enrichd FILE lists (a line each:
 *          its socket, a space, its pid): Enrich, and a claims key of ours
 *          attached, each in a keyring of its own, as bench_daemon sessions
 *          makes them. An untimed warm-up round, the daemons' idle CPU for
 *          a second, then R fleet grants (a signed put) and revocations (a
 *          delete), each once the previous one reached every host: for
 *          each, the time from the write leaving for etcd to the moment
 *          each host's key carries the change (every pending key is read
 *          once a millisecond), and the daemons' CPU per host and event
 *   watch --endpoint E --prefix P --key PEM --issuers J --watchers N
 *         --rounds R [--timeout-ms T]
 *          N light watchers, each a thread with its own etcd connection and
 *          its own copy of the issuers, running what a host's watcher and
 *          main thread run on each record before storing it: etcd_watch,
 *          fleet_record_verify and fleet_record_grant; then R grants and
 *          revocations, each written once the previous one reached every
 *          watcher: the time from the write leaving to each watcher's
 *          decode
 *
 * Times are CLOCK_MONOTONIC, in this one process. Exit status 1 when the
 * measurement could not be made, 2 on usage errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "config.h"
#include "etcd.h"
#include "fleet.h"
#include "fleet_record.h"
#include "host.h"
#include "jwks.h"
#include "jws.h"
#include "keyring.h"
#include "util.h"
#include "varlink.h"
#include "bench.h"

#define CALL_TIMEOUT_MS 10000
#define MAX_HOSTS       2000
#define MAX_WATCHERS    5000
#define MAX_ROUNDS      500
#define WATCHER_STACK   (512 * 1024)
#define GRANT_TTL       3600

struct options {
        const char *endpoint, *prefix, *key, *jwks, *issuers, *user, *service, *scope, *id, *sockets;
        long rounds, watchers, timeout_ms;
};

/* ---- etcd and records ---------------------------------------------------- */

static int etcd_open(const char *endpoint, etcd **ret) {
        char *endpoints[] = { (char *) endpoint, NULL };
        config_fleet c = { .endpoints = endpoints };

        return etcd_new(&c, CALL_TIMEOUT_MS, ret);
}

static int load_key(const char *path, EVP_PKEY **ret_key, char **ret_kid) {
        FILE *f = fopen(path, "re");
        EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

        if (f)
                fclose(f);
        if (!key || jwk_thumbprint(key, ret_kid) < 0) {
                EVP_PKEY_free(key);
                fprintf(stderr, "bench_fleet: cannot load the issuer key %s\n", path);
                return -EINVAL;
        }
        *ret_key = key;
        return 0;
}

/* The grant record a fleet issuer's enrichd would put (fleet_put_grant). */
static int signed_grant(EVP_PKEY *key, const char *kid, const char *id, const char *user, const char *scope,
                        char **ret) {
        int64_t now = (int64_t) time(NULL);
        json_t *p = json_pack("{s:s, s:s, s:[], s:[s], s:[], s:s, s:s, s:I, s:I}", "id", id, "user", user, "groups",
                              "scopes", scope, "hosts", "reason", "eu9 fleet bench", "grantedBy", "eu9-bench",
                              "created", (json_int_t) now, "expires", (json_int_t) (now + GRANT_TTL));
        int r = p ? jws_sign(key, kid, FLEET_RECORD_TYPE, p, ret) : -ENOMEM;

        json_decref(p);
        return r;
}

/* Puts (scope set) or deletes (scope NULL) grants/ID, signed as an issuer's
 * enrichd signs it; *ret_revision: the revision etcd committed it at.
 * *ret_sent: when the request left, *ret_acked: when etcd's answer was
 * read. The commit lies between the two; watchers often see it before
 * the answer is read, so figures count from *ret_sent: an upper bound
 * that includes the write's own round trip (raft commit and fsync). */
static int write_grant(etcd *e, const struct options *o, EVP_PKEY *key, const char *kid, const char *id,
                       const char *scope, double *ret_sent, double *ret_acked, int64_t *ret_revision) {
        char path[512], *record = NULL;
        int64_t deleted = 0;
        int r = 0;

        snprintf(path, sizeof path, "%sgrants/%s", o->prefix, id);
        if (scope)
                r = signed_grant(key, kid, id, o->user ? o->user : "eu9-bench", scope, &record);
        *ret_sent = bench_now_us();
        if (r == 0 && scope)
                r = etcd_put(e, path, record, 0, ret_revision);
        else if (r == 0) {
                r = etcd_delete(e, path, &deleted, ret_revision);
                if (r == 0 && deleted != 1)
                        r = -ENOENT;
        }
        *ret_acked = bench_now_us();
        if (r < 0)
                fprintf(stderr, "bench_fleet: %s %s: %s\n", scope ? "put" : "delete", path, etcd_last_error(e));
        free(record);
        return r;
}

static void print_stats(const char *name, double *samples, size_t n, long missing, bool comma) {
        bench_stats st;

        bench_stats_compute(samples, n, &st);
        printf("\"%s\":{\"samples\":%zu,\"missing\":%ld,\"median_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,"
               "\"mean_ms\":%.2f}%s",
               name, n, missing, st.median / 1000, st.p99 / 1000, n ? samples[n - 1] / 1000 : 0, st.mean / 1000,
               comma ? "," : "");
}

/* One descriptor per connection (a host's session, a watcher's stream):
 * the soft limit raised to the hard one; -EMFILE when n do not fit. */
static int raise_open_files(size_t n) {
        struct rlimit nofile;

        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                nofile.rlim_cur = nofile.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &nofile);
        }
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < (rlim_t) n + 64) {
                fprintf(stderr, "bench_fleet: %zu connections need %zu open files, the limit is %llu\n", n, n + 64,
                        (unsigned long long) nofile.rlim_cur);
                return -EMFILE;
        }
        return 0;
}

/* ---- keygen, grant ---------------------------------------------------------- */

static int run_keygen(const struct options *o) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        EVP_PKEY *key = NULL;
        json_t *jwk = NULL, *set = NULL;
        char *kid = NULL;
        FILE *f = NULL;
        int fd = -1, r = 1;

        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &key) <= 0 ||
            jwk_thumbprint(key, &kid) < 0 || jwk_from_key(key, kid, &jwk) < 0)
                goto out;
        fd = open(o->key, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
                goto out;
        set = json_pack("{s:[O]}", "keys", jwk);
        if (!set || json_dump_file(set, o->jwks, JSON_COMPACT) < 0)
                goto out;
        printf("{\"kid\":\"%s\"}\n", kid);
        r = 0;
out:
        if (f)
                fclose(f);
        else if (fd >= 0)
                close(fd);
        if (r)
                fprintf(stderr, "bench_fleet: keygen failed: %m\n");
        json_decref(jwk);
        json_decref(set);
        free(kid);
        EVP_PKEY_free(key);
        EVP_PKEY_CTX_free(ctx);
        return r;
}

static int run_grant(const struct options *o) {
        EVP_PKEY *key = NULL;
        etcd *e = NULL;
        char *kid = NULL;
        double sent, acked;
        int64_t revision = 0;
        int r = 1;

        if (load_key(o->key, &key, &kid) < 0 || etcd_open(o->endpoint, &e) < 0)
                goto out;
        if (write_grant(e, o, key, kid, o->id, o->scope, &sent, &acked, &revision) < 0)
                goto out;
        printf("{\"revision\":%lld}\n", (long long) revision);
        r = 0;
out:
        etcd_free(e);
        free(kid);
        EVP_PKEY_free(key);
        return r;
}

/* ---- hosts: live claims keys on real enrichd processes ------------------------- */

typedef struct host {
        char *socket;
        pid_t pid;      /* the daemon's, 0: unknown */
        varlink_client *client;
        char *sid;
        key_serial_t key;
        char payload[JWS_MAX_TOKEN];
        long len; /* of payload, as last read */
} host;

/* Whether the token's claims list scope (the "scope" claim, space-separated). */
static bool token_has_scope(const char *token, size_t len, const char *scope) {
        const char *dot1 = memchr(token, '.', len), *dot2;
        uint8_t *json = NULL;
        size_t json_len = 0, n = strlen(scope);
        json_t *claims = NULL;
        const char *s;
        bool found = false;

        if (!dot1 || !(dot2 = memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token))))
                return false;
        if (b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), &json, &json_len) < 0)
                return false;
        claims = json_loadb((const char *) json, json_len, 0, NULL);
        s = json_string_value(json_object_get(claims, "scope"));
        while (s && *s && !found) {
                size_t w = strcspn(s, " ");
                found = w == n && memcmp(s, scope, n) == 0;
                s += w + (s[w] == ' ');
        }
        json_decref(claims);
        free(json);
        return found;
}

static int open_session(host *h, const struct options *o, key_serial_t keyring, int index) {
        json_t *params = NULL, *reply = NULL, *attach = NULL;
        const char *sid, *token;
        char *error = NULL, desc[64];
        uint32_t asid;
        key_serial_t ring;
        int r;

        r = varlink_client_connect(h->socket, CALL_TIMEOUT_MS, NULL, 0, &h->client);
        if (r < 0)
                goto out;
        params = json_pack("{s:s, s:s, s:s, s:I, s:[s]}", "user", o->user, "service", o->service, "tty", "pts/eu9",
                           "pid", (json_int_t) getpid(), "amr", "pwd");
        if (params && host_audit_session(0, &asid) == 0)
                json_object_set_new(params, "asid", json_integer(asid));
        r = varlink_client_call(h->client, "io.enrich.Enrich", params, CALL_TIMEOUT_MS, &reply, &error);
        if (r < 0)
                goto out;
        sid = json_string_value(json_object_get(reply, "sid"));
        token = json_string_value(json_object_get(reply, "token"));
        if (!sid || !token || !(h->sid = strdup(sid))) {
                r = -EBADMSG;
                goto out;
        }
        /* A claims key as the module makes it, in a keyring of its own (one
         * description per keyring); the permissions let the daemon update
         * it in place. */
        snprintf(desc, sizeof desc, "eu9-fleet:%d", index);
        ring = add_key("keyring", desc, NULL, 0, keyring);
        h->key = ring < 0 ? -1 : add_key(ENRICH_KEY_TYPE, ENRICH_KEY_DESCRIPTION, token, strlen(token), ring);
        if (h->key < 0 || keyctl_setperm(h->key, ENRICH_KEY_PERM) < 0) {
                r = -errno;
                goto out;
        }
        attach = json_pack("{s:s, s:i}", "sid", h->sid, "keySerial", (int) h->key);
        json_decref(reply);
        reply = NULL;
        r = varlink_client_call(h->client, "io.enrich.AttachKey", attach, CALL_TIMEOUT_MS, &reply, &error);
        if (r < 0)
                goto out;
        h->len = keyctl_read(h->key, h->payload, sizeof h->payload);
        r = h->len > 0 ? 0 : -EIO;
out:
        if (r < 0)
                fprintf(stderr, "bench_fleet: session on %s: %s %s\n", h->socket, strerror(-r), error ? error : "");
        free(error);
        json_decref(params);
        json_decref(reply);
        json_decref(attach);
        return r;
}

/* The daemons' CPU seconds so far, all together. */
static double hosts_cpu_seconds(const host *hosts, size_t n) {
        double sum = 0;

        for (size_t i = 0; i < n; i++)
                if (hosts[i].pid > 0)
                        sum += bench_cpu_seconds_of(hosts[i].pid);
        return sum;
}

static void end_session(host *h) {
        json_t *p, *reply = NULL;

        if (!h->client || !h->sid)
                return;
        p = json_pack("{s:s}", "sid", h->sid);
        (void) varlink_client_call(h->client, "io.enrich.EndSession", p, CALL_TIMEOUT_MS, &reply, NULL);
        json_decref(reply);
        json_decref(p);
}

/* Reads every pending key each millisecond from since until its claims
 * have scope (want) or not, or timeout; samples (one per host, µs after
 * since) appended at *n; returns how many keys never changed. */
static long wait_keys(host *hosts, size_t n_hosts, const char *scope, bool want, double since, double timeout_us,
                      double *samples, size_t *n) {
        bool *done = calloc(n_hosts, sizeof *done);
        size_t pending = n_hosts;

        if (!done)
                return (long) n_hosts;
        while (pending > 0 && bench_now_us() - since < timeout_us) {
                for (size_t i = 0; i < n_hosts; i++) {
                        host *h = &hosts[i];
                        char buf[JWS_MAX_TOKEN];
                        long len;

                        if (done[i])
                                continue;
                        len = keyctl_read(h->key, buf, sizeof buf);
                        if (len <= 0 || len > (long) sizeof buf ||
                            (len == h->len && memcmp(buf, h->payload, (size_t) len) == 0))
                                continue;
                        memcpy(h->payload, buf, (size_t) len);
                        h->len = len;
                        if (token_has_scope(buf, (size_t) len, scope) != want)
                                continue;
                        samples[(*n)++] = bench_now_us() - since;
                        done[i] = true;
                        pending--;
                }
                if (pending)
                        usleep(1000);
        }
        free(done);
        return (long) pending;
}

static int run_hosts(const struct options *o) {
        host *hosts = calloc(MAX_HOSTS, sizeof *hosts);
        double *grant_us = NULL, *revoke_us = NULL, *write_us = NULL, sent, acked;
        double timeout_us = (double) o->timeout_ms * 1000, t0, cpu0, idle_cpu, busy_cpu;
        size_t n_hosts = 0, n_grant = 0, n_revoke = 0, n_writes = 0, dummy = 0;
        long missing_grant = 0, missing_revoke = 0;
        key_serial_t keyring = -1;
        EVP_PKEY *key = NULL;
        char *kid = NULL, line[4096], id[128], scope[128];
        int64_t revision;
        etcd *e = NULL;
        FILE *f = NULL;
        int r = 1;

        if (!hosts || load_key(o->key, &key, &kid) < 0 || etcd_open(o->endpoint, &e) < 0)
                goto out;
        f = fopen(o->sockets, "re");
        while (f && n_hosts < MAX_HOSTS && fgets(line, sizeof line, f)) {
                char *pid = strchr(line, ' ');

                line[strcspn(line, "\n")] = '\0';
                if (pid) {
                        *pid++ = '\0';
                        hosts[n_hosts].pid = (pid_t) strtol(pid, NULL, 10);
                }
                if (*line && !(hosts[n_hosts++].socket = strdup(line)))
                        goto out;
        }
        if (n_hosts == 0) {
                fprintf(stderr, "bench_fleet: no sockets in %s\n", o->sockets);
                goto out;
        }
        if (raise_open_files(n_hosts) < 0)
                goto out;
        grant_us = calloc(n_hosts * (size_t) o->rounds, sizeof(double));
        revoke_us = calloc(n_hosts * (size_t) o->rounds, sizeof(double));
        write_us = calloc(2 * (size_t) o->rounds, sizeof(double));
        keyring = add_key("keyring", "eu9-bench-fleet", NULL, 0, KEY_SPEC_PROCESS_KEYRING);
        if (!grant_us || !revoke_us || !write_us || keyring < 0)
                goto out;
        for (size_t i = 0; i < n_hosts; i++)
                if (open_session(&hosts[i], o, keyring, (int) i) < 0)
                        goto out;
        /* Round 0, untimed: every host has read its snapshot and watches. */
        {
                double *warm = calloc(n_hosts, sizeof(double));
                long late;
                snprintf(id, sizeof id, "eu9-%d-warm", (int) getpid());
                if (!warm || write_grant(e, o, key, kid, id, "fleet:warm", &sent, &acked, &revision) < 0) {
                        free(warm);
                        goto out;
                }
                late = wait_keys(hosts, n_hosts, "fleet:warm", true, sent, 30e6, warm, &dummy);
                if (late == 0 && write_grant(e, o, key, kid, id, NULL, &sent, &acked, &revision) == 0) {
                        dummy = 0;
                        late = wait_keys(hosts, n_hosts, "fleet:warm", false, sent, 30e6, warm, &dummy);
                }
                free(warm);
                if (late) {
                        fprintf(stderr, "bench_fleet: %ld of %zu hosts never saw the warm-up grant\n", late, n_hosts);
                        goto out;
                }
        }
        /* What the hosts cost idle (heartbeats, ticks), then busy. */
        cpu0 = hosts_cpu_seconds(hosts, n_hosts);
        t0 = bench_now_us();
        usleep(1000000);
        idle_cpu = (hosts_cpu_seconds(hosts, n_hosts) - cpu0) / ((bench_now_us() - t0) / 1e6);
        cpu0 = hosts_cpu_seconds(hosts, n_hosts);
        t0 = bench_now_us();
        for (long round = 1; round <= o->rounds; round++) {
                snprintf(id, sizeof id, "eu9-%d-%ld", (int) getpid(), round);
                snprintf(scope, sizeof scope, "fleet:r%ld", round);
                if (write_grant(e, o, key, kid, id, scope, &sent, &acked, &revision) < 0)
                        goto out;
                write_us[n_writes++] = acked - sent;
                missing_grant += wait_keys(hosts, n_hosts, scope, true, sent, timeout_us, grant_us, &n_grant);
                usleep(20000);
                if (write_grant(e, o, key, kid, id, NULL, &sent, &acked, &revision) < 0)
                        goto out;
                write_us[n_writes++] = acked - sent;
                missing_revoke += wait_keys(hosts, n_hosts, scope, false, sent, timeout_us, revoke_us, &n_revoke);
                usleep(20000);
        }
        busy_cpu = hosts_cpu_seconds(hosts, n_hosts) - cpu0 - idle_cpu * (bench_now_us() - t0) / 1e6;
        /* Per host and per event: what each of them spent on one change. */
        printf("{\"hosts\":%zu,\"rounds\":%ld,\"idle_cpu_per_host\":%.5f,\"cpu_ms_per_host_event\":%.3f,", n_hosts,
               o->rounds, idle_cpu / (double) n_hosts, busy_cpu * 1000 / (double) n_hosts / (double) (2 * o->rounds));
        print_stats("write", write_us, n_writes, 0, true);
        print_stats("grant", grant_us, n_grant, missing_grant, true);
        print_stats("revoke", revoke_us, n_revoke, missing_revoke, false);
        printf("}\n");
        r = 0;
out:
        for (size_t i = 0; hosts && i < n_hosts; i++) {
                end_session(&hosts[i]);
                varlink_client_free(hosts[i].client);
                free(hosts[i].sid);
                free(hosts[i].socket);
        }
        if (keyring > 0)
                (void) keyctl_invalidate(keyring);
        if (f)
                fclose(f);
        free(hosts);
        free(grant_us);
        free(revoke_us);
        free(write_us);
        etcd_free(e);
        free(kid);
        EVP_PKEY_free(key);
        return r;
}

/* ---- watch: light watchers sharing a host's fleet code -------------------- */

typedef struct watcher {
        pthread_t thread;
        const struct options *o;
        etcd *e;
        jwks *issuers;
        int64_t base;   /* seen[i]: when revision base + 1 + i was decoded */
        volatile double *seen; /* written here, polled by the writer */
        size_t n_seen;
        long rejected, grants;
        int error;
} watcher;

static atomic_long watchers_ready;
static atomic_long watchers_failed;
static volatile bool watchers_stop;

static void on_ready(void *userdata) {
        (void) userdata;
        atomic_fetch_add(&watchers_ready, 1);
}

static int on_events(void *userdata, const etcd_kv *events, size_t n, int64_t revision) {
        watcher *w = userdata;
        size_t prefix = strlen(w->o->prefix) + strlen("grants/");

        for (size_t i = 0; i < n; i++) {
                const etcd_kv *kv = &events[i];
                int64_t rev = kv->mod_revision > 0 ? kv->mod_revision : revision;
                json_t *payload = NULL;
                fleet_grant_record g = { 0 };
                const char *why = NULL;

                /* A put adds access: verified and decoded, as a host does
                 * before storing it; a deletion counts when seen. */
                if (!kv->deleted) {
                        if (strlen(kv->key) <= prefix ||
                            fleet_record_verify(w->issuers, kv->value, &payload, NULL, &why) < 0 ||
                            fleet_record_grant(payload, kv->key + prefix, &g) < 0)
                                w->rejected++;
                        else
                                w->grants++;
                        fleet_grant_record_clear(&g);
                        json_decref(payload);
                }
                if (rev > w->base && (size_t) (rev - w->base - 1) < w->n_seen)
                        w->seen[rev - w->base - 1] = bench_now_us();
        }
        return 0;
}

static void *watcher_run(void *arg) {
        watcher *w = arg;
        int64_t compacted = 0;

        w->error = etcd_watch(w->e, w->o->prefix, w->base + 1, &watchers_stop, on_ready, on_events, w, &compacted);
        if (w->error < 0 && !watchers_stop) {
                atomic_fetch_add(&watchers_failed, 1);
                fprintf(stderr, "bench_fleet: a watch ended: %s\n", etcd_last_error(w->e));
        }
        return NULL;
}

static int run_watch(const struct options *o) {
        watcher *w = calloc((size_t) o->watchers, sizeof *w);
        size_t events = (size_t) o->rounds * 2, n_grant = 0, n_revoke = 0;
        double *commit = calloc(events, sizeof(double)), *write_us = calloc(events, sizeof(double));
        double *grant_us = NULL, *revoke_us = NULL, t0, acked;
        long started = 0, missing_grant = 0, missing_revoke = 0, rejected = 0, decoded = 0;
        int64_t base = 0, revision;
        pthread_attr_t attr;
        EVP_PKEY *key = NULL;
        char *kid = NULL, id[128], scope[128];
        etcd *e = NULL;
        double ready_s;
        int r = 1;

        if (raise_open_files((size_t) o->watchers) < 0)
                goto out;
        grant_us = calloc((size_t) o->watchers * (size_t) o->rounds, sizeof(double));
        revoke_us = calloc((size_t) o->watchers * (size_t) o->rounds, sizeof(double));
        if (!w || !commit || !write_us || !grant_us || !revoke_us || load_key(o->key, &key, &kid) < 0 ||
            etcd_open(o->endpoint, &e) < 0)
                goto out;
        if (etcd_status(e, &base) < 0) {
                fprintf(stderr, "bench_fleet: etcd status: %s\n", etcd_last_error(e));
                goto out;
        }
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WATCHER_STACK);
        t0 = bench_now_us();
        for (long i = 0; i < o->watchers; i++, started++) {
                w[i] = (watcher) { .o = o, .base = base, .n_seen = events };
                w[i].seen = calloc(events, sizeof(double));
                if (!w[i].seen || etcd_open(o->endpoint, &w[i].e) < 0 ||
                    jwks_load_file(o->issuers, &w[i].issuers) < 0 ||
                    pthread_create(&w[i].thread, &attr, watcher_run, &w[i]) != 0) {
                        fprintf(stderr, "bench_fleet: cannot start watcher %ld\n", i);
                        break;
                }
        }
        pthread_attr_destroy(&attr);
        while (started == o->watchers && atomic_load(&watchers_ready) < o->watchers &&
               atomic_load(&watchers_failed) == 0 && bench_now_us() - t0 < 60e6)
                usleep(5000);
        ready_s = (bench_now_us() - t0) / 1e6;
        if (atomic_load(&watchers_ready) < o->watchers) {
                fprintf(stderr, "bench_fleet: %ld of %ld watches created in %.1f s\n", atomic_load(&watchers_ready),
                        o->watchers, ready_s);
                goto stop;
        }
        for (size_t ev = 0; ev < events; ev++) {
                long round = (long) ev / 2 + 1;
                bool put = ev % 2 == 0;

                snprintf(id, sizeof id, "eu9-%d-%ld", (int) getpid(), round);
                snprintf(scope, sizeof scope, "fleet:r%ld", round);
                if (write_grant(e, o, key, kid, id, put ? scope : NULL, &commit[ev], &acked, &revision) < 0)
                        goto stop;
                write_us[ev] = acked - commit[ev];
                if (revision != base + 1 + (int64_t) ev) {
                        fprintf(stderr, "bench_fleet: someone else writes to %s (revision %lld, expected %lld)\n",
                                o->prefix, (long long) revision, (long long) (base + 1 + (int64_t) ev));
                        goto stop;
                }
                /* The next write once this one reached every watcher (or
                 * the timeout): one change in flight, as in hosts. */
                for (long i = 0; i < o->watchers && bench_now_us() - acked < (double) o->timeout_ms * 1000;)
                        if (w[i].seen[ev] > 0)
                                i++;
                        else
                                usleep(500);
                usleep(20000);
        }
        for (long i = 0; i < o->watchers; i++)
                for (size_t ev = 0; ev < events; ev++) {
                        bool put = ev % 2 == 0;
                        if (w[i].seen[ev] <= 0 && put)
                                missing_grant++;
                        else if (w[i].seen[ev] <= 0)
                                missing_revoke++;
                        else if (put)
                                grant_us[n_grant++] = w[i].seen[ev] - commit[ev];
                        else
                                revoke_us[n_revoke++] = w[i].seen[ev] - commit[ev];
                }
        r = 0;
stop:
        watchers_stop = true;
        for (long i = 0; i < started; i++) {
                pthread_join(w[i].thread, NULL);
                rejected += w[i].rejected;
                decoded += w[i].grants;
        }
        if (r == 0) {
                printf("{\"watchers\":%ld,\"rounds\":%ld,\"ready_s\":%.2f,\"rejected\":%ld,\"decoded\":%ld,",
                       o->watchers, o->rounds, ready_s, rejected, decoded);
                print_stats("write", write_us, events, 0, true);
                print_stats("grant", grant_us, n_grant, missing_grant, true);
                print_stats("revoke", revoke_us, n_revoke, missing_revoke, false);
                printf("}\n");
                r = rejected ? 1 : 0;
                if (rejected)
                        fprintf(stderr, "bench_fleet: %ld records failed verification\n", rejected);
        }
out:
        for (long i = 0; w && i < o->watchers; i++) {
                etcd_free(w[i].e);
                jwks_free(w[i].issuers);
                free((double *) w[i].seen);
        }
        free(w);
        free(commit);
        free(write_us);
        free(grant_us);
        free(revoke_us);
        etcd_free(e);
        free(kid);
        EVP_PKEY_free(key);
        return r;
}

int main(int argc, char **argv) {
        static const struct option long_options[] = {
                { "endpoint", required_argument, NULL, 'e' },   { "prefix", required_argument, NULL, 'p' },
                { "key", required_argument, NULL, 'k' },        { "jwks", required_argument, NULL, 'j' },
                { "issuers", required_argument, NULL, 'i' },    { "user", required_argument, NULL, 'u' },
                { "service", required_argument, NULL, 's' },    { "scope", required_argument, NULL, 'S' },
                { "id", required_argument, NULL, 'I' },         { "sockets", required_argument, NULL, 'f' },
                { "rounds", required_argument, NULL, 'r' },     { "watchers", required_argument, NULL, 'w' },
                { "timeout-ms", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
        };
        struct options o = { .prefix = "/eu9-bench/", .rounds = 20, .watchers = 1000, .timeout_ms = 5000 };
        const char *mode;
        int c;

        if (argc < 2)
                goto usage;
        mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
                switch (c) {
                case 'e': o.endpoint = optarg; break;
                case 'p': o.prefix = optarg; break;
                case 'k': o.key = optarg; break;
                case 'j': o.jwks = optarg; break;
                case 'i': o.issuers = optarg; break;
                case 'u': o.user = optarg; break;
                case 's': o.service = optarg; break;
                case 'S': o.scope = optarg; break;
                case 'I': o.id = optarg; break;
                case 'f': o.sockets = optarg; break;
                case 'r': o.rounds = strtol(optarg, NULL, 10); break;
                case 'w': o.watchers = strtol(optarg, NULL, 10); break;
                case 't': o.timeout_ms = strtol(optarg, NULL, 10); break;
                default: goto usage;
                }
        }
        if (o.rounds < 1 || o.rounds > MAX_ROUNDS || o.watchers < 1 || o.watchers > MAX_WATCHERS || o.timeout_ms < 1 ||
            o.timeout_ms > 600000)
                goto usage;
        if (strcmp(mode, "keygen") == 0 && o.key && o.jwks)
                return run_keygen(&o);
        if (etcd_global_init() < 0)
                return 1;
        if (strcmp(mode, "grant") == 0 && o.endpoint && o.key && o.user && o.scope && o.id)
                return run_grant(&o);
        if (strcmp(mode, "hosts") == 0 && o.endpoint && o.key && o.user && o.service && o.sockets)
                return run_hosts(&o);
        if (strcmp(mode, "watch") == 0 && o.endpoint && o.key && o.issuers)
                return run_watch(&o);
usage:
        fputs("usage: bench_fleet keygen|grant|hosts|watch [options]; see the source\n", stderr);
        return 2;
}
