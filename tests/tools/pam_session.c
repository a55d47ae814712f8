/* pam_session: a real PAM application that opens a session for a user through
 * a private PAM configuration folder (pam_start_confdir), optionally runs a
 * command inside it as that user, then closes it. The integration tests and
 * the demo drive the real pam_enrich.so with it.
 *
 * pam_session --confdir DIR --service NAME --user USER [--tty TTY]
 *             [--rhost HOST] [--ruser USER] [--new-audit-session] [--as-root]
 *             [--serial-file FILE] [--authenticate] [--password-from-env VAR]
 *             [--acct-mgmt] [--no-session] [-- COMMAND ARGS...]
 *
 * --authenticate runs pam_authenticate and --acct-mgmt pam_acct_mgmt first,
 * in the same transaction, as a login program would; prompts are answered
 * with the value of the environment variable VAR (never printed).
 *
 * Exit status: the command's (128+signal if it died of one), 0 without a
 * command, 2 on a usage or setup error, 3 if pam_open_session failed, 4 if
 * pam_close_session failed, 5 if pam_authenticate failed, 6 if pam_acct_mgmt
 * failed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <security/pam_appl.h>

#include "host.h"
#include "keyring.h"

#define EXIT_SETUP        2
#define EXIT_OPEN_FAILED  3
#define EXIT_CLOSE_FAILED 4
#define EXIT_AUTH_FAILED  5
#define EXIT_ACCT_FAILED  6

struct options {
        const char *confdir;
        const char *service;
        const char *user;
        const char *tty;
        const char *rhost;
        const char *ruser;
        const char *serial_file;
        int new_audit_session;
        int as_root;
        int repeat;             /* whole logins in this process, default 1 */
        int authenticate;       /* run pam_authenticate first */
        int acct_mgmt;          /* run pam_acct_mgmt first */
        int no_session;         /* stop after auth/account */
        const char *password;   /* answer to prompts (from --password-from-env) */
        char **command;         /* NULL: no command */
};

/* Answers prompts with the --password-from-env value, or empty strings,
 * and shows messages on stderr: a module that asks unexpectedly must not
 * hang the test. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        const char *answer = data ? data : "";
        struct pam_response *replies = NULL;

        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        replies = calloc((size_t) n, sizeof(*replies));
        if (!replies)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++) {
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                case PAM_PROMPT_ECHO_ON:
                        replies[i].resp = strdup(answer);
                        if (!replies[i].resp) {
                                for (int j = 0; j < i; j++)
                                        free(replies[j].resp);
                                free(replies);
                                return PAM_BUF_ERR;
                        }
                        break;
                case PAM_ERROR_MSG:
                case PAM_TEXT_INFO: fprintf(stderr, "pam: %s\n", msg[i]->msg ? msg[i]->msg : ""); break;
                default: break;
                }
        }
        *resp = replies;
        return PAM_SUCCESS;
}

static void usage(FILE *f) {
        fputs("usage: pam_session --confdir DIR --service NAME --user USER [--tty TTY]\n"
              "                   [--rhost HOST] [--ruser USER] [--new-audit-session] [--as-root]\n"
              "                   [--serial-file FILE] [--repeat N] [--authenticate]\n"
              "                   [--password-from-env VAR] [--acct-mgmt] [--no-session]\n"
              "                   [-- COMMAND ARGS...]\n"
              "--repeat N runs N whole logins (pam_start to pam_end) one after another in\n"
              "this one process, as a long-lived sshd or sudo would.\n",
              f);
}

static int parse_options(int argc, char **argv, struct options *o) {
        enum {
                OPT_CONFDIR = 256,
                OPT_SERVICE,
                OPT_USER,
                OPT_TTY,
                OPT_RHOST,
                OPT_RUSER,
                OPT_AUDIT,
                OPT_AS_ROOT,
                OPT_SERIAL,
                OPT_REPEAT,
                OPT_AUTH,
                OPT_ACCT,
                OPT_PASSWORD_ENV,
                OPT_NO_SESSION
        };
        static const struct option longopts[] = {
                { "confdir", required_argument, NULL, OPT_CONFDIR },
                { "service", required_argument, NULL, OPT_SERVICE },
                { "user", required_argument, NULL, OPT_USER },
                { "tty", required_argument, NULL, OPT_TTY },
                { "rhost", required_argument, NULL, OPT_RHOST },
                { "ruser", required_argument, NULL, OPT_RUSER },
                { "new-audit-session", no_argument, NULL, OPT_AUDIT },
                { "as-root", no_argument, NULL, OPT_AS_ROOT },
                { "serial-file", required_argument, NULL, OPT_SERIAL },
                { "repeat", required_argument, NULL, OPT_REPEAT },
                { "authenticate", no_argument, NULL, OPT_AUTH },
                { "acct-mgmt", no_argument, NULL, OPT_ACCT },
                { "password-from-env", required_argument, NULL, OPT_PASSWORD_ENV },
                { "no-session", no_argument, NULL, OPT_NO_SESSION },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        int c;

        /* "+": stop at the first non-option so the command keeps its own flags. */
        while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
                switch (c) {
                case OPT_CONFDIR: o->confdir = optarg; break;
                case OPT_SERVICE: o->service = optarg; break;
                case OPT_USER: o->user = optarg; break;
                case OPT_TTY: o->tty = optarg; break;
                case OPT_RHOST: o->rhost = optarg; break;
                case OPT_RUSER: o->ruser = optarg; break;
                case OPT_AUDIT: o->new_audit_session = 1; break;
                case OPT_AS_ROOT: o->as_root = 1; break;
                case OPT_SERIAL: o->serial_file = optarg; break;
                case OPT_REPEAT:
                        o->repeat = atoi(optarg);
                        if (o->repeat < 1 || o->repeat > 1000)
                                return -EINVAL;
                        break;
                case OPT_AUTH: o->authenticate = 1; break;
                case OPT_ACCT: o->acct_mgmt = 1; break;
                case OPT_NO_SESSION: o->no_session = 1; break;
                case OPT_PASSWORD_ENV:
                        o->password = getenv(optarg);
                        if (!o->password) {
                                fprintf(stderr, "pam_session: $%s is not set\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'h': usage(stdout); exit(0);
                default: return -EINVAL;
                }
        }
        if (!o->confdir || !o->service || !o->user) {
                fputs("pam_session: --confdir, --service and --user are required\n", stderr);
                return -EINVAL;
        }
        if (optind < argc)
                o->command = argv + optind;
        return 0;
}

