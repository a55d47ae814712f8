/* tokens.c: the tokens, token_failures and session_tokens tables, and the
 * daemon secret that keys the stored hashes (see tokens.h). Hashes are
 * compared in full with CRYPTO_memcmp, and a missing token costs the same
 * HMAC as a present one, so timing tells nothing about a secret. Whether an
 * id exists does show (an unknown one writes no failure row and is delayed
 * per source, not per id): ids are not secret (logs, token list) and open
 * nothing without the 256-bit secret. Since anyone may name an id, its
 * failures and locks are kept per source (tokens.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "config.h"
#include "tokens.h"
#include "util.h"

#define SECRET_BYTES 32
#define HASH_BYTES   32
#define TOKEN_COLUMNS "id, user, uid, scopes, description, created, created_by, expires, last_used," \
                      " revoked, revoked_by, rotated, previous_until"

void token_record_clear(token_record *t) {
        if (!t)
                return;
        free(t->user);
        free(t->scopes);
        free(t->description);
        free(t->created_by);
        free(t->revoked_by);
        memset(t, 0, sizeof *t);
}

void token_auth_result_clear(token_auth_result *r) {
        if (!r)
                return;
        token_record_clear(&r->token);
        free(r->owner);
        r->owner = NULL;
}

int tokens_new_id(char ret[SVCTOKEN_ID_LENGTH + 1]) {
        unsigned char bytes[SVCTOKEN_ID_LENGTH / 2];

        if (RAND_bytes(bytes, sizeof bytes) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof bytes; i++)
                snprintf(ret + 2 * i, 3, "%02x", bytes[i]);
        return 0;
}

/* ---- the daemon secret and hashes ---------------------------------------- */

/* Reads state_dir/token-secret, creating it (0600, atomically) when it does
 * not exist. Read at every use rather than kept: the daemon's state stays as
 * it was, and the copy lives only for one hash. */
static int load_secret(const char *state_dir, unsigned char key[SECRET_BYTES]) {
        char *path = NULL, *data = NULL;
        size_t len = 0;
        int r;

        if (asprintf(&path, "%s/%s", state_dir, TOKENS_SECRET_FILE) < 0)
                return -ENOMEM;
        r = read_file_bounded(path, SECRET_BYTES + 1, &data, &len);
        if (r == -ENOENT) {
                if (RAND_bytes(key, SECRET_BYTES) != 1) {
                        r = -EIO;
                        goto out;
                }
                r = write_file_atomic(path, key, SECRET_BYTES, 0600);
                goto out;
        }
        if (r < 0)
                goto out;
        if (len != SECRET_BYTES) {
                /* Never replace it: every stored hash depends on it. */
                r = -EBADMSG;
                goto out;
        }
        memcpy(key, data, SECRET_BYTES);
        r = 0;
out:
        if (data)
                free_secret(data, len);
        free(path);
        return r;
}

/* HMAC of verifier under the daemon secret. An -EIO (no secret, no HMAC)
 * is recorded as d's last error, as a failed statement would be. */
static int hash_verifier(db *d, const char *state_dir, const char *verifier, unsigned char out[HASH_BYTES]) {
        unsigned char key[SECRET_BYTES];
        unsigned int out_len = 0;
        int r;

        r = load_secret(state_dir, key);
        if (r < 0)
                goto out;
        if (!HMAC(EVP_sha256(), key, SECRET_BYTES, (const unsigned char *) verifier, strlen(verifier),
                  out, &out_len) || out_len != HASH_BYTES)
                r = -EIO;
out:
        OPENSSL_cleanse(key, sizeof key);
        return r == -EIO ? db_fail(d, "Failed to hash the token verifier") : r;
}

/* ---- rows ------------------------------------------------------------------ */

static char *dup_column(sqlite3_stmt *st, int column) {
        const unsigned char *s = sqlite3_column_text(st, column);
        return s ? strdup((const char *) s) : NULL;
}

