/* server.c: epoll event loops and connection handling. The main socket is
 * served by the main thread; the priority (userdb) socket by a thread of its
 * own, so that a main-socket call stuck on sqlite or a slow disk never
 * delays an NSS caller. Each listener owns its connections: the two threads
 * share nothing in here.
 *
 * Fair service: reading only buffers calls (a bounded amount per
 * connection); answering them is a separate step of each turn of the loop,
 * with a budget in calls and in time per connection, per uid and per turn.
 * Each turn serves root's connections first (PAM logins, root's admin
 * calls), then the other uids round robin, and a uid's connections round
 * robin; the turn then goes back to the sockets, so a call that arrives
 * while one uid floods waits for at most one uid's share of one turn.
 * While a connection has unsent output above the high-water mark, its
 * further calls wait (back-pressure) instead of growing memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include "util.h"
#include "clock.h"
#include "host.h"
#include "log.h"
#include "paths.h"
#include "server.h"
#include "varlink.h"

#define READ_CHUNK (64 * 1024)
#define MAX_EVENTS 64
/* Connections accepted per readiness of a listening socket: a backlog of
 * refused floods must not keep a root login waiting behind it for long. */
#define ACCEPT_BATCH 32

/* Service classes, served in this order each turn. */
enum { CLASS_ROOT, CLASS_USERS, N_CLASSES };

enum { TAG_LISTEN, TAG_SIGNAL, TAG_PRIORITY_STOP, TAG_PRIORITY_LISTEN, TAG_WATCHED, N_TAGS };

typedef struct connection connection;

/* A reply held until the turn's commit; batched: its call wrote into the
 * batch, so a failed commit turns it into the commit's error. */
typedef struct held_reply {
        json_t *reply;
        bool batched;
} held_reply;

/* One uid's connections on a listener: how many (the per-uid cap) and
 * those with calls waiting to be served, in turn order. While it has any,
 * the uid itself waits in its class's queue. */
typedef struct uid_share {
        struct uid_share *next;                 /* every uid with a connection */
        struct uid_share *queue_prev, *queue_next;
        uid_t uid;
        size_t n_connections;
        connection *ready_first, *ready_last;
        bool queued;
} uid_share;

/* The lines log_client() writes are limited: one per (uid, message) and
 * second, and CLIENT_LOG_PER_SECOND per listener and second in all, so that
 * a flood of refused connections cannot crowd the journal's rate limit out
 * from under enrichd's other messages. What is held back is counted and
 * said on the next line written. */
#define CLIENT_LOG_SLOTS      32
#define CLIENT_LOG_PER_SECOND 8

typedef struct client_log_limit {
        const char *what;          /* the message; NULL: a free slot */
        uid_t uid;
        int64_t second;            /* when its last line was written */
        unsigned suppressed;       /* lines held back since */
} client_log_limit;

/* A listening socket and how its calls are answered. */
typedef struct listener {
        int fd;
        int epoll_fd;              /* where it and its connections are watched (borrowed) */
        char *bound_path;          /* set when we bound the socket ourselves */
        bool activated;
        json_t *(*call)(void *userdata, const struct ucred *peer, const char *method, json_t *parameters, bool more);
        /* Group commit (server_handlers); NULL on the priority listener. */
        bool (*call_pending)(void *userdata);
        json_t *(*commit)(void *userdata);
        void *userdata;
        const char *invalid_parameter_error;
        /* Whether a new connection is read at once (see accept_connection). */
        bool read_on_accept;
        /* Connections accepted per readiness of the socket (see dispatch). */
        unsigned accept_batch;
        /* Whether a peer that hung up is let go at once, calls it left
         * unread or unanswered with it: only where no call has an effect
         * beyond its reply (the userdb socket; the main socket still
         * serves a oneway EndSession sent just before a close). */
        bool drop_on_hangup;
        size_t max_connections, root_reserve, max_per_uid;
        int64_t idle_timeout_ms;
        connection *connections;
        size_t n_connections;
        size_t n_others;           /* of those, not root's */
        uid_share *uids;
        uid_share *queue_first[N_CLASSES], *queue_last[N_CLASSES];
        /* Connections with replies held for this turn's commit, and how
         * many calls this turn served. */
        connection *held_first;
        unsigned turn_calls;
        /* Calls that stay open (server_call_id, server_stream_push): the
         * id of the call being answered, 0 between calls. */
        uint64_t call_id, last_call_id;
        /* log_client()'s limits; each listener is served by one thread. */
        client_log_limit log_limits[CLIENT_LOG_SLOTS];
        int64_t log_second;
        unsigned log_lines;        /* lines written in log_second */
        unsigned log_suppressed;   /* lines held back whose slot was taken over */
} listener;

struct connection {
        struct connection *prev, *next;
        listener *owner;
        uid_share *share;
        struct connection *ready_prev, *ready_next;   /* in share's ready list */
        int fd;
        struct ucred peer;
        varlink_buffer input;
        char *output;
        size_t output_len, output_sent, output_allocated;
        int64_t deadline_ms;
        /* Replies waiting for the turn's commit, in order; a reply after a
         * held one waits too, so replies never overtake each other. */
        struct held_reply *held;
        size_t n_held, held_allocated;
        struct connection *held_next;  /* in owner's held list */
        bool ready;        /* in share's ready list: calls waiting, may be served */
        bool eof;          /* the peer will send nothing more */
        bool closing;      /* close once output is flushed */
        bool dead;         /* close now (after the current batch of events) */
        bool hung_up;      /* the peer reads no more: replies are dropped, calls still served */
        /* A "more" call left open (its last reply had continues): its id
         * for server_stream_push; 0: none. While open, the connection's
         * further calls wait and it is never idle. */
        uint64_t stream;
        /* The open call got no reply yet (its handler answered "later"):
         * the connection waits for it even after the peer's EOF. */
        bool deferred;
        uint32_t events;   /* currently registered epoll events */
};

