/* main.c: enrichd's entry point: command line, startup (config, database,
 * signing key, JWKS, the main and the userdb socket), sd_notify, reload on
 * SIGHUP, clean shutdown. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include "audit.h"
#include "audit_methods.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "fleet.h"
#include "host.h"
#include "issue.h"
#include "keys.h"
#include "live.h"
#include "log.h"
#include "dispatch.h"
#include "reload.h"
#include "request_methods.h"
#include "varlink_service.h"
#include "offboard.h"
#include "paths.h"
#include "server.h"
#include "session_methods.h"
#include "sign_worker.h"
#include "signer.h"
#include "throttle.h"
#include "userdb.h"
#include "varlink.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: enrichd [--config FILE] [--foreground]\n"
                   "       enrichd --check-config FILE\n"
                   "\n"
                   "Computes, signs and serves session claims for logins on this host.\n"
                   "\n"
                   "  -c, --config FILE   configuration file (default " CONFIG_DEFAULT_PATH ")\n"
                   "  -f, --foreground    also log to stderr\n"
                   "      --check-config  check the configuration (FILE, or --config's), print\n"
                   "                      every problem and exit: 0 when valid, 1 when not\n"
                   "  -h, --help          show this help\n"
                   "      --version       show the version\n");
}

/* What the main socket's handlers see: the daemon, and the userdb service
 * whose grants index they keep current. */
typedef struct main_context {
        enrichd *d;
        userdb *userdb;
        bool call_batched;          /* the last call wrote into the batch */
        server *server;             /* for calls that stay open (audit follows) */
} main_context;

static void notify_status(const enrichd *d) {
        sd_notifyf(0, "STATUS=Serving claims (issuer %s, key %s, policy %s)", d->config->issuer, signer_kid(d->signer),
                   d->policy_version);
}

/* SIGHUP: the same as io.enrich.Reload (reload_config): a broken file
 * keeps the running policy; a good one re-evaluates every live session. */
static void reload(void *userdata) {
        main_context *m = userdata;
        char *error = NULL;

        sd_notify(0, "RELOADING=1");
        if (reload_config(m->d, &error) < 0)
                (void) audit_recordf(m->d, NULL, NULL, AUDIT_CONFIG_REJECTED, AUDIT_FAILED, "{s:s, s:s, s:s}", "config",
                                     m->d->config->path, "trigger", "SIGHUP", "reason", error ? error : "unknown");
        else
                (void) audit_recordf(m->d, NULL, NULL, AUDIT_CONFIG_RELOADED, AUDIT_OK, "{s:s, s:s, s:s}", "config",
                                     m->d->config->path, "trigger", "SIGHUP", "policyVersion", m->d->policy_version);
        free(error);
        userdb_sync(m->userdb);
        sd_notify(0, "READY=1");
        notify_status(m->d);
}

/* Grant expiries bump the generation here; the index follows, and looks
 * up (within a time budget) the Unix groups its rules need. */
static void tick(void *userdata) {
        main_context *m = userdata;

        live_tick(m->d);
        keys_tick(m->d);
        audit_tick(m->d);
        offboard_tick(m->d);
        fleet_tick(m->d);
        requests_expire_due(m->d);
        userdb_tick(m->userdb);
}

/* --check-config: reports on stdout/stderr only (no journal), and starts
 * nothing: no socket, no state directory, no key. */
static int check_config(const char *path) {
        config *c = NULL;
        char *error = NULL;
        int r;

        r = config_load(path, &c, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error ? error : strerror(-r));
                free(error);
                return EXIT_FAILURE;
        }
        printf("%s: OK\n", path);
        if (c->fleet && c->fleet->credentials)
                printf("fleet credentials: %s (%s)\n", c->fleet->credentials,
                       c->fleet->credentials_systemd
                               ? "systemd credential, LoadCredential=" CONFIG_FLEET_CREDENTIAL_NAME
                               : "fleet.credentials");
        config_free(c);
        return EXIT_SUCCESS;
}

