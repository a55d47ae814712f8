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

#define GRANT_COLUMNS "id, user, uid, groups, scopes, tenant, reason, granted_by, granted_by_uid," \
                      " created, expires, revoked, revoked_by"
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

static char *strv_to_json_text(char *const *list) {
        json_t *a = strv_to_json(list);
        char *text;

        text = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        return text;
}

/* A stored JSON array of strings; anything else reads as empty, bounded. */
static int strv_from_json_text(const char *text, char ***ret) {
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

static int dup_column(sqlite3_stmt *st, int column, char **ret) {
        const unsigned char *text = sqlite3_column_text(st, column);

        *ret = NULL;
        if (sqlite3_column_type(st, column) == SQLITE_NULL || !text)
                return 0;
        *ret = strdup((const char *) text);
        return *ret ? 0 : -ENOMEM;
}

/* Reads the GRANT_COLUMNS of the current row into g. */
static int read_row(sqlite3_stmt *st, grant *g) {
        grant loaded = { 0 };
        int r;

        if ((r = dup_column(st, 0, &loaded.id)) < 0 ||
            (r = dup_column(st, 1, &loaded.user)) < 0 ||
            (r = strv_from_json_text((const char *) sqlite3_column_text(st, 3), &loaded.groups)) < 0 ||
            (r = strv_from_json_text((const char *) sqlite3_column_text(st, 4), &loaded.scopes)) < 0 ||
            (r = dup_column(st, 5, &loaded.tenant)) < 0 ||
            (r = dup_column(st, 6, &loaded.reason)) < 0 ||
            (r = dup_column(st, 7, &loaded.granted_by)) < 0 ||
            (r = dup_column(st, 12, &loaded.revoked_by)) < 0) {
                grant_clear(&loaded);
                return r;
        }
        loaded.uid = (uid_t) sqlite3_column_int64(st, 2);
        loaded.granted_by_uid = (uid_t) sqlite3_column_int64(st, 8);
        loaded.created = sqlite3_column_int64(st, 9);
        loaded.expires = sqlite3_column_int64(st, 10);
        loaded.revoked = sqlite3_column_type(st, 11) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 11);
        *g = loaded;
        return 0;
}

/* Steps st (already bound) and collects at most max rows into *ret. */
static int collect(db *d, sqlite3_stmt *st, size_t max, const char *what, grant_list *ret) {
        grant_list l = { 0 };
        int r = 0, step;

        while ((step = sqlite3_step(st)) == SQLITE_ROW && l.n < max) {
                grant *grown = realloc(l.items, (l.n + 1) * sizeof(grant));
                if (!grown) {
                        r = -ENOMEM;
                        goto out;
                }
                l.items = grown;
                r = read_row(st, &l.items[l.n]);
                if (r < 0)
                        goto out;
                l.n++;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
                r = db_fail(d, what);
                goto out;
        }
        *ret = l;
        l = (grant_list) { 0 };
out:
        grant_list_clear(&l);
        return r;
}

/* Inside a transaction. */
static int bump_generation(db *d) {
        sqlite3_stmt *st = NULL;
        int r = db_prepare(d, "UPDATE meta SET value = value + 1 WHERE name = 'grants_generation'", &st);

        if (r < 0)
                return r;
        return db_step_write(d, st, "Failed to bump the grants generation", NULL);
}

int grants_add(db *d, const grant *g) {
        sqlite3_stmt *st = NULL;
        char *groups = NULL, *scopes = NULL;
        int r;

        groups = strv_to_json_text(g->groups);
        scopes = strv_to_json_text(g->scopes);
        if (!groups || !scopes) {
                r = -ENOMEM;
                goto out;
        }
        r = db_begin_durable(d);
        if (r < 0)
                goto out;
        r = db_prepare(d, "INSERT INTO grants (" GRANT_COLUMNS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)", &st);
        if (r < 0)
                goto fail;
        sqlite3_bind_text(st, 1, g->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, g->user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, g->uid);
        sqlite3_bind_text(st, 4, groups, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, scopes, -1, SQLITE_TRANSIENT);
        db_bind_text(st, 6, g->tenant);
        sqlite3_bind_text(st, 7, g->reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, g->granted_by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 9, g->granted_by_uid);
        sqlite3_bind_int64(st, 10, g->created);
        sqlite3_bind_int64(st, 11, g->expires);
        r = db_step_write(d, st, "Failed to store the grant", NULL);
        if (r < 0)
                goto fail;
        r = bump_generation(d);
        if (r < 0)
                goto fail;
        r = db_commit(d);
        goto out;
fail:
        db_rollback(d);
out:
        free(groups);
        free(scopes);
        return r;
}

