/* audit_commands.c: enrichctl audit [--since T] [--until T] [--user U]
 * [--action A] [--result R] [--limit N] [--follow], audit verify, audit
 * checkpoint. The daemon decides who may read what (admins everything,
 * users rows about themselves) from SO_PEERCRED; --follow keeps one
 * connection: the rows there are, then one "more" call that stays open
 * and brings each new row as the daemon stores it.
 * Listings follow the daemon's "next" cursor page by page, so no reply has
 * to hold the whole answer. The table is sized to its cells, a batch of
 * rows at a time. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "enrichctl.h"
#include "host.h"
#include "util.h"

#define FOLLOW_WAKE_MS  500
#define AUDIT_LIMIT_MAX 10000
/* Rows of text held before they are printed: the columns are sized to a
 * batch (and only grow after it), so an endless listing holds no more. */
#define AUDIT_TABLE_BATCH 1000
#define AUDIT_COLUMNS     7

static const char *const audit_headers[AUDIT_COLUMNS] = {
        "ID", "TIME", "ACTOR", "USER", "ACTION", "RESULT", "DETAILS"
};

/* --follow ends on SIGINT/SIGTERM (set by the handler, read by the loop). */
static volatile sig_atomic_t follow_stop;

/* t as local ISO 8601 ("2026-12-01T10:00:00+01:00") into buf. */
static void iso_time(time_t t, char *buf, size_t size) {
        struct tm tm;
        char zone[8];

        if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
            strftime(zone, sizeof zone, "%z", &tm) != 5) {
                snprintf(buf, size, "%lld", (long long) t);
                return;
        }
        /* %z is +hhmm; ISO 8601's extended form, as the date has, is +hh:mm. */
        snprintf(buf + strlen(buf), size - strlen(buf), "%.3s:%s", zone, zone + 3);
}

/* Whether a details key holds a point in time (epoch seconds on the wire). */
static bool is_time_key(const char *key) {
        static const char *const names[] = { "expires", "created", "exp", "iat", "nbf", "at", "time" };
        size_t n = strlen(key);

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strcmp(key, names[i]) == 0)
                        return true;
        return (n > 5 && strcmp(key + n - 5, "Until") == 0) || (n > 2 && strcmp(key + n - 2, "At") == 0);
}

/* The details as one line of JSON with its times in ISO 8601; malloc'd,
 * NULL when out of memory. */
static char *details_text(const json_t *details) {
        json_t *copy = json_deep_copy(details ? details : json_object()), *v;
        const char *key;
        char when[64], *text;

        if (!copy)
                return NULL;
        json_object_foreach(copy, key, v)
                if (json_is_integer(v) && json_integer_value(v) > 0 && is_time_key(key)) {
                        iso_time((time_t) json_integer_value(v), when, sizeof when);
                        json_object_set_new(copy, key, json_string(when));
                }
        text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(copy);
        return text;
}

/* Rows of the table waiting to be printed, and the widths so far. */
typedef struct audit_table {
        char **cells;                   /* AUDIT_TABLE_BATCH rows of AUDIT_COLUMNS */
        size_t n_rows;
        int widths[AUDIT_COLUMNS];
        bool header_printed;
} audit_table;

static void table_flush(audit_table *t) {
        if (t->n_rows == 0 && t->header_printed)
                return;
        ctl_print_table_batch(audit_headers, !t->header_printed, AUDIT_COLUMNS, t->widths, t->cells, t->n_rows);
        t->header_printed = true;
        for (size_t i = 0; i < t->n_rows * AUDIT_COLUMNS; i++) {
                free(t->cells[i]);
                t->cells[i] = NULL;
        }
        t->n_rows = 0;
}

static void table_done(audit_table *t) {
        if (!t)
                return;
        if (t->cells)
                table_flush(t);
        free(t->cells);
        t->cells = NULL;
}

