/* signing_keys.c: the signing_keys table (signing_keys.h). */
#include <errno.h>
#include <sqlite3.h>
#include "signing_keys.h"
#include "util.h"

#define SQL_INSERT "INSERT OR IGNORE INTO signing_keys (kid, jwk, created, endorsement) VALUES (?1, ?2, ?3, ?6)"
#define SQL_UNRETIRE \
        "UPDATE signing_keys SET retired = NULL, published_until = NULL" \
        " WHERE kid = ?1 AND retired IS NOT NULL"
#define SQL_RETIRE "UPDATE signing_keys SET retired = ?3, published_until = ?4 WHERE kid = ?5"
#define SQL_RETIRE_OTHERS \
        "UPDATE signing_keys SET retired = ?3, published_until = ?4" \
        " WHERE retired IS NULL AND kid != ?5"
#define SQL_DELETE "DELETE FROM signing_keys WHERE kid = ?5"

/* The order of the listing: the current key (retired NULL) first, then the
 * most recently retired; kid breaks ties. An expression of the index
 * signing_keys_page. */
#define KEY_SORT "coalesce(retired, 9223372036854775807)"

#define READ_FAILED "Failed to read the signing keys"

/* One write of a change: its statement, what a failure says, and where its
 * count of changed rows goes (optional). */
typedef struct key_write {
        const char *sql, *what;
        int *ret_changes;
} key_write;

typedef struct key_writes {
        const signing_key_change *change;
        const key_write *writes;
        size_t n;
} key_writes;

static int run_writes(db *d, void *userdata) {
        const key_writes *w = userdata;
        const signing_key_change *c = w->change;
        int r = 0;

        for (size_t i = 0; r == 0 && i < w->n; i++)
                r = db_run(d, DB_WRITE_IN_TRANSACTION, w->writes[i].sql, w->writes[i].what, w->writes[i].ret_changes,
                           DB_ARGS(DB_TEXT(c->kid), DB_TEXT(c->jwk), DB_INT(c->now), DB_INT(c->until),
                                   DB_TEXT(c->other_kid), DB_TEXT(c->endorsement)));
        return r;
}

/* The writes of c, in order, in one durable transaction. */
static int record(db *d, const signing_key_change *c, const key_write *writes, size_t n) {
        key_writes w = { .change = c, .writes = writes, .n = n };

        return db_transaction(d, true, run_writes, &w);
}

int signing_keys_record_current(db *d, const signing_key_change *c, int *ret_unretired, int *ret_retired) {
        const key_write writes[] = {
                { SQL_INSERT, "Failed to record the signing key", NULL },
                { SQL_UNRETIRE, "Failed to record the signing key", ret_unretired },
                { SQL_RETIRE_OTHERS, "Failed to retire other keys", ret_retired },
        };

        return record(d, c, writes, ARRAY_SIZE(writes));
}

int signing_keys_record_rotation(db *d, const signing_key_change *c) {
        static const key_write writes[] = {
                { SQL_INSERT, "Failed to record the new signing key", NULL },
                { SQL_RETIRE, "Failed to retire the old signing key", NULL },
        };

        return record(d, c, writes, ARRAY_SIZE(writes));
}

void signing_keys_undo_rotation(db *d, const signing_key_change *c) {
        static const key_write writes[] = {
                { SQL_DELETE, "Failed to undo the rotation", NULL },
                { SQL_UNRETIRE, "Failed to undo the rotation", NULL },
        };
        signing_key_change undo = { .kid = c->other_kid, .other_kid = c->kid };

        (void) record(d, &undo, writes, ARRAY_SIZE(writes));
}

int signing_keys_is_current(db *d, const char *kid) {
        int64_t current = 0;
        int r;

        r = db_query_int64(d, "SELECT retired IS NULL FROM signing_keys WHERE kid = ?1", READ_FAILED, &current,
                           DB_ARGS(DB_TEXT(kid)));
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : (int) current;
}

int signing_keys_count_published(db *d, int64_t now) {
        int64_t count = 0;
        int r;

        r = db_query_int64(d, "SELECT count(*) FROM signing_keys WHERE retired IS NOT NULL AND published_until > ?1",
                           READ_FAILED, &count, DB_ARGS(DB_INT(now)));
        return r < 0 ? r : (int) count;
}

