/* userdb.c: io.systemd.UserDatabase for the config's time-bound groups. A
 * user is a member of a group while an active grant gives it, or while a
 * rule that needs no login gives it (policy_evaluate with session_context
 * false: rules on users, unix_groups and times).
 *
 * Calls are answered on the server's userdb thread from a snapshot that the
 * main thread builds (userdb_sync) whenever grants, config, the local
 * account files or, for rules on hours/days, the minute change. The userdb
 * thread touches nothing else: no sqlite, no policy code (which switches TZ
 * and is not thread-safe), no NSS, so a main-socket call stuck on a slow
 * disk never delays an NSS caller.
 *
 * Rules' unix_groups and not_unix_groups are decided from the same source
 * as the claims: each candidate's groups through NSS (identity_unix_groups,
 * getgrouplist), so that a user whom a rule excludes through an LDAP, SSSD
 * or userdb group is left out here as in the claims. Those lookups run on
 * the main thread while it builds the snapshot, never on the userdb thread
 * (main.c sets SYSTEMD_BYPASS_USERDB, so nss-systemd does not ask this very
 * service), and go into a cache whose entries live USERDB_NSS_MAX_AGE_MS
 * less a random part of USERDB_NSS_JITTER_MS each, so they do not all age
 * out together. A lookup blocks the main thread (logins with it), so:
 * lookups run only in builds started from the tick (userdb_tick), never in
 * one that follows a call (userdb_sync: a login, a grant), which reuses
 * what the cache holds, stale or not; and a build stops looking up once
 * USERDB_NSS_BUDGET_MS have passed since its first lookup (or after
 * USERDB_NSS_BUDGET lookups), leaving the rest for the next tick. A user
 * not yet resolved gets nothing from rules on unix_groups or
 * not_unix_groups (fail closed) until a later build resolves it; rules
 * that do not look at Unix groups still apply to it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "grants.h"
#include "identity.h"
#include "clock.h"
#include "log.h"
#include "policy.h"
#include "identities.h"
#include "userdb.h"
#include "util.h"
#include "varlink.h"
#include "varlink_service.h"

#define USERDB_INTERFACE   "io.systemd.UserDatabase"
#define USERDB_PASSWD_FILE "/etc/passwd"
/* Bounds: users evaluated for the rules per snapshot, replies in one
 * stream. */
#define USERDB_MAX_CANDIDATES 65536
#define USERDB_MAX_REPLIES    16384
#define USERDB_MAX_LINE       65536
/* NSS group lists of candidates are reused this long, and at most this many
 * are looked up per build. */
#define USERDB_NSS_MAX_AGE_MS 60000
#define USERDB_NSS_JITTER_MS  15000
#define USERDB_NSS_BUDGET     256
/* A build looks up no more once this long has passed since its first
 * lookup (one slow lookup still takes what it takes). */
#define USERDB_NSS_BUDGET_MS 15
/* Builds for the cache alone (users left out, entries aged) at most this
 * often: each one evaluates every candidate again. */
#define USERDB_NSS_RETRY_MS 1000

/* What the userdb thread answers from: built by the main thread, read by
 * the userdb thread, never changed once published. */
typedef struct snapshot {
        config_group *groups;           /* copies of the config's groups */
        size_t n_groups;
        grants_index *members;          /* (user, group, expires): grants with
                                         * their expiry, rules with INT64_MAX */
} snapshot;

struct userdb {
        /* Immutable. */
        char *service;
        /* Main thread only. */
        enrichd *d;
        grants_index *grants;           /* from sqlite */
        char built_config[17];          /* content hash of the config it was built from */
        int64_t built_generation;
        int64_t built_minute;           /* for rules on hours/days; -1: none */
        int64_t built_identities;       /* d->identities_generation built from */
        struct timespec passwd_mtime, group_mtime;
        /* Unix groups through NSS: { user: { "groups": [names], "at": ms,
         * "until": ms } }, the lookups this build may still make and since
         * when it makes them, and whether a build left a user unresolved
         * or stale (then the next tick builds again). */
        json_t *nss;
        bool nss_may_look_up;
        unsigned nss_budget;
        int64_t nss_started_ms;         /* first lookup of this build; 0: none yet */
        bool nss_incomplete;
        int64_t nss_next_expiry_ms;     /* monotonic ms when the first entry in nss ages out */
        int64_t nss_valid_after_ms;     /* entries older are stale (account files changed) */
        int64_t nss_built_ms;           /* last build that could look up */
        int (*nss_lookup)(const char *user, char ***ret);
        /* Shared: the main thread swaps current under lock, the userdb
         * thread answers under it. */
        pthread_mutex_t lock;
        snapshot *current;
};

