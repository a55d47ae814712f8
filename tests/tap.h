/* tap.h: the tiny test protocol every enrich test speaks. Each check prints
 * "ok NAME", "not ok NAME" or "skip NAME: why" on its own line; tests/run.sh
 * counts them. A test binary exits non-zero when any check failed. */
#pragma once
#include <stdio.h>
#include <stdlib.h>

static int tap_failed;

#define CHECK(cond, name) \
        do { \
                if (cond) \
                        printf("ok %s\n", name); \
                else { \
                        printf("not ok %s (%s:%d: %s)\n", name, __FILE__, __LINE__, #cond); \
                        tap_failed = 1; \
                } \
                fflush(stdout); \
        } while (0)

#define SKIP(name, why) \
        do { \
                printf("skip %s: %s\n", name, why); \
                fflush(stdout); \
        } while (0)

#define TAP_EXIT() return tap_failed ? 1 : 0
