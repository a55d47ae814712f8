/* throttle.c: per-source failure counters (throttle.h). A linear scan of
 * THROTTLE_SOURCES slots per failure: failures are rare and the table is
 * small, so nothing cleverer is worth its code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "throttle.h"

typedef struct source {
        char key[THROTTLE_SOURCE_MAX + 1]; /* "" for a free slot */
        unsigned failures;
        int64_t last_ms;
} source;

struct throttle {
        source slots[THROTTLE_SOURCES];
};

int throttle_new(throttle **ret) {
        throttle *t = calloc(1, sizeof *t);

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

void throttle_free(throttle *t) {
        free(t);
}

unsigned throttle_fail(throttle *t, const char *key, int64_t now_ms) {
        source *slot = NULL, *oldest = NULL;

        if (!t || !key)
                return 1;
        for (size_t i = 0; i < THROTTLE_SOURCES; i++) {
                source *s = &t->slots[i];

                if (s->key[0] && strncmp(s->key, key, THROTTLE_SOURCE_MAX) == 0) {
                        slot = s;
                        break;
                }
                if (!oldest || !s->key[0] || (oldest->key[0] && s->last_ms < oldest->last_ms))
                        oldest = s;
        }
        if (!slot) {
                slot = oldest;
                memset(slot, 0, sizeof *slot);
                strncpy(slot->key, key, THROTTLE_SOURCE_MAX);
        }
        if (now_ms - slot->last_ms >= THROTTLE_FORGET_MS)
                slot->failures = 0;
        if (slot->failures < 1000)
                slot->failures++;
        slot->last_ms = now_ms;
        return slot->failures;
}
