/* state.h: a unit test's throwaway state folder for the daemon's parts
 * (database, audit trail, signing key): their logs kept off the test's
 * output, dir (a mkdtemp() template) made, cfg->state_dir set to it and
 * db_path (size bytes) to the database in it. Returns 0, or the exit
 * status the test stops with. */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include "config.h"
#include "log.h"

static inline int test_state_dir(char *dir, config *cfg, char *db_path, size_t size) {
        log_setup(true);
        if (!freopen("/dev/null", "w", stderr))
                return 1;
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 2;
        }
        cfg->state_dir = dir;
        snprintf(db_path, size, "%s/enrich.db", dir);
        return 0;
}

/* Removes what test_state_dir() made, with everything in it. */
static inline void test_state_remove(const char *dir) {
        char command[512];

        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        if (system(command) != 0)
                printf("# could not remove %s\n", dir);
}
