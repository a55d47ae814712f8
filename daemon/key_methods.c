/* key_methods.c: ListKeys (public keys, for anyone) and RotateKey over
 * Varlink; the key's life itself is keys.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "clock.h"
#include "key_methods.h"
#include "keys.h"
#include "live.h"
#include "log.h"
#include "method_support.h"
#include "paging.h"
#include "signing_keys.h"
#include "varlink.h"

typedef struct key_page {
        page *page;
        int64_t now;
} key_page;

/* Storage's row callback: the key into the page. */
static int add_key_row(void *userdata, const signing_key_row *row) {
        key_page *kp = userdata;
        const char *state = !row->retired ? "signing" : row->published_until > kp->now ? "published" : "retired";
        json_t *k = json_pack("{s:s, s:s, s:I}", "kid", row->kid, "state", state, "created", (json_int_t) row->created);

        if (k && row->retired)
                json_object_update_new(k, json_pack("{s:I, s:I}", "retired", (json_int_t) row->retired,
                                                    "publishedUntil", (json_int_t) row->published_until));
        /* Takes k. */
        return k ? page_add(kp->page, k, row->sort, row->kid) : -ENOMEM;
}

json_t *method_list_keys(enrichd *d, const method_call *call, json_t *params) {
        page p = { 0 };
        key_page kp = { .page = &p, .now = clock_now() };
        json_t *reply;
        int r;

        if ((reply = page_begin(&p, params)))
                goto out;
        r = signing_keys_list(d->db, page_after(&p), page_fetch(&p), add_key_row, &kp);
        reply = listing_reply(d, &p, r, "io.enrich.ListKeys", "keys");
out:
        page_done(&p);
        return reply;
}

json_t *method_rotate_key(enrichd *d, const method_call *call, json_t *params) {
        key_rotation rot = { 0 };
        live_counts counts = { 0 };
        char *error = NULL;
        json_t *reply, *flag;
        bool compromised;
        int r;

        flag = json_object_get(params, "compromised");
        if (flag && !json_is_null(flag) && !json_is_boolean(flag))
                return invalid_parameter("compromised", "must be a boolean");
        compromised = json_is_true(flag);
        r = keys_rotate(d, compromised, &rot, &error);
        if (r == -E2BIG) {
                reply = error_reply("io.enrich.InvalidParameter",
                                    json_pack("{s:s, s:s}", "parameter", "compromised", "reason",
                                              "too many retired keys are still published; "
                                              "wait for them to expire, or rotate with "
                                              "compromised=true"));
                goto out;
        }
        if (r < 0) {
                reply = error ? internal_error(error) : database_error(d, "io.enrich.RotateKey");
                goto out;
        }
        if (compromised)
                (void) live_reissue(d, NULL, "signing key rotated", &counts);
        (void) audit_recordf(d, call->peer, NULL, AUDIT_KEY_ROTATED, AUDIT_OK, "{s:s, s:s, s:b, s:I, s:i, s:i}", "kid",
                             signer_kid(d->signer), "previousKid", rot.old_kid, "compromised", compromised,
                             "previousPublishedUntil", (json_int_t) rot.old_published_until, "sessionsUpdated",
                             counts.updated, "sessionsRevoked", counts.revoked);
        log_struct(LOG_NOTICE, LOG_MSGID_KEY,
                   (const char *[]) { "ENRICH_KID", signer_kid(d->signer), "ENRICH_PREVIOUS_KID", rot.old_kid, NULL },
                   "Rotated the signing key: %s replaces %s, which %s%s", signer_kid(d->signer), rot.old_kid,
                   compromised ? "left the JWKS at once (compromised); live sessions re-issued"
                               : "stays in the JWKS until every token it signed has expired",
                   rot.jwks_pending ? "; the JWKS could not be written yet" : "");
        if (rot.jwks_pending && compromised)
                reply = internal_error("the new key signs, but the compromised key could not be taken out of "
                                       "the JWKS yet (enrichd retries): see the log");
        else
                reply = varlink_reply_new(json_pack("{s:s, s:s, s:I, s:i, s:i}", "kid", signer_kid(d->signer),
                                                    "previousKid", rot.old_kid, "previousPublishedUntil",
                                                    (json_int_t) rot.old_published_until, "sessionsUpdated",
                                                    counts.updated, "sessionsRevoked", counts.revoked),
                                          false);
out:
        key_rotation_clear(&rot);
        free(error);
        return reply;
}
