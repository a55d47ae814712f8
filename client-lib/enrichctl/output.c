/* output.c: formatting shared by the enrichctl commands, and the one place
 * that talks to the daemon. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "enrichctl.h"
#include "host.h"
#include "util.h"

int ctl_call(const ctl_options *o, const char *method, json_t *params, json_t **ret)
{
        int64_t deadline = host_now_ms() + CTL_TIMEOUT_MS;
        uid_t trusted[2] = { 0 };
        size_t n_trusted = 1;
        varlink_client *c = NULL;
        json_t *reply = NULL;
        char *error = NULL;
        int r, left, code;

        /* The daemon runs as root or as its own system user; a socket owned
         * by anyone else is not enrichd, whatever it answers. */
        if (lookup_uid("enrich", &trusted[1]) == 0 && trusted[1] != 0)
                n_trusted = 2;
        r = varlink_client_connect(o->socket, CTL_TIMEOUT_MS, trusted, n_trusted, &c);
        if (r == -EPERM) {
                fprintf(stderr, "enrichctl: refusing %s: its owner is neither root nor enrich\n", o->socket);
                code = CTL_EXIT_ERROR;
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "enrichctl: cannot reach enrichd at %s: %s\n", o->socket, strerror(-r));
                code = CTL_EXIT_ERROR;
                goto out;
        }
        left = (int) (deadline - host_now_ms());
        r = left > 0 ? varlink_client_call(c, method, params, left, &reply, &error) : -ETIMEDOUT;
        if (r == -EREMOTEIO) {
                const char *reason = json_string_value(json_object_get(reply, "reason"));

                fprintf(stderr, "enrichctl: %s failed: %s%s%s\n", method, error ? error : "error",
                        reason ? ": " : "", reason ? reason : "");
                code = CTL_EXIT_NO;
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "enrichctl: no answer from enrichd at %s: %s\n", o->socket, strerror(-r));
                code = CTL_EXIT_ERROR;
                goto out;
        }
        *ret = reply;
        reply = NULL;
        code = CTL_EXIT_OK;
out:
        json_decref(reply);
        free(error);
        varlink_client_free(c);
        return code;
}

void ctl_print_json(const json_t *value)
{
        char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        if (text) {
                puts(text);
                free(text);
        }
}

const char *ctl_format_time(time_t t, char *buf, size_t size)
{
        struct tm tm;

        if (t <= 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "-");
        return buf;
}

const char *ctl_format_duration(long long seconds, char *buf, size_t size)
{
        if (seconds < 0)
                snprintf(buf, size, "expired");
        else if (seconds >= 3600)
                snprintf(buf, size, "%lldh %02lldm %02llds", seconds / 3600, seconds / 60 % 60, seconds % 60);
        else if (seconds >= 60)
                snprintf(buf, size, "%lldm %02llds", seconds / 60, seconds % 60);
        else
                snprintf(buf, size, "%llds", seconds);
        return buf;
}
