/* test_audit_rows.c: the audit row's canonical encoding (audit.h),
 * which audit.c writes by hand, is byte for byte what jansson's
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) makes of the row's object, as
 * audit.h defines it: rows with every ASCII character, multi-byte UTF-8,
 * quotes and backslashes in their subject and details are written on a
 * real temporary sqlite file, and each stored hash must be the one this
 * test computes with jansson; a row that jansson cannot encode (invalid
 * UTF-8) is refused, as before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include "audit.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "../state.h"
#include "../tap.h"

static char dir[] = "/tmp/enrich-test-audit-rows-XXXXXX";

/* The encoding as audit.h defines it, through jansson. */
static char *reference(sqlite3_stmt *st) {
        json_t *o = json_pack(
                "{s:I, s:I, s:o, s:s, s:o, s:s, s:s, s:s, s:s}", "id", (json_int_t) sqlite3_column_int64(st, 0), "time",
                (json_int_t) sqlite3_column_int64(st, 1), "actor_uid",
                sqlite3_column_type(st, 2) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(st, 2)),
                "actor_name", (const char *) sqlite3_column_text(st, 3), "subject",
                sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null()
                                                          : json_string((const char *) sqlite3_column_text(st, 4)),
                "action", (const char *) sqlite3_column_text(st, 5), "result",
                (const char *) sqlite3_column_text(st, 6), "details", (const char *) sqlite3_column_text(st, 7),
                "prev_hash", (const char *) sqlite3_column_text(st, 8));
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

        json_decref(o);
        return text;
}

static int hash_hex(const char *prev_hex, const char *text, char out[65]) {
        unsigned char prev[32] = { 0 }, digest[32];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok;

        /* The chain's hashes are 64 lowercase hex digits. */
        for (size_t i = 0; prev_hex && strlen(prev_hex) == 64 && i < 32; i++) {
                unsigned v;

                if (sscanf(prev_hex + 2 * i, "%2x", &v) != 1)
                        break;
                prev[i] = (unsigned char) v;
        }
        ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(ctx, prev, 32) == 1 &&
             EVP_DigestUpdate(ctx, text, strlen(text)) == 1 && EVP_DigestFinal_ex(ctx, digest, NULL) == 1;
        EVP_MD_CTX_free(ctx);
        for (size_t i = 0; ok && i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", digest[i]);
        return ok ? 0 : -1;
}

int main(void) {
        char path[512], *error = NULL, ascii[128], subject[256];
        config cfg = { .audit_refusal_window = 600, .audit_checkpoint_rows = 1000000 };
        enrichd e = { .config = &cfg };
        int status;
        struct ucred peer = { .pid = 1, .uid = 4242, .gid = 0 };
        static const char *const texts[] = {
                "plain",
                "quote \" backslash \\ slash / tab \t newline \n cr \r bs \b ff \f",
                "utf-8: \xc3\xa4 \xe2\x82\xac \xf0\x9f\x94\x91 \xef\xbf\xbf \xf4\x8f\xbf\xbf",
                "del \x7f and \x01\x1f",
                "",
        };
        sqlite3_stmt *st = NULL;
        int rows = 0, matched = 0, r;
        int64_t next = 0;
        audit_verdict v;

        if ((status = test_state_dir(dir, &cfg, path, sizeof path)) != 0)
                return status;
        CHECK(db_open(path, &e.db, &error) == 0 && audit_open(&e, &e.audit) == 0, "canonical-open");
        if (!e.audit) {
                printf("# %s\n", error ? error : "?");
                return 1;
        }

        /* Every ASCII character but NUL, in a subject and in details. */
        for (int i = 1; i < 128; i++)
                ascii[i - 1] = (char) i;
        ascii[127] = '\0';
        CHECK(audit_record(&e, &peer, ascii, "test.ascii", "ok", json_pack("{s:s}", "text", ascii)) == 0,
              "canonical-ascii-row-written");
        CHECK(audit_record(&e, NULL, NULL, "test.null", "ok", json_pack("{s:s}", "text", ascii)) == 0,
              "canonical-null-subject-and-actor-row-written");
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
                snprintf(subject, sizeof subject, "%s", texts[i]);
                r = audit_record(&e, &peer, subject, "test.text", "ok",
                                 json_pack("{s:s, s:[s, i]}", "text", texts[i], "nested", texts[i], (int) i));
                CHECK(r == 0, "canonical-text-row-written");
        }
        /* What jansson refuses is refused: invalid UTF-8, a surrogate, an
         * overlong form. */
        CHECK(audit_record(&e, &peer, "bad \xff byte", "test.bad", "ok", NULL) < 0, "canonical-invalid-utf8-refused");
        CHECK(audit_record(&e, &peer, "surrogate \xed\xa0\x80", "test.bad", "ok", NULL) < 0,
              "canonical-surrogate-refused");
        CHECK(audit_record(&e, &peer, "overlong \xc0\xaf", "test.bad", "ok", NULL) < 0, "canonical-overlong-refused");

        if (sqlite3_prepare_v2(
                    db_handle(e.db),
                    "SELECT id, time, actor_uid, actor_name, subject, action, result, details, prev_hash, hash"
                    " FROM audit ORDER BY id",
                    -1, &st, NULL) == SQLITE_OK)
                while (sqlite3_step(st) == SQLITE_ROW) {
                        char *text = reference(st), want[65] = "";

                        rows++;
                        if (text && hash_hex((const char *) sqlite3_column_text(st, 8), text, want) == 0 &&
                            strcmp(want, (const char *) sqlite3_column_text(st, 9)) == 0)
                                matched++;
                        else
                                printf("# row %lld: hash differs from jansson's encoding %s\n",
                                       (long long) sqlite3_column_int64(st, 0), text ? text : "(none)");
                        free(text);
                }
        sqlite3_finalize(st);
        CHECK(rows >= 7 && matched == rows, "canonical-hashes-match-jansson");
        CHECK(audit_verify(&e, 0, &v, &next) == 0 && v.ok, "canonical-chain-verifies");

        audit_free(e.audit);
        db_close(e.db);
        test_state_remove(dir);
        TAP_EXIT();
}
