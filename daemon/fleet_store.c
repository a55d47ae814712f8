/* fleet_store.c: the fleet_grants, fleet_tokens and fleet_state tables
 * (fleet_store.h). */
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

int fleet_store_mark_grant(db *d, const char *id, int64_t mod_revision) {
        return mark(d, "INSERT OR REPLACE INTO fleet_grants (id, mod_revision) VALUES (?, ?)", id, mod_revision);
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
