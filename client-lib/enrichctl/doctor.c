/* doctor.c: `enrichctl doctor`, a health check of this host's enrich setup:
 * PAM stacks, the daemon socket, nsswitch, state permissions, the config,
 * the JWKS, the clock, the machine-id and fleet mode. Each finding says
 * what to fix.
 * Every path can be pointed elsewhere, so each check is testable without
 * touching /etc. Exit: 0 all fine, 1 warnings, 2 errors. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enrich.h"
#include "enrichctl.h"
#include "host.h"
#include "jwks.h"
#include "util.h"

#define DOCTOR_CONFIG      "/etc/enrich/enrichd.conf"
#define DOCTOR_PAM_DIR     "/etc/pam.d"
#define DOCTOR_NSSWITCH    "/etc/nsswitch.conf"
#define DOCTOR_MACHINE_ID  "/etc/machine-id"
#define DOCTOR_STATE_DIR   "/var/lib/enrich"
#define DOCTOR_DAEMON_USER "enrich"
#define DOCTOR_KEY_FILE    "signing-key.pem"     /* daemon/signer.h's SIGNER_KEY_FILE */
/* Include depth and PAM lines read per stack: a loop of @includes or a
 * huge file must not make doctor hang. */
#define PAM_MAX_DEPTH 8
#define PAM_MAX_LINES 4096
/* Clock drift we tolerate against times the daemon wrote. */
#define CLOCK_SLACK      60
#define CHECK_OUTPUT_MAX 4096
/* userdb groups looked up through NSS, and where nss-systemd finds sockets. */
#define DOCTOR_MAX_GROUPS    8
#define DOCTOR_USERDB_DIR    "/run/systemd/userdb"
#define DOCTOR_USERDB_SOCKET DOCTOR_USERDB_DIR "/io.enrich.Groups"

enum { LEVEL_OK, LEVEL_WARNING, LEVEL_ERROR };
static const char *const level_names[] = { "ok", "warning", "error" };

typedef struct doctor {
        const ctl_options *o;
        json_t *findings;       /* array of {check, level, message, fix} */
        int worst;
        /* Paths, from the options, the config, or the defaults. */
        const char *config_path, *pam_dir, *nsswitch, *machine_id;
        char *socket, *jwks, *state_dir;
        bool config_read;       /* libconfig could parse it (for the paths) */
        int n_groups;           /* userdb groups in the config */
        char *userdb_socket;
        char *group_names[DOCTOR_MAX_GROUPS];   /* the first of them, with their gids */
        long long group_gids[DOCTOR_MAX_GROUPS];
        uid_t daemon_uid;
        bool have_daemon_uid;
        time_t newest_issue;    /* newest session start the daemon reported */
} doctor;

/* Records a finding; fix may be NULL when there is nothing to do. */
__attribute__((format(printf, 5, 6))) static void finding(doctor *d, const char *check, int level, const char *fix,
                                                          const char *fmt, ...) {
        char message[1024];
        va_list ap;
        json_t *f;

        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        if (level > d->worst)
                d->worst = level;
        f = json_pack("{s:s, s:s, s:s, s:s?}", "check", check, "level", level_names[level], "message", message, "fix",
                      fix);
        if (f)
                json_array_append_new(d->findings, f);
}

/* ---- config --------------------------------------------------------- */

static char *config_string(config_t *cfg, const char *key, const char *fallback) {
        const char *s = NULL;

        if (!cfg || !config_lookup_string(cfg, key, &s) || !*s)
                s = fallback;
        return strdup(s);
}

/* Reads the paths doctor needs from the config with libconfig. This is not
 * the validation (enrichd --check-config does that); a file libconfig cannot
 * parse leaves the defaults. */
static int read_config_paths(doctor *d) {
        config_t cfg;
        config_setting_t *groups;
        bool parsed;

        config_init(&cfg);
        parsed = access(d->config_path, R_OK) == 0 && config_read_file(&cfg, d->config_path) == CONFIG_TRUE;
        d->config_read = parsed;
        /* An explicit --socket (or $ENRICH_SOCKET) wins over the config. */
        if (strcmp(d->o->socket, ENRICH_DEFAULT_SOCKET) != 0)
                d->socket = strdup(d->o->socket);
        else
                d->socket = config_string(parsed ? &cfg : NULL, "socket", ENRICH_DEFAULT_SOCKET);
        d->jwks = d->o->jwks ? strdup(d->o->jwks) : config_string(parsed ? &cfg : NULL, "jwks", ENRICH_DEFAULT_JWKS);
        d->state_dir = config_string(parsed ? &cfg : NULL, "state_dir", DOCTOR_STATE_DIR);
        groups = parsed ? config_lookup(&cfg, "groups") : NULL;
        d->n_groups = groups ? config_setting_length(groups) : 0;
        for (int i = 0; i < d->n_groups && i < DOCTOR_MAX_GROUPS; i++) {
                config_setting_t *g = config_setting_get_elem(groups, i);
                const char *name = NULL;
                int gid = -1;

                if (!g || !config_setting_lookup_string(g, "name", &name) || !config_setting_lookup_int(g, "gid", &gid))
                        continue;
                d->group_names[i] = strdup(name);
                d->group_gids[i] = gid;
        }
        d->userdb_socket = config_string(parsed ? &cfg : NULL, "userdb_socket", DOCTOR_USERDB_SOCKET);
        config_destroy(&cfg);
        return d->socket && d->jwks && d->state_dir && d->userdb_socket ? 0 : -ENOMEM;
}

/* The enrichd binary to validate the config with: --enrichd, else the one
 * beside enrichctl (build tree) or in ../sbin (installed), else the usual
 * places. NULL when none is found. */