int grants_active(db *d, const char *user, int64_t now, grant_list *ret) {
        sqlite3_stmt *st = NULL;
        int r;

        /* On every login and refresh: from the statement cache. */
        r = db_prepare(d, "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY grants_active_user"
                          " WHERE user = ? AND revoked IS NULL AND expires > ?"
                          " ORDER BY created, rowid LIMIT ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int(st, 3, GRANTS_MAX_ACTIVE);
        r = collect(d, st, GRANTS_MAX_ACTIVE, "Failed to read active grants", ret);
        db_release(d, st);
        return r;
}

int grants_count_active(db *d, const char *user, int64_t now, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(d, "SELECT count(*) FROM grants WHERE user = ? AND revoked IS NULL AND expires > ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now);
        return db_read_int64(d, st, "Failed to count grants", ret);
}

int grants_list(db *d, const char *user, bool all, int64_t now, const db_cursor *after, unsigned limit,
                int (*fn)(void *userdata, const grant *g), void *userdata) {
        sqlite3_stmt *st = NULL;
        int r, step;

#define GRANTS_PAGE " (created, id) < (?3, ?4) ORDER BY created DESC, id DESC LIMIT ?5"
        /* "ended IS NULL" keeps the walk off the expired history (the
         * partial indexes hold only grants whose expiry the daemon has not
         * processed yet, grants_end_expired); "expires > now" still hides
         * a grant between its expiry and that processing. */
#define GRANTS_ACTIVE " revoked IS NULL AND ended IS NULL AND expires > ?2"
        /* Four shapes so that each one has an index to walk from the cursor. */
        if (user && all)
                r = db_prepare(d, "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY grants_user_page"
                               " WHERE user = ?1 AND" GRANTS_PAGE, &st);
        else if (user)
                r = db_prepare(d, "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY grants_active_user_page"
                               " WHERE user = ?1 AND" GRANTS_ACTIVE " AND" GRANTS_PAGE, &st);
        else if (all)
                r = db_prepare(d, "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY grants_page"
                               " WHERE" GRANTS_PAGE, &st);
        else
                r = db_prepare(d, "SELECT " GRANT_COLUMNS " FROM grants INDEXED BY grants_active_page"
                               " WHERE" GRANTS_ACTIVE " AND" GRANTS_PAGE, &st);
#undef GRANTS_ACTIVE
#undef GRANTS_PAGE
        if (r < 0)
                return r;
        if (user)
                sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now);
        /* Without a cursor: before a (created, id) no row has. */
        sqlite3_bind_int64(st, 3, after ? after->created : INT64_MAX);
        sqlite3_bind_text(st, 4, after ? after->id : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, (int) (limit < GRANTS_MAX_LIST + 1 ? limit : GRANTS_MAX_LIST + 1));
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                grant g = { 0 };

                r = read_row(st, &g);
                if (r == 0)
                        r = fn(userdata, &g);
                grant_clear(&g);
                if (r != 0) {
                        r = r < 0 ? r : 0;
                        goto out;
                }
        }
        r = step == SQLITE_DONE ? 0 : db_fail(d, "Failed to list grants");
out:
        db_release(d, st);
        return r;
}

int grants_get(db *d, const char *id, grant *ret) {
        sqlite3_stmt *st = NULL;
        grant_list l = { 0 };
        int r;

        r = db_prepare(d, "SELECT " GRANT_COLUMNS " FROM grants WHERE id = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        r = collect(d, st, 1, "Failed to read the grant", &l);
        db_release(d, st);
        if (r < 0)
                return r;
        if (l.n == 0)
                return -ENOENT;
        *ret = l.items[0];
        free(l.items);
        return 0;
}

/* One durable transaction: when exists_sql (a SELECT of the row ?1 names)
 * is given and finds nothing, -ENOENT; then sql, an UPDATE that sets
 * revoked = ?1 and revoked_by = ?2 on the rows that ?3 selects, and a bump
 * of the generation when it changed the set of grants. *ret_changes: rows
 * revoked. */
static int revoke_matching(db *d, const char *exists_sql, const char *sql, int64_t now, const char *by,
                           const char *key, const char *what, int *ret_changes) {
        sqlite3_stmt *st = NULL;
        int changes = 0, r;

        r = db_begin_durable(d);
        if (r < 0)
                return r;
        if (exists_sql) {
                bool exists;

                r = db_prepare(d, exists_sql, &st);
                if (r < 0)
                        goto fail;
                sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
                r = sqlite3_step(st);
                exists = r == SQLITE_ROW;
                db_release(d, st);
                st = NULL;
                if (r != SQLITE_ROW && r != SQLITE_DONE) {
                        r = db_fail(d, "Failed to look up the grant");
                        goto fail;
                }
                if (!exists) {
                        r = -ENOENT;
                        goto fail;
                }
        }
        r = db_prepare(d, sql, &st);
        if (r < 0)
                goto fail;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, by, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_TRANSIENT);
        r = db_step_write(d, st, what, &changes);
        if (r == 0 && changes > 0)
                r = bump_generation(d);
        if (r < 0)
                goto fail;
        r = db_commit(d);
        if (r == 0)
                *ret_changes = changes;
        return r;
fail:
        db_rollback(d);
        return r;
}

