/* keys.c: the signing key's life (keys.h). The order of a rotation is what
 * keeps it safe: the new private key is written and synced beside the old
 * one (signing-key.pem.next); the table records the change, durably: that
 * commit is the point of no return; the JWKS gains the new public key
 * while the old one still signs; only then does the rename replace the old
 * key's file and the daemon switch keys (single-threaded: no call runs in
 * between), and the JWKS takes its final form. A crash before the commit
 * leaves a .next that the next start removes; after it, a .next that the
 * next start puts in place, finishing the rotation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "audit.h"
#include "clock.h"
#include "keys.h"
#include "live.h"
#include "log.h"
#include "method_helpers.h"
#include "paging.h"
#include "paths.h"
#include "util.h"
#include "varlink.h"

/* After a failed JWKS write, try again this much later. */
#define REPUBLISH_RETRY_SECONDS 5

/* What a write to signing_keys is about. Every statement below numbers its
 * parameters the same way, so one binding serves them all: ?1 kid, ?2 jwk,
 * ?3 now, ?4 until, ?5 other_kid (sqlite ignores the ones a statement
 * does not use). */
typedef struct key_change {
        const char *kid, *jwk, *other_kid;
        int64_t now, until;
} key_change;

#define SQL_INSERT "INSERT OR IGNORE INTO signing_keys (kid, jwk, created) VALUES (?1, ?2, ?3)"
#define SQL_UNRETIRE "UPDATE signing_keys SET retired = NULL, published_until = NULL" \
                     " WHERE kid = ?1 AND retired IS NOT NULL"
#define SQL_RETIRE "UPDATE signing_keys SET retired = ?3, published_until = ?4 WHERE kid = ?5"
#define SQL_RETIRE_OTHERS "UPDATE signing_keys SET retired = ?3, published_until = ?4" \
                          " WHERE retired IS NULL AND kid != ?5"
#define SQL_DELETE "DELETE FROM signing_keys WHERE kid = ?5"

/* Runs one write of c in the caller's transaction; *ret_changes optional. */
static int run_write(enrichd *d, const char *sql, const char *what, const key_change *c, int *ret_changes) {
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (db_prepare(d->db, sql, &st) < 0)
                return db_fail(d->db, what);
        db_bind_text(st, 1, c->kid);
        db_bind_text(st, 2, c->jwk);
        sqlite3_bind_int64(st, 3, c->now);
        sqlite3_bind_int64(st, 4, c->until);
        db_bind_text(st, 5, c->other_kid);
        if (sqlite3_step(st) != SQLITE_DONE)
                r = db_fail(d->db, what);
        else if (ret_changes)
                *ret_changes = sqlite3_changes(db_handle(d->db));
        db_release(d->db, st);
        return r;
}

static char *jwk_text(const signer *s) {
        json_t *jwk = NULL;
        char *text = NULL;

        if (signer_public_jwk(s, &jwk) == 0)
                text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(jwk);
        return text;
}

/* Records the key in state_dir as the current one. */
static int record_current(enrichd *d, int64_t now, char **ret_error) {
        const char *kid = signer_kid(d->signer);
        char *jwk = jwk_text(d->signer);
        key_change c = { .kid = kid, .jwk = jwk, .other_kid = kid, .now = now,
                         .until = now + (int64_t) d->config->max_ttl };
        int unretired = 0, retired = 0, r;

        if (!jwk)
                return -ENOMEM;
        r = db_begin_durable(d->db);
        if (r == 0)
                r = run_write(d, SQL_INSERT, "Failed to record the signing key", &c, NULL);
        if (r == 0)
                r = run_write(d, SQL_UNRETIRE, "Failed to record the signing key", &c, &unretired);
        if (r == 0)
                r = run_write(d, SQL_RETIRE_OTHERS, "Failed to retire other keys", &c, &retired);
        if (r == 0)
                r = db_commit(d->db);
        else
                db_rollback(d->db);
        free(jwk);
        if (r < 0) {
                format_error(ret_error, "%s", db_last_error(d->db));
                return r;
        }
        if (unretired)
                log_struct(LOG_WARNING, LOG_MSGID_KEY, (const char *[]) { "ENRICH_KID", kid, NULL },
                           "Signing key %s was recorded as retired, but it is still the key in %s: a rotation "
                           "did not complete; it stays the signing key", kid, d->config->state_dir);
        if (retired)
                log_struct(LOG_WARNING, LOG_MSGID_KEY, (const char *[]) { "ENRICH_KID", kid, NULL },
                           "%d other key(s) were recorded as current, but %s holds key %s: they are retired "
                           "and stay in the JWKS for max_ttl", retired, d->config->state_dir, kid);
        return 0;
}

