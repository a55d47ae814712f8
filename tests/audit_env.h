/* audit_env.h: the daemon's parts a unit test of the audit trail needs,
 * opened as enrichd opens them, in a test_state_dir() folder (state.h). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include "audit.h"
#include "db.h"
#include "enrichd.h"
#include "keys.h"
#include "signer.h"

/* Into e (its config set): the database at db_path, the signing key in
 * dir, the key's record among the keys, as keys_open makes it (the worker
 * checks checkpoints' signatures by it; e->config->jwks is set to jwks,
 * size bytes, a file in dir), and the trail. 0, or -1 with the reason
 * printed as a TAP comment. */
static inline int test_audit_open(const char *dir, const char *db_path, char *jwks, size_t size, enrichd *e) {
        char *error = NULL;
        int r = 0;

        snprintf(jwks, size, "%s/jwks.json", dir);
        e->config->jwks = jwks;
        if (db_open(db_path, &e->db, &error) < 0 || signer_open(dir, &e->signer, &error) < 0 ||
            keys_open(e, &error) < 0 || audit_open(e, &e->audit) < 0) {
                printf("# %s\n", error ? error : "?");
                r = -1;
        }
        free(error);
        return r;
}

/* Closes what test_audit_open() opened; parts not open are fine. */
static inline void test_audit_close(enrichd *e) {
        audit_free(e->audit);
        e->audit = NULL;
        signer_free(e->signer);
        e->signer = NULL;
        db_close(e->db);
        e->db = NULL;
}

/* The integer the database answers sql with, or -1. */
static inline int64_t test_query(enrichd *e, const char *sql) {
        sqlite3_stmt *st = NULL;
        int64_t v = -1;

        if (sqlite3_prepare_v2(db_handle(e->db), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}
