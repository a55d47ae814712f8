/* clock.h: the daemon's one source of time. Wall-clock time is what tokens,
 * grants and rows record (verifiers compare exp with their wall clock);
 * monotonic time measures intervals (when a refresh is due), which a
 * wall-clock jump must not stretch or cut short. */
#pragma once
#include <stdint.h>

/* A wall-clock jump larger than this between two ticks re-issues every live
 * session (live.c): NTP slews far slower, so only a step gets this far. */
#define CLOCK_JUMP_TOLERANCE_MS 2000

/* CLOCK_REALTIME in milliseconds since the epoch. */
int64_t clock_wall_ms(void);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_monotonic_ms(void);
/* CLOCK_MONOTONIC in microseconds: the transport's fairness quanta
 * (server.c). Weak apart from clock_monotonic_ms, so a test that scripts
 * the millisecond clock does not freeze the server's turn budgets. */
int64_t clock_monotonic_us(void);
/* clock_wall_ms() in whole seconds: what iat, exp and rows hold. */
int64_t clock_now(void);
