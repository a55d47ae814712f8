/* test_svctoken.c: the service-account token format shared by enrichctl and
 * the PAM module: what counts as a token (and what is a password), the
 * verifier, and fresh secrets; and the daemon's check of a presented
 * verifier (tokens.c) against a real sqlite file: the whole stored hash
 * must match, the current one and, in a rotation's grace, the previous
 * one, and the per-id lock ends by itself; and locks are per (id, source):
 * wrong secrets from one source lock the id for that source alone, so a
 * token id, which is no secret, is not enough to lock its honest logins out
 * (finding F5); the failure rows are bounded and pruned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "svctoken.h"
#include "tap.h"
#include "tokens.h"

#define TOKEN_ID "0123456789abcdef"

static char state_dir[] = "/tmp/enrich-test-svctoken-XXXXXX";

/* Flips the last byte of column (secret_hash or previous_hash) of TOKEN_ID:
 * a stored hash that agrees with the real one in every leading byte. */
static int flip_last_byte(db *d, const char *column) {
        char sql[128];
        sqlite3_stmt *st = NULL;
        unsigned char hash[64];
        int n = 0, r = -EIO;

        snprintf(sql, sizeof sql, "SELECT %s FROM tokens WHERE id = '" TOKEN_ID "'", column);
        if (sqlite3_prepare_v2(db_handle(d), sql, -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        if (sqlite3_step(st) == SQLITE_ROW && (n = sqlite3_column_bytes(st, 0)) > 0 && n <= (int) sizeof hash) {
                memcpy(hash, sqlite3_column_blob(st, 0), (size_t) n);
                r = 0;
        }
        sqlite3_finalize(st);
        if (r < 0)
                return r;
        hash[n - 1] ^= 0x01;
        snprintf(sql, sizeof sql, "UPDATE tokens SET %s = ? WHERE id = '" TOKEN_ID "'", column);
        if (sqlite3_prepare_v2(db_handle(d), sql, -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_blob(st, 1, hash, n, SQLITE_TRANSIENT);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
        sqlite3_finalize(st);
        return r;
}

/* The outcome of presenting verifier for TOKEN_ID of "svc" at *now_ms,
 * which then moves on by a minute (past any delay a failure set). */
static const char *present(db *d, const token_lock_policy *policy, const char *verifier, int64_t *now_ms) {
        token_auth_result result = { 0 };
        const char *reason;
        int r = tokens_authenticate(d, state_dir, policy, "svc", TOKEN_ID, verifier, "service:test", *now_ms, &result);

        *now_ms += 60 * 1000;
        if (r < 0)
                return "error";
        reason = result.reason;
        token_auth_result_clear(&result);
        return reason;
}

static void test_stored_hash(void) {
        char secret[SVCTOKEN_SECRET_LENGTH + 1], next[SVCTOKEN_SECRET_LENGTH + 1];
        char v1[SVCTOKEN_VERIFIER_LENGTH + 1], v2[SVCTOKEN_VERIFIER_LENGTH + 1];
        char path[sizeof state_dir + 32], *error = NULL;
        token_lock_policy policy = { .max_failures = 3, .lock_ms = 5 * 60 * 1000, .lock_max_ms = 20 * 60 * 1000 };
        int64_t now = time(NULL), now_ms = now * 1000;
        token_record t = { .id = TOKEN_ID,
                           .user = (char *) "svc",
                           .uid = 1000,
                           .scopes = (char *) "",
                           .created = now,
                           .created_by = (char *) "test",
                           .expires = now + 30 * 86400 };
        bool was_locked = false;
        db *d = NULL;

        if (!mkdtemp(state_dir)) {
                CHECK(0, "stored-hash-setup");
                return;
        }
        snprintf(path, sizeof path, "%s/%s", state_dir, DB_FILE_NAME);
        if (db_open(path, &d, &error) < 0 || svctoken_new_secret(secret) < 0 || svctoken_new_secret(next) < 0 ||
            svctoken_verifier(secret, strlen(secret), v1) < 0 || svctoken_verifier(next, strlen(next), v2) < 0 ||
            tokens_add(d, state_dir, &t, v1) < 0) {
                printf("# %s\n", error ? error : "setup failed");
                CHECK(0, "stored-hash-setup");
                goto out;
        }
        CHECK(strcmp(present(d, &policy, v1, &now_ms), "accepted") == 0, "stored-hash-real-secret-accepted");
        /* A check of only the leading bytes would accept this. */
        CHECK(flip_last_byte(d, "secret_hash") == 0 && strcmp(present(d, &policy, v1, &now_ms), "wrong secret") == 0,
              "stored-hash-compared-in-full");
        CHECK(flip_last_byte(d, "secret_hash") == 0 && strcmp(present(d, &policy, v1, &now_ms), "accepted") == 0,
              "stored-hash-restored-accepted");

        /* A rotation with grace: the old secret is checked against the
         * previous hash, in full too. */
        CHECK(tokens_rotate(d, state_dir, TOKEN_ID, v2, now_ms / 1000, 30 * 86400) == 0 &&
                      strcmp(present(d, &policy, v2, &now_ms), "accepted") == 0 &&
                      strcmp(present(d, &policy, v1, &now_ms), "accepted") == 0,
              "previous-hash-in-grace-accepted");
        CHECK(flip_last_byte(d, "previous_hash") == 0 && strcmp(present(d, &policy, v1, &now_ms), "wrong secret") == 0,
              "previous-hash-compared-in-full");
        CHECK(strcmp(present(d, &policy, v2, &now_ms), "accepted") == 0, "previous-hash-flip-keeps-current");

        /* The lock of a token id ends by itself, after lock_ms, and again
         * twice as late after one more wrong secret. */
        for (int i = 0; i < 3; i++)
                (void) present(d, &policy, v1, &now_ms);
        CHECK(strcmp(present(d, &policy, v2, &now_ms), "too many wrong secrets, the token is locked") == 0,
              "lock-refuses-right-secret");
        now_ms += policy.lock_ms;
        (void) present(d, &policy, v1, &now_ms);
        now_ms += policy.lock_ms;
        CHECK(strcmp(present(d, &policy, v2, &now_ms), "too many wrong secrets, the token is locked") == 0,
              "lock-doubles-after-further-failure");
        now_ms += policy.lock_ms;
        CHECK(strcmp(present(d, &policy, v2, &now_ms), "accepted") == 0, "lock-ends-by-itself");
        for (int i = 0; i < 3; i++)
                (void) present(d, &policy, v1, &now_ms);
        CHECK(tokens_unlock(d, "svc", now_ms, &was_locked) == 0 && was_locked &&
                      strcmp(present(d, &policy, v2, &now_ms), "accepted") == 0,
              "unlock-ends-lock-early");
out:
        db_close(d);
        free(error);
        snprintf(path, sizeof path, "rm -rf %s", state_dir);
        if (system(path) != 0)
                printf("# could not remove %s\n", state_dir);
}

/* One attempt on TOKEN_ID of "svc" from source at now_ms (time does not
 * move); *ret gets the result (its reason static) unless there was an error. */
static const char *attempt(db *d, const token_lock_policy *policy, const char *verifier, const char *source,
                           int64_t now_ms, token_auth_result *ret) {
        token_auth_result result = { 0 };
        int r = tokens_authenticate(d, state_dir, policy, "svc", TOKEN_ID, verifier, source, now_ms, &result);

        if (r < 0)
                return "error";
        token_auth_result_clear(&result);
        if (ret)
                *ret = result;
        return result.reason;
}

static int64_t count_rows(db *d, const char *where) {
        char sql[256];
        sqlite3_stmt *st = NULL;
        int64_t n = -1;

        snprintf(sql, sizeof sql, "SELECT count(*) FROM token_failures WHERE %s", where);
        if (sqlite3_prepare_v2(db_handle(d), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

#define LOCKED "too many wrong secrets, the token is locked"

/* Finding F5: U2 (ruser:u2) presents U1's token id with wrong secrets. */
static void test_source_locks(void) {
        char secret[SVCTOKEN_SECRET_LENGTH + 1], wrong_secret[SVCTOKEN_SECRET_LENGTH + 1];
        char right[SVCTOKEN_VERIFIER_LENGTH + 1], wrong[SVCTOKEN_VERIFIER_LENGTH + 1];
        char path[sizeof state_dir + 32], source[64], *error = NULL;
        token_lock_policy policy = { .max_failures = 3, .lock_ms = 5 * 60 * 1000, .lock_max_ms = 20 * 60 * 1000 };
        int64_t now = time(NULL), now_ms = now * 1000, minute = 60 * 1000;
        token_record t = { .id = TOKEN_ID,
                           .user = (char *) "svc",
                           .uid = 1000,
                           .scopes = (char *) "",
                           .created = now,
                           .created_by = (char *) "test",
                           .expires = now + 30 * 86400 };
        token_auth_result res = { 0 };
        bool was_locked = false, ok;
        db *d = NULL;

        strcpy(state_dir, "/tmp/enrich-test-svctoken-XXXXXX");
        if (!mkdtemp(state_dir)) {
                CHECK(0, "source-locks-setup");
                return;
        }
        snprintf(path, sizeof path, "%s/%s", state_dir, DB_FILE_NAME);
        if (db_open(path, &d, &error) < 0 || svctoken_new_secret(secret) < 0 || svctoken_new_secret(wrong_secret) < 0 ||
            svctoken_verifier(secret, strlen(secret), right) < 0 ||
            svctoken_verifier(wrong_secret, strlen(wrong_secret), wrong) < 0 ||
            tokens_add(d, state_dir, &t, right) < 0) {
                printf("# %s\n", error ? error : "setup failed");
                CHECK(0, "source-locks-setup");
                goto out;
        }
        for (int i = 0; i < 3; i++, now_ms += minute)
                (void) attempt(d, &policy, wrong, "ruser:u2", now_ms, &res);
        CHECK(res.locked_now && strcmp(attempt(d, &policy, right, "ruser:u2", now_ms, NULL), LOCKED) == 0,
              "source-lock-locks-attackers-source");
        CHECK(strcmp(attempt(d, &policy, right, "rhost:198.51.100.1", now_ms, NULL), "accepted") == 0 &&
                      strcmp(attempt(d, &policy, right, "ruser:u1", now_ms, NULL), "accepted") == 0,
              "source-lock-spares-other-sources");
        CHECK(strcmp(attempt(d, &policy, right, "ruser:u2", now_ms, NULL), LOCKED) == 0,
              "source-lock-success-elsewhere-resets-nothing");
        ok = strcmp(attempt(d, &policy, wrong, "rhost:a", now_ms, &res), "wrong secret") == 0;
        CHECK(ok && res.failures == 1 && res.id_failures == 4 && res.id_sources == 2 &&
                      res.delay_ms == TOKENS_DELAY_BASE_MS,
              "source-lock-aggregate-per-id");
        /* u2's lock ends; one more wrong secret locks it twice as long. */
        now_ms += policy.lock_ms;
        (void) attempt(d, &policy, wrong, "ruser:u2", now_ms, &res);
        CHECK(res.locked_now && res.locked_until_ms - now_ms == 2 * policy.lock_ms, "source-lock-backs-off");
        now_ms += policy.lock_ms + minute;
        CHECK(strcmp(attempt(d, &policy, right, "ruser:u2", now_ms, NULL), LOCKED) == 0,
              "source-lock-backed-off-still-locked");
        now_ms += policy.lock_ms;
        CHECK(strcmp(attempt(d, &policy, right, "ruser:u2", now_ms, NULL), "accepted") == 0,
              "source-lock-ends-by-itself");

        /* Guesses from many sources: past TOKENS_ID_SOURCES_SLOW of them,
         * every failure waits the longest, but a right secret from a source
         * that is not locked is still checked at once. */
        now_ms += minute;
        for (int i = 0; i < TOKENS_ID_SOURCES_SLOW; i++) {
                snprintf(source, sizeof source, "rhost:spread-%d", i);
                (void) attempt(d, &policy, wrong, source, now_ms, &res);
        }
        CHECK(res.id_sources == TOKENS_ID_SOURCES_SLOW + 1 && res.delay_ms == TOKENS_DELAY_MAX_MS,
              "many-sources-delay-the-longest");
        CHECK(strcmp(attempt(d, &policy, right, "rhost:honest", now_ms, NULL), "accepted") == 0,
              "many-sources-never-refuse-right-secret");

        /* Unlock clears every source of the user's tokens. */
        for (int i = 0; i < 3; i++, now_ms += minute) {
                (void) attempt(d, &policy, wrong, "ruser:u2", now_ms, NULL);
                (void) attempt(d, &policy, wrong, "rhost:b", now_ms, NULL);
        }
        ok = strcmp(attempt(d, &policy, right, "ruser:u2", now_ms, NULL), LOCKED) == 0 &&
             strcmp(attempt(d, &policy, right, "rhost:b", now_ms, NULL), LOCKED) == 0;
        CHECK(ok && tokens_unlock(d, "svc", now_ms, &was_locked) == 0 && was_locked && count_rows(d, "1") == 0 &&
                      strcmp(attempt(d, &policy, right, "ruser:u2", now_ms, NULL), "accepted") == 0 &&
                      strcmp(attempt(d, &policy, right, "rhost:b", now_ms, NULL), "accepted") == 0,
              "unlock-clears-every-source");

        /* Bounded per id, keeping locks: a locked source survives a flood
         * of new ones. */
        for (int i = 0; i < 3; i++, now_ms += minute)
                (void) attempt(d, &policy, wrong, "ruser:kept", now_ms, NULL);
        for (int i = 0; i < TOKENS_FAILURE_SOURCES_PER_ID + 10; i++) {
                snprintf(source, sizeof source, "rhost:flood-%d", i);
                (void) attempt(d, &policy, wrong, source, now_ms, NULL);
        }
        CHECK(count_rows(d, "token_id = '" TOKEN_ID "'") == TOKENS_FAILURE_SOURCES_PER_ID &&
                      strcmp(attempt(d, &policy, right, "ruser:kept", now_ms, NULL), LOCKED) == 0,
              "failure-rows-bounded-per-id");
        /* Bounded in all: other ids' rows, made directly, up to the limit. */
        ok = sqlite3_exec(db_handle(d),
                          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)"
                          " INSERT INTO token_failures (token_id, source, user, failures, last_failure_ms,"
                          " forget_after_ms) SELECT printf('%016x', i), 's', 'x', 1, 0, 9223372036854775807 FROM n",
                          NULL, NULL, NULL) == SQLITE_OK;
        (void) attempt(d, &policy, wrong, "rhost:one-more", now_ms, NULL);
        CHECK(ok && count_rows(d, "1") == TOKENS_FAILURE_ROWS && count_rows(d, "source = 'rhost:one-more'") == 1 &&
                      strcmp(attempt(d, &policy, right, "ruser:kept", now_ms, NULL), LOCKED) == 0,
              "failure-rows-bounded-in-all");
        (void) sqlite3_exec(db_handle(d), "DELETE FROM token_failures WHERE user = 'x'", NULL, NULL, NULL);
        /* A day after its last failure or the end of its lock a row no
         * longer counts, and the next new row prunes it. */
        now_ms += policy.lock_max_ms + TOKENS_FAILURE_FORGET_MS;
        ok = strcmp(attempt(d, &policy, wrong, "rhost:flood-70", now_ms, &res), "wrong secret") == 0 &&
             res.failures == 1 && res.id_sources == 1;
        CHECK(ok && count_rows(d, "1") == 1, "failure-rows-forgotten-and-pruned");
out:
        db_close(d);
        free(error);
        snprintf(path, sizeof path, "rm -rf %s", state_dir);
        if (system(path) != 0)
                printf("# could not remove %s\n", state_dir);
}

int main(void) {
        char secret[SVCTOKEN_SECRET_LENGTH + 1], other[SVCTOKEN_SECRET_LENGTH + 1];
        char token[SVCTOKEN_LENGTH + 1], id[SVCTOKEN_ID_LENGTH + 1];
        char v1[SVCTOKEN_VERIFIER_LENGTH + 1], v2[SVCTOKEN_VERIFIER_LENGTH + 1];

        CHECK(svctoken_new_secret(secret) == 0 && strlen(secret) == SVCTOKEN_SECRET_LENGTH, "svctoken-secret-length");
        CHECK(svctoken_new_secret(other) == 0 && strcmp(secret, other) != 0, "svctoken-secrets-differ");
        CHECK(svctoken_format("0123456789abcdef", secret, token) == 0 &&
                      strncmp(token, "enr_0123456789abcdef_", 21) == 0,
              "svctoken-format");
        CHECK(svctoken_parse(token, id, v1) == 0 && strcmp(id, "0123456789abcdef") == 0, "svctoken-parse");
        CHECK(svctoken_verifier(secret, strlen(secret), v2) == 0 && strcmp(v1, v2) == 0 && svctoken_valid_verifier(v1),
              "svctoken-verifier-matches");
        CHECK(strstr(v1, secret) == NULL && strcmp(v1, secret) != 0, "svctoken-verifier-is-not-the-secret");
        CHECK(svctoken_verifier(other, strlen(other), v2) == 0 && strcmp(v1, v2) != 0, "svctoken-verifier-differs");
        /* Passwords, and anything near the form, are someone else's. */
        CHECK(svctoken_parse("hunter2", id, v1) == -EINVAL, "svctoken-password-not-token");
        CHECK(svctoken_parse("", id, v1) == -EINVAL, "svctoken-empty-not-token");
        token[4] = 'G';
        CHECK(svctoken_parse(token, id, v1) == -EINVAL, "svctoken-bad-id-not-token");
        token[4] = '0';
        token[SVCTOKEN_LENGTH - 1] = '!';
        CHECK(svctoken_parse(token, id, v1) == -EINVAL, "svctoken-bad-secret-not-token");
        token[SVCTOKEN_LENGTH - 1] = '\0';
        CHECK(svctoken_parse(token, id, v1) == -EINVAL, "svctoken-short-not-token");
        CHECK(svctoken_format("0123456789ABCDEF", secret, token) == -EINVAL, "svctoken-format-refuses-bad-id");
        test_stored_hash();
        test_source_locks();
        TAP_EXIT();
}
