/* config.c: parses and validates enrichd.conf with libconfig. Every setting is
 * checked for type, range and spelling; unknown settings are errors (a typo in
 * a policy must never be silently ignored). Parsing goes on after an error so
 * that `enrichd --check-config` can report all of them, each with its line.
 * Everything evaluation needs (CIDRs, hours, days) is parsed here, once. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include "config.h"
#include "jwks.h"
#include "names.h"
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

json_t *strv_to_json(char *const *list) {
        json_t *a = json_array();

        for (size_t i = 0; a && list && list[i]; i++)
                if (json_array_append_new(a, json_string(list[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

bool config_rule_needs_login(const config_rule *rule) {
        return rule->match_services || rule->match_ttys || rule->match_rhosts || rule->match_amr;
}

/* Parsing state: the file name for messages and every error found so far.
 * Parse functions record an error and return -EINVAL, and their callers
 * carry on with the next setting; only -ENOMEM stops parsing. */
typedef struct parse_context {
        const char *path;
        const char *group_file;
        char *errors;             /* "FILE:LINE: reason\n" per error */
        size_t errors_len;
        size_t n_errors;
        bool out_of_memory;
} parse_context;

static int fail_at(parse_context *ctx, int line, const char *format, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(parse_context *ctx, int line, const char *format, ...) {
        char message[640], entry[1024];
        char *grown;
        size_t n;
        va_list ap;

        ctx->n_errors++;
        if (ctx->n_errors > CONFIG_MAX_ERRORS + 1)
                return -EINVAL;
        if (ctx->n_errors == CONFIG_MAX_ERRORS + 1)
                snprintf(entry, sizeof entry, "%s: more than %d errors, the rest are not shown\n", ctx->path,
                         CONFIG_MAX_ERRORS);
        else {
                va_start(ap, format);
                vsnprintf(message, sizeof message, format, ap);
                va_end(ap);
                snprintf(entry, sizeof entry, "%s:%d: %s\n", ctx->path, line, message);
        }
        n = strlen(entry);
        grown = realloc(ctx->errors, ctx->errors_len + n + 1);
        if (!grown) {
                ctx->out_of_memory = true;
                return -EINVAL;
        }
        memcpy(grown + ctx->errors_len, entry, n + 1);
        ctx->errors = grown;
        ctx->errors_len += n;
        return -EINVAL;
}

#define fail(ctx, s, ...) fail_at((ctx), (s) ? (int) config_setting_source_line(s) : 0, __VA_ARGS__)

static const char *type_name(int type) {
        switch (type) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a float";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
        default: return "an unknown type";
        }
}

