/* paging.h: cursor paging of the listings (ListSessions, ListGrants,
 * TokenList, ListKeys, AuditList): their limit and after parameters, and a
 * page that ends at the row limit or before its reply would pass the
 * message size limit, with the cursor (next) that the following page
 * starts from. Two keys: (created, id), newest first, for the tables of
 * things; an integer row id read either way, for the audit trail. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "db.h"
#include "enrichd.h"
#include "varlink.h"

/* Rows per page: the default when limit is absent, and the most allowed. */
#define PAGE_DEFAULT_LIMIT 200
#define PAGE_MAX_LIMIT     VARLINK_LIST_MAX_ROWS
_Static_assert(PAGE_MAX_LIMIT <= DB_MAX_LIST, "storage returns a whole page");
/* Longest row id a cursor carries (sids and grant ids are 22 characters,
 * token ids 32). */
#define PAGE_MAX_ID 64
/* Bytes of rows one reply may hold: the message limit less room for the
 * envelope, {"parameters":{"KEY":[...],"next":"CURSOR"}} and its NUL.
 * A page always takes its first row, so a listing always moves on; rows
 * are far smaller than this (a grant at every bound, 64 groups and 64
 * scopes of 128 bytes and a 1024-byte reason, is about 20 KiB; a token
 * about 9 KiB), so a fixed row count could not be safe but a byte budget
 * is. */
#define PAGE_MAX_BYTES (64 * 1024 - 1024)

typedef struct page {
        unsigned limit;                 /* rows this page may hold */
        bool by_row;                    /* keyed by row id (page_begin_rows) */
        bool has_after;
        db_cursor after;                /* where it starts, when has_after */
        char after_id[PAGE_MAX_ID + 1];
        bool descending;                /* by_row: the direction */
        int64_t after_row;              /* by_row: rows past this id (0: from the end) */
        json_t *rows;                   /* the rows taken, in order */
        size_t bytes;                   /* their encoded size, with commas */
        int64_t last_created;           /* the key of the last row taken (by_row: its id) */
        char last_id[PAGE_MAX_ID + 1];
        bool more;                      /* a row was left for the next page */
} page;

/* Reads the optional limit (1..PAGE_MAX_LIMIT) and after (a cursor from a
 * previous reply's next) of params into a new page. NULL, or the
 * InvalidParameter reply to send (then p holds nothing to free). */
json_t *page_begin(page *p, json_t *params);
/* For a listing keyed by an integer row id (the audit trail) that reads
 * either way: its cursor is "a<id>" (the rows after id, ascending) or
 * "b<id>" (before id, descending). Without after in params the page starts
 * where the caller says: descending from the newest (after_row 0) or
 * ascending after after_row. limit defaults to PAGE_MAX_LIMIT. Rows are
 * offered in the direction read (page_add_row); page_reply answers them in
 * ascending order either way, as a log reads. */
json_t *page_begin_rows(page *p, json_t *params, bool descending, int64_t after_row);
/* Parses a row cursor: 0, or -EINVAL when text is not one. */
int page_parse_row_cursor(const char *text, bool *ret_descending, int64_t *ret_row);
/* The cursor p starts from, for the storage query; NULL: from the newest. */
const db_cursor *page_after(const page *p);
/* How many rows to ask storage for: one more than the limit, to learn
 * whether another page follows. */
unsigned page_fetch(const page *p);
/* Offers the next row of the listing, keyed (created, id); takes row.
 * 0: taken; 1: the page is full and the row left for the next one (stop);
 * negative errno on failure. Storage callbacks return this as it is. */
int page_add(page *p, json_t *row, int64_t created, const char *id);
/* The same for a listing keyed by row id. */
int page_add_row(page *p, json_t *row, int64_t id);
/* The reply parameters {key: [rows], next: cursor (when more rows remain)}
 * as a new object, taking the rows from p; NULL when out of memory. */
json_t *page_reply(page *p, const char *key);
/* The reply of a listing whose rows went into p: r is what the storage
 * walk returned (a database error is logged and answered as such, for
 * method), key names the reply's array. */
json_t *listing_reply(const enrichd *d, page *p, int r, const char *method, const char *key);
/* Frees what p holds; accepts a page never begun if zeroed. */
void page_done(page *p);
