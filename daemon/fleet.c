/* fleet.c: fleet mode (fleet.h). Two threads meet at one queue:
 *
 * - the watcher (its own thread, its own etcd handle, blocking libcurl)
 *   ranges the prefix when it has no revision (or the main thread asks
 *   for a full read), then watches from the next one, and queues what it
 *   reads as batches, in revision order since it alone reads; it touches no sqlite, no
 *   policy, no NSS, so nothing it waits on can hold up a login;
 * - the main thread, woken by the eventfd in its epoll loop, verifies each
 *   record, applies it as a local grant/revoke/disable/enable would be,
 *   and records the revision it reached, so a restart resumes from there.
 *
 * A thread rather than libcurl's multi interface in the main loop: the
 * watch is one long response that the loop would have to drive through
 * curl's socket and timer callbacks from server.c, which knows no method
 * and is being reworked; a thread with one eventfd keeps the loop's only
 * new duty one descriptor, and keeps curl's name resolution and TLS
 * handshakes (which the multi interface can still run synchronously) off
 * the thread that answers logins.
 *
 * Trust: a record that adds access (a grant, an "enabled" identity) counts
 * only with a valid signature of typ enrich-fleet+jwt by a key of the
 * issuers JWKS; one that removes access (a deleted grant, a "disabled"
 * identity) counts as soon as it is seen, signed or not; a deleted
 * identities/<user> changes nothing. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <openssl/rand.h>
#include "audit.h"
#include "clock.h"
#include "etcd.h"
#include "fleet.h"
#include "fleet_record.h"
#include "fleet_store.h"
#include "grant_apply.h"
#include "grants.h"
#include "host.h"
#include "identities.h"
#include "identity.h"
#include "issue.h"
#include "jwks.h"
#include "jws.h"
#include "live.h"
#include "log.h"
#include "offboard.h"
#include "signing_keys.h"
#include "tokens.h"
#include "util.h"

/* As long as a user name in a signed grant may be (fleet_record.c). */
#define FLEET_MAX_USER_NAME 256

/* What the watcher hands over: a full snapshot of the prefix (after a
 * range), or the events of one watch message; a batch without kvs only
 * reports the connection's state. */
typedef enum batch_kind {
        BATCH_SNAPSHOT,
        BATCH_EVENTS,
        BATCH_CONNECTED,
        BATCH_DISCONNECTED,
        BATCH_CONTACT, /* a heartbeat answered; revision: the store's; pending: lag */
} batch_kind;

typedef struct batch {
        struct batch *next;
        batch_kind kind;
        etcd_kv *kvs;
        size_t n;
        int64_t revision;
        int64_t pending; /* BATCH_CONTACT: keys under the prefix changed after
                          * the revision applied (-1: not known) */
        char *error; /* BATCH_DISCONNECTED: why */
} batch;

struct fleet {
        char *prefix;
        char *host_id;
        char **labels;
        jwks *issuers;
        char *issuers_path;
        etcd *direct; /* writer thread: doctor's checks, audit verify --fleet */
        etcd *writer; /* writer thread: the admin's writes */
        etcd *reader; /* watcher thread */
        etcd *prober; /* heartbeat thread */
        pthread_t thread, prober_thread, writer_thread;
        bool running, prober_running, writer_running;
        atomic_bool want_snapshot; /* main asks the watcher for a full read */
        unsigned offline_max;
        char *jwks_path; /* this host's public JWKS, for its presence */
        char *hostname;
        char *version;
        atomic_bool stop;
        volatile bool watch_abort; /* under lock: ends the watch (a stop, a failed heartbeat) */
        int event_fd;
        pthread_mutex_t lock;
        pthread_cond_t wake; /* the watcher's backoff sleep, and room in the queue */
        batch *head, *tail;
        size_t queued;
        int64_t start_revision; /* the watcher's, from the database at start */
        unsigned test_snapshot_delay_ms; /* ENRICH_FLEET_TEST_SNAPSHOT_DELAY_MS (tests only) */
        unsigned test_renewal_delay_ms;  /* ENRICH_FLEET_TEST_RENEWAL_DELAY_MS (tests only) */
        _Atomic int64_t applied; /* the revision the main thread applied, for the heartbeat's lag */
        /* main thread */
        bool connected;
        int64_t revision;
        int64_t store_revision; /* the store's, at the last heartbeat */
        int64_t lag; /* at the last heartbeat: keys under the prefix changed after revision */
        int64_t last_contact; /* wall seconds; at start, the start */
        bool suspended; /* fleet grants not honoured: offline too long */
        int64_t snapshot_revision; /* of the newest snapshot applied: older events are in it */
        bool snapshot_asked; /* a full read asked of the watcher, not applied yet */
        json_t *hosts; /* hosts/<id> records seen: host id -> record */
        /* main thread: which presence keys the fleet JWKS takes (see
         * "enrolments" below): enrolments/<id> verified, host id ->
         * {keys: {kid: x}, at, since}; the endorsements verified against them,
         * host id -> {kid: {x, by}}; an issuer's renewals due, host id ->
         * when the last was queued (0: not yet). */
        json_t *enrolments, *endorsed, *renewals;
        /* main thread: the newest "at" and "endorsedSince" of the
         * verified enrolments seen per host id ({at, since}), kept through
         * deletions and full reads (and in fleet_state, read back when not
         * here), so that an older one put back into etcd (a replay), or a
         * renewal made from a superseded one, is refused. */
        json_t *enrolled_at;
        /* under lock: what the presence record carries of the keys
         * ({jwks, endorsements}, keys_published), and whether it changed
         * since the heartbeat last put the record */
        char *presence_keys;
        bool presence_new;
        char *checkpoint; /* under lock: checkpoints/<host_id>'s next value, not yet put; NULL: none */
        bool checkpoint_new; /* under lock: handed over since the prober last looked (wakes it) */
        bool anchor_broken; /* main thread: the published checkpoint is not in the local trail */
        /* main thread: records waiting for their user (fleet_store.h),
         * how many at the last count, where the next round of retries
         * starts (a key) and when (host_now_ms()). */
        int64_t n_pending;
        char *pending_after;
        int64_t pending_next_ms;
        /* main thread: when expired revocations are next forgotten
         * (host_now_ms()); the revocation keys this host's admin calls
         * are writing (key -> true), revoked here when the call ends. */
        int64_t revoked_next_ms, n_revoked;
        json_t *revoking;
        char *endpoint;
        /* The admin's writes (fleet_write), under lock: waiting for the
         * writer thread, then done and waiting for the main thread; how
         * many are in either list or being written. */
        pthread_cond_t write_wake;
        struct fleet_write *writes, *writes_last;
        struct fleet_write *written, *written_last;
        size_t n_writes;
};

/* What the writer thread does for a fleet_write. */
typedef enum write_kind {
        WRITE_RECORD,     /* a put, or a deletion */
        WRITE_REVOCATION, /* a revocation's put, then its record's deletion */
        READ_RECORD,      /* one record's value (revoke_record) */
        READ_CHECK,       /* doctor's checks (fleet_check) */
        READ_CHECKPOINT,  /* checkpoints/<host_id> (fleet_read_checkpoint) */
        WRITE_SIGNED,     /* payload signed here by signer, then put as a record */
} write_kind;

/* An admin's call into etcd, made by the writer thread so that the main
 * loop (logins) never waits on etcd: a put of value at key (on a lease
 * of ttl seconds when ttl > 0), or a deletion (value NULL), or one of
 * the reads; then done (check_done, checkpoint_done), on the main
 * thread. */
typedef struct fleet_write {
        struct fleet_write *next;
        write_kind kind;
        char *key, *value;
        int64_t ttl;
        const char *what; /* "write the grant": for the error message */
        int64_t deadline_ms; /* host_now_ms(): past it, -ETIMEDOUT */
        int result;
        bool existed; /* a deletion's key was there; a conditional put's, when dropped, still is */
        char *error;
        fleet_write_done done;
        fleet_check_done check_done;
        fleet_checkpoint_done checkpoint_done;
        void (*read_done)(enrichd *d, int r, const char *error, const char *value, void *userdata);
        char *delete_key;      /* WRITE_REVOCATION: the record deleted after the put */
        bool put_ok;           /* WRITE_REVOCATION: the revocation is in etcd */
        json_t *check;         /* READ_CHECK: what fleet_check answers */
        audit_anchor anchor;   /* READ_CHECKPOINT: the one read */
        signer *signer;        /* WRITE_SIGNED: a copy of the issuer's key */
        json_t *payload;       /* WRITE_SIGNED: handed over, never touched by the main thread again */
        bool conditional;      /* a put only while key's mod_revision is still if_mod_revision ... */
        int64_t if_mod_revision; /* ... else -ECANCELED (an issuer's renewal: what it was made from) */
        void *userdata;
} fleet_write;

static void finish_writes(enrichd *d);
static void call_done(enrichd *d, struct fleet_write *w);
static void fleet_write_free(fleet_write *w);
static void *writer(void *userdata);

static char **strv_copy(char *const *list) {
        size_t n = strv_length(list);
        char **copy = calloc(n + 1, sizeof(char *));

        for (size_t i = 0; copy && i < n; i++)
                if (!(copy[i] = strdup(list[i]))) {
                        strv_free(copy);
                        return NULL;
                }
        return copy;
}

static void batch_free(batch *b) {
        if (!b)
                return;
        for (size_t i = 0; i < b->n; i++) {
                free(b->kvs[i].key);
                free(b->kvs[i].value);
        }
        free(b->kvs);
        free(b->error);
        free(b);
}

/* ---- the watcher thread ------------------------------------------------ */

/* Queues b (taken) and wakes the main loop; waits while the queue is full. */
static void enqueue(fleet *f, batch *b) {
        uint64_t one = 1;

        pthread_mutex_lock(&f->lock);
        while (f->queued >= FLEET_MAX_QUEUED && !atomic_load(&f->stop))
                pthread_cond_wait(&f->wake, &f->lock);
        if (f->tail)
                f->tail->next = b;
        else
                f->head = b;
        f->tail = b;
        f->queued++;
        pthread_mutex_unlock(&f->lock);
        if (write(f->event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
                log_warning_errno(-errno, "Failed to wake the main loop for fleet records");
}

static void enqueue_state(fleet *f, batch_kind kind, const char *error) {
        batch *b = calloc(1, sizeof *b);

        if (!b)
                return;
        b->kind = kind;
        if (error)
                b->error = strdup(error);
        enqueue(f, b);
}

static int copy_kvs(const etcd_kv *kvs, size_t n, etcd_kv **ret) {
        etcd_kv *copy = calloc(n + 1, sizeof *copy);

        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                copy[i] = kvs[i];
                copy[i].key = strdup(kvs[i].key);
                copy[i].value = kvs[i].value ? strdup(kvs[i].value) : NULL;
                if (!copy[i].key || (kvs[i].value && !copy[i].value)) {
                        for (size_t j = 0; j <= i; j++) {
                                free(copy[j].key);
                                free(copy[j].value);
                        }
                        free(copy);
                        return -ENOMEM;
                }
        }
        *ret = copy;
        return 0;
}

/* Hands over the full read l (taken) at its revision. Tests widen the
 * window between the read and its hand-over with
 * ENRICH_FLEET_TEST_SNAPSHOT_DELAY_MS (tests/fleet/snapshot_order.sh):
 * whatever etcd changes meanwhile must still reach the main thread after
 * this snapshot, never before it. */
static int hand_over_snapshot(fleet *f, etcd_kvs *l) {
        batch *b = calloc(1, sizeof *b);

        if (!b) {
                etcd_kvs_clear(l);
                return -ENOMEM;
        }
        if (f->test_snapshot_delay_ms > 0) {
                log_struct(LOG_INFO, LOG_MSGID_FLEET, NULL,
                           "Test hook: handing the fleet records read at revision %lld over in %u ms",
                           (long long) l->revision, f->test_snapshot_delay_ms);
                (void) usleep(f->test_snapshot_delay_ms * 1000U);
        }
        *b = (batch) { .kind = BATCH_SNAPSHOT, .kvs = l->items, .n = l->n, .revision = l->revision };
        *l = (etcd_kvs) { 0 };
        enqueue(f, b);
        return 0;
}

typedef struct watch_context {
        fleet *f;
        int64_t revision;
        unsigned *failures;
} watch_context;

static void on_watch_ready(void *userdata) {
        watch_context *w = userdata;

        *w->failures = 0;
        enqueue_state(w->f, BATCH_CONNECTED, NULL);
}

static int on_watch_events(void *userdata, const etcd_kv *events, size_t n, int64_t revision) {
        watch_context *w = userdata;
        batch *b = calloc(1, sizeof *b);

        if (!b || copy_kvs(events, n, &b->kvs) < 0) {
                free(b);
                return -ENOMEM;
        }
        b->kind = BATCH_EVENTS;
        b->n = n;
        b->revision = revision;
        w->revision = revision;
        enqueue(w->f, b);
        return 0;
}

/* Sleeps the backoff of the failures so far, jittered; false when told to
 * stop meanwhile. */
static bool backoff(fleet *f, unsigned failures) {
        unsigned shift = failures < 6 ? failures : 6;
        uint64_t delay = (uint64_t) FLEET_BACKOFF_FIRST_MS << shift, random = 0;
        struct timespec until;

        if (delay > FLEET_BACKOFF_MAX_MS)
                delay = FLEET_BACKOFF_MAX_MS;
        (void) RAND_bytes((unsigned char *) &random, sizeof random);
        delay = delay / 2 + random % (delay / 2 + 1);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t) (delay / 1000);
        until.tv_nsec += (long) (delay % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&f->lock);
        while (!atomic_load(&f->stop) && pthread_cond_timedwait(&f->wake, &f->lock, &until) != ETIMEDOUT)
                ;
        pthread_mutex_unlock(&f->lock);
        return !atomic_load(&f->stop);
}

/* Resuming from the revision stored at the last run (start_revision),
 * the watch brings only what changed since; but which keys vouch for a
 * host (enrolments/, hosts/) is held in memory only, and a host whose
 * records did not change would have none: its keys out of this host's
 * fleet JWKS, and never renewed by an issuer. So they are read first as
 * they were at that revision (not newer: the watch brings what came
 * after, in order), and handed over as events that move no revision.
 * -ESTALE: compacted past it (a full read is due). */
static int reload_trust(fleet *f, int64_t revision) {
        static const char *const parts[] = { "enrolments/", "hosts/" };
        char prefix[512];
        int r;

        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
                etcd_kvs l = { 0 };
                batch *b;

                snprintf(prefix, sizeof prefix, "%s%s", f->prefix, parts[i]);
                r = etcd_range_prefix(f->reader, prefix, revision, &l);
                if (r < 0)
                        return r;
                b = calloc(1, sizeof *b);
                if (!b) {
                        etcd_kvs_clear(&l);
                        return -ENOMEM;
                }
                *b = (batch) { .kind = BATCH_EVENTS, .kvs = l.items, .n = l.n, .revision = revision };
                enqueue(f, b);
        }
        return 0;
}

/* The watcher lost etcd (why: a message, or NULL for the reader's last
 * error): the main thread hears of it, and the next endpoint is tried
 * after a backoff. false when stopping. */
static bool watcher_lost(fleet *f, unsigned *failures, const char *why) {
        char message[600];

        snprintf(message, sizeof message, "%s", why ? why : etcd_last_error(f->reader));
        enqueue_state(f, BATCH_DISCONNECTED, message);
        etcd_next_endpoint(f->reader);
        return backoff(f, (*failures)++);
}

static void *watcher(void *userdata) {
        fleet *f = userdata;
        int64_t revision = f->start_revision, compacted = 0;
        unsigned failures = 0;
        bool reload = revision > 0;

        while (!atomic_load(&f->stop)) {
                watch_context w = { .f = f, .failures = &failures };
                bool asked;
                int r;

                /* Every full read is made here, between two watches, so
                 * that what the main thread receives is in revision
                 * order: the events up to the read, the read at S (a
                 * linearizable range: S is past every event delivered),
                 * then the events after S. A read handed over by another
                 * thread could land after events newer than S, and undo
                 * them (resume a grant just revoked, disable again a
                 * user just enabled). */
                asked = atomic_exchange(&f->want_snapshot, false); /* a read now answers it too */
                if (revision <= 0 || asked) {
                        etcd_kvs l = { 0 };
                        int64_t read_at;

                        r = etcd_range_prefix(f->reader, f->prefix, 0, &l);
                        if (r < 0) {
                                if (asked)
                                        atomic_store(&f->want_snapshot, true);
                                if (!watcher_lost(f, &failures, NULL))
                                        break;
                                continue;
                        }
                        read_at = l.revision;
                        if (hand_over_snapshot(f, &l) < 0) {
                                if (asked)
                                        atomic_store(&f->want_snapshot, true);
                                (void) backoff(f, failures++);
                                continue;
                        }
                        revision = read_at;
                        reload = false; /* the full read holds them */
                }
                if (reload) {
                        r = reload_trust(f, revision);
                        if (r == -ESTALE) {
                                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, NULL,
                                           "etcd compacted past revision %lld: reading the prefix in full",
                                           (long long) revision);
                                revision = 0;
                                continue;
                        }
                        if (r < 0) {
                                if (!watcher_lost(f, &failures, NULL))
                                        break;
                                continue;
                        }
                        reload = false;
                }
                w.revision = revision;
                pthread_mutex_lock(&f->lock);
                /* A stop or a full read asked for stays asked. */
                f->watch_abort = atomic_load(&f->stop) || atomic_load(&f->want_snapshot);
                pthread_mutex_unlock(&f->lock);
                r = etcd_watch(f->reader, f->prefix, revision + 1, &f->watch_abort, on_watch_ready, on_watch_events, &w,
                               &compacted);
                revision = w.revision;
                if (atomic_load(&f->stop))
                        break;
                if (r == 0 && atomic_load(&f->want_snapshot))
                        continue; /* ended for a full read (fleet_dispatch) */
                if (r == -ESTALE) {
                        /* What was deleted meanwhile is gone from the
                         * history: only a full snapshot can tell. */
                        log_struct(LOG_NOTICE, LOG_MSGID_FLEET, NULL,
                                   "etcd compacted past revision %lld (now at %lld): reading the prefix in full",
                                   (long long) revision + 1, (long long) compacted);
                        revision = 0;
                        continue;
                }
                /* r == 0: dropped (see prober()) */
                if (!watcher_lost(f, &failures, r == 0 ? "the watch was dropped after a failed heartbeat" : NULL))
                        break;
        }
        return NULL;
}

