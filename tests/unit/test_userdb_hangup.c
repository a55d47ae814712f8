/* test_userdb_hangup.c: the userdb (priority) listener lets a caller that
 * hung up go without serving what it left: every userdb call is a read of
 * the snapshot, so an answer nobody reads is work for nothing (nss-systemd
 * hangs up after each reply, and reading its end was a system call per
 * lookup). A caller that is still there is answered as ever, and
 * connections that wait together are all accepted, one per wake-up. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "varlink.h"
#include "tap.h"

#define WAITING 8

static unsigned calls;  /* priority calls served; only the server thread writes */

static json_t *main_call(void *userdata, const struct ucred *peer, const char *method, json_t *parameters, bool more) {
        return varlink_reply_new(json_object(), false);
}

static json_t *priority_call(void *userdata, const struct ucred *peer, const char *method, json_t *parameters,
                             bool more) {
        __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
        return varlink_reply_new(json_pack("{s:s}", "method", method), false);
}

static int connect_to(const char *path) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static int send_call(int fd) {
        static const char call[] = "{\"method\":\"io.systemd.UserDatabase.GetMemberships\",\"parameters\":{}}";

        return write(fd, call, sizeof call) == (ssize_t) sizeof call ? 0 : -1;   /* with its NUL */
}

/* Whether a whole reply (up to its NUL) arrives on fd within two seconds. */
static bool answered(int fd) {
        char buf[4096];
        size_t used = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, 2000) <= 0)
                        return false;
                n = read(fd, buf + used, sizeof buf - used);
                if (n <= 0)
                        return false;
                used += (size_t) n;
                if (memchr(buf, '\0', used))
                        return true;
                if (used == sizeof buf)
                        return false;
        }
}

static void *run(void *userdata) {
        server_run(userdata);
        return NULL;
}

int main(void) {
        char dir[] = "/tmp/enrich-test-hangup-XXXXXX", main_path[128], priority_path[128];
        server_handlers handlers = { .call = main_call };
        server_listener options = { .call = priority_call };
        server *s = NULL;
        char *error = NULL;
        pthread_t thread;
        int gone, fds[WAITING], ok = 1;

        if (!mkdtemp(dir))
                abort();
        snprintf(main_path, sizeof main_path, "%s/main", dir);
        snprintf(priority_path, sizeof priority_path, "%s/userdb", dir);
        if (server_new(main_path, &handlers, NULL, &s, &error) < 0 ||
            server_add_priority_listener(s, priority_path, &options, NULL, &error) < 0) {
                fprintf(stderr, "%s\n", error ? error : "server setup failed");
                abort();
        }

        /* Before the server runs: a caller writes a call and hangs up, and
         * others connect and wait, all in the listening socket's queue. */
        gone = connect_to(priority_path);
        CHECK(gone >= 0 && send_call(gone) == 0 && close(gone) == 0, "hangup-setup");
        for (int i = 0; i < WAITING; i++)
                fds[i] = connect_to(priority_path);
        if (pthread_create(&thread, NULL, run, s) != 0)
                abort();

        for (int i = 0; i < WAITING; i++)
                ok = ok && fds[i] >= 0 && send_call(fds[i]) == 0 && answered(fds[i]);
        CHECK(ok, "waiting-connections-all-answered");
        CHECK(__atomic_load_n(&calls, __ATOMIC_RELAXED) == WAITING, "hung-up-caller-not-served");

        for (int i = 0; i < WAITING; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        /* server_new blocked SIGTERM in this thread (and so in the server's
         * threads): it reaches the loop through its signalfd. */
        kill(getpid(), SIGTERM);
        pthread_join(thread, NULL);
        server_free(s);
        free(error);
        rmdir(dir);
        TAP_EXIT();
}