static int parse_string(parse_context *ctx, const config_setting_t *s, const char *name, bool allow_empty, char **ret) {
        const char *value;
        char *copy;

        if (config_setting_type(s) != CONFIG_TYPE_STRING)
                return fail(ctx, s, "'%s' must be a string, not %s", name, type_name(config_setting_type(s)));
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

static int parse_absolute_path(parse_context *ctx, const config_setting_t *s, const char *name, char **ret) {
        char *value = NULL;
        int r = parse_string(ctx, s, name, false, &value);

        if (r < 0)
                return r;
        if (value[0] != '/') {
                r = fail(ctx, s, "'%s' must be an absolute path, not \"%s\"", name, value);
                free(value);
                return r;
        }
        free(*ret);
        *ret = value;
        return 0;
}

/* An integer in [min, max]; a negative value gets its own message since that
 * is the likely mistake. */
static int parse_uint_setting(parse_context *ctx, const config_setting_t *s, const char *name, long long min,
                              long long max, unsigned *ret) {
        long long value;
        int type = config_setting_type(s);

        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return fail(ctx, s, "'%s' must be an integer, not %s", name, type_name(type));
        value = config_setting_get_int64(s);
        if (value < 0)
                return fail(ctx, s, "'%s' must not be negative (got %lld)", name, value);
        if (value < min || value > max)
                return fail(ctx, s, "'%s' must be between %lld and %lld (got %lld)", name, min, max, value);
        *ret = (unsigned) value;
        return 0;
}

/* Checks one list entry: 0 keeps it, -EINVAL (after fail()) drops it. */
typedef int (*entry_check)(parse_context *ctx, const config_setting_t *entry, const char *name, const char *value,
                           void *userdata);

/* An array or list of non-empty strings; duplicates are dropped. Each entry
 * is passed to check (when set), so entry errors carry the entry's line.
 * Every bad entry is reported; the list is kept without them. */
static int parse_strv_checked(parse_context *ctx, const config_setting_t *s, const char *name, bool allow_empty_list,
                              entry_check check, void *userdata, char ***ret) {
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
        if (n == 0 && !allow_empty_list)
                return fail(ctx, s, "'%s' is empty, so it would never match; remove it to match everything", name);
        list = calloc((size_t) n + 1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                const char *value;
                int k;

                if (config_setting_type(e) != CONFIG_TYPE_STRING) {
                        r = fail(ctx, e, "'%s' must contain only strings, entry %d is %s", name, i + 1,
                                 type_name(config_setting_type(e)));
                        continue;
                }
                value = config_setting_get_string(e);
                if (!value || !*value) {
                        r = fail(ctx, e, "'%s' entry %d must not be empty", name, i + 1);
                        continue;
                }
                if (strv_contains(list, value))
                        continue;
                if (check) {
                        k = check(ctx, e, name, value, userdata);
                        if (k == -ENOMEM) {
                                r = k;
                                goto out;
                        }
                        if (k < 0) {
                                r = k;
                                continue;
                        }
                }
                list[count] = strdup(value);
                if (!list[count]) {
                        r = -ENOMEM;
                        goto out;
                }
                count++;
        }
        if (r < 0)
                goto out;
        strv_free(*ret);
        *ret = list;
        list = NULL;
out:
        strv_free(list);
        return r;
}

static int parse_strv(parse_context *ctx, const config_setting_t *s, const char *name, bool allow_empty_list,
                      char ***ret) {
        return parse_strv_checked(ctx, s, name, allow_empty_list, NULL, NULL, ret);
}

static int require_group(parse_context *ctx, const config_setting_t *s, const char *name) {
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return fail(ctx, s, "'%s' must be a group { ... }, not %s", name, type_name(config_setting_type(s)));
        return 0;
}

/* Zeroes the bits of address beyond prefix; returns true when any was set. */
static bool clear_host_bits(unsigned char *address, size_t len, unsigned prefix) {
        bool had = false;

        for (size_t i = 0; i < len; i++) {
                unsigned bit = (unsigned) i * 8;
                unsigned char mask;

                if (bit >= prefix)
                        mask = 0;
                else if (bit + 8 <= prefix)
                        mask = 0xff;
                else
                        mask = (unsigned char) (0xff << (8 - (prefix - bit)));
                if (address[i] & (unsigned char) ~mask)
                        had = true;
                address[i] &= mask;
        }
        return had;
}

static bool looks_like_ipv4(const char *s) {
        return strspn(s, "0123456789.") == strlen(s);
}

/* A host name as DNS spells them: letters, digits, '-', '_' and dots. */
static bool valid_host_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("-_.", s[i]))
                        return false;
        return !strstr(s, "..");
}

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Parses "ADDR", "ADDR/PREFIX" or a host name into *ret. */
static int parse_rhost(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                       config_rhost *ret) {
        char address[INET6_ADDRSTRLEN + 8];
        const char *slash = strchr(value, '/');
        size_t address_len = slash ? (size_t) (slash - value) : strlen(value);
        unsigned long prefix = 0;
        bool has_prefix = slash != NULL, is_v6 = memchr(value, ':', address_len) != NULL;
        unsigned max_prefix;
        config_rhost rhost = { 0 };

        if (!is_v6 && !has_prefix && !looks_like_ipv4(value)) {
                if (!valid_host_name(value))
                        return fail(ctx, e, "'%s': \"%s\" is neither an address, a CIDR nor a host name", name, value);
                rhost.family = AF_UNSPEC;
                rhost.name = strdup(value);
                if (!rhost.name)
                        return -ENOMEM;
                for (char *p = rhost.name; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
                if (rhost.name[strlen(rhost.name) - 1] == '.')
                        rhost.name[strlen(rhost.name) - 1] = '\0';
                *ret = rhost;
                return 0;
        }
        if (address_len >= sizeof address)
                return fail(ctx, e, "'%s': bad address \"%s\"", name, value);
        memcpy(address, value, address_len);
        address[address_len] = '\0';
        rhost.family = is_v6 ? AF_INET6 : AF_INET;
        max_prefix = is_v6 ? 128 : 32;
        if (inet_pton(rhost.family, address, rhost.address) != 1)
                return fail(ctx, e, "'%s': bad %s address \"%s\" in \"%s\"", name, is_v6 ? "IPv6" : "IPv4", address,
                            value);
        if (has_prefix && (parse_uint(slash + 1, max_prefix, &prefix) < 0 || !isdigit((unsigned char) slash[1])))
                return fail(ctx, e, "'%s': bad prefix length in \"%s\" (0 to %u)", name, value, max_prefix);
        rhost.prefix = has_prefix ? (unsigned) prefix : max_prefix;
        if (clear_host_bits(rhost.address, max_prefix / 8, rhost.prefix)) {
                char network[INET6_ADDRSTRLEN];
                inet_ntop(rhost.family, rhost.address, network, sizeof network);
                return fail(ctx, e, "'%s': \"%s\" has host bits set (did you mean %s/%u?)", name, value, network,
                            rhost.prefix);
        }
        /* ::ffff:a.b.c.d/n for n >= 96 is the v4 network a.b.c.d/(n-96);
         * logins from v4-mapped addresses are compared as v4 too. */
        if (rhost.family == AF_INET6 && rhost.prefix >= 96 &&
            memcmp(rhost.address, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
                memmove(rhost.address, rhost.address + 12, 4);
                memset(rhost.address + 4, 0, 12);
                rhost.family = AF_INET;
                rhost.prefix -= 96;
        }
        *ret = rhost;
        return 0;
}

static int check_rhost(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                       void *userdata) {
        config_rule *rule = userdata;
        config_rhost rhost;
        int r;

        r = parse_rhost(ctx, e, name, value, &rhost);
        if (r < 0)
                return r;
        /* The array was sized for the whole list by parse_match. */
        rule->rhosts[rule->n_rhosts++] = rhost;
        return 0;
}

static const char *const day_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const day_full_names[7] = {
        "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};

static int check_day(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                     void *userdata) {
        unsigned *days = userdata;

        for (int i = 0; i < 7; i++)
                if (strcasecmp(value, day_names[i]) == 0 || strcasecmp(value, day_full_names[i]) == 0) {
                        *days |= 1u << i;
                        return 0;
                }
        return fail(ctx, e, "'%s': unknown day \"%s\" (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", name, value);
}

/* "H:MM" or "HH:MM" into minutes since midnight; 24:00 only as an end. */
static int parse_clock(const char *s, size_t len, bool is_end, int *ret) {
        int hours = 0, minutes;
        size_t i = 0;

        if (len < 4 || len > 5)
                return -EINVAL;
        for (; i < len && s[i] != ':'; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return -EINVAL;
                hours = hours * 10 + (s[i] - '0');
        }
        if (i == 0 || i > 2 || i + 3 != len || !isdigit((unsigned char) s[i + 1]) || !isdigit((unsigned char) s[i + 2]))
                return -EINVAL;
        minutes = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        if (minutes > 59 || hours > 24 || (hours == 24 && (minutes != 0 || !is_end)))
                return -EINVAL;
        *ret = hours * 60 + minutes;
        return 0;
}

/* An amr value the PAM module can observe (names.h); a rule asking for
 * any other could never match. */
static int check_amr(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                     void *userdata) {
        char known[128];
        const char *close = names_suggest(value, enrich_amr_values, 0);

        if (names_contain(enrich_amr_values, value))
                return 0;
        return fail(ctx, e,
                    "'%s': unknown amr value \"%s\"%s%s%s, so the rule could never match "
                    "(valid: %s)",
                    name, value, close ? " (did you mean \"" : "", close ? close : "", close ? "\"?)" : "",
                    names_join(enrich_amr_values, ", ", known, sizeof known));
}

static int parse_hours(parse_context *ctx, const config_setting_t *s, const char *name, config_rule *rule) {
        char *value = NULL;
        const char *dash;
        int start, end, r;

        r = parse_string(ctx, s, name, false, &value);
        if (r < 0)
                return r;
        dash = strchr(value, '-');
        if (!dash || parse_clock(value, (size_t) (dash - value), false, &start) < 0 ||
            parse_clock(dash + 1, strlen(dash + 1), true, &end) < 0) {
                r = fail(ctx, s, "'%s': bad time window \"%s\" (write \"HH:MM-HH:MM\", e.g. \"07:00-19:00\")", name,
                         value);
                goto out;
        }
        if (start == end) {
                r = fail(ctx, s,
                         "'%s': time window \"%s\" is empty (start equals end); "
                         "remove 'hours' to match all day",
                         name, value);
                goto out;
        }
        free(rule->match_hours);
        rule->match_hours = value;
        value = NULL;
        rule->hours_start = start;
        rule->hours_end = end;
out:
        free(value);
        return r;
}

static int parse_match(parse_context *ctx, const config_setting_t *match, const char *rule_name, config_rule *rule) {
        char name[300];
        int r, result;

        result = require_group(ctx, match, "match");
        if (result < 0)
                return result;
        for (int i = 0; i < config_setting_length(match); i++) {
                const config_setting_t *s = config_setting_get_elem(match, (unsigned) i);
                const char *key = config_setting_name(s);

                snprintf(name, sizeof name, "rules.%s.match.%s", rule_name, key);
                if (strcmp(key, "users") == 0)
                        r = parse_strv(ctx, s, name, false, &rule->match_users);
                else if (strcmp(key, "unix_groups") == 0)
                        r = parse_strv(ctx, s, name, false, &rule->match_unix_groups);
                else if (strcmp(key, "services") == 0)
                        r = parse_strv(ctx, s, name, false, &rule->match_services);
                else if (strcmp(key, "ttys") == 0)
                        r = parse_strv(ctx, s, name, false, &rule->match_ttys);
                else if (strcmp(key, "amr") == 0)
                        r = parse_strv_checked(ctx, s, name, false, check_amr, NULL, &rule->match_amr);
                else if (strcmp(key, "not_users") == 0)
                        r = parse_strv(ctx, s, name, false, &rule->match_not_users);
                else if (strcmp(key, "not_unix_groups") == 0)
                        r = parse_strv(ctx, s, name, false, &rule->match_not_unix_groups);
                else if (strcmp(key, "rhosts") == 0) {
                        int n = config_setting_length(s);
                        free(rule->rhosts);
                        rule->n_rhosts = 0;
                        rule->rhosts = calloc(n > 0 ? (size_t) n : 1, sizeof(config_rhost));
                        if (!rule->rhosts)
                                return -ENOMEM;
                        r = parse_strv_checked(ctx, s, name, false, check_rhost, rule, &rule->match_rhosts);
                } else if (strcmp(key, "days") == 0) {
                        unsigned days = 0;
                        char **names = NULL;
                        r = parse_strv_checked(ctx, s, name, false, check_day, &days, &names);
                        strv_free(names);
                        if (r == 0)
                                rule->match_days = days;
                } else if (strcmp(key, "hours") == 0)
                        r = parse_hours(ctx, s, name, rule);
                else
                        r = fail(ctx, s,
                                 "unknown match key '%s' in rule '%s' (known: users, unix_groups, "
                                 "services, ttys, rhosts, hours, days, amr, not_users, not_unix_groups)",
                                 key, rule_name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        return result;
}

static int check_scope(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                       void *userdata) {
        /* The scope claim is space-separated (RFC 9068). */
        if (strpbrk(value, " \t\r\n\"\\"))
                return fail(ctx, e, "'%s': scope \"%s\" must not contain spaces, quotes or backslashes", name, value);
        return 0;
}

static int parse_grant(parse_context *ctx, const config_setting_t *grant, const char *rule_name, unsigned max_ttl,
                       config_rule *rule) {
        char name[300];
        int r, result;

        result = require_group(ctx, grant, "grant");
        if (result < 0)
                return result;
        for (int i = 0; i < config_setting_length(grant); i++) {
                const config_setting_t *s = config_setting_get_elem(grant, (unsigned) i);
                const char *key = config_setting_name(s);

                snprintf(name, sizeof name, "rules.%s.grant.%s", rule_name, key);
                if (strcmp(key, "groups") == 0)
                        r = parse_strv(ctx, s, name, true, &rule->grant_groups);
                else if (strcmp(key, "scopes") == 0)
                        r = parse_strv_checked(ctx, s, name, true, check_scope, NULL, &rule->grant_scopes);
                else if (strcmp(key, "tenant") == 0)
                        r = parse_string(ctx, s, name, false, &rule->grant_tenant);
                else if (strcmp(key, "ttl") == 0) {
                        r = parse_uint_setting(ctx, s, name, 1, UINT_MAX, &rule->grant_ttl);
                        /* Nothing outlives max_ttl; a longer ttl is not an error. */
                        if (r == 0 && rule->grant_ttl > max_ttl)
                                rule->grant_ttl = max_ttl;
                } else
                        r = fail(ctx, s,
                                 "unknown grant key '%s' in rule '%s' "
                                 "(known: groups, scopes, tenant, ttl)",
                                 key, rule_name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        if (result == 0 && strv_length(rule->grant_groups) == 0 && strv_length(rule->grant_scopes) == 0 &&
            !rule->grant_tenant)
                return fail(ctx, grant,
                            "rule '%s' grants nothing (set groups, scopes or tenant; "
                            "a ttl alone gives no claim)",
                            rule_name);
        return result;
}

static int parse_rule(parse_context *ctx, const config_setting_t *s, size_t index, config *c, config_rule *rule) {
        const config_setting_t *name_setting, *match = NULL, *grant = NULL;
        char fallback[32];
        const char *rule_name;
        int r, result = 0;

        rule->line = (int) config_setting_source_line(s);
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return fail(ctx, s, "rule %zu must be a group { name = ...; match = {...}; grant = {...}; }, not %s",
                            index + 1, type_name(config_setting_type(s)));
        name_setting = config_setting_get_member(s, "name");
        if (!name_setting)
                result = fail(ctx, s, "rule %zu has no 'name'", index + 1);
        else {
                r = parse_string(ctx, name_setting, "name", false, &rule->name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        for (size_t i = 0; rule->name && i < index; i++)
                if (c->rules[i].name && strcmp(c->rules[i].name, rule->name) == 0) {
                        result = fail(ctx, name_setting, "duplicate rule name '%s' (first used on line %d)", rule->name,
                                      c->rules[i].line);
                        break;
                }
        snprintf(fallback, sizeof fallback, "#%zu", index + 1);
        rule_name = rule->name ? rule->name : fallback;

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
                        result = fail(ctx, e, "unknown setting '%s' in rule '%s' (known: name, match, grant)", key,
                                      rule_name);
        }
        if (match) {
                r = parse_match(ctx, match, rule_name, rule);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        if (!grant)
                return fail(ctx, s, "rule '%s' has no 'grant' (what should it give?)", rule_name);
        r = parse_grant(ctx, grant, rule_name, c->max_ttl, rule);
        if (r < 0)
                return r;
        return result;
}

static int parse_rules(parse_context *ctx, const config_setting_t *s, config *c) {
        int n, r, result = 0;

        if (config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail(ctx, s, "'rules' must be a list ( {...}, ... ), not %s", type_name(config_setting_type(s)));
        n = config_setting_length(s);
        if (n > CONFIG_MAX_RULES)
                return fail(ctx, s, "%d rules, at most %d are allowed", n, CONFIG_MAX_RULES);
        c->rules = calloc(n > 0 ? (size_t) n : 1, sizeof(config_rule));
        if (!c->rules)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                c->n_rules = (size_t) i + 1;
                r = parse_rule(ctx, config_setting_get_elem(s, (unsigned) i), (size_t) i, c, &c->rules[i]);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        return result;
}

/* A group name as shadow-utils and systemd accept them. */
static bool valid_group_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 64 || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("_-.", s[i]))
                        return false;
        return true;
}

static int parse_group_entry(parse_context *ctx, const config_setting_t *g, int index, const config *c,
                             config_group *group) {
        bool have_gid = false;
        unsigned gid = 0;
        int r, result;

        group->line = (int) config_setting_source_line(g);
        group->gid = (gid_t) -1;      /* until a valid gid is read */
        result = require_group(ctx, g, "groups entry");
        if (result < 0)
                return result;
        for (int j = 0; j < config_setting_length(g); j++) {
                const config_setting_t *e = config_setting_get_elem(g, (unsigned) j);
                const char *key = config_setting_name(e);

                if (strcmp(key, "name") == 0) {
                        r = parse_string(ctx, e, "groups.name", false, &group->name);
                        if (r == 0 && !valid_group_name(group->name)) {
                                r = fail(ctx, e,
                                         "bad group name \"%s\" (letters, digits, '_', '-', '.', "
                                         "starting with a letter or '_')",
                                         group->name);
                                free(group->name);
                                group->name = NULL;
                        }
                } else if (strcmp(key, "gid") == 0) {
                        r = parse_uint_setting(ctx, e, "groups.gid", 0, UINT_MAX, &gid);
                        if (r == 0) {
                                have_gid = true;
                                if (gid < c->gid_min || gid > c->gid_max) {
                                        r = fail(ctx, e, "gid %u is outside gid_min..gid_max (%u..%u)", gid,
                                                 (unsigned) c->gid_min, (unsigned) c->gid_max);
                                        have_gid = false;
                                }
                        }
                } else if (strcmp(key, "description") == 0)
                        r = parse_string(ctx, e, "groups.description", true, &group->description);
                else
                        r = fail(ctx, e, "unknown setting '%s' in groups entry (known: name, gid, description)", key);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        if (!group->name && !config_setting_get_member(g, "name"))
                return fail(ctx, g, "groups entry %d has no 'name'", index + 1);
        if (!have_gid && !config_setting_get_member(g, "gid"))
                return fail(ctx, g, "group '%s' has no 'gid'", group->name ? group->name : "?");
        if (have_gid)
                group->gid = (gid_t) gid;
        return result;
}

/* Refuses names and gids that /etc/group already has. The file is read
 * directly: NSS would include the groups this daemon serves itself. */
static int check_group_file(parse_context *ctx, const config *c) {
        FILE *f = NULL;
        char *buffer = NULL;
        size_t size = 16384;
        struct group entry, *found;
        int r = 0, k;

        if (c->n_groups == 0)
                return 0;
        f = fopen(ctx->group_file, "re");
        if (!f) {
                if (errno == ENOENT)
                        return 0;
                return fail_at(ctx, c->groups[0].line, "cannot read %s to check the groups: %s", ctx->group_file,
                               strerror(errno));
        }
        buffer = malloc(size);
        if (!buffer) {
                r = -ENOMEM;
                goto out;
        }
        for (;;) {
                k = fgetgrent_r(f, &entry, buffer, size, &found);
                if (k == ERANGE && size < 1024 * 1024) {
                        char *grown = realloc(buffer, size * 2);
                        if (!grown) {
                                r = -ENOMEM;
                                goto out;
                        }
                        buffer = grown;
                        size *= 2;
                        continue;
                }
                if (k != 0 || !found)
                        break;
                for (size_t i = 0; i < c->n_groups; i++) {
                        const config_group *g = &c->groups[i];

                        if (g->name && strcmp(g->name, found->gr_name) == 0)
                                r = fail_at(ctx, g->line, "group '%s' already exists in %s (gid %u)", g->name,
                                            ctx->group_file, (unsigned) found->gr_gid);
                        else if (g->gid != (gid_t) -1 && g->gid == found->gr_gid)
                                r = fail_at(ctx, g->line, "gid %u of group '%s' is already used by group '%s' in %s",
                                            (unsigned) g->gid, g->name ? g->name : "?", found->gr_name,
                                            ctx->group_file);
                }
        }
out:
        free(buffer);
        if (f)
                fclose(f);
        return r;
}

static int parse_groups(parse_context *ctx, const config_setting_t *s, config *c) {
        int n, r, result = 0;

        if (config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail(ctx, s, "'groups' must be a list ( { name = ...; gid = ...; }, ... ), not %s",
                            type_name(config_setting_type(s)));
        n = config_setting_length(s);
        if (n > CONFIG_MAX_LIST)
                return fail(ctx, s, "%d groups, at most %d are allowed", n, CONFIG_MAX_LIST);
        c->groups = calloc(n > 0 ? (size_t) n : 1, sizeof(config_group));
        if (!c->groups)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                config_group *group = &c->groups[i];

                c->n_groups = (size_t) i + 1;
                r = parse_group_entry(ctx, config_setting_get_elem(s, (unsigned) i), i, c, group);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
                for (int k = 0; k < i; k++) {
                        const config_group *other = &c->groups[k];
                        if (group->name && other->name && strcmp(other->name, group->name) == 0)
                                result = fail_at(ctx, group->line, "duplicate group name '%s' (first used on line %d)",
                                                 group->name, other->line);
                        else if (group->gid != (gid_t) -1 && other->gid == group->gid)
                                result = fail_at(ctx, group->line, "group '%s' reuses gid %u of group '%s'",
                                                 group->name ? group->name : "?", (unsigned) group->gid,
                                                 other->name ? other->name : "?");
                }
        }
        r = check_group_file(ctx, c);
        return r < 0 ? r : result;
}

/* A zone name from the tz database, e.g. "Europe/Berlin" or "UTC", that
 * exists under /usr/share/zoneinfo; no absolute paths, no "..". */
static int parse_timezone(parse_context *ctx, const config_setting_t *s, config *c) {
        char *value = NULL, file[PATH_MAX];
        struct stat st;
        int r;

        r = parse_string(ctx, s, "timezone", false, &value);
        if (r < 0)
                return r;
        if (value[0] == '/' || strstr(value, "..") ||
            strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-.") != strlen(value) ||
            strlen(value) > 200) {
                r = fail(ctx, s,
                         "'timezone': bad time zone name \"%s\" (write a tz database name, "
                         "e.g. \"Europe/Berlin\" or \"UTC\")",
                         value);
                goto out;
        }
        snprintf(file, sizeof file, "%s/%s", CONFIG_ZONEINFO_DIR, value);
        if (stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
                r = fail(ctx, s, "'timezone': unknown time zone \"%s\" (no %s)", value, file);
                goto out;
        }
        free(c->timezone);
        c->timezone = value;
        value = NULL;
out:
        free(value);
        return r;
}

/* ---- fleet ----------------------------------------------------------------
 * The fleet group (fleet mode). Files are checked here, so that --check-config
 * names a bad credentials or issuers file before the daemon needs it. */

/* "http://HOST:PORT" or "https://HOST:PORT" (a trailing '/' allowed), as
 * libcurl takes it; the JSON gateway's paths are added to it. */
static int check_endpoint(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                          void *userdata) {
        const char *host = NULL, *port;

        if (strncmp(value, "http://", 7) == 0)
                host = value + 7;
        else if (strncmp(value, "https://", 8) == 0)
                host = value + 8;
        if (!host || !*host)
                return fail(ctx, e, "'%s' entry \"%s\" is no URL: use http://HOST:PORT or https://HOST:PORT", name,
                            value);
        port = strrchr(host, ':');
        if (!port || port == host || strspn(port + 1, "0123456789") == 0 ||
            (port[1 + strspn(port + 1, "0123456789")] != '\0' &&
             strcmp(port + 1 + strspn(port + 1, "0123456789"), "/") != 0))
                return fail(ctx, e, "'%s' entry \"%s\" needs a port and no path (http(s)://HOST:PORT)", name, value);
        if (strlen(value) > 256 || strpbrk(host, " \t\"'@?#"))
                return fail(ctx, e, "'%s' entry \"%s\" is no plausible URL", name, value);
        return 0;
}

static int check_label(parse_context *ctx, const config_setting_t *e, const char *name, const char *value,
                       void *userdata) {
        if (!fleet_name_valid(value))
                return fail(ctx, e, "'%s' entry \"%s\": letters, digits, '-', '_' and '.' only, at most 64", name,
                            value);
        return 0;
}

/* The credentials file: etcd's user and password, so root's alone. */
static int check_credentials(parse_context *ctx, const config_setting_t *s, const char *path) {
        struct stat st;
        char *content = NULL;
        size_t len = 0;
        int r;

        if (stat(path, &st) < 0)
                return fail(ctx, s, "fleet credentials %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return fail(ctx, s, "fleet credentials %s is not a regular file", path);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return fail(ctx, s, "fleet credentials %s must be owned by root (owner is uid %u)", path,
                            (unsigned) st.st_uid);
        if (st.st_mode & 077)
                return fail(ctx, s, "fleet credentials %s is mode %04o: it must be 0600 (chmod 0600 %s)", path,
                            (unsigned) (st.st_mode & 07777), path);
        r = read_file_bounded(path, 4096, &content, &len);
        if (r < 0)
                return fail(ctx, s, "fleet credentials %s: cannot read: %s", path, strerror(-r));
        if (!strchr(content, ':') || content[0] == ':')
                r = fail(ctx, s, "fleet credentials %s must hold one line \"user:password\"", path);
        explicit_bzero(content, len);
        free(content);
        return r < 0 ? r : 0;
}

/* Under systemd, LoadCredential=fleet.credentials:PATH hands the daemon
 * (user enrich) a copy of the root-only file in $CREDENTIALS_DIRECTORY:
 * that copy is read when it is there, the configured path otherwise (a
 * unit without the drop-in, --check-config from a shell, tests). */
static int resolve_credentials(config_fleet *f) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        char *path = NULL;

        if (!f->credentials || !dir || dir[0] != '/')
                return 0;
        if (asprintf(&path, "%s/%s", dir, CONFIG_FLEET_CREDENTIAL_NAME) < 0)
                return -ENOMEM;
        if (access(path, F_OK) < 0) {
                free(path);
                return 0;
        }
        free(f->credentials);
        f->credentials = path;
        f->credentials_systemd = true;
        return 0;
}

static int check_readable(parse_context *ctx, const config_setting_t *s, const char *name, const char *path) {
        if (access(path, R_OK) < 0)
                return fail(ctx, s, "fleet %s %s: %s", name, path, strerror(errno));
        return 0;
}

static int parse_fleet(parse_context *ctx, const config_setting_t *group, config *c) {
        config_fleet *f;
        const config_setting_t *credentials = NULL, *issuers = NULL;
        jwks *keys = NULL;
        int r = 0, k;

        r = require_group(ctx, group, "fleet");
        if (r < 0)
                return r;
        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        c->fleet = f;
        f->prefix = strdup(CONFIG_FLEET_DEFAULT_PREFIX);
        f->labels = calloc(1, sizeof(char *));
        if (!f->prefix || !f->labels)
                return -ENOMEM;
        f->offline_max = CONFIG_FLEET_DEFAULT_OFFLINE_MAX;
        for (int i = 0; i < config_setting_length(group); i++) {
                const config_setting_t *s = config_setting_get_elem(group, (unsigned) i);
                const char *key = config_setting_name(s);

                if (strcmp(key, "endpoints") == 0)
                        k = parse_strv_checked(ctx, s, "fleet.endpoints", false, check_endpoint, NULL, &f->endpoints);
                else if (strcmp(key, "prefix") == 0) {
                        k = parse_string(ctx, s, "fleet.prefix", false, &f->prefix);
                        if (k == 0 && (f->prefix[0] != '/' || f->prefix[strlen(f->prefix) - 1] != '/' ||
                                       strlen(f->prefix) > 128 || strpbrk(f->prefix, " \t\n")))
                                k = fail(ctx, s, "'fleet.prefix' must start and end with '/' (got \"%s\")", f->prefix);
                } else if (strcmp(key, "credentials") == 0) {
                        k = parse_absolute_path(ctx, s, "fleet.credentials", &f->credentials);
                        credentials = s;
                } else if (strcmp(key, "ca") == 0 || strcmp(key, "cert") == 0 || strcmp(key, "key") == 0) {
                        char **target = key[0] == 'c' ? (key[1] == 'a' ? &f->ca : &f->cert) : &f->key;
                        k = parse_absolute_path(ctx, s, key, target);
                        if (k == 0)
                                k = check_readable(ctx, s, key, *target);
                } else if (strcmp(key, "host_id") == 0) {
                        k = parse_string(ctx, s, "fleet.host_id", false, &f->host_id);
                        if (k == 0 && !fleet_name_valid(f->host_id))
                                k = fail(ctx, s,
                                         "'fleet.host_id' \"%s\": letters, digits, '-', '_' and '.' only, "
                                         "at most 64",
                                         f->host_id);
                } else if (strcmp(key, "labels") == 0)
                        k = parse_strv_checked(ctx, s, "fleet.labels", true, check_label, NULL, &f->labels);
                else if (strcmp(key, "issuers") == 0) {
                        k = parse_absolute_path(ctx, s, "fleet.issuers", &f->issuers);
                        issuers = s;
                } else if (strcmp(key, "offline_max") == 0)
                        k = parse_uint_setting(ctx, s, "fleet.offline_max", 1, 7 * 86400, &f->offline_max);
                else
                        k = fail(ctx, s,
                                 "unknown fleet setting '%s' (known: endpoints, prefix, credentials, ca, "
                                 "cert, key, host_id, labels, issuers, offline_max)",
                                 key);
                if (k == -ENOMEM)
                        return k;
                if (k < 0)
                        r = k;
        }
        if (!f->endpoints)
                r = fail(ctx, group, "the fleet group needs 'endpoints' (a list of http(s)://HOST:PORT)");
        else if (strv_length(f->endpoints) > CONFIG_FLEET_MAX_ENDPOINTS)
                r = fail(ctx, group, "'fleet.endpoints' has more than %d entries", CONFIG_FLEET_MAX_ENDPOINTS);
        if (strv_length(f->labels) > CONFIG_FLEET_MAX_LABELS)
                r = fail(ctx, group, "'fleet.labels' has more than %d entries", CONFIG_FLEET_MAX_LABELS);
        if ((f->cert == NULL) != (f->key == NULL))
                r = fail(ctx, group, "'fleet.cert' and 'fleet.key' go together");
        if (resolve_credentials(f) < 0)
                return -ENOMEM;
        if (f->credentials && (k = check_credentials(ctx, credentials, f->credentials)) < 0)
                r = k;
        if (!f->issuers)
                r = fail(ctx, group, "the fleet group needs 'issuers' (the JWKS of the trusted issuer keys)");
        else if (issuers && ctx->n_errors == 0) {
                k = jwks_load_file(f->issuers, &keys);
                if (k < 0)
                        r = fail(ctx, issuers, "fleet issuers %s: %s", f->issuers,
                                 k == -EBADMSG ? "not a JWKS ({\"keys\":[...]})" : strerror(-k));
                else if (jwks_count(keys) == 0)
                        r = fail(ctx, issuers, "fleet issuers %s holds no Ed25519 key", f->issuers);
                jwks_free(keys);
        }
        return r == -ENOMEM ? r : 0;
}

void config_fleet_free(config_fleet *f) {
        if (!f)
                return;
        strv_free(f->endpoints);
        free(f->prefix);
        free(f->credentials);
        free(f->ca);
        free(f->cert);
        free(f->key);
        free(f->host_id);
        strv_free(f->labels);
        free(f->issuers);
        free(f);
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
        c->token_max_failures = CONFIG_DEFAULT_TOKEN_MAX_FAILURES;
        c->token_lock_seconds = CONFIG_DEFAULT_TOKEN_LOCK_SECONDS;
        c->token_lock_max_seconds = CONFIG_DEFAULT_TOKEN_LOCK_MAX_SECONDS;
        c->audit_checkpoint_rows = CONFIG_DEFAULT_AUDIT_CHECKPOINT_ROWS;
        c->audit_checkpoint_seconds = CONFIG_DEFAULT_AUDIT_CHECKPOINT_SECONDS;
        c->audit_retention_days = CONFIG_DEFAULT_AUDIT_RETENTION_DAYS;
        c->audit_refusal_window = CONFIG_DEFAULT_AUDIT_REFUSAL_WINDOW;
        c->request_timeout = CONFIG_DEFAULT_REQUEST_TIMEOUT;
        c->request_max_pending = CONFIG_DEFAULT_REQUEST_MAX_PENDING;
        c->gid_min = CONFIG_DEFAULT_GID_MIN;
        c->gid_max = CONFIG_DEFAULT_GID_MAX;
        if (!c->socket || !c->userdb_socket || !c->jwks || !c->state_dir || !c->admin_group || !c->issuer)
                return -ENOMEM;
        return 0;
}

/* requests { timeout; max_pending; two_approver_groups; two_approver_scopes; }:
 * the access-request workflow (enrichd.conf(5), "ACCESS REQUESTS"). */
static int parse_requests(parse_context *ctx, const config_setting_t *requests, config *c) {
        int r, result;

        result = require_group(ctx, requests, "requests");
        if (result < 0)
                return result;
        for (int i = 0; i < config_setting_length(requests); i++) {
                const config_setting_t *s = config_setting_get_elem(requests, (unsigned) i);
                const char *key = config_setting_name(s);

                if (strcmp(key, "timeout") == 0)
                        r = parse_uint_setting(ctx, s, "requests.timeout", 1, 30 * 86400, &c->request_timeout);
                else if (strcmp(key, "max_pending") == 0)
                        r = parse_uint_setting(ctx, s, "requests.max_pending", 0, CONFIG_MAX_REQUESTS_PENDING,
                                               &c->request_max_pending);
                else if (strcmp(key, "two_approver_groups") == 0)
                        r = parse_strv(ctx, s, "requests.two_approver_groups", true, &c->request_two_approver_groups);
                else if (strcmp(key, "two_approver_scopes") == 0)
                        r = parse_strv_checked(ctx, s, "requests.two_approver_scopes", true, check_scope, NULL,
                                               &c->request_two_approver_scopes);
                else
                        r = fail(ctx, s,
                                 "unknown requests key '%s' (known: timeout, max_pending, "
                                 "two_approver_groups, two_approver_scopes)",
                                 key);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = r;
        }
        return result;
}

/* The top-level settings, parsed in two passes so that max_ttl and the gid
 * range are known before rules and groups are read, wherever they are
 * written. */
static int parse_root(parse_context *ctx, const config_setting_t *root, config *c) {
        const config_setting_t *rules = NULL, *groups = NULL, *claims_ttl = NULL, *max_ttl = NULL, *gid_min = NULL,
                               *lock = NULL, *lock_max = NULL;
        unsigned value;
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
                else if (strcmp(key, "timezone") == 0)
                        r = parse_timezone(ctx, s, c);
                else if (strcmp(key, "claims_ttl") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, UINT_MAX, &c->claims_ttl);
                        claims_ttl = s;
                } else if (strcmp(key, "max_ttl") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, UINT_MAX, &c->max_ttl);
                        max_ttl = s;
                } else if (strcmp(key, "token_max_failures") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, 1000, &c->token_max_failures);
                } else if (strcmp(key, "token_lock_seconds") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, 86400, &c->token_lock_seconds);
                        lock = s;
                } else if (strcmp(key, "token_lock_max_seconds") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, 30 * 86400, &c->token_lock_max_seconds);
                        lock_max = s;
                } else if (strcmp(key, "audit_checkpoint_rows") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, 1000000, &c->audit_checkpoint_rows);
                } else if (strcmp(key, "audit_checkpoint_seconds") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, 86400 * 7, &c->audit_checkpoint_seconds);
                } else if (strcmp(key, "audit_retention_days") == 0) {
                        r = parse_uint_setting(ctx, s, key, 0, 36500, &c->audit_retention_days);
                } else if (strcmp(key, "audit_refusal_window") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1, 3600, &c->audit_refusal_window);
                } else if (strcmp(key, "gid_min") == 0) {
                        /* Below 1000 belongs to the distribution. */
                        r = parse_uint_setting(ctx, s, key, 1000, 2147483646, &value);
                        if (r == 0)
                                c->gid_min = (gid_t) value;
                        gid_min = s;
                } else if (strcmp(key, "gid_max") == 0) {
                        r = parse_uint_setting(ctx, s, key, 1000, 2147483646, &value);
                        if (r == 0)
                                c->gid_max = (gid_t) value;
                        if (!gid_min)
                                gid_min = s;
                } else if (strcmp(key, "groups") == 0)
                        groups = s;
                else if (strcmp(key, "rules") == 0)
                        rules = s;
                else if (strcmp(key, "fleet") == 0)
                        r = parse_fleet(ctx, s, c);
                else if (strcmp(key, "requests") == 0)
                        r = parse_requests(ctx, s, c);
                else
                        r = fail(ctx, s,
                                 "unknown setting '%s' (known: socket, userdb_socket, jwks, "
                                 "state_dir, issuer, admin_group, timezone, claims_ttl, max_ttl, "
                                 "token_max_failures, token_lock_seconds, token_lock_max_seconds, "
                                 "audit_checkpoint_rows, audit_checkpoint_seconds, "
                                 "audit_retention_days, audit_refusal_window, gid_min, gid_max, groups, rules, fleet, "
                                 "requests)",
                                 key);
                if (r == -ENOMEM)
                        return r;
        }
        if (c->claims_ttl > c->max_ttl)
                fail(ctx, claims_ttl ? claims_ttl : max_ttl, "claims_ttl (%u%s) must not exceed max_ttl (%u%s)",
                     c->claims_ttl, claims_ttl ? "" : ", the default", c->max_ttl, max_ttl ? "" : ", the default");
        if (c->token_lock_seconds > c->token_lock_max_seconds)
                fail(ctx, lock ? lock : lock_max,
                     "token_lock_seconds (%u%s) must not exceed token_lock_max_seconds (%u%s)", c->token_lock_seconds,
                     lock ? "" : ", the default", c->token_lock_max_seconds, lock_max ? "" : ", the default");
        if (c->gid_min > c->gid_max) {
                fail(ctx, gid_min, "gid_min (%u) must not exceed gid_max (%u)", (unsigned) c->gid_min,
                     (unsigned) c->gid_max);
        }
        if (groups) {
                r = parse_groups(ctx, groups, c);
                if (r == -ENOMEM)
                        return r;
        }
        if (rules) {
                r = parse_rules(ctx, rules, c);
                if (r == -ENOMEM)
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

int config_load_with(const char *path, const char *group_file, config **ret, char **ret_error) {
        parse_context ctx = { .path = path, .group_file = group_file ? group_file : CONFIG_GROUP_FILE };
        config_t cfg;
        config *c = NULL;
        char *content = NULL, *message = NULL;
        size_t content_len = 0;
        int r;

        config_init(&cfg);
        /* Read the bytes once: the same content is parsed and hashed into the
         * policy version, so the two can never disagree. */
        r = read_file_bounded(path, CONFIG_MAX_FILE_SIZE, &content, &content_len);
        if (r < 0) {
                if (asprintf(&message, "%s: cannot read config: %s", path, strerror(-r)) < 0)
                        message = NULL;
                goto out;
        }
        if (strlen(content) != content_len) {
                if (asprintf(&message, "%s: config contains a NUL byte", path) < 0)
                        message = NULL;
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
        /* libconfig stops at the first syntax error, so that one is alone. */
        if (config_read_string(&cfg, content) != CONFIG_TRUE) {
                if (asprintf(&message, "%s:%d: %s", path, config_error_line(&cfg),
                             config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error") < 0)
                        message = NULL;
                r = -EINVAL;
                goto out;
        }
        r = parse_root(&ctx, config_root_setting(&cfg), c);
        if (r < 0)
                goto out;
        if (ctx.out_of_memory) {
                r = -ENOMEM;
                goto out;
        }
        if (ctx.n_errors > 0) {
                /* One error per line, without the final newline. */
                ctx.errors[ctx.errors_len - 1] = '\0';
                message = ctx.errors;
                ctx.errors = NULL;
                r = -EINVAL;
                goto out;
        }

        *ret = c;
        c = NULL;
out:
        if (r == -ENOMEM && !message)
                message = strdup("out of memory");
        if (r < 0 && ret_error) {
                *ret_error = message;
                message = NULL;
        }
        free(message);
        free(ctx.errors);
        free(content);
        config_destroy(&cfg);
        config_free(c);
        return r;
}

int config_load(const char *path, config **ret, char **ret_error) {
        return config_load_with(path, NULL, ret, ret_error);
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
        free(c->timezone);
        for (size_t i = 0; i < c->n_groups; i++) {
                free(c->groups[i].name);
                free(c->groups[i].description);
        }
        free(c->groups);
        for (size_t i = 0; i < c->n_rules; i++) {
                config_rule *rule = &c->rules[i];
                free(rule->name);
                strv_free(rule->match_users);
                strv_free(rule->match_unix_groups);
                strv_free(rule->match_services);
                strv_free(rule->match_ttys);
                strv_free(rule->match_rhosts);
                for (size_t j = 0; j < rule->n_rhosts; j++)
                        free(rule->rhosts[j].name);
                free(rule->rhosts);
                strv_free(rule->match_amr);
                strv_free(rule->match_not_users);
                strv_free(rule->match_not_unix_groups);
                free(rule->match_hours);
                strv_free(rule->grant_groups);
                strv_free(rule->grant_scopes);
                free(rule->grant_tenant);
        }
        free(c->rules);
        config_fleet_free(c->fleet);
        strv_free(c->request_two_approver_groups);
        strv_free(c->request_two_approver_scopes);
        free(c);
}
