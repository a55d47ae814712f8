/* config.c: parses and validates enrichd.conf with libconfig. Every setting is
 * checked for type, range and spelling; unknown settings are errors (a typo in
 * a policy must never be silently ignored), each reported with its line. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include "config.h"
#include "util.h"

void strv_free(char **list) {
        if (!list)
                return;
        for (char **p = list; *p; p++)
                free(*p);
        free(list);
}

size_t strv_length(char *const *list) {
        size_t n = 0;
        while (list && list[n])
                n++;
        return n;
}

bool strv_contains(char *const *list, const char *s) {
        for (size_t i = 0; list && list[i]; i++)
                if (strcmp(list[i], s) == 0)
                        return true;
        return false;
}

/* Parsing state: the file name for messages and the first error found. */
typedef struct parse_context {
        const char *path;
        char *error;
} parse_context;

static int fail(parse_context *ctx, const config_setting_t *s, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Records "FILE:LINE: message" (the first error wins) and returns -EINVAL. */
static int fail(parse_context *ctx, const config_setting_t *s, const char *format, ...) {
        char message[512];
        va_list ap;

        if (ctx->error)
                return -EINVAL;
        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        if (asprintf(&ctx->error, "%s:%d: %s", ctx->path,
                     s ? (int) config_setting_source_line(s) : 0, message) < 0)
                ctx->error = NULL;
        return -EINVAL;
}

static const char *type_name(int type) {
        switch (type) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a float";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
        default: return "an unknown type";
        }
}

static int parse_string(parse_context *ctx, const config_setting_t *s, const char *name,
                        bool allow_empty, char **ret) {
        const char *value;
        char *copy;

        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail(ctx, s, "'%s' must be a string, not %s", name,
                            type_name(config_setting_type(s)));
        value = config_setting_get_string(s);
        if (!allow_empty && (!value || !*value))
                return fail(ctx, s, "'%s' must not be empty", name);
        copy = strdup(value ? value : "");
        if (!copy)
                return -ENOMEM;
        free(*ret);
        *ret = copy;
        return 0;
}

static int parse_absolute_path(parse_context *ctx, const config_setting_t *s, const char *name,
                               char **ret) {
        int r = parse_string(ctx, s, name, false, ret);
        if (r < 0)
                return r;
        if ((*ret)[0] != '/')
                return fail(ctx, s, "'%s' must be an absolute path, not \"%s\"", name, *ret);
        return 0;
}

/* An integer in [min, max]; a negative value gets its own message since that
 * is the likely mistake. */
static int parse_uint_setting(parse_context *ctx, const config_setting_t *s, const char *name,
                              long long min, long long max, unsigned *ret) {
        long long value;
        int type = config_setting_type(s);

        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return fail(ctx, s, "'%s' must be an integer, not %s", name, type_name(type));
        value = config_setting_get_int64(s);
        if (value < 0)
                return fail(ctx, s, "'%s' must not be negative (got %lld)", name, value);
        if (value < min || value > max)
                return fail(ctx, s, "'%s' must be between %lld and %lld (got %lld)",
                            name, min, max, value);
        *ret = (unsigned) value;
        return 0;
}

/* An array or list of non-empty strings; duplicates are dropped. */
static int parse_strv(parse_context *ctx, const config_setting_t *s, const char *name, char ***ret) {
        int type = config_setting_type(s);
        int n;
        char **list = NULL;
        size_t count = 0;
        int r = 0;

        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return fail(ctx, s, "'%s' must be a list of strings, not %s", name, type_name(type));
        n = config_setting_length(s);
        if (n > CONFIG_MAX_LIST)
                return fail(ctx, s, "'%s' has %d entries, at most %d are allowed", name, n, CONFIG_MAX_LIST);
        list = calloc((size_t) n + 1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *value;

                if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                        r = fail(ctx, e, "'%s' must contain only strings, entry %d is %s",
                                 name, i + 1, type_name(config_setting_type(e)));
                        goto out;
                }
                value = config_setting_get_string(e);
                if (!value || !*value) {
                        r = fail(ctx, e, "'%s' entry %d must not be empty", name, i + 1);
                        goto out;
                }
                if (strv_contains(list, value))
                        continue;
                list[count] = strdup(value);
                if (!list[count]) {
                        r = -ENOMEM;
                        goto out;
                }
                count++;
        }
        strv_free(*ret);
        *ret = list;
        list = NULL;
out:
        strv_free(list);
        return r;
}

static int require_group(parse_context *ctx, const config_setting_t *s, const char *name) {
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return fail(ctx, s, "'%s' must be a group { ... }, not %s", name,
                            type_name(config_setting_type(s)));
        return 0;
}

