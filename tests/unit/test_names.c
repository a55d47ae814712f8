/* test_names.c: the shared vocabularies and "did you mean": the edit
 * distance, suggestions for the typos of issue 17, and silence where
 * nothing is close. */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "names.h"
#include "tap.h"

static int suggests(const char *typed, const char *const *list, const char *expect) {
        const char *got = names_suggest(typed, list, 0);

        if (!expect)
                return got == NULL;
        return got && strcmp(got, expect) == 0;
}

int main(void) {
        static const char *const commands[] = { "status",  "whoami", "grant", "grants", "revoke", "explain",
                                                "disable", "enable", "token", "audit",  NULL };
        static const char *const groups[] = { "jit-deploy", "ops-readonly", NULL };
        char buf[128], long_name[100];

        CHECK(names_distance("", "") == 0, "distance of empty strings is 0");
        CHECK(names_distance("kitten", "sitting") == 3, "kitten/sitting is 3");
        CHECK(names_distance("grant", "grants") == 1, "one insertion is 1");
        CHECK(names_distance("abc", "") == 3, "to empty is the length");
        memset(long_name, 'a', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        CHECK(names_distance(long_name, "a") == 255, "past 64 characters the distance is capped");

        CHECK(suggests("grant.create", enrich_audit_actions, "grant.created"), "grant.create -> grant.created");
        CHECK(suggests("grant.revoke", enrich_audit_actions, "grant.revoked"), "grant.revoke -> grant.revoked");
        CHECK(suggests("password", enrich_amr_values, NULL), "password has no close amr (pwd is 5 edits away)");
        CHECK(suggests("pwd", enrich_amr_values, NULL), "a known value gets no suggestion");
        CHECK(suggests("pw", enrich_amr_values, "pwd"), "pw -> pwd");
        CHECK(suggests("otb", enrich_amr_values, "otp"), "otb -> otp");
        CHECK(suggests("jit-deplyo", groups, "jit-deploy"), "a transposed group name is found");
        CHECK(suggests("nosuchgroup", groups, NULL), "nothing close: no suggestion");
        CHECK(suggests("stauts", commands, "status"), "stauts -> status");
        CHECK(suggests("revok", commands, "revoke"), "revok -> revoke");
        CHECK(suggests("x", commands, NULL), "one letter suggests nothing");
        CHECK(suggests("", commands, NULL), "empty suggests nothing");
        CHECK(names_suggest("grnt", commands, 3) && strcmp(names_suggest("grnt", commands, 3), "grant") == 0,
              "n limits the list");

        CHECK(names_contain(enrich_amr_values, "hwk") && !names_contain(enrich_amr_values, "password"),
              "amr values: hwk known, password not");
        CHECK(strcmp(names_join(enrich_amr_values, " ", buf, sizeof buf), "pwd pop tok svc mfa otp hwk swk") == 0,
              "amr values joined");
        CHECK(strlen(names_join(enrich_audit_actions, ", ", buf, 20)) < 20, "a join is truncated to the buffer");
        /* The daemon checks audit --action against this list: every action it
         * records must be in it. */
        static const char *const recorded[] = {
                AUDIT_ENRICH_ISSUED,  AUDIT_ENRICH_REFUSED,    AUDIT_SESSION_REFRESHED, AUDIT_SESSION_REVOKED,
                AUDIT_SESSION_ENDED,  AUDIT_GRANT_CREATED,     AUDIT_GRANT_REVOKED,     AUDIT_GRANT_EXPIRED,
                AUDIT_TOKEN_ISSUED,   AUDIT_TOKEN_USED,        AUDIT_TOKEN_REJECTED,    AUDIT_TOKEN_REVOKED,
                AUDIT_TOKEN_ROTATED,  AUDIT_TOKEN_UNLOCKED,    AUDIT_IDENTITY_DISABLED, AUDIT_IDENTITY_ENABLED,
                AUDIT_LOGIN_REFUSED,  AUDIT_PERMISSION_DENIED, AUDIT_CONFIG_RELOADED,   AUDIT_CONFIG_REJECTED,
                AUDIT_KEY_ROTATED,    AUDIT_CHECKPOINT,        AUDIT_REQUEST_CREATED,   AUDIT_REQUEST_APPROVED,
                AUDIT_REQUEST_DENIED, AUDIT_REQUEST_EXPIRED,
        };
        bool all_known = true;
        for (size_t i = 0; i < sizeof recorded / sizeof recorded[0]; i++)
                all_known = all_known && names_contain(enrich_audit_actions, recorded[i]);
        CHECK(all_known, "every action of audit.h is in enrich_audit_actions");
        TAP_EXIT();
}