static char *find_enrichd(const ctl_options *o) {
        char self[PATH_MAX], candidate[PATH_MAX + 32];
        static const char *const fixed[] = { "/usr/sbin/enrichd", "/usr/local/sbin/enrichd", "/sbin/enrichd" };
        ssize_t n;

        if (o->enrichd)
                return strdup(o->enrichd);
        n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
                char *slash;

                self[n] = '\0';
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        snprintf(candidate, sizeof candidate, "%s/enrichd", self);
                        if (access(candidate, X_OK) == 0)
                                return strdup(candidate);
                        snprintf(candidate, sizeof candidate, "%s/../sbin/enrichd", self);
                        if (access(candidate, X_OK) == 0)
                                return realpath(candidate, NULL);
                }
        }
        for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
                if (access(fixed[i], X_OK) == 0)
                        return strdup(fixed[i]);
        return NULL;
}

/* Runs `enrichd --check-config FILE`, collecting its output (bounded) into
 * out. Returns its exit status, or a negative errno. */
static int run_check_config(const char *enrichd, const char *path, char *out, size_t size) {
        int pipefd[2] = { -1, -1 }, status, r;
        size_t len = 0;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return r;
        }
        if (pid == 0) {
                dup2(pipefd[1], STDOUT_FILENO);
                dup2(pipefd[1], STDERR_FILENO);
                execl(enrichd, "enrichd", "--check-config", path, (char *) NULL);
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                char buf[512];
                ssize_t n = read(pipefd[0], buf, sizeof buf);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                /* Keep the start; drain the rest so the child never blocks. */
                for (ssize_t i = 0; i < n && len + 1 < size; i++)
                        out[len++] = buf[i];
        }
        out[len] = '\0';
        while (len > 0 && out[len - 1] == '\n')
                out[--len] = '\0';
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void check_config(doctor *d) {
        char output[CHECK_OUTPUT_MAX], fix[PATH_MAX + 128];
        char *enrichd = NULL;
        int r;

        snprintf(fix, sizeof fix, "fix the lines named above, then run: enrichd --check-config %s", d->config_path);
        if (access(d->config_path, R_OK) < 0) {
                finding(d, "config", LEVEL_ERROR,
                        "install it (the package's default is a commented "
                        "/etc/enrich/enrichd.conf) or point --config at it",
                        "cannot read %s: %s", d->config_path, strerror(errno));
                return;
        }
        enrichd = find_enrichd(d->o);
        if (!enrichd) {
                finding(d, "config", LEVEL_WARNING, "install enrichd, or give its path with --enrichd PATH",
                        "cannot validate %s: enrichd not found%s", d->config_path,
                        d->config_read ? " (libconfig can parse it)" : "");
                return;
        }
        r = run_check_config(enrichd, d->config_path, output, sizeof output);
        if (r == 0)
                finding(d, "config", LEVEL_OK, NULL, "%s is valid (%s --check-config)", d->config_path, enrichd);
        else if (r == 127 || r < 0)
                finding(d, "config", LEVEL_WARNING, "check that enrichd is executable, or use --enrichd PATH",
                        "cannot run %s --check-config: %s", enrichd, r < 0 ? strerror(-r) : "exec failed");
        else
                finding(d, "config", LEVEL_ERROR, fix, "%s is invalid: %s", d->config_path, output);
        free(enrichd);
}

/* ---- PAM ------------------------------------------------------------ */

/* The state of one session stack as it is walked in order. */
typedef struct pam_walk {
        bool keyinit;           /* a pam_keyinit.so session line seen so far */
        bool keyinit_full;      /* ... with both force and revoke */
        bool loads_enrich;
        int problem;            /* LEVEL_* of the worst pam_enrich.so line */
        char where[PATH_MAX + 32];      /* file:line of the first bad pam_enrich.so line */
        char readenv[PATH_MAX + 32];    /* file:line of the first pam_env user_readenv=1 session line */
        char enrich_after_readenv[PATH_MAX + 32];       /* file:line of a pam_enrich.so line after it */
} pam_walk;

/* Splits a PAM line into whitespace-separated words, keeping a bracketed
 * control field ("[success=1 default=ignore]") as one word. Returns the
 * number of words (at most max); line is modified in place. */
static size_t pam_words(char *line, char **words, size_t max) {
        size_t n = 0;
        char *p = line;

        while (*p && n < max) {
                while (*p && isspace((unsigned char) *p))
                        p++;
                if (!*p || *p == '#')
                        break;
                words[n++] = p;
                if (*p == '[') {
                        while (*p && *p != ']')
                                p++;
                        if (*p)
                                p++;
                } else {
                        while (*p && !isspace((unsigned char) *p))
                                p++;
                }
                if (*p)
                        *p++ = '\0';
        }
        return n;
}

/* Whether a module path names module ("pam_enrich.so", also as a full path). */
static bool is_module(const char *path, const char *module) {
        const char *base = strrchr(path, '/');

        return strcmp(base ? base + 1 : path, module) == 0;
}

static void pam_include_path(const doctor *d, const char *name, char *buf, size_t size) {
        if (name[0] == '/')
                snprintf(buf, size, "%s", name);
        else
                snprintf(buf, size, "%s/%s", d->pam_dir, name);
}

/* Walks the session lines of file in order, following @include and
 * session include/substack, recording into w. included (optional) collects
 * the names this file includes. */
