/* test_paging.c: the paging of the listings (daemon/paging.c): limit and
 * after are checked strictly, a page ends at its limit or before its rows
 * pass PAGE_MAX_BYTES (always taking one row), and its next cursor, fed back
 * as after, names the last row it took; the same for the row-id form of
 * the audit trail, read either way and answered in ascending order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "paging.h"
#include "tap.h"
#include "varlink.h"

/* page_begin (rows: page_begin_rows, descending from the newest) on params
 * given as JSON text: true when accepted. */
static bool begins_as(const char *text, page *p, bool rows) {
        json_t *params = json_loads(text, 0, NULL), *e;

        e = rows ? page_begin_rows(p, params, true, 0) : page_begin(p, params);
        json_decref(params);
        if (e) {
                json_decref(e);
                return false;
        }
        return true;
}

static bool begins(const char *text, page *p) {
        return begins_as(text, p, false);
}

static bool begins_rows(const char *text, page *p) {
        return begins_as(text, p, true);
}

/* True when every one of the n params texts is refused. */
static bool refuses_all(const char *const *texts, size_t n, bool rows) {
        bool all = true;
        page p = { 0 };

        for (size_t i = 0; i < n; i++) {
                if (begins_as(texts[i], &p, rows)) {
                        printf("# accepted %s\n", texts[i]);
                        all = false;
                }
                page_done(&p);
        }
        return all;
}

/* The ids of a reply's rows, "3 4 5". */
static const char *ids_of(json_t *reply, char *buf, size_t size) {
        json_t *r;
        size_t i;

        buf[0] = '\0';
        json_array_foreach(json_object_get(reply, "rows"), i, r)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%lld", i ? " " : "",
                         (long long) json_integer_value(json_object_get(r, "id")));
        return buf;
}

/* A row of about size bytes. */
static json_t *row(const char *id, size_t size) {
        static char filler[64 * 1024];

        memset(filler, 'x', size);
        filler[size] = '\0';
        return json_pack("{s:s, s:s}", "id", id, "data", filler);
}

