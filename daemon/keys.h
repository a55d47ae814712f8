/* keys.h: the signing key's life. Every key the daemon has signed with is a
 * row of signing_keys (kid, public JWK, created, retired, published_until).
 * The JWKS is built from it: the current key, then each retired key until
 * its published_until, by when every token it signed has expired. The rows
 * stay after that, so old audit checkpoints keep verifying. Rotation
 * (io.enrich.RotateKey, `enrichctl keys rotate`) makes a new key current;
 * with compromised=true the old key leaves the JWKS at once and every live
 * session is re-issued under the new one. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "enrichd.h"

/* At start, after the database is open: finishes a rotation a crash
 * interrupted after recording it (or removes its key when it was not
 * recorded), records the current key (a key recorded as current that is
 * not the one in state_dir is retired, published for max_ttl) and writes
 * the JWKS. */
int keys_open(enrichd *d, char **ret_error);
/* Writes the JWKS now (atomically, 0644). */
int keys_publish(enrichd *d, char **ret_error);
/* From the event loop: rewrites the JWKS when a retired key's time is up,
 * or when writing it failed before. Cheap when nothing is due. */
void keys_tick(enrichd *d);

/* A rotation done (keys_rotate). */
typedef struct key_rotation {
        char *old_kid;                  /* the key replaced */
        int64_t old_published_until;    /* when it leaves the JWKS */
        bool jwks_pending;              /* the JWKS could not take its final
                                         * form yet (retried from the tick) */
} key_rotation;

/* Makes a new key current, in the order keys.c describes; with
 * compromised, the old key leaves the JWKS at once (the caller re-issues
 * the live sessions). 0 and *ret on success; -E2BIG when too many retired
 * keys are still published for a rotation that is not compromised; else a
 * negative errno, with *ret_error (malloc'd) saying why unless it was the
 * database's fault (db_last_error). */
int keys_rotate(enrichd *d, bool compromised, key_rotation *ret, char **ret_error);
void key_rotation_clear(key_rotation *r);
