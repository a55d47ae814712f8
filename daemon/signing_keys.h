/* signing_keys.h: the signing_keys table, every key the daemon has signed
 * with (kid, public JWK, created, retired, published_until). Storage only:
 * keys.c decides what the rows mean. Functions return 0 or a negative
 * errno; -EIO means db_last_error says why. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "db.h"
#include "jwks.h"

/* A change of the table. Every statement numbers its parameters the same
 * way, so one binding serves them all: kid, jwk, now, until, other_kid,
 * endorsement (a statement ignores the ones it does not use). */
typedef struct signing_key_change {
        const char *kid, *jwk, *other_kid;
        const char *endorsement; /* of kid by other_kid (a rotation); NULL: none */
        int64_t now, until;
} signing_key_change;

/* One row of a listing. retired 0: the current key. sort: the listing's
 * sort key, for the cursor of the next page. */
typedef struct signing_key_row {
        const char *kid;
        int64_t created, retired, published_until, sort;
} signing_key_row;

/* In one durable transaction: records c->kid (c->jwk) as current, un-retires
 * it if it was retired, and retires every other current key until c->until.
 * *ret_unretired and *ret_retired count what that changed. */
int signing_keys_record_current(db *d, const signing_key_change *c, int *ret_unretired, int *ret_retired);
/* In one durable transaction: records c->kid (c->jwk) and retires
 * c->other_kid until c->until. */
int signing_keys_record_rotation(db *d, const signing_key_change *c);
/* Undoes signing_keys_record_rotation(c), best effort. */
void signing_keys_undo_rotation(db *d, const signing_key_change *c);
/* 1 when kid is recorded as current (not retired), else 0. */
int signing_keys_is_current(db *d, const char *kid);
/* How many retired keys are still published at now. */
int signing_keys_count_published(db *d, int64_t now);
/* A recorded key by kid, as a one-key set, and when it was retired (0: it
 * is current). -ENOENT if unknown. */
int signing_keys_find(db *d, const char *kid, jwks **ret, int64_t *ret_retired);
/* The retired keys still published at now, but not kid_a or kid_b, newest
 * retired first: fn gets each one's JWK text and published_until, and
 * stops the walk by returning non-zero. */
int signing_keys_foreach_published(db *d, int64_t now, const char *kid_a, const char *kid_b,
                                   int (*fn)(void *userdata, const char *jwk, int64_t until), void *userdata);
/* A page of the listing: the current key first, then the most recently
 * retired; after (optional) is where the previous page stopped (its sort
 * key and kid). fn's non-zero return stops the walk and is returned. */
int signing_keys_list(db *d, const db_cursor *after, unsigned limit,
                      int (*fn)(void *userdata, const signing_key_row *row), void *userdata);
/* The endorsement recorded with kid (malloc'd): -ENOENT when it has none. */
int signing_keys_endorsement(db *d, const char *kid, char **ret);
