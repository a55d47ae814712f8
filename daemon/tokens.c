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
#include "b64url.h"
#include "config.h"
#include "tokens.h"
#include "util.h"

#define SECRET_BYTES 32
#define HASH_BYTES   32
#define TOKEN_COLUMNS \
        "id, user, uid, scopes, description, created, created_by, expires, last_used," \
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
        if (!HMAC(EVP_sha256(), key, SECRET_BYTES, (const unsigned char *) verifier, strlen(verifier), out, &out_len) ||
            out_len != HASH_BYTES)
                r = -EIO;
out:
        OPENSSL_cleanse(key, sizeof key);
        return r == -EIO ? db_fail(d, "Failed to hash the token verifier") : r;
}

int tokens_verifier_digest(const char *verifier, char **ret) {
        unsigned char digest[32];

        if (!EVP_Digest(verifier, strlen(verifier), digest, NULL, EVP_sha256(), NULL))
                return -EIO;
        return b64url_encode(digest, sizeof digest, ret);
}

/* What a fleet token's row is keyed on instead of the verifier: "fleet:"
 * and the verifier's digest. A verifier is base64url, so no verifier is
 * ever this text: a local token cannot be matched through it, nor the
 * other way round. malloc'd, NULL when out of memory. */
static char *fleet_hash_input(const char *digest) {
        char *text = NULL;

        return asprintf(&text, "fleet:%s", digest) < 0 ? NULL : text;
}

/* ---- rows ------------------------------------------------------------------ */

/* A row selected with TOKEN_COLUMNS into the token_record userdata. */
static int load_row(void *userdata, sqlite3_stmt *st) {
        token_record loaded = { 0 };
        const char *id = db_column_text(st, 0);
        int r;

        if (!id || strlen(id) != SVCTOKEN_ID_LENGTH)
                return -EBADMSG;
        memcpy(loaded.id, id, SVCTOKEN_ID_LENGTH + 1);
        loaded.uid = (uid_t) sqlite3_column_int64(st, 2);
        loaded.created = db_column_int64_or(st, 5, 0);
        loaded.expires = db_column_int64_or(st, 7, 0);
        loaded.last_used = db_column_int64_or(st, 8, 0);
        loaded.revoked = db_column_int64_or(st, 9, 0);
        loaded.rotated = db_column_int64_or(st, 11, 0);
        loaded.previous_until = db_column_int64_or(st, 12, 0);
        if ((r = db_column_dup(st, 1, &loaded.user)) < 0 || (r = db_column_dup(st, 3, &loaded.scopes)) < 0 ||
            (r = db_column_dup(st, 4, &loaded.description)) < 0 || (r = db_column_dup(st, 6, &loaded.created_by)) < 0 ||
            (r = db_column_dup(st, 10, &loaded.revoked_by)) < 0 || !loaded.user || !loaded.scopes ||
            !loaded.created_by) {
                token_record_clear(&loaded);
                return -ENOMEM;
        }
        *(token_record *) userdata = loaded;
        return 0;
}

/* A durable write of sql with args and, as the parameter after them, the
 * HMAC of verifier (never kept past the write). */
static int write_hashed(db *d, const char *state_dir, const char *verifier, const char *sql, const char *what,
                        const db_value *args, size_t n_args) {
        unsigned char hash[HASH_BYTES];
        db_value all[16];
        int r;

        if (n_args >= ARRAY_SIZE(all))
                return -E2BIG;
        r = hash_verifier(d, state_dir, verifier, hash);
        if (r == 0) {
                memcpy(all, args, n_args * sizeof *args);
                all[n_args] = DB_BLOB(hash, HASH_BYTES);
                r = db_run(d, DB_WRITE_DURABLE, sql, what, NULL, all, n_args + 1);
        }
        OPENSSL_cleanse(hash, sizeof hash);
        return r;
}

int tokens_add(db *d, const char *state_dir, const token_record *t, const char *verifier) {
        return write_hashed(d, state_dir, verifier,
                            "INSERT INTO tokens (id, user, uid, scopes, description, created, created_by, expires,"
                            " secret_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            "Failed to store token",
                            DB_ARGS(DB_TEXT(t->id), DB_TEXT(t->user), DB_INT(t->uid),
                                    DB_TEXT(t->scopes ? t->scopes : ""), DB_TEXT(t->description), DB_INT(t->created),
                                    DB_TEXT(t->created_by), DB_INT(t->expires)));
}