int main(void) {
        static const char *const bad[] = {
                "{\"limit\": 0}",         "{\"limit\": 1001}",
                "{\"limit\": \"5\"}",     "{\"limit\": 1.5}",
                "{\"after\": \"\"}",      "{\"after\": 7}",
                "{\"after\": \"7\"}",     "{\"after\": \"7.\"}",
                "{\"after\": \".id\"}",   "{\"after\": \"x7.id\"}",
                "{\"after\": \"7.i d\"}", "{\"after\": \"7.a/b\"}",
                "{\"after\": \"-.id\"}",  "{\"after\": \"99999999999999999999.id\"}",
        };
        page p = { 0 };
        json_t *reply;
        char id[16];
        int r = 0;

        CHECK(refuses_all(bad, sizeof bad / sizeof bad[0], false), "paging-refuses-bad-limit-and-after");

        CHECK(begins("{}", &p) && p.limit == PAGE_DEFAULT_LIMIT && !page_after(&p) &&
                      page_fetch(&p) == PAGE_DEFAULT_LIMIT + 1,
              "paging-default-limit");
        page_done(&p);
        CHECK(begins("{\"limit\": 1000, \"after\": \"-5.aZ_-9\"}", &p) && p.limit == 1000 && page_after(&p) &&
                      page_after(&p)->created == -5 && strcmp(page_after(&p)->id, "aZ_-9") == 0,
              "paging-reads-cursor");
        page_done(&p);
        /* A fleet host id may hold dots: the first dot ends the time. */
        CHECK(begins("{\"after\": \"0.web-01.example\"}", &p) && page_after(&p) && page_after(&p)->created == 0 &&
                      strcmp(page_after(&p)->id, "web-01.example") == 0,
              "paging-reads-cursor-of-host-id");
        page_done(&p);

        /* Limit 3 of 5 rows: three taken, the fourth ends the page. */
        begins("{\"limit\": 3}", &p);
        for (int i = 0; i < 5 && r == 0; i++) {
                snprintf(id, sizeof id, "r%d", i);
                r = page_add(&p, row(id, 10), 100 - i, id);
        }
        reply = page_reply(&p, "rows");
        CHECK(r == 1 && json_array_size(json_object_get(reply, "rows")) == 3 &&
                      strcmp(json_string_value(json_object_get(reply, "next")) ?: "", "98.r2") == 0,
              "paging-stops-at-limit-with-next");
        /* The cursor reads back as the last row's key. */
        {
                char text[128];
                page q = { 0 };

                snprintf(text, sizeof text, "{\"after\": \"%s\"}", json_string_value(json_object_get(reply, "next")));
                CHECK(begins(text, &q) && page_after(&q)->created == 98 && strcmp(page_after(&q)->id, "r2") == 0,
                      "paging-next-round-trips");
                page_done(&q);
        }
        json_decref(reply);
        page_done(&p);

        /* All rows fit: no next. */
        begins("{\"limit\": 3}", &p);
        r = page_add(&p, row("a", 10), 1, "a");
        reply = page_reply(&p, "rows");
        CHECK(r == 0 && json_array_size(json_object_get(reply, "rows")) == 1 && !json_object_get(reply, "next"),
              "paging-last-page-has-no-next");
        json_decref(reply);
        page_done(&p);

        /* Rows of 20 KiB: the page ends before 64 KiB, whatever the limit,
         * and what it sends fits a message. */
        begins("{\"limit\": 1000}", &p);
        r = 0;
        for (int i = 0; i < 10 && r == 0; i++) {
                snprintf(id, sizeof id, "b%d", i);
                r = page_add(&p, row(id, 20 * 1024), 50, id);
        }
        reply = page_reply(&p, "rows");
        {
                json_t *message = varlink_reply_new(reply, false);
                char *text = message ? json_dumps(message, JSON_COMPACT) : NULL;

                CHECK(r == 1 && json_array_size(json_object_get(reply, "rows")) == 3 && text &&
                              strlen(text) + 1 <= VARLINK_MAX_MESSAGE,
                      "paging-stops-before-message-limit");
                free(text);
                json_decref(message);
        }
        page_done(&p);

        /* One row larger than the budget is still taken, so a listing
         * always moves on (the server then says the reply is too large). */
        begins("{}", &p);
        r = page_add(&p, row("huge", 63 * 1024), 1, "huge");
        CHECK(r == 0 && json_array_size(p.rows) == 1, "paging-takes-first-row-always");
        page_done(&p);

        /* The row-id form (AuditList): "a<id>" and "b<id>" only; the
         * default limit is the most. */
        static const char *const bad_rows[] = {
                "{\"after\": \"5.x\"}", "{\"after\": \"a\"}",   "{\"after\": \"c5\"}",
                "{\"after\": \"a-5\"}", "{\"after\": \"a5x\"}", "{\"after\": \"b99999999999999999999\"}",
                "{\"limit\": 1001}",
        };
        CHECK(refuses_all(bad_rows, sizeof bad_rows / sizeof bad_rows[0], true), "paging-rows-refuses-bad-after");
        CHECK(begins_rows("{}", &p) && p.limit == PAGE_MAX_LIMIT && p.descending && p.after_row == 0,
              "paging-rows-default-newest");
        page_done(&p);
        {
                json_t *params = json_pack("{}");
                bool begun = page_begin_rows(&p, params, false, 42) == NULL;

                CHECK(begun && !p.descending && p.after_row == 42, "paging-rows-start-after-row");
                json_decref(params);
                page_done(&p);
        }
        /* Read backwards from the newest (ids 9, 8, 7, 6): three rows,
         * answered ascending, and next continues below the oldest shown. */
        {
                char text[64], buf[64];
                page q = { 0 };

                begins_rows("{\"limit\": 3}", &p);
                r = 0;
                for (int i = 9; i > 5 && r == 0; i--)
                        r = page_add_row(&p, json_pack("{s:i}", "id", i), i);
                reply = page_reply(&p, "rows");
                CHECK(r == 1 && strcmp(ids_of(reply, buf, sizeof buf), "7 8 9") == 0 &&
                              strcmp(json_string_value(json_object_get(reply, "next")) ?: "", "b7") == 0,
                      "paging-rows-descending-answers-ascending");
                snprintf(text, sizeof text, "{\"after\": \"%s\"}", json_string_value(json_object_get(reply, "next")));
                CHECK(begins_rows(text, &q) && q.descending && q.after_row == 7, "paging-rows-next-round-trips");
                page_done(&q);
                json_decref(reply);
                page_done(&p);

                begins_rows("{\"limit\": 2, \"after\": \"a3\"}", &p);
                r = 0;
                for (int i = 4; i < 7 && r == 0; i++)
                        r = page_add_row(&p, json_pack("{s:i}", "id", i), i);
                reply = page_reply(&p, "rows");
                CHECK(r == 1 && !p.descending && strcmp(ids_of(reply, buf, sizeof buf), "4 5") == 0 &&
                              strcmp(json_string_value(json_object_get(reply, "next")) ?: "", "a5") == 0,
                      "paging-rows-ascending");
                json_decref(reply);
                page_done(&p);
        }
        TAP_EXIT();
}
