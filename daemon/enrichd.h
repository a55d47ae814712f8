/* enrichd.h: the daemon's state, owned by main and handed to the methods,
 * the issuer and the live-session scheduler. Single-threaded: only the
 * event loop touches it (the signer thread sees only its jobs,
 * sign_worker.h). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "config.h"
#include "db.h"
#include "signer.h"

typedef struct live live;
typedef struct audit audit;
typedef struct throttle throttle;
typedef struct fleet fleet;
struct audit_anchor;

typedef struct enrichd {
        config *config;
        db *db;
        signer *signer;
        char *machine_id;
        int64_t started_ms;         /* CLOCK_MONOTONIC */
        live *live;                 /* sessions being refreshed */
        audit *audit;               /* the audit trail (audit.c) */
        int64_t grants_generation;  /* meta.grants_generation as last read */
        char policy_version[17];    /* pv: hash of config hash and generation */
        int64_t grants_checked;     /* grant expiries up to this time are handled */
        int64_t next_grant_expiry;  /* earliest pending expiry; 0: none */
        int64_t identities_generation; /* bumped on disable/enable, so userdb
                                        * rebuilds its memberships */
        int64_t keys_next_change;   /* when the JWKS must be rewritten
                                     * (keys.c); 0: not until a rotation */
        char *disabled_list;        /* beside the socket (offboard.c) */
        bool disabled_list_stale;   /* its last write failed: retry */
        int64_t disabled_list_retry_ms; /* ... at this CLOCK_MONOTONIC time */
        throttle *token_sources;    /* delays of token attempts naming no
                                     * token, per source (throttle.c) */
        fleet *fleet;               /* fleet mode (fleet.c); NULL: off */
        /* Told of each audit checkpoint made (audit.c calls it; fleet
         * mode publishes the checkpoint, fleet.c); NULL: nobody listens.
         * A hook, so that the audit chain does not depend on fleet mode. */
        void (*checkpoint_made)(struct enrichd *d, const struct audit_anchor *checkpoint, bool by_admin);
        /* Told of each JWKS written, with it (keys.c calls it; fleet mode
         * republishes the host's presence record, fleet.c); NULL: nobody
         * listens. A hook, as checkpoint_made. */
        void (*keys_published)(struct enrichd *d, json_t *jwks);
        struct audit_follows *follows; /* AuditList calls left open (audit_methods.c) */
        /* Sends the reply of a call a handler answered later (it returned
         * json_null(); method_call.stream is its id): the server's
         * server_stream_push, set by main.c. -ENOENT when the caller is
         * gone. NULL: no call may be answered later. */
        int (*reply_later)(void *userdata, uint64_t call, json_t *reply);
        void *reply_later_userdata;
        /* Enrich's signatures off the main thread (sign_worker.h); NULL:
         * signed inline. The calls waiting for theirs, finished before
         * the turn commits (session_methods.c), in call order. */
        struct sign_worker *sign_worker;
        struct enrich_call *pending_enrich, *pending_enrich_last;
        size_t n_pending_enrich;
} enrichd;
