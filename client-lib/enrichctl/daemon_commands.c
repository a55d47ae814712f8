/* daemon_commands.c: enrichctl commands answered by the daemon: status and
 * sessions. */
#include <stdio.h>
#include <string.h>

#include "enrichctl.h"
#include "util.h"

int cmd_status(const ctl_options *o)
{
        json_t *reply = NULL;
        char duration[64];
        int code;

        code = ctl_call(o, "io.enrich.Status", NULL, &reply);
        if (code != CTL_EXIT_OK)
                return code;
        if (o->json) {
                ctl_print_json(reply);
        } else {
                printf("enrichd %s at %s\n", ctl_str_or_dash(reply, "version"), o->socket);
                printf("  issuer:          %s\n", ctl_str_or_dash(reply, "issuer"));
                printf("  signing key:     %s\n", ctl_str_or_dash(reply, "kid"));
                printf("  policy version:  %s\n", ctl_str_or_dash(reply, "policyVersion"));
                printf("  sessions:        %lld\n",
                       (long long) json_integer_value(json_object_get(reply, "sessions")));
                printf("  uptime:          %s\n",
                       ctl_format_duration(json_integer_value(json_object_get(reply, "uptime")),
                                           duration, sizeof(duration)));
        }
        json_decref(reply);
        return CTL_EXIT_OK;
}

enum { COL_SID, COL_USER, COL_SERVICE, COL_TTY, COL_RHOST, COL_CREATED, COL_EXPIRES, N_COLUMNS };

/* The table's cells for one session; times are formatted into times. */
static void session_row(json_t *s, const char *cells[N_COLUMNS], char times[2][32])
{
        cells[COL_SID] = ctl_str_or_dash(s, "sid");
        cells[COL_USER] = ctl_str_or_dash(s, "user");
        cells[COL_SERVICE] = ctl_str_or_dash(s, "service");
        cells[COL_TTY] = ctl_str_or_dash(s, "tty");
        cells[COL_RHOST] = ctl_str_or_dash(s, "rhost");
        cells[COL_CREATED] = ctl_format_time(json_integer_value(json_object_get(s, "created")),
                                             times[0], sizeof(times[0]));
        cells[COL_EXPIRES] = ctl_format_time(json_integer_value(json_object_get(s, "expires")),
                                             times[1], sizeof(times[1]));
}

int cmd_sessions(const ctl_options *o)
{
        static const char *const headers[N_COLUMNS] = {
                "SID", "USER", "SERVICE", "TTY", "RHOST", "CREATED", "EXPIRES"
        };
        json_t *reply = NULL, *params = NULL, *sessions, *s;
        const char *cells[N_COLUMNS];
        char times[2][32];
        int widths[N_COLUMNS], code;
        size_t i;

        if (o->n_args > 0) {
                params = json_pack("{s:s}", "user", o->args[0]);
                if (!params) {
                        fprintf(stderr, "enrichctl: out of memory\n");
                        return CTL_EXIT_ERROR;
                }
        }
        code = ctl_call(o, "io.enrich.ListSessions", params, &reply);
        json_decref(params);
        if (code != CTL_EXIT_OK)
                return code;
        if (o->json) {
                ctl_print_json(reply);
                goto out;
        }
        sessions = json_object_get(reply, "sessions");
        if (json_array_size(sessions) == 0) {
                printf("No sessions.\n");
                goto out;
        }
        for (int c = 0; c < N_COLUMNS; c++)
                widths[c] = (int) strlen(headers[c]);
        json_array_foreach(sessions, i, s) {
                session_row(s, cells, times);
                for (int c = 0; c < N_COLUMNS; c++)
                        if ((int) strlen(cells[c]) > widths[c])
                                widths[c] = (int) strlen(cells[c]);
        }
        for (int c = 0; c < N_COLUMNS; c++)
                printf("%-*s%s", c + 1 < N_COLUMNS ? widths[c] : 0, headers[c], c + 1 < N_COLUMNS ? "  " : "\n");
        json_array_foreach(sessions, i, s) {
                session_row(s, cells, times);
                for (int c = 0; c < N_COLUMNS; c++)
                        printf("%-*s%s", c + 1 < N_COLUMNS ? widths[c] : 0, cells[c], c + 1 < N_COLUMNS ? "  " : "\n");
        }
out:
        json_decref(reply);
        return CTL_EXIT_OK;
}
