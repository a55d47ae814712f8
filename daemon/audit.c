/* audit.c: the audit trail: rows in a SHA-256 hash chain, Ed25519-signed
 * checkpoints of its head, verification, retention and listing. The formats
 * are defined in audit.h. The daemon keeps no copy of the rows in memory:
 * each append reads the head inside its transaction, and verification reads
 * what is on disk, so an edit made behind the daemon's back is judged the
 * same whether or not it runs. The one thing remembered is the last row this
 * process wrote, which exposes rows appended by someone else. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "audit.h"
#include "clock.h"
#include "identity.h"
#include "jwks.h"
#include "signing_keys.h"
#include "log.h"
#include "util.h"

#define HASH_HEX           64
#define ZERO_HASH          "0000000000000000000000000000000000000000000000000000000000000000"
#define CHECKPOINT_CONTEXT "enrich-audit-checkpoint"
/* An automatic checkpoint's rows written while the worker verified are
 * verified on the main thread when there are at most this many; more, and
 * the worker verifies them too first. */
#define CHECKPOINT_TAIL_ROWS 256
/* After an automatic checkpoint found the trail not verifying, the next is
 * tried this many seconds later, doubling up to the maximum: an alarm that
 * repeats, not a verify of a growing tail on every tick. */
#define AUDIT_BAD_TRAIL_RETRY_MIN 60
#define AUDIT_BAD_TRAIL_RETRY_MAX 3600
/* The worker verifies again, from where it stopped, while more than this
 * many rows came meanwhile (at most CHECKPOINT_ROUNDS times). */
#define CHECKPOINT_CATCH_UP_ROWS 16
#define CHECKPOINT_ROUNDS        4

/* Where an automatic checkpoint (rows, interval) stands. Its slow parts run
 * on the worker thread (checkpoint_worker): it verifies the trail since the
 * newest checkpoint on a connection of its own (VERIFY), then, once the
 * main thread has verified the few rows written meanwhile and appended and
 * signed the checkpoint row (without an fsync), it makes that row durable
 * (syncs the WAL) and writes AUDIT_HEAD_FILE (SEAL); then the main thread
 * publishes it. The main thread's own part is a short verify, one row and a
 * signature: no stall of milliseconds in the middle of logins. */
typedef enum job_state {
        JOB_NONE,
        JOB_VERIFY,             /* the worker verifies */
        JOB_VERIFIED,           /* its verdict waits for the main thread */
        JOB_SEAL,               /* the worker syncs the row and writes the record */
        JOB_SEALED,             /* done: the main thread publishes */
} job_state;

/* What a refusal slot counts: one (uid, action, method, subject); a uid's
 * refusals of an action past its AUDIT_REFUSAL_PER_UID slots; or everyone's
 * refusals of an action once the table is full. */
typedef enum refusal_kind {
        REFUSAL_KEY,
        REFUSAL_UID_OVERFLOW,
        REFUSAL_GLOBAL_OVERFLOW,
} refusal_kind;

typedef struct refusal {
        bool used;
        refusal_kind kind;
        struct ucred peer;              /* the newest refusal's caller */
        char *action, *result, *method, *subject;
        json_t *details;                /* the newest counted refusal's */
        int64_t opened;                 /* when the window's first row was written */
        int64_t count, first, last;     /* refusals counted since, and their times */
        /* Overflow slots only: counted refusals per method, subject (said
         * when they differ) and (global) caller uid, each at most
         * AUDIT_REFUSAL_NAMES names; the rest is one number each. */
        json_t *methods, *subjects, *callers;
        int64_t other_methods, other_subjects, other_callers;
        bool mixed_subjects;            /* counted refusals named different subjects */
} refusal;

struct audit {
        sqlite3_stmt *head;             /* the newest row */
        sqlite3_stmt *insert;
        sqlite3_stmt *insert_checkpoint;
        int64_t written_id;             /* the newest row this process wrote (or found at start) */
        char *root_name;                /* uid 0's name, looked up once: every PAM call is root's */
        char written_hash[HASH_HEX + 1];
        int64_t since_checkpoint;       /* rows written since the last checkpoint */
        int64_t last_checkpoint;        /* wall-clock time of the last checkpoint */
        /* The trail did not verify at the last automatic checkpoint: none
         * is tried again before bad_retry_at (clock_now), bad_backoff
         * seconds after that attempt, doubled at each failure, unless a
         * writer outside the daemon (a repair) changed the database since
         * (bad_data_version). Each attempt verifies on this thread every
         * row since the newest checkpoint, rows that only grow until one
         * is signed. */
        int64_t bad_retry_at, bad_backoff, bad_data_version;
        bool in_checkpoint;
        /* Retention (prune_tick): a run is due; the first row its last
         * step left, and the rows it deleted so far. */
        bool prune_due;
        int64_t prune_anchor, pruned;
        /* The automatic checkpoint's worker (job_state). job is under lock;
         * the job_ fields belong to the worker from VERIFY or SEAL until it
         * sets VERIFIED or SEALED. */
        pthread_t worker;
        bool worker_running, stopping;
        pthread_mutex_t lock;
        pthread_cond_t wake, done;
        job_state job;
        /* A checkpoint row the worker has not made durable yet (SEAL), or
         * failed to: never answered as the newest (fleet publishes that),
         * since a power loss could still take it back. 0: none. */
        int64_t unsealed_id;
        char *db_path, *wal_path;
        db *reader;                     /* the worker's connection */
        const char *job_why;
        int64_t job_from, job_after;    /* verify_page's from and after_id */
        int64_t job_data_version;       /* the main connection's, when the job began */
        char job_seed[HASH_HEX + 1];    /* after job_after: the hash it had when verified */
        int job_r;
        audit_verdict job_verdict;
        char job_hash[HASH_HEX + 1];    /* the hash of the last row verified */
        char *job_head_path, *job_head_text;
        audit_anchor job_anchor;
        /* Start-up found the trail shorter than AUDIT_HEAD_FILE says: the
         * file stays as it is (so verify keeps saying so) until an admin
         * asks for a checkpoint. */
        bool truncated;
        refusal refusals[AUDIT_REFUSAL_SLOTS];
        /* One per refusal action, used only while the table is full. */
        refusal overflow[AUDIT_REFUSAL_ACTIONS];
};

static const struct {
        const char *action, *message_id;
} message_ids[] = {
        { AUDIT_ENRICH_ISSUED, LOG_MSGID_AUDIT_ENRICH_ISSUED },
        { AUDIT_ENRICH_REFUSED, LOG_MSGID_AUDIT_ENRICH_REFUSED },
        { AUDIT_SESSION_REFRESHED, LOG_MSGID_AUDIT_SESSION_REFRESHED },
        { AUDIT_SESSION_REVOKED, LOG_MSGID_AUDIT_SESSION_REVOKED },
        { AUDIT_SESSION_ENDED, LOG_MSGID_AUDIT_SESSION_ENDED },
        { AUDIT_GRANT_CREATED, LOG_MSGID_AUDIT_GRANT_CREATED },
        { AUDIT_GRANT_REVOKED, LOG_MSGID_AUDIT_GRANT_REVOKED },
        { AUDIT_GRANT_EXPIRED, LOG_MSGID_AUDIT_GRANT_EXPIRED },
        { AUDIT_REQUEST_CREATED, LOG_MSGID_AUDIT_REQUEST_CREATED },
        { AUDIT_REQUEST_APPROVED, LOG_MSGID_AUDIT_REQUEST_APPROVED },
        { AUDIT_REQUEST_DENIED, LOG_MSGID_AUDIT_REQUEST_DENIED },
        { AUDIT_REQUEST_EXPIRED, LOG_MSGID_AUDIT_REQUEST_EXPIRED },
        { AUDIT_TOKEN_ISSUED, LOG_MSGID_AUDIT_TOKEN_ISSUED },
        { AUDIT_TOKEN_USED, LOG_MSGID_AUDIT_TOKEN_USED },
        { AUDIT_TOKEN_REJECTED, LOG_MSGID_AUDIT_TOKEN_REJECTED },
        { AUDIT_TOKEN_REVOKED, LOG_MSGID_AUDIT_TOKEN_REVOKED },
        { AUDIT_TOKEN_ROTATED, LOG_MSGID_AUDIT_TOKEN_ROTATED },
        { AUDIT_TOKEN_UNLOCKED, LOG_MSGID_AUDIT_TOKEN_UNLOCKED },
        { AUDIT_IDENTITY_DISABLED, LOG_MSGID_AUDIT_IDENTITY_DISABLED },
        { AUDIT_IDENTITY_ENABLED, LOG_MSGID_AUDIT_IDENTITY_ENABLED },
        { AUDIT_LOGIN_REFUSED, LOG_MSGID_AUDIT_LOGIN_REFUSED },
        { AUDIT_PERMISSION_DENIED, LOG_MSGID_AUDIT_PERMISSION_DENIED },
        { AUDIT_CONFIG_RELOADED, LOG_MSGID_AUDIT_CONFIG_RELOADED },
        { AUDIT_CONFIG_REJECTED, LOG_MSGID_AUDIT_CONFIG_REJECTED },
        { AUDIT_KEY_ROTATED, LOG_MSGID_AUDIT_KEY_ROTATED },
        { AUDIT_FLEET_ENROLLED, LOG_MSGID_AUDIT_FLEET_ENROLLED },
        { AUDIT_CHECKPOINT, LOG_MSGID_AUDIT_AUDIT_CHECKPOINT },
};

static const char *message_id_of(const char *action) {
        for (size_t i = 0; i < ARRAY_SIZE(message_ids); i++)
                if (strcmp(message_ids[i].action, action) == 0)
                        return message_ids[i].message_id;
        return NULL;
}

/* ---- encoding ----------------------------------------------------------- */

static void hex_encode(const unsigned char *data, size_t len, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[data[i] >> 4];
                out[2 * i + 1] = digits[data[i] & 15];
        }
        out[2 * len] = '\0';
}

static int hex_decode(const char *text, unsigned char *out, size_t len) {
        if (!text || strlen(text) != 2 * len)
                return -EINVAL;
        for (size_t i = 0; i < 2 * len; i++) {
                char c = text[i];
                int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (v < 0)
                        return -EINVAL;
                if (i % 2 == 0)
                        out[i / 2] = (unsigned char) (v << 4);
                else
                        out[i / 2] |= (unsigned char) v;
        }
        return 0;
}

/* One row's fields as stored. */
typedef struct row {
        int64_t id, time;
        int64_t actor_uid;              /* -1: NULL (enrichd) */
        const char *actor_name, *subject, *action, *result, *details, *prev_hash, *hash;
} row;

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0: what
 * jansson accepts in a string (no overlong forms, no surrogates, nothing
 * past U+10FFFF). */
static size_t utf8_length(const unsigned char *s) {
        size_t n;
        uint32_t cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] < 0xc2 || s[0] > 0xf4)
                return 0;
        n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
        cp = s[0] & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* Appends text as a JSON string the way jansson dumps it without flags:
 * '"' and '\\' escaped, control characters as \b \f \n \r \t or \u00XX,
 * everything else as it is. Returns the end, or NULL for text that is not
 * valid UTF-8 (which jansson refuses to hold). out has room for 6 bytes
 * per byte of text, plus 2. */
