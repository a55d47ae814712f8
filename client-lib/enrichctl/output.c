/* output.c: formatting shared by the enrichctl commands, and the one place
 * that talks to the daemon. */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "enrich.h"
#include "enrichctl.h"
#include "host.h"
#include "names.h"
#include "util.h"

/* --json: errors go to stdout as JSON (ctl_fail); set once by main. */
static bool json_errors;
/* An error was reported through ctl_fail, or JSON was printed on stdout:
 * main must not wrap leftover stderr text into a second JSON object. */
static bool error_reported, json_printed;

void ctl_set_json_errors(bool on) {
        json_errors = on;
}

bool ctl_error_reported(void) {
        return error_reported || json_printed;
}

int ctl_fail(int code, const char *error, const char *hint, const char *format, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        error_reported = true;
        if (json_errors) {
                json_t *e = json_pack("{s:s, s:s, s:s?}", "error", error, "message", message, "hint", hint);

                if (e) {
                        char *text = json_dumps(e, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

                        if (text)
                                puts(text);
                        free(text);
                        fflush(stdout);
                }
                json_decref(e);
                return code;
        }
        fprintf(stderr, "enrichctl: %s\n", message);
        if (hint)
                fprintf(stderr, "hint: %s\n", hint);
        return code;
}

/* Asks the socket's GetInfo which interfaces it serves: 1 when it is
 * enrichd's userdb socket (io.systemd.UserDatabase, no io.enrich), 0 when
 * not or when it cannot tell. */
static int is_userdb_socket(const ctl_options *o) {
        varlink_client *c = NULL;
        json_t *reply = NULL, *interfaces, *i;
        char *error = NULL;
        bool userdb = false, enrich = false;
        size_t k;

        /* Only its interface list is read, from a socket ctl_connect trusted. */
        if (varlink_client_connect(o->socket, CTL_TIMEOUT_MS, NULL, 0, &c) < 0 ||
            varlink_client_call(c, "org.varlink.service.GetInfo", NULL, CTL_TIMEOUT_MS, &reply, &error) < 0)
                goto out;
        interfaces = json_object_get(reply, "interfaces");
        json_array_foreach(interfaces, k, i) {
                userdb = userdb || streq_ptr(json_string_value(i), "io.systemd.UserDatabase");
                enrich = enrich || streq_ptr(json_string_value(i), "io.enrich");
        }
out:
        json_decref(reply);
        free(error);
        varlink_client_free(c);
        return userdb && !enrich;
}

/* Says what a Varlink error reply means, the cause and the next step, in
 * words an admin reads at a glance; the error name is the JSON "error".
 * Returns code. */
static int print_remote_error(const ctl_options *o, const char *method, const char *error, const json_t *params,
                              int code) {
        const char *reason = json_string_value(json_object_get(params, "reason"));
        const char *e = error ? error : "error";
        char hint[512];

        if (strcmp(e, "io.enrich.PermissionDenied") == 0) {
                const char *group = json_string_value(json_object_get(params, "adminGroup"));
                struct passwd *pw = getpwuid(getuid());
                const char *user = pw ? pw->pw_name : NULL;

                if (reason && strstr(reason, "only root may"))
                        return ctl_fail(code, e, "run it as root, e.g. with sudo",
                                        "permission denied: %s: only root may call it", method);
                snprintf(hint, sizeof hint,
                         "run it as root, or join the admin group: usermod -aG %s %s, "
                         "then log in again (admin_group in enrichd.conf names it)",
                         group ? group : "enrich-admin", user && *user ? user : "USER");
                /* The daemon's generic reason says "admin_group": name the
                 * group instead, once; a specific reason is kept. */
                if (!reason || strstr(reason, "admin_group"))
                        return ctl_fail(code, e, hint,
                                        "permission denied: %s: only root and members of "
                                        "group %s may call it",
                                        method, group ? group : "enrich-admin");
                return ctl_fail(code, e, hint, "permission denied: %s: %s", method, reason);
        }
        if (strcmp(e, "io.enrich.NoSuchGrant") == 0)
                return ctl_fail(code, e, "enrichctl grants --all lists the grants and their ids", "no such grant: %s",
                                ctl_str_or_dash(params, "id"));
        if (strcmp(e, "io.enrich.NoSuchSession") == 0)
                return ctl_fail(code, e, "enrichctl sessions lists the live sessions and their ids",
                                "no such session: %s", ctl_str_or_dash(params, "sid"));
        if (strcmp(e, "io.enrich.NoSuchUser") == 0) {
                snprintf(hint, sizeof hint, "check the name: getent passwd %s", ctl_str_or_dash(params, "user"));
                return ctl_fail(code, e, hint, "no such user: %s", ctl_str_or_dash(params, "user"));
        }
        if (strcmp(e, "io.enrich.UnknownGroup") == 0) {
                char *known = ctl_join(json_object_get(params, "known"), ", ");

                snprintf(hint, sizeof hint,
                         "known groups: %s; add it to groups or a rule in enrichd.conf, "
                         "or grant it anyway with --force",
                         known && strcmp(known, "-") ? known : "none");
                free(known);
                return ctl_fail(code, e, hint, "%s", reason ? reason : "unknown group");
        }
        if (strcmp(e, "io.enrich.FleetKeyMismatch") == 0)
                return ctl_fail(code, e,
                                "read the key's thumbprint on the host itself (enrichctl keys, KID column) "
                                "and compare it with what etcd holds (enrichctl fleet jwks --json, leftOut)",
                                "not enrolled: %s", reason ? reason : "no such key");
        if (strcmp(e, "io.enrich.FleetNoSuchHost") == 0)
                return ctl_fail(code, e, "enrichctl fleet hosts lists the live hosts", "not enrolled: %s",
                                reason ? reason : "no such host");
        if (strcmp(e, "io.enrich.InvalidParameter") == 0)
                return ctl_fail(code, e, NULL, "invalid %s: %s", ctl_str_or_dash(params, "parameter"),
                                reason ? reason : "refused by enrichd");
        if (strcmp(e, "io.enrich.InvalidConfig") == 0)
                return ctl_fail(code, e,
                                "enrichd --check-config --config FILE lists every problem; "
                                "fix the file and run enrichctl reload again",
                                "config refused, the running policy stays: %s", reason ? reason : "invalid");
        if (strcmp(e, "org.varlink.service.MethodNotFound") == 0 ||
            strcmp(e, "org.varlink.service.InterfaceNotFound") == 0) {
                if (is_userdb_socket(o)) {
                        snprintf(hint, sizeof hint,
                                 "use enrichd's main socket: --socket %s (the socket "
                                 "setting of enrichd.conf), or set ENRICH_SOCKET",
                                 ENRICH_DEFAULT_SOCKET);
                        return ctl_fail(code, "enrichctl.UserdbSocket", hint,
                                        "%s is enrichd's userdb socket (io.systemd.UserDatabase), which "
                                        "serves groups to NSS only",
                                        o->socket);
                }
                return ctl_fail(code, e,
                                "upgrade enrichd to the version of this enrichctl (" ENRICH_VERSION
                                "), or restart it after an upgrade: systemctl restart enrichd",
                                "the enrichd at %s does not know %s: it is older than this enrichctl", o->socket,
                                method);
        }
        return ctl_fail(code, e, NULL, "%s failed: %s%s%s", method, e, reason ? ": " : "", reason ? reason : "");
}

int ctl_connect(const ctl_options *o, varlink_client **ret) {
        uid_t trusted[2] = { 0 };
        size_t n_trusted = 1;
        int r;

        /* The daemon runs as root or as its own system user; a socket owned
         * by anyone else is not enrichd, whatever it answers. */
        if (lookup_uid("enrich", &trusted[1]) == 0 && trusted[1] != 0)
                n_trusted = 2;
        r = varlink_client_connect(o->socket, CTL_TIMEOUT_MS, trusted, n_trusted, ret);
        if (r == -EPERM)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.UntrustedSocket",
                                "enrichd runs as root or as the user enrich; point --socket (or ENRICH_SOCKET) "
                                "at its socket",
                                "refusing %s: its owner is neither root nor enrich, so it "
                                "is not enrichd",
                                o->socket);
        if (r < 0)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.Unreachable",
                                "is enrichd running? systemctl status enrichd.socket enrichd.service; "
                                "another socket: --socket PATH or ENRICH_SOCKET=PATH",
                                "cannot reach enrichd at %s: %s", o->socket, strerror(-r));
        return CTL_EXIT_OK;
}