static int table_add(audit_table *t, const json_t *e) {
        char **row, when[64];
        time_t at = (time_t) json_integer_value(json_object_get(e, "time"));
        struct tm tm;

        if (!t->cells && !(t->cells = calloc(AUDIT_TABLE_BATCH * AUDIT_COLUMNS, sizeof(*t->cells))))
                return -ENOMEM;
        if (t->n_rows == AUDIT_TABLE_BATCH)
                table_flush(t);
        if (localtime_r(&at, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        else
                snprintf(when, sizeof(when), "%lld", (long long) at);
        row = t->cells + t->n_rows * AUDIT_COLUMNS;
        row[0] = NULL;
        if (asprintf(&row[0], "%lld", (long long) json_integer_value(json_object_get(e, "id"))) < 0)
                row[0] = NULL;
        row[1] = strdup(when);
        row[2] = strdup(ctl_str_or_dash(e, "actor"));
        row[3] = strdup(ctl_str_or_dash(e, "user"));
        row[4] = strdup(ctl_str_or_dash(e, "action"));
        row[5] = strdup(ctl_str_or_dash(e, "result"));
        row[6] = details_text(json_object_get(e, "details"));
        t->n_rows++;
        for (size_t c = 0; c < AUDIT_COLUMNS; c++)
                if (!row[c])
                        return -ENOMEM;
        return 0;
}

/* One row as --follow prints it: a line of JSON, or into the table. */
static int print_entry(const ctl_options *o, audit_table *t, const json_t *e) {
        char *line;

        if (!o->json)
                return table_add(t, e);
        line = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
        if (line)
                printf("%s\n", line);
        free(line);
        return line ? 0 : -ENOMEM;
}

/* A point in time as an administrator types it: "now", "today",
 * "yesterday", a local date and time ("2026-12-01", "2026-12-01 10:00",
 * "2026-12-01 10:00:30", also with a T), ISO 8601 with a zone
 * ("2026-12-01T10:00:00Z", "...+01:00"), "@EPOCH", or a duration ago
 * ("1h", "2d 3h"). 0 or -EINVAL. */
static int parse_time(const char *text, time_t now, time_t *ret) {
        static const char *const formats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                                               "%Y-%m-%dT%H:%M", "%Y-%m-%d" };
        static const struct {
                const char *name;
                int days;
        } days[] = { { "today", 0 }, { "yesterday", -1 }, { "tomorrow", 1 } };
        unsigned long long seconds;
        unsigned long epoch;
        struct tm tm;

        if (strcmp(text, "now") == 0) {
                *ret = now;
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(days); i++) {
                if (strcmp(text, days[i].name) != 0)
                        continue;
                if (!localtime_r(&now, &tm))
                        return -EINVAL;
                tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
                tm.tm_mday += days[i].days;
                tm.tm_isdst = -1;
                *ret = mktime(&tm);
                return *ret == (time_t) -1 ? -EINVAL : 0;
        }
        if (text[0] == '@') {
                if (parse_uint(text + 1, LONG_MAX, &epoch) < 0)
                        return -EINVAL;
                *ret = (time_t) epoch;
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
                const char *end;
                int hours, minutes;
                char sign;

                tm = (struct tm) { 0 };
                end = strptime(text, formats[i], &tm);
                if (!end)
                        continue;
                if (*end == '\0') {
                        tm.tm_isdst = -1;
                        *ret = mktime(&tm);
                        return *ret == (time_t) -1 ? -EINVAL : 0;
                }
                if (strcmp(end, "Z") == 0) {
                        *ret = timegm(&tm);
                        return 0;
                }
                if ((sscanf(end, "%c%2d:%2d", &sign, &hours, &minutes) == 3 && strlen(end) == 6) ||
                    (sscanf(end, "%c%2d%2d", &sign, &hours, &minutes) == 3 && strlen(end) == 5)) {
                        if ((sign != '+' && sign != '-') || hours > 23 || minutes > 59)
                                return -EINVAL;
                        *ret = timegm(&tm) - (sign == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
                        return 0;
                }
                return -EINVAL;
        }
        if (duration_parse(text, &seconds) < 0 || seconds > (unsigned long long) now)
                return -EINVAL;
        *ret = now - (time_t) seconds;
        return 0;
}

/* --since or --until (name) as a time into params (key), when given. */
static int time_param(json_t *params, const char *name, const char *text, time_t now, time_t *ret) {
        if (!text)
                return 0;
        if (parse_time(text, now, ret) < 0) {
                fprintf(stderr,
                        "enrichctl: --%s %s: not a time; give today, yesterday, a local time "
                        "(\"2026-12-01 10:00\"), ISO 8601 (2026-12-01T10:00:00Z), @EPOCH, or a duration ago "
                        "(1h, 2d)\n",
                        name, text);
                return -EINVAL;
        }
        if (*ret < 0)
                *ret = 0;
        return json_object_set_new(params, name, json_integer((json_int_t) *ret)) < 0 ? -ENOMEM : 0;
}

/* How the listing starts: the newest rows (a page of at most page_limit)
 * or the rows after a row id (after_id >= 0, oldest first); later pages
 * follow the previous page's "next" cursor (ctl_pages). */
typedef struct list_start {
        long long after_id;             /* -1: not given */
        unsigned long page_limit;       /* 0: the daemon's default */
} list_start;

/* --limit as a number, 0 when not given; -EINVAL (said) when bad. */
static int parse_limit(const ctl_options *o, unsigned long *ret) {
        unsigned long limit = 0;

        if (o->limit && (parse_uint(o->limit, AUDIT_LIMIT_MAX, &limit) < 0 || limit == 0)) {
                fprintf(stderr, "enrichctl: --limit must be a number from 1 to %d\n", AUDIT_LIMIT_MAX);
                return -EINVAL;
        }
        *ret = limit;
        return 0;
}

/* The AuditList parameters the options and start ask for. */
static int list_params(const ctl_options *o, const list_start *start, json_t **ret) {
        json_t *p = json_object();
        time_t now = time(NULL), since = 0, until = 0;

        if (!p)
                return -ENOMEM;
        if (time_param(p, "since", o->since, now, &since) < 0 || time_param(p, "until", o->until, now, &until) < 0)
                goto fail;
        if (o->since && o->until && until < since) {
                fprintf(stderr, "enrichctl: --until %s is before --since %s\n", o->until, o->since);
                goto fail;
        }
        if (start->page_limit > 0)
                json_object_set_new(p, "limit", json_integer((json_int_t) start->page_limit));
        if (o->user)
                json_object_set_new(p, "user", json_string(o->user));
        if (o->action)
                json_object_set_new(p, "action", json_string(o->action));
        if (o->result)
                json_object_set_new(p, "result", json_string(o->result));
        if (start->after_id >= 0)
                json_object_set_new(p, "afterId", json_integer(start->after_id));
        *ret = p;
        return 0;
fail:
        json_decref(p);
        return -EINVAL;
}

/* One "more" call on c: prints each row as it comes; *last_id follows.
 * With follow, the call stays open: the daemon sends each new row as it
 * is stored, until follow_stop or the daemon goes away. *ret_more: the
 * daemon has more rows right now. *ret_gone: the daemon closed the
 * connection (stopped or restarted). */
static int stream_once(const ctl_options *o, varlink_client *c, audit_table *t, const list_start *start, bool follow,
                       long long *last_id, bool *ret_more, bool *ret_gone) {
        json_t *params = NULL, *reply = NULL;
        char *error = NULL;
        bool continues = true;
        int r;

        *ret_more = *ret_gone = false;
        r = list_params(o, start, &params);
        if (r < 0)
                return CTL_EXIT_ERROR;
        if (follow && json_object_set_new(params, "follow", json_true()) < 0) {
                json_decref(params);
                return CTL_EXIT_ERROR;
        }
        r = varlink_client_send(c, "io.enrich.AuditList", params, true, CTL_TIMEOUT_MS);
        while (r == 0 && continues && !follow_stop) {
                json_t *entries, *e;
                size_t i;

                json_decref(reply);
                reply = NULL;
                /* A follow waits for rows as long as it takes; waking
                 * now and then only to look at follow_stop. */
                r = varlink_client_next(c, follow ? FOLLOW_WAKE_MS : CTL_TIMEOUT_MS, &reply, &error, &continues);
                if (r == -ETIMEDOUT && follow) {
                        r = 0;
                        continues = true;
                        continue;
                }
                if (r < 0)
                        break;
                entries = json_object_get(reply, "entries");
                json_array_foreach(entries, i, e) {
                        if (print_entry(o, t, e) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        *last_id = json_integer_value(json_object_get(e, "id"));
                }
                if (json_object_get(reply, "next"))
                        *ret_more = true;
                if (!o->json)
                        table_flush(t);
                fflush(stdout);
        }
        if (r == -EREMOTEIO)
                fprintf(stderr, "enrichctl: io.enrich.AuditList: %s%s%s\n", error ? error : "error",
                        json_string_value(json_object_get(reply, "reason")) ? ": " : "",
                        json_string_value(json_object_get(reply, "reason")) ?: "");
        else if (r == -EINTR && follow_stop)
                r = 0;
        else if (r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -EBADMSG || r == -ECONNABORTED)
                *ret_gone = true;
        else if (r < 0)
                fprintf(stderr, "enrichctl: no answer from enrichd at %s: %s\n", o->socket, strerror(-r));
        json_decref(params);
        json_decref(reply);
        free(error);
        return r == -EREMOTEIO ? CTL_EXIT_NO : r < 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

static void on_stop_signal(int sig) {
        follow_stop = 1;
}

static int audit_follow(const ctl_options *o) {
        struct sigaction stop = { .sa_handler = on_stop_signal }, old_int, old_term;
        varlink_client *c = NULL;
        audit_table t = { .widths = { 4, 19, 8, 8, 14, 6 } };
        long long last_id = 0;
        unsigned long limit;
        list_start start = { .after_id = -1 };
        bool more = false, gone = false;
        int code;

        if (parse_limit(o, &limit) < 0)
                return CTL_EXIT_ERROR;
        /* The newest rows first (--limit of them, or a page), then
         * whatever comes after the last one shown. */
        start.page_limit = limit > VARLINK_LIST_MAX_ROWS ? VARLINK_LIST_MAX_ROWS : limit;
        code = ctl_connect(o, &c);
        if (code != CTL_EXIT_OK)
                return code;
        /* Ctrl-C ends the follow as its normal end: no SA_RESTART, so a
         * wait in progress returns at once. */
        sigemptyset(&stop.sa_mask);
        sigaction(SIGINT, &stop, &old_int);
        sigaction(SIGTERM, &stop, &old_term);
        if (!o->json)
                table_flush(&t);
        fflush(stdout);
        /* The rows there are, page by page; then one call that stays
         * open and brings each new row as it is stored, until
         * interrupted or until the daemon goes away. */
        do {
                code = stream_once(o, c, &t, &start, false, &last_id, &more, &gone);
                start = (list_start) { .after_id = last_id > 0 ? last_id : -1 };
        } while (code == CTL_EXIT_OK && !gone && more && !follow_stop);
        /* After the last row shown; when none matched, from the oldest
         * (no row matches up to now), so a row stored between the
         * listing and the follow is not missed. */
        start = (list_start) { .after_id = last_id };
        if (code == CTL_EXIT_OK && !gone && !follow_stop)
                code = stream_once(o, c, &t, &start, true, &last_id, &more, &gone);
        if (gone) {
                fprintf(stderr,
                        "enrichctl: enrichd at %s closed the connection (stopped or restarted); "
                        "the follow ended after row %lld. Check: systemctl status enrichd; then run "
                        "enrichctl audit --follow again\n",
                        o->socket, last_id);
                code = CTL_EXIT_ERROR;
        }
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        table_done(&t);
        varlink_client_free(c);
        return follow_stop ? CTL_EXIT_OK : code;
}

/* Prints entries (oldest first); with --json as members of one array that
 * *first opened, else into the table. */
static int print_entries(const ctl_options *o, audit_table *t, const json_t *entries, bool *first) {
        const json_t *e;
        size_t i;

        json_array_foreach(entries, i, e) {
                if (o->json) {
                        char *text = json_dumps(e, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                        printf("%s%s", *first ? "[\n" : ",\n", text ? text : "{}");
                        free(text);
                        *first = false;
                } else if (table_add(t, e) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* A listing as it pages in: the newest limit rows (0: every row, printed
 * a batch at a time as pages come, so nothing piles up here), with --json
 * as members of one array. */
typedef struct listing {
        const ctl_options *o;
        unsigned long limit;
        unsigned long got;
        json_t *pages;                  /* limit > 0: the pages, newest first */
        audit_table table;
        bool first;
} listing;

static int list_page(void *userdata, json_t *reply, json_t *entries, json_t *request) {
        listing *l = userdata;
        unsigned long left;

        /* The cursor takes over from afterId. */
        json_object_del(request, "afterId");
        if (l->limit == 0)
                return print_entries(l->o, &l->table, entries, &l->first) < 0 ? ctl_oom() : CTL_EXIT_OK;
        if (json_array_append(l->pages, entries) < 0)
                return ctl_oom();
        l->got += json_array_size(entries);
        if (l->got >= l->limit)
                return CTL_PAGES_DONE;
        left = l->limit - l->got;
        if (json_object_set_new(request, "limit",
                                json_integer(left > VARLINK_LIST_MAX_ROWS ? VARLINK_LIST_MAX_ROWS
                                                                          : (json_int_t) left)) < 0)
                return ctl_oom();
        return CTL_EXIT_OK;
}

/* Without --limit every matching row, oldest first; with --limit N the
 * newest N, fetched newest page first and shown oldest first (at most
 * AUDIT_LIMIT_MAX rows held). */
static int audit_list_pages(const ctl_options *o, unsigned long limit) {
        listing l = { .o = o, .limit = limit, .first = true };
        list_start start = { .after_id = limit > 0 ? -1 : 0 };
        json_t *params = NULL;
        int code = CTL_EXIT_ERROR;

        start.page_limit = limit > VARLINK_LIST_MAX_ROWS ? VARLINK_LIST_MAX_ROWS : limit;
        if (list_params(o, &start, &params) < 0)
                goto out;
        l.pages = json_array();
        if (!l.pages) {
                code = ctl_oom();
                goto out;
        }
        code = ctl_pages(o, "io.enrich.AuditList", params, "entries", list_page, &l);
        if (code != CTL_EXIT_OK)
                goto out;
        for (size_t i = json_array_size(l.pages); i > 0; i--)
                if (print_entries(o, &l.table, json_array_get(l.pages, i - 1), &l.first) < 0) {
                        code = ctl_oom();
                        goto out;
                }
        if (o->json)
                printf(l.first ? "[]\n" : "\n]\n");
        else if (l.table.n_rows == 0 && !l.table.header_printed)
                fprintf(stderr, "enrichctl: no audit rows match\n");
        else
                table_done(&l.table);
out:
        table_done(&l.table);
        json_decref(l.pages);
        json_decref(params);
        return code;
}

static int audit_list(const ctl_options *o) {
        unsigned long limit;

        if (o->follow)
                return audit_follow(o);
        if (parse_limit(o, &limit) < 0)
                return CTL_EXIT_ERROR;
        return audit_list_pages(o, limit);
}

/* Adds a page of AuditVerify to the sum so far (*total, created by the
 * first page): counts add up, the first page gives firstId, the last one
 * lastId and the verdict, sealedId is the highest. A page that restarted
 * (retention deleted what the pages before it walked) starts the sum
 * again. */
static void add_verify_page(json_t **total, json_t *page) {
        static const char *const sums[] = { "rows", "checkpoints" };
        json_t *t = *total;

        if (t && json_is_true(json_object_get(page, "restarted"))) {
                json_decref(t);
                t = *total = NULL;
        }
        if (!t) {
                *total = json_incref(page);
                return;
        }
        for (size_t i = 0; i < 2; i++)
                json_object_set_new(t, sums[i],
                                    json_integer(json_integer_value(json_object_get(t, sums[i])) +
                                                 json_integer_value(json_object_get(page, sums[i]))));
        if (json_integer_value(json_object_get(t, "firstId")) == 0)
                json_object_set(t, "firstId", json_object_get(page, "firstId"));
        json_object_set(t, "lastId", json_object_get(page, "lastId"));
        if (json_integer_value(json_object_get(page, "sealedId")) > json_integer_value(json_object_get(t, "sealedId")))
                json_object_set(t, "sealedId", json_object_get(page, "sealedId"));
        json_object_set(t, "ok", json_object_get(page, "ok"));
        for (const char *const *k = (const char *const[]) { "badId", "kind", "reason", "published", NULL }; *k; k++)
                if (json_object_get(page, *k))
                        json_object_set(t, *k, json_object_get(page, *k));
}

static int audit_verify(const ctl_options *o) {
        json_t *reply = NULL, *page = NULL, *params = NULL;
        char *cursor = NULL;
        int code;

        /* The daemon walks a long trail a page at a time. */
        for (;;) {
                const char *next;

                json_decref(params);
                params = cursor ? json_pack("{s:s}", "after", cursor) : json_object();
                if (params && o->fleet && json_object_set_new(params, "fleetHost", json_string(o->args[1])) < 0) {
                        code = ctl_oom();
                        break;
                }
                code = ctl_call(o, "io.enrich.AuditVerify", params, &page);
                if (code != CTL_EXIT_OK)
                        break;
                add_verify_page(&reply, page);
                next = json_string_value(json_object_get(page, "next"));
                free(cursor);
                cursor = next ? strdup(next) : NULL;
                json_decref(page);
                page = NULL;
                if (!cursor)
                        break;
        }
        json_decref(params);
        free(cursor);
        if (code != CTL_EXIT_OK) {
                json_decref(reply);
                return code;
        }
        json_object_del(reply, "next");
        if (o->json)
                ctl_print_json(reply);
        else if (json_is_true(json_object_get(reply, "ok")))
                printf("audit trail verifies: %lld rows (%lld..%lld), %lld checkpoints, signed up to row %lld\n",
                       (long long) json_integer_value(json_object_get(reply, "rows")),
                       (long long) json_integer_value(json_object_get(reply, "firstId")),
                       (long long) json_integer_value(json_object_get(reply, "lastId")),
                       (long long) json_integer_value(json_object_get(reply, "checkpoints")),
                       (long long) json_integer_value(json_object_get(reply, "sealedId")));
        if (!o->json && json_is_true(json_object_get(reply, "ok")) && json_object_get(reply, "published")) {
                json_t *p = json_object_get(reply, "published");
                printf(json_is_true(json_object_get(p, "compared"))
                               ? "the checkpoint %s published to etcd (row %lld) seals the same row\n"
                               : "the checkpoint %s published to etcd (row %lld) is older than the rows kept: not compared\n",
                       o->args[1], (long long) json_integer_value(json_object_get(p, "row")));
        }
        if (!json_is_true(json_object_get(reply, "ok"))) {
                fprintf(stderr, "enrichctl: audit trail does NOT verify: row %lld %s: %s\n",
                        (long long) json_integer_value(json_object_get(reply, "badId")), ctl_str_or_dash(reply, "kind"),
                        ctl_str_or_dash(reply, "reason"));
                code = CTL_EXIT_NO;
        }
        json_decref(reply);
        return code;
}

static void say_checkpoint(const ctl_options *o, const json_t *reply) {
        printf("checkpoint signed at row %lld\n", (long long) json_integer_value(json_object_get(reply, "rowId")));
}

static int audit_checkpoint(const ctl_options *o) {
        return ctl_say(o, "io.enrich.AuditCheckpoint", json_object(), say_checkpoint);
}

int cmd_audit(const ctl_options *o) {
        const char *sub = o->n_args > 0 ? o->args[0] : NULL;

        if (!sub)
                return audit_list(o);
        if (o->given & (CTL_OPT_AUDIT | CTL_OPT_USER)) {
                fprintf(stderr, "enrichctl: audit %s takes no options but --json\n", sub);
                return CTL_EXIT_ERROR;
        }
        if (strcmp(sub, "verify") == 0) {
                if (o->fleet != (o->n_args == 2)) {
                        fprintf(stderr, "enrichctl: usage: audit verify [--fleet HOST]\n");
                        return CTL_EXIT_ERROR;
                }
                return audit_verify(o);
        }
        if (o->fleet || o->n_args > 1) {
                fprintf(stderr, "enrichctl: only audit verify takes --fleet HOST\n");
                return CTL_EXIT_ERROR;
        }
        if (strcmp(sub, "checkpoint") == 0)
                return audit_checkpoint(o);
        fprintf(stderr, "enrichctl: unknown audit command '%s' (verify, checkpoint)\n", sub);
        return CTL_EXIT_ERROR;
}
