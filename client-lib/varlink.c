/* varlink.c: Varlink framing (one JSON object + NUL per message) and a small
 * blocking client whose every step is bounded by a deadline, for callers
 * (the PAM module inside sshd) that must never hang. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "json_plain.h"
#include "util.h"
#include "varlink.h"

/* Received bytes we hold at most: one message being assembled plus slack. */
#define VARLINK_MAX_BUFFER (4 * VARLINK_MAX_MESSAGE)

void varlink_buffer_init(varlink_buffer *b) {
        *b = (varlink_buffer) {};
}

void varlink_buffer_free(varlink_buffer *b) {
        if (!b)
                return;
        free(b->data);
        varlink_buffer_init(b);
}

size_t varlink_buffer_pending(const varlink_buffer *b) {
        return b->len - b->start;
}

bool varlink_buffer_has_message(const varlink_buffer *b) {
        return b->len > b->scan && memchr(b->data + b->scan, '\0', b->len - b->scan);
}

int varlink_buffer_append(varlink_buffer *b, const void *data, size_t len) {
        const char *last_nul;

        if (varlink_buffer_pending(b) + len > VARLINK_MAX_BUFFER)
                return -EMSGSIZE;
        if (b->len + len > b->cap && b->start > 0) {
                /* Taken messages leave room at the front: reuse it first. */
                memmove(b->data, b->data + b->start, b->len - b->start);
                b->len -= b->start;
                b->scan -= b->start;
                b->start = 0;
        }
        if (b->len + len > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *p;

                while (cap < b->len + len)
                        cap *= 2;
                p = realloc(b->data, cap);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->cap = cap;
        }
        memcpy(b->data + b->len, data, len);
        b->len += len;

        /* The unterminated tail is the message being assembled; only the
         * new bytes can end it. */
        last_nul = memrchr(data, '\0', len);
        b->tail = last_nul ? (size_t) ((const char *) data + len - last_nul - 1) : b->tail + len;
        if (b->tail >= VARLINK_MAX_MESSAGE)
                return -EMSGSIZE;
        return 0;
}

int varlink_buffer_take(varlink_buffer *b, json_t **ret) {
        char *msg, *nul;
        size_t n;
        json_t *obj;

        if (b->len == b->start)
                return 0;
        nul = memchr(b->data + b->scan, '\0', b->len - b->scan);
        if (!nul) {
                b->scan = b->len;
                return varlink_buffer_pending(b) >= VARLINK_MAX_MESSAGE ? -EMSGSIZE : 0;
        }
        msg = b->data + b->start;
        n = (size_t) (nul - msg);
        b->start = b->scan = (size_t) (nul + 1 - b->data);
        if (b->start == b->len)
                b->start = b->scan = b->len = 0;
        if (n + 1 > VARLINK_MAX_MESSAGE)
                /* Arrived whole in one read, so append could not catch it. */
                return -EMSGSIZE;
        /* Parsed in place: the bytes stay put until the next append. As
         * json_loadb with duplicates refused, by the fast parser of plain
         * JSON (jansson's parser was half of a userdb call's work). */
        obj = parse_json_object(msg, n);
        if (!obj)
                return -EBADMSG;
        *ret = obj;
        return 1;
}

int varlink_encode(const json_t *obj, char **ret, size_t *ret_len) {
        char *text = NULL;
        size_t len = 0, cap = 0;
        int r;

        r = varlink_encode_append(obj, &text, &len, &cap);
        if (r < 0) {
                free(text);
                return r;
        }
        *ret = text;
        *ret_len = len;
        return 0;
}

typedef struct encode_target {
        char **buf;
        size_t *cap;
        size_t len, limit;
        bool too_big;
} encode_target;

static int encode_chunk(const char *chunk, size_t size, void *userdata) {
        encode_target *t = userdata;

        if (t->len + size > t->limit) {
                t->too_big = true;
                return -1;
        }
        if (t->len + size > *t->cap) {
                size_t cap = *t->cap ? *t->cap : 1024;
                char *p;

                while (cap < t->len + size)
                        cap *= 2;
                p = realloc(*t->buf, cap);
                if (!p)
                        return -1;
                *t->buf = p;
                *t->cap = cap;
        }
        memcpy(*t->buf + t->len, chunk, size);
        t->len += size;
        return 0;
}

