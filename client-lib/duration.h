/* duration.h: parses the durations admins type ("30s", "15m", "1h30m",
 * "2d", plain seconds), shared by enrichctl and anything else that reads
 * one, so every part accepts the same spelling. */
#pragma once

/* Largest duration accepted: about 68 years, so that every result fits in an
 * int on the wire and in a time_t sum without overflow. */
#define DURATION_MAX_SECONDS 2147483647ULL

/* Parses text as a positive duration: either plain decimal seconds ("90"),
 * or one or more NUMBER UNIT parts with units w, d, h, m, s, each at most
 * once and largest first ("1h30m", "2d", "1w2d"). No signs, no spaces.
 * Returns 0 and sets *ret_seconds, or -EINVAL (not a duration), -EDOM (zero)
 * or -ERANGE (above DURATION_MAX_SECONDS). */
int duration_parse(const char *text, unsigned long long *ret_seconds);

/* A message for a duration_parse error, for the caller to show. */
const char *duration_strerror(int error);
