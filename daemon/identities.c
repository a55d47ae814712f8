/* identities.c: the disabled_identities table (see identities.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "identities.h"
#include "config.h"

/* Rows matching an identity_key: ?1 the name as presented, ?2 the
 * canonical name (NULL never matches), ?3 the uid (NULL never matches). */
#define MATCHES_KEY "user = ?1 OR user = ?2 OR uid = ?3"

void identity_state_clear(identity_state *s) {
        if (!s)
                return;
        free(s->user);
        free(s->reason);
        free(s->disabled_by);
        memset(s, 0, sizeof *s);
        s->uid = -1;
}

/* The values of MATCHES_KEY. */
#define KEY_ARGS(key) DB_TEXT((key)->name), DB_TEXT((key)->canonical), DB_INT_OR_NULL((key)->uid >= 0, (key)->uid)

static int read_state(void *userdata, sqlite3_stmt *st) {
        identity_state *s = userdata;
        int r;

        s->disabled = true;
        s->since = sqlite3_column_int64(st, 3);
        s->uid = db_column_int64_or(st, 4, -1);
        if ((r = db_column_dup(st, 0, &s->user)) < 0 || (r = db_column_dup(st, 1, &s->reason)) < 0 ||
            (r = db_column_dup(st, 2, &s->disabled_by)) < 0)
                return r;
        return s->user && s->reason && s->disabled_by ? 0 : -ENOMEM;
}

int identities_get(db *d, const identity_key *key, identity_state *ret) {
        identity_state s = { .uid = -1 };
        int64_t any = 0;
        int r;

        /* On every login, so first the question whether any row matches:
         * three index probes, where the query below (an OR of three
         * indexes, sorted) builds two temporary b-trees, most of the cost
         * of this check, even for the usual answer, none. */
        r = db_query_int64(d,
                           "SELECT EXISTS (SELECT 1 FROM disabled_identities WHERE user = ?1)"
                           " OR EXISTS (SELECT 1 FROM disabled_identities WHERE user = ?2)"
                           " OR EXISTS (SELECT 1 FROM disabled_identities WHERE uid = ?3)",
                           "Failed to read identity", &any, DB_ARGS(KEY_ARGS(key)));
        if (r < 0)
                return r;
        if (!any) {
                *ret = s;
                return 0;
        }
        /* From the statement cache. The oldest row first, so the answer
         * does not change with the order rows were read. */
        r = db_query_row(d,
                         "SELECT user, reason, disabled_by, disabled, uid FROM disabled_identities WHERE " MATCHES_KEY
                         " ORDER BY disabled, user LIMIT 1",
                         "Failed to read identity", read_state, &s, DB_ARGS(KEY_ARGS(key)));
        if (r == -ENOENT)
                r = 0;
        if (r < 0) {
                identity_state_clear(&s);
                return r;
        }
        *ret = s;
        return 0;
}

bool identities_is_disabled(db *d, const identity_key *key, int *ret_error) {
        identity_state s = { .uid = -1 };
        int r = identities_get(d, key, &s);
        bool disabled = r < 0 || s.disabled;

        if (ret_error)
                *ret_error = r;
        identity_state_clear(&s);
        return disabled;
}

static int add_to_set(void *userdata, sqlite3_stmt *st) {
        const char *user = db_column_text(st, 0);

        if (!user)
                return 0;
        return json_object_set_new(userdata, user, json_null()) < 0 ? -ENOMEM : 0;
}

int identities_disabled_set(db *d, json_t **ret) {
        json_t *set = json_object();
        int r;

        if (!set)
                return -ENOMEM;
        r = db_query_each(d, "SELECT user FROM disabled_identities", "Failed to list disabled identities", add_to_set,
                          set, DB_NO_ARGS);
        if (r < 0) {
                json_decref(set);
                return r;
        }
        *ret = set;
        return 0;
}

typedef struct uid_list {
        uid_t *uids;
        size_t n, size;
} uid_list;

static int add_uid(void *userdata, sqlite3_stmt *st) {
        uid_list *l = userdata;
        sqlite3_int64 v = sqlite3_column_int64(st, 0);

        if (v < 0 || v >= (sqlite3_int64) (uid_t) -1)
                return 0;
        if (l->n == l->size) {
                size_t size = l->size ? l->size * 2 : 16;
                uid_t *grown = reallocarray(l->uids, size, sizeof *grown);

                if (!grown)
                        return -ENOMEM;
                l->uids = grown;
                l->size = size;
        }
        l->uids[l->n++] = (uid_t) v;
        return 0;
}

int identities_disabled_uids(db *d, uid_t **ret, size_t *ret_n) {
        uid_list l = { 0 };
        int r;

        r = db_query_each(d, "SELECT DISTINCT uid FROM disabled_identities WHERE uid IS NOT NULL ORDER BY uid",
                          "Failed to list disabled uids", add_uid, &l, DB_NO_ARGS);
        if (r < 0) {
                free(l.uids);
                return r;
        }
        *ret = l.uids;
        *ret_n = l.n;
        return 0;
}

int identities_without_uid(db *d, char ***ret) {
        char **names = NULL;
        int r;

        r = db_query_strv(d, "SELECT user FROM disabled_identities WHERE uid IS NULL",
                          "Failed to list identities without uid", &names, DB_NO_ARGS);
        if (r < 0)
                return r;
        if (!names)
                names = calloc(1, sizeof *names);
        if (!names)
                return -ENOMEM;
        *ret = names;
        return 0;
}

int identities_set_uid(db *d, const char *user, uid_t uid) {
        return db_run(d, DB_WRITE_DURABLE, "UPDATE disabled_identities SET uid = ?2 WHERE user = ?1 AND uid IS NULL",
                      "Failed to record the uid of a disabled identity", NULL, DB_ARGS(DB_TEXT(user), DB_INT(uid)));
}

int identities_disable(db *d, const identity_key *key, const char *reason, const char *by, int64_t now, bool *ret_was) {
        identity_state before = { .uid = -1 };
        int r;

        r = identities_get(d, key, &before);
        if (r < 0)
                return r;
        r = db_run(d, DB_WRITE_DURABLE,
                   "INSERT INTO disabled_identities (user, reason, disabled_by, disabled, uid)"
                   " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user) DO UPDATE SET"
                   " reason = ?2, disabled_by = ?3, uid = coalesce(?5, uid)",
                   "Failed to disable identity", NULL,
                   DB_ARGS(DB_TEXT(key->canonical ? key->canonical : key->name), DB_TEXT(reason), DB_TEXT(by),
                           DB_INT(now), DB_INT_OR_NULL(key->uid >= 0, key->uid)));
        if (r == 0 && ret_was)
                *ret_was = before.disabled;
        identity_state_clear(&before);
        return r;
}

int identities_enable(db *d, const identity_key *key, bool *ret_was) {
        int r, changes = 0;

        r = db_run(d, DB_WRITE_DURABLE, "DELETE FROM disabled_identities WHERE " MATCHES_KEY,
                   "Failed to enable identity", &changes, DB_ARGS(KEY_ARGS(key)));
        if (r == 0 && ret_was)
                *ret_was = changes > 0;
        return r;
}