int varlink_encode_append(const json_t *obj, char **buf, size_t *len, size_t *cap) {
        encode_target t = { .buf = buf, .cap = cap, .len = *len, .limit = *len + VARLINK_MAX_MESSAGE };
        int r;

        /* Plain JSON is written without jansson (the same bytes, a third of
         * the cost); anything else, from the start again, by jansson. */
        r = dump_plain_json(obj, encode_chunk, &t);
        if (r == -EAGAIN) {
                t.len = *len;
                t.too_big = false;
                r = json_dump_callback(obj, encode_chunk, &t, JSON_COMPACT);
        }
        /* The NUL terminator is the frame delimiter. */
        if (r < 0 || encode_chunk("", 1, &t) < 0)
                return t.too_big ? -EMSGSIZE : -ENOMEM;
        *len = t.len;
        return 0;
}

json_t *varlink_call_new(const char *method, json_t *params, bool more) {
        json_t *call = params ? json_pack("{s:s, s:O}", "method", method, "parameters", params)
                              : json_pack("{s:s, s:o}", "method", method, "parameters", json_object());
        if (call && more)
                json_object_set_new(call, "more", json_true());
        return call;
}

json_t *varlink_reply_new(json_t *params, bool continues) {
        json_t *reply = json_pack("{s:o}", "parameters", params ? params : json_object());
        if (reply && continues)
                json_object_set_new(reply, "continues", json_true());
        return reply;
}

json_t *varlink_error_new(const char *error, json_t *params) {
        return json_pack("{s:s, s:o}", "error", error, "parameters", params ? params : json_object());
}

struct varlink_client {
        int fd;
        struct ucred peer;
        varlink_buffer in;
        /* A call went out and nothing has been read since: its reply
         * cannot be there yet, so the next read polls first (a recv that
         * fails with EAGAIN would be a system call for nothing). */
        bool awaiting;
};

void varlink_client_free(varlink_client *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        varlink_buffer_free(&c->in);
        free(c);
}

static int wait_fd(int fd, short events, int64_t deadline) {
        struct pollfd p = { .fd = fd, .events = events };

        for (;;) {
                int n = poll(&p, 1, host_remaining_ms(deadline));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

int varlink_client_connect(const char *path, int timeout_ms, const uid_t *trusted_uids, size_t n_trusted,
                           varlink_client **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int64_t deadline = host_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        socklen_t len = sizeof(struct ucred);
        varlink_client *c = NULL;
        int r;

        if (!path || strlen(path) >= sizeof(sa.sun_path))
                return -EINVAL;
        strcpy(sa.sun_path, path);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        varlink_buffer_init(&c->in);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0) {
                r = -errno;
                goto out;
        }
        for (;;) {
                if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EINPROGRESS) {
                        int err = 0;
                        socklen_t elen = sizeof(err);

                        r = wait_fd(c->fd, POLLOUT, deadline);
                        if (r < 0)
                                goto out;
                        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
                                r = err ? -err : -errno;
                                goto out;
                        }
                        break;
                }
                if (errno == EAGAIN) {
                        /* Listen backlog full: retry briefly until the deadline. */
                        if (host_remaining_ms(deadline) == 0) {
                                r = -ETIMEDOUT;
                                goto out;
                        }
                        poll(NULL, 0, 10);
                        continue;
                }
                r = -errno;
                goto out;
        }
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
                r = -errno;
                goto out;
        }
        if (trusted_uids) {
                bool trusted = false;

                for (size_t i = 0; i < n_trusted; i++)
                        if (trusted_uids[i] == c->peer.uid)
                                trusted = true;
                if (!trusted) {
                        r = -EPERM;
                        goto out;
                }
        }
        *ret = c;
        c = NULL;
        r = 0;
out:
        varlink_client_free(c);
        return r;
}

const struct ucred *varlink_client_peer(const varlink_client *c) {
        return &c->peer;
}