static char *append_string(char *out, const char *text) {
        static const char hex[] = "0123456789ABCDEF";
        const unsigned char *p = (const unsigned char *) text;

        *out++ = '"';
        while (*p) {
                size_t n;

                if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
                        *out++ = (char) *p++;
                        continue;
                }
                if (*p >= 0x80) {
                        n = utf8_length(p);
                        if (n == 0)
                                return NULL;
                        memcpy(out, p, n);
                        out += n;
                        p += n;
                        continue;
                }
                *out++ = '\\';
                switch (*p) {
                case '"':
                case '\\': *out++ = (char) *p; break;
                case '\b': *out++ = 'b'; break;
                case '\f': *out++ = 'f'; break;
                case '\n': *out++ = 'n'; break;
                case '\r': *out++ = 'r'; break;
                case '\t': *out++ = 't'; break;
                default:
                        memcpy(out, "u00", 3);
                        out[3] = hex[*p >> 4];
                        out[4] = hex[*p & 15];
                        out += 5;
                }
                p++;
        }
        *out++ = '"';
        return out;
}

/* Room the canonical encoding of r may need: every byte escaped. */
static size_t canonical_bound(const row *r) {
        const char *texts[] = { r->action, r->actor_name, r->details, r->prev_hash, r->result, r->subject };
        size_t size = 256;

        for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
                size += 6 * (texts[i] ? strlen(texts[i]) : 0) + 2;
        return size;
}

/* Writes the canonical encoding (audit.h) of r into text, which has
 * canonical_bound(r) bytes, with its NUL; returns the end (at the NUL), or
 * NULL for text that is not valid UTF-8. Written directly, not through a
 * jansson object and json_dumps, which cost more than the rest of an
 * Enrich call's audit row (test_audit_canonical holds the two to the same
 * bytes). */
static char *canonical_write(const row *r, char *text) {
        char *at;

        /* The keys in byte order, as JSON_SORT_KEYS puts them. */
        at = stpcpy(text, "{\"action\":");
        at = append_string(at, r->action ? r->action : "");
        if (at) {
                at = stpcpy(at, ",\"actor_name\":");
                at = append_string(at, r->actor_name ? r->actor_name : "");
        }
        if (at) {
                if (r->actor_uid < 0)
                        at = stpcpy(at, ",\"actor_uid\":null,\"details\":");
                else
                        at += sprintf(at, ",\"actor_uid\":%lld,\"details\":", (long long) r->actor_uid);
                at = append_string(at, r->details ? r->details : "");
        }
        if (at) {
                at += sprintf(at, ",\"id\":%lld,\"prev_hash\":", (long long) r->id);
                at = append_string(at, r->prev_hash ? r->prev_hash : "");
        }
        if (at) {
                at = stpcpy(at, ",\"result\":");
                at = append_string(at, r->result ? r->result : "");
        }
        if (at) {
                at = stpcpy(at, ",\"subject\":");
                at = r->subject ? append_string(at, r->subject) : stpcpy(at, "null");
        }
        if (at)
                at += sprintf(at, ",\"time\":%lld}", (long long) r->time);
        return at;
}

char *audit_canonical(int64_t id, int64_t time, int64_t actor_uid, const char *actor_name, const char *subject,
                      const char *action, const char *result, const char *details, const char *prev_hash) {
        row r = { .id = id,
                  .time = time,
                  .actor_uid = actor_uid,
                  .actor_name = actor_name,
                  .subject = subject,
                  .action = action,
                  .result = result,
                  .details = details,
                  .prev_hash = prev_hash };
        char *text = malloc(canonical_bound(&r));

        if (text && !canonical_write(&r, text)) {
                free(text);
                text = NULL;
        }
        return text;
}

/* hash = SHA-256(prev_hash bytes || canonical) as hex into out. A prev_hash
 * that is not 64 hex digits hashes as 32 zero bytes (and the row then fails
 * its link check anyway). */
/* Fetched once per thread: an implicit fetch (EVP_sha256()) at every row
 * costs a provider lookup under locks. The main thread and the checkpoint
 * worker hash, each with its own. */
static __thread EVP_MD *sha256 = NULL;
/* Kept too, for the same reason (DigestInit resets it); and one buffer
 * for the encoding, grown as rows need, rather than an allocation of
 * several KB per row. */
static __thread EVP_MD_CTX *hash_ctx = NULL;
static __thread char *hash_text = NULL;
static __thread size_t hash_allocated = 0;

/* Frees the calling thread's (the worker's, as it ends). */
static void row_hash_release(void) {
        EVP_MD_free(sha256);
        EVP_MD_CTX_free(hash_ctx);
        free(hash_text);
        sha256 = NULL;
        hash_ctx = NULL;
        hash_text = NULL;
        hash_allocated = 0;
}

static int row_hash(const row *r, char out[HASH_HEX + 1]) {
        EVP_MD_CTX *ctx;
        char *text;
        unsigned char prev[32] = { 0 }, digest[32];
        size_t need = canonical_bound(r);
        char *end;

        if (need > hash_allocated) {
                char *grown = realloc(hash_text, need);
                if (!grown)
                        return -ENOMEM;
                hash_text = grown;
                hash_allocated = need;
        }
        text = hash_text;
        end = canonical_write(r, text);
        if (!end)
                return -ENOMEM; /* what jansson's refusal of the text came to */
        if (!sha256)
                sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!hash_ctx)
                hash_ctx = EVP_MD_CTX_new();
        ctx = hash_ctx;
        (void) hex_decode(r->prev_hash, prev, sizeof prev);
        if (!ctx || !sha256 || EVP_DigestInit_ex(ctx, sha256, NULL) != 1 ||
            EVP_DigestUpdate(ctx, prev, sizeof prev) != 1 || EVP_DigestUpdate(ctx, text, (size_t) (end - text)) != 1 ||
            EVP_DigestFinal_ex(ctx, digest, NULL) != 1)
                return -EIO;
        hex_encode(digest, sizeof digest, out);
        return 0;
}

/* The bytes a checkpoint's signature covers (audit.h). */
static int checkpoint_message(int64_t row_id, const char *head, int64_t when, unsigned char out[24 + 8 + 32 + 8]) {
        size_t n = sizeof CHECKPOINT_CONTEXT;   /* with its NUL */

        memcpy(out, CHECKPOINT_CONTEXT, n);
        for (int i = 0; i < 8; i++)
                out[n + (size_t) i] = (unsigned char) ((uint64_t) row_id >> (56 - 8 * i));
        if (hex_decode(head, out + n + 8, 32) < 0)
                return -EINVAL;
        for (int i = 0; i < 8; i++)
                out[n + 40 + (size_t) i] = (unsigned char) ((uint64_t) when >> (56 - 8 * i));
        return 0;
}

/* ---- refusals: aggregated per (uid, action, method, subject) ---------------- */

static void refusal_clear(refusal *s) {
        free(s->action);
        free(s->result);
        free(s->method);
        free(s->subject);
        json_decref(s->details);
        json_decref(s->methods);
        json_decref(s->subjects);
        json_decref(s->callers);
        *s = (refusal) { 0 };
}

static bool same_text(const char *a, const char *b) {
        return a ? b && strcmp(a, b) == 0 : !b;
}

/* ---- open ---------------------------------------------------------------- */

static int prepare(enrichd *d, const char *sql, sqlite3_stmt **ret) {
        if (sqlite3_prepare_v3(db_handle(d->db), sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL) != SQLITE_OK)
                return db_fail(d->db, "Failed to prepare an audit statement");
        return 0;
}

/* The newest row's id and hash; 0 and the zero hash when there is none. */
static int read_head(enrichd *d, int64_t *ret_id, char ret_hash[HASH_HEX + 1]) {
        sqlite3_stmt *st = d->audit->head;
        int step, r = 0;

        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
                const char *hash = (const char *) sqlite3_column_text(st, 1);
                *ret_id = sqlite3_column_int64(st, 0);
                snprintf(ret_hash, HASH_HEX + 1, "%s", hash ? hash : "");
        } else if (step == SQLITE_DONE) {
                *ret_id = 0;
                strcpy(ret_hash, ZERO_HASH);
        } else
                r = db_fail(d->db, "Failed to read the audit chain head");
        sqlite3_reset(st);
        return r;
}

static int head_compare(enrichd *d, audit_verdict *v, bool *ret_other);
static void log_failure(const char *what, const char *why);

/* Start-up: is the trail still as long as the newest checkpoint recorded
 * outside it? A truncation is logged and enrichd carries on (logins must
 * not hang on the audit trail): verify names it until an admin's
 * checkpoint accepts the trail as it stands. */
static void check_outside(enrichd *d) {
        audit_verdict v = { .ok = true };
        bool other = false;

        if (head_compare(d, &v, &other) < 0) {
                log_failure("start-up check", db_last_error(d->db));
                return;
        }
        if (!v.ok) {
                d->audit->truncated = true;
                log_struct(LOG_ERR, LOG_MSGID_AUDIT_AUDIT_FAILURE,
                           (const char *[]) { "ENRICH_AUDIT_KIND", v.kind, NULL },
                           "Audit trail truncated while enrichd was down: %s. enrichd carries on; `enrichctl audit"
                           " verify` reports it until an admin runs `enrichctl audit checkpoint`",
                           v.reason);
        } else if (other)
                log_struct(LOG_NOTICE, LOG_MSGID_AUDIT_AUDIT_CHECKPOINT, NULL,
                           "Audit trail: %s/%s records a checkpoint of another database; this database starts"
                           " its own record at its next checkpoint",
                           d->config->state_dir, AUDIT_HEAD_FILE);
}

static void worker_start(enrichd *d);
static void worker_stop(audit *a);

