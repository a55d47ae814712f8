/* live.c: live sessions and the refresh scheduler. Sessions are kept in a
 * flat array of pointers: every tick walks it once to find due refreshes
 * (a comparison per session, microseconds for the maximum of 65536), while
 * the costly liveness checks (/proc reads, about 12 us each) go round robin
 * under a budget, on a thread of their own (the prober): the tick hands it
 * the next sessions' pids and, at the next tick, ends those it found gone.
 * Removal swaps the last entry in, so loops that end sessions do not
 * advance past a removed index. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"
#include "clock.h"
#include "issue.h"
#include "keyring.h"
#include "identities.h"
#include "live.h"
#include "log.h"
#include "sessions.h"
#include "tokens.h"
#include "util.h"

#define MAX_AMR 16
/* After a failed routine refresh (database busy, ...), wait this long. */
#define RETRY_SECONDS 5

/* One liveness check handed to the prober: the session (by sid: it may be
 * gone by the time the answer is read), its pid, and what /proc said
 * (live_pid_start). */
typedef struct probe {
        char *sid;
        pid_t pid;
        int64_t start;
} probe;

typedef enum probe_state {
        PROBES_NONE,
        PROBES_RUNNING,         /* the prober reads /proc */
        PROBES_DONE,            /* its answers wait for the tick */
} probe_state;

typedef struct live_session {
        char *sid, *user, *service, *tty, *rhost, *ruser;
        char **amr;
        uid_t uid;
        pid_t pid;
        int64_t pid_start;      /* -1: unknown, adopted at the next check */
        int64_t asid;           /* -1: unset */
        key_serial_t key;       /* 0: not attached yet */
        int64_t issued, expires; /* of the current token (wall clock) */
        /* When to refresh, when to give up waiting for AttachKey, and when
         * to retry a failed refresh: monotonic ms (clock.h), so that a
         * wall-clock step neither stalls refreshes nor rushes them. */
        int64_t refresh_at_ms, attach_deadline_ms, retry_at_ms;
        bool dirty;             /* re-evaluate as soon as it has a key */
        bool ends_early;        /* expires is the end of a grant or token
                                 * (issue_ends_early): refresh just before it */
} live_session;

/* Slots of the sid index: a power of two, at least twice LIVE_MAX_SESSIONS,
 * so probes stay short even when the set is full. */
#define INDEX_SLOTS (2 * (size_t) LIVE_MAX_SESSIONS)

struct live {
        live_session **items;
        size_t n;
        /* items by sid: slot -> index in items + 1 (0: free), open
         * addressing with linear probing. EndSession, AttachKey and a
         * revocation find their session without a scan of every one. */
        uint32_t *index;
        size_t cursor;          /* next liveness check */
        int64_t wall_offset_ms; /* wall minus monotonic at the last tick */
        /* Sessions added since the last group commit (db.h), by sid: a
         * lost batch takes their rows, so they are forgotten too. */
        char **unsaved;
        size_t n_unsaved, unsaved_allocated;
        /* The prober. state is under lock; probes belong to the prober
         * while RUNNING, to the tick otherwise. */
        pthread_t prober;
        bool prober_running, prober_stopping;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        probe_state state;
        probe probes[LIVE_LIVENESS_BUDGET];
        size_t n_probes;
};