static int parse_match(parse_context *ctx, const config_setting_t *match, const char *rule,
                       config_rule *out) {
        char name[256];
        int r;

        r = require_group(ctx, match, "match");
        if (r < 0)
                return r;
        for (int i = 0; i < config_setting_length(match); i++) {
                const config_setting_t *s = config_setting_get_elem(match, (unsigned) i);
                const char *key = config_setting_name(s);

                snprintf(name, sizeof name, "rules.%s.match.%s", rule, key);
                if (strcmp(key, "users") == 0)
                        r = parse_strv(ctx, s, name, &out->match_users);
                else if (strcmp(key, "unix_groups") == 0)
                        r = parse_strv(ctx, s, name, &out->match_unix_groups);
                else if (strcmp(key, "services") == 0)
                        r = parse_strv(ctx, s, name, &out->match_services);
                else if (strcmp(key, "rhosts") == 0 || strcmp(key, "hours") == 0 ||
                         strcmp(key, "days") == 0 || strcmp(key, "amr") == 0)
                        /* Refused rather than ignored: a rule that silently
                         * matched more widely than written would grant too much. */
                        r = fail(ctx, s, "match key '%s' in rule '%s' is not supported yet "
                                 "(supported: users, unix_groups, services)", key, rule);
                else
                        r = fail(ctx, s, "unknown match key '%s' in rule '%s' "
                                 "(known: users, unix_groups, services)", key, rule);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_grant(parse_context *ctx, const config_setting_t *grant, const char *rule,
                       unsigned max_ttl, config_rule *out) {
        char name[256];
        int r;

        r = require_group(ctx, grant, "grant");
        if (r < 0)
                return r;
        for (int i = 0; i < config_setting_length(grant); i++) {
                const config_setting_t *s = config_setting_get_elem(grant, (unsigned) i);
                const char *key = config_setting_name(s);

                snprintf(name, sizeof name, "rules.%s.grant.%s", rule, key);
                if (strcmp(key, "groups") == 0)
                        r = parse_strv(ctx, s, name, &out->grant_groups);
                else if (strcmp(key, "scopes") == 0) {
                        r = parse_strv(ctx, s, name, &out->grant_scopes);
                        for (size_t j = 0; r == 0 && out->grant_scopes && out->grant_scopes[j]; j++)
                                if (strpbrk(out->grant_scopes[j], " \t\n\""))
                                        r = fail(ctx, s, "scope \"%s\" in '%s' must not contain "
                                                 "spaces or quotes", out->grant_scopes[j], name);
                } else if (strcmp(key, "tenant") == 0)
                        r = parse_string(ctx, s, name, false, &out->grant_tenant);
                else if (strcmp(key, "ttl") == 0) {
                        r = parse_uint_setting(ctx, s, name, 1, UINT_MAX, &out->grant_ttl);
                        (void) max_ttl; /* clamped at evaluation, not refused */
                } else
                        r = fail(ctx, s, "unknown grant key '%s' in rule '%s' "
                                 "(known: groups, scopes, tenant, ttl)", key, rule);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_rule(parse_context *ctx, const config_setting_t *s, size_t index,
                      config *c, config_rule *out) {
        const config_setting_t *name_setting, *match = NULL, *grant = NULL;
        char fallback[32];
        const char *rule;
        int r;

        out->line = (int) config_setting_source_line(s);
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return fail(ctx, s, "rule %zu must be a group { name = ...; match = {...}; grant = {...}; }, not %s",
                            index + 1, type_name(config_setting_type(s)));
        name_setting = config_setting_get_member(s, "name");
        if (!name_setting)
                return fail(ctx, s, "rule %zu has no 'name'", index + 1);
        r = parse_string(ctx, name_setting, "name", false, &out->name);
        if (r < 0)
                return r;
        for (size_t i = 0; i < index; i++)
                if (strcmp(c->rules[i].name, out->name) == 0)
                        return fail(ctx, name_setting, "duplicate rule name '%s' (first used on line %d)",
                                    out->name, c->rules[i].line);
        rule = out->name ? out->name : (snprintf(fallback, sizeof fallback, "%zu", index + 1), fallback);

        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *key = config_setting_name(e);

                if (strcmp(key, "name") == 0)
                        continue;
                else if (strcmp(key, "match") == 0)
                        match = e;
                else if (strcmp(key, "grant") == 0)
                        grant = e;
                else
                        return fail(ctx, e, "unknown setting '%s' in rule '%s' (known: name, match, grant)",
                                    key, rule);
        }
        if (!grant)
                return fail(ctx, s, "rule '%s' has no 'grant' (what should it give?)", rule);
        if (match) {
                r = parse_match(ctx, match, rule, out);
                if (r < 0)
                        return r;
        }
        r = parse_grant(ctx, grant, rule, c->max_ttl, out);
        if (r < 0)
                return r;
        if (!out->grant_groups && !out->grant_scopes && !out->grant_tenant && out->grant_ttl == 0)
                return fail(ctx, grant, "rule '%s' grants nothing (set groups, scopes, tenant or ttl)", rule);
        return 0;
}

static int parse_rules(parse_context *ctx, const config_setting_t *s, config *c) {
        int n, r;

        if (config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail(ctx, s, "'rules' must be a list ( {...}, ... ), not %s",
                            type_name(config_setting_type(s)));
        n = config_setting_length(s);
        if (n > CONFIG_MAX_RULES)
                return fail(ctx, s, "%d rules, at most %d are allowed", n, CONFIG_MAX_RULES);
        c->rules = calloc((size_t) n, sizeof(config_rule));
        if (!c->rules && n > 0)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                c->n_rules = (size_t) i + 1;
                r = parse_rule(ctx, config_setting_get_elem(s, (unsigned) i), (size_t) i, c,
                               &c->rules[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_groups(parse_context *ctx, const config_setting_t *s, config *c) {
        int n, r;

        if (config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail(ctx, s, "'groups' must be a list ( { name = ...; gid = ...; }, ... ), not %s",
                            type_name(config_setting_type(s)));
        n = config_setting_length(s);
        if (n > CONFIG_MAX_LIST)
                return fail(ctx, s, "%d groups, at most %d are allowed", n, CONFIG_MAX_LIST);
        c->groups = calloc((size_t) n, sizeof(config_group));
        if (!c->groups && n > 0)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                const config_setting_t *g = config_setting_get_elem(s, (unsigned) i);
                config_group *out = &c->groups[i];
                bool have_gid = false;
                unsigned gid = 0;

                c->n_groups = (size_t) i + 1;
                r = require_group(ctx, g, "groups entry");
                if (r < 0)
                        return r;
                for (int j = 0; j < config_setting_length(g); j++) {
                        const config_setting_t *e = config_setting_get_elem(g, (unsigned) j);
                        const char *key = config_setting_name(e);

                        if (strcmp(key, "name") == 0)
                                r = parse_string(ctx, e, "groups.name", false, &out->name);
                        else if (strcmp(key, "gid") == 0) {
                                /* Below 1000 belongs to the distribution; 65534 is nogroup. */
                                r = parse_uint_setting(ctx, e, "groups.gid", 1000, 2147483646, &gid);
                                have_gid = true;
                        } else
                                r = fail(ctx, e, "unknown setting '%s' in groups entry (known: name, gid)", key);
                        if (r < 0)
                                return r;
                }
                if (!out->name)
                        return fail(ctx, g, "groups entry %d has no 'name'", i + 1);
                if (!have_gid)
                        return fail(ctx, g, "group '%s' has no 'gid'", out->name);
                out->gid = (gid_t) gid;
                for (int k = 0; k < i; k++) {
                        if (strcmp(c->groups[k].name, out->name) == 0)
                                return fail(ctx, g, "duplicate group name '%s'", out->name);
                        if (c->groups[k].gid == out->gid)
                                return fail(ctx, g, "group '%s' reuses gid %u of group '%s'",
                                            out->name, gid, c->groups[k].name);
                }
        }
        return 0;
}

static int set_defaults(config *c) {
        char host[256] = "";

        c->socket = strdup(CONFIG_DEFAULT_SOCKET);
        c->userdb_socket = strdup(CONFIG_DEFAULT_USERDB_SOCKET);
        c->jwks = strdup(CONFIG_DEFAULT_JWKS);
        c->state_dir = strdup(CONFIG_DEFAULT_STATE_DIR);
        c->admin_group = strdup(CONFIG_DEFAULT_ADMIN_GROUP);
        if (gethostname(host, sizeof host - 1) < 0 || !*host)
                strcpy(host, "localhost");
        if (asprintf(&c->issuer, "enrichd@%s", host) < 0)
                c->issuer = NULL;
        c->claims_ttl = CONFIG_DEFAULT_CLAIMS_TTL;
        c->max_ttl = CONFIG_DEFAULT_MAX_TTL;
        if (!c->socket || !c->userdb_socket || !c->jwks || !c->state_dir || !c->admin_group || !c->issuer)
                return -ENOMEM;
        return 0;
}

/* The top-level settings, parsed in two passes so that max_ttl is known
 * before rules are read wherever it is written. */
static int parse_root(parse_context *ctx, const config_setting_t *root, config *c) {
        const config_setting_t *rules = NULL, *groups = NULL;
        int r = 0;

        for (int i = 0; i < config_setting_length(root); i++) {
                const config_setting_t *s = config_setting_get_elem(root, (unsigned) i);
                const char *key = config_setting_name(s);

                if (strcmp(key, "socket") == 0)
                        r = parse_absolute_path(ctx, s, key, &c->socket);
                else if (strcmp(key, "userdb_socket") == 0)
                        r = parse_absolute_path(ctx, s, key, &c->userdb_socket);
                else if (strcmp(key, "jwks") == 0)
                        r = parse_absolute_path(ctx, s, key, &c->jwks);
                else if (strcmp(key, "state_dir") == 0)
                        r = parse_absolute_path(ctx, s, key, &c->state_dir);
                else if (strcmp(key, "issuer") == 0)
                        r = parse_string(ctx, s, key, false, &c->issuer);
                else if (strcmp(key, "admin_group") == 0)
                        r = parse_string(ctx, s, key, false, &c->admin_group);
                else if (strcmp(key, "claims_ttl") == 0)
                        r = parse_uint_setting(ctx, s, key, 1, UINT_MAX, &c->claims_ttl);
                else if (strcmp(key, "max_ttl") == 0)
                        r = parse_uint_setting(ctx, s, key, 1, UINT_MAX, &c->max_ttl);
                else if (strcmp(key, "groups") == 0)
                        groups = s;
                else if (strcmp(key, "rules") == 0)
                        rules = s;
                else
                        r = fail(ctx, s, "unknown setting '%s' (known: socket, userdb_socket, jwks, "
                                 "state_dir, issuer, claims_ttl, max_ttl, admin_group, groups, rules)", key);
                if (r < 0)
                        return r;
        }
        if (groups) {
                r = parse_groups(ctx, groups, c);
                if (r < 0)
                        return r;
        }
        if (rules) {
                r = parse_rules(ctx, rules, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int hash_content(const char *data, size_t len, char out[17]) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digest_len = 0;

        if (!EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) || digest_len < 8)
                return -EIO;
        for (int i = 0; i < 8; i++)
                snprintf(out + 2 * i, 3, "%02x", digest[i]);
        return 0;
}

int config_load(const char *path, config **ret, char **ret_error) {
        parse_context ctx = { .path = path, .error = NULL };
        config_t cfg;
        config *c = NULL;
        char *content = NULL;
        size_t content_len = 0;
        int r;

        config_init(&cfg);
        /* Read the bytes once: the same content is parsed and hashed into the
         * policy version, so the two can never disagree. */
        r = read_file_bounded(path, CONFIG_MAX_FILE_SIZE, &content, &content_len);
        if (r < 0) {
                if (asprintf(&ctx.error, "%s: cannot read config: %s", path, strerror(-r)) < 0)
                        ctx.error = NULL;
                goto out;
        }
        if (strlen(content) != content_len) {
                if (asprintf(&ctx.error, "%s: config contains a NUL byte", path) < 0)
                        ctx.error = NULL;
                r = -EINVAL;
                goto out;
        }
        c = calloc(1, sizeof *c);
        if (!c) {
                r = -ENOMEM;
                goto out;
        }
        c->path = strdup(path);
        if (!c->path) {
                r = -ENOMEM;
                goto out;
        }
        r = set_defaults(c);
        if (r < 0)
                goto out;
        r = hash_content(content, content_len, c->content_hash);
        if (r < 0)
                goto out;
        if (config_read_string(&cfg, content) != CONFIG_TRUE) {
                if (asprintf(&ctx.error, "%s:%d: %s", path, config_error_line(&cfg),
                             config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error") < 0)
                        ctx.error = NULL;
                r = -EINVAL;
                goto out;
        }
        r = parse_root(&ctx, config_root_setting(&cfg), c);
        if (r < 0)
                goto out;

        *ret = c;
        c = NULL;
out:
        if (r == -ENOMEM && !ctx.error)
                ctx.error = strdup("out of memory");
        if (r < 0 && ret_error) {
                *ret_error = ctx.error;
                ctx.error = NULL;
        }
        free(ctx.error);
        free(content);
        config_destroy(&cfg);
        config_free(c);
        return r;
}

void config_free(config *c) {
        if (!c)
                return;
        free(c->path);
        free(c->socket);
        free(c->userdb_socket);
        free(c->jwks);
        free(c->state_dir);
        free(c->issuer);
        free(c->admin_group);
        for (size_t i = 0; i < c->n_groups; i++)
                free(c->groups[i].name);
        free(c->groups);
        for (size_t i = 0; i < c->n_rules; i++) {
                config_rule *rule = &c->rules[i];
                free(rule->name);
                strv_free(rule->match_users);
                strv_free(rule->match_unix_groups);
                strv_free(rule->match_services);
                strv_free(rule->grant_groups);
                strv_free(rule->grant_scopes);
                free(rule->grant_tenant);
        }
        free(c->rules);
        free(c);
}