struct server {
        int epoll_fd;
        /* The priority listener and its connections, served by their own
         * thread; stop_fd (an eventfd) ends it. */
        int priority_epoll_fd;
        int stop_fd;
        pthread_t priority_thread;
        bool priority_running;
        int signal_fd;
        listener main;
        listener priority;
        int n_listen_fds;  /* sockets passed by systemd */
        int claimed_fd;    /* the passed fd the main listener took, or -1 */
        sigset_t old_mask;
        bool mask_set;
        server_handlers handlers;
        void *userdata;
        int tags[N_TAGS];
        bool quit;
        /* server_watch_fd's descriptor and its handler. */
        void (*watched)(void *userdata);
        void *watched_userdata;
};

/* Removes a socket file left by a daemon that died, but never a live one or
 * anything that is not a socket. */
static int remove_stale_socket(const struct sockaddr_un *addr, char **ret_error) {
        struct stat st;
        int fd, r;

        if (lstat(addr->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode)) {
                format_error(ret_error, "%s exists and is not a socket; refusing to replace it", addr->sun_path);
                return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *) addr, sizeof *addr);
        close(fd);
        if (r == 0) {
                format_error(ret_error, "%s is in use by another running daemon", addr->sun_path);
                return -EADDRINUSE;
        }
        if (unlink(addr->sun_path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int bind_socket(listener *l, const char *path, char **ret_error) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        mode_t old_umask;
        int fd = -1, r;

        if (strlen(path) >= sizeof addr.sun_path) {
                format_error(ret_error, "Socket path %s is too long", path);
                return -ENAMETOOLONG;
        }
        strcpy(addr.sun_path, path);
        r = mkdir_parent(path, 0755);
        if (r < 0) {
                format_error(ret_error, "Failed to create the directory of %s: %s", path, strerror(-r));
                return r;
        }
        r = remove_stale_socket(&addr, ret_error);
        if (r < 0) {
                if (ret_error && !*ret_error)
                        format_error(ret_error, "Failed to remove stale socket %s: %s", path, strerror(-r));
                return r;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = -errno;
                format_error(ret_error, "Failed to create socket: %s", strerror(errno));
                return r;
        }
        /* Every local user may connect (Status, own sessions; the userdb
         * socket is public like /etc/group); each call is authorized from
         * SO_PEERCRED instead. */
        old_umask = umask(0111);
        r = bind(fd, (const struct sockaddr *) &addr, sizeof addr);
        umask(old_umask);
        if (r < 0 || chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                format_error(ret_error, "Failed to listen on %s: %s", path, strerror(errno));
                close(fd);
                return r;
        }
        l->bound_path = strdup(path);
        if (!l->bound_path) {
                close(fd);
                unlink(path);
                return -ENOMEM;
        }
        l->fd = fd;
        return 0;
}

/* The socket systemd passed for path, or -1. Matching by path lets the
 * unit list the main and the userdb socket in either order. */
static int passed_fd_for(const server *s, const char *path) {
        for (int i = 0; i < s->n_listen_fds; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                if (fd != s->claimed_fd && sd_is_socket_unix(fd, SOCK_STREAM, 1, path, 0) > 0)
                        return fd;
        }
        return -1;
}

/* Takes the passed socket for path or binds it. For the main listener
 * (fallback_first), a single passed socket that does not match the path is
 * taken anyway, as before the userdb socket existed. */
static int setup_listener(server *s, listener *l, const char *path, bool fallback_first, char **ret_error) {
        int fd = passed_fd_for(s, path);

        if (fd < 0 && fallback_first && s->n_listen_fds > 0) {
                fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
                        format_error(ret_error, "The socket passed by systemd is not a listening Unix stream socket");
                        return -EINVAL;
                }
        }
        if (fd < 0)
                return bind_socket(l, path, ret_error);
        l->fd = fd;
        l->activated = true;
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static void listener_init(listener *l, int epoll_fd,
                          json_t *(*call)(void *, const struct ucred *, const char *, json_t *, bool), void *userdata,
                          const char *invalid_parameter_error, const server_limits *limits, unsigned idle_timeout_ms) {
        l->epoll_fd = epoll_fd;
        l->call = call;
        l->userdata = userdata;
        l->invalid_parameter_error = invalid_parameter_error ? invalid_parameter_error : "io.enrich.InvalidParameter";
        l->max_connections = limits->max_connections ? limits->max_connections : SERVER_MAX_CONNECTIONS;
        l->root_reserve = limits->root_reserve ? limits->root_reserve : SERVER_ROOT_RESERVE;
        if (l->root_reserve >= l->max_connections)
                l->root_reserve = l->max_connections / 4;
        l->max_per_uid = limits->max_per_uid ? limits->max_per_uid : SERVER_MAX_PER_UID;
        l->idle_timeout_ms = idle_timeout_ms ? idle_timeout_ms : SERVER_IDLE_TIMEOUT_MS;
}

static void listener_close(listener *l) {
        if (l->fd >= 0)
                close(l->fd);
        l->fd = -1;
        if (l->bound_path) {
                /* Only the file we created: a socket-activated one belongs
                 * to systemd. */
                (void) unlink(l->bound_path);
                free(l->bound_path);
                l->bound_path = NULL;
        }
}

static void limits_default(server_limits *l) {
        if (!l->max_connections)
                l->max_connections = SERVER_MAX_CONNECTIONS;
        if (!l->root_reserve)
                l->root_reserve = SERVER_ROOT_RESERVE;
        if (!l->max_per_uid)
                l->max_per_uid = SERVER_MAX_PER_UID;
}

static void limits_clamp(server_limits *l) {
        if (l->root_reserve > l->max_connections / 4)
                l->root_reserve = l->max_connections / 4;
        if (l->max_per_uid > l->max_connections - l->root_reserve)
                l->max_per_uid = l->max_connections - l->root_reserve;
}

int server_fit_limits(unsigned long long nofile, server_limits *main_limits, server_limits *priority_limits) {
        unsigned long long budget, wanted;

        limits_default(main_limits);
        limits_default(priority_limits);
        if (nofile < SERVER_FD_HEADROOM + 2 * SERVER_MIN_CONNECTIONS)
                return -EMFILE;
        budget = nofile - SERVER_FD_HEADROOM;
        wanted = (unsigned long long) main_limits->max_connections + priority_limits->max_connections;
        if (wanted > budget) {
                main_limits->max_connections = (unsigned) (budget * main_limits->max_connections / wanted);
                if (main_limits->max_connections < SERVER_MIN_CONNECTIONS)
                        main_limits->max_connections = SERVER_MIN_CONNECTIONS;
                if (budget - main_limits->max_connections < priority_limits->max_connections)
                        priority_limits->max_connections = (unsigned) (budget - main_limits->max_connections);
                if (priority_limits->max_connections < SERVER_MIN_CONNECTIONS) {
                        priority_limits->max_connections = SERVER_MIN_CONNECTIONS;
                        main_limits->max_connections = (unsigned) (budget - SERVER_MIN_CONNECTIONS);
                }
        }
        limits_clamp(main_limits);
        limits_clamp(priority_limits);
        return 0;
}

int server_new(const char *socket_path, const server_handlers *handlers, void *userdata, server **ret,
               char **ret_error) {
        server *s;
        sigset_t mask;
        struct epoll_event ev = { .events = EPOLLIN };
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->epoll_fd = s->priority_epoll_fd = s->stop_fd = s->signal_fd = s->claimed_fd = -1;
        s->main.fd = s->priority.fd = -1;
        s->handlers = *handlers;
        s->userdata = userdata;
        for (int i = 0; i < N_TAGS; i++)
                s->tags[i] = i;

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, &s->old_mask) < 0) {
                r = -errno;
                goto out;
        }
        s->mask_set = true;
        /* Peers that vanish must not kill us; sends use MSG_NOSIGNAL too. */
        signal(SIGPIPE, SIG_IGN);
        s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (s->signal_fd < 0 || s->epoll_fd < 0) {
                r = -errno;
                format_error(ret_error, "Failed to set up the event loop: %s", strerror(errno));
                goto out;
        }
        listener_init(&s->main, s->epoll_fd, handlers->call, userdata, NULL, &handlers->limits, 0);
        s->main.read_on_accept = true;
        s->main.accept_batch = ACCEPT_BATCH;
        s->main.call_pending = handlers->call_pending;
        s->main.commit = handlers->commit;
        /* Asked once: sd_listen_fds(1) unsets the variables, and the
         * userdb listener added later picks from the same sockets. */
        s->n_listen_fds = sd_listen_fds(1);
        if (s->n_listen_fds < 0) {
                r = s->n_listen_fds;
                format_error(ret_error, "Failed to get sockets from systemd: %s", strerror(-r));
                goto out;
        }
        r = setup_listener(s, &s->main, socket_path, true, ret_error);
        if (r < 0)
                goto out;
        if (s->main.activated)
                s->claimed_fd = s->main.fd;
        ev.data.ptr = &s->tags[TAG_LISTEN];
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->main.fd, &ev) < 0) {
                r = -errno;
                goto out;
        }
        ev.data.ptr = &s->tags[TAG_SIGNAL];
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->signal_fd, &ev) < 0) {
                r = -errno;
                goto out;
        }
        *ret = s;
        s = NULL;
        r = 0;
