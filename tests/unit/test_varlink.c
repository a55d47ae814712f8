/* test_varlink.c: Varlink framing edge cases (split reads, several messages
 * in one read, oversize, missing NUL, invalid JSON) and the client's bounds:
 * a silent server times out, an untrusted peer is refused. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "host.h"
#include "tap.h"
#include "util.h"
#include "varlink.h"

static const char *method_of(json_t *msg) {
        return json_string_value(json_object_get(msg, "method"));
}

int main(void) {
        static const char two[] = "{\"method\":\"a.B\"}\0{\"method\":\"c.D\"}";
        varlink_buffer b;
        json_t *msg = NULL;
        char *big;
        int r, n;

        /* Split reads: a message arriving one byte at a time. */
        varlink_buffer_init(&b);
        r = 0;
        n = 0;
        for (size_t i = 0; i < sizeof("{\"method\":\"a.B\"}"); i++) {
                varlink_buffer_append(&b, "{\"method\":\"a.B\"}" + i, 1);
                r = varlink_buffer_take(&b, &msg);
                if (r != 0)
                        break;
                n++;
        }
        CHECK(n == (int) sizeof("{\"method\":\"a.B\"}") - 1, "varlink split read: no message before the NUL");
        CHECK(r == 1 && streq_ptr(method_of(msg), "a.B"), "varlink split read yields the message at its NUL");
        json_decref(msg);
        msg = NULL;
        CHECK(b.len == 0, "varlink split read leaves nothing behind");

        /* Several messages in one read, the second without its NUL yet. */
        varlink_buffer_append(&b, two, sizeof(two) - 1);
        n = 0;
        while (varlink_buffer_take(&b, &msg) == 1) {
                n++;
                json_decref(msg);
                msg = NULL;
        }
        CHECK(n == 1, "varlink missing NUL: the unterminated message is not taken");
        varlink_buffer_append(&b, "", 1);
        CHECK(varlink_buffer_take(&b, &msg) == 1 && streq_ptr(method_of(msg), "c.D"),
              "varlink two messages in one read come out in order");
        json_decref(msg);
        msg = NULL;

        /* Invalid JSON and non-objects fail only that message. */
        {
                static const char bad[] = "{nope\0[1]\0{\"method\":\"e.F\"}";
                varlink_buffer_append(&b, bad, sizeof(bad)); /* with the final NUL */
        }
        CHECK(varlink_buffer_take(&b, &msg) == -EBADMSG, "varlink invalid JSON is refused");
        CHECK(varlink_buffer_take(&b, &msg) == -EBADMSG, "varlink non-object is refused");
        CHECK(varlink_buffer_take(&b, &msg) == 1 && streq_ptr(method_of(msg), "e.F"),
              "varlink framing recovers after a bad message");
        json_decref(msg);
        msg = NULL;
        varlink_buffer_free(&b);

        /* Oversize: the limit is enforced while the message is assembled. */
        big = malloc(VARLINK_MAX_MESSAGE + 1);
        memset(big, ' ', VARLINK_MAX_MESSAGE + 1);
        varlink_buffer_init(&b);
        CHECK(varlink_buffer_append(&b, big, VARLINK_MAX_MESSAGE - 2) == 0, "varlink accepts a message just under the limit");
        CHECK(varlink_buffer_append(&b, big, 10) == -EMSGSIZE, "varlink refuses a message over the limit");
        varlink_buffer_free(&b);
        /* A message over the limit that arrives whole, NUL included, in one
         * read is still "too large", not "malformed". */
        varlink_buffer_init(&b);
        big[VARLINK_MAX_MESSAGE] = '\0';
        CHECK(varlink_buffer_append(&b, big, VARLINK_MAX_MESSAGE + 1) == 0 &&
              varlink_buffer_take(&b, &msg) == -EMSGSIZE,
              "varlink refuses an oversize message that arrives whole");
        big[VARLINK_MAX_MESSAGE] = ' ';
        varlink_buffer_free(&b);
        {
                json_t *obj = json_pack("{s:s%}", "x", big, (size_t) VARLINK_MAX_MESSAGE);
                char *text = NULL;
                size_t len = 0;
                CHECK(varlink_encode(obj, &text, &len) == -EMSGSIZE, "varlink refuses to send an oversize message");
                json_decref(obj);
                obj = json_pack("{s:s}", "x", "y");
                CHECK(varlink_encode(obj, &text, &len) == 0 && text[len - 1] == '\0' && len == strlen(text) + 1,
                      "varlink encodes with a NUL terminator");
                free(text);
                json_decref(obj);
        }
        free(big);

        /* Client bounds against a real socket that accepts nothing. */
        {
                char dir[] = "/tmp/enrich-test-varlink-XXXXXX", path[128];
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                varlink_client *c = NULL;
                json_t *reply = NULL;
                uid_t nobody = 65534;
                int64_t start;
                int fd;

                signal(SIGPIPE, SIG_IGN);
                if (!mkdtemp(dir))
                        return 1;
                snprintf(path, sizeof(path), "%s/sock", dir);
                strcpy(sa.sun_path, path);
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                bind(fd, (struct sockaddr *) &sa, sizeof(sa));
                listen(fd, 8);

                CHECK(varlink_client_connect(path, 500, &nobody, 1, &c) == -EPERM,
                      "varlink client refuses an untrusted peer");
                CHECK(varlink_client_connect("/nonexistent/sock", 500, NULL, 0, &c) == -ENOENT,
                      "varlink client reports a missing socket");
                CHECK(varlink_client_connect(path, 500, NULL, 0, &c) == 0, "varlink client connects");
                start = host_now_ms();
                r = varlink_client_call(c, "io.enrich.Status", NULL, 300, &reply, NULL);
                CHECK(r == -ETIMEDOUT, "varlink client times out on a silent server");
                CHECK(host_now_ms() - start < 1000, "varlink client timeout is bounded");
                varlink_client_free(c);
                close(fd);
                unlink(path);
                rmdir(dir);
        }
        TAP_EXIT();
}
