/* host.c: facts about this host and processes that claims are bound to. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "util.h"

int host_machine_id(char **ret) {
        char *text = NULL;
        size_t len = 0;
        int r;

        r = read_file_bounded("/etc/machine-id", 64, &text, &len);
        if (r < 0)
                return r;
        while (len > 0 && isspace((unsigned char) text[len - 1]))
                text[--len] = '\0';
        if (len != 32 || strspn(text, "0123456789abcdef") != 32) {
                free(text);
                return -EBADMSG;
        }
        *ret = text;
        return 0;
}

int host_audit_session(pid_t pid, uint32_t *ret) {
        char path[64], text[32];
        unsigned long v;
        ssize_t n;
        int fd, r;

        if (pid == 0)
                snprintf(path, sizeof(path), "/proc/self/sessionid");
        else
                snprintf(path, sizeof(path), "/proc/%d/sessionid", (int) pid);
        /* One read: procfs hands out the whole (ten digit at most) number
         * at once, so a read that leaves room in text has read it all;
         * this runs on every login and every cold claims load. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, text, sizeof(text));
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        if ((size_t) n >= sizeof(text))
                return -EFBIG;
        text[n] = '\0';
        text[strcspn(text, "\n")] = '\0';
        r = parse_uint(text, UINT32_MAX, &v);
        if (r < 0)
                return r;
        if (v == HOST_AUDIT_SESSION_UNSET)
                return -ENODATA;
        *ret = (uint32_t) v;
        return 0;
}

int64_t host_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int host_remaining_ms(int64_t deadline) {
        int64_t left = deadline - host_now_ms();

        if (left <= 0)
                return 0;
        return left > INT_MAX ? INT_MAX : (int) left;
}
