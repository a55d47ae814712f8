/* test_session_id.c: session ids sort in the order they were made (so a
 * turn's new sessions land on the last page of the sid index instead of
 * one random page each), and still look like every other id: 22 base64url
 * characters, never a leading '-', different each time. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "issue.h"
#include "../tap.h"

static bool base64url(const char *s) {
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(s);
}

int main(void) {
        const int64_t times[] = {
                0, 1, 63, 64, 1700000000000, 1765000000000, 1765000000001, 1765000000999, 1765000001000, 4398046511103
        };
        char *previous = NULL, *id = NULL;
        bool shaped = true, ordered = true, distinct = true;

        for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
                for (int k = 0; k < 200; k++) {
                        if (issue_session_id(times[i], &id) < 0) {
                                shaped = false;
                                break;
                        }
                        if (strlen(id) != 22 || !base64url(id) || (times[i] > 64 && id[0] == '-'))
                                shaped = false;
                        if (previous && k == 0 && strcmp(previous, id) >= 0) {
                                printf("# %s (t=%lld) sorts before %s\n", id, (long long) times[i], previous);
                                ordered = false;
                        }
                        if (previous && strcmp(previous, id) == 0)
                                distinct = false;
                        free(previous);
                        previous = id;
                        id = NULL;
                }
        free(previous);
        CHECK(shaped, "session ids are 22 base64url characters, no leading '-'");
        CHECK(ordered, "session ids made later sort later");
        CHECK(distinct, "session ids made in the same millisecond differ");
        TAP_EXIT();
}
