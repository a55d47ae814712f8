/* claims_commands.c: enrichctl commands about the caller's own claims,
 * read from its session keyring and verified through libenrich: whoami and
 * check. Neither talks to the daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich.h"
#include "enrichctl.h"
#include "util.h"

/* The PAM service of this login, as logind recorded it
 * (/run/systemd/sessions/ID, SERVICE=), else a guess from the
 * environment, else NULL. Into buf. */
static const char *login_service(char *buf, size_t size) {
        const char *id = getenv("XDG_SESSION_ID");
        char path[128], *text = NULL, *line;

        if (id && strlen(id) < 32 && !strchr(id, '/')) {
                snprintf(path, sizeof path, "/run/systemd/sessions/%s", id);
                if (read_file_bounded(path, 65536, &text, NULL) == 0)
                        for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
                                if (strncmp(line, "SERVICE=", 8) == 0 && line[8] && !strchr(line + 8, '/')) {
                                        snprintf(buf, size, "%s", line + 8);
                                        free(text);
                                        return buf;
                                }
                free(text);
        }
        if (getenv("SUDO_USER"))
                return snprintf(buf, size, "sudo"), buf;
        if (getenv("SSH_CONNECTION"))
                return snprintf(buf, size, "sshd"), buf;
        return NULL;
}

/* What to do when there are no claims to read: the PAM line that gives
 * them, in the file of this login's service. */
static const char *no_claims_hint(int e, char *buf, size_t size) {
        char service[64];
        const char *s = login_service(service, sizeof service);

        if (e == ENRICH_E_NO_JWKS)
                return "enrichd publishes its keys at jwks in enrichd.conf; point --jwks or ENRICH_JWKS at it";
        if (e != ENRICH_E_NO_CLAIMS)
                return "log in again for fresh claims; enrichctl doctor checks the setup";
        snprintf(buf, size,
                 "claims come from the session stack: in /etc/pam.d/%s put "
                 "'session optional pam_enrich.so' after 'session optional pam_keyinit.so force revoke', "
                 "then log in again (enrichctl doctor checks it)",
                 s ? s : "SERVICE (sshd, sudo, login ...)");
        return buf;
}

/* Errors that say nothing about the claims but about this system (or the
 * command line): exit 2, not "not held". */
static bool is_system_error(int e) {
        return e == ENRICH_E_NOMEM || e == ENRICH_E_SYSTEM || e == ENRICH_E_INVALID || e == ENRICH_E_NO_JWKS;
}

/* Prints a label and a list, ", "-joined, or "-" when empty. */
static void print_list(const char *label, const enrich_claims *c, size_t (*count)(const enrich_claims *),
                       const char *(*item)(const enrich_claims *, size_t)) {
        size_t n = count(c);

        printf("%-12s ", label);
        if (n == 0)
                fputs("-", stdout);
        for (size_t i = 0; i < n; i++)
                printf("%s%s", i ? ", " : "", item(c, i));
        putchar('\n');
}