/* FNV-1a over sid. */
static size_t sid_hash(const char *sid) {
        uint64_t h = 14695981039346656037ULL;

        for (const unsigned char *p = (const unsigned char *) sid; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return (size_t) (h ^ (h >> 32));
}

/* Records that items[i] holds sid (not in the index yet). */
static void index_put(live *l, const char *sid, size_t i) {
        size_t slot = sid_hash(sid) & (INDEX_SLOTS - 1);

        while (l->index[slot] != 0)
                slot = (slot + 1) & (INDEX_SLOTS - 1);
        l->index[slot] = (uint32_t) i + 1;
}

/* The outcome of one re-evaluation. */
enum { KEPT, REMOVED };

static void session_free(live_session *s) {
        if (!s)
                return;
        free(s->sid);
        free(s->user);
        free(s->service);
        free(s->tty);
        free(s->rhost);
        free(s->ruser);
        strv_free(s->amr);
        free(s);
}

static void *prober_loop(void *userdata) {
        live *l = userdata;

        pthread_mutex_lock(&l->lock);
        for (;;) {
                size_t n;

                while (!l->prober_stopping && l->state != PROBES_RUNNING)
                        pthread_cond_wait(&l->wake, &l->lock);
                if (l->prober_stopping)
                        break;
                n = l->n_probes;
                pthread_mutex_unlock(&l->lock);
                for (size_t i = 0; i < n; i++)
                        l->probes[i].start = live_pid_start(l->probes[i].pid);
                pthread_mutex_lock(&l->lock);
                l->state = PROBES_DONE;
        }
        pthread_mutex_unlock(&l->lock);
        return NULL;
}

/* Without the prober (it could not start) the tick reads /proc itself. */
static void prober_start(live *l) {
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->wake, NULL);
        l->prober_running = background_thread_start(&l->prober, prober_loop, l) == 0;
        if (!l->prober_running) {
                pthread_cond_destroy(&l->wake);
                pthread_mutex_destroy(&l->lock);
        }
}

static void prober_stop(live *l) {
        if (!l->prober_running)
                return;
        pthread_mutex_lock(&l->lock);
        l->prober_stopping = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->prober, NULL);
        pthread_cond_destroy(&l->wake);
        pthread_mutex_destroy(&l->lock);
        l->prober_running = false;
}

int live_new(live **ret) {
        live *l = calloc(1, sizeof *l);

        if (!l)
                return -ENOMEM;
        l->items = calloc(LIVE_MAX_SESSIONS, sizeof(live_session *));
        l->index = calloc(INDEX_SLOTS, sizeof(uint32_t));
        if (!l->items || !l->index) {
                free(l->items);
                free(l->index);
                free(l);
                return -ENOMEM;
        }
        l->wall_offset_ms = clock_wall_ms() - clock_monotonic_ms();
        prober_start(l);
        *ret = l;
        return 0;
}

void live_free(live *l) {
        if (!l)
                return;
        prober_stop(l);
        for (size_t i = 0; i < l->n_probes; i++)
                free(l->probes[i].sid);
        for (size_t i = 0; i < l->n; i++)
                session_free(l->items[i]);
        for (size_t i = 0; i < l->n_unsaved; i++)
                free(l->unsaved[i]);
        free(l->unsaved);
        free(l->items);
        free(l->index);
        free(l);
}

size_t live_count(const live *l) {
        return l ? l->n : 0;
}

/* live_pid_reads(): /proc reads made by each thread. */
static __thread uint64_t pid_reads;

uint64_t live_pid_reads(void) {
        return pid_reads;
}

int64_t live_pid_start(pid_t pid) {
        char path[32], buf[1024], *p, *end;
        int64_t start;
        ssize_t n;
        int fd;

        if (pid <= 0)
                return -ESRCH;
        pid_reads++;
        /* Built by hand: snprintf and strtok cost more than the read at
         * every Enrich and at every liveness check. */
        p = path + sizeof path;
        *--p = '\0';
        p -= sizeof "/stat" - 1;
        memcpy(p, "/stat", sizeof "/stat" - 1);
        for (unsigned v = (unsigned) pid; v > 0; v /= 10)
                *--p = (char) ('0' + v % 10);
        p -= sizeof "/proc/" - 1;
        memcpy(p, "/proc/", sizeof "/proc/" - 1);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -ESRCH;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return -ESRCH;
        buf[n] = '\0';
        /* comm (field 2) may hold spaces and parentheses: fields after it
         * start past the last ')'. */
        p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return -ESRCH;
        p += 2;
        /* Field 3 is the state: a zombie has finished its session. */
        if (*p == 'Z' || *p == 'X')
                return -ESRCH;
        /* Field 22, the start time, follows 19 more single spaces. */
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -ESRCH;
                p++;
        }
        errno = 0;
        start = strtoll(p, &end, 10);
        if (errno != 0 || end == p || start < 0)
                return -ESRCH;
        return start;
}

/* A copy of amr (at most MAX_AMR of them). */
static int amr_copy(char *const *amr, char ***ret) {
        char **list = calloc(MAX_AMR + 1, sizeof(char *));

        if (!list)
                return -ENOMEM;
        for (size_t n = 0; amr && amr[n] && n < MAX_AMR; n++)
                if (!(list[n] = strdup(amr[n]))) {
                        strv_free(list);
                        return -ENOMEM;
                }
        *ret = list;
        return 0;
}

