/* audit_commands.c: enrichctl audit [--since D] [--user U] [--action A]
 * [--limit N] [--follow], audit verify, audit checkpoint. The daemon decides
 * who may read what (admins everything, users rows about themselves) from
 * SO_PEERCRED; --follow keeps one connection and asks for new rows once a
 * second as a "more" stream. Listings follow the daemon's "next" cursor
 * page by page, so no reply has to hold the whole answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "enrichctl.h"
#include "host.h"
#include "util.h"

#define FOLLOW_INTERVAL_US 1000000
#define AUDIT_LIMIT_MAX 10000

static void print_entry(const ctl_options *o, const json_t *e) {
        char when[64], *details = NULL;
        time_t t = (time_t) json_integer_value(json_object_get(e, "time"));
        struct tm tm;

        if (o->json) {
                details = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
                if (details)
                        printf("%s\n", details);
                free(details);
                return;
        }
        if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        else
                snprintf(when, sizeof(when), "%lld", (long long) t);
        details = json_dumps(json_object_get(e, "details"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("%-6lld %s  %-12s %-12s %-18s %-8s %s\n",
               (long long) json_integer_value(json_object_get(e, "id")), when, ctl_str_or_dash(e, "actor"),
               ctl_str_or_dash(e, "user"), ctl_str_or_dash(e, "action"), ctl_str_or_dash(e, "result"),
               details ? details : "{}");
        free(details);
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
        unsigned long long seconds;
        int r;

        if (!p)
                return -ENOMEM;
        if (o->since) {
                r = duration_parse(o->since, &seconds);
                if (r < 0) {
                        fprintf(stderr, "enrichctl: --since %s: %s\n", o->since, duration_strerror(r));
                        json_decref(p);
                        return -EINVAL;
                }
                json_object_set_new(p, "since", json_integer((json_int_t) time(NULL) - (json_int_t) seconds));
        }
        if (start->page_limit > 0)
                json_object_set_new(p, "limit", json_integer((json_int_t) start->page_limit));
        if (o->user)
                json_object_set_new(p, "user", json_string(o->user));
        if (o->action)
                json_object_set_new(p, "action", json_string(o->action));
        if (start->after_id >= 0)
                json_object_set_new(p, "afterId", json_integer(start->after_id));
        *ret = p;
        return 0;
}

/* One "more" call on c: prints each row as it comes; *last_id follows.
 * *ret_more: the daemon has more rows right now. */
static int stream_once(const ctl_options *o, varlink_client *c, const list_start *start, long long *last_id,
                       bool *ret_more) {
        json_t *params = NULL, *reply = NULL;
        char *error = NULL;
        bool continues = true;
        int r;

        *ret_more = false;
        r = list_params(o, start, &params);
        if (r < 0)
                return CTL_EXIT_ERROR;
        r = varlink_client_send(c, "io.enrich.AuditList", params, true, CTL_TIMEOUT_MS);
        while (r == 0 && continues) {
                json_t *entries, *e;
                size_t i;

                json_decref(reply);
                reply = NULL;
                r = varlink_client_next(c, CTL_TIMEOUT_MS, &reply, &error, &continues);
                if (r < 0)
                        break;
                entries = json_object_get(reply, "entries");
                json_array_foreach(entries, i, e) {
                        print_entry(o, e);
                        *last_id = json_integer_value(json_object_get(e, "id"));
                }
                if (json_object_get(reply, "next"))
                        *ret_more = true;
                fflush(stdout);
        }
        if (r == -EREMOTEIO)
                fprintf(stderr, "enrichctl: io.enrich.AuditList: %s%s%s\n", error ? error : "error",
                        json_string_value(json_object_get(reply, "reason")) ? ": " : "",
                        json_string_value(json_object_get(reply, "reason")) ?: "");
        else if (r < 0)
                fprintf(stderr, "enrichctl: no answer from enrichd at %s: %s\n", o->socket, strerror(-r));
        json_decref(params);
        json_decref(reply);
        free(error);
        return r == -EREMOTEIO ? CTL_EXIT_NO : r < 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

static int audit_follow(const ctl_options *o) {
        varlink_client *c = NULL;
        long long last_id = 0;
        unsigned long limit;
        list_start start = { .after_id = -1 };
        bool more = false;
        int code;

        if (parse_limit(o, &limit) < 0)
                return CTL_EXIT_ERROR;
        /* The newest rows first (--limit of them, or a page), then
         * whatever comes after the last one shown. */
        start.page_limit = limit > VARLINK_LIST_MAX_ROWS ? VARLINK_LIST_MAX_ROWS : limit;
        code = ctl_connect(o, &c);
        if (code != CTL_EXIT_OK)
                return code;
        /* Until interrupted, or until the daemon goes away. */
        for (;;) {
                code = stream_once(o, c, &start, &last_id, &more);
                if (code != CTL_EXIT_OK)
                        break;
                start = (list_start) { .after_id = last_id };
                if (!more)
                        usleep(FOLLOW_INTERVAL_US);
        }
        varlink_client_free(c);
        return code;
}

/* Prints entries (oldest first); with --json as members of one array that
 * *first opened. */
static void print_entries(const ctl_options *o, const json_t *entries, bool *first) {
        const json_t *e;
        size_t i;

        json_array_foreach(entries, i, e) {
                if (o->json) {
                        char *text = json_dumps(e, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                        printf("%s%s", *first ? "[\n" : ",\n", text ? text : "{}");
                        free(text);
                        *first = false;
                } else
                        print_entry(o, e);
        }
}

/* A listing as it pages in: the newest limit rows (0: every row, printed
 * as each page comes, so nothing piles up here), with --json as members
 * of one array. */
typedef struct listing {
        const ctl_options *o;
        unsigned long limit;
        unsigned long got;
        json_t *pages;                  /* limit > 0: the pages, newest first */
        bool first;
} listing;

static int list_page(void *userdata, json_t *reply, json_t *entries, json_t *request) {
        listing *l = userdata;
        unsigned long left;

        /* The cursor takes over from afterId. */
        json_object_del(request, "afterId");
        if (l->limit == 0) {
                print_entries(l->o, entries, &l->first);
                return CTL_EXIT_OK;
        }
        if (json_array_append(l->pages, entries) < 0)
                return ctl_oom();
        l->got += json_array_size(entries);
        if (l->got >= l->limit)
                return CTL_PAGES_DONE;
        left = l->limit - l->got;
        if (json_object_set_new(request, "limit", json_integer(left > VARLINK_LIST_MAX_ROWS ?
                                                               VARLINK_LIST_MAX_ROWS : (json_int_t) left)) < 0)
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
                print_entries(o, json_array_get(l.pages, i - 1), &l.first);
        if (o->json)
                printf(l.first ? "[]\n" : "\n]\n");
out:
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
 * lastId and the verdict, sealedId is the highest. */
static void add_verify_page(json_t **total, json_t *page) {
        static const char *const sums[] = { "rows", "checkpoints" };
        json_t *t = *total;

        if (!t) {
                *total = json_incref(page);
                return;
        }
        for (size_t i = 0; i < 2; i++)
                json_object_set_new(t, sums[i], json_integer(json_integer_value(json_object_get(t, sums[i])) +
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
                        (long long) json_integer_value(json_object_get(reply, "badId")),
                        ctl_str_or_dash(reply, "kind"), ctl_str_or_dash(reply, "reason"));
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