/* One call on a connected client, answered by deadline (host_now_ms). */
static int ctl_call_on(const ctl_options *o, varlink_client *c, const char *method, json_t *params, int64_t deadline,
                       json_t **ret) {
        json_t *reply = NULL;
        char *error = NULL;
        int r, left, code;

        left = (int) (deadline - host_now_ms());
        r = left > 0 ? varlink_client_call(c, method, params, left, &reply, &error) : -ETIMEDOUT;
        if (r == -EREMOTEIO) {
                code = print_remote_error(o, method, error, reply, CTL_EXIT_NO);
                goto out;
        }
        if (r < 0) {
                code = ctl_fail(CTL_EXIT_ERROR, "enrichctl.NoAnswer",
                                "journalctl -u enrichd says why; systemctl status enrichd.service",
                                "no answer from enrichd at %s: %s", o->socket, strerror(-r));
                goto out;
        }
        *ret = reply;
        reply = NULL;
        code = CTL_EXIT_OK;
out:
        json_decref(reply);
        free(error);
        return code;
}

int ctl_call(const ctl_options *o, const char *method, json_t *params, json_t **ret) {
        int64_t deadline = host_now_ms() + CTL_TIMEOUT_MS;
        varlink_client *c = NULL;
        int code;

        code = ctl_connect(o, &c);
        if (code == CTL_EXIT_OK)
                code = ctl_call_on(o, c, method, params, deadline, ret);
        varlink_client_free(c);
        return code;
}