/* Sends the frame text (len bytes, its NUL included) by deadline. */
static int send_frame(varlink_client *c, const char *text, size_t len, int64_t deadline) {
        size_t off = 0;
        int r;

        while (off < len) {
                /* MSG_NOSIGNAL: a dead daemon must not SIGPIPE sshd. */
                ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_fd(c->fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                off += (size_t) n;
        }
        c->awaiting = true;
        return 0;
}

/* The frame of a call to method with params (borrowed, NULL for none)
 * written into buf, around the parameters as jansson writes them: the
 * envelope is fixed text, so only the parameters go through jansson (which
 * made a call object and wrote it, method name included, byte by byte).
 * Returns the frame's length with its NUL, or 0 when method is not a plain
 * name (letters, digits, '.', '_') or the frame does not fit. */
static size_t frame_call(char *buf, size_t size, const char *method, json_t *params, const char *tail) {
        static const char head[] = "{\"method\":\"", middle[] = "\",\"parameters\":";
        size_t m = strlen(method), t = strlen(tail), at, n;

        if (m == 0 || strspn(method, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") != m ||
            sizeof(head) - 1 + m + sizeof(middle) - 1 + 2 + t + 1 > size)
                return 0;
        memcpy(buf, head, sizeof(head) - 1);
        at = sizeof(head) - 1;
        memcpy(buf + at, method, m);
        at += m;
        memcpy(buf + at, middle, sizeof(middle) - 1);
        at += sizeof(middle) - 1;
        if (params) {
                n = json_dumpb(params, buf + at, size - at, JSON_COMPACT);
                if (n == 0 || n > size - at || !json_is_object(params))
                        return 0;
        } else {
                memcpy(buf + at, "{}", 2);
                n = 2;
        }
        at += n;
        if (at + t + 1 > size)
                return 0;
        memcpy(buf + at, tail, t);
        at += t;
        buf[at++] = '\0';
        return at;
}

/* Sends a call by deadline; tail ends the envelope ("}", or a flag first). */
static int send_call(varlink_client *c, const char *method, json_t *params, bool more, bool oneway, int64_t deadline) {
        _cleanup_free_ char *heap = NULL;
        char stack[4096];
        size_t len;
        json_t *call;
        int r;

        /* Most calls fit on the stack: serialized once, sent from there. */
        len = frame_call(stack, sizeof stack, method, params,
                         oneway ? ",\"oneway\":true}"
                         : more ? ",\"more\":true}"
                                : "}");
        if (len > 0)
                return send_frame(c, stack, len, deadline);

        call = varlink_call_new(method, params, more);
        if (!call)
                return -ENOMEM;
        r = oneway && json_object_set_new(call, "oneway", json_true()) < 0 ? -ENOMEM
                                                                           : varlink_encode(call, &heap, &len);
        json_decref(call);
        if (r < 0)
                return r;
        return send_frame(c, heap, len, deadline);
}

int varlink_client_send(varlink_client *c, const char *method, json_t *params, bool more, int timeout_ms) {
        return send_call(c, method, params, more, false, host_now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
}

int varlink_client_send_oneway(varlink_client *c, const char *method, json_t *params, int timeout_ms) {
        return send_call(c, method, params, false, true, host_now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
}

int varlink_client_next(varlink_client *c, int timeout_ms, json_t **ret_params, char **ret_error, bool *ret_continues) {
        int64_t deadline = host_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        json_t *msg = NULL, *params;
        const char *error;
        char buf[8192];
        int r;

        for (;;) {
                r = varlink_buffer_take(&c->in, &msg);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                if (c->awaiting) {
                        c->awaiting = false;
                        r = wait_fd(c->fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                }
                ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
                if (n == 0)
                        return -ECONNRESET;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_fd(c->fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = varlink_buffer_append(&c->in, buf, (size_t) n);
                if (r < 0)
                        return r;
        }

        params = json_object_get(msg, "parameters");
        if (params && !json_is_object(params)) {
                r = -EBADMSG;
                goto out;
        }
        error = json_string_value(json_object_get(msg, "error"));
        if (json_object_get(msg, "error") && !error) {
                r = -EBADMSG;
                goto out;
        }
        if (error && ret_error) {
                *ret_error = strdup(error);
                if (!*ret_error) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (ret_params)
                *ret_params = params ? json_incref(params) : json_object();
        if (ret_continues)
                *ret_continues = json_is_true(json_object_get(msg, "continues"));
        r = error ? -EREMOTEIO : 0;
out:
        json_decref(msg);
        return r;
}

int varlink_client_call(varlink_client *c, const char *method, json_t *params, int timeout_ms, json_t **ret_params,
                        char **ret_error) {
        int64_t deadline = host_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        int r;

        r = varlink_client_send(c, method, params, false, timeout_ms);
        if (r < 0)
                return r;
        return varlink_client_next(c, host_remaining_ms(deadline), ret_params, ret_error, NULL);
}