int audit_open(enrichd *d, audit **ret) {
        audit *a = calloc(1, sizeof *a);
        int r;

        if (!a)
                return -ENOMEM;
        d->audit = a;
        if ((r = prepare(d, "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1", &a->head)) < 0 ||
            (r = prepare(d,
                         "INSERT INTO audit (id, time, actor_uid, actor_name, subject, action, result,"
                         " details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         &a->insert)) < 0 ||
            (r = prepare(d,
                         "INSERT INTO audit_checkpoints (row_id, head, time, kid, signature)"
                         " VALUES (?,?,?,?,?)",
                         &a->insert_checkpoint)) < 0 ||
            (r = read_head(d, &a->written_id, a->written_hash)) < 0)
                goto out;
        a->last_checkpoint = clock_now();
        if (identity_user_name(0, &a->root_name) < 0)
                a->root_name = NULL;
        check_outside(d);
        worker_start(d);
        *ret = a;
        a = NULL;
out:
        if (a) {
                d->audit = NULL;
                audit_free(a);
        }
        return r;
}

void audit_free(audit *a) {
        if (!a)
                return;
        worker_stop(a);
        free(a->db_path);
        free(a->wal_path);
        free(a->job_head_path);
        free(a->job_head_text);
        sqlite3_finalize(a->head);
        sqlite3_finalize(a->insert);
        sqlite3_finalize(a->insert_checkpoint);
        free(a->root_name);
        for (size_t i = 0; i < ARRAY_SIZE(a->refusals); i++)
                refusal_clear(&a->refusals[i]);
        for (size_t i = 0; i < ARRAY_SIZE(a->overflow); i++)
                refusal_clear(&a->overflow[i]);
        free(a);
}

/* ---- append -------------------------------------------------------------- */

static void log_failure(const char *what, const char *why) {
        log_struct(LOG_ERR, LOG_MSGID_AUDIT_AUDIT_FAILURE, NULL, "Audit trail: %s: %s", what, why);
}

/* Inserts one row after the current head; the caller holds a transaction. */
static int append(enrichd *d, const row *in, int64_t *ret_id, char ret_hash[HASH_HEX + 1]) {
        sqlite3_stmt *st = d->audit->insert;
        char prev[HASH_HEX + 1], hash[HASH_HEX + 1];
        row r = *in;
        int64_t head_id;
        int ret;

        ret = read_head(d, &head_id, prev);
        if (ret < 0)
                return ret;
        r.id = head_id + 1;
        r.prev_hash = prev;
        ret = row_hash(&r, hash);
        if (ret < 0)
                return ret;
        sqlite3_bind_int64(st, 1, r.id);
        sqlite3_bind_int64(st, 2, r.time);
        db_bind_int64_or_null(st, 3, r.actor_uid >= 0, r.actor_uid);
        sqlite3_bind_text(st, 4, r.actor_name, -1, SQLITE_TRANSIENT);
        db_bind_text(st, 5, r.subject);
        sqlite3_bind_text(st, 6, r.action, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, r.result, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, r.details, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 9, r.prev_hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 10, hash, -1, SQLITE_TRANSIENT);
        ret = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(d->db, "Failed to append an audit row");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (ret < 0)
                return ret;
        *ret_id = r.id;
        strcpy(ret_hash, hash);
        return 0;
}

static void journal(const row *r, int64_t id, const char *sid, const char *jti, const char *method) {
        bool bad = strcmp(r->result, AUDIT_OK) != 0;
        char idtext[32];

        snprintf(idtext, sizeof idtext, "%lld", (long long) id);
        log_struct(bad ? LOG_NOTICE : LOG_INFO, message_id_of(r->action),
                   (const char *[]) { "ENRICH_ACTION", r->action, "ENRICH_RESULT", r->result, "ENRICH_USER", r->subject,
                                      "ENRICH_SID", sid, "ENRICH_JTI", jti, "ENRICH_ACTOR", r->actor_name,
                                      "ENRICH_AUDIT_ID", idtext, "ENRICH_METHOD", method, NULL },
                   "audit #%s: %s %s%s%s by %s: %s", idtext, r->action, r->result, r->subject ? " for " : "",
                   r->subject ? r->subject : "", r->actor_name, r->details);
}

/* The row of audit_record and audit_record_text; text NULL: out of memory. */
static int record(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                  const char *text, const char *sid, const char *jti, const char *method) {
        audit *a = d->audit;
        char *name = NULL, hash[HASH_HEX + 1] = "";
        bool own_transaction;
        int64_t id = 0;
        int r;

        if (!a) {
                r = -ENXIO;
                goto out;
        }
        if (peer && peer->uid == 0 && a->root_name)
                name = strdup(a->root_name);
        else if (peer && identity_user_name(peer->uid, &name) < 0)
                name = NULL;
        if (!text || (peer && !name)) {
                r = -ENOMEM;
                log_failure(action, "out of memory");
                goto out;
        }
        row in = { .time = clock_now(),
                   .actor_uid = peer ? (int64_t) peer->uid : -1,
                   .actor_name = peer ? name : "enrichd",
                   .subject = subject,
                   .action = action,
                   .result = result,
                   .details = text };
        /* Its own transaction, or a savepoint inside the caller's or the
         * batch (db.h): the row commits with the batch of its turn. */
        own_transaction = !db_in_transaction(d->db);
        r = db_begin(d->db);
        if (r == 0)
                r = append(d, &in, &id, hash);
        if (r == 0)
                r = db_commit(d->db);
        if (r < 0) {
                db_rollback(d->db);
                log_failure(action, db_last_error(d->db));
                goto out;
        }
        a->written_id = id;
        strcpy(a->written_hash, hash);
        a->since_checkpoint++;
        journal(&in, id, sid, jti, method);
        /* With the worker, the tick starts it (checkpoint_step): never in
         * the middle of a call. */
        if (!a->worker_running && own_transaction && !a->in_checkpoint &&
            a->since_checkpoint >= d->config->audit_checkpoint_rows)
                (void) audit_checkpoint(d, NULL, "rows", NULL, NULL);
out:
        free(name);
        return r;
}

int audit_record(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                 json_t *details) {
        char *text;
        int r;

        if (!details)
                details = json_object();
        text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        r = record(d, peer, subject, action, result, text, json_string_value(json_object_get(details, "sid")),
                   json_string_value(json_object_get(details, "jti")),
                   json_string_value(json_object_get(details, "method")));
        json_decref(details);
        free(text);
        return r;
}

int audit_record_text(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                      const char *details, const char *sid, const char *jti) {
        return record(d, peer, subject, action, result, details, sid, jti, NULL);
}

int64_t audit_head_id(const enrichd *d) {
        return d->audit ? d->audit->written_id : 0;
}

void audit_batch_lost(enrichd *d) {
        audit *a = d->audit;

        /* The rows of the lost batch are gone: the head is the database's
         * again (read_head), or verify would call the trail tampered. */
        if (a && read_head(d, &a->written_id, a->written_hash) < 0)
                log_failure("batch", db_last_error(d->db));
}

int audit_recordf(enrichd *d, const struct ucred *peer, const char *subject, const char *action, const char *result,
                  const char *format, ...) {
        json_t *details;
        va_list ap;

        va_start(ap, format);
        details = json_vpack_ex(NULL, 0, format, ap);
        va_end(ap);
        return audit_record(d, peer, subject, action, result, details);
}

/* Sets details' member key to counts, and other_key to the refusals of
 * names left out; each only when not empty. */
static int set_counts(json_t *details, const char *key, json_t *counts, const char *other_key, int64_t others) {
        if (json_object_size(counts) > 0 && json_object_set(details, key, counts) < 0)
                return -ENOMEM;
        if (others > 0 && json_object_set_new(details, other_key, json_integer(others)) < 0)
                return -ENOMEM;
        return 0;
}

/* Writes s's summary row when refusals were counted, and frees the slot. */
static void refusal_flush(enrichd *d, refusal *s) {
        json_t *details;
        bool overflow = s->kind != REFUSAL_KEY;

        if (s->used && s->count > 0) {
                details = s->details ? s->details : json_object();
                s->details = NULL;
                if (details &&
                    (json_object_set_new(details, "count", json_integer(s->count)) < 0 ||
                     json_object_set_new(details, "first", json_integer(s->first)) < 0 ||
                     json_object_set_new(details, "last", json_integer(s->last)) < 0 ||
                     json_object_set_new(details, "window", json_integer(d->config->audit_refusal_window)) < 0 ||
                     (overflow && (json_object_set_new(details, "method", json_string("*")) < 0 ||
                                   set_counts(details, "methods", s->methods, "otherMethods", s->other_methods) < 0 ||
                                   (s->mixed_subjects && set_counts(details, "subjects", s->subjects, "otherSubjects",
                                                                    s->other_subjects) < 0) ||
                                   set_counts(details, "callers", s->callers, "otherCallers", s->other_callers) < 0)) ||
                     (s->kind == REFUSAL_GLOBAL_OVERFLOW &&
                      json_object_set_new(details, "actor", json_string("many callers")) < 0)))
                        log_failure(s->action, "out of memory");
                /* The global summary is nobody's in particular: enrichd
                 * writes it, and "callers" says who. */
                (void) audit_record(d, s->kind == REFUSAL_GLOBAL_OVERFLOW ? NULL : &s->peer,
                                    overflow && s->mixed_subjects ? NULL : s->subject, s->action, s->result, details);
        }
        refusal_clear(s);
}

static bool window_open(const refusal *s, int64_t now, int64_t window) {
        return now >= s->opened && now - s->opened < window;
}

/* Counts one more under name in counts (created on first use), or in
 * *others once AUDIT_REFUSAL_NAMES names are there. */
static void count_name(json_t **counts, int64_t *others, const char *name) {
        json_t *n;

        if (!name)
                name = "";
        if (!*counts)
                *counts = json_object();
        n = json_object_get(*counts, name);
        if (n)
                (void) json_integer_set(n, json_integer_value(n) + 1);
        else if (!*counts || json_object_size(*counts) >= AUDIT_REFUSAL_NAMES ||
                 json_object_set_new(*counts, name, json_integer(1)) < 0)
                (*others)++;
}

/* Counts a refusal in s's open window instead of writing a row. */
static void refusal_count(refusal *s, const struct ucred *peer, const char *subject, const char *method,
                          json_t *details, int64_t now) {
        if (s->count++ == 0)
                s->first = now;
        s->last = now;
        s->peer = *peer;
        json_decref(s->details);
        s->details = details;
        if (s->kind == REFUSAL_KEY)
                return;
        count_name(&s->methods, &s->other_methods, method);
        count_name(&s->subjects, &s->other_subjects, subject);
        if (!same_text(s->subject, subject))
                s->mixed_subjects = true;
        if (s->kind == REFUSAL_GLOBAL_OVERFLOW) {
                char uid[32];

                snprintf(uid, sizeof uid, "%u", (unsigned) peer->uid);
                count_name(&s->callers, &s->other_callers, uid);
        }
}

/* Whether an overflow slot has not seen method yet (and room remains to
 * name it): then it is named, with a count of 0, and this refusal gets its
 * own row, so that every method a caller tries shows at once, up to
 * AUDIT_REFUSAL_NAMES of them per slot and window. */
static bool overflow_new_method(refusal *s, const char *method) {
        if (!method || json_object_get(s->methods, method))
                return false;
        if (!s->methods)
                s->methods = json_object();
        if (!s->methods || json_object_size(s->methods) >= AUDIT_REFUSAL_NAMES)
                return false;
        return json_object_set_new(s->methods, method, json_integer(0)) == 0;
}

/* Flushes whatever s held and opens its window on this refusal, whose row
 * the caller writes at once. On failure to copy the key the slot stays
 * free: the refusal is not aggregated, but still written. */
static void refusal_open(enrichd *d, refusal *s, refusal_kind kind, const struct ucred *peer, const char *subject,
                         const char *action, const char *result, const char *method, int64_t now) {
        refusal_flush(d, s);
        s->action = strdup(action);
        s->result = strdup(result);
        s->method = method ? strdup(method) : NULL;
        s->subject = subject ? strdup(subject) : NULL;
        if (!s->action || !s->result || (method && !s->method) || (subject && !s->subject)) {
                refusal_clear(s);
                return;
        }
        s->used = true;
        s->kind = kind;
        s->peer = *peer;
        s->opened = now;
        if (kind != REFUSAL_KEY)
                (void) overflow_new_method(s, method);
}

/* Records a refusal. Rows per window are bounded by the number of slots,
 * whatever the pattern: a slot is only ever taken over once its window has
 * closed (its summary written), never to make room within a window. */
int audit_record_refusal(enrichd *d, const struct ucred *peer, const char *subject, const char *action,
                         const char *result, const char *method, json_t *details) {
        audit *a = d->audit;
        int64_t window, now = clock_now();
        refusal *s = NULL, *own_overflow = NULL, *stale = NULL, *free_slot = NULL, *closed = NULL;
        refusal_kind kind = REFUSAL_KEY;
        size_t held = 0;

        if (!a || !peer)
                return audit_record(d, peer, subject, action, result, details);
        window = d->config->audit_refusal_window;
        for (size_t i = 0; i < ARRAY_SIZE(a->refusals); i++) {
                refusal *c = &a->refusals[i];

                if (!c->used) {
                        if (!free_slot)
                                free_slot = c;
                        continue;
                }
                if (!window_open(c, now, window)) {
                        /* The same key's closed window: reopened in place,
                         * so its summary comes before the new first row. */
                        if (!stale && c->kind == REFUSAL_KEY && c->peer.uid == peer->uid &&
                            strcmp(c->action, action) == 0 && same_text(c->method, method) &&
                            same_text(c->subject, subject))
                                stale = c;
                        if (!closed)
                                closed = c;
                        continue;
                }
                if (c->peer.uid != peer->uid)
                        continue;
                if (c->kind == REFUSAL_UID_OVERFLOW) {
                        if (strcmp(c->action, action) == 0)
                                own_overflow = c;
                        continue;
                }
                held++;
                if (!s && strcmp(c->action, action) == 0 && same_text(c->method, method) &&
                    same_text(c->subject, subject))
                        s = c;
        }
        if (!s && held >= AUDIT_REFUSAL_PER_UID) {
                /* This uid holds its share of slots: its further keys are
                 * counted together, per action. */
                s = own_overflow;
                kind = REFUSAL_UID_OVERFLOW;
        }
        if (s) {
                if (s->kind != REFUSAL_KEY && overflow_new_method(s, method))
                        return audit_record(d, peer, subject, action, result, details);
                refusal_count(s, peer, subject, method, details, now);
                return 0;
        }
        s = kind == REFUSAL_KEY && stale ? stale : free_slot ? free_slot : closed;
        if (!s) {
                /* The table is full of open windows: everyone's new keys
                 * share one slot per action until windows close. There
                 * are AUDIT_REFUSAL_ACTIONS refusal actions, so one is
                 * always found; an unknown one is written, not lost. */
                refusal *spare = NULL;

                for (size_t i = 0; !s && i < ARRAY_SIZE(a->overflow); i++) {
                        refusal *c = &a->overflow[i];

                        if (c->used && strcmp(c->action, action) == 0)
                                s = c;
                        else if (!spare && (!c->used || !window_open(c, now, window)))
                                spare = c;
                }
                if (!s)
                        s = spare;
                if (!s)
                        return audit_record(d, peer, subject, action, result, details);
                if (s->used && window_open(s, now, window)) {
                        if (overflow_new_method(s, method))
                                return audit_record(d, peer, subject, action, result, details);
                        refusal_count(s, peer, subject, method, details, now);
                        return 0;
                }
                kind = REFUSAL_GLOBAL_OVERFLOW;
        }
        refusal_open(d, s, kind, peer, subject, action, result, method, now);
        return audit_record(d, peer, subject, action, result, details);
}

void audit_flush_refusals(enrichd *d, bool all) {
        audit *a = d->audit;
        int64_t now = clock_now();

        for (size_t i = 0; a && i < ARRAY_SIZE(a->refusals); i++)
                if (a->refusals[i].used && (all || !window_open(&a->refusals[i], now, d->config->audit_refusal_window)))
                        refusal_flush(d, &a->refusals[i]);
        for (size_t i = 0; a && i < ARRAY_SIZE(a->overflow); i++)
                if (a->overflow[i].used && (all || !window_open(&a->overflow[i], now, d->config->audit_refusal_window)))
                        refusal_flush(d, &a->overflow[i]);
}

json_t *audit_claims_summary(json_t *claims) {
        static const char *const keep[] = { "jti", "sid", "exp", "groups", "scope", "tenant", "amr", "act", "pv" };
        json_t *summary = json_object();

        for (size_t i = 0; summary && claims && i < ARRAY_SIZE(keep); i++) {
                json_t *v = json_object_get(claims, keep[i]);
                if (v && json_object_set(summary, keep[i], v) < 0) {
                        json_decref(summary);
                        summary = NULL;
                }
        }
        return summary;
}

/* ---- verification ---------------------------------------------------------- */

typedef struct checkpoint {
        int64_t row_id, time;
        char *head, *kid, *signature;
} checkpoint;

static void checkpoints_free(checkpoint *list, size_t n) {
        for (size_t i = 0; list && i < n; i++) {
                free(list[i].head);
                free(list[i].kid);
                free(list[i].signature);
        }
        free(list);
}

/* Checkpoints with row_id >= from, oldest first. */
static int load_checkpoints(enrichd *d, int64_t from, checkpoint **ret, size_t *ret_n) {
        sqlite3_stmt *st = NULL;
        checkpoint *list = NULL;
        size_t n = 0, cap = 0;
        int r = 0, step;

        if (db_prepare(d->db,
                       "SELECT row_id, head, time, kid, signature FROM audit_checkpoints"
                       " WHERE row_id >= ? ORDER BY row_id",
                       &st) < 0) {
                r = db_fail(d->db, "Failed to read audit checkpoints");
                goto out;
        }
        sqlite3_bind_int64(st, 1, from);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        checkpoint *bigger = reallocarray(list, cap ? 2 * cap : 16, sizeof *list);
                        if (!bigger) {
                                r = -ENOMEM;
                                goto out;
                        }
                        list = bigger;
                        cap = cap ? 2 * cap : 16;
                }
                list[n] = (checkpoint) {
                        .row_id = sqlite3_column_int64(st, 0),
                        .time = sqlite3_column_int64(st, 2),
                        .head = strdup((const char *) sqlite3_column_text(st, 1) ?: ""),
                        .kid = strdup((const char *) sqlite3_column_text(st, 3) ?: ""),
                        .signature = strdup((const char *) sqlite3_column_text(st, 4) ?: ""),
                };
                n++;
                if (!list[n - 1].head || !list[n - 1].kid || !list[n - 1].signature) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (step != SQLITE_DONE) {
                r = db_fail(d->db, "Failed to read audit checkpoints");
                goto out;
        }
        *ret = list;
        *ret_n = n;
        list = NULL;
        n = 0;
out:
        checkpoints_free(list, n);
        db_release(d->db, st);
        return r;
}

/* Whether c's signature is good: the key by kid among every key the daemon
 * has recorded (signing_keys_find: retired keys too, but none for a
 * checkpoint dated after its retirement), else the running key. */
static bool checkpoint_signed(enrichd *d, const checkpoint *c) {
        unsigned char message[24 + 8 + 32 + 8], signature[64];
        jwks *keys = NULL;
        int64_t retired = 0;
        EVP_PKEY *key = NULL;
        EVP_MD_CTX *ctx = NULL;
        bool good = false;

        if (checkpoint_message(c->row_id, c->head, c->time, message) < 0 ||
            hex_decode(c->signature, signature, sizeof signature) < 0)
                return false;
        if (signing_keys_find(d->db, c->kid, &keys, &retired) == 0) {
                if (retired > 0 && c->time > retired) {
                        jwks_free(keys);
                        return false;
                }
                key = jwks_find(keys, c->kid);
        }
        if (!key) {
                /* Not recorded (a database from before migration 6 being
                 * repaired): the running key can still vouch by signing the
                 * same message and comparing (Ed25519 is deterministic). */
                unsigned char mine[SIGNER_SIGNATURE_LENGTH];

                jwks_free(keys);
                if (!d->signer || strcmp(c->kid, signer_kid(d->signer)) != 0 ||
                    signer_sign_bytes(d->signer, message, sizeof message, mine) < 0)
                        return false;
                return CRYPTO_memcmp(mine, signature, sizeof mine) == 0;
        }
        ctx = EVP_MD_CTX_new();
        good = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
               EVP_DigestVerify(ctx, signature, sizeof signature, message, sizeof message) == 1;
        EVP_MD_CTX_free(ctx);
        jwks_free(keys);
        return good;
}

static void fail_at(audit_verdict *v, int64_t id, const char *kind, const char *format, ...)
        __attribute__((format(printf, 4, 5)));
static void fail_at(audit_verdict *v, int64_t id, const char *kind, const char *format, ...) {
        va_list ap;

        if (!v->ok)
                return;         /* only the first problem is reported */
        v->ok = false;
        v->bad_id = id;
        v->kind = kind;
        va_start(ap, format);
        vsnprintf(v->reason, sizeof v->reason, format, ap);
        va_end(ap);
}

/* Whether some row's stored hash is hash (a link to a row elsewhere). */
static int hash_exists(enrichd *d, const char *hash, int64_t *ret_id) {
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (db_prepare(d->db, "SELECT id FROM audit WHERE hash = ? LIMIT 1", &st) < 0)
                return db_fail(d->db, "Failed to search the audit trail");
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
                *ret_id = sqlite3_column_int64(st, 0);
                r = 1;
        }
        db_release(d->db, st);
        return r;
}