out:
        if (r < 0 && ret_error && !*ret_error)
                format_error(ret_error, "Failed to set up the server: %s", strerror(-r));
        server_free(s);
        return r;
}

int server_add_priority_listener(server *s, const char *socket_path, const server_listener *options, void *userdata,
                                 char **ret_error) {
        struct epoll_event ev = { .events = EPOLLIN };
        int r;

        if (s->priority.call)
                return -EBUSY;
        s->priority_epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->priority_epoll_fd < 0 || s->stop_fd < 0) {
                r = -errno;
                format_error(ret_error, "Failed to set up the event loop: %s", strerror(errno));
                return r;
        }
        listener_init(&s->priority, s->priority_epoll_fd, options->call, userdata, options->invalid_parameter_error,
                      &options->limits, options->idle_timeout_ms);
        /* nss-systemd makes a connection per call, one at a time, so the
         * userdb thread usually wakes for one connection: a batch would end
         * every wake-up with an accept4 that finds none. One per readiness
         * instead (epoll reports the socket again while more wait), and a
         * caller that hung up is closed without the read that would only
         * see its end: every userdb call is a read of the snapshot. */
        s->priority.accept_batch = 1;
        s->priority.drop_on_hangup = true;
        r = setup_listener(s, &s->priority, socket_path, false, ret_error);
        if (r < 0)
                return r;
        ev.data.ptr = &s->tags[TAG_PRIORITY_LISTEN];
        if (epoll_ctl(s->priority_epoll_fd, EPOLL_CTL_ADD, s->priority.fd, &ev) < 0)
                return -errno;
        ev.data.ptr = &s->tags[TAG_PRIORITY_STOP];
        if (epoll_ctl(s->priority_epoll_fd, EPOLL_CTL_ADD, s->stop_fd, &ev) < 0)
                return -errno;
        return 0;
}

size_t server_connection_count(const server *s) {
        return s->main.n_connections;
}

bool server_socket_activated(const server *s) {
        return s->main.activated;
}

bool server_priority_socket_activated(const server *s) {
        return s->priority.activated;
}

static int class_of(const uid_share *u) {
        return u->uid == 0 ? CLASS_ROOT : CLASS_USERS;
}

/* The share of uid on l, created (with no connections) when create is
 * set; NULL when there is none or out of memory. */