static void snapshot_free(snapshot *sn) {
        if (!sn)
                return;
        for (size_t i = 0; i < sn->n_groups; i++) {
                free(sn->groups[i].name);
                free(sn->groups[i].description);
        }
        free(sn->groups);
        grants_index_free(sn->members);
        free(sn);
}

/* The names of user's Unix groups through NSS; an unknown user has none. */
static int nss_lookup_groups(const char *user, char ***ret) {
        struct passwd pw;
        char *pwbuf = NULL, **names = NULL;
        int r;

        r = identity_lookup_user(user, 0, &pw, &pwbuf);
        if (r == 0)
                r = identity_unix_groups(user, pw.pw_gid, &names);
        if (r == -ENOENT) {     /* no such user: no groups */
                names = calloc(1, sizeof(char *));
                r = names ? 0 : -ENOMEM;
        }
        free(pwbuf);
        if (r < 0)
                return r;
        *ret = names;
        return 0;
}

int userdb_new(enrichd *d, const char *socket_path, userdb **ret) {
        const char *slash = strrchr(socket_path, '/');
        userdb *u = calloc(1, sizeof *u);

        if (!u)
                return -ENOMEM;
        u->d = d;
        u->built_generation = -1;
        u->built_identities = -1;
        u->built_minute = -1;
        u->nss_lookup = nss_lookup_groups;
        u->service = strdup(slash ? slash + 1 : socket_path);
        if (!u->service) {
                free(u);
                return -ENOMEM;
        }
        pthread_mutex_init(&u->lock, NULL);
        *ret = u;
        return 0;
}

void userdb_free(userdb *u) {
        if (!u)
                return;
        snapshot_free(u->current);
        grants_index_free(u->grants);
        json_decref(u->nss);
        pthread_mutex_destroy(&u->lock);
        free(u->service);
        free(u);
}

const char *userdb_service(const userdb *u) {
        return u->service;
}

/* ---- /etc/passwd, read directly: whom to ask about ----------------------- */

/* Calls fn with the colon-separated fields of every line of path (at most
 * 7, the last one unsplit); lines longer than USERDB_MAX_LINE are skipped.
 * A missing file reads as empty. Stops at fn's first negative return. */
static int for_each_entry(const char *path, int (*fn)(void *userdata, char **fields, size_t n), void *userdata) {
        FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t size = 0;
        ssize_t len;
        int r = 0;

        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (r >= 0 && (len = getline(&line, &size, f)) >= 0) {
                char *fields[7], *rest = line;
                size_t n = 0;

                if (len > USERDB_MAX_LINE)
                        continue;
                if (len > 0 && line[len - 1] == '\n')
                        line[len - 1] = '\0';
                while (n < 6 && rest)
                        fields[n++] = strsep(&rest, ":");
                if (rest)
                        fields[n++] = rest;
                if (n >= 3 && fields[0][0] != '\0' && fields[0][0] != '#')
                        r = fn(userdata, fields, n);
        }
        free(line);
        fclose(f);
        return r < 0 ? r : 0;
}

/* The local accounts, read once per snapshot: users { name: primary gid }. */
typedef struct local_accounts {
        json_t *users;
} local_accounts;

static int add_passwd_entry(void *userdata, char **f, size_t n) {
        local_accounts *a = userdata;

        if (n < 4 || json_object_size(a->users) >= USERDB_MAX_CANDIDATES)
                return 0;
        return json_object_set_new(a->users, f[0], json_string(f[3])) < 0 ? -ENOMEM : 0;
}

/* Local accounts whose uid is disabled (an alias made with useradd -o):
 * their names join the set of disabled names. */
