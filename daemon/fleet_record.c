/* fleet_record.c: a fleet record's signature, a grant's and an
 * enrolment's fields, a rotation's endorsement (fleet_record.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "fleet_record.h"
#include "grants.h"
#include "jws.h"
#include "util.h"

int fleet_record_verify(const jwks *issuers, const char *value, json_t **ret_payload, char **ret_kid,
                        const char **ret_why) {
        json_t *header = NULL, *payload = NULL;
        const char *typ;
        int r;

        r = jws_verify(value, issuers, &header, &payload);
        switch (r) {
        case 0: break;
        case -EBADMSG: *ret_why = "not a signed record (compact JWS)"; goto out;
        case -EPROTO: *ret_why = "not signed with EdDSA"; goto out;
        case -ENOKEY: *ret_why = "signed by a key that is not in fleet.issuers"; goto out;
        case -EKEYREJECTED: *ret_why = "the signature does not verify"; goto out;
        default: *ret_why = "cannot be verified"; goto out;
        }
        typ = json_string_value(json_object_get(header, "typ"));
        if (!typ || strcmp(typ, FLEET_RECORD_TYPE) != 0) {
                *ret_why = "signed, but not as a fleet record (typ is not " FLEET_RECORD_TYPE ")";
                r = -EPROTO;
                goto out;
        }
        if (ret_kid && !(*ret_kid = strdup(json_string_value(json_object_get(header, "kid")) ?: ""))) {
                *ret_why = "out of memory";
                r = -ENOMEM;
                goto out;
        }
        *ret_payload = payload;
        payload = NULL;
out:
        json_decref(header);
        json_decref(payload);
        return r;
}

/* A NULL-terminated list from a JSON array of short strings; NULL member:
 * an empty list. -EINVAL when it is not one. */
static int strv_from_json(json_t *a, char ***ret) {
        char **list;
        size_t n = json_array_size(a);

        if (a && !json_is_array(a))
                return -EINVAL;
        if (n > GRANTS_MAX_VALUES)
                return -EINVAL;
        list = calloc(n + 1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(a, i));
                if (!s || !*s || strlen(s) > GRANTS_MAX_VALUE_LENGTH || !(list[i] = strdup(s))) {
                        strv_free(list);
                        return s ? -ENOMEM : -EINVAL;
                }
        }
        *ret = list;
        return 0;
}

int fleet_record_grant(json_t *payload, const char *id, fleet_grant_record *ret) {
        fleet_grant_record g = { 0 };
        const char *pid = json_string_value(json_object_get(payload, "id"));
        int r = -EINVAL;

        g.user = json_string_value(json_object_get(payload, "user"));
        g.tenant = json_string_value(json_object_get(payload, "tenant"));
        g.reason = json_string_value(json_object_get(payload, "reason"));
        g.granted_by = json_string_value(json_object_get(payload, "grantedBy"));
        g.issuer = json_string_value(json_object_get(payload, "issuer"));
        g.created = json_integer_value(json_object_get(payload, "created"));
        g.expires = json_integer_value(json_object_get(payload, "expires"));
        if (!pid || strcmp(pid, id) != 0 || !g.user || !*g.user || strlen(g.user) > 256 || !g.reason ||
            strlen(g.reason) > GRANTS_MAX_REASON || !g.granted_by || g.expires <= 0 ||
            (g.tenant && strlen(g.tenant) > GRANTS_MAX_VALUE_LENGTH))
                goto out;
        if ((r = strv_from_json(json_object_get(payload, "groups"), &g.groups)) < 0 ||
            (r = strv_from_json(json_object_get(payload, "scopes"), &g.scopes)) < 0 ||
            (r = strv_from_json(json_object_get(payload, "hosts"), &g.hosts)) < 0)
                goto out;
        *ret = g;
        g = (fleet_grant_record) { 0 };
        r = 0;
out:
        fleet_grant_record_clear(&g);
        return r;
}

void fleet_grant_record_clear(fleet_grant_record *g) {
        if (!g)
                return;
        strv_free(g->groups);
        strv_free(g->scopes);
        strv_free(g->hosts);
        *g = (fleet_grant_record) { 0 };
}

