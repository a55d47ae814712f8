/* bench.h: the clock and the statistics every benchmark program prints.
 * Header-only so each program stays one file that the Makefile's pattern
 * rule builds. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>

typedef struct bench_stats {
        double median, p99, mean, min;
} bench_stats;

static inline double bench_now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static inline int bench_compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* Sorts samples in place and summarises them; n may be 0 (all zero). */
static inline void bench_stats_compute(double *samples, size_t n, bench_stats *ret) {
        double sum = 0;

        memset(ret, 0, sizeof *ret);
        if (n == 0)
                return;
        qsort(samples, n, sizeof *samples, bench_compare_double);
        for (size_t i = 0; i < n; i++)
                sum += samples[i];
        ret->min = samples[0];
        ret->median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
        ret->p99 = samples[(size_t) ((double) (n - 1) * 0.99)];
        ret->mean = sum / (double) n;
}

/* utime + stime of pid (fields 14 and 15 of /proc/PID/stat), seconds; -1
 * when it cannot be read. */
static inline double bench_cpu_seconds_of(pid_t pid) {
        char path[64], buf[2048], *p;
        unsigned long long utime = 0, stime = 0;
        FILE *f;
        size_t n;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -1;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}