/* The heartbeat: the watch stream says nothing while nothing changes, and
 * a connection cut off without a reset (a partition) looks the same, so
 * contact is proven by a cheap unary call every FLEET_HEARTBEAT_MS (at
 * most a fifth of offline_max). (The full read that resumes the grants
 * an outage suspended is the watcher's: see watcher().) */
/* This host's presence record (plain JSON, not signed: it grants
 * nothing by itself): its id, hostname, version, labels, public JWKS and
 * the endorsements of its rotated keys, as the main thread last handed
 * them over (keys_published), else the JWKS file as read now. NULL when
 * out of memory. */
static char *presence_record(fleet *f) {
        json_t *material = NULL, *keys, *endorsements, *o;
        char *text = NULL;

        pthread_mutex_lock(&f->lock);
        if (f->presence_keys)
                material = json_loads(f->presence_keys, 0, NULL);
        pthread_mutex_unlock(&f->lock);
        keys = json_incref(json_object_get(material, "jwks"));
        if (!keys)
                keys = json_load_file(f->jwks_path, 0, NULL);
        endorsements = json_incref(json_object_get(material, "endorsements"));
        json_decref(material);
        o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I}", "hostId", f->host_id, "hostname", f->hostname, "version",
                      f->version, "labels", strv_to_json(f->labels), "jwks", keys ? keys : json_object(),
                      "endorsements", endorsements ? endorsements : json_array(), "since", (json_int_t) time(NULL));
        if (o)
                text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return text;
}

/* Publishes hosts/<host_id> on a lease kept alive by the heartbeat, so the
 * record goes when the host does, and again on the same lease when its
 * keys changed (a rotation). A refusal (credentials without write on
 * the host's own key) is logged once; the host works on without it. */
static void keep_presence(fleet *f, int64_t *lease, bool *denied, unsigned interval_ms) {
        char key[512], *value = NULL;
        int64_t ttl = 3 * (int64_t) interval_ms / 1000 + 2;
        bool fresh;
        int r;

        if (*denied)
                return;
        pthread_mutex_lock(&f->lock);
        fresh = f->presence_new;
        f->presence_new = false;
        pthread_mutex_unlock(&f->lock);
        if (*lease > 0) {
                r = etcd_lease_keepalive(f->prober, *lease, NULL);
                if (r == 0 && !fresh)
                        return;
                if (r < 0)
                        *lease = 0; /* expired (a long outage): publish again */
        }
        if (ttl < 5)
                ttl = 5;
        snprintf(key, sizeof key, "%shosts/%s", f->prefix, f->host_id);
        value = presence_record(f);
        r = !value ? -ENOMEM : *lease > 0 ? 0 : etcd_lease_grant(f->prober, ttl, lease);
        if (r < 0 && fresh) {
                /* Put it at the next heartbeat. */
                pthread_mutex_lock(&f->lock);
                f->presence_new = true;
                pthread_mutex_unlock(&f->lock);
        }
        if (r == 0) {
                r = etcd_put(f->prober, key, value, *lease, NULL);
                if (r < 0) {
                        (void) etcd_lease_revoke(f->prober, *lease);
                        *lease = 0;
                }
        }
        if (r == -EACCES || r == -EPERM) {
                *denied = true;
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", key, NULL },
                           "Not publishing this host's presence at %s: %s", key, etcd_last_error(f->prober));
        }
        free(value);
}

/* Puts the checkpoint the main thread handed over, if any; on a failure
 * it is kept for the next heartbeat unless a newer one came meanwhile. A
 * refusal (credentials without write on checkpoints/<host_id>) is logged
 * once and drops it. */
static void publish_checkpoint(fleet *f, bool *denied) {
        char key[512], *value;
        int r;

        pthread_mutex_lock(&f->lock);
        value = f->checkpoint;
        f->checkpoint = NULL;
        f->checkpoint_new = false;
        pthread_mutex_unlock(&f->lock);
        if (!value)
                return;
        snprintf(key, sizeof key, "%scheckpoints/%s", f->prefix, f->host_id);
        r = *denied ? -EACCES : etcd_put(f->prober, key, value, 0, NULL);
        if (r == 0) {
                free(value);
                return;
        }
        if ((r == -EACCES || r == -EPERM) && !*denied) {
                *denied = true;
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", key, NULL },
                           "Not publishing this host's audit checkpoints at %s: %s", key, etcd_last_error(f->prober));
        }
        if (*denied) {
                free(value);
                return;
        }
        pthread_mutex_lock(&f->lock);
        if (!f->checkpoint) {
                f->checkpoint = value;
                value = NULL;
        }
        pthread_mutex_unlock(&f->lock);
        free(value);
}

/* Once, at the first contact: this host's published checkpoint (or its
 * absence, as a deletion) handed to the main thread to compare with the
 * trail (check_own_checkpoint), whether or not a snapshot follows. Its
 * revision 0 never moves the watch's. */
static bool read_own_checkpoint(fleet *f) {
        etcd_kvs l = { 0 };
        etcd_kv *kv = NULL;
        batch *b = NULL;
        char key[512];

        snprintf(key, sizeof key, "%scheckpoints/%s", f->prefix, f->host_id);
        if (etcd_range_prefix(f->prober, key, 0, &l) < 0)
                return false;
        for (size_t i = 0; i < l.n && !kv; i++)
                if (strcmp(l.items[i].key, key) == 0)
                        kv = &l.items[i];
        b = calloc(1, sizeof *b);
        if (b && kv && copy_kvs(kv, 1, &b->kvs) == 0)
                b->n = 1;
        else if (b && !kv && (b->kvs = calloc(1, sizeof *b->kvs)) && (b->kvs[0].key = strdup(key))) {
                b->kvs[0].deleted = true;
                b->n = 1;
        }
        etcd_kvs_clear(&l);
        if (!b || b->n == 0) {
                batch_free(b);
                return false;
        }
        b->kind = BATCH_EVENTS;
        enqueue(f, b);
        return true;
}

static void *prober(void *userdata) {
        fleet *f = userdata;
        unsigned interval = f->offline_max * 1000 / 5;
        int64_t lease = 0;
        bool denied = false, checkpoint_denied = false, own_read = false;
        char message[600];

        if (interval > FLEET_HEARTBEAT_MS)
                interval = FLEET_HEARTBEAT_MS;
        if (interval < 200)
                interval = 200;
        while (!atomic_load(&f->stop)) {
                struct timespec until;
                int64_t revision = 0, pending = -1;
                int r;

                r = etcd_status(f->prober, &revision);
                if (r == 0) {
                        /* The lag counts only this prefix's changes: the
                         * store's revision moves with every other prefix
                         * (another fleet on the same cluster) too. Asked
                         * only when the store moved past what was applied. */
                        int64_t applied = atomic_load(&f->applied);
                        pending = 0;
                        if (revision > applied &&
                            etcd_count_changed(f->prober, f->prefix, applied + 1, FLEET_MAX_LAG, &pending) < 0)
                                pending = -1;
                        if (!own_read)
                                own_read = read_own_checkpoint(f);
                        keep_presence(f, &lease, &denied, interval);
                        publish_checkpoint(f, &checkpoint_denied);
                }
                if (r == 0) {
                        batch *b = calloc(1, sizeof *b);
                        if (b) {
                                *b = (batch) { .kind = BATCH_CONTACT, .revision = revision, .pending = pending };
                                enqueue(f, b);
                        }
                } else {
                        snprintf(message, sizeof message, "%s", etcd_last_error(f->prober));
                        enqueue_state(f, BATCH_DISCONNECTED, message);
                        etcd_next_endpoint(f->prober);
                        /* A watch cut off without a reset (a partition, a
                         * member out of reach) just falls silent: left
                         * alone it would deliver nothing until TCP gives
                         * up on it, long after contact is back, or while
                         * the heartbeat answers from another member. So
                         * it is dropped and resumed, on the next
                         * endpoint, from its revision. */
                        pthread_mutex_lock(&f->lock);
                        f->watch_abort = true;
                        pthread_mutex_unlock(&f->lock);
                }
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += interval / 1000;
                until.tv_nsec += (long) (interval % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_mutex_lock(&f->lock);
                while (!atomic_load(&f->stop) && !f->checkpoint_new && !f->presence_new &&
                       pthread_cond_timedwait(&f->wake, &f->lock, &until) != ETIMEDOUT)
                        ;
                pthread_mutex_unlock(&f->lock);
        }
        /* Gone at once rather than at the lease's end. */
        if (lease > 0)
                (void) etcd_lease_revoke(f->prober, lease);
        return NULL;
}

/* ---- records ----------------------------------------------------------- */

static void log_rejected(const char *key, const char *why) {
        log_struct(LOG_WARNING, LOG_MSGID_FLEET_REJECTED, (const char *[]) { "ENRICH_FLEET_KEY", key, NULL },
                   "Ignoring fleet record %s: %s", key, why);
}

static bool targets_this_host(fleet *f, char *const *hosts) {
        if (!hosts || !hosts[0])
                return true;
        for (size_t i = 0; hosts[i]; i++)
                if (strv_contains(f->labels, hosts[i]))
                        return true;
        return false;
}

/* ---- revocations -------------------------------------------------------- */

/* Keeps grant or token (kind) id revoked here until expires, its
 * record's own expiry, so that the signed record written back into etcd
 * is refused (revoked_here) rather than applied as new. */
static void keep_revoked(enrichd *d, const char *key, const char *kind, const char *id, int64_t expires) {
        int r;

        if (expires <= clock_now())
                return;
        r = fleet_store_revoked_put(d->db, kind, id, expires, &d->fleet->n_revoked);
        if (r == -ENOSPC)
                log_struct(LOG_ERR, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", key, NULL },
                           "Fleet %s %s is revoked, but %d revocations are kept here already: not kept, so its "
                           "record, written back into etcd, would count here",
                           kind, id, FLEET_STORE_MAX_REVOKED);
        else if (r < 0)
                log_error("Failed to keep the revocation of fleet %s %s: %s", kind, id, db_last_error(d->db));
}

/* Whether the fleet revoked grant or token (kind) id: a record of it
 * (written back into etcd) is then refused, with a journal line. A
 * database failure refuses too: the record would add access. */
static bool revoked_here(enrichd *d, const char *key, const char *kind, const char *id) {
        bool revoked = false;
        int64_t until = 0;
        char why[200];

        if (fleet_store_is_revoked(d->db, kind, id, clock_now(), &revoked, &until) < 0) {
                log_error("Failed to look up whether fleet %s %s was revoked: %s; not applied", kind, id,
                          db_last_error(d->db));
                return true;
        }
        if (!revoked)
                return false;
        snprintf(why, sizeof why, "%s %s was revoked in the fleet (refused here until %lld)", kind, id,
                 (long long) until);
        log_rejected(key, why);
        return true;
}

static void revoke_fleet_grant(enrichd *d, const char *key, const char *id, const char *by, const char *why) {
        grant g = { 0 };
        live_counts counts = { 0 };
        bool fleet_grant = false;
        int r;

        r = fleet_store_is_fleet_grant(d->db, id, &fleet_grant);
        if (r < 0 || !fleet_grant)
                goto out;
        r = grants_get(d->db, id, &g);
        if (r < 0 || g.revoked)
                goto out; /* already revoked here: nothing changes */
        r = grant_apply_revoke(d, id, by, "fleet grant revoked", NULL, NULL, &counts);
        if (r < 0)
                goto out;
        (void) audit_recordf(d, NULL, g.user, AUDIT_GRANT_REVOKED, AUDIT_OK, "{s:s, s:b, s:s, s:s, s:i, s:i}",
                             "grantId", id, "fleet", true, "key", key, "why", why, "sessionsUpdated", counts.updated,
                             "sessionsRevoked", counts.revoked);
        log_struct(LOG_NOTICE, LOG_MSGID_GRANT_REVOKED,
                   (const char *[]) { "ENRICH_GRANT", id, "ENRICH_USER", g.user, "ENRICH_FLEET_KEY", key, NULL },
                   "Fleet grant %s of %s revoked (%s): %d sessions re-issued, %d revoked", id, g.user, why,
                   counts.updated, counts.revoked);
out:
        if (r < 0)
                log_error("Failed to revoke fleet grant %s: %s", id, db_last_error(d->db));
        grant_clear(&g);
}

/* A signed record for a user this host does not know (yet): kept, and
 * applied by fleet_tick once the account appears (useradd, a directory
 * that learns it), until its key goes from etcd or it expires. */
static void keep_for_later(enrichd *d, const etcd_kv *kv, const char *kind, const char *id, const char *user,
                           int64_t expires) {
        fleet *f = d->fleet;
        fleet_pending p = { .key = kv->key,
                            .value = kv->value,
                            .user = (char *) user,
                            .mod_revision = kv->mod_revision,
                            .expires = expires };
        int r;

        r = fleet_store_pending_put(d->db, &p);
        if (r == -ENOSPC) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                           "Fleet %s %s is for %s, whom this host does not know, and %d records already wait for "
                           "their user: not kept",
                           kind, id, user, FLEET_STORE_MAX_PENDING);
                return;
        }
        if (r < 0) {
                log_error("Failed to keep fleet %s %s for later: %s", kind, id, db_last_error(d->db));
                return;
        }
        f->n_pending++;
        log_struct(LOG_INFO, LOG_MSGID_FLEET,
                   (const char *[]) { "ENRICH_FLEET_KEY", kv->key, "ENRICH_USER", user, NULL },
                   "Fleet %s %s is for %s, whom this host does not know yet; applied when the account appears", kind,
                   id, user);
}

/* The local account a signed record of kind ("grant", "token") is for,
 * and who made it as this host records it ("fleet:BY", *ret_by). A user
 * this host does not know is -ENOENT (keep_for_later). */
static int record_subject(const etcd_kv *kv, const char *kind, const char *id, const char *user, const char *by,
                          struct passwd *pw, char **pwbuf, char **ret_by) {
        int r;

        r = identity_lookup_user(user, 0, pw, pwbuf);
        if (r < 0) {
                if (r != -ENOENT)
                        log_error("Failed to look up %s for fleet %s %s: %s", user, kind, id, strerror(-r));
                return r;
        }
        if (asprintf(ret_by, "fleet:%s", by) < 0) {
                *ret_by = NULL;
                return -ENOMEM;
        }
        return 0;
}

static void apply_grant(enrichd *d, const etcd_kv *kv, const char *id) {
        fleet *f = d->fleet;
        json_t *payload = NULL;
        const char *why = NULL;
        char *pwbuf = NULL, *granted_by = NULL, *kid = NULL, *issuer = NULL;
        struct passwd pw;
        fleet_grant_record rec = { 0 };
        grant existing = { 0 };
        live_counts counts = { 0 };
        int64_t now = clock_now();
        int r;

        if (fleet_record_verify(f->issuers, kv->value, &payload, &kid, &why) < 0) {
                log_rejected(kv->key, why);
                goto out;
        }
        if (fleet_record_grant(payload, id, &rec) < 0) {
                log_rejected(kv->key, "a signed record that is no valid grant (id, user, reason, grantedBy, "
                                      "expires, groups, scopes, hosts)");
                goto out;
        }
        if (!targets_this_host(f, rec.hosts)) {
                /* A grant re-targeted away from this host leaves it. */
                revoke_fleet_grant(d, kv->key, id, "fleet", "it no longer targets this host's labels");
                log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                           "Fleet grant %s targets other hosts; not applied here", id);
                goto out;
        }
        if (rec.expires <= now)
                goto out;
        r = grants_get(d->db, id, &existing);
        if (r == 0)
                goto out; /* already here (or revoked here: ids are never reused) */
        if (r != -ENOENT) {
                log_error("Failed to look up grant %s: %s", id, db_last_error(d->db));
                goto out;
        }
        if (revoked_here(d, kv->key, "grant", id))
                goto out;
        r = record_subject(kv, "grant", id, rec.user, rec.granted_by, &pw, &pwbuf, &granted_by);
        if (r == -ENOENT)
                keep_for_later(d, kv, "grant", id, rec.user, rec.expires);
        if (r < 0)
                goto out;
        grant g = {
                .id = (char *) id,
                .user = (char *) rec.user,
                .uid = pw.pw_uid,
                .groups = rec.groups,
                .scopes = rec.scopes,
                .tenant = (char *) rec.tenant,
                .reason = (char *) rec.reason,
                .granted_by = granted_by,
                .granted_by_uid = 0,
                .created = rec.created > 0 ? rec.created : now,
                .expires = rec.expires,
        };
        /* Marked first: a crash between the two leaves a mark without a
         * grant (harmless), never a fleet grant that a deletion in etcd
         * would not revoke. */
        /* Where it came from: the issuing host the signed record names,
         * else (records of older issuers) the key that signed it. */
        if (rec.issuer && fleet_name_valid(rec.issuer))
                issuer = strdup(rec.issuer);
        else if (asprintf(&issuer, "key %s", kid) < 0)
                issuer = NULL;
        if (!issuer || fleet_store_mark_grant(d->db, id, kv->mod_revision, issuer) < 0 ||
            grant_apply_add(d, &g, "fleet grant added", &counts) < 0) {
                log_error("Failed to store fleet grant %s: %s", id, db_last_error(d->db));
                goto out;
        }
        (void) audit_recordf(d, NULL, rec.user, AUDIT_GRANT_CREATED, AUDIT_OK,
                             "{s:s, s:b, s:s, s:O, s:O, s:s*, s:s, s:I}", "grantId", id, "fleet", true, "grantedBy",
                             granted_by, "groups",
                             json_object_get(payload, "groups") ? json_object_get(payload, "groups") : json_null(),
                             "scopes",
                             json_object_get(payload, "scopes") ? json_object_get(payload, "scopes") : json_null(),
                             "tenant", rec.tenant, "reason", rec.reason, "expires", (json_int_t) rec.expires);
        log_struct(LOG_NOTICE, LOG_MSGID_GRANT_NEW,
                   (const char *[]) { "ENRICH_GRANT", id, "ENRICH_USER", rec.user, "ENRICH_FLEET_KEY", kv->key, NULL },
                   "Fleet grant %s to %s by %s until %lld: %zu groups, %zu scopes; %d sessions re-issued, %d revoked",
                   id, rec.user, granted_by, (long long) rec.expires, strv_length(rec.groups), strv_length(rec.scopes),
                   counts.updated, counts.revoked);
