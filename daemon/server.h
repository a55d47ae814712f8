/* server.h: the varlink server: an epoll loop over the main listening
 * socket, its client connections and a signalfd, and optionally a second
 * loop, on its own thread, for the userdb socket. Connections are
 * non-blocking and bounded (count, per-uid count, message size, buffered
 * input, output queue, idle time), and calls are served in fair turns
 * (root first, then round robin between uids and between a uid's
 * connections, bounded in calls and time), so one slow, silent or hostile
 * client never delays or starves another. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>

#define SERVER_MAX_CONNECTIONS 512
/* Of a listener's connections, this many only root may use: the other
 * uids together hold at most the rest, so however many of them flood,
 * root's calls (PAM logins, NSS lookups during a login) still connect. */
#define SERVER_ROOT_RESERVE 64
/* Connections of one uid at a time; root (every PAM login) is exempt. */
#define SERVER_MAX_PER_UID 32
/* File descriptors kept free of connections (both listeners together) for
 * everything else the process opens: sqlite and its WAL, the journal,
 * epoll, signalfd, eventfd, the listeners, NSS modules, /proc, key and
 * state files. */
#define SERVER_FD_HEADROOM 64
/* Below this many connections per listener the daemon refuses to start. */
#define SERVER_MIN_CONNECTIONS 16
#define SERVER_IDLE_TIMEOUT_MS 30000
/* Past this much unsent output a connection's further calls wait. */
#define SERVER_OUTPUT_HIGH_WATER (256 * 1024)
/* A connection is read from only while less than this is buffered (calls
 * waiting for their turn); past it the client's writes wait in the kernel.
 * At most this plus one read (64 KiB) is buffered per connection. */
#define SERVER_INPUT_HIGH_WATER (64 * 1024)

/* Fair service, per turn of the event loop. Calls differ in cost, so every
 * budget is in calls and in time; a call is never interrupted, so each
 * budget may be overrun by one call. Each turn serves root's connections
 * first, then every other uid with calls waiting, round robin: */
/* a connection, before the next connection of its uid; */
#define SERVER_CONNECTION_QUANTUM_CALLS 16
#define SERVER_CONNECTION_QUANTUM_US    500
/* a uid (all its connections), before the next uid (root, a class of its
 * own, may use its whole class budget); */
#define SERVER_UID_QUANTUM_CALLS 64
#define SERVER_UID_QUANTUM_US    1000
/* each of the two classes (root, the others), before the loop looks at
 * its sockets (new connections, new calls, the tick) again. */
#define SERVER_TURN_BUDGET_US 2000

typedef struct server server;

/* A listener's connection caps. */
typedef struct server_limits {
        unsigned max_connections;   /* in all; 0: SERVER_MAX_CONNECTIONS */
        unsigned root_reserve;      /* of those, root's alone; 0: SERVER_ROOT_RESERVE */
        unsigned max_per_uid;       /* per uid but root; 0: SERVER_MAX_PER_UID */
} server_limits;

/* Fits the caps of the main listener and the priority listener (defaults
 * filled in) under a process limit of nofile file descriptors, keeping
 * SERVER_FD_HEADROOM free: both totals shrink in proportion when they do
 * not fit, then each reserve to at most a quarter of its total and each
 * per-uid cap to at most the total less the reserve. -EMFILE when nofile
 * leaves less than SERVER_MIN_CONNECTIONS per listener. */
int server_fit_limits(unsigned long long nofile, server_limits *main_limits, server_limits *priority_limits);