static uid_share *uid_share_get(listener *l, uid_t uid, bool create) {
        uid_share *u;

        for (u = l->uids; u; u = u->next)
                if (u->uid == uid)
                        return u;
        if (!create)
                return NULL;
        u = calloc(1, sizeof *u);
        if (!u)
                return NULL;
        u->uid = uid;
        u->next = l->uids;
        l->uids = u;
        return u;
}

static void uid_share_release(listener *l, uid_share *u) {
        uid_share **p;

        if (!u || u->n_connections > 0 || u->queued)
                return;
        for (p = &l->uids; *p; p = &(*p)->next)
                if (*p == u) {
                        *p = u->next;
                        break;
                }
        free(u);
}

static void queue_push(listener *l, uid_share *u) {
        int k = class_of(u);

        u->queue_next = NULL;
        u->queue_prev = l->queue_last[k];
        if (u->queue_prev)
                u->queue_prev->queue_next = u;
        else
                l->queue_first[k] = u;
        l->queue_last[k] = u;
        u->queued = true;
}

static void queue_remove(listener *l, uid_share *u) {
        int k = class_of(u);

        if (u->queue_prev)
                u->queue_prev->queue_next = u->queue_next;
        else
                l->queue_first[k] = u->queue_next;
        if (u->queue_next)
                u->queue_next->queue_prev = u->queue_prev;
        else
                l->queue_last[k] = u->queue_prev;
        u->queue_prev = u->queue_next = NULL;
        u->queued = false;
}

/* Puts c at the end of its uid's turn order, and the uid in its class's
 * queue if it was not waiting already. */
static void ready_push(connection *c) {
        uid_share *u = c->share;

        c->ready_next = NULL;
        c->ready_prev = u->ready_last;
        if (c->ready_prev)
                c->ready_prev->ready_next = c;
        else
                u->ready_first = c;
        u->ready_last = c;
        c->ready = true;
        if (!u->queued)
                queue_push(c->owner, u);
}

/* Takes c out of the turn order; a uid left with nothing to serve leaves
 * its class's queue. */
static void ready_remove(connection *c) {
        uid_share *u = c->share;

        if (!c->ready)
                return;
        if (c->ready_prev)
                c->ready_prev->ready_next = c->ready_next;
        else
                u->ready_first = c->ready_next;
        if (c->ready_next)
                c->ready_next->ready_prev = c->ready_prev;
        else
                u->ready_last = c->ready_prev;
        c->ready_prev = c->ready_next = NULL;
        c->ready = false;
        if (!u->ready_first && u->queued)
                queue_remove(c->owner, u);
}

static void connection_free(server *s, connection *c) {
        if (c->stream && s->handlers.stream_closed)
                s->handlers.stream_closed(s->userdata, c->stream);
        if (c->share) {
                ready_remove(c);
                c->share->n_connections--;
                uid_share_release(c->owner, c->share);
        }
        if (c->prev)
                c->prev->next = c->next;
        else
                c->owner->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->owner->n_connections--;
        if (c->peer.uid != 0)
                c->owner->n_others--;
        /* The fd is never dup'd, so closing it takes it out of epoll. */
        if (c->fd >= 0)
                close(c->fd);
        varlink_buffer_free(&c->input);
        for (size_t i = 0; i < c->n_held; i++)
                json_decref(c->held[i].reply);
        free(c->held);
        free(c->output);
        free(c);
}

/* Appends an encoded reply to the output queue. A reply too large to send is
 * replaced by an error, so the caller still gets an answer. */
static int queue_reply(connection *c, json_t *reply) {
        int r;

        if (c->hung_up)
                return 0;
        if (c->output_sent > 0 && c->output_sent == c->output_len)
                c->output_len = c->output_sent = 0;
        /* Serialized straight into the output queue. */
        r = varlink_encode_append(reply, &c->output, &c->output_len, &c->output_allocated);
        if (r == -EMSGSIZE) {
                json_t *e = varlink_error_new("io.enrich.InternalError",
                                              json_pack("{s:s}", "reason", "reply too large"));
                r = e ? varlink_encode_append(e, &c->output, &c->output_len, &c->output_allocated) : -ENOMEM;
                json_decref(e);
        }
        return r;
}

static void queue_error_and_close(connection *c, const char *parameter, const char *reason) {
        json_t *e = varlink_error_new(c->owner->invalid_parameter_error,
                                      json_pack("{s:s, s:s}", "parameter", parameter, "reason", reason));
        if (e)
                (void) queue_reply(c, e);
        json_decref(e);
        c->closing = true;
}

/* Logs what a client did (what: a constant message), within the limits
 * above. */
static void log_client(const connection *c, int priority, const char *what) {
        listener *l = c->owner;
        client_log_limit *e = NULL, *oldest = NULL;
        int64_t now = host_now_ms() / 1000;
        unsigned suppressed, others;
        char pid[32], uid[32], more[64] = "", other[64] = "";

        for (size_t i = 0; !e && i < ARRAY_SIZE(l->log_limits); i++) {
                client_log_limit *x = &l->log_limits[i];

                if (x->what && x->uid == c->peer.uid && strcmp(x->what, what) == 0)
                        e = x;
                else if (!oldest || !x->what || (oldest->what && x->second < oldest->second))
                        oldest = x;
        }
        if (!e) {
                /* Taking a slot over: what it held back is still said,
                 * as other clients' lines. */
                e = oldest;
                l->log_suppressed += e->suppressed;
                *e = (client_log_limit) { .what = what, .uid = c->peer.uid, .second = INT64_MIN };
        }
        if (l->log_second != now) {
                l->log_second = now;
                l->log_lines = 0;
        }
        if (e->second == now || l->log_lines >= CLIENT_LOG_PER_SECOND) {
                e->suppressed++;
                return;
        }
        suppressed = e->suppressed;
        others = l->log_suppressed;
        e->second = now;
        e->suppressed = 0;
        l->log_suppressed = 0;
        l->log_lines++;
        if (suppressed > 0)
                snprintf(more, sizeof more, " (%u more suppressed)", suppressed);
        if (others > 0)
                snprintf(other, sizeof other, " (%u lines about other clients suppressed)", others);
        snprintf(pid, sizeof pid, "%d", (int) c->peer.pid);
        snprintf(uid, sizeof uid, "%u", (unsigned) c->peer.uid);
        log_struct(priority, LOG_MSGID_CLIENT,
                   (const char *[]) { "ENRICH_PEER_PID", pid, "ENRICH_PEER_UID", uid, NULL },
                   "Client pid %s uid %s: %s%s%s", pid, uid, what, more, other);
}