out:
        grant_clear(&existing);
        fleet_grant_record_clear(&rec);
        json_decref(payload);
        free(pwbuf);
        free(granted_by);
        free(kid);
        free(issuer);
}

static void apply_identity(enrichd *d, const etcd_kv *kv, const char *user) {
        fleet *f = d->fleet;
        json_t *payload = NULL, *header = NULL;
        const char *why = NULL, *state, *puser, *reason, *by;
        char *canonical = NULL, *actor = NULL;
        identity_state current = { 0 };
        identity_key key;
        int64_t at, now = clock_now();
        bool signed_record;

        signed_record = fleet_record_verify(f->issuers, kv->value, &payload, NULL, &why) == 0;
        /* A disable removes access: it counts unsigned too (whoever can
         * write to etcd can deny service anyway). */
        if (!signed_record && jws_decode_unverified(kv->value, &header, &payload) < 0) {
                json_error_t error;
                payload = json_loads(kv->value, 0, &error);
        }
        state = json_string_value(json_object_get(payload, "state"));
        puser = json_string_value(json_object_get(payload, "user"));
        at = json_integer_value(json_object_get(payload, "at"));
        if (!state || !puser || strcmp(puser, user) != 0) {
                log_rejected(kv->key, signed_record ? "a signed record that is no valid identity record"
                                      : why         ? why
                                                    : "not an identity record");
                goto out;
        }
        /* The name reaches the journal, the audit trail and enrichctl's
         * tables: nothing there may hold what a terminal acts on. */
        if (strlen(user) > FLEET_MAX_USER_NAME || text_has_controls(user)) {
                log_rejected(kv->key, "the user name is too long or holds control characters");
                goto out;
        }
        /* An unsigned record's reason and author are whatever an etcd
         * writer chose (an admin's name, escape sequences for an admin's
         * terminal): only its disable counts, not its words. A signed
         * one's are shown if they are plain text. */
        if (signed_record) {
                reason = json_string_value(json_object_get(payload, "reason"));
                by = json_string_value(json_object_get(payload, "by"));
                if (reason && (strlen(reason) > IDENTITIES_MAX_REASON || text_has_controls(reason)))
                        reason = NULL;
                if (by && (strlen(by) > FLEET_MAX_USER_NAME || text_has_controls(by)))
                        by = NULL;
        } else {
                reason = "disabled by an unsigned fleet record";
                by = "unsigned-record";
        }
        if (at <= 0 || at > now)
                at = now;
        if (asprintf(&actor, "fleet:%s", by ? by : "unknown") < 0) {
                actor = NULL;
                goto out;
        }
        key = identity_key_of(user, &canonical);
        if (identities_get(d->db, &key, &current) < 0) {
                log_error("Failed to look up identity %s: %s", user, db_last_error(d->db));
                goto out;
        }
        if (strcmp(state, "disabled") == 0) {
                if (current.disabled)
                        goto out;
                if (!signed_record)
                        log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                                   "Fleet record %s disables %s without a valid signature (%s): applied, since it only "
                                   "removes access",
                                   kv->key, user, why ? why : "unsigned");
                if (offboard_disable(d, NULL, user, reason ? reason : "disabled in the fleet", actor, at, NULL) < 0)
                        log_error("Failed to disable %s from the fleet: %s", user, db_last_error(d->db));
        } else if (strcmp(state, "enabled") == 0) {
                if (!signed_record) {
                        log_rejected(kv->key, why ? why : "an enable must be signed by an issuer");
                        goto out;
                }
                if (!current.disabled)
                        goto out;
                /* An enable older than the disable it would undo is an old
                 * record written back (replayed): it does not count. */
                if (at < current.since) {
                        log_rejected(kv->key, "an enable older than the disable in force (replayed?)");
                        goto out;
                }
                if (offboard_enable(d, NULL, user, actor, NULL) < 0)
                        log_error("Failed to enable %s from the fleet: %s", user, db_last_error(d->db));
        } else
                log_rejected(kv->key, "state is neither \"disabled\" nor \"enabled\"");
out:
        identity_state_clear(&current);
        json_decref(payload);
        json_decref(header);
        free(canonical);
        free(actor);
}

/* A fleet token gone from etcd (revoked, expired, or no longer there):
 * revoked here at once, with the sessions it opened. */
static void revoke_fleet_token(enrichd *d, const char *key, const char *id, const char *why) {
        token_record t = { 0 };
        bool fleet_token = false, changed = false;
        char reason[300];
        int r, sessions;

        r = fleet_store_is_fleet_token(d->db, id, &fleet_token);
        if (r < 0 || !fleet_token)
                goto out;
        r = tokens_get(d->db, id, &t);
        if (r < 0 || t.revoked)
                goto out;
        r = tokens_revoke(d->db, id, "fleet", clock_now(), &changed);
        if (r < 0 || !changed)
                goto out;
        snprintf(reason, sizeof reason, "fleet token %s revoked (%s)", id, why);
        sessions = live_revoke_token_sessions(d, id, reason);
        (void) audit_recordf(d, NULL, t.user, AUDIT_TOKEN_REVOKED, AUDIT_OK, "{s:s, s:b, s:s, s:s, s:i}", "tokenId", id,
                             "fleet", true, "key", key, "why", why, "sessionsRevoked", sessions);
        log_struct(LOG_NOTICE, LOG_MSGID_TOKEN_REVOKED,
                   (const char *[]) { "ENRICH_TOKEN", id, "ENRICH_USER", t.user, "ENRICH_FLEET_KEY", key, NULL },
                   "Fleet token %s of %s revoked (%s); %d sessions revoked", id, t.user, why, sessions);
out:
        if (r < 0 && r != -ENOENT)
                log_error("Failed to revoke fleet token %s: %s", id, db_last_error(d->db));
        token_record_clear(&t);
}

/* A signed token record for a token this host holds, rotated later than
 * it was here: the new digest becomes its secret, the one before working
 * until previousUntil (not at all when that is not after the rotation).
 * An older or equal rotation (the same record again, or an old one
 * written back) changes nothing. */
static void rotate_token(enrichd *d, const etcd_kv *kv, const token_record *existing, json_t *payload,
                         const char *digest) {
        int64_t rotated = json_integer_value(json_object_get(payload, "rotated"));
        int64_t until = json_integer_value(json_object_get(payload, "previousUntil"));
        const char *user = json_string_value(json_object_get(payload, "user"));
        int r;

        if (rotated <= existing->rotated || existing->revoked)
                return;
        if (!user || strcmp(user, existing->user) != 0) {
                log_rejected(kv->key, "a rotation that names another user than the token's");
                return;
        }
        r = tokens_rotate_fleet(d->db, d->config->state_dir, existing->id, digest, rotated,
                                until > rotated ? until - rotated : 0);
        if (r == -EKEYREVOKED)
                return;
        if (r < 0) {
                log_error("Failed to rotate fleet token %s: %s", existing->id, db_last_error(d->db));
                return;
        }
        (void) audit_recordf(d, NULL, existing->user, AUDIT_TOKEN_ROTATED, AUDIT_OK, "{s:s, s:b, s:s, s:I}", "tokenId",
                             existing->id, "fleet", true, "key", kv->key, "grace",
                             (json_int_t) (until > rotated ? until - rotated : 0));
        log_struct(LOG_NOTICE, LOG_MSGID_TOKEN_ISSUED,
                   (const char *[]) { "ENRICH_TOKEN", existing->id, "ENRICH_USER", existing->user, "ENRICH_FLEET_KEY",
                                      kv->key, NULL },
                   "Fleet token %s of %s rotated; the old secret works %s", existing->id, existing->user,
                   until > rotated ? "until its grace ends" : "no more");
}

/* tokens/<id>: a token adds access, so it counts only signed by an
 * issuer; its verifier's digest is all the host learns of its secret. */
static void apply_token(enrichd *d, const etcd_kv *kv, const char *id) {
        fleet *f = d->fleet;
        json_t *payload = NULL;
        const char *why = NULL, *pid, *user, *digest, *scopes, *description, *by;
        char *pwbuf = NULL, *created_by = NULL;
        struct passwd pw;
        token_record existing = { 0 };
        int64_t now = clock_now(), created, expires;
        int r;

        if (fleet_record_verify(f->issuers, kv->value, &payload, NULL, &why) < 0) {
                log_rejected(kv->key, why);
                goto out;
        }
        pid = json_string_value(json_object_get(payload, "id"));
        user = json_string_value(json_object_get(payload, "user"));
        digest = json_string_value(json_object_get(payload, "verifierSha256"));
        scopes = json_string_value(json_object_get(payload, "scopes"));
        description = json_string_value(json_object_get(payload, "description"));
        by = json_string_value(json_object_get(payload, "createdBy"));
        created = json_integer_value(json_object_get(payload, "created"));
        expires = json_integer_value(json_object_get(payload, "expires"));
        if (!pid || strcmp(pid, id) != 0 || !svctoken_valid_id(id) || !user || !*user || strlen(user) > 256 ||
            !digest || !svctoken_valid_verifier(digest) || !scopes ||
            strlen(scopes) > TOKENS_MAX_SCOPES * (TOKENS_MAX_SCOPE_LENGTH + 1) ||
            (description && strlen(description) > TOKENS_MAX_DESCRIPTION) || !by || strlen(by) > 256 || expires <= 0) {
                log_rejected(kv->key,
                             "a signed record that is no valid token (id, user, verifierSha256, scopes, createdBy, "
                             "expires)");
                goto out;
        }
        if (expires <= now)
                goto out;
        r = tokens_get(d->db, id, &existing);
        if (r == 0) {
                /* Already here (or revoked here: ids are never reused);
                 * a newer rotation moves it to the new secret. */
                rotate_token(d, kv, &existing, payload, digest);
                goto out;
        }
        if (r != -ENOENT) {
                log_error("Failed to look up token %s: %s", id, db_last_error(d->db));
                goto out;
        }
        if (revoked_here(d, kv->key, "token", id))
                goto out;
        r = record_subject(kv, "token", id, user, by, &pw, &pwbuf, &created_by);
        if (r == -ENOENT)
                keep_for_later(d, kv, "token", id, user, expires);
        if (r < 0)
                goto out;
        token_record t = {
                .user = (char *) user,
                .uid = pw.pw_uid,
                .scopes = (char *) scopes,
                .description = (char *) description,
                .created = created > 0 ? created : now,
                .created_by = created_by,
                .expires = expires,
        };
        memcpy(t.id, id, SVCTOKEN_ID_LENGTH + 1);
        /* Marked first, as for a grant: never a fleet token that a deleted
         * key would not revoke. */
        if (fleet_store_mark_token(d->db, id, kv->mod_revision) < 0 ||
            tokens_add_fleet(d->db, d->config->state_dir, &t, digest) < 0) {
                log_error("Failed to store fleet token %s: %s", id, db_last_error(d->db));
                goto out;
        }
        (void) audit_recordf(d, NULL, user, AUDIT_TOKEN_ISSUED, AUDIT_OK, "{s:s, s:b, s:s, s:s, s:s*, s:I}", "tokenId",
                             id, "fleet", true, "createdBy", created_by, "scopes", scopes, "description", description,
                             "expires", (json_int_t) expires);
        log_struct(LOG_NOTICE, LOG_MSGID_TOKEN_ISSUED,
                   (const char *[]) { "ENRICH_TOKEN", id, "ENRICH_USER", user, "ENRICH_FLEET_KEY", kv->key, NULL },
                   "Fleet token %s of %s by %s until %lld (scopes: %s)", id, user, created_by, (long long) expires,
                   *scopes ? scopes : "none");
out:
        token_record_clear(&existing);
        json_decref(payload);
        free(pwbuf);
        free(created_by);
}

/* A record that waited here for its user (p), gone from etcd: its id
 * stays revoked until the record's expiry, so that the record written
 * back (by anyone who can write to etcd) neither waits nor applies
 * again. */
static void keep_pending_revoked(enrichd *d, const fleet_pending *p, const char *why) {
        fleet *f = d->fleet;
        size_t n = strlen(f->prefix);
        const char *rel = p->key + n, *kind;

        /* Kept under another prefix (the config changed): not this fleet's. */
        if (strncmp(p->key, f->prefix, n) != 0 || p->expires <= clock_now())
                return;
        if (strncmp(rel, "grants/", 7) == 0)
                kind = "grant";
        else if (strncmp(rel, "tokens/", 7) == 0)
                kind = "token";
        else
                return;
        keep_revoked(d, p->key, kind, rel + 7, p->expires);
        log_struct(LOG_INFO, LOG_MSGID_FLEET,
                   (const char *[]) { "ENRICH_FLEET_KEY", p->key, "ENRICH_USER", p->user, NULL },
                   "Fleet %s %s, waiting for %s, is gone (%s): refused here until %lld", kind, rel + 7, p->user, why,
                   (long long) p->expires);
}

/* The record waiting at key (grants/ or tokens/), if any, gone from etcd. */
static void keep_waiting_revoked(enrichd *d, const char *key, const char *why) {
        fleet_pending p = { 0 };
        int r;

        r = fleet_store_pending_get(d->db, key, &p);
        if (r == 0)
                keep_pending_revoked(d, &p, why);
        else if (r != -ENOENT)
                log_error("Failed to read the waiting fleet record %s: %s", key, db_last_error(d->db));
        fleet_pending_clear(&p);
}

/* A full read (present: its keys, snapshot_keys): the records waiting
 * for their user that it no longer has are gone from etcd (deleted while
 * the watch was away). */
static void keep_gone_waiting_revoked(enrichd *d, json_t *present) {
        fleet_pending *list = NULL;
        char *after = NULL;
        size_t n = 0;

        do {
                if (fleet_store_pending_list(d->db, after ? after : "", FLEET_PENDING_PAGE, &list, &n) < 0) {
                        log_error("Failed to read the fleet records waiting for their user: %s", db_last_error(d->db));
                        goto out;
                }
                for (size_t i = 0; i < n; i++)
                        if (!json_object_get(present, list[i].key))
                                keep_pending_revoked(d, &list[i], "no longer in etcd");
                free(after);
                after = n > 0 ? strdup(list[n - 1].key) : NULL;
                fleet_pending_free(list, n);
                list = NULL;
        } while (n == FLEET_PENDING_PAGE && after);
out:
        free(after);
}

/* revoked/grants/<id>, revoked/tokens/<id>: an issuer's signed word that
 * the grant or token is revoked. Held here, it is revoked (as when its
 * key is deleted); waiting for its user, it is forgotten; either way its
 * id stays revoked here until its expiry, so its record written back is
 * refused. Unsigned or signed by another key, the record is ignored and
 * leaves no row (only an issuer's revocations take room here); its
 * deletion changes nothing (apply_revoked_kv). */
static void apply_revocation(enrichd *d, const etcd_kv *kv, const char *dir, const char *id) {
        fleet *f = d->fleet;
        const char *kind = strcmp(dir, "grants/") == 0 ? "grant" : "token", *why = NULL;
        fleet_revocation_record rec = { 0 };
        json_t *payload = NULL;
        char key[512];

        if (strcmp(kind, "grant") == 0 ? !fleet_name_valid(id) : !svctoken_valid_id(id)) {
                log_rejected(kv->key, "not under a grant or token id");
                goto out;
        }
        if (fleet_record_verify(f->issuers, kv->value, &payload, NULL, &why) < 0) {
                log_rejected(kv->key, why);
                goto out;
        }
        if (fleet_record_revocation(payload, kind, id, &rec) < 0) {
                log_rejected(kv->key, "a signed record that is no valid revocation (id, kind, revoked, expires)");
                goto out;
        }
        if (rec.expires <= clock_now())
                goto out; /* expired anyway: nothing to refuse */
        keep_revoked(d, kv->key, kind, id, rec.expires);
        snprintf(key, sizeof key, "%s%s%s", f->prefix, dir, id);
        if (f->n_pending > 0 && fleet_store_pending_drop(d->db, key) < 0)
                log_error("Failed to forget the waiting fleet record %s: %s", key, db_last_error(d->db));
        log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                   "Fleet %s %s revoked by %s: refused here until %lld", kind, id,
                   rec.revoked_by ? rec.revoked_by : "an issuer", (long long) rec.expires);
        /* This host's own admin call revokes it here when it ends (its
         * answer then says what it changed). */
        if (json_object_get(f->revoking, kv->key))
                goto out;
        if (strcmp(kind, "grant") == 0)
                revoke_fleet_grant(d, kv->key, id, "fleet", "an issuer revoked it");
        else
                revoke_fleet_token(d, kv->key, id, "an issuer revoked it");
