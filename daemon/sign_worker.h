/* sign_worker.h: Enrich's token signatures off the main thread. One worker
 * thread takes signing jobs in order from a queue; the main thread queues
 * a job while it reads a call, and collects the token when it finishes the
 * call at the end of the turn. A job the worker has not started by then is
 * signed by the collecting thread itself, so on two cores the signatures
 * of a turn are shared between both threads and nothing waits idle. The
 * worker is woken only once two jobs wait: a turn with one Enrich call (a
 * lone login) signs it on the main thread, without a hand-over on its
 * latency.
 *
 * Who owns what: a job's signer, pid, callbacks and their userdata are
 * written by the main thread before the job is queued and only read
 * afterwards; what the callbacks read (Enrich's request, evaluation, sid,
 * and the daemon's config, machine id and policy version) the main thread
 * leaves alone until it collects the job. The claims, their text, the
 * token and the description are made by whichever thread signs the job and
 * published with its state under the worker's mutex, read under it by the
 * main thread in sign_job_collect(). The signer, config and policy version
 * must outlive or outstay its jobs: every job is collected within the turn
 * that queued it (session_methods.c), and they change only between turns
 * or in calls that first finish the turn's pending Enrich calls. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include "signer.h"

typedef struct sign_worker sign_worker;
typedef struct sign_job sign_job;

int sign_worker_start(sign_worker **ret);
/* Stops and joins the thread; jobs still queued are signed first. NULL is
 * fine. */
void sign_worker_stop(sign_worker *w);

/* Queues claims for signing with s: the job builds them (build, with
 * userdata: a new reference, NULL when out of memory), writes their text
 * (json_dumps, JSON_COMPACT) and signs it, and also reads the start time
 * of pid (live_pid_start), the other thing an Enrich call needs that
 * touches no state of the daemon's. On failure nothing is queued and the
 * caller does all of it itself. */
typedef json_t *(*sign_job_build_fn)(void *userdata);
/* describe (optional) runs after the signature, on the same thread, with
 * the claims and userdata: text the caller wants made off the main thread
 * too (Enrich's audit details), malloc'd or NULL. It may read only what the
 * caller leaves alone until it collects the job, as the claims. */
typedef char *(*sign_job_describe_fn)(json_t *claims, void *userdata);
int sign_worker_submit(sign_worker *w, const signer *s, sign_job_build_fn build, pid_t pid,
                       sign_job_describe_fn describe, void *userdata, sign_job **ret);
/* Waits for j (or does it here, when the worker has not taken it yet),
 * frees it and returns the compact JWS and the claims' text it signed
 * (both malloc'd) or a negative errno; *ret_claims_object gets the claims
 * built (the reference, NULL when building failed), *ret_pid_start pid's
 * start time (live_pid_start's answer) and *ret_description describe's
 * text (malloc'd, NULL without one) either way. */
int sign_job_collect(sign_worker *w, sign_job *j, char **ret_token, char **ret_claims, json_t **ret_claims_object,
                     int64_t *ret_pid_start, char **ret_description);