static int amr_from_json(const char *text, char ***ret) {
        json_t *a = text ? json_loads(text, 0, NULL) : NULL, *v;
        char **list = calloc(MAX_AMR + 1, sizeof(char *));
        size_t i, n = 0;

        if (!list) {
                json_decref(a);
                return -ENOMEM;
        }
        json_array_foreach(a, i, v) {
                if (n >= MAX_AMR || !json_is_string(v))
                        continue;
                if (!(list[n++] = strdup(json_string_value(v)))) {
                        strv_free(list);
                        json_decref(a);
                        return -ENOMEM;
                }
        }
        json_decref(a);
        *ret = list;
        return 0;
}

/* Turns the current token's wall-clock times into monotonic deadlines, from
 * the clock readings wall_ms and mono (monotonic ms) taken now: refresh at
 * two thirds of its life, stop waiting for its key when it expires. iat and
 * exp are whole seconds but the token was issued up to a second after iat:
 * measuring from the precise wall time (not from its whole second) keeps
 * the refresh at two thirds of the life the key really has, which for a
 * short claims_ttl is the difference between refreshing in time and not.
 *
 * A token whose exp is the end of a grant or service-account token is
 * refreshed LIVE_END_LEAD_MS before that end instead: within the last
 * ISSUE_HORIZON_SECONDS, when new tokens no longer count what ends
 * (issue.h), and while the key, whose kernel timeout is exp, can still be
 * updated in place.
 * Refreshing it at two thirds would only sign the same end again. */
static void schedule(live_session *s, int64_t wall_ms, int64_t mono) {
        int64_t lifetime_ms = s->expires > s->issued ? (s->expires - s->issued) * 1000 : 0;
        int64_t due_ms = s->issued * 1000 + lifetime_ms * 2 / 3, expires_ms = s->expires * 1000;

        if (s->ends_early)
                due_ms = expires_ms - LIVE_END_LEAD_MS;

        s->refresh_at_ms = mono + (due_ms > wall_ms ? due_ms - wall_ms : 0);
        s->attach_deadline_ms = mono + (expires_ms > wall_ms ? expires_ms - wall_ms : 0);
        s->retry_at_ms = 0;
}

/* After a failed routine refresh: retry in RETRY_SECONDS, or sooner when the
 * token has less life left than that, so a passing failure (database busy)
 * does not let the key lapse. */
static void schedule_retry(live_session *s) {
        int64_t mono = clock_monotonic_ms(), left_ms = s->expires * 1000 - clock_wall_ms();
        int64_t wait_ms = RETRY_SECONDS * 1000;

        if (left_ms / 2 < wait_ms)
                wait_ms = left_ms / 2 > LIVE_TICK_MS ? left_ms / 2 : LIVE_TICK_MS;
        s->retry_at_ms = mono + wait_ms;
}