/* Queues a handler's answer: an object is one reply, an array a stream of
 * replies in order (the handler sets "continues" on all but the last). */
static int queue_replies(connection *c, json_t *reply) {
        size_t i;
        json_t *item;
        int r;

        if (!json_is_array(reply))
                return queue_reply(c, reply);
        json_array_foreach(reply, i, item) {
                r = queue_reply(c, item);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Keeps reply (a new reference taken) until the end of the turn. */
static int hold_reply(connection *c, json_t *reply, bool batched) {
        if (c->n_held == c->held_allocated) {
                size_t n = c->held_allocated ? 2 * c->held_allocated : 4;
                held_reply *grown = realloc(c->held, n * sizeof *grown);
                if (!grown)
                        return -ENOMEM;
                c->held = grown;
                c->held_allocated = n;
        }
        if (c->n_held == 0) {
                c->held_next = c->owner->held_first;
                c->owner->held_first = c;
        }
        c->held[c->n_held++] = (held_reply) { .reply = json_incref(reply), .batched = batched };
        return 0;
}

/* Whether reply (or a stream's last reply) leaves its call open. */
static bool stays_open(json_t *reply) {
        if (json_is_array(reply))
                reply = json_array_get(reply, json_array_size(reply) - 1);
        return json_is_true(json_object_get(reply, "continues"));
}

/* One call message: checks its shape, dispatches it, queues the reply unless
 * it is oneway. A message that is not a call closes the connection. */
static void handle_message(server *s, connection *c, json_t *msg) {
        json_t *method = json_object_get(msg, "method");
        json_t *params = json_object_get(msg, "parameters");
        json_t *more = json_object_get(msg, "more");
        json_t *oneway = json_object_get(msg, "oneway");
        json_t *empty = NULL, *reply = NULL;

        if (!json_is_string(method) || (params && !json_is_object(params) && !json_is_null(params)) ||
            (more && !json_is_boolean(more)) || (oneway && !json_is_boolean(oneway))) {
                log_client(c, LOG_WARNING, "sent a message that is not a varlink call; closing");
                queue_error_and_close(c, "method",
                                      "not a varlink call: need a string \"method\" and an object \"parameters\"");
                return;
        }
        if (!json_is_object(params))
                params = empty = json_object();
        if (!params) {
                c->dead = true;
                return;
        }
        c->owner->call_id = ++c->owner->last_call_id;
        /* A oneway call gets no replies, so it cannot be a "more" one: a
         * handler that opened a stream for it (an audit follow's slot)
         * would hold what no connection will ever end. */
        reply = c->owner->call(c->owner->userdata, &c->peer, json_string_value(method), params,
                               json_is_true(more) && !json_is_true(oneway));
        c->owner->call_id = 0;
        c->owner->turn_calls++;
        if (reply && json_is_true(more) && !json_is_true(oneway) && stays_open(reply))
                c->stream = c->owner->last_call_id;
        if (json_is_null(reply)) {
                /* Answered later (server_stream_push); a oneway call's
                 * answer goes nowhere, so nothing waits for it. */
                if (!json_is_true(oneway)) {
                        c->stream = c->owner->last_call_id;
                        c->deferred = true;
                }
        } else if (!reply)
                c->dead = true;
        else if (!json_is_true(oneway)) {
                /* A reply whose call wrote into the batch is sent only once
                 * the batch is committed (the end of the turn). */
                bool batched = c->owner->call_pending && c->owner->call_pending(c->owner->userdata);
                int r = batched || c->n_held > 0 ? hold_reply(c, reply, batched) : queue_replies(c, reply);
                if (r < 0)
                        c->dead = true;
        }
        json_decref(reply);
        json_decref(empty);
}

static bool output_pending(const connection *c) {
        return c->output_sent < c->output_len;
}

/* Whether a complete call waits in the input buffer. */
static bool has_call(const connection *c) {
        return varlink_buffer_has_message(&c->input);
}

/* Answers c's buffered calls, at least one and at most max_calls, until
 * until_us (clock_monotonic_us()) has passed, the input holds no complete call, the
 * output queue is past the high-water mark or the connection is closing.
 * Returns how many messages it took. */
static unsigned serve_connection(server *s, connection *c, int64_t until_us, unsigned max_calls) {
        unsigned n = 0;

        /* A call left open (c->stream) is the last served until it ends:
         * replies to later calls would go out among its own. */
        while (n < max_calls && !c->closing && !c->dead && !c->stream &&
               c->output_len - c->output_sent < SERVER_OUTPUT_HIGH_WATER) {
                json_t *msg = NULL;
                int r = varlink_buffer_take(&c->input, &msg);
                if (r == 0)
                        break;
                n++;
                if (r < 0) {
                        log_client(c, LOG_WARNING, "sent malformed JSON; closing its connection");
                        queue_error_and_close(c, "message", "message is not a valid JSON object");
                        break;
                }
                handle_message(s, c, msg);
                json_decref(msg);
                if (clock_monotonic_us() >= until_us)
                        break;
        }
        /* Waiting in the queue is not idleness. */
        c->deadline_ms = host_now_ms() + c->owner->idle_timeout_ms;
        return n;
}

static void flush_output(connection *c) {
        while (c->output_sent < c->output_len) {
                ssize_t n = send(c->fd, c->output + c->output_sent, c->output_len - c->output_sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EPIPE || errno == ECONNRESET) {
                                /* The peer closed without reading its
                                 * replies: what it sent before closing
                                 * is still read and served (a oneway
                                 * EndSession after other calls), only
                                 * the answers go nowhere. */
                                c->hung_up = true;
                                break;
                        }
                        if (errno != EAGAIN)
                                c->dead = true;
                        return;
                }
                c->output_sent += (size_t) n;
        }
        c->output_len = c->output_sent = 0;
}

/* Where c stands after anything happened to it: in its uid's turn order
 * while it has a call to serve and room for the answer; reading while
 * less than SERVER_INPUT_HIGH_WATER is buffered (so input stays bounded and
 * the kernel's socket buffer pushes back on the client); writing while
 * output is queued. A connection whose peer sent everything it will and
 * has nothing left to serve closes once its output is flushed. */
static void connection_update(server *s, connection *c) {
        uint32_t want = 0;
        bool serve;

        if (c->dead) {
                ready_remove(c);
                return;
        }
        if (c->eof && (!has_call(c) || c->stream) && !c->deferred)
                c->closing = true;
        serve = !c->closing && !c->stream && c->output_len - c->output_sent < SERVER_OUTPUT_HIGH_WATER && has_call(c);
        if (serve && !c->ready)
                ready_push(c);
        else if (!serve)
                ready_remove(c);
        if (output_pending(c))
                want |= EPOLLOUT;
        else if (c->closing && c->n_held == 0) {
                c->dead = true;
                return;
        }
        if (!c->closing && !c->eof && varlink_buffer_pending(&c->input) < SERVER_INPUT_HIGH_WATER)
                want |= EPOLLIN;
        if (want != c->events) {
                struct epoll_event ev = { .events = want, .data.ptr = c };
                if (epoll_ctl(c->owner->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
                        c->dead = true;
                        ready_remove(c);
                } else
                        c->events = want;
        }
}

/* Buffers one chunk of input; serving it is left to the turn. */
static void connection_readable(server *s, connection *c) {
        char buf[READ_CHUNK];
        ssize_t n;
        int r;

        if (c->eof || c->closing || varlink_buffer_pending(&c->input) >= SERVER_INPUT_HIGH_WATER)
                goto out;
        n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == ECONNRESET) {
                /* The peer closed with our replies unread: everything it
                 * sent was read before this error, and is still served
                 * (a oneway EndSession after calls whose answers it
                 * never reads); only the answers go nowhere. */
                c->eof = c->hung_up = true;
                goto out;
        }
        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        c->dead = true;
                goto out;
        }
        c->deadline_ms = host_now_ms() + c->owner->idle_timeout_ms;
        if (n == 0)
                /* The peer will send nothing more; what it sent is still
                 * answered. */
                c->eof = true;
        else {
                r = varlink_buffer_append(&c->input, buf, (size_t) n);
                if (r == -EMSGSIZE) {
                        log_client(c, LOG_WARNING, "sent a message larger than the limit; closing");
                        queue_error_and_close(c, "message", "message exceeds the maximum size of 65536 bytes");
                        flush_output(c);
                } else if (r < 0)
                        c->dead = true;
        }
out:
        connection_update(s, c);
}

