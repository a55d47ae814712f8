/* sign_worker.c: a thread that signs Enrich tokens while the main thread
 * serves the next calls of its turn (sign_worker.h says who owns what). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "live.h"
#include "sign_worker.h"

typedef enum job_state {
        JOB_QUEUED,
        JOB_SIGNING,
        JOB_DONE,
} job_state;

struct sign_job {
        const signer *signer;
        sign_job_build_fn build;
        json_t *claims;         /* built by whoever signs */
        char *payload;          /* their text, made by whoever signs */
        pid_t pid;
        int64_t pid_start;
        sign_job_describe_fn describe;
        void *userdata;
        char *description;
        sign_job *next;         /* in the queue */
        job_state state;
        int result;
        char *token;
};

struct sign_worker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t queued;  /* a job was queued, or stop was set */
        pthread_cond_t done;    /* a job is done */
        sign_job *first, *last;
        size_t n_queued;
        bool stop;
};

/* Takes the first queued job off the queue; the caller holds the lock. */
static sign_job *take(sign_worker *w) {
        sign_job *j = w->first;

        if (j) {
                w->first = j->next;
                if (!w->first)
                        w->last = NULL;
                j->next = NULL;
                j->state = JOB_SIGNING;
                w->n_queued--;
        }
        return j;
}

/* Signs j without the lock held, then publishes the result under it. */
static void sign_unlocked(sign_worker *w, sign_job *j) {
        json_t *claims = j->build(j->userdata);
        char *token = NULL, *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
        int r = payload ? signer_sign(j->signer, payload, &token) : -ENOMEM;
        int64_t start = live_pid_start(j->pid);
        char *description = r >= 0 && j->describe ? j->describe(claims, j->userdata) : NULL;

        pthread_mutex_lock(&w->lock);
        j->claims = claims;
        j->description = description;
        j->payload = payload;
        j->pid_start = start;
        j->result = r;
        j->token = token;
        j->state = JOB_DONE;
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->lock);
}

static void *worker_run(void *userdata) {
        sign_worker *w = userdata;
        sigset_t all;

        /* Signals belong to the main loop's signalfd. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        pthread_mutex_lock(&w->lock);
        for (;;) {
                sign_job *j = take(w);

                if (!j) {
                        if (w->stop)
                                break;
                        pthread_cond_wait(&w->queued, &w->lock);
                        continue;
                }
                pthread_mutex_unlock(&w->lock);
                sign_unlocked(w, j);
                pthread_mutex_lock(&w->lock);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int sign_worker_start(sign_worker **ret) {
        sign_worker *w = calloc(1, sizeof *w);
        int r;

        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->queued, NULL);
        pthread_cond_init(&w->done, NULL);
        r = pthread_create(&w->thread, NULL, worker_run, w);
        if (r != 0) {
                pthread_cond_destroy(&w->done);
                pthread_cond_destroy(&w->queued);
                pthread_mutex_destroy(&w->lock);
                free(w);
                return -r;
        }
        *ret = w;
        return 0;
}

void sign_worker_stop(sign_worker *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->queued);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->done);
        pthread_cond_destroy(&w->queued);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

int sign_worker_submit(sign_worker *w, const signer *s, sign_job_build_fn build, pid_t pid,
                       sign_job_describe_fn describe, void *userdata, sign_job **ret) {
        sign_job *j;

        if (!w)
                return -ENXIO;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->build = build;
        j->signer = s;
        j->pid = pid;
        j->describe = describe;
        j->userdata = userdata;
        j->state = JOB_QUEUED;
        pthread_mutex_lock(&w->lock);
        if (w->last)
                w->last->next = j;
        else
                w->first = j;
        w->last = j;
        /* A lone job is left to the main thread, which signs it when it
         * collects it at the end of the turn: handing it over would only
         * add a wake-up on each side to a lone login's latency. From the
         * second on, the main thread has other calls to serve meanwhile,
         * and the worker takes the oldest. */
        if (++w->n_queued >= 2)
                pthread_cond_signal(&w->queued);
        pthread_mutex_unlock(&w->lock);
        *ret = j;
        return 0;
}

/* Unlinks j, still queued, from anywhere in the queue; lock held. */
static void unqueue(sign_worker *w, sign_job *j) {
        sign_job **p = &w->first, *prev = NULL;

        while (*p && *p != j) {
                prev = *p;
                p = &(*p)->next;
        }
        if (!*p)
                return;
        *p = j->next;
        if (w->last == j)
                w->last = prev;
        j->next = NULL;
        j->state = JOB_SIGNING;
        w->n_queued--;
}

int sign_job_collect(sign_worker *w, sign_job *j, char **ret_token, char **ret_claims, json_t **ret_claims_object,
                     int64_t *ret_pid_start, char **ret_description) {
        int r;

        if (!j)
                return -EINVAL;
        pthread_mutex_lock(&w->lock);
        if (j->state == JOB_QUEUED) {
                /* The worker is busy with earlier jobs: sign this one here
                 * rather than wait for it. */
                unqueue(w, j);
                pthread_mutex_unlock(&w->lock);
                sign_unlocked(w, j);
                pthread_mutex_lock(&w->lock);
        }
        while (j->state != JOB_DONE) {
                /* The worker is signing j: sign the newest job still
                 * queued meanwhile (it is collected later). */
                sign_job *other = w->last;
                if (other) {
                        unqueue(w, other);
                        pthread_mutex_unlock(&w->lock);
                        sign_unlocked(w, other);
                        pthread_mutex_lock(&w->lock);
                        continue;
                }
                pthread_cond_wait(&w->done, &w->lock);
        }
        pthread_mutex_unlock(&w->lock);
        *ret_pid_start = j->pid_start;
        *ret_claims_object = j->claims;
        *ret_description = j->description;
        r = j->result;
        if (r >= 0) {
                *ret_token = j->token;
                j->token = NULL;
                *ret_claims = j->payload;
                j->payload = NULL;
        }
        free(j->token);
        free(j->payload);
        free(j);
        return r;
}