typedef struct disabled_aliases {
        json_t *names;
        const uid_t *uids;      /* ascending (identities_disabled_uids) */
        size_t n;
} disabled_aliases;

static int compare_uid(const void *a, const void *b) {
        uid_t x = *(const uid_t *) a, y = *(const uid_t *) b;

        return x < y ? -1 : x > y;
}

static int add_disabled_alias(void *userdata, char **f, size_t n) {
        disabled_aliases *a = userdata;
        unsigned long v;
        uid_t uid;
        char *end;

        if (n < 3 || !f[2][0])
                return 0;
        errno = 0;
        v = strtoul(f[2], &end, 10);
        uid = (uid_t) v;
        if (*end || errno || v != uid || !bsearch(&uid, a->uids, a->n, sizeof uid, compare_uid))
                return 0;
        return json_object_set_new(a->names, f[0], json_null()) < 0 ? -ENOMEM : 0;
}

/* ---- building the snapshot (main thread) ------------------------------------ */

static bool is_served(const config *c, const char *group) {
        for (size_t i = 0; i < c->n_groups; i++)
                if (strcmp(c->groups[i].name, group) == 0)
                        return true;
        return false;
}

/* Whether a rule that needs no login gives a served group. */
static bool rule_counts(const config *c, const config_rule *rule) {
        if (config_rule_needs_login(rule))
                return false;
        for (size_t i = 0; rule->grant_groups && rule->grant_groups[i]; i++)
                if (is_served(c, rule->grant_groups[i]))
                        return true;
        return false;
}

static int json_to_strv(json_t *array, char ***ret) {
        char **list = calloc(json_array_size(array) + 1, sizeof(char *));
        json_t *v;
        size_t i, n = 0;

        if (!list)
                return -ENOMEM;
        json_array_foreach(array, i, v)
                if (json_is_string(v) && !(list[n++] = strdup(json_string_value(v)))) {
                        strv_free(list);
                        return -ENOMEM;
                }
        *ret = list;
        return 0;
}

/* Whether this build may look up one more user: only a build from the
 * tick, within its count and its time (counted from its first lookup). */
static bool nss_may_look_up(userdb *u, int64_t now_ms) {
        if (!u->nss_may_look_up || u->nss_budget == 0)
                return false;
        if (u->nss_started_ms == 0)
                u->nss_started_ms = now_ms;
        return now_ms - u->nss_started_ms < USERDB_NSS_BUDGET_MS;
}

/* A new cache entry: looked up at now_ms, fresh until a little before
 * USERDB_NSS_MAX_AGE_MS, by a random part of USERDB_NSS_JITTER_MS. */
static json_t *nss_entry(json_t *groups, int64_t now_ms) {
        int64_t until = now_ms + USERDB_NSS_MAX_AGE_MS - random() % USERDB_NSS_JITTER_MS;

        return json_pack("{s:O?, s:I, s:I}", "groups", groups, "at", (json_int_t) now_ms, "until", (json_int_t) until);
}

/* The names of user's Unix groups through NSS, as the claims see them:
 * from u->nss while fresh, else looked up now if this build may
 * (nss_may_look_up; a stale entry is reused when it may not). A failed
 * lookup keeps the old groups, or none, until the entry ages out and is
 * tried again. The entry is carried into next, the cache after this
 * build. *ret is NULL when the user's groups are not known at all. */