/* The JWKS: current first, then also (a key about to become current), then
 * the retired keys still published, newest first; at most JWKS_MAX_KEYS. */
static int publish(enrichd *d, const signer *current, const signer *also, char **ret_error) {
        sqlite3_stmt *st = NULL;
        json_t *doc = NULL, *keys = json_array(), *jwk = NULL;
        char *text = NULL;
        int64_t now = clock_now(), next = 0;
        int r = 0, step;

        if (!keys || signer_public_jwk(current, &jwk) < 0 || json_array_append_new(keys, jwk) < 0 ||
            (also && (signer_public_jwk(also, &jwk) < 0 || json_array_append_new(keys, jwk) < 0))) {
                r = -ENOMEM;
                goto out;
        }
        if (db_prepare(d->db, "SELECT jwk, published_until FROM signing_keys WHERE retired IS NOT NULL"
                              " AND published_until > ?1 AND kid != ?2 AND kid != ?3"
                              " ORDER BY retired DESC, kid", &st) < 0) {
                r = db_fail(d->db, "Failed to read the signing keys");
                goto out;
        }
        sqlite3_bind_int64(st, 1, now);
        db_bind_text(st, 2, signer_kid(current));
        db_bind_text(st, 3, also ? signer_kid(also) : "");
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *old = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
                int64_t until = sqlite3_column_int64(st, 1);

                if (!json_is_object(old)) {
                        json_decref(old);
                        continue;   /* a row not our own writing: leave it out */
                }
                if (json_array_size(keys) >= JWKS_MAX_KEYS) {
                        /* RotateKey refuses to get here; a hand-edited table may. */
                        json_decref(old);
                        log_warning("More retired keys are due in the JWKS than verifiers accept (%d): "
                                    "leaving the oldest out", JWKS_MAX_KEYS);
                        break;
                }
                if (json_array_append_new(keys, old) < 0)
                        continue;
                if (next == 0 || until < next)
                        next = until;
        }
        if (step != SQLITE_DONE && step != SQLITE_ROW) {
                r = db_fail(d->db, "Failed to read the signing keys");
                goto out;
        }
        doc = json_pack("{s:O}", "keys", keys);
        if (!doc || !(text = json_dumps(doc, JSON_INDENT(2)))) {
                r = -ENOMEM;
                goto out;
        }
        r = mkdir_parent(d->config->jwks, 0755);
        if (r == 0)
                r = write_file_atomic(d->config->jwks, text, strlen(text), 0644);
out:
        db_release(d->db, st);
        if (r < 0) {
                format_error(ret_error, "Failed to write JWKS %s: %s", d->config->jwks,
                             r == -EIO ? db_last_error(d->db) : strerror(-r));
                d->keys_next_change = now + REPUBLISH_RETRY_SECONDS;
        } else
                d->keys_next_change = next;
        free(text);
        json_decref(doc);
        json_decref(keys);
        return r;
}

int keys_publish(enrichd *d, char **ret_error) {
        return publish(d, d->signer, NULL, ret_error);
}

/* ?1 kid: 1 when that key is recorded as current (not retired). */
static int recorded_current(enrichd *d, const char *kid) {
        sqlite3_stmt *st = NULL;
        int r;

        if (db_prepare(d->db, "SELECT retired IS NULL FROM signing_keys WHERE kid = ?1", &st) < 0)
                return db_fail(d->db, "Failed to read the signing keys");
        db_bind_text(st, 1, kid);
        r = sqlite3_step(st);
        r = r == SQLITE_ROW ? sqlite3_column_int(st, 0) : r == SQLITE_DONE ? 0
                                                                         : db_fail(d->db, "Failed to read the signing keys");
        db_release(d->db, st);
        return r;
}

/* A signing-key.pem.next left by a crash: when the rotation to it was
 * recorded (the point of no return), finish it; else it never counted. */
