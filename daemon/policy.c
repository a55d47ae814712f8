/* policy.c: evaluates the config's rules and the user's active grants for one
 * login: which rules apply (and, for each that does not, the first condition
 * that failed), the merged claims, which rule or grant gave each, and
 * tenant conflicts. Everything the rules need was parsed at load time, and
 * what the login needs (its address, its local time) is worked out once per
 * evaluation, so 1,000 rules cost 1,000 cheap checks. No logging. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "clock.h"
#include "policy.h"

/* Reasons are short; values from the login are cut at this length. */
#define REASON_MAX      1024
#define VALUE_SHOWN_MAX 64
#define LIST_SHOWN_MAX  16

const char *policy_claim_kind_name(policy_claim_kind kind) {
        switch (kind) {
        case POLICY_CLAIM_GROUP: return "group";
        case POLICY_CLAIM_SCOPE: return "scope";
        case POLICY_CLAIM_TENANT: return "tenant";
        case POLICY_CLAIM_TTL: return "ttl";
        }
        return "unknown";
}

/* A bounded text buffer for reasons: appends past the end are cut. A NULL
 * buffer takes nothing: reasons are only formatted when the caller asked
 * for them (explain), since with many rules formatting them would cost more
 * than the evaluation itself. */
typedef struct text {
        char buffer[REASON_MAX];
        size_t length;
} text;

