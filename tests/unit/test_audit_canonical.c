/* test_audit_canonical.c: the audit row's canonical encoding, which audit.c
 * writes by hand, holds byte for byte to its definition in audit.h (a
 * jansson object dumped with JSON_COMPACT|JSON_SORT_KEYS), for plain and
 * hostile texts alike: quotes, backslashes, control characters, UTF-8 of
 * every length, and bytes that are not UTF-8 (refused by both). A
 * difference would make every row written after it fail verification. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "audit.h"
#include "../tap.h"

/* The definition, as audit.h states it. */
static char *reference(int64_t id, int64_t time, int64_t actor_uid, const char *actor_name, const char *subject,
                       const char *action, const char *result, const char *details, const char *prev_hash) {
        json_t *o = json_pack("{s:I, s:I, s:o, s:s, s:o, s:s, s:s, s:s, s:s}", "id", (json_int_t) id, "time",
                              (json_int_t) time, "actor_uid", actor_uid < 0 ? json_null() : json_integer(actor_uid),
                              "actor_name", actor_name ? actor_name : "", "subject",
                              subject ? json_string(subject) : json_null(), "action", action ? action : "", "result",
                              result ? result : "", "details", details ? details : "", "prev_hash",
                              prev_hash ? prev_hash : "");
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

        json_decref(o);
        return text;
}

static bool same(int64_t id, int64_t time, int64_t actor_uid, const char *actor_name, const char *subject,
                 const char *action, const char *result, const char *details, const char *prev_hash) {
        char *want = reference(id, time, actor_uid, actor_name, subject, action, result, details, prev_hash);
        char *got = audit_canonical(id, time, actor_uid, actor_name, subject, action, result, details, prev_hash);
        bool ok = (!want && !got) || (want && got && strcmp(want, got) == 0);

        if (!ok)
                printf("# want %s\n#  got %s\n", want ? want : "(null)", got ? got : "(null)");
        free(want);
        free(got);
        return ok;
}

/* Pieces a random text is made of. */
static const char *const pieces[] = {
        "a",
        "Z",
        "0",
        " ",
        "\"",
        "\\",
        "/",
        "\n",
        "\r",
        "\t",
        "\b",
        "\f",
        "\x01",
        "\x1b",
        "\x1f",
        "\x7f",
        "{\"k\":[1]}",
        "\xc3\xa9",                     /* é */
        "\xe2\x82\xac",                 /* € */
        "\xf0\x9f\x94\x91",             /* U+1F511 */
        "\xef\xbf\xbf",                 /* U+FFFF */
        "\xf4\x8f\xbf\xbf",             /* U+10FFFF */
        "\xe2\x80\xa8",                 /* U+2028; the rest are not UTF-8 */
        "\xc0\xaf",                     /* overlong '/' */
        "\xe0\x80\xaf",                 /* overlong, 3 bytes */
        "\xed\xa0\x80",                 /* a surrogate */
        "\xf4\x90\x80\x80",             /* past U+10FFFF */
        "\xf5\x80\x80\x80",
        "\x80",
        "\xbf",
        "\xc3",
        "\xe2\x82",
        "\xff",
};

#define VALID_PIECES 23

/* A text of up to max_pieces pieces, the invalid ones among them only when
 * invalid is set. */
static void random_text(char *out, size_t max_pieces, bool invalid) {
        size_t n = (size_t) rand() % (max_pieces + 1);
        size_t choices = invalid ? sizeof pieces / sizeof pieces[0] : VALID_PIECES;

        out[0] = '\0';
        for (size_t i = 0; i < n; i++)
                strcat(out, pieces[(size_t) rand() % choices]);
}

int main(void) {
        char name[128], subject[128], details[128];
        int mismatches = 0, refused = 0;

        CHECK(same(1, 1700000000, 0, "root", "alice", AUDIT_ENRICH_ISSUED, AUDIT_OK,
                   "{\"sid\":\"x\",\"claims\":{\"scope\":\"a b\"}}",
                   "0000000000000000000000000000000000000000000000000000000000000000"),
              "an issuance row");
        CHECK(same(42, 0, -1, "enrichd", NULL, AUDIT_CHECKPOINT, AUDIT_OK, "{}", "ab"), "null actor_uid and subject");
        CHECK(same(INT64_MAX, INT64_MIN, INT64_MAX, NULL, "", NULL, NULL, NULL, NULL), "extreme numbers, empty texts");
        CHECK(same(7, 7, 1000, "bob\x01\x1f", "\"q\"\\", "a", "b", "c\n\t", "d\x7f"), "escapes");
        CHECK(audit_canonical(1, 1, 0, "\xff", "s", "a", "r", "{}", "p") == NULL, "bytes that are not UTF-8 refused");

        srand(15);
        for (int i = 0; i < 20000; i++) {
                random_text(name, 6, i % 4 == 0);
                random_text(subject, 6, i % 4 == 1);
                random_text(details, 6, i % 4 == 2);
                if (!same(i, i * 3, i % 3 == 0 ? -1 : i, name, i % 5 == 0 ? NULL : subject, "enrich.issued", "ok",
                          details, "00ff"))
                        mismatches++;
                char *text = reference(i, 0, 0, name, subject, "a", "r", details, "p");
                if (!text)
                        refused++;
                free(text);
        }
        printf("# %d random rows, %d of them refused by jansson\n", 20000, refused);
        CHECK(mismatches == 0, "random rows encode as jansson dumps them");
        CHECK(refused > 1000 && refused < 19000, "the random rows include both valid and invalid UTF-8");
        TAP_EXIT();
}