int ctl_say(const ctl_options *o, const char *method, json_t *params, ctl_say_fn say) {
        json_t *reply = NULL;
        int code;

        if (!params)
                return ctl_oom();
        code = ctl_call(o, method, params, &reply);
        json_decref(params);
        if (code == CTL_EXIT_OK && o->json)
                ctl_print_json(reply);
        else if (code == CTL_EXIT_OK)
                say(o, reply);
        json_decref(reply);
        return code;
}

int ctl_pages(const ctl_options *o, const char *method, json_t *params, const char *key, ctl_page_fn fn,
              void *userdata) {
        json_t *request = NULL, *reply = NULL, *page, *next;
        varlink_client *c = NULL;
        char *after = NULL;
        int code;

        request = params ? json_deep_copy(params) : json_object();
        if (!request) {
                code = ctl_oom();
                goto out;
        }
        /* One connection for every page, each page with its own timeout. */
        code = ctl_connect(o, &c);
        if (code != CTL_EXIT_OK)
                goto out;
        for (;;) {
                json_decref(reply);
                reply = NULL;
                code = ctl_call_on(o, c, method, request, host_now_ms() + CTL_TIMEOUT_MS, &reply);
                if (code != CTL_EXIT_OK)
                        goto out;
                page = key ? json_object_get(reply, key) : NULL;
                next = json_object_get(reply, "next");
                if ((key && !json_is_array(page)) || (next && !json_is_null(next) && !json_is_string(next))) {
                        fprintf(stderr, "enrichctl: %s: malformed reply\n", method);
                        code = CTL_EXIT_ERROR;
                        goto out;
                }
                /* A daemon whose pages do not move on would keep us here. */
                if (json_is_string(next) &&
                    ((key && json_array_size(page) == 0) || (after && strcmp(after, json_string_value(next)) == 0))) {
                        fprintf(stderr, "enrichctl: %s: the listing does not move on past %s\n", method,
                                json_string_value(next));
                        code = CTL_EXIT_ERROR;
                        goto out;
                }
                code = fn(userdata, reply, page, request);
                if (code != CTL_EXIT_OK || !json_is_string(next))
                        break;
                free(after);
                after = strdup(json_string_value(next));
                if (!after || json_object_set_new(request, "after", json_string(after)) < 0) {
                        code = ctl_oom();
                        goto out;
                }
        }
        if (code == CTL_PAGES_DONE)
                code = CTL_EXIT_OK;
out:
        json_decref(reply);
        json_decref(request);
        free(after);
        varlink_client_free(c);
        return code;
}

/* A whole listing in memory: every page's rows, at most CTL_MAX_TABLE_ROWS. */
typedef struct collected {
        json_t *rows;
        bool truncated;
} collected;

static int collect_page(void *userdata, json_t *reply, json_t *rows, json_t *request) {
        collected *c = userdata;
        bool more = json_is_string(json_object_get(reply, "next"));
        size_t n;

        if (json_array_extend(c->rows, rows) < 0)
                return ctl_oom();
        n = json_array_size(c->rows);
        if (n > CTL_MAX_TABLE_ROWS || (n == CTL_MAX_TABLE_ROWS && more)) {
                while (json_array_size(c->rows) > CTL_MAX_TABLE_ROWS)
                        json_array_remove(c->rows, json_array_size(c->rows) - 1);
                c->truncated = true;
                return CTL_PAGES_DONE;
        }
        return CTL_EXIT_OK;
}