out:
        json_decref(payload);
}

/* Whether this host's admin is revoking grant or token (dir) id through
 * etcd right now: its call revokes it here when it ends (and answers
 * what that changed), so the watch leaves the revocation and the
 * deletion it wrote to it; a deletion seen meanwhile is noted for the
 * call's end (revocation_written). */
static bool left_to_admin_call(enrichd *d, const char *dir, const char *id) {
        fleet *f = d->fleet;
        char key[512];

        if (json_object_size(f->revoking) == 0)
                return false;
        snprintf(key, sizeof key, "%srevoked/%s%s", f->prefix, dir, id);
        if (!json_object_get(f->revoking, key))
                return false;
        (void) json_object_set_new(f->revoking, key, json_false()); /* its deletion seen */
        return true;
}

/* A key under revoked/ (rel: what follows it). */
static void apply_revoked_kv(enrichd *d, const etcd_kv *kv, const char *rel) {
        const char *dir = strncmp(rel, "grants/", 7) == 0   ? "grants/"
                          : strncmp(rel, "tokens/", 7) == 0 ? "tokens/"
                                                            : NULL;

        if (!dir || !rel[7])
                return;
        if (kv->deleted)
                log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                           "Fleet key %s deleted: that changes nothing (a revocation seen here stays until its "
                           "expiry)",
                           kv->key);
        else
                apply_revocation(d, kv, dir, rel + 7);
}

/* A checkpoints/ record (fleet_publish_checkpoint's JSON) into *ret. */
static int parse_checkpoint(json_t *o, audit_anchor *ret) {
        const char *head = json_string_value(json_object_get(o, "head"));
        const char *kid = json_string_value(json_object_get(o, "kid"));
        const char *signature = json_string_value(json_object_get(o, "signature"));
        audit_anchor a = { 0 };

        a.row_id = json_integer_value(json_object_get(o, "row"));
        a.time = json_integer_value(json_object_get(o, "time"));
        if (!head || strlen(head) != 64 || !kid || strlen(kid) >= sizeof a.kid || !signature ||
            strlen(signature) >= sizeof a.signature || a.row_id <= 0)
                return -EBADMSG;
        memcpy(a.head, head, 65);
        strcpy(a.kid, kid);
        strcpy(a.signature, signature);
        *ret = a;
        return 0;
}

/* checkpoints/<this host>: what this host published must still be in its
 * trail. If it is not, the database was rewritten or cut: said in the
 * journal, and no checkpoint of the rewritten trail replaces the evidence
 * in etcd until an admin's `enrichctl audit checkpoint` accepts the trail
 * as it stands (as for audit.head). */
static void check_own_checkpoint(enrichd *d, const etcd_kv *kv) {
        fleet *f = d->fleet;
        json_t *o = kv->deleted ? NULL : json_loads(kv->value, 0, NULL);
        audit_verdict v = { .ok = true };
        audit_anchor a = { 0 }, newest;
        bool compared = false;

        if (!kv->deleted && (!o || parse_checkpoint(o, &a) < 0))
                log_rejected(kv->key, "not a checkpoint record");
        else if (!kv->deleted && audit_check_anchor(d, &a, &v, &compared) < 0)
                log_error("Failed to compare the published audit checkpoint: %s", db_last_error(d->db));
        else if (!v.ok) {
                if (!f->anchor_broken)
                        log_struct(LOG_ERR, LOG_MSGID_FLEET_ANCHOR,
                                   (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                                   "Audit trail does not hold the checkpoint this host published (%s): %s; not "
                                   "publishing checkpoints until an admin's enrichctl audit checkpoint",
                                   kv->key, v.reason);
                f->anchor_broken = true;
        } else if (audit_newest_checkpoint(d, &newest) == 0 && newest.row_id > a.row_id)
                /* Made while etcd did not have it (before fleet mode, or
                 * offline): published now rather than at the next one. */
                fleet_publish_checkpoint(d, &newest, false);
        json_decref(o);
}

static void host_trust(enrichd *d, const char *id);
static void apply_enrolment(enrichd *d, const etcd_kv *kv, const char *id);

/* One key put or deleted, by what lies under the prefix. */
/* A string member of a presence record that an admin's terminal may
 * show (fleet hosts): absent, or short text without controls. */
static bool presence_text_ok(json_t *v) {
        const char *s = json_string_value(v);
        return !v || (s && strlen(s) <= 256 && !text_has_controls(s));
}

/* Why a presence record (plain JSON any etcd writer can put) is not kept,
 * or NULL: what enrichd publishes is an object with short hostname and
 * version, at most CONFIG_FLEET_MAX_LABELS labels that are valid names,
 * and at most JWKS_MAX_KEYS keys. A record past that would only cost
 * every host memory and FleetJwks's callers time. */
static const char *presence_refused(json_t *record) {
        json_t *labels = json_object_get(record, "labels"), *label;
        json_t *keys = json_object_get(json_object_get(record, "jwks"), "keys");
        size_t i;

        if (!json_is_object(record))
                return "a presence record that is no JSON object";
        if (!presence_text_ok(json_object_get(record, "hostname")) ||
            !presence_text_ok(json_object_get(record, "version")))
                return "a presence record whose hostname or version is no short text";
        if (labels && (!json_is_array(labels) || json_array_size(labels) > CONFIG_FLEET_MAX_LABELS))
                return "a presence record whose labels are no list of at most 64";
        json_array_foreach(labels, i, label)
                if (!json_is_string(label) || !fleet_name_valid(json_string_value(label)))
                        return "a presence record with a label that is no valid name";
        if (json_array_size(keys) > JWKS_MAX_KEYS)
                return "a presence record with more than 64 keys";
        return NULL;
}

static void apply_kv(enrichd *d, const etcd_kv *kv) {
        fleet *f = d->fleet;
        size_t n = strlen(f->prefix);
        const char *rel;

        if (strncmp(kv->key, f->prefix, n) != 0)
                return;
        rel = kv->key + n;
        /* A new value or a deletion replaces a record waiting for its
         * user (which the new value may keep again). */
        if (f->n_pending > 0 && (strncmp(rel, "grants/", 7) == 0 || strncmp(rel, "tokens/", 7) == 0)) {
                if (kv->deleted)
                        keep_waiting_revoked(d, kv->key, "its key was deleted");
                if (fleet_store_pending_drop(d->db, kv->key) < 0)
                        log_error("Failed to forget the waiting fleet record %s: %s", kv->key, db_last_error(d->db));
        }
        if (strncmp(rel, "grants/", 7) == 0 && rel[7]) {
                if (kv->deleted && !left_to_admin_call(d, "grants/", rel + 7))
                        revoke_fleet_grant(d, kv->key, rel + 7, "fleet", "its key was deleted (revoked or expired)");
                else if (!kv->deleted)
                        apply_grant(d, kv, rel + 7);
        } else if (strncmp(rel, "identities/", 11) == 0 && rel[11]) {
                if (kv->deleted)
                        log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                                   "Fleet key %s deleted: that changes nothing (a disabled user stays disabled "
                                   "until a signed enable)",
                                   kv->key);
                else
                        apply_identity(d, kv, rel + 11);
        } else if (strncmp(rel, "tokens/", 7) == 0 && rel[7]) {
                if (kv->deleted && !left_to_admin_call(d, "tokens/", rel + 7))
                        revoke_fleet_token(d, kv->key, rel + 7, "its key was deleted (revoked or expired)");
                else if (!kv->deleted)
                        apply_token(d, kv, rel + 7);
        } else if (strncmp(rel, "revoked/", 8) == 0)
                apply_revoked_kv(d, kv, rel + 8);
        else if (strncmp(rel, "hosts/", 6) == 0 && rel[6]) {
                /* Plain JSON any etcd writer can put: only under a host id
                 * (what enrichctl fleet hosts prints) and of a presence
                 * record's size is it read at all. */
                bool plausible = !kv->deleted && fleet_name_valid(rel + 6) && kv->value &&
                                 strlen(kv->value) <= FLEET_MAX_HOST_RECORD;
                json_t *record = plausible ? json_loads(kv->value, 0, NULL) : NULL;
                const char *why = record ? presence_refused(record) : NULL;
                if (why)
                        log_rejected(kv->key, why);
                if (record && !why && json_object_size(f->hosts) < FLEET_MAX_HOSTS)
                        json_object_set(f->hosts, rel + 6, record);
                else
                        json_object_del(f->hosts, rel + 6);
                json_decref(record);
                host_trust(d, rel + 6);
        } else if (strncmp(rel, "enrolments/", 11) == 0 && rel[11]) {
                apply_enrolment(d, kv, rel + 11);
        } else if (strncmp(rel, "checkpoints/", 12) == 0 && strcmp(rel + 12, f->host_id) == 0)
                check_own_checkpoint(d, kv);
        /* Other hosts' checkpoints/: theirs to check (audit verify --fleet). */
}

/* Contact is back after offline_max: the suspended grants that the
 * snapshot b still has count again; the others stay revoked. */
static void resume_suspended(enrichd *d, json_t *present_keys) {
        fleet *f = d->fleet;
        char **suspended = NULL, key[512];
        size_t resumed = 0;

        if (fleet_store_suspended_grants(d->db, clock_now(), &suspended) < 0) {
                log_error("Failed to list the suspended fleet grants: %s", db_last_error(d->db));
                return;
        }
        for (size_t i = 0; suspended && suspended[i]; i++) {
                grant g = { 0 };
                live_counts counts = { 0 };
                bool present = false, changed = false;

                snprintf(key, sizeof key, "%sgrants/%s", f->prefix, suspended[i]);
                present = json_object_get(present_keys, key) != NULL;
                /* Revoked in the fleet meanwhile (its record written
                 * back after): stays revoked. */
                if (!present || revoked_here(d, key, "grant", suspended[i]) || grants_get(d->db, suspended[i], &g) < 0)
                        continue;
                if (grants_unrevoke(d->db, suspended[i], FLEET_STORE_OFFLINE, &changed) == 0 && changed) {
                        grant_apply_effects(d, g.user, "fleet grant resumed", &counts);
                        resumed++;
                }
                grant_clear(&g);
        }
        strv_free(suspended);
        f->suspended = false;
        log_struct(LOG_NOTICE, LOG_MSGID_FLEET, NULL,
                   "Contact with etcd is back: honouring fleet grants again (%zu resumed)", resumed);
}

static void ask_snapshot(fleet *f);

/* The keys of a full read b, as a set (key -> true) looked up by the
 * comparisons with what this host holds; NULL when out of memory. */
static json_t *snapshot_keys(const batch *b) {
        json_t *keys = json_object();

        for (size_t i = 0; keys && i < b->n; i++)
                if (json_object_set_new(keys, b->kvs[i].key, json_true()) < 0) {
                        json_decref(keys);
                        keys = NULL;
                }
        return keys;
}

/* A snapshot: every record in it applied, and the fleet grants held here
 * that it no longer has revoked (deleted while this host was away). */
static void apply_snapshot(enrichd *d, const batch *b) {
        fleet *f = d->fleet;
        char **held = NULL, key[512];
        json_t *present = snapshot_keys(b);

        if (!present) {
                /* Nothing applied: the next full read tries again. */
                log_error("Failed to compare a full read of etcd with this host's records: out of memory");
                ask_snapshot(f);
                return;
        }

        json_object_clear(f->hosts);
        json_object_clear(f->enrolments);
        json_object_clear(f->endorsed);
        json_object_clear(f->renewals);
        /* The records waiting for their user: those still in etcd are
         * kept again as the snapshot is applied, the others are gone. */
        if (f->n_pending > 0) {
                keep_gone_waiting_revoked(d, present);
                if (fleet_store_pending_drop_all(d->db) < 0)
                        log_error("Failed to forget the waiting fleet records: %s", db_last_error(d->db));
                else
                        f->n_pending = 0;
        }
        for (size_t i = 0; i < b->n; i++)
                apply_kv(d, &b->kvs[i]);
        if (fleet_store_active_grants(d->db, clock_now(), &held) < 0) {
                log_error("Failed to list the fleet grants: %s", db_last_error(d->db));
                json_decref(present);
                return;
        }
        for (size_t i = 0; held && held[i]; i++) {
                snprintf(key, sizeof key, "%sgrants/%s", f->prefix, held[i]);
                if (!json_object_get(present, key))
                        revoke_fleet_grant(d, key, held[i], "fleet", "it is no longer in etcd");
        }
        strv_free(held);
        held = NULL;
        if (fleet_store_active_tokens(d->db, clock_now(), &held) < 0)
                log_error("Failed to list the fleet tokens: %s", db_last_error(d->db));
        for (size_t i = 0; held && held[i]; i++) {
                snprintf(key, sizeof key, "%stokens/%s", f->prefix, held[i]);
                if (!json_object_get(present, key))
                        revoke_fleet_token(d, key, held[i], "it is no longer in etcd");
        }
        strv_free(held);
        if (f->suspended)
                resume_suspended(d, present);
        json_decref(present);
}

/* Asks the watcher for a full read: it ends its watch, reads the prefix
 * and watches again from there (see watcher()). */
static void ask_snapshot(fleet *f) {
        f->snapshot_asked = true;
        atomic_store(&f->want_snapshot, true);
        pthread_mutex_lock(&f->lock);
        f->watch_abort = true;
        pthread_cond_broadcast(&f->wake);
        pthread_mutex_unlock(&f->lock);
}

void fleet_dispatch(enrichd *d) {
        fleet *f = d->fleet;
        uint64_t count;
        ssize_t n;

        if (!f)
                return;
        n = read(f->event_fd, &count, sizeof count); /* resets it; EAGAIN: nothing */
        (void) n;
        /* The admin's writes first: their callers are waiting. */
        finish_writes(d);
        /* A bounded share per turn of the loop, so a burst of changes
         * never holds up the logins waiting behind it; the rest is left
         * for the next turn (the eventfd is made readable again). */
        for (unsigned done = 0;; done++) {
                batch *b;

                if (done == FLEET_BATCHES_PER_TURN) {
                        uint64_t one = 1;
                        if (write(f->event_fd, &one, sizeof one) < 0)
                                log_warning_errno(-errno, "Failed to re-arm the fleet eventfd");
                        break;
                }

                pthread_mutex_lock(&f->lock);
                b = f->head;
                if (b) {
                        f->head = b->next;
                        if (!f->head)
                                f->tail = NULL;
                        f->queued--;
                        pthread_cond_broadcast(&f->wake);
                }
                pthread_mutex_unlock(&f->lock);
                if (!b)
                        break;
                switch (b->kind) {
                case BATCH_CONNECTED:
                        if (!f->connected)
                                log_struct(LOG_INFO, LOG_MSGID_FLEET, NULL,
                                           "Watching the fleet in etcd from revision %lld",
                                           (long long) f->revision + 1);
                        f->connected = true;
                        f->last_contact = clock_now();
                        break;
                case BATCH_CONTACT:
                        f->last_contact = clock_now();
                        f->store_revision = b->revision;
                        if (b->pending >= 0)
                                f->lag = b->pending;
                        /* Back after an outage: resume from a full read. */
                        if (f->suspended && !f->snapshot_asked)
                                ask_snapshot(f);
                        break;
                case BATCH_DISCONNECTED:
                        if (f->connected || f->last_contact == 0)
                                log_struct(LOG_WARNING, LOG_MSGID_FLEET, NULL,
                                           "Lost contact with etcd (%s); reconnecting with backoff, answering from the "
                                           "local state meanwhile",
                                           b->error ? b->error : "unknown error");
                        f->connected = false;
                        if (f->last_contact == 0)
                                f->last_contact = -1;
                        break;
                case BATCH_SNAPSHOT:
                case BATCH_EVENTS:
                        if (b->kind == BATCH_SNAPSHOT && b->revision < f->revision) {
                                /* Cannot happen (the watcher reads between
                                 * two watches, linearizably); if it did,
                                 * applying it would undo newer changes. */
                                log_struct(LOG_WARNING, LOG_MSGID_FLEET, NULL,
                                           "Ignored fleet records read at etcd revision %lld, older than the "
                                           "revision %lld applied",
                                           (long long) b->revision, (long long) f->revision);
                                f->snapshot_asked = false;
                                break;
                        }
                        if (b->kind == BATCH_SNAPSHOT) {
                                f->snapshot_asked = false;
                                log_struct(LOG_INFO, LOG_MSGID_FLEET, NULL,
                                           "Read %zu fleet records at etcd revision %lld", b->n,
                                           (long long) b->revision);
                                apply_snapshot(d, b);
                                if (b->revision > f->snapshot_revision)
                                        f->snapshot_revision = b->revision;
                        } else
                                for (size_t i = 0; i < b->n; i++) {
                                        /* A watch that outlived an outage delivers,
                                         * late, what the snapshot read on return
                                         * already holds: applied again, a grant made
                                         * and revoked meanwhile would count until
                                         * its deletion came next. (Revision 0: this
                                         * host's checkpoint, read on its own.) */
                                        if (b->revision > 0 && b->kvs[i].mod_revision <= f->snapshot_revision)
                                                continue;
                                        apply_kv(d, &b->kvs[i]);
                                }
                        /* A snapshot from the prober may be newer than
                         * the watch's next events: never step back. */
                        if (b->revision <= f->revision && b->kind == BATCH_EVENTS)
                                break;
                        f->revision = b->revision;
                        atomic_store(&f->applied, f->revision);
                        f->last_contact = clock_now();
                        if (fleet_store_set_revision(d->db, b->revision) < 0)
                                log_error("Failed to record fleet revision %lld: %s", (long long) b->revision,
                                          db_last_error(d->db));
                        break;
                }
                batch_free(b);
        }
}

