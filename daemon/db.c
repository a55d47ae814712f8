/* db.c: sqlite storage. The schema is an ordered list of migrations; the
 * database's PRAGMA user_version says how many have run, and each runs in
 * its own transaction together with the version bump. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "config.h"
#include "db.h"
#include "log.h"
#include "util.h"

/* How long a write waits for another connection (enrichctl reading the
 * database, a backup) before failing; short, since the event loop waits too. */
#define DB_BUSY_TIMEOUT_MS 2000

/* Prepared statements kept for the connection's life. Parsing and planning
 * a statement costs more than running it (about a quarter of an Enrich's
 * instructions when every call prepared its statements again), so every
 * statement of the hot paths is prepared once. Past this many distinct
 * statements the rest are prepared per use, as before. */
#define DB_STATEMENT_CACHE 64

/* The WAL is copied back into the database (a checkpoint, two fsyncs) once
 * it holds this many pages (sqlite's default), by the checkpointer below. */
#define DB_CHECKPOINT_PAGES 1000
/* A WAL this big is checkpointed by the committing (main) thread itself,
 * so that it restarts: under a steady stream of commits the thread's
 * checkpoints never catch up with the last frame, and the WAL only
 * restarts after a checkpoint that did. */
#define DB_WAL_MAX_PAGES (8 * DB_CHECKPOINT_PAGES)
/* The thread runs once more this many pages before DB_WAL_MAX_PAGES,
 * so that the main thread's checkpoint finds little left to copy. */
#define DB_WAL_MAX_LEAD 200
/* While the WAL waits for a restart, the checkpointer thread copies the
 * newest frames again once this many came since its last checkpoint: often
 * enough that a checkpoint at DB_WAL_MAX_PAGES finds little to copy, and
 * one may end in a pause of the commits (then the WAL restarts); rarely
 * enough that its syncs and CPU stay a fraction of the commits' own. */
#define DB_CATCH_UP_FRAMES 128

typedef struct cached_statement {
        sqlite3_stmt *st;
        const char *sql;        /* the text it was last asked for by (a literal, mostly) */
        bool in_use;            /* handed out and not yet released */
} cached_statement;

/* How durable a commit is. In WAL mode, NORMAL writes the commit to the
 * WAL without fsync (the WAL is synced at checkpoints): the database is
 * never corrupted, but a power loss or kernel crash may lose the last
 * transactions. FULL syncs the WAL at every commit. */
typedef enum durability {
        DB_UNSET,
        DB_NORMAL,
        DB_FULL,
} durability;

struct db {
        sqlite3 *handle;
        char error[512];
        cached_statement cache[DB_STATEMENT_CACHE];
        size_t n_cache;
        durability synchronous;     /* as last set on the connection */
        /* Group commit (db.h): writes of the session rows and audit
         * records join one transaction, the batch, while batching is
         * allowed; depth counts the db_begin()s open inside it or inside
         * a caller's transaction (savepoints). */
        bool batch_allowed;         /* until db_batch_commit() */
        bool batch_open;            /* BEGIN ran; COMMIT has not */
        bool batch_failed;          /* a batch of this turn was lost */
        uint64_t batch_writes;      /* statements written into batches */
        unsigned depth;
        /* The innermost db_begin() failed, or its db_commit() failed and
         * rolled back already: the caller's db_rollback() has nothing
         * left to undo. */
        bool level_closed;
        /* The checkpointer: a thread with a connection of its own that
         * runs sqlite's checkpoints (PASSIVE: never blocking the daemon's
         * writes), so their fsyncs stall no call. Woken by the WAL hook. */
        pthread_t checkpointer;
        bool checkpointer_running;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool checkpoint_due, stopping;
        /* Its newest checkpoint left frames behind: commits came while it
         * copied (committed_meanwhile). Under the lock. */
        bool checkpoint_behind;
        bool checkpoint_running, committed_meanwhile;
        int checkpoint_frames;      /* the WAL's frames when its last checkpoint began */
        sqlite3 *checkpoint_handle;
        int checkpoint_at;          /* WAL pages at which to wake it next */
        int wal_pages;              /* the WAL's size at the last commit */
        uint64_t wal_restarts;      /* times the WAL started over */
        uint64_t main_checkpoints;  /* checkpoints at DB_WAL_MAX_PAGES, on the committing thread */
        uint64_t catch_ups;         /* the thread woken to copy the newest frames */
};

/* Migration N (1-based) brings the schema from version N-1 to N. Append
 * only: never edit a migration that has shipped. */
