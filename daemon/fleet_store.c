/* fleet_store.c: the fleet_grants, fleet_tokens, fleet_state, fleet_pending
 * and fleet_revoked tables (fleet_store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "fleet_store.h"

/* Whether the count query (one bound id) finds id. */
static int is_marked(db *d, const char *sql, const char *id, bool *ret) {
        int64_t n = 0;
        int r = db_query_int64(d, sql, "Failed to look up a fleet record", &n, DB_ARGS(DB_TEXT(id)));

        if (r == 0)
                *ret = n > 0;
        return r;
}

/* An id into fleet_grants or fleet_tokens. */
static int mark(db *d, const char *sql, const char *id, int64_t mod_revision) {
        return db_run(d, DB_WRITE_DURABLE, sql, "Failed to mark a fleet record", NULL,
                      DB_ARGS(DB_TEXT(id), DB_INT(mod_revision)));
}

/* The ids the query (one bound time, ?1) selects, as a strv. */
static int list_ids(db *d, const char *sql, int64_t now, char ***ret) {
        return db_query_strv(d, sql, "Failed to list the fleet records", ret, DB_ARGS(DB_INT(now)));
}

int fleet_store_revision(db *d, int64_t *ret) {
        return db_query_int64(d, "SELECT value FROM fleet_state WHERE name = 'revision'",
                              "Failed to read the fleet revision", ret, DB_NO_ARGS);
}

int fleet_store_set_revision(db *d, int64_t revision) {
        return db_run(d, DB_WRITE_DURABLE, "UPDATE fleet_state SET value = ? WHERE name = 'revision'",
                      "Failed to record the fleet revision", NULL, DB_ARGS(DB_INT(revision)));
}

int fleet_store_enrolled(db *d, const char *host_id, int64_t *ret_at, int64_t *ret_since) {
        int r;

        r = db_query_int64(d, "SELECT coalesce(max(value), 0) FROM fleet_state WHERE name = 'enrolled/' || ?",
                           "Failed to read when the newest fleet enrolment was signed", ret_at,
                           DB_ARGS(DB_TEXT(host_id)));
        if (r == 0)
                r = db_query_int64(
                        d, "SELECT coalesce(max(value), 0) FROM fleet_state WHERE name = 'enrolled-since/' || ?",
                        "Failed to read from when the newest fleet enrolment counts endorsements", ret_since,
                        DB_ARGS(DB_TEXT(host_id)));
        return r;
}

int fleet_store_set_enrolled(db *d, const char *host_id, int64_t at, int64_t since) {
        int r;

        r = db_run(d, DB_WRITE_DURABLE,
                   "INSERT INTO fleet_state (name, value) VALUES ('enrolled/' || ?1, ?2)"
                   " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                   "Failed to record when the newest fleet enrolment was signed", NULL,
                   DB_ARGS(DB_TEXT(host_id), DB_INT(at)));
        if (r == 0)
                r = db_run(d, DB_WRITE_DURABLE,
                           "INSERT INTO fleet_state (name, value) VALUES ('enrolled-since/' || ?1, ?2)"
                           " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
                           "Failed to record from when the newest fleet enrolment counts endorsements", NULL,
                           DB_ARGS(DB_TEXT(host_id), DB_INT(since)));
        return r;
}

int fleet_store_mark_grant(db *d, const char *id, int64_t mod_revision, const char *issuer) {
        return db_run(d, DB_WRITE_DURABLE,
                      "INSERT OR REPLACE INTO fleet_grants (id, mod_revision, issuer) VALUES (?, ?, ?)",
                      "Failed to mark a fleet record", NULL,
                      DB_ARGS(DB_TEXT(id), DB_INT(mod_revision), issuer ? DB_TEXT(issuer) : DB_INT_OR_NULL(false, 0)));
}

typedef struct grant_origin {
        bool found;
        char *issuer;
} grant_origin;

static int origin_row(void *userdata, sqlite3_stmt *st) {
        grant_origin *o = userdata;

        o->found = true;
        return db_column_dup(st, 0, &o->issuer);
}

int fleet_store_grant_origin(db *d, const char *id, bool *ret_fleet, char **ret_issuer) {
        grant_origin o = { 0 };
        int r;

        r = db_query_row(d, "SELECT issuer FROM fleet_grants WHERE id = ?", "Failed to look up a fleet grant",
                         origin_row, &o, DB_ARGS(DB_TEXT(id)));
        if (r < 0 && r != -ENOENT) {
                free(o.issuer);
                return r;
        }
        *ret_fleet = o.found;
        *ret_issuer = o.issuer;
        return 0;
}

