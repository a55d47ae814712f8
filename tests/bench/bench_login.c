/* bench_login: the cost of a whole login's session phase, as a long-lived
 * sshd would pay it: pam_start_confdir, pam_open_session,
 * pam_close_session, pam_end, repeated in one process. Prints one JSON
 * object with the median, p99 and mean in microseconds.
 *
 * bench_login --confdir DIR --service NAME --user USER --iterations N
 *             [--warmup N] [--expect-key] [--max-ms T] [--count-failures]
 *
 * --expect-key checks after every open that a claims key is in the session
 * keyring (pam_enrich with fail=open would otherwise hide a dead daemon and
 * the figure would be that of a failed call). --max-ms stops after T ms
 * even if fewer than N logins were made. Exit status 1 when any login
 * failed (unless --count-failures: then failures are only counted, as
 * under a flood, where a login without claims is the figure), 2 on a
 * usage error. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <security/pam_appl.h>

#include "keyring.h"
#include "bench.h"

/* Session hooks never prompt; a module that asks anyway gets no answer. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        return PAM_CONV_ERR;
}

/* One login; 0 or a negative number naming the step that failed. */
static int one_login(const char *confdir, const char *service, const char *user, int expect_key) {
        const struct pam_conv conv = { conversation, NULL };
        pam_handle_t *pamh = NULL;
        key_serial_t key;
        int r;

        r = pam_start_confdir(service, user, &conv, confdir, &pamh);
        if (r != PAM_SUCCESS)
                return -1;
        (void) pam_set_item(pamh, PAM_TTY, "pts/eu9");
        r = pam_open_session(pamh, 0);
        if (r != PAM_SUCCESS) {
                r = -2;
                goto out;
        }
        if (expect_key && keyring_find_claims(&key) < 0) {
                (void) pam_close_session(pamh, 0);
                r = -3;
                goto out;
        }
        r = pam_close_session(pamh, 0) == PAM_SUCCESS ? 0 : -4;
out:
        pam_end(pamh, r == 0 ? PAM_SUCCESS : PAM_SESSION_ERR);
        return r;
}

/* Keys uid owns now (/proc/key-users), or -1. */
static long keys_of(uid_t uid) {
        char line[256];
        unsigned long u;
        long n = -1, keys;
        FILE *f = fopen("/proc/key-users", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (sscanf(line, " %lu: %*d %*d/%*d %ld/", &u, &keys) == 2 && u == uid) {
                        n = keys;
                        break;
                }
        fclose(f);
        return n;
}

/* Every login leaves a revoked session keyring that the kernel's key
 * garbage collector frees a little later; on a busy machine it can fall
 * behind a tight loop and the user's key quota (kernel.keys.maxkeys, 200)
 * runs out. Waits (untimed, at most 5 s) until the user is well below it. */
static void wait_for_key_gc(uid_t uid, long *waits) {
        for (int i = 0; i < 5000 && keys_of(uid) > 100; i++) {
                struct timespec ms = { 0, 1000000 };
                nanosleep(&ms, NULL);
                (*waits)++;
        }
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "confdir", required_argument, NULL, 'c' },
                { "service", required_argument, NULL, 's' },
                { "user", required_argument, NULL, 'u' },
                { "iterations", required_argument, NULL, 'n' },
                { "warmup", required_argument, NULL, 'w' },
                { "expect-key", no_argument, NULL, 'k' },
                { "max-ms", required_argument, NULL, 'm' },
                { "count-failures", no_argument, NULL, 'f' },
                { NULL, 0, NULL, 0 },
        };
        const char *confdir = NULL, *service = NULL, *user = NULL;
        long iterations = 2000, warmup = 20, max_ms = 0, done = 0;
        int expect_key = 0, count_failures = 0, c, failures = 0, first_error = 0;
        double *samples = NULL;
        struct passwd *pw;
        long gc_waits = 0;
        bench_stats st;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'c': confdir = optarg; break;
                case 's': service = optarg; break;
                case 'u': user = optarg; break;
                case 'n': iterations = strtol(optarg, NULL, 10); break;
                case 'w': warmup = strtol(optarg, NULL, 10); break;
                case 'k': expect_key = 1; break;
                case 'm': max_ms = strtol(optarg, NULL, 10); break;
                case 'f': count_failures = 1; break;
                default: return 2;
                }
        }
        if (!confdir || !service || !user || iterations < 1 || iterations > 10000000 || warmup < 0) {
                fputs("usage: bench_login --confdir DIR --service NAME --user USER --iterations N "
                      "[--warmup N] [--expect-key] [--max-ms T] [--count-failures]\n",
                      stderr);
                return 2;
        }
        pw = getpwnam(user);
        samples = calloc((size_t) iterations, sizeof(double));
        if (!samples || !pw)
                return 2;
        for (long i = 0; i < warmup; i++)
                (void) one_login(confdir, service, user, 0);
        double end = bench_now_us() + (double) max_ms * 1000;
        for (long i = 0; i < iterations && (max_ms <= 0 || bench_now_us() < end); i++) {
                double t0;
                int r;

                if (pw->pw_uid != 0 && i % 16 == 0)
                        wait_for_key_gc(pw->pw_uid, &gc_waits);
                t0 = bench_now_us();
                r = one_login(confdir, service, user, expect_key);

                samples[i] = bench_now_us() - t0;
                done++;
                if (r < 0) {
                        failures++;
                        if (!first_error)
                                first_error = r;
                }
        }
        bench_stats_compute(samples, (size_t) done, &st);
        printf("{\"iterations\":%ld,\"median_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,"
               "\"max_us\":%.1f,\"failures\":%d,\"first_error\":%d,\"key_gc_wait_ms\":%ld}\n",
               done, st.median, st.p99, st.mean, done ? samples[done - 1] : 0.0, failures, first_error, gc_waits);
        free(samples);
        return failures && !count_failures ? 1 : 0;
}