int cmd_whoami(const ctl_options *o) {
        enrich_claims *c = NULL;
        json_t *payload = NULL;
        const char *scope, *service = NULL, *actor = NULL;
        char issued[48], expires[48];
        int e;

        e = enrich_claims_load_jwks(o->jwks, &c);
        if (e != ENRICH_OK) {
                char hint[512];

                return ctl_fail(CTL_EXIT_NO, e == ENRICH_E_NO_CLAIMS ? "enrichctl.NoClaims" : "enrichctl.BadClaims",
                                no_claims_hint(e, hint, sizeof hint), "%s", enrich_strerror(e));
        }
        /* The accessors cover the common claims; the rest is read from the
         * verified payload itself. */
        payload = json_loads(enrich_claims_json(c), 0, NULL);
        if (o->json) {
                if (payload)
                        ctl_print_json(payload);
                else
                        puts(enrich_claims_json(c));
                goto out;
        }
        service = json_string_value(json_object_get(payload, "svc"));
        actor = json_string_value(json_object_get(json_object_get(payload, "act"), "sub"));
        scope = enrich_claims_scope(c);

        printf("%-12s %s\n", "subject", enrich_claims_subject(c) ? enrich_claims_subject(c) : "-");
        printf("%-12s %lu\n", "uid", (unsigned long) enrich_claims_uid(c));
        if (actor)
                printf("%-12s %s\n", "acting user", actor);
        printf("%-12s %s\n", "session id", enrich_claims_session_id(c) ? enrich_claims_session_id(c) : "-");
        if (service)
                printf("%-12s %s\n", "service", service);
        printf("%-12s %s\n", "issuer", enrich_claims_issuer(c) ? enrich_claims_issuer(c) : "-");
        print_list("groups", c, enrich_claims_group_count, enrich_claims_group);
        printf("%-12s %s\n", "scopes", scope && *scope ? scope : "-");
        printf("%-12s %s\n", "tenant", enrich_claims_tenant(c) ? enrich_claims_tenant(c) : "-");
        print_list("amr", c, enrich_claims_amr_count, enrich_claims_amr);
        printf("%-12s %s\n", "issued", ctl_format_time(enrich_claims_issued_at(c), issued, sizeof(issued)));
        /* ctl_format_time already says "(in 14m)". */
        printf("%-12s %s\n", "expires", ctl_format_time(enrich_claims_expiry(c), expires, sizeof(expires)));
out:
        json_decref(payload);
        enrich_claims_free(c);
        return CTL_EXIT_OK;
}

/* Least privilege: anything short of verified claims holding every asked
 * scope and group is "not held" (exit 1), with the reason on stderr. */
int cmd_check(const ctl_options *o) {
        enrich_claims *c = NULL;
        json_t *result = NULL, *missing = NULL;
        const char *reason = NULL;
        char what[256];
        int e, code;

        missing = json_array();
        if (!missing) {
                fprintf(stderr, "enrichctl: out of memory\n");
                return CTL_EXIT_ERROR;
        }
        e = enrich_claims_load_jwks(o->jwks, &c);
        if (e != ENRICH_OK) {
                snprintf(what, sizeof(what), "no valid claims: %s", enrich_strerror(e));
                reason = what;
                code = is_system_error(e) ? CTL_EXIT_ERROR : CTL_EXIT_NO;
                goto report;
        }
        for (size_t i = 0; i < o->n_scopes; i++)
                if (enrich_claims_has_scope(c, o->scopes[i]) != 1)
                        json_array_append_new(missing, json_pack("{s:s}", "scope", o->scopes[i]));
        for (size_t i = 0; i < o->n_groups; i++)
                if (enrich_claims_in_group(c, o->groups[i]) != 1)
                        json_array_append_new(missing, json_pack("{s:s}", "group", o->groups[i]));
        if (json_array_size(missing) > 0) {
                json_t *first = json_array_get(missing, 0);
                const char *kind = json_object_get(first, "scope") ? "scope" : "group";

                snprintf(what, sizeof(what), "%s %s not held%s", kind, json_string_value(json_object_get(first, kind)),
                         json_array_size(missing) > 1 ? " (and more)" : "");
                reason = what;
                code = CTL_EXIT_NO;
        } else
                code = CTL_EXIT_OK;
report:
        if (reason)
                fprintf(stderr, "enrichctl: %s\n", reason);
        if (o->json) {
                result = json_pack("{s:b, s:O}", "held", code == CTL_EXIT_OK, "missing", missing);
                if (result && reason)
                        json_object_set_new(result, "reason", json_string(reason));
                if (result)
                        ctl_print_json(result);
        } else if (code == CTL_EXIT_OK && o->verbose) {
                for (size_t i = 0; i < o->n_scopes; i++)
                        printf("scope %s: held\n", o->scopes[i]);
                for (size_t i = 0; i < o->n_groups; i++)
                        printf("group %s: held\n", o->groups[i]);
        }
        json_decref(result);
        json_decref(missing);
        enrich_claims_free(c);
        return code;
}