/* The records waiting for their user: a bounded round every
 * FLEET_RETRY_MS (an NSS lookup each, never on a login's path), each
 * applied as if just read from etcd once its user is known here. */
static void retry_pending(enrichd *d) {
        fleet *f = d->fleet;
        fleet_pending *list = NULL;
        size_t n = 0;
        int64_t now_ms = host_now_ms();

        if (f->n_pending <= 0 || now_ms < f->pending_next_ms)
                return;
        f->pending_next_ms = now_ms + FLEET_RETRY_MS;
        if (fleet_store_pending_expire(d->db, clock_now(), &f->n_pending) < 0 ||
            fleet_store_pending_list(d->db, f->pending_after ? f->pending_after : "", FLEET_RETRY_BATCH, &list, &n) <
                    0) {
                log_error("Failed to read the fleet records waiting for their user: %s", db_last_error(d->db));
                return;
        }
        /* The next round starts after the last one looked at, from the
         * first again once the end is reached. */
        free(f->pending_after);
        f->pending_after = n == FLEET_RETRY_BATCH ? strdup(list[n - 1].key) : NULL;
        for (size_t i = 0; i < n; i++) {
                struct passwd pw;
                char *pwbuf = NULL;
                etcd_kv kv = { .key = list[i].key,
                               .value = list[i].value,
                               .value_len = strlen(list[i].value),
                               .mod_revision = list[i].mod_revision };

                if (identity_lookup_user(list[i].user, 0, &pw, &pwbuf) == 0) {
                        log_struct(LOG_INFO, LOG_MSGID_FLEET,
                                   (const char *[]) { "ENRICH_FLEET_KEY", kv.key, "ENRICH_USER", list[i].user, NULL },
                                   "%s is known here now: applying fleet record %s", list[i].user, kv.key);
                        apply_kv(d, &kv);
                }
                free(pwbuf);
        }
        fleet_pending_free(list, n);
}

static void renew_enrolments(enrichd *d);

void fleet_tick(enrichd *d) {
        fleet *f = d->fleet;
        char **held = NULL, key[512];
        int64_t now = clock_now();
        size_t n = 0;

        if (!f)
                return;
        if (host_now_ms() >= f->revoked_next_ms) {
                f->revoked_next_ms = host_now_ms() + FLEET_REVOKED_PRUNE_MS;
                if (fleet_store_revoked_expire(d->db, now, &f->n_revoked) < 0)
                        log_error("Failed to forget the expired fleet revocations: %s", db_last_error(d->db));
        }
        /* Not while suspended: offline, no fleet grant counts. */
        if (!f->suspended)
                retry_pending(d);
        renew_enrolments(d);
        if (f->suspended || now - f->last_contact <= (int64_t) f->offline_max)
                return;
        /* Past offline_max without contact: a revocation may be waiting
         * in etcd that this host cannot see. Disabled identities stay. */
        f->suspended = true;
        if (fleet_store_active_grants(d->db, now, &held) < 0) {
                log_error("Failed to list the fleet grants: %s", db_last_error(d->db));
                return;
        }
        for (size_t i = 0; held && held[i]; i++, n++) {
                snprintf(key, sizeof key, "%sgrants/%s", f->prefix, held[i]);
                revoke_fleet_grant(d, key, held[i], FLEET_STORE_OFFLINE,
                                   "no contact with etcd for longer than offline_max");
        }
        strv_free(held);
        log_struct(LOG_WARNING, LOG_MSGID_FLEET, NULL,
                   "No contact with etcd for %llds (offline_max %us): stopped honouring %zu fleet grants until "
                   "contact is back",
                   (long long) (now - f->last_contact), f->offline_max, n);
}

/* ---- start and stop ---------------------------------------------------- */

static void keys_published(enrichd *d, json_t *published);

int fleet_start(enrichd *d, const char *version, char **ret_error) {
        const config_fleet *c = d->config->fleet;
        const char *test_delay;
        unsigned long delay_ms = 0;
        fleet *f = NULL;
        int r;

        if (!c)
                return 0;
        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->event_fd = -1;
        pthread_mutex_init(&f->lock, NULL);
        test_delay = getenv("ENRICH_FLEET_TEST_SNAPSHOT_DELAY_MS");
        if (test_delay && parse_uint(test_delay, 10000, &delay_ms) == 0)
                f->test_snapshot_delay_ms = (unsigned) delay_ms;
        test_delay = getenv("ENRICH_FLEET_TEST_RENEWAL_DELAY_MS");
        if (test_delay && parse_uint(test_delay, 10000, &delay_ms) == 0)
                f->test_renewal_delay_ms = (unsigned) delay_ms;
        pthread_cond_init(&f->wake, NULL);
        pthread_cond_init(&f->write_wake, NULL);
        f->offline_max = c->offline_max;
        f->hosts = json_object();
        f->revoking = json_object();
        f->enrolments = json_object();
        f->endorsed = json_object();
        f->renewals = json_object();
        f->enrolled_at = json_object();
        f->jwks_path = strdup(d->config->jwks);
        f->version = strdup(version);
        {
                char name[256] = "";
                if (gethostname(name, sizeof name - 1) < 0 || !*name)
                        strcpy(name, "localhost");
                f->hostname = strdup(name);
        }
        if (!f->hosts || !f->revoking || !f->enrolments || !f->endorsed || !f->renewals || !f->enrolled_at ||
            !f->jwks_path || !f->hostname || !f->version) {
                r = -ENOMEM;
                goto out;
        }
        f->prefix = strdup(c->prefix);
        f->labels = strv_copy(c->labels);
        f->issuers_path = strdup(c->issuers);
        if (!f->prefix || !f->labels || !f->issuers_path) {
                r = -ENOMEM;
                goto out;
        }
        r = c->host_id ? ((f->host_id = strdup(c->host_id)) ? 0 : -ENOMEM) : host_machine_id(&f->host_id);
        if (r < 0) {
                format_error(ret_error, "fleet: no host id (fleet.host_id, /etc/machine-id): %s", strerror(-r));
                goto out;
        }
        r = jwks_load_file(c->issuers, &f->issuers);
        if (r < 0) {
                format_error(ret_error, "fleet: cannot load issuers %s: %s", c->issuers, strerror(-r));
                goto out;
        }
        r = etcd_global_init();
        if (r == 0)
                r = etcd_new(c, FLEET_WRITE_TIMEOUT_MS, &f->direct);
        if (r == 0)
                r = etcd_new(c, FLEET_WRITE_TIMEOUT_MS, &f->writer);
        if (r == 0)
                r = etcd_new(c, FLEET_WRITE_TIMEOUT_MS, &f->reader);
        if (r == 0)
                r = etcd_new(c, FLEET_WRITE_TIMEOUT_MS, &f->prober);
        if (r < 0) {
                format_error(ret_error, "fleet: cannot set up the etcd client: %s", strerror(-r));
                goto out;
        }
        r = fleet_store_revision(d->db, &f->start_revision);
        if (r < 0) {
                format_error(ret_error, "fleet: %s", db_last_error(d->db));
                goto out;
        }
        r = fleet_store_pending_expire(d->db, clock_now(), &f->n_pending);
        if (r == 0)
                r = fleet_store_revoked_expire(d->db, clock_now(), &f->n_revoked);
        if (r < 0) {
                format_error(ret_error, "fleet: %s", db_last_error(d->db));
                goto out;
        }
        f->revision = f->start_revision;
        atomic_store(&f->applied, f->revision);
        /* The grace of offline_max runs from the start; grants an earlier
         * run suspended wait for contact, like those of this run. */
        f->last_contact = clock_now();
        {
                char **suspended = NULL;
                r = fleet_store_suspended_grants(d->db, f->last_contact, &suspended);
                if (r < 0) {
                        format_error(ret_error, "fleet: %s", db_last_error(d->db));
                        goto out;
                }
                f->suspended = suspended != NULL;
                strv_free(suspended);
        }
        f->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (f->event_fd < 0) {
                r = -errno;
                goto out;
        }
        r = -pthread_create(&f->thread, NULL, watcher, f);
        if (r < 0) {
                format_error(ret_error, "fleet: cannot start the watcher: %s", strerror(-r));
                goto out;
        }
        f->running = true;
        r = -pthread_create(&f->prober_thread, NULL, prober, f);
        if (r < 0) {
                format_error(ret_error, "fleet: cannot start the heartbeat: %s", strerror(-r));
                goto out;
        }
        f->prober_running = true;
        r = -pthread_create(&f->writer_thread, NULL, writer, f);
        if (r < 0) {
                format_error(ret_error, "fleet: cannot start the writer: %s", strerror(-r));
                goto out;
        }
        f->writer_running = true;
        log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", f->host_id, NULL },
                   "Fleet mode: host %s, prefix %s, %zu labels, %zu issuer keys, %s from revision %lld", f->host_id,
                   f->prefix, strv_length(f->labels), jwks_count(f->issuers),
                   f->start_revision > 0 ? "resuming" : "reading everything", (long long) f->start_revision);
        d->fleet = f;
        d->checkpoint_made = fleet_publish_checkpoint;
        d->keys_published = keys_published;
        f = NULL;
        {
                /* The presence record's keys, from now on as keys.c
                 * publishes them. */
                json_t *published = json_load_file(d->config->jwks, 0, NULL);
                if (published)
                        keys_published(d, published);
                json_decref(published);
        }
        r = 0;
out:
        if (f) {
                d->fleet = f;
                fleet_stop(d);
        }
        return r;
}

int fleet_event_fd(const enrichd *d) {
        return d->fleet ? d->fleet->event_fd : -1;
}

void fleet_stop(enrichd *d) {
        fleet *f = d->fleet;

        if (!f)
                return;
        if (f->running || f->prober_running || f->writer_running) {
                pthread_mutex_lock(&f->lock);
                atomic_store(&f->stop, true);
                f->watch_abort = true;
                pthread_cond_broadcast(&f->wake);
                pthread_cond_broadcast(&f->write_wake);
                pthread_mutex_unlock(&f->lock);
        }
        if (f->running)
                pthread_join(f->thread, NULL);
        if (f->prober_running)
                pthread_join(f->prober_thread, NULL);
        if (f->writer_running)
                pthread_join(f->writer_thread, NULL);
        /* Writes done, then those never started: each caller hears. */
        finish_writes(d);
        while (f->writes) {
                fleet_write *w = f->writes;
                f->writes = w->next;
                w->result = -ECANCELED;
                free(w->error);
                w->error = strdup("enrichd is stopping");
                call_done(d, w);
                fleet_write_free(w);
        }
        while (f->head) {
                batch *b = f->head;
                f->head = b->next;
                batch_free(b);
        }
        etcd_free(f->direct);
        etcd_free(f->writer);
        etcd_free(f->reader);
        etcd_free(f->prober);
        jwks_free(f->issuers);
        if (f->event_fd >= 0)
                close(f->event_fd);
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->wake);
        pthread_cond_destroy(&f->write_wake);
        free(f->prefix);
        free(f->host_id);
        strv_free(f->labels);
        free(f->issuers_path);
        free(f->endpoint);
        free(f->jwks_path);
        free(f->hostname);
        free(f->version);
        json_decref(f->hosts);
        json_decref(f->revoking);
        json_decref(f->enrolments);
        json_decref(f->endorsed);
        json_decref(f->renewals);
        json_decref(f->enrolled_at);
        free(f->presence_keys);
        free(f->checkpoint);
        free(f->pending_after);
        free(f);
        d->fleet = NULL;
        d->checkpoint_made = NULL;
        d->keys_published = NULL;
}

const char *fleet_host_id(const enrichd *d) {
        return d->fleet ? d->fleet->host_id : NULL;
}

int fleet_grant_origin(enrichd *d, const char *id, bool *ret_fleet, char **ret_issuer) {
        if (!d->fleet) {
                *ret_fleet = false;
                *ret_issuer = NULL;
                return 0;
        }
        return fleet_store_grant_origin(d->db, id, ret_fleet, ret_issuer);
}

int fleet_is_fleet_grant(enrichd *d, const char *id, bool *ret) {
        if (!d->fleet) {
                *ret = false;
                return 0;
        }
        return fleet_store_is_fleet_grant(d->db, id, ret);
}

/* ---- the admin's writes ------------------------------------------------ */

/* This host may sign fleet records when its key is one of the issuers. */
static int require_issuer(enrichd *d, char **ret_error) {
        fleet *f = d->fleet;

        if (!f) {
                format_error(ret_error, "fleet mode is off on this host (no fleet group in its enrichd.conf)");
                return -ENOTCONN;
        }
        if (!jwks_find(f->issuers, signer_kid(d->signer))) {
                format_error(ret_error,
                             "this host's signing key %s is not a fleet issuer (not in %s): it cannot sign "
                             "fleet records",
                             signer_kid(d->signer), f->issuers_path);
                return -ENOKEY;
        }
        return 0;
}

/* *ret_error for a failed call on e: which of the errors fleet.h names. */
static int write_error(etcd *e, int r, const char *what, char **ret_error) {
        switch (r) {
        case -EACCES:
                format_error(ret_error,
                             "etcd refused to %s: this host's etcd credentials are read-only on the prefix "
                             "(%s)",
                             what, etcd_last_error(e));
                break;
        case -EPERM: format_error(ret_error, "etcd refused this host's credentials (%s)", etcd_last_error(e)); break;
        case -ECONNREFUSED: format_error(ret_error, "no etcd endpoint answered (%s)", etcd_last_error(e)); break;
        case -ETIMEDOUT:
                format_error(ret_error,
                             "timed out after %d ms waiting for etcd to %s (%s); it may still have happened: "
                             "check before trying again",
                             FLEET_WRITE_DEADLINE_MS, what, etcd_last_error(e));
                break;
        default: format_error(ret_error, "failed to %s in etcd: %s", what, etcd_last_error(e));
        }
        return r;
}

static void fleet_write_free(fleet_write *w) {
        if (!w)
                return;
        free(w->key);
        free(w->value);
        free(w->delete_key);
        free(w->error);
        json_decref(w->check);
        json_decref(w->payload);
        signer_free(w->signer);
        free(w);
}

static void check_etcd(fleet *f, fleet_write *w);
static void read_checkpoint(fleet *f, fleet_write *w);
static void write_revocation(fleet *f, fleet_write *w);
static void read_record(fleet *f, fleet_write *w);
static void revocation_written(enrichd *d, const fleet_write *w);

/* The writer thread's part of w: its etcd calls, none past its deadline. */
static void write_one(fleet *f, fleet_write *w) {
        int64_t lease = 0, deleted = 0;
        int r;

        if (w->kind == READ_CHECK) {
                check_etcd(f, w);
                return;
        }
        if (w->kind == READ_CHECKPOINT) {
                read_checkpoint(f, w);
                return;
        }
        if (w->kind == WRITE_REVOCATION) {
                write_revocation(f, w);
                return;
        }
        if (w->kind == READ_RECORD) {
                read_record(f, w);
                return;
        }
        if (w->kind == WRITE_SIGNED &&
            (r = signer_sign_typed(w->signer, FLEET_RECORD_TYPE, w->payload, &w->value)) < 0) {
                format_error(&w->error, "failed to sign the fleet record: %s", strerror(-r));
                w->result = r;
                return;
        }
        if (w->conditional && f->test_renewal_delay_ms > 0) {
                log_struct(LOG_INFO, LOG_MSGID_FLEET, NULL, "Test hook: writing the signed record %s in %u ms", w->key,
                           f->test_renewal_delay_ms);
                (void) usleep(f->test_renewal_delay_ms * 1000U);
        }
        etcd_set_deadline(f->writer, w->deadline_ms);
        if (!w->value) {
                r = etcd_delete(f->writer, w->key, &deleted, NULL);
                if (r < 0)
                        (void) write_error(f->writer, r, w->what, &w->error);
                w->existed = deleted > 0;
                goto out;
        }
        if (w->ttl > 0) {
                r = etcd_lease_grant(f->writer, w->ttl, &lease);
                if (r < 0) {
                        (void) write_error(f->writer, r, r == -ETIMEDOUT ? w->what : "grant a lease", &w->error);
                        goto out;
                }
        }
        if (w->conditional) {
                bool put = false, exists = false;

                r = etcd_put_if_mod(f->writer, w->key, w->value, w->if_mod_revision, &put, &exists);
                if (r == 0 && !put) {
                        w->existed = exists;
                        format_error(&w->error, "%s %s in etcd since", w->key, exists ? "changed" : "was deleted");
                        r = -ECANCELED;
                        goto out;
                }
        } else
                r = etcd_put(f->writer, w->key, w->value, lease, NULL);
        if (r < 0) {
                (void) write_error(f->writer, r, w->what, &w->error);
                /* Past the deadline the lease is left to its TTL. */
                etcd_set_deadline(f->writer, 0);
                if (lease && r != -ETIMEDOUT)
                        (void) etcd_lease_revoke(f->writer, lease);
        }
out:
        etcd_set_deadline(f->writer, 0);
        w->result = r;
}