static int nss_unix_groups(userdb *u, json_t *next, const char *user, char ***ret) {
        json_t *cached = json_object_get(u->nss, user), *entry = NULL, *list = NULL;
        char **names = NULL;
        int64_t at = json_integer_value(json_object_get(cached, "at"));
        int64_t until = json_integer_value(json_object_get(cached, "until"));
        int64_t now_ms = clock_monotonic_ms();
        int r = 0;

        *ret = NULL;
        if (cached && at >= u->nss_valid_after_ms && now_ms < until) {
                entry = json_incref(cached);
        } else if (nss_may_look_up(u, now_ms)) {
                u->nss_budget--;
                r = u->nss_lookup(user, &names);
                /* The clock again: the lookup may have been slow. */
                now_ms = clock_monotonic_ms();
                if (r == 0) {
                        list = strv_to_json(names);
                        entry = list ? nss_entry(list, now_ms) : NULL;
                } else if (r != -ENOMEM) {
                        log_warning_errno(r, "Failed to look up the Unix groups of %s for userdb", user);
                        entry = nss_entry(json_object_get(cached, "groups"), now_ms);
                        r = 0;
                }
                if (!entry && r == 0)
                        r = -ENOMEM;
        } else {
                u->nss_incomplete = true;
                entry = json_incref(cached);     /* NULL: never looked up, unknown */
        }
        if (r < 0 || !entry)
                goto out;
        if (json_object_set(next, user, entry) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (json_is_array(json_object_get(entry, "groups")))
                r = json_to_strv(json_object_get(entry, "groups"), ret);
out:
        json_decref(entry);
        json_decref(list);
        strv_free(names);
        return r;
}

/* Whether one of the rules that gave group (from r's sources) does not
 * look at Unix groups. */
static bool given_without_unix_groups(const config *c, const policy_result *r, const char *group) {
        for (size_t i = 0; i < r->n_sources; i++) {
                const policy_source *src = &r->sources[i];

                if (src->kind != POLICY_CLAIM_GROUP || !src->rule || strcmp(src->value, group) != 0)
                        continue;
                for (size_t k = 0; k < c->n_rules; k++)
                        if (c->rules[k].name == src->rule && !c->rules[k].match_unix_groups &&
                            !c->rules[k].match_not_unix_groups)
                                return true;
        }
        return false;
}

/* Adds the served groups rules without login give user at now; with
 * need_unix_groups, from the user's groups through NSS. */
static int add_rule_memberships(userdb *u, const config *c, json_t *next_nss, bool need_unix_groups, const char *user,
                                time_t now, grants_index *x) {
        char **unix_groups = NULL;
        policy_result *result = NULL;
        bool unresolved = false;
        int r = 0;

        if (need_unix_groups) {
                r = nss_unix_groups(u, next_nss, user, &unix_groups);
                if (r < 0)
                        return r;
                unresolved = !unix_groups;
        }
        policy_input in = {
                .user = user,
                .uid = (uid_t) -1,
                .unix_groups = unix_groups,
                .now = now,
                .session_context = false,
        };
        r = policy_evaluate(c, &in, &result);
        /* Unresolved: a group only a rule on Unix groups gives is left out
         * (fail closed, not_unix_groups included: the user may be in one);
         * other rules apply as they would. */
        for (size_t i = 0; r == 0 && result->groups && result->groups[i]; i++)
                if (is_served(c, result->groups[i]) &&
                    (!unresolved || given_without_unix_groups(c, result, result->groups[i])))
                        r = grants_index_add(x, user, result->groups[i], INT64_MAX);
        policy_result_free(result);
        strv_free(unix_groups);
        return r;
}

/* The members rules give: every local user, grant holder and user a rule
 * names is evaluated (the policy decides; this only picks whom to ask). A
 * user known only to LDAP/SSSD and named by no rule or grant is not seen. */
static int add_rules(userdb *u, const config *c, json_t *disabled, time_t now, grants_index *x) {
        local_accounts a = { .users = json_object() };
        json_t *next_nss = NULL;
        const grants_membership *held = NULL;
        bool need_unix_groups = false, any = false;
        const char *user;
        json_t *value;
        size_t n;
        int r = 0;

        if (!a.users) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < c->n_rules; i++)
                if (rule_counts(c, &c->rules[i])) {
                        any = true;
                        need_unix_groups |= c->rules[i].match_unix_groups || c->rules[i].match_not_unix_groups;
                }
        if (!any)
                goto out;
        r = for_each_entry(USERDB_PASSWD_FILE, add_passwd_entry, &a);
        if (r < 0)
                goto out;
        if (need_unix_groups) {
                next_nss = json_object();
                if (!next_nss) {
                        r = -ENOMEM;
                        goto out;
                }
                u->nss_budget = USERDB_NSS_BUDGET;
                u->nss_started_ms = 0;
                u->nss_incomplete = false;
        }
        /* Candidates beyond the local users: grant holders and named users
         * (with no primary group known). */
        n = grants_index_all(u->grants, &held);
        for (size_t i = 0; i < n && r == 0; i++)
                if (!json_object_get(a.users, held[i].user) && json_object_size(a.users) < USERDB_MAX_CANDIDATES)
                        r = json_object_set_new(a.users, held[i].user, json_null());
        for (size_t i = 0; i < c->n_rules && r == 0; i++)
                for (size_t k = 0;
                     rule_counts(c, &c->rules[i]) && c->rules[i].match_users && c->rules[i].match_users[k] && r == 0;
                     k++)
                        if (!json_object_get(a.users, c->rules[i].match_users[k]) &&
                            json_object_size(a.users) < USERDB_MAX_CANDIDATES)
                                r = json_object_set_new(a.users, c->rules[i].match_users[k], json_null());
        if (r < 0) {
                r = -ENOMEM;
                goto out;
        }
        json_object_foreach(a.users, user, value) {
                if (json_object_get(disabled, user))
                        continue;
                r = add_rule_memberships(u, c, next_nss, need_unix_groups, user, now, x);
                if (r < 0)
                        goto out;
        }
out:
        /* Users no longer candidates drop out of the cache. */
        if (next_nss && (r >= 0 || r == -E2BIG)) {
                const char *name;
                json_t *entry;

                u->nss_next_expiry_ms = INT64_MAX;
                json_object_foreach(next_nss, name, entry)
                        if (json_integer_value(json_object_get(entry, "until")) < u->nss_next_expiry_ms)
                                u->nss_next_expiry_ms = json_integer_value(json_object_get(entry, "until"));
                json_decref(u->nss);
                u->nss = next_nss;
                next_nss = NULL;
        }
        json_decref(next_nss);
        json_decref(a.users);
        return r == -E2BIG ? 0 : r;
}

