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
        CHECK(varlink_buffer_append(&b, big, VARLINK_MAX_MESSAGE - 2) == 0,
              "varlink accepts a message just under the limit");
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

        /* A NUL that arrives at the start of the next read, with a whole
         * message and part of a third behind it: taken messages leave their
         * bytes in place, and what was searched already is not searched
         * again, yet nothing is lost or taken early. */
        {
                static const char part1[] = "{\"method\":\"g.H\"}";
                static const char part2[] = "\0{\"method\":\"i.J\"}\0{\"method\":";
                static const char part3[] = "\"k.L\"}";
                int k = 0;

                varlink_buffer_init(&b);
                varlink_buffer_append(&b, part1, sizeof(part1) - 1);
                CHECK(varlink_buffer_take(&b, &msg) == 0 && !varlink_buffer_has_message(&b),
                      "varlink NUL split: nothing before the NUL arrives");
                varlink_buffer_append(&b, part2, sizeof(part2) - 1);
                CHECK(varlink_buffer_has_message(&b), "varlink NUL split: the NUL in the next read completes it");
                while (k < 4 && varlink_buffer_take(&b, &msg) == 1) {
                        if (streq_ptr(method_of(msg), k == 0 ? "g.H" : "i.J"))
                                k++;
                        else
                                k = 10;
                        json_decref(msg);
                }
                CHECK(k == 2, "varlink NUL split: two messages out in order, the third waits");
                CHECK(!varlink_buffer_has_message(&b) && varlink_buffer_pending(&b) == strlen("{\"method\":"),
                      "varlink NUL split: the third's bytes are pending, with no NUL");
                varlink_buffer_append(&b, part3, sizeof(part3));   /* with its NUL */
                CHECK(varlink_buffer_take(&b, &msg) == 1 && streq_ptr(method_of(msg), "k.L"),
                      "varlink NUL split: the third completes across reads");
                json_decref(msg);
                msg = NULL;
                CHECK(varlink_buffer_pending(&b) == 0 && varlink_buffer_take(&b, &msg) == 0,
                      "varlink NUL split: nothing left");
                varlink_buffer_free(&b);
        }

        /* A long stream through one buffer in uneven reads: every message
         * comes out once and in order, the room taken messages leave is
         * reused (the buffer does not grow with the stream), and the size
         * bound counts only the message being assembled. */
        {
                char stream[400 * 40], name[16], pad[301];
                size_t slen = 0, off = 0;
                int expect = 0, bad = 0;

                memset(pad, 'p', sizeof pad - 1);
                pad[sizeof pad - 1] = '\0';
                for (int i = 0; i < 40; i++)
                        slen += (size_t) sprintf(stream + slen,
                                                 "{\"method\":\"m.N%d\",\"parameters\":{\"p\":\"%.*s\"}}", i, 250 + i,
                                                 pad) +
                                1;
                varlink_buffer_init(&b);
                /* One stream of 50 copies, cut in chunks that cross the
                 * copies' ends, so the buffer is rarely empty. */
                for (size_t pos = 0, total = 50 * slen; pos < total; pos += off) {
                        char chunk[128];

                        off = 1 + (pos * 7) % 97;
                        if (off > total - pos)
                                off = total - pos;
                        for (size_t i = 0; i < off; i++)
                                chunk[i] = stream[(pos + i) % slen];
                        if (varlink_buffer_append(&b, chunk, off) < 0)
                                bad++;
                        while (varlink_buffer_take(&b, &msg) == 1) {
                                snprintf(name, sizeof name, "m.N%d", expect % 40);
                                if (!streq_ptr(method_of(msg), name))
                                        bad++;
                                expect++;
                                json_decref(msg);
                        }
                }
                msg = NULL;
                CHECK(bad == 0 && expect == 40 * 50, "varlink stream: every message once, in order");
                CHECK(b.cap <= 4096, "varlink stream: the buffer reuses the room of taken messages");
                varlink_buffer_free(&b);

                big = malloc(VARLINK_MAX_MESSAGE);
                memset(big, ' ', VARLINK_MAX_MESSAGE);
                varlink_buffer_init(&b);
                CHECK(varlink_buffer_append(&b, "{\"method\":\"m.N0\"}", 18) == 0 &&
                              varlink_buffer_append(&b, big, VARLINK_MAX_MESSAGE - 2) == 0,
                      "varlink bound: a full message behind a terminated one is accepted");
                CHECK(varlink_buffer_take(&b, &msg) == 1, "varlink bound: the terminated one is taken");
                json_decref(msg);
                msg = NULL;
                CHECK(varlink_buffer_append(&b, big, 1) == 0 && varlink_buffer_append(&b, big, 1) == -EMSGSIZE,
                      "varlink bound: the unterminated tail over the limit is refused");
                varlink_buffer_free(&b);
                free(big);
        }

        /* Encoding straight into an output queue: after what is there,
         * NUL-terminated, the same bytes as varlink_encode; past the limit
         * the queue is left as it was. */
        {
                json_t *obj = json_pack("{s:s, s:i}", "x", "y", "n", 7);
                char *out = NULL, *text = NULL;
                size_t len = 0, cap = 0, tlen = 0;

                CHECK(varlink_encode_append(obj, &out, &len, &cap) == 0 &&
                              varlink_encode_append(obj, &out, &len, &cap) == 0 &&
                              varlink_encode(obj, &text, &tlen) == 0 && len == 2 * tlen &&
                              memcmp(out, text, tlen) == 0 && memcmp(out + tlen, text, tlen) == 0 &&
                              out[tlen - 1] == '\0',
                      "varlink encode_append appends NUL-terminated frames");
                json_decref(obj);
                big = malloc(VARLINK_MAX_MESSAGE);
                memset(big, 'a', VARLINK_MAX_MESSAGE);
                /* {"x":"…"} is 8 bytes around the string; with the NUL,
                 * 9: the largest that fits is MAX - 9 characters. */
                obj = json_pack("{s:s%}", "x", big, (size_t) VARLINK_MAX_MESSAGE - 9);
                CHECK(varlink_encode_append(obj, &out, &len, &cap) == 0 && len == 2 * tlen + VARLINK_MAX_MESSAGE,
                      "varlink encode_append: a frame of exactly the limit fits");
                json_decref(obj);
                obj = json_pack("{s:s%}", "x", big, (size_t) VARLINK_MAX_MESSAGE - 8);
                CHECK(varlink_encode_append(obj, &out, &len, &cap) == -EMSGSIZE &&
                              len == 2 * tlen + VARLINK_MAX_MESSAGE,
                      "varlink encode_append: one byte over is refused, the queue unchanged");
                json_decref(obj);
                free(big);
                free(out);
                free(text);
        }

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

                /* What a client sends is the call object as jansson writes
                 * it, whether the envelope is written around the
                 * parameters (plain method names, frames that fit) or the
                 * whole object goes through jansson. */
                /* A listener of its own: the one above has the earlier
                 * connections queued, never accepted. */
                close(fd);
                unlink(path);
                fd = socket(AF_UNIX, SOCK_STREAM, 0);
                bind(fd, (struct sockaddr *) &sa, sizeof(sa));
                listen(fd, 8);
                CHECK(varlink_client_connect(path, 500, NULL, 0, &c) == 0, "varlink client connects again");
                {
                        static const struct {
                                const char *method;
                                bool more, oneway, big;
                        } cases[] = {
                                { "io.enrich.Enrich", false, false, false },
                                { "io.enrich.Audit", true, false, false },
                                { "io.enrich.EndSession", false, true, false },
                                { "io.enrich.Odd\"name", false, false, false },
                                { "io.enrich.Enrich", false, false, true },
                        };
                        int peer = accept(fd, NULL, NULL);

                        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                                json_t *params = json_pack("{s:s, s:I, s:[s]}", "user", "ä\"\\x", "pid",
                                                           (json_int_t) 42, "amr", "pwd"),
                                       *call;
                                char *want = NULL, got[16384];
                                size_t want_len = 0, got_len = 0;
                                char name[96];

                                if (cases[i].big) {
                                        char filler[6000];

                                        memset(filler, 'a', sizeof(filler) - 1);
                                        filler[sizeof(filler) - 1] = '\0';
                                        json_object_set_new(params, "filler", json_string(filler));
                                }
                                call = varlink_call_new(cases[i].method, params, cases[i].more);
                                if (cases[i].oneway)
                                        json_object_set_new(call, "oneway", json_true());
                                (void) varlink_encode(call, &want, &want_len);
                                r = cases[i].oneway
                                            ? varlink_client_send_oneway(c, cases[i].method, params, 500)
                                            : varlink_client_send(c, cases[i].method, params, cases[i].more, 500);
                                while (r == 0 && got_len < want_len) {
                                        ssize_t k = read(peer, got + got_len, sizeof(got) - got_len);
                                        if (k <= 0)
                                                break;
                                        got_len += (size_t) k;
                                }
                                snprintf(name, sizeof(name), "varlink client frames call %zu (%s%s%s) as jansson", i,
                                         cases[i].method, cases[i].more ? ", more" : "",
                                         cases[i].oneway ? ", oneway" : "");
                                CHECK(r == 0 && want && got_len == want_len && memcmp(got, want, want_len) == 0, name);
                                free(want);
                                json_decref(call);
                                json_decref(params);
                        }
                        close(peer);
                }
                varlink_client_free(c);
                close(fd);
                unlink(path);
                rmdir(dir);
        }
        TAP_EXIT();
}
