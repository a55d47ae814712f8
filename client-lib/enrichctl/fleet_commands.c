/* fleet_commands.c: enrichctl fleet status|hosts|jwks: fleet mode as this
 * host's daemon sees it (it answers from memory, never waiting on etcd);
 * fleet enroll: the etcd user and role of a new host, and with --key, an
 * issuer's signed enrolment of its key. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrichctl.h"
#include "util.h"

static void say_fleet_status(const ctl_options *o, const json_t *r) {
        char when[32];

        if (!json_is_true(json_object_get(r, "enabled"))) {
                printf("fleet mode is off (no fleet group in enrichd.conf)\n");
                return;
        }
        printf("host:            %s (labels:", ctl_str_or_dash(r, "hostId"));
        json_t *label;
        size_t i;
        json_array_foreach(json_object_get(r, "labels"), i, label) {
                printf(" %s", json_string_value(label));
        }
        printf(")%s\n", json_is_true(json_object_get(r, "issuer")) ? ", a fleet issuer" : "");
        printf("prefix:          %s\n", ctl_str_or_dash(r, "prefix"));
        printf("endpoints:      ");
        json_array_foreach(json_object_get(r, "endpoints"), i, label) {
                printf(" %s", json_string_value(label));
        }
        printf("\n");
        printf("connected:       %s\n", json_is_true(json_object_get(r, "connected")) ? "yes" : "no");
        printf("revision:        %lld (store %lld; lag: %lld changes not yet applied)\n",
               (long long) json_integer_value(json_object_get(r, "revision")),
               (long long) json_integer_value(json_object_get(r, "storeRevision")),
               (long long) json_integer_value(json_object_get(r, "lag")));
        printf("last contact:    %s\n",
               ctl_format_time((time_t) json_integer_value(json_object_get(r, "lastContact")), when, sizeof when));
        printf("fleet grants:    %lld%s\n", (long long) json_integer_value(json_object_get(r, "fleetGrants")),
               json_is_true(json_object_get(r, "suspended")) ? " (suspended: offline past offline_max)" : "");
        printf("live hosts:      %lld\n", (long long) json_integer_value(json_object_get(r, "hosts")));
}

static int fleet_status(const ctl_options *o) {
        return ctl_say(o, "io.enrich.FleetStatus", json_object(), say_fleet_status);
}

enum { H_ID, H_NAME, H_VERSION, H_LABELS, H_SINCE, H_COLUMNS };

/* The largest pages the daemon answers: a page of these listings costs it
 * a pass over every live host wherever it starts, so fewer pages cost it
 * less (the byte budget still ends a page before 64 KiB). */
static json_t *fleet_page_params(void) {
        return json_pack("{s:i}", "limit", VARLINK_LIST_MAX_ROWS);
}

static void host_row(json_t *h, char **row) {
        char labels[512] = "", when[32];
        json_t *label;
        size_t j;

        json_array_foreach(json_object_get(h, "labels"), j, label) {
                snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", j ? "," : "",
                         json_string_value(label) ? json_string_value(label) : "");
        }
        row[H_ID] = strdup(ctl_str_or_dash(h, "hostId"));
        row[H_NAME] = strdup(ctl_str_or_dash(h, "hostname"));
        row[H_VERSION] = strdup(ctl_str_or_dash(h, "version"));
        row[H_LABELS] = strdup(*labels ? labels : "-");
        row[H_SINCE] = strdup(
                ctl_format_time((time_t) json_integer_value(json_object_get(h, "since")), when, sizeof when));
}

static int fleet_hosts(const ctl_options *o) {
        static const char *const headers[H_COLUMNS] = { "HOST", "HOSTNAME", "VERSION", "LABELS", "SINCE" };
        static const ctl_listing hosts = { "io.enrich.FleetHosts", "hosts", NULL, headers, H_COLUMNS, host_row };
        json_t *params = fleet_page_params();
        int code;

        if (!params)
                return ctl_oom();
        code = ctl_list(o, &hosts, params);
        json_decref(params);
        return code;
}

/* The fleet JWKS gathered from every page of FleetJwks: each kid once
 * (two hosts on different pages may list one key), the first
 * FLEET_LEFT_OUT_SHOWN left-out keys named and all of them counted. */
#define FLEET_LEFT_OUT_SHOWN 100
typedef struct fleet_jwks_pages {
        json_t *keys, *seen, *left_out;
        json_int_t count;
} fleet_jwks_pages;