typedef struct server_handlers {
        /* Answers one call on the main socket from peer (credentials taken
         * at accept time). Returns a reply object (varlink_reply_new / varlink_error_new), a
         * new reference; NULL only when out of memory; or json_null() to
         * answer later: the call (server_call_id) then stays open, its
         * connection's further calls waiting, until server_stream_push
         * sends its reply (a oneway call's is dropped). */
        json_t *(*call)(void *userdata, const struct ucred *peer, const char *method, json_t *parameters, bool more);
        /* Group commit, both optional. call_pending, asked right after
         * call: whether that call's reply must wait for the end of the
         * turn (it wrote something the turn commits). commit, called at
         * the end of every turn that served calls, before any held reply
         * is sent: NULL when everything the turn wrote is stored, else an
         * error reply (a new reference) that replaces every held reply
         * whose call_pending was true. Replies after a held one on the
         * same connection wait too, so they keep their order. */
        bool (*call_pending)(void *userdata);
        json_t *(*commit)(void *userdata);
        /* Calls that stay open (a "more" call whose last reply has
         * continues), both optional. after_turn: called by the loop after
         * each turn's commit and tick, to push what they stored to open
         * calls (server_stream_push); true when it has more to push, so
         * the loop does not wait for the sockets. stream_closed: the call
         * of that id (server_call_id) ended with its connection. */
        bool (*after_turn)(void *userdata);
        void (*stream_closed)(void *userdata, uint64_t id);
        /* SIGHUP. */
        void (*reload)(void *userdata);
        /* Called every tick_ms (when both are set) from the loop, between
         * batches of events, for periodic work (refresh, liveness). */
        void (*tick)(void *userdata);
        unsigned tick_ms;
        server_limits limits;       /* the main socket's */
} server_handlers;

/* Takes the socket passed by systemd (sd_listen_fds) for socket_path (or the
 * first one passed, when none matches) or, without one, binds socket_path
 * (parent created 0755, a stale socket removed, mode 0666).
 * Blocks SIGHUP/SIGTERM/SIGINT and watches them through a signalfd. */
int server_new(const char *socket_path, const server_handlers *handlers, void *userdata, server **ret,
               char **ret_error);
/* A second listening socket (the userdb socket) served by a thread of its
 * own (started by server_run, stopped by server_free), so its callers never
 * wait for a main-socket call. Its connections are counted and limited
 * apart from the main socket's. Its call handler runs on that thread: it
 * must only touch state it shares with the main thread under a lock. */
typedef struct server_listener {
        /* As server_handlers.call. The reply may also be a JSON array: a
         * stream of replies, queued in order (the handler sets "continues"
         * on all but the last). */
        json_t *(*call)(void *userdata, const struct ucred *peer, const char *method, json_t *parameters, bool more);
        /* Error name for malformed messages; NULL: io.enrich.InvalidParameter. */
        const char *invalid_parameter_error;
        server_limits limits;
        unsigned idle_timeout_ms;   /* 0: SERVER_IDLE_TIMEOUT_MS */
} server_listener;

/* Takes the socket systemd passed for socket_path (matched by path) or
 * binds it like server_new. Once per server, before server_run. */
int server_add_priority_listener(server *s, const char *socket_path, const server_listener *options, void *userdata,
                                 char **ret_error);
bool server_priority_socket_activated(const server *s);

/* One more descriptor for the main loop (fleet mode's eventfd): handler
 * runs on the main thread, between batches of events, whenever fd is
 * readable, and must make it unreadable (read the eventfd). One per
 * server (-EBUSY for a second); the caller closes fd after server_free. */
int server_watch_fd(server *s, int fd, void (*handler)(void *userdata), void *userdata);

/* The id of the main-socket call being answered (inside handlers.call;
 * 0 elsewhere). When that call stays open, server_stream_push(id) sends
 * it further replies: reply as handlers.call's (an object or an array);
 * the call ends with a reply without continues. -ENOENT when the call is
 * no longer open; -ENOBUFS when its caller left more than
 * SERVER_OUTPUT_HIGH_WATER unread, which closes the connection. Main
 * thread only. */
uint64_t server_call_id(const server *s);
int server_stream_push(server *s, uint64_t id, json_t *reply);

/* Runs until SIGTERM or SIGINT. 0, or negative errno on a fatal error. */
int server_run(server *s);
size_t server_connection_count(const server *s);
bool server_socket_activated(const server *s);
/* Closes every connection and the listening socket; unlinks the socket
 * file when this process bound it. */
void server_free(server *s);
