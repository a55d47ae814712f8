/* audit_commands.c: enrichctl audit [--since D] [--user U] [--action A]
 * [--limit N] [--follow], audit verify, audit checkpoint. The daemon decides
 * who may read what (admins everything, users rows about themselves) from
 * SO_PEERCRED; --follow keeps one connection and asks for new rows once a
 * second as a "more" stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "enrichctl.h"
#include "host.h"
#include "util.h"

#define FOLLOW_INTERVAL_US 1000000
#define AUDIT_LIMIT_MAX 10000

static void print_entry(const ctl_options *o, const json_t *e)
{
        char when[64], *details = NULL;
        time_t t = (time_t) json_integer_value(json_object_get(e, "time"));
        struct tm tm;

        if (o->json) {
                details = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
                if (details)
                        printf("%s\n", details);
                free(details);
                return;
        }
        if (localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        else
                snprintf(when, sizeof(when), "%lld", (long long) t);
        details = json_dumps(json_object_get(e, "details"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("%-6lld %s  %-12s %-12s %-18s %-8s %s\n",
               (long long) json_integer_value(json_object_get(e, "id")), when, ctl_str_or_dash(e, "actor"),
               ctl_str_or_dash(e, "user"), ctl_str_or_dash(e, "action"), ctl_str_or_dash(e, "result"),
               details ? details : "{}");
        free(details);
}

/* The AuditList parameters the options ask for; after_id > 0 when following. */
static int list_params(const ctl_options *o, long long after_id, json_t **ret)
{
        json_t *p = json_object();
        unsigned long long seconds;
        unsigned long limit;
        int r;

        if (!p)
                return -ENOMEM;
        if (o->since) {
                r = duration_parse(o->since, &seconds);
                if (r < 0) {
                        fprintf(stderr, "enrichctl: --since %s: %s\n", o->since, duration_strerror(r));
                        json_decref(p);
                        return -EINVAL;
                }
                json_object_set_new(p, "since", json_integer((json_int_t) time(NULL) - (json_int_t) seconds));
        }
        if (o->limit) {
                if (parse_uint(o->limit, AUDIT_LIMIT_MAX, &limit) < 0 || limit == 0) {
                        fprintf(stderr, "enrichctl: --limit must be a number from 1 to %d\n", AUDIT_LIMIT_MAX);
                        json_decref(p);
                        return -EINVAL;
                }
                if (after_id == 0)
                        json_object_set_new(p, "limit", json_integer((json_int_t) limit));
        }
        if (o->user)
                json_object_set_new(p, "user", json_string(o->user));
        if (o->action)
                json_object_set_new(p, "action", json_string(o->action));
        if (after_id > 0)
                json_object_set_new(p, "afterId", json_integer(after_id));
        *ret = p;
        return 0;
}