static void connection_writable(server *s, connection *c) {
        c->deadline_ms = host_now_ms() + c->owner->idle_timeout_ms;
        flush_output(c);
        /* Calls that waited for the queue to drain are served again. */
        connection_update(s, c);
}

/* Accepts one connection: 1, or 0 when none is waiting (or on an error
 * that ends this batch). */
static int accept_connection(server *s, listener *l) {
        struct epoll_event ev = { .events = EPOLLIN };
        socklen_t len = sizeof(struct ucred);
        connection *c = NULL;
        uid_share *u = NULL;
        int fd;

        fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
                if (errno == ECONNABORTED || errno == EINTR)
                        return 1;
                if (errno != EAGAIN)
                        log_error_errno(-errno, "Failed to accept a connection");
                return 0;
        }
        c = calloc(1, sizeof *c);
        if (!c)
                goto refuse;
        c->fd = fd;
        c->owner = l;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
                log_error_errno(-errno, "Failed to read peer credentials");
                goto refuse;
        }
        /* Refusing by closing: the limits protect the daemon, and a caller
         * sees a clean EOF instead of a hang. Each listener counts its own,
         * so a flood on the main socket never locks NSS callers out. The
         * other uids together stop short of the total by root's reserve,
         * so no number of them can lock root out. */
        if (l->n_connections >= l->max_connections ||
            (c->peer.uid != 0 && l->n_others >= l->max_connections - l->root_reserve)) {
                log_client(c, LOG_WARNING, "refused: too many connections");
                goto refuse;
        }
        /* Root is exempt from the per-uid cap (the total cap still holds):
         * every PAM login is a root client, so capping root would leave
         * concurrent logins past the cap without claims. */
        u = uid_share_get(l, c->peer.uid, false);
        if (c->peer.uid != 0 && u && u->n_connections >= l->max_per_uid) {
                log_client(c, LOG_WARNING, "refused: too many connections from this uid");
                goto refuse;
        }
        if (!u)
                u = uid_share_get(l, c->peer.uid, true);
        if (!u)
                goto refuse;
        varlink_buffer_init(&c->input);
        c->deadline_ms = host_now_ms() + l->idle_timeout_ms;
        c->events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                log_error_errno(-errno, "Failed to watch a connection");
                goto refuse;
        }
        c->share = u;
        u->n_connections++;
        c->next = l->connections;
        if (c->next)
                c->next->prev = c;
        l->connections = c;
        l->n_connections++;
        if (c->peer.uid != 0)
                l->n_others++;
        /* A PAM login writes its call right after connecting, usually
         * long before it is accepted: read it now, so it is served in this
         * turn, not after another turn of everyone else's calls. On the
         * userdb socket the thread is idle and wakes on the connect itself,
         * before nss-systemd writes: that read would always find nothing,
         * and the call's arrival wakes the thread anyway. */
        if (l->read_on_accept)
                connection_readable(s, c);
        return 1;