/* Writing a uid to /proc/self/loginuid starts a new kernel audit session:
 * the kernel hands out a fresh /proc/self/sessionid on every write, which is
 * what pam_loginuid does for a real login. Must happen before
 * pam_open_session so the module sees the login's audit session. */
static int start_audit_session(uid_t uid) {
        char buf[32];
        int fd = -1, r = 0, n;

        n = snprintf(buf, sizeof(buf), "%u", (unsigned) uid);
        fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        if (write(fd, buf, (size_t) n) != n) {
                r = -errno;
                goto out;
        }
out:
        if (fd >= 0)
                close(fd);
        return r;
}

/* Writes the serial of the claims key in our session keyring to path, or an
 * empty file when there is none, so a test can look at the key from outside
 * the session after it ends. */
static int write_serial_file(const char *path) {
        key_serial_t serial = 0;
        FILE *f = NULL;
        int r;

        r = keyring_find_claims(&serial);
        if (r < 0 && r != -ENOKEY) {
                fprintf(stderr, "pam_session: cannot look up the claims key: %s\n", strerror(-r));
                serial = 0;
        }
        f = fopen(path, "we");
        if (!f) {
                r = -errno;
                goto out;
        }
        if (serial > 0)
                fprintf(f, "%" PRId32 "\n", (int32_t) serial);
        r = fclose(f) == 0 ? 0 : -errno;
        f = NULL;
out:
        if (f)
                fclose(f);
        return r;
}

/* The running command, for forward_signal(). A test tool's process-wide
 * state, not library code. */
static volatile sig_atomic_t command_pid;

/* Passes SIGTERM/SIGINT/SIGHUP on to the command, as login programs do, so
 * that stopping pam_session ends the command and still runs
 * pam_close_session (which revokes the key). */
static void forward_signal(int sig) {
        if (command_pid > 0)
                kill((pid_t) command_pid, sig);
}

/* Child side of the command: become the user (unless --as-root), set the
 * login environment and exec. Never returns. */
static void run_child(const struct options *o, const struct passwd *pw, char **pam_env) {
        if (!o->as_root) {
                if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
                        fprintf(stderr, "pam_session: cannot become %s: %m\n", pw->pw_name);
                        _exit(126);
                }
                /* A half-dropped child would make every permission test pass
                 * for the wrong reason. */
                if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != pw->pw_gid ||
                    getegid() != pw->pw_gid || (pw->pw_uid != 0 && setuid(0) == 0)) {
                        fprintf(stderr, "pam_session: dropping privileges to %s did not stick\n", pw->pw_name);
                        _exit(126);
                }
        }
        for (char **e = pam_env; e && *e; e++)
                putenv(*e);
        if (setenv("USER", pw->pw_name, 1) < 0 || setenv("LOGNAME", pw->pw_name, 1) < 0 ||
            setenv("HOME", pw->pw_dir, 1) < 0)
                _exit(126);
        execvp(o->command[0], o->command);
        fprintf(stderr, "pam_session: cannot run %s: %m\n", o->command[0]);
        _exit(127);
}

/* Runs the command in the session and returns its exit status (128+signal
 * if it died of one, 126 if it could not be started or waited for). */
static int run_command(const struct options *o, const struct passwd *pw, pam_handle_t *pamh) {
        static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP };
        struct sigaction forward = { .sa_handler = forward_signal };
        char **pam_env = pam_getenvlist(pamh);
        int status = 0, r;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "pam_session: fork: %m\n");
                r = 126;
                goto out;
        }
        if (pid == 0)
                run_child(o, pw, pam_env);
        command_pid = pid;
        sigemptyset(&forward.sa_mask);
        for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
                sigaction(forwarded[i], &forward, NULL);
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR) {
                        fprintf(stderr, "pam_session: waitpid: %m\n");
                        r = 126;
                        goto out;
                }
        }
        if (WIFEXITED(status))
                r = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                r = 128 + WTERMSIG(status);
        else
                r = 126;
