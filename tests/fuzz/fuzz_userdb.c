/* fuzz_userdb.c: the userdb socket's request handling
 * (io.systemd.UserDatabase, daemon/userdb.c). Each complete message of the
 * input stream goes to userdb_call as an unprivileged peer (the socket is
 * public) and as root; a message calling an io.enrich method goes to
 * dispatch_call as root instead, followed by userdb_sync, so the input can
 * grant and revoke groups and then ask about them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "dispatch.h"
#include "userdb.h"

static userdb *service;

static void open_service(void) {
        if (userdb_new(fuzz_daemon(), fuzz_daemon()->config->userdb_socket, &service) < 0)
                abort();
        userdb_sync(service);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        open_service();
        return 0;
}

static void call(void *userdata, const char *method, json_t *params, bool more) {
        const struct ucred root = { .pid = getpid(), .uid = 0, .gid = 0 };
        const struct ucred nobody = { .pid = getpid(), .uid = 65534, .gid = 65534 };

        if (strncmp(method, "io.enrich.", 10) == 0) {
                fuzz_check_reply(dispatch_call(fuzz_daemon(), &root, method, params, more));
                userdb_sync(service);
                return;
        }
        fuzz_check_reply(userdb_call(service, &nobody, method, params, more));
        fuzz_check_reply(userdb_call(service, &root, method, params, more));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_varlink_feed(data, size, call, NULL);
        if (fuzz_daemon_recycle()) {
                /* The grants index belongs to the old database. */
                userdb_free(service);
                open_service();
        }
        return 0;
}