static const char *const migrations[] = {
        /* 1: sessions */
        "CREATE TABLE sessions ("
        "  sid TEXT PRIMARY KEY NOT NULL,"
        "  user TEXT NOT NULL,"
        "  uid INTEGER NOT NULL,"
        "  service TEXT NOT NULL,"
        "  tty TEXT,"
        "  rhost TEXT,"
        "  ruser TEXT,"
        "  pid INTEGER NOT NULL,"
        "  asid INTEGER,"
        "  key_serial INTEGER,"
        "  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL,"
        "  ended INTEGER,"
        "  claims TEXT NOT NULL"
        ");"
        "CREATE INDEX sessions_uid ON sessions(uid);"
        "CREATE INDEX sessions_ended ON sessions(ended);",
        /* 2: just-in-time grants. The partial indexes cover only grants not
         * revoked, so "active grants of user U at time T" and "next expiry
         * after T" are index seeks however many grants have piled up; the
         * generation counter (meta) changes with every change of the set of
         * active grants and feeds the pv claim. */
        "CREATE TABLE grants ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  user TEXT NOT NULL,"
        "  uid INTEGER NOT NULL,"
        "  groups TEXT NOT NULL DEFAULT '[]',"
        "  scopes TEXT NOT NULL DEFAULT '[]',"
        "  tenant TEXT,"
        "  reason TEXT NOT NULL CHECK (length(reason) > 0),"
        "  granted_by TEXT NOT NULL,"
        "  granted_by_uid INTEGER NOT NULL,"
        "  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL,"
        "  revoked INTEGER,"
        "  revoked_by TEXT"
        ");"
        "CREATE INDEX grants_active_user ON grants(user, expires) WHERE revoked IS NULL;"
        "CREATE INDEX grants_active_expires ON grants(expires) WHERE revoked IS NULL;"
        "CREATE INDEX grants_user_created ON grants(user, created);"
        "CREATE INDEX grants_created ON grants(created);"
        "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);"
        "INSERT INTO meta (name, value) VALUES ('grants_generation', 0);",
        /* 3: what refreshing a live session needs, and why it ended. */
        "ALTER TABLE sessions ADD COLUMN amr TEXT;"
        "ALTER TABLE sessions ADD COLUMN pid_start INTEGER;"
        "ALTER TABLE sessions ADD COLUMN token_issued INTEGER;"
        "ALTER TABLE sessions ADD COLUMN token_expires INTEGER;"
        "ALTER TABLE sessions ADD COLUMN ended_reason TEXT;",
        /* 4: service-account tokens (tokens.c), their failure counters and
         * lockout, the token each token-authenticated session came from, and
         * disabled identities (identities.c). A token row keeps only
         * HMAC-SHA256(daemon secret, verifier), never the secret; a rotated
         * token keeps its previous hash until previous_until (the grace). */
        "CREATE TABLE tokens ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  user TEXT NOT NULL,"
        "  uid INTEGER NOT NULL,"
        "  secret_hash BLOB NOT NULL,"
        "  scopes TEXT NOT NULL DEFAULT '[]',"
        "  description TEXT,"
        "  created INTEGER NOT NULL,"
        "  created_by TEXT NOT NULL,"
        "  expires INTEGER NOT NULL,"
        "  last_used INTEGER,"
        "  revoked INTEGER,"
        "  revoked_by TEXT,"
        "  rotated INTEGER,"
        "  previous_hash BLOB,"
        "  previous_until INTEGER"
        ");"
        "CREATE INDEX tokens_user ON tokens(user, created);"
        "CREATE TABLE token_failures ("
        "  user TEXT PRIMARY KEY NOT NULL,"
        "  failures INTEGER NOT NULL DEFAULT 0,"
        "  last_failure INTEGER,"
        "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
        "  locked INTEGER"
        ");"
        "CREATE TABLE session_tokens ("
        "  sid TEXT PRIMARY KEY NOT NULL,"
        "  token_id TEXT NOT NULL"
        ");"
        "CREATE INDEX session_tokens_token ON session_tokens(token_id);"
        "CREATE TABLE disabled_identities ("
        "  user TEXT PRIMARY KEY NOT NULL,"
        "  reason TEXT NOT NULL,"
        "  disabled_by TEXT NOT NULL,"
        "  disabled INTEGER NOT NULL"
        ");",
        /* 5: the tamper-evident audit trail (audit.c): rows in a SHA-256
         * hash chain, and Ed25519-signed checkpoints of its head. */
        "CREATE TABLE audit ("
        "  id INTEGER PRIMARY KEY NOT NULL,"
        "  time INTEGER NOT NULL,"
        "  actor_uid INTEGER,"
        "  actor_name TEXT NOT NULL,"
        "  subject TEXT,"
        "  action TEXT NOT NULL,"
        "  result TEXT NOT NULL,"
        "  details TEXT NOT NULL,"
        "  prev_hash TEXT NOT NULL,"
        "  hash TEXT NOT NULL"
        ");"
        "CREATE INDEX audit_subject ON audit(subject, id);"
        "CREATE INDEX audit_time ON audit(time);"
        "CREATE TABLE audit_checkpoints ("
        "  row_id INTEGER PRIMARY KEY NOT NULL,"
        "  head TEXT NOT NULL,"
        "  time INTEGER NOT NULL,"
        "  kid TEXT NOT NULL,"
        "  signature TEXT NOT NULL"
        ");",
        /* 6: every signing key the daemon has used (keys.c), by kid, with
         * its public JWK: the current one has retired NULL; a retired one
         * stays in the JWKS until published_until, and in this table for
         * good, so old audit checkpoints keep verifying. */
        "CREATE TABLE signing_keys ("
        "  kid TEXT PRIMARY KEY NOT NULL,"
        "  jwk TEXT NOT NULL,"
        "  created INTEGER NOT NULL,"
        "  retired INTEGER,"
        "  published_until INTEGER"
        ");",
        /* 7: keyset paging of the listings (ListSessions, ListGrants,
         * TokenList, ListKeys): newest first by (created, id), each listing shape an
         * index walked from the cursor. The open-session indexes are
         * partial, so ended sessions cost nothing; the active-grant ones
         * here skip only revoked grants, so their pages still walked every
         * expired grant (migration 12 fixes that). (user, created, id) and
         * (created, id) supersede the older (user, created) and (created)
         * indexes. */
        "CREATE INDEX sessions_open_page ON sessions(created, sid) WHERE ended IS NULL;"
        "CREATE INDEX sessions_open_uid_page ON sessions(uid, created, sid) WHERE ended IS NULL;"
        "CREATE INDEX sessions_open_user_page ON sessions(user, created, sid) WHERE ended IS NULL;"
        "DROP INDEX grants_user_created;"
        "DROP INDEX grants_created;"
        "CREATE INDEX grants_user_page ON grants(user, created, id);"
        "CREATE INDEX grants_page ON grants(created, id);"
        "CREATE INDEX grants_active_user_page ON grants(user, created, id, expires) WHERE revoked IS NULL;"
        "CREATE INDEX grants_active_page ON grants(created, id, expires) WHERE revoked IS NULL;"
        "DROP INDEX tokens_user;"
        "CREATE INDEX tokens_user_page ON tokens(user, created, id);"
        "CREATE INDEX tokens_page ON tokens(created, id);"
        "CREATE INDEX signing_keys_page ON signing_keys(coalesce(retired, 9223372036854775807), kid);",
        /* 8: AuditList reads through an index for every filter (audit.c's
         * list_sql), and the database gets an identity that the record of
         * the newest checkpoint kept outside it (audit.head) names, so a
         * truncated trail is told apart from a new database. */
        "CREATE INDEX audit_action ON audit(action, id);"
        "CREATE INDEX audit_subject_action ON audit(subject, action, id);"
        "CREATE TABLE audit_origin (id TEXT NOT NULL);"
        "INSERT INTO audit_origin (id) VALUES (lower(hex(randomblob(16))));",
        /* 9: token failures are counted per token id, not per user: a
         * wrong secret for a known id is the only guess worth counting, and
         * an attacker who can name a user must not be able to lock every
         * token of it. A lock lasts until locked_until_ms (Unix ms), with a
         * backoff, not until an admin acts. The per-user counters of
         * migration 4 are dropped: their locks would never end. */
        "DROP TABLE token_failures;"
        "CREATE TABLE token_failures ("
        "  token_id TEXT PRIMARY KEY NOT NULL,"
        "  user TEXT NOT NULL,"
        "  failures INTEGER NOT NULL DEFAULT 0,"
        "  last_failure INTEGER,"
        "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
        "  locked_until_ms INTEGER"
        ");"
        "CREATE INDEX token_failures_user ON token_failures(user);",
        /* 10: token failures are counted per (token id, source): ids are
         * not secret, so anyone who can name one must lock out only the
         * source his wrong secrets come from (rhost, else ruser, else
         * service), never the token's honest logins from elsewhere
         * (finding F5). forget_after_ms is when a row stops counting and
         * may be pruned (a day after its last failure or the end of its
         * lock); rows are bounded per id and in all (tokens.h). The rows of
         * migration 9 are dropped: their locks would end within
         * token_lock_max_seconds anyway. */
        "DROP TABLE token_failures;"
        "CREATE TABLE token_failures ("
        "  token_id TEXT NOT NULL,"
        "  source TEXT NOT NULL,"
        "  user TEXT NOT NULL,"
        "  failures INTEGER NOT NULL,"
        "  last_failure_ms INTEGER NOT NULL,"
        "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
        "  locked_until_ms INTEGER,"
        "  forget_after_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (token_id, source)"
        ");"
        "CREATE INDEX token_failures_user ON token_failures(user);"
        "CREATE INDEX token_failures_forget ON token_failures(forget_after_ms);",
        /* 11: a disabled identity is its uid as well as its name
         * (identities.h): an alias with the same uid, or another spelling
         * NSS maps to the same entry, is refused too. NULL when NSS did not
         * know the user; rows from before get it at start-up when NSS can
         * resolve them (offboard.c). */
        "ALTER TABLE disabled_identities ADD COLUMN uid INTEGER;"
        "CREATE INDEX disabled_identities_uid ON disabled_identities(uid);",
        /* 12: grants are kept for good, so an index of the grants not
         * revoked grows with every grant that ever expired, and the active
         * listings of migration 7 walked that history on every page. Now
         * the daemon's expiry processing (grants.c, grants_end_expired)
         * sets ended when it handles a grant's expiry, at start-up too for
         * grants that expired while it was down, and the active-listing
         * indexes hold only grants not ended. grants_unended_expires finds
         * the grants to mark without walking the ones already marked. */
        "ALTER TABLE grants ADD COLUMN ended INTEGER;"
        "UPDATE grants SET ended = expires"
        "  WHERE revoked IS NULL AND expires <= CAST(strftime('%s', 'now') AS INTEGER);"
        "DROP INDEX grants_active_user_page;"
        "DROP INDEX grants_active_page;"
        "CREATE INDEX grants_active_user_page ON grants(user, created, id, expires)"
        "  WHERE revoked IS NULL AND ended IS NULL;"
        "CREATE INDEX grants_active_page ON grants(created, id, expires) WHERE revoked IS NULL AND ended IS NULL;"
        "CREATE INDEX grants_unended_expires ON grants(expires) WHERE revoked IS NULL AND ended IS NULL;",
        /* 13: fleet mode (fleet.c, fleet_store.c): which grants came from
         * the fleet's etcd (by grant id; the grant itself is a row of
         * grants like any other), and the etcd revision the local state
         * was last brought to, so a restart resumes the watch from there. */
        "CREATE TABLE fleet_grants (id TEXT PRIMARY KEY NOT NULL, mod_revision INTEGER NOT NULL);"
        "CREATE TABLE fleet_state (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);"
        "INSERT INTO fleet_state (name, value) VALUES ('revision', 0);",
        /* 14: access requests (requests.c): a user asks, admins approve
         * or deny, an approval becomes a grant that names its request.
         * state is pending, approved, denied or expired; approvals counts
         * the approvals so far (a two-approver request records the first
         * in first_approver). The pending ones are what the per-user bound
         * counts and what expiry walks, so they have their own indexes. */
        "CREATE TABLE requests ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  user TEXT NOT NULL,"
        "  uid INTEGER NOT NULL,"
        "  groups TEXT NOT NULL,"
        "  scopes TEXT NOT NULL,"
        "  ttl INTEGER NOT NULL,"
        "  reason TEXT NOT NULL,"
        "  created INTEGER NOT NULL,"
        "  expires INTEGER NOT NULL,"
        "  state TEXT NOT NULL,"
        "  approvals_needed INTEGER NOT NULL,"
        "  first_approver TEXT,"
        "  first_approver_uid INTEGER,"
        "  decided_by TEXT,"
        "  decided_by_uid INTEGER,"
        "  decided INTEGER,"
        "  decision_reason TEXT,"
        "  grant_id TEXT"
        ");"
        "CREATE INDEX requests_page ON requests(created, id);"
        "CREATE INDEX requests_user_page ON requests(user, created, id);"
        "CREATE INDEX requests_pending_user ON requests(user) WHERE state = 'pending';"
        "CREATE INDEX requests_pending_expires ON requests(expires) WHERE state = 'pending';"
        "ALTER TABLE grants ADD COLUMN request_id TEXT;",
        /* 15: service-account tokens from the fleet's etcd (tokens/<id>):
         * which rows of tokens came from there, so that a deleted key
         * revokes them and `token revoke` deletes the key. */
        "CREATE TABLE fleet_tokens (id TEXT PRIMARY KEY NOT NULL, mod_revision INTEGER NOT NULL);",
        /* 16: every Enrich writes a session row into each of the table's
         * indexes; two were read by no statement. Listings page through
         * migration 7's partial indexes (INDEXED BY), the refresh walk and
         * the count of live sessions read the open-session one, lookups
         * go by sid (test_session_plan checks all of it). sessions_uid and
         * sessions_ended also held every session ever ended. */
        "DROP INDEX IF EXISTS sessions_uid;"
        "DROP INDEX IF EXISTS sessions_ended;",
        /* 17: fleet records (fleet_store.c). fleet_pending: signed grants
         * and tokens for a user this host did not know yet, kept as read
         * from etcd and applied once the user appears (fleet_tick), until
         * their key goes or they expire. fleet_grants.issuer: the issuing
         * host a fleet grant names (its signing key's id when it names
         * none), so listings show where a grant came from. */
        "CREATE TABLE fleet_pending (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL,"
        " mod_revision INTEGER NOT NULL, user TEXT NOT NULL, expires INTEGER NOT NULL);"
        "ALTER TABLE fleet_grants ADD COLUMN issuer TEXT;",
        /* 18: fleet revocations (fleet_store.c): grant and token ids
         * revoked in the fleet (an issuer's signed revoked/ record, or the
         * deletion of a record that waited for its user), kept until the
         * record's own expiry so that its signed record written back into
         * etcd is refused. Bounded (FLEET_STORE_MAX_REVOKED); expired rows
         * go with fleet_tick. */
        "CREATE TABLE fleet_revoked (kind TEXT NOT NULL, id TEXT NOT NULL, expires INTEGER NOT NULL,"
        " PRIMARY KEY (kind, id));"
        "CREATE INDEX fleet_revoked_expires ON fleet_revoked(expires);",
        /* 19: signing_keys.endorsement: the compact JWS (typ
         * enrich-endorse+jwt) by which the key a normal rotation replaced
         * vouched for this one (keys.c); NULL for the first key, a key
         * rotated in as compromised, or one rotated outside fleet mode.
         * The host's presence record carries it (fleet.c). */
        "ALTER TABLE signing_keys ADD COLUMN endorsement TEXT;",
};

