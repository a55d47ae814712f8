/* support.c: shared helpers of the fuzz targets (fuzz.h): temporary files,
 * a real daemon state for the targets that call methods, the Varlink input
 * feeder, and a silent replacement of the daemon's log.c (the targets link
 * the daemon's objects, and millions of "Denied ..." entries must not reach
 * the journal; the stub still formats every message, so a bad format
 * argument is caught). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "fuzz.h"
#include "host.h"
#include "issue.h"
#include "live.h"
#include "log.h"
#include "varlink.h"

void log_setup(bool foreground) {
        (void) foreground;
}

void log_struct(int priority, const char *message_id, const char *const *fields, const char *format, ...) {
        char message[2048];
        va_list ap;

        (void) priority;
        (void) message_id;
        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        for (size_t i = 0; fields && fields[i]; i += 2)
                if (fields[i + 1])
                        (void) strlen(fields[i + 1]);
}

/* On tmpfs when there is one: the varlink target commits sqlite
 * transactions, and fsync on a disk would make it a hundred times slower. */
static char tmpdir[64];
static bool tmpdir_made;

static void remove_tmpdir(void) {
        char command[sizeof tmpdir + 16];

        snprintf(command, sizeof command, "rm -rf '%s'", tmpdir);
        if (system(command) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *fuzz_tmpdir(void) {
        if (!tmpdir_made) {
                snprintf(tmpdir, sizeof tmpdir, "%s/enrich-fuzz-XXXXXX",
                         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
                if (!mkdtemp(tmpdir)) {
                        perror("mkdtemp");
                        abort();
                }
                tmpdir_made = true;
                atexit(remove_tmpdir);
        }
        return tmpdir;
}

void fuzz_write_file(const char *path, const void *data, size_t size) {
        FILE *f = fopen(path, "w");

        if (!f || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
                perror(path);
                abort();
        }
}

char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

char *fuzz_config_quote(const uint8_t *data, size_t size) {
        char *s = malloc(size * 4 + 1), *p = s;

        if (!s)
                abort();
        for (size_t i = 0; i < size; i++) {
                unsigned char c = data[i];
                if (c == '"' || c == '\\') {
                        *p++ = '\\';
                        *p++ = (char) c;
                } else if (c < 0x20 || c >= 0x7f)
                        p += sprintf(p, "\\x%02x", c);
                else
                        *p++ = (char) c;
        }
        *p = 0;
        return s;
}

/* ---- a daemon state ---------------------------------------------------- */

#define RESET_EVERY 512
#define MAX_LIVE    16

static enrichd state;
static char db_path[600];
static unsigned inputs;

static void die(const char *what, const char *error) {
        fprintf(stderr, "fuzz: %s: %s\n", what, error ? error : "failed");
        abort();
}

static void state_open(void) {
        char *error = NULL;

        if (db_open(db_path, &state.db, &error) < 0)
                die("db_open", error);
        state.grants_checked = time(NULL);
        if (issue_update_policy_version(&state) < 0)
                die("issue_update_policy_version", NULL);
        if (live_new(&state.live) < 0)
                die("live_new", NULL);
}

static void state_close(void) {
        static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
        char path[700];

        live_free(state.live);
        state.live = NULL;
        db_close(state.db);
        state.db = NULL;
        for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
                snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]);
                (void) unlink(path);
        }
}

