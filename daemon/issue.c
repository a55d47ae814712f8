/* issue.c: evaluate a login's policy from fresh inputs and sign its token.
 * Group lists and grants are read at every evaluation, and the user's entry
 * through NSS (or passwd_cache.h, which answers only as NSS would, the file
 * checked each time), so every refresh reflects the state of the host
 * right now. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "b64url.h"
#include "identity.h"
#include "issue.h"
#include "log.h"
#include "tokens.h"
#include "util.h"

#define RANDOM_ID_BYTES 16

int issue_random_id(char **ret) {
        return b64url_random_id(RANDOM_ID_BYTES, ret);
}

/* The base64url characters in byte order, so that the prefix below sorts
 * as the time it encodes. */
static const char ordered_digits[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

#define SESSION_ID_TIME_CHARS 7

int issue_session_id(int64_t wall_ms, char **ret) {
        uint64_t t = wall_ms > 0 ? (uint64_t) wall_ms : 0;
        char *id = NULL;
        int r;

        r = b64url_random_id(RANDOM_ID_BYTES, &id);
        if (r < 0)
                return r;
        /* 22 characters: the time over the first 7 (42 bits, enough until
         * the year 2109), 90 random bits left. */
        for (int i = SESSION_ID_TIME_CHARS - 1; i >= 0; i--, t >>= 6)
                id[i] = ordered_digits[t & 63];
        *ret = id;
        return 0;
}

void evaluation_clear(evaluation *e) {
        if (!e)
                return;
        /* The result may borrow grant ids; free it first. */
        policy_result_free(e->result);
        free(e->policy_grants);
        grant_list_clear(&e->grants);
        strv_free(e->unix_groups);
        memset(e, 0, sizeof *e);
}

static bool rules_use_unix_groups(const config *c) {
        for (size_t i = 0; i < c->n_rules; i++)
                if (c->rules[i].match_unix_groups || c->rules[i].match_not_unix_groups)
                        return true;
        return false;
}

int issue_evaluate(enrichd *d, const login_context *ctx, int64_t now, bool session_context, evaluation *ret) {
        evaluation e = { 0 };
        struct passwd pw;
        char *pwbuf = NULL;
        int r = 0;

        if (ctx->pw)
                pw = *ctx->pw;
        else
                r = identity_lookup_user(ctx->user, 0, &pw, &pwbuf);
        if (r < 0)
                goto out;
        e.uid = pw.pw_uid;
        /* Fresh at every evaluation, but only when a rule can look at them
         * (or explain shows them): getgrouplist asks every NSS source
         * (/etc/group, nss-systemd's userdb sockets, ...), about a tenth of
         * an Enrich. */
        if (ctx->want_reasons || rules_use_unix_groups(d->config)) {
                r = identity_unix_groups(ctx->user, pw.pw_gid, &e.unix_groups);
                if (r < 0)
                        goto out;
        }
        /* Grants ending within this second are left out (issue.h). */
        r = grants_active(d->db, ctx->user, now + ISSUE_HORIZON_SECONDS, &e.grants);
        if (r < 0)
                goto out;
        r = grants_to_policy(&e.grants, &e.policy_grants);
        if (r < 0)
                goto out;
        r = policy_evaluate(d->config,
                            &(policy_input) { .user = ctx->user,
                                              .uid = pw.pw_uid,
                                              .service = ctx->service,
                                              .unix_groups = e.unix_groups,
                                              .tty = ctx->tty,
                                              .rhost = ctx->rhost,
                                              .amr = ctx->amr,
                                              .now = (time_t) now,
                                              .session_context = session_context,
                                              .grants = e.policy_grants,
                                              .n_grants = e.grants.n,
                                              .want_reasons = ctx->want_reasons },
                            &e.result);
        if (r < 0)
                goto out;
        *ret = e;
        e = (evaluation) { 0 };
out:
        evaluation_clear(&e);
        free(pwbuf);
        return r;
}

void issue_log_conflict(const login_context *ctx, const evaluation *e, const char *sid) {
        if (!e->result || !e->result->tenant_conflict)
                return;
        log_struct(LOG_ERR, LOG_MSGID_TENANT_CONFLICT,
                   (const char *[]) { "ENRICH_USER", ctx->user, "ENRICH_SERVICE", ctx->service, "ENRICH_SID", sid,
                                      NULL },
                   "Tenant conflict for %s (service %s): %s; issuing no tenant", ctx->user, ctx->service,
                   e->result->tenant_conflict);
}

static bool is_switch_user_service(const char *service) {
        static const char *const services[] = { "sudo", "sudo-i", "su", "su-l" };
        for (size_t i = 0; i < ARRAY_SIZE(services); i++)
                if (strcmp(service, services[i]) == 0)
                        return true;
        return false;
}

/* The scope claim of session sid: policy's scopes, intersected with the
 * scopes of the service-account token that opened the session, if one did,
 * and that token's expiry (*ret_token_end; 0 without one). The limit is
 * read from the daemon's own record at every signing, so refreshes keep
 * it, and a revoked or expired token (or one ending within this second)
 * ends the session's claims (-EKEYREVOKED) instead of widening them. */
static int limited_scope_string(enrichd *d, const login_context *ctx, const policy_result *policy, const char *sid,
                                int64_t now, char **ret, int64_t *ret_token_end) {
        char *all = NULL, *limit = NULL, *out = NULL;
        int64_t token_end = 0;
        bool bound = false;
        int r = 0;

        if (!ctx->new_without_token)
                r = tokens_session_limit(d->db, sid, now + ISSUE_HORIZON_SECONDS, &bound, &limit, &token_end);
        if (r < 0)
                goto out;
        r = policy_scope_string(policy, &all);
        if (r < 0)
                goto out;
        if (!bound) {
                out = all;
                all = NULL;
                goto done;
        }
        out = calloc(1, strlen(all) + 1);
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; policy->scopes && policy->scopes[i]; i++) {
                const char *scope = policy->scopes[i], *p = limit;
                size_t n = strlen(scope);
                bool allowed = false;

                while (*p && !allowed) {
                        size_t word = strcspn(p, " ");
                        allowed = word == n && strncmp(p, scope, n) == 0;
                        p += word;
                        p += *p == ' ';
                }
                if (allowed) {
                        if (*out)
                                strcat(out, " ");
                        strcat(out, scope);
                }
        }
done:
        *ret = out;
        out = NULL;
        *ret_token_end = bound ? token_end : 0;
out:
        free(all);
        free(limit);
        free(out);
        return r;
}