static int64_t int_column(sqlite3_stmt *st, int column) {
        return sqlite3_column_type(st, column) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, column);
}

/* A row selected with TOKEN_COLUMNS into *t. */
static int load_row(sqlite3_stmt *st, token_record *t) {
        token_record loaded = { 0 };
        const unsigned char *id = sqlite3_column_text(st, 0);

        if (!id || strlen((const char *) id) != SVCTOKEN_ID_LENGTH)
                return -EBADMSG;
        memcpy(loaded.id, id, SVCTOKEN_ID_LENGTH + 1);
        loaded.user = dup_column(st, 1);
        loaded.uid = (uid_t) sqlite3_column_int64(st, 2);
        loaded.scopes = dup_column(st, 3);
        loaded.description = dup_column(st, 4);
        loaded.created = int_column(st, 5);
        loaded.created_by = dup_column(st, 6);
        loaded.expires = int_column(st, 7);
        loaded.last_used = int_column(st, 8);
        loaded.revoked = int_column(st, 9);
        loaded.revoked_by = dup_column(st, 10);
        loaded.rotated = int_column(st, 11);
        loaded.previous_until = int_column(st, 12);
        if (!loaded.user || !loaded.scopes || !loaded.created_by) {
                token_record_clear(&loaded);
                return -ENOMEM;
        }
        *t = loaded;
        return 0;
}

int tokens_add(db *d, const char *state_dir, const token_record *t, const char *verifier) {
        unsigned char hash[HASH_BYTES];
        sqlite3_stmt *st = NULL;
        int r;

        r = hash_verifier(d, state_dir, verifier, hash);
        if (r < 0)
                return r;
        r = db_prepare(d, "INSERT INTO tokens (id, user, uid, secret_hash, scopes, description, created,"
                       " created_by, expires) VALUES (?,?,?,?,?,?,?,?,?)", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_text(st, 1, t->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, t->user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, t->uid);
        sqlite3_bind_blob(st, 4, hash, HASH_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, t->scopes ? t->scopes : "", -1, SQLITE_TRANSIENT);
        db_bind_text(st, 6, t->description);
        sqlite3_bind_int64(st, 7, t->created);
        sqlite3_bind_text(st, 8, t->created_by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 9, t->expires);
        r = db_write(d, st, "Failed to store token", NULL);
out:
        OPENSSL_cleanse(hash, sizeof hash);
        return r;
}

int tokens_get(db *d, const char *id, token_record *ret) {
        sqlite3_stmt *st = NULL;
        int r, step;

        r = db_prepare(d, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW)
                r = load_row(st, ret);
        else if (step == SQLITE_DONE)
                r = -ENOENT;
        else
                r = db_fail(d, "Failed to read token");
        db_release(d, st);
        return r;
}

int tokens_list(db *d, const char *user, const db_cursor *after, unsigned limit,
                int (*fn)(void *userdata, const token_record *t), void *userdata) {
        sqlite3_stmt *st = NULL;
        int r, step;

        if (user)
                r = db_prepare(d, "SELECT " TOKEN_COLUMNS " FROM tokens INDEXED BY tokens_user_page WHERE user = ?1"
                               " AND (created, id) < (?2, ?3) ORDER BY created DESC, id DESC LIMIT ?4", &st);
        else
                r = db_prepare(d, "SELECT " TOKEN_COLUMNS " FROM tokens INDEXED BY tokens_page"
                               " WHERE (created, id) < (?2, ?3) ORDER BY created DESC, id DESC LIMIT ?4", &st);
        if (r < 0)
                return r;
        if (user)
                sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        /* Without a cursor: before a (created, id) no row has. */
        sqlite3_bind_int64(st, 2, after ? after->created : INT64_MAX);
        sqlite3_bind_text(st, 3, after ? after->id : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, (int) (limit < TOKENS_MAX_LIST + 1 ? limit : TOKENS_MAX_LIST + 1));
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                token_record t = { 0 };

                r = load_row(st, &t);
                if (r < 0)
                        goto out;
                r = fn(userdata, &t);
                token_record_clear(&t);
                if (r != 0) {
                        r = r < 0 ? r : 0;
                        goto out;
                }
        }
        r = step == SQLITE_DONE ? 0 : db_fail(d, "Failed to list tokens");
out:
        db_release(d, st);
        return r;
}