/* One "more" call on c: prints each row as it comes; *last_id follows. */
static int stream_once(const ctl_options *o, varlink_client *c, long long *last_id)
{
        json_t *params = NULL, *reply = NULL;
        char *error = NULL;
        bool continues = true;
        int r;

        r = list_params(o, *last_id, &params);
        if (r < 0)
                return CTL_EXIT_ERROR;
        r = varlink_client_send(c, "io.enrich.AuditList", params, true, CTL_TIMEOUT_MS);
        while (r == 0 && continues) {
                json_t *entries, *e;
                size_t i;

                json_decref(reply);
                reply = NULL;
                r = varlink_client_next(c, CTL_TIMEOUT_MS, &reply, &error, &continues);
                if (r < 0)
                        break;
                entries = json_object_get(reply, "entries");
                json_array_foreach(entries, i, e) {
                        print_entry(o, e);
                        *last_id = json_integer_value(json_object_get(e, "id"));
                }
                fflush(stdout);
        }
        if (r == -EREMOTEIO)
                fprintf(stderr, "enrichctl: io.enrich.AuditList: %s%s%s\n", error ? error : "error",
                        json_string_value(json_object_get(reply, "reason")) ? ": " : "",
                        json_string_value(json_object_get(reply, "reason")) ?: "");
        else if (r < 0)
                fprintf(stderr, "enrichctl: no answer from enrichd at %s: %s\n", o->socket, strerror(-r));
        json_decref(params);
        json_decref(reply);
        free(error);
        return r == -EREMOTEIO ? CTL_EXIT_NO : r < 0 ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

static int audit_follow(const ctl_options *o)
{
        uid_t trusted[2] = { 0 };
        size_t n_trusted = 1;
        varlink_client *c = NULL;
        long long last_id = 0;
        int r, code;

        if (lookup_uid("enrich", &trusted[1]) == 0 && trusted[1] != 0)
                n_trusted = 2;
        r = varlink_client_connect(o->socket, CTL_TIMEOUT_MS, trusted, n_trusted, &c);
        if (r < 0) {
                fprintf(stderr, "enrichctl: cannot reach enrichd at %s: %s\n", o->socket,
                        r == -EPERM ? "its owner is neither root nor enrich" : strerror(-r));
                return CTL_EXIT_ERROR;
        }
        /* Until interrupted, or until the daemon goes away. */
        for (;;) {
                code = stream_once(o, c, &last_id);
                if (code != CTL_EXIT_OK)
                        break;
                usleep(FOLLOW_INTERVAL_US);
        }
        varlink_client_free(c);
        return code;
}

static int audit_list(const ctl_options *o)
{
        json_t *params = NULL, *reply = NULL, *entries, *e;
        size_t i;
        int code;

        if (o->follow)
                return audit_follow(o);
        if (list_params(o, 0, &params) < 0)
                return CTL_EXIT_ERROR;
        code = ctl_call(o, "io.enrich.AuditList", params, &reply);
        if (code != CTL_EXIT_OK)
                goto out;
        entries = json_object_get(reply, "entries");
        if (o->json)
                ctl_print_json(entries);
        else
                json_array_foreach(entries, i, e)
                        print_entry(o, e);
out:
        json_decref(params);
        json_decref(reply);
        return code;
}

static int audit_verify(const ctl_options *o)
{
        json_t *reply = NULL;
        int code = ctl_call(o, "io.enrich.AuditVerify", NULL, &reply);

        if (code != CTL_EXIT_OK)
                return code;
        if (o->json)
                ctl_print_json(reply);
        else if (json_is_true(json_object_get(reply, "ok")))
                printf("audit trail verifies: %lld rows (%lld..%lld), %lld checkpoints, signed up to row %lld\n",
                       (long long) json_integer_value(json_object_get(reply, "rows")),
                       (long long) json_integer_value(json_object_get(reply, "firstId")),
                       (long long) json_integer_value(json_object_get(reply, "lastId")),
                       (long long) json_integer_value(json_object_get(reply, "checkpoints")),
                       (long long) json_integer_value(json_object_get(reply, "sealedId")));
        if (!json_is_true(json_object_get(reply, "ok"))) {
                fprintf(stderr, "enrichctl: audit trail does NOT verify: row %lld %s: %s\n",
                        (long long) json_integer_value(json_object_get(reply, "badId")),
                        ctl_str_or_dash(reply, "kind"), ctl_str_or_dash(reply, "reason"));
                code = CTL_EXIT_NO;
        }
        json_decref(reply);
        return code;
}

static int audit_checkpoint(const ctl_options *o)
{
        json_t *reply = NULL;
        int code = ctl_call(o, "io.enrich.AuditCheckpoint", NULL, &reply);

        if (code != CTL_EXIT_OK)
                return code;
        if (o->json)
                ctl_print_json(reply);
        else
                printf("checkpoint signed at row %lld\n",
                       (long long) json_integer_value(json_object_get(reply, "rowId")));
        json_decref(reply);
        return code;
}

int cmd_audit(const ctl_options *o)
{
        const char *sub = o->n_args > 0 ? o->args[0] : NULL;

        if (!sub)
                return audit_list(o);
        if (o->given & (CTL_OPT_AUDIT | CTL_OPT_USER)) {
                fprintf(stderr, "enrichctl: audit %s takes no options but --json\n", sub);
                return CTL_EXIT_ERROR;
        }
        if (strcmp(sub, "verify") == 0)
                return audit_verify(o);
        if (strcmp(sub, "checkpoint") == 0)
                return audit_checkpoint(o);
        fprintf(stderr, "enrichctl: unknown audit command '%s' (verify, checkpoint)\n", sub);
        return CTL_EXIT_ERROR;
}