/* Walks rows with id >= from (0: all). Rows before from are treated as
 * pruned, so the first row walked needs a checkpoint to anchor it unless it
 * is row 1. check_memory: compare the tail with what this process wrote. */
/* Continuing after row after_id (a previous page walked it): its stored
 * hash and link seed the walk. 0 when found, -ENOENT when it is gone. */
static int seed(enrichd *d, int64_t after_id, char hash[HASH_HEX + 1], char link[HASH_HEX + 1]) {
        sqlite3_stmt *st = NULL;
        int r = -ENOENT, step;

        if (db_prepare(d->db, "SELECT hash, prev_hash FROM audit WHERE id = ?", &st) < 0)
                return db_fail(d->db, "Failed to read the audit trail");
        sqlite3_bind_int64(st, 1, after_id);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
                snprintf(hash, HASH_HEX + 1, "%s", (const char *) sqlite3_column_text(st, 0) ?: "");
                snprintf(link, HASH_HEX + 1, "%s", (const char *) sqlite3_column_text(st, 1) ?: "");
                r = 0;
        } else if (step != SQLITE_DONE)
                r = db_fail(d->db, "Failed to read the audit trail");
        db_release(d->db, st);
        return r;
}

/* Walks rows with id >= from, or, with after_id > 0, the rows after
 * after_id (which an earlier page walked; seed_hash, when set, is the hash
 * it had then, and must still be), at most max_rows of them.
 * *ret_next (optional) gets the last row walked when more follow, else 0;
 * ret_hash (optional) that row's hash; only the last page checks the end
 * of the trail (checkpoints past it, check_memory: what this process
 * wrote). */
