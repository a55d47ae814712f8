/* etcd.h: a client of etcd v3's JSON gateway (/v3/kv/..., /v3/lease/...,
 * /v3/auth/authenticate, /v3/watch) over HTTP/1.1 with libcurl, for fleet
 * mode. Keys and values travel base64-encoded in the gateway's JSON; this
 * file hides that. A handle is used by one thread at a time: the fleet
 * watcher and the main thread each have their own. Calls that fail to
 * connect move on to the next endpoint. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

/* Bounds on what one answer may hold. */
#define ETCD_MAX_RESPONSE (64 * 1024 * 1024)
#define ETCD_MAX_MESSAGE  (8 * 1024 * 1024) /* one watch message */
#define ETCD_MAX_VALUE    (64 * 1024)

typedef struct etcd etcd;

typedef struct etcd_kv {
        char *key;
        char *value; /* NUL-terminated; NULL for a deletion */
        size_t value_len;
        int64_t mod_revision;
        int64_t lease;
        bool deleted; /* a watch event of type DELETE */
} etcd_kv;

typedef struct etcd_kvs {
        etcd_kv *items;
        size_t n;
        int64_t revision; /* the store's revision the answer is from */
} etcd_kvs;

void etcd_kvs_clear(etcd_kvs *l);

/* Once per process, before any thread uses libcurl. */
int etcd_global_init(void);

/* A handle for f's endpoints, TLS files and credentials (read when first
 * needed). timeout_ms bounds each unary call. */
int etcd_new(const config_fleet *f, long timeout_ms, etcd **ret);
void etcd_free(etcd *e);
/* The endpoint the last call used. */
const char *etcd_endpoint(const etcd *e);
/* A message for the last failure ("permission denied", "connection
 * refused to http://..."), owned by e. */
const char *etcd_last_error(const etcd *e);

/* Errors of every call: -ECONNREFUSED no endpoint answered; -EACCES etcd
 * refused the operation (permission denied: read-only credentials);
 * -EPERM authentication failed; -ESTALE the revision was compacted;
 * -ETIMEDOUT the deadline (etcd_set_deadline) passed;
 * -EBADMSG an answer that is not what the gateway sends; -ENOMEM. */

/* Every key under prefix at revision (0: the newest), at most limit keys
 * (0: no limit). */
int etcd_range_prefix(etcd *e, const char *prefix, int64_t revision, etcd_kvs *ret);
int etcd_put(etcd *e, const char *key, const char *value, int64_t lease, int64_t *ret_revision);
/* A put of key only if its mod_revision is still mod_revision (0: only
 * if key does not exist), in one etcd transaction; *ret_put whether it
 * was made, *ret_exists whether key is there now (when not put: changed,
 * or deleted). */
int etcd_put_if_mod(etcd *e, const char *key, const char *value, int64_t mod_revision, bool *ret_put, bool *ret_exists);
/* *ret_deleted: how many keys went (0 when key did not exist). */
int etcd_delete(etcd *e, const char *key, int64_t *ret_deleted, int64_t *ret_revision);
/* The member's status: a cheap round trip (the fleet's heartbeat) that
 * also tells the store's revision. */
int etcd_status(etcd *e, int64_t *ret_revision);
/* The gateway's clock against this host's: a status call, its HTTP Date
 * header (whole seconds, so taken at its middle) against the middle of
 * the round trip; *ret_skew_ms > 0 when etcd is ahead. Good to about
 * 500 ms plus half the round trip. A refusal of the credentials still
 * measures: *ret_skew_ms is set and -EPERM or -EACCES returned. */
int etcd_clock_skew(etcd *e, int64_t *ret_skew_ms);
/* Buys a fresh token with the credentials file (read now): 0, -EPERM
 * refused, -ENOENT no credentials configured, or a call's error. */
int etcd_check_credentials(etcd *e);
/* A range of at most one key, keys only, under prefix: 0 when allowed
 * (-EACCES: the credentials may not read it). */
int etcd_prefix_readable(etcd *e, const char *prefix);
/* How many keys under prefix were last changed at min_mod_revision or
 * later, at most limit (deletions leave no key, so they do not count). */
int etcd_count_changed(etcd *e, const char *prefix, int64_t min_mod_revision, int64_t limit, int64_t *ret_count);
int etcd_lease_grant(etcd *e, int64_t ttl, int64_t *ret_id);
int etcd_lease_keepalive(etcd *e, int64_t id, int64_t *ret_ttl);
int etcd_lease_revoke(etcd *e, int64_t id);

/* Watches prefix from start_revision, blocking, until the stream ends,
 * *stop becomes true (checked at least once a second) or fn returns
 * nonzero. fn gets each message's events in revision order and the
 * revision they bring the store to (events borrowed for the call).
 * ready (optional) is called once etcd has created the watch.
 * Returns 0 when stopped, -ESTALE (with *ret_compacted) when etcd compacted
 * past start_revision, -ECONNRESET when the stream ended otherwise. */
typedef int (*etcd_watch_fn)(void *userdata, const etcd_kv *events, size_t n, int64_t revision);
int etcd_watch(etcd *e, const char *prefix, int64_t start_revision, const volatile bool *stop,
               void (*ready)(void *userdata), etcd_watch_fn fn, void *userdata, int64_t *ret_compacted);
/* Bounds the unary calls that follow (0: no bound but timeout_ms each):
 * none runs past deadline_ms (a host_now_ms() value), and one that would
 * fails with -ETIMEDOUT, trying no further endpoint. */
void etcd_set_deadline(etcd *e, int64_t deadline_ms);
/* Moves to the next endpoint (after a failed watch). */
void etcd_next_endpoint(etcd *e);
