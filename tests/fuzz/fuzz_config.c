/* fuzz_config.c: the config loader. The input is written to a file and
 * loaded with config_load_with against a fixed group file; whatever the
 * text, the loader returns a config or an error message, never both and
 * never neither. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "fuzz.h"

static char path[512], group_file[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        static const char groups[] = "root:x:0:\nops:x:1000:alice,bob\njit-deploy:x:61001:\n";

        snprintf(path, sizeof path, "%s/enrichd.conf", fuzz_tmpdir());
        snprintf(group_file, sizeof group_file, "%s/group", fuzz_tmpdir());
        fuzz_write_file(group_file, groups, strlen(groups));
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        config *c = NULL;
        char *error = NULL;
        int r;

        fuzz_write_file(path, data, size);
        r = config_load_with(path, group_file, &c, &error);
        if (r == 0 && (!c || error))
                abort();
        if (r < 0 && (c || !error))
                abort();
        for (size_t i = 0; c && i < c->n_rules; i++)
                (void) config_rule_needs_login(&c->rules[i]);
        config_free(c);
        free(error);
        return 0;
}
