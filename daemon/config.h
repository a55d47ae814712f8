/* config.h: enrichd's configuration (libconfig, DESIGN.md "Policy:
 * libconfig"): paths, token lifetimes, userdb groups and policy rules.
 * A config is parsed completely and validated before it is used, so a broken
 * file is refused with its file, line and reason and never half-applied. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH          "/etc/enrich/enrichd.conf"
#define CONFIG_DEFAULT_SOCKET        "/run/enrich/io.enrich"
#define CONFIG_DEFAULT_USERDB_SOCKET "/run/systemd/userdb/io.enrich.Groups"
#define CONFIG_DEFAULT_JWKS          "/run/enrich/jwks.json"
#define CONFIG_DEFAULT_STATE_DIR     "/var/lib/enrich"
#define CONFIG_DEFAULT_CLAIMS_TTL    900
#define CONFIG_DEFAULT_MAX_TTL       28800
#define CONFIG_DEFAULT_ADMIN_GROUP   "enrich-admin"
#define CONFIG_MAX_FILE_SIZE         (1024 * 1024)
/* Bounds on what a config may ask for, so a typo cannot exhaust memory. */
#define CONFIG_MAX_RULES             1024
#define CONFIG_MAX_LIST              1024

/* A NULL-terminated array of strings, NULL meaning empty. */
void strv_free(char **list);
size_t strv_length(char *const *list);
bool strv_contains(char *const *list, const char *s);

/* A time-bound Unix group served through userdb. */
typedef struct config_group {
        char *name;
        gid_t gid;
} config_group;

/* One policy rule. Every match list that is set must match (AND); a value
 * matches when it equals one entry of the list (OR). An empty match matches
 * every session. */
typedef struct config_rule {
        char *name;
        int line;                 /* source line, for messages and explain */
        char **match_users;
        char **match_unix_groups;
        char **match_services;
        char **grant_groups;
        char **grant_scopes;
        char *grant_tenant;       /* NULL: not set */
        unsigned grant_ttl;       /* 0: not set */
} config_rule;

typedef struct config {
        char *path;
        char *socket;
        char *userdb_socket;
        char *jwks;
        char *state_dir;
        char *issuer;
        char *admin_group;
        unsigned claims_ttl;
        unsigned max_ttl;
        config_group *groups;
        size_t n_groups;
        config_rule *rules;
        size_t n_rules;
        /* Short hash of the config file's content (hex), the base of the
         * policy version "pv" claim. */
        char content_hash[17];
} config;

/* Reads and validates path. On success *ret is a new config (free with
 * config_free). On failure returns a negative errno and, when ret_error is
 * non-NULL, sets *ret_error to a malloc'd message "FILE:LINE: reason". */
int config_load(const char *path, config **ret, char **ret_error);
void config_free(config *c);