/* The writer thread: the admin's writes one at a time, in order, each
 * handed back to the main loop through the eventfd when done. */
static void *writer(void *userdata) {
        fleet *f = userdata;
        uint64_t one = 1;

        pthread_mutex_lock(&f->lock);
        for (;;) {
                fleet_write *w;

                while (!atomic_load(&f->stop) && !f->writes)
                        pthread_cond_wait(&f->write_wake, &f->lock);
                if (atomic_load(&f->stop))
                        break;
                w = f->writes;
                f->writes = w->next;
                if (!f->writes)
                        f->writes_last = NULL;
                w->next = NULL;
                pthread_mutex_unlock(&f->lock);
                write_one(f, w);
                pthread_mutex_lock(&f->lock);
                if (f->written_last)
                        f->written_last->next = w;
                else
                        f->written = w;
                f->written_last = w;
                if (write(f->event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
                        log_warning_errno(-errno, "Failed to wake the main loop for a fleet write");
        }
        pthread_mutex_unlock(&f->lock);
        return NULL;
}

/* Main thread: w's caller hears how it went. */
static void call_done(enrichd *d, fleet_write *w) {
        if (w->kind == READ_CHECK)
                w->check_done(d, w->result, w->error, w->result == 0 ? w->check : NULL, w->userdata);
        else if (w->kind == READ_CHECKPOINT)
                w->checkpoint_done(d, w->result, w->error, w->result == 0 ? &w->anchor : NULL, w->userdata);
        else if (w->kind == READ_RECORD)
                w->read_done(d, w->result, w->error, w->result == 0 ? w->value : NULL, w->userdata);
        else {
                if (w->kind == WRITE_REVOCATION)
                        revocation_written(d, w);
                w->done(d, w->result, w->error, w->existed, w->userdata);
        }
}

/* Main thread: the writes the writer finished, each handed to its done. */
static void finish_writes(enrichd *d) {
        fleet *f = d->fleet;
        fleet_write *w;

        pthread_mutex_lock(&f->lock);
        w = f->written;
        f->written = f->written_last = NULL;
        pthread_mutex_unlock(&f->lock);
        while (w) {
                fleet_write *next = w->next;

                call_done(d, w);
                pthread_mutex_lock(&f->lock);
                f->n_writes--;
                pthread_mutex_unlock(&f->lock);
                fleet_write_free(w);
                w = next;
        }
}

/* Hands w (taken) to the writer thread. -EBUSY (w freed, *ret_error
 * set) when FLEET_MAX_WRITES wait already. */
static int push_write(fleet *f, fleet_write *w, char **ret_error) {
        int r = 0;

        pthread_mutex_lock(&f->lock);
        if (f->n_writes >= FLEET_MAX_WRITES)
                r = -EBUSY;
        else {
                if (f->writes_last)
                        f->writes_last->next = w;
                else
                        f->writes = w;
                f->writes_last = w;
                f->n_writes++;
                w = NULL;
                pthread_cond_signal(&f->write_wake);
        }
        pthread_mutex_unlock(&f->lock);
        if (r < 0) {
                format_error(ret_error, "too many fleet calls are waiting for etcd (%d); try again later",
                             FLEET_MAX_WRITES);
                fleet_write_free(w);
        }
        return r;
}

/* Queues a write for the writer thread (key and value copied; value NULL:
 * a deletion). -EBUSY when FLEET_MAX_WRITES wait already. */
static int queue_write_until(fleet *f, const char *key, const char *value, int64_t ttl, const char *what,
                             int64_t deadline_ms, fleet_write_done done, void *userdata, char **ret_error) {
        fleet_write *w = calloc(1, sizeof *w);

        if (!w || !(w->key = strdup(key)) || (value && !(w->value = strdup(value)))) {
                fleet_write_free(w);
                return -ENOMEM;
        }
        *w = (fleet_write) { .kind = WRITE_RECORD,
                             .key = w->key,
                             .value = w->value,
                             .ttl = ttl,
                             .what = what,
                             .deadline_ms = deadline_ms,
                             .done = done,
                             .userdata = userdata };
        return push_write(f, w, ret_error);
}

/* queue_write_until with a deadline FLEET_WRITE_DEADLINE_MS from now. */
static int queue_write(fleet *f, const char *key, const char *value, int64_t ttl, const char *what,
                       fleet_write_done done, void *userdata, char **ret_error) {
        return queue_write_until(f, key, value, ttl, what, host_now_ms() + FLEET_WRITE_DEADLINE_MS, done, userdata,
                                 ret_error);
}

/* Signs payload and queues its put at key (on a lease of ttl seconds when
 * ttl > 0). */
static int put_signed(enrichd *d, const char *key, json_t *payload, int64_t ttl, const char *what,
                      fleet_write_done done, void *userdata, char **ret_error) {
        char *token = NULL;
        int r;

        r = signer_sign_typed(d->signer, FLEET_RECORD_TYPE, payload, &token);
        if (r < 0) {
                format_error(ret_error, "failed to sign the fleet record: %s", strerror(-r));
                return r;
        }
        r = queue_write(d->fleet, key, token, ttl, what, done, userdata, ret_error);
        free(token);
        return r;
}

int fleet_put_grant(enrichd *d, const grant *g, char *const *hosts, fleet_write_done done, void *userdata,
                    char **ret_error) {
        json_t *payload = NULL;
        char key[512];
        int r;

        r = require_issuer(d, ret_error);
        if (r < 0)
                return r;
        payload = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:I, s:I, s:s}", "id", g->id, "user", g->user,
                            "groups", strv_to_json(g->groups), "scopes", strv_to_json(g->scopes), "hosts",
                            strv_to_json(hosts), "reason", g->reason, "grantedBy", g->granted_by, "created",
                            (json_int_t) g->created, "expires", (json_int_t) g->expires, "issuer", d->fleet->host_id);
        if (!payload || (g->tenant && json_object_set_new(payload, "tenant", json_string(g->tenant)) < 0)) {
                json_decref(payload);
                return -ENOMEM;
        }
        snprintf(key, sizeof key, "%sgrants/%s", d->fleet->prefix, g->id);
        r = put_signed(d, key, payload, g->expires - g->created, "write the grant", done, userdata, ret_error);
        json_decref(payload);
        return r;
}

/* Queues the deletion of <prefix><dir><id> ("grants/", "tokens/"): every
 * host sees it and revokes the record (revoke_record, on a host whose key
 * is no issuer). */
static int delete_record(enrichd *d, const char *dir, const char *id, const char *what, fleet_write_done done,
                         void *userdata, char **ret_error) {
        char key[512];

        if (!d->fleet) {
                format_error(ret_error, "fleet mode is off on this host");
                return -ENOTCONN;
        }
        snprintf(key, sizeof key, "%s%s%s", d->fleet->prefix, dir, id);
        return queue_write(d->fleet, key, NULL, 0, what, done, userdata, ret_error);
}

int fleet_put_token(enrichd *d, const token_record *t, const char *digest, fleet_write_done done, void *userdata,
                    char **ret_error) {
        json_t *payload;
        char key[512];
        int r;

        r = require_issuer(d, ret_error);
        if (r < 0)
                return r;
        payload = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s, s:I, s:I}", "id", t->id, "user", t->user, "verifierSha256",
                            digest, "scopes", t->scopes ? t->scopes : "", "description", t->description, "createdBy",
                            t->created_by, "created", (json_int_t) t->created, "expires", (json_int_t) t->expires);
        /* A rotation: when, and until when the secret before it works. */
        if (payload && t->rotated > 0 &&
            (json_object_set_new(payload, "rotated", json_integer(t->rotated)) < 0 ||
             json_object_set_new(payload, "previousUntil", json_integer(t->previous_until)) < 0)) {
                json_decref(payload);
                return -ENOMEM;
        }
        if (!payload)
                return -ENOMEM;
        snprintf(key, sizeof key, "%stokens/%s", d->fleet->prefix, t->id);
        r = put_signed(d, key, payload, t->expires - (t->rotated > 0 ? t->rotated : t->created),
                       t->rotated > 0 ? "write the rotated token" : "write the token", done, userdata, ret_error);
        json_decref(payload);
        return r;
}

int fleet_is_fleet_token(enrichd *d, const char *id, bool *ret) {
        if (!d->fleet) {
                *ret = false;
                return 0;
        }
        return fleet_store_is_fleet_token(d->db, id, ret);
}

int fleet_put_identity(enrichd *d, const char *user, bool disabled, const char *reason, const char *by, int64_t at,
                       fleet_write_done done, void *userdata, char **ret_error) {
        json_t *payload;
        char key[512];
        int r;

        r = require_issuer(d, ret_error);
        if (r < 0)
                return r;
        payload = json_pack("{s:s, s:s, s:s*, s:s, s:I}", "user", user, "state", disabled ? "disabled" : "enabled",
                            "reason", reason, "by", by, "at", (json_int_t) at);
        if (!payload)
                return -ENOMEM;
        snprintf(key, sizeof key, "%sidentities/%s", d->fleet->prefix, user);
        r = put_signed(d, key, payload, 0, disabled ? "write the disable" : "write the enable", done, userdata,
                       ret_error);
        json_decref(payload);
        return r;
}

/* ---- the admin's revocations --------------------------------------------- */

/* "grant" or "token", from "grants/" or "tokens/". */
static const char *kind_of(const char *dir) {
        return strcmp(dir, "grants/") == 0 ? "grant" : "token";
}

/* The expiry of grant or token (dir) id as this host knows it: its row
 * (held, or revoked, here), else the record waiting for its user; 0 when
 * it knows neither. */
static int64_t known_expiry(enrichd *d, const char *dir, const char *id) {
        fleet_pending p = { 0 };
        int64_t expires = 0;
        char key[512];

        if (strcmp(dir, "grants/") == 0) {
                grant g = { 0 };
                if (grants_get(d->db, id, &g) == 0)
                        expires = g.expires;
                grant_clear(&g);
        } else {
                token_record t = { 0 };
                if (tokens_get(d->db, id, &t) == 0)
                        expires = t.expires;
                token_record_clear(&t);
        }
        if (expires > 0)
                return expires;
        snprintf(key, sizeof key, "%s%s%s", d->fleet->prefix, dir, id);
        if (fleet_store_pending_get(d->db, key, &p) == 0)
                expires = p.expires;
        fleet_pending_clear(&p);
        return expires;
}

/* Signs the revocation of grant or token (dir) id, which expires then,
 * and queues its put at revoked/<dir><id> on a lease lasting until that
 * expiry (plus FLEET_REVOCATION_MARGIN), then the deletion of <dir><id>;
 * only the deletion when it has expired already. */
static int queue_revocation(enrichd *d, const char *dir, const char *id, const char *by, int64_t expires,
                            int64_t deadline_ms, fleet_write_done done, void *userdata, char **ret_error) {
        fleet *f = d->fleet;
        const char *what = strcmp(dir, "grants/") == 0 ? "delete the grant" : "delete the token";
        int64_t now = clock_now();
        json_t *payload = NULL;
        fleet_write *w = NULL;
        char *token = NULL, key[512], record_key[512];
        int r;

        snprintf(record_key, sizeof record_key, "%s%s%s", f->prefix, dir, id);
        if (expires <= now)
                return queue_write_until(f, record_key, NULL, 0, what, deadline_ms, done, userdata, ret_error);
        payload = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s}", "id", id, "kind", kind_of(dir), "revoked",
                            (json_int_t) now, "revokedBy", by ? by : "admin", "expires", (json_int_t) expires, "issuer",
                            f->host_id);
        if (!payload) {
                r = -ENOMEM;
                goto out;
        }
        r = signer_sign_typed(d->signer, FLEET_RECORD_TYPE, payload, &token);
        if (r < 0) {
                format_error(ret_error, "failed to sign the fleet revocation: %s", strerror(-r));
                goto out;
        }
        snprintf(key, sizeof key, "%srevoked/%s%s", f->prefix, dir, id);
        w = calloc(1, sizeof *w);
        if (!w || !(w->key = strdup(key)) || !(w->delete_key = strdup(record_key))) {
                r = -ENOMEM;
                goto out;
        }
        w->kind = WRITE_REVOCATION;
        w->value = token;
        token = NULL;
        w->ttl = expires - now + FLEET_REVOCATION_MARGIN;
        w->what = what;
        w->deadline_ms = deadline_ms;
        w->done = done;
        w->userdata = userdata;
        /* Until the call ends, the watch leaves this host's own record to
         * it (apply_revocation). */
        if (json_object_set_new(f->revoking, key, json_true()) < 0) {
                r = -ENOMEM;
                goto out;
        }
        r = push_write(f, w, ret_error);
        w = NULL;
        if (r < 0)
                json_object_del(f->revoking, key);
out:
        fleet_write_free(w);
        json_decref(payload);
        free(token);
        return r;
}

/* The writer thread's part of a revocation: the signed revocation put on
 * its lease, then the record itself deleted, even when the put failed: the
 * deletion removes access on every host that sees it and must not wait on
 * the record that only keeps it removed. w->result and w->existed are the
 * deletion's. */
static void write_revocation(fleet *f, fleet_write *w) {
        int64_t lease = 0, deleted = 0;
        int r;

        etcd_set_deadline(f->writer, w->deadline_ms);
        r = etcd_lease_grant(f->writer, w->ttl, &lease);
        if (r == 0) {
                r = etcd_put(f->writer, w->key, w->value, lease, NULL);
                if (r < 0 && r != -ETIMEDOUT)
                        (void) etcd_lease_revoke(f->writer, lease);
        }
        w->put_ok = r == 0;
        if (r < 0)
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", w->key, NULL },
                           "Failed to write the fleet revocation %s (%s); deleting %s all the same: a host that "
                           "never saw it would take the record back if it were written again",
                           w->key, etcd_last_error(f->writer), w->delete_key);
        r = etcd_delete(f->writer, w->delete_key, &deleted, NULL);
        if (r < 0)
                (void) write_error(f->writer, r, w->what, &w->error);
        w->existed = deleted > 0;
        etcd_set_deadline(f->writer, 0);
        w->result = r;
}

/* The writer thread's part of READ_RECORD: w->value, the value at w->key
 * (NULL when there is none). */
static void read_record(fleet *f, fleet_write *w) {
        etcd_kvs l = { 0 };
        int r;

        etcd_set_deadline(f->writer, w->deadline_ms);
        r = etcd_range_prefix(f->writer, w->key, 0, &l);
        etcd_set_deadline(f->writer, 0);
        if (r < 0) {
                (void) write_error(f->writer, r, w->what, &w->error);
                goto out;
        }
        for (size_t i = 0; i < l.n && !w->value; i++)
                if (strcmp(l.items[i].key, w->key) == 0 && l.items[i].value && !(w->value = strdup(l.items[i].value)))
                        r = -ENOMEM;
out:
        etcd_kvs_clear(&l);
        w->result = r;
}

/* Main thread: a revocation's call ends. The watch left this host's own
 * revocation and deletion to it (left_to_admin_call); if the call failed
 * after either reached etcd, it counts here now, as on every other host. */
static void revocation_written(enrichd *d, const fleet_write *w) {
        fleet *f = d->fleet;
        const char *rel = w->key + strlen(f->prefix) + strlen("revoked/");
        bool deletion_seen = json_is_false(json_object_get(f->revoking, w->key));

        json_object_del(f->revoking, w->key);
        if (w->result == 0 || (!w->put_ok && !deletion_seen))
                return;
        if (strncmp(rel, "grants/", 7) == 0)
                revoke_fleet_grant(d, w->key, rel + 7, "fleet", "an issuer revoked it");
        else
                revoke_fleet_token(d, w->key, rel + 7, "an issuer revoked it");
}

/* An admin's revocation whose record's expiry etcd is asked for. */
typedef struct revocation {
        const char *dir;
        char *id, *by;
        int64_t deadline_ms;
        fleet_write_done done;
        void *userdata;
} revocation;

static void revocation_free(revocation *v) {
        if (!v)
                return;
        free(v->id);
        free(v->by);
        free(v);
}

/* Main thread: the record as etcd has it (value; NULL: none). Signed by
 * an issuer, its expiry is the revocation's; otherwise there is nothing
 * to keep refusing (none, or not one any host would apply), and the key
 * is only deleted. */
static void revocation_read_done(enrichd *d, int r, const char *error, const char *value, void *userdata) {
        revocation *v = userdata;
        json_t *payload = NULL;
        const char *why = NULL;
        char *queue_error = NULL;
        int64_t expires = 0;

        if (r < 0) {
                v->done(d, r, error, false, v->userdata);
                goto out;
        }
        if (value && fleet_record_verify(d->fleet->issuers, value, &payload, NULL, &why) == 0 &&
            strcmp(json_string_value(json_object_get(payload, "id")) ?: "", v->id) == 0)
                expires = json_integer_value(json_object_get(payload, "expires"));
        else if (value)
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", v->id, NULL },
                           "The record of fleet %s %s in etcd is no issuer's (%s): deleting it without a revocation",
                           kind_of(v->dir), v->id, why ? why : "another id");
        r = queue_revocation(d, v->dir, v->id, v->by, expires, v->deadline_ms, v->done, v->userdata, &queue_error);
        if (r < 0)
                v->done(d, r, queue_error, false, v->userdata);