/* Prints the items of a JSON array as a table (ctl_print_table): fill_row
 * writes one item's n_columns cells as malloc'd strings (NULL when out of
 * memory). CTL_EXIT_OK, or ctl_oom(). */
static int print_items(const char *const *headers, size_t n_columns, json_t *items,
                       void (*fill_row)(json_t *item, char **row)) {
        size_t n = json_array_size(items), i;
        char **cells;
        int code = CTL_EXIT_OK;

        cells = calloc(n * n_columns + 1, sizeof(*cells));
        if (!cells)
                return ctl_oom();
        for (i = 0; i < n && code == CTL_EXIT_OK; i++) {
                fill_row(json_array_get(items, i), cells + i * n_columns);
                for (size_t c = 0; c < n_columns; c++)
                        if (!cells[i * n_columns + c])
                                code = ctl_oom();
        }
        if (code == CTL_EXIT_OK)
                ctl_print_table(headers, n_columns, cells, n);
        for (i = 0; i < n * n_columns; i++)
                free(cells[i]);
        free(cells);
        return code;
}

int ctl_list(const ctl_options *o, const ctl_listing *l, json_t *params) {
        collected c = { .rows = json_array() };
        json_t *out = NULL;
        int code, printed = CTL_EXIT_OK;

        if (!c.rows)
                return ctl_oom();
        code = ctl_pages(o, l->method, params, l->key, collect_page, &c);
        if (code != CTL_EXIT_OK)
                goto out;
        if (o->json) {
                out = json_pack("{s:O}", l->key, c.rows);
                if (out)
                        ctl_print_json(out);
                else
                        printed = ctl_oom();
        } else if (json_array_size(c.rows) == 0 && l->none)
                printf("%s\n", l->none);
        else
                printed = print_items(l->headers, l->n_columns, c.rows, l->fill_row);
        /* What was shown is not the whole listing: a script must not take
         * it for one. */
        if (c.truncated) {
                fprintf(stderr, "enrichctl: %s: more than %d rows; showed the first %d\n", l->method,
                        CTL_MAX_TABLE_ROWS, CTL_MAX_TABLE_ROWS);
                code = CTL_EXIT_ERROR;
        }
out:
        json_decref(out);
        json_decref(c.rows);
        return code != CTL_EXIT_OK ? code : printed;
}

int ctl_list_of_user(const ctl_options *o, const ctl_listing *l, const char *user) {
        json_t *params = NULL;
        int code;

        if (user) {
                params = json_pack("{s:s}", "user", user);
                if (!params)
                        return ctl_oom();
        }
        code = ctl_list(o, l, params);
        json_decref(params);
        return code;
}

void ctl_print_json(const json_t *value) {
        char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        json_printed = true;
        if (text) {
                puts(text);
                free(text);
        }
}

/* A span in the one style every enrichctl output uses: two units at
 * most, no padding ("45s", "9m", "2h 5m", "3d 4h"): "2h 5m" reads at a
 * glance, seconds past the first minute are noise. */
static const char *format_span(long long a, char *buf, size_t size) {
        if (a < 60)
                snprintf(buf, size, "%llds", a);
        else if (a < 3600)
                snprintf(buf, size, a % 60 && a < 600 ? "%lldm %llds" : "%lldm", a / 60, a % 60);
        else if (a < 86400)
                snprintf(buf, size, a / 60 % 60 ? "%lldh %lldm" : "%lldh", a / 3600, a / 60 % 60);
        else
                snprintf(buf, size, a / 3600 % 24 ? "%lldd %lldh" : "%lldd", a / 86400, a / 3600 % 24);
        return buf;
}

const char *ctl_format_relative(time_t t, time_t now, char *buf, size_t size) {
        long long delta = (long long) t - (long long) now, a = delta < 0 ? -delta : delta;
        char span[32];

        if (a < 1)
                return snprintf(buf, size, "now"), buf;
        snprintf(buf, size, delta > 0 ? "in %s" : "%s ago", format_span(a, span, sizeof span));
        return buf;
}

