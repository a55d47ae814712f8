/* log.c: journal + stderr logging for enrichd. The journal gets one entry per
 * call with structured fields; stderr (foreground only) gets a readable line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include "log.h"

#define LOG_MAX_FIELDS 16

/* Set once at startup; the daemon is single-threaded. */
static bool log_to_stderr;

void log_setup(bool foreground) {
        log_to_stderr = foreground;
}

static const char *priority_name(int priority) {
        switch (priority) {
        case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
        case LOG_WARNING: return "warning";
        case LOG_NOTICE: return "notice";
        case LOG_INFO: return "info";
        default: return "debug";
        }
}

void log_struct(int priority, const char *message_id, const char *const *fields,
                const char *format, ...) {
        char message[2048];
        char *strings[LOG_MAX_FIELDS + 3] = { NULL };
        struct iovec iov[LOG_MAX_FIELDS + 3];
        size_t n = 0;
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);

        if (asprintf(&strings[n], "MESSAGE=%s", message) >= 0)
                n++;
        else
                strings[n] = NULL;
        if (asprintf(&strings[n], "PRIORITY=%d", priority) >= 0)
                n++;
        else
                strings[n] = NULL;
        if (message_id) {
                if (asprintf(&strings[n], "MESSAGE_ID=%s", message_id) >= 0)
                        n++;
                else
                        strings[n] = NULL;
        }
        for (size_t i = 0; fields && fields[i] && n < LOG_MAX_FIELDS + 3; i += 2) {
                if (!fields[i + 1])
                        continue;
                if (asprintf(&strings[n], "%s=%s", fields[i], fields[i + 1]) >= 0)
                        n++;
                else
                        strings[n] = NULL;
        }
        for (size_t i = 0; i < n; i++) {
                iov[i].iov_base = strings[i];
                iov[i].iov_len = strlen(strings[i]);
        }
        /* The journal may be absent (containers, tests); stderr still works. */
        (void) sd_journal_sendv(iov, (int) n);

        if (log_to_stderr) {
                fprintf(stderr, "enrichd: %s: %s", priority_name(priority), message);
                for (size_t i = 0; fields && fields[i]; i += 2)
                        if (fields[i + 1])
                                fprintf(stderr, " %s=%s", fields[i], fields[i + 1]);
                fputc('\n', stderr);
        }
        for (size_t i = 0; i < n; i++)
                free(strings[i]);
}