static void text_printf(text *t, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(text *t, const char *format, ...) {
        va_list ap;
        int n;

        if (!t || t->length >= sizeof t->buffer - 1)
                return;
        va_start(ap, format);
        n = vsnprintf(t->buffer + t->length, sizeof t->buffer - t->length, format, ap);
        va_end(ap);
        if (n > 0)
                t->length += (size_t) n < sizeof t->buffer - t->length ? (size_t) n : sizeof t->buffer - t->length - 1;
}

/* Appends a value that came from the login (tty, rhost, ...): printable
 * characters only, cut at VALUE_SHOWN_MAX, so an attacker-chosen rhost
 * cannot forge lines in explain's output or the journal. */
static void text_value(text *t, const char *value) {
        char shown[VALUE_SHOWN_MAX + 4];
        size_t i;

        if (!t)
                return;
        for (i = 0; value[i] && i < VALUE_SHOWN_MAX; i++)
                shown[i] = isprint((unsigned char) value[i]) ? value[i] : '?';
        if (value[i])
                memcpy(shown + i, "...", 3), i += 3;
        shown[i] = '\0';
        text_printf(t, "%s", shown);
}

static void text_list(text *t, char *const *list) {
        size_t n;

        if (!t)
                return;
        n = strv_length(list);
        text_printf(t, "[");
        for (size_t i = 0; i < n && i < LIST_SHOWN_MAX; i++) {
                if (i > 0)
                        text_printf(t, ", ");
                text_value(t, list[i]);
        }
        if (n > LIST_SHOWN_MAX)
                text_printf(t, ", ... (%zu more)", n - LIST_SHOWN_MAX);
        text_printf(t, "]");
}

static const char *const day_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static void text_days(text *t, unsigned days) {
        bool first = true;

        text_printf(t, "[");
        /* Monday first, as people write weeks. */
        for (int k = 1; k <= 7; k++) {
                int day = k % 7;
                if (!(days & (1u << day)))
                        continue;
                text_printf(t, "%s%s", first ? "" : ", ", day_names[day]);
                first = false;
        }
        text_printf(t, "]");
}

/* The login as the rules see it, worked out once per evaluation. */
typedef struct evaluation {
        const config *config;
        const policy_input *in;
        time_t now;
        /* rhost: an address (family AF_INET/AF_INET6, v4-mapped v6 turned
         * into v4) or a lowercase name (AF_UNSPEC); none when !has_rhost. */
        bool has_rhost;
        int rhost_family;
        unsigned char rhost_address[16];
        char rhost_name[256];
        /* Local time in the config's zone, computed when a rule first needs it. */
        int time_state;           /* 0: not yet, 1: done, -1: failed */
        int minute_of_day;
        int weekday;
} evaluation;

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Reads the login's rhost as an address if it is one, else as a name; never
 * through DNS: a login must not wait on it, and names are attacker-chosen. */
static void prepare_rhost(evaluation *ev) {
        const char *rhost = ev->in->rhost;
        char copy[256];
        size_t n;
        char *percent;

        if (!rhost || !*rhost)
                return;
        ev->has_rhost = true;
        ev->rhost_family = -1;    /* matches no entry */
        n = strlen(rhost);
        if (n >= sizeof copy)
                return;
        /* "[2001:db8::1]" and "fe80::1%eth0" are how some tools write v6. */
        if (rhost[0] == '[' && rhost[n - 1] == ']' && n > 2) {
                memcpy(copy, rhost + 1, n - 2);
                copy[n - 2] = '\0';
        } else
                memcpy(copy, rhost, n + 1);
        percent = strchr(copy, '%');
        if (percent && strchr(copy, ':'))
                *percent = '\0';
        if (inet_pton(AF_INET, copy, ev->rhost_address) == 1) {
                ev->rhost_family = AF_INET;
                return;
        }
        if (inet_pton(AF_INET6, copy, ev->rhost_address) == 1) {
                ev->rhost_family = AF_INET6;
                if (memcmp(ev->rhost_address, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
                        memmove(ev->rhost_address, ev->rhost_address + 12, 4);
                        ev->rhost_family = AF_INET;
                }
                return;
        }
        ev->rhost_family = AF_UNSPEC;
        n = strlen(rhost);
        for (size_t i = 0; i <= n; i++)
                ev->rhost_name[i] = (char) tolower((unsigned char) rhost[i]);
        if (n > 1 && ev->rhost_name[n - 1] == '.')
                ev->rhost_name[n - 1] = '\0';
}

static bool prefix_matches(const unsigned char *a, const unsigned char *b, unsigned prefix) {
        unsigned bytes = prefix / 8, bits = prefix % 8;

        if (memcmp(a, b, bytes) != 0)
                return false;
        if (bits == 0)
                return true;
        return ((a[bytes] ^ b[bytes]) & (unsigned char) (0xff << (8 - bits))) == 0;
}

static bool rhost_matches(const evaluation *ev, const config_rule *rule) {
        for (size_t i = 0; i < rule->n_rhosts; i++) {
                const config_rhost *entry = &rule->rhosts[i];

                if (entry->family != ev->rhost_family)
                        continue;
                if (entry->family == AF_UNSPEC) {
                        if (strcmp(entry->name, ev->rhost_name) == 0)
                                return true;
                } else if (prefix_matches(entry->address, ev->rhost_address, entry->prefix))
                        return true;
        }
        return false;
}

/* struct tm for now in zone (NULL: the process's local time). Switching TZ
 * is process-wide, which is fine in the single-threaded daemon; the old
 * value is put back before returning. */
static int local_time(const char *zone, time_t now, struct tm *ret) {
        const char *old;
        char *saved = NULL;
        bool ok;

        if (!zone)
                return localtime_r(&now, ret) ? 0 : -EINVAL;
        old = getenv("TZ");
        if (old && !(saved = strdup(old)))
                return -ENOMEM;
        if (setenv("TZ", zone, 1) < 0) {
                free(saved);
                return -errno;
        }
        tzset();
        ok = localtime_r(&now, ret) != NULL;
        if (saved)
                setenv("TZ", saved, 1);
        else
                unsetenv("TZ");
        tzset();
        free(saved);
        return ok ? 0 : -EINVAL;
}

static int prepare_time(evaluation *ev) {
        struct tm tm;

        if (ev->time_state == 0) {
                ev->time_state = -1;
                if (local_time(ev->config->timezone, ev->now, &tm) == 0) {
                        ev->minute_of_day = tm.tm_hour * 60 + tm.tm_min;
                        ev->weekday = tm.tm_wday;
                        ev->time_state = 1;
                }
        }
        return ev->time_state;
}

static void text_when(text *t, const evaluation *ev) {
        if (!t)
                return;
        text_printf(t, "at %02d:%02d %s (%s)", ev->minute_of_day / 60, ev->minute_of_day % 60, day_names[ev->weekday],
                    ev->config->timezone ? ev->config->timezone : "local time");
}

static bool in_hours(const config_rule *rule, int minute) {
        if (rule->hours_start < rule->hours_end)
                return minute >= rule->hours_start && minute < rule->hours_end;
        /* Wraps past midnight: "22:00-06:00". */
        return minute >= rule->hours_start || minute < rule->hours_end;
}

/* A set list needs at least one of values in it; the first match is
 * returned through ret_found. */
static bool list_intersects(char *const *list, char *const *values, const char **ret_found) {
        for (size_t i = 0; values && values[i]; i++)
                if (strv_contains(list, values[i])) {
                        if (ret_found)
                                *ret_found = values[i];
                        return true;
                }
        return false;
}

static void text_needs_login(text *t, const config_rule *rule) {
        const char *names[4];
        size_t n = 0;

        if (!t)
                return;
        if (rule->match_services)
                names[n++] = "services";
        if (rule->match_ttys)
                names[n++] = "ttys";
        if (rule->match_rhosts)
                names[n++] = "rhosts";
        if (rule->match_amr)
                names[n++] = "amr";
        text_printf(t, "needs a login (it matches on ");
        for (size_t i = 0; i < n; i++)
                text_printf(t, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ", names[i]);
        text_printf(t, "), and this evaluation is not for a login");
}

/* True when every condition of rule holds; otherwise why (unless NULL)
 * names the first one that does not. */
static bool rule_applies(evaluation *ev, const config_rule *rule, text *why) {
        const policy_input *in = ev->in;
        const char *found = NULL;

        if (!in->session_context && config_rule_needs_login(rule)) {
                text_needs_login(why, rule);
                return false;
        }
        if (rule->match_users && !strv_contains(rule->match_users, in->user)) {
                text_printf(why, "user ");
                text_value(why, in->user);
                text_printf(why, " is not in ");
                text_list(why, rule->match_users);
                return false;
        }
        if (rule->match_not_users && strv_contains(rule->match_not_users, in->user)) {
                text_printf(why, "user ");
                text_value(why, in->user);
                text_printf(why, " is excluded by not_users");
                return false;
        }
        if (rule->match_unix_groups && !list_intersects(rule->match_unix_groups, in->unix_groups, NULL)) {
                text_printf(why, "user ");
                text_value(why, in->user);
                text_printf(why, " is in none of the unix groups ");
                text_list(why, rule->match_unix_groups);
                return false;
        }
        if (rule->match_not_unix_groups && list_intersects(rule->match_not_unix_groups, in->unix_groups, &found)) {
                text_printf(why, "user ");
                text_value(why, in->user);
                text_printf(why, " is excluded by not_unix_groups (member of ");
                text_value(why, found);
                text_printf(why, ")");
                return false;
        }
        if (rule->match_services && !(in->service && strv_contains(rule->match_services, in->service))) {
                if (in->service) {
                        text_printf(why, "service \"");
                        text_value(why, in->service);
                        text_printf(why, "\" is not in ");
                } else
                        text_printf(why, "no service, needs one of ");
                text_list(why, rule->match_services);
                return false;
        }
        if (rule->match_ttys && !(in->tty && *in->tty && strv_contains(rule->match_ttys, in->tty))) {
                if (in->tty && *in->tty) {
                        text_printf(why, "tty \"");
                        text_value(why, in->tty);
                        text_printf(why, "\" is not in ");
                } else
                        text_printf(why, "no tty, needs one of ");
                text_list(why, rule->match_ttys);
                return false;
        }
        if (rule->match_rhosts && !(ev->has_rhost && rhost_matches(ev, rule))) {
                if (ev->has_rhost) {
                        text_printf(why, "rhost ");
                        text_value(why, in->rhost);
                        text_printf(why, " is not in ");
                } else
                        text_printf(why, "no rhost (a local login), needs one of ");
                text_list(why, rule->match_rhosts);
                return false;
        }
        if (rule->match_amr && !list_intersects(rule->match_amr, in->amr, NULL)) {
                if (in->amr && in->amr[0]) {
                        text_printf(why, "amr ");
                        text_list(why, in->amr);
                        text_printf(why, " has none of ");
                } else
                        text_printf(why, "no amr, needs one of ");
                text_list(why, rule->match_amr);
                return false;
        }
        if (rule->match_days || rule->match_hours) {
                if (prepare_time(ev) < 0) {
                        text_printf(why, "cannot compute the local time in %s",
                                    ev->config->timezone ? ev->config->timezone : "the local time zone");
                        return false;
                }
                if (rule->match_days && !(rule->match_days & (1u << ev->weekday))) {
                        text_when(why, ev);
                        text_printf(why, ", %s is not in ", day_names[ev->weekday]);
                        text_days(why, rule->match_days);
                        return false;
                }
                if (rule->match_hours && !in_hours(rule, ev->minute_of_day)) {
                        text_when(why, ev);
                        text_printf(why, ", outside hours %02d:%02d-%02d:%02d", rule->hours_start / 60,
                                    rule->hours_start % 60, rule->hours_end / 60, rule->hours_end % 60);
                        return false;
                }
        }
        return true;
}

/* A growable NULL-terminated list with its length and capacity, so that
 * appending is amortized O(1). */
typedef struct strv_builder {
        char ***list;
        size_t length;
        size_t capacity;
} strv_builder;

static int strv_push(strv_builder *b, const char *value) {
        char *copy;

        if (b->length + 2 > b->capacity) {
                size_t capacity = b->capacity ? b->capacity * 2 : 8;
                char **grown = realloc(*b->list, capacity * sizeof(char *));
                if (!grown)
                        return -ENOMEM;
                *b->list = grown;
                b->capacity = capacity;
        }
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        (*b->list)[b->length++] = copy;
        (*b->list)[b->length] = NULL;
        return 0;
}

static int strv_push_unique(strv_builder *b, const char *value) {
        if (strv_contains(*b->list, value))
                return 0;
        return strv_push(b, value);
}

typedef struct merge {
        policy_result *result;
        strv_builder groups, scopes, matched_rules, used_grants;
        size_t sources_capacity;
} merge;

static int add_source(merge *m, policy_claim_kind kind, const char *value, unsigned ttl, const char *rule,
                      const char *grant) {
        policy_result *res = m->result;
        policy_source source = { .kind = kind, .ttl = ttl, .rule = rule };

        if (res->n_sources == m->sources_capacity) {
                size_t capacity = m->sources_capacity ? m->sources_capacity * 2 : 16;
                policy_source *grown = realloc(res->sources, capacity * sizeof(policy_source));
                if (!grown)
                        return -ENOMEM;
                res->sources = grown;
                m->sources_capacity = capacity;
        }
        if (value && !(source.value = strdup(value)))
                return -ENOMEM;
        if (grant && !(source.grant = strdup(grant))) {
                free(source.value);
                return -ENOMEM;
        }
        res->sources[res->n_sources++] = source;
        return 0;
}

/* Adds the groups, scopes and tenant that one rule (rule set) or one grant
 * (grant set) gives. */
static int add_claims(merge *m, char *const *groups, char *const *scopes, const char *tenant, const char *rule,
                      const char *grant) {
        int r;

        for (size_t i = 0; groups && groups[i]; i++) {
                r = strv_push_unique(&m->groups, groups[i]);
                if (r == 0)
                        r = add_source(m, POLICY_CLAIM_GROUP, groups[i], 0, rule, grant);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; scopes && scopes[i]; i++) {
                r = strv_push_unique(&m->scopes, scopes[i]);
                if (r == 0)
                        r = add_source(m, POLICY_CLAIM_SCOPE, scopes[i], 0, rule, grant);
                if (r < 0)
                        return r;
        }
        if (tenant && *tenant) {
                r = add_source(m, POLICY_CLAIM_TENANT, tenant, 0, rule, grant);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One tenant from every source, or none and a message naming all of them:
 * guessing which tenant a session belongs to would be worse than none. */
static int settle_tenant(policy_result *res) {
        const char *tenant = NULL;
        bool conflict = false;
        text message = { .length = 0 };

        for (size_t i = 0; i < res->n_sources; i++) {
                if (res->sources[i].kind != POLICY_CLAIM_TENANT)
                        continue;
                if (!tenant)
                        tenant = res->sources[i].value;
                else if (strcmp(tenant, res->sources[i].value) != 0)
                        conflict = true;
        }
        if (!tenant)
                return 0;
        if (!conflict) {
                res->tenant = strdup(tenant);
                return res->tenant ? 0 : -ENOMEM;
        }
        text_printf(&message, "conflicting tenants: ");
        for (size_t i = 0, n = 0; i < res->n_sources; i++) {
                const policy_source *s = &res->sources[i];

                if (s->kind != POLICY_CLAIM_TENANT)
                        continue;
                text_printf(&message, "%s", n++ ? ", " : "");
                if (s->rule) {
                        text_printf(&message, "rule \"");
                        text_value(&message, s->rule);
                } else {
                        text_printf(&message, "grant \"");
                        text_value(&message, s->grant);
                }
                text_printf(&message, "\" gives \"");
                text_value(&message, s->value);
                text_printf(&message, "\"");
        }
        text_printf(&message, "; the session gets no tenant");
        res->tenant_conflict = strdup(message.buffer);
        return res->tenant_conflict ? 0 : -ENOMEM;
}

bool policy_result_empty(const policy_result *r) {
        return !r || (strv_length(r->groups) == 0 && strv_length(r->scopes) == 0 && !r->tenant);
}

int policy_evaluate(const config *c, const policy_input *in, policy_result **ret) {
        policy_result *res = NULL;
        evaluation ev = { .config = c, .in = in };
        merge m = { 0 };
        int r = 0;

        if (!c || !in || !in->user || !ret)
                return -EINVAL;
        res = calloc(1, sizeof *res);
        if (!res)
                return -ENOMEM;
        m = (merge) {
                .result = res,
                .groups = { .list = &res->groups },
                .scopes = { .list = &res->scopes },
                .matched_rules = { .list = &res->matched_rules },
                .used_grants = { .list = &res->used_grants },
        };
        ev.now = in->now ? in->now : clock_now();
        prepare_rhost(&ev);
        res->rules = calloc(c->n_rules ? c->n_rules : 1, sizeof(policy_rule_result));
        if (!res->rules) {
                r = -ENOMEM;
                goto out;
        }
        res->n_rules = c->n_rules;
        /* The shortest lifetime anyone asked for wins, and nothing outlives
         * max_ttl whatever a rule says. */
        res->ttl = c->claims_ttl < c->max_ttl ? c->claims_ttl : c->max_ttl;

        for (size_t i = 0; i < c->n_rules; i++) {
                const config_rule *rule = &c->rules[i];
                policy_rule_result *rr = &res->rules[i];
                /* Not "= { 0 }": that would clear the whole buffer per rule. */
                text why;

                why.length = 0;
                why.buffer[0] = '\0';

                rr->rule = rule->name;
                rr->line = rule->line;
                if (!rule_applies(&ev, rule, in->want_reasons ? &why : NULL)) {
                        if (!in->want_reasons)
                                continue;
                        rr->reason = strdup(why.buffer);
                        if (!rr->reason) {
                                r = -ENOMEM;
                                goto out;
                        }
                        continue;
                }
                rr->matched = true;
                r = strv_push(&m.matched_rules, rule->name);
                if (r == 0)
                        r = add_claims(&m, rule->grant_groups, rule->grant_scopes, rule->grant_tenant, rule->name,
                                       NULL);
                if (r == 0 && rule->grant_ttl > 0) {
                        if (rule->grant_ttl < res->ttl)
                                res->ttl = rule->grant_ttl;
                        r = add_source(&m, POLICY_CLAIM_TTL, NULL, rule->grant_ttl, rule->name, NULL);
                }
                if (r < 0)
                        goto out;
        }

        for (size_t i = 0; i < in->n_grants; i++) {
                const policy_grant *g = &in->grants[i];
                bool gives = strv_length(g->groups) > 0 || strv_length(g->scopes) > 0 || (g->tenant && *g->tenant);

                if (!g->id || g->expires <= ev.now || !gives)
                        continue;
                r = add_claims(&m, g->groups, g->scopes, g->tenant, NULL, g->id);
                if (r == 0)
                        r = strv_push_unique(&m.used_grants, g->id);
                if (res->grants_end == 0 || g->expires < res->grants_end)
                        res->grants_end = g->expires;
                if (r < 0)
                        goto out;
        }
        r = settle_tenant(res);
        if (r < 0)
                goto out;

        *ret = res;
        res = NULL;
out:
        policy_result_free(res);
        return r;
}

int policy_scope_string(const policy_result *res, char **ret) {
        size_t len = 1;
        char *s, *p;

        for (size_t i = 0; res->scopes && res->scopes[i]; i++)
                len += strlen(res->scopes[i]) + 1;
        s = malloc(len);
        if (!s)
                return -ENOMEM;
        p = s;
        *p = '\0';
        for (size_t i = 0; res->scopes && res->scopes[i]; i++) {
                size_t n = strlen(res->scopes[i]);
                if (i > 0)
                        *p++ = ' ';
                memcpy(p, res->scopes[i], n);
                p += n;
                *p = '\0';
        }
        *ret = s;
        return 0;
}

void policy_result_free(policy_result *res) {
        if (!res)
                return;
        strv_free(res->groups);
        strv_free(res->scopes);
        strv_free(res->matched_rules);
        strv_free(res->used_grants);
        free(res->tenant);
        free(res->tenant_conflict);
        for (size_t i = 0; i < res->n_sources; i++) {
                free(res->sources[i].value);
                free(res->sources[i].grant);
        }
        free(res->sources);
        for (size_t i = 0; i < res->n_rules; i++)
                free(res->rules[i].reason);
        free(res->rules);
        free(res);
}
