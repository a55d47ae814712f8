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

static void session_row(json_t *s, char **row)
{
        char buf[48];

        row[COL_SID] = strdup(ctl_str_or_dash(s, "sid"));
        row[COL_USER] = strdup(ctl_str_or_dash(s, "user"));
        row[COL_SERVICE] = strdup(ctl_str_or_dash(s, "service"));
        row[COL_TTY] = strdup(ctl_str_or_dash(s, "tty"));
        row[COL_RHOST] = strdup(ctl_str_or_dash(s, "rhost"));
        row[COL_CREATED] = strdup(ctl_format_time(json_integer_value(json_object_get(s, "created")),
                                                  buf, sizeof(buf)));
        row[COL_EXPIRES] = strdup(ctl_format_time(json_integer_value(json_object_get(s, "expires")),
                                                  buf, sizeof(buf)));
}

int cmd_sessions(const ctl_options *o)
{
        static const char *const headers[N_COLUMNS] = {
                "SID", "USER", "SERVICE", "TTY", "RHOST", "CREATED", "EXPIRES"
        };
        json_t *reply = NULL, *params = NULL, *sessions;
        int code;

        if (o->n_args > 0) {
                params = json_pack("{s:s}", "user", o->args[0]);
                if (!params)
                        return ctl_oom();
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
        code = ctl_print_items(headers, N_COLUMNS, sessions, session_row);
out:
        json_decref(reply);
        return code;
}