static void pam_walk_file(const doctor *d, const char *path, int depth, pam_walk *w, json_t *included) {
        char line[1024], *words[32], target[PATH_MAX];
        unsigned lineno = 0;
        FILE *f;

        if (depth > PAM_MAX_DEPTH)
                return;
        f = fopen(path, "re");
        if (!f)
                return;
        while (lineno < PAM_MAX_LINES && fgets(line, sizeof line, f)) {
                size_t n;
                const char *type;

                lineno++;
                n = pam_words(line, words, ARRAY_SIZE(words));
                if (n == 2 && strcmp(words[0], "@include") == 0) {
                        if (included)
                                json_array_append_new(included, json_string(words[1]));
                        pam_include_path(d, words[1], target, sizeof target);
                        pam_walk_file(d, target, depth + 1, w, NULL);
                        continue;
                }
                if (n < 3)
                        continue;
                type = words[0][0] == '-' ? words[0] + 1 : words[0];
                if (strcmp(type, "session") != 0)
                        continue;
                if (strcmp(words[1], "include") == 0 || strcmp(words[1], "substack") == 0) {
                        if (included)
                                json_array_append_new(included, json_string(words[2]));
                        pam_include_path(d, words[2], target, sizeof target);
                        pam_walk_file(d, target, depth + 1, w, NULL);
                        continue;
                }
                if (is_module(words[2], "pam_keyinit.so")) {
                        bool force = false, revoke = false;

                        for (size_t i = 3; i < n; i++) {
                                force |= strcmp(words[i], "force") == 0;
                                revoke |= strcmp(words[i], "revoke") == 0;
                        }
                        w->keyinit = true;
                        w->keyinit_full |= force && revoke;
                } else if (is_module(words[2], "pam_env.so")) {
                        /* A user's ~/.pam_environment lands in the PAM
                         * environment here, SSH_AUTH_INFO_0 included. */
                        for (size_t i = 3; i < n; i++)
                                if (strcmp(words[i], "user_readenv=1") == 0 && !w->readenv[0])
                                        snprintf(w->readenv, sizeof w->readenv, "%s:%u", path, lineno);
                } else if (is_module(words[2], "pam_enrich.so")) {
                        if (w->readenv[0] && !w->enrich_after_readenv[0])
                                snprintf(w->enrich_after_readenv, sizeof w->enrich_after_readenv, "%s:%u", path,
                                         lineno);
                        int level = !w->keyinit ? LEVEL_ERROR : !w->keyinit_full ? LEVEL_WARNING : LEVEL_OK;

                        w->loads_enrich = true;
                        if (level > w->problem) {
                                w->problem = level;
                                snprintf(w->where, sizeof w->where, "%s:%u", path, lineno);
                        }
                }
        }
        fclose(f);
}

