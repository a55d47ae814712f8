/* daemon_commands.c: enrichctl commands answered by the daemon: status,
 * sessions and the signing keys. */
#include <stdio.h>
#include <string.h>

#include "enrichctl.h"
#include "util.h"

static void say_status(const ctl_options *o, const json_t *reply) {
        char duration[64];

        printf("enrichd %s at %s\n", ctl_str_or_dash(reply, "version"), o->socket);
        printf("  issuer:          %s\n", ctl_str_or_dash(reply, "issuer"));
        printf("  signing key:     %s\n", ctl_str_or_dash(reply, "kid"));
        printf("  policy version:  %s\n", ctl_str_or_dash(reply, "policyVersion"));
        printf("  sessions:        %lld\n", (long long) json_integer_value(json_object_get(reply, "sessions")));
        printf("  uptime:          %s\n",
               ctl_format_duration(json_integer_value(json_object_get(reply, "uptime")), duration, sizeof(duration)));
}

int cmd_status(const ctl_options *o) {
        return ctl_say(o, "io.enrich.Status", json_object(), say_status);
}

enum { COL_SID, COL_USER, COL_SERVICE, COL_TTY, COL_RHOST, COL_CREATED, COL_EXPIRES, N_COLUMNS };

static void session_row(json_t *s, char **row) {
        char buf[48];

        row[COL_SID] = strdup(ctl_str_or_dash(s, "sid"));
        row[COL_USER] = strdup(ctl_str_or_dash(s, "user"));
        row[COL_SERVICE] = strdup(ctl_str_or_dash(s, "service"));
        row[COL_TTY] = strdup(ctl_str_or_dash(s, "tty"));
        row[COL_RHOST] = strdup(ctl_str_or_dash(s, "rhost"));
        row[COL_CREATED] = strdup(ctl_format_time(json_integer_value(json_object_get(s, "created")), buf, sizeof(buf)));
        row[COL_EXPIRES] = strdup(ctl_format_time(json_integer_value(json_object_get(s, "expires")), buf, sizeof(buf)));
}

int cmd_sessions(const ctl_options *o) {
        static const char *const headers[N_COLUMNS] = {
                "SID", "USER", "SERVICE", "TTY", "RHOST", "CREATED", "EXPIRES"
        };
        static const ctl_listing sessions = {
                "io.enrich.ListSessions", "sessions", "No sessions.", headers, N_COLUMNS, session_row
        };

        return ctl_list_of_user(o, &sessions, o->n_args > 0 ? o->args[0] : NULL);
}

enum { KEY_KID, KEY_STATE, KEY_CREATED, KEY_RETIRED, KEY_PUBLISHED_UNTIL, N_KEY_COLUMNS };

static void key_row(json_t *k, char **row) {
        json_t *retired = json_object_get(k, "retired"), *until = json_object_get(k, "publishedUntil");
        char buf[48];

        row[KEY_KID] = strdup(ctl_str_or_dash(k, "kid"));
        row[KEY_STATE] = strdup(ctl_str_or_dash(k, "state"));
        row[KEY_CREATED] = strdup(ctl_format_time(json_integer_value(json_object_get(k, "created")), buf, sizeof(buf)));
        row[KEY_RETIRED] = strdup(
                json_is_integer(retired) ? ctl_format_time(json_integer_value(retired), buf, sizeof(buf)) : "-");
        row[KEY_PUBLISHED_UNTIL] = strdup(
                json_is_integer(until) ? ctl_format_time(json_integer_value(until), buf, sizeof(buf)) : "-");
}

static int keys_list(const ctl_options *o) {
        static const char *const headers[N_KEY_COLUMNS] = { "KID", "STATE", "CREATED", "RETIRED", "IN JWKS UNTIL" };
        static const ctl_listing keys = { "io.enrich.ListKeys", "keys", NULL, headers, N_KEY_COLUMNS, key_row };

        return ctl_list(o, &keys, NULL);
}

static void say_rotated(const ctl_options *o, const json_t *reply) {
        char buf[48];

        printf("signing key %s replaces %s\n", ctl_str_or_dash(reply, "kid"), ctl_str_or_dash(reply, "previousKid"));
        if (o->compromised)
                printf("%s left the JWKS; %lld live session(s) re-issued, %lld revoked\n",
                       ctl_str_or_dash(reply, "previousKid"),
                       (long long) json_integer_value(json_object_get(reply, "sessionsUpdated")),
                       (long long) json_integer_value(json_object_get(reply, "sessionsRevoked")));
        else
                printf("%s stays in the JWKS until %s, when every token it signed has expired\n",
                       ctl_str_or_dash(reply, "previousKid"),
                       ctl_format_time(json_integer_value(json_object_get(reply, "previousPublishedUntil")), buf,
                                       sizeof(buf)));
}

static int keys_rotate(const ctl_options *o) {
        return ctl_say(o, "io.enrich.RotateKey", json_pack("{s:b}", "compromised", o->compromised), say_rotated);
}

int cmd_keys(const ctl_options *o) {
        const char *sub = o->n_args > 0 ? o->args[0] : NULL;

        if (!sub) {
                if (o->compromised) {
                        fprintf(stderr, "enrichctl: --compromised applies to keys rotate only\n");
                        return CTL_EXIT_ERROR;
                }
                return keys_list(o);
        }
        if (strcmp(sub, "rotate") == 0)
                return keys_rotate(o);
        return ctl_unknown_subcommand("keys", sub, (const char *const[]) { "rotate", NULL });
}