int tokens_add_fleet(db *d, const char *state_dir, const token_record *t, const char *digest) {
        char *input = fleet_hash_input(digest);
        int r;

        if (!input)
                return -ENOMEM;
        r = tokens_add(d, state_dir, t, input);
        free(input);
        return r;
}

int tokens_get(db *d, const char *id, token_record *ret) {
        return db_query_row(d, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = ?", "Failed to read token", load_row,
                            ret, DB_ARGS(DB_TEXT(id)));
}

typedef struct token_walk {
        int (*fn)(void *userdata, const token_record *t);
        void *userdata;
} token_walk;

static int walk_row(void *userdata, sqlite3_stmt *st) {
        const token_walk *w = userdata;
        token_record t = { 0 };
        int r;

        r = load_row(&t, st);
        if (r < 0)
                return r;
        r = w->fn(w->userdata, &t);
        token_record_clear(&t);
        return r;
}

int tokens_list(db *d, const char *user, const db_cursor *after, unsigned limit,
                int (*fn)(void *userdata, const token_record *t), void *userdata) {
        token_walk w = { .fn = fn, .userdata = userdata };

#define TOKENS_PAGE " (created, id) < (?2, ?3) ORDER BY created DESC, id DESC LIMIT ?4"
        return db_query_each(d,
                             user ? "SELECT " TOKEN_COLUMNS " FROM tokens INDEXED BY tokens_user_page"
                                    " WHERE user = ?1 AND" TOKENS_PAGE
                                  : "SELECT " TOKEN_COLUMNS " FROM tokens INDEXED BY tokens_page WHERE" TOKENS_PAGE,
                             "Failed to list tokens", walk_row, &w,
                             DB_ARGS(DB_TEXT(user), DB_CURSOR_CREATED(after), DB_CURSOR_ID(after),
                                     DB_PAGE_LIMIT(limit, TOKENS_MAX_LIST)));
#undef TOKENS_PAGE
}

int tokens_count_active(db *d, const char *user, int64_t now, int64_t *ret) {
        return db_query_int64(d, "SELECT count(*) FROM tokens WHERE user = ? AND revoked IS NULL AND expires > ?",
                              "Failed to count tokens", ret, DB_ARGS(DB_TEXT(user), DB_INT(now)));
}

/* Revokes the live tokens whose column (id or user) is key, durably;
 * *ret_changes: tokens revoked. */
#define REVOKE_TOKENS "UPDATE tokens SET revoked = ?1, revoked_by = ?2, previous_hash = NULL, previous_until = NULL"
static int revoke_where(db *d, const char *sql, const char *key, const char *by, int64_t now, const char *what,
                        int *ret_changes) {
        return db_run(d, DB_WRITE_DURABLE, sql, what, ret_changes, DB_ARGS(DB_INT(now), DB_TEXT(by), DB_TEXT(key)));
}