static int dup_optional(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

int live_add(enrichd *d, const session_row *s, char *const *amr, bool ends_early) {
        live *l = d->live;
        live_session *n = NULL;
        int r;

        if (l->n >= LIVE_MAX_SESSIONS)
                return -EUSERS;
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        if ((r = dup_optional(s->sid, &n->sid)) < 0 || (r = dup_optional(s->user, &n->user)) < 0 ||
            (r = dup_optional(s->service, &n->service)) < 0 || (r = dup_optional(s->tty, &n->tty)) < 0 ||
            (r = dup_optional(s->rhost, &n->rhost)) < 0 || (r = dup_optional(s->ruser, &n->ruser)) < 0 ||
            (r = amr ? amr_copy(amr, &n->amr) : amr_from_json(s->amr, &n->amr)) < 0) {
                session_free(n);
                return r;
        }
        n->uid = s->uid;
        n->pid = (pid_t) s->pid;
        n->pid_start = s->pid_start;
        n->asid = s->asid;
        n->key = (key_serial_t) s->key_serial;
        n->issued = s->token_issued;
        n->expires = s->expires;
        n->ends_early = ends_early;
        schedule(n, clock_wall_ms(), clock_monotonic_ms());
        l->items[l->n] = n;
        index_put(l, n->sid, l->n);
        l->n++;
        return 0;
}

/* The slot of sid in the index, or of the free slot that ends its probe. */
static size_t index_slot(const live *l, const char *sid) {
        size_t slot = sid_hash(sid) & (INDEX_SLOTS - 1);

        while (l->index[slot] != 0 && strcmp(l->items[l->index[slot] - 1]->sid, sid) != 0)
                slot = (slot + 1) & (INDEX_SLOTS - 1);
        return slot;
}

static ssize_t find(const live *l, const char *sid) {
        size_t slot = index_slot(l, sid);

        return l->index[slot] != 0 ? (ssize_t) l->index[slot] - 1 : -1;
}

/* Empties slot, moving later entries of its probe run back so that each
 * stays reachable from its home slot (no tombstones). */
static void index_delete(live *l, size_t slot) {
        size_t next = slot;

        l->index[slot] = 0;
        for (;;) {
                size_t home;

                next = (next + 1) & (INDEX_SLOTS - 1);
                if (l->index[next] == 0)
                        return;
                home = sid_hash(l->items[l->index[next] - 1]->sid) & (INDEX_SLOTS - 1);
                /* Stays when its home lies cyclically in (slot, next]. */
                if (slot <= next ? (home > slot && home <= next) : (home > slot || home <= next))
                        continue;
                l->index[slot] = l->index[next];
                l->index[next] = 0;
                slot = next;
        }
}

/* The slot that points at items[i]. */
static size_t index_slot_of(const live *l, size_t i) {
        size_t slot = sid_hash(l->items[i]->sid) & (INDEX_SLOTS - 1);

        while (l->index[slot] != (uint32_t) i + 1)
                slot = (slot + 1) & (INDEX_SLOTS - 1);
        return slot;
}

static void remove_at(live *l, size_t i) {
        size_t last = l->n - 1;

        index_delete(l, index_slot_of(l, i));
        if (i != last)
                /* The last item moves into i. */
                l->index[index_slot_of(l, last)] = (uint32_t) i + 1;
        session_free(l->items[i]);
        l->items[i] = l->items[last];
        l->items[last] = NULL;
        l->n = last;
        if (l->cursor >= l->n)
                l->cursor = 0;
}

/* Revokes the key (when it has one), closes the row and forgets the
 * session. The row is closed even when revoking fails: a key that cannot
 * be revoked is already gone. */
static void end_at(enrichd *d, size_t i, int64_t now, const char *reason) {
        live_session *s = d->live->items[i];
        char serial[32];
        int r;

        snprintf(serial, sizeof serial, "%d", (int) s->key);
        /* Only while the serial still names a claims key: once the kernel
         * has reused it, it may be a user's key the daemon can write. */
        if (s->key > 0 && keyring_check_claims(s->key, getegid(), &(const char *) { NULL }) == 0)
                (void) keyring_revoke(s->key);
        r = sessions_end(d->db, s->sid, now, reason);
        if (r < 0 && r != -ENOENT)
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, (const char *[]) { "ENRICH_SID", s->sid, NULL },
                           "Failed to record the end of session %s: %s", s->sid, db_last_error(d->db));
        log_struct(LOG_NOTICE, LOG_MSGID_SESSION_REVOKED,
                   (const char *[]) { "ENRICH_SID", s->sid, "ENRICH_USER", s->user, "ENRICH_KEY_SERIAL",
                                      s->key > 0 ? serial : NULL, "ENRICH_REASON", reason, NULL },
                   "Session %s of %s ended, key %s revoked: %s", s->sid, s->user, s->key > 0 ? serial : "(none)",
                   reason);
        /* A login that went away ended; anything else took its claims away. */
        (void) audit_recordf(d, NULL, s->user,
                             strcmp(reason, "process gone") == 0 ? AUDIT_SESSION_ENDED : AUDIT_SESSION_REVOKED,
                             AUDIT_OK, "{s:s, s:s, s:I}", "sid", s->sid, "reason", reason, "keySerial",
                             (json_int_t) s->key);
        remove_at(d->live, i);
}

