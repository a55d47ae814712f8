/* test_duration.c: the duration parser shared by enrichctl and the daemon:
 * systemd.time(7)'s own examples and the spellings admins type, and
 * refusal of zero, signs, garbage, unknown units and overflow. */
#include <errno.h>
#include <stdio.h>

#include "duration.h"
#include "tap.h"

static int parses(const char *text, unsigned long long expect) {
        unsigned long long got = 0;

        return duration_parse(text, &got) == 0 && got == expect;
}

static int fails(const char *text, int expect) {
        unsigned long long got = 12345;

        /* The out-parameter is written only on success. */
        return duration_parse(text, &got) == expect && got == 12345;
}

int main(void) {
        static const struct {
                const char *text;
                unsigned long long seconds;
        } good[] = {
                { "1", 1 },
                { "90", 90 },
                { "30s", 30 },
                { "30m", 1800 },
                { "1h", 3600 },
                { "2d", 172800 },
                { "1w", 604800 },
                { "1h30m", 5400 },
                { "1d2h3m4s", 93784 },
                { "1w1d", 691200 },
                { "0h5m", 300 },
                { "007m", 420 },
                { "2147483647", 2147483647ULL },
                { "2147483647s", 2147483647ULL },
                /* systemd.time(7), "Examples for valid time span specifications" */
                { "2 h", 7200 },
                { "2hours", 7200 },
                { "48hr", 172800 },
                { "1y 12month", 63115200 },
                { "55s500ms", 56 },
                { "300ms20s 5day", 432021 },
                /* and what admins write (issue 17) */
                { "10min", 600 },
                { "10 mins", 600 },
                { "1h30", 5400 },
                { "1h 30min", 5400 },
                { "1h30min", 5400 },
                { "1d 2h", 93600 },
                { "1h 30m", 5400 },
                { "1.5h", 5400 },
                { "30m1h", 5400 },
                { "90 seconds", 90 },
                { " 1h ", 3600 },
                { "500ms", 1 },
                { "2 weeks", 1209600 },
                { "1M", 2629800 },
        };
        static const struct {
                const char *text;
                int error;
        } bad[] = {
                { "", -EINVAL },
                { "0", -EDOM },
                { "0s", -EDOM },
                { "0h0m", -EDOM },
                { "-5m", -EINVAL },
                { "+5m", -EINVAL },
                { "5x", -EINVAL },
                { "m", -EINVAL },
                { "1hm", -EINVAL },
                { "h1", -EINVAL },
                { "1H", -EINVAL },
                { "abc", -EINVAL },
                { "10 minutesx", -EINVAL },
                { "2d5", -EINVAL },
                { "1.h", -EINVAL },
                { "1m30", -EINVAL },
                { "   ", -EINVAL },
                { "1 d 2", -EINVAL },
                { "0.0000001s", -EDOM },
                { "2147483648", -ERANGE },
                { "99999999999999999999999", -ERANGE },
                { "24856d", -ERANGE },
                { "3551w", -ERANGE },
                { "2147483647s1", -EINVAL },
                { "24855d86400s", -ERANGE },
        };
        char name[96];
        unsigned long long unused;

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                snprintf(name, sizeof(name), "duration \"%s\" is %llu s", good[i].text, good[i].seconds);
                CHECK(parses(good[i].text, good[i].seconds), name);
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(name, sizeof(name), "duration \"%s\" is refused (%d)", bad[i].text, bad[i].error);
                CHECK(fails(bad[i].text, bad[i].error), name);
        }
        CHECK(duration_parse(NULL, &unused) == -EINVAL, "duration NULL is refused");
        CHECK(duration_strerror(-EDOM) != duration_strerror(-EINVAL) &&
                      duration_strerror(-ERANGE) != duration_strerror(-EINVAL),
              "duration errors have distinct messages");
        TAP_EXIT();
}