static int add_jwks_page(void *userdata, json_t *reply, json_t *rows, json_t *request) {
        fleet_jwks_pages *j = userdata;
        json_t *k, *keys = json_object_get(json_object_get(reply, "jwks"), "keys");
        size_t i;

        if (!json_is_array(keys)) {
                fprintf(stderr, "enrichctl: io.enrich.FleetJwks: malformed reply\n");
                return CTL_EXIT_ERROR;
        }
        json_array_foreach(keys, i, k) {
                const char *kid = json_string_value(json_object_get(k, "kid"));
                if (!kid || json_object_get(j->seen, kid))
                        continue;
                if (json_object_set(j->seen, kid, json_true()) < 0 || json_array_append(j->keys, k) < 0)
                        return ctl_oom();
        }
        json_array_foreach(json_object_get(reply, "leftOut"), i, k) {
                if (json_array_size(j->left_out) < FLEET_LEFT_OUT_SHOWN && json_array_append(j->left_out, k) < 0)
                        return ctl_oom();
        }
        j->count += json_integer_value(json_object_get(reply, "leftOutCount"));
        return CTL_EXIT_OK;
}

/* The JWKS on stdout; the keys left out (no issuer vouched for them) one
 * line each on stderr, or with --json in the JWKS's own "leftOut" member,
 * which JWKS readers ignore (RFC 7517, 4). The daemon answers it in pages
 * of hosts; they make one JWKS here. */
static int fleet_jwks(const ctl_options *o) {
        fleet_jwks_pages j = { .keys = json_array(), .seen = json_object(), .left_out = json_array() };
        json_t *params = fleet_page_params(), *jwks = NULL, *k;
        size_t i;
        int code;

        if (!params || !j.keys || !j.seen || !j.left_out) {
                code = ctl_oom();
                goto out;
        }
        code = ctl_pages(o, "io.enrich.FleetJwks", params, NULL, add_jwks_page, &j);
        if (code != CTL_EXIT_OK)
                goto out;
        jwks = json_pack("{s:O}", "keys", j.keys);
        if (!jwks || (o->json && json_object_set(jwks, "leftOut", j.left_out) < 0)) {
                code = ctl_oom();
                goto out;
        }
        ctl_print_json(jwks);
        if (o->json)
                goto out;
        json_array_foreach(j.left_out, i, k) {
                fprintf(stderr, "enrichctl: left out of the fleet JWKS: host %s key %s: %s\n",
                        ctl_str_or_dash(k, "hostId"), ctl_str_or_dash(k, "kid"), ctl_str_or_dash(k, "why"));
        }
        if (j.count > 0 && json_array_size(j.left_out) == 0)
                fprintf(stderr, "enrichctl: %lld keys left out of the fleet JWKS (an admin's fleet jwks names them)\n",
                        (long long) j.count);
        else if (j.count > (json_int_t) json_array_size(j.left_out))
                fprintf(stderr, "enrichctl: and %lld more keys left out of the fleet JWKS\n",
                        (long long) (j.count - (json_int_t) json_array_size(j.left_out)));
out:
        json_decref(params);
        json_decref(jwks);
        json_decref(j.keys);
        json_decref(j.seen);
        json_decref(j.left_out);
        return code;
}

/* enroll HOST --key THUMBPRINT, on an issuer: its enrichd signs HOST's
 * enrolment with the key whose thumbprint the admin read on HOST. */
static void say_enrolled(const ctl_options *o, const json_t *r) {
        char *kids = ctl_join(json_object_get(r, "kids"), ", ");

        printf("host %s enrolled with key(s) %s: the fleet JWKS takes them (and a key one of them endorses at a "
               "rotation)\n",
               ctl_str_or_dash(r, "hostId"), kids ? kids : "-");
        free(kids);
}

/* enroll HOST --key THUMBPRINT..., on an issuer: its enrichd signs HOST's
 * enrolment with the keys whose thumbprints the admin read on HOST. */
static int fleet_enroll_key(const ctl_options *o, const char *host) {
        json_t *kids = json_array();

        for (size_t i = 0; kids && i < o->n_keys; i++)
                if (json_array_append_new(kids, json_string(o->keys[i])) < 0) {
                        json_decref(kids);
                        kids = NULL;
                }
        return ctl_say(o, "io.enrich.FleetEnroll", kids ? json_pack("{s:s, s:o}", "hostId", host, "kids", kids) : NULL,
                       say_enrolled);
}

