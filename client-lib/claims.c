/* claims.c: libenrich's public API: find, read and verify the caller's
 * claims token as DESIGN.md's verifier rules say, and answer questions about
 * it. Everything that fails ends in "no claims" for the caller: least
 * privilege. */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "enrich.h"
#include "host.h"
#include "jws.h"
#include "keyring.h"
#include "util.h"
#include "varlink.h"

struct enrich_claims {
        json_t *payload;
        char *json;
        char *token;
};

static const char *const messages[_ENRICH_E_MAX] = {
        [ENRICH_OK] = "Success",
        [ENRICH_E_NO_CLAIMS] = "No claims in this session keyring",
        [ENRICH_E_EXPIRED] = "Claims have expired",
        [ENRICH_E_REVOKED] = "Claims have been revoked",
        [ENRICH_E_BAD_SIGNATURE] = "Claims signature does not verify",
        [ENRICH_E_UNKNOWN_KEY] = "Claims are signed by a key not in the JWKS",
        [ENRICH_E_WRONG_HOST] = "Claims were issued for another host",
        [ENRICH_E_WRONG_USER] = "Claims belong to another user",
        [ENRICH_E_WRONG_SESSION] = "Claims belong to another login session",
        [ENRICH_E_UNREACHABLE] = "The enrich daemon is unreachable",
        [ENRICH_E_MALFORMED] = "Claims token is malformed",
        [ENRICH_E_NOT_YET_VALID] = "Claims are not valid yet",
        [ENRICH_E_NO_JWKS] = "Public keys (JWKS) cannot be read",
        [ENRICH_E_NOMEM] = "Out of memory",
        [ENRICH_E_SYSTEM] = "System error",
        [ENRICH_E_INVALID] = "Invalid argument",
};

const char *enrich_strerror(int error)
{
        if (error < 0 || error >= _ENRICH_E_MAX || !messages[error])
                return "Unknown error";
        return messages[error];
}

void enrich_claims_free(enrich_claims *claims)
{
        if (!claims)
                return;
        json_decref(claims->payload);
        free(claims->json);
        free(claims->token);
        free(claims);
}

static int from_keyring_errno(int r)
{
        switch (r) {
        case -EKEYREVOKED:
                return ENRICH_E_REVOKED;
        case -EKEYEXPIRED:
                return ENRICH_E_EXPIRED;
        case -ENOMEM:
                return ENRICH_E_NOMEM;
        default: /* -ENOKEY, -EACCES: nothing this caller may read */
                return ENRICH_E_NO_CLAIMS;
        }
}

static bool get_int(json_t *payload, const char *name, json_int_t *ret)
{
        json_t *v = json_object_get(payload, name);

        if (!json_is_integer(v))
                return false;
        *ret = json_integer_value(v);
        return true;
}

/* Checks the claims that bind a token to this host, user and login. */
static int check_binding(json_t *payload)
{
        _cleanup_free_ char *machine_id = NULL;
        json_int_t iat, nbf, exp, uid, asid;
        time_t now = time(NULL);
        uint32_t own_asid;

        if (!json_is_string(json_object_get(payload, "sub")) ||
            !json_is_string(json_object_get(payload, "sid")) ||
            !get_int(payload, "uid", &uid) || !get_int(payload, "iat", &iat) ||
            !get_int(payload, "nbf", &nbf) || !get_int(payload, "exp", &exp))
                return ENRICH_E_MALFORMED;
        if (exp <= now)
                return ENRICH_E_EXPIRED;
        if (nbf > now)
                return ENRICH_E_NOT_YET_VALID;
        if (host_machine_id(&machine_id) < 0)
                return ENRICH_E_SYSTEM;
        if (!streq_ptr(json_string_value(json_object_get(payload, "aud")), machine_id))
                return ENRICH_E_WRONG_HOST;
        if (uid != (json_int_t) getuid())
                return ENRICH_E_WRONG_USER;
        if (json_object_get(payload, "asid")) {
                if (!get_int(payload, "asid", &asid))
                        return ENRICH_E_MALFORMED;
                if (host_audit_session(0, &own_asid) == 0 && (json_int_t) own_asid != asid)
                        return ENRICH_E_WRONG_SESSION;
        }
        return ENRICH_OK;
}

int enrich_claims_verify(const char *token, const char *jwks_path, enrich_claims **ret)
{
        jwks *keys = NULL;
        json_t *header = NULL, *payload = NULL;
        enrich_claims *claims = NULL;
        int r, e;

        if (!token || !ret)
                return ENRICH_E_INVALID;
        if (!jwks_path)
                jwks_path = secure_getenv("ENRICH_JWKS");
        if (!jwks_path || !*jwks_path)
                jwks_path = ENRICH_DEFAULT_JWKS;
        r = jwks_load_file(jwks_path, &keys);
        if (r < 0) {
                e = r == -ENOMEM ? ENRICH_E_NOMEM : ENRICH_E_NO_JWKS;
                goto out;
        }
        r = jws_verify(token, keys, &header, &payload);
        switch (r) {
        case 0:
                break;
        case -ENOKEY:
                e = ENRICH_E_UNKNOWN_KEY;
                goto out;
        case -EKEYREJECTED:
                e = ENRICH_E_BAD_SIGNATURE;
                goto out;
        case -ENOMEM:
                e = ENRICH_E_NOMEM;
                goto out;
        default:
                e = ENRICH_E_MALFORMED;
                goto out;
        }
        if (!streq_ptr(json_string_value(json_object_get(header, "typ")), "enrich+jwt")) {
                e = ENRICH_E_MALFORMED;
                goto out;
        }
        e = check_binding(payload);
        if (e != ENRICH_OK)
                goto out;
        claims = calloc(1, sizeof(*claims));
        if (!claims) {
                e = ENRICH_E_NOMEM;
                goto out;
        }
        claims->token = strdup(token);
        claims->json = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
        if (!claims->token || !claims->json) {
                e = ENRICH_E_NOMEM;
                goto out;
        }
        claims->payload = payload;
        payload = NULL;
        *ret = claims;
        claims = NULL;
        e = ENRICH_OK;
out:
        enrich_claims_free(claims);
        json_decref(header);
        json_decref(payload);
        jwks_free(keys);
        return e;
}

