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
#include "clock.h"
#include "fleet.h"
#include "fleet_record.h"
#include "keys.h"
#include "log.h"
#include "paths.h"
#include "signing_keys.h"
#include "util.h"

/* After a failed JWKS write, try again this much later. */
#define REPUBLISH_RETRY_SECONDS 5

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
        signing_key_change c = {
                .kid = kid, .jwk = jwk, .other_kid = kid, .now = now, .until = now + (int64_t) d->config->max_ttl
        };
        int unretired = 0, retired = 0, r;

        if (!jwk)
                return -ENOMEM;
        r = signing_keys_record_current(d->db, &c, &unretired, &retired);
        free(jwk);
        if (r < 0) {
                format_error(ret_error, "%s", db_last_error(d->db));
                return r;
        }
        if (unretired)
                log_struct(LOG_WARNING, LOG_MSGID_KEY, (const char *[]) { "ENRICH_KID", kid, NULL },
                           "Signing key %s was recorded as retired, but it is still the key in %s: a rotation "
                           "did not complete; it stays the signing key",
                           kid, d->config->state_dir);
        if (retired)
                log_struct(LOG_WARNING, LOG_MSGID_KEY, (const char *[]) { "ENRICH_KID", kid, NULL },
                           "%d other key(s) were recorded as current, but %s holds key %s: they are retired "
                           "and stay in the JWKS for max_ttl",
                           retired, d->config->state_dir, kid);
        return 0;
}

/* The JWKS: current first, then also (a key about to become current), then
 * the retired keys still published, newest first; at most JWKS_MAX_KEYS. */
/* What publish gathers from the table. */
typedef struct published {
        json_t *keys;
        int64_t next;           /* the earliest published_until; 0: none */
} published;

static int add_published(void *userdata, const char *jwk, int64_t until) {
        published *p = userdata;
        json_t *old = json_loads(jwk, 0, NULL);

        if (!json_is_object(old)) {
                json_decref(old);
                return 0;   /* a row not our own writing: leave it out */
        }
        if (json_array_size(p->keys) >= JWKS_MAX_KEYS) {
                /* RotateKey refuses to get here; a hand-edited table may. */
                json_decref(old);
                log_warning("More retired keys are due in the JWKS than verifiers accept (%d): "
                            "leaving the oldest out",
                            JWKS_MAX_KEYS);
                return 1;
        }
        if (json_array_append_new(p->keys, old) < 0)
                return 0;
        if (p->next == 0 || until < p->next)
                p->next = until;
        return 0;
}

static int publish(enrichd *d, const signer *current, const signer *also, char **ret_error) {
        published p = { .keys = json_array() };
        json_t *doc = NULL, *jwk = NULL;
        char *text = NULL;
        int64_t now = clock_now();
        int r = 0;

        if (!p.keys || signer_public_jwk(current, &jwk) < 0 || json_array_append_new(p.keys, jwk) < 0 ||
            (also && (signer_public_jwk(also, &jwk) < 0 || json_array_append_new(p.keys, jwk) < 0))) {
                r = -ENOMEM;
                goto out;
        }
        r = signing_keys_foreach_published(d->db, now, signer_kid(current), also ? signer_kid(also) : "", add_published,
                                           &p);
        if (r < 0)
                goto out;
        doc = json_pack("{s:O}", "keys", p.keys);
        if (!doc || !(text = json_dumps(doc, JSON_INDENT(2)))) {
                r = -ENOMEM;
                goto out;
        }
        r = mkdir_parent(d->config->jwks, 0755);
        if (r == 0)
                r = write_file_atomic(d->config->jwks, text, strlen(text), 0644);
        if (r == 0 && d->keys_published)
                d->keys_published(d, doc);
out:
        if (r < 0) {
                format_error(ret_error, "Failed to write JWKS %s: %s", d->config->jwks,
                             r == -EIO ? db_last_error(d->db) : strerror(-r));
                d->keys_next_change = now + REPUBLISH_RETRY_SECONDS;
        } else
                d->keys_next_change = p.next;
        free(text);
        json_decref(doc);
        json_decref(p.keys);
        return r;
}

