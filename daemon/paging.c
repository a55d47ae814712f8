/* paging.c: keyset paging of the listings. A cursor is "CREATED.ID", the
 * sort key of the last row a page held, or for a listing by row id "a<id>"
 * or "b<id>", the direction and the last id; it is opaque to callers, and
 * the next page is the rows that sort after it, so rows added between
 * pages never shift a page, and each page is an index seek. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "method_support.h"
#include "paging.h"

/* Characters of the row ids a cursor may carry (base64url, hex; fleet host
 * ids add the dot: the first dot of a cursor ends its time part). */
#define CURSOR_ID_CHARACTERS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."
/* "-9223372036854775808." and the id. */
#define CURSOR_MAX_LENGTH (21 + PAGE_MAX_ID)
/* "a9223372036854775807" */
#define ROW_CURSOR_MAX_LENGTH 20

/* Parses text as a cursor into *ret (id copied to id, PAGE_MAX_ID + 1). */
static int parse_cursor(const char *text, db_cursor *ret, char *id) {
        const char *dot = strchr(text, '.'), *p = text;
        long long created;
        char *end;
        size_t n;

        if (!dot || dot == text)
                return -EINVAL;
        if (*p == '-')
                p++;
        if (p == dot || strspn(p, "0123456789") != (size_t) (dot - p))
                return -EINVAL;
        errno = 0;
        created = strtoll(text, &end, 10);
        if (errno != 0 || end != dot)
                return -EINVAL;
        n = strlen(dot + 1);
        if (n == 0 || n > PAGE_MAX_ID || strspn(dot + 1, CURSOR_ID_CHARACTERS) != n)
                return -EINVAL;
        memcpy(id, dot + 1, n + 1);
        *ret = (db_cursor) { .created = created, .id = id };
        return 0;
}

int page_parse_row_cursor(const char *text, bool *ret_descending, int64_t *ret_row) {
        long long row;
        char *end = NULL;

        if (!text || (text[0] != 'a' && text[0] != 'b') || text[1] < '0' || text[1] > '9')
                return -EINVAL;
        errno = 0;
        row = strtoll(text + 1, &end, 10);
        if (errno != 0 || *end != '\0' || row < 0)
                return -EINVAL;
        *ret_descending = text[0] == 'b';
        *ret_row = row;
        return 0;
}

/* Reads limit (default_limit when absent) and after into a new page;
 * parse reads after's text. */
static json_t *begin(page *p, json_t *params, bool by_row, unsigned default_limit) {
        json_int_t limit = default_limit;
        const char *after;
        bool set;
        json_t *e;
        int r;

        *p = (page) { .by_row = by_row };
        if ((e = get_int(params, "limit", false, 1, PAGE_MAX_LIMIT, &limit, &set)) ||
            (e = get_string(params, "after", false, by_row ? ROW_CURSOR_MAX_LENGTH : CURSOR_MAX_LENGTH, &after)))
                return e;
        if (!set)
                limit = default_limit;
        if (after) {
                r = by_row ? page_parse_row_cursor(after, &p->descending, &p->after_row)
                           : parse_cursor(after, &p->after, p->after_id);
                if (r < 0)
                        return invalid_parameter("after", "not a cursor from a previous reply's next");
                p->has_after = true;
        }
        p->limit = (unsigned) limit;
        p->rows = json_array();
        if (!p->rows)
                return internal_error("out of memory");
        return NULL;
}

json_t *page_begin(page *p, json_t *params) {
        return begin(p, params, false, PAGE_DEFAULT_LIMIT);
}

json_t *page_begin_rows(page *p, json_t *params, bool descending, int64_t after_row) {
        json_t *e = begin(p, params, true, PAGE_MAX_LIMIT);

        if (!e && !p->has_after) {
                p->descending = descending;
                p->after_row = after_row;
        }
        return e;
}

const db_cursor *page_after(const page *p) {
        return p->has_after && !p->by_row ? &p->after : NULL;
}

unsigned page_fetch(const page *p) {
        return p->limit + 1;
}

int page_add_row(page *p, json_t *row, int64_t id) {
        /* The id as text only to share page_add's bookkeeping. */
        return page_add(p, row, id, "");
}

int page_add(page *p, json_t *row, int64_t created, const char *id) {
        size_t size, n = json_array_size(p->rows);
        int r;

        if (n >= p->limit) {
                p->more = true;
                r = 1;
                goto out;
        }
        /* The row as varlink_encode writes it, and a comma. */
        size = json_dumpb(row, NULL, 0, JSON_COMPACT) + 1;
        if (n > 0 && p->bytes + size > PAGE_MAX_BYTES) {
                p->more = true;
                r = 1;
                goto out;
        }
        if (!id || strlen(id) > PAGE_MAX_ID) {
                r = -EINVAL;
                goto out;
        }
        if (json_array_append(p->rows, row) < 0) {
                r = -ENOMEM;
                goto out;
        }
        p->bytes += size;
        p->last_created = created;
        strcpy(p->last_id, id);
        r = 0;
out:
        json_decref(row);
        return r;
}

json_t *page_reply(page *p, const char *key) {
        char next[CURSOR_MAX_LENGTH + 1];
        json_t *reply, *rows = p->rows;
        size_t n = json_array_size(rows);

        p->rows = NULL;
        /* A row listing read backwards answers in ascending order too. */
        for (size_t i = 0; p->by_row && p->descending && i < n / 2; i++) {
                json_t *a = json_incref(json_array_get(rows, i)), *b = json_incref(json_array_get(rows, n - 1 - i));

                json_array_set_new(rows, i, b);
                json_array_set_new(rows, n - 1 - i, a);
        }
        reply = json_pack("{s:o}", key, rows);
        if (!reply || !p->more)
                return reply;
        if (p->by_row)
                snprintf(next, sizeof next, "%c%lld", p->descending ? 'b' : 'a', (long long) p->last_created);
        else
                snprintf(next, sizeof next, "%lld.%s", (long long) p->last_created, p->last_id);
        if (json_object_set_new(reply, "next", json_string(next)) < 0) {
                json_decref(reply);
                return NULL;
        }
        return reply;
}

void page_done(page *p) {
        if (!p)
                return;
        json_decref(p->rows);
        p->rows = NULL;
}

json_t *listing_reply(const enrichd *d, page *p, int r, const char *method, const char *key) {
        json_t *reply;

        if (r < 0)
                return r == -EIO ? database_error(d, method) : internal_error(strerror(-r));
        reply = page_reply(p, key);
        return reply ? varlink_reply_new(reply, false) : internal_error("out of memory");
}