out:
        json_decref(payload);
        free(queue_error);
        revocation_free(v);
}

/* fleet_revoke_grant and fleet_revoke_token, for dir "grants/" or
 * "tokens/". */
static int revoke_record(enrichd *d, const char *dir, const char *id, const char *by, fleet_write_done done,
                         void *userdata, char **ret_error) {
        fleet *f = d->fleet;
        revocation *v = NULL;
        fleet_write *w = NULL;
        int64_t expires, deadline_ms = host_now_ms() + FLEET_WRITE_DEADLINE_MS;
        char key[512];
        int r;

        if (!f) {
                format_error(ret_error, "fleet mode is off on this host");
                return -ENOTCONN;
        }
        /* Only an issuer signs; elsewhere the deletion alone, which
         * removes access on every host all the same. */
        if (!jwks_find(f->issuers, signer_kid(d->signer))) {
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", id, NULL },
                           "This host's key is no fleet issuer: deleting fleet %s %s without a signed revocation",
                           kind_of(dir), id);
                return delete_record(d, dir, id, strcmp(dir, "grants/") == 0 ? "delete the grant" : "delete the token",
                                     done, userdata, ret_error);
        }
        expires = known_expiry(d, dir, id);
        if (expires > 0)
                return queue_revocation(d, dir, id, by, expires, deadline_ms, done, userdata, ret_error);
        /* Not known here (a grant for other hosts' labels): its record in
         * etcd says until when it would count. */
        snprintf(key, sizeof key, "%s%s%s", f->prefix, dir, id);
        v = calloc(1, sizeof *v);
        w = calloc(1, sizeof *w);
        if (!v || !w || !(v->id = strdup(id)) || !(v->by = strdup(by ? by : "admin")) || !(w->key = strdup(key))) {
                revocation_free(v);
                fleet_write_free(w);
                return -ENOMEM;
        }
        v->dir = dir;
        v->deadline_ms = deadline_ms;
        v->done = done;
        v->userdata = userdata;
        w->kind = READ_RECORD;
        w->what = "read the record";
        w->deadline_ms = deadline_ms;
        w->read_done = revocation_read_done;
        w->userdata = v;
        r = push_write(f, w, ret_error);
        if (r < 0)
                revocation_free(v);
        return r;
}

int fleet_revoke_grant(enrichd *d, const char *id, const char *by, fleet_write_done done, void *userdata,
                       char **ret_error) {
        return revoke_record(d, "grants/", id, by, done, userdata, ret_error);
}

int fleet_revoke_token(enrichd *d, const char *id, const char *by, fleet_write_done done, void *userdata,
                       char **ret_error) {
        return revoke_record(d, "tokens/", id, by, done, userdata, ret_error);
}

/* ---- what the fleet looks like from here --------------------------------- */

/* ---- doctor's checks ---------------------------------------------------- */

/* The writer thread's part of fleet_check: w->check, NULL when out of
 * memory. */
static void check_etcd(fleet *f, fleet_write *w) {
        json_t *o = NULL;
        int64_t skew = 0;
        int r, reach, auth, read;
        bool measured;
        char reach_error[512] = "", auth_error[512] = "", read_error[512] = "";

        /* Each bounded by FLEET_WRITE_TIMEOUT_MS, and all three by the
         * deadline, as the admin's writes. */
        etcd_set_deadline(f->direct, w->deadline_ms);
        reach = etcd_clock_skew(f->direct, &skew);
        measured = reach == 0 || reach == -EPERM || reach == -EACCES;
        if (reach < 0 && !measured)
                snprintf(reach_error, sizeof reach_error, "%s", etcd_last_error(f->direct));
        auth = etcd_check_credentials(f->direct);
        if (auth < 0 && auth != -ENOENT)
                snprintf(auth_error, sizeof auth_error, "%s", etcd_last_error(f->direct));
        read = auth < 0 && auth != -ENOENT ? auth : etcd_prefix_readable(f->direct, f->prefix);
        if (read < 0)
                snprintf(read_error, sizeof read_error, "%s",
                         read == auth ? "the credentials do not authenticate" : etcd_last_error(f->direct));
        o = json_pack("{s:b, s:s, s:b, s:s, s:b}", "enabled", true, "endpoint", etcd_endpoint(f->direct), "reachable",
                      measured || reach == -EBADMSG, "credentials",
                      auth == -ENOENT  ? "none"
                      : auth == 0      ? "ok"
                      : auth == -EPERM ? "refused"
                                       : "unchecked",
                      "prefixReadable", read == 0);
        r = o ? 0 : -ENOMEM;
        if (o && measured)
                r = json_object_set_new(o, "skewMs", json_integer(skew));
        if (r == 0 && reach_error[0])
                r = json_object_set_new(o, "reachError", json_string(reach_error));
        if (r == 0 && auth_error[0])
                r = json_object_set_new(o, "credentialsError", json_string(auth_error));
        if (r == 0 && read_error[0])
                r = json_object_set_new(o, "prefixError", json_string(read_error));
        etcd_set_deadline(f->direct, 0);
        if (r < 0) {
                json_decref(o);
                o = NULL;
        }
        w->check = o;
        w->result = o ? 0 : -ENOMEM;
}

int fleet_check(enrichd *d, fleet_check_done done, void *userdata, char **ret_error) {
        fleet *f = d->fleet;
        fleet_write *w;

        if (!f) {
                format_error(ret_error, "fleet mode is off on this host");
                return -ENOTCONN;
        }
        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        *w = (fleet_write) { .kind = READ_CHECK,
                             .what = "check",
                             .deadline_ms = host_now_ms() + FLEET_WRITE_DEADLINE_MS,
                             .check_done = done,
                             .userdata = userdata };
        return push_write(f, w, ret_error);
}

/* ---- audit anchoring ---------------------------------------------------- */

void fleet_publish_checkpoint(enrichd *d, const audit_anchor *c, bool by_admin) {
        fleet *f = d->fleet;
        json_t *o;
        char *text;

        if (!f)
                return;
        if (f->anchor_broken && !by_admin) {
                log_struct(LOG_WARNING, LOG_MSGID_FLEET_ANCHOR, NULL,
                           "Not publishing the audit checkpoint at row %lld: the trail lost the one published before "
                           "(enrichctl audit verify --fleet)",
                           (long long) c->row_id);
                return;
        }
        f->anchor_broken = false;
        o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "hostId", f->host_id, "row", (json_int_t) c->row_id, "head",
                      c->head, "time", (json_int_t) c->time, "kid", c->kid, "signature", c->signature);
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!text) {
                log_error("Failed to publish the audit checkpoint at row %lld: out of memory", (long long) c->row_id);
                return;
        }
        pthread_mutex_lock(&f->lock);
        free(f->checkpoint);
        f->checkpoint = text;
        f->checkpoint_new = true;
        pthread_cond_broadcast(&f->wake);
        pthread_mutex_unlock(&f->lock);
}

/* The writer thread's part of fleet_read_checkpoint: w->anchor, or
 * w->result and w->error. */
static void read_checkpoint(fleet *f, fleet_write *w) {
        etcd_kvs l = { 0 };
        json_t *o = NULL;
        int r;

        etcd_set_deadline(f->direct, w->deadline_ms);
        r = etcd_range_prefix(f->direct, w->key, 0, &l);
        etcd_set_deadline(f->direct, 0);
        if (r < 0) {
                r = write_error(f->direct, r, "read the published checkpoint", &w->error);
                goto out;
        }
        r = -ENOENT;
        for (size_t i = 0; i < l.n && !o; i++)
                if (strcmp(l.items[i].key, w->key) == 0)
                        o = json_loads(l.items[i].value, 0, NULL);
        if (!o) {
                format_error(&w->error, "%s holds no checkpoint of this host", w->key);
                goto out;
        }
        r = parse_checkpoint(o, &w->anchor);
        if (r < 0)
                format_error(&w->error, "%s is no checkpoint record", w->key);
out:
        json_decref(o);
        etcd_kvs_clear(&l);
        w->result = r;
}

int fleet_read_checkpoint(enrichd *d, const char *host_id, fleet_checkpoint_done done, void *userdata,
                          char **ret_error) {
        fleet *f = d->fleet;
        fleet_write *w = NULL;
        char key[512];

        if (!f) {
                format_error(ret_error, "fleet mode is off on this host");
                return -ENOTCONN;
        }
        if (strcmp(host_id, f->host_id) != 0) {
                format_error(ret_error, "this host is %s: run audit verify --fleet %s on %s itself, where its trail is",
                             f->host_id, host_id, host_id);
                return -EXDEV;
        }
        snprintf(key, sizeof key, "%scheckpoints/%s", f->prefix, host_id);
        w = calloc(1, sizeof *w);
        if (!w || !(w->key = strdup(key))) {
                free(w);
                return -ENOMEM;
        }
        *w = (fleet_write) { .kind = READ_CHECKPOINT,
                             .key = w->key,
                             .what = "read the published checkpoint",
                             .deadline_ms = host_now_ms() + FLEET_WRITE_DEADLINE_MS,
                             .checkpoint_done = done,
                             .userdata = userdata };
        return push_write(f, w, ret_error);
}