/* Re-evaluates session i now. strict (a revocation or policy change asked
 * for it): when the new claims cannot be computed or installed the key is
 * revoked, since it may carry what was just taken away. Otherwise (routine
 * refresh) a transient failure is retried later; the token expires on its
 * own meanwhile. */
static int reissue_at(enrichd *d, size_t i, int64_t now, const char *why, bool strict, live_counts *counts) {
        live_session *s = d->live->items[i];
        login_context ctx = { .user = s->user,
                              .service = s->service,
                              .tty = s->tty,
                              .rhost = s->rhost,
                              .ruser = s->ruser,
                              .amr = s->amr,
                              .asid = s->asid };
        evaluation e = { 0 };
        char *token = NULL, *claims = NULL, serial[32], ttl[32], reason[256];
        const char *not_claims = NULL;
        json_t *claims_object = NULL;
        int64_t expires = 0;
        int r, outcome = KEPT;

        /* A session that outlived the disabling of its identity (an alias
         * of its uid, a row filled in at start-up) is not refreshed. */
        if (identities_is_disabled(d->db, &(identity_key) { .name = s->user, .uid = s->uid }, &r) && r == 0) {
                end_at(d, i, now, "identity disabled");
                outcome = REMOVED;
                goto out;
        }
        if (r == 0)
                r = issue_evaluate(d, &ctx, now, true, &e);
        if (r == -ENOENT) {
                end_at(d, i, now, "user no longer exists");
                outcome = REMOVED;
                goto out;
        }
        if (r == 0 && policy_result_empty(e.result)) {
                end_at(d, i, now, "policy gives no claims any more");
                outcome = REMOVED;
                goto out;
        }
        if (r == 0)
                r = issue_sign(d, &ctx, &e, s->sid, now, &token, &claims, &claims_object, &expires);
        if (r == -EKEYREVOKED) {
                /* Retrying would not bring the token back. */
                end_at(d, i, now, "its service-account token expired or was revoked");
                outcome = REMOVED;
                goto out;
        }
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_SESSION_REFRESH,
                           (const char *[]) { "ENRICH_SID", s->sid, "ENRICH_USER", s->user, NULL },
                           "Failed to re-evaluate session %s of %s: %s", s->sid, s->user,
                           r == -EIO ? db_last_error(d->db) : strerror(-r));
                if (strict) {
                        end_at(d, i, now, "re-evaluation failed");
                        outcome = REMOVED;
                } else
                        schedule_retry(s);
                goto out;
        }
        issue_log_conflict(&ctx, &e, s->sid);
        /* The serial is checked before each write: a key of the login that
         * died may have left it to a key a user made and let others write
         * (the kernel reuses serials), which must not get this token. */
        r = keyring_check_claims(s->key, getegid(), &not_claims);
        if (r == 0)
                r = keyring_update_claims(s->key, token, expires);
        if (r < 0) {
                snprintf(reason, sizeof reason, "key %d cannot be updated: %s", (int) s->key,
                         r == -EPERM && not_claims ? not_claims : strerror(-r));
                end_at(d, i, now, reason);
                outcome = REMOVED;
                goto out;
        }
        if (sessions_update_token(d->db, s->sid, claims, now, expires) < 0)
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, (const char *[]) { "ENRICH_SID", s->sid, NULL },
                           "Failed to record the refreshed token of session %s: %s", s->sid, db_last_error(d->db));
        s->issued = now;
        s->expires = expires;
        s->ends_early = issue_ends_early(d, &e, now, expires);
        schedule(s, clock_wall_ms(), clock_monotonic_ms());
        s->dirty = false;
        counts->updated++;
        {
                json_t *details = audit_claims_summary(claims_object);
                if (details)
                        json_object_update_new(details, json_pack("{s:s, s:o, s:o}", "reason", why, "rules",
                                                                  strv_to_json(e.result->matched_rules), "grants",
                                                                  strv_to_json(e.result->used_grants)));
                (void) audit_record(d, NULL, s->user, AUDIT_SESSION_REFRESHED, AUDIT_OK, details);
        }
        snprintf(serial, sizeof serial, "%d", (int) s->key);
        snprintf(ttl, sizeof ttl, "%lld", (long long) (expires - now));
        log_struct(strict ? LOG_INFO : LOG_DEBUG, LOG_MSGID_SESSION_REFRESH,
                   (const char *[]) { "ENRICH_SID", s->sid, "ENRICH_USER", s->user, "ENRICH_KEY_SERIAL", serial,
                                      "ENRICH_REASON", why, "ENRICH_POLICY_VERSION", d->policy_version, NULL },
                   "Re-issued claims of session %s of %s in key %s (%s; %zu groups, %zu scopes, ttl %ss)", s->sid,
                   s->user, serial, why, strv_length(e.result->groups), strv_length(e.result->scopes), ttl);
