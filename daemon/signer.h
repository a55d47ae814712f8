/* signer.h: the daemon's Ed25519 signing key. Generated on first start into
 * state_dir (0600, never readable by anyone else even briefly), loaded after;
 * its public half is published as a JWKS for verifiers. The daemon is the
 * only holder of the private key. */
#pragma once
#include <jansson.h>

#define SIGNER_KEY_FILE   "signing-key.pem"
#define SIGNER_TOKEN_TYPE "enrich+jwt"

typedef struct signer signer;

/* Loads state_dir/signing-key.pem, or generates it when it does not exist.
 * A key that exists but cannot be used (unreadable, wrong owner or mode,
 * not an Ed25519 PEM key) is an error and is left as it is. On failure
 * *ret_error (optional) gets a malloc'd message. */
int signer_open(const char *state_dir, signer **ret, char **ret_error);
/* signer_open for a state directory that already holds state: a missing
 * key is an error (-ENOENT, with a message saying how to recover), never
 * silently replaced by a new one. */
int signer_load(const char *state_dir, signer **ret, char **ret_error);
/* Rotation, in two steps around the caller's record of it: prepare
 * generates a new key into state_dir/signing-key.pem.next (0600, synced);
 * commit renames it over signing-key.pem, the old private key's only
 * copy (a failure to sync the directory after it is only logged: the
 * rename cannot be taken back); abort removes it. A leftover .next is
 * finished or removed at the next start (keys_open). */
#define SIGNER_NEXT_KEY_FILE SIGNER_KEY_FILE ".next"
int signer_rotate_prepare(const char *state_dir, signer **ret, char **ret_error);
int signer_rotate_commit(const char *state_dir, char **ret_error);
void signer_rotate_abort(const char *state_dir);
/* The key a rotation left in signing-key.pem.next; -ENOENT when none. */
int signer_load_next(const char *state_dir, signer **ret, char **ret_error);
/* The public half as a JWK object (new reference). */
int signer_public_jwk(const signer *s, json_t **ret);
/* The key id: the RFC 7638 thumbprint. Owned by s. */
const char *signer_kid(const signer *s);
/* Signs payload (a JSON object's text, borrowed) as a compact JWS of type
 * enrich+jwt. */
int signer_sign(const signer *s, const char *payload, char **ret_token);
/* Signs payload (borrowed) with another typ (fleet records:
 * enrich-fleet+jwt), so a token of one kind never passes for the other. */
int signer_sign_typed(const signer *s, const char *typ, json_t *payload, char **ret_token);
/* Signs raw bytes with Ed25519 (the audit trail's checkpoints). */
#define SIGNER_SIGNATURE_LENGTH 64
int signer_sign_bytes(const signer *s, const void *data, size_t len,
                      unsigned char ret_signature[SIGNER_SIGNATURE_LENGTH]);
/* A copy of s that another thread may sign with while s changes (the
 * fleet writer thread's enrolment renewals); signer_free frees it. */
int signer_dup(const signer *s, signer **ret);
void signer_free(signer *s);
