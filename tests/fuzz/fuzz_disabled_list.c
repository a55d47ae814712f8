/* fuzz_disabled_list.c: the list of disabled identities the PAM account
 * hook reads when enrichd cannot answer (client-lib/disabled_list.c). The
 * input is "USER\nFILE": FILE is looked up for USER as the module would,
 * whatever it holds (by name, and by the uid of the input's length); then
 * the input's lines are written as a list by the daemon's formatter, with
 * uids made from the input's bytes, and read back: every name and uid the
 * formatter kept must be found (and the garbage ones it skipped must not
 * break it), and a name never matches a uid line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "disabled_list.h"
#include "fuzz.h"

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        snprintf(path, sizeof path, "%s/disabled-identities", fuzz_tmpdir());
        return 0;
}

static int lookup(const char *user, const uid_t *uid) {
        int fd = open(path, O_RDONLY | O_CLOEXEC), r;

        if (fd < 0)
                abort();
        r = disabled_list_lookup(fd, user, uid);
        close(fd);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *newline = memchr(data, '\n', size);
        size_t user_len = newline ? (size_t) (newline - data) : size;
        char *user = fuzz_strndup(data, user_len), *copy, *text = NULL, **names = NULL;
        uid_t uids[4], some_uid = (uid_t) size;
        size_t n = 0, len = 0, skipped = 0, n_uids = 0;
        int r;

        fuzz_write_file(path, data + user_len, size - user_len);
        r = lookup(user, &some_uid);
        if (r != 0 && r != 1 && r != -EBADMSG && r != -EFBIG)
                abort();

        copy = fuzz_strndup(data, size);
        names = calloc(size + 1, sizeof *names);
        if (!names)
                abort();
        for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                names[n++] = line;
        for (size_t i = 0; i + 4 <= size && n_uids < 4; i += 4) {
                uint32_t v;

                memcpy(&v, data + i, sizeof v);
                uids[n_uids++] = (uid_t) v;
        }
        if (disabled_list_format((const char *const *) names, n, uids, n_uids, &text, &len, &skipped) == 0) {
                fuzz_write_file(path, text, len);
                for (size_t i = 0; i < n; i++)
                        if (disabled_list_name_ok(names[i]) && lookup(names[i], NULL) != 1)
                                abort();
                for (size_t i = 0; i < n_uids; i++)
                        if (uids[i] != (uid_t) -1 && lookup("", &uids[i]) != 1)
                                abort();
                if (lookup("", NULL) != 0)
                        abort();
                /* A uid line is no name ("uid:N" fails name_ok). */
                for (size_t i = 0; i < n_uids; i++) {
                        char line[32];

                        snprintf(line, sizeof line, "%s%u", DISABLED_LIST_UID_PREFIX, (unsigned) uids[i]);
                        if (lookup(line, NULL) != 0)
                                abort();
                }
        }
        free(text);
        free(names);
        free(copy);
        free(user);
        return 0;
}