static bool json_array_has_string(const json_t *array, const char *s) {
        size_t i;
        json_t *item;

        json_array_foreach(array, i, item)
                if (json_string_value(item) && strcmp(json_string_value(item), s) == 0)
                        return true;
        return false;
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void check_pam(doctor *d) {
        static const char keyinit_line[] = "session optional pam_keyinit.so force revoke";
        static const struct {
                const char *name, *arguments, *where, *who;
        } pam_services[] = {
                { "sshd", "", "right after @include common-session and before any pam_env.so user_readenv=1 line",
                  "ssh logins" },
                { "sudo", "", "after @include common-session-noninteractive", "sudo sessions" },
                { "enrich-service", " amr=svc", "as in /usr/share/enrich/pam.d/enrich-service",
                  "units with PAMName=enrich-service" },
        };
        char path[PATH_MAX], fix[3 * PATH_MAX + 512];
        json_t *included = json_array();
        char **names = NULL;
        size_t n_names = 0, stacks = 0;
        struct dirent *e;
        DIR *dir;

        dir = opendir(d->pam_dir);
        if (!dir) {
                finding(d, "pam", LEVEL_ERROR, "give the PAM configuration directory with --pam-dir DIR",
                        "cannot read %s: %s", d->pam_dir, strerror(errno));
                goto out;
        }
        while ((e = readdir(dir)) && n_names < 1024) {
                char **grown;
                struct stat st;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s", d->pam_dir, e->d_name);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                grown = realloc(names, (n_names + 1) * sizeof(*names));
                if (!grown)
                        break;
                names = grown;
                names[n_names] = strdup(e->d_name);
                if (names[n_names])
                        n_names++;
        }
        closedir(dir);
        if (n_names > 0)
                qsort(names, n_names, sizeof(*names), compare_names);
        /* Files other stacks include (common-session, ...) are parts, not
         * services: they are judged inside the stacks that include them. */
        for (size_t i = 0; i < n_names; i++) {
                pam_walk w = { 0 };

                snprintf(path, sizeof path, "%s/%s", d->pam_dir, names[i]);
                pam_walk_file(d, path, 0, &w, included);
        }
        for (size_t i = 0; i < n_names; i++) {
                pam_walk w = { 0 };

                if (json_array_has_string(included, names[i]))
                        continue;
                snprintf(path, sizeof path, "%s/%s", d->pam_dir, names[i]);
                pam_walk_file(d, path, 0, &w, NULL);
                if (!w.loads_enrich)
                        continue;
                stacks++;
                /* pam_enrich believes SSH_AUTH_INFO_0 only under sshd: there
                 * a user's environment file must not have been read yet. */
                if (strcmp(names[i], "sshd") == 0 && w.enrich_after_readenv[0]) {
                        snprintf(fix, sizeof fix,
                                 "move the pam_enrich.so session line (%s) above the "
                                 "pam_env.so user_readenv=1 line (%s)",
                                 w.enrich_after_readenv, w.readenv);
                        finding(d, "pam", LEVEL_ERROR, fix,
                                "%s: pam_enrich.so runs after pam_env.so "
                                "user_readenv=1, so a user's ~/.pam_environment can set SSH_AUTH_INFO_0 "
                                "and claim \"pop\" (a key) for a password login",
                                path);
                }
                if (w.problem == LEVEL_OK) {
                        finding(d, "pam", LEVEL_OK, NULL,
                                "%s: pam_keyinit.so force revoke runs before "
                                "pam_enrich.so",
                                path);
                        continue;
                }
                snprintf(fix, sizeof fix, "%s \"%s\" before the pam_enrich.so line (%s)",
                         w.problem == LEVEL_ERROR ? "add" : "make the pam_keyinit.so line read", keyinit_line, w.where);
                if (w.problem == LEVEL_ERROR)
                        finding(d, "pam", LEVEL_ERROR, fix,
                                "%s: pam_enrich.so runs without pam_keyinit.so "
                                "before it, so a login may share its session keyring with others",
                                path);
                else
                        finding(d, "pam", LEVEL_WARNING, fix,
                                "%s: pam_keyinit.so runs before pam_enrich.so "
                                "but without both \"force\" and \"revoke\"",
                                path);
        }
        /* The services pam_enrich(8) is written for: present but without
         * the module, their logins get no claims. */
        for (size_t i = 0; i < ARRAY_SIZE(pam_services); i++) {
                pam_walk w = { 0 };
                struct stat st;

                snprintf(path, sizeof path, "%s/%s", d->pam_dir, pam_services[i].name);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                pam_walk_file(d, path, 0, &w, NULL);
                if (w.loads_enrich)
                        continue;
                snprintf(fix, sizeof fix,
                         "add \"%s\" and then \"session optional pam_enrich.so%s\" to %s, %s "
                         "(pam_enrich(8))",
                         keyinit_line, pam_services[i].arguments, path, pam_services[i].where);
                finding(d, "pam", LEVEL_WARNING, fix, "%s does not load pam_enrich.so, so %s get no claims", path,
                        pam_services[i].who);
        }
        if (stacks == 0) {
                snprintf(fix, sizeof fix,
                         "add \"%s\" and then \"session optional pam_enrich.so\" to the "
                         "services that should get claims, e.g. %s/sshd (see pam_enrich(8))",
                         keyinit_line, d->pam_dir);
                finding(d, "pam", LEVEL_WARNING, fix,
                        "no PAM service in %s loads pam_enrich.so, so no "
                        "login gets claims",
                        d->pam_dir);
        }
out:
        for (size_t i = 0; i < n_names; i++)
                free(names[i]);
        free(names);
        json_decref(included);
}

/* ---- daemon socket and clock ---------------------------------------- */

static void check_socket(doctor *d) {
        varlink_client *c = NULL;
        const struct ucred *peer;
        json_t *reply = NULL, *sessions, *s;
        char *error = NULL;
        size_t i;
        int r;

        r = varlink_client_connect(d->socket, CTL_TIMEOUT_MS, NULL, 0, &c);
        if (r < 0) {
                finding(d, "socket", LEVEL_ERROR,
                        r == -ENOENT || r == -ECONNREFUSED ? "start the daemon: systemctl enable --now enrichd.socket "
                                                             "(or check the socket setting in the config)"
                                                           : "check the socket setting in the config and the journal: "
                                                             "journalctl -u enrichd",
                        "cannot connect to %s: %s", d->socket, strerror(-r));
                goto out;
        }
        peer = varlink_client_peer(c);
        if (peer->uid != 0 && !(d->have_daemon_uid && peer->uid == d->daemon_uid)) {
                finding(d, "socket", LEVEL_ERROR,
                        "stop whatever process listens there and let "
                        "systemd run enrichd as the enrich user (enrichd.socket); clients refuse it",
                        "%s is served by uid %u (pid %d), neither root nor the %s user", d->socket,
                        (unsigned) peer->uid, (int) peer->pid, DOCTOR_DAEMON_USER);
                goto out;
        }
        r = varlink_client_call(c, "io.enrich.Status", NULL, CTL_TIMEOUT_MS, &reply, &error);
        if (r < 0) {
                finding(d, "socket", LEVEL_ERROR, "look at the daemon's log: journalctl -u enrichd",
                        "%s accepts connections but Status failed: %s", d->socket,
                        r == -EREMOTEIO && error ? error : strerror(-r));
                goto out;
        }
        finding(d, "socket", LEVEL_OK, NULL, "enrichd %s answers at %s (peer uid %u)",
                json_string_value(json_object_get(reply, "version")) ?: "?", d->socket, (unsigned) peer->uid);
        /* The sessions the caller may see give the daemon's idea of "now"
         * for the clock check. */
        json_decref(reply);
        reply = NULL;
        free(error);
        error = NULL;
        if (varlink_client_call(c, "io.enrich.ListSessions", NULL, CTL_TIMEOUT_MS, &reply, &error) == 0) {
                sessions = json_object_get(reply, "sessions");
                json_array_foreach(sessions, i, s) {
                        time_t created = (time_t) json_integer_value(json_object_get(s, "created"));

                        if (created > d->newest_issue)
                                d->newest_issue = created;
                }
        }
out:
        json_decref(reply);
        free(error);
        varlink_client_free(c);
}

/* Fleet mode against etcd now (FleetCheck): reachable, the clock within
 * DOCTOR_FLEET_SKEW_MS of etcd's, the credentials authenticate, the prefix
 * readable. */
#define DOCTOR_FLEET_SKEW_MS 2000
static void check_fleet_etcd(doctor *d, varlink_client *c) {
        json_t *r = NULL;
        char *error = NULL;
        const char *credentials;
        long long skew;

        if (varlink_client_call(c, "io.enrich.FleetCheck", NULL, CTL_TIMEOUT_MS * 4, &r, &error) < 0) {
                finding(d, "fleet-etcd", LEVEL_WARNING, "run enrichctl doctor as root or an admin",
                        "cannot check etcd: %s", error ? error : "the call failed");
                goto out;
        }
        if (!json_is_true(json_object_get(r, "reachable"))) {
                finding(d, "fleet-etcd", LEVEL_ERROR, "check fleet.endpoints and the network",
                        "etcd does not answer: %s", ctl_str_or_dash(r, "reachError"));
                goto out;
        }
        skew = (long long) json_integer_value(json_object_get(r, "skewMs"));
        if (!json_object_get(r, "skewMs"))
                finding(d, "fleet-clock", LEVEL_WARNING, NULL, "cannot tell etcd's clock: %s",
                        ctl_str_or_dash(r, "reachError"));
        else if (llabs(skew) > DOCTOR_FLEET_SKEW_MS)
                finding(d, "fleet-clock", LEVEL_ERROR, "synchronize the clocks (systemd-timesyncd, chrony)",
                        "this clock is %.1f s %s etcd's (%s): grants and tokens expire at the wrong time here",
                        llabs(skew) / 1000.0, skew > 0 ? "behind" : "ahead of", ctl_str_or_dash(r, "endpoint"));
        else
                finding(d, "fleet-clock", LEVEL_OK, NULL, "clock within %.1f s of etcd's (%s)", llabs(skew) / 1000.0,
                        ctl_str_or_dash(r, "endpoint"));
        credentials = json_string_value(json_object_get(r, "credentials"));
        if (credentials && strcmp(credentials, "refused") == 0)
                finding(d, "fleet-auth", LEVEL_ERROR, "fix the user:password line of fleet.credentials",
                        "etcd refuses the credentials: %s", ctl_str_or_dash(r, "credentialsError"));
        else if (credentials && strcmp(credentials, "ok") == 0)
                finding(d, "fleet-auth", LEVEL_OK, NULL, "the etcd credentials authenticate");
        else if (credentials && strcmp(credentials, "unchecked") == 0)
                finding(d, "fleet-auth", LEVEL_WARNING, NULL, "cannot check the etcd credentials: %s",
                        ctl_str_or_dash(r, "credentialsError"));
        if (json_is_true(json_object_get(r, "prefixReadable")))
                finding(d, "fleet-prefix", LEVEL_OK, NULL, "the fleet prefix is readable");
        else
                finding(d, "fleet-prefix", LEVEL_ERROR,
                        "grant the host's etcd role read on the prefix (enrichctl fleet enroll)",
                        "cannot read the fleet prefix: %s", ctl_str_or_dash(r, "prefixError"));
out:
        json_decref(r);
        free(error);
}

/* Fleet mode, as the daemon sees it (FleetStatus, admin only): off is
 * fine; on, it must be in contact with etcd, and its fleet grants must
 * not be suspended for having been out of contact past offline_max. */
static void check_fleet(doctor *d) {
        varlink_client *c = NULL;
        json_t *r = NULL;
        char *error = NULL;
        long long age;

        if (varlink_client_connect(d->socket, CTL_TIMEOUT_MS, NULL, 0, &c) < 0)
                goto out;       /* check_socket said why */
        if (varlink_client_call(c, "io.enrich.FleetStatus", NULL, CTL_TIMEOUT_MS, &r, &error) < 0) {
                finding(d, "fleet", LEVEL_WARNING, "run enrichctl doctor as root or an admin",
                        "cannot read the fleet status: %s", error ? error : "the call failed");
                goto out;
        }
        if (!json_is_true(json_object_get(r, "enabled"))) {
                finding(d, "fleet", LEVEL_OK, NULL, "fleet mode is off (no fleet group)");
                goto out;
        }
        age = (long long) time(NULL) - (long long) json_integer_value(json_object_get(r, "lastContact"));
        if (json_is_true(json_object_get(r, "suspended")))
                finding(d, "fleet", LEVEL_ERROR,
                        "check the endpoints, the network and the credentials (journalctl -u enrichd)",
                        "no contact with etcd for %llds, past offline_max (%llds): fleet grants are not honoured", age,
                        (long long) json_integer_value(json_object_get(r, "offlineMax")));
        else if (!json_is_true(json_object_get(r, "connected")))
                finding(d, "fleet", LEVEL_WARNING,
                        "check the endpoints, the network and the credentials (journalctl -u enrichd)",
                        "not watching etcd now (last contact %llds ago; fleet grants stop counting after %llds)", age,
                        (long long) json_integer_value(json_object_get(r, "offlineMax")));
        else
                finding(d, "fleet", LEVEL_OK, NULL, "host %s watches etcd at revision %lld (last contact %llds ago)%s",
                        json_string_value(json_object_get(r, "hostId")) ?: "?",
                        (long long) json_integer_value(json_object_get(r, "revision")), age,
                        json_is_true(json_object_get(r, "issuer")) ? "; its key is a fleet issuer" : "");
        check_fleet_etcd(d, c);
        if (json_is_string(json_object_get(r, "credentials")))
                finding(d, "fleet-credentials", LEVEL_OK, NULL, "etcd credentials read from %s (%s)",
                        json_string_value(json_object_get(r, "credentials")),
                        json_is_string(json_object_get(r, "credentialsSource")) &&
                                        strcmp(json_string_value(json_object_get(r, "credentialsSource")), "systemd") ==
                                                0
                                ? "a systemd credential"
                                : "fleet.credentials");
out:
        json_decref(r);
        free(error);
        varlink_client_free(c);
}

/* The clock must not run behind times this host already wrote down: the
 * newest session the daemon started, the caller's own token, the JWKS. A
 * clock far behind makes fresh tokens "not yet valid" everywhere. */
static void check_clock(doctor *d) {
        time_t now = time(NULL), newest = d->newest_issue;
        const char *source = newest ? "the newest session enrichd started" : NULL;
        enrich_claims *claims = NULL;
        struct stat st;
        char ago[64];

        if (now < 1577836800) {   /* 2020-01-01 */
                finding(d, "clock", LEVEL_ERROR, "set the clock: timedatectl set-ntp true",
                        "the system clock reads %lld, before 2020", (long long) now);
                return;
        }
        if (enrich_claims_load_jwks(d->jwks, &claims) == ENRICH_OK && enrich_claims_issued_at(claims) > newest) {
                newest = enrich_claims_issued_at(claims);
                source = "your session's claims token (iat)";
        }
        enrich_claims_free(claims);
        if (stat(d->jwks, &st) == 0 && st.st_mtime > newest) {
                newest = st.st_mtime;
                source = d->jwks;
        }
        if (!source) {
                finding(d, "clock", LEVEL_OK, NULL, "no issued token to compare the clock with");
                return;
        }
        if (newest > now + CLOCK_SLACK)
                finding(d, "clock", LEVEL_ERROR,
                        "fix the time (timedatectl; systemd-timesyncd or chrony), "
                        "then restart enrichd",
                        "the clock is %lld s behind %s: tokens issued now look not yet valid",
                        (long long) (newest - now), source);
        else
                finding(d, "clock", LEVEL_OK, NULL, "the clock agrees with %s (%s)", source,
                        ctl_format_relative(newest, now, ago, sizeof ago));
}

/* ---- files ---------------------------------------------------------- */

/* Checks owner (root or the daemon user) and that no bits of forbidden
 * are set on path. Missing is a warning: enrichd creates these at start. */
static void check_private(doctor *d, const char *check, const char *path, mode_t wanted, bool dir) {
        char fix[PATH_MAX + 128];
        struct stat st;

        if (stat(path, &st) < 0) {
                if (errno == EACCES)
                        finding(d, check, LEVEL_WARNING, "run enrichctl doctor as root", "cannot inspect %s as uid %u",
                                path, (unsigned) getuid());
                else
                        finding(d, check, LEVEL_WARNING,
                                "start enrichd once (systemctl start enrichd), "
                                "which creates it",
                                "%s: %s", path, strerror(errno));
                return;
        }
        if (dir != !!S_ISDIR(st.st_mode)) {
                finding(d, check, LEVEL_ERROR, "move it away and restart enrichd", "%s is not a %s", path,
                        dir ? "directory" : "regular file");
                return;
        }
        if (st.st_uid != 0 && !(d->have_daemon_uid && st.st_uid == d->daemon_uid)) {
                snprintf(fix, sizeof fix, "chown %s %s", DOCTOR_DAEMON_USER, path);
                finding(d, check, LEVEL_ERROR, fix, "%s is owned by uid %u, neither root nor %s", path,
                        (unsigned) st.st_uid, DOCTOR_DAEMON_USER);
                return;
        }
        if (st.st_mode & 077) {
                snprintf(fix, sizeof fix, "chmod %04o %s", (unsigned) wanted, path);
                finding(d, check, LEVEL_ERROR, fix, "%s has mode %04o: group or others may %s it", path,
                        (unsigned) (st.st_mode & 07777), dir ? "enter" : "read");
                return;
        }
        finding(d, check, LEVEL_OK, NULL, "%s: mode %04o, owner uid %u", path, (unsigned) (st.st_mode & 07777),
                (unsigned) st.st_uid);
}

static void check_state(doctor *d) {
        char key[PATH_MAX];

        check_private(d, "state-dir", d->state_dir, 0700, true);
        snprintf(key, sizeof key, "%s/%s", d->state_dir, DOCTOR_KEY_FILE);
        check_private(d, "signing-key", key, 0600, false);
}

static void check_jwks(doctor *d) {
        jwks *set = NULL;
        struct stat st;
        int r;

        r = jwks_load_file(d->jwks, &set);
        if (r < 0) {
                finding(d, "jwks", LEVEL_ERROR,
                        r == -ENOENT ? "start enrichd, which publishes it (systemctl start enrichd), "
                                       "or check the jwks setting"
                                     : "restart enrichd to publish it again: systemctl restart enrichd",
                        "cannot %s %s: %s", r == -EBADMSG ? "parse" : "read", d->jwks, strerror(-r));
                goto out;
        }
        if (jwks_count(set) == 0) {
                finding(d, "jwks", LEVEL_ERROR, "restart enrichd: systemctl restart enrichd",
                        "%s holds no Ed25519 key: no token can be verified", d->jwks);
                goto out;
        }
        if (stat(d->jwks, &st) == 0 && (st.st_mode & 0004) == 0) {
                char fix[PATH_MAX + 32];

                snprintf(fix, sizeof fix, "chmod 0644 %s", d->jwks);
                finding(d, "jwks", LEVEL_WARNING, fix,
                        "%s is not world-readable: users cannot verify "
                        "their claims",
                        d->jwks);
                goto out;
        }
        finding(d, "jwks", LEVEL_OK, NULL, "%s: %zu key(s)", d->jwks, jwks_count(set));
out:
        jwks_free(set);
}

static void check_nsswitch(doctor *d) {
        char line[1024], fix[PATH_MAX + 128];
        bool found = false, has_systemd = false;
        unsigned lineno = 0, group_line = 0;
        FILE *f;

        if (d->n_groups == 0) {
                finding(d, "nsswitch", LEVEL_OK, NULL, "no userdb groups configured; nothing to check");
                return;
        }
        snprintf(fix, sizeof fix, "add systemd to the group line of %s, e.g. \"group: files systemd\"", d->nsswitch);
        f = fopen(d->nsswitch, "re");
        if (!f) {
                finding(d, "nsswitch", LEVEL_WARNING, fix, "cannot read %s: %s", d->nsswitch, strerror(errno));
                return;
        }
        while (fgets(line, sizeof line, f)) {
                char *words[32];
                size_t n = pam_words(line, words, ARRAY_SIZE(words));

                lineno++;
                if (n == 0 || strcmp(words[0], "group:") != 0)
                        continue;
                found = true;
                group_line = lineno;
                for (size_t i = 1; i < n; i++)
                        has_systemd |= strcmp(words[i], "systemd") == 0;
        }
        fclose(f);
        if (found)
                snprintf(fix, sizeof fix,
                         "add systemd to the group line of %s (line %u), e.g. \"group: files "
                         "systemd\"",
                         d->nsswitch, group_line);
        if (has_systemd)
                finding(d, "nsswitch", LEVEL_OK, NULL,
                        "%s resolves groups through systemd (%d userdb "
                        "group(s) configured)",
                        d->nsswitch, d->n_groups);
        else
                finding(d, "nsswitch", LEVEL_WARNING, fix,
                        "%d userdb group(s) are configured but %s %s, "
                        "so getent and id will not see them",
                        d->n_groups, d->nsswitch, found ? "has no systemd on its group line" : "has no group line");
}

/* ---- groups through NSS ------------------------------------------------- */

/* Whether nss-systemd reaches the userdb socket: it asks every socket in
 * DOCTOR_USERDB_DIR, so the socket itself or a link to it must be there. */
static bool userdb_socket_linked(const doctor *d) {
        char path[PATH_MAX];
        struct stat want, st;
        struct dirent *e;
        bool found = false;
        DIR *dir;

        if (stat(d->userdb_socket, &want) < 0)
                return false;
        dir = opendir(DOCTOR_USERDB_DIR);
        if (!dir)
                return false;
        while (!found && (e = readdir(dir))) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s", DOCTOR_USERDB_DIR, e->d_name);
                found = stat(path, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino;
        }
        closedir(dir);
        return found;
}

/* Why getent cannot find a configured userdb group, as a finding. */
static void explain_missing_group(doctor *d, const char *name) {
        char fix[3 * PATH_MAX + 256];
        const char *base = strrchr(d->userdb_socket, '/');
        struct stat st;

        base = base ? base + 1 : d->userdb_socket;
        if (stat(d->userdb_socket, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                snprintf(fix, sizeof fix,
                         "start enrichd (systemctl status enrichd.socket enrichd.service; "
                         "journalctl -u enrichd) and check userdb_socket in %s",
                         d->config_path);
                finding(d, "nss", LEVEL_ERROR, fix,
                        "getent group %s finds nothing: no userdb socket at %s, "
                        "so enrichd is not serving its groups",
                        name, d->userdb_socket);
        } else if (!userdb_socket_linked(d)) {
                snprintf(fix, sizeof fix,
                         "set userdb_socket = \"%s/%s\"; in %s and restart enrichd "
                         "(systemctl restart enrichd), or link it: ln -s %s %s/%s",
                         DOCTOR_USERDB_DIR, base, d->config_path, d->userdb_socket, DOCTOR_USERDB_DIR, base);
                finding(d, "nss", LEVEL_ERROR, fix,
                        "getent group %s finds nothing: the userdb socket %s is "
                        "not in %s, the only place nss-systemd looks",
                        name, d->userdb_socket, DOCTOR_USERDB_DIR);
        } else {
                snprintf(fix, sizeof fix,
                         "make the group line of /etc/nsswitch.conf read \"group: files "
                         "systemd\", then check with: userdbctl group %s",
                         name);
                finding(d, "nss", LEVEL_ERROR, fix, "getent group %s finds nothing although %s is in %s", name,
                        d->userdb_socket, DOCTOR_USERDB_DIR);
        }
}

/* A member of a userdb group through getgrouplist, the call initgroups
 * makes at login: the first live grant of a configured group (admins and
 * root see every grant; others their own). */
static void check_nss_member(doctor *d, const bool *resolved) {
        varlink_client *c = NULL;
        json_t *reply = NULL, *grants, *g;
        char *error = NULL;
        size_t i;

        if (varlink_client_connect(d->socket, CTL_TIMEOUT_MS, NULL, 0, &c) < 0 ||
            varlink_client_call(c, "io.enrich.ListGrants", NULL, CTL_TIMEOUT_MS, &reply, &error) < 0)
                goto out;
        grants = json_object_get(reply, "grants");
        json_array_foreach(grants, i, g) {
                const char *user = json_string_value(json_object_get(g, "user"));
                gid_t list[NGROUPS_MAX];
                int n = NGROUPS_MAX, k = -1;
                struct passwd *pw;
                bool member = false;

                if (!user || json_object_get(g, "revoked"))
                        continue;
                for (int j = 0; j < DOCTOR_MAX_GROUPS && k < 0; j++)
                        if (resolved[j] && json_array_has_string(json_object_get(g, "groups"), d->group_names[j]))
                                k = j;
                if (k < 0 || !(pw = getpwnam(user)))
                        continue;
                if (getgrouplist(user, pw->pw_gid, list, &n) < 0)
                        n = 0;
                for (int j = 0; j < n; j++)
                        member |= list[j] == (gid_t) d->group_gids[k];
                if (member)
                        finding(d, "nss", LEVEL_OK, NULL, "id %s lists %s (grant %s) through NSS", user,
                                d->group_names[k], json_string_value(json_object_get(g, "id")) ?: "?");
                else
                        finding(d, "nss", LEVEL_ERROR,
                                "check that enrichd answers for the grant: "
                                "userdbctl groups-of-user and userdbctl group; then journalctl -u enrichd",
                                "%s has a live grant of %s (%s) but getgrouplist does not list gid %lld, so "
                                "a new login of %s will not be in it",
                                user, d->group_names[k], json_string_value(json_object_get(g, "id")) ?: "?",
                                d->group_gids[k], user);
                break;
        }
out:
        json_decref(reply);
        free(error);
        varlink_client_free(c);
}

/* Each configured userdb group as getent sees it: proof that NSS reaches
 * enrichd, not only that the config says so. */
static void check_nss_groups(doctor *d) {
        bool resolved[DOCTOR_MAX_GROUPS] = { false }, any = false;

        for (int i = 0; i < DOCTOR_MAX_GROUPS; i++) {
                const struct group *gr;
                char fix[PATH_MAX + 128];

                if (!d->group_names[i])
                        continue;
                gr = getgrnam(d->group_names[i]);
                if (!gr) {
                        explain_missing_group(d, d->group_names[i]);
                        continue;
                }
                if ((long long) gr->gr_gid != d->group_gids[i]) {
                        snprintf(fix, sizeof fix,
                                 "give the group another name or gid in %s, or remove the "
                                 "other entry (getent -s files group %s)",
                                 d->config_path, d->group_names[i]);
                        finding(d, "nss", LEVEL_ERROR, fix,
                                "getent group %s gives gid %u, not the configured "
                                "%lld: another NSS source holds the name",
                                d->group_names[i], (unsigned) gr->gr_gid, d->group_gids[i]);
                        continue;
                }
                finding(d, "nss", LEVEL_OK, NULL, "getent group %s gives gid %u through NSS", d->group_names[i],
                        (unsigned) gr->gr_gid);
                resolved[i] = any = true;
        }
        if (any)
                check_nss_member(d, resolved);
}

static void check_machine_id(doctor *d) {
        char *text = NULL;
        size_t len = 0, hex = 0;
        int r;

        r = read_file_bounded(d->machine_id, 128, &text, &len);
        if (r < 0) {
                finding(d, "machine-id", LEVEL_ERROR, "run systemd-machine-id-setup",
                        "cannot read %s: %s: tokens carry it as their audience", d->machine_id, strerror(-r));
                return;
        }
        while (hex < len && isxdigit((unsigned char) text[hex]))
                hex++;
        if (hex != 32 || (len > 32 && text[32] != '\n'))
                finding(d, "machine-id", LEVEL_ERROR, "run systemd-machine-id-setup",
                        "%s does not hold a machine id (32 hex digits)", d->machine_id);
        else
                finding(d, "machine-id", LEVEL_OK, NULL, "%s is set", d->machine_id);
        free(text);
}

/* ---- output --------------------------------------------------------- */

static void print_text(const doctor *d) {
        size_t i, counts[3] = { 0 };
        json_t *f;

        json_array_foreach(d->findings, i, f) {
                const char *level = json_string_value(json_object_get(f, "level"));
                const char *fix = json_string_value(json_object_get(f, "fix"));

                for (int l = 0; l < 3; l++)
                        if (strcmp(level, level_names[l]) == 0)
                                counts[l]++;
                printf("%-8s %-12s %s\n", level, json_string_value(json_object_get(f, "check")),
                       json_string_value(json_object_get(f, "message")));
                if (fix && strcmp(level, "ok") != 0)
                        printf("%-8s %-12s fix: %s\n", "", "", fix);
        }
        printf("\n%zu ok, %zu warning(s), %zu error(s)\n", counts[LEVEL_OK], counts[LEVEL_WARNING],
               counts[LEVEL_ERROR]);
}

int cmd_doctor(const ctl_options *o) {
        doctor d = {
                .o = o,
                .findings = json_array(),
                .config_path = o->config ? o->config : DOCTOR_CONFIG,
                .pam_dir = o->pam_dir ? o->pam_dir : DOCTOR_PAM_DIR,
                .nsswitch = o->nsswitch ? o->nsswitch : DOCTOR_NSSWITCH,
                .machine_id = o->machine_id ? o->machine_id : DOCTOR_MACHINE_ID,
        };
        int code = CTL_EXIT_ERROR;

        if (!d.findings || read_config_paths(&d) < 0) {
                fprintf(stderr, "enrichctl: out of memory\n");
                goto out;
        }
        d.have_daemon_uid = lookup_uid(DOCTOR_DAEMON_USER, &d.daemon_uid) == 0;
        check_config(&d);
        check_pam(&d);
        check_socket(&d);
        check_fleet(&d);
        check_nsswitch(&d);
        check_nss_groups(&d);
        check_state(&d);
        check_jwks(&d);
        check_clock(&d);
        check_machine_id(&d);
        if (o->json) {
                json_t *doc = json_pack("{s:s, s:O}", "status", level_names[d.worst], "findings", d.findings);

                if (doc)
                        ctl_print_json(doc);
                json_decref(doc);
        } else {
                print_text(&d);
        }
        code = d.worst == LEVEL_OK ? CTL_EXIT_OK : d.worst == LEVEL_WARNING ? CTL_EXIT_NO : CTL_EXIT_ERROR;
out:
        json_decref(d.findings);
        free(d.socket);
        free(d.jwks);
        free(d.state_dir);
        free(d.userdb_socket);
        for (size_t i = 0; i < DOCTOR_MAX_GROUPS; i++)
                free(d.group_names[i]);
        return code;
}