static int finish_rotation(enrichd *d, char **ret_error) {
        signer *next = NULL;
        char *error = NULL;
        int r, old_current;

        r = signer_load_next(d->config->state_dir, &next, &error);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                log_warning("Removing %s/%s: %s", d->config->state_dir, SIGNER_NEXT_KEY_FILE,
                            error ? error : strerror(-r));
                signer_rotate_abort(d->config->state_dir);
                free(error);
                return 0;
        }
        r = recorded_current(d, signer_kid(next));
        old_current = r < 0 ? r : recorded_current(d, signer_kid(d->signer));
        if (r < 0 || old_current < 0) {
                format_error(ret_error, "%s", db_last_error(d->db));
                r = -EIO;
        } else if (r == 1 && old_current == 0) {
                r = signer_rotate_commit(d->config->state_dir, ret_error);
                if (r == 0) {
                        log_struct(LOG_WARNING, LOG_MSGID_KEY,
                                   (const char *[]) { "ENRICH_KID", signer_kid(next), NULL },
                                   "Finished a key rotation a crash interrupted: %s replaces %s",
                                   signer_kid(next), signer_kid(d->signer));
                        signer_free(d->signer);
                        d->signer = next;
                        next = NULL;
                }
        } else {
                /* Never recorded: it never counted. */
                signer_rotate_abort(d->config->state_dir);
                r = 0;
        }
        signer_free(next);
        return r;
}

int keys_open(enrichd *d, char **ret_error) {
        int r;

        r = finish_rotation(d, ret_error);
        if (r == 0)
                r = record_current(d, clock_now(), ret_error);
        if (r < 0)
                return r;
        return keys_publish(d, ret_error);
}

void keys_tick(enrichd *d) {
        char *error = NULL;

        if (d->keys_next_change <= 0 || clock_now() < d->keys_next_change)
                return;
        if (keys_publish(d, &error) < 0)
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "%s (retrying in %d s)", error ? error : "JWKS",
                           REPUBLISH_RETRY_SECONDS);
        else
                log_struct(LOG_INFO, LOG_MSGID_KEY, NULL, "Rewrote the JWKS %s: a retired key's time was up",
                           d->config->jwks);
        free(error);
}

int keys_find(enrichd *d, const char *kid, jwks **ret, int64_t *ret_retired) {
        sqlite3_stmt *st = NULL;
        json_t *doc = NULL, *jwk;
        int r, step;

        if (db_prepare(d->db, "SELECT jwk, retired FROM signing_keys WHERE kid = ?1", &st) < 0)
                return db_fail(d->db, "Failed to read the signing keys");
        db_bind_text(st, 1, kid);
        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
                r = step == SQLITE_DONE ? -ENOENT : db_fail(d->db, "Failed to read the signing keys");
                goto out;
        }
        jwk = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
        *ret_retired = sqlite3_column_type(st, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 1);
        doc = jwk ? json_pack("{s:[o]}", "keys", jwk) : NULL;
        r = doc ? jwks_parse(doc, ret) : -EBADMSG;
out:
        db_release(d->db, st);
        json_decref(doc);
        return r;
}

/* The order of ListKeys: the current key (retired NULL) first, then the
 * most recently retired; kid breaks ties. An expression of the index
 * signing_keys_page. */
#define KEY_SORT "coalesce(retired, 9223372036854775807)"