static int snapshot_build(userdb *u, time_t now, snapshot **ret) {
        const config *c = u->d->config;
        const grants_membership *held = NULL;
        snapshot *sn = calloc(1, sizeof *sn);
        json_t *disabled = NULL;
        uid_t *uids = NULL;
        size_t n, n_uids = 0;
        int r;

        if (!sn)
                return -ENOMEM;
        /* A disabled identity is a member of nothing, like its claims:
         * under its names, and under the local names of its uid. */
        r = identities_disabled_set(u->d->db, &disabled);
        if (r == 0)
                r = identities_disabled_uids(u->d->db, &uids, &n_uids);
        if (r == 0 && n_uids > 0)
                r = for_each_entry(USERDB_PASSWD_FILE, add_disabled_alias,
                                   &(disabled_aliases) { .names = disabled, .uids = uids, .n = n_uids });
        if (r < 0)
                goto out;
        sn->groups = calloc(c->n_groups + 1, sizeof(config_group));
        if (!sn->groups) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < c->n_groups; i++) {
                config_group *g = &sn->groups[sn->n_groups++];
                g->gid = c->groups[i].gid;
                g->name = strdup(c->groups[i].name);
                g->description = c->groups[i].description ? strdup(c->groups[i].description) : NULL;
                if (!g->name || (c->groups[i].description && !g->description)) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        r = grants_index_new(u->built_generation, &sn->members);
        if (r < 0)
                goto out;
        n = grants_index_all(u->grants, &held);
        for (size_t i = 0; i < n && r == 0; i++)
                if (is_served(c, held[i].group) && !json_object_get(disabled, held[i].user))
                        r = grants_index_add(sn->members, held[i].user, held[i].group, held[i].expires);
        if (r == 0 || r == -E2BIG)
                r = add_rules(u, c, disabled, now, sn->members);
        if (r == 0)
                r = grants_index_seal(sn->members);
        if (r < 0)
                goto out;
        *ret = sn;
        sn = NULL;
out:
        free(uids);
        json_decref(disabled);
        snapshot_free(sn);
        return r;
}

static bool rules_use_time(const config *c) {
        for (size_t i = 0; i < c->n_rules; i++)
                if (rule_counts(c, &c->rules[i]) && (c->rules[i].match_hours || c->rules[i].match_days))
                        return true;
        return false;
}

