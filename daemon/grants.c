/* grants.c: the grants table. Groups and scopes are stored as JSON arrays
 * (one row per grant keeps revocation a single UPDATE); queries name
 * "revoked IS NULL" (and "ended IS NULL") literally so sqlite uses the
 * partial indexes of migrations 2, 7 and 10. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "b64url.h"
#include "config.h"
#include "grants.h"

#define GRANT_COLUMNS \
        "id, user, uid, groups, scopes, tenant, reason, granted_by, granted_by_uid," \
        " created, expires, revoked, revoked_by, request_id"
#define GRANT_ID_BYTES 16

void grant_clear(grant *g) {
        if (!g)
                return;
        free(g->id);
        free(g->user);
        strv_free(g->groups);
        strv_free(g->scopes);
        free(g->tenant);
        free(g->reason);
        free(g->granted_by);
        free(g->revoked_by);
        free(g->request_id);
        memset(g, 0, sizeof *g);
}

void grant_list_clear(grant_list *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                grant_clear(&l->items[i]);
        free(l->items);
        l->items = NULL;
        l->n = 0;
}

int grants_new_id(char **ret) {
        return b64url_random_id(GRANT_ID_BYTES, ret);
}

char *grants_strv_to_json_text(char *const *list) {
        json_t *a = strv_to_json(list);
        char *text;

        text = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        return text;
}

/* A stored JSON array of strings; anything else reads as empty, bounded. */
int grants_strv_from_json_text(const char *text, char ***ret) {
        json_t *a = json_loads(text ? text : "[]", 0, NULL), *v;
        char **list = NULL;
        size_t i, n = 0;
        int r = 0;

        list = calloc(GRANTS_MAX_VALUES + 1, sizeof(char *));
        if (!list) {
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(a, i, v) {
                if (n >= GRANTS_MAX_VALUES)
                        break;
                if (!json_is_string(v))
                        continue;
                list[n] = strdup(json_string_value(v));
                if (!list[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                n++;
        }
        *ret = list;
        list = NULL;
out:
        strv_free(list);
        json_decref(a);
        return r;
}

/* Reads the GRANT_COLUMNS of the current row into g. */
static int read_row(sqlite3_stmt *st, grant *g) {
        grant loaded = { 0 };
        int r;

        if ((r = db_column_dup(st, 0, &loaded.id)) < 0 || (r = db_column_dup(st, 1, &loaded.user)) < 0 ||
            (r = grants_strv_from_json_text(db_column_text(st, 3), &loaded.groups)) < 0 ||
            (r = grants_strv_from_json_text(db_column_text(st, 4), &loaded.scopes)) < 0 ||
            (r = db_column_dup(st, 5, &loaded.tenant)) < 0 || (r = db_column_dup(st, 6, &loaded.reason)) < 0 ||
            (r = db_column_dup(st, 7, &loaded.granted_by)) < 0 || (r = db_column_dup(st, 12, &loaded.revoked_by)) < 0 ||
            (r = db_column_dup(st, 13, &loaded.request_id)) < 0) {
                grant_clear(&loaded);
                return r;
        }
        loaded.uid = (uid_t) sqlite3_column_int64(st, 2);
        loaded.granted_by_uid = (uid_t) sqlite3_column_int64(st, 8);
        loaded.created = sqlite3_column_int64(st, 9);
        loaded.expires = sqlite3_column_int64(st, 10);
        loaded.revoked = db_column_int64_or(st, 11, 0);
        *g = loaded;
        return 0;
}

/* Rows collected into a list, at most max of them. */
typedef struct grant_collector {
        grant_list list;
        size_t max;
} grant_collector;

static int collect_row(void *userdata, sqlite3_stmt *st) {
        grant_collector *c = userdata;
        grant *grown = realloc(c->list.items, (c->list.n + 1) * sizeof(grant));
        int r;

        if (!grown)
                return -ENOMEM;
        c->list.items = grown;
        r = read_row(st, &c->list.items[c->list.n]);
        if (r < 0)
                return r;
        c->list.n++;
        return c->list.n >= c->max ? 1 : 0;
}

/* The rows of a query of GRANT_COLUMNS, at most max, into *ret. */
static int collect(db *d, const char *sql, const char *what, size_t max, grant_list *ret, const db_value *args,
                   size_t n_args) {
        grant_collector c = { .max = max };
        int r = db_query_each(d, sql, what, collect_row, &c, args, n_args);

        if (r < 0) {
                grant_list_clear(&c.list);
                return r;
        }
        *ret = c.list;
        return 0;
}

/* Inside a transaction. */
static int bump_generation(db *d) {
        return db_run(d, DB_WRITE_IN_TRANSACTION, "UPDATE meta SET value = value + 1 WHERE name = 'grants_generation'",
                      "Failed to bump the grants generation", NULL, DB_NO_ARGS);
}

typedef struct new_grant {
        const grant *g;
        const char *groups, *scopes;
} new_grant;

static int insert_grant(db *d, void *userdata) {
        const new_grant *n = userdata;
        const grant *g = n->g;
        int r;

        r = db_run(d, DB_WRITE_IN_TRANSACTION,
                   "INSERT INTO grants (" GRANT_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,?12)",
                   "Failed to store the grant", NULL,
                   DB_ARGS(DB_TEXT(g->id), DB_TEXT(g->user), DB_INT(g->uid), DB_TEXT(n->groups), DB_TEXT(n->scopes),
                           DB_TEXT(g->tenant), DB_TEXT(g->reason), DB_TEXT(g->granted_by), DB_INT(g->granted_by_uid),
                           DB_INT(g->created), DB_INT(g->expires), DB_TEXT(g->request_id)));
        return r < 0 ? r : bump_generation(d);
}

int grants_add(db *d, const grant *g) {
        new_grant n = { .g = g };
        char *groups = NULL, *scopes = NULL;
        int r;

        groups = grants_strv_to_json_text(g->groups);
        scopes = grants_strv_to_json_text(g->scopes);
        if (!groups || !scopes)
                r = -ENOMEM;
        else {
                n.groups = groups;
                n.scopes = scopes;
                r = db_transaction(d, true, insert_grant, &n);
        }
        free(groups);
        free(scopes);
        return r;
}

int grants_active(db *d, const char *user, int64_t now, grant_list *ret) {
        int64_t any = 0;
        int r;

        /* On every login and refresh: from the statement cache. Most users
         * have no active grant: an index probe says so, without the
         * temporary b-tree that the ordered query below builds even when
         * it finds nothing. */
        r = db_query_int64(d,
                           "SELECT EXISTS (SELECT 1 FROM grants INDEXED BY grants_active_user"
                           " WHERE user = ? AND revoked IS NULL AND expires > ?)",
                           "Failed to read active grants", &any, DB_ARGS(DB_TEXT(user), DB_INT(now)));
        if (r < 0)
                return r;
        if (!any) {
                *ret = (grant_list) { 0 };
                return 0;
        }
        return collect(d,
                       "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY grants_active_user"
                       " WHERE user = ? AND revoked IS NULL AND expires > ?"
                       " ORDER BY created, rowid LIMIT ?",
                       "Failed to read active grants", GRANTS_MAX_ACTIVE, ret,
                       DB_ARGS(DB_TEXT(user), DB_INT(now), DB_INT(GRANTS_MAX_ACTIVE)));
}

int grants_count_active(db *d, const char *user, int64_t now, int64_t *ret) {
        return db_query_int64(d, "SELECT count(*) FROM grants WHERE user = ? AND revoked IS NULL AND expires > ?",
                              "Failed to count grants", ret, DB_ARGS(DB_TEXT(user), DB_INT(now)));
}

typedef struct grant_walk {
        int (*fn)(void *userdata, const grant *g);
        void *userdata;
} grant_walk;

static int walk_row(void *userdata, sqlite3_stmt *st) {
        const grant_walk *w = userdata;
        grant g = { 0 };
        int r;

        r = read_row(st, &g);
        if (r == 0)
                r = w->fn(w->userdata, &g);
        grant_clear(&g);
        return r;
}

int grants_list(db *d, const char *user, bool all, int64_t now, const db_cursor *after, unsigned limit,
                int (*fn)(void *userdata, const grant *g), void *userdata) {
        grant_walk w = { .fn = fn, .userdata = userdata };
        const char *sql;

#define GRANTS_LIST "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY "
#define GRANTS_PAGE " (created, id) < (?3, ?4) ORDER BY created DESC, id DESC LIMIT ?5"
        /* "ended IS NULL" keeps the walk off the expired history (the
         * partial indexes hold only grants whose expiry the daemon has not
         * processed yet, grants_end_expired); "expires > now" still hides
         * a grant between its expiry and that processing. */
#define GRANTS_ACTIVE " revoked IS NULL AND ended IS NULL AND expires > ?2"
        /* Four shapes so that each one has an index to walk from the cursor. */
        if (user && all)
                sql = GRANTS_LIST "grants_user_page WHERE user = ?1 AND" GRANTS_PAGE;
        else if (user)
                sql = GRANTS_LIST "grants_active_user_page WHERE user = ?1 AND" GRANTS_ACTIVE " AND" GRANTS_PAGE;
        else if (all)
                sql = GRANTS_LIST "grants_page WHERE" GRANTS_PAGE;
        else
                sql = GRANTS_LIST "grants_active_page WHERE" GRANTS_ACTIVE " AND" GRANTS_PAGE;
#undef GRANTS_ACTIVE
#undef GRANTS_PAGE
#undef GRANTS_LIST
        return db_query_each(d, sql, "Failed to list grants", walk_row, &w,
                             DB_ARGS(DB_TEXT(user), DB_INT(now), DB_CURSOR_CREATED(after), DB_CURSOR_ID(after),
                                     DB_PAGE_LIMIT(limit, GRANTS_MAX_LIST)));
}

int grants_get(db *d, const char *id, grant *ret) {
        grant_list l = { 0 };
        int r;

        r = collect(d, "SELECT " GRANT_COLUMNS " FROM grants WHERE id = ?", "Failed to read the grant", 1, &l,
                    DB_ARGS(DB_TEXT(id)));
        if (r < 0)
                return r;
        if (l.n == 0)
                return -ENOENT;
        *ret = l.items[0];
        free(l.items);
        return 0;
}

/* A revocation: when exists_sql (a SELECT of the row ?1 names) is given
 * and finds nothing, -ENOENT; then sql, an UPDATE that sets revoked = ?1
 * and revoked_by = ?2 on the rows that ?3 selects, and a bump of the
 * generation when it changed the set of grants. changes: rows revoked. */
typedef struct revocation {
        const char *exists_sql, *sql, *by, *key, *what;
        int64_t now;
        int changes;
} revocation;

static int found(void *userdata, sqlite3_stmt *st) {
        return 0;
}

static int revoke_rows(db *d, void *userdata) {
        revocation *v = userdata;
        int r = 0;

        if (v->exists_sql)
                r = db_query_row(d, v->exists_sql, "Failed to look up the grant", found, NULL,
                                 DB_ARGS(DB_TEXT(v->key)));
        if (r == 0)
                r = db_run(d, DB_WRITE_IN_TRANSACTION, v->sql, v->what, &v->changes,
                           DB_ARGS(DB_INT(v->now), DB_TEXT(v->by), DB_TEXT(v->key)));
        if (r == 0 && v->changes > 0)
                r = bump_generation(d);
        return r;
}

/* The revocation v, in one durable transaction. */
static int revoke_matching(db *d, revocation *v) {
        return db_transaction(d, true, revoke_rows, v);
}

typedef struct unrevocation {
        const char *id, *by;
        int changes;
} unrevocation;

static int unrevoke_row(db *d, void *userdata) {
        unrevocation *u = userdata;
        int r = db_run(
                d, DB_WRITE_IN_TRANSACTION,
                "UPDATE grants SET revoked = NULL, revoked_by = NULL, ended = NULL WHERE id = ? AND revoked_by = ?",
                "Failed to undo a grant's revocation", &u->changes, DB_ARGS(DB_TEXT(u->id), DB_TEXT(u->by)));

        return r < 0 || u->changes == 0 ? r : bump_generation(d);
}

int grants_unrevoke(db *d, const char *id, const char *by, bool *ret_changed) {
        unrevocation u = { .id = id, .by = by };
        int r = db_transaction(d, true, unrevoke_row, &u);

        if (r == 0)
                *ret_changed = u.changes > 0;
        return r;
}

int grants_revoke(db *d, const char *id, const char *by, int64_t now, bool *ret_changed) {
        /* An expired grant is marked too (who ended it is worth keeping),
         * but only an active one changes the set, and so the generation. */
        revocation v = {
                .exists_sql = "SELECT 1 FROM grants WHERE id = ?",
                .sql = "UPDATE grants SET revoked = ?1, revoked_by = ?2 WHERE id = ?3 AND revoked IS NULL",
                .by = by,
                .key = id,
                .now = now,
                .what = "Failed to revoke the grant",
        };
        int r = revoke_matching(d, &v);

        if (r == 0)
                *ret_changed = v.changes > 0;
        return r;
}

int grants_revoke_user(db *d, const char *user, const char *by, int64_t now, int *ret_count) {
        revocation v = {
                .sql = "UPDATE grants SET revoked = ?1, revoked_by = ?2"
                       " WHERE user = ?3 AND revoked IS NULL AND expires > ?1",
                .by = by,
                .key = user,
                .now = now,
                .what = "Failed to revoke the user's grants",
        };
        int r = revoke_matching(d, &v);

        if (r == 0)
                *ret_count = v.changes;
        return r;
}

int grants_generation(db *d, int64_t *ret) {
        return db_query_int64(d, "SELECT value FROM meta WHERE name = 'grants_generation'",
                              "Failed to read the grants generation", ret, DB_NO_ARGS);
}

int grants_next_expiry(db *d, int64_t after, int64_t *ret) {
        /* min() of no row is NULL, which reads as 0: none. */
        return db_query_int64(d, "SELECT min(expires) FROM grants WHERE revoked IS NULL AND expires > ?",
                              "Failed to find the next grant expiry", ret, DB_ARGS(DB_INT(after)));
}

/* Inside a transaction: grants not revoked that expire by until leave the
 * active-listing indexes (ended = until), and ones marked ended that expire
 * after until (the wall clock stepped back) come back. Both walk a partial
 * index over the rows that change, so neither costs the expired history. */
static int mark_ended(db *d, int64_t until) {
        static const char *const statements[] = {
                "UPDATE grants INDEXED BY grants_unended_expires SET ended = ?1"
                " WHERE revoked IS NULL AND ended IS NULL AND expires <= ?1",
                "UPDATE grants INDEXED BY grants_active_expires SET ended = NULL"
                " WHERE revoked IS NULL AND expires > ?1 AND ended IS NOT NULL",
        };
        int r = 0;

        for (size_t i = 0; r == 0 && i < sizeof statements / sizeof statements[0]; i++)
                r = db_run(d, DB_WRITE_IN_TRANSACTION, statements[i],
                           "Failed to mark the grants whose expiry was handled", NULL, DB_ARGS(DB_INT(until)));
        return r;
}

/* The expiries handled in one transaction: those of (since, until]; users:
 * whose grants expired, NULL when none did. */
typedef struct expiry {
        int64_t since, until;
        char **users;
} expiry;

static int end_expired(db *d, void *userdata) {
        return mark_ended(d, ((const expiry *) userdata)->until);
}

int grants_end_expired(db *d, int64_t until) {
        expiry e = { .until = until };

        return db_transaction(d, false, end_expired, &e);
}

static int find_expired(db *d, void *userdata) {
        expiry *e = userdata;
        int r;

        r = db_query_strv(d,
                          "SELECT DISTINCT user FROM grants WHERE revoked IS NULL AND expires > ? AND expires <= ?"
                          " LIMIT ?",
                          "Failed to find expired grants", &e->users,
                          DB_ARGS(DB_INT(e->since), DB_INT(e->until), DB_INT(GRANTS_MAX_LIST)));
        if (r == 0)
                r = mark_ended(d, e->until);
        if (r == 0 && e->users)
                r = bump_generation(d);
        return r;
}

int grants_expired_users(db *d, int64_t since, int64_t until, char ***ret) {
        expiry e = { .since = since, .until = until };
        int r = db_transaction(d, false, find_expired, &e);

        if (r < 0) {
                strv_free(e.users);
                return r;
        }
        *ret = e.users;
        return 0;
}

/* ---- the in-memory index of group memberships (grants.h) ---------------- */

struct grants_index {
        int64_t generation;
        grants_membership *items;       /* by (group, user) */
        grants_membership **by_user;    /* by (user, group) */
        size_t n, allocated;
};

static int compare_by_group(const void *a, const void *b) {
        const grants_membership *x = a, *y = b;
        int r = strcmp(x->group, y->group);
        return r ? r : strcmp(x->user, y->user);
}

static int compare_by_user(const void *a, const void *b) {
        const grants_membership *x = *(grants_membership *const *) a, *y = *(grants_membership *const *) b;
        int r = strcmp(x->user, y->user);
        return r ? r : strcmp(x->group, y->group);
}

void grants_index_free(grants_index *x) {
        if (!x)
                return;
        for (size_t i = 0; i < x->n; i++) {
                free(x->items[i].user);
                free(x->items[i].group);
        }
        free(x->items);
        free(x->by_user);
        free(x);
}

int grants_index_new(int64_t generation, grants_index **ret) {
        grants_index *x = calloc(1, sizeof *x);

        if (!x)
                return -ENOMEM;
        x->generation = generation;
        *ret = x;
        return 0;
}

int grants_index_add(grants_index *x, const char *user, const char *group, int64_t expires) {
        grants_membership m = { .expires = expires };

        if (x->n >= GRANTS_INDEX_MAX)
                return -E2BIG;
        if (x->n == x->allocated) {
                size_t grow = x->allocated ? x->allocated * 2 : 64;
                grants_membership *items = realloc(x->items, grow * sizeof *items);
                if (!items)
                        return -ENOMEM;
                x->items = items;
                x->allocated = grow;
        }
        m.user = strdup(user);
        m.group = strdup(group);
        if (!m.user || !m.group) {
                free(m.user);
                free(m.group);
                return -ENOMEM;
        }
        x->items[x->n++] = m;
        return 0;
}

int grants_index_seal(grants_index *x) {
        size_t kept = 0;

        /* One entry per (group, user), with the latest expiry. */
        if (x->n > 0)
                qsort(x->items, x->n, sizeof *x->items, compare_by_group);
        for (size_t i = 0; i < x->n; i++) {
                if (kept > 0 && compare_by_group(&x->items[kept - 1], &x->items[i]) == 0) {
                        if (x->items[i].expires > x->items[kept - 1].expires)
                                x->items[kept - 1].expires = x->items[i].expires;
                        free(x->items[i].user);
                        free(x->items[i].group);
                        continue;
                }
                x->items[kept++] = x->items[i];
        }
        x->n = kept;
        free(x->by_user);
        x->by_user = calloc(x->n + 1, sizeof *x->by_user);
        if (!x->by_user)
                return -ENOMEM;
        for (size_t i = 0; i < x->n; i++)
                x->by_user[i] = &x->items[i];
        if (x->n > 0)
                qsort(x->by_user, x->n, sizeof *x->by_user, compare_by_user);
        return 0;
}

static int index_row(void *userdata, sqlite3_stmt *st) {
        const char *user = db_column_text(st, 0);
        char **groups = NULL;
        int r;

        if (!user)
                return 0;
        r = grants_strv_from_json_text(db_column_text(st, 1), &groups);
        for (size_t i = 0; r == 0 && groups[i]; i++)
                r = grants_index_add(userdata, user, groups[i], sqlite3_column_int64(st, 2));
        strv_free(groups);
        /* A bounded index beats none: serve what fits. */
        return r == -E2BIG ? 1 : r;
}

int grants_index_load(db *d, int64_t now, int64_t generation, grants_index **ret) {
        grants_index *x = NULL;
        int r;

        r = grants_index_new(generation, &x);
        if (r < 0)
                return r;
        r = db_query_each(d,
                          "SELECT user, groups, expires FROM grants"
                          " WHERE revoked IS NULL AND expires > ? AND groups <> '[]'",
                          "Failed to read the grants for the group index", index_row, x, DB_ARGS(DB_INT(now)));
        if (r == 0)
                r = grants_index_seal(x);
        if (r < 0) {
                grants_index_free(x);
                return r;
        }
        *ret = x;
        return 0;
}

int64_t grants_index_generation(const grants_index *x) {
        return x ? x->generation : -1;
}

size_t grants_index_by_group(const grants_index *x, const char *group, const grants_membership **ret) {
        size_t low = 0, high, first;

        *ret = NULL;
        if (!x)
                return 0;
        high = x->n;
        while (low < high) {            /* the first entry of group */
                size_t mid = low + (high - low) / 2;
                if (strcmp(x->items[mid].group, group) < 0)
                        low = mid + 1;
                else
                        high = mid;
        }
        first = low;
        while (low < x->n && strcmp(x->items[low].group, group) == 0)
                low++;
        *ret = x->items + first;
        return low - first;
}

size_t grants_index_by_user(const grants_index *x, const char *user, const grants_membership *const **ret) {
        size_t low = 0, high, first;

        *ret = NULL;
        if (!x)
                return 0;
        high = x->n;
        while (low < high) {
                size_t mid = low + (high - low) / 2;
                if (strcmp(x->by_user[mid]->user, user) < 0)
                        low = mid + 1;
                else
                        high = mid;
        }
        first = low;
        while (low < x->n && strcmp(x->by_user[low]->user, user) == 0)
                low++;
        *ret = (const grants_membership *const *) x->by_user + first;
        return low - first;
}

size_t grants_index_all(const grants_index *x, const grants_membership **ret) {
        *ret = x ? x->items : NULL;
        return x ? x->n : 0;
}

int grants_policy_version(const char *content_hash, int64_t generation, char ret[17]) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digest_len = 0;
        char input[128];
        int len;

        len = snprintf(input, sizeof input, "%s:%lld", content_hash, (long long) generation);
        if (len < 0 || (size_t) len >= sizeof input)
                return -EINVAL;
        if (EVP_Digest(input, (size_t) len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len < 8)
                return -EIO;
        for (int i = 0; i < 8; i++)
                snprintf(ret + 2 * i, 3, "%02x", digest[i]);
        return 0;
}

int grants_to_policy(const grant_list *l, policy_grant **ret) {
        policy_grant *list = calloc(l->n + 1, sizeof(policy_grant));

        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++)
                list[i] = (policy_grant) {
                        .id = l->items[i].id,
                        .groups = l->items[i].groups,
                        .scopes = l->items[i].scopes,
                        .tenant = l->items[i].tenant,
                        .expires = (time_t) l->items[i].expires,
                };
        *ret = list;
        return 0;
}