json_t *method_list_keys(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "limit", "after", NULL };
        sqlite3_stmt *st = NULL;
        page p = { 0 };
        json_t *reply;
        int64_t now = clock_now();
        int step = SQLITE_DONE, r = 0;

        (void) peer;
        if ((reply = check_known(params, known)) ||
            (reply = page_begin(&p, params)))
                goto out;
        /* Retired keys stay for good (old checkpoints verify with them), so
         * years of rotations outgrow one reply: this pages like the other
         * listings. The cursor seeks the index on the sort key; only keys
         * retired in the same second are stepped over. */
        if (page_after(&p))
                r = db_prepare(d->db, "SELECT kid, created, retired, published_until, " KEY_SORT
                                      " FROM signing_keys INDEXED BY signing_keys_page"
                                      " WHERE " KEY_SORT " <= ?1 AND (" KEY_SORT " < ?1 OR kid < ?2)"
                                      " ORDER BY " KEY_SORT " DESC, kid DESC LIMIT ?3", &st);
        else
                r = db_prepare(d->db, "SELECT kid, created, retired, published_until, " KEY_SORT
                                      " FROM signing_keys INDEXED BY signing_keys_page"
                                      " ORDER BY " KEY_SORT " DESC, kid DESC LIMIT ?3", &st);
        if (r < 0) {
                reply = database_error(d, "io.enrich.ListKeys");
                goto out;
        }
        if (page_after(&p)) {
                sqlite3_bind_int64(st, 1, page_after(&p)->created);
                sqlite3_bind_text(st, 2, page_after(&p)->id, -1, SQLITE_TRANSIENT);
        }
        sqlite3_bind_int(st, 3, (int) page_fetch(&p));
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                const char *kid = (const char *) sqlite3_column_text(st, 0);
                bool retired = sqlite3_column_type(st, 2) != SQLITE_NULL;
                int64_t until = sqlite3_column_int64(st, 3);
                const char *state = !retired ? "signing" : until > now ? "published" : "retired";
                json_t *k = json_pack("{s:s, s:s, s:I}", "kid", kid, "state", state, "created",
                                      (json_int_t) sqlite3_column_int64(st, 1));

                if (k && retired)
                        json_object_update_new(k, json_pack("{s:I, s:I}", "retired",
                                                            (json_int_t) sqlite3_column_int64(st, 2),
                                                            "publishedUntil", (json_int_t) until));
                /* Takes k. */
                r = k ? page_add(&p, k, sqlite3_column_int64(st, 4), kid) : -ENOMEM;
                if (r != 0)
                        break;
        }
        if (r < 0 || (r == 0 && step != SQLITE_DONE)) {
                reply = r < 0 ? internal_error(strerror(-r)) : database_error(d, "io.enrich.ListKeys");
                goto out;
        }
        reply = page_reply(&p, "keys");
        reply = reply ? varlink_reply_new(reply, false) : internal_error("out of memory");
out:
        db_release(d->db, st);
        page_done(&p);
        return reply;
}

/* How many retired keys the JWKS still carries. */
static int count_published(enrichd *d) {
        sqlite3_stmt *st = NULL;
        int r;

        if (db_prepare(d->db, "SELECT count(*) FROM signing_keys WHERE retired IS NOT NULL AND published_until > ?1",
                       &st) < 0)
                return db_fail(d->db, "Failed to read the signing keys");
        sqlite3_bind_int64(st, 1, clock_now());
        r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : db_fail(d->db, "Failed to read the signing keys");
        db_release(d->db, st);
        return r;
}

/* Records the rotation from c->other_kid (old) to c->kid (new) durably. */
static int record_rotation(enrichd *d, const key_change *c) {
        int r = db_begin_durable(d->db);

        if (r == 0)
                r = run_write(d, SQL_INSERT, "Failed to record the new signing key", c, NULL);
        if (r == 0)
                r = run_write(d, SQL_RETIRE, "Failed to retire the old signing key", c, NULL);
        if (r == 0)
                return db_commit(d->db);
        db_rollback(d->db);
        return r;
}

/* Undoes record_rotation after the key file could not be replaced. Best
 * effort: if this fails too, keys_open sets it right at the next start. */
static void undo_rotation(enrichd *d, const key_change *c) {
        key_change undo = { .kid = c->other_kid, .other_kid = c->kid };

        if (db_begin_durable(d->db) < 0)
                return;
        if (run_write(d, SQL_DELETE, "Failed to undo the rotation", &undo, NULL) < 0 ||
            run_write(d, SQL_UNRETIRE, "Failed to undo the rotation", &undo, NULL) < 0) {
                db_rollback(d->db);
                return;
        }
        (void) db_commit(d->db);
}