/* enroll HOST: the etcd user and role a new fleet host needs, as etcdctl
 * commands to run with etcd's root credentials: read on the prefix, write
 * only on the host's own presence and checkpoint keys. A fresh random
 * password; the credentials file's line to put on the host. Nothing is
 * sent to etcd from here. */
static int fleet_enroll(const ctl_options *o, const char *host) {
        json_t *status = NULL, *commands = NULL, *out = NULL;
        unsigned char random[18];
        char password[32], user[96], own_hosts[512], own_checkpoints[512];
        const char *prefix;
        FILE *f;
        size_t i;
        int code;

        if (!fleet_name_valid(host)) {
                fprintf(stderr, "enrichctl: host id '%s': letters, digits, '-', '_' and '.' only, at most 64\n", host);
                return CTL_EXIT_ERROR;
        }
        code = ctl_call(o, "io.enrich.FleetStatus", NULL, &status);
        if (code != CTL_EXIT_OK)
                return code;
        prefix = json_string_value(json_object_get(status, "prefix"));
        if (!json_is_true(json_object_get(status, "enabled")) || !prefix) {
                fprintf(stderr, "enrichctl: fleet mode is off on this host: enroll runs on a fleet host\n");
                json_decref(status);
                return CTL_EXIT_ERROR;
        }
        f = fopen("/dev/urandom", "re");
        if (!f || fread(random, 1, sizeof random, f) != sizeof random) {
                fprintf(stderr, "enrichctl: cannot read /dev/urandom\n");
                if (f)
                        fclose(f);
                json_decref(status);
                return CTL_EXIT_ERROR;
        }
        fclose(f);
        for (i = 0; i < sizeof random; i++)
                password[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[random[i] & 63];
        password[i] = '\0';
        snprintf(user, sizeof user, "enrich-host-%s", host);
        snprintf(own_hosts, sizeof own_hosts, "%shosts/%s", prefix, host);
        snprintf(own_checkpoints, sizeof own_checkpoints, "%scheckpoints/%s", prefix, host);
        commands = json_pack("[[s,s,s], [s,s,s,s,s,s], [s,s,s,s,s], [s,s,s,s,s], [s,s,s,s,s], [s,s,s,s]]", "role",
                             "add", user, "role", "grant-permission", user, "read", prefix, "--prefix=true", "role",
                             "grant-permission", user, "readwrite", own_hosts, "role", "grant-permission", user,
                             "readwrite", own_checkpoints, "user", "add", user, "--new-user-password", password, "user",
                             "grant-role", user, user);
        if (!commands) {
                json_decref(status);
                return ctl_oom();
        }
        if (o->json) {
                char line[160];
                snprintf(line, sizeof line, "%s:%s", user, password);
                out = json_pack("{s:s, s:s, s:s, s:O, s:s}", "hostId", host, "prefix", prefix, "user", user, "etcdctl",
                                commands, "credentials", line);
                if (out)
                        ctl_print_json(out);
        } else {
                json_t *command, *arg;
                size_t j;
                printf("# etcd user and role of fleet host %s (prefix %s): run with etcd's root credentials\n", host,
                       prefix);
                json_array_foreach(commands, i, command) {
                        printf("etcdctl");
                        json_array_foreach(command, j, arg) {
                                printf(" '%s'", json_string_value(arg));
                        }
                        printf("\n");
                }
                printf("# on %s: /etc/enrich/fleet.credentials, owned by root, mode 0600:\n%s:%s\n", host, user,
                       password);
        }
        explicit_bzero(password, sizeof password);
        json_decref(out);
        json_decref(commands);
        json_decref(status);
        return CTL_EXIT_OK;
}

static int fleet_enroll_command(const ctl_options *o) {
        if (o->n_args != 2)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.Usage", "see 'enrichctl fleet --help'",
                                "fleet enroll needs a host id");
        if (o->given & CTL_OPT_KEY)
                return fleet_enroll_key(o, o->args[1]);
        return fleet_enroll(o, o->args[1]);
}

int cmd_fleet(const ctl_options *o) {
        static const ctl_subcommand subcommands[] = {
                { "status", fleet_status },
                { "hosts", fleet_hosts },
                { "jwks", fleet_jwks },
                { "enroll", fleet_enroll_command },
        };

        if ((o->given & CTL_OPT_KEY) && strcmp(o->args[0], "enroll") != 0)
                return ctl_fail(CTL_EXIT_ERROR, "enrichctl.Usage", "see 'enrichctl fleet --help'",
                                "--key applies to fleet enroll only");
        return ctl_run_subcommand(o, "fleet", subcommands, ARRAY_SIZE(subcommands));
}