/* The claims payload exactly as docs/contract.md's claims table has it;
 * scope is the scope claim (limited_scope_string). */
static json_t *build_claims(const enrichd *d, const login_context *ctx, const evaluation *e, const char *sid,
                            const char *jti, int64_t now, int64_t expires, const char *scope) {
        const policy_result *policy = e->result;
        json_t *claims = NULL;

        claims = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:s}", "iss",
                           d->config->issuer, "sub", ctx->user, "uid", (json_int_t) e->uid, "aud", d->machine_id, "iat",
                           (json_int_t) now, "nbf", (json_int_t) now, "exp", (json_int_t) expires, "jti", jti, "sid",
                           sid, "svc", ctx->service, "amr", strv_to_json(ctx->amr), "groups",
                           strv_to_json(policy->groups), "scope", scope, "pv", d->policy_version);
        if (!claims)
                goto out;
        if (ctx->asid >= 0)
                json_object_set_new(claims, "asid", json_integer(ctx->asid));
        if (ctx->tty)
                json_object_set_new(claims, "tty", json_string(ctx->tty));
        if (ctx->rhost)
                json_object_set_new(claims, "rhost", json_string(ctx->rhost));
        if (policy->tenant)
                json_object_set_new(claims, "tenant", json_string(policy->tenant));
        /* RFC 8693 actor: who switched into this identity. */
        if (ctx->ruser && is_switch_user_service(ctx->service) && strcmp(ctx->ruser, ctx->user) != 0)
                json_object_set_new(claims, "act", json_pack("{s:s}", "sub", ctx->ruser));
out:
        return claims;
}

