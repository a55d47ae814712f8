/* requests.c: the requests table (requests.h): rows in, structs out. The
 * state moves only from pending, and every such write says so in its
 * WHERE clause, so a request is decided once whatever the callers do. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "b64url.h"
#include "config.h"
#include "grants.h"
#include "requests.h"

#define REQUEST_COLUMNS \
        "id, user, uid, groups, scopes, ttl, reason, created, expires, state, approvals_needed," \
        " first_approver, first_approver_uid, decided_by, decided_by_uid, decided," \
        " decision_reason, grant_id"
#define REQUEST_ID_BYTES 16

void access_request_clear(access_request *r) {
        if (!r)
                return;
        free(r->id);
        free(r->user);
        strv_free(r->groups);
        strv_free(r->scopes);
        free(r->reason);
        free(r->state);
        free(r->first_approver);
        free(r->decided_by);
        free(r->decision_reason);
        free(r->grant_id);
        memset(r, 0, sizeof *r);
}

int requests_new_id(char **ret) {
        return b64url_random_id(REQUEST_ID_BYTES, ret);
}

/* Reads the REQUEST_COLUMNS of the current row into r. */
static int read_row(sqlite3_stmt *st, access_request *ret) {
        access_request loaded = { 0 };
        int r;

        if ((r = db_column_dup(st, 0, &loaded.id)) < 0 || (r = db_column_dup(st, 1, &loaded.user)) < 0 ||
            (r = grants_strv_from_json_text(db_column_text(st, 3), &loaded.groups)) < 0 ||
            (r = grants_strv_from_json_text(db_column_text(st, 4), &loaded.scopes)) < 0 ||
            (r = db_column_dup(st, 6, &loaded.reason)) < 0 || (r = db_column_dup(st, 9, &loaded.state)) < 0 ||
            (r = db_column_dup(st, 11, &loaded.first_approver)) < 0 ||
            (r = db_column_dup(st, 13, &loaded.decided_by)) < 0 ||
            (r = db_column_dup(st, 16, &loaded.decision_reason)) < 0 ||
            (r = db_column_dup(st, 17, &loaded.grant_id)) < 0) {
                access_request_clear(&loaded);
                return r;
        }
        loaded.uid = (uid_t) sqlite3_column_int64(st, 2);
        loaded.ttl = sqlite3_column_int64(st, 5);
        loaded.created = sqlite3_column_int64(st, 7);
        loaded.expires = sqlite3_column_int64(st, 8);
        loaded.approvals_needed = (int) sqlite3_column_int64(st, 10);
        loaded.first_approver_uid = (uid_t) db_column_int64_or(st, 12, 0);
        loaded.decided_by_uid = (uid_t) db_column_int64_or(st, 14, 0);
        loaded.decided = db_column_int64_or(st, 15, 0);
        *ret = loaded;
        return 0;
}

int requests_add(db *d, const access_request *r) {
        char *groups = grants_strv_to_json_text(r->groups), *scopes = grants_strv_to_json_text(r->scopes);
        int k = -ENOMEM;

        if (groups && scopes)
                k = db_run(d, DB_WRITE_DURABLE,
                           "INSERT INTO requests (id, user, uid, groups, scopes, ttl, reason, created, expires,"
                           " state, approvals_needed) VALUES (?,?,?,?,?,?,?,?,?,'pending',?)",
                           "Failed to store the request", NULL,
                           DB_ARGS(DB_TEXT(r->id), DB_TEXT(r->user), DB_INT(r->uid), DB_TEXT(groups), DB_TEXT(scopes),
                                   DB_INT(r->ttl), DB_TEXT(r->reason), DB_INT(r->created), DB_INT(r->expires),
                                   DB_INT(r->approvals_needed)));
        free(groups);
        free(scopes);
        return k;
}

typedef struct request_walk {
        int (*fn)(void *userdata, const access_request *r);
        void *userdata;
} request_walk;

static int walk_row(void *userdata, sqlite3_stmt *st) {
        const request_walk *w = userdata;
        access_request r = { 0 };
        int k;

        k = read_row(st, &r);
        if (k == 0)
                k = w->fn(w->userdata, &r);
        access_request_clear(&r);
        return k;
}

static int get_row(void *userdata, sqlite3_stmt *st) {
        int r = read_row(st, userdata);

        return r < 0 ? r : 1;
}

