/* fuzz_varlink.c: Varlink framing together with the parameter parsing of
 * every io.enrich and org.varlink.service method. Each complete message of
 * the input stream is answered by dispatch_call twice: as root (every method
 * reachable) and as an unprivileged peer (every refusal path), on a real
 * daemon state (support.c). */
#include <unistd.h>
#include "fuzz.h"
#include "dispatch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) fuzz_daemon();
        return 0;
}

static void call(void *userdata, const char *method, json_t *params, bool more) {
        const struct ucred peers[] = {
                { .pid = getpid(), .uid = 0, .gid = 0 },
                { .pid = getpid(), .uid = 65534, .gid = 65534 },
        };

        for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
                fuzz_check_reply(dispatch_call(fuzz_daemon(), &peers[i], method, params, more));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_varlink_feed(data, size, call, NULL);
        (void) fuzz_daemon_recycle();
        return 0;
}
