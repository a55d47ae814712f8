/* fleet_commands.c: enrichctl fleet status|hosts|jwks: fleet mode as this
 * host's daemon sees it (it answers from memory, never waiting on etcd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrichctl.h"
#include "util.h"

static int fleet_status(const ctl_options *o) {
        json_t *r = NULL;
        char when[32];
        int code;

        code = ctl_call_or_print(o, "io.enrich.FleetStatus", NULL, &r);
        if (!r)
                return code;
        if (!json_is_true(json_object_get(r, "enabled"))) {
                printf("fleet mode is off (no fleet group in enrichd.conf)\n");
                json_decref(r);
                return code;
        }
        printf("host:            %s (labels:", ctl_str_or_dash(r, "hostId"));
        json_t *label;
        size_t i;
        json_array_foreach(json_object_get(r, "labels"), i, label)
                printf(" %s", json_string_value(label));
        printf(")%s\n", json_is_true(json_object_get(r, "issuer")) ? ", a fleet issuer" : "");
        printf("prefix:          %s\n", ctl_str_or_dash(r, "prefix"));
        printf("endpoints:      ");
        json_array_foreach(json_object_get(r, "endpoints"), i, label)
                printf(" %s", json_string_value(label));
        printf("\n");
        printf("connected:       %s\n", json_is_true(json_object_get(r, "connected")) ? "yes" : "no");
        printf("revision:        %lld (store %lld, lag %lld)\n",
               (long long) json_integer_value(json_object_get(r, "revision")),
               (long long) json_integer_value(json_object_get(r, "storeRevision")),
               (long long) json_integer_value(json_object_get(r, "lag")));
        printf("last contact:    %s\n",
               ctl_format_time((time_t) json_integer_value(json_object_get(r, "lastContact")), when, sizeof when));
        printf("fleet grants:    %lld%s\n", (long long) json_integer_value(json_object_get(r, "fleetGrants")),
               json_is_true(json_object_get(r, "suspended")) ? " (suspended: offline past offline_max)" : "");
        printf("live hosts:      %lld\n", (long long) json_integer_value(json_object_get(r, "hosts")));
        json_decref(r);
        return code;
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
                json_array_foreach(json_object_get(h, "labels"), j, label)
                        snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", j ? "," : "",
                                 json_string_value(label) ? json_string_value(label) : "");
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

static int fleet_jwks(const ctl_options *o) {
        json_t *r = NULL;
        int code;

        code = ctl_call(o, "io.enrich.FleetJwks", NULL, &r);
        if (code == CTL_EXIT_OK)
                ctl_print_json(json_object_get(r, "jwks"));
        json_decref(r);
        return code;
}

int cmd_fleet(const ctl_options *o) {
        const char *sub = o->args[0];

        if (strcmp(sub, "status") == 0)
                return fleet_status(o);
        if (strcmp(sub, "hosts") == 0)
                return fleet_hosts(o);
        if (strcmp(sub, "jwks") == 0)
                return fleet_jwks(o);
        fprintf(stderr, "enrichctl: unknown fleet command '%s' (status, hosts, jwks)\n", sub);
        return CTL_EXIT_ERROR;
}