int64_t issue_expiry(int64_t now, unsigned ttl, unsigned max_ttl, int64_t grants_end, int64_t token_end) {
        int64_t lifetime = ttl > 0 ? ttl : 1, expires;

        /* No token outlives max_ttl whatever the evaluation said (policy
         * clamps too), nor the grants and token its claims come from. */
        if (max_ttl > 0 && lifetime > (int64_t) max_ttl)
                lifetime = max_ttl;
        expires = now + lifetime;
        if (grants_end > 0 && grants_end < expires)
                expires = grants_end;
        if (token_end > 0 && token_end < expires)
                expires = token_end;
        return expires;
}

bool issue_ends_early(const enrichd *d, const evaluation *e, int64_t now, int64_t expires) {
        return expires < issue_expiry(now, e->result->ttl, d->config->max_ttl, 0, 0);
}

int issue_claims(enrichd *d, const login_context *ctx, const evaluation *e, const char *sid, int64_t now,
                 char **ret_claims, json_t **ret_claims_object, int64_t *ret_expires) {
        char *jti = NULL, *text = NULL, *scope = NULL;
        json_t *claims = NULL;
        int64_t expires, token_end = 0;
        int r;

        r = issue_random_id(&jti);
        if (r < 0)
                goto out;
        r = limited_scope_string(d, ctx, e->result, sid, now, &scope, &token_end);
        if (r < 0)
                goto out;
        /* iat, nbf and exp come from the one reading now. */
        expires = issue_expiry(now, e->result->ttl, d->config->max_ttl, (int64_t) e->result->grants_end, token_end);
        claims = build_claims(d, ctx, e, sid, jti, now, expires, scope);
        if (!claims || (ret_claims && !(text = json_dumps(claims, JSON_COMPACT)))) {
                r = -ENOMEM;
                goto out;
        }
        if (ret_claims) {
                *ret_claims = text;
                text = NULL;
        }
        if (ret_claims_object) {
                *ret_claims_object = claims;
                claims = NULL;
        }
        *ret_expires = expires;
out:
        free(jti);
        free(scope);
        free(text);
        json_decref(claims);
        return r;
}

int64_t issue_new_expiry(const enrichd *d, const evaluation *e, int64_t now) {
        return issue_expiry(now, e->result->ttl, d->config->max_ttl, (int64_t) e->result->grants_end, 0);
}

json_t *issue_new_claims(const enrichd *d, const login_context *ctx, const evaluation *e, const char *sid, int64_t now,
                         int64_t expires) {
        char *jti = NULL, *scope = NULL;
        json_t *claims = NULL;

        /* What issue_claims makes of such a session: no token binding, so
         * policy's scopes as they are. */
        if (issue_random_id(&jti) == 0 && policy_scope_string(e->result, &scope) == 0)
                claims = build_claims(d, ctx, e, sid, jti, now, expires, scope);
        free(jti);
        free(scope);
        return claims;
}

int issue_sign(enrichd *d, const login_context *ctx, const evaluation *e, const char *sid, int64_t now,
               char **ret_token, char **ret_claims, json_t **ret_claims_object, int64_t *ret_expires) {
        char *token = NULL, *text = NULL;
        json_t *claims = NULL;
        int64_t expires;
        int r;

        r = issue_claims(d, ctx, e, sid, now, &text, ret_claims_object ? &claims : NULL, &expires);
        if (r < 0)
                return r;
        r = signer_sign(d->signer, text, &token);
        if (r < 0) {
                free(text);
                json_decref(claims);
                return r;
        }
        *ret_token = token;
        *ret_claims = text;
        if (ret_claims_object)
                *ret_claims_object = claims;
        *ret_expires = expires;
        return 0;
}

int issue_update_policy_version(enrichd *d) {
        int64_t generation = 0, next = 0;
        int r;

        r = grants_generation(d->db, &generation);
        if (r < 0)
                return r;
        r = grants_next_expiry(d->db, d->grants_checked, &next);
        if (r < 0)
                return r;
        r = grants_policy_version(d->config->content_hash, generation, d->policy_version);
        if (r < 0)
                return r;
        d->grants_generation = generation;
        d->next_grant_expiry = next;
        return 0;
}
