/* test_fleet_revoked.c: fleet_store.c's revocations (migration 18) on a
 * real temporary sqlite file: a revoked id is refused until its expiry,
 * a second revocation keeps the later expiry and takes no more room, the
 * bound refuses a new id but not one already kept, expired ones go; and
 * fleet_store_pending_get finds a waiting record by its key. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "db.h"
#include "fleet_store.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-fleet-revoked-XXXXXX";

int main(void) {
        char path[512], *error = NULL;
        db *d = NULL;
        bool revoked = true;
        int64_t until = -1, count = 0, left = -1;
        fleet_pending p = { 0 }, waiting = { .key = (char *) "/e/grants/g9",
                                             .value = (char *) "jws",
                                             .user = (char *) "alice",
                                             .mod_revision = 7,
                                             .expires = 5000 };

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof path, "%s/enrich.db", dir);
        CHECK(db_open(path, &d, &error) == 0, "fleet-revoked-db-opens");
        if (!d) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }

        CHECK(fleet_store_is_revoked(d, "grant", "g1", 100, &revoked, &until) == 0 && !revoked && until == 0,
              "fleet-revoked-unknown-id-is-not");
        CHECK(fleet_store_revoked_put(d, "grant", "g1", 1000, &count) == 0 && count == 1,
              "fleet-revoked-put-counts-new-id");
        CHECK(fleet_store_is_revoked(d, "grant", "g1", 100, &revoked, &until) == 0 && revoked && until == 1000,
              "fleet-revoked-until-expiry");
        CHECK(fleet_store_is_revoked(d, "token", "g1", 100, &revoked, NULL) == 0 && !revoked,
              "fleet-revoked-kind-apart");
        CHECK(fleet_store_revoked_put(d, "grant", "g1", 500, &count) == 0 && count == 1 &&
                      fleet_store_is_revoked(d, "grant", "g1", 100, &revoked, &until) == 0 && until == 1000,
              "fleet-revoked-again-keeps-later-expiry-and-room");
        CHECK(fleet_store_is_revoked(d, "grant", "g1", 1000, &revoked, NULL) == 0 && !revoked,
              "fleet-revoked-not-past-expiry");

        /* At the bound: a new id is refused, one kept already is not. */
        count = FLEET_STORE_MAX_REVOKED;
        CHECK(fleet_store_revoked_put(d, "token", "t1", 2000, &count) == -ENOSPC &&
                      fleet_store_is_revoked(d, "token", "t1", 100, &revoked, NULL) == 0 && !revoked,
              "fleet-revoked-bound-refuses-new-id");
        CHECK(fleet_store_revoked_put(d, "grant", "g1", 3000, &count) == 0 && count == FLEET_STORE_MAX_REVOKED &&
                      fleet_store_is_revoked(d, "grant", "g1", 2500, &revoked, NULL) == 0 && revoked,
              "fleet-revoked-bound-keeps-known-id");
        count = 1;
        CHECK(fleet_store_revoked_put(d, "token", "t1", 2000, &count) == 0 && count == 2, "fleet-revoked-token-kept");
        CHECK(fleet_store_revoked_expire(d, 2000, &left) == 0 && left == 1 &&
                      fleet_store_is_revoked(d, "grant", "g1", 2000, &revoked, NULL) == 0 && revoked,
              "fleet-revoked-expire-forgets-only-expired");

        CHECK(fleet_store_pending_get(d, "/e/grants/g9", &p) == -ENOENT, "fleet-pending-get-none");
        CHECK(fleet_store_pending_put(d, &waiting) == 0 && fleet_store_pending_get(d, "/e/grants/g9", &p) == 0 &&
                      strcmp(p.user, "alice") == 0 && strcmp(p.value, "jws") == 0 && p.expires == 5000 &&
                      p.mod_revision == 7,
              "fleet-pending-get-finds-key");
        fleet_pending_clear(&p);

        db_close(d);
        free(error);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-wal", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/enrich.db-shm", dir);
        unlink(path);
        rmdir(dir);
        TAP_EXIT();
}
