/* disabled_list.c: writing and reading the list of disabled identities
 * kept beside enrichd's socket (see disabled_list.h). The reader runs inside
 * every login's account hook when the daemon cannot answer: it streams the
 * file through a fixed buffer and compares line by line, so a huge or
 * hostile file costs a bounded read and never an allocation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disabled_list.h"

int disabled_list_path(const char *socket_path, char **ret) {
        const char *slash = socket_path ? strrchr(socket_path, '/') : NULL;
        char *path;

        if (!slash)
                return -EINVAL;
        if (asprintf(&path, "%.*s/%s", (int) (slash - socket_path), socket_path, DISABLED_LIST_NAME) < 0)
                return -ENOMEM;
        *ret = path;
        return 0;
}

bool disabled_list_name_ok(const char *name) {
        size_t n = 0;

        if (!name)
                return false;
        for (const unsigned char *p = (const unsigned char *) name; *p; p++, n++)
                if (*p < 0x20 || *p == 0x7f || *p == ':' || n >= DISABLED_LIST_MAX_NAME)
                        return false;
        return n > 0;
}

/* Longest "uid:N\n" line: the prefix, ten digits, the newline. */
#define UID_LINE_MAX (sizeof DISABLED_LIST_UID_PREFIX + 10 + 1)

int disabled_list_format(const char *const *names, size_t n, const uid_t *uids, size_t n_uids, char **ret,
                         size_t *ret_len, size_t *ret_skipped) {
        size_t len = strlen(DISABLED_LIST_HEADER) + 1, skipped = 0, at;
        char *text;

        for (size_t i = 0; i < n; i++) {
                if (!disabled_list_name_ok(names[i]))
                        continue;
                len += strlen(names[i]) + 1;
                if (len > DISABLED_LIST_MAX_BYTES)
                        return -EFBIG;
        }
        for (size_t i = 0; i < n_uids; i++) {
                len += UID_LINE_MAX;
                if (len > DISABLED_LIST_MAX_BYTES)
                        return -EFBIG;
        }
        text = malloc(len + 1);
        if (!text)
                return -ENOMEM;
        at = (size_t) sprintf(text, "%s\n", DISABLED_LIST_HEADER);
        for (size_t i = 0; i < n; i++) {
                if (!disabled_list_name_ok(names[i])) {
                        skipped++;
                        continue;
                }
                at += (size_t) sprintf(text + at, "%s\n", names[i]);
        }
        for (size_t i = 0; i < n_uids; i++) {
                if (uids[i] == (uid_t) -1) {
                        skipped++;
                        continue;
                }
                at += (size_t) sprintf(text + at, "%s%u\n", DISABLED_LIST_UID_PREFIX, (unsigned) uids[i]);
        }
        *ret = text;
        *ret_len = at;
        if (ret_skipped)
                *ret_skipped = skipped;
        return 0;
}

/* The uid of a "uid:N" line, strictly as the formatter writes it: digits
 * only, no leading zero, below (uid_t) -1. -EINVAL for anything else. */
static int parse_uid_line(const char *line, uid_t *ret) {
        const char *p = line + strlen(DISABLED_LIST_UID_PREFIX);
        unsigned long long v = 0;

        if (strncmp(line, DISABLED_LIST_UID_PREFIX, strlen(DISABLED_LIST_UID_PREFIX)) != 0 || !*p ||
            (p[0] == '0' && p[1]) || strlen(p) > 10)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*p - '0');
        }
        if (v >= (uid_t) -1)
                return -EINVAL;
        *ret = (uid_t) v;
        return 0;
}

int disabled_list_lookup(int fd, const char *user, const uid_t *uid) {
        char buf[4096], line[DISABLED_LIST_MAX_NAME + 1];
        size_t line_len = 0, total = 0;
        bool header = true, overlong = false, with_uids = false, by_name = disabled_list_name_ok(user);
        int found = 0;

        /* Still read to the end when nothing can match: the verdict on a
         * file that is no list must not depend on who asks. */
        for (;;) {
                ssize_t got = read(fd, buf, sizeof buf);

                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (got == 0)
                        break;
                total += (size_t) got;
                if (total > DISABLED_LIST_MAX_BYTES)
                        return -EFBIG;
                for (ssize_t i = 0; i < got; i++) {
                        uid_t listed;

                        if (buf[i] != '\n') {
                                if (line_len < sizeof line - 1)
                                        line[line_len++] = buf[i];
                                else
                                        overlong = true;
                                continue;
                        }
                        line[line_len] = '\0';
                        if (header) {
                                if (overlong)
                                        return -EBADMSG;
                                if (strcmp(line, DISABLED_LIST_HEADER) == 0)
                                        with_uids = true;
                                else if (strcmp(line, DISABLED_LIST_HEADER_V1) != 0)
                                        return -EBADMSG;
                                header = false;
                        } else if (overlong)
                                ;
                        else if (with_uids && parse_uid_line(line, &listed) == 0) {
                                if (uid && *uid == listed)
                                        found = 1;
                        } else if (by_name && strcmp(line, user) == 0)
                                found = 1;
                        line_len = 0;
                        overlong = false;
                }
        }
        /* An unended last line was never written by the daemon: ignored. */
        return header ? -EBADMSG : found;
}
