/* fuzz_values.c: the small parsers of values admins type: durations
 * (client-lib/duration.c, enrichctl --ttl), and CIDR networks, host names
 * and time windows (daemon/config.c, static there, so reached through a tiny
 * config that carries the input as an rhosts entry and as hours). A config
 * that loads is then evaluated with the input as a login's remote host, so
 * the matching side of rhosts is fuzzed as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "config.h"
#include "duration.h"
#include "fuzz.h"
#include "policy.h"

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        snprintf(path, sizeof path, "%s/values.conf", fuzz_tmpdir());
        return 0;
}

static void load_and_match(const char *text, const char *rhost) {
        config *c = NULL;
        char *error = NULL;
        policy_result *result = NULL;

        fuzz_write_file(path, text, strlen(text));
        if (config_load_with(path, "/dev/null", &c, &error) == 0) {
                policy_input in = { .user = "alice",
                                    .uid = 1000,
                                    .service = "sshd",
                                    .rhost = rhost,
                                    .now = 1700000000,
                                    .session_context = true,
                                    .want_reasons = true };
                for (int hour = 0; hour < 24; hour += 5) {
                        in.now = 1700000000 + hour * 3600;
                        if (policy_evaluate(c, &in, &result) == 0)
                                policy_result_free(result);
                        result = NULL;
                }
        }
        config_free(c);
        free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_strndup(data, size), *quoted, *text = NULL;
        unsigned long long seconds;

        if (size > 4096) {
                free(s);
                return 0;
        }
        if (duration_parse(s, &seconds) == 0 && (seconds == 0 || seconds > DURATION_MAX_SECONDS))
                abort();
        (void) duration_strerror(-22);
        quoted = fuzz_config_quote(data, size);
        if (asprintf(&text,
                     "rules = ({ name = \"r\"; match = { rhosts = [\"%s\"]; }; grant = { scopes = [\"s\"]; }; });\n",
                     quoted) >= 0) {
                load_and_match(text, s);
                free(text);
        }
        if (asprintf(&text,
                     "rules = ({ name = \"r\"; match = { hours = \"%s\"; }; grant = { scopes = [\"s\"]; }; });\n",
                     quoted) >= 0) {
                load_and_match(text, "10.1.2.3");
                free(text);
        }
        if (asprintf(&text,
                     "rules = ({ name = \"r\"; match = { rhosts = [\"10.0.0.0/8\", \"2001:db8::/32\", "
                     "\"::ffff:192.168.0.0/112\", \"host.example\"]; }; grant = { scopes = [\"s\"]; }; });\n") >= 0) {
                load_and_match(text, s);
                free(text);
        }
        free(quoted);
        free(s);
        return 0;
}