typedef struct found_key {
        jwks **ret;
        int64_t *ret_retired;
} found_key;

static int read_key(void *userdata, sqlite3_stmt *st) {
        const found_key *f = userdata;
        json_t *jwk = json_loads(db_column_text(st, 0) ? db_column_text(st, 0) : "", 0, NULL), *doc;
        int r;

        *f->ret_retired = db_column_int64_or(st, 1, 0);
        doc = jwk ? json_pack("{s:[o]}", "keys", jwk) : NULL;
        r = doc ? jwks_parse(doc, f->ret) : -EBADMSG;
        json_decref(doc);
        return r;
}

int signing_keys_find(db *d, const char *kid, jwks **ret, int64_t *ret_retired) {
        found_key f = { .ret = ret, .ret_retired = ret_retired };

        return db_query_row(d, "SELECT jwk, retired FROM signing_keys WHERE kid = ?1", READ_FAILED, read_key, &f,
                            DB_ARGS(DB_TEXT(kid)));
}

typedef struct key_walk {
        int (*published)(void *userdata, const char *jwk, int64_t until);
        int (*listed)(void *userdata, const signing_key_row *row);
        void *userdata;
} key_walk;

static int walk_published(void *userdata, sqlite3_stmt *st) {
        const key_walk *w = userdata;

        return w->published(w->userdata, db_column_text(st, 0), sqlite3_column_int64(st, 1));
}

int signing_keys_foreach_published(db *d, int64_t now, const char *kid_a, const char *kid_b,
                                   int (*fn)(void *userdata, const char *jwk, int64_t until), void *userdata) {
        key_walk w = { .published = fn, .userdata = userdata };

        return db_query_each(d,
                             "SELECT jwk, published_until FROM signing_keys WHERE retired IS NOT NULL"
                             " AND published_until > ?1 AND kid != ?2 AND kid != ?3"
                             " ORDER BY retired DESC, kid",
                             READ_FAILED, walk_published, &w, DB_ARGS(DB_INT(now), DB_TEXT(kid_a), DB_TEXT(kid_b)));
}

static int walk_listed(void *userdata, sqlite3_stmt *st) {
        const key_walk *w = userdata;
        signing_key_row row = {
                .kid = db_column_text(st, 0),
                .created = sqlite3_column_int64(st, 1),
                .retired = db_column_int64_or(st, 2, 0),
                .published_until = sqlite3_column_int64(st, 3),
                .sort = sqlite3_column_int64(st, 4),
        };

        return w->listed(w->userdata, &row);
}

int signing_keys_list(db *d, const db_cursor *after, unsigned limit,
                      int (*fn)(void *userdata, const signing_key_row *row), void *userdata) {
        key_walk w = { .listed = fn, .userdata = userdata };

#define KEY_LIST \
        "SELECT kid, created, retired, published_until, " KEY_SORT " FROM signing_keys INDEXED BY signing_keys_page"
#define KEY_LIST_ORDER " ORDER BY " KEY_SORT " DESC, kid DESC LIMIT ?3"
        /* Retired keys stay for good (old checkpoints verify with them), so
         * years of rotations outgrow one reply: this pages like the other
         * listings. The cursor seeks the index on the sort key; only keys
         * retired in the same second are stepped over. */
        return db_query_each(d,
                             after ? KEY_LIST " WHERE " KEY_SORT " <= ?1 AND (" KEY_SORT
                                              " < ?1 OR kid < ?2)" KEY_LIST_ORDER
                                   : KEY_LIST KEY_LIST_ORDER,
                             READ_FAILED, walk_listed, &w,
                             DB_ARGS(DB_INT_OR_NULL(after, after ? after->created : 0),
                                     DB_TEXT(after ? after->id : NULL), DB_INT(limit)));
#undef KEY_LIST
#undef KEY_LIST_ORDER
}

static int read_endorsement(void *userdata, sqlite3_stmt *st) {
        char **ret = userdata;
        const char *text = db_column_text(st, 0);

        if (!text)
                return -ENOENT;
        *ret = strdup(text);
        return *ret ? 0 : -ENOMEM;
}

int signing_keys_endorsement(db *d, const char *kid, char **ret) {
        return db_query_row(d, "SELECT endorsement FROM signing_keys WHERE kid = ?1", READ_FAILED, read_endorsement,
                            ret, DB_ARGS(DB_TEXT(kid)));
}