const char *ctl_format_absolute(time_t t, char *buf, size_t size) {
        struct tm tm;

        if (t <= 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
                snprintf(buf, size, "-");
        return buf;
}

const char *ctl_format_time(time_t t, char *buf, size_t size) {
        char when[24], relative[32];

        /* The absolute time for logs and tickets, the relative one for the
         * admin who wants to know "how long still". */
        if (t <= 0)
                snprintf(buf, size, "-");
        else
                snprintf(buf, size, "%s (%s)", ctl_format_absolute(t, when, sizeof when),
                         ctl_format_relative(t, time(NULL), relative, sizeof relative));
        return buf;
}

const char *ctl_format_duration(long long seconds, char *buf, size_t size) {
        if (seconds < 0)
                snprintf(buf, size, "expired");
        else
                format_span(seconds, buf, size);
        return buf;
}

const char *ctl_str_or_dash(const json_t *obj, const char *key) {
        const char *s = json_string_value(json_object_get(obj, key));

        return s && *s ? s : "-";
}

char *ctl_join(const json_t *array, const char *sep) {
        size_t len = 1, i;
        json_t *item;
        char *out;

        json_array_foreach(array, i, item)
                len += strlen(json_string_value(item) ? json_string_value(item) : "") + strlen(sep);
        if (len == 1)
                return strdup("-");
        out = calloc(1, len);
        if (!out)
                return NULL;
        json_array_foreach(array, i, item) {
                if (i > 0)
                        strcat(out, sep);
                strcat(out, json_string_value(item) ? json_string_value(item) : "");
        }
        return out;
}

int ctl_unknown_subcommand(const char *command, const char *typed, const char *const *known) {
        const char *close = names_suggest(typed, known, 0);
        char list[128], hint[256];

        snprintf(hint, sizeof hint, "%s%s%sit takes: %s; see 'enrichctl %s --help'", close ? "did you mean '" : "",
                 close ? close : "", close ? "'? " : "", names_join(known, ", ", list, sizeof list), command);
        return ctl_fail(CTL_EXIT_ERROR, "enrichctl.UnknownCommand", hint, "unknown %s command '%s'", command, typed);
}

int ctl_run_subcommand(const ctl_options *o, const char *command, const ctl_subcommand *list, size_t n) {
        const char *known[16];
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                if (strcmp(list[i].name, o->args[0]) == 0)
                        return list[i].run(o);
                if (k < ARRAY_SIZE(known) - 1)
                        known[k++] = list[i].name;
        }
        known[k] = NULL;
        return ctl_unknown_subcommand(command, o->args[0], known);
}

int ctl_oom(void) {
        return ctl_fail(CTL_EXIT_ERROR, "enrichctl.OutOfMemory", NULL, "out of memory");
}

/* Not util-linux's libsmartcols (what lsblk uses): --json prints the
 * daemon's own objects, typed, where libsmartcols' JSON is a table of
 * strings; the audit table is printed in batches while it pages or
 * streams; and sizing columns to their cells is these few lines. Widths
 * count bytes: the padded cells are names, ids, times and actions; free
 * text (JSON details, reasons) goes in a last, unpadded column. */
void ctl_print_table(const char *const *headers, size_t n_columns, char *const *cells, size_t n_rows) {
        int widths[CTL_TABLE_MAX_COLUMNS] = { 0 };

        ctl_print_table_batch(headers, true, n_columns, widths, cells, n_rows);
}

void ctl_print_table_batch(const char *const *headers, bool print_header, size_t n_columns, int *widths,
                           char *const *cells, size_t n_rows) {
        if (n_columns > CTL_TABLE_MAX_COLUMNS)
                return;
        for (size_t c = 0; c < n_columns; c++) {
                if ((int) strlen(headers[c]) > widths[c])
                        widths[c] = (int) strlen(headers[c]);
                for (size_t r = 0; r < n_rows; r++) {
                        const char *cell = cells[r * n_columns + c];

                        if (cell && (int) strlen(cell) > widths[c])
                                widths[c] = (int) strlen(cell);
                }
        }
        for (size_t c = 0; print_header && c < n_columns; c++)
                printf("%-*s%s", c + 1 < n_columns ? widths[c] : 0, headers[c], c + 1 < n_columns ? "  " : "\n");
        for (size_t r = 0; r < n_rows; r++)
                for (size_t c = 0; c < n_columns; c++) {
                        const char *cell = cells[r * n_columns + c];

                        printf("%-*s%s", c + 1 < n_columns ? widths[c] : 0, cell ? cell : "-",
                               c + 1 < n_columns ? "  " : "\n");
                }
}