int tokens_revoke(db *d, const char *id, const char *by, int64_t now, bool *ret_changed) {
        token_record t = { 0 };
        int r, changes = 0;

        r = tokens_get(d, id, &t);
        token_record_clear(&t);
        if (r < 0)
                return r;
        r = revoke_where(d, REVOKE_TOKENS " WHERE id = ?3 AND revoked IS NULL", id, by, now, "Failed to revoke token",
                         &changes);
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

int tokens_rotate(db *d, const char *state_dir, const char *id, const char *verifier, int64_t now, int64_t grace) {
        token_record t = { 0 };
        int r;

        r = tokens_get(d, id, &t);
        if (r == 0 && (t.revoked || t.expires <= now))
                r = -EKEYREVOKED;
        token_record_clear(&t);
        if (r < 0)
                return r;
        /* The current hash becomes the previous one: one statement, so the
         * token is never without a working secret. */
        return write_hashed(d, state_dir, verifier,
                            "UPDATE tokens SET previous_hash = CASE WHEN ?1 > 0 THEN secret_hash END,"
                            " previous_until = CASE WHEN ?1 > 0 THEN ?2 + ?1 END, secret_hash = ?4,"
                            " rotated = ?2 WHERE id = ?3 AND revoked IS NULL",
                            "Failed to rotate token", DB_ARGS(DB_INT(grace), DB_INT(now), DB_TEXT(id)));
}

int tokens_rotate_fleet(db *d, const char *state_dir, const char *id, const char *digest, int64_t now, int64_t grace) {
        char *input = fleet_hash_input(digest);
        int r;

        if (!input)
                return -ENOMEM;
        r = tokens_rotate(d, state_dir, id, input, now, grace);
        free(input);
        return r;
}

int tokens_unlock(db *d, const char *user, int64_t now_ms, bool *ret_was_locked) {
        int64_t locked = 0;
        int r;

        /* Only for the answer: a failed count unlocks all the same. */
        if (db_query_int64(d, "SELECT count(*) FROM token_failures WHERE user = ? AND locked_until_ms > ?",
                           "Failed to count locked tokens", &locked, DB_ARGS(DB_TEXT(user), DB_INT(now_ms))) < 0)
                locked = 0;
        r = db_run(d, DB_WRITE_DURABLE, "DELETE FROM token_failures WHERE user = ?", "Failed to unlock tokens", NULL,
                   DB_ARGS(DB_TEXT(user)));
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

/* A source as stored: at most TOKENS_MAX_SOURCE bytes of it. */
#define SOURCE(source) DB_TEXT_BOUNDED(source, TOKENS_MAX_SOURCE)

/* The failure state of a token id from one source, when still counted:
 * wrong secrets in a row, the end of its lock (0: none), the earliest next
 * check. */
typedef struct failure_state {
        unsigned failures;
        int64_t locked_until_ms, next_ms;
} failure_state;

static int read_failure_row(void *userdata, sqlite3_stmt *st) {
        failure_state *f = userdata;

        f->failures = (unsigned) sqlite3_column_int(st, 0);
        f->locked_until_ms = db_column_int64_or(st, 1, 0);
        f->next_ms = sqlite3_column_int64(st, 2);
        return 0;
}

/* The failure state of id from source at now_ms (all 0: none counted). */
static int read_failures(db *d, const char *id, const char *source, int64_t now_ms, failure_state *ret) {
        int r;

        *ret = (failure_state) { 0 };
        r = db_query_row(d,
                         "SELECT failures, locked_until_ms, next_attempt_ms FROM token_failures"
                         " WHERE token_id = ? AND source = ? AND forget_after_ms > ?",
                         "Failed to read token failures", read_failure_row, ret,
                         DB_ARGS(DB_TEXT(id), SOURCE(source), DB_INT(now_ms)));
        return r == -ENOENT ? 0 : r;
}

/* A token id's failures still counted at now_ms, from every source, and
 * how many sources they came from: for the log and the delay of guesses
 * spread over many sources. At most TOKENS_FAILURE_SOURCES_PER_ID rows. */
typedef struct id_failures {
        unsigned *failures, *sources;
} id_failures;

static int read_id_failure_row(void *userdata, sqlite3_stmt *st) {
        const id_failures *f = userdata;

        *f->sources = (unsigned) sqlite3_column_int(st, 0);
        *f->failures = (unsigned) sqlite3_column_int(st, 1);
        return 0;
}

static int read_id_failures(db *d, const char *id, int64_t now_ms, unsigned *ret_failures, unsigned *ret_sources) {
        id_failures f = { .failures = ret_failures, .sources = ret_sources };

        return db_query_row(d,
                            "SELECT count(*), coalesce(sum(failures), 0) FROM token_failures"
                            " WHERE token_id = ? AND forget_after_ms > ?",
                            "Failed to count token failures", read_id_failure_row, &f,
                            DB_ARGS(DB_TEXT(id), DB_INT(now_ms)));
}

/* Room for a new row of id: rows no longer counted go, then, past
 * TOKENS_FAILURE_SOURCES_PER_ID rows of id or TOKENS_FAILURE_ROWS in all,
 * the rows least worth keeping (not locked before locked, oldest failure
 * first). Inside the caller's transaction. */
static int make_room(db *d, const char *id, int64_t now_ms) {
        int r;

        r = db_run(d, DB_WRITE_IN_TRANSACTION, "DELETE FROM token_failures WHERE forget_after_ms <= ?",
                   "Failed to prune token failures", NULL, DB_ARGS(DB_INT(now_ms)));
        if (r == 0)
                r = db_run(d, DB_WRITE_IN_TRANSACTION,
                           "DELETE FROM token_failures WHERE rowid IN (SELECT rowid FROM token_failures"
                           " WHERE token_id = ?1 ORDER BY coalesce(locked_until_ms, 0) > ?2, last_failure_ms"
                           " LIMIT max(0, (SELECT count(*) FROM token_failures WHERE token_id = ?1) - ?3 + 1))",
                           "Failed to bound the token's failure sources", NULL,
                           DB_ARGS(DB_TEXT(id), DB_INT(now_ms), DB_INT(TOKENS_FAILURE_SOURCES_PER_ID)));
        if (r == 0)
                r = db_run(d, DB_WRITE_IN_TRANSACTION,
                           "DELETE FROM token_failures WHERE rowid IN (SELECT rowid FROM token_failures"
                           " ORDER BY coalesce(locked_until_ms, 0) > ?1, last_failure_ms"
                           " LIMIT max(0, (SELECT count(*) FROM token_failures) - ?2 + 1))",
                           "Failed to bound the token failures", NULL,
                           DB_ARGS(DB_INT(now_ms), DB_INT(TOKENS_FAILURE_ROWS)));
        return r;
}

/* An attempt to record: who, from where, when, and for a failure its new
 * state (failures-th wrong secret in a row). */
typedef struct attempt {
        const char *id, *source, *user;
        int64_t now_ms;
        failure_state state;
} attempt;

/* Records the failure a (the first makes room for its row). */
static int write_failure(db *d, void *userdata) {
        const attempt *a = userdata;
        int64_t locked_until_ms = a->state.locked_until_ms;
        int64_t counted_from = locked_until_ms > a->now_ms ? locked_until_ms : a->now_ms;
        int r = 0;

        if (a->state.failures <= 1)
                r = make_room(d, a->id, a->now_ms);
        if (r < 0)
                return r;
        return db_run(d, DB_WRITE_IN_TRANSACTION,
                      "INSERT INTO token_failures (token_id, source, user, failures, last_failure_ms,"
                      " next_attempt_ms, locked_until_ms, forget_after_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                      " ON CONFLICT(token_id, source) DO UPDATE SET user = ?3, failures = ?4,"
                      " last_failure_ms = ?5, next_attempt_ms = ?6, locked_until_ms = ?7, forget_after_ms = ?8",
                      "Failed to record token failure", NULL,
                      DB_ARGS(DB_TEXT(a->id), SOURCE(a->source), DB_TEXT(a->user), DB_INT(a->state.failures),
                              DB_INT(a->now_ms), DB_INT(a->state.next_ms),
                              DB_INT_OR_NULL(locked_until_ms > 0, locked_until_ms),
                              DB_INT(counted_from + TOKENS_FAILURE_FORGET_MS)));
}

/* Success: last_used (a->now_ms in seconds), and the counter of the token
 * from this source starts again; other sources keep theirs (a success from
 * elsewhere says nothing about them). */
static int write_success(db *d, void *userdata) {
        const attempt *a = userdata;
        int r;

        r = db_run(d, DB_WRITE_IN_TRANSACTION, "UPDATE tokens SET last_used = ? WHERE id = ?",
                   "Failed to record token use", NULL, DB_ARGS(DB_INT(a->now_ms / 1000), DB_TEXT(a->id)));
        if (r == 0)
                r = db_run(d, DB_WRITE_IN_TRANSACTION, "DELETE FROM token_failures WHERE token_id = ? AND source = ?",
                           "Failed to reset token failures", NULL, DB_ARGS(DB_TEXT(a->id), SOURCE(a->source)));
        return r;
}

/* The stored token and whether the presented hash matches it. */
typedef struct presented_token {
        const unsigned char *hash;
        const unsigned char *fleet_hash; /* the same verifier as a fleet token's row holds it */
        int64_t now;
        bool matches;
        token_record *token;
} presented_token;

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
                      previous && db_column_int64_or(st, 15, 0) > now;
        return current_ok || previous_ok;
}

static int read_presented(void *userdata, sqlite3_stmt *st) {
        presented_token *p = userdata;

        bool local = hash_matches(st, p->hash, p->now), fleet = hash_matches(st, p->fleet_hash, p->now);

        p->matches = local || fleet;
        return load_row(p->token, st);
}

int tokens_authenticate(db *d, const char *state_dir, const token_lock_policy *policy, const char *user, const char *id,
                        const char *verifier, const char *source, int64_t now_ms, token_auth_result *ret) {
        unsigned char presented[HASH_BYTES], presented_fleet[HASH_BYTES];
        token_auth_result result = { .outcome = TOKEN_AUTH_FAILED };
        presented_token p = {
                .hash = presented, .fleet_hash = presented_fleet, .now = now_ms / 1000, .token = &result.token
        };
        char *digest = NULL, *fleet_input = NULL;
        attempt a = { .id = id, .source = source, .now_ms = now_ms };
        int64_t now = now_ms / 1000, next_ms, locked_until_ms;
        unsigned failures;
        bool matches;
        int r;

        /* Hashed before the lookup: an unknown id costs what a known one does. */
        r = hash_verifier(d, state_dir, verifier, presented);
        if (r < 0)
                goto out;
        /* ... and as a fleet token's row would hold it (tokens_add_fleet). */
        if (tokens_verifier_digest(verifier, &digest) < 0 || !(fleet_input = fleet_hash_input(digest))) {
                r = -ENOMEM;
                goto out;
        }
        r = hash_verifier(d, state_dir, fleet_input, presented_fleet);
        if (r < 0)
                goto out;
        r = db_query_row(d,
                         "SELECT " TOKEN_COLUMNS ", secret_hash, previous_hash, previous_until"
                         " FROM tokens WHERE id = ?",
                         "Failed to read token", read_presented, &p, DB_ARGS(DB_TEXT(id)));
        if (r == -ENOENT) {
                /* Nothing to lock: the caller delays the source instead. */
                result.unknown_id = true;
                result.reason = "unknown token";
                goto done;
        }
        if (r < 0)
                goto out;
        matches = p.matches;
        r = read_failures(d, id, source, now_ms, &a.state);
        if (r == 0)
                r = read_id_failures(d, id, now_ms, &result.id_failures, &result.id_sources);
        if (r < 0)
                goto out;
        failures = a.state.failures;
        locked_until_ms = a.state.locked_until_ms;
        next_ms = a.state.next_ms;
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
                r = db_transaction(d, false, write_success, &a);
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
        a.user = result.token.user;
        a.state = (failure_state) {
                .failures = result.failures,
                .next_ms = result.locked_now ? 0 : now_ms + result.delay_ms / 2,
                .locked_until_ms = result.locked_until_ms,
        };
        r = db_transaction(d, false, write_failure, &a);
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
        OPENSSL_cleanse(presented_fleet, sizeof presented_fleet);
        free(digest);
        free(fleet_input);
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
        /* As durable as the session row it belongs to (db.h). */
        return db_run(d, DB_WRITE_NORMAL, "INSERT OR REPLACE INTO session_tokens (sid, token_id) VALUES (?, ?)",
                      "Failed to bind session to token", NULL, DB_ARGS(DB_TEXT(sid), DB_TEXT(id)));
}

/* What a session's token still vouches for at now: its scopes, until
 * expires. */
typedef struct session_limit {
        int64_t now;
        char *scopes;
        int64_t expires;
} session_limit;

static int read_limit(void *userdata, sqlite3_stmt *st) {
        session_limit *l = userdata;

        /* A session whose token went away must not be refreshed with
         * scopes the token no longer vouches for. */
        if (sqlite3_column_type(st, 1) != SQLITE_NULL || sqlite3_column_int64(st, 2) <= l->now)
                return -EKEYREVOKED;
        l->expires = sqlite3_column_int64(st, 2);
        l->scopes = db_column_text(st, 0) ? strdup(db_column_text(st, 0)) : NULL;
        return l->scopes ? 0 : -ENOMEM;
}

int tokens_session_limit(db *d, const char *sid, int64_t now, bool *ret_bound, char **ret_scopes,
                         int64_t *ret_expires) {
        session_limit l = { .now = now };
        int r;

        /* On every login and refresh: from the statement cache. */
        r = db_query_row(d,
                         "SELECT t.scopes, t.revoked, t.expires FROM session_tokens s"
                         " JOIN tokens t ON t.id = s.token_id WHERE s.sid = ?",
                         "Failed to read the session's token", read_limit, &l, DB_ARGS(DB_TEXT(sid)));
        if (r == -ENOENT) {
                *ret_bound = false;
                *ret_scopes = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        *ret_bound = true;
        *ret_scopes = l.scopes;
        if (ret_expires)
                *ret_expires = l.expires;
        return 0;
}

int tokens_sessions(db *d, const char *id, char ***ret) {
        return db_query_strv(d,
                             "SELECT s.sid FROM session_tokens s JOIN sessions x ON x.sid = s.sid"
                             " WHERE s.token_id = ? AND x.ended IS NULL LIMIT ?",
                             "Failed to list the token's sessions", ret, DB_ARGS(DB_TEXT(id), DB_INT(TOKENS_MAX_LIST)));
}