static int verify_page(enrichd *d, int64_t from, int64_t after_id, const char *seed_hash, int64_t max_rows,
                       bool check_memory, audit_verdict *v, int64_t *ret_next, char *ret_hash) {
        sqlite3_stmt *st = NULL;
        checkpoint *cps = NULL;
        size_t n_cps = 0, next_cp = 0;
        char prev_hash[HASH_HEX + 1] = "", prev_link[HASH_HEX + 1] = "", hash[HASH_HEX + 1];
        int64_t prev_id = 0, other = 0;
        bool seeded = false, more = false;
        int r, step;

        *v = (audit_verdict) { .ok = true };
        if (ret_next)
                *ret_next = 0;
        if (after_id > 0) {
                r = seed(d, after_id, prev_hash, prev_link);
                if (r == -ENOENT && !seed_hash && d->config->audit_retention_days > 0) {
                        /* Retention deletes a checkpoint interval at a
                         * time (prune_step) and may pass an admin's
                         * cursor between two pages: when every row up to
                         * it is gone, the walk starts again at the first
                         * row left, which a checkpoint must anchor, and
                         * says so (the sum of the pages starts again). */
                        int64_t first = 0;

                        r = db_query_int64(d->db, "SELECT coalesce(min(id), 0) FROM audit",
                                           "Failed to read the audit trail", &first, DB_NO_ARGS);
                        if (r == 0 && first > after_id) {
                                after_id = 0;
                                v->restarted = true;
                        } else if (r == 0)
                                r = -ENOENT;
                }
        }
        if (after_id > 0) {
                if (r == -ENOENT) {
                        fail_at(v, after_id, "deleted", "row %lld is missing", (long long) after_id);
                        r = 0;
                        goto out;
                }
                if (r < 0)
                        goto out;
                if (seed_hash && strcmp(prev_hash, seed_hash) != 0)
                        fail_at(v, after_id, "modified", "row %lld changed since it was verified",
                                (long long) after_id);
                from = after_id + 1;
                prev_id = after_id;
                v->last_id = after_id;
                seeded = true;
        }
        r = load_checkpoints(d, from, &cps, &n_cps);
        if (r < 0)
                goto out;
        if (db_prepare(d->db,
                       "SELECT id, time, actor_uid, actor_name, subject, action, result, details,"
                       " prev_hash, hash FROM audit WHERE id >= ? ORDER BY id",
                       &st) < 0) {
                r = db_fail(d->db, "Failed to read the audit trail");
                goto out;
        }
        sqlite3_bind_int64(st, 1, from);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (v->rows == max_rows) {
                        more = true;
                        break;
                }
                row cur = {
                        .id = sqlite3_column_int64(st, 0),
                        .time = sqlite3_column_int64(st, 1),
                        .actor_uid = sqlite3_column_type(st, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 2),
                        .actor_name = (const char *) sqlite3_column_text(st, 3),
                        .subject = (const char *) sqlite3_column_text(st, 4),
                        .action = (const char *) sqlite3_column_text(st, 5),
                        .result = (const char *) sqlite3_column_text(st, 6),
                        .details = (const char *) sqlite3_column_text(st, 7),
                        .prev_hash = (const char *) sqlite3_column_text(st, 8) ?: "",
                        .hash = (const char *) sqlite3_column_text(st, 9) ?: "",
                };
                const checkpoint *cp = NULL;
                bool content_ok;

                /* Both in id order: one pass over the checkpoints. */
                while (next_cp < n_cps && cps[next_cp].row_id < cur.id)
                        next_cp++;
                if (next_cp < n_cps && cps[next_cp].row_id == cur.id)
                        cp = &cps[next_cp];

                r = row_hash(&cur, hash);
                if (r < 0)
                        goto out;
                content_ok = strcmp(hash, cur.hash) == 0;
                if (v->rows == 0)
                        v->first_id = cur.id;
                if (v->rows == 0 && !seeded) {
                        /* The oldest retained row: row 1 starts from zeros;
                         * any later one is what retention left behind and a
                         * checkpoint must vouch for it. */
                        if (cur.id == 1 && strcmp(cur.prev_hash, ZERO_HASH) != 0)
                                fail_at(v, cur.id, content_ok ? "inserted" : "modified",
                                        "row 1 does not start the chain");
                        else if (cur.id > 1 && !(cp && strcmp(cp->head, cur.hash) == 0))
                                fail_at(v, cur.id - 1, "deleted",
                                        "rows before %lld are missing and no checkpoint anchors row %lld",
                                        (long long) cur.id, (long long) cur.id);
                        else if (!content_ok)
                                fail_at(v, cur.id, "modified", "row %lld does not match its hash", (long long) cur.id);
                } else if (cur.id != prev_id + 1) {
                        fail_at(v, prev_id + 1, "deleted", "row %lld is missing (row %lld follows row %lld)",
                                (long long) (prev_id + 1), (long long) cur.id, (long long) prev_id);
                } else if (strcmp(cur.prev_hash, prev_hash) != 0) {
                        if (strcmp(cur.prev_hash, prev_link) == 0)
                                fail_at(v, prev_id, "inserted",
                                        "row %lld was inserted: row %lld chains to the row before it",
                                        (long long) prev_id, (long long) cur.id);
                        else if (!v->ok)
                                ;       /* only the first problem is named: no search per row */
                        else if ((r = hash_exists(d, cur.prev_hash, &other)) > 0)
                                fail_at(v, cur.id, "reordered",
                                        "row %lld is out of order: it follows the row now stored as %lld",
                                        (long long) cur.id, (long long) other);
                        else if (r == 0)
                                fail_at(v, cur.id, "inserted",
                                        "row %lld does not chain to row %lld nor to any row held", (long long) cur.id,
                                        (long long) prev_id);
                        else
                                goto out;
                        r = 0;
                } else if (!content_ok)
                        fail_at(v, cur.id, "modified", "row %lld does not match its hash", (long long) cur.id);
                if (cp) {
                        if (!checkpoint_signed(d, cp))
                                fail_at(v, cp->row_id, "checkpoint",
                                        "the checkpoint at row %lld has a bad signature (key %s)",
                                        (long long) cp->row_id, cp->kid);
                        else if (strcmp(cp->head, cur.hash) != 0)
                                fail_at(v, cp->row_id, "checkpoint",
                                        "the checkpoint at row %lld does not match that row", (long long) cp->row_id);
                        else if (v->ok)
                                v->sealed_id = cp->row_id;
                        v->checkpoints++;
                }
                v->rows++;
                v->last_id = prev_id = cur.id;
                snprintf(prev_hash, sizeof prev_hash, "%s", cur.hash);
                snprintf(prev_link, sizeof prev_link, "%s", cur.prev_hash);
        }
        if (!more && step != SQLITE_DONE) {
                r = db_fail(d->db, "Failed to read the audit trail");
                goto out;
        }
        if (more) {
                if (ret_next)
                        *ret_next = prev_id;
                r = 0;
                goto out;
        }
        for (size_t i = 0; i < n_cps; i++)
                if (cps[i].row_id > v->last_id)
                        fail_at(v, v->last_id + 1, "deleted",
                                "rows from %lld on are missing; a checkpoint names row %lld",
                                (long long) (v->last_id + 1), (long long) cps[i].row_id);
        if (check_memory && d->audit && d->audit->written_id > 0) {
                audit *a = d->audit;
                if (v->last_id < a->written_id)
                        fail_at(v, v->last_id + 1, "deleted", "enrichd wrote rows up to %lld; they end at %lld",
                                (long long) a->written_id, (long long) v->last_id);
                else if (v->last_id > a->written_id)
                        fail_at(v, a->written_id + 1, "inserted",
                                "rows from %lld on were not written by this enrichd (it wrote up to %lld)",
                                (long long) (a->written_id + 1), (long long) a->written_id);
                else if (strcmp(prev_hash, a->written_hash) != 0)
                        fail_at(v, a->written_id, "modified", "row %lld is not the row enrichd wrote",
                                (long long) a->written_id);
        }
        r = 0;
out:
        if (ret_hash)
                snprintf(ret_hash, HASH_HEX + 1, "%s", prev_hash);
        checkpoints_free(cps, n_cps);
        db_release(d->db, st);
        return r;
}

/* ---- the newest checkpoint, outside the database ------------------------- */

/* AUDIT_HEAD_FILE holds, one "key value" a line: database (audit_origin's
 * id), row, head, time of the newest checkpoint. Deleting rows and
 * checkpoints from the end of the trail leaves a chain that verifies; the
 * record says where it ended. */
typedef struct head_record {
        char origin[65];
        int64_t row_id, time;
        char head[HASH_HEX + 1];
} head_record;