int enrich_claims_load_jwks(const char *jwks_path, enrich_claims **ret)
{
        _cleanup_free_ char *token = NULL;
        key_serial_t key;
        int r;

        if (!ret)
                return ENRICH_E_INVALID;
        r = keyring_find_claims(&key);
        if (r < 0)
                return from_keyring_errno(r);
        r = keyring_read(key, &token);
        if (r < 0)
                return from_keyring_errno(r);
        return enrich_claims_verify(token, jwks_path, ret);
}

int enrich_claims_load(enrich_claims **ret)
{
        return enrich_claims_load_jwks(NULL, ret);
}

static const char *get_string(const enrich_claims *claims, const char *name)
{
        return claims ? json_string_value(json_object_get(claims->payload, name)) : NULL;
}

static json_t *get_array(const enrich_claims *claims, const char *name)
{
        json_t *v = claims ? json_object_get(claims->payload, name) : NULL;
        return json_is_array(v) ? v : NULL;
}

static json_int_t get_int_or(const enrich_claims *claims, const char *name, json_int_t fallback)
{
        json_int_t v;
        return claims && get_int(claims->payload, name, &v) ? v : fallback;
}

int enrich_claims_has_scope(const enrich_claims *claims, const char *scope)
{
        const char *scopes = get_string(claims, "scope"), *p;
        size_t len;

        if (!scopes || !scope || !*scope || strchr(scope, ' '))
                return 0;
        len = strlen(scope);
        for (p = scopes; *p; ) {
                size_t n = strcspn(p, " ");
                if (n == len && strncmp(p, scope, len) == 0)
                        return 1;
                p += n;
                p += strspn(p, " ");
        }
        return 0;
}

int enrich_claims_in_group(const enrich_claims *claims, const char *group)
{
        json_t *groups = get_array(claims, "groups"), *g;
        size_t i;

        if (!groups || !group)
                return 0;
        json_array_foreach(groups, i, g)
                if (streq_ptr(json_string_value(g), group))
                        return 1;
        return 0;
}

const char *enrich_claims_subject(const enrich_claims *claims) { return get_string(claims, "sub"); }
const char *enrich_claims_tenant(const enrich_claims *claims) { return get_string(claims, "tenant"); }
const char *enrich_claims_session_id(const enrich_claims *claims) { return get_string(claims, "sid"); }
const char *enrich_claims_issuer(const enrich_claims *claims) { return get_string(claims, "iss"); }
const char *enrich_claims_scope(const enrich_claims *claims) { return get_string(claims, "scope"); }
uid_t enrich_claims_uid(const enrich_claims *claims) { return (uid_t) get_int_or(claims, "uid", -1); }
time_t enrich_claims_expiry(const enrich_claims *claims) { return (time_t) get_int_or(claims, "exp", 0); }
time_t enrich_claims_issued_at(const enrich_claims *claims) { return (time_t) get_int_or(claims, "iat", 0); }
const char *enrich_claims_json(const enrich_claims *claims) { return claims ? claims->json : NULL; }
const char *enrich_claims_token(const enrich_claims *claims) { return claims ? claims->token : NULL; }

size_t enrich_claims_amr_count(const enrich_claims *claims)
{
        return json_array_size(get_array(claims, "amr"));
}

const char *enrich_claims_amr(const enrich_claims *claims, size_t index)
{
        return json_string_value(json_array_get(get_array(claims, "amr"), index));
}

size_t enrich_claims_group_count(const enrich_claims *claims)
{
        return json_array_size(get_array(claims, "groups"));
}

const char *enrich_claims_group(const enrich_claims *claims, size_t index)
{
        return json_string_value(json_array_get(get_array(claims, "groups"), index));
}

int enrich_ping(const char *socket_path, int timeout_ms)
{
        varlink_client *c = NULL;
        json_t *reply = NULL;
        int r;

        if (!socket_path)
                socket_path = secure_getenv("ENRICH_SOCKET");
        if (!socket_path || !*socket_path)
                socket_path = ENRICH_DEFAULT_SOCKET;
        r = varlink_client_connect(socket_path, timeout_ms, NULL, 0, &c);
        if (r == 0)
                r = varlink_client_call(c, "io.enrich.Status", NULL, timeout_ms, &reply, NULL);
        json_decref(reply);
        varlink_client_free(c);
        return r == 0 ? ENRICH_OK : ENRICH_E_UNREACHABLE;
}
