/* clock.c: the daemon's clock (clock.h). The two readings are weak symbols
 * so that a unit test can link its own, scripted clock in their place
 * (tests/unit/test_clock.c) to jump the wall clock. Nothing in the daemon
 * can switch clocks at run time: no variable, no environment, and an
 * executable's symbols are not open to LD_PRELOAD interposition. */
#include <time.h>
#include "clock.h"

static int64_t read_ms(clockid_t id) {
        struct timespec ts;

        if (clock_gettime(id, &ts) < 0)
                return 0;
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((weak)) int64_t clock_wall_ms(void) {
        return read_ms(CLOCK_REALTIME);
}

__attribute__((weak)) int64_t clock_monotonic_ms(void) {
        return read_ms(CLOCK_MONOTONIC);
}

__attribute__((weak)) int64_t clock_monotonic_us(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_now(void) {
        int64_t ms = clock_wall_ms();

        /* Floor, also before 1970, so a second is never counted early. */
        return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}
