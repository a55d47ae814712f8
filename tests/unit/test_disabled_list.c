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
static int lookup(const char *text, size_t len, const char *user)
{
        char path[] = "/tmp/test_disabled_list.XXXXXX";
        int fd = mkstemp(path), r;

        if (fd < 0)
                return -errno;
        unlink(path);
        if (write(fd, text, len) != (ssize_t) len || lseek(fd, 0, SEEK_SET) < 0) {
                close(fd);
                return -EIO;
        }
        r = disabled_list_lookup(fd, user);
        close(fd);
        return r;
}

static int lookup_text(const char *text, const char *user)
{
        return lookup(text, strlen(text), user);
}

int main(void)
{
        const char *names[] = { "alice", "bob\nmallory", "carol", "", "dave" };
        char *text = NULL, *path = NULL, *big;
        size_t len = 0, skipped = 0, big_len;

        CHECK(disabled_list_path("/run/enrich/io.enrich", &path) == 0 &&
              strcmp(path, "/run/enrich/disabled-identities") == 0, "list-beside-socket");
        free(path);
        CHECK(disabled_list_path("relative", &path) == -EINVAL, "list-needs-socket-directory");

        CHECK(disabled_list_format(names, 5, &text, &len, &skipped) == 0 && skipped == 2 &&
              strcmp(text, DISABLED_LIST_HEADER "\nalice\ncarol\ndave\n") == 0, "format-skips-unlistable-names");
        CHECK(lookup(text, len, "alice") == 1 && lookup(text, len, "dave") == 1, "lookup-finds-listed");
        CHECK(lookup(text, len, "al") == 0 && lookup(text, len, "alice2") == 0 && lookup(text, len, "bob") == 0 &&
              lookup(text, len, "mallory") == 0 && lookup(text, len, "") == 0, "lookup-whole-lines-only");
        free(text);

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
        CHECK(big && lookup(big, big_len, "alice") == 0 && lookup(big, big_len, "a") == 0, "overlong-line-never-matches");
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