enrichd *fuzz_daemon(void) {
        const char *dir;
        char config_path[512], state_dir[512], text[4096], *error = NULL;

        if (state.config)
                return &state;
        dir = fuzz_tmpdir();
        snprintf(config_path, sizeof config_path, "%s/enrichd.conf", dir);
        snprintf(state_dir, sizeof state_dir, "%s/state", dir);
        snprintf(db_path, sizeof db_path, "%s/enrich.db", state_dir);
        snprintf(
                text, sizeof text,
                "socket = \"%s/io.enrich\";\n"
                "userdb_socket = \"%s/io.enrich.Groups\";\n"
                "jwks = \"%s/jwks.json\";\n"
                "state_dir = \"%s\";\n"
                "issuer = \"enrichd@fuzz\";\n"
                "claims_ttl = 600;\nmax_ttl = 3600;\n"
                "groups = ( { name = \"eu8-jit\"; gid = 61001; }, { name = \"eu8-all\"; gid = 61002; } );\n"
                "rules = (\n"
                "  { name = \"all\"; match = { }; grant = { groups = [\"eu8-all\"]; scopes = [\"s:read\"]; }; },\n"
                "  { name = \"ssh\"; match = { services = [\"sshd\"]; rhosts = [\"10.0.0.0/8\", \"::1\", \"h.example\"];\n"
                "    hours = \"07:00-19:00\"; days = [\"Mon\"]; amr = [\"pop\"]; };\n"
                "    grant = { scopes = [\"logs:read\"]; tenant = \"acme\"; ttl = 300; }; }\n"
                ");\n",
                dir, dir, dir, state_dir);
        fuzz_write_file(config_path, text, strlen(text));
        if (mkdir(state_dir, 0700) < 0)
                die("mkdir", strerror(errno));
        if (config_load(config_path, &state.config, &error) < 0)
                die("config_load", error);
        if (host_machine_id(&state.machine_id) < 0)
                die("host_machine_id", NULL);
        if (signer_open(state_dir, &state.signer, &error) < 0)
                die("signer_open", error);
        state.started_ms = host_now_ms();
        state_open();
        return &state;
}

bool fuzz_daemon_recycle(void) {
        if (++inputs % RESET_EVERY != 0 && live_count(state.live) < MAX_LIVE)
                return false;
        state_close();
        state_open();
        return true;
}

/* ---- Varlink input ------------------------------------------------------ */

void fuzz_varlink_feed(const uint8_t *data, size_t size, fuzz_call_fn fn, void *userdata) {
        varlink_buffer buffer;
        size_t chunk, offset = 0;

        if (size == 0)
                return;
        chunk = (size_t) data[0] * 7 + 1;
        data++;
        size--;
        varlink_buffer_init(&buffer);
        while (offset < size) {
                size_t n = size - offset < chunk ? size - offset : chunk;
                json_t *msg = NULL;
                int r;

                if (varlink_buffer_append(&buffer, data + offset, n) < 0)
                        break; /* the server closes the connection */
                offset += n;
                while ((r = varlink_buffer_take(&buffer, &msg)) == 1) {
                        json_t *method = json_object_get(msg, "method");
                        json_t *params = json_object_get(msg, "parameters");
                        json_t *more = json_object_get(msg, "more");
                        json_t *oneway = json_object_get(msg, "oneway");
                        json_t *empty = NULL;

                        /* What server.c checks before dispatching. */
                        if (json_is_string(method) && (!params || json_is_object(params) || json_is_null(params)) &&
                            (!more || json_is_boolean(more)) && (!oneway || json_is_boolean(oneway))) {
                                if (!json_is_object(params))
                                        params = empty = json_object();
                                if (params)
                                        fn(userdata, json_string_value(method), params, json_is_true(more));
                        }
                        json_decref(empty);
                        json_decref(msg);
                }
                if (r < 0)
                        break; /* malformed: the server closes the connection */
        }
        varlink_buffer_free(&buffer);
}

void fuzz_check_reply(json_t *reply) {
        char *wire = NULL;
        size_t len;

        if (!reply)
                abort(); /* only out of memory may give NULL */
        if (json_is_array(reply)) {
                size_t i;
                json_t *e;
                json_array_foreach(reply, i, e)
                        fuzz_check_reply(json_incref(e));
                json_decref(reply);
                return;
        }
        if (!json_object_get(reply, "parameters") && !json_object_get(reply, "error"))
                abort(); /* every reply says something */
        if (varlink_encode(reply, &wire, &len) == 0 && (len == 0 || wire[len - 1] != 0))
                abort();
        free(wire);
        json_decref(reply);
}
