/* fleet.h: fleet mode (docs/contract.md, "Fleet mode"): grants and
 * disabled identities shared by many hosts through etcd. A watcher thread
 * reads the prefix (one range at one revision, then a watch from the next
 * revision, reconnecting with jittered backoff across the endpoints and
 * resyncing in full when etcd compacted past it) and hands what it reads
 * to the main loop through an eventfd; the main thread verifies each
 * record against the issuers JWKS and applies it to the local state
 * through the same calls as a local grant, revoke, disable or enable.
 * The login path never waits on etcd: it reads only the local state.
 * A heartbeat thread proves contact (fleet_tick enforces offline_max). The
 * admin's --fleet writes are made by a writer thread of their own, so a
 * slow or unreachable etcd holds up only the admin's call, never the main
 * loop: each is bounded by FLEET_WRITE_TIMEOUT_MS per etcd call and
 * FLEET_WRITE_DEADLINE_MS in all. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "audit.h"
#include "enrichd.h"
#include "grants.h"
#include "tokens.h"

#define FLEET_WRITE_TIMEOUT_MS 2000
/* An admin's write, from its call to its answer, waiting included: less
 * than enrichctl's own timeout (CTL_TIMEOUT_MS), so the admin hears
 * why. */
#define FLEET_WRITE_DEADLINE_MS 4000
/* Admin's writes waiting for the writer thread or being written; past
 * this, a new one is refused (-EBUSY). */
#define FLEET_MAX_WRITES 64
/* Reconnection delays: doubling from the first to the last, each drawn
 * at random from [d/2, d] so that hosts cut off together come back apart. */
#define FLEET_BACKOFF_FIRST_MS 200
#define FLEET_BACKOFF_MAX_MS   10000
/* Batches handed from the watcher to the main loop and not yet applied:
 * past this the watcher waits. */
#define FLEET_MAX_QUEUED 1024
/* Batches applied per turn of the main loop (a watch message, a snapshot). */
#define FLEET_BATCHES_PER_TURN 32
/* The heartbeat's period at most (a fifth of offline_max when shorter). */
#define FLEET_HEARTBEAT_MS 5000
/* fleet status's lag (keys under the prefix changed after the revision
 * this host applied) is counted up to this. */
#define FLEET_MAX_LAG 1000
/* Signed grants and tokens for a user this host does not know yet are
 * kept (fleet_store.h) and looked at again every FLEET_RETRY_MS, at most
 * FLEET_RETRY_BATCH of them each time (an NSS lookup each). */
#define FLEET_RETRY_MS    2000
#define FLEET_RETRY_BATCH 32
/* An issuer's revocation record (revoked/grants/<id>, revoked/tokens/<id>)
 * lives in etcd until the revoked record's expiry plus this margin (for
 * clocks a little apart); each host keeps the revocation until that
 * expiry, and forgets expired ones every FLEET_REVOKED_PRUNE_MS. */
#define FLEET_REVOCATION_MARGIN 300
#define FLEET_REVOKED_PRUNE_MS  60000
/* Records waiting for their user read per page when a full read is
 * compared with them. */
#define FLEET_PENDING_PAGE 256
/* hosts/ records held in memory (fleet hosts, fleet jwks). */
#define FLEET_MAX_HOSTS 100000
/* The largest hosts/<id> presence record read (plain JSON any etcd writer
 * can put; a host's own is well under 4 KiB with a few retired keys). */
#define FLEET_MAX_HOST_RECORD 65536

#define LOG_MSGID_FLEET          "b4a1f07e2c5d4d1f9e3a6c8b0d2f4e61"
#define LOG_MSGID_FLEET_REJECTED "e2c94f1a7b3d45c8a6f0b1d2c3e4f507"
#define LOG_MSGID_FLEET_ANCHOR   "3b8e6d1f5a2c4f7e9d0a1b2c3d4e5f69"
#define LOG_MSGID_FLEET_APPLIED  "7d3e5f2a1c4b4e8d9f6a0b1c2d3e4f58"

typedef struct fleet fleet;

/* Starts fleet mode when the config has a fleet group (d->fleet stays NULL
 * otherwise): reads the issuers, the host id (fleet.host_id or
 * /etc/machine-id) and the recorded revision, and starts the watcher.
 * Needs d->db and d->signer, and the JWKS published (the host's presence
 * record carries it, with version). *ret_error (optional) says why it
 * failed. */
int fleet_start(enrichd *d, const char *version, char **ret_error);
/* The eventfd that becomes readable when the watcher has something for
 * fleet_dispatch; -1 without fleet mode. */
