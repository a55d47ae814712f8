/* log.c: journal + stderr logging for enrichd. The journal gets one entry per
 * call with structured fields; stderr (foreground only) gets a readable line.
 * Both are built in stack buffers without allocating, and the stderr line
 * goes out in one write(2), so lines from a busy daemon never interleave
 * and a log line costs one system call per sink. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include "log.h"

#define LOG_MAX_FIELDS  16
#define LOG_MESSAGE_MAX 2048
/* The journal's fields other than MESSAGE, and the stderr line. */
#define LOG_FIELDS_MAX 4096
#define LOG_LINE_MAX   (LOG_MESSAGE_MAX + LOG_FIELDS_MAX)

/* Set once at startup; the daemon is single-threaded. */
static bool log_to_stderr;

void log_setup(bool foreground) {
        log_to_stderr = foreground;
}

static const char *priority_name(int priority) {
        switch (priority) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT:
        case LOG_ERR: return "error";
        case LOG_WARNING: return "warning";
        case LOG_NOTICE: return "notice";
        case LOG_INFO: return "info";
        default: return "debug";
        }
}

/* Appends printf output to buf (size total, *used so far) and returns where
 * it starts, or NULL when it does not fit whole (nothing is kept then). */
static char *append(char *buf, size_t size, size_t *used, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

static char *append(char *buf, size_t size, size_t *used, const char *format, ...) {
        char *start = buf + *used;
        va_list ap;
        int n;

        if (*used >= size)
                return NULL;
        va_start(ap, format);
        n = vsnprintf(start, size - *used, format, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= size - *used) {
                *start = '\0';
                return NULL;
        }
        *used += (size_t) n;
        return start;
}

static void write_stderr(const char *line, size_t length) {
        while (length > 0) {
                ssize_t n = write(STDERR_FILENO, line, length);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                line += n;
                length -= (size_t) n;
        }
}

void log_struct(int priority, const char *message_id, const char *const *fields, const char *format, ...) {
        char message[LOG_MESSAGE_MAX + sizeof "MESSAGE="];
        char buffer[LOG_FIELDS_MAX];
        struct iovec iov[LOG_MAX_FIELDS + 3];
        size_t n = 0, used = 0, length;
        const int saved_errno = errno;
        va_list ap;
        char *p;

        /* "MESSAGE=" stays in front, so the journal's field is the buffer
         * itself and the stderr line can point past it. */
        memcpy(message, "MESSAGE=", 8);
        va_start(ap, format);
        vsnprintf(message + 8, sizeof message - 8, format, ap);
        va_end(ap);
        length = strlen(message);
        iov[n++] = (struct iovec) { .iov_base = message, .iov_len = length };

        if ((p = append(buffer, sizeof buffer, &used, "PRIORITY=%d", priority)))
                iov[n++] = (struct iovec) { .iov_base = p, .iov_len = strlen(p) };
        used++;         /* keep the terminating NUL apart from the next field */
        if (message_id && (p = append(buffer, sizeof buffer, &used, "MESSAGE_ID=%s", message_id))) {
                iov[n++] = (struct iovec) { .iov_base = p, .iov_len = strlen(p) };
                used++;
        }
        for (size_t i = 0; fields && fields[i] && n < LOG_MAX_FIELDS + 3; i += 2) {
                if (!fields[i + 1])
                        continue;
                p = append(buffer, sizeof buffer, &used, "%s=%s", fields[i], fields[i + 1]);
                if (!p)
                        continue;
                iov[n++] = (struct iovec) { .iov_base = p, .iov_len = strlen(p) };
                used++;
        }
        /* The journal may be absent (containers, tests); stderr still works. */
        (void) sd_journal_sendv(iov, (int) n);

        if (log_to_stderr) {
                char line[LOG_LINE_MAX];
                size_t at = 0;

                (void) append(line, sizeof line, &at, "enrichd: %s: %s", priority_name(priority), message + 8);
                for (size_t i = 0; fields && fields[i]; i += 2)
                        if (fields[i + 1])
                                (void) append(line, sizeof line, &at, " %s=%s", fields[i], fields[i + 1]);
                if (at >= sizeof line - 1)
                        at = sizeof line - 2;
                line[at++] = '\n';
                write_stderr(line, at);
        }
        errno = saved_errno;
}