int fleet_store_is_fleet_grant(db *d, const char *id, bool *ret) {
        return is_marked(d, "SELECT count(*) FROM fleet_grants WHERE id = ?", id, ret);
}

int fleet_store_mark_token(db *d, const char *id, int64_t mod_revision) {
        return mark(d, "INSERT OR REPLACE INTO fleet_tokens (id, mod_revision) VALUES (?, ?)", id, mod_revision);
}

int fleet_store_is_fleet_token(db *d, const char *id, bool *ret) {
        return is_marked(d, "SELECT count(*) FROM fleet_tokens WHERE id = ?", id, ret);
}

int fleet_store_active_grants(db *d, int64_t now, char ***ret) {
        return list_ids(d,
                        "SELECT g.id FROM fleet_grants f JOIN grants g ON g.id = f.id"
                        " WHERE g.revoked IS NULL AND g.expires > ?1",
                        now, ret);
}

int fleet_store_active_tokens(db *d, int64_t now, char ***ret) {
        return list_ids(d,
                        "SELECT t.id FROM fleet_tokens f JOIN tokens t ON t.id = f.id"
                        " WHERE t.revoked IS NULL AND t.expires > ?1",
                        now, ret);
}

int fleet_store_suspended_grants(db *d, int64_t now, char ***ret) {
        return list_ids(d,
                        "SELECT g.id FROM fleet_grants f JOIN grants g ON g.id = f.id"
                        " WHERE g.revoked_by = '" FLEET_STORE_OFFLINE "' AND g.expires > ?1",
                        now, ret);
}

void fleet_pending_clear(fleet_pending *p) {
        if (!p)
                return;
        free(p->key);
        free(p->value);
        free(p->user);
        *p = (fleet_pending) { 0 };
}

int fleet_store_pending_put(db *d, const fleet_pending *p) {
        int64_t n = 0;
        int r;

        r = db_query_int64(d, "SELECT count(*) FROM fleet_pending WHERE key <> ?",
                           "Failed to count the waiting fleet records", &n, DB_ARGS(DB_TEXT(p->key)));
        if (r < 0)
                return r;
        if (n >= FLEET_STORE_MAX_PENDING)
                return -ENOSPC;
        return db_run(d, DB_WRITE_DURABLE,
                      "INSERT OR REPLACE INTO fleet_pending (key, value, mod_revision, user, expires)"
                      " VALUES (?, ?, ?, ?, ?)",
                      "Failed to keep a fleet record for later", NULL,
                      DB_ARGS(DB_TEXT(p->key), DB_TEXT(p->value), DB_INT(p->mod_revision), DB_TEXT(p->user),
                              DB_INT(p->expires)));
}

int fleet_store_pending_drop(db *d, const char *key) {
        return db_run(d, DB_WRITE_DURABLE, "DELETE FROM fleet_pending WHERE key = ?",
                      "Failed to forget a waiting fleet record", NULL, DB_ARGS(DB_TEXT(key)));
}

int fleet_store_pending_drop_all(db *d) {
        return db_run(d, DB_WRITE_DURABLE, "DELETE FROM fleet_pending", "Failed to forget the waiting fleet records",
                      NULL, DB_NO_ARGS);
}

int fleet_store_pending_expire(db *d, int64_t now, int64_t *ret_left) {
        int64_t expired = 0;
        int r;

        r = db_query_int64(d, "SELECT count(*) FROM fleet_pending WHERE expires <= ?",
                           "Failed to count the waiting fleet records", &expired, DB_ARGS(DB_INT(now)));
        if (r == 0 && expired > 0)
                r = db_run(d, DB_WRITE_DURABLE, "DELETE FROM fleet_pending WHERE expires <= ?",
                           "Failed to forget the expired waiting fleet records", NULL, DB_ARGS(DB_INT(now)));
        if (r == 0)
                r = db_query_int64(d, "SELECT count(*) FROM fleet_pending", "Failed to count the waiting fleet records",
                                   ret_left, DB_NO_ARGS);
        return r;
}

typedef struct pending_page {
        fleet_pending *items;
        size_t n, max;
} pending_page;