/* A main-socket call. Its session rows and audit records join the turn's
 * batch (db.h); commit() below stores them and lets the replies go. */
static json_t *call(void *userdata, const struct ucred *peer, const char *method, json_t *params, bool more) {
        main_context *m = userdata;
        uint64_t before;
        size_t pending;
        json_t *reply;

        /* Any other call sees the state the turn's Enrich calls so far
         * leave behind: they are finished first (a grant revoked after a
         * login must reach its session). */
        if (session_enrich_pending(m->d) > 0 && strcmp(method, "io.enrich.Enrich") != 0)
                session_enrich_finish(m->d);
        before = db_batch_writes(m->d->db);
        pending = session_enrich_pending(m->d);
        db_batch_allow(m->d->db);
        reply = dispatch_call_stream(m->d, peer, method, params, more, server_call_id(m->server));
        /* An Enrich call left pending writes into the batch before the
         * turn's commit: its reply waits for it too. */
        m->call_batched = db_batch_writes(m->d->db) != before || session_enrich_pending(m->d) > pending;
        return reply;
}

/* Fleet records the watcher handed over, applied on the main thread; the
 * userdb index follows, as after a call. */
static void fleet_ready(void *userdata) {
        main_context *m = userdata;

        fleet_dispatch(m->d);
        userdb_sync(m->userdb);
}

static bool call_pending(void *userdata) {
        main_context *m = userdata;

        return m->call_batched;
}

/* The end of a turn: the batch is committed before any of its calls is
 * answered, so a reply never names a session or audit row a crash could
 * still take back. When it is lost, its sessions leave the live set, the
 * audit chain's head is read again, and each of those calls is answered
 * with an error. Then the userdb index catches up with whatever the turn
 * changed (grant, revoke), here rather than in a userdb call, which must
 * never wait on sqlite; it makes no NSS lookup. */
static json_t *commit(void *userdata) {
        main_context *m = userdata;
        json_t *failure = NULL;
        int r;

        session_enrich_finish(m->d);
        r = db_batch_commit(m->d->db);
        live_batch_done(m->d, r < 0);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL,
                           "Failed to commit the session and audit records of this turn: %s; "
                           "answering its calls with an error",
                           db_last_error(m->d->db));
                audit_batch_lost(m->d);
                failure = varlink_error_new("io.enrich.InternalError",
                                            json_pack("{s:s}", "reason", db_last_error(m->d->db)));
        }
        userdb_sync(m->userdb);
        return failure;
}

static int push(void *userdata, uint64_t stream, json_t *reply) {
        main_context *m = userdata;

        return server_stream_push(m->server, stream, reply);
}

/* After each turn's commit and the tick, no batch open: the rows they
 * stored go out to the open audit follows, a bounded number per turn. */
static bool after_turn(void *userdata) {
        main_context *m = userdata;

        audit_after_turn(m->d);
        return audit_follow_pump(m->d, push, m);
}

static void stream_closed(void *userdata, uint64_t id) {
        main_context *m = userdata;

        audit_follow_end(m->d, id);
}

/* Runs on the server's userdb thread. */
static json_t *userdb_handler(void *userdata, const struct ucred *peer, const char *method, json_t *params, bool more) {
        return userdb_call(userdata, peer, method, params, more);
}

/* The daemon's own NSS lookups (getpwnam, getgrouplist for policy) must not
 * ask nss-systemd to query our userdb socket: the daemon is single-threaded
 * and would wait on itself until nss-systemd's timeout. nss-systemd skips
 * the services named in SYSTEMD_BYPASS_USERDB (colon-separated). */
static int bypass_own_userdb(const char *service) {
        const char *old = getenv("SYSTEMD_BYPASS_USERDB");
        char *value = NULL;
        int r;

        if (old && *old)
                r = asprintf(&value, "%s:%s", old, service);
        else
                r = (value = strdup(service)) ? 0 : -1;
        if (r < 0)
                return -ENOMEM;
        r = setenv("SYSTEMD_BYPASS_USERDB", value, 1) < 0 ? -errno : 0;
        free(value);
        return r;
}

