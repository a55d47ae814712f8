/* config.h: enrichd's configuration (libconfig; enrichd.conf(5) and
 * docs/admin-guide.md, "Policy"): paths, token lifetimes, userdb groups
 * and policy rules.
 * A config is parsed completely and validated before it is used, so a broken
 * file is refused with its file, line and reason and never half-applied. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#define CONFIG_DEFAULT_PATH          "/etc/enrich/enrichd.conf"
#define CONFIG_DEFAULT_SOCKET        "/run/enrich/io.enrich"
#define CONFIG_DEFAULT_USERDB_SOCKET "/run/systemd/userdb/io.enrich.Groups"
#define CONFIG_DEFAULT_JWKS          "/run/enrich/jwks.json"
#define CONFIG_DEFAULT_STATE_DIR     "/var/lib/enrich"
#define CONFIG_DEFAULT_CLAIMS_TTL    900
#define CONFIG_DEFAULT_MAX_TTL       28800
#define CONFIG_DEFAULT_ADMIN_GROUP   "enrich-admin"
/* Failed service-account token logins of one user before it is locked. */
#define CONFIG_DEFAULT_TOKEN_MAX_FAILURES     5
#define CONFIG_DEFAULT_TOKEN_LOCK_SECONDS     60
#define CONFIG_DEFAULT_TOKEN_LOCK_MAX_SECONDS 3600
/* The audit trail (audit.c): a signed checkpoint every this many rows or
 * seconds (whichever comes first), and rows kept this many days (0: all). */
#define CONFIG_DEFAULT_AUDIT_CHECKPOINT_ROWS    1000
#define CONFIG_DEFAULT_AUDIT_CHECKPOINT_SECONDS 3600
#define CONFIG_DEFAULT_AUDIT_RETENTION_DAYS     0
#define CONFIG_DEFAULT_AUDIT_REFUSAL_WINDOW     60
/* Access requests (requests { ... }): how long one waits for a decision,
 * and how many one user may have pending at once (at most
 * CONFIG_MAX_REQUESTS_PENDING, so no user can cost unbounded rows). */
#define CONFIG_DEFAULT_REQUEST_TIMEOUT     86400
#define CONFIG_DEFAULT_REQUEST_MAX_PENDING 5
#define CONFIG_MAX_REQUESTS_PENDING        100
#define CONFIG_MAX_FILE_SIZE               (1024 * 1024)
/* Bounds on what a config may ask for, so a typo cannot exhaust memory. */
#define CONFIG_MAX_RULES 1024
#define CONFIG_MAX_LIST  1024
/* At most this many errors are reported for one file. */
#define CONFIG_MAX_ERRORS 100
/* The range a config's userdb groups must come from, unless set. */
#define CONFIG_DEFAULT_GID_MIN 61000
#define CONFIG_DEFAULT_GID_MAX 61999
#define CONFIG_GROUP_FILE      "/etc/group"
#define CONFIG_ZONEINFO_DIR    "/usr/share/zoneinfo"

/* A NULL-terminated array of strings, NULL meaning empty. */
void strv_free(char **list);
size_t strv_length(char *const *list);
bool strv_contains(char *const *list, const char *s);
/* The list as a JSON array of strings (a new reference), NULL when out of
 * memory. NULL or empty gives []. */
json_t *strv_to_json(char *const *list);

/* A time-bound Unix group served through userdb. */
typedef struct config_group {
        char *name;
        gid_t gid;
        char *description;        /* NULL: not set */
        int line;
} config_group;

/* One entry of a rule's rhosts, parsed at load time so that evaluating a
 * login costs a few byte comparisons. A v4-mapped v6 network
 * (::ffff:a.b.c.d/96+n) is stored as the v4 network a.b.c.d/n. */
typedef struct config_rhost {
        int family;               /* AF_INET, AF_INET6, or AF_UNSPEC for a host name */
        unsigned char address[16];/* network address, host bits zero */
        unsigned prefix;          /* prefix length in bits */
        char *name;               /* lowercase host name without a trailing dot
                                   * (AF_UNSPEC only) */
} config_rhost;

/* One policy rule. Every match condition that is set must hold (AND); a
 * value matches when it equals one entry of the list (OR); an exclusion
 * (not_*) that holds stops the rule. An empty match matches every session.
 * hours and days are read in the config's timezone, independently of each
 * other: "22:00-06:00" with days ["Fri"] holds on Friday 22:00-24:00 and on
 * Friday 00:00-06:00. */