static int set_error(db *d, const char *what) {
        snprintf(d->error, sizeof d->error, "%s: %s", what, sqlite3_errmsg(d->handle));
        return -EIO;
}

const char *db_last_error(const db *d) {
        return d && d->error[0] ? d->error : "no error";
}

static int exec(db *d, const char *sql, const char *what) {
        if (sqlite3_exec(d->handle, sql, NULL, NULL, NULL) != SQLITE_OK)
                return set_error(d, what);
        return 0;
}

/* The cached statement of sql, or NULL. Callers pass the same literal
 * each time: its address finds the statement with one comparison of the
 * text instead of one per cached statement (the text is still compared,
 * as a buffer may hold other text another time). */
static cached_statement *cache_find(db *d, const char *sql) {
        for (size_t i = 0; i < d->n_cache; i++)
                if (d->cache[i].sql == sql && strcmp(sqlite3_sql(d->cache[i].st), sql) == 0)
                        return &d->cache[i];
        for (size_t i = 0; i < d->n_cache; i++)
                if (strcmp(sqlite3_sql(d->cache[i].st), sql) == 0) {
                        d->cache[i].sql = sql;
                        return &d->cache[i];
                }
        return NULL;
}

int db_prepare(db *d, const char *sql, sqlite3_stmt **ret) {
        cached_statement *slot = NULL, *c = cache_find(d, sql);
        sqlite3_stmt *st = NULL;
        bool busy;

        if (c && !c->in_use) {
                c->in_use = true;
                *ret = c->st;
                return 0;
        }
        /* Used again before its release (a nested loop): a private
         * statement, finalized on release. */
        busy = c != NULL;
        if (!busy && d->n_cache < DB_STATEMENT_CACHE)
                slot = &d->cache[d->n_cache];
        if (sqlite3_prepare_v3(d->handle, sql, -1, slot ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK)
                return set_error(d, "Failed to prepare statement");
        if (slot && st) {
                *slot = (cached_statement) { .st = st, .sql = sql, .in_use = true };
                d->n_cache++;
        }
        *ret = st;
        return 0;
}

void db_release(db *d, sqlite3_stmt *st) {
        if (!st)
                return;
        for (size_t i = 0; d && i < d->n_cache; i++)
                if (d->cache[i].st == st) {
                        /* Ends the statement's read transaction too. */
                        (void) sqlite3_reset(st);
                        (void) sqlite3_clear_bindings(st);
                        d->cache[i].in_use = false;
                        return;
                }
        sqlite3_finalize(st);
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT, a PRAGMA
 * setting) through the statement cache. */
static int run(db *d, const char *sql, const char *what) {
        sqlite3_stmt *st = NULL;
        int r, step;

        r = db_prepare(d, sql, &st);
        if (r < 0)
                return set_error(d, what);
        do
                step = sqlite3_step(st);
        while (step == SQLITE_ROW);
        if (step != SQLITE_DONE)
                r = set_error(d, what);
        db_release(d, st);
        return r;
}

static void rollback(db *d) {
        /* Fails harmlessly when sqlite already rolled back on its own. */
        if (!sqlite3_get_autocommit(d->handle))
                (void) run(d, "ROLLBACK", "Failed to roll back");
}

/* Sets how durable the next commits are; only outside a transaction (sqlite
 * refuses to change it inside one). Nothing runs when it is already so. */
static int set_durability(db *d, durability level) {
        int r;

        if (d->synchronous == level)
                return 0;
        r = run(d, level == DB_FULL ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                "Failed to set synchronous");
        d->synchronous = r < 0 ? DB_UNSET : level;
        return r;
}

sqlite3 *db_handle(db *d) {
        return d->handle;
}

/* A statement or savepoint that failed inside the batch may have made
 * sqlite roll the whole transaction back (SQLITE_FULL, SQLITE_IOERR,
 * SQLITE_BUSY on COMMIT): the batch is lost, and its callers must not be
 * told it was written. */
static void check_batch_alive(db *d) {
        if (d->batch_open && sqlite3_get_autocommit(d->handle)) {
                d->batch_open = false;
                d->batch_failed = true;
                d->depth = 0;
        }
}

/* Opens the batch unless it is open; always with synchronous=NORMAL. */
static int batch_open(db *d) {
        int r;

        /* Lost since (sqlite rolled it back on an error it saw first)?
         * Then the rest of this turn writes nothing either: its calls are
         * answered with the loss's error (db_last_error keeps sqlite's
         * reason), as the calls whose rows went with it will be. */
        check_batch_alive(d);
        if (d->batch_failed)
                return -EIO;
        if (d->batch_open)
                return 0;
        r = set_durability(d, DB_NORMAL);
        if (r == 0)
                r = run(d, "BEGIN IMMEDIATE", "Failed to begin transaction");
        if (r == 0)
                d->batch_open = true;
        return r;
}

/* Commits the open batch (if any). A failure rolls it back and is kept
 * for db_batch_commit() to report. */
static int batch_close(db *d) {
        int r;

        if (!d->batch_open)
                return 0;
        d->batch_open = false;
        d->depth = 0;
        r = run(d, "COMMIT", "Failed to commit transaction");
        if (r < 0) {
                d->batch_failed = true;
                rollback(d);
        }
        return r;
}

/* Undoes and ends the innermost savepoint. */
static void rollback_nested(db *d) {
        if (run(d, "ROLLBACK TO nested", "Failed to roll back") == 0)
                (void) run(d, "RELEASE nested", "Failed to roll back");
}

static int begin(db *d, durability level) {
        int r;

        if (d->depth > 0 || (level == DB_NORMAL && d->batch_allowed)) {
                /* Inside a caller's transaction or the batch: a savepoint,
                 * so this transaction's failure undoes only its own writes. */
                r = level == DB_NORMAL && d->depth == 0 ? batch_open(d) : 0;
                if (r == 0 && d->depth == 0)
                        d->batch_writes++;
                if (r == 0)
                        r = run(d, "SAVEPOINT nested", "Failed to begin transaction");
        } else {
                /* What an admin writes commits on its own, after the batch. */
                (void) batch_close(d);
                r = set_durability(d, level);
                if (r == 0)
                        r = run(d, "BEGIN IMMEDIATE", "Failed to begin transaction");
        }
        d->level_closed = r < 0;
        if (r == 0)
                d->depth++;
        return r;
}

int db_begin(db *d) {
        return begin(d, DB_NORMAL);
}

int db_begin_durable(db *d) {
        /* What an admin did must survive a power loss: a lost revocation
         * would bring a grant back. Rare, so the fsync costs nothing that
         * matters. */
        return begin(d, DB_FULL);
}

int db_commit(db *d) {
        bool nested;
        int r;

        if (d->depth == 0)
                return -EINVAL;
        d->depth--;
        nested = d->depth > 0 || d->batch_open;
        r = run(d, nested ? "RELEASE nested" : "COMMIT", "Failed to commit transaction");
        if (r < 0 && nested)
                rollback_nested(d);
        else if (r < 0)
                rollback(d);
        d->level_closed = r < 0;
        check_batch_alive(d);
        return r;
}

void db_rollback(db *d) {
        if (d->level_closed || d->depth == 0) {
                d->level_closed = false;
                return;
        }
        d->depth--;
        if (d->depth > 0 || d->batch_open)
                rollback_nested(d);
        else
                rollback(d);
        check_batch_alive(d);
}

int db_fail(db *d, const char *what) {
        return set_error(d, what);
}

int db_schema_version(db *d, int *ret) {
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (sqlite3_prepare_v2(d->handle, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                r = set_error(d, "Failed to read schema version");
                goto out;
        }
        *ret = sqlite3_column_int(st, 0);
out:
        sqlite3_finalize(st);
        return r;
}

static int migrate(db *d) {
        int version, r;
        const int latest = (int) (sizeof migrations / sizeof migrations[0]);

        r = db_schema_version(d, &version);
        if (r < 0)
                return r;
        if (version > latest) {
                snprintf(d->error, sizeof d->error,
                         "database schema version %d is newer than this enrichd knows (%d); "
                         "refusing to touch it",
                         version, latest);
                return -EPROTO;
        }
        for (int v = version; v < latest; v++) {
                char bump[64];

                r = exec(d, "BEGIN IMMEDIATE", "Failed to begin migration");
                if (r < 0)
                        return r;
                snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
                r = exec(d, migrations[v], "Failed to migrate schema");
                if (r == 0)
                        r = exec(d, bump, "Failed to set schema version");
                if (r == 0)
                        r = exec(d, "COMMIT", "Failed to commit migration");
                if (r < 0) {
                        rollback(d);
                        return r;
                }
                log_struct(LOG_INFO, LOG_MSGID_DATABASE, NULL, "Database schema migrated to version %d", v + 1);
        }
        return 0;
}

/* The checkpointer thread's loop: a PASSIVE checkpoint each time the WAL
 * hook says one is due, until db_close. A failed one (disk full) is
 * retried at the next; the WAL meanwhile keeps every commit. It notes
 * whether the checkpoint copied every frame: only then does the next
 * commit start the WAL over (sqlite restarts it only after a checkpoint
 * that left nothing behind); until then the hook wakes it again after
 * each commit (wal_hook). */
static void *checkpoint_loop(void *userdata) {
        db *d = userdata;

        pthread_mutex_lock(&d->lock);
        for (;;) {
                int frames = 0, copied = 0, r;

                while (!d->checkpoint_due && !d->stopping)
                        pthread_cond_wait(&d->wake, &d->lock);
                if (d->stopping)
                        break;
                d->checkpoint_due = false;
                d->checkpoint_running = true;
                d->committed_meanwhile = false;
                pthread_mutex_unlock(&d->lock);
                r = sqlite3_wal_checkpoint_v2(d->checkpoint_handle, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
                pthread_mutex_lock(&d->lock);
                d->checkpoint_running = false;
                /* A failed one is not retried at every commit: at the
                 * next DB_CHECKPOINT_PAGES. */
                d->checkpoint_behind = r == SQLITE_OK && (copied < frames || d->committed_meanwhile);
                d->checkpoint_frames = frames;
        }
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

/* sqlite's WAL hook, after each commit on the daemon's connection: pages
 * is the WAL's size. */
static int wal_hook(void *userdata, sqlite3 *handle, const char *name, int pages) {
        db *d = userdata;
        bool wake;

        if (pages < d->wal_pages)
                d->wal_restarts++;
        d->wal_pages = pages;
        /* The WAL must not grow without bound, and it restarts only after
         * a checkpoint that copied every frame: this commit checkpoints,
         * as sqlite would (while the thread is at it, this returns at
         * once, busy, and the next commit tries again). The thread's
         * catch-up below makes this rare: only commits that never pause
         * for as long as a checkpoint of their frames takes get here. */
        if (pages >= DB_WAL_MAX_PAGES) {
                d->main_checkpoints++;
                (void) sqlite3_wal_checkpoint_v2(handle, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                return SQLITE_OK;
        }
        /* Once per DB_CHECKPOINT_PAGES pages added, as sqlite's own
         * automatic checkpoint: a checkpoint at every commit while the
         * WAL waits for its restart would only burn fsyncs. And once
         * more just before DB_WAL_MAX_PAGES: what the main thread then
         * copies (and syncs) while a login waits is only what came after,
         * not up to DB_CHECKPOINT_PAGES pages of it. */
        if (pages < d->checkpoint_at - DB_CHECKPOINT_PAGES)
                d->checkpoint_at = DB_CHECKPOINT_PAGES;  /* the WAL restarted */
        wake = pages >= d->checkpoint_at;
        if (wake) {
                d->checkpoint_at = pages + DB_CHECKPOINT_PAGES;
                if (pages < DB_WAL_MAX_PAGES - DB_WAL_MAX_LEAD && d->checkpoint_at > DB_WAL_MAX_PAGES - DB_WAL_MAX_LEAD)
                        d->checkpoint_at = DB_WAL_MAX_PAGES - DB_WAL_MAX_LEAD;
        }
        pthread_mutex_lock(&d->lock);
        if (d->checkpoint_running)
                d->committed_meanwhile = true;
        /* Catching up: the thread's last checkpoint left the frames of
         * the commits made while it ran, and sqlite restarts the WAL only
         * after a checkpoint that left none. Without a restart the WAL
         * grows to DB_WAL_MAX_PAGES and this thread checkpoints it, a
         * stall of milliseconds. So while the WAL is worth a restart, the
         * thread copies the new frames every DB_CATCH_UP_FRAMES, a few
         * pages and its syncs each time; when one of those ends in a pause
         * of the commits, it leaves none, and the next commit restarts the
         * WAL (that commit syncs the WAL's new header: sqlite's rule); and
         * a checkpoint at the bound finds little left. Never a checkpoint
         * on this thread but at the bound. */
        if (!wake && pages >= DB_CHECKPOINT_PAGES && d->checkpoint_behind && !d->checkpoint_running &&
            !d->checkpoint_due && pages - d->checkpoint_frames >= DB_CATCH_UP_FRAMES) {
                d->checkpoint_behind = false;
                d->catch_ups++;
                wake = true;
        }
        if (wake) {
                d->checkpoint_due = true;
                pthread_cond_signal(&d->wake);
        }
        pthread_mutex_unlock(&d->lock);
        return SQLITE_OK;
}

/* Moves checkpoints off the daemon's thread. Without the thread (it could
 * not start) sqlite's own automatic checkpoints stay on. */
static void start_checkpointer(db *d, const char *path) {
        int r;

        if (sqlite3_open_v2(path, &d->checkpoint_handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK) {
                sqlite3_close(d->checkpoint_handle);
                d->checkpoint_handle = NULL;
                return;
        }
        sqlite3_busy_timeout(d->checkpoint_handle, DB_BUSY_TIMEOUT_MS);
        /* A connection learns that the database is in WAL mode only by
         * reading it; until then its checkpoints do nothing. */
        if (sqlite3_exec(d->checkpoint_handle, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
                sqlite3_close(d->checkpoint_handle);
                d->checkpoint_handle = NULL;
                return;
        }
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->wake, NULL);
        r = background_thread_start(&d->checkpointer, checkpoint_loop, d);
        if (r < 0) {
                pthread_cond_destroy(&d->wake);
                pthread_mutex_destroy(&d->lock);
                sqlite3_close(d->checkpoint_handle);
                d->checkpoint_handle = NULL;
                return;
        }
        d->checkpointer_running = true;
        d->checkpoint_at = DB_CHECKPOINT_PAGES;
        /* Replaces sqlite's automatic checkpoint (also a WAL hook). */
        sqlite3_wal_hook(d->handle, wal_hook, d);
}

static void stop_checkpointer(db *d) {
        if (!d->checkpointer_running)
                return;
        sqlite3_wal_hook(d->handle, NULL, NULL);
        pthread_mutex_lock(&d->lock);
        d->stopping = true;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->checkpointer, NULL);
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        sqlite3_close(d->checkpoint_handle);
        d->checkpoint_handle = NULL;
        d->checkpointer_running = false;
}

/* A corrupt database is reported and left exactly as it is: no WAL switch,
 * no migration, and no checkpoint into it when the handle closes (that
 * would copy a WAL's pages onto it). quick_check reads every page (leaving
 * out integrity_check's costlier index cross-checks), so it also finds
 * damage in tables nothing at startup would read. -EBADMSG: corrupt. */
static int check_integrity(db *d, const char *path) {
        sqlite3_stmt *st = NULL;
        const char *result = NULL;
        int r = 0, rc, code;

        (void) sqlite3_db_config(d->handle, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        rc = sqlite3_prepare_v2(d->handle, "PRAGMA quick_check(1)", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                result = (const char *) sqlite3_column_text(st, 0);
        if (rc == SQLITE_ROW && result && strcmp(result, "ok") == 0) {
                (void) sqlite3_db_config(d->handle, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
                goto out;
        }
        code = sqlite3_errcode(d->handle) & 0xff;
        if (rc == SQLITE_ROW || code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
                snprintf(d->error, sizeof d->error,
                         "Database %s is corrupt (%s): refusing to start and "
                         "leaving it untouched; restore it from a backup, or move it aside to start empty "
                         "(losing its grants, tokens and sessions)",
                         path, rc == SQLITE_ROW && result ? result : sqlite3_errmsg(d->handle));
                r = -EBADMSG;
        } else {
                snprintf(d->error, sizeof d->error, "Failed to check database %s: %s", path, sqlite3_errmsg(d->handle));
                r = -EIO;
        }
out:
        sqlite3_finalize(st);
        return r;
}

int db_open(const char *path, db **ret, char **ret_error) {
        db *d;
        sqlite3_stmt *st = NULL;
        int r;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        if (sqlite3_open_v2(path, &d->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK) {
                snprintf(d->error, sizeof d->error, "Failed to open database %s: %s", path,
                         d->handle ? sqlite3_errmsg(d->handle) : "out of memory");
                r = -EIO;
                goto out;
        }
        sqlite3_busy_timeout(d->handle, DB_BUSY_TIMEOUT_MS);
        r = check_integrity(d, path);
        if (r < 0)
                goto out;
        /* WAL lets readers proceed while the daemon writes; the answer is
         * checked since a filesystem without shared memory refuses it. */
        if (sqlite3_prepare_v2(d->handle, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                r = set_error(d, "Failed to enable WAL mode");
                goto out;
        }
        if (strcmp((const char *) sqlite3_column_text(st, 0), "wal") != 0) {
                snprintf(d->error, sizeof d->error, "Database %s refuses WAL mode (journal_mode is %s)", path,
                         (const char *) sqlite3_column_text(st, 0));
                r = -EIO;
                goto out;
        }
        /* A statement left open would keep the migration from committing. */
        sqlite3_finalize(st);
        st = NULL;
        r = exec(d, "PRAGMA foreign_keys = ON;", "Failed to set pragmas");
        /* Migrations, like every change an admin makes, are synced. */
        if (r == 0)
                r = set_durability(d, DB_FULL);
        if (r < 0)
                goto out;
        r = migrate(d);
        if (r < 0)
                goto out;
        start_checkpointer(d, path);
        *ret = d;
        d = NULL;
out:
        sqlite3_finalize(st);
        if (d && ret_error)
                *ret_error = strdup(d->error);
        db_close(d);
        return r;
}

int db_open_reader(const char *path, db **ret) {
        db *d = calloc(1, sizeof *d);

        if (!d)
                return -ENOMEM;
        if (sqlite3_open_v2(path, &d->handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
                db_close(d);
                return -EIO;
        }
        sqlite3_busy_timeout(d->handle, DB_BUSY_TIMEOUT_MS);
        *ret = d;
        return 0;
}

void db_close(db *d) {
        if (!d)
                return;
        (void) batch_close(d);
        stop_checkpointer(d);
        for (size_t i = 0; i < d->n_cache; i++)
                sqlite3_finalize(d->cache[i].st);
        sqlite3_close(d->handle);
        free(d);
}

void db_bind_text(sqlite3_stmt *st, int index, const char *s) {
        if (s)
                sqlite3_bind_text(st, index, s, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_null(st, index);
}

void db_bind_int64_or_null(sqlite3_stmt *st, int index, bool present, int64_t value) {
        if (present)
                sqlite3_bind_int64(st, index, value);
        else
                sqlite3_bind_null(st, index);
}

int db_step_write(db *d, sqlite3_stmt *st, const char *what, int *ret_changes) {
        int r = 0;

        if (sqlite3_step(st) != SQLITE_DONE)
                r = set_error(d, what);
        else if (ret_changes)
                *ret_changes = sqlite3_changes(d->handle);
        db_release(d, st);
        return r;
}

int db_read_int64(db *d, sqlite3_stmt *st, const char *what, int64_t *ret) {
        int r = 0;

        if (sqlite3_step(st) == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        else
                r = set_error(d, what);
        db_release(d, st);
        return r;
}

/* Runs one prepared write as its own transaction (sqlite's autocommit: the
 * statement is atomic, and a failed one leaves nothing behind) with the
 * given durability; *ret_changes (optional) gets the number of rows
 * changed. The statement is released (db_release). */
static int write_one(db *d, sqlite3_stmt *st, const char *what, int *ret_changes, durability level) {
        bool batched = false;
        int r = 0;

        /* Inside a caller's transaction the commit decides, not this. */
        if (d->depth == 0 && level == DB_NORMAL && d->batch_allowed) {
                r = batch_open(d);
                batched = true;
        } else if (d->depth == 0) {
                (void) batch_close(d);
                r = set_durability(d, level);
        }
        if (r < 0)
                goto out;
        if (batched)
                d->batch_writes++;
        if (sqlite3_step(st) != SQLITE_DONE) {
                r = set_error(d, what);
                check_batch_alive(d);
                goto out;
        }
        if (ret_changes)
                *ret_changes = sqlite3_changes(d->handle);
out:
        db_release(d, st);
        return r;
}

void db_batch_allow(db *d) {
        if (d->batch_allowed)
                return;
        d->batch_allowed = true;
        /* Open now, so the turn's reads run inside it too: one set of
         * sqlite's file locks per turn instead of one per statement. When
         * it fails, the first write tries again and reports it. */
        if (d->depth == 0)
                (void) batch_open(d);
}

void db_wal_stats(const db *d, uint64_t *ret_restarts, uint64_t *ret_main_checkpoints, uint64_t *ret_catch_ups) {
        if (!d) {
                *ret_restarts = *ret_main_checkpoints = *ret_catch_ups = 0;
                return;
        }
        *ret_restarts = d->wal_restarts;
        *ret_main_checkpoints = d->main_checkpoints;
        *ret_catch_ups = d->catch_ups;
}

bool db_batch_pending(const db *d) {
        return d->batch_allowed || d->batch_open;
}

bool db_in_transaction(const db *d) {
        return d->depth > 0;
}

uint64_t db_batch_writes(const db *d) {
        return d->batch_writes;
}

int db_batch_commit(db *d) {
        bool failed;

        (void) batch_close(d);
        failed = d->batch_failed;
        d->batch_failed = false;
        d->batch_allowed = false;
        return failed ? -EIO : 0;
}

int db_write(db *d, sqlite3_stmt *st, const char *what, int *ret_changes) {
        return write_one(d, st, what, ret_changes, DB_FULL);
}

int db_write_normal(db *d, sqlite3_stmt *st, const char *what, int *ret_changes) {
        return write_one(d, st, what, ret_changes, DB_NORMAL);
}

/* ---- one way to run a statement (db.h) ------------------------------------ */

static int bind_value(sqlite3_stmt *st, int index, const db_value *v) {
        switch (v->type) {
        case DB_VALUE_INT: return sqlite3_bind_int64(st, index, v->integer);
        case DB_VALUE_TEXT:
                if (!v->data)
                        break;
                return sqlite3_bind_text(st, index, v->data,
                                         (int) strnlen(v->data, v->size < INT_MAX ? v->size : INT_MAX),
                                         SQLITE_TRANSIENT);
        case DB_VALUE_BLOB: return sqlite3_bind_blob(st, index, v->data, (int) v->size, SQLITE_TRANSIENT);
        case DB_VALUE_NULL: break;
        }
        return sqlite3_bind_null(st, index);
}

int db_statement(db *d, const char *sql, const char *what, sqlite3_stmt **ret, const db_value *args, size_t n_args) {
        sqlite3_stmt *st = NULL;
        size_t n;

        if (db_prepare(d, sql, &st) < 0)
                return set_error(d, what);
        n = (size_t) sqlite3_bind_parameter_count(st);
        for (size_t i = 0; i < n_args && i < n; i++)
                if (bind_value(st, (int) i + 1, &args[i]) != SQLITE_OK) {
                        int r = set_error(d, what);

                        db_release(d, st);
                        return r;
                }
        *ret = st;
        return 0;
}

int db_run(db *d, db_write_kind kind, const char *sql, const char *what, int *ret_changes, const db_value *args,
           size_t n_args) {
        sqlite3_stmt *st = NULL;
        int r = db_statement(d, sql, what, &st, args, n_args);

        if (r < 0)
                return r;
        switch (kind) {
        case DB_WRITE_NORMAL: return db_write_normal(d, st, what, ret_changes);
        case DB_WRITE_IN_TRANSACTION: return db_step_write(d, st, what, ret_changes);
        case DB_WRITE_DURABLE: break;
        }
        return db_write(d, st, what, ret_changes);
}

/* The rows of a bound query to fn, at most max_rows of them. */
static int step_rows(db *d, sqlite3_stmt *st, const char *what, size_t max_rows, db_row_fn fn, void *userdata) {
        size_t n = 0;
        int r = 0, step = SQLITE_DONE;

        while (n < max_rows && (step = sqlite3_step(st)) == SQLITE_ROW) {
                n++;
                r = fn(userdata, st);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (n == max_rows)
                return 0;
        if (step != SQLITE_DONE)
                return set_error(d, what);
        return n > 0 ? 0 : -ENOENT;
}

/* The query's rows to fn, at most max_rows of them; -ENOENT when none. */
static int query(db *d, const char *sql, const char *what, size_t max_rows, db_row_fn fn, void *userdata,
                 const db_value *args, size_t n_args) {
        sqlite3_stmt *st = NULL;
        int r = db_statement(d, sql, what, &st, args, n_args);

        if (r < 0)
                return r;
        r = step_rows(d, st, what, max_rows, fn, userdata);
        db_release(d, st);
        return r;
}

int db_query_each(db *d, const char *sql, const char *what, db_row_fn fn, void *userdata, const db_value *args,
                  size_t n_args) {
        int r = query(d, sql, what, SIZE_MAX, fn, userdata, args, n_args);

        return r == -ENOENT ? 0 : r;
}

int db_query_row(db *d, const char *sql, const char *what, db_row_fn fn, void *userdata, const db_value *args,
                 size_t n_args) {
        return query(d, sql, what, 1, fn, userdata, args, n_args);
}

static int read_int64(void *userdata, sqlite3_stmt *st) {
        *(int64_t *) userdata = sqlite3_column_int64(st, 0);
        return 0;
}

int db_query_int64(db *d, const char *sql, const char *what, int64_t *ret, const db_value *args, size_t n_args) {
        return db_query_row(d, sql, what, read_int64, ret, args, n_args);
}

typedef struct strv_builder {
        char **list;
        size_t n, size;
} strv_builder;

static int add_text(void *userdata, sqlite3_stmt *st) {
        strv_builder *b = userdata;
        const char *text = db_column_text(st, 0);

        if (!text)
                return 0;
        if (b->n + 1 >= b->size) {
                size_t size = b->size ? b->size * 2 : 16;
                char **grown = reallocarray(b->list, size, sizeof *grown);

                if (!grown)
                        return -ENOMEM;
                b->list = grown;
                b->size = size;
        }
        b->list[b->n] = strdup(text);
        if (!b->list[b->n])
                return -ENOMEM;
        b->list[++b->n] = NULL;
        return 0;
}

int db_query_strv(db *d, const char *sql, const char *what, char ***ret, const db_value *args, size_t n_args) {
        strv_builder b = { 0 };
        int r = db_query_each(d, sql, what, add_text, &b, args, n_args);

        if (r < 0) {
                strv_free(b.list);
                return r;
        }
        *ret = b.list;
        return 0;
}

int db_transaction(db *d, bool durable, int (*fn)(db *d, void *userdata), void *userdata) {
        int r = durable ? db_begin_durable(d) : db_begin(d), commit;

        if (r < 0)
                return r;
        r = fn(d, userdata);
        if (r < 0) {
                db_rollback(d);
                return r;
        }
        commit = db_commit(d);
        return commit < 0 ? commit : r;
}

const char *db_column_text(sqlite3_stmt *st, int column) {
        return (const char *) sqlite3_column_text(st, column);
}

int64_t db_column_int64_or(sqlite3_stmt *st, int column, int64_t fallback) {
        return sqlite3_column_type(st, column) == SQLITE_NULL ? fallback : sqlite3_column_int64(st, column);
}

int db_column_dup(sqlite3_stmt *st, int column, char **ret) {
        const char *text = db_column_text(st, column);

        *ret = NULL;
        if (sqlite3_column_type(st, column) == SQLITE_NULL || !text)
                return 0;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}
