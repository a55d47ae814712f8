/* test_disabled_list.c: the list of disabled identities beside enrichd's
 * socket (client-lib/disabled_list.c): what the daemon writes is what the
 * module reads, and a list that is not one (no header, garbage, a half
 * line, overlong names, too big) never matches and never crashes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disabled_list.h"
#include "tap.h"

/* lookup of user in a file holding len bytes of text. */
static int lookup_uid(const char *text, size_t len, const char *user, const uid_t *uid) {
        char path[] = "/tmp/test_disabled_list.XXXXXX";
        int fd = mkstemp(path), r;

        if (fd < 0)
                return -errno;
        unlink(path);
        if (write(fd, text, len) != (ssize_t) len || lseek(fd, 0, SEEK_SET) < 0) {
                close(fd);
                return -EIO;
        }
        r = disabled_list_lookup(fd, user, uid);
        close(fd);
        return r;
}

static int lookup(const char *text, size_t len, const char *user) {
        return lookup_uid(text, len, user, NULL);
}

static int lookup_text(const char *text, const char *user) {
        return lookup(text, strlen(text), user);
}

static int lookup_text_uid(const char *text, const char *user, uid_t uid) {
        return lookup_uid(text, strlen(text), user, &uid);
}

int main(void) {
        const char *names[] = { "alice", "bob\nmallory", "carol", "", "dave" };
        char *text = NULL, *path = NULL, *big;
        size_t len = 0, skipped = 0, big_len;

        CHECK(disabled_list_path("/run/enrich/io.enrich", &path) == 0 &&
                      strcmp(path, "/run/enrich/disabled-identities") == 0,
              "list-beside-socket");
        free(path);
        CHECK(disabled_list_path("relative", &path) == -EINVAL, "list-needs-socket-directory");

        CHECK(disabled_list_format(names, 5, NULL, 0, &text, &len, &skipped) == 0 && skipped == 2 &&
                      strcmp(text, DISABLED_LIST_HEADER "\nalice\ncarol\ndave\n") == 0,
              "format-skips-unlistable-names");
        CHECK(lookup(text, len, "alice") == 1 && lookup(text, len, "dave") == 1, "lookup-finds-listed");
        CHECK(lookup(text, len, "al") == 0 && lookup(text, len, "alice2") == 0 && lookup(text, len, "bob") == 0 &&
                      lookup(text, len, "mallory") == 0 && lookup(text, len, "") == 0,
              "lookup-whole-lines-only");
        free(text);

        {
                const char *some[] = { "alice", "uid:7", "x:y" };
                uid_t uids[] = { 1003, 0, (uid_t) -1 };

                CHECK(disabled_list_format(some, 3, uids, 3, &text, &len, &skipped) == 0 && skipped == 3 &&
                              strcmp(text, DISABLED_LIST_HEADER "\nalice\nuid:1003\nuid:0\n") == 0,
                      "format-writes-uids");
                CHECK(lookup_uid(text, len, "alias", &uids[0]) == 1 && lookup_uid(text, len, "root", &uids[1]) == 1,
                      "lookup-finds-uid");
                CHECK(lookup_text_uid(text, "bob", 1004) == 0 && lookup_text_uid(text, "bob", 100) == 0 &&
                              lookup(text, len, "uid:1003") == 0,
                      "uid-lines-match-uids-only");
                free(text);
        }
        CHECK(lookup_text(DISABLED_LIST_HEADER_V1 "\nalice\nuid:1003\n", "alice") == 1 &&
                      lookup_text_uid(DISABLED_LIST_HEADER_V1 "\nalice\nuid:1003\n", "bob", 1003) == 0,
              "format-1-read-as-names-only");
        CHECK(lookup_text_uid("# enrich disabled identities, format 3\nuid:5\n", "bob", 5) == -EBADMSG,
              "unknown-format-is-not-a-list");
        CHECK(lookup_text_uid(DISABLED_LIST_HEADER "\nuid:01003\nuid:+5\nuid:\nuid:4294967295\nuid:99999999999\n"
                                                   "uid:12a\n",
                              "bob", 1003) == 0 &&
                      lookup_text_uid(DISABLED_LIST_HEADER "\nuid:4294967295\n", "bob", (uid_t) -1) == 0 &&
                      lookup_text_uid(DISABLED_LIST_HEADER "\nuid:5\n", "bob", 5) == 1,
              "malformed-uid-lines-never-match");
        CHECK(lookup_text("", "alice") == -EBADMSG, "empty-file-is-not-a-list");
        CHECK(lookup_text("alice\n", "alice") == -EBADMSG, "no-header-is-not-a-list");
        CHECK(lookup_text(DISABLED_LIST_HEADER, "alice") == -EBADMSG, "unended-header-is-not-a-list");
        CHECK(lookup_text(DISABLED_LIST_HEADER "\nalice", "alice") == 0, "unended-last-line-ignored");
        CHECK(lookup_text(DISABLED_LIST_HEADER "\n\n\x01\xff\nalice\n", "alice") == 1, "garbage-lines-skipped");

        /* A line longer than any name never matches, even when it starts
         * with one. */
        big_len = strlen(DISABLED_LIST_HEADER) + 1 + 5000 + 1;
        big = malloc(big_len + 1);
        if (big) {
                sprintf(big, "%s\n", DISABLED_LIST_HEADER);
                memset(big + strlen(big), 'a', 5000);
                big[big_len - 1] = '\n';
                big[big_len] = '\0';
                memcpy(big + strlen(DISABLED_LIST_HEADER) + 1, "alice", 5);
        }
        CHECK(big && lookup(big, big_len, "alice") == 0 && lookup(big, big_len, "a") == 0,
              "overlong-line-never-matches");
        free(big);

        big_len = DISABLED_LIST_MAX_BYTES + 2;
        big = malloc(big_len);
        if (big) {
                memset(big, '\n', big_len);
                memcpy(big, DISABLED_LIST_HEADER, strlen(DISABLED_LIST_HEADER));
        }
        CHECK(big && lookup(big, big_len, "alice") == -EFBIG, "too-big-list-refused");
        free(big);
        TAP_EXIT();
}