typedef struct config_rule {
        char *name;
        int line;                 /* source line, for messages and explain */
        char **match_users;
        char **match_unix_groups;
        char **match_services;
        char **match_ttys;
        char **match_rhosts;      /* as written, for messages */
        config_rhost *rhosts;     /* parsed match_rhosts */
        size_t n_rhosts;
        char **match_amr;
        char **match_not_users;
        char **match_not_unix_groups;
        char *match_hours;        /* as written, NULL: not set */
        int hours_start;          /* minutes since midnight */
        int hours_end;            /* exclusive, up to 24 * 60; < hours_start wraps
                                   * past midnight */
        unsigned match_days;      /* bit n = struct tm's tm_wday n (0 Sunday); 0: not set */
        char **grant_groups;
        char **grant_scopes;
        char *grant_tenant;       /* NULL: not set */
        unsigned grant_ttl;       /* 0: not set; else 1..max_ttl (clamped at load) */
} config_rule;

/* The fleet group (fleet mode, docs/contract.md "Fleet mode"); the
 * config's fleet is NULL without one. Files are checked at load: the
 * credentials root-owned 0600 "user:password", the issuers a JWKS. */
#define CONFIG_FLEET_DEFAULT_PREFIX      "/enrich/"
#define CONFIG_FLEET_DEFAULT_OFFLINE_MAX 300
#define CONFIG_FLEET_MAX_ENDPOINTS       16
/* fleet.labels at most (peers refuse a presence record with more). */
#define CONFIG_FLEET_MAX_LABELS 64
/* The credential name systemd passes the credentials file under
 * (LoadCredential=fleet.credentials:PATH): when $CREDENTIALS_DIRECTORY
 * holds it, it is read instead of the configured path, which the daemon's
 * user could not read (root 0600). */
#define CONFIG_FLEET_CREDENTIAL_NAME "fleet.credentials"

typedef struct config_fleet {
        char **endpoints;         /* "http(s)://host:port", at least one */
        char *prefix;             /* starts and ends with '/' */
        char *credentials;        /* the file read; NULL: etcd without authentication */
        bool credentials_systemd; /* credentials is $CREDENTIALS_DIRECTORY's (below) */
        char *ca, *cert, *key;    /* NULL: not set */
        char *host_id;            /* NULL: /etc/machine-id */
        char **labels;            /* never NULL once loaded */
        char *issuers;            /* JWKS file of the trusted issuer keys */
        unsigned offline_max;     /* seconds */
} config_fleet;

typedef struct config {
        char *path;
        char *socket;
        char *userdb_socket;
        char *jwks;
        char *state_dir;
        char *issuer;
        char *admin_group;
        char *timezone;           /* zone for hours/days, NULL: the system's local time */
        gid_t gid_min, gid_max;   /* the range groups' gids must come from */
        unsigned claims_ttl;
        unsigned max_ttl;
        unsigned token_max_failures; /* wrong secrets in a row before a token id is locked */
        unsigned token_lock_seconds; /* the first lock; each further failure doubles it */
        unsigned token_lock_max_seconds; /* ... up to this */
        unsigned audit_checkpoint_rows;
        unsigned audit_checkpoint_seconds;
        unsigned audit_retention_days;  /* 0: keep every row */
        unsigned audit_refusal_window;  /* seconds refusals of one kind share a summary row */
        unsigned request_timeout;       /* seconds a request waits for a decision */
        unsigned request_max_pending;   /* pending requests per user */
        char **request_two_approver_groups; /* a request naming one needs two approvals */
        char **request_two_approver_scopes;
        config_group *groups;
        size_t n_groups;
        config_rule *rules;
        size_t n_rules;
        config_fleet *fleet;      /* NULL: no fleet group, fleet mode off */
        /* Short hash of the config file's content (hex), the base of the
         * policy version "pv" claim. */
        char content_hash[17];
} config;

/* Reads and validates path. On success *ret is a new config (free with
 * config_free). On failure returns a negative errno and, when ret_error is
 * non-NULL, sets *ret_error to a malloc'd message holding every error found,
 * one "FILE:LINE: reason" per line (no trailing newline). */
int config_load(const char *path, config **ret, char **ret_error);
/* config_load, checking groups against group_file instead of /etc/group
 * (read directly, never through NSS, which would see our own userdb
 * groups). For tests; group_file NULL means /etc/group. */
int config_load_with(const char *path, const char *group_file, config **ret, char **ret_error);

/* True when the rule names a condition only a login can answer (services,
 * ttys, rhosts, amr). */
bool config_rule_needs_login(const config_rule *rule);
void config_free(config *c);
void config_fleet_free(config_fleet *f);
