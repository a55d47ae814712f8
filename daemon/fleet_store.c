/* fleet_store.c: the fleet_grants, fleet_tokens and fleet_state tables
 * (fleet_store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "config.h"
#include "fleet_store.h"

static int mark(db *d, const char *sql, const char *id, int64_t mod_revision);

/* Whether the count query (one bound id) finds id. */
static int is_marked(db *d, const char *sql, const char *id, bool *ret) {
        sqlite3_stmt *st = NULL;
        int64_t n = 0;
        int r = db_prepare(d, sql, &st);

        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        r = db_read_int64(d, st, "Failed to look up a fleet record", &n);
        if (r == 0)
                *ret = n > 0;
        return r;
}

int fleet_store_revision(db *d, int64_t *ret) {
        sqlite3_stmt *st = NULL;
        int r = db_prepare(d, "SELECT value FROM fleet_state WHERE name = 'revision'", &st);

        if (r < 0)
                return r;
        return db_read_int64(d, st, "Failed to read the fleet revision", ret);
}

int fleet_store_set_revision(db *d, int64_t revision) {
        sqlite3_stmt *st = NULL;
        int r = db_prepare(d, "UPDATE fleet_state SET value = ? WHERE name = 'revision'", &st);

        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, revision);
        return db_write(d, st, "Failed to record the fleet revision", NULL);
}

int fleet_store_mark_grant(db *d, const char *id, int64_t mod_revision) {
        return mark(d, "INSERT OR REPLACE INTO fleet_grants (id, mod_revision) VALUES (?, ?)", id, mod_revision);
}

int fleet_store_is_fleet_grant(db *d, const char *id, bool *ret) {
        return is_marked(d, "SELECT count(*) FROM fleet_grants WHERE id = ?", id, ret);
}

/* An id into fleet_grants or fleet_tokens. */
static int mark(db *d, const char *sql, const char *id, int64_t mod_revision) {
        sqlite3_stmt *st = NULL;
        int r = db_prepare(d, sql, &st);

        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, mod_revision);
        return db_write(d, st, "Failed to mark a fleet record", NULL);
}

int fleet_store_mark_token(db *d, const char *id, int64_t mod_revision) {
        return mark(d, "INSERT OR REPLACE INTO fleet_tokens (id, mod_revision) VALUES (?, ?)", id, mod_revision);
}

int fleet_store_is_fleet_token(db *d, const char *id, bool *ret) {
        return is_marked(d, "SELECT count(*) FROM fleet_tokens WHERE id = ?", id, ret);
}

/* The ids the query (one bound time, ?1) selects, as a strv. */
static int list_ids(db *d, const char *sql, int64_t now, char ***ret) {
        sqlite3_stmt *st = NULL;
        char **list = NULL;
        size_t n = 0, size = 0;
        int r, step;

        r = db_prepare(d, sql, &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (n + 2 > size) {
                        char **grown = realloc(list, (size ? size * 2 : 16) * sizeof(char *));
                        if (!grown) {
                                r = -ENOMEM;
                                goto out;
                        }
                        list = grown;
                        size = size ? size * 2 : 16;
                }
                list[n] = strdup((const char *) sqlite3_column_text(st, 0));
                if (!list[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                list[++n] = NULL;
        }
        if (step != SQLITE_DONE) {
                r = db_fail(d, "Failed to list the fleet grants");
                goto out;
        }
        *ret = list;
        list = NULL;
        r = 0;
out:
        db_release(d, st);
        strv_free(list);
        return r;
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

int fleet_store_resume_grant(db *d, const char *id, bool *ret_changed) {
        sqlite3_stmt *st = NULL;
        int changes = 0, r;

        r = db_begin_durable(d);
        if (r < 0)
                return r;
        r = db_prepare(d,
                       "UPDATE grants SET revoked = NULL, revoked_by = NULL, ended = NULL"
                       " WHERE id = ? AND revoked_by = '" FLEET_STORE_OFFLINE "'",
                       &st);
        if (r < 0)
                goto fail;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        r = db_step_write(d, st, "Failed to resume a fleet grant", &changes);
        if (r < 0)
                goto fail;
        if (changes > 0) {
                /* As grants.c does for every change of the active set. */
                r = db_prepare(d, "UPDATE meta SET value = value + 1 WHERE name = 'grants_generation'", &st);
                if (r < 0)
                        goto fail;
                r = db_step_write(d, st, "Failed to bump the grants generation", NULL);
                if (r < 0)
                        goto fail;
        }
        r = db_commit(d);
        if (r == 0)
                *ret_changed = changes > 0;
        return r;
fail:
        db_rollback(d);
        return r;
}