static bool rules_use_unix_groups(const config *c) {
        for (size_t i = 0; i < c->n_rules; i++)
                if (rule_counts(c, &c->rules[i]) &&
                    (c->rules[i].match_unix_groups || c->rules[i].match_not_unix_groups))
                        return true;
        return false;
}

static bool mtime_changed(const char *path, struct timespec *seen) {
        struct stat st;
        struct timespec now = { 0 };

        if (stat(path, &st) == 0)
                now = st.st_mtim;
        if (now.tv_sec == seen->tv_sec && now.tv_nsec == seen->tv_nsec)
                return false;
        *seen = now;
        return true;
}

static void sync_snapshot(userdb *u, bool may_look_up) {
        const config *c = u->d->config;
        time_t now = (time_t) clock_now();
        int64_t minute = rules_use_time(c) ? (int64_t) now / 60 : -1;
        bool accounts_changed, rebuild;
        snapshot *fresh = NULL, *old;
        int r;

        /* Both stats always run, so each remembers its file's time. */
        accounts_changed = mtime_changed(USERDB_PASSWD_FILE, &u->passwd_mtime);
        accounts_changed |= mtime_changed(CONFIG_GROUP_FILE, &u->group_mtime);
        /* Local account files changed: what NSS said of them is stale
         * (and used only until looked up again, within the budget). */
        if (accounts_changed)
                u->nss_valid_after_ms = clock_monotonic_ms();
        rebuild = !u->current || accounts_changed || strcmp(c->content_hash, u->built_config) != 0 ||
                  minute != u->built_minute || u->d->identities_generation != u->built_identities;
        /* Directory groups change without a file to watch: look again when
         * an entry ages out, and go on while a build left users out; only
         * from the tick, and at most every USERDB_NSS_RETRY_MS. */
        if (may_look_up && rules_use_unix_groups(c) && clock_monotonic_ms() - u->nss_built_ms >= USERDB_NSS_RETRY_MS &&
            (u->nss_incomplete || clock_monotonic_ms() >= u->nss_next_expiry_ms))
                rebuild = true;
        if (!u->grants || grants_index_generation(u->grants) != u->d->grants_generation) {
                grants_index *loaded = NULL;
                r = grants_index_load(u->d->db, now, u->d->grants_generation, &loaded);
                if (r < 0) {
                        /* The old snapshot stays: expired grants still drop
                         * out by their expiry, and the next sync tries again. */
                        log_struct(LOG_ERR, LOG_MSGID_DATABASE, NULL, "Failed to load the grants for userdb: %s",
                                   r == -EIO ? db_last_error(u->d->db) : strerror(-r));
                        return;
                }
                grants_index_free(u->grants);
                u->grants = loaded;
                rebuild = true;
        }
        if (!rebuild)
                return;
        u->built_generation = u->d->grants_generation;
        u->nss_may_look_up = may_look_up;
        if (may_look_up)
                u->nss_built_ms = clock_monotonic_ms();
        r = snapshot_build(u, now, &fresh);
        if (r < 0) {
                log_error_errno(r, "Failed to build the userdb groups");
                return;
        }
        snprintf(u->built_config, sizeof u->built_config, "%s", c->content_hash);
        u->built_minute = minute;
        u->built_identities = u->d->identities_generation;
        pthread_mutex_lock(&u->lock);
        old = u->current;
        u->current = fresh;
        pthread_mutex_unlock(&u->lock);
        snapshot_free(old);
}

void userdb_sync(userdb *u) {
        sync_snapshot(u, false);
}

void userdb_tick(userdb *u) {
        sync_snapshot(u, true);
}

void userdb_set_nss_lookup(userdb *u, int (*lookup)(const char *user, char ***ret)) {
        u->nss_lookup = lookup ? lookup : nss_lookup_groups;
}

/* ---- answers (userdb thread, under lock) ---------------------------------- */

static const config_group *find_group(const snapshot *sn, const char *name, bool by_gid, gid_t gid) {
        for (size_t i = 0; i < sn->n_groups; i++)
                if (name ? strcmp(sn->groups[i].name, name) == 0 : by_gid && sn->groups[i].gid == gid)
                        return &sn->groups[i];
        return NULL;
}