int fleet_record_revocation(json_t *payload, const char *kind, const char *id, fleet_revocation_record *ret) {
        const char *pid = json_string_value(json_object_get(payload, "id"));
        const char *pkind = json_string_value(json_object_get(payload, "kind"));
        fleet_revocation_record v = { 0 };

        v.revoked_by = json_string_value(json_object_get(payload, "revokedBy"));
        v.issuer = json_string_value(json_object_get(payload, "issuer"));
        v.revoked = json_integer_value(json_object_get(payload, "revoked"));
        v.expires = json_integer_value(json_object_get(payload, "expires"));
        if (!pid || strcmp(pid, id) != 0 || !pkind || strcmp(pkind, kind) != 0 || v.revoked <= 0 || v.expires <= 0 ||
            (v.revoked_by && (strlen(v.revoked_by) > 256 || text_has_controls(v.revoked_by))) ||
            (v.issuer && !fleet_name_valid(v.issuer)))
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Whether kid is the RFC 7638 thumbprint of x. */
static bool thumbprint_matches(const char *kid, const char *x) {
        char *computed = NULL;
        bool same;

        if (!kid || !x || jwk_thumbprint_x(x, &computed) < 0)
                return false;
        same = strcmp(computed, kid) == 0;
        free(computed);
        return same;
}

int fleet_record_enrolment(json_t *payload, const char *host_id, json_t **ret_keys, int64_t *ret_at, int64_t *ret_since,
                           const char **ret_why) {
        const char *pid = json_string_value(json_object_get(payload, "hostId"));
        json_t *list = json_object_get(payload, "keys"), *k, *keys = NULL, *since_value;
        json_int_t at = json_integer_value(json_object_get(payload, "at")), since;
        size_t i;
        int r = -EINVAL;

        if (!pid || strcmp(pid, host_id) != 0) {
                *ret_why = "it names another host id than its key's";
                goto out;
        }
        if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > JWKS_MAX_KEYS) {
                *ret_why = "its keys are not a list of 1 to 64 keys";
                goto out;
        }
        if (at <= 0) {
                *ret_why = "it says not when it was signed (at)";
                goto out;
        }
        since_value = json_object_get(payload, "endorsedSince");
        since = since_value ? json_integer_value(since_value) : at;
        if (since_value && (!json_is_integer(since_value) || since < 0 || since > at)) {
                *ret_why = "its endorsedSince is no time up to its at";
                goto out;
        }
        if (!(keys = json_object())) {
                *ret_why = "out of memory";
                r = -ENOMEM;
                goto out;
        }
        json_array_foreach(list, i, k) {
                const char *kid = json_string_value(json_object_get(k, "kid"));
                const char *x = json_string_value(json_object_get(k, "x"));

                if (!thumbprint_matches(kid, x)) {
                        *ret_why = "a key's kid is not the RFC 7638 thumbprint of its x";
                        goto out;
                }
                if (json_object_set_new(keys, kid, json_string(x)) < 0) {
                        *ret_why = "out of memory";
                        r = -ENOMEM;
                        goto out;
                }
        }
        *ret_keys = keys;
        keys = NULL;
        *ret_at = at;
        *ret_since = since;
        r = 0;
out:
        json_decref(keys);
        return r;
}

int fleet_endorsement_verify(const jwks *enrolled, const char *value, const char *host_id, int64_t not_before,
                             json_t **ret_payload, char **ret_by, const char **ret_why) {
        json_t *header = NULL, *payload = NULL;
        const char *typ, *pid;
        char *by = NULL;
        int r;

        r = jws_verify(value, enrolled, &header, &payload);
        switch (r) {
        case 0: break;
        case -ENOKEY: goto out; /* not this enrolment's to vouch for */
        case -EBADMSG: *ret_why = "an endorsement is no compact JWS"; goto out;
        case -EPROTO: *ret_why = "an endorsement is not signed with EdDSA"; goto out;
        case -EKEYREJECTED: *ret_why = "an endorsement's signature does not verify"; goto out;
        default: *ret_why = "an endorsement cannot be verified"; goto out;
        }
        r = -EINVAL;
        typ = json_string_value(json_object_get(header, "typ"));
        if (!typ || strcmp(typ, FLEET_ENDORSEMENT_TYPE) != 0) {
                *ret_why = "an endorsement's typ is not " FLEET_ENDORSEMENT_TYPE;
                r = -EPROTO;
                goto out;
        }
        pid = json_string_value(json_object_get(payload, "hostId"));
        if (!pid || strcmp(pid, host_id) != 0) {
                *ret_why = "an endorsement names another host id";
                goto out;
        }
        if (!thumbprint_matches(json_string_value(json_object_get(payload, "kid")),
                                json_string_value(json_object_get(payload, "x")))) {
                *ret_why = "an endorsement's kid is not the RFC 7638 thumbprint of its x";
                goto out;
        }
        if (json_integer_value(json_object_get(payload, "at")) < not_before) {
                *ret_why = "an endorsement is older than the host's enrolment, which supersedes it";
                r = -ESTALE;
                goto out;
        }
        if (!(by = strdup(json_string_value(json_object_get(header, "kid")) ?: ""))) {
                *ret_why = "out of memory";
                r = -ENOMEM;
                goto out;
        }
        *ret_payload = payload;
        payload = NULL;
        *ret_by = by;
        r = 0;
out:
        json_decref(header);
        json_decref(payload);
        return r;
}