int keys_publish(enrichd *d, char **ret_error) {
        return publish(d, d->signer, NULL, ret_error);
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
        r = signing_keys_is_current(d->db, signer_kid(next));
        old_current = r < 0 ? r : signing_keys_is_current(d->db, signer_kid(d->signer));
        if (r < 0 || old_current < 0) {
                format_error(ret_error, "%s", db_last_error(d->db));
                r = -EIO;
        } else if (r == 1 && old_current == 0) {
                r = signer_rotate_commit(d->config->state_dir, ret_error);
                if (r == 0) {
                        log_struct(LOG_WARNING, LOG_MSGID_KEY,
                                   (const char *[]) { "ENRICH_KID", signer_kid(next), NULL },
                                   "Finished a key rotation a crash interrupted: %s replaces %s", signer_kid(next),
                                   signer_kid(d->signer));
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

/* In fleet mode, a normal rotation's endorsement: the outgoing key
 * (current) signs the new key's kid and x for this host's id, so the
 * fleet JWKS takes the new key on the strength of the enrolled one until
 * an issuer renews the enrolment (fleet.c). NULL without fleet mode or
 * when it cannot be made (the new key then waits for an enrolment). */
static char *endorse(enrichd *d, const signer *current, const signer *next) {
        json_t *jwk = NULL, *payload = NULL;
        char *token = NULL;
        const char *host_id = fleet_host_id(d);
        int r;

        if (!host_id)
                return NULL;
        if (signer_public_jwk(next, &jwk) < 0)
                goto out;
        payload = json_pack("{s:s, s:s, s:O, s:I}", "hostId", host_id, "kid", signer_kid(next), "x",
                            json_object_get(jwk, "x"), "at", (json_int_t) clock_now());
        r = payload ? signer_sign_typed(current, FLEET_ENDORSEMENT_TYPE, payload, &token) : -ENOMEM;
        if (r < 0)
                log_struct(LOG_WARNING, LOG_MSGID_KEY, (const char *[]) { "ENRICH_KID", signer_kid(next), NULL },
                           "Could not endorse the new signing key %s with %s (%s): the fleet JWKS leaves it "
                           "out until an issuer enrols it",
                           signer_kid(next), signer_kid(current), strerror(-r));
out:
        json_decref(payload);
        json_decref(jwk);
        return token;
}

int keys_rotate(enrichd *d, bool compromised, key_rotation *ret, char **ret_error) {
        signer *next = NULL;
        char *old_kid = NULL, *jwk = NULL, *error = NULL, *endorsement = NULL;
        signing_key_change c;
        int r;

        if (!compromised && (r = signing_keys_count_published(d->db, clock_now())) + 2 > JWKS_MAX_KEYS)
                return -E2BIG;
        if (!(old_kid = strdup(signer_kid(d->signer)))) {
                format_error(ret_error, "out of memory");
                return -ENOMEM;
        }
        r = signer_rotate_prepare(d->config->state_dir, &next, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "Key rotation failed: %s", error ? error : strerror(-r));
                format_error(ret_error, "%s", error ? error : "failed to generate a new key");
                goto out;
        }
        if (!(jwk = jwk_text(next))) {
                signer_rotate_abort(d->config->state_dir);
                format_error(ret_error, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        /* A compromised key vouches for nothing: whoever holds it could
         * endorse a key of their own. */
        if (!compromised)
                endorsement = endorse(d, d->signer, next);
        c = (signing_key_change) { .kid = signer_kid(next),
                                   .jwk = jwk,
                                   .other_kid = old_kid,
                                   .now = clock_now(),
                                   .endorsement = endorsement };
        /* Every token the old key signed expires by now + max_ttl. */
        c.until = compromised ? c.now : c.now + (int64_t) d->config->max_ttl;
        r = signing_keys_record_rotation(d->db, &c);
        if (r < 0) {
                signer_rotate_abort(d->config->state_dir);
                r = -EIO;
                goto out;
        }
        /* Verifiers learn the new key before anything is signed with it. */
        r = publish(d, d->signer, next, &error);
        if (r == 0)
                r = signer_rotate_commit(d->config->state_dir, &error);
        if (r < 0) {
                signing_keys_undo_rotation(d->db, &c);
                signer_rotate_abort(d->config->state_dir);
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "Key rotation failed: %s", error ? error : strerror(-r));
                format_error(ret_error, "%s", error ? error : "failed to put the new key in place");
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
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "%s (retrying in %d s)", error, REPUBLISH_RETRY_SECONDS);
        *ret = (key_rotation) { .old_kid = old_kid, .old_published_until = c.until, .jwks_pending = error != NULL };
        old_kid = NULL;
        r = 0;
out:
        signer_free(next);
        free(old_kid);
        free(jwk);
        free(endorsement);
        free(error);
        return r;
}

void key_rotation_clear(key_rotation *r) {
        if (!r)
                return;
        free(r->old_kid);
        *r = (key_rotation) { 0 };
}