int fleet_event_fd(const enrichd *d);
/* Applies everything the watcher handed over (main thread). */
void fleet_dispatch(enrichd *d);
/* The periodic work (main loop's tick): the records waiting for their
 * user applied once it is known (FLEET_RETRY_MS); past offline_max without contact
 * with etcd, the fleet grants stop counting (revoked here as
 * FLEET_STORE_OFFLINE, and the live sessions re-issued) until contact is
 * back, when those still in etcd count again. */
void fleet_tick(enrichd *d);
/* Stops the watcher and frees d->fleet. */
void fleet_stop(enrichd *d);

/* This host's id in the fleet; NULL without fleet mode. */
const char *fleet_host_id(const enrichd *d);
/* Whether grant id came from the fleet and, if so, from where
 * (*ret_issuer, malloc'd: the issuing host's id, "key KID" for a record
 * that names none, NULL when not known); false without fleet mode. */
int fleet_grant_origin(enrichd *d, const char *id, bool *ret_fleet, char **ret_issuer);
/* Whether grant id is a fleet one; false without fleet mode. -EIO on a
 * database failure. */
int fleet_is_fleet_grant(enrichd *d, const char *id, bool *ret);

/* The admin's writes. Each signs its record (when it adds access) on the
 * calling (main) thread, hands the etcd calls to the writer thread and
 * returns 0; done then runs once, on the main thread (fleet_dispatch),
 * with r 0 or a negative errno and error saying which: -EACCES etcd
 * refused the write (read-only credentials); -EPERM the credentials do
 * not authenticate; -ECONNREFUSED no endpoint answered; -ETIMEDOUT
 * FLEET_WRITE_DEADLINE_MS passed; -ECANCELED the daemon is stopping;
 * existed: for a deletion, whether etcd had the key. Or each fails at
 * once, done not called, with *ret_error (malloc'd): -ENOTCONN no fleet
 * group; -ENOKEY this host's key is not an issuer; -EBUSY
 * FLEET_MAX_WRITES wait already. */
typedef void (*fleet_write_done)(enrichd *d, int r, const char *error, bool existed, void *userdata);
/* Signs g (with its host labels, NULL: every host) and puts it at
 * grants/<id> on a lease of its remaining TTL. */
int fleet_put_grant(enrichd *d, const grant *g, char *const *hosts, fleet_write_done done, void *userdata,
                    char **ret_error);
/* Revokes grants/<id> in the fleet, by (the admin's name): on an issuer,
 * puts a signed revocation at revoked/grants/<id> (id, kind, revoked,
 * revokedBy, expires, issuer) on a lease lasting until the grant's
 * expiry (as held or waiting here, else as its signed record in etcd
 * says) plus FLEET_REVOCATION_MARGIN, then deletes grants/<id> (even when
 * the put failed; existed: whether etcd had it). Every host revokes it
 * and refuses its record, written back, until that expiry. On a host
 * whose key is no issuer, or for a grant that has expired or whose
 * record is nowhere, the deletion alone. */
int fleet_revoke_grant(enrichd *d, const char *id, const char *by, fleet_write_done done, void *userdata,
                       char **ret_error);
/* The same for tokens/<id>, at revoked/tokens/<id>. */
int fleet_revoke_token(enrichd *d, const char *id, const char *by, fleet_write_done done, void *userdata,
                       char **ret_error);
/* Signs t (its id, user, scopes, description, created_by, created,
 * expires) with digest, the verifier's (tokens_verifier_digest), and puts
 * it at tokens/<id> on a lease ending at its expiry. */
int fleet_put_token(enrichd *d, const token_record *t, const char *digest, fleet_write_done done, void *userdata,
                    char **ret_error);
/* Whether token id came from the fleet; false without fleet mode. */
int fleet_is_fleet_token(enrichd *d, const char *id, bool *ret);
/* Signs and puts identities/<user> with state "disabled" or "enabled". */
int fleet_put_identity(enrichd *d, const char *user, bool disabled, const char *reason, const char *by, int64_t at,
                       fleet_write_done done, void *userdata, char **ret_error);

/* Audit anchoring: hands this host's newest signed checkpoint to the
 * heartbeat thread, which puts it at checkpoints/<host_id> (plain JSON:
 * hostId, row, head, time, kid, signature) without blocking the caller;
 * a newer one replaces one not yet written. No-op without fleet mode.
 * Once the host saw that its trail lost the checkpoint it published
 * (LOG_MSGID_FLEET_ANCHOR), only an admin's checkpoint (by_admin) is
 * published: the evidence stays in etcd until an admin accepts the trail. */
