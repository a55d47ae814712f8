/* duration.c: the one parser for human-written durations ("1h30m"). Strict
 * on purpose: a typo in a grant's lifetime must be refused, never read as
 * something else. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "duration.h"

static const struct { char unit; unsigned long long seconds; } units[] = {
        { 'w', 604800 }, { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
};

/* Reads the decimal digits at *p, advancing it; -EINVAL if there are none,
 * -ERANGE past DURATION_MAX_SECONDS. */
static int parse_number(const char **p, unsigned long long *ret) {
        unsigned long long n = 0;
        const char *s = *p;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                n = n * 10 + (unsigned long long) (*s - '0');
                if (n > DURATION_MAX_SECONDS)
                        return -ERANGE;
        }
        *p = s;
        *ret = n;
        return 0;
}

int duration_parse(const char *text, unsigned long long *ret_seconds) {
        unsigned long long total = 0, n;
        size_t next_unit = 0;   /* units must come largest first, once each */
        const char *p = text;
        int r;

        if (!text || !*text)
                return -EINVAL;
        r = parse_number(&p, &n);
        if (r < 0)
                return r;
        if (*p == '\0') {       /* plain seconds */
                total = n;
                goto out;
        }
        for (;;) {
                size_t u;

                for (u = next_unit; u < sizeof(units) / sizeof(units[0]); u++)
                        if (units[u].unit == *p)
                                break;
                if (u == sizeof(units) / sizeof(units[0]))
                        return -EINVAL;
                if (n > DURATION_MAX_SECONDS / units[u].seconds)
                        return -ERANGE;
                total += n * units[u].seconds;
                if (total > DURATION_MAX_SECONDS)
                        return -ERANGE;
                next_unit = u + 1;
                p++;
                if (*p == '\0')
                        break;
                r = parse_number(&p, &n);
                if (r < 0)
                        return r;
        }
out:
        if (total == 0)
                return -EDOM;
        *ret_seconds = total;
        return 0;
}

const char *duration_strerror(int error) {
        switch (error) {
        case -EDOM:
                return "a duration must be longer than zero";
        case -ERANGE:
                return "duration too long (at most 68 years)";
        default:
                return "not a duration: use seconds or NUMBER+UNIT parts, largest unit first, "
                       "with units w, d, h, m, s (e.g. 90, 30m, 1h30m, 2d)";
        }
}