static int pending_row(void *userdata, sqlite3_stmt *st) {
        pending_page *page = userdata;
        fleet_pending *p = &page->items[page->n];

        if (page->n >= page->max)
                return 1;
        if (db_column_dup(st, 0, &p->key) < 0 || db_column_dup(st, 1, &p->value) < 0 ||
            db_column_dup(st, 3, &p->user) < 0) {
                fleet_pending_clear(p);
                return -ENOMEM;
        }
        p->mod_revision = db_column_int64_or(st, 2, 0);
        p->expires = db_column_int64_or(st, 4, 0);
        if (!p->key || !p->value || !p->user) {
                fleet_pending_clear(p);
                return 0;
        }
        page->n++;
        return 0;
}

int fleet_store_pending_list(db *d, const char *after, unsigned limit, fleet_pending **ret, size_t *ret_n) {
        pending_page page = { .items = calloc(limit + 1, sizeof(fleet_pending)), .max = limit };
        int r;

        if (!page.items)
                return -ENOMEM;
        r = db_query_each(d,
                          "SELECT key, value, mod_revision, user, expires FROM fleet_pending WHERE key > ?"
                          " ORDER BY key LIMIT ?",
                          "Failed to read the waiting fleet records", pending_row, &page,
                          DB_ARGS(DB_TEXT(after), DB_INT(limit)));
        if (r < 0) {
                fleet_pending_free(page.items, page.n);
                return r;
        }
        *ret = page.items;
        *ret_n = page.n;
        return 0;
}

void fleet_pending_free(fleet_pending *list, size_t n) {
        for (size_t i = 0; list && i < n; i++)
                fleet_pending_clear(&list[i]);
        free(list);
}

int fleet_store_pending_get(db *d, const char *key, fleet_pending *ret) {
        pending_page page = { .items = calloc(2, sizeof(fleet_pending)), .max = 1 };
        int r;

        if (!page.items)
                return -ENOMEM;
        r = db_query_each(d, "SELECT key, value, mod_revision, user, expires FROM fleet_pending WHERE key = ?",
                          "Failed to read a waiting fleet record", pending_row, &page, DB_ARGS(DB_TEXT(key)));
        if (r == 0 && page.n == 0)
                r = -ENOENT;
        if (r == 0) {
                *ret = page.items[0];
                page.items[0] = (fleet_pending) { 0 };
        }
        fleet_pending_free(page.items, page.n);
        return r;
}

int fleet_store_revoked_put(db *d, const char *kind, const char *id, int64_t expires, int64_t *io_count) {
        int64_t n = 0;
        int r;

        /* Counted in the caller's *io_count, not here: a count(*) per row
         * would make a full read of many revocations quadratic. */
        r = db_query_int64(d, "SELECT count(*) FROM fleet_revoked WHERE kind = ? AND id = ?",
                           "Failed to look up a fleet revocation", &n, DB_ARGS(DB_TEXT(kind), DB_TEXT(id)));
        if (r < 0)
                return r;
        if (n == 0 && *io_count >= FLEET_STORE_MAX_REVOKED)
                return -ENOSPC;
        r = db_run(d, DB_WRITE_DURABLE,
                   "INSERT INTO fleet_revoked (kind, id, expires) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (kind, id) DO UPDATE SET expires = max(expires, excluded.expires)",
                   "Failed to record a fleet revocation", NULL, DB_ARGS(DB_TEXT(kind), DB_TEXT(id), DB_INT(expires)));
        if (r == 0 && n == 0)
                (*io_count)++;
        return r;
}

int fleet_store_is_revoked(db *d, const char *kind, const char *id, int64_t now, bool *ret, int64_t *ret_until) {
        int64_t until = 0;
        int r;

        r = db_query_int64(d, "SELECT coalesce(max(expires), 0) FROM fleet_revoked WHERE kind = ? AND id = ?",
                           "Failed to look up a fleet revocation", &until, DB_ARGS(DB_TEXT(kind), DB_TEXT(id)));
        if (r < 0)
                return r;
        *ret = until > now;
        if (ret_until)
                *ret_until = until > now ? until : 0;
        return 0;
}

int fleet_store_revoked_expire(db *d, int64_t now, int64_t *ret_left) {
        int r;

        r = db_run(d, DB_WRITE_DURABLE, "DELETE FROM fleet_revoked WHERE expires <= ?",
                   "Failed to forget the expired fleet revocations", NULL, DB_ARGS(DB_INT(now)));
        if (r == 0)
                r = db_query_int64(d, "SELECT count(*) FROM fleet_revoked", "Failed to count the fleet revocations",
                                   ret_left, DB_NO_ARGS);
        return r;
}
