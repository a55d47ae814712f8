/* fleet_record.c: a fleet record's signature and a grant's fields
 * (fleet_record.h). */
#include <errno.h>
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