out:
        if (outcome == REMOVED)
                counts->revoked++;
        evaluation_clear(&e);
        free(token);
        free(claims);
        json_decref(claims_object);
        return outcome;
}

/* Ends session i when its process is gone or is another one (pid reuse). */
static int check_alive_at(enrichd *d, size_t i, int64_t now) {
        live_session *s = d->live->items[i];
        int64_t start = live_pid_start(s->pid);

        if (start >= 0 && s->pid_start < 0)
                s->pid_start = start;
        if (start < 0 || start != s->pid_start) {
                end_at(d, i, now, "process gone");
                return REMOVED;
        }
        return KEPT;
}

static int load_one(void *userdata, const session_row *s) {
        /* Re-evaluated at the next tick, which sets ends_early. */
        return live_add(userdata, s, NULL, false);
}

int live_load(enrichd *d) {
        int64_t now = clock_now();
        int r;

        r = sessions_foreach_active(d->db, LIVE_MAX_SESSIONS, load_one, d);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->live->n;) {
                if (check_alive_at(d, i, now) == REMOVED)
                        continue;
                /* Policy, grants and groups may have changed while we were
                 * down: re-evaluate everything at the first tick. */
                d->live->items[i]->dirty = true;
                i++;
        }
        return 0;
}

int live_attach_key(enrichd *d, const char *sid, key_serial_t key) {
        live_counts counts = { 0 };
        ssize_t i = find(d->live, sid);

        if (i < 0)
                return -ENOENT;
        d->live->items[i]->key = key;
        if (d->live->items[i]->dirty)
                (void) reissue_at(d, (size_t) i, clock_now(), "policy changed before the key was attached", true,
                                  &counts);
        return 0;
}

int live_track_unsaved(enrichd *d, const char *sid) {
        live *l = d->live;
        char *copy;

        if (l->n_unsaved == l->unsaved_allocated) {
                size_t n = l->unsaved_allocated ? 2 * l->unsaved_allocated : 16;
                char **grown = realloc(l->unsaved, n * sizeof *grown);
                if (!grown)
                        return -ENOMEM;
                l->unsaved = grown;
                l->unsaved_allocated = n;
        }
        copy = strdup(sid);
        if (!copy)
                return -ENOMEM;
        l->unsaved[l->n_unsaved++] = copy;
        return 0;
}

void live_batch_done(enrichd *d, bool lost) {
        live *l = d->live;

        for (size_t i = 0; i < l->n_unsaved; i++) {
                if (lost)
                        (void) live_forget(d, l->unsaved[i]);
                free(l->unsaved[i]);
        }
        l->n_unsaved = 0;
}

bool live_forget(enrichd *d, const char *sid) {
        ssize_t i = find(d->live, sid);

        if (i < 0)
                return false;
        remove_at(d->live, (size_t) i);
        return true;
}

int live_revoke(enrichd *d, const char *sid, const char *reason) {
        ssize_t i = find(d->live, sid);

        if (i < 0)
                return -ENOENT;
        end_at(d, (size_t) i, clock_now(), reason);
        return 0;
}

int live_reissue(enrichd *d, const char *user, const char *why, live_counts *ret) {
        live_counts counts = { 0 };
        int64_t now = clock_now();

        for (size_t i = 0; i < d->live->n;) {
                live_session *s = d->live->items[i];

                if (user && strcmp(s->user, user) != 0) {
                        i++;
                        continue;
                }
                if (s->key <= 0) {
                        /* Re-issued the moment AttachKey names its key. */
                        s->dirty = true;
                        i++;
                        continue;
                }
                if (reissue_at(d, i, now, why, true, &counts) == KEPT)
                        i++;
        }
        if (ret)
                *ret = counts;
        return 0;
}

