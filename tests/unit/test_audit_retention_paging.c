/* test_audit_retention_paging.c: retention (audit_retention_days) running
 * a checkpoint interval per tick never makes an honest trail fail verify.
 * enrichctl's paged verify (AuditVerify's after cursor) whose cursor a
 * step deleted between two pages starts again at the first row left,
 * which a checkpoint anchors, and says so, instead of calling the row
 * deleted (the prune at a checkpoint could do the same before); with
 * retention off, the same cut is a deletion. And no run starts at
 * start-up: a stop between an automatic checkpoint's commit and its
 * record leaves AUDIT_HEAD_FILE naming the checkpoint before, which a run
 * could delete, so verify would call the trail cut. Scripted wall clock
 * (this binary's clock_wall_ms, as test_audit_retention), real sqlite, a
 * real signing key. */
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "keys.h"
#include "signer.h"
#include "../audit_env.h"
#include "../state.h"
#include "../tap.h"

#define DAY 86400

static int64_t fake_wall_ms;

int64_t clock_wall_ms(void) {
        return fake_wall_ms;
}

/* n rows, a checkpoint (the admin's, synchronous) every every rows. */
static bool rows(enrichd *e, int n, int every) {
        for (int i = 0; i < n; i++) {
                if (audit_recordf(e, NULL, "alice", "test.row", "ok", "{s:i}", "i", i) < 0)
                        return false;
                if ((i + 1) % every == 0 && audit_checkpoint(e, NULL, "requested", NULL, NULL) < 0)
                        return false;
        }
        return true;
}

static int open_all(char *dir, config *cfg, enrichd *e, char *jwks, size_t size) {
        char path[512];
        int status = test_state_dir(dir, cfg, path, sizeof path);

        if (status != 0)
                return status;
        return test_audit_open(dir, path, jwks, size, e) == 0 ? 0 : 1;
}

static void close_all(char *dir, enrichd *e) {
        test_audit_close(e);
        test_state_remove(dir);
}

/* An honest trail of interval-row intervals, retention turned on after
 * ten days; enrichctl's paged verify with ticks ticks between pages 1
 * and 2. */
static void paged(const char *name, int interval, int n, int ticks, bool late) {
        char dir[] = "/tmp/enrich-test-audit-retention-paging-XXXXXX", label[128], jwks[512];
        config cfg = { .audit_refusal_window = 600,
                       .audit_checkpoint_rows = 1000000,
                       .audit_checkpoint_seconds = 7 * DAY };
        enrichd e = { .config = &cfg };
        audit_verdict v1 = { 0 }, v2 = { 0 };
        int64_t next = 0, next2 = 0;
        bool ok;

        fake_wall_ms = (int64_t) time(NULL) * 1000;
        if (open_all(dir, &cfg, &e, jwks, sizeof jwks) != 0) {
                CHECK(false, name);
                return;
        }
        ok = rows(&e, n, interval);
        fake_wall_ms += 10 * DAY * 1000LL;
        cfg.audit_retention_days = late ? 0 : 1;
        ok = ok && audit_recordf(&e, NULL, "alice", "test.recent", "ok", "{}") == 0 &&
             audit_checkpoint(&e, NULL, "requested", NULL, NULL) == 0;
        /* Page 1, then the tick runs a step or more, then page 2. late:
         * retention turned on and a checkpoint between the pages (what the
         * old prune() needed to run). */
        ok = ok && audit_verify(&e, 0, &v1, &next) == 0 && v1.ok && next > 0;
        if (late) {
                cfg.audit_retention_days = 1;
                ok = ok && audit_recordf(&e, NULL, "alice", "test.recent", "ok", "{}") == 0 &&
                     audit_checkpoint(&e, NULL, "requested", NULL, NULL) == 0;
        }
        for (int i = 0; i < ticks; i++)
                audit_tick(&e);
        ok = ok && audit_verify(&e, next, &v2, &next2) == 0;
        printf("# %s: page 1 ok=%d next=%lld; first row now %lld; page 2 ok=%d bad=%lld kind=%s: %s\n", name, v1.ok,
               (long long) next, (long long) test_query(&e, "SELECT min(id) FROM audit"), v2.ok, (long long) v2.bad_id,
               v2.kind ? v2.kind : "-", v2.reason);
        snprintf(label, sizeof label, "%s", name);
        CHECK(ok && v2.ok && v2.restarted && v2.first_id == test_query(&e, "SELECT min(id) FROM audit"), label);
        close_all(dir, &e);
}

/* Without retention, nothing deletes rows: the cursor's row gone with
 * every row before it, up to a checkpoint past it (someone with write
 * access to the database, between two pages), is a deletion, not a walk
 * to start again (which enrichctl would sum as if the trail were whole). */