/* The members of g at now, sorted by name. */
static json_t *group_members_at(const snapshot *sn, const config_group *g, time_t now) {
        const grants_membership *held = NULL;
        size_t n = grants_index_by_group(sn->members, g->name, &held);
        json_t *list = json_array();

        for (size_t i = 0; list && i < n; i++)
                if (held[i].expires > now && json_array_append_new(list, json_string(held[i].user)) < 0) {
                        json_decref(list);
                        return NULL;
                }
        return list;
}

/* ---- replies ---------------------------------------------------------------- */

static json_t *error_reply(const char *name) {
        return varlink_error_new(name, json_object());
}

static json_t *invalid_parameter(const char *parameter) {
        return varlink_error_new("org.varlink.service.InvalidParameter", json_pack("{s:s}", "parameter", parameter));
}

/* A stream of parameter objects (stolen) as replies: all but the last with
 * "continues". Without more, a single one is a plain reply, several are
 * refused: a client that enumerates must ask for a stream. Empty: none. */
static json_t *stream(json_t *items, bool more) {
        json_t *replies = NULL, *item;
        size_t n = json_array_size(items), i;

        if (n == 0) {
                replies = error_reply("io.systemd.UserDatabase.NoRecordFound");
                goto out;
        }
        if (n == 1 && !more) {
                replies = varlink_reply_new(json_incref(json_array_get(items, 0)), false);
                goto out;
        }
        if (!more) {
                replies = varlink_error_new("org.varlink.service.ExpectedMore", json_object());
                goto out;
        }
        replies = json_array();
        json_array_foreach(items, i, item)
                if (!replies || json_array_append_new(replies, varlink_reply_new(json_incref(item), i + 1 < n)) < 0) {
                        json_decref(replies);
                        replies = NULL;
                        goto out;
                }
out:
        json_decref(items);
        return replies;
}

/* Checks the optional string parameter name: *ret is NULL when absent or
 * null. False when it has another type. */
static bool optional_string(json_t *params, const char *name, const char **ret) {
        json_t *v = json_object_get(params, name);

        *ret = json_string_value(v);
        return !v || json_is_null(v) || json_is_string(v);
}

/* Sets key (a constant) to value (taken over, may be NULL) in *object; a
 * failure frees *object and leaves NULL, which later calls pass on. Built
 * so rather than with json_pack, whose format parsing cost as much as the
 * objects: these are built for every userdb call. */
static void put(json_t **object, const char *key, json_t *value) {
        if (!*object) {
                json_decref(value);
                return;
        }
        if (json_object_set_new_nocheck(*object, key, value) < 0) {     /* value released either way */
                json_decref(*object);
                *object = NULL;
        }
}

static json_t *group_record(const userdb *u, const snapshot *sn, const config_group *g, time_t now) {
        json_t *record = json_object(), *reply = json_object();

        put(&record, "groupName", json_string(g->name));
        put(&record, "gid", json_integer((json_int_t) g->gid));
        put(&record, "service", json_string(u->service));
        put(&record, "disposition", json_string_nocheck("regular"));
        put(&record, "members", group_members_at(sn, g, now));
        if (g->description)
                put(&record, "description", json_string(g->description));
        put(&reply, "record", record);
        put(&reply, "incomplete", json_false());
        return reply;
}

static json_t *get_group_record(const userdb *u, const snapshot *sn, json_t *params, bool more, time_t now) {
        json_t *gid_value = json_object_get(params, "gid"), *items = NULL;
        const config_group *by_name = NULL, *by_gid = NULL;
        const char *name;
        bool has_gid = gid_value && !json_is_null(gid_value);

        if (!optional_string(params, "groupName", &name))
                return invalid_parameter("groupName");
        if (has_gid && (!json_is_integer(gid_value) || json_integer_value(gid_value) < 0 ||
                        json_integer_value(gid_value) > (json_int_t) UINT32_MAX))
                return invalid_parameter("gid");
        if (name)
                by_name = find_group(sn, name, false, 0);
        if (has_gid)
                by_gid = find_group(sn, NULL, true, (gid_t) json_integer_value(gid_value));
        if ((name && !by_name) || (has_gid && !by_gid))
                return error_reply("io.systemd.UserDatabase.NoRecordFound");
        if (by_name && by_gid && by_name != by_gid)
                return error_reply("io.systemd.UserDatabase.ConflictingRecordFound");
        items = json_array();
        for (size_t i = 0; items && i < sn->n_groups; i++) {
                const config_group *g = &sn->groups[i];
                if ((by_name && g != by_name) || (by_gid && g != by_gid))
                        continue;
                if (json_array_append_new(items, group_record(u, sn, g, now)) < 0) {
                        json_decref(items);
                        return NULL;
                }
        }
        return items ? stream(items, more) : NULL;
}