int tokens_count_active(db *d, const char *user, int64_t now, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(d, "SELECT count(*) FROM tokens WHERE user = ? AND revoked IS NULL AND expires > ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now);
        return db_read_int64(d, st, "Failed to count tokens", ret);
}

/* Revokes the live tokens whose column (id or user) is key, durably;
 * *ret_changes: tokens revoked. */
#define REVOKE_TOKENS "UPDATE tokens SET revoked = ?1, revoked_by = ?2, previous_hash = NULL, previous_until = NULL"
static int revoke_where(db *d, const char *sql, const char *key, const char *by, int64_t now, const char *what,
                        int *ret_changes) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(d, sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
        return db_write(d, st, what, ret_changes);
}

int tokens_revoke(db *d, const char *id, const char *by, int64_t now, bool *ret_changed) {
        token_record t = { 0 };
        int r, changes = 0;

        r = tokens_get(d, id, &t);
        token_record_clear(&t);
        if (r < 0)
                return r;
        r = revoke_where(d, REVOKE_TOKENS " WHERE id = ?3 AND revoked IS NULL", id, by, now,
                         "Failed to revoke token", &changes);
        if (r == 0 && ret_changed)
                *ret_changed = changes > 0;
        return r;
}

int tokens_revoke_user(db *d, const char *user, const char *by, int64_t now, int *ret_count) {
        int r, changes = 0;

        r = revoke_where(d, REVOKE_TOKENS " WHERE user = ?3 AND revoked IS NULL", user, by, now,
                         "Failed to revoke tokens", &changes);
        if (r == 0 && ret_count)
                *ret_count = changes;
        return r;
}

int tokens_rotate(db *d, const char *state_dir, const char *id, const char *verifier, int64_t now,
                  int64_t grace) {
        unsigned char hash[HASH_BYTES];
        sqlite3_stmt *st = NULL;
        token_record t = { 0 };
        int r;

        r = tokens_get(d, id, &t);
        if (r < 0)
                goto out;
        if (t.revoked || t.expires <= now) {
                r = -EKEYREVOKED;
                goto out;
        }
        r = hash_verifier(d, state_dir, verifier, hash);
        if (r < 0)
                goto out;
        /* The current hash becomes the previous one: one statement, so the
         * token is never without a working secret. */
        r = db_prepare(d, "UPDATE tokens SET previous_hash = CASE WHEN ?1 > 0 THEN secret_hash END,"
                       " previous_until = CASE WHEN ?1 > 0 THEN ?2 + ?1 END, secret_hash = ?3,"
                       " rotated = ?2 WHERE id = ?4 AND revoked IS NULL", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_int64(st, 1, grace);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_blob(st, 3, hash, HASH_BYTES, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
        r = db_write(d, st, "Failed to rotate token", NULL);
out:
        OPENSSL_cleanse(hash, sizeof hash);
        token_record_clear(&t);
        return r;
}

int tokens_unlock(db *d, const char *user, int64_t now_ms, bool *ret_was_locked) {
        sqlite3_stmt *st = NULL;
        int r, locked = 0;

        r = db_prepare(d, "SELECT count(*) FROM token_failures WHERE user = ? AND locked_until_ms > ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now_ms);
        if (sqlite3_step(st) == SQLITE_ROW)
                locked = sqlite3_column_int(st, 0);
        db_release(d, st);
        st = NULL;
        r = db_prepare(d, "DELETE FROM token_failures WHERE user = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        r = db_write(d, st, "Failed to unlock tokens", NULL);
        if (r == 0 && ret_was_locked)
                *ret_was_locked = locked > 0;
        return r;
}

/* ---- authentication --------------------------------------------------------- */

int64_t tokens_failure_delay_ms(unsigned failures, int64_t max_ms) {
        int64_t delay = TOKENS_DELAY_BASE_MS;

        for (unsigned i = 1; i < failures && delay < max_ms; i++)
                delay *= 2;
        return delay < max_ms ? delay : max_ms;
}

/* How long the failures-th wrong secret in a row locks a token: lock_ms at
 * max_failures, doubling with each one after, at most lock_max_ms. */
static int64_t lock_ms(const token_lock_policy *policy, unsigned failures) {
        int64_t lock = policy->lock_ms;

        for (unsigned i = policy->max_failures; i < failures && lock < policy->lock_max_ms; i++)
                lock *= 2;
        return lock < policy->lock_max_ms ? lock : policy->lock_max_ms;
}

static int bind_source(sqlite3_stmt *st, int index, const char *source) {
        size_t n = strnlen(source, TOKENS_MAX_SOURCE);

        return sqlite3_bind_text(st, index, source, (int) n, SQLITE_TRANSIENT);
}

/* The failure state of a token id from one source, when still counted at
 * now_ms: wrong secrets in a row, the end of its lock (0: none), the
 * earliest next check. */
static int read_failures(db *d, const char *id, const char *source, int64_t now_ms, unsigned *ret_failures,
                         int64_t *ret_locked_until_ms, int64_t *ret_next_ms) {
        sqlite3_stmt *st = NULL;
        int r, step;

        *ret_failures = 0;
        *ret_locked_until_ms = 0;
        *ret_next_ms = 0;
        r = db_prepare(d, "SELECT failures, locked_until_ms, next_attempt_ms FROM token_failures"
                       " WHERE token_id = ? AND source = ? AND forget_after_ms > ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        bind_source(st, 2, source);
        sqlite3_bind_int64(st, 3, now_ms);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
                *ret_failures = (unsigned) sqlite3_column_int(st, 0);
                *ret_locked_until_ms = int_column(st, 1);
                *ret_next_ms = sqlite3_column_int64(st, 2);
        } else if (step != SQLITE_DONE)
                r = db_fail(d, "Failed to read token failures");
        db_release(d, st);
        return r;
}

/* A token id's failures still counted at now_ms, from every source, and
 * how many sources they came from: for the log and the delay of guesses
 * spread over many sources. At most TOKENS_FAILURE_SOURCES_PER_ID rows. */
static int read_id_failures(db *d, const char *id, int64_t now_ms, unsigned *ret_failures,
                            unsigned *ret_sources) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(d, "SELECT count(*), coalesce(sum(failures), 0) FROM token_failures"
                       " WHERE token_id = ? AND forget_after_ms > ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now_ms);
        if (sqlite3_step(st) == SQLITE_ROW) {
                *ret_sources = (unsigned) sqlite3_column_int(st, 0);
                *ret_failures = (unsigned) sqlite3_column_int(st, 1);
        } else
                r = db_fail(d, "Failed to count token failures");
        db_release(d, st);
        return r;
}

/* Room for a new row of id: rows no longer counted go, then, past
 * TOKENS_FAILURE_SOURCES_PER_ID rows of id or TOKENS_FAILURE_ROWS in all,
 * the rows least worth keeping (not locked before locked, oldest failure
 * first). Inside the caller's transaction. */
static int make_room(db *d, const char *id, int64_t now_ms) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(d, "DELETE FROM token_failures WHERE forget_after_ms <= ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now_ms);
        r = db_step_write(d, st, "Failed to prune token failures", NULL);
        if (r < 0)
                return r;
        r = db_prepare(d, "DELETE FROM token_failures WHERE rowid IN (SELECT rowid FROM token_failures"
                       " WHERE token_id = ?1 ORDER BY coalesce(locked_until_ms, 0) > ?2, last_failure_ms"
                       " LIMIT max(0, (SELECT count(*) FROM token_failures WHERE token_id = ?1) - ?3 + 1))", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now_ms);
        sqlite3_bind_int(st, 3, TOKENS_FAILURE_SOURCES_PER_ID);
        r = db_step_write(d, st, "Failed to bound the token's failure sources", NULL);
        if (r < 0)
                return r;
        r = db_prepare(d, "DELETE FROM token_failures WHERE rowid IN (SELECT rowid FROM token_failures"
                       " ORDER BY coalesce(locked_until_ms, 0) > ?1, last_failure_ms"
                       " LIMIT max(0, (SELECT count(*) FROM token_failures) - ?2 + 1))", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_int(st, 2, TOKENS_FAILURE_ROWS);
        return db_step_write(d, st, "Failed to bound the token failures", NULL);
}

/* Records the failures-th wrong secret in a row for id from source (the
 * first makes room for its row). One transaction. */
static int record_failure(db *d, const char *id, const char *source, const char *user, unsigned failures,
                          int64_t now_ms, int64_t next_ms, int64_t locked_until_ms) {
        sqlite3_stmt *st = NULL;
        int64_t counted_from = locked_until_ms > now_ms ? locked_until_ms : now_ms;
        int r;

        r = db_begin(d);
        if (r < 0)
                return r;
        if (failures <= 1) {
                r = make_room(d, id, now_ms);
                if (r < 0)
                        goto out;
        }
        r = db_prepare(d, "INSERT INTO token_failures (token_id, source, user, failures, last_failure_ms,"
                       " next_attempt_ms, locked_until_ms, forget_after_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                       " ON CONFLICT(token_id, source) DO UPDATE SET user = ?3, failures = ?4,"
                       " last_failure_ms = ?5, next_attempt_ms = ?6, locked_until_ms = ?7, forget_after_ms = ?8", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        bind_source(st, 2, source);
        sqlite3_bind_text(st, 3, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, (int) failures);
        sqlite3_bind_int64(st, 5, now_ms);
        sqlite3_bind_int64(st, 6, next_ms);
        db_bind_int64_or_null(st, 7, locked_until_ms > 0, locked_until_ms);
        sqlite3_bind_int64(st, 8, counted_from + TOKENS_FAILURE_FORGET_MS);
        r = db_step_write(d, st, "Failed to record token failure", NULL);
        if (r < 0)
                goto out;
        r = db_commit(d);
out:
        if (r < 0)
                db_rollback(d);
        return r;
}

/* Success: last_used, and the counter of the token from this source starts
 * again; other sources keep theirs (a success from elsewhere says nothing
 * about them). One transaction. */
static int record_success(db *d, const char *id, const char *source, int64_t now) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_begin(d);
        if (r < 0)
                return r;
        r = db_prepare(d, "UPDATE tokens SET last_used = ? WHERE id = ?", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        r = db_step_write(d, st, "Failed to record token use", NULL);
        if (r < 0)
                goto out;
        r = db_prepare(d, "DELETE FROM token_failures WHERE token_id = ? AND source = ?", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        bind_source(st, 2, source);
        r = db_step_write(d, st, "Failed to reset token failures", NULL);
        if (r < 0)
                goto out;
        r = db_commit(d);
out:
        if (r < 0)
                db_rollback(d);
        return r;
}

/* Which stored hash (current or, within its grace, previous) matches
 * presented; both are compared whatever the first one says. */
static bool hash_matches(sqlite3_stmt *st, const unsigned char presented[HASH_BYTES], int64_t now) {
        static const unsigned char nothing[HASH_BYTES];
        const void *current = sqlite3_column_blob(st, 13);
        const void *previous = sqlite3_column_blob(st, 14);
        bool current_ok, previous_ok;

        current_ok = current && sqlite3_column_bytes(st, 13) == HASH_BYTES &&
                     CRYPTO_memcmp(current, presented, HASH_BYTES) == 0;
        previous_ok = CRYPTO_memcmp(previous && sqlite3_column_bytes(st, 14) == HASH_BYTES ? previous : nothing,
                                    presented, HASH_BYTES) == 0 &&
                      previous && int_column(st, 15) > now;
        return current_ok || previous_ok;
}

int tokens_authenticate(db *d, const char *state_dir, const token_lock_policy *policy, const char *user,
                        const char *id, const char *verifier, const char *source, int64_t now_ms,
                        token_auth_result *ret) {
        unsigned char presented[HASH_BYTES];
        token_auth_result result = { .outcome = TOKEN_AUTH_FAILED };
        sqlite3_stmt *st = NULL;
        int64_t now = now_ms / 1000, next_ms = 0, locked_until_ms = 0;
        unsigned failures = 0;
        bool matches = false;
        int r, step;

        /* Hashed before the lookup: an unknown id costs what a known one does. */
        r = hash_verifier(d, state_dir, verifier, presented);
        if (r < 0)
                goto out;
        r = db_prepare(d, "SELECT " TOKEN_COLUMNS ", secret_hash, previous_hash, previous_until"
                       " FROM tokens WHERE id = ?", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(st);
        if (step == SQLITE_DONE) {
                /* Nothing to lock: the caller delays the source instead. */
                result.unknown_id = true;
                result.reason = "unknown token";
                goto done;
        }
        if (step != SQLITE_ROW) {
                r = db_fail(d, "Failed to read token");
                goto out;
        }
        matches = hash_matches(st, presented, now);
        r = load_row(st, &result.token);
        if (r < 0)
                goto out;
        r = read_failures(d, id, source, now_ms, &failures, &locked_until_ms, &next_ms);
        if (r == 0)
                r = read_id_failures(d, id, now_ms, &result.id_failures, &result.id_sources);
        if (r < 0)
                goto out;
        result.failures = failures;
        if (locked_until_ms > now_ms) {
                result.outcome = TOKEN_AUTH_LOCKED;
                result.reason = "too many wrong secrets, the token is locked";
                result.locked_until_ms = locked_until_ms;
                result.delay_ms = TOKENS_DELAY_BASE_MS;
                goto refused;
        }
        if (now_ms < next_ms) {
                result.outcome = TOKEN_AUTH_TOO_SOON;
                result.reason = "too soon after a failure";
                result.delay_ms = next_ms - now_ms;
                goto refused;
        }
        if (!matches)
                result.reason = "wrong secret";
        else if (strcmp(result.token.user, user) != 0)
                result.reason = "token of another user";
        else if (result.token.revoked)
                result.reason = "token revoked";
        else if (result.token.expires <= now)
                result.reason = "token expired";
        else
                result.outcome = TOKEN_AUTH_OK;

        if (result.outcome == TOKEN_AUTH_OK) {
                result.reason = "accepted";
                r = record_success(d, id, source, now);
                if (r < 0)
                        goto out;
                result.token.last_used = now;
                goto done;
        }
        if (matches) {
                /* Whoever holds the secret is not guessing it: refused, not
                 * counted. */
                result.delay_ms = TOKENS_DELAY_BASE_MS;
                goto refused;
        }
        result.counted = true;
        result.failures = failures + 1;
        result.id_failures++;
        result.id_sources += failures == 0;
        result.delay_ms = tokens_failure_delay_ms(result.failures, TOKENS_DELAY_MAX_MS);
        if (result.failures >= policy->max_failures) {
                result.locked_now = true;
                result.locked_until_ms = now_ms + lock_ms(policy, result.failures);
        }
        /* The window closes at half the delay the module is told to wait:
         * libpam spreads pam_fail_delay between half and one and a half
         * times the value asked (_pam_compute_delay), and an honest retry
         * must not land inside it (seen: 0.7x, then "too soon"). It is the
         * source's own: a window per id would let anyone hold the token's
         * honest logins off. */
        r = record_failure(d, id, source, result.token.user, result.failures, now_ms,
                           result.locked_now ? 0 : now_ms + result.delay_ms / 2, result.locked_until_ms);
        /* Guesses spread over many sources: each failure waits the longest,
         * whichever source it came from. Only failures wait. */
        if (result.id_sources > TOKENS_ID_SOURCES_SLOW)
                result.delay_ms = TOKENS_DELAY_MAX_MS;
        if (r < 0)
                goto out;
refused:
        /* The owner, for the log (the caller's user may be another). */
        result.owner = strdup(result.token.user);
        token_record_clear(&result.token);
        if (!result.owner) {
                r = -ENOMEM;
                goto out;
        }
done:
        *ret = result;
        result = (token_auth_result) { 0 };
        r = 0;
out:
        OPENSSL_cleanse(presented, sizeof presented);
        db_release(d, st);
        token_auth_result_clear(&result);
        return r;
}

/* ---- sessions opened with a token ------------------------------------------ */

int tokens_check_evidence(db *d, const char *id, const char *user, int64_t now) {
        token_record t = { 0 };
        int r;

        r = tokens_get(d, id, &t);
        if (r < 0)
                goto out;
        if (strcmp(t.user, user) != 0) {
                r = -ENOENT;
                goto out;
        }
        if (t.revoked || t.expires <= now)
                r = -EKEYREVOKED;
        else if (t.last_used < now - TOKENS_EVIDENCE_SECONDS)
                r = -ESTALE;
out:
        token_record_clear(&t);
        return r;
}

int tokens_bind_session(db *d, const char *sid, const char *id) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(d, "INSERT OR REPLACE INTO session_tokens (sid, token_id) VALUES (?, ?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, sid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        /* As durable as the session row it belongs to (db.h). */
        return db_write_normal(d, st, "Failed to bind session to token", NULL);
}

int tokens_session_limit(db *d, const char *sid, int64_t now, bool *ret_bound, char **ret_scopes,
                         int64_t *ret_expires) {
        sqlite3_stmt *st = NULL;
        char *scopes = NULL;
        int r, step;

        /* On every login and refresh: from the statement cache. */
        r = db_prepare(d, "SELECT t.scopes, t.revoked, t.expires FROM session_tokens s"
                          " JOIN tokens t ON t.id = s.token_id WHERE s.sid = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, sid, -1, SQLITE_TRANSIENT);
        step = sqlite3_step(st);
        if (step == SQLITE_DONE) {
                *ret_bound = false;
                *ret_scopes = NULL;
                goto out;
        }
        if (step != SQLITE_ROW) {
                r = db_fail(d, "Failed to read the session's token");
                goto out;
        }
        /* A session whose token went away must not be refreshed with
         * scopes the token no longer vouches for. */
        if (sqlite3_column_type(st, 1) != SQLITE_NULL || sqlite3_column_int64(st, 2) <= now) {
                r = -EKEYREVOKED;
                goto out;
        }
        scopes = dup_column(st, 0);
        if (!scopes) {
                r = -ENOMEM;
                goto out;
        }
        *ret_bound = true;
        *ret_scopes = scopes;
        if (ret_expires)
                *ret_expires = sqlite3_column_int64(st, 2);
out:
        db_release(d, st);
        return r;
}

int tokens_sessions(db *d, const char *id, char ***ret) {
        sqlite3_stmt *st = NULL;
        char **list = NULL;
        size_t n = 0;
        int r, step;

        r = db_prepare(d, "SELECT s.sid FROM session_tokens s JOIN sessions x ON x.sid = s.sid"
                       " WHERE s.token_id = ? AND x.ended IS NULL LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, TOKENS_MAX_LIST);
        list = calloc(TOKENS_MAX_LIST + 1, sizeof(char *));
        if (!list) {
                r = -ENOMEM;
                goto out;
        }
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                list[n] = dup_column(st, 0);
                if (!list[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                n++;
        }
        if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to list the token's sessions");
                goto out;
        }
        if (n > 0) {
                *ret = list;
                list = NULL;
        } else
                *ret = NULL;
out:
        strv_free(list);
        db_release(d, st);
        return r;
}