void fleet_publish_checkpoint(enrichd *d, const audit_anchor *checkpoint, bool by_admin);
/* Reads checkpoints/<host_id> from etcd on the writer thread (so the
 * main loop never waits on etcd; bounded by FLEET_WRITE_DEADLINE_MS in
 * all) and returns 0; done then runs once, on the main thread, with r 0
 * and published, or r -ENOENT (it published none), -EBADMSG (the record
 * is no checkpoint) or an error of the writes' (fleet_write_done), with
 * error saying which. Or it fails at once, done not called, with
 * *ret_error: host_id must be this host's, as only it holds its trail
 * (-EXDEV otherwise); -ENOTCONN without fleet mode; -EBUSY. */
typedef void (*fleet_checkpoint_done)(enrichd *d, int r, const char *error, const audit_anchor *published,
                                      void *userdata);
int fleet_read_checkpoint(enrichd *d, const char *host_id, fleet_checkpoint_done done, void *userdata,
                          char **ret_error);

/* enrichctl doctor's fleet checks against etcd, made on the writer
 * thread (each call bounded by FLEET_WRITE_TIMEOUT_MS, all of them by
 * FLEET_WRITE_DEADLINE_MS) so the main loop
 * never waits on etcd: returns 0, and done runs once, on the main
 * thread, with r 0 and check (borrowed), or r -ENOMEM or -ECANCELED
 * (the daemon is stopping) with error: check is {enabled,
 * endpoint, reachable, skewMs (etcd's clock minus this host's, from the
 * gateway's HTTP Date header), credentials ("none", "ok", "refused",
 * "unchecked"), prefixReadable, reachError, credentialsError,
 * prefixError}. Or fails at once, done not called: -ENOTCONN without
 * fleet mode, -EBUSY (*ret_error). */
typedef void (*fleet_check_done)(enrichd *d, int r, const char *error, json_t *check, void *userdata);
int fleet_check(enrichd *d, fleet_check_done done, void *userdata, char **ret_error);
/* What fleet status shows, from memory (no etcd call): {enabled, hostId,
 * prefix, endpoints, labels, connected, revision, storeRevision, lag,
 * lastContact, suspended, offlineMax, fleetGrants, hosts, issuer}. A new
 * reference. */
int fleet_status(enrichd *d, json_t **ret);
/* Calls each for the live hosts whose id sorts (strcmp) after after (NULL:
 * from the first), in that order, max at most, until it returns nonzero;
 * record is the host's presence record, borrowed for the call. Returns
 * what each returned, 0 when the hosts ran out, or -ENOMEM. A call costs
 * one pass over the live hosts with a comparison for each past after,
 * heap steps for those among the max smallest so far, and a sort of max
 * ids: O(n log max) time, O(max) memory, wherever it starts. */
typedef int (*fleet_host_fn)(const char *id, json_t *record, void *userdata);
int fleet_hosts_walk(enrichd *d, const char *after, unsigned max, fleet_host_fn each, void *userdata);
/* Keys left out of the fleet JWKS named in one FleetJwks answer at most
 * (all of them are counted). */
#define FLEET_MAX_LEFT_OUT 100
/* The longest kid of a key the fleet JWKS takes, and of a left-out key
 * named (an RFC 7638 thumbprint is 43) ... */
#define FLEET_MAX_KID 128
/* ... and the longest x it takes (an Ed25519 key's is 43). */
#define FLEET_MAX_X 64
/* Host id's keys in its presence record (record) as the fleet JWKS takes
 * them: *ret_keys, the Ed25519 JWKs that an issuer vouched for (in the
 * host's enrolments/<id>, or endorsed by a key that is), each kid once,
 * every kid and x base64url within FLEET_MAX_KID and FLEET_MAX_X; and
 * *ret_left_out, one {hostId, kid, why} per other Ed25519 key (kid
 * within FLEET_MAX_KID, without controls, or a placeholder). New
 * references; 0 or -ENOMEM. */
int fleet_host_jwks(enrichd *d, const char *id, json_t *record, json_t **ret_keys, json_t **ret_left_out);

/* enrichctl fleet enroll HOST --key THUMBPRINT..., on an issuer: signs
 * enrolments/<host_id> listing exactly the keys of host_id's presence
 * record whose kids are thumbprints (NULL-terminated, 1 to 64), each
 * checked to hash to its thumbprint (the admin read them on the host, so
 * a key etcd swapped in is refused), endorsements counting from now on,
 * and puts it (no lease) as fleet_put_grant does. Fails at once, done not
 * called, with *ret_error: the errors of fleet_put_grant; -ENOENT the
 * host has no presence record; -ENXIO it lists no such key;
 * -EKEYREJECTED a key's x does not hash to its thumbprint. */
int fleet_enrol(enrichd *d, const char *host_id, const char *const *thumbprints, const char *by, fleet_write_done done,
                void *userdata, char **ret_error);
