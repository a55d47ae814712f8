/* token_commands.c: enrichctl token issue|list|revoke|rotate|unlock,
 * disable and enable. A token's secret is made here (OpenSSL's RNG) and
 * printed once; the daemon only ever receives its verifier (svctoken.h), so
 * no copy of the secret exists outside this process and the admin's
 * terminal. The daemon authorizes every call from SO_PEERCRED. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "duration.h"
#include "enrichctl.h"
#include "svctoken.h"
#include "util.h"

/* Refuses the options the subcommand does not take. */
static bool only_options(const ctl_options *o, const char *sub, unsigned accepted) {
        static const struct {
                unsigned bit;
                const char *name;
        } names[] = {
                { CTL_OPT_TTL, "ttl" },     { CTL_OPT_SCOPE, "scope" }, { CTL_OPT_DESCRIPTION, "description" },
                { CTL_OPT_GRACE, "grace" }, { CTL_OPT_USER, "user" },   { CTL_OPT_FLEET, "fleet" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if ((o->given & names[i].bit) && !(accepted & names[i].bit)) {
                        fprintf(stderr, "enrichctl: --%s does not apply to token %s\n", names[i].name, sub);
                        return false;
                }
        return true;
}

/* Prints the new token once: alone on stdout (so TOKEN=$(enrichctl ...)
 * works), or with --json as the record plus a "token" member. */
static void print_new_token(const ctl_options *o, const json_t *record, const char *token) {
        char *text = NULL, expires[64];

        if (o->json) {
                text = json_dumps(record, JSON_INDENT(2));
                /* The secret is spliced in by hand so no JSON library buffer
                 * ever holds it. */
                if (text && text[0] == '{' && text[1] == '\n')
                        printf("{\n  \"token\": \"%s\",\n%s\n", token, text + 2);
                else
                        printf("{\"token\": \"%s\"}\n", token);
                free(text);
        } else {
                printf("%s\n", token);
                fflush(stdout);
                fprintf(stderr, "token %s of %s, valid until %s; it is shown only this once\n",
                        ctl_str_or_dash(record, "id"), ctl_str_or_dash(record, "user"),
                        ctl_format_time(json_integer_value(json_object_get(record, "expires")), expires,
                                        sizeof(expires)));
        }
        fflush(stdout);
}

/* A new secret, its verifier into verifier; the secret into secret. */
static int new_secret(char secret[SVCTOKEN_SECRET_LENGTH + 1], char verifier[SVCTOKEN_VERIFIER_LENGTH + 1]) {
        if (svctoken_new_secret(secret) < 0 || svctoken_verifier(secret, SVCTOKEN_SECRET_LENGTH, verifier) < 0) {
                fprintf(stderr, "enrichctl: cannot generate a random secret\n");
                return -EIO;
        }
        return 0;
}

/* Sends method with params (+ the verifier) and prints the token it makes. */
static int make_token(const ctl_options *o, const char *method, json_t *params) {
        char secret[SVCTOKEN_SECRET_LENGTH + 1], verifier[SVCTOKEN_VERIFIER_LENGTH + 1];
        char token[SVCTOKEN_LENGTH + 1];
        json_t *reply = NULL, *record;
        int code = CTL_EXIT_ERROR;

        if (new_secret(secret, verifier) < 0)
                goto out;
        if (json_object_set_new(params, "verifier", json_string(verifier)) < 0) {
                code = ctl_oom();
                goto out;
        }
        code = ctl_call(o, method, params, &reply);
        OPENSSL_cleanse((char *) json_string_value(json_object_get(params, "verifier")), SVCTOKEN_VERIFIER_LENGTH);
        if (code != CTL_EXIT_OK)
                goto out;
        record = json_object_get(reply, "token");
        if (svctoken_format(ctl_str_or_dash(record, "id"), secret, token) < 0) {
                fprintf(stderr, "enrichctl: enrichd answered with a malformed token id\n");
                code = CTL_EXIT_ERROR;
                goto out;
        }
        print_new_token(o, record, token);
out:
        OPENSSL_cleanse(secret, sizeof secret);
        OPENSSL_cleanse(token, sizeof token);
        OPENSSL_cleanse(verifier, sizeof verifier);
        json_decref(reply);
        return code;
}

static int token_issue(const ctl_options *o) {
        unsigned long long ttl;
        json_t *params = NULL, *scopes = NULL;
        int r, code;

        if (!only_options(o, "issue", CTL_OPT_TTL | CTL_OPT_SCOPE | CTL_OPT_DESCRIPTION | CTL_OPT_FLEET))
                return CTL_EXIT_ERROR;
        if (o->n_args != 2 || !o->ttl) {
                fprintf(stderr, "enrichctl: usage: token issue USER --ttl DURATION [--scope S]... [--description TEXT] "
                                "[--fleet]\n");
                return CTL_EXIT_ERROR;
        }
        r = duration_parse(o->ttl, &ttl);
        if (r < 0) {
                fprintf(stderr, "enrichctl: --ttl %s: %s\n", o->ttl, duration_strerror(r));
                return CTL_EXIT_ERROR;
        }
        params = json_pack("{s:s, s:I}", "user", o->args[1], "ttl", (json_int_t) ttl);
        scopes = json_array();
        if (!params || !scopes) {
                json_decref(params);
                json_decref(scopes);
                return ctl_oom();
        }
        for (size_t i = 0; i < o->n_scopes; i++)
                json_array_append_new(scopes, json_string(o->scopes[i]));
        json_object_set_new(params, "scopes", scopes);
        if (o->description)
                json_object_set_new(params, "description", json_string(o->description));
        if (o->fleet)
                json_object_set_new(params, "fleet", json_true());
        code = make_token(o, "io.enrich.TokenIssue", params);
        json_decref(params);
        return code;
}

static int token_rotate(const ctl_options *o) {
        unsigned long long grace = 0;
        json_t *params;
        int r, code;

        if (!only_options(o, "rotate", CTL_OPT_GRACE))
                return CTL_EXIT_ERROR;
        if (o->n_args != 2) {
                fprintf(stderr, "enrichctl: usage: token rotate ID [--grace DURATION]\n");
                return CTL_EXIT_ERROR;
        }
        if (o->grace && (r = duration_parse(o->grace, &grace)) < 0) {
                fprintf(stderr, "enrichctl: --grace %s: %s\n", o->grace, duration_strerror(r));
                return CTL_EXIT_ERROR;
        }
        params = json_pack("{s:s, s:I}", "id", o->args[1], "grace", (json_int_t) grace);
        if (!params)
                return ctl_oom();
        code = make_token(o, "io.enrich.TokenRotate", params);
        json_decref(params);
        return code;
}

enum { T_ID, T_USER, T_SCOPES, T_STATE, T_EXPIRES, T_LAST_USED, T_DESCRIPTION, T_COLUMNS };

static void token_row(json_t *t, char **row) {
        json_t *used = json_object_get(t, "lastUsed");
        char buf[64];

        row[T_ID] = strdup(ctl_str_or_dash(t, "id"));
        row[T_USER] = strdup(ctl_str_or_dash(t, "user"));
        row[T_SCOPES] = ctl_join(json_object_get(t, "scopes"), ",");
        /* Unused tokens are the ones to retire: say so where it is seen. */
        if (json_is_true(json_object_get(t, "stale")))
                row[T_STATE] = strdup("active, unused 30d+");
        else if (json_is_integer(json_object_get(t, "graceUntil")))
                row[T_STATE] = strdup("active (old secret in grace)");
        else
                row[T_STATE] = strdup(ctl_str_or_dash(t, "state"));
        row[T_EXPIRES] = strdup(ctl_format_time(json_integer_value(json_object_get(t, "expires")), buf, sizeof(buf)));
        row[T_LAST_USED] = strdup(json_is_integer(used) ? ctl_format_time(json_integer_value(used), buf, sizeof(buf))
                                                        : "never");
        row[T_DESCRIPTION] = strdup(ctl_str_or_dash(t, "description"));
}

static int token_list(const ctl_options *o) {
        static const char *const headers[T_COLUMNS] = { "ID",      "USER",      "SCOPES",     "STATE",
                                                        "EXPIRES", "LAST USED", "DESCRIPTION" };
        static const ctl_listing tokens = {
                "io.enrich.TokenList", "tokens", "No tokens.", headers, T_COLUMNS, token_row
        };

        if (!only_options(o, "list", CTL_OPT_USER))
                return CTL_EXIT_ERROR;
        if (o->n_args != 1) {
                fprintf(stderr, "enrichctl: usage: token list [--user U]\n");
                return CTL_EXIT_ERROR;
        }
        return ctl_list_of_user(o, &tokens, o->user);
}

/* Every verb that can find its work done says so the same way: "already
 * revoked", "already disabled", exit 0, from the daemon's "changed". */
static void say_revoked(const ctl_options *o, const json_t *reply) {
        if (json_is_false(json_object_get(reply, "changed")))
                printf("token %s already revoked; nothing changed\n", o->args[1]);
        else
                printf("token %s revoked; %lld sessions revoked\n", o->args[1],
                       (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
}

static void say_unlocked(const ctl_options *o, const json_t *reply) {
        if (json_is_true(json_object_get(reply, "wasLocked")))
                printf("%s unlocked\n", o->args[1]);
        else
                printf("%s already unlocked; failure count cleared\n", o->args[1]);
}

/* token revoke ID / token unlock USER: one argument, one call. */
static int token_simple(const ctl_options *o, const char *sub, const char *method, const char *key, ctl_say_fn say) {
        if (!only_options(o, sub, 0))
                return CTL_EXIT_ERROR;
        if (o->n_args != 2) {
                fprintf(stderr, "enrichctl: usage: token %s %s\n", sub, strcmp(key, "id") == 0 ? "ID" : "USER");
                return CTL_EXIT_ERROR;
        }
        return ctl_say(o, method, json_pack("{s:s}", key, o->args[1]), say);
}

static int token_revoke(const ctl_options *o) {
        return token_simple(o, "revoke", "io.enrich.TokenRevoke", "id", say_revoked);
}

static int token_unlock(const ctl_options *o) {
        return token_simple(o, "unlock", "io.enrich.TokenUnlock", "user", say_unlocked);
}

int cmd_token(const ctl_options *o) {
        static const ctl_subcommand subcommands[] = {
                { "issue", token_issue },   { "list", token_list },     { "revoke", token_revoke },
                { "rotate", token_rotate }, { "unlock", token_unlock },
        };

        return ctl_run_subcommand(o, "token", subcommands, ARRAY_SIZE(subcommands));
}

static void say_disabled(const ctl_options *o, const json_t *reply) {
        bool already = json_is_true(json_object_get(reply, "wasDisabled"));

        printf("%s %sdisabled; %lld tokens and %lld sessions revoked\n", o->args[0], already ? "already " : "",
               (long long) json_integer_value(json_object_get(reply, "tokensRevoked")),
               (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
}

int cmd_disable(const ctl_options *o) {
        if (!*o->reason || strspn(o->reason, " \t") == strlen(o->reason)) {
                fprintf(stderr, "enrichctl: --reason must say why (a ticket, an offboarding)\n");
                return CTL_EXIT_ERROR;
        }
        return ctl_say(o, "io.enrich.Disable",
                       json_pack("{s:s, s:s, s:b}", "user", o->args[0], "reason", o->reason, "fleet", o->fleet),
                       say_disabled);
}

static void say_enabled(const ctl_options *o, const json_t *reply) {
        printf("%s %s\n", o->args[0],
               json_is_true(json_object_get(reply, "wasDisabled")) ? "enabled" : "already enabled; nothing changed");
}

int cmd_enable(const ctl_options *o) {
        return ctl_say(o, "io.enrich.Enable", json_pack("{s:s, s:b}", "user", o->args[0], "fleet", o->fleet),
                       say_enabled);
}