refuse:
        uid_share_release(l, u);
        close(fd);
        free(c);
        return 1;
}

static void handle_signal(server *s) {
        struct signalfd_siginfo info;

        while (read(s->signal_fd, &info, sizeof info) == (ssize_t) sizeof info) {
                if (info.ssi_signo == SIGHUP) {
                        if (s->handlers.reload)
                                s->handlers.reload(s->userdata);
                } else {
                        log_info("Received %s, shutting down", strsignal((int) info.ssi_signo));
                        s->quit = true;
                }
        }
}

/* Closes l's dead connections and those idle past their deadline; returns
 * the milliseconds until the next deadline (-1: none). */
static int sweep(server *s, listener *l) {
        int64_t now = host_now_ms(), next = -1;
        connection *c = l->connections, *following;

        for (; c; c = following) {
                following = c->next;
                if (c->stream)
                        c->deadline_ms = now + c->owner->idle_timeout_ms;
                if (!c->dead && c->deadline_ms <= now) {
                        log_client(c, LOG_INFO, "idle for too long; closing");
                        c->dead = true;
                }
                if (c->dead) {
                        connection_free(s, c);
                        continue;
                }
                if (next < 0 || c->deadline_ms - now < next)
                        next = c->deadline_ms - now;
        }
        return next < 0 ? -1 : (int) (next + 1);
}

/* Runs the tick when it is due; returns the milliseconds until the next
 * one (-1: no tick). Ticks missed while busy are not made up: the tick
 * works from the current time. */
static int run_tick(server *s, int64_t *next_tick) {
        int64_t now;

        if (!s->handlers.tick || s->handlers.tick_ms == 0)
                return -1;
        now = host_now_ms();
        if (now >= *next_tick) {
                s->handlers.tick(s->userdata);
                now = host_now_ms();
                *next_tick = now + s->handlers.tick_ms;
        }
        return (int) (*next_tick - now);
}

static void dispatch(server *s, const struct epoll_event *event) {
        void *p = event->data.ptr;

        if (p == &s->tags[TAG_LISTEN] || p == &s->tags[TAG_PRIORITY_LISTEN]) {
                listener *l = p == &s->tags[TAG_LISTEN] ? &s->main : &s->priority;
                for (unsigned i = 0; i < l->accept_batch && accept_connection(s, l) > 0; i++)
                        ;
        } else if (p == &s->tags[TAG_SIGNAL])
                handle_signal(s);
        else if (p == &s->tags[TAG_WATCHED])
                s->watched(s->watched_userdata);
        else {
                connection *c = p;
                /* Freed connections stay allocated until the sweep, so
                 * later events of this batch are safe. */
                if (c->dead)
                        return;
                /* EPOLLHUP: the peer closed (or shut down both ways) and
                 * reads no reply. */
                if ((event->events & EPOLLHUP) && c->owner->drop_on_hangup) {
                        c->dead = true;
                        connection_update(s, c);
                        return;
                }
                if (event->events & EPOLLIN)
                        connection_readable(s, c);
                else if (event->events & (EPOLLERR | EPOLLHUP)) {
                        /* The peer is gone while we were not reading from it:
                         * calls it sent that are already buffered are still
                         * served (their answers go nowhere), the rest dropped. */
                        if (!c->ready)
                                c->dead = true;
                }
                if (event->events & EPOLLOUT && !c->dead)
                        connection_writable(s, c);
        }
}

/* Serves one uid's connections round robin, each for at most its quantum,
 * until max_calls calls were served, until has passed or nothing is left. */
static void serve_uid(server *s, uid_share *u, int64_t until, unsigned max_calls) {
        unsigned calls = 0;

        while (u->ready_first && calls < max_calls) {
                connection *c = u->ready_first;
                int64_t c_until = clock_monotonic_us() + SERVER_CONNECTION_QUANTUM_US;
                unsigned max = max_calls - calls;

                if (max > SERVER_CONNECTION_QUANTUM_CALLS)
                        max = SERVER_CONNECTION_QUANTUM_CALLS;
                /* Out of the turn order while it is served; back in at the
                 * end (connection_update) if calls are left. */
                ready_remove(c);
                calls += serve_connection(s, c, c_until < until ? c_until : until, max);
                flush_output(c);
                connection_update(s, c);
                if (clock_monotonic_us() >= until)
                        break;
        }
}

/* Each uid of one class that was waiting when the turn began gets its
 * quantum once, in queue order, until turn_end; a uid served goes to the
 * end of the queue. Root (a class of its own) may use the whole turn. */
static void serve_class(server *s, listener *l, int k, int64_t turn_end) {
        size_t n = 0;

        for (uid_share *u = l->queue_first[k]; u; u = u->queue_next)
                n++;
        while (n-- > 0 && l->queue_first[k] && clock_monotonic_us() < turn_end) {
                uid_share *u = l->queue_first[k];
                int64_t until = clock_monotonic_us() + SERVER_UID_QUANTUM_US;

                if (k == CLASS_ROOT)
                        serve_uid(s, u, turn_end, UINT_MAX);
                else
                        serve_uid(s, u, until < turn_end ? until : turn_end, SERVER_UID_QUANTUM_CALLS);
                if (u->queued) {
                        queue_remove(l, u);
                        queue_push(l, u);
                }
        }
}

/* The end of a turn that served calls: the turn's writes are committed
 * (l->commit), then the held replies go out, those of calls that wrote
 * into a batch that was lost replaced by the commit's error. */