out:
        for (char **e = pam_env; e && *e; e++)
                free(*e);
        free(pam_env);
        return r;
}

/* Sets the PAM items a login program would, from the options. */
static int set_items(pam_handle_t *pamh, const struct options *o) {
        int r = PAM_SUCCESS;

        if (o->tty && (r = pam_set_item(pamh, PAM_TTY, o->tty)) != PAM_SUCCESS)
                return r;
        if (o->rhost && (r = pam_set_item(pamh, PAM_RHOST, o->rhost)) != PAM_SUCCESS)
                return r;
        if (o->ruser && (r = pam_set_item(pamh, PAM_RUSER, o->ruser)) != PAM_SUCCESS)
                return r;
        return r;
}

/* Runs one PAM step and reports its result and time on stderr. */
static int timed(pam_handle_t *pamh, int (*step)(pam_handle_t *, int), const char *name) {
        int64_t start = host_now_ms();
        int pam_status = step(pamh, 0);

        fprintf(stderr, "%s: %s in %" PRId64 " ms\n", name, pam_strerror(pamh, pam_status), host_now_ms() - start);
        return pam_status;
}

/* One whole login: pam_start_confdir, open, the command, close, pam_end.
 * Returns the exit status pam_session reports for it. */
static int one_login(const struct options *o, struct passwd *user_pw) {
        struct pam_conv conv = { conversation, (void *) o->password };
        pam_handle_t *pamh = NULL;
        int64_t start;
        int r, pam_status, status = 0, exit_status = EXIT_SETUP;

        pam_status = pam_start_confdir(o->service, o->user, &conv, o->confdir, &pamh);
        if (pam_status != PAM_SUCCESS) {
                fprintf(stderr, "pam_start_confdir: %s\n", pam_strerror(pamh, pam_status));
                goto out;
        }
        pam_status = set_items(pamh, o);
        if (pam_status != PAM_SUCCESS) {
                fprintf(stderr, "pam_set_item: %s\n", pam_strerror(pamh, pam_status));
                goto out;
        }

        if (o->authenticate && (pam_status = timed(pamh, pam_authenticate, "pam_authenticate")) != PAM_SUCCESS) {
                exit_status = EXIT_AUTH_FAILED;
                goto out;
        }
        if (o->acct_mgmt && (pam_status = timed(pamh, pam_acct_mgmt, "pam_acct_mgmt")) != PAM_SUCCESS) {
                exit_status = EXIT_ACCT_FAILED;
                goto out;
        }
        if (o->no_session) {
                exit_status = 0;
                goto out;
        }

        start = host_now_ms();
        pam_status = pam_open_session(pamh, 0);
        fprintf(stderr, "pam_open_session: %s in %" PRId64 " ms\n", pam_strerror(pamh, pam_status),
                host_now_ms() - start);
        if (pam_status != PAM_SUCCESS) {
                exit_status = EXIT_OPEN_FAILED;
                goto out;
        }

        if (o->serial_file && (r = write_serial_file(o->serial_file)) < 0)
                fprintf(stderr, "pam_session: cannot write %s: %s\n", o->serial_file, strerror(-r));

        if (o->command)
                status = run_command(o, user_pw, pamh);

        start = host_now_ms();
        pam_status = pam_close_session(pamh, 0);
        fprintf(stderr, "pam_close_session: %s in %" PRId64 " ms\n", pam_strerror(pamh, pam_status),
                host_now_ms() - start);
        exit_status = pam_status == PAM_SUCCESS ? status : EXIT_CLOSE_FAILED;
out:
        if (pamh)
                pam_end(pamh, pam_status);
        return exit_status;
}

int main(int argc, char **argv) {
        struct options o = { .repeat = 1 };
        struct passwd user = { 0 };
        struct passwd *pw;
        int r, exit_status = EXIT_SETUP;

        if (parse_options(argc, argv, &o) < 0) {
                usage(stderr);
                goto out;
        }
        pw = getpwnam(o.user);
        if (!pw) {
                fprintf(stderr, "pam_session: no such user: %s\n", o.user);
                goto out;
        }
        /* PAM modules may call getpw* again and overwrite *pw. */
        user = *pw;
        user.pw_name = strdup(pw->pw_name);
        user.pw_dir = strdup(pw->pw_dir);
        if (!user.pw_name || !user.pw_dir)
                goto out;

        if (o.new_audit_session) {
                r = start_audit_session(user.pw_uid);
                if (r < 0) {
                        fprintf(stderr, "pam_session: cannot write /proc/self/loginuid: %s\n", strerror(-r));
                        goto out;
                }
        }

        for (int i = 0; i < o.repeat; i++) {
                exit_status = one_login(&o, &user);
                if (exit_status != 0)
                        break;
        }
out:
        free(user.pw_name);
        free(user.pw_dir);
        return exit_status;
}
