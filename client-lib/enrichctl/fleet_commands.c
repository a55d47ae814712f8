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

static int fleet_hosts(const ctl_options *o) {
        static const char *const headers[H_COLUMNS] = { "HOST", "HOSTNAME", "VERSION", "LABELS", "SINCE" };
        json_t *r = NULL, *hosts, *h;
        char **cells = NULL, when[32];
        size_t n, i;
        int code;

        code = ctl_call(o, "io.enrich.FleetHosts", NULL, &r);
        if (code != CTL_EXIT_OK)
                return code;
        hosts = json_object_get(r, "hosts");
        if (o->json) {
                ctl_print_json(hosts);
                json_decref(r);
                return code;
        }
        n = json_array_size(hosts);
        cells = calloc(n * H_COLUMNS + 1, sizeof(char *));
        if (!cells) {
                json_decref(r);
                return ctl_oom();
        }
        json_array_foreach(hosts, i, h) {
                char labels[512] = "";
                json_t *label;
                size_t j;
                json_array_foreach(json_object_get(h, "labels"), j, label) {
                        snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", j ? "," : "",
                                 json_string_value(label) ? json_string_value(label) : "");
                }
                cells[i * H_COLUMNS + H_ID] = strdup(ctl_str_or_dash(h, "hostId"));
                cells[i * H_COLUMNS + H_NAME] = strdup(ctl_str_or_dash(h, "hostname"));
                cells[i * H_COLUMNS + H_VERSION] = strdup(ctl_str_or_dash(h, "version"));
                cells[i * H_COLUMNS + H_LABELS] = strdup(*labels ? labels : "-");
                cells[i * H_COLUMNS + H_SINCE] = strdup(
                        ctl_format_time((time_t) json_integer_value(json_object_get(h, "since")), when, sizeof when));
        }
        ctl_print_table(headers, H_COLUMNS, cells, n);
        for (i = 0; i < n * H_COLUMNS; i++)
                free(cells[i]);
        free(cells);
        json_decref(r);
        return code;
}

/* The JWKS on stdout; the keys left out (no issuer vouched for them) one
 * line each on stderr, or with --json in the JWKS's own "leftOut" member,
 * which JWKS readers ignore (RFC 7517, 4). */
static int fleet_jwks(const ctl_options *o) {
        json_t *r = NULL, *jwks, *left_out, *k;
        json_int_t count;
        size_t i;
        int code;

        code = ctl_call(o, "io.enrich.FleetJwks", NULL, &r);
        if (code != CTL_EXIT_OK)
                goto out;
        jwks = json_object_get(r, "jwks");
        left_out = json_object_get(r, "leftOut");
        count = json_integer_value(json_object_get(r, "leftOutCount"));
        if (o->json) {
                if (json_object_set(jwks, "leftOut", left_out ? left_out : json_array()) < 0)
                        code = ctl_oom();
                else
                        ctl_print_json(jwks);
                goto out;
        }
        ctl_print_json(jwks);
        json_array_foreach(left_out, i, k) {
                fprintf(stderr, "enrichctl: left out of the fleet JWKS: host %s key %s: %s\n",
                        ctl_str_or_dash(k, "hostId"), ctl_str_or_dash(k, "kid"), ctl_str_or_dash(k, "why"));
        }
        if (count > 0 && json_array_size(left_out) == 0)
                fprintf(stderr, "enrichctl: %lld keys left out of the fleet JWKS (an admin's fleet jwks names them)\n",
                        (long long) count);
        else if (count > (json_int_t) json_array_size(left_out))
                fprintf(stderr, "enrichctl: and %lld more keys left out of the fleet JWKS\n",
                        (long long) (count - (json_int_t) json_array_size(left_out)));
out:
        json_decref(r);
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