static void release_held(server *s, listener *l) {
        json_t *failure = NULL;

        if (l->turn_calls == 0 || !l->commit)
                return;
        l->turn_calls = 0;
        failure = l->commit(l->userdata);
        while (l->held_first) {
                connection *c = l->held_first;

                l->held_first = c->held_next;
                c->held_next = NULL;
                for (size_t i = 0; i < c->n_held; i++) {
                        json_t *reply = failure && c->held[i].batched ? failure : c->held[i].reply;

                        if (!c->dead && queue_replies(c, reply) < 0)
                                c->dead = true;
                        json_decref(c->held[i].reply);
                }
                c->n_held = 0;
                if (!c->dead)
                        flush_output(c);
                connection_update(s, c);
        }
        json_decref(failure);
}

/* One turn's service of l: root first, then everyone else, each class for
 * at most SERVER_TURN_BUDGET_US. Each class's writes are committed and its
 * held replies go out before the next class is served: a PAM login's reply
 * never waits for the users' share of the turn. */
static void serve_turn(server *s, listener *l) {
        serve_class(s, l, CLASS_ROOT, clock_monotonic_us() + SERVER_TURN_BUDGET_US);
        release_held(s, l);
        serve_class(s, l, CLASS_USERS, clock_monotonic_us() + SERVER_TURN_BUDGET_US);
        release_held(s, l);
}

static bool listener_busy(const listener *l) {
        for (int k = 0; k < N_CLASSES; k++)
                if (l->queue_first[k])
                        return true;
        return false;
}

/* The priority listener's loop, on its own thread, until stop_fd is
 * written. The thread inherits the main thread's blocked signals, so
 * signals go to the main loop's signalfd. */
static void *priority_loop(void *userdata) {
        server *s = userdata;
        struct epoll_event events[MAX_EVENTS];

        for (;;) {
                int timeout = sweep(s, &s->priority);
                int n = epoll_wait(s->priority_epoll_fd, events, MAX_EVENTS, listener_busy(&s->priority) ? 0 : timeout);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error_errno(-errno, "epoll_wait failed on the userdb socket");
                        return NULL;
                }
                for (int i = 0; i < n; i++) {
                        if (events[i].data.ptr == &s->tags[TAG_PRIORITY_STOP])
                                return NULL;
                        dispatch(s, &events[i]);
                }
                serve_turn(s, &s->priority);
        }
}

int server_watch_fd(server *s, int fd, void (*handler)(void *userdata), void *userdata) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->tags[TAG_WATCHED] };

        if (s->watched)
                return -EBUSY;
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        s->watched = handler;
        s->watched_userdata = userdata;
        return 0;
}

int server_run(server *s) {
        struct epoll_event events[MAX_EVENTS];
        int64_t next_tick = host_now_ms() + s->handlers.tick_ms;
        int r;

        if (s->priority.call && !s->priority_running) {
                r = pthread_create(&s->priority_thread, NULL, priority_loop, s);
                if (r != 0) {
                        log_error_errno(-r, "Failed to start the userdb thread");
                        return -r;
                }
                s->priority_running = true;
        }
        while (!s->quit) {
                int timeout = sweep(s, &s->main);
                int tick_timeout = run_tick(s, &next_tick);
                /* After the turn's commit and the tick: what they stored
                 * may go out to open calls (server_stream_push). */
                bool streaming = s->handlers.after_turn && s->handlers.after_turn(s->userdata);
                int n;

                if (tick_timeout >= 0 && (timeout < 0 || tick_timeout < timeout))
                        timeout = tick_timeout;
                /* Calls waiting: look at the sockets and go on serving. */
                if (listener_busy(&s->main) || streaming)
                        timeout = 0;
                n = epoll_wait(s->epoll_fd, events, MAX_EVENTS, timeout);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error_errno(-errno, "epoll_wait failed");
                        return -errno;
                }
                for (int i = 0; i < n; i++)
                        dispatch(s, &events[i]);
                serve_turn(s, &s->main);
        }
        return 0;
}

uint64_t server_call_id(const server *s) {
        return s->main.call_id;
}

int server_stream_push(server *s, uint64_t id, json_t *reply) {
        connection *c = s->main.connections;
        int r;

        while (c && (c->stream != id || c->dead))
                c = c->next;
        if (!c || id == 0)
                return -ENOENT;
        c->deferred = false;
        r = queue_replies(c, reply);
        if (r < 0) {
                c->dead = true;
                return r;
        }
        if (!stays_open(reply))
                c->stream = 0;
        flush_output(c);
        /* A caller that does not read its stream is held to the output
         * limit of any connection, and then let go. */
        if (!c->dead && c->output_len - c->output_sent > SERVER_OUTPUT_HIGH_WATER) {
                log_client(c, LOG_WARNING, "does not read the replies of its open call; closing");
                c->dead = true;
        }
        connection_update(s, c);
        return c->dead ? -ENOBUFS : 0;
}

void server_free(server *s) {
        if (!s)
                return;
        if (s->priority_running) {
                uint64_t one = 1;
                if (write(s->stop_fd, &one, sizeof one) == (ssize_t) sizeof one)
                        pthread_join(s->priority_thread, NULL);
                else
                        log_error_errno(-errno, "Failed to stop the userdb thread");
        }
        while (s->main.connections)
                connection_free(s, s->main.connections);
        while (s->priority.connections)
                connection_free(s, s->priority.connections);
        listener_close(&s->main);
        listener_close(&s->priority);
        if (s->priority_epoll_fd >= 0)
                close(s->priority_epoll_fd);
        if (s->stop_fd >= 0)
                close(s->stop_fd);
        if (s->signal_fd >= 0)
                close(s->signal_fd);
        if (s->epoll_fd >= 0)
                close(s->epoll_fd);
        if (s->mask_set)
                sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        free(s);
}