json_t *method_rotate_key(enrichd *d, const struct ucred *peer, json_t *params) {
        static const char *const known[] = { "compromised", NULL };
        json_t *reply, *flag;
        signer *next = NULL;
        char *old_kid = NULL, *jwk = NULL, *error = NULL;
        bool compromised;
        live_counts counts = { 0 };
        key_change c;
        int r;

        if ((reply = admin_only(d, peer, "io.enrich.RotateKey")) || (reply = check_known(params, known)))
                return reply;
        flag = json_object_get(params, "compromised");
        if (flag && !json_is_null(flag) && !json_is_boolean(flag))
                return invalid_parameter("compromised", "must be a boolean");
        compromised = json_is_true(flag);
        if (!compromised && (r = count_published(d)) + 2 > JWKS_MAX_KEYS)
                return r < 0 ? database_error(d, "io.enrich.RotateKey")
                             : error_reply("io.enrich.InvalidParameter",
                                           json_pack("{s:s, s:s}", "parameter", "compromised",
                                                     "reason", "too many retired keys are still published; "
                                                               "wait for them to expire, or rotate with "
                                                               "compromised=true"));

        if (!(old_kid = strdup(signer_kid(d->signer))))
                return internal_error("out of memory");
        r = signer_rotate_prepare(d->config->state_dir, &next, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "Key rotation failed: %s", error ? error : strerror(-r));
                reply = internal_error(error ? error : "failed to generate a new key");
                goto out;
        }
        if (!(jwk = jwk_text(next))) {
                signer_rotate_abort(d->config->state_dir);
                reply = internal_error("out of memory");
                goto out;
        }
        c = (key_change) { .kid = signer_kid(next), .jwk = jwk, .other_kid = old_kid, .now = clock_now() };
        /* Every token the old key signed expires by now + max_ttl. */
        c.until = compromised ? c.now : c.now + (int64_t) d->config->max_ttl;
        if (record_rotation(d, &c) < 0) {
                signer_rotate_abort(d->config->state_dir);
                reply = database_error(d, "io.enrich.RotateKey");
                goto out;
        }
        /* Verifiers learn the new key before anything is signed with it. */
        r = publish(d, d->signer, next, &error);
        if (r == 0)
                r = signer_rotate_commit(d->config->state_dir, &error);
        if (r < 0) {
                undo_rotation(d, &c);
                signer_rotate_abort(d->config->state_dir);
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "Key rotation failed: %s", error ? error : strerror(-r));
                reply = internal_error(error ? error : "failed to put the new key in place");
                free(error);
                error = NULL;
                (void) keys_publish(d, &error);
                goto out;
        }
        signer_free(d->signer);
        d->signer = next;
        next = NULL;
        /* Its final form: without the old key when it is compromised. The
         * new key is already in the JWKS, so a failure here only delays
         * the old key's removal (retried from the tick). */
        if (keys_publish(d, &error) < 0)
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "%s (retrying in %d s)", error,
                           REPUBLISH_RETRY_SECONDS);
        if (compromised)
                (void) live_reissue(d, NULL, "signing key rotated", &counts);
        (void) audit_recordf(d, peer, NULL, AUDIT_KEY_ROTATED, AUDIT_OK, "{s:s, s:s, s:b, s:I, s:i, s:i}",
                             "kid", signer_kid(d->signer), "previousKid", old_kid, "compromised", compromised,
                             "previousPublishedUntil", (json_int_t) c.until,
                             "sessionsUpdated", counts.updated, "sessionsRevoked", counts.revoked);
        log_struct(LOG_NOTICE, LOG_MSGID_KEY,
                   (const char *[]) { "ENRICH_KID", signer_kid(d->signer), "ENRICH_PREVIOUS_KID", old_kid, NULL },
                   "Rotated the signing key: %s replaces %s, which %s%s", signer_kid(d->signer), old_kid,
                   compromised ? "left the JWKS at once (compromised); live sessions re-issued"
                               : "stays in the JWKS until every token it signed has expired",
                   error ? "; the JWKS could not be written yet" : "");
        if (error && compromised)
                reply = internal_error("the new key signs, but the compromised key could not be taken out of "
                                       "the JWKS yet (enrichd retries): see the log");
        else
                reply = varlink_reply_new(json_pack("{s:s, s:s, s:I, s:i, s:i}", "kid", signer_kid(d->signer),
                                                    "previousKid", old_kid,
                                                    "previousPublishedUntil", (json_int_t) c.until,
                                                    "sessionsUpdated", counts.updated,
                                                    "sessionsRevoked", counts.revoked),
                                          false);
out:
        signer_free(next);
        free(old_kid);
        free(jwk);
        free(error);
        return reply;
}
