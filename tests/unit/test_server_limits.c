/* test_server_limits.c: server_fit_limits (daemon/server.c) fits both
 * sockets' connection caps under the open files limit: untouched when they
 * fit, shrunk in proportion with headroom kept when they do not, reserves
 * and per-uid caps clamped inside their totals, and a limit too low for
 * any service refused. */
#include <errno.h>
#include <stdbool.h>

#include "server.h"
#include "tap.h"

static bool fits(unsigned long long nofile, const server_limits *a, const server_limits *b) {
        return (unsigned long long) a->max_connections + b->max_connections + SERVER_FD_HEADROOM <= nofile;
}

static bool sane(const server_limits *l) {
        return l->max_connections >= SERVER_MIN_CONNECTIONS && l->root_reserve > 0 &&
               l->root_reserve <= l->max_connections / 4 && l->max_per_uid > 0 &&
               l->max_per_uid <= l->max_connections - l->root_reserve;
}

int main(void) {
        server_limits m = { 0 }, u = { 0 };

        CHECK(server_fit_limits(4096, &m, &u) == 0 && m.max_connections == SERVER_MAX_CONNECTIONS &&
                      u.max_connections == SERVER_MAX_CONNECTIONS && m.root_reserve == SERVER_ROOT_RESERVE &&
                      m.max_per_uid == SERVER_MAX_PER_UID,
              "defaults-kept-when-they-fit");

        m = (server_limits) { 0 };
        u = (server_limits) { 0 };
        CHECK(server_fit_limits(1024, &m, &u) == 0 && fits(1024, &m, &u) && sane(&m) && sane(&u) &&
                      m.max_connections == u.max_connections,
              "soft-default-1024-shrinks-both");

        m = (server_limits) { 0 };
        u = (server_limits) { 0 };
        CHECK(server_fit_limits(256, &m, &u) == 0 && fits(256, &m, &u) && sane(&m) && sane(&u),
              "low-limit-fits-with-reserves");

        m = (server_limits) { .max_connections = 1000 };
        u = (server_limits) { .max_connections = 100 };
        CHECK(server_fit_limits(SERVER_FD_HEADROOM + 2 * SERVER_MIN_CONNECTIONS, &m, &u) == 0 &&
                      m.max_connections == SERVER_MIN_CONNECTIONS && u.max_connections == SERVER_MIN_CONNECTIONS &&
                      sane(&m) && sane(&u),
              "smallest-limit-gives-each-the-minimum");

        m = (server_limits) { .max_connections = 1000 };
        u = (server_limits) { .max_connections = 10 };
        CHECK(server_fit_limits(200, &m, &u) == 0 && fits(200, &m, &u) && sane(&m) && sane(&u), "unequal-wants-fit");

        m = (server_limits) { 0 };
        u = (server_limits) { 0 };
        CHECK(server_fit_limits(SERVER_FD_HEADROOM + 2 * SERVER_MIN_CONNECTIONS - 1, &m, &u) == -EMFILE,
              "too-low-refused");
        TAP_EXIT();
}