int fleet_status(enrichd *d, json_t **ret) {
        fleet *f = d->fleet;
        char **held = NULL;
        json_t *o;
        int r;

        if (!f) {
                *ret = json_pack("{s:b}", "enabled", false);
                return *ret ? 0 : -ENOMEM;
        }
        r = fleet_store_active_grants(d->db, clock_now(), &held);
        if (r < 0)
                return r;
        o = json_pack("{s:b, s:s, s:s, s:o, s:o, s:b, s:I, s:I, s:I, s:I, s:b, s:i, s:I, s:i, s:b}", "enabled", true,
                      "hostId", f->host_id, "prefix", f->prefix, "endpoints", strv_to_json(d->config->fleet->endpoints),
                      "labels", strv_to_json(f->labels), "connected", f->connected, "revision",
                      (json_int_t) f->revision, "storeRevision", (json_int_t) f->store_revision, "lag",
                      (json_int_t) f->lag, "lastContact", (json_int_t) f->last_contact, "suspended", f->suspended,
                      "offlineMax", (int) f->offline_max, "fleetGrants", (json_int_t) strv_length(held), "hosts",
                      (int) json_object_size(f->hosts), "issuer", jwks_find(f->issuers, signer_kid(d->signer)) != NULL);
        strv_free(held);
        if (!o)
                return -ENOMEM;
        if (d->config->fleet->credentials &&
            (json_object_set_new(o, "credentials", json_string(d->config->fleet->credentials)) < 0 ||
             json_object_set_new(o, "credentialsSource",
                                 json_string(d->config->fleet->credentials_systemd ? "systemd" : "config")) < 0)) {
                json_decref(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

/* A bounded max-heap of host ids (by strcmp): the max smallest offered. */
typedef struct id_heap {
        const char **ids;
        size_t n, max;
} id_heap;

static int compare_ids(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void id_heap_sift_down(id_heap *h, size_t i) {
        for (;;) {
                size_t largest = i, l = 2 * i + 1, r = l + 1;
                const char *t;

                if (l < h->n && strcmp(h->ids[l], h->ids[largest]) > 0)
                        largest = l;
                if (r < h->n && strcmp(h->ids[r], h->ids[largest]) > 0)
                        largest = r;
                if (largest == i)
                        return;
                t = h->ids[i];
                h->ids[i] = h->ids[largest];
                h->ids[largest] = t;
                i = largest;
        }
}

static void id_heap_offer(id_heap *h, const char *id) {
        size_t i;

        if (h->n < h->max) {
                /* sift up */
                for (i = h->n++; i > 0 && strcmp(h->ids[(i - 1) / 2], id) < 0; i = (i - 1) / 2)
                        h->ids[i] = h->ids[(i - 1) / 2];
                h->ids[i] = id;
        } else if (strcmp(id, h->ids[0]) < 0) {
                h->ids[0] = id;
                id_heap_sift_down(h, 0);
        }
}

int fleet_hosts_walk(enrichd *d, const char *after, unsigned max, fleet_host_fn each, void *userdata) {
        fleet *f = d->fleet;
        id_heap h = { .max = max };
        const char *id;
        json_t *record;
        int r = 0;

        if (!f || max == 0)
                return 0;
        h.ids = calloc(max, sizeof *h.ids);
        if (!h.ids)
                return -ENOMEM;
        /* One pass, one comparison per host past the cursor that is not
         * among the max smallest (most of them once the heap holds its
         * max), then a sort of max ids: a page costs the same wherever it
         * starts, and never a sort of every host. */
        json_object_foreach(f->hosts, id, record) {
                if (!after || strcmp(id, after) > 0)
                        id_heap_offer(&h, id);
        }
        qsort(h.ids, h.n, sizeof *h.ids, compare_ids);
        for (size_t i = 0; i < h.n && r == 0; i++)
                r = each(h.ids[i], json_object_get(f->hosts, h.ids[i]), userdata);
        free(h.ids);
        return r;
}

/* ---- enrolments: which presence keys the fleet JWKS takes -------------
 *
 * A presence record is plain JSON that any etcd writer can put, so its
 * keys count only when an issuer vouched for them: a key of host H
 * stands when enrolments/H (signed by an issuer, naming H) lists it with
 * the same x, or when an endorsement in H's presence record, signed by a
 * key of that enrolment and naming H, vouches for it (one link: a key
 * that stands by endorsement vouches for nothing). An issuer renews the
 * enrolment of a host whose key stands by endorsement only, so the next
 * rotation again needs one link. */

/* Endorsements verified per presence record at most (a host publishes
 * one per key it rotated to while still in its JWKS). */
#define FLEET_MAX_ENDORSEMENTS 16
/* An issuer renews one host's enrolment at most this often ... */
#define FLEET_RENEW_SECONDS 10
/* ... and queues at most this many renewals per tick. */
#define FLEET_RENEW_BATCH 8

static bool is_issuer(enrichd *d) {
        return jwks_find(d->fleet->issuers, signer_kid(d->signer)) != NULL;
}

/* keys.c wrote the JWKS published (main thread): the presence record
 * gets it, with the endorsement recorded for each of its keys, at the
 * next heartbeat, which is woken for it. */
static void keys_published(enrichd *d, json_t *published) {
        fleet *f = d->fleet;
        json_t *endorsements = json_array(), *k, *material = NULL;
        char *text = NULL;
        size_t i;

        if (!f || !endorsements)
                goto out;
        json_array_foreach(json_object_get(published, "keys"), i, k) {
                char *endorsement = NULL;
                const char *kid = json_string_value(json_object_get(k, "kid"));
                if (kid && signing_keys_endorsement(d->db, kid, &endorsement) == 0)
                        json_array_append_new(endorsements, json_string(endorsement));
                free(endorsement);
        }
        material = json_pack("{s:O, s:O}", "jwks", published, "endorsements", endorsements);
        text = material ? json_dumps(material, JSON_COMPACT) : NULL;
        if (!text) {
                log_error("Failed to hand this host's keys to its presence record: out of memory");
                goto out;
        }
        pthread_mutex_lock(&f->lock);
        free(f->presence_keys);
        f->presence_keys = text;
        text = NULL;
        f->presence_new = true;
        pthread_cond_broadcast(&f->wake);
        pthread_mutex_unlock(&f->lock);
out:
        free(text);
        json_decref(material);
        json_decref(endorsements);
}

/* How host id's presence key (kid, x) is vouched for: "enrolment",
 * "endorsement", or NULL with *ret_why (static) saying why it is not. */
static const char *key_standing(fleet *f, const char *id, const char *kid, const char *x, const char **ret_why) {
        json_t *enrolment = json_object_get(f->enrolments, id);
        const char *enrolled = json_string_value(json_object_get(json_object_get(enrolment, "keys"), kid));
        json_t *endorsed = json_object_get(json_object_get(f->endorsed, id), kid);

        if (enrolled && strcmp(enrolled, x) == 0)
                return "enrolment";
        if (endorsed && streq_ptr(json_string_value(json_object_get(endorsed, "x")), x))
                return "endorsement";
        *ret_why = !enrolment ? "the host has no valid enrolment"
                   : enrolled ? "its x differs from the enrolled key's"
                              : "neither in the host's enrolment nor endorsed by an enrolled key";
        return NULL;
}

/* Host id's presence record changed, or its enrolment: which of its keys
 * an endorsement vouches for (f->endorsed), and whether this issuer is
 * to renew its enrolment (f->renewals). Only endorsements signed by an
 * enrolled key are verified, FLEET_MAX_ENDORSEMENTS per record at most:
 * a record any etcd writer can put costs that many signature checks at
 * most, and none for a host without an enrolment. */
static void host_trust(enrichd *d, const char *id) {
        fleet *f = d->fleet;
        json_t *record = json_object_get(f->hosts, id), *enrolment = json_object_get(f->enrolments, id);
        json_t *endorsements = json_object_get(record, "endorsements"), *keys, *k, *e, *doc = NULL, *present = NULL,
               *endorsed = NULL;
        const char *kid;
        jwks *enrolled = NULL;
        bool renew = false;
        char key[512];
        size_t i;

        json_object_del(f->endorsed, id);
        if (!record || !enrolment)
                goto out;
        snprintf(key, sizeof key, "%shosts/%s", f->prefix, id);
        keys = json_object_get(json_object_get(record, "jwks"), "keys");
        if (json_array_size(endorsements) > 0) {
                json_t *list = json_array(), *x;
                json_object_foreach(json_object_get(enrolment, "keys"), kid, x) {
                        json_array_append_new(list, json_pack("{s:s, s:s, s:O, s:s}", "kty", "OKP", "crv", "Ed25519",
                                                              "x", x, "kid", kid));
                }
                doc = json_pack("{s:o}", "keys", list);
                present = json_object();
                endorsed = json_object();
                if (!doc || !present || !endorsed || jwks_parse(doc, &enrolled) < 0)
                        goto out;
                json_array_foreach(keys, i, k) {
                        const char *pkid = json_string_value(json_object_get(k, "kid"));
                        if (pkid && json_is_string(json_object_get(k, "x")))
                                json_object_set(present, pkid, json_object_get(k, "x"));
                }
                json_array_foreach(endorsements, i, e) {
                        json_t *payload = NULL;
                        char *by = NULL;
                        const char *why = "not a string";
                        int r;

                        if (i == FLEET_MAX_ENDORSEMENTS)
                                break;
                        r = json_is_string(e)
                                    ? fleet_endorsement_verify(enrolled, json_string_value(e), id,
                                                               json_integer_value(json_object_get(enrolment, "since")),
                                                               &payload, &by, &why)
                                    : -EINVAL;
                        /* Not signed by an enrolled key, or superseded by
                         * the enrolment (renewed since): vouches for
                         * nothing, and is no one's mistake. */
                        if (r == -ENOKEY || r == -ESTALE)
                                continue;
                        if (r < 0) {
                                log_rejected(key, why);
                                continue;
                        }
                        kid = json_string_value(json_object_get(payload, "kid"));
                        if (streq_ptr(json_string_value(json_object_get(present, kid)),
                                      json_string_value(json_object_get(payload, "x"))))
                                json_object_set_new(endorsed, kid,
                                                    json_pack("{s:O, s:s}", "x", json_object_get(payload, "x"), "by",
                                                              by));
                        json_decref(payload);
                        free(by);
                }
                if (json_object_size(endorsed) > 0)
                        json_object_set(f->endorsed, id, endorsed);
        }
        if (is_issuer(d))
                json_array_foreach(keys, i, k) {
                        const char *why, *x = json_string_value(json_object_get(k, "x"));
                        kid = json_string_value(json_object_get(k, "kid"));
                        if (kid && x && streq_ptr(key_standing(f, id, kid, x, &why), "endorsement"))
                                renew = true;
                }
out:
        if (!renew)
                json_object_del(f->renewals, id);
        else if (!json_object_get(f->renewals, id))
                json_object_set_new(f->renewals, id, json_integer(0));
        jwks_free(enrolled);
        json_decref(doc);
        json_decref(present);
        json_decref(endorsed);
}

/* enrolments/<id> put or deleted: what holds now replaces what held. */
static void apply_enrolment(enrichd *d, const etcd_kv *kv, const char *id) {
        fleet *f = d->fleet;
        json_t *payload = NULL, *keys = NULL;
        const char *why = NULL;
        int64_t at = 0, since = 0, newest_at = 0, newest_since = 0;
        json_t *newest;
        char older[320];
        int r;

        json_object_del(f->enrolments, id);
        if (kv->deleted) {
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                           "Fleet enrolment %s deleted: host %s's keys leave the fleet JWKS", kv->key, id);
                goto out;
        }
        if (!fleet_name_valid(id) || !kv->value || strlen(kv->value) > FLEET_MAX_HOST_RECORD) {
                log_rejected(kv->key, "not under a host id, or larger than 64 KiB");
                goto out;
        }
        r = fleet_record_verify(f->issuers, kv->value, &payload, NULL, &why);
        if (r == 0)
                r = fleet_record_enrolment(payload, id, &keys, &at, &since, &why);
        if (r < 0) {
                log_rejected(kv->key, why);
                goto out;
        }
        /* Every enrolment an issuer signed stays valid in etcd's history:
         * one older than the newest seen here is a replay (rolling back a
         * re-enrolment that dropped a leaked key), and one whose
         * endorsedSince is older than the newest's is a renewal made from
         * an enrolment superseded since (an admin's re-enrolment raced by
         * an issuer's renewal): both refused as invalid. */
        newest = json_object_get(f->enrolled_at, id);
        if (newest) {
                newest_at = json_integer_value(json_object_get(newest, "at"));
                newest_since = json_integer_value(json_object_get(newest, "since"));
        } else if (fleet_store_enrolled(d->db, id, &newest_at, &newest_since) < 0) {
                log_error("Failed to read when host %s's newest fleet enrolment was signed: %s; not applied", id,
                          db_last_error(d->db));
                goto out;
        }
        if (at < newest_at || since < newest_since) {
                snprintf(older, sizeof older,
                         "it is older than the enrolment of %s seen here (at %lld, endorsedSince %lld; this one "
                         "%lld, %lld): put back, or renewed from a superseded one",
                         id, (long long) newest_at, (long long) newest_since, (long long) at, (long long) since);
                log_rejected(kv->key, older);
                goto out;
        }
        if ((at > newest_at || since > newest_since) && fleet_store_set_enrolled(d->db, id, at, since) < 0) {
                log_error("Failed to record when host %s's fleet enrolment was signed: %s; not applied", id,
                          db_last_error(d->db));
                goto out;
        }
        if (newest || json_object_size(f->enrolled_at) < FLEET_MAX_HOSTS)
                (void) json_object_set_new(f->enrolled_at, id,
                                           json_pack("{s:I, s:I}", "at", (json_int_t) at, "since", (json_int_t) since));
        if (json_object_size(f->enrolments) >= FLEET_MAX_HOSTS) {
                log_rejected(kv->key, "more enrolments than fleet hosts are held");
                goto out;
        }
        json_object_set_new(f->enrolments, id,
                            json_pack("{s:O, s:I, s:I, s:I}", "keys", keys, "at", (json_int_t) at, "since",
                                      (json_int_t) since, "rev", (json_int_t) kv->mod_revision));
        log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_KEY", kv->key, NULL },
                   "Fleet host %s enrolled with %zu key(s)", id, json_object_size(keys));
out:
        host_trust(d, id);
        json_decref(payload);
        json_decref(keys);
}

/* The "at" of an enrolment of host id signed here now: later than the
 * newest seen, even when this issuer's clock is a little behind the one
 * that signed that, or within the same second (every host would refuse an
 * older one, and take the one it replaces back in its place). */
static int64_t enrolment_at(fleet *f, const char *id) {
        int64_t now = clock_now(),
                newest = json_integer_value(json_object_get(json_object_get(f->enrolled_at, id), "at"));

        return newest >= now ? newest + 1 : now;
}

/* The payload of host id's enrolment by an issuer's renewal: the keys of
 * its presence record that stand now, and the time from which
 * endorsements count carried over from the enrolment in force (only an
 * admin's enrolment moves it: a renewal supersedes no endorsement). NULL
 * when out of memory. */
static json_t *renewal_payload(enrichd *d, const char *id) {
        fleet *f = d->fleet;
        json_t *keys = json_array(), *k, *enrolment = json_object_get(f->enrolments, id);
        size_t i;

        if (!keys)
                return NULL;
        json_array_foreach(json_object_get(json_object_get(json_object_get(f->hosts, id), "jwks"), "keys"), i, k) {
                const char *why, *kid = json_string_value(json_object_get(k, "kid")),
                                 *x = json_string_value(json_object_get(k, "x"));
                if (!kid || !x || !key_standing(f, id, kid, x, &why) || json_array_size(keys) >= JWKS_MAX_KEYS)
                        continue;
                json_array_append_new(keys, json_pack("{s:s, s:s}", "kid", kid, "x", x));
        }
        return json_pack("{s:s, s:o, s:I, s:I, s:s, s:s}", "hostId", id, "keys", keys, "at",
                         (json_int_t) enrolment_at(f, id), "endorsedSince",
                         json_integer_value(json_object_get(enrolment, "since")), "by", "renewal", "issuer",
                         f->host_id);
}

int fleet_enrol(enrichd *d, const char *host_id, const char *const *thumbprints, const char *by, fleet_write_done done,
                void *userdata, char **ret_error) {
        fleet *f = d->fleet;
        json_t *record, *present = NULL, *keys = NULL, *payload = NULL, *k;
        char *computed = NULL, key[512];
        int64_t now, since;
        size_t i;
        int r;

        r = require_issuer(d, ret_error);
        if (r < 0)
                return r;
        /* read first: never later than now; never earlier than the
         * newest enrolment's (which every host would refuse it for) */
        since = clock_now();
        if (since < json_integer_value(json_object_get(json_object_get(f->enrolled_at, host_id), "since")))
                since = json_integer_value(json_object_get(json_object_get(f->enrolled_at, host_id), "since"));
        now = enrolment_at(f, host_id);
        record = json_object_get(f->hosts, host_id);
        if (!record) {
                format_error(ret_error,
                             "host %s has no presence record in etcd (hosts/%s): start its enrichd in fleet mode "
                             "first (enrichctl fleet hosts lists the live hosts)",
                             host_id, host_id);
                return -ENOENT;
        }
        present = json_object();
        keys = json_array();
        if (!present || !keys) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(json_object_get(json_object_get(record, "jwks"), "keys"), i, k) {
                const char *kid = json_string_value(json_object_get(k, "kid"));
                if (kid && json_is_string(json_object_get(k, "x")))
                        json_object_set(present, kid, json_object_get(k, "x"));
        }
        /* Only the keys the admin names, each checked against the
         * thumbprint read on the host: nothing else the record lists is
         * carried over, so that enrolling anew after a compromised
         * rotation drops whatever the leaked key vouched for. */
        for (i = 0; thumbprints[i]; i++) {
                const char *x = json_string_value(json_object_get(present, thumbprints[i]));

                if (!x) {
                        format_error(ret_error,
                                     "host %s's presence record has no key %s: check the thumbprint on the host "
                                     "itself (enrichctl keys, KID column); nothing was enrolled",
                                     host_id, thumbprints[i]);
                        r = -ENXIO;
                        goto out;
                }
                if (jwk_thumbprint_x(x, &computed) < 0 || strcmp(computed, thumbprints[i]) != 0) {
                        format_error(ret_error,
                                     "the key host %s's presence record lists as %s does not have that RFC 7638 "
                                     "thumbprint (its x hashes to %s): the record in etcd is not the host's own; "
                                     "nothing was enrolled",
                                     host_id, thumbprints[i], computed ? computed : "nothing valid");
                        r = -EKEYREJECTED;
                        goto out;
                }
                free(computed);
                computed = NULL;
                if (json_array_append_new(keys, json_pack("{s:s, s:s}", "kid", thumbprints[i], "x", x)) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (json_array_size(keys) == 0 || json_array_size(keys) > JWKS_MAX_KEYS) {
                format_error(ret_error, "an enrolment names 1 to %d keys", JWKS_MAX_KEYS);
                r = -EINVAL;
                goto out;
        }
        /* An admin's enrolment supersedes every endorsement made before it
         * (now: its at may be later, see enrolment_at, and an endorsement
         * made on the host after this must count). */
        payload = json_pack("{s:s, s:O, s:I, s:I, s:s, s:s}", "hostId", host_id, "keys", keys, "at", (json_int_t) now,
                            "endorsedSince", (json_int_t) since, "by", by, "issuer", f->host_id);
        if (!payload) {
                r = -ENOMEM;
                goto out;
        }
        snprintf(key, sizeof key, "%senrolments/%s", f->prefix, host_id);
        r = put_signed(d, key, payload, 0, "write the enrolment", done, userdata, ret_error);
out:
        free(computed);
        json_decref(present);
        json_decref(keys);
        json_decref(payload);
        return r;
}

static void renew_done(enrichd *d, int r, const char *error, bool existed, void *userdata) {
        char *id = userdata;

        /* An admin's enrolment (or another issuer's renewal) came between:
         * written over, it would have been lost, since every host refuses
         * a renewal carrying the older endorsedSince. A new one is made
         * from it FLEET_RENEW_SECONDS after this one if its keys still
         * need it, not sooner: any etcd writer can touch the key, and
         * would otherwise have this issuer sign and write at every tick
         * (and until the watch brought the newer one, each made from the
         * same stale one, bound to be dropped again). */
        if (r == -ECANCELED)
                log_struct(LOG_INFO, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", id, NULL },
                           "Not renewing the fleet enrolment of host %s: it %s in etcd since the renewal was made; "
                           "%s",
                           id, existed ? "changed" : "was deleted",
                           existed ? "the newer one stands" : "it stays deleted");
        else if (r < 0)
                log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", id, NULL },
                           "Failed to renew the fleet enrolment of host %s (retrying in %d s): %s", id,
                           FLEET_RENEW_SECONDS, error ? error : strerror(-r));
        else
                log_struct(LOG_NOTICE, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", id, NULL },
                           "Renewed the fleet enrolment of host %s to the keys it stands with now", id);
        free(id);
}

/* From the tick, on an issuer: the hosts whose keys stand by an
 * endorsement only get an enrolment listing them, signed and written by
 * the writer thread (never the main one), FLEET_RENEW_SECONDS apart per
 * host at least, FLEET_RENEW_BATCH per tick at most. */
static void renew_enrolments(enrichd *d) {
        fleet *f = d->fleet;
        const char *id;
        json_t *last;
        int64_t now = clock_now();
        unsigned queued = 0;
        char key[512];

        if (json_object_size(f->renewals) == 0 || !is_issuer(d))
                return;
        json_object_foreach(f->renewals, id, last) {
                fleet_write *w;
                char *error = NULL, *copy;

                if (queued == FLEET_RENEW_BATCH)
                        break;
                if (json_integer_value(last) > 0 && now - json_integer_value(last) < FLEET_RENEW_SECONDS)
                        continue;
                json_integer_set(last, now);
                queued++;
                snprintf(key, sizeof key, "%senrolments/%s", f->prefix, id);
                w = calloc(1, sizeof *w);
                copy = strdup(id);
                if (!w || !copy || !(w->key = strdup(key)) || signer_dup(d->signer, &w->signer) < 0 ||
                    !(w->payload = renewal_payload(d, id)) ||
                    json_array_size(json_object_get(w->payload, "keys")) == 0) {
                        fleet_write_free(w);
                        free(copy);
                        log_error("Failed to renew the fleet enrolment of host %s: no key to list, or out of memory",
                                  id);
                        continue;
                }
                w->kind = WRITE_SIGNED;
                w->conditional = true;
                w->if_mod_revision = json_integer_value(json_object_get(json_object_get(f->enrolments, id), "rev"));
                w->what = "renew the enrolment";
                w->deadline_ms = host_now_ms() + FLEET_WRITE_DEADLINE_MS;
                w->done = renew_done;
                w->userdata = copy;
                if (push_write(f, w, &error) < 0) {
                        free(copy);
                        log_struct(LOG_WARNING, LOG_MSGID_FLEET, (const char *[]) { "ENRICH_FLEET_HOST", id, NULL },
                                   "Not renewing the fleet enrolment of host %s now: %s", id, error);
                }
                free(error);
        }
}

/* Whether s is base64url text of 1 to max characters (a kid or x the
 * fleet JWKS may hold: RFC 7638 thumbprints and Ed25519 x are 43). */
static bool jwk_text_ok(const char *s, size_t max) {
        size_t n = strlen(s);

        return n > 0 && n <= max && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int fleet_host_jwks(enrichd *d, const char *id, json_t *record, json_t **ret_keys, json_t **ret_left_out) {
        json_t *keys = json_array(), *seen = json_object(), *left_out = json_array(), *k;
        size_t i;
        int r = -ENOMEM;

        if (!keys || !seen || !left_out || !d->fleet)
                goto out;
        /* Only Ed25519 public keys, each once: looked up by kid, not
         * compared with every key before it (anyone may ask, and the
         * records are whatever etcd holds); and only those an issuer
         * vouched for (key_standing), the others left out. */
        json_array_foreach(json_object_get(json_object_get(record, "jwks"), "keys"), i, k) {
                const char *kid = json_string_value(json_object_get(k, "kid"));
                const char *x = json_string_value(json_object_get(k, "x"));
                const char *why = NULL;
                if (!kid || json_object_get(k, "d") || !x ||
                    strcmp(json_string_value(json_object_get(k, "crv")) ?: "", "Ed25519") != 0 ||
                    json_object_get(seen, kid))
                        continue;
                /* A key past these bounds is no key enrichd publishes;
                 * they keep a host's keys well inside one page. */
                if (!jwk_text_ok(kid, FLEET_MAX_KID) || !jwk_text_ok(x, FLEET_MAX_X))
                        why = "its kid or x is no base64url text of a key's length";
                else
                        (void) key_standing(d->fleet, id, kid, x, &why);
                if (why) {
                        /* The kid is whatever etcd holds: named only when
                         * it is short plain text (enrichctl prints it on
                         * the admin's terminal). */
                        if (json_array_append_new(left_out,
                                                  json_pack("{s:s, s:s, s:s}", "hostId", id, "kid",
                                                            strlen(kid) <= FLEET_MAX_KID && !text_has_controls(kid)
                                                                    ? kid
                                                                    : "(not shown: too long, or control characters)",
                                                            "why", why)) < 0)
                                goto out;
                        continue;
                }
                if (json_object_set(seen, kid, json_true()) < 0 ||
                    json_array_append_new(keys,
                                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519",
                                                    "x", x, "kid", kid, "alg", "EdDSA", "use", "sig")) < 0)
                        goto out;
        }
        *ret_keys = keys;
        *ret_left_out = left_out;
        keys = left_out = NULL;
        r = 0;
out:
        json_decref(keys);
        json_decref(seen);
        json_decref(left_out);
        return r;
}
