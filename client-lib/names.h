/* names.h: the closed vocabularies an admin types (amr values, audit
 * actions) kept in one place for the daemon, which checks them in config
 * and calls, and for enrichctl, which checks them where they are typed;
 * and "did you mean" for any of them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Authentication methods a login can show: RFC 8176 where one fits (pwd,
 * pop for ssh keys, mfa, otp, hwk, swk) and enrich's own svc (a systemd unit)
 * and tok (a service-account token). NULL-terminated. */
extern const char *const enrich_amr_values[];
/* Every action the audit trail records (see daemon/audit.h).
 * NULL-terminated. */
extern const char *const enrich_audit_actions[];

/* Whether s is in the NULL-terminated list. */
bool names_contain(const char *const *list, const char *s);

/* The list's names joined with sep into buf (truncated to size); buf. */
const char *names_join(const char *const *list, const char *sep, char *buf, size_t size);

/* Levenshtein distance of a and b, counted up to 255 (longer strings or
 * larger distances report 255). */
unsigned names_distance(const char *a, const char *b);

/* The name of list (NULL-terminated, or the first n when n > 0) closest
 * to typed, when it is close enough to be a typo of it: at most two edits
 * and fewer edits than half of typed's length, or typed is a prefix of it
 * of at least three characters. NULL otherwise (or when typed is in it). */
const char *names_suggest(const char *typed, const char *const *list, size_t n);