static void cut_without_retention(void) {
        char dir[] = "/tmp/enrich-test-audit-retention-paging-XXXXXX", jwks[512], *cut = NULL;
        config cfg = { .audit_refusal_window = 600,
                       .audit_checkpoint_rows = 1000000,
                       .audit_checkpoint_seconds = 7 * DAY };
        enrichd e = { .config = &cfg };
        audit_verdict v1 = { 0 }, v2 = { 0 };
        int64_t next = 0, next2 = 0, to;
        bool ok;

        fake_wall_ms = (int64_t) time(NULL) * 1000;
        if (open_all(dir, &cfg, &e, jwks, sizeof jwks) != 0) {
                CHECK(false, "retention-off-prefix-cut-between-pages-detected");
                return;
        }
        ok = rows(&e, 52000, 1000) && audit_verify(&e, 0, &v1, &next) == 0 && v1.ok && next > 0;
        to = test_query(&e, "SELECT min(row_id) FROM audit_checkpoints WHERE row_id > 50000");
        cut = sqlite3_mprintf("DELETE FROM audit WHERE id < %lld; DELETE FROM audit_checkpoints WHERE row_id < %lld",
                              (long long) to, (long long) to);
        ok = ok && to > next && sqlite3_exec(db_handle(e.db), cut, NULL, NULL, NULL) == SQLITE_OK &&
             audit_verify(&e, next, &v2, &next2) == 0;
        printf("# retention off, rows before %lld cut: page 2 ok=%d restarted=%d kind=%s\n", (long long) to, v2.ok,
               v2.restarted, v2.kind ? v2.kind : "-");
        CHECK(ok && !v2.ok && !v2.restarted && v2.kind && strcmp(v2.kind, "deleted") == 0,
              "retention-off-prefix-cut-between-pages-detected");
        sqlite3_free(cut);
        close_all(dir, &e);
}

static char *slurp(const char *path) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");

        if (f && getdelim(&text, &size, '\0', f) < 0) {
                free(text);
                text = NULL;
        }
        if (f)
                fclose(f);
        return text;
}

/* enrichd stopped (crashed) after an automatic checkpoint's row committed
 * and before the worker wrote audit.head: the record names the checkpoint
 * before. Ticks after the next start must not delete the checkpoint the
 * record names, or verify calls the honest trail cut. */
static void stale_record(void) {
        char dir[] = "/tmp/enrich-test-audit-retention-paging-XXXXXX", head[600], jwks[512], *saved = NULL;
        config cfg = { .audit_refusal_window = 600,
                       .audit_checkpoint_rows = 1000000,
                       .audit_checkpoint_seconds = 7 * DAY };
        enrichd e = { .config = &cfg };
        audit_verdict v = { 0 };
        int64_t next = 0;
        bool ok;
        FILE *f;

        fake_wall_ms = (int64_t) time(NULL) * 1000;
        if (open_all(dir, &cfg, &e, jwks, sizeof jwks) != 0) {
                CHECK(false, "retention-stale-record-open");
                return;
        }
        snprintf(head, sizeof head, "%s/%s", dir, AUDIT_HEAD_FILE);
        ok = rows(&e, 10, 5);   /* checkpoints at rows 6, 12: audit.head names 12 */
        saved = slurp(head);
        ok = ok && saved && rows(&e, 5, 5);     /* row 18, a checkpoint */
        f = saved ? fopen(head, "we") : NULL;   /* as if the worker never wrote it */
        ok = ok && f && fputs(saved, f) >= 0;
        if (f)
                fclose(f);
        audit_free(e.audit);
        e.audit = NULL;
        fake_wall_ms += 10 * DAY * 1000LL;
        cfg.audit_retention_days = 1;
        ok = ok && audit_open(&e, &e.audit) == 0;
        for (int i = 0; i < 10; i++)
                audit_tick(&e);
        ok = ok && audit_verify(&e, 0, &v, &next) == 0;
        printf("# stale record: first row %lld; verify ok=%d kind=%s: %s\n",
               (long long) test_query(&e, "SELECT min(id) FROM audit"), v.ok, v.kind ? v.kind : "-", v.reason);
        CHECK(ok && v.ok, "retention-stale-record-verifies-after-a-start");
        free(saved);
        close_all(dir, &e);
}

int main(void) {
        /* Default interval, a client 15 s (60 ticks) between pages. */
        paged("retention-paged-verify-default-interval-slow-client", 1000, 52000, 60, false);
        /* audit_checkpoint_rows above a page: one tick between pages. */
        paged("retention-paged-verify-big-interval-one-tick", 60000, 60000, 1, false);
        /* The same, with the checkpoint that starts the run between pages. */
        paged("retention-paged-verify-checkpoint-between-pages", 60000, 60000, 1, true);
        cut_without_retention();
        stale_record();
        TAP_EXIT();
}
