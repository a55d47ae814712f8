/* names.c: the closed vocabularies shared by enrichd and enrichctl, and
 * the edit distance behind "did you mean". */
#include <stdio.h>
#include <string.h>

#include "names.h"

const char *const enrich_amr_values[] = { "pwd", "pop", "tok", "svc", "mfa", "otp", "hwk", "swk", NULL };

const char *const enrich_audit_actions[] = {
        "enrich.issued",  "enrich.refused",    "session.refreshed", "session.revoked",
        "session.ended",  "grant.created",     "grant.revoked",     "grant.expired",
        "token.issued",   "token.used",        "token.rejected",    "token.revoked",
        "token.rotated",  "token.unlocked",    "identity.disabled", "identity.enabled",
        "login.refused",  "permission.denied", "config.reloaded",   "config.rejected",
        "key.rotated",    "audit.checkpoint",  "request.created",   "request.approved",
        "request.denied", "request.expired",   "fleet.enrolled",    NULL
};

bool names_contain(const char *const *list, const char *s) {
        for (; s && *list; list++)
                if (strcmp(*list, s) == 0)
                        return true;
        return false;
}

const char *names_join(const char *const *list, const char *sep, char *buf, size_t size) {
        size_t used = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        for (size_t i = 0; list[i]; i++) {
                int n = snprintf(buf + used, size - used, "%s%s", i ? sep : "", list[i]);

                if (n < 0 || (size_t) n >= size - used)
                        break;
                used += (size_t) n;
        }
        return buf;
}

#define DISTANCE_MAX    255
#define DISTANCE_LENGTH 64

unsigned names_distance(const char *a, const char *b) {
        unsigned row[DISTANCE_LENGTH + 1];
        size_t la = strlen(a), lb = strlen(b);

        if (la > DISTANCE_LENGTH || lb > DISTANCE_LENGTH)
                return DISTANCE_MAX;
        /* One row of the classic table: row[j] is the distance of a's
         * prefix so far to b's first j characters. */
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned diagonal = row[0];

                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned above = row[j];
                        unsigned best = diagonal + (a[i - 1] != b[j - 1]);

                        if (above + 1 < best)
                                best = above + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        diagonal = above;
                        row[j] = best;
                }
        }
        return row[lb] < DISTANCE_MAX ? row[lb] : DISTANCE_MAX;
}

const char *names_suggest(const char *typed, const char *const *list, size_t n) {
        const char *best = NULL;
        unsigned best_distance = DISTANCE_MAX;
        size_t typed_length;

        if (!typed || !*typed)
                return NULL;
        typed_length = strlen(typed);
        for (size_t i = 0; (n == 0 || i < n) && list[i]; i++) {
                unsigned d = names_distance(typed, list[i]);

                if (d == 0)
                        return NULL;
                /* "grant.create" for "grant.created": a clipped word. */
                if (typed_length >= 3 && strncmp(list[i], typed, typed_length) == 0 && d > 1)
                        d = 1;
                if (d < best_distance) {
                        best = list[i];
                        best_distance = d;
                }
        }
        if (best && best_distance <= 2 && best_distance * 2 < typed_length + (best_distance == 1))
                return best;
        return NULL;
}