static int head_path(enrichd *d, char *buf, size_t size) {
        if ((size_t) snprintf(buf, size, "%s/%s", d->config->state_dir, AUDIT_HEAD_FILE) >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* This database's identity (migration 8), into out. */
static int read_origin(enrichd *d, char out[65]) {
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (db_prepare(d->db, "SELECT id FROM audit_origin LIMIT 1", &st) < 0)
                return db_fail(d->db, "Failed to read the database's identity");
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(out, 65, "%s", (const char *) sqlite3_column_text(st, 0));
        else
                r = db_fail(d->db, "Failed to read the database's identity");
        db_release(d->db, st);
        return r;
}

static int parse_int64(const char *text, int64_t *ret) {
        char *end = NULL;
        long long v;

        errno = 0;
        v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* -ENOENT: no record; -EBADMSG: not one this daemon wrote. */
static int head_read(enrichd *d, head_record *ret) {
        char path[PATH_MAX], line[256], key[16], value[128];
        head_record h = { 0 };
        unsigned seen = 0;
        FILE *f = NULL;
        int r;

        r = head_path(d, path, sizeof path);
        if (r < 0)
                return r;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                if (line[0] == '#' || line[0] == '\n')
                        continue;
                if (sscanf(line, "%15s %127s", key, value) != 2)
                        break;
                if (strcmp(key, "database") == 0 && strlen(value) < sizeof h.origin) {
                        strcpy(h.origin, value);
                        seen |= 1;
                } else if (strcmp(key, "row") == 0 && parse_int64(value, &h.row_id) == 0 && h.row_id > 0)
                        seen |= 2;
                else if (strcmp(key, "head") == 0 && strlen(value) == HASH_HEX) {
                        strcpy(h.head, value);
                        seen |= 4;
                } else if (strcmp(key, "time") == 0 && parse_int64(value, &h.time) == 0)
                        seen |= 8;
        }
        fclose(f);
        if (seen != 15)
                return -EBADMSG;
        *ret = h;
        return 0;
}

static int head_write(enrichd *d, int64_t row_id, const char *head, int64_t when) {
        char path[PATH_MAX], origin[65], *text = NULL;
        int r, n;

        r = head_path(d, path, sizeof path);
        if (r < 0 || (r = read_origin(d, origin)) < 0)
                return r;
        n = asprintf(&text,
                     "# enrichd: the newest audit checkpoint, kept outside the database (enrichd(8))\n"
                     "database %s\nrow %lld\nhead %s\ntime %lld\n",
                     origin, (long long) row_id, head, (long long) when);
        if (n < 0)
                return -ENOMEM;
        /* write_file_atomic fsyncs the directory too: the rename is what
         * must survive a crash. */
        r = write_file_atomic(path, text, (size_t) n, 0600);
        free(text);
        return r;
}

/* Compares the trail with AUDIT_HEAD_FILE: the checkpoint it records must
 * still be there, sealing the same row. A record of another database (a
 * new one) is not compared; *ret_other says so. */
static int head_compare(enrichd *d, audit_verdict *v, bool *ret_other) {
        char origin[65], path[PATH_MAX];
        sqlite3_stmt *st = NULL;
        head_record h;
        int64_t last = 0;
        bool sealed = false;
        int r;

        *ret_other = false;
        r = head_read(d, &h);
        if (r == -ENOENT)
                return 0;
        (void) head_path(d, path, sizeof path);
        if (r < 0) {
                fail_at(v, 0, "truncated", "%s cannot be read (%s): the end of the trail cannot be checked", path,
                        strerror(-r));
                return 0;
        }
        r = read_origin(d, origin);
        if (r < 0)
                return r;
        if (strcmp(origin, h.origin) != 0) {
                *ret_other = true;
                return 0;
        }
        if (db_prepare(d->db,
                       "SELECT (SELECT count(*) FROM audit_checkpoints c JOIN audit a ON a.id = c.row_id"
                       "        WHERE c.row_id = ?1 AND c.head = ?2 AND a.hash = ?2),"
                       " (SELECT coalesce(max(id), 0) FROM audit)",
                       &st) < 0)
                return db_fail(d->db, "Failed to read the audit trail");
        sqlite3_bind_int64(st, 1, h.row_id);
        sqlite3_bind_text(st, 2, h.head, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_ROW) {
                r = db_fail(d->db, "Failed to read the audit trail");
                goto out;
        }
        sealed = sqlite3_column_int64(st, 0) > 0;
        last = sqlite3_column_int64(st, 1);
        if (sealed)
                goto out;
        if (last < h.row_id)
                fail_at(v, last + 1, "truncated",
                        "rows from %lld on are missing: the trail ends at row %lld, but enrichd sealed row %lld"
                        " (%s)",
                        (long long) (last + 1), (long long) last, (long long) h.row_id, path);
        else
                fail_at(v, h.row_id, "truncated",
                        "the checkpoint enrichd sealed at row %lld (%s) is gone: the trail was cut and rewritten"
                        " from there",
                        (long long) h.row_id, path);
out:
        db_release(d->db, st);
        return r;
}

int audit_verify(enrichd *d, int64_t after_id, audit_verdict *ret, int64_t *ret_next) {
        bool other;
        int r = verify_page(d, 0, after_id, NULL, AUDIT_VERIFY_PAGE, true, ret, ret_next, NULL);

        if (r == 0 && *ret_next == 0)
                r = head_compare(d, ret, &other);
        return r;
}

/* ---- checkpoints and retention ------------------------------------------------ */

/* Retention. Rows older than audit_retention_days go, up to the newest
 * checkpoint that only old rows precede, whose row stays as the anchor. A
 * run is due after each checkpoint is published, when AUDIT_HEAD_FILE
 * names the newest (not at start: a stop between a checkpoint's commit and
 * its record leaves the file naming an older one, which verify holds the
 * trail to). The tick makes one step of a run at a time (prune_tick), and
 * each step deletes the rows before the oldest checkpoint past the first
 * row and within the trail, if they are all old: one checkpoint interval
 * (audit_checkpoint_rows), however much is due. So the first row left is
 * always a checkpoint's, as verify needs (a paged verify whose cursor a
 * step deleted starts again there), and turning retention on for a long
 * trail does not hold calls up for the seconds that deleting it at once
 * takes (about 3.6 us a row). Every query of a step walks that interval
 * only. Returns 1 after a step that deleted rows, 0 when the run is over,
 * negative on failure. */
const char audit_prune_next_sql[] =
        "SELECT min(row_id) FROM audit_checkpoints WHERE row_id > (SELECT coalesce(min(id), 0) FROM audit)"
        " AND row_id <= (SELECT coalesce(max(id), 0) FROM audit)";
/* By rowid from the first row: the time index would walk every recent row. */
const char audit_prune_recent_sql[] = "SELECT EXISTS (SELECT 1 FROM audit NOT INDEXED WHERE id < ?1 AND time >= ?2)";

static int prune_step(enrichd *d) {
        sqlite3_stmt *st = NULL;
        int64_t cutoff = clock_now() - (int64_t) d->config->audit_retention_days * 86400, step_to = 0;
        int r = 0, deleted = 0;

        if (db_prepare(d->db, audit_prune_next_sql, &st) < 0 || sqlite3_step(st) != SQLITE_ROW) {
                r = db_fail(d->db, "Failed to find the audit rows retention removes");
                goto out;
        }
        step_to = sqlite3_column_int64(st, 0);
        db_release(d->db, st);
        st = NULL;
        if (step_to <= 1)
                goto out;
        if (db_prepare(d->db, audit_prune_recent_sql, &st) < 0 || sqlite3_bind_int64(st, 1, step_to) != SQLITE_OK ||
            sqlite3_bind_int64(st, 2, cutoff) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
                r = db_fail(d->db, "Failed to find the audit rows retention removes");
                goto out;
        }
        if (sqlite3_column_int(st, 0) != 0)
                goto out;
        db_release(d->db, st);
        st = NULL;
        if ((r = db_begin(d->db)) < 0)
                goto out;
        if ((r = db_prepare(d->db, "DELETE FROM audit WHERE id < ?", &st)) < 0 ||
            sqlite3_bind_int64(st, 1, step_to) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
                r = db_fail(d->db, "Failed to prune the audit trail");
                db_rollback(d->db);
                goto out;
        }
        deleted = sqlite3_changes(db_handle(d->db));
        d->audit->pruned += deleted;
        db_release(d->db, st);
        st = NULL;
        if ((r = db_prepare(d->db, "DELETE FROM audit_checkpoints WHERE row_id < ?", &st)) < 0 ||
            sqlite3_bind_int64(st, 1, step_to) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
                r = db_fail(d->db, "Failed to prune audit checkpoints");
                db_rollback(d->db);
                goto out;
        }
        if ((r = db_commit(d->db)) < 0)
                goto out;
        d->audit->prune_anchor = step_to;
        r = deleted > 0;
out:
        db_release(d->db, st);
        return r;
}

static job_state job_get(audit *a);

/* A step of the due run, between the automatic checkpoint's jobs (the
 * worker reads the trail meanwhile); the run's one log line at its end. */
static void prune_tick(enrichd *d) {
        audit *a = d->audit;
        int r;

        /* Nor past a checkpoint not known durable (unsealed_id): a failed
         * sync leaves audit.head naming the one before, which a step could
         * delete. */
        if (!a->prune_due || (a->worker_running && job_get(a) != JOB_NONE) || a->unsealed_id != 0)
                return;
        r = d->config->audit_retention_days > 0 ? prune_step(d) : 0;
        if (r > 0)
                return;
        if (r < 0)
                log_failure("retention", db_last_error(d->db));
        else if (a->pruned > 0)
                log_struct(
                        LOG_INFO, LOG_MSGID_AUDIT_AUDIT_CHECKPOINT, NULL,
                        "Audit trail: pruned %lld rows older than %u days; the checkpoint at row %lld anchors the rest",
                        (long long) a->pruned, d->config->audit_retention_days, (long long) a->prune_anchor);
        a->prune_due = false;
        a->prune_anchor = 0;
        a->pruned = 0;
}

/* The newest checkpoint whose row is still there (0: none): only what came
 * after it needs checking, what came before was checked when it was
 * signed. */
static int64_t newest_checkpoint_row(enrichd *d) {
        sqlite3_stmt *last = NULL;
        int64_t from = 0;

        if (db_prepare(d->db,
                       "SELECT coalesce(max(row_id), 0) FROM audit_checkpoints"
                       " WHERE row_id IN (SELECT id FROM audit)",
                       &last) == 0 &&
            sqlite3_step(last) == SQLITE_ROW)
                from = sqlite3_column_int64(last, 0);
        db_release(d->db, last);
        return from;
}

/* Appends the checkpoint row after the head, signs it and stores the
 * signature: a trail the caller verified up to the head. durable: the
 * commit syncs (else the worker syncs the WAL before anything names the
 * row). *ret gets the checkpoint. */
static int seal(enrichd *d, const struct ucred *peer, const char *why, int64_t now, bool durable, audit_anchor *ret,
                char **ret_error) {
        audit *a = d->audit;
        sqlite3_stmt *st;
        unsigned char message[24 + 8 + 32 + 8], signature[SIGNER_SIGNATURE_LENGTH];
        char signature_hex[2 * SIGNER_SIGNATURE_LENGTH + 1] = "", hash[HASH_HEX + 1] = "", *name = NULL;
        int64_t id = 0;
        int r;

        r = durable ? db_begin_durable(d->db) : db_begin(d->db);
        if (r < 0)
                goto out;
        if (peer && identity_user_name(peer->uid, &name) < 0)
                name = NULL;
        {
                json_t *details = json_pack("{s:s, s:I}", "why", why, "rows", (json_int_t) a->since_checkpoint);
                char *text = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                row in = { .time = now,
                           .actor_uid = peer ? (int64_t) peer->uid : -1,
                           .actor_name = peer ? (name ? name : "?") : "enrichd",
                           .action = AUDIT_CHECKPOINT,
                           .result = AUDIT_OK,
                           .details = text };
                r = text ? append(d, &in, &id, hash) : -ENOMEM;
                if (r == 0)
                        journal(&in, id, NULL, NULL, NULL);
                free(text);
                json_decref(details);
        }
        if (r == 0 && ((r = checkpoint_message(id, hash, now, message)) < 0 ||
                       (r = signer_sign_bytes(d->signer, message, sizeof message, signature)) < 0))
                db_fail(d->db, "Failed to sign the audit checkpoint");
        if (r == 0) {
                st = a->insert_checkpoint;
                hex_encode(signature, sizeof signature, signature_hex);
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st, 3, now);
                sqlite3_bind_text(st, 4, signer_kid(d->signer), -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 5, signature_hex, -1, SQLITE_TRANSIENT);
                r = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(d->db, "Failed to store the audit checkpoint");
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
        }
        if (r == 0)
                r = db_commit(d->db);
        if (r < 0) {
                db_rollback(d->db);
                log_failure("checkpoint", db_last_error(d->db));
                if (ret_error)
                        *ret_error = strdup(db_last_error(d->db));
                goto out;
        }
        a->written_id = id;
        strcpy(a->written_hash, hash);
        a->since_checkpoint = 0;
        a->last_checkpoint = now;
        a->bad_retry_at = a->bad_backoff = 0;
        *ret = (audit_anchor) { .row_id = id, .time = now };
        snprintf(ret->head, sizeof ret->head, "%s", hash);
        snprintf(ret->kid, sizeof ret->kid, "%s", signer_kid(d->signer));
        snprintf(ret->signature, sizeof ret->signature, "%s", signature_hex);
out:
        free(name);
        return r;
}

/* A checkpoint whose row is durable and whose record outside the database
 * is written (or failed, logged): the head and its signature go to the
 * journal, a witness outside the database for an admin comparing after
 * the fact; fleet mode publishes it, for the trail to be held to it later.
 * Then a retention run is due (prune_tick). */
static void publish(enrichd *d, bool by_admin, const char *why, const audit_anchor *c) {
        char idtext[32];

        snprintf(idtext, sizeof idtext, "%lld", (long long) c->row_id);
        log_struct(LOG_INFO, LOG_MSGID_AUDIT_AUDIT_CHECKPOINT,
                   (const char *[]) { "ENRICH_ACTION", AUDIT_CHECKPOINT, "ENRICH_AUDIT_ROW", idtext,
                                      "ENRICH_AUDIT_HEAD", c->head, "ENRICH_AUDIT_SIGNATURE", c->signature,
                                      "ENRICH_KID", c->kid, NULL },
                   "Audit checkpoint at row %lld (%s): head %s", (long long) c->row_id, why, c->head);
        if (d->checkpoint_made)
                d->checkpoint_made(d, c, by_admin);
        d->audit->prune_due = true;
}

/* ---- the worker: an automatic checkpoint's slow parts ------------------------ */

static void job_set(audit *a, job_state job) {
        pthread_mutex_lock(&a->lock);
        a->job = job;
        pthread_cond_broadcast(&a->wake);
        pthread_mutex_unlock(&a->lock);
}

static job_state job_get(audit *a) {
        job_state job;

        pthread_mutex_lock(&a->lock);
        job = a->job;
        pthread_mutex_unlock(&a->lock);
        return job;
}

/* VERIFY: verify_page on the worker's connection, each round in one read
 * transaction (a snapshot: rows the main thread appends meanwhile are not
 * walked; the next round walks them, chained to the hash this one saw,
 * and the main thread the last few). job_after 0: from the newest
 * checkpoint (found here too: only the main thread writes checkpoints, and
 * not while a job is under way). Without the daemon's signer: a checkpoint
 * signed by a key the database does not record fails here, and the main
 * thread's own checkpoint judges it. */
static void worker_verify(audit *a) {
        enrichd shadow = { 0 };
        int64_t head;
        int r;

        a->job_verdict = (audit_verdict) { .ok = false };
        a->job_hash[0] = '\0';
        if (!a->reader) {
                r = db_open_reader(a->db_path, &a->reader);
                if (r < 0) {
                        a->job_r = r;
                        return;
                }
        }
        shadow.db = a->reader;
        for (int round = 0; round < CHECKPOINT_ROUNDS; round++) {
                if (sqlite3_exec(db_handle(a->reader), "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
                        a->job_r = -EIO;
                        return;
                }
                if (a->job_after == 0)
                        a->job_from = newest_checkpoint_row(&shadow);
                a->job_r = verify_page(&shadow, a->job_from, a->job_after, a->job_after > 0 ? a->job_seed : NULL,
                                       INT64_MAX, false, &a->job_verdict, NULL, a->job_hash);
                (void) sqlite3_exec(db_handle(a->reader), "COMMIT", NULL, NULL, NULL);
                if (a->job_r < 0 || !a->job_verdict.ok || a->job_verdict.last_id <= 0 ||
                    db_query_int64(a->reader, "SELECT coalesce(max(id), 0) FROM audit", "head", &head, DB_NO_ARGS) <
                            0 ||
                    head - a->job_verdict.last_id <= CHECKPOINT_CATCH_UP_ROWS)
                        return;
                a->job_from = 0;
                a->job_after = a->job_verdict.last_id;
                snprintf(a->job_seed, sizeof a->job_seed, "%s", a->job_hash);
        }
}

/* SEAL: the checkpoint row was committed without an fsync; syncing the WAL
 * it was written to makes it durable (a checkpoint that copied it into the
 * database first synced it there), and only then may the record outside
 * the database name it. job_r: the sync's result; the record's in
 * job_verdict.ok (false: job_verdict.reason says why). */
static void worker_seal(audit *a) {
        int fd, r = 0;

        a->job_verdict = (audit_verdict) { .ok = true };
        fd = open(a->wal_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fdatasync(fd) < 0)
                r = -errno;
        if (fd >= 0)
                close(fd);
        a->job_r = r;
        if (r == 0 && a->job_head_text) {
                r = write_file_atomic(a->job_head_path, a->job_head_text, strlen(a->job_head_text), 0600);
                if (r < 0) {
                        a->job_verdict.ok = false;
                        snprintf(a->job_verdict.reason, sizeof a->job_verdict.reason, "%s", strerror(-r));
                }
        }
}

static void *checkpoint_worker(void *userdata) {
        audit *a = userdata;

        pthread_mutex_lock(&a->lock);
        for (;;) {
                job_state job;

                while (!a->stopping && a->job != JOB_VERIFY && a->job != JOB_SEAL)
                        pthread_cond_wait(&a->wake, &a->lock);
                if (a->stopping)
                        break;
                job = a->job;
                pthread_mutex_unlock(&a->lock);
                if (job == JOB_VERIFY)
                        worker_verify(a);
                else
                        worker_seal(a);
                pthread_mutex_lock(&a->lock);
                a->job = job == JOB_VERIFY ? JOB_VERIFIED : JOB_SEALED;
                pthread_cond_broadcast(&a->done);
        }
        pthread_mutex_unlock(&a->lock);
        db_close(a->reader);
        a->reader = NULL;
        row_hash_release();
        return NULL;
}

static void worker_start(enrichd *d) {
        audit *a = d->audit;
        const char *path = sqlite3_db_filename(db_handle(d->db), "main");

        if (!path || !*path || !(a->db_path = strdup(path)) || asprintf(&a->wal_path, "%s-wal", path) < 0) {
                a->wal_path = NULL;
                return;
        }
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->wake, NULL);
        pthread_cond_init(&a->done, NULL);
        a->worker_running = background_thread_start(&a->worker, checkpoint_worker, a) == 0;
        if (!a->worker_running) {
                pthread_cond_destroy(&a->done);
                pthread_cond_destroy(&a->wake);
                pthread_mutex_destroy(&a->lock);
        }
}

static void worker_stop(audit *a) {
        if (!a->worker_running)
                return;
        pthread_mutex_lock(&a->lock);
        a->stopping = true;
        pthread_cond_broadcast(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->worker, NULL);
        pthread_cond_destroy(&a->done);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        a->worker_running = false;
}

/* SEALED: the record's outcome, then publish (only a row known durable). */
static void finish_seal(enrichd *d) {
        audit *a = d->audit;

        if (a->job_r < 0) {
                /* Not known durable: it stays out of audit.head, the
                 * journal and the fleet (unsealed_id) until a later
                 * checkpoint takes its place, as a failed durable commit
                 * of the main thread's did. */
                log_failure("checkpoint", strerror(-a->job_r));
        } else {
                if (a->job_head_text && !a->job_verdict.ok)
                        log_failure("checkpoint record", a->job_verdict.reason);
                else if (a->job_head_text)
                        a->truncated = false;
                a->unsealed_id = 0;
                publish(d, false, a->job_why, &a->job_anchor);
        }
        free(a->job_head_path);
        free(a->job_head_text);
        a->job_head_path = a->job_head_text = NULL;
        job_set(a, JOB_NONE);
}

/* Waits for the worker's job (a checkpoint of the main thread's must not
 * interleave with it): a verdict is dropped, a sealed checkpoint published. */
static void worker_drain(enrichd *d) {
        audit *a = d->audit;

        if (!a->worker_running)
                return;
        pthread_mutex_lock(&a->lock);
        while (a->job == JOB_VERIFY || a->job == JOB_SEAL)
                pthread_cond_wait(&a->done, &a->lock);
        pthread_mutex_unlock(&a->lock);
        if (job_get(a) == JOB_SEALED)
                finish_seal(d);
        job_set(a, JOB_NONE);
}

/* sqlite's count of commits by other connections than the main one, or
 * -1. The daemon makes none (its checkpointer only copies pages): any
 * change is a writer outside the daemon. */
static int64_t data_version(enrichd *d) {
        int64_t v = -1;

        if (db_query_int64(d->db, "PRAGMA data_version", "Failed to read the data version", &v, DB_NO_ARGS) < 0)
                return -1;
        return v;
}

/* Whether an automatic checkpoint may be tried now (bad_retry_at). */
static bool checkpoint_may_retry(enrichd *d) {
        audit *a = d->audit;

        return clock_now() >= a->bad_retry_at || data_version(d) != a->bad_data_version;
}

static int checkpoint_sync(enrichd *d, const struct ucred *peer, const char *why, int64_t *ret_row_id,
                           char **ret_error);

/* VERIFIED: the rows written meanwhile are verified here, chained to the
 * last row the worker verified as it was then (many: the worker first);
 * then the row is appended and signed, and the worker seals it. Any doubt
 * (a failed or bad verdict) goes to the main thread's own checkpoint,
 * which verifies everything again and refuses, or logs, as it always did. */
static void finish_verify(enrichd *d) {
        audit *a = d->audit;
        char path[PATH_MAX], origin[65], *text = NULL;
        audit_verdict v;
        int r;

        /* The row must commit on its own, now: the worker syncs what is
         * committed. (The tick runs after the turn's commit.) */
        if (db_in_transaction(d->db) || db_batch_pending(d->db))
                return;
        if (a->job_r < 0 || !a->job_verdict.ok || a->job_verdict.rows == 0 || a->job_verdict.last_id <= 0) {
                job_set(a, JOB_NONE);
                (void) checkpoint_sync(d, NULL, a->job_why, NULL, NULL);
                return;
        }
        if (a->written_id - a->job_verdict.last_id > CHECKPOINT_TAIL_ROWS) {
                a->job_from = 0;
                a->job_after = a->job_verdict.last_id;
                snprintf(a->job_seed, sizeof a->job_seed, "%s", a->job_hash);
                job_set(a, JOB_VERIFY);
                return;
        }
        job_set(a, JOB_NONE);
        /* A writer outside the daemon since the job began: the rows the
         * worker verified may have changed since, so all of them are
         * verified again here, before anything is signed. */
        if (a->job_data_version < 0 || data_version(d) != a->job_data_version) {
                (void) checkpoint_sync(d, NULL, a->job_why, NULL, NULL);
                return;
        }
        r = verify_page(d, 0, a->job_verdict.last_id, a->job_hash, INT64_MAX, true, &v, NULL, NULL);
        if (r < 0 || !v.ok) {
                (void) checkpoint_sync(d, NULL, a->job_why, NULL, NULL);
                return;
        }
        a->in_checkpoint = true;
        r = seal(d, NULL, a->job_why, clock_now(), false, &a->job_anchor, NULL);
        a->in_checkpoint = false;
        if (r < 0)
                return;
        a->unsealed_id = a->job_anchor.row_id;
        /* The record outside the database follows, unless it names a
         * truncation no admin has seen yet (checkpoint_sync). */
        if (!a->truncated && head_path(d, path, sizeof path) == 0 && read_origin(d, origin) == 0 &&
            asprintf(&text,
                     "# enrichd: the newest audit checkpoint, kept outside the database (enrichd(8))\n"
                     "database %s\nrow %lld\nhead %s\ntime %lld\n",
                     origin, (long long) a->job_anchor.row_id, a->job_anchor.head,
                     (long long) a->job_anchor.time) >= 0) {
                a->job_head_path = strdup(path);
                a->job_head_text = text;
                if (!a->job_head_path) {
                        free(a->job_head_text);
                        a->job_head_text = NULL;
                }
        } else if (!a->truncated)
                log_failure("checkpoint record", "cannot prepare it");
        job_set(a, JOB_SEAL);
}

/* From the tick: starts an automatic checkpoint when one is due, and moves
 * the one under way on. */
static void checkpoint_step(enrichd *d) {
        audit *a = d->audit;

        switch (job_get(a)) {
        case JOB_NONE:
                if (!checkpoint_may_retry(d))
                        return;
                if (a->since_checkpoint >= d->config->audit_checkpoint_rows)
                        a->job_why = "rows";
                else if (a->since_checkpoint > 0 &&
                         clock_now() - a->last_checkpoint >= d->config->audit_checkpoint_seconds)
                        a->job_why = "interval";
                else
                        return;
                a->job_from = 0;
                a->job_after = 0;
                a->job_data_version = data_version(d);
                job_set(a, JOB_VERIFY);
                break;
        case JOB_VERIFIED: finish_verify(d); break;
        case JOB_SEALED: finish_seal(d); break;
        default: break;
        }
}

/* The checkpoint an admin asks for, at shutdown, and any the worker could
 * not make: all on this thread, as one step. */
static int checkpoint_sync(enrichd *d, const struct ucred *peer, const char *why, int64_t *ret_row_id,
                           char **ret_error) {
        audit *a = d->audit;
        audit_anchor c;
        audit_verdict v;
        int r;

        if (!a || a->in_checkpoint)
                return -EBUSY;
        worker_drain(d);
        a->in_checkpoint = true;
        r = verify_page(d, newest_checkpoint_row(d), 0, NULL, INT64_MAX, true, &v, NULL, NULL);
        if (r < 0)
                goto out;
        if (!v.ok) {
                if (!peer) {
                        a->bad_backoff = a->bad_backoff == 0                               ? AUDIT_BAD_TRAIL_RETRY_MIN
                                         : a->bad_backoff >= AUDIT_BAD_TRAIL_RETRY_MAX / 2 ? AUDIT_BAD_TRAIL_RETRY_MAX
                                                                                           : 2 * a->bad_backoff;
                        a->bad_retry_at = clock_now() + a->bad_backoff;
                        a->bad_data_version = data_version(d);
                }
                log_struct(LOG_ERR, LOG_MSGID_AUDIT_AUDIT_FAILURE, NULL,
                           "Audit trail: refusing to sign a checkpoint: %s%s", v.reason,
                           peer ? "" : "; the next automatic one is tried in a while (enrichd(8))");
                if (ret_error && asprintf(ret_error, "the audit trail does not verify: %s", v.reason) < 0)
                        *ret_error = NULL;
                r = -EBADMSG;
                goto out;
        }
        /* Durable: audit.head, fsynced below, names this row, and must
         * never name one that a power loss took back (a false truncation). */
        r = seal(d, peer, why, clock_now(), true, &c, ret_error);
        if (r < 0)
                goto out;
        /* The record outside the database follows, unless it names a
         * truncation no admin has seen yet: only an admin's checkpoint
         * (peer set) accepts the trail as it now stands. */
        if (!a->truncated || peer) {
                int w = head_write(d, c.row_id, c.head, c.time);
                if (w < 0)
                        log_failure("checkpoint record", strerror(-w));
                else
                        a->truncated = false;
        }
        if (ret_row_id)
                *ret_row_id = c.row_id;
        publish(d, peer != NULL, why, &c);
out:
        a->in_checkpoint = false;
        return r;
}

int audit_checkpoint(enrichd *d, const struct ucred *peer, const char *why, int64_t *ret_row_id, char **ret_error) {
        return checkpoint_sync(d, peer, why, ret_row_id, ret_error);
}

int audit_newest_checkpoint(enrichd *d, audit_anchor *ret) {
        sqlite3_stmt *st = NULL;
        audit_anchor a = { 0 };
        int r = 0, step;

        if (db_prepare(d->db,
                       "SELECT row_id, head, time, kid, signature FROM audit_checkpoints"
                       " WHERE row_id <> ? ORDER BY row_id DESC LIMIT 1",
                       &st) < 0)
                return db_fail(d->db, "Failed to read the audit checkpoints");
        sqlite3_bind_int64(st, 1, d->audit ? d->audit->unsealed_id : 0);
        step = sqlite3_step(st);
        if (step == SQLITE_DONE)
                r = -ENOENT;
        else if (step != SQLITE_ROW)
                r = db_fail(d->db, "Failed to read the audit checkpoints");
        else {
                a.row_id = sqlite3_column_int64(st, 0);
                a.time = sqlite3_column_int64(st, 2);
                snprintf(a.head, sizeof a.head, "%s", (const char *) sqlite3_column_text(st, 1) ?: "");
                snprintf(a.kid, sizeof a.kid, "%s", (const char *) sqlite3_column_text(st, 3) ?: "");
                snprintf(a.signature, sizeof a.signature, "%s", (const char *) sqlite3_column_text(st, 4) ?: "");
                *ret = a;
        }
        db_release(d->db, st);
        return r;
}

int audit_check_anchor(enrichd *d, const audit_anchor *anchor, audit_verdict *v, bool *ret_compared) {
        sqlite3_stmt *st = NULL;
        int64_t sealed = 0, first = 0;
        int r = 0;

        *ret_compared = false;
        if (db_prepare(d->db,
                       "SELECT (SELECT count(*) FROM audit_checkpoints c JOIN audit a ON a.id = c.row_id"
                       "        WHERE c.row_id = ?1 AND c.head = ?2 AND a.hash = ?2 AND c.time = ?3"
                       "        AND c.kid = ?4 AND c.signature = ?5),"
                       " (SELECT coalesce(min(id), 0) FROM audit)",
                       &st) < 0)
                return db_fail(d->db, "Failed to read the audit trail");
        sqlite3_bind_int64(st, 1, anchor->row_id);
        sqlite3_bind_text(st, 2, anchor->head, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, anchor->time);
        sqlite3_bind_text(st, 4, anchor->kid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, anchor->signature, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_ROW) {
                r = db_fail(d->db, "Failed to read the audit trail");
                goto out;
        }
        sealed = sqlite3_column_int64(st, 0);
        first = sqlite3_column_int64(st, 1);
        if (sealed > 0) {
                *ret_compared = true;
                goto out;
        }
        /* Pruned past it: retention, not tampering (the rows kept are
         * anchored by a later checkpoint, which verify checked). */
        if (first > anchor->row_id)
                goto out;
        *ret_compared = true;
        fail_at(v, anchor->row_id, "anchor",
                "the checkpoint this host published to etcd, sealing row %lld with head %.16s... at %lld, is not in"
                " this trail: the database was rewritten or cut since",
                (long long) anchor->row_id, anchor->head, (long long) anchor->time);
out:
        db_release(d->db, st);
        return r;
}

bool audit_checkpoint_under_way(enrichd *d) {
        return d->audit && d->audit->worker_running && job_get(d->audit) != JOB_NONE;
}

void audit_after_turn(enrichd *d) {
        audit *a = d->audit;
        job_state job;

        if (!a || !a->worker_running)
                return;
        job = job_get(a);
        if (job == JOB_VERIFIED)
                finish_verify(d);
        else if (job == JOB_SEALED)
                finish_seal(d);
}

void audit_tick(enrichd *d) {
        audit *a = d->audit;

        audit_flush_refusals(d, false);
        if (a)
                prune_tick(d);
        if (a && a->worker_running)
                checkpoint_step(d);
        else if (a && a->since_checkpoint > 0 &&
                 clock_now() - a->last_checkpoint >= d->config->audit_checkpoint_seconds && checkpoint_may_retry(d))
                (void) audit_checkpoint(d, NULL, "interval", NULL, NULL);
}

/* ---- listing ------------------------------------------------------------------- */

static char *dup_text(sqlite3_stmt *st, int column, const char *fallback) {
        const char *t = (const char *) sqlite3_column_text(st, column);

        return t ? strdup(t) : fallback ? strdup(fallback) : NULL;
}

/* The row into *e; -ENOMEM leaves nothing to free. */
static int entry_load(sqlite3_stmt *st, audit_entry *e) {
        audit_entry loaded = {
                .id = sqlite3_column_int64(st, 0),
                .time = sqlite3_column_int64(st, 1),
                .has_actor_uid = sqlite3_column_type(st, 2) != SQLITE_NULL,
                .actor_uid = sqlite3_column_int64(st, 2),
                .actor = dup_text(st, 3, ""),
                .user = dup_text(st, 4, NULL),
                .action = dup_text(st, 5, ""),
                .result = dup_text(st, 6, ""),
                .details = dup_text(st, 7, "{}"),
                .hash = dup_text(st, 8, ""),
        };

        if (!loaded.actor || !loaded.action || !loaded.result || !loaded.details || !loaded.hash ||
            (sqlite3_column_type(st, 4) != SQLITE_NULL && !loaded.user)) {
                audit_entry_clear(&loaded);
                return -ENOMEM;
        }
        *e = loaded;
        return 0;
}

void audit_entry_clear(audit_entry *e) {
        if (!e)
                return;
        free(e->actor);
        free(e->user);
        free(e->action);
        free(e->result);
        free(e->details);
        free(e->hash);
        *e = (audit_entry) { 0 };
}

/* The listing statements, one per filter combination and direction:
 * every filter is an index's equality (audit_subject, audit_action,
 * audit_subject_action, all ending in id) or the rowid range, so a page
 * costs its rows whatever the table holds; since becomes the id range
 * (audit_since_sql) and its per-row check (+time: not an index choice);
 * until likewise (audit_until_sql). result is checked row by row over the
 * range the others pick: it has a handful of values, too few to index.
 * Index: user 1, action 2, since 4, descending 8. */
#define LIST_SELECT \
        "SELECT id, time, actor_uid, actor_name, subject, action, result, details, hash" \
        " FROM audit WHERE id > ?1 AND id < ?2 AND +time <= ?8 AND (?7 IS NULL OR +result = ?7)"
#define LIST_USER   " AND subject = ?4"
#define LIST_ACTION " AND action = ?5"
#define LIST_SINCE  " AND +time >= ?3"
#define LIST_ASC    " ORDER BY id LIMIT ?6"
#define LIST_DESC   " ORDER BY id DESC LIMIT ?6"
#define LIST_4(since, order) \
        LIST_SELECT since order, LIST_SELECT LIST_USER since order, LIST_SELECT LIST_ACTION since order, \
                LIST_SELECT LIST_USER LIST_ACTION since order
static const char *const list_statements[16] = {
        LIST_4("", LIST_ASC),
        LIST_4(LIST_SINCE, LIST_ASC),
        LIST_4("", LIST_DESC),
        LIST_4(LIST_SINCE, LIST_DESC),
};

const char audit_since_sql[] = "SELECT id FROM audit WHERE time >= ?1 ORDER BY time, id LIMIT 1";
const char audit_until_sql[] = "SELECT id FROM audit WHERE time > ?1 ORDER BY time, id LIMIT 1";

const char *audit_list_sql(bool user, bool action, bool since, bool descending) {
        return list_statements[(user ? 1 : 0) | (action ? 2 : 0) | (since ? 4 : 0) | (descending ? 8 : 0)];
}

/* The first row written at or after since (audit_since_sql), or after
 * until (audit_until_sql), by the time index: the earliest such stamp,
 * which is the first such row unless the clock was set back; 0: none. */
static int time_row(enrichd *d, const char *sql, int64_t since, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r = 0, step;

        if (db_prepare(d->db, sql, &st) < 0)
                return db_fail(d->db, "Failed to prepare the audit listing");
        sqlite3_bind_int64(st, 1, since);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        else if (step == SQLITE_DONE)
                *ret = 0;
        else
                r = db_fail(d->db, "Failed to list the audit trail");
        db_release(d->db, st);
        return r;
}

int audit_list(enrichd *d, const audit_query *q, int (*fn)(void *userdata, const audit_entry *entry), void *userdata) {
        sqlite3_stmt *st = NULL;
        audit_entry e = { 0 };
        int64_t lo = 0, hi = INT64_MAX, first = 0, past = 0;
        int r = 0, step;

        if (!q->descending)
                lo = q->from_id;
        else if (q->from_id > 0)
                hi = q->from_id;
        if (q->since > 0) {
                r = time_row(d, audit_since_sql, q->since, &first);
                if (r < 0 || first == 0)
                        goto out;
                if (first - 1 > lo)
                        lo = first - 1;
        }
        if (q->until > 0) {
                r = time_row(d, audit_until_sql, q->until, &past);
                if (r < 0)
                        goto out;
                if (past > 0 && past < hi)
                        hi = past;
        }
        r = db_prepare(d->db, audit_list_sql(q->user, q->action, q->since > 0, q->descending), &st);
        if (r < 0)
                goto out;
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
        sqlite3_bind_int64(st, 3, q->since);
        db_bind_text(st, 4, q->user);
        db_bind_text(st, 5, q->action);
        sqlite3_bind_int64(st, 6, q->limit);
        db_bind_text(st, 7, q->result);
        sqlite3_bind_int64(st, 8, q->until > 0 ? q->until : INT64_MAX);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                r = entry_load(st, &e);
                if (r < 0)
                        goto out;
                r = fn(userdata, &e);
                audit_entry_clear(&e);
                if (r != 0) {
                        r = r < 0 ? r : 0;
                        goto out;
                }
        }
        if (step != SQLITE_DONE)
                r = db_fail(d->db, "Failed to list the audit trail");
out:
        audit_entry_clear(&e);
        db_release(d->db, st);
        return r;
}
