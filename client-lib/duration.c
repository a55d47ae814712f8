/* duration.c: the one parser for human-written durations, in systemd's
 * time-span syntax (systemd.time(7)): "90", "10min", "10 mins", "1h 30min",
 * "55s500ms", "1.5h", "2d", "1w". Strict on purpose: a typo in a grant's
 * lifetime must be refused, never read as something else. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "duration.h"

#define USEC_PER_SEC 1000000ULL

/* systemd's unit names, longest spelling first where one is a prefix of
 * another ("ms" before "m"); "mins", "secs", "hrs" are accepted too, as
 * admins write them. M and m differ: months and minutes. */
static const struct {
        const char *name;
        unsigned long long usec;
} units[] = {
        { "seconds", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "secs", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "s", USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "minute", 60 * USEC_PER_SEC },
        { "mins", 60 * USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "months", 2629800 * USEC_PER_SEC },
        { "month", 2629800 * USEC_PER_SEC },
        { "msec", 1000 },
        { "ms", 1000 },
        { "m", 60 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "hour", 3600 * USEC_PER_SEC },
        { "hrs", 3600 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
        { "days", 86400 * USEC_PER_SEC },
        { "day", 86400 * USEC_PER_SEC },
        { "d", 86400 * USEC_PER_SEC },
        { "weeks", 604800 * USEC_PER_SEC },
        { "week", 604800 * USEC_PER_SEC },
        { "w", 604800 * USEC_PER_SEC },
        { "years", 31557600 * USEC_PER_SEC },
        { "year", 31557600 * USEC_PER_SEC },
        { "y", 31557600 * USEC_PER_SEC },
        { "M", 2629800 * USEC_PER_SEC },
        { "usec", 1 },
        { "us", 1 },
        { "\xc2\xb5s", 1 },
        { "\xce\xbcs", 1 },
};

#define MAX_USEC (DURATION_MAX_SECONDS * USEC_PER_SEC)

/* The unit at p (the whole alphabetic run must be one name), its length in
 * *ret_len; NULL when there is none or it is not a unit. */
static const char *unit_at(const char *p, unsigned long long *ret_usec, size_t *ret_len) {
        size_t run = 0;

        while (p[run] && (isalpha((unsigned char) p[run]) || (unsigned char) p[run] >= 0x80))
                run++;
        if (run == 0)
                return NULL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (strlen(units[i].name) == run && strncmp(p, units[i].name, run) == 0) {
                        *ret_usec = units[i].usec;
                        *ret_len = run;
                        return units[i].name;
                }
        return NULL;
}

/* Reads "DIGITS[.DIGITS]" at *p into whole and fraction (numerator over
 * *ret_scale), advancing *p. -EINVAL when there are no digits, -ERANGE
 * when the whole part is past DURATION_MAX_SECONDS. */
static int parse_number(const char **p, unsigned long long *ret_whole, unsigned long long *ret_fraction,
                        unsigned long long *ret_scale) {
        unsigned long long whole = 0, fraction = 0, scale = 1;
        const char *s = *p;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                whole = whole * 10 + (unsigned long long) (*s - '0');
                if (whole > DURATION_MAX_SECONDS)
                        return -ERANGE;
        }
        if (*s == '.') {
                s++;
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                /* Digits past microseconds change nothing. */
                for (; isdigit((unsigned char) *s); s++)
                        if (scale < USEC_PER_SEC) {
                                fraction = fraction * 10 + (unsigned long long) (*s - '0');
                                scale *= 10;
                        }
        }
        *p = s;
        *ret_whole = whole;
        *ret_fraction = fraction;
        *ret_scale = scale;
        return 0;
}

int duration_parse(const char *text, unsigned long long *ret_seconds) {
        unsigned long long total = 0;   /* microseconds */
        unsigned long long previous_unit = 0;
        const char *p = text;
        bool first = true;

        if (!text)
                return -EINVAL;
        while (*p == ' ')
                p++;
        if (!*p)
                return -EINVAL;
        while (*p) {
                unsigned long long whole, fraction, scale, unit, add;
                size_t len = 0;
                int r;

                r = parse_number(&p, &whole, &fraction, &scale);
                if (r < 0)
                        return r;
                while (*p == ' ')
                        p++;
                if (unit_at(p, &unit, &len))
                        p += len;
                else if (*p && !isdigit((unsigned char) *p))
                        return -EINVAL;
                else if (first && !*p)
                        unit = USEC_PER_SEC;    /* plain seconds, "90" */
                else if (previous_unit == 3600 * USEC_PER_SEC && !*p)
                        unit = 60 * USEC_PER_SEC;       /* "1h30" is read off a clock: 1h 30min */
                else
                        return -EINVAL;         /* "2d5": five what? */
                if (whole > MAX_USEC / unit)
                        return -ERANGE;
                add = whole * unit + fraction * unit / scale;
                if (add > MAX_USEC || total > MAX_USEC - add)
                        return -ERANGE;
                total += add;
                previous_unit = unit;
                first = false;
                while (*p == ' ')
                        p++;
        }
        /* Whole seconds: a part below one rounds up, so "500ms" is not 0. */
        total = (total + USEC_PER_SEC - 1) / USEC_PER_SEC;
        if (total > DURATION_MAX_SECONDS)
                return -ERANGE;
        if (total == 0)
                return -EDOM;
        *ret_seconds = total;
        return 0;
}

const char *duration_strerror(int error) {
        switch (error) {
        case -EDOM: return "a duration must be longer than zero";
        case -ERANGE: return "duration too long (at most 68 years)";
        default:
                return "not a duration: write seconds, or NUMBER UNIT parts as systemd does "
                       "(e.g. 90, 30s, 10min, 1h30min, 1h 30min, 2d, 1w; see systemd.time(7))";
        }
}