int live_revoke_user(enrichd *d, const char *user, const char *reason, int *ret_count) {
        int64_t now = clock_now();
        int count = 0;

        for (size_t i = 0; i < d->live->n;) {
                if (strcmp(d->live->items[i]->user, user) == 0) {
                        end_at(d, i, now, reason);
                        count++;
                } else
                        i++;
        }
        *ret_count = count;
        return 0;
}

int live_revoke_uid(enrichd *d, uid_t uid, const char *reason, int *ret_count) {
        int64_t now = clock_now();
        int count = 0;

        for (size_t i = 0; i < d->live->n;) {
                if (d->live->items[i]->uid == uid) {
                        end_at(d, i, now, reason);
                        count++;
                } else
                        i++;
        }
        *ret_count = count;
        return 0;
}

/* Grants that end within ISSUE_HORIZON_SECONDS (they enter no new token any
 * more, issue.h), LIVE_END_LEAD_MS before their end: bump the generation
 * and re-issue their users' sessions now, while the keys, which expire
 * with the grant, can still be updated in place. Cheap when nothing is
 * due: one comparison against the cached next expiry. */
static void expire_grants(enrichd *d, int64_t now, int64_t wall_ms) {
        int64_t until = now + ISSUE_HORIZON_SECONDS;
        char **users = NULL;
        int r;

        if (d->next_grant_expiry <= 0 || wall_ms < d->next_grant_expiry * 1000 - LIVE_END_LEAD_MS ||
            until < d->next_grant_expiry)
                return;
        r = grants_expired_users(d->db, d->grants_checked, until, &users);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "Failed to find expired grants: %s",
                           db_last_error(d->db));
                return;
        }
        d->grants_checked = until;
        if (issue_update_policy_version(d) < 0)
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "Failed to update the policy version: %s",
                           db_last_error(d->db));
        for (size_t i = 0; users && users[i]; i++) {
                live_counts counts = { 0 };

                live_reissue(d, users[i], "grant expired", &counts);
                (void) audit_recordf(d, NULL, users[i], AUDIT_GRANT_EXPIRED, AUDIT_OK, "{s:i, s:i, s:s}",
                                     "sessionsUpdated", counts.updated, "sessionsRevoked", counts.revoked,
                                     "policyVersion", d->policy_version);
                log_struct(LOG_INFO, LOG_MSGID_GRANT_EXPIRED,
                           (const char *[]) { "ENRICH_USER", users[i], "ENRICH_POLICY_VERSION", d->policy_version,
                                              NULL },
                           "A grant of %s expired: %d sessions re-issued, %d revoked", users[i], counts.updated,
                           counts.revoked);
        }
        strv_free(users);
}

/* A stepped wall clock leaves every live token's iat, nbf and exp in the
 * old time frame: after a step back verifiers see them as not yet valid,
 * after a step forward as expired before their time. So a step re-issues
 * every attached session at once, from the new time, as a routine refresh
 * (a failure is retried, never revokes). Grant expiries handled up to the
 * old time are rescheduled from the new one after a step back; a step
 * forward expires the grants it passed, at this tick. */
static void handle_clock_step(enrichd *d, int64_t now, int64_t wall_ms, int64_t mono) {
        live *l = d->live;
        int64_t offset = wall_ms - mono, step = offset - l->wall_offset_ms;
        char seconds[32];

        l->wall_offset_ms = offset;
        if (step <= CLOCK_JUMP_TOLERANCE_MS && step >= -CLOCK_JUMP_TOLERANCE_MS)
                return;
        snprintf(seconds, sizeof seconds, "%+lld", (long long) (step / 1000));
        log_struct(LOG_WARNING, LOG_MSGID_CLOCK_STEP, (const char *[]) { "ENRICH_CLOCK_STEP_SECONDS", seconds, NULL },
                   "The wall clock stepped by %s s: re-issuing the claims of %zu live sessions", seconds, l->n);
        for (size_t i = 0; i < l->n; i++) {
                l->items[i]->refresh_at_ms = mono;
                l->items[i]->retry_at_ms = 0;
        }
        if (step < 0 && d->grants_checked > now) {
                d->grants_checked = now;
                if (grants_end_expired(d->db, now) < 0 || issue_update_policy_version(d) < 0)
                        log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "Failed to update the policy version: %s",
                                   db_last_error(d->db));
        }
}