static int append_membership(json_t *items, const char *user, const char *group) {
        json_t *membership;

        if (json_array_size(items) >= USERDB_MAX_REPLIES)
                return 0;
        membership = json_object();

        put(&membership, "userName", json_string(user));
        put(&membership, "groupName", json_string(group));
        return json_array_append_new(items, membership) < 0 ? -ENOMEM : 0;
}

static json_t *get_memberships(const snapshot *sn, json_t *params, bool more, time_t now) {
        const config_group *only = NULL;
        const char *user, *group;
        json_t *items;
        int r = 0;

        if (!optional_string(params, "userName", &user))
                return invalid_parameter("userName");
        if (!optional_string(params, "groupName", &group))
                return invalid_parameter("groupName");
        items = json_array();
        if (!items)
                return NULL;
        if (group && !(only = find_group(sn, group, false, 0)))
                return stream(items, more);     /* NoRecordFound */
        if (user) {
                const grants_membership *const *held = NULL;
                size_t n = grants_index_by_user(sn->members, user, &held);

                for (size_t i = 0; i < n && r == 0; i++)
                        if (held[i]->expires > now && (!only || strcmp(only->name, held[i]->group) == 0))
                                r = append_membership(items, user, held[i]->group);
        } else {
                const grants_membership *held = NULL;
                size_t n = only ? grants_index_by_group(sn->members, only->name, &held)
                                : grants_index_all(sn->members, &held);

                for (size_t i = 0; i < n && r == 0; i++)
                        if (held[i].expires > now)
                                r = append_membership(items, held[i].user, held[i].group);
        }
        if (r < 0) {
                json_decref(items);
                return NULL;
        }
        return stream(items, more);
}

json_t *userdb_call(userdb *u, const struct ucred *peer, const char *method, json_t *params, bool more) {
        time_t now = (time_t) clock_now();
        const char *service = NULL;
        json_t *reply = NULL;
        bool userdb_method = strncmp(method, USERDB_INTERFACE ".", strlen(USERDB_INTERFACE ".")) == 0;
        const varlink_interface interfaces[] = { { USERDB_INTERFACE, userdb_interface_description() } };

        if (varlink_service_call(interfaces, ARRAY_SIZE(interfaces), method, params, &reply))
                return reply;
        if (userdb_method) {
                /* The spec: a call naming another service is refused, so
                 * that a client never takes our answer for another's. */
                if (!optional_string(params, "service", &service))
                        return invalid_parameter("service");
                if (!service || strcmp(service, u->service) != 0)
                        return error_reply("io.systemd.UserDatabase.BadService");
        }
        if (strcmp(method, USERDB_INTERFACE ".GetUserRecord") == 0)
                return error_reply("io.systemd.UserDatabase.NoRecordFound");   /* enrich defines no users */
        if (strcmp(method, USERDB_INTERFACE ".GetGroupRecord") == 0 ||
            strcmp(method, USERDB_INTERFACE ".GetMemberships") == 0) {
                pthread_mutex_lock(&u->lock);
                if (!u->current)
                        reply = error_reply("io.systemd.UserDatabase.ServiceNotAvailable");
                else if (strcmp(method, USERDB_INTERFACE ".GetGroupRecord") == 0)
                        reply = get_group_record(u, u->current, params, more, now);
                else
                        reply = get_memberships(u->current, params, more, now);
                pthread_mutex_unlock(&u->lock);
                return reply;
        }
        return varlink_error_new("org.varlink.service.MethodNotFound", json_pack("{s:s}", "method", method));
}
