/* duration.h: parses the durations admins type, in systemd's time-span
 * syntax ("30s", "10min", "1h 30min", "2d", plain seconds), shared by
 * enrichctl and anything else that reads one, so every part accepts the
 * same spelling. */
#pragma once

/* Largest duration accepted: about 68 years, so that every result fits in an
 * int on the wire and in a time_t sum without overflow. */
#define DURATION_MAX_SECONDS 2147483647ULL

/* Parses text as a positive duration, as systemd.time(7) does: plain
 * decimal seconds ("90"), or NUMBER UNIT parts in any order, with or
 * without spaces ("10min", "10 mins", "1h 30min", "55s500ms", "1.5h"),
 * units usec/us, msec/ms, seconds/second/secs/sec/s, minutes/minute/mins/
 * min/m, hours/hour/hrs/hr/h, days/day/d, weeks/week/w, months/month/M,
 * years/year/y. One departure: a bare number after hours is minutes
 * ("1h30" is 1h 30min, where systemd reads 30 seconds); any other bare
 * number after a part is refused. Sub-second totals round up. No signs.
 * Returns 0 and sets *ret_seconds, or -EINVAL (not a duration), -EDOM (zero)
 * or -ERANGE (above DURATION_MAX_SECONDS). */
int duration_parse(const char *text, unsigned long long *ret_seconds);

/* A message for a duration_parse error, for the caller to show. */
const char *duration_strerror(int error);