/* The prober's answers from the last tick: a session still there with the
 * same pid is ended when its process is gone or is another one, as
 * check_alive_at does. */
static void probes_apply(enrichd *d, int64_t now) {
        live *l = d->live;

        for (size_t k = 0; k < l->n_probes; k++) {
                probe *p = &l->probes[k];
                ssize_t i = p->sid ? find(l, p->sid) : -1;
                live_session *s = i >= 0 ? l->items[i] : NULL;

                if (s && s->pid == p->pid) {
                        if (p->start >= 0 && s->pid_start < 0)
                                s->pid_start = p->start;
                        if (p->start < 0 || p->start != s->pid_start)
                                end_at(d, (size_t) i, now, "process gone");
                }
                free(p->sid);
                p->sid = NULL;
        }
        l->n_probes = 0;
}

/* From the tick: ends the sessions the prober found gone since the last
 * tick, then hands it the next LIVE_LIVENESS_BUDGET sessions, round robin.
 * A session is checked as often as before (the same budget per tick); a
 * process found gone is ended one tick later. */
static void probe_step(enrichd *d, int64_t now) {
        live *l = d->live;
        probe_state state;
        size_t n;

        pthread_mutex_lock(&l->lock);
        state = l->state;
        pthread_mutex_unlock(&l->lock);
        if (state == PROBES_RUNNING)
                return;
        if (state == PROBES_DONE)
                probes_apply(d, now);
        n = l->n < LIVE_LIVENESS_BUDGET ? l->n : LIVE_LIVENESS_BUDGET;
        for (size_t k = 0; k < n; k++) {
                live_session *s;

                if (l->cursor >= l->n)
                        l->cursor = 0;
                s = l->items[l->cursor++];
                l->probes[k] = (probe) { .sid = strdup(s->sid), .pid = s->pid, .start = -ESRCH };
                if (!l->probes[k].sid) {
                        n = k;  /* the rest at the next tick */
                        break;
                }
        }
        l->n_probes = n;
        pthread_mutex_lock(&l->lock);
        l->state = n > 0 ? PROBES_RUNNING : PROBES_NONE;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
}

void live_tick(enrichd *d) {
        live *l = d->live;
        live_counts counts = { 0 };
        int64_t mono = clock_monotonic_ms(), wall_ms = clock_wall_ms(), now = clock_now();

        handle_clock_step(d, now, wall_ms, mono);
        expire_grants(d, now, wall_ms);

        if (l->prober_running)
                probe_step(d, now);
        else
                for (size_t checked = 0, budget = l->n < LIVE_LIVENESS_BUDGET ? l->n : LIVE_LIVENESS_BUDGET;
                     checked < budget && l->n > 0; checked++) {
                        if (l->cursor >= l->n)
                                l->cursor = 0;
                        if (check_alive_at(d, l->cursor, now) == KEPT)
                                l->cursor++;
                }

        for (size_t i = 0; i < l->n;) {
                live_session *s = l->items[i];
                bool due;

                if (s->key <= 0) {
                        /* Never attached: the module failed after Enrich. */
                        if (mono >= s->attach_deadline_ms) {
                                end_at(d, i, now, "no key attached before the token expired");
                                continue;
                        }
                        i++;
                        continue;
                }
                due = s->dirty || mono >= s->refresh_at_ms;
                if (!due || s->retry_at_ms > mono) {
                        i++;
                        continue;
                }
                if (reissue_at(d, i, now, s->dirty ? "policy changed" : "refresh", s->dirty, &counts) == KEPT)
                        i++;
        }
}

int live_revoke_token_sessions(enrichd *d, const char *id, const char *reason) {
        char **sids = NULL;
        int n = 0;

        if (tokens_sessions(d->db, id, &sids) < 0) {
                log_error("Failed to find the sessions of token %s: %s", id, db_last_error(d->db));
                return 0;
        }
        for (size_t i = 0; sids && sids[i]; i++) {
                if (live_revoke(d, sids[i], reason) == 0 || sessions_end(d->db, sids[i], clock_now(), reason) == 0)
                        n++;
        }
        strv_free(sids);
        return n;
}
