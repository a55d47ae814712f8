/* throttle.h: failures counted per source (remote host, remote user or
 * service) for token attempts that name no token, so unknown ids and
 * unknown users are slowed down where they come from and never lock
 * anyone. In memory only, a fixed number of sources, the least recently
 * seen one forgotten first: a restart or a flood of sources resets some
 * counters, which costs an attacker nothing he could not get anyway. */
#pragma once
#include <stdint.h>

#define THROTTLE_SOURCES    256
#define THROTTLE_SOURCE_MAX 300              /* bytes of a source key kept */
#define THROTTLE_FORGET_MS  (15 * 60 * 1000) /* quiet this long: counting starts again */

typedef struct throttle throttle;

int throttle_new(throttle **ret);
void throttle_free(throttle *t);
/* Counts a failure from source at now_ms; returns the failures in a row
 * from it, this one included (1 for a source new or quiet for
 * THROTTLE_FORGET_MS). */
unsigned throttle_fail(throttle *t, const char *source, int64_t now_ms);