int grants_revoke(db *d, const char *id, const char *by, int64_t now, bool *ret_changed) {
        int changes = 0, r;

        /* An expired grant is marked too (who ended it is worth keeping),
         * but only an active one changes the set, and so the generation. */
        r = revoke_matching(d, "SELECT 1 FROM grants WHERE id = ?",
                            "UPDATE grants SET revoked = ?1, revoked_by = ?2 WHERE id = ?3 AND revoked IS NULL",
                            now, by, id, "Failed to revoke the grant", &changes);
        if (r == 0)
                *ret_changed = changes > 0;
        return r;
}

int grants_revoke_user(db *d, const char *user, const char *by, int64_t now, int *ret_count) {
        int changes = 0, r;

        r = revoke_matching(d, NULL,
                            "UPDATE grants SET revoked = ?1, revoked_by = ?2"
                            " WHERE user = ?3 AND revoked IS NULL AND expires > ?1",
                            now, by, user, "Failed to revoke the user's grants", &changes);
        if (r == 0)
                *ret_count = changes;
        return r;
}

int grants_generation(db *d, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r = db_prepare(d, "SELECT value FROM meta WHERE name = 'grants_generation'", &st);

        if (r < 0)
                return r;
        return db_read_int64(d, st, "Failed to read the grants generation", ret);
}

int grants_next_expiry(db *d, int64_t after, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r = db_prepare(d, "SELECT min(expires) FROM grants WHERE revoked IS NULL AND expires > ?", &st);

        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, after);
        if (sqlite3_step(st) != SQLITE_ROW)
                r = db_fail(d, "Failed to find the next grant expiry");
        else
                *ret = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 0);
        db_release(d, st);
        return r;
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

        for (size_t i = 0; r == 0 && i < sizeof statements / sizeof statements[0]; i++) {
                sqlite3_stmt *st = NULL;

                r = db_prepare(d, statements[i], &st);
                if (r < 0)
                        break;
                sqlite3_bind_int64(st, 1, until);
                r = db_step_write(d, st, "Failed to mark the grants whose expiry was handled", NULL);
        }
        return r;
}

int grants_end_expired(db *d, int64_t until) {
        int r = db_begin(d);

        if (r < 0)
                return r;
        r = mark_ended(d, until);
        if (r == 0)
                return db_commit(d);
        db_rollback(d);
        return r;
}

int grants_expired_users(db *d, int64_t since, int64_t until, char ***ret) {
        sqlite3_stmt *st = NULL;
        char **users = NULL;
        size_t n = 0;
        int r, step;

        r = db_begin(d);
        if (r < 0)
                return r;
        r = db_prepare(d, "SELECT DISTINCT user FROM grants WHERE revoked IS NULL AND expires > ? AND expires <= ?"
                       " LIMIT ?", &st);
        if (r < 0)
                goto fail;
        sqlite3_bind_int64(st, 1, since);
        sqlite3_bind_int64(st, 2, until);
        sqlite3_bind_int(st, 3, GRANTS_MAX_LIST);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                char **grown = realloc(users, (n + 2) * sizeof(char *));
                if (!grown) {
                        r = -ENOMEM;
                        goto fail;
                }
                users = grown;
                users[n] = strdup((const char *) sqlite3_column_text(st, 0));
                users[n + 1] = NULL;
                if (!users[n]) {
                        r = -ENOMEM;
                        goto fail;
                }
                n++;
        }
        if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to find expired grants");
                goto fail;
        }
        db_release(d, st);
        st = NULL;
        r = mark_ended(d, until);
        if (r < 0)
                goto fail;
        if (n > 0) {
                r = bump_generation(d);
                if (r < 0)
                        goto fail;
        }
        r = db_commit(d);
        if (r < 0)
                goto fail;
        *ret = users;
        return 0;
fail:
        db_release(d, st);
        db_rollback(d);
        strv_free(users);
        return r;
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

int grants_index_load(db *d, int64_t now, int64_t generation, grants_index **ret) {
        sqlite3_stmt *st = NULL;
        grants_index *x = NULL;
        int r, step;

        r = grants_index_new(generation, &x);
        if (r < 0)
                return r;
        r = db_prepare(d, "SELECT user, groups, expires FROM grants"
                       " WHERE revoked IS NULL AND expires > ? AND groups <> '[]'", &st);
        if (r < 0)
                goto out;
        sqlite3_bind_int64(st, 1, now);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                const char *user = (const char *) sqlite3_column_text(st, 0);
                char **groups = NULL;

                if (!user)
                        continue;
                r = strv_from_json_text((const char *) sqlite3_column_text(st, 1), &groups);
                for (size_t i = 0; r == 0 && groups[i]; i++)
                        r = grants_index_add(x, user, groups[i], sqlite3_column_int64(st, 2));
                strv_free(groups);
                if (r == -E2BIG) {
                        /* A bounded index beats none: serve what fits. */
                        r = 0;
                        break;
                }
                if (r < 0)
                        goto out;
        }
        if (r == 0 && step != SQLITE_ROW && step != SQLITE_DONE) {
                r = db_fail(d, "Failed to read the grants for the group index");
                goto out;
        }
        r = grants_index_seal(x);
        if (r < 0)
                goto out;
        *ret = x;
        x = NULL;
out:
        db_release(d, st);
        grants_index_free(x);
        return r;
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
