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
#include <sys/socket.h>
#include <jansson.h>
#include "enrichd.h"
#include "jwks.h"

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
/* A recorded key by kid, as a one-key set, and when it was retired (0:
 * it is current), for verifying audit checkpoints. -ENOENT if unknown. */
int keys_find(enrichd *d, const char *kid, jwks **ret, int64_t *ret_retired);

/* ListKeys: anyone (public keys); RotateKey: root or admin. */
json_t *method_list_keys(enrichd *d, const struct ucred *peer, json_t *params);
json_t *method_rotate_key(enrichd *d, const struct ucred *peer, json_t *params);