/* Raises the soft limit on open files to the hard one, then fits both
 * sockets' connection caps under it (server_fit_limits), so that the
 * daemon refuses connections by its own caps, never by EMFILE in the
 * middle of a login (sqlite, the journal and NSS need descriptors too). */
static int fit_connection_limits(server_limits *main_limits, server_limits *userdb_limits) {
        struct rlimit rl;
        int r;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur < rl.rlim_max) {
                struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
                if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
                        rl = raised;
                else
                        log_warning_errno(-errno, "Failed to raise the open files limit to %llu",
                                          (unsigned long long) rl.rlim_max);
        }
        r = server_fit_limits(rl.rlim_cur == RLIM_INFINITY ? ULLONG_MAX : (unsigned long long) rl.rlim_cur, main_limits,
                              userdb_limits);
        if (r < 0) {
                log_error("Open files limit %llu too low: enrichd needs at least %d (LimitNOFILE=)",
                          (unsigned long long) rl.rlim_cur, SERVER_FD_HEADROOM + 2 * SERVER_MIN_CONNECTIONS);
                return r;
        }
        log_info("Open files limit %llu: main socket %u connections (%u kept for root, %u per user), "
                 "userdb socket %u (%u kept for root, %u per user)",
                 (unsigned long long) rl.rlim_cur, main_limits->max_connections, main_limits->root_reserve,
                 main_limits->max_per_uid, userdb_limits->max_connections, userdb_limits->root_reserve,
                 userdb_limits->max_per_uid);
        return 0;
}

/* 1 when path exists (whatever it is), 0 when not, or a negative errno. */
/* The PAM module gives the claims key the group of the main socket, and
 * Enrich refuses a key whose group is not the daemon's (it could neither
 * refresh nor revoke it). A socket the daemon bound itself is made its
 * group (a set-group-ID folder would have given it the folder's); one
 * systemd passed must have SocketGroup= set to it, else every login goes
 * without claims, which is said here once rather than at every login. */
static void check_socket_group(const char *path, bool activated) {
        struct stat st;

        if (stat(path, &st) < 0) {
                log_warning("Cannot look at the main socket %s: %s; the PAM module needs it to be of group %u", path,
                            strerror(errno), (unsigned) getegid());
                return;
        }
        if (st.st_gid == getegid())
                return;
        if (!activated && chown(path, (uid_t) -1, getegid()) == 0)
                return;
        log_error("The main socket %s belongs to group %u, not the daemon's %u: every login's claims key "
                  "would be refused. Set SocketGroup= in enrichd.socket to the daemon's group.",
                  path, (unsigned) st.st_gid, (unsigned) getegid());
}

