/* paging.c: keyset paging of the listings. A cursor is "CREATED.ID", the
 * sort key of the last row a page held; it is opaque to callers, and the
 * next page is the rows that sort after it (newest first), so rows added
 * between pages never shift a page, and each page is an index seek. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "method_support.h"
#include "paging.h"

/* Characters of the row ids a cursor may carry (base64url, hex). */
#define CURSOR_ID_CHARACTERS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
/* "-9223372036854775808." and the id. */
#define CURSOR_MAX_LENGTH (21 + PAGE_MAX_ID)

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

json_t *page_begin(page *p, json_t *params) {
        json_int_t limit = PAGE_DEFAULT_LIMIT;
        const char *after;
        bool set;
        json_t *e;

        *p = (page) { 0 };
        if ((e = get_int(params, "limit", false, 1, PAGE_MAX_LIMIT, &limit, &set)) ||
            (e = get_string(params, "after", false, CURSOR_MAX_LENGTH, &after)))
                return e;
        if (!set)
                limit = PAGE_DEFAULT_LIMIT;
        if (after) {
                if (parse_cursor(after, &p->after, p->after_id) < 0)
                        return invalid_parameter("after", "not a cursor from a previous reply's next");
                p->has_after = true;
        }
        p->limit = (unsigned) limit;
        p->rows = json_array();
        if (!p->rows)
                return internal_error("out of memory");
        return NULL;
}

const db_cursor *page_after(const page *p) {
        return p->has_after ? &p->after : NULL;
}

unsigned page_fetch(const page *p) {
        return p->limit + 1;
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
        json_t *reply;

        reply = json_pack("{s:o}", key, p->rows);
        p->rows = NULL;
        if (!reply || !p->more)
                return reply;
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