int requests_get(db *d, const char *id, access_request *ret) {
        access_request loaded = { 0 };
        int r;

        r = db_query_row(d, "SELECT " REQUEST_COLUMNS " FROM requests WHERE id = ?", "Failed to read the request",
                         get_row, &loaded, DB_ARGS(DB_TEXT(id)));
        if (r < 0)
                return r;
        *ret = loaded;
        return 0;
}

int requests_count_pending(db *d, const char *user, int64_t *ret) {
        return db_query_int64(d,
                              "SELECT count(*) FROM requests INDEXED BY requests_pending_user"
                              " WHERE user = ? AND state = 'pending'",
                              "Failed to count requests", ret, DB_ARGS(DB_TEXT(user)));
}

int requests_list(db *d, const char *user, const db_cursor *after, unsigned limit,
                  int (*fn)(void *userdata, const access_request *r), void *userdata) {
        request_walk w = { .fn = fn, .userdata = userdata };
        const char *sql;

#define PAGE " (created, id) < (?2, ?3) ORDER BY created DESC, id DESC LIMIT ?4"
        if (user)
                sql = "SELECT " REQUEST_COLUMNS " FROM requests INDEXED BY requests_user_page WHERE user = ?1 AND" PAGE;
        else
                sql = "SELECT " REQUEST_COLUMNS " FROM requests INDEXED BY requests_page WHERE" PAGE;
#undef PAGE
        return db_query_each(d, sql, "Failed to list requests", walk_row, &w,
                             DB_ARGS(DB_TEXT(user), DB_CURSOR_CREATED(after), DB_CURSOR_ID(after),
                                     DB_PAGE_LIMIT(limit, REQUESTS_MAX_LIST)));
}

int requests_approve_first(db *d, const char *id, const char *by, uid_t by_uid) {
        int changes = 0, r;

        r = db_run(d, DB_WRITE_DURABLE,
                   "UPDATE requests SET first_approver = ?2, first_approver_uid = ?3, approvals_needed = 2"
                   " WHERE id = ?1 AND state = 'pending' AND first_approver IS NULL",
                   "Failed to record the approval", &changes, DB_ARGS(DB_TEXT(id), DB_TEXT(by), DB_INT(by_uid)));
        if (r < 0)
                return r;
        return changes == 1 ? 0 : -ESTALE;
}

int requests_decide(db *d, const char *id, const char *state, const char *by, uid_t by_uid, int64_t now,
                    const char *reason, const char *grant_id) {
        int changes = 0, r;

        r = db_run(d, DB_WRITE_DURABLE,
                   "UPDATE requests SET state = ?2, decided_by = ?3, decided_by_uid = ?4, decided = ?5,"
                   " decision_reason = ?6, grant_id = ?7 WHERE id = ?1 AND state = 'pending'",
                   "Failed to record the decision", &changes,
                   DB_ARGS(DB_TEXT(id), DB_TEXT(state), DB_TEXT(by), DB_INT_OR_NULL(by != NULL, by_uid), DB_INT(now),
                           DB_TEXT(reason), DB_TEXT(grant_id)));
        if (r < 0)
                return r;
        return changes == 1 ? 0 : -ESTALE;
}

typedef struct request_collector {
        access_request items[REQUESTS_EXPIRE_BATCH];
        size_t n;
} request_collector;

static int collect_row(void *userdata, sqlite3_stmt *st) {
        request_collector *c = userdata;
        int r;

        if (c->n >= REQUESTS_EXPIRE_BATCH)
                return 1;
        r = read_row(st, &c->items[c->n]);
        if (r < 0)
                return r;
        c->n++;
        return 0;
}

int requests_due(db *d, int64_t now, access_request **ret, size_t *ret_n) {
        request_collector *c = calloc(1, sizeof *c);
        access_request *items = NULL;
        int r;

        if (!c)
                return -ENOMEM;
        r = db_query_each(d,
                          "SELECT " REQUEST_COLUMNS " FROM requests INDEXED BY requests_pending_expires"
                          " WHERE state = 'pending' AND expires <= ? ORDER BY expires LIMIT ?",
                          "Failed to read expired requests", collect_row, c,
                          DB_ARGS(DB_INT(now), DB_INT(REQUESTS_EXPIRE_BATCH)));
        if (r >= 0 && c->n > 0 && !(items = calloc(c->n, sizeof *items)))
                r = -ENOMEM;
        if (r < 0) {
                for (size_t i = 0; i < c->n; i++)
                        access_request_clear(&c->items[i]);
                free(c);
                return r;
        }
        if (c->n > 0)
                memcpy(items, c->items, c->n * sizeof *items);
        *ret = items;
        *ret_n = c->n;
        free(c);
        return 0;
}