static int state_exists(const char *path) {
        struct stat st;

        if (lstat(path, &st) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' }, { "foreground", no_argument, NULL, 'f' },
                { "check-config", no_argument, NULL, 'C' }, { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },      { 0 },
        };
        const char *config_path = CONFIG_DEFAULT_PATH;
        bool foreground = false, check_only = false, config_given = false;
        enrichd d = { 0 };
        main_context context = { .d = &d };
        server *srv = NULL;
        /* NSS callers open a connection per lookup and close it after the
         * answer: a uid has about as many at once as it has processes
         * looking up names at that instant (parallel `ls -l`), so the
         * main socket's per-uid cap fits them too. */
        server_limits main_limits = { 0 }, userdb_limits = { .max_per_uid = SERVER_MAX_PER_UID };
        char *error = NULL, db_path[PATH_MAX];
        int opt, r, status = EXIT_FAILURE;

        /* Before anything reads the signing key or a token: a core dump
         * (or a same-uid ptrace, or /proc/PID/mem) would hand them out.
         * Not dumpable also makes /proc/PID/ root's. The unit adds
         * LimitCORE=0. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
                fprintf(stderr, "enrichd: Failed to make the process non-dumpable: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }

        while ((opt = getopt_long(argc, argv, "c:fh", options, NULL)) >= 0) {
                switch (opt) {
                case 'c':
                        config_path = optarg;
                        config_given = true;
                        break;
                case 'f': foreground = true; break;
                case 'C': check_only = true; break;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                case 'V': puts("enrichd " ENRICH_VERSION); return EXIT_SUCCESS;
                default: usage(stderr); return EXIT_FAILURE;
                }
        }
        /* `enrichd --check-config FILE`, as `nginx -t`-style tools take it. */
        if (check_only && !config_given && argc - optind == 1)
                config_path = argv[optind++];
        if (optind < argc) {
                fprintf(stderr, "enrichd: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return EXIT_FAILURE;
        }
        if (check_only)
                return check_config(config_path);
        log_setup(foreground);

        r = config_load(config_path, &d.config, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_CONFIG, (const char *[]) { "ENRICH_CONFIG", config_path, NULL },
                           "Invalid configuration: %s", error ? error : strerror(-r));
                goto out;
        }
        umask(022);
        d.started_ms = host_now_ms();
        r = userdb_new(&d, d.config->userdb_socket, &context.userdb);
        if (r == 0)
                r = bypass_own_userdb(userdb_service(context.userdb));
        if (r < 0) {
                log_error_errno(r, "Failed to set up the userdb service");
                goto out;
        }

        r = host_machine_id(&d.machine_id);
        if (r < 0) {
                log_error_errno(r, "Failed to read /etc/machine-id");
                goto out;
        }
        /* 0700: the database and the private key are the daemon's alone. */
        r = mkdir_p(d.config->state_dir, 0700);
        if (r < 0) {
                log_error_errno(r, "Failed to create state directory %s", d.config->state_dir);
                goto out;
        }
        snprintf(db_path, sizeof db_path, "%s/%s", d.config->state_dir, DB_FILE_NAME);
        /* A key is generated only into a fresh state directory: next to an
         * existing database, a missing key means lost or misplaced state,
         * which a new key would paper over (signer_load says what to do). */
        r = state_exists(db_path);
        if (r < 0) {
                log_error_errno(r, "Failed to look for database %s", db_path);
                goto out;
        }
        r = (r ? signer_load : signer_open)(d.config->state_dir, &d.signer, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "Failed to set up the signing key: %s",
                           error ? error : strerror(-r));
                goto out;
        }
        r = db_open(db_path, &d.db, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "%s", error ? error : strerror(-r));
                goto out;
        }
        r = keys_open(&d, &error);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_KEY, NULL, "%s", error ? error : strerror(-r));
                goto out;
        }
        r = audit_open(&d, &d.audit);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "Failed to open the audit trail: %s",
                           r == -EIO ? db_last_error(d.db) : strerror(-r));
                goto out;
        }
        /* The policy version needs the grants generation; the live set
         * takes over the sessions a previous run left open. */
        d.grants_checked = clock_now();
        /* Grants that expired while the daemon was down leave the active
         * listings' indexes now (their expiry needs no other handling: no
         * session of a previous run holds their claims past the key's
         * timeout). */
        r = grants_end_expired(d.db, d.grants_checked);
        if (r == 0)
                r = issue_update_policy_version(&d);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "%s", db_last_error(d.db));
                goto out;
        }
        r = live_new(&d.live);
        if (r == 0)
                r = live_load(&d);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "Failed to load live sessions: %s",
                           r == -EIO ? db_last_error(d.db) : strerror(-r));
                goto out;
        }
        /* Before the socket: the first login the socket lets in may find
         * the daemon flooded, and the list must already say who is out. */
        if (offboard_setup(&d) == 0)
                (void) offboard_publish(&d);
        r = throttle_new(&d.token_sources);
        if (r < 0) {
                log_error_errno(r, "Failed to set up token throttling");
                goto out;
        }
        userdb_tick(context.userdb);
        r = fit_connection_limits(&main_limits, &userdb_limits);
        if (r < 0)
                goto out;
        r = server_new(d.config->socket,
                       &(server_handlers) { .call = call,
                                            .call_pending = call_pending,
                                            .commit = commit,
                                            .reload = reload,
                                            .tick = tick,
                                            .after_turn = after_turn,
                                            .stream_closed = stream_closed,
                                            .tick_ms = LIVE_TICK_MS,
                                            .limits = main_limits },
                       &context, &srv, &error);
        context.server = srv;
        d.reply_later = push;
        d.reply_later_userdata = &context;
        /* NSS callers close a connection after each lookup: a shorter idle
         * time than the main socket's. */
        if (r == 0)
                r = server_add_priority_listener(
                        srv, d.config->userdb_socket,
                        &(server_listener) { .call = userdb_handler,
                                             .invalid_parameter_error = "org.varlink.service.InvalidParameter",
                                             .limits = userdb_limits,
                                             .idle_timeout_ms = 5000 },
                        context.userdb, &error);
        if (r < 0) {
                log_error("%s", error ? error : strerror(-r));
                goto out;
        }
        check_socket_group(d.config->socket, server_socket_activated(srv));
        /* Enrich's signatures on a thread of their own, when there is a
         * core for it; without one they are made inline. */
        if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
                r = sign_worker_start(&d.sign_worker);
                if (r < 0)
                        log_error_errno(r, "Failed to start the signer thread; signing on the main thread");
        }
        /* Fleet mode (nothing without a fleet group): the watcher starts
         * reading etcd; the loop applies what it reads. */
        r = fleet_start(&d, ENRICH_VERSION, &error);
        if (r == 0 && d.fleet)
                r = server_watch_fd(srv, fleet_event_fd(&d), fleet_ready, &context);
        if (r < 0) {
                log_struct(LOG_ERR, LOG_MSGID_CONFIG, NULL, "%s", error ? error : strerror(-r));
                goto out;
        }
        log_struct(LOG_INFO, LOG_MSGID_STARTED,
                   (const char *[]) { "ENRICH_CONFIG", d.config->path, "ENRICH_KID", signer_kid(d.signer),
                                      "ENRICH_POLICY_VERSION", d.policy_version, NULL },
                   "enrichd %s started: socket %s, userdb socket %s, key %s, policy version %s, %zu rules",
                   ENRICH_VERSION, server_socket_activated(srv) ? "passed by systemd" : d.config->socket,
                   server_priority_socket_activated(srv) ? "passed by systemd" : d.config->userdb_socket,
                   signer_kid(d.signer), d.policy_version, d.config->n_rules);
        sd_notify(0, "READY=1");
        notify_status(&d);

        r = server_run(srv);
        sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
        /* Seal what this run wrote, so nothing can be appended unnoticed
         * while the daemon is down. */
        audit_flush_refusals(&d, true);
        (void) audit_checkpoint(&d, NULL, "shutdown", NULL, NULL);
        log_struct(LOG_INFO, LOG_MSGID_STOPPED, NULL, "enrichd stopped");
        status = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
out:
        if (status != EXIT_SUCCESS)
                sd_notifyf(0, "STATUS=Failed to start: %s", error ? error : "see the log");
        fleet_stop(&d);
        server_free(srv);
        /* No Enrich call is pending between turns. */
        sign_worker_stop(d.sign_worker);
        audit_follow_free(&d);
        userdb_free(context.userdb);
        live_free(d.live);
        audit_free(d.audit);
        db_close(d.db);
        signer_free(d.signer);
        config_free(d.config);
        free(d.machine_id);
        free(d.disabled_list);
        throttle_free(d.token_sources);
        free(error);
        return status;
}
