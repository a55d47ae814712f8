/* live.h: the in-memory set of live sessions and their scheduler. A
 * session enters at Enrich, becomes refreshable once AttachKey names its
 * keyring key, and leaves when its process is gone, its key is gone, policy
 * gives it nothing any more, or it is ended or revoked. The tick (every
 * LIVE_TICK_MS from the event loop) checks liveness, refreshes tokens at
 * two thirds of their life, or just before the end of the grant or token
 * that cut them short (timed on the monotonic clock), re-issues every
 * token when the wall clock steps, and handles grants that reached their
 * expiry. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <keyutils.h>
#include "db.h"
#include "enrichd.h"
#include "sessions.h"

#define LIVE_MAX_SESSIONS 65536
#define LIVE_TICK_MS      250
/* Processes checked for liveness per tick (round robin), by the prober
 * thread (live.c): the tick hands it their pids and ends, at the next
 * tick, the sessions whose process it found gone. */
#define LIVE_LIVENESS_BUDGET 512
/* A token cut short by the end of a grant or service-account token is
 * re-issued this long before that end (live.c, schedule); it must be
 * under ISSUE_HORIZON_SECONDS (issue.h) and over a tick. What is left
 * after the tick is how long the main loop may be held up (a slow disk, a
 * stopped VM) without the key expiring first: about 1.25 s. */
#define LIVE_END_LEAD_MS 1500
/* MESSAGE_ID of "the wall clock stepped; every session re-issued". */
#define LOG_MSGID_CLOCK_STEP "3f9a1c7e5b2d4e60a8c1f7d3e9b2a465"

/* What a re-evaluation did. */
typedef struct live_counts {
        int updated;
        int revoked;
} live_counts;

int live_new(live **ret);
void live_free(live *l);
size_t live_count(const live *l);

/* Start time of pid (/proc/PID/stat field 22, clock ticks after boot), or
 * -ESRCH when the process is gone or a zombie. */
int64_t live_pid_start(pid_t pid);
/* How many times the calling thread has read /proc for live_pid_start():
 * what tells that the tick leaves those reads to the prober thread. */
uint64_t live_pid_reads(void);

/* Adds a session just enriched (s->key_serial 0) or loaded from the
 * database at startup. amr: its amr (NULL: parsed from s->amr); ends_early:
 * its token ends with a grant or token (issue_ends_early), so it is
 * refreshed just before that end. -EUSERS when the set is full. */
int live_add(enrichd *d, const session_row *s, char *const *amr, bool ends_early);
/* Loads every session not ended from the database; sessions whose process
 * is gone are ended at once, the others are re-evaluated at the next tick. */
int live_load(enrichd *d);
/* Records sid's key; re-issues at once when policy changed meanwhile.
 * -ENOENT when sid is not live. */
int live_attach_key(enrichd *d, const char *sid, key_serial_t key);
/* Group commit (db.h): sid was added by a call whose rows are in the open
 * batch; live_batch_done forgets such sessions when the batch was lost
 * (their rows are gone and their callers got an error), else only the
 * list. */
int live_track_unsaved(enrichd *d, const char *sid);
void live_batch_done(enrichd *d, bool lost);
/* Forgets sid (its owner ended it); false when it was not live. */
bool live_forget(enrichd *d, const char *sid);
/* Revokes sid's key and ends it with reason. -ENOENT when not live. */
int live_revoke(enrichd *d, const char *sid, const char *reason);
/* Re-evaluates the sessions of user (NULL: all) now, updating keys in place
 * or revoking them; why goes to the journal. */
int live_reissue(enrichd *d, const char *user, const char *why, live_counts *ret);
/* Revokes every live session of user; *ret_count of them. */
int live_revoke_user(enrichd *d, const char *user, const char *reason, int *ret_count);
/* Revokes every live session of uid, whatever name it logged in with
 * (an alias of a disabled identity); *ret_count of them. */
int live_revoke_uid(enrichd *d, uid_t uid, const char *reason, int *ret_count);
/* Revokes the sessions opened with token id (live or not: their rows are
 * ended), for a revoked token, local or from the fleet; their number. */
int live_revoke_token_sessions(enrichd *d, const char *id, const char *reason);
/* The scheduler's periodic work; see above. */
void live_tick(enrichd *d);
